"""The cross-notebook summary (notebook 06): every model over every seed, and the claims of the
registry (``claims``) tested one by one. It reads metrics records only (``records``), never models.

    runs = summary.collect(profile, seeds)      # the comparable records, and what was left out
    summary.declared(runs)                      # the profile's deviations from the report, its seeds
    summary.claims_table(runs)                  # claim, measurement, n and seeds, 95 % interval, verdicts
    summary.claims_view(runs)                   # that table as notebook 06 shows it, a row id per claim
    summary.descriptive_table(runs)             # the other measurements beside each claim, never judged
    summary.model_table(runs)                   # mean ± std over seeds per model and metric
    summary.record(metrics, runs)               # all of it into summary.metrics.json

A record joins only when its run finished and when its parameters (other than the seed, and
the explorations a profile runs for its first evaluation seed only) and code version (git
commit) match those of the other seeds of the same notebook; the others are listed by name in
``runs.excluded`` and left out, never mixed in. The profile's tuning seeds (those its settings
were chosen on) may be collected and are shown, labelled, in the model table; no verdict uses
them: the claims read the evaluation seeds only.

Each claim gets two verdicts. The first from its 95 % interval alone (``stats``: supported when
the interval lies on the side the claim predicts). The second adjusted for the number m of
claims in the registry by Holm's step-down rule: with the p-values matched to those intervals
sorted p_(1) <= ... <= p_(m), claim (k) keeps its verdict while p_(j) < 0.05 / (m - j + 1) for
every j <= k (``stats.holm``), so that the chance of any false verdict among the m is at most
5 %. The p-value of a claim is that of the test behind its verdict: the paired t-test's two-sided
p for a sign, two one-sided tests (TOST) for a band, and for a criterion of several parts the
intersection-union rule (the largest part's p when all parts must hold, the smallest when any
one suffices).
"""
import math
from dataclasses import dataclass, field

import jinja2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from nbhelpers import paths
from nbhelpers.report import config, plots, records
from nbhelpers.report.config import check_seeds
from nbhelpers.studies import claims as registry, gan_study, stats

IGNORED_PARAMS = ("seed", "profile", "device")   # what may differ between seeds of one notebook
ALPHA = 1 - stats.CONFIDENCE
TUNING_LABEL = "tuning seed, not used in verdicts"


@dataclass
class Runs:
    """The records of one profile: ``records[stem][seed]``, the seeds collected, what was left
    out, and what the profile declares (``config.declarations``)."""

    profile: str
    records: dict = field(default_factory=dict)
    seeds: list = field(default_factory=list)
    excluded: list = field(default_factory=list)
    tuning_seeds: list = field(default_factory=list)
    deviations: list = field(default_factory=list)
    later_seeds: dict = field(default_factory=dict)
    first_seed_only: list = field(default_factory=list)
    declared_in: str = ""

    @property
    def evaluation_seeds(self) -> list:
        """The seeds a verdict may use: every collected seed but the tuning seeds."""
        return [seed for seed in self.seeds if seed not in self.tuning_seeds]

    def entries(self, stem: str, model: str) -> list:
        """The model's entry in each seed's record (None where a seed lacks it), seed order."""
        by_seed = self.records.get(stem, {})
        return [records.model(by_seed.get(seed), model) for seed in self.seeds]


def _ignored(stem: str, later_seeds: dict) -> set:
    """Parameters that may differ between seeds of ``stem``: the seed, profile and device, and
    the explorations its profile switches off after the first evaluation seed."""
    return set(IGNORED_PARAMS) | set(later_seeds.get(stem, {}))


def _signature(record: dict, ignored=IGNORED_PARAMS) -> tuple:
    """What must match between seeds: the parameters (but the ``ignored``), the code version,
    and the classifier weights that the classifier-feature numbers were measured with."""
    params = {k: v for k, v in (record.get("params") or {}).items() if k not in ignored}
    return tuple(sorted((k, repr(v)) for k, v in params.items())), record.get("git_commit"), _classifier(record)


def _classifier(record: dict) -> str | None:
    return ((record.get("feature_extractors") or {}).get("classifier") or {}).get("sha256")


def _difference(record: dict, reference: dict, ignored=IGNORED_PARAMS) -> str:
    ours, theirs = record.get("params") or {}, reference.get("params") or {}
    changed = [f"{k} {ours.get(k)!r} vs {theirs.get(k)!r}" for k in sorted(set(ours) | set(theirs))
               if k not in ignored and ours.get(k) != theirs.get(k)]
    if record.get("git_commit") != reference.get("git_commit"):
        changed.append(f"code version {record.get('git_commit')} vs {reference.get('git_commit')}")
    if _classifier(record) != _classifier(reference):
        changed.append(f"classifier weights {_classifier(record)} vs {_classifier(reference)}")
    return "; ".join(changed)


def collect(profile: str, seeds=None, tuning_seeds=None) -> Runs:
    """The finished, mutually comparable records of every study notebook for ``seeds`` (default:
    every seed folder present). Per notebook the most common (parameters, code version) among
    its seeds is the reference (ties: the lowest seed's); other records are excluded by name.
    ``tuning_seeds`` (default: the profile's declared ones) are collected but kept out of verdicts."""
    declared = config.declarations(profile)
    seeds = sorted(check_seeds(list(seeds), "seeds")) if seeds else records.seeds_present(profile)
    tuning = declared["tuning_seeds"] if tuning_seeds is None else list(tuning_seeds)
    runs = Runs(profile, seeds=list(seeds), tuning_seeds=[s for s in tuning], deviations=declared["deviations"],
                later_seeds=declared["later_seeds"], first_seed_only=declared["first_seed_only"],
                declared_in=declared["source"])
    for stem in paths.STUDY_NOTEBOOKS:
        ignored = _ignored(stem, runs.later_seeds)
        found = {}
        for seed in seeds:
            try:
                record = records.read(records.record_path(profile, stem, seed))
            except records.DamagedRecord as damaged:
                runs.excluded.append(f"{stem}, seed {seed}: {damaged}")
                continue
            if record is None:
                continue
            if record.get("status") != "ok":
                runs.excluded.append(f"{stem}, seed {seed}: status {record.get('status')!r}, not ok")
                continue
            if wrong := records.misplaced(record, profile, stem, seed):
                runs.excluded.append(f"{stem}, seed {seed}: {wrong}")
                continue
            if twin := next((s for s, r in found.items() if _same_run(r, record)), None):
                runs.excluded.append(f"{stem}, seed {seed}: the same numbers as seed {twin} (a copy of its run)")
                continue
            found[seed] = record
        if not found:
            continue
        signatures = [_signature(r, ignored) for r in found.values()]
        reference = max(signatures, key=lambda s: (signatures.count(s), -signatures.index(s)))
        first = next(r for r in found.values() if _signature(r, ignored) == reference)
        for seed, record in list(found.items()):
            if _signature(record, ignored) != reference:
                runs.excluded.append(f"{stem}, seed {seed}: {_difference(record, first, ignored)} "
                                     f"(the other seeds' value last)")
                del found[seed]
        runs.records[stem] = found
    return runs


def _same_run(one: dict, other: dict) -> bool:
    """Whether two records of a batch hold one run: the same environment and models' numbers,
    timings included (two seeds never give equal ones)."""
    return records.run_identity(one) is not None and records.run_identity(one) == records.run_identity(other)


# ----------------------------------------------------------------------------- what the profile declares

def seed_labels(runs: Runs) -> list[str]:
    """One line per collected seed, the tuning seeds labelled."""
    return [f"seed {seed}" + (f": {TUNING_LABEL}" if seed in runs.tuning_seeds else "") for seed in runs.seeds]


def declared(runs: Runs) -> str:
    """The profile's deviations from the report (with their reasons), its seeds and the
    explorations it runs for the first evaluation seed only, as text for the top of notebook 06."""
    lines = [f"Deviations from the original report (declared in {runs.declared_in}):"]
    lines += [f"  - {d['deviation']}. Why: {d['reason']}." for d in runs.deviations] or ["  none declared"]
    lines.append(f"Evaluation seeds (the verdicts use these only): {runs.evaluation_seeds or 'none'}; "
                 f"tuning seeds (settings chosen on them): {runs.tuning_seeds or 'none'}")
    lines += ["  " + line for line in seed_labels(runs)]
    if runs.first_seed_only:
        lines.append(f"Run for the first evaluation seed only (no claim reads them): {', '.join(runs.first_seed_only)}")
    if runs.later_seeds:
        lines.append("Explorations run for the first evaluation seed only (the other seeds: these values):")
        lines += [f"  {stem}: " + ", ".join(f"{k} = {v!r}" for k, v in values.items())
                  for stem, values in runs.later_seeds.items()]
    return "\n".join(lines)


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


def _kid(features: str):
    """The final KID when it was measured in ``features`` (each feature space its own column)."""
    def value(entry):
        row = records.kid(entry)
        return row.get("mean") if row and row.get("features") == features else None
    return value


METRICS = {   # column -> (value of one entry, digits)
    "classifier FID": (lambda e: records.final_value(e, "classifier"), 2),
    "classifier KID": (_kid("classifier"), 4),
    "Inception FID": (lambda e: records.final_value(e, "inception"), 1),
    "Inception KID": (_kid("inception"), 4),
    "digits covered": (lambda e: (records.class_coverage(e) or {}).get("covered"), 1),
    "largest digit share": (records.largest_share, 3),
    "precision": (lambda e: records.fidelity_diversity(e, "precision"), 3),
    "recall": (lambda e: records.fidelity_diversity(e, "recall"), 3),
    "density": (lambda e: records.fidelity_diversity(e, "density"), 3),
    "coverage": (lambda e: records.fidelity_diversity(e, "coverage"), 3),
    "training s": (_training_seconds, 0),
}


QUALITY_COLUMNS = ["classifier FID", "classifier KID", "classifier N / ref", "Inception FID", "Inception KID",
                   "Inception N / ref"]
DIVERSITY_COLUMNS = ["digits covered", "largest digit share", "precision", "recall", "density", "coverage", "training s"]


def model_values(runs: Runs, stem: str, model: str) -> dict:
    """Per metric, the value of each collected seed (None where missing)."""
    entries = runs.entries(stem, model)
    return {column: [None if e is None else value(e) for e in entries] for column, (value, _) in METRICS.items()}


def model_table(runs: Runs) -> pd.DataFrame:
    """One row per model: each metric as mean ± std over the collected seeds (tuning seeds
    included, as ``seed_labels`` says) with n ("1 seed" alone), plus each feature space's N and
    reference (its FID and KID share them)."""
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


def _entry_values(runs: Runs, stem: str, model: str, value) -> list:
    return [None if e is None else value(e) for e in runs.entries(stem, model)]


def aggregated(runs: Runs) -> dict:
    """The numbers behind ``model_table`` for summary.metrics.json: model -> metric -> summary."""
    return {f"{stem}/{model}": {column: stats.summarize(values) for column, values in model_values(runs, stem, model).items()}
            for stem, model in models(runs)}


# ----------------------------------------------------------------------------- the claims

def _shown(m: registry.Measure, summary: dict) -> str:
    """The estimate and its 95 % interval as text; a log ratio as the ratio (exp of each end)."""
    if m.form != "log ratio":
        return stats.interval_text(summary, m.digits, signed=m.form != "value") + \
            (m.unit if summary["mean"] is not None else "")
    if summary["mean"] is None:
        return "—"
    ratio = lambda v: f"×{math.exp(v):.{m.digits}f}"  # noqa: E731
    if summary["low"] is None:
        return f"{ratio(summary['mean'])} (1 seed, no interval)"
    return f"{ratio(summary['mean'])} [{ratio(summary['low'])}, {ratio(summary['high'])}]"


def _resolvable(m: registry.Measure, half: float | None) -> str:
    """The half-width as the smallest difference these seeds resolve at their spread."""
    if half is None:
        return ""
    if m.form == "log ratio":
        return f"×/÷ {math.exp(half):.{m.digits}f}"
    return f"± {half:.{m.digits}f}{m.unit}"


def measure(runs: Runs, m: registry.Measure) -> dict:
    """One measure over the evaluation seeds: its values, the seeds that had one, its summary
    (mean, 95 % interval; paired when it is a difference of two models of one seed), the bases
    it was read on, and why seeds lack a value."""
    seeds, values, bases, absent, missing = [], [], [], [], []
    for seed in runs.evaluation_seeds:
        reading = registry.read(m, {stem: by_seed.get(seed) for stem, by_seed in runs.records.items()})
        absent += [a for a in reading.absent if a not in absent]
        missing += [w for w in reading.missing if w not in missing]
        if reading.value is not None:
            seeds.append(seed)
            values.append(reading.value)
            if reading.basis and reading.basis not in bases:
                bases.append(reading.basis)
    result = {"measurement": m.label, "form": m.form, "seeds": seeds, "n": len(seeds), "basis": bases,
              "absent": absent, "missing": missing}
    if m.form == "text":
        return {**result, "values": values,
                "estimate [95% CI]": " · ".join(f"seed {s}: {v}" for s, v in zip(seeds, values)) or "—"}
    summary = stats.summarize(values)
    half = stats.half_width(summary)
    return {**result, "interval": summary, "estimate": summary["mean"], "low": summary["low"],
            "high": summary["high"], "half_width": half, "estimate [95% CI]": _shown(m, summary),
            "resolvable": _resolvable(m, half)}


def _p_values(claim: registry.Claim, parts: list) -> tuple:
    """(p for "supported", p for "contradicted"), each matched to the 95 % intervals (``stats``)."""
    test, intervals = claim.test, [part["interval"] for part in parts]
    if isinstance(test, registry.Sign):
        return stats.p_above(intervals[0]), stats.p_below(intervals[0])
    if isinstance(test, registry.Band):
        return stats.p_inside(intervals[0], test.low, test.high), stats.p_outside(intervals[0], test.low, test.high)
    # Criterion: contradicted when every part lies below its bound (intersection-union: all must
    # hold, so the largest p; none without every part); supported when any part lies above (the smallest).
    below = [stats.p_below(s, bound) for s, bound in zip(intervals, test.bounds)]
    above = [p for p in (stats.p_above(s, bound) for s, bound in zip(intervals, test.bounds)) if p is not None]
    return (min(above) if above else None), (None if None in below else max(below))


def evaluate(runs: Runs, claim: registry.Claim) -> dict:
    """One claim over the evaluation seeds: measurement, seeds, n, estimate, interval and
    half-width, p-values and the unadjusted verdict (``claims`` adds the Holm-adjusted one)."""
    parts = [measure(runs, m) for m in claim.primary]
    n = min((part["n"] for part in parts if part["n"]), default=0)   # a criterion may resolve on one part
    seeds = sorted(set().union(*(part["seeds"] for part in parts)))
    p_support, p_contradict = _p_values(claim, parts) if n else (None, None)
    if not runs.evaluation_seeds:
        verdict = "no evaluation seed (tuning seeds are not used in verdicts)"
    elif n == 0:
        verdict = "no records" if any(part["absent"] for part in parts) and not any(part["missing"] for part in parts) \
            else "not measured"
    else:
        verdict = stats.decide(p_support, p_contradict, n, ALPHA)
    p = min((q for q in (p_support, p_contradict) if q is not None), default=None)
    first = parts[0]
    why_empty = sorted({f"no records of {a}" for part in parts for a in part["absent"]} |
                       {w for part in parts for w in part["missing"]})
    return {"key": claim.key, "claim": claim.text, "source": claim.source, "measurement": claim.measurement,
            "supported_when": claim.test.supports, "why": claim.why, "models": claim.models,
            "seeds_compared": claim.seeds, "seeds": seeds, "n": n,
            "basis": [b for part in parts for b in part["basis"]],
            "estimate": first.get("estimate"), "low": first.get("low"), "high": first.get("high"),
            "half_width": first.get("half_width"),
            "estimate [95% CI]": "; ".join(part["estimate [95% CI]"] for part in parts),
            "resolvable": "; ".join(part["resolvable"] for part in parts if part["resolvable"]),
            "parts": parts, "p_support": p_support, "p_contradict": p_contradict, "p": p,
            "supports_direction": None if p is None else ("supported" if p == p_support else "contradicted"),
            "verdict": verdict, "note": claim.note, "not measured because": why_empty,
            "descriptive": [measure(runs, m) for m in claim.descriptive], "interval": first.get("interval")}


def claims(runs: Runs) -> list[dict]:
    """Every claim of the registry, evaluated, with its verdict adjusted by Holm over all m claims
    of the registry (a claim with nothing to test counts in m as p = 1)."""
    rows = [evaluate(runs, claim) for claim in registry.REGISTRY]
    adjusted = stats.holm([row["p"] for row in rows], ALPHA)
    for row, p_holm in zip(rows, adjusted):
        row["p_holm"], row["holm_family"] = p_holm, len(rows)
        if row["p"] is None and not row["verdict"].startswith("not resolved"):
            row["verdict_holm"] = row["verdict"]          # no records / not measured / no evaluation seed
        else:
            support = p_holm if row["supports_direction"] == "supported" else None
            contradict = p_holm if row["supports_direction"] == "contradicted" else None
            row["verdict_holm"] = stats.decide(support, contradict, row["n"], ALPHA)
        note = f" ({row['note']})" if row["note"] else ""
        row["verdict_text"] = row["verdict"] + note
    return rows


def _n_and_seeds(row: dict) -> str:
    return f"{row['n']}: seeds {', '.join(map(str, row['seeds']))}" if row["seeds"] else "0"


def _measurement_text(row: dict) -> str:
    basis = f" [{'; '.join(row['basis'])}]" if row["basis"] else ""
    return f"{row['measurement']}{basis}; supports the claim: {row['supported_when']}"


def claims_table(runs: Runs, rows: list[dict] | None = None) -> pd.DataFrame:
    """One row per claim: the claim, its primary measurement (basis: N, reference, features),
    n and seeds, the estimate with its 95 % interval, the verdict, the Holm-adjusted verdict,
    and for a claim not resolved the half-width (what n seeds could resolve at this spread)."""
    rows = claims(runs) if rows is None else rows
    m = len(rows)
    table = [{"claim": row["claim"], "primary measurement": _measurement_text(row), "n and seeds": _n_and_seeds(row),
              "estimate [95% CI]": row["estimate [95% CI]"], "verdict": row["verdict_text"],
              f"Holm-adjusted verdict ({m} claims)": row["verdict_holm"],
              "half-width (not resolved)": row["resolvable"] if row["verdict"].startswith("not resolved") else
              ("; ".join(row["not measured because"]) if row["n"] == 0 else "")}
             for row in rows]
    return pd.DataFrame(table)


def claim_anchor(key: str) -> str:
    """The id of a claim's row in summary.html, which the profile's index links to."""
    return f"claim-{key}"


# pandas' table template, each body row's <tr> given its (hidden) index label as its id; the
# cells as pandas writes them.
_ROW_IDS = """{% extends "html_table.tpl" %}
{% block tr %}
    <tr id="{{ r[0].value }}">
{% for c in r %}{% if c.is_visible != False %}
      <{{c.type}} {%- if c.id is defined %} id="T_{{uuid}}_{{c.id}}" {%- endif %} class="{{c.class}}" {{c.attributes}}>{{c.display_value}}</{{c.type}}>
{% endif %}{% endfor %}
    </tr>
{% endblock tr %}
"""


class RowIdStyler(Styler):
    """A ``Styler`` whose body rows carry their index label as their id (a link target)."""

    env = jinja2.Environment(loader=jinja2.ChoiceLoader([jinja2.DictLoader({"row_ids.tpl": _ROW_IDS}), Styler.loader]),
                             trim_blocks=True)
    template_html_table = env.get_template("row_ids.tpl")


def claims_view(runs: Runs, rows: list[dict] | None = None) -> Styler:
    """``claims_table`` as notebook 06 shows it: no index column, each row's id its claim's
    anchor (``claim_anchor``), and the row a link opened highlighted."""
    rows = claims(runs) if rows is None else rows
    table = claims_table(runs, rows).set_axis([claim_anchor(row["key"]) for row in rows])
    return RowIdStyler(table).hide(axis="index").format(escape="html").set_table_styles(
        [{"selector": "tr:target td", "props": "background-color: #fff3bf;"}])


def descriptive_table(runs: Runs, rows: list[dict] | None = None) -> pd.DataFrame:
    """The other measurements beside each claim, over the same evaluation seeds: shown, never judged."""
    rows = claims(runs) if rows is None else rows
    table = [{"claim": row["claim"], "descriptive measurement": d["measurement"] + (f" [{'; '.join(d['basis'])}]"
                                                                                    if d["basis"] else ""),
              "n and seeds": _n_and_seeds(d), "estimate [95% CI]": d["estimate [95% CI]"]}
             for row in rows for d in row["descriptive"]]
    return pd.DataFrame(table, columns=["claim", "descriptive measurement", "n and seeds", "estimate [95% CI]"])


def record(metrics, runs: Runs, rows: list[dict] | None = None) -> dict:
    """Write the summary into its metrics record (``summary.metrics.json``): the seeds (evaluation
    and tuning), the profile's deviations and first-seed-only explorations, the records used and
    left out, the model aggregates and every claim (measurement, seeds, n, estimate, interval,
    half-width, p-values, both verdicts)."""
    rows = claims(runs) if rows is None else rows
    metrics.data.update(seeds=runs.seeds, evaluation_seeds=runs.evaluation_seeds, tuning_seeds=runs.tuning_seeds,
                        deviations=runs.deviations, later_seeds=runs.later_seeds, first_seed_only=runs.first_seed_only,
                        declared_in=runs.declared_in,
                        notebooks={stem: sorted(s) for stem, s in runs.records.items()}, excluded=runs.excluded,
                        aggregated=aggregated(runs), holm_family=len(rows), claims=rows)
    metrics.write()
    return metrics.data


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

