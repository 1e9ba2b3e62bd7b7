"""The record a notebook leaves behind, written and read here only: ``<stem>.metrics.json``,
exported samples and saved models. Everything that reads a record (the notebooks that compare
with another notebook's run, the batch index, the summary) goes through this module.

One ``<stem>.metrics.json`` per notebook, profile and seed (``record_path``), declared below as
``Record``::

    {"notebook", "profile", "status", "seed", "device", "git_commit", "versions", "environment",
     "params", "dry_run",                   # Metrics(run), when the notebook starts
     "feature_extractors",                  # the notebook, once its evaluator exists
     "models": {<model>: ModelEntry},       # Metrics.update_model, model by model
     "reused_checkpoints", "duration_s",    # Metrics.write / Metrics.finish
     "error", "wall_seconds"}               # the batch, after the notebook ended (mark_outcome)

A ``ModelEntry`` holds the final evaluation (``Evaluation``: FID rows, KID, class coverage,
precision/recall, density/coverage, as ``fid.Evaluator.evaluate`` returns it), the FID rows of
training (each with its ``epoch``) in the same ``fid`` list, and what its notebook adds. The
summary's record (``summary.metrics.json``, no seed) adds the seeds and the report's claims.

Below, in order: the schema, the writer (``Metrics``, the batch's ``mark_outcome``, samples and
models), the reader (records on disk, one model's numbers, a whole record's headline).
"""
import json
import math
import re
import time
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
import torch

from nbhelpers.assets import atomic_save
from nbhelpers.metrics import coverage as cov
from nbhelpers.metrics.memorisation import MemorisationRecord
from nbhelpers.paths import SUMMARY_STEM, display, profile_folder, report_name, run_folder
from nbhelpers.report.context import Run

# ----------------------------------------------------------------------------- the schema

# running: the notebook is at work (or died without the batch noticing); ok: it reached
# Metrics.finish(); failed / interrupted: the batch saw it raise / stopped it; incomplete: it
# ended without error but never reached Metrics.finish().
Status = Literal["running", "ok", "failed", "interrupted", "incomplete"]


class FidRow(TypedDict, total=False):
    """One FID (``fid.Evaluator.fid``)."""
    features: str          # the extractor, "inception" or "classifier" (their scales never compare)
    weights: str           # sha256 prefix of the extractor's weights
    n: int                 # generated samples
    ref: str               # the reference set, e.g. "mnist-test" or "mnist-test[:1000]"
    value: float | None    # the FID (null when it was not finite)
    epoch: int             # training-time rows only: a final evaluation has none
    biased: bool           # true when n or the reference is below the feature dimension (else absent)


class KidRow(TypedDict, total=False):
    """The kernel inception distance (``fid.Evaluator.kid``)."""
    features: str          # as in FidRow
    weights: str
    n: int
    ref: str
    mean: float            # KID over the subsets
    std: float             # its spread over the subsets
    subsets: int           # how many random subsets
    subset_size: int       # samples per subset
    epoch: int             # measured during training (``kid_rows``); absent in the final evaluation


class FidelityRow(TypedDict, total=False):
    """Improved precision/recall (k = 3) or density/coverage (k = 5) (``fid.Evaluator.fidelity_diversity``)."""
    features: str          # as in FidRow (always "classifier")
    weights: str
    n: int
    ref: str
    k: int                 # neighbours that size each k-NN ball
    precision: float       # share of samples inside the real set's balls (precision_recall)
    recall: float          # share of real images inside the samples' balls (precision_recall)
    density: float         # mean real balls per sample, over k (density_coverage)
    coverage: float        # share of real balls holding a sample (density_coverage)
    biased: bool           # true below fid.PRDC_MIN_N samples on either side (else absent)


class ClassCoverage(TypedDict, total=False):
    """The classifier's predicted digits of the samples (``coverage.class_coverage``)."""
    counts: list[int]      # samples per digit, 0 to 9
    n: int                 # samples classified
    covered: int           # digits with at least coverage.MIN_SHARE_OF_UNIFORM of a uniform share
    entropy: float         # of the predicted digits, in bits
    max_entropy: float     # log2(10): the entropy of a uniform spread


class Check(TypedDict, total=False):
    """One acceptance check a notebook recorded (``gan_study.acceptance_checks``' rows)."""
    check: str             # what is checked
    value: str             # what was measured, as text
    holds: bool | None     # None when the run lacks what the check needs


class Evaluation(TypedDict, total=False):
    """One sample set's final evaluation (``fid.Evaluator.evaluate``; ``final_metrics``)."""
    fid: list[FidRow]                   # one row per extractor (a model entry adds training rows)
    kid: KidRow | None
    class_coverage: ClassCoverage | None
    precision_recall: FidelityRow | None
    density_coverage: FidelityRow | None


class ModelEntry(Evaluation, total=False):
    """``models[<model>]``: one model's (or one sample set's) numbers; every field is optional."""
    # any trained model
    epochs: int                         # epochs it was set to train
    memorisation: MemorisationRecord    # nearest-training-image distances against test digits'
    history: dict[str, list]            # the per-epoch training table, column -> values
    train_images_per_second: float      # training throughput
    checks: list[Check]                 # the notebook's acceptance checks
    # a VAE (01, 02)
    test_recon: float                   # reconstruction loss on MNIST test, nats
    test_kl: float                      # KL term on MNIST test, nats
    test_elbo: float                    # ELBO on MNIST test, nats
    # a VAE with a set point or constant beta (02: control.ControlledRun.summary)
    target_kl: float | None             # the controller's set point (None: constant beta)
    achieved_kl: float                  # mean KL over the last tenth of the steps
    settled_beta: float                 # mean beta over the last tenth of the steps
    final_beta: float                   # beta at the last step
    beta_min_seen: float                # lowest beta used
    beta_max_seen: float                # highest beta used
    train_steps: int                    # optimiser steps
    seconds: float                      # training time
    within_half_nat: bool               # achieved KL within 0.5 nats of the set point
    # a GAN run (03, 04, 05: gan_study.record)
    status: str                         # the training's own status (finished, diverged, ...)
    message: str                        # what the training said at its end
    epochs_trained: int                 # last epoch reached
    training_seconds: float             # training time
    fid_halving: dict                   # first, last classifier FID of training and their ratio
    fid_last_iterate: list[FidRow]      # weight-averaged runs: the trained generator's own curve
    kid_rows: list[KidRow]              # GAN runs: Inception KID during training, each with its epoch
    fid_halving_last_iterate: dict      # fid_halving of that curve
    model_files: dict[str, str]         # role -> saved weights, as a report shows the path
    reused_checkpoint: str | None       # what came from an earlier run's checkpoint
    coverage_history: dict[str, list[float]]  # epoch -> share of each digit
    role: str                           # e.g. "ablation": a run beside the notebook's main one
    # the GAN (03)
    max_class_share: float              # share of the most produced digit
    digits_covered: int                 # as ClassCoverage.covered
    over_produced: list[int]            # digits produced more often than the classifier sees them in MNIST
    under_produced: list[int]           # digits produced less often
    class_shares: list[float]           # share of each digit
    settings: dict                      # optimiser and network settings
    # a WGAN setting (04: wgan_study.run_summary)
    setting: str                        # which setting
    objective: dict                     # the loss and its parameters (Objective.describe)
    optimizer: dict                     # name, learning rates, weight averaging
    generator_steps: int                # generator updates
    critic_steps: int                   # critic updates
    critic_share_at_clip_bounds: float  # share of the critic's weights at the clip box's edges
    gan_reference: str                  # which GAN run (03) the notebook compared with
    # an SS-GAN run (05: ssgan_study.record_fields)
    alpha: float                        # weight of the rotation loss in G's objective
    beta: float                         # weight of the rotation loss in D's objective
    score_rotated: bool                 # D also scores rotated images real/fake (the leak)
    train_images: int                   # training set size
    ema_decay: float                    # generator weight averaging (0: none)
    final_rotation_accuracy: dict       # D's rotation accuracy in the last epoch, "real" and "fake"
    gan_comparison: dict                # final classifier FIDs of the SS-GAN and the GAN (03), a note
    rotation_by_digit_test: list[dict]  # rotation accuracy per digit, MNIST test
    rotation_by_digit_generated: list[dict]  # the same on generated digits


# A claim of the original report, tested over the seeds (summary.claims).
Claim = TypedDict("Claim", {
    "claim": str,                # what the report says
    "measurement": str,          # the statistic that tests it
    "n": int,                    # seeds with a value
    "estimate [95% CI]": str,    # the statistic, as text
    "verdict": str,              # what the interval says of the claim
    "interval": dict,            # the statistic (stats.summarize / paired_difference)
}, total=False)


class Record(TypedDict, total=False):
    """``<stem>.metrics.json``: the whole record (module docstring)."""
    notebook: str                       # the notebook's stem
    profile: str                        # the parameter profile
    status: Status
    seed: int | None                    # None in the summary's record
    device: str                         # where it ran
    git_commit: str                     # the code's commit
    versions: dict[str, str]            # package -> version
    environment: dict                   # device name, versions, ... (context.environment)
    params: dict                        # the notebook's parameters
    dry_run: bool                       # a dry run of the batch (numbers not to be reported)
    feature_extractors: dict            # the FID extractors' sources and hashes
    models: dict[str, ModelEntry]       # model -> its entry
    reused_checkpoints: dict[str, str]  # model -> its reused_checkpoint (only when one is)
    duration_s: float                   # from Metrics(run) to Metrics.finish()
    error: str | None                   # why a failed or interrupted run stopped
    wall_seconds: float                 # the notebook's whole run, as the batch timed it
    # the SS-GAN (05)
    failure_demo: dict                  # the short runs that show how an SS-GAN fails
    alpha_share_shift_correlation: float  # digit orientability vs share change over alpha
    # the summary (06)
    seeds: list[int]                    # the seeds aggregated
    notebooks: dict[str, list[int]]     # stem -> its seeds present
    excluded: list[str]                 # records left out, and why
    aggregated: dict                    # "<stem>/<model>" -> metric -> summary over the seeds
    claims: list[Claim]


# The evaluation's fields beside its FID rows, in the order fid.Evaluator.evaluate writes them.
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
        self.path = run.metrics_path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.data: Record = {
            "notebook": run.stem, "profile": run.profile, "status": "running",
            "device": str(run.device), "seed": run.seed, "git_commit": run.git_commit,
            "versions": run.env.get("versions", {}), "environment": run.env,
            "params": run.params, "dry_run": run.batch.dry_run, "models": {},
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
        self.write()
        print(f"metrics written to {display(self.path)}")


def mark_outcome(metrics_path: Path, stem: str, profile: str, status: str, error: str | None,
                 seconds: float) -> Record:
    """After a batch ran a notebook: merge its outcome (status ok, failed or interrupted) into
    the notebook's metrics file (writing one if the notebook never got that far)."""
    record: Record = json.loads(metrics_path.read_text()) if metrics_path.exists() else {
        "notebook": stem, "profile": profile, "models": {}}
    if status in ("failed", "interrupted"):
        record["status"] = status
        record["error"] = error
    elif record.get("status") != "ok":  # ran without error but never reached metrics.finish()
        record["status"] = "incomplete"
    record["wall_seconds"] = round(seconds, 1)
    text = json.dumps(record, indent=2)
    atomic_save(metrics_path, lambda handle: handle.write(text.encode()))
    return record


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


# ----------------------------------------------------------------------------- the reader: records on disk

def record_path(profile: str, stem: str, seed: int | None) -> Path:
    """``reports/<profile>/seed<k>/<stem>.metrics.json`` (``reports/<profile>/summary.metrics.json``
    for the summary, ``seed`` None)."""
    return run_folder(profile, seed) / f"{report_name(stem)}.metrics.json"


def seeds_present(profile: str) -> list[int]:
    """The seeds that have a report folder in this profile, in order."""
    root = profile_folder(profile)
    found = [int(m[1]) for p in root.glob("seed*") if p.is_dir() and (m := re.fullmatch(r"seed(\d+)", p.name))]
    return sorted(found)


class DamagedRecord(ValueError):
    """A metrics file that cannot be read as a record (truncated, not a mapping, a value of the
    wrong type); its message names the file. Every reader leaves such a record out, by name."""


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _malformed(record) -> str | None:
    """What makes ``record`` unusable as a record, or None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a record"
    models = record.get("models", {})
    if not isinstance(models, dict):
        return "its models are not a mapping"
    if not _number(record.get("wall_seconds")):
        return f"wall_seconds {record['wall_seconds']!r} is not a number"
    for name, entry in models.items():
        if not isinstance(entry, dict):
            return f"model {name!r} is not a mapping"
        for key in ("fid", "fid_last_iterate"):
            rows = entry.get(key) or []
            if not isinstance(rows, list) or not all(isinstance(row, dict) and _number(row.get("value")) for row in rows):
                return f"model {name!r} has a {key} value that is not a number"
    return None


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
    if problem := _malformed(record):
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


def run_identity(record: Record) -> str | None:
    """What only one run's record holds (its environment and every number, timings included),
    to tell a copy of it under another seed's name; None for a record without either."""
    if not record.get("environment") or not record.get("models"):
        return None
    return json.dumps([record["environment"], record["models"]], sort_keys=True)


def load(profile: str, stem: str, seed: int | None, finished: bool = True) -> Record | None:
    """The record of one notebook, profile and seed; with ``finished``, only a run that ended ok
    (a damaged record is none)."""
    try:
        record = read(record_path(profile, stem, seed))
    except DamagedRecord:
        return None
    if record is None or (finished and record.get("status") != "ok"):
        return None
    return record


def typical_seconds(profile: str, stem: str) -> float | None:
    """How long the notebook's finished runs of this profile took (the median over the seeds on
    disk, damaged records left out), or None before its first."""
    seeds = [None] if stem == SUMMARY_STEM else seeds_present(profile)
    taken = [r["wall_seconds"] for seed in seeds if (r := load(profile, stem, seed)) and r.get("wall_seconds")]
    return float(np.median(taken)) if taken else None


def exported_samples(profile: str, stem: str, seed: int, name: str, count: int = 100):
    """The first ``count`` samples that a run exported for model ``name`` (``export_samples``)
    as [N, 1, 28, 28] floats in [0, 1], or None."""
    path = run_folder(profile, seed) / stem / "samples" / f"{name}.npz"
    if not path.exists():
        return None
    with np.load(path) as content:
        images = content["images"][:count]
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


def last_iterate_fid_rows(entry: ModelEntry | None) -> list[FidRow]:
    """A weight-averaged GAN run's training curve of the trained generator itself."""
    return list(_entry(entry).get("fid_last_iterate") or [])


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
    """A model's final evaluation in ``fid.Evaluator.evaluate``'s shape (FID rows without an
    epoch, and those of KID, class coverage, precision/recall, density/coverage it has), e.g.
    for ``fid.fid_table``."""
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

def headline(record: Record) -> str:
    """Latest FID per model and feature space, e.g.
    'vae: classifier FID 3.10 (N=10000) · inception FID 41.20 (N=1000)'."""
    if "claims" in record:   # the summary's record: its verdicts
        verdicts = [claim["verdict"] for claim in record["claims"]]
        counted = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
        return f"seeds {record.get('seeds')}: " + (f"{len(verdicts)} claims ({counted})" if verdicts else
                                                   "no claim testable with the notebooks present")
    parts = []
    for name, entry in (record.get("models") or {}).items():
        rows = [latest_fid(entry, features) for features in sorted({row["features"] for row in fid_rows(entry)})]
        fids = " · ".join(f"{row['features']} FID {row['value']:.2f} (N={row['n']})" for row in rows
                          if row is not None and row.get("value") is not None)
        if fids:
            parts.append(f"{name}: {fids}")
    return "; ".join(parts)
