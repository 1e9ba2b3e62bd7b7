"""What a notebook's record holds, field by field: ``records`` writes and reads it.

One ``<stem>.metrics.json`` per notebook, profile and seed (``records.record_path``), declared
below as ``Record``::

    {"notebook", "profile", "status", "seed", "device", "git_commit", "versions", "environment",
     "params", "dry_run",                   # records.Metrics(run), when the notebook starts
     "feature_extractors",                  # the notebook, once its evaluator exists
     "models": {<model>: ModelEntry},       # Metrics.update_model, model by model
     "reused_checkpoints", "duration_s",    # Metrics.write / Metrics.finish
     "error", "wall_seconds"}               # the batch, once the notebook ended (attempts.mark_outcome)

A ``ModelEntry`` holds the final evaluation (``Evaluation``: FID rows, KID, class coverage,
precision/recall, density/coverage, as ``evaluator.Evaluator.evaluate`` returns it), the FID rows of
training (each with its ``epoch``) in the same ``fid`` list, and what its notebook adds. The
summary's record (``summary.metrics.json``, no seed) adds the seeds and the report's claims.
"""
from typing import Literal, TypedDict

from nbhelpers.metrics.memorisation import MemorisationRecord

# running: the notebook is at work (or died without the batch noticing); ok: it reached
# Metrics.finish(); failed / interrupted: the batch saw it raise / stopped it; incomplete: it
# ended without error but never reached Metrics.finish().
Status = Literal["running", "ok", "failed", "interrupted", "incomplete"]


class FidRow(TypedDict, total=False):
    """One FID (``evaluator.Evaluator.fid``)."""
    features: str          # the extractor, "inception" or "classifier" (their scales never compare)
    weights: str           # sha256 prefix of the extractor's weights
    n: int                 # generated samples
    ref: str               # the reference set, e.g. "mnist-test" or "mnist-test[:1000]"
    value: float | None    # the FID (null when it was not finite)
    epoch: int             # training-time rows only: a final evaluation has none
    biased: bool           # true when n or the reference is below the feature dimension (else absent)


class KidRow(TypedDict, total=False):
    """The kernel inception distance (``evaluator.Evaluator.kid``)."""
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
    """Improved precision/recall (k = 3) or density/coverage (k = 5) (``evaluator.Evaluator.fidelity_diversity``)."""
    features: str          # as in FidRow (always "classifier")
    weights: str
    n: int
    ref: str
    k: int                 # neighbours that size each k-NN ball
    precision: float       # share of samples inside the real set's balls (precision_recall)
    recall: float          # share of real images inside the samples' balls (precision_recall)
    density: float         # mean real balls per sample, over k (density_coverage)
    coverage: float        # share of real balls holding a sample (density_coverage)
    biased: bool           # true below evaluator.PRDC_MIN_N samples on either side (else absent)


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
    """One sample set's final evaluation (``evaluator.Evaluator.evaluate``; ``final_metrics``)."""
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
    # a VAE with a set point or constant beta (02: control.TrainedVAE.summary)
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
    kid_rows: list[KidRow]              # GAN runs: Inception KID during training, each with its epoch
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
    optimizer: dict                     # name, learning rates
    generator_steps: int                # generator updates
    critic_steps: int                   # critic updates
    critic_share_at_clip_bounds: float  # share of the critic's weights at the clip box's edges
    gan_reference: str                  # which GAN run (03) the notebook compared with
    # an SS-GAN run (05: ssgan_study.record_fields)
    alpha: float                        # weight of the rotation loss in G's objective
    beta: float                         # weight of the rotation loss in D's objective
    score_rotated: bool                 # D also scores rotated images real/fake (the leak)
    train_images: int                   # training set size
    final_rotation_accuracy: dict       # D's rotation accuracy in the last epoch, "real" and "fake"
    gan_comparison: dict                # final classifier FIDs of the SS-GAN and the GAN (03), a note
    rotation_by_digit_test: list[dict]  # rotation accuracy per digit, MNIST test
    rotation_by_digit_generated: list[dict]  # the same on generated digits


# A claim of the original report, tested over the seeds (verdicts.ClaimResult.record).
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
