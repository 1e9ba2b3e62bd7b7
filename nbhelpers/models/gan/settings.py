"""A GAN run's settings and the key that names its checkpoint.

- ``GanConfig``: the training settings; ``quarter_epochs``, ``grid_epochs`` and
  ``evaluation_epochs``: the epochs at which a run draws grids and evaluates.
- ``run_settings``: everything that decides a run's result (the settings that change numbers,
  the objective, both architectures, a fingerprint of the data, what the training code does);
  ``settings_hash`` of it is the checkpoint key, so a run with other settings or changed code
  never resumes an older run's checkpoint, while an edited comment or docstring keeps it
  (``code_fingerprint``).
"""
import ast
import contextlib
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch import nn

from nbhelpers.models.gan.losses import Objective
from nbhelpers.models.gan.nets import describe

# The code whose every change can change a run's result: what it does is part of the checkpoint
# key. Paths are relative to MODELS_DIR (nbhelpers/models).
MODELS_DIR = Path(__file__).resolve().parent.parent
TRAINING_SOURCES = ("gan/loop.py", "gan/settings.py", "gan/history.py", "gan/checkpoint.py",
                    "gan/losses.py", "gan/nets.py", "pixelshuffle.py")
BOOKKEEPING_FIELDS = ("checkpoint_every", "sync_every")  # never change results: not in the key
EVAL_EVERY_THROUGH = ("end", "first_quarter")


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
    eval_every_through: str = "end"             # eval_every holds through the "end" or the "first_quarter" only
    checkpoint_every: int = 1
    sync_every: int = 50                        # steps between device -> host copies (CUDA)
    channels_last: bool = True                  # faster convolutions on CPU
    compile: bool = False                       # torch.compile the networks (CUDA fast path)
    bf16_autocast: bool = False                 # the training step's forward passes autocast to bfloat16

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {self.optimizer!r}")
        for name in ("epochs", "batch_size", "grid_every", "grid_samples", "checkpoint_every", "sync_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0:
            raise ValueError("eval_every must be >= 0")
        if self.eval_every_through not in EVAL_EVERY_THROUGH:
            raise ValueError(f"eval_every_through must be one of {', '.join(EVAL_EVERY_THROUGH)}, "
                             f"got {self.eval_every_through!r}")

    def forward_precision(self, device: torch.device):
        """The training step's forward passes (losses included): fp32 (no context), or with
        ``bf16_autocast`` torch's autocast to bfloat16 (matrix products and convolutions in bf16,
        losses and reductions in fp32; backward passes follow the forward's types; weights and
        Adam's state stay fp32). A deviation from the report's fp32 when on; evaluation never
        runs under it."""
        if not self.bf16_autocast:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def with_overrides(self, **changes) -> "GanConfig":
        """A copy with some fields changed; an unknown name is an error."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown GanConfig field(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


# ----------------------------------------------------------------------------- schedules

def quarter_epochs(epochs: int) -> list[int]:
    """The epochs that end each quarter of the run: ceil(q * epochs / 4), q = 1..4."""
    return sorted({math.ceil(q * epochs / 4) for q in range(1, 5)})


def grid_epochs(config: GanConfig) -> list[int]:
    """Every ``grid_every`` epochs and the quarters."""
    every = set(range(config.grid_every, config.epochs + 1, config.grid_every))
    return sorted(every | set(quarter_epochs(config.epochs)))


def evaluation_epochs(config: GanConfig) -> list[int]:
    """Every ``eval_every`` epochs (none when 0) through the end of the run, or with
    ``eval_every_through`` "first_quarter" through the end of its first quarter only; and the
    quarters, so the last epoch. Evaluating never changes training (its samples come from their
    own generator, G in eval mode), so a sparser schedule keeps every number it still computes."""
    quarters = quarter_epochs(config.epochs)
    last = quarters[0] if config.eval_every_through == "first_quarter" else config.epochs
    every = set(range(config.eval_every, last + 1, config.eval_every)) if config.eval_every else set()
    return sorted(every | set(quarters))


# ----------------------------------------------------------------------------- the checkpoint key

def code_meaning(source: str) -> str:
    """What a module's source does, without its comments, docstrings or layout: the ``ast.dump``
    of its syntax tree (no comments, no line numbers) after dropping every docstring, the string
    constant that opens the module, a class or a function."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:]
    return ast.dump(tree)


def code_fingerprint(paths: Iterable[str | Path] | None = None) -> str:
    """sha256 prefix of what the training code does: ``code_meaning`` of each file of ``paths``
    (default: ``TRAINING_SOURCES``), in order. Editing a comment, a docstring or the layout keeps
    it; changing an operation changes it (and so may a new Python version, whose trees can dump
    differently: the runs then retrain once)."""
    digest = hashlib.sha256()
    for path in paths if paths is not None else [MODELS_DIR / name for name in TRAINING_SOURCES]:
        digest.update(code_meaning(Path(path).read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def data_fingerprint(images: torch.Tensor) -> dict:
    """Count, shape and two checksums of about 1024 evenly spaced images."""
    sample = images[:: max(1, len(images) // 1024)].double()
    return {"count": len(images), "shape": list(images.shape[1:]),
            "checksum": round(float(sample.sum()), 6), "checksum2": round(float((sample ** 2).sum()), 6)}


def run_settings(generator: nn.Module, discriminator: nn.Module, objective: Objective,
                 images: torch.Tensor, config: GanConfig, max_batches: int | None = None) -> dict:
    """Everything that determines a run's result (what the checkpoint key covers). A cap on
    batches an epoch (``max_batches``, a dry run's) is in it when set, so that a capped run never
    resumes or replaces a full run's checkpoint."""
    config_values = {k: v for k, v in asdict(config).items() if k not in BOOKKEEPING_FIELDS}
    config_values["betas"] = list(config_values["betas"])
    settings = {"config": config_values, "objective": objective.describe(), "generator": describe(generator),
                "discriminator": describe(discriminator), "data": data_fingerprint(images), "code": code_fingerprint()}
    if max_batches is not None:
        settings["max_batches"] = max_batches
    return settings


def settings_hash(settings: dict) -> str:
    """The checkpoint key: a sha256 prefix of ``run_settings``."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
