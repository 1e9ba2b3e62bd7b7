"""The cross-notebook summary (notebook 06): every model over every seed, and the claims of the
registry with their verdicts, as tables, figures and the summary's record. It reads metrics
records only (``collect``), never models; the verdicts are ``verdicts``'.

    collected = collect.collect(profile, seeds)           # the comparable records, and what was left out
    results = verdicts.evaluate_registry(collected)       # every claim tested, both verdicts
    summary.declared(collected)                           # the profile's deviations from the report, its seeds, the registry
    summary.claims_table(collected, results)              # claim, measurement, n and seeds, 95 % interval, verdicts,
                                                          # declared size, power, noise, generator steps
    summary.margins_table(results)                        # each comparison's declared size, and why
    summary.untestable_table()                            # the report's statements no row tests, and why
    summary.claims_view(collected, results)               # that table as notebook 06 shows it, a row id per claim
    summary.descriptive_table(collected, results)         # the other measurements beside each claim, never judged
    summary.model_table(collected)                        # mean ± std over seeds per model and metric
    summary.record(metrics, collected, results)           # all of it into summary.metrics.json
"""
import math
import warnings

import jinja2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from nbhelpers.notes import ReportNote
from nbhelpers.report import plots, records
from nbhelpers.studies import claims as registry, gan_study, stats
from nbhelpers.studies.collect import Collected
from nbhelpers.studies.verdicts import ClaimResult, MeasureResult, evaluate_registry

TUNING_LABEL = "tuning seed, not used in verdicts"
EXPLORATORY_LABEL = "exploratory seed (seen before the claims' registry was fixed), not used in verdicts"

# ----------------------------------------------------------------------------- what the profile declares

def seed_labels(collected: Collected) -> list[str]:
    """One line per collected seed, the tuning and exploratory seeds labelled."""
    return [f"seed {seed}" + (f": {TUNING_LABEL}" if seed in collected.tuning_seeds else
                              f": {EXPLORATORY_LABEL}" if seed in collected.exploratory_seeds else "")
            for seed in collected.seeds]


def registry_line() -> str:
    """Which registry the verdicts read: its version, digest and the seeds each version was confirmed on."""
    versions = "; ".join(f"version {v}: {info['profile']} seeds {', '.join(map(str, info['seeds']))}, {info['status']}"
                         for v, info in registry.VERSIONS.items())
    return (f"Claims registry version {registry.REGISTRY_VERSION} (nbhelpers/studies/claims.py), sha256 "
            f"{registry.registry_digest()}. {versions}.")


def declared(collected: Collected) -> str:
    """The profile's deviations from the report (with their reasons), its seeds and the
    explorations it runs for the first evaluation seed only, and the registry, as text for the top of notebook 06."""
    lines = [f"Deviations from the original report (declared in {collected.declared_in}):"]
    lines += [f"  - {d['deviation']}. Why: {d['reason']}." for d in collected.deviations] or ["  none declared"]
    lines.append(f"Evaluation seeds (the verdicts use these only): {collected.evaluation_seeds or 'none'}; "
                 f"tuning seeds (settings chosen on them): {collected.tuning_seeds or 'none'}; exploratory seeds "
                 f"(seen before the registry was fixed): {collected.exploratory_seeds or 'none'}")
    lines += ["  " + line for line in seed_labels(collected)]
    if collected.first_seed_only:
        lines.append(f"Run for the first evaluation seed only (no verdict reads them): {', '.join(collected.first_seed_only)}")
    if collected.later_seeds:
        lines.append("Explorations run for the first evaluation seed only (the other seeds: these values):")
        lines += [f"  {stem}: " + ", ".join(f"{k} = {v!r}" for k, v in values.items())
                  for stem, values in collected.later_seeds.items()]
    lines.append(registry_line())
    return "\n".join(lines)


# ----------------------------------------------------------------------------- every model

def models(collected: Collected) -> list[tuple[str, str]]:
    """(stem, model) of every model with a final FID in any included record, notebook order."""
    listed = []
    for stem, by_seed in collected.records.items():
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


def model_values(collected: Collected, stem: str, model: str) -> dict:
    """Per metric, the value of each collected seed (None where missing)."""
    entries = collected.entries(stem, model)
    return {column: [None if e is None else value(e) for e in entries] for column, (value, _) in METRICS.items()}


def model_table(collected: Collected) -> pd.DataFrame:
    """One row per model: each metric as mean ± std over the collected seeds (tuning seeds
    included, as ``seed_labels`` says) with n ("1 seed" alone), plus each feature space's N and
    reference (its FID and KID share them)."""
    rows = {}
    for stem, model in models(collected):
        values = model_values(collected, stem, model)
        row = {column: stats.cell(stats.summarize(values[column]), digits) for column, (_, digits) in METRICS.items()}
        inception = next((records.final_fid(e, "inception") for e in collected.entries(stem, model) if e), None)
        row["Inception N / ref"] = (f"{inception['n']} vs {inception['ref']}" + (" (biased)" if inception.get("biased") else "")
                                    if inception else "—")
        classifier = next((records.final_fid(e, "classifier") for e in collected.entries(stem, model) if e), None)
        row["classifier N / ref"] = f"{classifier['n']} vs {classifier['ref']}" if classifier else "—"
        rows[f"{stem[:2]} {model}"] = row
    columns = list(dict.fromkeys(QUALITY_COLUMNS + DIVERSITY_COLUMNS))   # also with no model at all
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)


def _entry_values(collected: Collected, stem: str, model: str, value) -> list:
    return [None if e is None else value(e) for e in collected.entries(stem, model)]


def aggregated(collected: Collected) -> dict:
    """The numbers behind ``model_table`` for summary.metrics.json: model -> metric -> summary."""
    return {f"{stem}/{model}": {column: stats.summarize(values) for column, values in model_values(collected, stem, model).items()}
            for stem, model in models(collected)}


def _n_and_seeds(result: ClaimResult | MeasureResult) -> str:
    return f"{result.n}: seeds {', '.join(map(str, result.seeds))}" if result.seeds else "0"


def _measurement_text(result: ClaimResult) -> str:
    basis = f" [{'; '.join(result.basis)}]" if result.basis else ""
    return f"{result.measurement}{basis}; supports the claim: {result.supported_when}"


def _noise_text(result: ClaimResult) -> str:
    """Each part's share of the seeds' paired variance that measurement noise explains, as text
    (above 100 %: the noise alone would spread the seeds more than they spread)."""
    shares = [share for share in result.noise_share if share is not None]
    return "; ".join("all of it (the seeds do not vary)" if math.isinf(share) else
                     f"{share:.0%}" if share <= 10 else f"{share:.3g} times it" for share in shares)


def claims_table(collected: Collected, results: list[ClaimResult] | None = None) -> pd.DataFrame:
    """One row per claim: the claim, its primary measurement (basis: N, reference, features),
    n and seeds, the estimate with its 95 % interval, the verdict, the Holm-adjusted verdict, the
    declared smallest effect, the effect n seeds detect with 80 % power at the observed spread
    (unadjusted; at Holm's first step), the share of the seeds' variance that measurement noise
    explains, the generator steps a GAN claim was read at, and why a claim has no value."""
    results = evaluate_registry(collected) if results is None else results
    m = next((r.holm_family for r in results if r.holm_family), len(registry.TESTED))
    table = [{"claim": r.claim, "primary measurement": _measurement_text(r), "n and seeds": _n_and_seeds(r),
              "estimate [95% CI]": r.shown, "verdict": r.verdict_text,
              f"Holm-adjusted verdict ({m} claims)": r.verdict_holm,
              "declared size (below: contradicted)": r.margin_shown,
              "detectable at 80 % power (Holm)": r.detectable,
              "measurement noise / seed variance": _noise_text(r),
              "generator steps": r.length,
              "not measured because": "; ".join(r.not_measured_because) if r.n == 0 else ""}
             for r in results]
    return pd.DataFrame(table)


def margins_table(results: list[ClaimResult]) -> pd.DataFrame:
    """Each comparison's declared smallest effect, on the scale shown, and why that size."""
    return pd.DataFrame([{"claim": r.claim, "declared size": r.margin_shown, "why this size": r.margin_reason}
                         for r in results if r.margin_shown], columns=["claim", "declared size", "why this size"])


def untestable_table() -> pd.DataFrame:
    """The report's statements that no row tests here (``claims.NOT_TESTABLE``), and why."""
    return pd.DataFrame([{"the report's statement": u.statement, "why no row tests it here": u.reason}
                         for u in registry.NOT_TESTABLE])


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


def claims_view(collected: Collected, results: list[ClaimResult] | None = None) -> Styler:
    """``claims_table`` as notebook 06 shows it: no index column, each row's id its claim's
    anchor (``claim_anchor``), and the row a link opened highlighted."""
    results = evaluate_registry(collected) if results is None else results
    table = claims_table(collected, results).set_axis([claim_anchor(r.key) for r in results])
    return RowIdStyler(table).hide(axis="index").format(escape="html").set_table_styles(
        [{"selector": "tr:target td", "props": "background-color: #fff3bf;"}])


def descriptive_table(collected: Collected, results: list[ClaimResult] | None = None) -> pd.DataFrame:
    """The other measurements beside each claim, over the same evaluation seeds: shown, never judged."""
    results = evaluate_registry(collected) if results is None else results
    table = [{"claim": r.claim, "descriptive measurement": d.measurement + (f" [{'; '.join(d.basis)}]" if d.basis else ""),
              "n and seeds": _n_and_seeds(d), "estimate [95% CI]": d.shown}
             for r in results for d in r.descriptive]
    return pd.DataFrame(table, columns=["claim", "descriptive measurement", "n and seeds", "estimate [95% CI]"])


def record(metrics, collected: Collected, results: list[ClaimResult] | None = None) -> dict:
    """Write the summary into its metrics record (``summary.metrics.json``): the seeds (evaluation,
    tuning, exploratory), the profile's deviations and first-seed-only explorations, the records used and
    left out, the model aggregates and every claim (``ClaimResult.record``: measurement, seeds, n,
    estimate, interval, half-width, declared size, power, p-values, both verdicts), the registry's
    version and digest, and the statements no row tests."""
    results = evaluate_registry(collected) if results is None else results
    metrics.data.update(registry_version=registry.REGISTRY_VERSION, registry_digest=registry.registry_digest(),
                        registry_versions={str(v): info for v, info in registry.VERSIONS.items()},
                        seeds=collected.seeds, evaluation_seeds=collected.evaluation_seeds,
                        tuning_seeds=collected.tuning_seeds, exploratory_seeds=collected.exploratory_seeds,
                        deviations=collected.deviations,
                        later_seeds=collected.later_seeds, first_seed_only=collected.first_seed_only,
                        declared_in=collected.declared_in,
                        notebooks={stem: sorted(s) for stem, s in collected.records.items()},
                        excluded=collected.excluded, aggregated=aggregated(collected),
                        holm_family=len(registry.TESTED), claims=[r.record() for r in results],
                        not_testable=[{"statement": u.statement, "reason": u.reason} for u in registry.NOT_TESTABLE])
    metrics.write()
    return metrics.data


# ----------------------------------------------------------------------------- figures

def plot_headline_fids(collected: Collected, features: str = "classifier"):
    """The final FID of every model as a bar (mean over seeds) with error bars (std)."""
    labels, means, stds = [], [], []
    for stem, model in models(collected):
        s = stats.summarize(_entry_values(collected, stem, model, lambda e: records.final_value(e, features)))
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
    ax.set(xlabel=f"final {features} FID (log scale; bar: mean, line: std over {len(collected.seeds)} seed(s))",
           title=f"{features} FID of every model")
    fig.tight_layout()
    return fig


def _nothing_to_show(fig, ax, text: str):
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def plot_gan_curves(collected: Collected, features: str = "classifier"):
    """FID over training of the three GANs: the mean over seeds with a ± std band."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (stem, model) in enumerate((("03_gan_pixelshuffle", "gan"), ("04_wgan", "wgan"), ("05_ssgan", "ssgan"))):
        curves = [gan_study.fid_curve(records.fid_rows(e), features) for e in collected.entries(stem, model) if e]
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


def sample_thumbnails(collected: Collected, count: int = 36) -> dict:
    """{label: the first ``count`` exported samples} of every model with exported samples, from
    the lowest included seed of its notebook; a samples file that cannot be read is left out,
    named in a note."""
    thumbnails = {}
    for stem, model in models(collected):
        seed = min(collected.records.get(stem, {}), default=None)
        try:
            images = None if seed is None else records.exported_samples(collected.profile, stem, seed, model, count,
                                                                     collected.dry_run)
        except records.DamagedSamples as damaged:
            warnings.warn(f"left out of the thumbnails: {damaged}", ReportNote, stacklevel=2)
            continue
        if images is not None:
            thumbnails[f"{stem[:2]} {model} (seed {seed})"] = images
    return thumbnails


def plot_thumbnails(thumbnails: dict, per_row: int = 5):
    """The thumbnails as small square grids, ``per_row`` to a figure row (None without any)."""
    if not thumbnails:
        return None
    side = int(math.sqrt(max(len(images) for images in thumbnails.values())))
    return plots.show_grids(thumbnails, nrow=side, size=2.6, per_row=per_row)

