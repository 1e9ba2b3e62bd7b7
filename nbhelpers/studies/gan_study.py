"""What the GAN, WGAN and SS-GAN studies (notebooks 03, 04, 05) share around the training
engine: one result type, one way to train a variant, its evaluation and metrics record, the
acceptance checks, and the parameter-checked loader of the GAN notebook's run.

    config = gan_study.gan_config(P)
    evaluator = sections.evaluator_for(run, P)
    result = gan_study.train_variant("gan", NonSaturatingGAN(), G, D, images, config, evaluator, run.out_dir)
    entry = gan_study.record(metrics, result)
    gan_entry, note = gan_study.load_gan_run(run.profile, run.params, run.batch.dry_run)

Comparisons and figures built on these live in ``gan_compare``.
"""
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from nbhelpers import paths
from nbhelpers.environment import BatchContext
from nbhelpers.metrics import coverage
from nbhelpers.metrics.evaluator import Evaluator
from nbhelpers.metrics.samples import evaluation_samples
from nbhelpers.models import gan
from nbhelpers.paths import checkpoint_folder, display
from nbhelpers.report import plots, records
from nbhelpers.report.parameters import ParameterError
from nbhelpers.studies import facts

TRAINING_PRECISIONS = ("fp32", "bf16")   # the training step's forward passes (evaluation is always fp32)
EVAL_SEED = 1234  # the noise of every evaluation sample set: the same z at every epoch
# Parameters that do not change a run's numbers (where it runs, what it draws): two runs that
# differ only in these are still comparable.
NOT_COMPARED = ("profile", "device", "grid_every", "inception_during_training")


# ----------------------------------------------------------------------------- set-up

def gan_config(params, **overrides) -> gan.GanConfig:
    """The engine's settings from a GAN notebook's parameters (the fields it declares; the
    engine's defaults for the others), then ``overrides`` (e.g. a WGAN preset's optimiser).
    Adam's ``betas`` must be two numbers in [0, 1). ``training_precision`` "bf16" autocasts the
    training step's forward passes to bfloat16 (``GanConfig.bf16_autocast``), "fp32" (the report's)
    does not."""
    names = ("epochs", "batch_size", "lr_generator", "lr_discriminator", "betas", "seed", "grid_every",
             "eval_every", "eval_every_through")
    values = {name: getattr(params, name) for name in names if hasattr(params, name)}
    precision = getattr(params, "training_precision", "fp32")
    if precision not in TRAINING_PRECISIONS:
        raise ParameterError(f"training_precision must be one of {', '.join(TRAINING_PRECISIONS)}, got {precision!r}")
    values["bf16_autocast"] = precision == "bf16"
    betas = values.get("betas")
    if betas is not None and (len(betas) != 2 or not all(0 <= b < 1 for b in betas)):
        raise ParameterError(f"betas must be two numbers in [0, 1), got {betas}")
    return gan.GanConfig(**values).with_overrides(**overrides)


# ----------------------------------------------------------------------------- evaluation

def training_evaluator(evaluator: Evaluator, inception_epochs=()):
    """``evaluate(generator, epoch)`` for ``gan.train``: classifier FID and class coverage at
    every evaluated epoch; at ``inception_epochs`` also the Inception FID (in ``fid_rows``) and
    the Inception KID on the same samples and features (``kid_rows``: one ``KidRow`` with its
    ``epoch``; the summary's "learns faster" claim reads it at the first quarter). Same noise
    every time."""
    inception_epochs = set(inception_epochs)

    def evaluate(generator, epoch):
        use_inception = epoch in inception_epochs and evaluator.n["inception"] > 0
        count = max(evaluator.n["classifier"], evaluator.n["inception"] if use_inception else 0)
        samples = evaluation_samples(gan.sample_images, generator, count, seed=EVAL_SEED)
        rows, kid_rows = [evaluator.fid(samples, "classifier", epoch=epoch)], []
        if use_inception:
            rows.append(evaluator.fid(samples, "inception", epoch=epoch))
            kid_rows.append({**evaluator.kid(samples, "inception"), "epoch": epoch})  # features memoised: no second pass
        counts = evaluator.class_coverage(samples)
        result = {"classifier_fid": rows[0]["value"], "digits_covered": counts["covered"],
                  "max_class_share": coverage.largest_share(counts), "class_entropy": counts["entropy"],
                  "counts": counts["counts"], "fid_rows": rows}
        if kid_rows:
            result["kid_rows"] = kid_rows
        return result

    return evaluate


def final_evaluation(evaluator: Evaluator, generator) -> dict:
    """Every metric of the final generator (Inception + classifier FID, KID, coverage)."""
    return evaluator.evaluate(lambda n: evaluation_samples(gan.sample_images, generator, n, seed=EVAL_SEED))


def final_samples(generator, evaluator: Evaluator) -> torch.Tensor:
    """The sample set that ``final_evaluation`` scored (for export and per-digit analyses)."""
    return evaluation_samples(gan.sample_images, generator, max(evaluator.n["inception"], evaluator.n["classifier"]),
                              seed=EVAL_SEED)


# ----------------------------------------------------------------------------- one trained variant

@dataclass(eq=False)   # compared by identity: a result is one object
class GanResult:
    """One trained (or diverged) variant and, when it finished, its final metrics."""

    name: str
    objective: object
    config: gan.GanConfig
    train_images: int                # training images used
    generator: torch.nn.Module       # the trained generator (the last iterate), as evaluated
    discriminator: torch.nn.Module
    history: gan.GanHistory
    final: dict | None = None        # final_evaluation output
    claim_lengths: tuple = ()        # epochs whose final evaluation the record keeps too (the length study)

    @property
    def finished(self) -> bool:
        return self.history.status == "finished"

    def fid_rows(self) -> list[dict]:
        return fid_history(self.history)


def train_variant(name: str, objective, generator, discriminator, images: torch.Tensor, config: gan.GanConfig,
                  evaluator: Evaluator, out_dir: Path, inception_epochs=(), curve_evaluator=None,
                  final: bool = True, save_models: bool = True, log=print,
                  batch: BatchContext = BatchContext(), claim_lengths=()) -> GanResult:
    """Train ``generator`` against ``discriminator`` with ``objective`` (``gan.train``), with
    checkpoints in ``paths.checkpoint_folder(out_dir, batch)`` (outside a batch's stage, so that they
    outlive a failed attempt; a finished run is reloaded, not retrained) and the
    models in ``out_dir/models``; then, if it finished and ``final``, evaluate it.

    ``curve_evaluator`` (default: ``evaluator``) measures the training-time curves, Inception
    FID included at ``inception_epochs``; the final evaluation always uses ``evaluator``.
    ``batch`` (the notebook's ``run.batch``) is what ``./run_all.sh`` decided: a dry run's cap on
    batches an epoch, and ``--fresh`` (retrain, replacing the checkpoint).

    ``claim_lengths`` (the length study, ``lengths``): epochs at which ``evaluator`` also scores the
    generator as the final evaluation would (the last of them is the final evaluation itself),
    so that one long run holds what shorter runs of the same seed would have recorded: a run
    of E epochs is the first E epochs of a longer one (the data order, noise and optimiser
    state never depend on the total length)."""
    claim_lengths = check_claim_lengths(claim_lengths, config)
    snapshots = [length for length in claim_lengths if length < config.epochs]
    evaluate = training_evaluator(curve_evaluator or evaluator, inception_epochs)
    if snapshots:   # the final scores at a shorter length use the final evaluation's evaluator
        evaluate = _with_snapshots(evaluate, evaluator, snapshots)
    history = gan.train(generator, discriminator, objective, images, config, name=name,
                        evaluate=evaluate,
                        checkpoint_dir=checkpoint_folder(out_dir, batch),
                        models_dir=Path(out_dir) / "models" if save_models else None, log=log,
                        max_batches=batch.max_batches, fresh=batch.fresh, progress_lines=batch.progress_lines)
    result = GanResult(name, objective, config, len(images), generator, discriminator, history,
                       claim_lengths=tuple(claim_lengths))
    if final and result.finished:  # a diverged generator may output NaN: no final metrics then
        result.final = final_evaluation(evaluator, result.generator)
    return result


def check_claim_lengths(claim_lengths, config: gan.GanConfig) -> list[int]:
    """``claim_lengths`` sorted, or ParameterError naming the problem: each an evaluated epoch of
    the run (``gan.evaluation_epochs``), at most its ``epochs``."""
    lengths = sorted(set(int(length) for length in claim_lengths))
    evaluated = set(gan.evaluation_epochs(config))
    if wrong := [length for length in lengths if length not in evaluated]:
        raise ParameterError(f"claim_lengths {wrong} are not evaluated epochs of this run ({config.epochs} epochs, "
                         f"eval_every {config.eval_every} through the {config.eval_every_through.replace('_', ' ')}): "
                             "each must be at most epochs and on the evaluation schedule")
    return lengths


def _with_snapshots(evaluate, evaluator: Evaluator, snapshot_epochs):
    """``evaluate`` plus ``at_length`` at ``snapshot_epochs``: the ``final_evaluation`` (by
    ``evaluator``) of the generator as it stands, what a run that ended there would have recorded."""
    snapshot_epochs = set(snapshot_epochs)

    def evaluate_and_snapshot(generator, epoch):
        result = evaluate(generator, epoch)
        if epoch in snapshot_epochs:
            result["at_length"] = final_evaluation(evaluator, generator)
        return result

    return evaluate_and_snapshot


# ----------------------------------------------------------------------------- what training recorded

def fid_history(history: gan.GanHistory) -> list[dict]:
    """The FID rows recorded during training, each with its ``epoch``."""
    return [row for detail in history.evaluation_details for row in detail.get("fid_rows", [])]


def coverage_history(history: gan.GanHistory) -> pd.DataFrame:
    """Share of each predicted digit (columns 0-9) at every evaluated epoch (index)."""
    rows = {d["epoch"]: np.asarray(d["counts"], dtype=float) / max(sum(d["counts"]), 1)
            for d in history.evaluation_details if "counts" in d}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(range(coverage.NUM_DIGITS)))


def fid_curve(rows: list[dict], features: str = "classifier") -> list[dict]:
    """The training-time FID rows of one extractor, by epoch."""
    return sorted((r for r in rows if r["features"] == features and "epoch" in r), key=lambda r: r["epoch"])


def last_epoch_fid(rows: list[dict], features: str = "classifier") -> float | None:
    """The last training-time FID of one extractor (None without any)."""
    curve = fid_curve(rows, features)
    return curve[-1]["value"] if curve else None


def first_and_last_fid(rows: list[dict], features: str = "classifier") -> dict:
    """First and last training-time FID of one extractor and their ratio last / first (None
    each with fewer than two evaluations)."""
    curve = fid_curve(rows, features)
    if len(curve) < 2:
        return {"first": None, "last": None, "ratio": None}
    return {"first": curve[0]["value"], "last": curve[-1]["value"], "ratio": curve[-1]["value"] / curve[0]["value"]}


def epochs_to_reach(rows: list[dict], threshold: float, features: str = "classifier") -> int | None:
    """The first evaluated epoch whose FID is at or below ``threshold`` (None if never)."""
    for row in fid_curve(rows, features):
        if row["value"] <= threshold:
            return row["epoch"]
    return None


# ----------------------------------------------------------------------------- the metrics record

def record(metrics, result: GanResult, **extra) -> dict:
    """Write one run's record to metrics.json: FID history + final rows (``fid_halving``: their
    ``first_and_last_fid``), KID, coverage, status, and ``generator_steps``, the generator updates
    it trained (its step rows; compare ``facts.REPORT_GAN_GENERATOR_STEPS``)."""
    history, final = result.history, result.final
    rows = fid_history(history) + (final["fid"] if final else [])
    entry = {"status": history.status, "message": history.message, "epochs_trained": history.last_epoch,
             "generator_steps": len(history.steps),
             "training_seconds": round(history.training_seconds, 1), "fid": rows,
             "fid_halving": first_and_last_fid(rows),
             "model_files": {role: display(path, metrics.batch) for role, path in history.model_files.items()},
             "reused_checkpoint": history.reused or None, **extra}
    kid_rows = [row for detail in history.evaluation_details for row in detail.get("kid_rows", [])]
    if kid_rows:   # Inception KID measured during training (``inception_epochs``), each with its epoch
        entry["kid_rows"] = kid_rows
    if final:
        for key in ("kid", "class_coverage", "precision_recall", "density_coverage"):
            entry[key] = final.get(key)
    entry["coverage_history"] = {int(epoch): list(shares) for epoch, shares in coverage_history(history).iterrows()}
    if result.claim_lengths:
        entry["lengths"] = length_snapshots(result)
    return metrics.update_model(result.name, **entry)


FINAL_KEYS = ("fid", "kid", "class_coverage", "precision_recall", "density_coverage")   # final_evaluation's


def length_snapshots(result: GanResult) -> dict:
    """{"<L>": what the final evaluation held at each of ``claim_lengths`` (``FINAL_KEYS``) and the
    generator steps trained by then}, the longest from the final evaluation itself; a length the
    run did not reach (diverged) is missing."""
    scored = {detail["epoch"]: detail["at_length"] for detail in result.history.evaluation_details
              if "at_length" in detail}
    if result.final and result.config.epochs in result.claim_lengths:
        scored[result.config.epochs] = result.final
    step_epochs = result.history.steps["epoch"].to_numpy()
    return {str(length): {"generator_steps": int((step_epochs <= length).sum()),
                          **{key: final.get(key) for key in FINAL_KEYS}}
            for length, final in sorted(scored.items())}


def acceptance_checks(entry: dict, max_share: float = coverage.MAX_DIGIT_SHARE, gan_entry: dict | None = None,
                      gan_factor: float | None = None) -> pd.DataFrame:
    """The acceptance checks on one ``record`` entry, as a table (check -> value, holds; holds
    is None when the run lacks what the check needs): the last classifier FID of training is
    at most half the first; the final samples cover all ten digits, none above ``max_share``; with
    ``gan_factor``, the last classifier FID is within ``gan_factor`` times that of ``gan_entry``."""
    halving, rows = first_and_last_fid(records.fid_rows(entry)), []
    if halving["ratio"] is None:
        rows.append(("last classifier FID ≤ half the first", "fewer than two evaluations", None))
    else:
        value = f"{halving['first']:.2f} → {halving['last']:.2f} (×{halving['ratio']:.3f})"
        rows.append(("last classifier FID ≤ half the first", value, halving["ratio"] <= 0.5))
    counts = records.class_coverage(entry)
    if counts:
        share = coverage.largest_share(counts)
        rows.append(("all ten digits covered", f"{counts['covered']} of 10", counts["covered"] == coverage.NUM_DIGITS))
        rows.append((f"no digit above {max_share:.0%}", f"largest {share:.1%}", share <= max_share))
    else:
        rows += [("all ten digits covered", "no final evaluation", None),
                 (f"no digit above {max_share:.0%}", "no final evaluation", None)]
    if gan_factor is not None:
        check = f"last classifier FID within {gan_factor:g}× the GAN's"
        ours, theirs = last_epoch_fid(records.fid_rows(entry)), last_epoch_fid(records.fid_rows(gan_entry))
        if ours is None or theirs is None:
            rows.append((check, "GAN run not available" if theirs is None else "no FID history", None))
        else:
            rows.append((check, f"{ours:.2f} vs {theirs:.2f} (×{ours / theirs:.3f})", ours / theirs <= gan_factor))
    return pd.DataFrame(rows, columns=["check", "value", "holds"]).set_index("check")


# ----------------------------------------------------------------------------- the GAN notebook's run

def parameter_differences(theirs: dict, ours: dict) -> list[str]:
    """The parameters both runs declare that differ (other than ``NOT_COMPARED``), as text."""
    shared = sorted((set(theirs) & set(ours)) - set(NOT_COMPARED))
    return [f"{key} {theirs[key]!r} there, {ours[key]!r} here" for key in shared if theirs[key] != ours[key]]


def load_gan_run(profile: str, params: dict, dry_run: bool = False) -> tuple[dict | None, str]:
    """The GAN notebook's (``paths.GAN_NOTEBOOK``) record of model ``facts.GAN_MODEL`` in the
    same profile and seed (``params["seed"]``), with a sentence saying where it came from, or
    None and why there is none; ``dry_run`` (the notebook's ``run.batch.dry_run``) reads the
    profile's dry run.

    The run must have finished, hold an FID history, and have been trained with the same
    values of every parameter both notebooks declare (seed, training length, sample sizes,
    optimiser, ...; ``NOT_COMPARED`` aside): otherwise its curves would not be like for like,
    and it is left out with the differences named."""
    stem, name, seed = paths.GAN_NOTEBOOK, facts.GAN_MODEL, params.get("seed")
    rerun = (f"run `./run_all.sh --profile {profile} --seeds {seed} --only {stem}` with the same parameters, "
             f"then this notebook again")
    record = records.load(profile, stem, seed, dry_run=dry_run)
    if record is None:
        try:
            path = records.record_path(profile, stem, seed, dry_run)
            why = "has not run" if records.read(path) is None else "did not finish"
        except records.DamagedRecord as damaged:   # as if it had not run, the file named
            return None, (f"The GAN notebook {stem} left no readable record for profile '{profile}' and seed {seed} "
                          f"({damaged}), so there is no GAN to compare with: {rerun}.")
        return None, (f"The GAN notebook {stem} {why} for profile '{profile}' and seed {seed}, so there is no GAN "
                      f"to compare with: {rerun}.")
    entry = records.model(record, name)
    if not fid_curve(records.fid_rows(entry)):
        return None, f"{stem} of profile '{profile}' holds no model '{name}' with an FID history: nothing to compare with."
    differ = parameter_differences(record.get("params") or {}, params)
    if differ:
        return None, (f"The GAN run of {stem} (profile '{profile}') was trained with other parameters ("
                      + "; ".join(differ) + f"), so it is left out of the comparison: {rerun}.")
    return entry, (f"GAN: model '{name}' of {stem}, profile '{profile}', seed {seed} "
                   f"({entry.get('epochs_trained')} epochs; same shared parameters).")


def load_gan_samples(profile: str, seed: int, count: int = 100, dry_run: bool = False) -> torch.Tensor | None:
    """The first ``count`` exported samples of the GAN notebook's run of this profile and seed
    ([N, 1, 28, 28] in [0, 1]), or None when there are none (``dry_run`` as in ``load_gan_run``)."""
    return records.exported_samples(profile, paths.GAN_NOTEBOOK, seed, facts.GAN_MODEL, count, dry_run)


# ----------------------------------------------------------------------------- one run's figures

def plot_training(history: gan.GanHistory, title: str, d_columns=("d_real", "d_fake"),
                  d_label: str = "mean D output"):
    """Losses per step (smoothed) and per epoch, and the discriminator's outputs per step."""
    steps, epochs = history.steps, history.epochs
    window = max(1, len(steps) // 100)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    plots.curves(axes[0], {"D / critic": steps["loss_d"], "G": steps["loss_g"]}, xlabel="generator step",
                 ylabel="loss", title=f"{title}: losses per step (smoothed)", window=window)
    plots.curves(axes[1], {"D / critic": epochs["loss_d"], "G": epochs["loss_g"]}, x=epochs["epoch"],
                 ylabel="loss", title="losses per epoch")
    present = {c: steps[c] for c in d_columns if c in steps}
    plots.curves(axes[2], present, xlabel="generator step", ylabel=d_label, title=d_label, window=window)
    fig.tight_layout()
    return fig


def plot_grids(history: gan.GanHistory, epochs=None, title: str = "", per_row: int | None = None):
    """The fixed-noise grids at the given epochs (default: the four quarters of the run)."""
    epochs = [e for e in (epochs or gan.quarter_epochs(max(history.last_epoch, 1))) if e in history.grids]
    return plots.show_grids({f"{title} epoch {e}".strip(): history.grids[e] for e in epochs}, size=4.2,
                            per_row=per_row)


def plot_coverage_history(ax, history: gan.GanHistory, title: str = "predicted-digit shares over training"):
    shares = coverage_history(history)
    ax.stackplot(shares.index, shares.T.values, labels=[str(d) for d in shares.columns],
                 colors=plt.get_cmap("tab10").colors)
    ax.set(xlabel="epoch", ylabel="share of samples", title=title, ylim=(0, 1))
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return ax
