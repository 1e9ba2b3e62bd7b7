"""What a notebook's record holds, field by field: ``records`` writes and reads it.

One ``<stem>.metrics.json`` per notebook, profile and seed (``records.record_path``), declared
below as ``Record``::

    {"notebook", "profile", "status", "seed", "device", "git_commit", "code_digest", "versions",
     "environment", "params", "dry_run",    # records.Metrics(run), when the notebook starts
     "attempt",                             # records.Metrics(run), or the batch (attempts.mark_outcome)
     "feature_extractors",                  # the notebook, once its evaluator exists
     "models": {<model>: ModelEntry},       # Metrics.update_model, model by model
     "reused_checkpoints", "duration_s",    # Metrics.write / Metrics.finish
     "cpu_seconds", "phase_seconds",        # Metrics.finish
     "error", "wall_seconds",               # the batch, once the notebook ended (attempts.mark_outcome)
     "render_seconds"}                      # the batch, once it rendered the page (attempts.put_in_place)

A ``ModelEntry`` holds the final evaluation (``Evaluation``: FID rows, KID, class coverage,
precision/recall, density/coverage, as ``evaluator.Evaluator.evaluate`` returns it), the FID rows of
training (each with its ``epoch``) in the same ``fid`` list, and what its notebook adds. The
summary's record (``summary.metrics.json``, no seed) adds the seeds and the report's claims.

Every value a record holds is checked against these declarations when it is read
(``problem``, through ``records.read``): a number of its type, finite and within its bounds
(``Bounds``, e.g. ``Size``: a sample size is 1 or more), text, a flag, a mapping or a list of
what is declared; an FID row with its features, a claim with its verdict (``REQUIRED``). Null stands for a missing value
wherever a field or a number is declared (the writer stores a non-finite number as null); a
field not declared here is only checked to hold finite numbers.
"""
import math
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Literal, NamedTuple, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from nbhelpers.metrics.memorisation import MemorisationRecord
from nbhelpers.report.profiles import SEED_LIMIT


class Bounds(NamedTuple):
    """The closed range a number lies in (None: open on that side)."""
    low: float | None = None
    high: float | None = None


Count = Annotated[int, Bounds(0)]                  # how many of something
Size = Annotated[int, Bounds(1)]                   # a sample size, a subset size, k neighbours
NonNegative = Annotated[float, Bounds(0)]          # seconds, a spread, an entropy, a density
Share = Annotated[float, Bounds(0, 1)]             # a fraction of a set
Digit = Annotated[int, Bounds(0, 9)]
DigitCount = Annotated[int, Bounds(0, 10)]         # how many of the ten digits
Seed = Annotated[int, Bounds(0, SEED_LIMIT - 1)]   # as profiles.check_seeds accepts them

# running: the notebook is at work (or died without the batch noticing); ok: it reached
# Metrics.finish(); failed / interrupted: the batch saw it raise / stopped it; incomplete: it
# ended without error but never reached Metrics.finish().
Status = Literal["running", "ok", "failed", "interrupted", "incomplete"]


class FidRow(TypedDict, total=False):
    """One FID (``evaluator.Evaluator.fid``)."""
    features: str          # the extractor, "inception" or "classifier" (their scales never compare)
    weights: str           # sha256 prefix of the extractor's weights
    n: Size                # generated samples
    ref: str               # the reference set, e.g. "mnist-test" or "mnist-test[:1000]"
    value: float | None    # the FID (null when it was not finite)
    epoch: Count           # training-time rows only: a final evaluation has none
    biased: bool           # true when n or the reference is below the feature dimension (else absent)


class KidRow(TypedDict, total=False):
    """The kernel inception distance (``evaluator.Evaluator.kid``)."""
    features: str          # as in FidRow
    weights: str
    n: Size
    ref: str
    mean: float            # KID over the subsets (unbiased: may fall below 0)
    std: NonNegative       # its spread over the subsets
    subsets: Size          # how many random subsets
    subset_size: Size      # samples per subset
    full: float            # KID of all rows at once (the unbiased MMD^2 of the whole sets)
    se: NonNegative        # bootstrap standard error of ``full`` over the generated samples (reference fixed)
    bootstraps: Size       # bootstrap draws behind ``se``
    epoch: Count           # measured during training (``kid_rows``); absent in the final evaluation


class FidelityRow(TypedDict, total=False):
    """Improved precision/recall (k = 3) or density/coverage (k = 5) (``evaluator.Evaluator.fidelity_diversity``)."""
    features: str          # as in FidRow (always "classifier")
    weights: str
    n: Size
    ref: str
    k: Size                # neighbours that size each k-NN ball
    precision: Share       # share of samples inside the real set's balls (precision_recall)
    recall: Share          # share of real images inside the samples' balls (precision_recall)
    density: NonNegative   # mean real balls per sample, over k (density_coverage)
    coverage: Share        # share of real balls holding a sample (density_coverage)
    biased: bool           # true below evaluator.PRDC_MIN_N samples on either side (else absent)


class ClassCoverage(TypedDict, total=False):
    """The classifier's predicted digits of the samples (``coverage.class_coverage``)."""
    counts: list[Count]    # samples per digit, 0 to 9
    n: Count               # samples classified
    covered: DigitCount    # digits with at least coverage.MIN_SHARE_OF_UNIFORM of a uniform share
    entropy: NonNegative   # of the predicted digits, in bits
    max_entropy: NonNegative  # log2(10): the entropy of a uniform spread
    confident_counts: list[Count]  # samples per digit among those predicted with p >= confident_threshold
    confident_threshold: Share     # coverage.CONFIDENT_PROBABILITY: the classifier's softmax for its digit
    confident_share: Share         # share of the samples predicted with p >= confident_threshold


class Check(TypedDict, total=False):
    """One acceptance check a notebook recorded (``gan_study.acceptance_checks``' rows)."""
    check: str             # what is checked
    value: str             # what was measured, as text
    holds: bool | None     # None when the run lacks what the check needs


class Evaluation(TypedDict, total=False):
    """One sample set's final evaluation (``evaluator.Evaluator.evaluate``; ``final_metrics``)."""
    fid: list[FidRow]                   # one row per extractor (a model entry adds training rows)
    kid: KidRow | None
    class_coverage: ClassCoverage | None
    precision_recall: FidelityRow | None
    density_coverage: FidelityRow | None


class LengthSnapshot(Evaluation, total=False):
    """``lengths["<L>"]`` of a GAN run with claim lengths (``gan_study.length_snapshots``): the
    final evaluation of its generator after epoch L, and the generator steps trained by then."""
    generator_steps: Count


class ModelEntry(Evaluation, total=False):
    """``models[<model>]``: one model's (or one sample set's) numbers; every field is optional."""
    # any trained model
    epochs: Count                       # epochs it was set to train
    memorisation: MemorisationRecord    # nearest-training-image distances against test digits'
    history: dict[str, list]            # the per-epoch training table, column -> values
    train_images_per_second: NonNegative  # training throughput
    early_epochs: dict                  # the VAE of 01: its first epochs' train recon and KL (vae_study.early_epochs)
    kl_feedback: dict                   # a ControlVAE (02): KL spread per example vs batch mean (vae_study.kl_feedback_spread)
    checks: list[Check]                 # the notebook's acceptance checks
    # a VAE (01, 02)
    test_recon: float                   # reconstruction loss on MNIST test, nats
    test_kl: float                      # KL term on MNIST test, nats
    test_elbo: float                    # ELBO on MNIST test, nats
    # a VAE with a set point or constant beta (02: control.TrainedVAE.summary)
    target_kl: float | None             # the controller's set point (None: constant beta)
    achieved_kl: float                  # mean KL over the last tenth of the steps
    settled_beta: float                 # mean beta over the last tenth of the steps
    final_beta: float                   # beta at the last step
    beta_min_seen: float                # lowest beta used
    beta_max_seen: float                # highest beta used
    train_steps: Count                  # optimiser steps
    seconds: NonNegative                # training time
    within_half_nat: bool               # achieved KL within 0.5 nats of the set point
    # a GAN run (03, 04, 05: gan_study.record)
    status: str                         # the training's own status (finished, diverged, ...)
    message: str                        # what the training said at its end
    epochs_trained: Count               # last epoch reached
    generator_steps: Count              # generator updates trained (the report's: facts.REPORT_GAN_GENERATOR_STEPS)
    training_seconds: NonNegative       # training time
    fid_halving: dict                   # first, last classifier FID of training and their ratio
    kid_rows: list[KidRow]              # GAN runs: Inception KID during training, each with its epoch
    model_files: dict[str, str]         # role -> saved weights, as a report shows the path
    reused_checkpoint: str | None       # what came from an earlier run's checkpoint
    coverage_history: dict[str, list[float]]  # epoch -> share of each digit
    role: str                           # e.g. "ablation": a run beside the notebook's main one
    lengths: dict[str, LengthSnapshot]  # the length study: "<epoch>" -> the final evaluation at that epoch
    # the GAN (03)
    max_class_share: Share              # share of the most produced digit
    digits_covered: DigitCount          # as ClassCoverage.covered
    over_produced: list[Digit]          # digits produced more often than the classifier sees them in MNIST
    under_produced: list[Digit]         # digits produced less often
    class_shares: list[Share]           # share of each digit
    settings: dict                      # optimiser and network settings
    # a WGAN setting (04: wgan_study.run_summary)
    setting: str                        # which setting
    objective: dict                     # the loss and its parameters (Objective.describe)
    optimizer: dict                     # name, learning rates
    critic_steps: Count                 # critic updates
    critic_share_at_clip_bounds: Share  # share of the critic's weights at the clip box's edges
    loss_gap: dict                      # mean |L_C - L_G| over the first and last quarter of the steps (wgan_study.loss_gap)
    loss_gap_at: dict[str, dict]        # the length study: "<epoch>" -> the loss gap of the steps up to it
    gan_reference: str                  # which GAN run (03) the notebook compared with
    # an SS-GAN run (05: ssgan_study.record_fields)
    alpha: float                        # weight of the rotation loss in G's objective
    beta: float                         # weight of the rotation loss in D's objective
    score_rotated: bool                 # D also scores rotated images real/fake (the leak)
    train_images: Count                 # training set size
    final_rotation_accuracy: dict       # D's rotation accuracy in the last epoch, "real" and "fake"
    gan_comparison: dict                # final classifier FIDs of the SS-GAN and the GAN (03), a note
    rotation_by_digit_test: list[dict]  # rotation accuracy per digit, MNIST test
    rotation_by_digit_generated: list[dict]  # the same on generated digits


# A claim of the original report, tested over the seeds (verdicts.ClaimResult.record).
Claim = TypedDict("Claim", {
    "claim": str,                # what the report says
    "measurement": str,          # the statistic that tests it
    "n": Count,                  # seeds with a value
    "estimate [95% CI]": str,    # the statistic, as text
    "verdict": str,              # what the interval says of the claim
    "interval": dict,            # the statistic (stats.summarize / paired_difference)
}, total=False)


class CodeDigest(TypedDict, total=False):
    """The code a run executed (``context.code_digest``): runs with equal digests ran the same code."""
    package: str           # sha256 of nbhelpers' sources when the run started (context.package_digest)
    notebook: str | None   # sha256 of the notebook's code cells as the batch handed them to papermill
                           # (context.notebook_digest); null for a run outside the batch


class Record(TypedDict, total=False):
    """``<stem>.metrics.json``: the whole record (module docstring)."""
    notebook: str                       # the notebook's stem
    profile: str                        # the parameter profile
    status: Status
    seed: Seed | None                   # None in the summary's record
    device: str                         # where it ran
    git_commit: str                     # the code's commit ("-dirty": with uncommitted changes)
    code_digest: CodeDigest             # the code as it ran: what tells two code states apart
    versions: dict[str, str]            # package -> version
    environment: dict                   # device name, versions, ... (context.environment)
    params: dict                        # the notebook's parameters
    dry_run: bool                       # a dry run of the batch (numbers not to be reported)
    attempt: str | None                 # the batch's id of this attempt (batch.attempts.new_attempt); null outside a batch
    feature_extractors: dict            # the FID extractors' sources and hashes
    models: dict[str, ModelEntry]       # model -> its entry
    reused_checkpoints: dict[str, str]  # model -> its reused_checkpoint (only when one is)
    duration_s: NonNegative             # from Metrics(run) to Metrics.finish()
    cpu_seconds: float                  # the kernel's CPU-seconds at Metrics.finish() (time.process_time)
    phase_seconds: dict[str, float]     # of those, "opening" (before Metrics(run)) and each of clock.PHASES
    error: str | None                   # why a failed or interrupted run stopped
    wall_seconds: NonNegative           # the notebook's whole run, as the batch timed it
    render_seconds: float               # CPU-seconds of the batch rendering its page (attempts.put_in_place)
    # the SS-GAN (05)
    failure_demo: dict                  # the short runs that show how an SS-GAN fails
    alpha_share_shift_correlation: float  # digit orientability vs share change over alpha
    # the summary (06)
    seeds: list[Seed]                   # the seeds aggregated: each with a record joined
    evaluation_seeds: list[Seed]        # those the verdicts use (the tuning seeds aside)
    tuning_seeds: list[Seed]            # the profile's tuning seeds
    notebooks: dict[str, list[Seed]]    # stem -> the seeds of its records joined
    excluded: list[str]                 # records (and folders) left out, and why
    holm_family: Count                  # the claims the Holm adjustment counts
    aggregated: dict                    # "<stem>/<model>" -> metric -> summary over the seeds
    claims: list[Claim]


# ----------------------------------------------------------------------------- checking a record

# What a value of these types cannot do without (every reader takes these for granted).
REQUIRED = {FidRow: ("features",), Claim: ("verdict",)}


def problem(value, kind=Record, where: str = "") -> str | None:
    """What in ``value`` disagrees with its declared type ``kind`` (default: a whole record),
    e.g. "models.gan.kid.mean 'abc' is not a number", or None (module docstring)."""
    return _problem(value, kind, where, nullable=True)


@cache
def _fields(kind) -> dict:
    return get_type_hints(kind, include_extras=True)


def _at(where: str, key) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)


def _problem(value, kind, where: str, nullable: bool) -> str | None:
    """``problem`` of one value; ``nullable``: it is a field's value, where null means missing."""
    origin, args = get_origin(kind), get_args(kind)
    name = where or "the record"
    if kind is object:   # not declared
        return _not_finite(value, where)
    if origin is Annotated:
        found = _problem(value, args[0], where, nullable)
        low, high = next((mark for mark in args[1:] if isinstance(mark, Bounds)), Bounds())
        if found or value is None:
            return found
        if low is not None and value < low:
            return f"{name} {value!r} is below {low}"
        return f"{name} {value!r} is above {high}" if high is not None and value > high else None
    if value is None:
        number = kind in (int, float) or NoneType in args
        return None if nullable or number else f"{name} is null"
    if origin in (Union, UnionType):
        found = [_problem(value, arg, where, nullable) for arg in args if arg is not NoneType]
        return None if None in found else found[0]
    if kind in (int, float, bool):
        wanted = {int: "an integer", float: "a number", bool: "true or false"}[kind]
        right = isinstance(value, bool) if kind is bool else \
            isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool)
        if not right:
            return f"{name} {value!r} is not {wanted}"
        return None if math.isfinite(value) else f"{name} {value!r} is not finite"
    if kind is str or origin is Literal:
        return None if isinstance(value, str) else f"{name} {value!r} is not text"
    if is_typeddict(kind) or kind is dict or origin is dict:
        if not isinstance(value, dict):
            return f"{name} is not a mapping"
        if missing := [key for key in REQUIRED.get(kind, ()) if value.get(key) is None]:
            return f"{name} lacks its {missing[0]}"
        declared = _fields(kind) if is_typeddict(kind) else dict.fromkeys(value, args[1] if args else object)
        return next((found for key, item in value.items()
                     if (found := _problem(item, declared.get(key, object), _at(where, key), is_typeddict(kind)))), None)
    if kind is list or origin is list:
        if not isinstance(value, list):
            return f"{name} is not a list"
        return next((found for i, item in enumerate(value)
                     if (found := _problem(item, args[0] if args else object, _at(where, i), False))), None)
    return _not_finite(value, where)   # a kind the check does not know (test_records says there is none)


def _not_finite(value, where: str) -> str | None:
    """The first number in ``value`` (any nesting) that is not finite, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'the record'} {value!r} is not finite"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((found for key, item in items if (found := _not_finite(item, _at(where, key)))), None)
