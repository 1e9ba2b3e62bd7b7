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
   during that update so no D weight gradients are computed. Forward: ``GanConfig.forward_precision``.
3. Records, by name (``GanHistory.step_type``): per generator step both losses, the gradient
   norms of D and G and the objective's statistics (mean D(real) and D(fake), or critic values;
   rotation accuracies for SS-GAN), kept as device tensors and copied to the host every
   ``sync_every`` steps (every step on CPU, where copying is free), so CUDA never waits on a
   per-step ``.item()``. A non-finite loss stops training with ``status == "diverged"`` and a
   message; nothing is raised.
4. At the chosen epochs (``settings.grid_epochs``, ``settings.evaluation_epochs``): a grid of
   samples from fixed noise and the caller's ``evaluate(generator, epoch) -> dict``, both with
   G in eval mode. The generator shown, evaluated and saved is the trained G itself (the last
   iterate), as in the report. Time: ``history.training_seconds`` are steps 1-3's wall seconds,
   an evaluation row's ``eval_seconds`` its own; ``clock`` counts them as "training", "evaluation".
5. Every ``checkpoint_every`` epochs a checkpoint (``checkpoint.Checkpoint``), named by a key
   of every setting that decides the result and of the training code
   (``settings.run_settings``); a later call with the same key resumes it, ``fresh=True``
   retrains and replaces it. Finished runs write ``<name>_generator.pt`` and
   ``<name>_discriminator.pt`` (``<name>_critic.pt`` for a WGAN) to ``models_dir``.

Determinism: the data order and the noise come from two ``torch.Generator`` seeded from
``config.seed`` and saved in checkpoints, so on CPU the same seed (and the same initial
weights) gives the same run, interrupted or not.

A weight average of G (e.g. an exponential moving average, Yazici et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training") would be one more field of ``_Training``: folded
in after ``opt_g.step()`` in ``_generator_update``, saved with the others in ``_parts``, and
shown, evaluated and saved in G's place by ``_after_epoch`` and ``_save_models``.
"""
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nbhelpers import clock, progress
from nbhelpers.files import save_state
from nbhelpers.models.gan.checkpoint import Checkpoint
from nbhelpers.models.gan.history import COUNTED, GanHistory, checkpoint_safe
from nbhelpers.models.gan.losses import Objective
from nbhelpers.models.gan.settings import GanConfig, evaluation_epochs, grid_epochs, run_settings
from nbhelpers.paths import display


@dataclass(eq=False)
class _Training:
    """One call of ``train()``, the one object (``t``) that the functions below read and change:
    what the updates change (both networks and their optimisers, the random generators of the
    data order and of the noise, the history, the generator step count) and what the call asked
    for."""

    G: nn.Module
    D: nn.Module
    objective: Objective
    images: torch.Tensor            # [N, 1, 28, 28] in [0, 1], on the training device
    config: GanConfig
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    data_rng: torch.Generator       # the order of every epoch
    noise_rng: torch.Generator      # the noise of every update
    history: GanHistory
    batches: int                    # real batches an epoch: the whole ones, at most max_batches
    sync_every: int                 # generator steps between device -> host copies
    # what the call asked for (``train``'s arguments)
    name: str
    evaluate: Callable[[nn.Module, int], dict] | None
    models_dir: Path | None
    log: Callable[[str], None]
    progress_lines: bool
    checkpoint: Checkpoint | None = None   # with a checkpoint_dir: set by _start
    generator_step: int = 0                 # generator updates so far, counted by _train_epoch

    @property
    def grid_seed(self) -> int:
        return self.config.seed + 1_000_003   # the progress grids' fixed noise, same on every device


# ----------------------------------------------------------------------------- the update step

def _train_epoch(t: _Training, epoch: int) -> tuple[list[np.ndarray], int]:
    """Algorithm 1 for one epoch. Returns its step rows (host blocks, ``GanHistory.step_block``)
    and the number of real batches used."""
    order = torch.randperm(len(t.images), device=t.images.device, generator=t.data_rng)
    pending, blocks, used = [], [], 0
    while used < t.batches:
        fake, critic_sums, done, used = _critic_updates(t, order, used)
        measured = {name: total / done for name, total in critic_sums.items()}   # D's: mean over its steps
        measured.update(_generator_update(t, fake))
        counts = {"epoch": epoch, "step": t.generator_step, "critic_steps": done}
        values = torch.stack([measured[name].float() for name in t.history.measured])   # stays on the device
        pending.append((counts, values))
        t.generator_step += 1
        if len(pending) >= t.sync_every or used == t.batches:
            blocks.append(_to_host(t, pending))
            pending = []
            if _diverged(t, blocks):
                break
    return blocks, used


def _critic_updates(t: _Training, order: torch.Tensor, used: int):
    """``critic_steps(g)`` D updates (fewer when the epoch runs out of batches). Returns the last
    fakes (with gradients, for G), D's measured values summed over the updates by name, the
    number of updates and the number of batches used so far."""
    wanted, done, sums = t.objective.critic_steps(t.generator_step), 0, {}
    while done < wanted and used < t.batches:
        real = _real_batch(t, order, used)
        used, done = used + 1, done + 1
        with t.config.forward_precision(t.images.device):
            with torch.set_grad_enabled(done == wanted or used == t.batches):   # only the last fakes are reused by G
                fake = t.G(_noise(t))
            loss_d, stats = t.objective.discriminator_loss(t.D, real, fake.detach())
        t.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        measured = {"loss_d": loss_d.detach(), "grad_norm_d": _total_grad_norm(t.D),
                    **{name: stats[name] for name in t.objective.discriminator_stats}}
        t.opt_d.step()
        t.objective.after_discriminator_step(t.D)   # e.g. WGAN weight clipping
        sums = {name: sums[name] + value for name, value in measured.items()} if sums else measured
    return fake, sums, done, used


def _generator_update(t: _Training, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """One G update on ``fake``, D frozen so that no D weight gradients are computed; returns
    G's measured values by name."""
    t.D.requires_grad_(False)
    try:
        with t.config.forward_precision(t.images.device):
            loss_g, stats = t.objective.generator_loss(t.D, fake)
        t.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        grad_norm_g = _total_grad_norm(t.G)
        t.opt_g.step()
    finally:
        t.D.requires_grad_(True)
    return {"loss_g": loss_g.detach(), "grad_norm_g": grad_norm_g,
            **{name: stats[name] for name in t.objective.generator_stats}}


def _real_batch(t: _Training, order: torch.Tensor, index: int) -> torch.Tensor:
    size = t.config.batch_size
    batch = t.images.index_select(0, order[index * size:(index + 1) * size])
    return batch.mul_(2).sub_(1)  # [0, 1] -> [-1, 1], matching tanh (in place on the copy)


def _noise(t: _Training) -> torch.Tensor:
    return torch.randn(t.config.batch_size, t.G.latent_dim, device=t.images.device, generator=t.noise_rng)


def _to_host(t: _Training, pending: list[tuple[dict, torch.Tensor]]) -> np.ndarray:
    """The pending steps' rows: their measured values in one device -> host copy, by name."""
    measured = torch.stack([values for _, values in pending]).cpu().double().numpy()   # the one copy
    columns = dict(zip(t.history.measured, measured.T))
    columns.update({name: [counts[name] for counts, _ in pending] for name in COUNTED})
    return t.history.step_block(columns)


def _diverged(t: _Training, blocks: list[np.ndarray]) -> bool:
    """True (and the history says why) when a loss of the newest block is not finite."""
    block = blocks[-1]
    bad = ~(np.isfinite(block["loss_d"]) & np.isfinite(block["loss_g"]))
    if not bad.any():
        return False
    first = int(np.argmax(bad))
    blocks[-1] = block[: first + 1]                 # keep the first bad step, drop what follows
    epoch, step = int(block["epoch"][first]), int(block["step"][first])
    losses = {name: float(block[name][first]) for name in ("loss_d", "loss_g")}
    which = " and ".join(name for name, value in losses.items() if not np.isfinite(value))
    t.history.status, t.history.diverged_step = "diverged", step
    t.history.message = (f"training diverged: {which} became {list(losses.values())} at generator step {step} "
                         f"(epoch {epoch}); stopped there. Models were not saved; the last checkpoint (if any) "
                         f"holds the last finished epoch.")
    return True


def _total_grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.nn.utils.get_total_norm(grads)   # sqrt of the sum of squared entries, on the device


# ----------------------------------------------------------------------------- one call of train()

def train(generator: nn.Module, discriminator: nn.Module, objective: Objective, images: torch.Tensor,
          config: GanConfig, *, name: str = "gan", evaluate: Callable[[nn.Module, int], dict] | None = None,
          checkpoint_dir: str | Path | None = None, models_dir: str | Path | None = None,
          log: Callable[[str], None] | None = print, max_batches: int | None = None,
          fresh: bool = False, progress_lines: bool = False) -> GanHistory:
    """Train ``generator`` against ``discriminator`` with ``objective`` on ``images``.

    ``images``: [N, 1, 28, 28] in [0, 1] on the training device (``data.load_mnist``); the
    networks are moved there. ``evaluate(generator, epoch)`` is called (no grad, G in eval mode)
    every ``config.eval_every`` epochs, at the quarters and at the end; it returns a dict of
    metrics, stored in ``history.evaluations``. It should seed its own sampling so that results
    do not depend on when it runs.

    ``name`` prefixes the checkpoint (``<name>-<key>.pt`` in ``checkpoint_dir``), the saved
    models (``<name>_generator.pt``, ``<name>_critic.pt`` or ``<name>_discriminator.pt`` in
    ``models_dir``) and the progress lines, which go to ``log`` (None: silent).
    ``max_batches``: None trains on every whole batch of an epoch, a number on at most that many
    (a dry run). ``fresh``: ignore an existing checkpoint and replace it (retrain).
    ``progress_lines``: the output is a log (a batch run): progress lines only, no bar.

    Returns a ``GanHistory``; a diverged run returns normally with ``history.status == "diverged"``.
    """
    t = _start(generator, discriminator, objective, images, config, max_batches, checkpoint_dir, name=name,
               evaluate=evaluate, models_dir=Path(models_dir) if models_dir else None,
               log=log or (lambda message: None), progress_lines=progress_lines)
    done = _resume(t, fresh)
    if t.history.status == "finished":
        t.log(progress.line(name, f"already finished ({done} epochs): loaded from {display(t.checkpoint.path)}"))
        _save_models(t)
        return t.history
    t.G.train()
    t.D.train()
    epochs = progress.bar(range(done + 1, config.epochs + 1), total=config.epochs, initial=done,
                          desc=f"[{name}]", unit="epoch", lines=progress_lines)
    for epoch in epochs:
        started = time.perf_counter()
        with clock.phase("training"):
            blocks, batches = _train_epoch(t, epoch)
        seconds = time.perf_counter() - started      # _to_host at the end synchronised
        summary = _epoch_summary(t, epoch, blocks, batches, seconds)
        t.history.add_epoch(blocks, summary, seconds)
        if t.history.status == "diverged":
            epochs.close()
            t.log(progress.line(name, t.history.message))
            return t.history
        _progress(t, summary, _after_epoch(t, epoch))
        if epoch == config.epochs:
            t.history.status = "finished"
            t.history.message = (f"finished {epoch} epochs ({t.generator_step} generator steps) "
                                 f"in {t.history.training_seconds:.0f} s of training")
        if t.checkpoint and (epoch % config.checkpoint_every == 0 or epoch == config.epochs):
            t.checkpoint.save(epoch, t.generator_step, _parts(t))
    epochs.close()
    _save_models(t)
    t.log(progress.line(name, t.history.message))
    return t.history


def _start(generator: nn.Module, discriminator: nn.Module, objective: Objective, images: torch.Tensor,
           config: GanConfig, max_batches: int | None, checkpoint_dir: str | Path | None, **call) -> _Training:
    """Check the inputs, set up the training on the images' device with its checkpoint (keyed by
    ``run_settings``) and, with ``config.compile``, compile the networks. ``call``: the rest of
    ``train``'s arguments, as ``_Training`` fields."""
    if images.ndim != 4 or len(images) < config.batch_size:
        raise ValueError(f"images must be [N, C, H, W] with N >= batch_size ({config.batch_size}); "
                         f"got {tuple(images.shape)}")
    objective.check(discriminator)
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be >= 1 (None: every batch), got {max_batches}")
    device = images.device
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    generator = generator.to(device, memory_format=memory_format)
    discriminator = discriminator.to(device, memory_format=memory_format)
    whole = len(images) // config.batch_size    # the incomplete last batch is dropped
    t = _Training(
        generator, discriminator, objective, images, config,
        opt_g=_make_optimizer(config, generator.parameters(), config.lr_generator, device),
        opt_d=_make_optimizer(config, discriminator.parameters(), config.lr_discriminator, device),
        data_rng=torch.Generator(device).manual_seed(config.seed),
        noise_rng=torch.Generator(device).manual_seed(config.seed + 1),
        history=GanHistory(tuple(objective.discriminator_stats) + tuple(objective.generator_stats)),
        batches=whole if max_batches is None else min(whole, max_batches),
        sync_every=1 if device.type == "cpu" else config.sync_every, **call)
    if checkpoint_dir:
        settings = run_settings(generator, discriminator, objective, images, config, max_batches)
        t.checkpoint = Checkpoint(checkpoint_dir, t.name, settings, t.log)
    if config.compile:
        generator.compile()
        for part in discriminator.children():
            part.compile()
    return t


def _make_optimizer(config: GanConfig, parameters, lr: float, device: torch.device):
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=config.betas, fused=device.type in ("cpu", "cuda"))
    return torch.optim.RMSprop(parameters, lr=lr)


# --- checkpoints
def _resume(t: _Training, fresh: bool) -> int:
    """Continue from this run's checkpoint if there is a usable one (``Checkpoint.load``);
    return the epochs already done."""
    state = t.checkpoint.load(fresh) if t.checkpoint else None
    if state is None:
        return 0
    Checkpoint.restore(state, _parts(t))
    epoch, file = state["epoch"], t.checkpoint.path
    t.history.resumed_at_epoch = epoch
    t.history.reused = (f"finished run loaded from checkpoint {file.name}" if t.history.status == "finished"
                        else f"resumed from checkpoint {file.name} after epoch {epoch}")
    t.generator_step = state["generator_step"]
    t.log(progress.line(t.name, f"resumed from checkpoint {display(file)} after epoch {epoch}"))
    return epoch


def _parts(t: _Training) -> dict:
    """What a checkpoint holds besides the epoch and the step count, by saved name."""
    return {"generator": t.G, "discriminator": t.D, "optimizer_generator": t.opt_g,
            "optimizer_discriminator": t.opt_d, "data_rng": t.data_rng, "noise_rng": t.noise_rng,
            "history": t.history}


# --- after each epoch: summary, grids and evaluation, the progress line
def _epoch_summary(t: _Training, epoch: int, blocks: list[np.ndarray], batches: int, seconds: float) -> dict:
    rows = np.concatenate(blocks)
    summary = {"epoch": epoch, "generator_steps": len(rows), "critic_steps": int(rows["critic_steps"].sum()),
               "seconds": round(seconds, 3), "images_per_second": round(batches * t.config.batch_size / seconds, 1)}
    summary.update({name: float(np.nanmean(rows[name])) for name in t.history.measured})
    return summary


def _after_epoch(t: _Training, epoch: int) -> dict:
    """Grid and evaluation at their epochs, in eval mode (BatchNorm running statistics)."""
    grid = epoch in grid_epochs(t.config)
    evaluated = t.evaluate is not None and epoch in evaluation_epochs(t.config)
    if not grid and not evaluated:
        return {}
    t.G.eval()
    try:
        if grid:
            t.history.grids[epoch] = sample_images(t.G, t.config.grid_samples, seed=t.grid_seed).cpu()
        if evaluated:
            started = time.perf_counter()
            row = {"epoch": epoch, **_evaluate(t, epoch)}
            row["eval_seconds"] = round(time.perf_counter() - started, 3)
            t.history.evaluation_details.append(row)
            return row
    finally:
        t.G.train()
    return {}


def _evaluate(t: _Training, epoch: int) -> dict:
    with torch.no_grad(), clock.phase("evaluation"):
        result = t.evaluate(t.G, epoch)
    if not isinstance(result, dict | None):
        raise TypeError(f"evaluate() must return a dict of metrics (or None), got {type(result).__name__}")
    return checkpoint_safe(dict(result or {}), "evaluate()")


def _progress(t: _Training, summary: dict, evaluation: dict) -> None:
    role = "C" if t.objective.critic_role == "critic" else "D"
    text = f"loss {role} {summary['loss_d']:.4f}  G {summary['loss_g']:.4f}  "
    if "d_real" in summary and "d_fake" in summary:
        text += f"{role}(x) {summary['d_real']:.3f}  {role}(G(z)) {summary['d_fake']:.3f}  "
    text += f"{summary['seconds']:.1f} s ({summary['images_per_second']:.0f} img/s)"
    shown = {k: v for k, v in evaluation.items() if isinstance(v, float) and k != "eval_seconds"}
    if shown:
        text += "  | " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
    t.log(progress.epoch_line(t.name, summary["epoch"], t.config.epochs, text))


def _save_models(t: _Training) -> None:
    if t.models_dir is None:
        return
    for role, module in (("generator", t.G), (t.objective.critic_role, t.D)):
        path = save_state(t.models_dir / f"{t.name}_{role}.pt", module)
        t.history.model_files[role] = str(path)


# ----------------------------------------------------------------------------- sampling

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
