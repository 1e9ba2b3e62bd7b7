"""The length study: every GAN claim of the registry read at several training lengths, from one
long run per GAN and seed (the profile ``lengths``: 03, 04 and 05 for 48 epochs, read at 12, 24
and 48).

A GAN notebook run with ``claim_lengths`` scores its generator after each of those epochs as the
final evaluation scores it and keeps the scores in its record (``lengths``:
``gan_study.length_snapshots``; the WGAN's loss gaps in ``loss_gap_at``). A run of L epochs is
the first L epochs of a longer one (the data order, noise and optimiser state never depend on the
total length), so ``record_at`` rebuilds from the long run's record the record that a run of L
epochs would have written, and the registry's readers and verdicts read it unchanged:

    by_length = lengths.results(collected)   # {L: [ClaimResult of each GAN claim]}, {} without lengths
    lengths.table(by_length)                 # claim x length: estimate [95 % CI] and verdict
    lengths.plot(by_length)                  # each claim's estimate and interval against steps

The study's seeds are exploratory (their results were seen): its verdicts, computed on them
(``exploring``), inform the reader and the next profile and confirm nothing.
"""
import math
from dataclasses import replace

import matplotlib.pyplot as plt
import pandas as pd

from nbhelpers import paths
from nbhelpers.paths import GAN_NOTEBOOKS
from nbhelpers.report import records
from nbhelpers.studies import claim_readers, claim_shapes as shapes, claims, gan_study, verdicts
from nbhelpers.studies.collect import Collected

# What a view at length L keeps of the long run's entry as it is: what does not depend on the
# length (settings, names). Everything else is rebuilt from the snapshot at L, or left out.
LENGTH_FREE = ("status", "message", "model_files", "role", "setting", "objective", "optimizer", "alpha", "beta",
               "score_rotated", "d_norm", "rotation_head", "train_images", "gan_reference")
STEMS = tuple(GAN_NOTEBOOKS)
LENGTH_PROFILE = "lengths"   # the profile of the study (params/lengths/)


# ----------------------------------------------------------------------------- a record as a shorter run's

def entry_at(entry: dict | None, length: int) -> dict | None:
    """The model entry that a run of ``length`` epochs would have written, from a longer run's
    entry with a snapshot at that length (None without one): the training curves up to epoch
    ``length``, the final evaluation's numbers from the snapshot, the loss gap of the steps up to
    it, the length-free fields as they are."""
    snapshot = ((entry or {}).get("lengths") or {}).get(str(length))
    if snapshot is None:
        return None
    curve = [row for row in records.fid_rows(entry) if "epoch" in row and row["epoch"] <= length]
    rows = curve + list(snapshot.get("fid") or [])
    view = {key: entry[key] for key in LENGTH_FREE if key in entry}
    view.update({key: snapshot.get(key) for key in gan_study.FINAL_KEYS if key != "fid"})
    view.update(fid=rows, fid_halving=gan_study.first_and_last_fid(rows), epochs_trained=length,
                generator_steps=snapshot.get("generator_steps"),
                kid_rows=[row for row in records.kid_rows(entry) if row.get("epoch", math.inf) <= length],
                coverage_history={epoch: shares for epoch, shares in (entry.get("coverage_history") or {}).items()
                                  if int(epoch) <= length})
    if "epochs" in entry:
        view["epochs"] = length
    gap = (entry.get("loss_gap_at") or {}).get(str(length))
    if gap is not None:
        view["loss_gap"] = gap
    return view


def record_at(record: dict, length: int) -> dict:
    """The record of ``record``'s run as if it had trained ``length`` epochs: its parameters with
    that length and no claim lengths, each model that has a snapshot there (``entry_at``)."""
    params = {**(record.get("params") or {}), "epochs": length}
    params.pop("claim_lengths", None)
    models = {name: entry_at(entry, length) for name, entry in (record.get("models") or {}).items()}
    return {**record, "params": params, "models": {name: entry for name, entry in models.items() if entry is not None}}


def available(collected: Collected) -> list[int]:
    """The claim lengths of the collected GAN records (their ``claim_lengths`` parameter)."""
    found = {int(length) for stem in STEMS for record in collected.records.get(stem, {}).values()
             for length in (record.get("params") or {}).get("claim_lengths") or []}
    return sorted(found)


def at_length(collected: Collected, length: int) -> Collected:
    """``collected`` with each GAN record as a run of ``length`` epochs (``record_at``) and no
    other notebook's."""
    shortened = {stem: {seed: record_at(record, length) for seed, record in collected.records[stem].items()}
                 for stem in STEMS if stem in collected.records}
    return replace(collected, records=shortened)


def exploring(collected: Collected) -> Collected:
    """``collected`` with its exploratory seeds taken as evaluation seeds (tuning seeds stay out):
    the length study's verdicts are on seeds whose results were seen, and are labelled so."""
    return replace(collected, exploratory_seeds=[])


# ----------------------------------------------------------------------------- the claims at each length

def gan_claims() -> list[claims.Claim]:
    """The registry's claims whose every primary measure reads only GAN notebooks."""
    return [claim for claim in claims.REGISTRY
            if all(side.stem in STEMS for measure in claim.primary for side in measure.sides)]


def results(collected: Collected) -> dict[int, list[verdicts.ClaimResult]]:
    """{length: the GAN claims' results at that length}, on every collected seed but the tuning
    seeds (``exploring``), each verdict adjusted by Holm over the registry's whole family as in
    the summary; {} when the records hold no claim lengths."""
    keys = {claim.key for claim in gan_claims()}
    by_length = {}
    for length in available(collected):
        evaluated = verdicts.evaluate_registry(exploring(at_length(collected, length)))
        by_length[length] = [result for result in evaluated if result.key in keys]
    return by_length


def _steps(results_at_length: list[verdicts.ClaimResult]) -> int | None:
    """The generator steps the GAN numbers at one length were read at (the most common)."""
    steps = [step for result in results_at_length for step in result.generator_steps if step]
    return max(set(steps), key=steps.count) if steps else None


def length_label(length: int, results_at_length: list[verdicts.ClaimResult]) -> str:
    steps = _steps(results_at_length)
    if steps is None:
        return f"{length} epochs"
    return f"{length} epochs, {steps:,} steps ({claim_readers.report_share(steps):.1%} of the report's)"


def table(by_length: dict[int, list[verdicts.ClaimResult]]) -> pd.DataFrame:
    """One row per GAN claim, one column per length: the estimate [95 % interval] (n seeds) and
    the verdict after Holm."""
    columns = {}
    for length, found in by_length.items():
        columns[length_label(length, found)] = {
            result.claim: f"{result.shown} (n = {result.n}): {result.verdict_holm or result.verdict}" for result in found}
    return pd.DataFrame(columns)


def heading(collected: Collected, by_length: dict) -> str:
    """What the study's table and figure are read on, said before them."""
    seeds = ", ".join(str(seed) for seed in collected.seeds if seed not in collected.tuning_seeds)
    return (f"Each GAN claim of the registry (version {claims.REGISTRY_VERSION}) at {len(by_length)} training lengths "
            f"({', '.join(str(length) for length in by_length)} epochs), read from one run per GAN and seed, on seeds "
            f"{seeds or 'none'}. Exploratory: these seeds' results were seen before the registry was fixed, so the "
            f"verdicts below inform the reader and the next profile and confirm nothing; the verdict is the one after "
            f"Holm over the registry's whole family, as in the summary of the default run.")


def pointer(profile: str) -> str:
    """Markdown for a summary without claim lengths: where the length study's page is (or how to make it)."""
    page = paths.profile_folder(LENGTH_PROFILE, False) / "summary.html"
    where = (f"[its summary](../{LENGTH_PROFILE}/summary.html)" if page.exists()
             else f"its summary, `reports/{LENGTH_PROFILE}/summary.html`, once it has run")
    return (f"The GAN verdicts of profile `{profile}` are read at its training length only. The length study "
            f"(`./run_all.sh --profile {LENGTH_PROFILE}`: the `cpu` profile's GAN notebooks trained for 48 epochs) reads each GAN claim at 12, 24 "
            f"and 48 epochs on the exploratory seeds: {where}.")


def record(metrics, by_length: dict[int, list[verdicts.ClaimResult]]) -> None:
    """Write the study to the summary's record: per length its generator steps and, per claim,
    estimate, interval, n and both verdicts (``lengths``)."""
    metrics.data["lengths"] = {
        str(length): {"generator_steps": _steps(found),
                      "claims": {result.key: {"estimate [95% CI]": result.shown, "estimate": result.estimate,
                                              "low": result.low, "high": result.high, "n": result.n,
                                              "verdict": result.verdict, "verdict_holm": result.verdict_holm}
                                 for result in found}}
        for length, found in by_length.items()}
    metrics.write()


def plot(by_length: dict[int, list[verdicts.ClaimResult]], per_row: int = 3):
    """Each GAN claim's estimate and 95 % interval against the generator steps it was read at (as
    shown: a log ratio as its ratio, on a log axis), a sign's line of no effect dashed; None
    without lengths."""
    if not by_length:
        return None
    lengths = sorted(by_length)
    first = by_length[lengths[0]]
    rows = math.ceil(len(first) / per_row)
    fig, axes = plt.subplots(rows, per_row, figsize=(5.2 * per_row, 3.4 * rows), squeeze=False)
    for index, result in enumerate(first):
        ax = axes.flat[index]
        points = [(_steps(by_length[length]), next(r for r in by_length[length] if r.key == result.key))
                  for length in lengths]
        points = [(steps, r) for steps, r in points if steps and r.estimate is not None]
        ratio = result.scale == verdicts.LOG_SCALE
        for steps, r in points:
            below = r.estimate - r.low if r.low is not None else 0
            above = r.high - r.estimate if r.high is not None else 0
            ax.errorbar([steps], [r.estimate], yerr=[[below], [above]], fmt="o", capsize=4, color="C0")
            ax.annotate(r.verdict_holm or r.verdict, (steps, r.estimate), textcoords="offset points", xytext=(6, 4),
                        fontsize=7)
        if isinstance(claims.claim(result.key).test, shapes.Sign):   # a sign's line of no effect
            ax.axhline(1.0 if ratio else 0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        if ratio:
            ax.set_yscale("log")
        ax.set_title(result.claim if len(result.claim) <= 60 else result.claim[:57] + "...", fontsize=9)
        ax.set_xlabel("generator steps")
        ax.set_ylabel("ratio" if ratio else "estimate")
    for ax in list(axes.flat)[len(first):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
