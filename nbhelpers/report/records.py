"""The record a notebook leaves behind, written and read here only: ``<stem>.metrics.json``
(what it holds: ``record_schema``), exported samples and saved models. Everything that reads a
record (the notebooks that compare with another notebook's run, the batch index, the summary)
goes through this module; the batch adds a run's outcome once its notebook has ended
(``batch.attempts.mark_outcome``).

Below, in order: the writer (``Metrics``, samples and models), the reader (records on disk, one
model's numbers, a whole record's headline). The reader finds a profile's records in its real
folder, or with ``dry_run`` in its dry run's (``paths.profile_folder``): a notebook run passes
its ``run.batch.dry_run``.
"""
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch

from nbhelpers import clock
from nbhelpers.files import atomic_save, save_state
from nbhelpers.metrics import coverage as cov
from nbhelpers.paths import SUMMARY_STEM, display, profile_folder, report_name, run_folder
from nbhelpers.report import record_schema
from nbhelpers.report.context import Run
from nbhelpers.report.profiles import SEED_LIMIT
from nbhelpers.report.record_schema import Check, ClassCoverage, Evaluation, FidRow, KidRow, ModelEntry, Record

# The evaluation's fields beside its FID rows, in the order evaluator.Evaluator.evaluate writes them.
_EXTRA_METRICS = tuple(key for key in Evaluation.__annotations__ if key != "fid")

# ----------------------------------------------------------------------------- the writer


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
        self.path, self.batch = run.metrics_path, run.batch
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.opened_cpu, self.phases_at_open = time.process_time(), clock.spent()
        self.data: Record = {
            "notebook": run.stem, "profile": run.profile, "status": "running",
            "device": str(run.device), "seed": run.seed, "git_commit": run.git_commit,
            "code_digest": run.code_digest, "versions": run.env.get("versions", {}), "environment": run.env,
            "params": run.params, "dry_run": run.batch.dry_run, "attempt": run.batch.attempt, "models": {},
        }
        self.write()

    def model(self, name: str) -> ModelEntry:
        """The (mutable) record of one model; call ``write()`` after changing it."""
        return self.data["models"].setdefault(name, {})

    def update_model(self, name: str, **fields) -> ModelEntry:
        self.model(name).update(fields)
        self.write()
        return self.model(name)

    def write(self) -> None:
        # Models built from an earlier run's checkpoint, at the top level: the report's banner says so.
        reused = {name: entry["reused_checkpoint"] for name, entry in self.data["models"].items()
                  if entry.get("reused_checkpoint")}
        if reused:
            self.data["reused_checkpoints"] = reused
        text = json.dumps(_jsonable(self.data), indent=2)
        atomic_save(self.path, lambda handle: handle.write(text.encode()))

    def finish(self) -> None:
        self.data["status"] = "ok"
        self.data["duration_s"] = round(time.time() - self.started, 1)
        # The kernel's CPU-seconds since it started, and by phase: before this record opened
        # (the kernel's start, imports, parameters), then clock's phases since (the budget's).
        self.data["cpu_seconds"] = round(time.process_time(), 2)
        phases = {"opening": self.opened_cpu, **clock.spent(since=self.phases_at_open)}
        self.data["phase_seconds"] = {name: round(seconds, 2) for name, seconds in phases.items()}
        self.write()
        print(f"metrics written to {display(self.path, self.batch)}")


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
    return display(path, run.batch)


def save_model(run: Run, name: str, module: torch.nn.Module) -> str:
    """Save a trained model as ``reports/<profile>/seed<k>/<stem>/models/<name>.pt``; returns the
    path as a report shows it (relative to the reports root)."""
    return display(save_state(run.out_dir / "models" / f"{name}.pt", module), run.batch)


# ----------------------------------------------------------------------------- the reader: records on disk

def record_path(profile: str, stem: str, seed: int | None, dry_run: bool = False) -> Path:
    """``reports/<profile>/seed<k>/<stem>.metrics.json`` (``reports/<profile>/summary.metrics.json``
    for the summary, ``seed`` None)."""
    return run_folder(profile, seed, dry_run) / f"{report_name(stem)}.metrics.json"


# A seed's folder: ``seed<k>``, k in ASCII digits without a leading zero (paths.run_folder writes it so).
SEED_FOLDER = re.compile(r"seed(0|[1-9][0-9]*)")
MISNAMED = "not a seed's folder (seed<k>, k written in digits without a leading zero, sign or space): left out"


def _seed_folder(name: str) -> tuple[bool, bool]:
    """Whether a folder's name reads as ``seed<number>`` (as Python's int() would read the
    number: ``seed01``, ``seed+1``, ``seed 1``), and whether it is a seed's folder: that one spelling."""
    try:
        number = int(name.removeprefix("seed")) if name.startswith("seed") else None
    except ValueError:
        number = None
    return number is not None, number is not None and SEED_FOLDER.fullmatch(name) is not None and number < SEED_LIMIT


def seeds_present(profile: str, dry_run: bool = False) -> list[int]:
    """The seeds that have a report folder in this profile, in order: each once, from its folder
    ``seed<k>`` (``SEED_FOLDER``; any other spelling is ``misnamed_folders``')."""
    root = profile_folder(profile, dry_run)
    return sorted(int(p.name[4:]) for p in root.glob("seed*") if p.is_dir() and _seed_folder(p.name)[1])


def misnamed_folders(profile: str, dry_run: bool = False) -> list[str]:
    """The folders of this profile named like a seed's that are none (``seed01``, ``seed+1``,
    ``seed 1``, a seed beyond the limit), which every reader leaves out, naming them (``MISNAMED``)."""
    root = profile_folder(profile, dry_run)
    return sorted(p.name for p in root.glob("seed*") if p.is_dir() and _seed_folder(p.name) == (True, False))


class DamagedRecord(ValueError):
    """A metrics file that cannot be read as a record (truncated, not a mapping, a value of the
    wrong type, not finite or out of its range); its message names the file. Every reader leaves
    such a record out, by name."""


class DamagedSamples(ValueError):
    """An exported samples file that cannot be read as one (``export_samples``); its message
    names the file. Every reader leaves it out, by name."""


def malformed(record) -> str | None:
    """What makes ``record`` unusable as a record (``record_schema.problem``: every value of
    its declared type, every number finite and within its bounds), or None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a record"
    return record_schema.problem(record)


def read(path: Path) -> Record | None:
    """The record at ``path`` (None when there is none); DamagedRecord when it cannot be read."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:   # truncated, not UTF-8, ...
        raise DamagedRecord(f"{display(path)} is damaged ({type(error).__name__}: {error}); "
                            "rerunning its notebook replaces it") from None
    if problem := malformed(record):
        raise DamagedRecord(f"{display(path)} is damaged ({problem}); rerunning its notebook replaces it")
    return record


def misplaced(record: Record, profile: str, stem: str, seed: int | None) -> str | None:
    """How a record disagrees with where it lies (its profile, notebook and seed folder), e.g.
    a seed folder copied to another seed's name; None when it agrees. Fields it lacks pass."""
    said = {"profile": record.get("profile", profile), "notebook": record.get("notebook", stem),
            "seed": record.get("seed", seed) if seed is not None else None}
    where = {"profile": profile, "notebook": stem, "seed": seed}
    wrong = [f"{key} {said[key]!r}" for key in where if said[key] != where[key]]
    return f"its record says {', '.join(wrong)}, not where it lies" if wrong else None


def other_code(record: Record, current: record_schema.CodeDigest) -> str | None:
    """How the code a record's run executed (its ``code_digest``) differs from ``current``
    (``context.current_code``), as "ran other code: ..."; None when it is the same."""
    ran, commit = record.get("code_digest") or {}, record.get("git_commit", "unknown")
    if not ran.get("package"):
        return f"ran other code: its record has no code digest (commit {commit}, before records had one)"
    if ran["package"] != current["package"]:
        return f"ran other code: nbhelpers {ran['package'][:12]} (commit {commit}), not the current {current['package'][:12]}"
    if not ran.get("notebook"):
        return "ran other code: the code of its notebook is not known (a run outside ./run_all.sh)"
    if ran["notebook"] != current["notebook"]:
        return f"ran other code: its notebook's code {ran['notebook'][:12]}, not the current {str(current['notebook'])[:12]}"
    return None


def run_identity(record: Record) -> str | None:
    """What only one run's record holds (its environment and every number, timings included),
    to tell a copy of it under another seed's name; None for a record without either."""
    if not record.get("environment") or not record.get("models"):
        return None
    return json.dumps([record["environment"], record["models"]], sort_keys=True)


def load(profile: str, stem: str, seed: int | None, finished: bool = True, dry_run: bool = False) -> Record | None:
    """The record of one notebook, profile and seed; with ``finished``, only a run that ended ok
    (a damaged record is none)."""
    try:
        record = read(record_path(profile, stem, seed, dry_run))
    except DamagedRecord:
        return None
    if record is None or (finished and record.get("status") != "ok"):
        return None
    return record


def typical_seconds(profile: str, stem: str, dry_run: bool = False, later: dict | None = None,
                    explored: bool | None = None) -> float | None:
    """How long the notebook's finished runs of this profile took (the median over the seeds on
    disk, damaged records left out), or None before its first. With ``later`` (the values the
    profile's ``later_seeds`` give this notebook) and ``explored``, only the runs that did (True)
    or did not (False) run the first evaluation seed's explorations: some value of ``later`` set
    otherwise in their parameters. A record without parameters counts either way."""
    seeds = [None] if stem == SUMMARY_STEM else seeds_present(profile, dry_run)
    taken = [r["wall_seconds"] for seed in seeds
             if (r := load(profile, stem, seed, dry_run=dry_run)) and r.get("wall_seconds")
             and (explored is None or "params" not in r or ran_explorations(r["params"], later or {}) == explored)]
    return float(np.median(taken)) if taken else None


def ran_explorations(params: dict, later: dict) -> bool:
    """Whether a run's ``params`` set some parameter of ``later`` (its notebook's ``later_seeds``
    values) otherwise: the first evaluation seed's run, with the explorations."""
    return any(name in params and params[name] != value for name, value in later.items())


def exported_samples(profile: str, stem: str, seed: int, name: str, count: int = 100, dry_run: bool = False):
    """The first ``count`` samples that a run exported for model ``name`` (``export_samples``)
    as [N, 1, 28, 28] floats in [0, 1], or None; DamagedSamples when the file cannot be read."""
    path = run_folder(profile, seed, dry_run) / stem / "samples" / f"{name}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path) as content:
            images = content["images"][:count]
    except Exception as error:   # numpy raises what its readers raise (zip, pickle, format, OS errors), its
        # advice too ("load it unsafely"): the type alone is said
        raise DamagedSamples(f"{display(path)} is damaged (not an images file numpy reads: {type(error).__name__}); "
                             "rerunning its notebook replaces it") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DamagedSamples(f"{display(path)} is damaged (images {images.dtype} {list(images.shape)}, not uint8 "
                             "[N, 28, 28]); rerunning its notebook replaces it")
    return torch.from_numpy(images).float().div(255).unsqueeze(1)


def model(record: Record | None, name: str) -> ModelEntry | None:
    """One model's entry of a record (None when the record or the model is missing)."""
    models = (record or {}).get("models") or {}
    return models.get(name)


# ----------------------------------------------------------------------------- the reader: one model's numbers
# Every getter takes an entry or None (a model that is missing) and reads None as an empty entry.
# A field stored as null reads like a missing one.

def _entry(entry: ModelEntry | None) -> ModelEntry:
    """The entry, or an empty one for a missing model."""
    return entry or {}


def fid_rows(entry: ModelEntry | None) -> list[FidRow]:
    """Every FID row of a model: the training curve's (with an epoch) and the final ones."""
    return list(_entry(entry).get("fid") or [])


def final_fid(entry: ModelEntry | None, features: str) -> FidRow | None:
    """The final evaluation's FID row of one feature space (no ``epoch``), or None."""
    return next((row for row in fid_rows(entry) if row["features"] == features and "epoch" not in row), None)


def final_value(entry: ModelEntry | None, features: str) -> float | None:
    """The final FID value of one feature space, or None."""
    row = final_fid(entry, features)
    return None if row is None else row.get("value")


def latest_fid(entry: ModelEntry | None, features: str) -> FidRow | None:
    """The final row of one feature space or, without one (a run that diverged before its
    final evaluation), the row of the latest evaluated epoch."""
    final = final_fid(entry, features)
    if final is not None:
        return final
    curve = [row for row in fid_rows(entry) if row["features"] == features and "epoch" in row]
    return max(curve, key=lambda row: row["epoch"]) if curve else None


def final_metrics(entry: ModelEntry | None) -> Evaluation:
    """A model's final evaluation in ``evaluator.Evaluator.evaluate``'s shape (FID rows without an
    epoch, and those of KID, class coverage, precision/recall, density/coverage it has), e.g.
    for ``tables.fid_table``."""
    result: Evaluation = {"fid": [row for row in fid_rows(entry) if "epoch" not in row]}
    for key in _EXTRA_METRICS:
        if value := _entry(entry).get(key):
            result[key] = value
    return result


def kid(entry: ModelEntry | None) -> KidRow | None:
    return _entry(entry).get("kid")


def kid_rows(entry: ModelEntry | None) -> list[KidRow]:
    """The KID rows measured during training (a GAN run's Inception KID at its quarters)."""
    return list(_entry(entry).get("kid_rows") or [])


def class_coverage(entry: ModelEntry | None) -> ClassCoverage | None:
    return _entry(entry).get("class_coverage")


def fidelity_diversity(entry: ModelEntry | None, name: str) -> float | None:
    """One of "precision", "recall" (k = 3) or "density", "coverage" (k = 5) of the final samples."""
    key = "precision_recall" if name in ("precision", "recall") else "density_coverage"
    row = _entry(entry).get(key) or {}
    return row.get(name)


def digit_shares(entry: ModelEntry | None):
    """The final samples' share of each digit (``coverage.shares``), or None."""
    counts = class_coverage(entry)
    return None if not counts else cov.shares(counts)


def largest_share(entry: ModelEntry | None) -> float | None:
    counts = class_coverage(entry)
    return None if not counts else cov.largest_share(counts)


def coverage_history(entry: ModelEntry | None) -> dict[int, list[float]]:
    """Digit shares at every evaluated epoch of a GAN run ({epoch: [10 shares]})."""
    history = _entry(entry).get("coverage_history") or {}
    return {int(epoch): shares for epoch, shares in history.items()}


def checks(entry: ModelEntry | None) -> list[Check]:
    """The acceptance checks a notebook recorded for a model ([{"check", "value", "holds"}])."""
    return list(_entry(entry).get("checks") or [])


# ----------------------------------------------------------------------------- the reader: a whole record

def is_number(value) -> bool:
    """Whether ``value`` is a finite number that a report may show (no flag, text or NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def headline(record: Record) -> str:
    """Latest FID per model and feature space, e.g.
    'vae: classifier FID 3.10 (N=10000) · inception FID 41.20 (N=1000)'."""
    if "claims" in record:   # the summary's record: its verdicts
        verdicts = [str(claim.get("verdict") or "?") for claim in record["claims"] or [] if isinstance(claim, dict)]
        counted = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
        return f"seeds {record.get('seeds')}: " + (f"{len(verdicts)} claims ({counted})" if verdicts else
                                                   "no claim testable with the notebooks present")
    parts = []
    for name, entry in (record.get("models") or {}).items():
        rows = [latest_fid(entry, features) for features in sorted({row["features"] for row in fid_rows(entry)})]
        fids = " · ".join(f"{row['features']} FID {row['value']:.2f} (N={row.get('n')})" for row in rows
                          if row is not None and is_number(row.get("value")))
        if fids:
            parts.append(f"{name}: {fids}")
    return "; ".join(parts)
