"""What the GAN, WGAN and SS-GAN notebooks share around the training engine: the evaluation
callback, the metrics record, comparisons with another notebook's run, and the figures.

    evaluator = gan_report.evaluator_for(run, P)
    history = gan.train(G, D, objective, images, config, name="gan",
                        evaluate=gan_report.training_evaluator(evaluator, inception_epochs={config.epochs}), ...)
    final = gan_report.final_evaluation(evaluator, G)
    gan_report.record(metrics, "gan", history, final)
"""
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import fid, gan, plots
from .paths import reports_root

EVAL_SEED = 1234  # the noise of every evaluation sample set: the same z at every epoch
GAN_STEM, GAN_MODEL = "03_gan_pixelshuffle", "gan"  # the GAN run that 04 and 05 compare with


def evaluator_for(run, params) -> fid.Evaluator:
    """The notebook's Evaluator, sized by the shared ``fid_*`` parameters."""
    return fid.Evaluator(run.device, n_inception=params.fid_n_inception, n_classifier=params.fid_n_classifier,
                         ref_n_inception=params.fid_ref_n_inception, ref_n_classifier=params.fid_ref_n_classifier)


def training_evaluator(evaluator: fid.Evaluator, inception_epochs=()):
    """``evaluate(generator, epoch)`` for ``gan.train``: classifier FID and class coverage at
    every evaluated epoch; Inception FID too at ``inception_epochs``. Same noise every time."""
    inception_epochs = set(inception_epochs)

    def evaluate(generator, epoch):
        use_inception = epoch in inception_epochs and evaluator.n["inception"] > 0
        count = max(evaluator.n["classifier"], evaluator.n["inception"] if use_inception else 0)
        samples = gan.sample_images(generator, count, seed=EVAL_SEED)
        rows = [evaluator.fid(samples, "classifier", epoch=epoch)]
        if use_inception:
            rows.append(evaluator.fid(samples, "inception", epoch=epoch))
        coverage = evaluator.class_coverage(samples)
        return {"classifier_fid": rows[0]["value"], "digits_covered": coverage["covered"],
                "max_class_share": max(coverage["counts"]) / coverage["n"], "class_entropy": coverage["entropy"],
                "counts": coverage["counts"], "fid_rows": rows}

    return evaluate


def final_evaluation(evaluator: fid.Evaluator, generator) -> dict:
    """Every metric of the final generator (Inception + classifier FID, KID, coverage)."""
    return evaluator.evaluate(lambda n: gan.sample_images(generator, n, seed=EVAL_SEED))


def fid_history(history: gan.GanHistory) -> list[dict]:
    """The FID rows recorded during training, each with its ``epoch``."""
    return [row for detail in history.evaluation_details for row in detail.get("fid_rows", [])]


def last_iterate_fid_history(history: gan.GanHistory) -> list[dict]:
    """The FID rows of the trained generator itself, when the run reported its weight average
    and evaluated the last iterate too (``gan.train(..., evaluate_last_iterate=True)``)."""
    return [row for detail in history.evaluation_details
            for row in detail.get("last_iterate", {}).get("fid_rows", [])]


def coverage_history(history: gan.GanHistory) -> pd.DataFrame:
    """Share of each predicted digit (columns 0-9) at every evaluated epoch (index)."""
    rows = {d["epoch"]: np.asarray(d["counts"], dtype=float) / max(sum(d["counts"]), 1)
            for d in history.evaluation_details if "counts" in d}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(range(10)))


def fid_curve(rows: list[dict], features: str = "classifier") -> list[dict]:
    """The training-time FID rows of one extractor, by epoch."""
    return sorted((r for r in rows if r["features"] == features and "epoch" in r), key=lambda r: r["epoch"])


def last_epoch_fid(rows: list[dict], features: str = "classifier") -> float | None:
    """The last training-time FID of one extractor (None without any)."""
    curve = fid_curve(rows, features)
    return curve[-1]["value"] if curve else None


def fid_halving(rows: list[dict], features: str = "classifier") -> dict:
    """First and last training-time FID of one extractor and their ratio (the 'at most half' check)."""
    curve = fid_curve(rows, features)
    if len(curve) < 2:
        return {"first": None, "last": None, "ratio": None}
    return {"first": curve[0]["value"], "last": curve[-1]["value"], "ratio": curve[-1]["value"] / curve[0]["value"]}


def acceptance_checks(entry: dict, max_share: float = 0.2, gan_entry: dict | None = None,
                      gan_factor: float | None = None) -> pd.DataFrame:
    """The ``cpu`` profile's acceptance checks on one ``record`` entry, as a table (check ->
    value, holds; holds is None when the run lacks what the check needs):
    the last classifier FID of training is at most half the first (of the reported generator;
    the last iterate's ratio is shown beside it when recorded); the final samples cover all ten
    digits, none above ``max_share``; with ``gan_factor``, the last classifier FID is within
    ``gan_factor`` times that of ``gan_entry`` (the GAN notebook's record)."""
    halving, rows = fid_halving(entry.get("fid", [])), []
    if halving["ratio"] is None:
        rows.append(("last classifier FID ≤ half the first", "fewer than two evaluations", None))
    else:
        value = f"{halving['first']:.2f} → {halving['last']:.2f} (×{halving['ratio']:.3f})"
        raw = entry.get("fid_halving_last_iterate") or {}
        if raw.get("ratio") is not None:
            value += f"; last iterate {raw['first']:.2f} → {raw['last']:.2f} (×{raw['ratio']:.3f})"
        rows.append(("last classifier FID ≤ half the first", value, halving["ratio"] <= 0.5))
    coverage = entry.get("class_coverage")
    if coverage:
        share = max(coverage["counts"]) / coverage["n"]
        rows.append(("all ten digits covered", f"{coverage['covered']} of 10", coverage["covered"] == 10))
        rows.append((f"no digit above {max_share:.0%}", f"largest {share:.1%}", share <= max_share))
    else:
        rows += [("all ten digits covered", "no final evaluation", None),
                 (f"no digit above {max_share:.0%}", "no final evaluation", None)]
    if gan_factor is not None:
        check = f"last classifier FID within {gan_factor:g}× the GAN's"
        ours, theirs = last_epoch_fid(entry.get("fid", [])), last_epoch_fid((gan_entry or {}).get("fid", []))
        if ours is None or theirs is None:
            rows.append((check, "GAN run not available" if theirs is None else "no FID history", None))
        else:
            rows.append((check, f"{ours:.2f} vs {theirs:.2f} (×{ours / theirs:.3f})", ours / theirs <= gan_factor))
    return pd.DataFrame(rows, columns=["check", "value", "holds"]).set_index("check")


def epochs_to_reach(rows: list[dict], threshold: float, features: str = "classifier") -> int | None:
    """The first evaluated epoch whose FID is at or below ``threshold`` (None if never)."""
    for row in fid_curve(rows, features):
        if row["value"] <= threshold:
            return row["epoch"]
    return None


def record(metrics, name: str, history: gan.GanHistory, final: dict | None, **extra) -> dict:
    """Write one model's record to metrics.json: FID history + final rows, KID, coverage, status;
    with a weight-averaged run, also the last iterate's FID history (``fid_last_iterate``)."""
    rows = fid_history(history) + (final["fid"] if final else [])
    entry = {"status": history.status, "message": history.message, "epochs_trained": history.last_epoch,
             "training_seconds": round(history.training_seconds, 1), "fid": rows,
             "fid_halving": fid_halving(rows), "model_files": history.model_files, **extra}
    last_iterate = last_iterate_fid_history(history)
    if last_iterate:
        entry["fid_last_iterate"] = last_iterate
        entry["fid_halving_last_iterate"] = fid_halving(last_iterate)
    if final:
        entry["kid"] = final.get("kid")
        entry["class_coverage"] = final.get("class_coverage")
    entry["coverage_history"] = {int(epoch): list(shares) for epoch, shares in coverage_history(history).iterrows()}
    return metrics.update_model(name, **entry)


def final_result(entry: dict) -> dict:
    """A metrics record reduced to its final evaluation, in ``Evaluator.evaluate``'s shape
    (FID rows without an epoch, KID, class coverage), for ``fid.fid_table``."""
    result = {"fid": [row for row in entry.get("fid", []) if "epoch" not in row]}
    for key in ("kid", "class_coverage"):
        if entry.get(key):
            result[key] = entry[key]
    return result


def comparable_curves(curves: dict, features: str = "classifier") -> tuple[dict, list[str]]:
    """The training-time FID rows of ``features`` of each run, keeping only runs whose N and
    reference match the first run's (FIDs at other N are not comparable). Returns the kept
    curves and a note for each run left out."""
    kept, notes, setting = {}, [], None
    for name, rows in curves.items():
        rows = fid_curve(rows or [], features)
        if not rows:
            notes.append(f"{name}: no {features} FID history")
            continue
        settings = {(r["n"], r["ref"]) for r in rows}
        setting = setting or next(iter(settings))
        if settings != {setting}:
            notes.append(f"{name}: {features} FID at N/ref {sorted(settings)}, not {setting}: left out")
            continue
        kept[name] = rows
    return kept, notes


def plot_fid_overlay(ax, curves: dict, features: str = "classifier", title: str = "") -> tuple[dict, list[str]]:
    """Draw the ``comparable_curves`` of ``curves`` on ``ax`` (``fid.fid_curves``), or say that
    there is no history; returns what ``comparable_curves`` returns."""
    kept, notes = comparable_curves(curves, features)
    if kept:
        fid.fid_curves(ax, kept, features=features, title=title)
    else:
        ax.text(0.5, 0.5, f"no {features} FID history", ha="center", va="center", transform=ax.transAxes)
    return kept, notes


def load_notebook_metrics(profile: str, stem: str) -> dict | None:
    """Another notebook's metrics of the same profile (for overlays), or None if it has not run."""
    path = reports_root() / profile / f"{stem}.metrics.json"
    if not path.exists():
        return None
    content = json.loads(path.read_text())
    return content if content.get("status") == "ok" else None


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


def plot_grids(history: gan.GanHistory, epochs=None, title: str = ""):
    """The fixed-noise grids at the given epochs (default: the four quarters of the run)."""
    epochs = [e for e in (epochs or gan.quarter_epochs(max(history.last_epoch, 1))) if e in history.grids]
    return plots.show_grids({f"{title} epoch {e}".strip(): history.grids[e] for e in epochs}, size=4.2)


def plot_coverage_history(ax, history: gan.GanHistory, title: str = "predicted-digit shares over training"):
    shares = coverage_history(history)
    ax.stackplot(shares.index, shares.T.values, labels=[str(d) for d in shares.columns],
                 colors=plt.get_cmap("tab10").colors)
    ax.set(xlabel="epoch", ylabel="share of samples", title=title, ylim=(0, 1))
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return ax
