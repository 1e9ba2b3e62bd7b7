"""The record a notebook leaves behind, written and read here only: ``<stem>.metrics.json``,
exported samples and saved models. Everything that reads a record (the notebooks that compare
with another notebook's run, the batch index, the summary) goes through this module.

metrics.json (one per notebook and profile)::

    {"notebook", "profile", "status": "running"|"ok"|"failed"|"interrupted"|"incomplete",
     "device", "seed", "git_commit", "versions", "environment", "params", "dry_run",
     "models": {<model>: {...}}, ...}

Later sections add their own keys inside ``models`` (FID rows, class coverage, ...).
"""
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch

from nbhelpers.assets import atomic_save
from nbhelpers.metrics import coverage as cov
from nbhelpers.paths import SUMMARY_STEM, display, dry_run, profile_folder, report_name, run_folder
from nbhelpers.report.context import Run


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


# ----------------------------------------------------------------------------- the reader

# ----------------------------------------------------------------------------- records

def record_path(profile: str, stem: str, seed: int | None) -> Path:
    """``reports/<profile>/seed<k>/<stem>.metrics.json`` (``reports/<profile>/summary.metrics.json``
    for the summary, ``seed`` None)."""
    return run_folder(profile, seed) / f"{report_name(stem)}.metrics.json"


def seeds_present(profile: str) -> list[int]:
    """The seeds that have a report folder in this profile, in order."""
    root = profile_folder(profile)
    found = [int(m[1]) for p in root.glob("seed*") if p.is_dir() and (m := re.fullmatch(r"seed(\d+)", p.name))]
    return sorted(found)


def read(path: Path) -> dict | None:
    """The record at ``path`` (None when there is none)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def load(profile: str, stem: str, seed: int | None, finished: bool = True) -> dict | None:
    """The record of one notebook, profile and seed; with ``finished``, only a run that ended ok."""
    record = read(record_path(profile, stem, seed))
    if record is None or (finished and record.get("status") != "ok"):
        return None
    return record


def typical_seconds(profile: str, stem: str) -> float | None:
    """How long the notebook's finished runs of this profile took (the median over the seeds on
    disk), or None before its first."""
    seeds = [None] if stem == SUMMARY_STEM else seeds_present(profile)
    taken = [r["wall_seconds"] for seed in seeds if (r := load(profile, stem, seed)) and r.get("wall_seconds")]
    return float(np.median(taken)) if taken else None


def exported_samples(profile: str, stem: str, seed: int, name: str, count: int = 100):
    """The first ``count`` samples that a run exported for model ``name``
    (``outputs.export_samples``) as [N, 1, 28, 28] floats in [0, 1], or None."""
    path = run_folder(profile, seed) / stem / "samples" / f"{name}.npz"
    if not path.exists():
        return None
    with np.load(path) as content:
        images = content["images"][:count]
    return torch.from_numpy(images).float().div(255).unsqueeze(1)


def model(record: dict | None, name: str) -> dict | None:
    """One model's entry of a record (None when the record or the model is missing)."""
    return ((record or {}).get("models") or {}).get(name)


# ----------------------------------------------------------------------------- one model's numbers

def fid_rows(entry: dict | None) -> list[dict]:
    """Every FID row of a model: the training curve's (with an epoch) and the final ones."""
    return list((entry or {}).get("fid") or [])


def last_iterate_fid_rows(entry: dict | None) -> list[dict]:
    """A weight-averaged GAN run's training curve of the trained generator itself."""
    return list((entry or {}).get("fid_last_iterate") or [])


def final_fid(entry: dict | None, features: str) -> dict | None:
    """The final evaluation's FID row of one feature space (no ``epoch``), or None."""
    return next((row for row in fid_rows(entry) if row["features"] == features and "epoch" not in row), None)


def final_value(entry: dict | None, features: str) -> float | None:
    """The final FID value of one feature space, or None."""
    row = final_fid(entry, features)
    return None if row is None else row.get("value")


def latest_fid(entry: dict | None, features: str) -> dict | None:
    """The final row of one feature space or, without one (a run that diverged before its
    final evaluation), the row of the latest evaluated epoch."""
    final = final_fid(entry, features)
    if final is not None:
        return final
    curve = [row for row in fid_rows(entry) if row["features"] == features and "epoch" in row]
    return max(curve, key=lambda row: row["epoch"]) if curve else None


def final_metrics(entry: dict | None) -> dict:
    """A model's final evaluation in ``fid.Evaluator.evaluate``'s shape (FID rows without an
    epoch, KID, class coverage), e.g. for ``fid.fid_table``."""
    result = {"fid": [row for row in fid_rows(entry) if "epoch" not in row]}
    for key in ("kid", "class_coverage", "precision_recall", "density_coverage"):
        if (entry or {}).get(key):
            result[key] = entry[key]
    return result


def kid(entry: dict | None) -> dict | None:
    return (entry or {}).get("kid")


def class_coverage(entry: dict | None) -> dict | None:
    return (entry or {}).get("class_coverage")


def fidelity_diversity(entry: dict | None, name: str) -> float | None:
    """One of "precision", "recall" (k = 3) or "density", "coverage" (k = 5) of the final samples."""
    key = "precision_recall" if name in ("precision", "recall") else "density_coverage"
    return ((entry or {}).get(key) or {}).get(name)


def digit_shares(entry: dict | None):
    """The final samples' share of each digit (``coverage.shares``), or None."""
    counts = class_coverage(entry)
    return None if not counts else cov.shares(counts)


def largest_share(entry: dict | None) -> float | None:
    counts = class_coverage(entry)
    return None if not counts else cov.largest_share(counts)


def coverage_history(entry: dict | None) -> dict[int, list[float]]:
    """Digit shares at every evaluated epoch of a GAN run ({epoch: [10 shares]})."""
    return {int(epoch): shares for epoch, shares in ((entry or {}).get("coverage_history") or {}).items()}


def checks(entry: dict | None) -> list[dict]:
    """The acceptance checks a notebook recorded for a model ([{"check", "value", "holds"}])."""
    return list((entry or {}).get("checks") or [])


# ----------------------------------------------------------------------------- a whole record

def headline(record: dict) -> str:
    """Latest FID per model and feature space, e.g.
    'vae: classifier FID 3.10 (N=10000) · inception FID 41.20 (N=1000)'."""
    if "claims" in record:   # the summary's record: its verdicts
        verdicts = [claim["verdict"] for claim in record["claims"]]
        counted = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
        return f"seeds {record.get('seeds')}: " + (f"{len(verdicts)} claims ({counted})" if verdicts else
                                                   "no claim testable with the notebooks present")
    parts = []
    for name, entry in (record.get("models") or {}).items():
        rows = [latest_fid(entry, features) for features in sorted({r["features"] for r in fid_rows(entry)})]
        fids = " · ".join(f"{r['features']} FID {r['value']:.2f} (N={r['n']})" for r in rows
                          if r is not None and r.get("value") is not None)
        if fids:
            parts.append(f"{name}: {fids}")
    return "; ".join(parts)
