"""The one GAN training loop that the GAN, WGAN and SS-GAN notebooks share.

    history = train(generator, discriminator, objective, images, GanConfig(epochs=20),
                    name="gan", evaluate=my_eval, checkpoint_dir=..., models_dir=...)

Each epoch, in order:

1. Data: ``images`` [N, 1, 28, 28] in [0, 1] stay where they are (on the device); every epoch
   a ``torch.randperm`` of N picks the order and batches are index slices of it, scaled to
   [-1, 1] for the tanh generator. No DataLoader, no per-sample Python. The incomplete last
   batch is dropped; ``max_batches`` caps the batches of an epoch (a dry run).
2. Updates (alternating, Goodfellow et al. 2014, "Generative Adversarial Nets", Algorithm 1):
   ``objective.critic_steps(g)`` discriminator/critic updates, each on a fresh real batch and
   fresh noise, each followed by ``objective.after_discriminator_step`` (the weight clipping of
   Arjovsky et al. 2017, "Wasserstein GAN", Algorithm 1); then one generator update. The fakes
   of the last critic update are generated with gradients and reused by the generator update
   (G has not changed in between, so its gradient is exact), and D's parameters are frozen
   during that update so no D weight gradients are computed.
3. Records: per generator step both losses, the objective's statistics (mean D(real) and
   D(fake), or critic values; rotation accuracies for SS-GAN) and the gradient norms of G and
   D, kept as device tensors and copied to the host every ``sync_every`` steps (every step on
   CPU, where copying is free), so CUDA never waits on a per-step ``.item()``. A non-finite
   loss stops training with ``status == "diverged"`` and a message; nothing is raised.
4. With ``ema_decay > 0``, after every generator update an exponential moving average of G's
   weights (``average.WeightAverage``: Yazici et al. 2019); that average is then the generator
   the run reports: grids, evaluations and the saved ``<name>_generator.pt`` use it
   (``history.final_generator``).
5. At the chosen epochs (``settings.grid_epochs``, ``settings.evaluation_epochs``): a grid of
   samples from fixed noise and the caller's ``evaluate(generator, epoch) -> dict``, both with
   G in eval mode; with ``evaluate_last_iterate`` the trained G itself is evaluated too
   (``row["last_iterate"]``).
6. Every ``checkpoint_every`` epochs a checkpoint (``checkpoint.Checkpoint``), named by a key
   of every setting that decides the result and of the training code
   (``settings.run_settings``); a later call with the same key resumes it, ``fresh=True``
   retrains and replaces it. Finished runs write ``<name>_generator.pt`` and
   ``<name>_discriminator.pt`` (``<name>_critic.pt`` for a WGAN) to ``models_dir``, and with
   averaging also ``<name>_generator_last_iterate.pt``.

Determinism: the data order and the noise come from two ``torch.Generator`` seeded from
``config.seed`` and saved in checkpoints, so on CPU the same seed (and the same initial
weights) gives the same run, interrupted or not.
"""
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nbhelpers.models.gan.average import WeightAverage
from nbhelpers.models.gan.checkpoint import Checkpoint
from nbhelpers.models.gan.history import GanHistory, checkpoint_safe
from nbhelpers.models.gan.losses import Objective
from nbhelpers.models.gan.settings import GanConfig, evaluation_epochs, grid_epochs, run_settings
from nbhelpers.paths import display
from nbhelpers.report import progress
from nbhelpers.report.records import save_state

# ----------------------------------------------------------------------------- the update step

class _Updates:
    """Algorithm 1, one epoch at a time. Holds what the updates change: both networks and their
    optimisers, the weight average, the random generators of the data order and of the noise,
    the generator step count; the step records go to ``history``. ``_Run`` sets it up."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, objective: Objective,
                 images: torch.Tensor, config: GanConfig, history: GanHistory, max_batches: int | None):
        self.G, self.D, self.objective, self.images, self.config = generator, discriminator, objective, images, config
        self.history, self.max_batches = history, max_batches
        self.device = images.device
        self.opt_g = _make_optimizer(config, self.G.parameters(), config.lr_generator, self.device)
        self.opt_d = _make_optimizer(config, self.D.parameters(), config.lr_discriminator, self.device)
        self.data_rng = torch.Generator(self.device).manual_seed(config.seed)
        self.noise_rng = torch.Generator(self.device).manual_seed(config.seed + 1)
        self.average = WeightAverage(self.G, config.ema_decay) if config.ema_decay else None
        self.generator_step = 0
        self.sync_every = 1 if self.device.type == "cpu" else config.sync_every

    def _critic_updates(self, order: torch.Tensor, used: int, batches: int):
        """``critic_steps(g)`` D updates (fewer when the epoch runs out of batches).
        Returns the last fakes (with gradients, for G), the summed D records, their count and
        the number of batches used so far."""
        G, D, objective = self.G, self.D, self.objective
        wanted, done, sums = objective.critic_steps(self.generator_step), 0, None
        while done < wanted and used < batches:
            real = self._real_batch(order, used)
            used, done = used + 1, done + 1
            last = done == wanted or used == batches
            with torch.set_grad_enabled(last):     # only the last fakes are reused by G's update
                fake = G(self._noise())
            loss_d, stats = objective.discriminator_loss(D, real, fake.detach())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            values = [loss_d.detach(), _total_grad_norm(D)] + [stats[k] for k in objective.discriminator_stats]
            self.opt_d.step()
            objective.after_discriminator_step(D)  # e.g. WGAN weight clipping
            sums = values if sums is None else [a + b for a, b in zip(sums, values)]
        return fake, sums, done, used

    def _generator_update(self, fake: torch.Tensor) -> list[torch.Tensor]:
        """One G update on ``fake``; D is frozen so that no D weight gradients are computed.
        Then the weight average, if any, folds in the new G."""
        self.D.requires_grad_(False)
        try:
            loss_g, stats = self.objective.generator_loss(self.D, fake)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            grad_norm_g = _total_grad_norm(self.G)
            self.opt_g.step()
            if self.average:
                self.average.update()
        finally:
            self.D.requires_grad_(True)
        return [loss_g.detach(), grad_norm_g] + [stats[k] for k in self.objective.generator_stats]

    def _train_epoch(self, epoch: int) -> tuple[list[np.ndarray], int]:
        """Run one epoch; return its step records (host arrays) and the number of real batches."""
        order = torch.randperm(len(self.images), device=self.device, generator=self.data_rng)
        batches = self._batches_per_epoch()
        pending, pending_meta, blocks, used = [], [], [], 0
        while used < batches:
            fake, d_sums, done, used = self._critic_updates(order, used, batches)
            loss_g, grad_norm_g, *g_stats = self._generator_update(fake)
            loss_d, grad_norm_d, *d_stats = [v / done for v in d_sums]   # mean over critic steps
            record = [loss_d, loss_g, grad_norm_d, grad_norm_g] + d_stats + g_stats
            pending.append(torch.stack([v.float() for v in record]))   # stays on the device
            pending_meta.append((epoch, self.generator_step, done))
            self.generator_step += 1
            if len(pending) >= self.sync_every or used == batches:
                blocks.append(self._to_host(pending, pending_meta))
                pending, pending_meta = [], []
                if self._diverged(blocks):
                    break
        return blocks, used

    # --- its parts
    def _batches_per_epoch(self) -> int:
        """Whole batches (the incomplete last one is dropped), at most ``max_batches``."""
        whole = len(self.images) // self.config.batch_size
        return whole if self.max_batches is None else min(whole, self.max_batches)

    def _real_batch(self, order: torch.Tensor, index: int) -> torch.Tensor:
        size = self.config.batch_size
        batch = self.images.index_select(0, order[index * size:(index + 1) * size])
        return batch.mul_(2).sub_(1)  # [0, 1] -> [-1, 1], matching tanh (in place on the copy)

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.config.batch_size, self.G.latent_dim, device=self.device,
                           generator=self.noise_rng)

    @staticmethod
    def _to_host(pending: list[torch.Tensor], meta: list[tuple]) -> np.ndarray:
        values = torch.stack(pending).cpu().double().numpy()   # the one device -> host copy
        # columns: epoch, step, loss_d, loss_g, grad_norm_d, grad_norm_g, critic_steps, stats...
        meta = np.asarray(meta, dtype=np.float64)
        return np.concatenate([meta[:, :2], values[:, :4], meta[:, 2:3], values[:, 4:]], axis=1)

    def _diverged(self, blocks: list[np.ndarray]) -> bool:
        """True (and the history says why) when a loss of the newest block is not finite."""
        block = blocks[-1]
        bad = ~np.isfinite(block[:, 2:4]).all(axis=1)   # loss_d, loss_g
        if not bad.any():
            return False
        first = int(np.argmax(bad))
        blocks[-1] = block[: first + 1]                 # keep the first bad step, drop what follows
        epoch, step = int(block[first, 0]), int(block[first, 1])
        which = " and ".join(name for name, value in zip(("loss_d", "loss_g"), block[first, 2:4])
                             if not np.isfinite(value))
        self.history.status, self.history.diverged_step = "diverged", step
        self.history.message = (f"training diverged: {which} became {block[first, 2:4].tolist()} at "
                                f"generator step {step} (epoch {epoch}); stopped there. Models were not "
                                f"saved; the last checkpoint (if any) holds the last finished epoch.")
        return True


def _make_optimizer(config: GanConfig, parameters, lr: float, device: torch.device):
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=config.betas,
                                fused=device.type in ("cpu", "cuda"))
    return torch.optim.RMSprop(parameters, lr=lr)


def _total_grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.nn.utils.get_total_norm(grads)   # sqrt of the sum of squared entries, on the device


# ----------------------------------------------------------------------------- the run

class _Run(_Updates):
    """One call of ``train()``: checks the inputs, sets up the updates on the images' device,
    resumes from a checkpoint, runs the epochs with their grids, evaluations, progress lines
    and checkpoints, and saves the models of a finished run."""

    def __init__(self, generator, discriminator, objective, images, config, *, name, evaluate,
                 evaluate_last_iterate, checkpoint_dir, models_dir, log, max_batches, fresh):
        if images.ndim != 4 or len(images) < config.batch_size:
            raise ValueError(f"images must be [N, C, H, W] with N >= batch_size ({config.batch_size}); "
                             f"got {tuple(images.shape)}")
        objective.check(discriminator)
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"max_batches must be >= 1 (None: every batch), got {max_batches}")
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        generator = generator.to(images.device, memory_format=memory_format)
        discriminator = discriminator.to(images.device, memory_format=memory_format)
        history = GanHistory(tuple(objective.discriminator_stats) + tuple(objective.generator_stats))
        super().__init__(generator, discriminator, objective, images, config, history, max_batches)
        self.name, self.fresh = name, fresh
        self.evaluate, self.evaluate_last_iterate = evaluate, evaluate_last_iterate
        self.log = log or (lambda message: None)
        settings = run_settings(self.G, self.D, objective, images, config, max_batches)
        self.checkpoint = Checkpoint(checkpoint_dir, name, settings, self.log) if checkpoint_dir else None
        self.models_dir = Path(models_dir) if models_dir else None
        self.grid_seed = config.seed + 1_000_003  # the progress grids' fixed noise, same on every device
        self.grid_at = set(grid_epochs(config))
        self.evaluate_at = set(evaluation_epochs(config)) if evaluate else set()
        self.history.final_generator = self.average.module if self.average else self.G
        if config.compile:
            self.G.compile()
            for part in self.D.children():
                part.compile()

    def run(self) -> GanHistory:
        done = self._resume()
        if self.history.status == "finished":
            self.log(progress.line(self.name, f"already finished ({done} epochs): "
                                              f"loaded from {display(self.checkpoint.path)}"))
            self._measure_average_batchnorm()
            self._save_models()
            return self.history
        self.G.train()
        self.D.train()
        epochs = progress.bar(range(done + 1, self.config.epochs + 1), total=self.config.epochs, initial=done,
                              desc=f"[{self.name}]", unit="epoch")
        for epoch in epochs:
            started = time.perf_counter()
            blocks, batches = self._train_epoch(epoch)
            seconds = time.perf_counter() - started      # _to_host at the end synchronised
            summary = self._epoch_summary(epoch, blocks, batches, seconds)
            self.history.add_epoch(blocks, summary, seconds)
            if self.history.status == "diverged":
                epochs.close()
                self.log(progress.line(self.name, self.history.message))
                return self.history
            evaluation = self._after_epoch(epoch)
            self._progress(summary, evaluation)
            if epoch == self.config.epochs:
                self.history.status = "finished"
                self.history.message = (f"finished {epoch} epochs ({self.generator_step} generator steps) "
                                        f"in {self.history.training_seconds:.0f} s of training")
            if epoch % self.config.checkpoint_every == 0 or epoch == self.config.epochs:
                self._save_checkpoint(epoch)
        epochs.close()
        self._measure_average_batchnorm()
        self._save_models()
        self.log(progress.line(self.name, self.history.message))
        return self.history

    # --- checkpoints
    def _resume(self) -> int:
        """Continue from this run's checkpoint if there is a usable one (``Checkpoint.load``);
        return the epochs already done."""
        state = self.checkpoint.load(self.fresh) if self.checkpoint else None
        if state is None:
            return 0
        Checkpoint.restore(state, self._parts())
        epoch, file = state["epoch"], self.checkpoint.path
        self.history.resumed_at_epoch = epoch
        self.history.reused = (f"finished run loaded from checkpoint {file.name}" if self.history.status == "finished"
                               else f"resumed from checkpoint {file.name} after epoch {epoch}")
        self.generator_step = state["generator_step"]
        self.log(progress.line(self.name, f"resumed from checkpoint {display(file)} after epoch {epoch}"))
        return epoch

    def _save_checkpoint(self, epoch: int) -> None:
        if self.checkpoint:
            self.checkpoint.save(epoch, self.generator_step, self._parts())

    def _parts(self) -> dict:
        """What a checkpoint holds besides the epoch and the step count, by saved name."""
        return {"generator": self.G, "discriminator": self.D,
                "optimizer_generator": self.opt_g, "optimizer_discriminator": self.opt_d,
                "generator_average": self.average, "data_rng": self.data_rng, "noise_rng": self.noise_rng,
                "history": self.history}

    # --- after each epoch: summary, grids and evaluation, the progress line
    def _epoch_summary(self, epoch: int, blocks: list[np.ndarray], batches: int, seconds: float) -> dict:
        rows = np.concatenate(blocks)
        means = dict(zip(self.history.columns[2:], np.nanmean(rows[:, 2:], axis=0)))
        images = batches * self.config.batch_size
        summary = {"epoch": epoch, "generator_steps": len(rows), "critic_steps": int(rows[:, 6].sum()),
                   "seconds": round(seconds, 3), "images_per_second": round(images / seconds, 1)}
        summary.update({k: float(v) for k, v in means.items() if k != "critic_steps"})
        return summary

    def _after_epoch(self, epoch: int) -> dict:
        """Grid and evaluation at their epochs, of the reported generator (the average, or G),
        in eval mode (BatchNorm running stats)."""
        if epoch not in self.grid_at and epoch not in self.evaluate_at:
            return {}
        shown = self.history.final_generator
        self._measure_average_batchnorm()
        self.G.eval()
        try:
            if epoch in self.grid_at:
                self.history.grids[epoch] = sample_images(shown, self.config.grid_samples, seed=self.grid_seed).cpu()
            if epoch in self.evaluate_at:
                started = time.perf_counter()
                row = {"epoch": epoch, **self._evaluate(shown, epoch)}
                if self.average and self.evaluate_last_iterate:
                    row["last_iterate"] = self._evaluate(self.G, epoch)
                row["eval_seconds"] = round(time.perf_counter() - started, 3)
                self.history.evaluation_details.append(row)
                return row
        finally:
            self.G.train()
        return {}

    def _measure_average_batchnorm(self) -> None:
        """The weight average's BatchNorm statistics measured on its own forward passes
        (``WeightAverage.measure_batchnorm``), before it is shown, evaluated or saved."""
        if self.average:
            self.average.measure_batchnorm(self.config.batch_size, seed=self.grid_seed + 1)

    def _evaluate(self, generator: nn.Module, epoch: int) -> dict:
        with torch.no_grad():
            result = self.evaluate(generator, epoch)
        if not isinstance(result, dict | None):
            raise TypeError(f"evaluate() must return a dict of metrics (or None), got {type(result).__name__}")
        return checkpoint_safe(dict(result or {}), "evaluate()")

    def _progress(self, summary: dict, evaluation: dict) -> None:
        role = "C" if self.objective.critic_role == "critic" else "D"
        text = f"loss {role} {summary['loss_d']:.4f}  G {summary['loss_g']:.4f}  "
        if "d_real" in summary and "d_fake" in summary:
            text += f"{role}(x) {summary['d_real']:.3f}  {role}(G(z)) {summary['d_fake']:.3f}  "
        text += f"{summary['seconds']:.1f} s ({summary['images_per_second']:.0f} img/s)"
        shown = {k: v for k, v in evaluation.items() if isinstance(v, float) and k != "eval_seconds"}
        if shown:
            text += "  | " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
        self.log(progress.epoch_line(self.name, summary["epoch"], self.config.epochs, text))

    def _save_models(self) -> None:
        if self.models_dir is None:
            return
        modules = [("generator", self.history.final_generator), (self.objective.critic_role, self.D)]
        if self.average:
            modules.append(("generator_last_iterate", self.G))
        for role, module in modules:
            path = save_state(self.models_dir / f"{self.name}_{role}.pt", module)
            self.history.model_files[role] = str(path)


# ----------------------------------------------------------------------------- the public entry points

def train(generator: nn.Module, discriminator: nn.Module, objective: Objective, images: torch.Tensor,
          config: GanConfig, *, name: str = "gan",
          evaluate: Callable[[nn.Module, int], dict] | None = None, evaluate_last_iterate: bool = False,
          checkpoint_dir: str | Path | None = None, models_dir: str | Path | None = None,
          log: Callable[[str], None] | None = print, max_batches: int | None = None,
          fresh: bool = False) -> GanHistory:
    """Train ``generator`` against ``discriminator`` with ``objective`` on ``images``.

    ``images``: [N, 1, 28, 28] in [0, 1] on the training device (``data.load_mnist``); the
    networks are moved there. ``evaluate(generator, epoch)`` is called (no grad, G in eval mode)
    every ``config.eval_every`` epochs, at the quarters and at the end; it returns a dict of
    metrics, stored in ``history.evaluations``. It should seed its own sampling so that results
    do not depend on when it runs. It receives ``history.final_generator`` (the weight average
    when ``config.ema_decay > 0``); ``evaluate_last_iterate`` also evaluates the trained G
    itself, stored under ``"last_iterate"`` in ``history.evaluation_details``.

    ``name`` prefixes the checkpoint (``<name>-<key>.pt`` in ``checkpoint_dir``), the saved
    models (``<name>_generator.pt``, ``<name>_critic.pt`` or ``<name>_discriminator.pt`` in
    ``models_dir``) and the progress lines, which go to ``log`` (None: silent).
    ``max_batches``: None trains on every whole batch of an epoch, a number on at most that many
    (a dry run). ``fresh``: ignore an existing checkpoint and replace it (retrain).

    Returns a ``GanHistory``; a diverged run returns normally with ``history.status == "diverged"``.
    """
    run = _Run(generator, discriminator, objective, images, config, name=name, evaluate=evaluate,
               evaluate_last_iterate=evaluate_last_iterate, checkpoint_dir=checkpoint_dir, models_dir=models_dir,
               log=log, max_batches=max_batches, fresh=fresh)
    return run.run()


@torch.no_grad()
def sample_images(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """``count`` samples [N, 1, 28, 28] in [0, 1] on the generator's device, from noise that
    depends only on ``seed`` (drawn on the CPU, so every device sees the same z), with G in
    eval mode (restored afterwards). For evaluation callbacks and final sample sets."""
    device = next(generator.parameters()).device
    noise = torch.randn(count, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    was_training = generator.training
    generator.eval()
    try:
        chunks = [generator(z.to(device)) for z in noise.split(batch_size)]
    finally:
        generator.train(was_training)
    return torch.cat(chunks).float().add_(1).div_(2).clamp_(0, 1)
