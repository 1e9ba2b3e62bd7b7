"""The cross-notebook summary (notebook 06): every model over every seed, and the original
report's claims tested one by one. It reads metrics records only (``results``), never models.

    runs = summary.collect(profile, seeds)      # the comparable records, and what was left out
    summary.model_table(runs)                   # mean ± std over seeds per model and metric
    summary.claims_table(runs)                  # claim, measurement, 95 % interval, verdict

A record joins only when its run finished and when its parameters (other than the seed) and
code version (git commit) match those of the other seeds of the same notebook; the others
are listed by name in ``runs.excluded`` and left out, never mixed in.
"""
import math
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nbhelpers import paths
from nbhelpers.studies import gan_study, stats
from nbhelpers.report import plots, records
from nbhelpers.report.config import check_seeds

IGNORED_PARAMS = ("seed", "profile", "device")   # what may differ between seeds of one notebook
KL_TOLERANCE = 0.5                                # nats: "the KL settles at the set point"


@dataclass
class Runs:
    """The records of one profile: ``records[stem][seed]``, the seeds used, what was left out."""

    profile: str
    records: dict = field(default_factory=dict)
    seeds: list = field(default_factory=list)
    excluded: list = field(default_factory=list)

    def entries(self, stem: str, model: str) -> list:
        """The model's entry in each seed's record (None where a seed lacks it), seed order."""
        by_seed = self.records.get(stem, {})
        return [records.model(by_seed.get(seed), model) for seed in self.seeds]


def _signature(record: dict) -> tuple:
    """What must match between seeds: the parameters (but the seed), the code version, and the
    classifier weights that the classifier-feature numbers were measured with."""
    params = {k: v for k, v in (record.get("params") or {}).items() if k not in IGNORED_PARAMS}
    return tuple(sorted((k, repr(v)) for k, v in params.items())), record.get("git_commit"), _classifier(record)


def _classifier(record: dict) -> str | None:
    return ((record.get("feature_extractors") or {}).get("classifier") or {}).get("sha256")


def _difference(record: dict, reference: dict) -> str:
    ours, theirs = record.get("params") or {}, reference.get("params") or {}
    changed = [f"{k} {ours.get(k)!r} vs {theirs.get(k)!r}" for k in sorted(set(ours) | set(theirs))
               if k not in IGNORED_PARAMS and ours.get(k) != theirs.get(k)]
    if record.get("git_commit") != reference.get("git_commit"):
        changed.append(f"code version {record.get('git_commit')} vs {reference.get('git_commit')}")
    if _classifier(record) != _classifier(reference):
        changed.append(f"classifier weights {_classifier(record)} vs {_classifier(reference)}")
    return "; ".join(changed)


def collect(profile: str, seeds=None) -> Runs:
    """The finished, mutually comparable records of every study notebook for ``seeds`` (default:
    every seed folder present). Per notebook the most common (parameters, code version) among
    its seeds is the reference (ties: the lowest seed's); other records are excluded by name."""
    seeds = sorted(check_seeds(list(seeds), "seeds")) if seeds else records.seeds_present(profile)
    runs = Runs(profile, seeds=list(seeds))
    for stem in paths.STUDY_NOTEBOOKS:
        found = {}
        for seed in seeds:
            record = records.read(records.record_path(profile, stem, seed))
            if record is None:
                continue
            if record.get("status") != "ok":
                runs.excluded.append(f"{stem}, seed {seed}: status {record.get('status')!r}, not ok")
                continue
            found[seed] = record
        if not found:
            continue
        signatures = [_signature(r) for r in found.values()]
        reference = max(signatures, key=lambda s: (signatures.count(s), -signatures.index(s)))
        first = next(r for r in found.values() if _signature(r) == reference)
        for seed, record in list(found.items()):
            if _signature(record) != reference:
                runs.excluded.append(f"{stem}, seed {seed}: {_difference(record, first)} (the other seeds' value last)")
                del found[seed]
        runs.records[stem] = found
    return runs


# ----------------------------------------------------------------------------- every model

def models(runs: Runs) -> list[tuple[str, str]]:
    """(stem, model) of every model with a final FID in any included record, notebook order."""
    listed = []
    for stem, by_seed in runs.records.items():
        for record in by_seed.values():
            for name, entry in (record.get("models") or {}).items():
                if any("epoch" not in row for row in records.fid_rows(entry)) and (stem, name) not in listed:
                    listed.append((stem, name))
    return listed


def _training_seconds(entry: dict | None):
    if not entry:
        return None
    return entry.get("training_seconds", entry.get("seconds"))


METRICS = {   # column -> (value of one entry, digits)
    "classifier FID": (lambda e: records.final_value(e, "classifier"), 2),
    "Inception FID": (lambda e: records.final_value(e, "inception"), 1),
    "KID": (lambda e: (records.kid(e) or {}).get("mean"), 4),
    "digits covered": (lambda e: (records.class_coverage(e) or {}).get("covered"), 1),
    "largest digit share": (records.largest_share, 3),
    "precision": (lambda e: records.fidelity_diversity(e, "precision"), 3),
    "recall": (lambda e: records.fidelity_diversity(e, "recall"), 3),
    "density": (lambda e: records.fidelity_diversity(e, "density"), 3),
    "coverage": (lambda e: records.fidelity_diversity(e, "coverage"), 3),
    "training s": (_training_seconds, 0),
}


QUALITY_COLUMNS = ["classifier FID", "classifier N / ref", "Inception FID", "Inception N / ref", "KID"]
DIVERSITY_COLUMNS = ["digits covered", "largest digit share", "precision", "recall", "density", "coverage", "training s"]


def model_values(runs: Runs, stem: str, model: str) -> dict:
    """Per metric, the value of each included seed (None where missing)."""
    entries = runs.entries(stem, model)
    return {column: [None if e is None else value(e) for e in entries] for column, (value, _) in METRICS.items()}


def model_table(runs: Runs) -> pd.DataFrame:
    """One row per model: each metric as mean ± std over seeds with n ("1 seed" alone), plus
    the Inception rows' N and reference (biased when N < 2048)."""
    rows = {}
    for stem, model in models(runs):
        values = model_values(runs, stem, model)
        row = {column: stats.cell(stats.summarize(values[column]), digits) for column, (_, digits) in METRICS.items()}
        inception = next((records.final_fid(e, "inception") for e in runs.entries(stem, model) if e), None)
        row["Inception N / ref"] = (f"{inception['n']} vs {inception['ref']}" + (" (biased)" if inception.get("biased") else "")
                                    if inception else "—")
        classifier = next((records.final_fid(e, "classifier") for e in runs.entries(stem, model) if e), None)
        row["classifier N / ref"] = f"{classifier['n']} vs {classifier['ref']}" if classifier else "—"
        rows[f"{stem[:2]} {model}"] = row
    columns = list(dict.fromkeys(QUALITY_COLUMNS + DIVERSITY_COLUMNS))   # also with no model at all
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)


def aggregated(runs: Runs) -> dict:
    """The numbers behind ``model_table`` for summary.metrics.json: model -> metric -> summary."""
    return {f"{stem}/{model}": {column: stats.summarize(values) for column, values in model_values(runs, stem, model).items()}
            for stem, model in models(runs)}


# ----------------------------------------------------------------------------- the report's claims

def _entry_values(runs: Runs, stem: str, model: str, value) -> list:
    return [None if e is None else value(e) for e in runs.entries(stem, model)]


def _early_fid(entry: dict) -> float | None:
    """Mean classifier FID over the evaluations in the first quarter of training (how fast a run learns)."""
    curve = gan_study.fid_curve(records.fid_rows(entry))
    if not curve:
        return None
    quarter = math.ceil(max(r["epoch"] for r in curve) / 4)
    early = [r["value"] for r in curve if r["epoch"] <= quarter]
    return float(np.mean(early))


def _fid_drop(entry: dict) -> float | None:
    halving = gan_study.fid_halving(records.fid_rows(entry))
    return None if halving["ratio"] is None else halving["first"] - halving["last"]


def _entropy(entry: dict) -> float | None:
    return (records.class_coverage(entry) or {}).get("entropy")


def _claim(claim: str, measurement: str, interval: dict, verdict: str, unit: str = "", signed: bool = True) -> dict:
    return {"claim": claim, "measurement": measurement, "n": interval["n"],
            "estimate [95% CI]": stats.interval_text(interval, signed=signed) + unit, "verdict": verdict,
            "interval": interval}


def claims(runs: Runs) -> list[dict]:
    """The original report's claims, each with the statistic that tests it over the seeds."""
    rows = []
    clf = lambda e: records.final_value(e, "classifier")  # noqa: E731
    kl8, kl14 = "controlvae_kl8", "controlvae_kl14"
    if "02_controlvae" in runs.records:
        fid8, fid14 = (_entry_values(runs, "02_controlvae", m, clf) for m in (kl8, kl14))
        d = stats.paired_difference(fid14, fid8)
        rows.append(_claim("KL 8 gives a better (lower) FID than KL 14 (report: 80.65 vs 136.79)",
                           "classifier FID(KL 14) − FID(KL 8), paired over seeds", d, stats.verdict(d, "positive")))
        for target, model in ((8.0, kl8), (14.0, kl14)):
            kl = _entry_values(runs, "02_controlvae", model, lambda e: e.get("achieved_kl"))
            s = stats.summarize(kl)
            rows.append(_claim(f"the KL settles at the set point {target:g}",
                               f"achieved KL (mean of the last 10 % of steps), within ±{KL_TOLERANCE} nats of {target:g}",
                               s, stats.within(s, target - KL_TOLERANCE, target + KL_TOLERANCE), " nats", signed=False))
        recon8, recon14 = (_entry_values(runs, "02_controlvae", m, lambda e: e.get("test_recon")) for m in (kl8, kl14))
        d = stats.paired_difference(recon8, recon14)
        rows.append(_claim("the higher set point (14) gives the lower reconstruction loss",
                           "test reconstruction(KL 8) − (KL 14), nats, paired", d, stats.verdict(d, "positive")))
    if "03_gan_pixelshuffle" in runs.records and "04_wgan" in runs.records:
        gan, wgan = ("03_gan_pixelshuffle", "gan"), ("04_wgan", "wgan")
        d = stats.paired_difference(_entry_values(runs, *gan, _early_fid), _entry_values(runs, *wgan, _early_fid))
        rows.append(_claim("the WGAN learns faster than the GAN",
                           "mean classifier FID over the first quarter of training, GAN − WGAN, paired", d,
                           stats.verdict(d, "positive")))
        d = stats.paired_difference(_entry_values(runs, *wgan, _entropy), _entry_values(runs, *gan, _entropy))
        rows.append(_claim("the WGAN's samples are more diverse",
                           "entropy of the final samples' predicted digits (bits), WGAN − GAN, paired", d,
                           stats.verdict(d, "positive")))
        recall = lambda e: records.fidelity_diversity(e, "recall")  # noqa: E731
        d = stats.paired_difference(_entry_values(runs, *wgan, recall), _entry_values(runs, *gan, recall))
        if d["n"]:
            rows.append(_claim("the WGAN's samples are more diverse",
                               "recall (k = 3, classifier features: the share of real digits the samples reach), "
                               "WGAN − GAN, paired", d, stats.verdict(d, "positive")))
        d = stats.paired_difference(_entry_values(runs, *gan, clf), _entry_values(runs, *wgan, clf))
        rows.append(_claim("the WGAN ends better than the GAN", "final classifier FID, GAN − WGAN, paired", d,
                           stats.verdict(d, "positive")))
    if "05_ssgan" in runs.records:
        d = stats.summarize(_entry_values(runs, "05_ssgan", "ssgan", _fid_drop))
        rows.append(_claim("the SS-GAN does not train",
                           "SS-GAN classifier FID, first − last evaluation (a drop > 0 means it trains)", d,
                           stats.verdict(d, "negative")))
    return rows


def claims_table(runs: Runs) -> pd.DataFrame:
    return pd.DataFrame([{k: v for k, v in row.items() if k != "interval"} for row in claims(runs)])


# ----------------------------------------------------------------------------- figures

def plot_headline_fids(runs: Runs, features: str = "classifier"):
    """The final FID of every model as a bar (mean over seeds) with error bars (std)."""
    labels, means, stds = [], [], []
    for stem, model in models(runs):
        s = stats.summarize(_entry_values(runs, stem, model, lambda e: records.final_value(e, features)))
        if s["mean"] is not None:
            labels.append(f"{stem[:2]} {model}")
            means.append(s["mean"])
            stds.append(s["std"] or 0.0)
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(labels) + 1.5))
    if not labels:
        return _nothing_to_show(fig, ax, "no notebook has a finished run to show")
    ax.barh(range(len(labels)), means, xerr=stds, color="C0", capsize=3)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set(xlabel=f"final {features} FID (log scale; bar: mean, line: std over {len(runs.seeds)} seed(s))",
           title=f"{features} FID of every model")
    fig.tight_layout()
    return fig


def _nothing_to_show(fig, ax, text: str):
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def plot_gan_curves(runs: Runs, features: str = "classifier"):
    """FID over training of the three GANs: the mean over seeds with a ± std band."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (stem, model) in enumerate((("03_gan_pixelshuffle", "gan"), ("04_wgan", "wgan"), ("05_ssgan", "ssgan"))):
        curves = [gan_study.fid_curve(records.fid_rows(e), features) for e in runs.entries(stem, model) if e]
        by_epoch = {}
        for curve in curves:
            for row in curve:
                by_epoch.setdefault(row["epoch"], []).append(row["value"])
        if not by_epoch:
            continue
        epochs = sorted(by_epoch)
        mean = np.array([np.mean(by_epoch[e]) for e in epochs])
        std = np.array([np.std(by_epoch[e], ddof=1) if len(by_epoch[e]) > 1 else 0.0 for e in epochs])
        ax.plot(epochs, mean, marker="o", markersize=3, color=f"C{i}", label=f"{model} ({len(curves)} seed(s))")
        ax.fill_between(epochs, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    if not ax.lines:
        return _nothing_to_show(fig, ax, "no GAN notebook has a finished run to show")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel=f"{features} FID (mean ± std over seeds)", title="the GANs over training")
    ax.legend()
    fig.tight_layout()
    return fig


def sample_thumbnails(runs: Runs, count: int = 36) -> dict:
    """{label: the first ``count`` exported samples} of every model with exported samples, from
    the lowest included seed of its notebook."""
    thumbnails = {}
    for stem, model in models(runs):
        seed = min(runs.records.get(stem, {}), default=None)
        images = None if seed is None else records.exported_samples(runs.profile, stem, seed, model, count)
        if images is not None:
            thumbnails[f"{stem[:2]} {model} (seed {seed})"] = images
    return thumbnails


def plot_thumbnails(thumbnails: dict, per_row: int = 5):
    """The thumbnails as small square grids, ``per_row`` to a figure row (None without any)."""
    if not thumbnails:
        return None
    side = int(math.sqrt(max(len(images) for images in thumbnails.values())))
    return plots.show_grids(thumbnails, nrow=side, size=2.6, per_row=per_row)

