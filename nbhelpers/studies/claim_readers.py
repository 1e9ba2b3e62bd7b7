"""What the claims read from the metrics records (``report.records``' layout): one named function
per number of one model, ``reader(entry, record)``, None when the record does not hold it.

Four kinds, as a claim's ``claim_shapes.Side`` takes them: the number itself (``value``), the
basis it was read on (``basis``: features, N, reference; two models pair only on one basis), its
standard error of measurement on that seed (``se``: the KID's bootstrap over the generated
samples) and the generator steps it was read at (``steps``). Every reader has a name of its own
(a factory names what it makes), because the registry's digest names its readers.
"""
from nbhelpers.models import gan
from nbhelpers.report import records
from nbhelpers.studies import facts, gan_study

MNIST_TRAIN_IMAGES = 60_000   # what a train_limit of 0 means


def _named(name: str):
    """Give a reader made by a factory its own name (the digest's, and a traceback's)."""
    def rename(reader):
        reader.__name__ = reader.__qualname__ = name
        return reader
    return rename


def _params(record: dict | None) -> dict:
    return (record or {}).get("params") or {}


# ----------------------------------------------------------------------------- KID (Inception features)

def _kid_basis(row: dict) -> str:
    return f"{row.get('features')} features, N = {row.get('n')} vs {row.get('ref')}"


def _inception(row: dict | None) -> dict | None:
    return row if row and row.get("features") == "inception" else None


def inception_kid(entry, record):
    """The final evaluation's KID when it was measured in Inception features (the subset mean)."""
    row = _inception(records.kid(entry))
    return None if row is None else row["mean"]


def inception_kid_se(entry, record):
    """Its bootstrap standard error over the generated samples (the row's ``se``)."""
    return (_inception(records.kid(entry)) or {}).get("se")


def inception_kid_basis(entry, record):
    row = _inception(records.kid(entry))
    return None if row is None else _kid_basis(row)


def first_quarter_epoch(record) -> int | None:
    """The epoch that ends the first quarter of the run the record's parameters set."""
    epochs = _params(record).get("epochs")
    return gan.quarter_epochs(epochs)[0] if epochs else None


def _quarter_kid_row(entry, record):
    # the training-time KID rows that gan_study.training_evaluator adds at its Inception epochs
    quarter = first_quarter_epoch(record)
    return next((r for r in records.kid_rows(entry) if r.get("epoch") == quarter and r.get("features") == "inception"),
                None)


def quarter_inception_kid(entry, record):
    row = _quarter_kid_row(entry, record)
    return None if row is None else row["mean"]


def quarter_inception_kid_se(entry, record):
    return (_quarter_kid_row(entry, record) or {}).get("se")


def quarter_inception_kid_basis(entry, record):
    row = _quarter_kid_row(entry, record)
    return None if row is None else f"epoch {row['epoch']}, " + _kid_basis(row)


# ----------------------------------------------------------------------------- classifier FID

def final_classifier_fid(entry, record):
    return records.final_value(entry, "classifier")


def classifier_fid_basis(entry, record):
    row = records.final_fid(entry, "classifier")
    return None if row is None else f"classifier features, N = {row['n']} vs {row['ref']}"


def _halving(entry) -> dict:
    """First and last classifier FID of training, and last / first: the record's ``fid_halving``
    (``gan_study.first_and_last_fid``), else computed from its curve the same way."""
    halving = (entry or {}).get("fid_halving") or {}
    return halving if halving.get("ratio") is not None else gan_study.first_and_last_fid(records.fid_rows(entry))


def first_classifier_fid(entry, record):
    """The classifier FID of the first evaluation during training."""
    return _halving(entry)["first"]


def last_classifier_fid(entry, record):
    """The classifier FID of the last evaluation during training (the same N as the first)."""
    return _halving(entry)["last"]


def classifier_fid_fall(entry, record):
    """Last / first classifier FID of training: how far the model's FID fell (lower: further)."""
    return _halving(entry)["ratio"]


def early_classifier_fid(entry, record):
    """Mean classifier FID over the evaluations of the first quarter of training."""
    quarter = first_quarter_epoch(record)
    early = [r["value"] for r in gan_study.fid_curve(records.fid_rows(entry)) if quarter and r["epoch"] <= quarter]
    return sum(early) / len(early) if early and None not in early else None


# ----------------------------------------------------------------------------- a VAE's numbers

def field(name: str):
    """The entry's field ``name`` as it is."""
    @_named(f"field[{name}]")
    def reader(entry, record):
        return (entry or {}).get(name)
    return reader


def negative_elbo(entry, record):
    """Test reconstruction + KL (nats per image): the loss at beta = 1."""
    recon, kl = (entry or {}).get("test_recon"), (entry or {}).get("test_kl")
    return None if recon is None or kl is None else recon + kl


def training_style_loss(entry, record):
    """Test reconstruction + settled beta x KL: the loss each run minimised (its own beta)."""
    e = entry or {}
    parts = (e.get("test_recon"), e.get("settled_beta"), e.get("test_kl"))
    return None if None in parts else parts[0] + parts[1] * parts[2]


def _early(entry) -> dict:
    """01's ``early_epochs`` (``vae_study.early_epochs``): train recon and KL per epoch of the first epochs."""
    return (entry or {}).get("early_epochs") or {}


def early_change(name: str):
    """``recon_change`` or ``kl_change``: last minus first of the first epochs (nats)."""
    @_named(f"early_change[{name}]")
    def reader(entry, record):
        return _early(entry).get(name)
    return reader


def early_epochs_text(entry, record):
    """"recon 190.1 → 120.3, KL 4.1 → 9.8 over epochs 1-3" (train means per epoch)."""
    early = _early(entry)
    recon, kl, epochs = early.get("train_recon"), early.get("train_kl"), early.get("epoch")
    if not recon or not kl or not epochs or len(recon) < 2:
        return None
    return f"recon {recon[0]:.1f} → {recon[-1]:.1f}, KL {kl[0]:.1f} → {kl[-1]:.1f} over epochs {epochs[0]}-{epochs[-1]}"


def kl_feedback(name: str):
    """02's ``kl_feedback`` (``vae_study.kl_feedback_spread``): ``example_std``, the spread of one
    example's KL, or ``batch_mean_std``, that of a batch's mean KL, on the trained VAE."""
    @_named(f"kl_feedback[{name}]")
    def reader(entry, record):
        return ((entry or {}).get("kl_feedback") or {}).get(name)
    return reader


# ----------------------------------------------------------------------------- fidelity and diversity

def fidelity(name: str):
    """One of precision, recall, density, coverage of the final samples."""
    @_named(f"fidelity[{name}]")
    def reader(entry, record):
        return records.fidelity_diversity(entry, name)
    return reader


def fidelity_basis(key: str):
    @_named(f"fidelity_basis[{key}]")
    def basis(entry, record):
        row = (entry or {}).get(key)
        return None if not row else f"k = {row.get('k')}, {row.get('features')} features, N = {row.get('n')} vs {row.get('ref')}"
    return basis


def digit_entropy(entry, record):
    return (records.class_coverage(entry) or {}).get("entropy")


def digits_covered(entry, record):
    """How many digits the final samples cover (``ClassCoverage.covered``; 03's ``digits_covered``)."""
    covered = (records.class_coverage(entry) or {}).get("covered")
    return (entry or {}).get("digits_covered") if covered is None else covered


def largest_digit_share(entry, record):
    """The largest predicted-digit share over every final sample (the last iterate's)."""
    return records.largest_share(entry)


def _confident(entry) -> tuple[list, float] | None:
    coverage = records.class_coverage(entry) or {}
    counts, threshold = coverage.get("confident_counts"), coverage.get("confident_threshold")
    return None if not counts or not sum(counts) or threshold is None else (counts, threshold)


def confident_largest_share(entry, record):
    """The largest predicted-digit share over the final samples whose top softmax probability is
    at least the record's ``confident_threshold``: over-production that uncertain predictions
    (blurry samples that a classifier tends to call 3 or 8) cannot make."""
    confident = _confident(entry)
    return None if confident is None else max(confident[0]) / sum(confident[0])


def confident_basis(entry, record):
    confident = _confident(entry)
    return None if confident is None else f"predictions with top probability ≥ {confident[1]:g}"


def confident_share(entry, record):
    """The share of the final samples predicted confidently."""
    return (records.class_coverage(entry) or {}).get("confident_share")


def largest_digits(entry, record):
    """Which digit(s) the confident predictions (else every prediction) hold most, e.g. "3 (14.1 %)"."""
    confident = _confident(entry)
    counts = confident[0] if confident else (records.class_coverage(entry) or {}).get("counts")
    if not counts or not sum(counts):
        return None
    top, total = max(counts), sum(counts)
    digits = [str(d) for d, c in enumerate(counts) if c == top]
    return f"{', '.join(digits)} ({top / total:.1%}{'' if confident else ', all predictions'})"


# ----------------------------------------------------------------------------- the WGAN's losses

def loss_gap(quarter: str):
    """Mean |critic loss - generator loss| over the ``first_quarter`` or ``last_quarter`` of training."""
    @_named(f"loss_gap[{quarter}]")
    def reader(entry, record):
        return ((entry or {}).get("loss_gap") or {}).get(quarter)
    return reader


# ----------------------------------------------------------------------------- the length a GAN number was read at

def _steps_per_epoch(record) -> int | None:
    """Generator steps an epoch from the record's parameters: whole batches of the training
    images, over the critic steps per generator step of 04's report setting; None for a
    schedule that varies (04's paper setting)."""
    params = _params(record)
    images, batch = params.get("train_limit"), params.get("batch_size")
    if images is None or not batch:
        return None
    batches = (images or MNIST_TRAIN_IMAGES) // batch
    setting = params.get("setting")
    if setting is None:
        return batches
    return batches // params.get("report_n_critic", 1) if setting == "report" else None


def generator_steps(entry, record):
    """The generator steps the model trained: its record's ``generator_steps``, else epochs x
    steps an epoch from the parameters."""
    steps = (entry or {}).get("generator_steps")
    if steps is not None:
        return steps
    epochs, per_epoch = (entry or {}).get("epochs_trained") or _params(record).get("epochs"), _steps_per_epoch(record)
    return None if not epochs or per_epoch is None else epochs * per_epoch


def quarter_generator_steps(entry, record):
    """The generator steps at the end of the first quarter (the steps of a constant schedule)."""
    quarter, epochs = first_quarter_epoch(record), _params(record).get("epochs")
    total = generator_steps(entry, record)
    trained = (entry or {}).get("epochs_trained") or epochs
    return None if not quarter or not trained or total is None else round(total * quarter / trained)


def report_share(steps: int) -> float:
    """The share of the report's generator steps (``facts.REPORT_GAN_GENERATOR_STEPS``)."""
    return steps / facts.REPORT_GAN_GENERATOR_STEPS
