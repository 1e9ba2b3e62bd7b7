"""The one GAN training loop that the GAN, WGAN and SS-GAN notebooks share.

    history = train(generator, discriminator, objective, images, GanConfig(epochs=20),
                    name="gan", evaluate=my_eval, checkpoint_dir=..., models_dir=...)

What it does, in order, each epoch:

1. Data: ``images`` [N, 1, 28, 28] in [0, 1] stay where they are (on the device); every epoch
   a ``torch.randperm`` of N picks the order and batches are index slices of it, scaled to
   [-1, 1] for the tanh generator. No DataLoader, no per-sample Python.
2. Updates (alternating, Goodfellow et al. 2014, Algorithm 1): ``objective.critic_steps(g)``
   discriminator/critic updates, each on a fresh real batch and fresh noise, each followed by
   ``objective.after_discriminator_step`` (WGAN clipping); then one generator update. The
   fakes of the last critic update are generated with gradients and reused by the generator
   update (G has not changed in between, so its gradient is exact), and D's parameters are
   frozen during that update so no D weight gradients are computed.
3. Records: per generator step both losses, the objective's statistics (mean D(real) and
   D(fake), or critic values; rotation accuracies for SS-GAN) and the gradient norms of G and
   D, kept as device tensors and copied to the host every ``sync_every`` steps (every step on
   CPU, where copying is free), so CUDA never waits on a per-step ``.item()``. A non-finite
   loss stops training with ``status == "diverged"`` and a message; nothing is raised.
4. With ``ema_decay > 0``, after every generator update an exponential moving average of G's
   weights (``WeightAverage``); that average is then the generator the run reports: grids,
   evaluations and the saved ``<name>_generator.pt`` use it (``history.final_generator``).
5. At the chosen epochs: a 100-sample grid from fixed noise (every ``grid_every`` epochs and
   at the four quarters) and the caller's ``evaluate(generator, epoch) -> dict`` (every
   ``eval_every`` epochs, at the quarters and at the end), both with G in eval mode; with
   ``evaluate_last_iterate`` the trained G itself is evaluated too (``row["last_iterate"]``).
6. A checkpoint (models, optimisers, the average, RNG states, history) every ``checkpoint_every`` epochs,
   ``<checkpoint_dir>/<name>-<hash>.pt``: the hash covers every setting that decides the result
   and the source of the training and model code (``run_settings``), so a run with other
   settings or changed code starts its own file (nothing is refused or deleted) and switching
   back resumes the earlier one. The file's sha256 is recorded beside it when written; a file
   that does not match is set aside (``.corrupt``) and training starts afresh. ``--fresh``
   (``paths.fresh_requested``) retrains and replaces it. Finished runs write ``<name>_generator.pt`` and
   ``<name>_discriminator.pt`` (``<name>_critic.pt`` for a WGAN) to ``models_dir``, and with
   averaging also ``<name>_generator_last_iterate.pt``.

Determinism: the data order and the noise come from two ``torch.Generator`` seeded from
``config.seed`` and saved in checkpoints, so on CPU the same seed (and the same initial
weights) gives the same run, interrupted or not.
"""
import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from nbhelpers.batch import dryrun
from nbhelpers.report import progress
from nbhelpers.assets import recorded_mismatch, save_recorded, set_aside
from nbhelpers.models.gan.losses import Objective
from nbhelpers.models.gan.nets import describe
from nbhelpers.report.records import save_state
from nbhelpers.paths import display, fresh_requested

CHECKPOINT_FORMAT = 2
# The code whose every change can change a run's result: its source is part of the checkpoint key.
MODELS_DIR = Path(__file__).resolve().parent.parent   # nbhelpers/models
TRAINING_SOURCES = ("gan/loop.py", "gan/losses.py", "gan/nets.py", "pixelshuffle.py")
BOOKKEEPING_FIELDS = ("checkpoint_every", "sync_every")  # never change results: not hashed


@dataclass(frozen=True)
class GanConfig:
    """Training settings. Defaults: the report's GAN (Adam 1e-4 for both networks)."""

    epochs: int = 150
    batch_size: int = 64
    optimizer: str = "adam"                     # "adam" or "rmsprop"
    lr_generator: float = 1e-4
    lr_discriminator: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)   # Adam only (Radford et al. 2016's beta1 = 0.5)
    seed: int = 0
    grid_every: int = 20                        # plus the four quarters of the run
    grid_samples: int = 100
    eval_every: int = 0                         # 0: evaluate at the quarters and the end only
    checkpoint_every: int = 1
    sync_every: int = 50                        # steps between device -> host copies (CUDA)
    channels_last: bool = True                  # faster convolutions on CPU
    compile: bool = False                       # torch.compile the networks (CUDA fast path)
    ema_decay: float = 0.0                      # generator weight average (WeightAverage); 0: off

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {self.optimizer!r}")
        for name in ("epochs", "batch_size", "grid_every", "grid_samples", "checkpoint_every", "sync_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0:
            raise ValueError("eval_every must be >= 0")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0: no weight average), got {self.ema_decay}")

    def with_overrides(self, **changes) -> "GanConfig":
        """A copy with some fields changed; an unknown name is an error."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown GanConfig field(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


def quarter_epochs(epochs: int) -> list[int]:
    """The epochs that end each quarter of the run: ceil(q * epochs / 4), q = 1..4."""
    return sorted({math.ceil(q * epochs / 4) for q in range(1, 5)})


def grid_epochs(config: GanConfig) -> list[int]:
    every = set(range(config.grid_every, config.epochs + 1, config.grid_every))
    return sorted(every | set(quarter_epochs(config.epochs)))


def evaluation_epochs(config: GanConfig) -> list[int]:
    every = set(range(config.eval_every, config.epochs + 1, config.eval_every)) if config.eval_every else set()
    return sorted(every | set(quarter_epochs(config.epochs)))


def code_fingerprint() -> str:
    """sha256 prefix of the training and model sources (``TRAINING_SOURCES``)."""
    digest = hashlib.sha256()
    for name in TRAINING_SOURCES:
        digest.update((MODELS_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- weight average

class WeightAverage:
    """Exponential moving average of a generator's weights (averaging the iterates of GAN
    training: Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training").

    After generator update t = 0, 1, 2, ...:
        avg <- b_t * avg + (1 - b_t) * w_t,     b_t = min(decay, (1 + t) / (10 + t))
    The warm-up b_t (the ``num_updates`` rule of TensorFlow's ExponentialMovingAverage) keeps
    the early average close to the current weights, so it forgets the random initialisation
    within a few hundred steps; later the average spans about 1 / (1 - decay) steps. BatchNorm
    running statistics are averaged the same way; integer buffers are copied. The averaged
    copy is always in eval mode and never trained.
    """

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0
        pairs = list(zip(self.module.state_dict().values(), module.state_dict().values()))
        self._averaged = [(mine, now) for mine, now in pairs if mine.is_floating_point()]
        self._copied = [(mine, now) for mine, now in pairs if not mine.is_floating_point()]

    def warmup_decay(self, t: int) -> float:
        return min(self.decay, (1 + t) / (10 + t))

    @torch.no_grad()
    def update(self) -> None:
        """Fold in the tracked module's current weights (call after each optimiser step)."""
        weight = 1 - self.warmup_decay(self.updates)
        for mine, now in self._averaged:
            mine.lerp_(now, weight)            # mine + weight * (now - mine)
        for mine, now in self._copied:
            mine.copy_(now)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])   # in place: the tracked pairs stay valid
        self.updates = state["updates"]


# ----------------------------------------------------------------------------- history

class GanHistory:
    """What a run recorded. Tables are pandas DataFrames built on access:

    - ``steps``: one row per generator step: epoch, step, loss_d, loss_g, grad_norm_d,
      grad_norm_g, critic_steps, then the objective's statistics (d_real, d_fake, ...);
      D-side values are averaged over the critic steps of that generator step.
    - ``epochs``: per-epoch means of the step columns, seconds (training only), images/s.
    - ``evaluations``: one row per evaluated epoch with the scalar values ``evaluate``
      returned (non-scalars, e.g. per-class counts, are in ``evaluation_details``).
    - ``grids``: {epoch: [100, 1, 28, 28] CPU tensor in [0, 1]} from fixed noise.
    - ``status`` ("running", "finished", "diverged"), ``message``, ``diverged_step``,
      ``model_files`` ({role: path}).
    - ``final_generator``: the generator the run reports (the weight average when
      ``ema_decay > 0``, else the trained generator); not saved with the history.
    """

    BASE_COLUMNS = ("epoch", "step", "loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "critic_steps")

    def __init__(self, stat_columns: tuple[str, ...]):
        self.columns = self.BASE_COLUMNS + tuple(stat_columns)
        self._step_blocks: list[np.ndarray] = []
        self._epoch_rows: list[dict] = []
        self.evaluation_details: list[dict] = []
        self.grids: dict[int, torch.Tensor] = {}
        self.status = "running"
        self.message = ""
        self.diverged_step: int | None = None
        self.training_seconds = 0.0
        self.model_files: dict[str, str] = {}
        self.resumed_at_epoch: int | None = None
        self.reused = ""           # what came from an earlier run's checkpoint, said in the report
        self.final_generator: nn.Module | None = None

    # tables
    @property
    def steps(self) -> pd.DataFrame:
        data = np.concatenate(self._step_blocks) if self._step_blocks else np.empty((0, len(self.columns)))
        table = pd.DataFrame(data, columns=list(self.columns))
        return table.astype({"epoch": int, "step": int, "critic_steps": int})

    @property
    def epochs(self) -> pd.DataFrame:
        return pd.DataFrame(self._epoch_rows)

    @property
    def evaluations(self) -> pd.DataFrame:
        rows = [{k: v for k, v in row.items() if isinstance(v, (int, float, str, bool))}
                for row in self.evaluation_details]
        return pd.DataFrame(rows)

    @property
    def last_epoch(self) -> int:
        """The last epoch with records (a diverged run's last epoch is partial)."""
        return self._epoch_rows[-1]["epoch"] if self._epoch_rows else 0

    def __repr__(self) -> str:
        return (f"GanHistory(status={self.status!r}, epochs={self.last_epoch}, "
                f"steps={sum(len(b) for b in self._step_blocks)}, grids={sorted(self.grids)}, "
                f"evaluations={len(self.evaluation_details)})")

    # checkpointing (plain tensors and Python values: loadable with weights_only=True)
    def state_dict(self) -> dict:
        steps = np.concatenate(self._step_blocks) if self._step_blocks else np.empty((0, len(self.columns)))
        return {"columns": list(self.columns), "steps": torch.from_numpy(steps.copy()),
                "epochs": self._epoch_rows, "evaluations": self.evaluation_details,
                "grids": self.grids, "status": self.status, "message": self.message,
                "diverged_step": self.diverged_step, "training_seconds": self.training_seconds}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["columns"]) != self.columns:
            raise ValueError(f"history columns differ: {state['columns']} vs {list(self.columns)}")
        self._step_blocks = [state["steps"].numpy()]
        self._epoch_rows = list(state["epochs"])
        self.evaluation_details = list(state["evaluations"])
        self.grids = dict(state["grids"])
        self.status, self.message = state["status"], state["message"]
        self.diverged_step = state["diverged_step"]
        self.training_seconds = state["training_seconds"]


def _plain(value, where: str):
    """``evaluate``'s result as checkpoint-safe values: numbers, strings, tensors, containers."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.detach().cpu().clone()
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, pd.Series):
        return _plain(value.to_dict(), where)
    raise TypeError(f"{where} is a {type(value).__name__}; evaluate() must return a dict of numbers, "
                    "strings, tensors, arrays, lists or dicts")


# ----------------------------------------------------------------------------- settings hash

def _data_fingerprint(images: torch.Tensor) -> dict:
    sample = images[:: max(1, len(images) // 1024)].double()
    return {"count": len(images), "shape": list(images.shape[1:]),
            "checksum": round(float(sample.sum()), 6), "checksum2": round(float((sample ** 2).sum()), 6)}


def run_settings(generator: nn.Module, discriminator: nn.Module, objective: Objective,
                 images: torch.Tensor, config: GanConfig) -> dict:
    """Everything that determines a run's result (what the checkpoint hash covers)."""
    config_values = {k: v for k, v in asdict(config).items() if k not in BOOKKEEPING_FIELDS}
    config_values["betas"] = list(config_values["betas"])
    if not config_values["ema_decay"]:
        del config_values["ema_decay"]   # runs without an average keep the hash they had before it existed
    return {"config": config_values, "objective": objective.describe(), "generator": describe(generator),
            "discriminator": describe(discriminator), "data": _data_fingerprint(images), "code": code_fingerprint()}


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- the loop

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


class _Trainer:
    """State of one run; ``train()`` below is the public entry point."""

    def __init__(self, generator, discriminator, objective, images, config, name, evaluate,
                 evaluate_last_iterate, checkpoint_dir, models_dir, log):
        if images.ndim != 4 or len(images) < config.batch_size:
            raise ValueError(f"images must be [N, C, H, W] with N >= batch_size ({config.batch_size}); "
                             f"got {tuple(images.shape)}")
        objective.check(discriminator)
        self.device = images.device
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.G = generator.to(self.device, memory_format=memory_format)
        self.D = discriminator.to(self.device, memory_format=memory_format)
        self.objective, self.images, self.config, self.name = objective, images, config, name
        self.evaluate, self.log = evaluate, log or (lambda message: None)
        self.evaluate_last_iterate = evaluate_last_iterate
        self.settings = run_settings(self.G, self.D, objective, images, config)
        self.hash = settings_hash(self.settings)
        self.checkpoint_path = Path(checkpoint_dir) / f"{name}-{self.hash}.pt" if checkpoint_dir else None
        self.models_dir = Path(models_dir) if models_dir else None

        self.opt_g = _make_optimizer(config, self.G.parameters(), config.lr_generator, self.device)
        self.opt_d = _make_optimizer(config, self.D.parameters(), config.lr_discriminator, self.device)
        self.data_rng = torch.Generator(self.device).manual_seed(config.seed)
        self.noise_rng = torch.Generator(self.device).manual_seed(config.seed + 1)
        self.grid_seed = config.seed + 1_000_003  # the progress grids' fixed noise, same on every device

        self.stat_names = tuple(objective.discriminator_stats) + tuple(objective.generator_stats)
        self.history = GanHistory(self.stat_names)
        self.generator_step = 0
        self.sync_every = 1 if self.device.type == "cpu" else config.sync_every
        self.grid_at = set(grid_epochs(config))
        self.evaluate_at = set(evaluation_epochs(config)) if evaluate else set()
        self.average = WeightAverage(self.G, config.ema_decay) if config.ema_decay else None
        self.history.final_generator = self.average.module if self.average else self.G
        if config.compile:
            self.G.compile()
            for part in self.D.children():
                part.compile()

    # --- checkpoints
    def _checkpoint_state(self, epoch: int) -> dict:
        return {"format": CHECKPOINT_FORMAT, "settings_hash": self.hash, "settings": self.settings,
                "epoch": epoch, "generator_step": self.generator_step,
                "generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
                "optimizer_generator": self.opt_g.state_dict(),
                "optimizer_discriminator": self.opt_d.state_dict(),
                "generator_average": self.average.state_dict() if self.average else None,
                "data_rng": self.data_rng.get_state(), "noise_rng": self.noise_rng.get_state(),
                "history": self.history.state_dict()}

    def save_checkpoint(self, epoch: int) -> None:
        if self.checkpoint_path is None:
            return
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        state = self._checkpoint_state(epoch)
        # written whole or not at all, its sha256 recorded beside it
        save_recorded(self.checkpoint_path, lambda handle: torch.save(state, handle))

    def resume(self) -> int:
        """Load this run's checkpoint (same settings and code: same file name) if there is one and
        its sha256 is the one recorded when it was written; return the epochs already done."""
        if self.checkpoint_path is None or not self.checkpoint_path.exists():
            return 0
        if fresh_requested():
            self.log(f"[{self.name}] --fresh: retraining; {self.checkpoint_path.name} will be replaced")
            return 0
        problem = recorded_mismatch(self.checkpoint_path)
        if problem:
            aside = set_aside(self.checkpoint_path)
            self.log(f"[{self.name}] checkpoint {display(self.checkpoint_path)} not used: {problem}; "
                     f"kept as {aside.name}, training from the start")
            return 0
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("settings_hash") != self.hash:
            raise RuntimeError(f"{self.checkpoint_path}: holds settings {state.get('settings_hash')}, "
                               f"not {self.hash} (a file renamed by hand?); move it away and run again")
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["optimizer_generator"])
        self.opt_d.load_state_dict(state["optimizer_discriminator"])
        if self.average:
            self.average.load_state_dict(state["generator_average"])
        self.data_rng.set_state(state["data_rng"])
        self.noise_rng.set_state(state["noise_rng"])
        self.history.load_state_dict(state["history"])
        self.history.resumed_at_epoch = state["epoch"]
        self.history.reused = (f"finished run loaded from checkpoint {self.checkpoint_path.name}"
                               if self.history.status == "finished" else
                               f"resumed from checkpoint {self.checkpoint_path.name} after epoch {state['epoch']}")
        self.generator_step = state["generator_step"]
        self.log(f"[{self.name}] resumed from checkpoint {display(self.checkpoint_path)} after epoch {state['epoch']}")
        return state["epoch"]

    def save_models(self) -> None:
        if self.models_dir is None:
            return
        modules = [("generator", self.history.final_generator), (self.objective.critic_role, self.D)]
        if self.average:
            modules.append(("generator_last_iterate", self.G))
        for role, module in modules:
            path = save_state(self.models_dir / f"{self.name}_{role}.pt", module)
            self.history.model_files[role] = str(path)

    # --- one epoch
    def _real_batch(self, order: torch.Tensor, index: int) -> torch.Tensor:
        size = self.config.batch_size
        batch = self.images.index_select(0, order[index * size:(index + 1) * size])
        return batch.mul_(2).sub_(1)  # [0, 1] -> [-1, 1], matching tanh (in place on the copy)

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.config.batch_size, self.G.latent_dim, device=self.device,
                           generator=self.noise_rng)

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
        """One G update on ``fake``; D is frozen so that no D weight gradients are computed."""
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
        batches = dryrun.batches(len(self.images) // self.config.batch_size)   # the incomplete last batch is dropped
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

    @staticmethod
    def _to_host(pending: list[torch.Tensor], meta: list[tuple]) -> np.ndarray:
        values = torch.stack(pending).cpu().double().numpy()   # the one device -> host copy
        # columns: epoch, step, loss_d, loss_g, grad_norm_d, grad_norm_g, critic_steps, stats...
        meta = np.asarray(meta, dtype=np.float64)
        return np.concatenate([meta[:, :2], values[:, :4], meta[:, 2:3], values[:, 4:]], axis=1)

    def _diverged(self, blocks: list[np.ndarray]) -> bool:
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

    # --- grids and evaluation
    def _after_epoch(self, epoch: int) -> dict:
        """Grid and evaluation at their epochs, of the reported generator (the average, or G),
        in eval mode (BatchNorm running stats)."""
        if epoch not in self.grid_at and epoch not in self.evaluate_at:
            return {}
        shown = self.history.final_generator
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

    def _evaluate(self, generator: nn.Module, epoch: int) -> dict:
        with torch.no_grad():
            result = self.evaluate(generator, epoch)
        if not isinstance(result, dict | None):
            raise TypeError(f"evaluate() must return a dict of metrics (or None), got {type(result).__name__}")
        return _plain(dict(result or {}), "evaluate()")

    def _epoch_summary(self, epoch: int, blocks: list[np.ndarray], batches: int, seconds: float) -> dict:
        rows = np.concatenate(blocks)
        means = dict(zip(self.history.columns[2:], np.nanmean(rows[:, 2:], axis=0)))
        images = batches * self.config.batch_size
        summary = {"epoch": epoch, "generator_steps": len(rows), "critic_steps": int(rows[:, 6].sum()),
                   "seconds": round(seconds, 3), "images_per_second": round(images / seconds, 1)}
        summary.update({k: float(v) for k, v in means.items() if k != "critic_steps"})
        return summary

    def _progress(self, summary: dict, evaluation: dict) -> None:
        role = "C" if self.objective.critic_role == "critic" else "D"
        text = (f"[{self.name}] epoch {summary['epoch']}/{self.config.epochs}  "
                f"loss {role} {summary['loss_d']:.4f}  G {summary['loss_g']:.4f}  ")
        if "d_real" in summary and "d_fake" in summary:
            text += f"{role}(x) {summary['d_real']:.3f}  {role}(G(z)) {summary['d_fake']:.3f}  "
        text += f"{summary['seconds']:.1f} s ({summary['images_per_second']:.0f} img/s)"
        shown = {k: v for k, v in evaluation.items() if isinstance(v, float) and k != "eval_seconds"}
        if shown:
            text += "  | " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
        self.log(text)

    def run(self) -> GanHistory:
        done = self.resume()
        if self.history.status == "finished":
            self.log(f"[{self.name}] already finished ({done} epochs): loaded from {display(self.checkpoint_path)}")
            self.save_models()
            return self.history
        self.G.train()
        self.D.train()
        epochs = progress.bar(range(done + 1, self.config.epochs + 1), total=self.config.epochs, initial=done,
                              desc=f"[{self.name}]", unit="epoch")
        for epoch in epochs:
            started = time.perf_counter()
            blocks, batches = self._train_epoch(epoch)
            seconds = time.perf_counter() - started      # _to_host at the end synchronised
            self.history.training_seconds += seconds
            self.history._step_blocks.extend(blocks)
            summary = self._epoch_summary(epoch, blocks, batches, seconds)
            self.history._epoch_rows.append(summary)
            if self.history.status == "diverged":
                epochs.close()
                self.log(f"[{self.name}] {self.history.message}")
                return self.history
            evaluation = self._after_epoch(epoch)
            self._progress(summary, evaluation)
            if epoch == self.config.epochs:
                self.history.status = "finished"
                self.history.message = (f"finished {epoch} epochs ({self.generator_step} generator steps) "
                                        f"in {self.history.training_seconds:.0f} s of training")
            if epoch % self.config.checkpoint_every == 0 or epoch == self.config.epochs:
                self.save_checkpoint(epoch)
        epochs.close()
        self.save_models()
        self.log(f"[{self.name}] {self.history.message}")
        return self.history


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


def train(generator: nn.Module, discriminator: nn.Module, objective: Objective, images: torch.Tensor,
          config: GanConfig, *, name: str = "gan",
          evaluate: Callable[[nn.Module, int], dict] | None = None, evaluate_last_iterate: bool = False,
          checkpoint_dir: str | Path | None = None, models_dir: str | Path | None = None,
          log: Callable[[str], None] | None = print) -> GanHistory:
    """Train ``generator`` against ``discriminator`` with ``objective`` on ``images``.

    ``images``: [N, 1, 28, 28] in [0, 1] on the training device (``data.load_mnist``); the
    networks are moved there. ``evaluate(generator, epoch)`` is called (no grad, G in eval mode)
    every ``config.eval_every`` epochs, at the quarters and at the end; it returns a dict of
    metrics, stored in ``history.evaluations``. It should seed its own sampling so that results
    do not depend on when it runs. It receives ``history.final_generator`` (the weight average
    when ``config.ema_decay > 0``); ``evaluate_last_iterate`` also evaluates the trained G
    itself, stored under ``"last_iterate"`` in ``history.evaluation_details``. ``name`` prefixes the checkpoint (``<name>_checkpoint.pt``
    in ``checkpoint_dir``) and the saved models (``<name>_generator.pt``, ``<name>_critic.pt``
    or ``<name>_discriminator.pt`` in ``models_dir``). Returns a ``GanHistory``; a diverged run
    returns normally with ``history.status == "diverged"``.
    """
    trainer = _Trainer(generator, discriminator, objective, images, config, name, evaluate,
                       evaluate_last_iterate, checkpoint_dir, models_dir, log)
    return trainer.run()
