"""The writer of what a notebook leaves behind: ``<stem>.metrics.json``, exported samples and
saved models (``nbhelpers.results`` is the reader).

metrics.json (one per notebook and profile)::

    {"notebook", "profile", "status": "running"|"ok"|"failed"|"interrupted"|"incomplete",
     "device", "seed", "git_commit", "versions", "environment", "params", "dry_run",
     "models": {<model>: {...}}, ...}

Later sections add their own keys inside ``models`` (FID rows, class coverage, ...).
"""
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .assets import atomic_save
from .paths import display, dry_run
from .repro import Run


def _jsonable(value):
    """Plain JSON: tensors and numpy scalars become numbers, NaN/inf become null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


class Metrics:
    """The run's metrics file, rewritten whole after every change (a crash loses nothing)."""

    def __init__(self, run: Run):
        self.path = run.metrics_path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.data = {
            "notebook": run.stem, "profile": run.profile, "status": "running",
            "device": str(run.device), "seed": run.seed, "git_commit": run.git_commit,
            "versions": run.env.get("versions", {}), "environment": run.env,
            "params": run.params, "dry_run": dry_run(), "models": {},
        }
        self.write()

    def model(self, name: str) -> dict:
        """The (mutable) record of one model; call ``write()`` after changing it."""
        return self.data["models"].setdefault(name, {})

    def update_model(self, name: str, **fields) -> dict:
        self.model(name).update(fields)
        self.write()
        return self.model(name)

    def write(self) -> None:
        # Models built from an earlier run's checkpoint, at the top level: the report's banner says so.
        reused = {name: m["reused_checkpoint"] for name, m in self.data["models"].items() if m.get("reused_checkpoint")}
        if reused:
            self.data["reused_checkpoints"] = reused
        text = json.dumps(_jsonable(self.data), indent=2)
        atomic_save(self.path, lambda handle: handle.write(text.encode()))

    def finish(self) -> None:
        self.data["status"] = "ok"
        self.data["duration_s"] = round(time.time() - self.started, 1)
        self.write()
        print(f"metrics written to {display(self.path)}")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 1, H, W] floats in [0, 1] -> [N, H, W] uint8 (round to nearest)."""
    images = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return images.squeeze(1).cpu().numpy()


def export_samples(run: Run, name: str, images: torch.Tensor) -> str:
    """Save generated images as ``reports/<profile>/seed<k>/<stem>/samples/<name>.npz`` (key
    ``images``, uint8 [N, 28, 28]) so that any FID tool can evaluate them; returns the path as a
    report shows it (relative to the reports root)."""
    path = run.out_dir / "samples" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(path, lambda handle: np.savez_compressed(handle, images=to_uint8(images)))
    return display(path)


def save_state(path: Path, module: torch.nn.Module) -> Path:
    """Save ``module``'s state_dict (CPU tensors) to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    atomic_save(path, lambda handle: torch.save(state, handle))
    return path


def save_model(run: Run, name: str, module: torch.nn.Module) -> str:
    """Save a trained model as ``reports/<profile>/seed<k>/<stem>/models/<name>.pt``; returns the
    path as a report shows it (relative to the reports root)."""
    return display(save_state(run.out_dir / "models" / f"{name}.pt", module))


def mark_outcome(metrics_path: Path, stem: str, profile: str, status: str, error: str | None,
                 seconds: float) -> dict:
    """After a batch ran a notebook: merge its outcome (status ok, failed or interrupted) into
    the notebook's metrics file (writing one if the notebook never got that far)."""
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {
        "notebook": stem, "profile": profile, "models": {}}
    if status in ("failed", "interrupted"):
        metrics["status"] = status
        metrics["error"] = error
    elif metrics.get("status") != "ok":  # ran without error but never reached metrics.finish()
        metrics["status"] = "incomplete"
    metrics["wall_seconds"] = round(seconds, 1)
    text = json.dumps(metrics, indent=2)
    atomic_save(metrics_path, lambda handle: handle.write(text.encode()))
    return metrics
