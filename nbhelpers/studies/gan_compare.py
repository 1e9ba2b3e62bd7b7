"""GAN runs side by side, from their metrics records (``report.records``): FID curves on one axis,
the final table, a plain-words verdict, and class coverage; and which epochs of a run measure
the Inception FID and KID during training (``inception_epochs``).

    curves = {"GAN (03)": gan_entry["fid"], "WGAN": wgan_entry["fid"]}
    notes = gan_compare.plot_fid_overlay(ax, curves)
    gan_compare.comparison_table({"GAN (03)": gan_entry, "WGAN": wgan_entry}, threshold=25)

Only comparable numbers are put together: a curve at another N or reference than the first
run's is left out (and named), and a missing record gives a column that says so.
"""
import math

import matplotlib.pyplot as plt
import pandas as pd

from nbhelpers.metrics import coverage, tables
from nbhelpers.models import gan
from nbhelpers.report import records
from nbhelpers.studies.gan_study import epochs_to_reach, fid_curve, first_and_last_fid, plot_coverage_history

# ----------------------------------------------------------------------------- Inception during training

INCEPTION_DURING_TRAINING = ("none", "first_quarter", "quarters")


def inception_epochs(choice: str, epochs: int, claim_lengths=()) -> list[int]:
    """The epochs at which a GAN run measures the Inception FID and KID during training
    (parameter ``inception_during_training``): "none"; "first_quarter", the end of the first
    quarter of the run, where the "learns faster" claim reads the KID; or "quarters", all four
    quarter ends (``gan.quarter_epochs``). With ``claim_lengths`` (the length study), those of
    a run of each of these lengths too."""
    if choice not in INCEPTION_DURING_TRAINING:
        raise ValueError(f"inception_during_training must be one of {INCEPTION_DURING_TRAINING}, got {choice!r}")
    chosen = set()
    for length in {epochs, *claim_lengths}:
        quarters = gan.quarter_epochs(length)
        chosen.update({"none": [], "first_quarter": quarters[:1], "quarters": quarters}[choice])
    return sorted(chosen)


def quarter_kid_lines(entries: dict, epoch: int) -> list[str]:
    """One line per model: its Inception KID measured during training at ``epoch`` (the end of
    the first quarter), with N and reference, or why there is none."""
    lines = []
    for name, entry in entries.items():
        row = next((r for r in records.kid_rows(entry) if r.get("epoch") == epoch and r.get("features") == "inception"),
                   None) if entry else None
        if row is None:
            lines.append(f"{name}: no Inception KID at epoch {epoch}" + ("" if entry else " (no record)"))
        else:
            lines.append(f"{name}: Inception KID at epoch {epoch} = {row['mean']:.4f} ± {row['std']:.4f} "
                         f"(N={row['n']} vs {row['ref']})")
    return lines


# ----------------------------------------------------------------------------- curves

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


def plot_fid_overlay(ax, curves: dict, features: str = "classifier", title: str = "", logy: bool = False) -> list[str]:
    """FID against epoch of every comparable run (``comparable_curves``) on ``ax``, or a note
    that there is no history; returns the notes on what was left out."""
    kept, notes = comparable_curves(curves, features)
    if kept:
        tables.fid_curves(ax, kept, features=features, title=title)
        if logy:
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, f"no {features} FID history", ha="center", va="center", transform=ax.transAxes)
    return notes


# ----------------------------------------------------------------------------- the final table

def _first_to_last(fids: dict) -> str | None:
    return f"{fids['first']:.2f} → {fids['last']:.2f} (ratio {fids['ratio']:.2f})" if fids["ratio"] else None


def model_summary(entry: dict | None, threshold: float) -> dict:
    """One model's column of the final table, from its metrics record."""
    if not entry:
        return {}
    column = {}
    for features, title in (("inception", "Inception"), ("classifier", "classifier")):
        row = records.final_fid(entry, features)
        column[f"{title} FID"] = round(row["value"], 3) if row and row.get("value") is not None else None
        column[f"{title} N / reference"] = (f"{row['n']} vs {row['ref']}" + (" (biased)" if row.get("biased") else "")
                                            if row else None)
    kid = records.kid(entry)
    column["KID x 1000 (mean ± std)"] = (f"{1000 * kid['mean']:.2f} ± {1000 * kid['std']:.2f} ({kid['features']})"
                                         if kid else None)
    counts = records.class_coverage(entry) or {}
    share = records.largest_share(entry)
    column["digits covered (of 10)"] = counts.get("covered")
    column["largest digit share"] = round(share, 3) if share is not None else None
    for name, k in (("precision", 3), ("recall", 3), ("density", 5), ("coverage", 5)):
        value = records.fidelity_diversity(entry, name)
        column[f"{name} (k={k})"] = round(value, 3) if value is not None else None
    column["classifier FID first → last evaluation"] = _first_to_last(first_and_last_fid(records.fid_rows(entry)))
    reached = epochs_to_reach(records.fid_rows(entry), threshold)
    column[f"epochs to classifier FID ≤ {threshold:g}"] = reached if reached is not None else "not reached"
    for key, title in (("epochs_trained", "epochs trained"), ("generator_steps", "generator steps"),
                       ("training_seconds", "training seconds")):
        column[title] = entry.get(key)
    return column


def comparison_table(entries: dict, threshold: float) -> pd.DataFrame:
    """Models side by side (columns) from their metrics records; a missing record (None) gives
    a column that says so."""
    columns = {name: model_summary(entry, threshold) for name, entry in entries.items()}
    index = next((list(c) for c in columns.values() if c), None)
    if index is None:
        raise ValueError("no model has a metrics record")
    table = pd.DataFrame({name: {k: c.get(k, "not run" if not c else None) for k in index}
                          for name, c in columns.items()}, index=index)
    return table.astype(object).where(table.notna(), "—")


def verdict(entries: dict, threshold: float) -> str:
    """Plain sentences on who wins which metric in this one run (lower FID/KID is better), from
    the records. One seed ranks, it does not resolve: the seeds' summary says what holds."""
    present = {name: entry for name, entry in entries.items() if entry}
    if len(present) < 2:
        return "Only one model has a record: no comparison."
    lines = []

    def best(metric_of, label, lower=True):
        values = {name: metric_of(entry) for name, entry in present.items()}
        values = {name: v for name, v in values.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if len(values) < 2:
            return
        ranked = sorted(values.items(), key=lambda item: item[1] if lower else -item[1])
        listed = ", ".join(f"{name} {value:.4g}" for name, value in ranked)
        winners = [name for name, value in ranked if value == ranked[0][1]]
        best_text = f"{winners[0]} is best" if len(winners) == 1 else f"tie between {' and '.join(winners)}"
        lines.append(f"{label}: {best_text} ({listed}).")

    best(lambda e: records.final_value(e, "inception"), "Inception FID (lower is better)")
    best(lambda e: records.final_value(e, "classifier"), "classifier FID (lower is better)")
    best(lambda e: (records.kid(e) or {}).get("mean"), "KID (lower is better)")
    best(records.largest_share, "largest digit share (closer to 10% is better)")
    best(lambda e: records.fidelity_diversity(e, "recall"), "recall (diversity; higher is better)", lower=False)
    best(lambda e: epochs_to_reach(records.fid_rows(e), threshold), f"epochs to classifier FID ≤ {threshold:g} (fewer is better)")
    never = [name for name, e in present.items() if epochs_to_reach(records.fid_rows(e), threshold) is None]
    if never:
        lines.append(f"Never reached classifier FID ≤ {threshold:g}: {', '.join(never)}.")
    lines.append("These rank one training seed: with one seed no comparison is resolved; the summary (06) tests "
                 "them over seeds.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- class coverage

def plot_coverage_comparison(entries: dict, history: gan.GanHistory | None = None, main: str | None = None):
    """Class coverage of several models: final predicted-digit shares side by side; the main
    model's digit shares over training (stacked, if ``history``); the largest digit's share
    against epoch for every model that recorded a coverage history."""
    panels = 3 if history is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.3))
    present = {name: records.digit_shares(entry) for name, entry in entries.items()}
    coverage.plot_digit_shares(axes[0], {name: s for name, s in present.items() if s is not None},
                               title="final class coverage")
    if history is not None:
        plot_coverage_history(axes[1], history, title=f"{main or 'main model'}: digit shares over training")
    ax = axes[-1]
    for name, entry in entries.items():
        shares = records.coverage_history(entry)
        if shares:
            epochs = sorted(shares)
            ax.plot(epochs, [max(shares[e]) for e in epochs], marker="o", markersize=3, label=name)
    ax.axhline(coverage.UNIFORM_SHARE, color="0.3", linestyle="--", linewidth=1)
    ax.axhline(coverage.MAX_DIGIT_SHARE, color="C3", linestyle=":", linewidth=1)
    ax.set(xlabel="epoch", ylabel="largest digit share", title="the most produced digit over training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def final_shares(entries: dict) -> pd.DataFrame:
    """Share of each predicted digit (columns 0-9) in every recorded model's final samples."""
    rows = {name: records.digit_shares(entry) for name, entry in entries.items()}
    return pd.DataFrame.from_dict({k: v for k, v in rows.items() if v is not None}, orient="index",
                                  columns=list(range(coverage.NUM_DIGITS)))

