"""The claims of the registry (``claims``) tested one by one over the evaluation seeds of the
collected records (``collect``), each as a typed result (``ClaimResult``), never a tuning or
exploratory seed.

    results = verdicts.evaluate_registry(collected)   # one ClaimResult per claim, registry order
    results[0].verdict, results[0].verdict_holm       # the two verdicts
    results[0].record()                               # as summary.metrics.json holds it

Each tested claim gets two verdicts. The first from its 95 % interval alone (``stats``):
supported when the interval lies on the side the claim predicts, contradicted when on the
other, and for a comparison with a declared smallest effect (``claim_shapes.Margin``)
"contradicted at the declared size" when it lies wholly below that effect
(``stats.decide_with_margin``). The second adjusted for the number m of tested claims by Holm's
step-down rule (``stats.holm``), so that the chance of any false verdict among the m is at most
5 %. The p-value a claim brings to the family is that of the test behind its verdict: for a
sign, the paired t-test's one-sided p's doubled (matched to the 95 % interval: ``stats.p_above``,
``p_below``, ``p_smaller_than``); for a band, two one-sided tests (TOST); for a criterion, per
condition set, the largest p when all conditions must hold (an intersection-union test) and k
times the smallest when any one of k suffices (Bonferroni). A claim against the report that
enters the family through its declared size keeps the stronger "contradicted" after Holm only
when its p for the sign, scaled as the family scaled its p, is below 0.05 too.

Beside the verdicts, per primary measure: the effect n seeds detect with 80 % power at the
observed spread, unadjusted and at Holm's first step (``stats.minimum_detectable_effect``),
the share of the seeds' paired variance that measurement noise explains where the sides read a
standard error (``stats.noise_share``; it takes the two sides' errors as independent, so where
both sample sets share their latent draws and reference images and err together, it is
overstated), and the generator steps a GAN number was read at.

A result holds every field under the name its record gives it (``field`` metadata ``key`` where
that name is no identifier); a field added to ``ClaimResult`` or ``MeasureResult`` reaches
summary.metrics.json by itself. A log ratio's ``estimate``, ``low`` and ``high`` are the ratio
(as shown), its ``interval``, ``half_width``, ``mde`` and margin the natural logs that were tested
(``scale`` says which).
"""
import math
from dataclasses import dataclass, field, fields, replace

from nbhelpers.studies import claim_readers, claim_shapes as shapes, claims as registry, facts, stats
from nbhelpers.studies.collect import Collected

ALPHA = 1 - stats.CONFIDENCE
POWER = 0.80
SHOWN = {"key": "estimate [95% CI]"}   # the record's name of the ``shown`` fields
LOG_SCALE = "log ratio: interval, half_width, mde and the margin in natural logs; estimate, low, high as the ratio"
NO_EVALUATION_SEED = "no evaluation seed (tuning and exploratory seeds are not used in verdicts)"
AGAINST = ("contradicted", "contradicted at the declared size")


def _recorded(value):
    """A field's value as a record holds it: results as their records, lists element-wise."""
    if isinstance(value, MeasureResult):
        return value.record()
    if isinstance(value, list):
        return [_recorded(element) for element in value]
    return value


@dataclass(frozen=True, kw_only=True)
class MeasureResult:
    """One measure over the evaluation seeds: the seeds that had a value, the bases it was read on,
    why seeds lack a value, and for a number its summary (mean, 95 % interval; paired when it is a
    difference or ratio of two models of one seed), for a text measure each seed's text. A field
    with metadata ``form`` is recorded for that form only ("text", or "number" for every other)."""

    measurement: str                   # the measure's label
    form: str                          # claim_shapes.Measure.form
    seeds: list
    n: int
    basis: list
    absent: list                       # "stem/model" without a record on some seed
    missing: list                      # why a present record gave no value
    generator_steps: list              # the generator steps its GAN numbers were read at
    values: list | None = field(default=None, metadata={"form": "text"})
    interval: dict | None = field(default=None, metadata={"form": "number"})   # stats.summarize of the tested values
    scale: str = field(default="as measured", metadata={"form": "number"})
    estimate: float | None = field(default=None, metadata={"form": "number"})
    low: float | None = field(default=None, metadata={"form": "number"})
    high: float | None = field(default=None, metadata={"form": "number"})
    half_width: float | None = field(default=None, metadata={"form": "number"})
    mde: float | None = field(default=None, metadata={"form": "number"})        # 80 % power, alpha 0.05
    mde_holm: float | None = field(default=None, metadata={"form": "number"})   # 80 % power, Holm's first step
    detectable: str = field(default="", metadata={"form": "number"})            # both, as text
    noise_share: float | None = field(default=None, metadata={"form": "number"})
    shown: str = field(default="—", metadata=SHOWN)   # the estimate [95 % interval], or each seed's text

    def record(self) -> dict:
        form = "text" if self.form == "text" else "number"
        return {f.metadata.get("key", f.name): _recorded(getattr(self, f.name)) for f in fields(self)
                if f.metadata.get("form", form) == form}


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    """One claim over the evaluation seeds: the claim as the registry states it, its primary
    measurement (``parts``, several for a criterion; the estimate and interval are the first
    part's), its declared smallest effect, the p-values, the verdict and the Holm-adjusted one,
    the power, noise and length beside them, the descriptive measures."""

    key: str
    claim: str
    source: str
    measurement: str
    supported_when: str
    why: str
    models: list
    seeds_compared: str
    seeds: list
    n: int
    basis: list
    estimate: float | None
    low: float | None
    high: float | None
    scale: str
    half_width: float | None
    shown: str = field(metadata=SHOWN)
    margin: float | None               # the declared smallest effect, on the tested scale
    margin_shown: str                  # as text, on the shown scale
    margin_reason: str
    detectable: str                    # each part's effect detectable at 80 % power (unadjusted; Holm)
    noise_share: list                  # each part's share of the paired variance that measurement noise explains
    generator_steps: list              # the generator steps its GAN numbers were read at
    report_share: list                 # their share of the report's
    length: str                        # both, as text
    parts: list                        # a MeasureResult per primary measure
    p_support: float | None            # p for "supported", matched to the 95 % interval
    p_contradict: float | None
    p_smaller: float | None            # p for "smaller than the declared size"
    p: float | None                    # the p the claim brings to the Holm family
    supports_direction: str | None     # "supported" or "contradicted": the direction p is for
    verdict: str
    caveat: str                        # what may explain a supported result instead
    note: str
    not_measured_because: list = field(metadata={"key": "not measured because"})
    descriptive: list                  # a MeasureResult per descriptive measure, never judged
    interval: dict | None
    p_holm: float | None = None        # set by evaluate_registry, over the tested claims
    holm_family: int | None = None
    verdict_holm: str | None = None
    verdict_text: str = ""             # the verdict, with the caveat and the claim's note

    def record(self) -> dict:
        """The result as summary.metrics.json holds it (the index reads it from there)."""
        return {f.metadata.get("key", f.name): _recorded(getattr(self, f.name)) for f in fields(self)}


# ----------------------------------------------------------------------------- as text

def _on_scale(m: shapes.Measure, value: float, signed: bool = False) -> str:
    """A tested value as shown: a log ratio as its ratio, anything else with the measure's unit
    (three significant digits from 1,000 up: the power of two seeds can be that large)."""
    shown = math.exp(min(value, 700.0)) if m.form == "log ratio" else value
    digits = ".3g" if abs(shown) >= 1000 else f".{m.digits}f"
    if m.form == "log ratio":
        return f"×{shown:{digits}}"
    return f"{shown:{'+' if signed else ''}{digits}}{m.unit}"


def _shown(m: shapes.Measure, summary: dict) -> str:
    """The estimate and its 95 % interval as text; a log ratio as the ratio (exp of each end)."""
    if m.form != "log ratio":
        return stats.interval_text(summary, m.digits, signed=m.form != "value") + \
            (m.unit if summary["mean"] is not None else "")
    if summary["mean"] is None:
        return "—"
    if summary["low"] is None:
        return f"{_on_scale(m, summary['mean'])} (1 seed, no interval)"
    return f"{_on_scale(m, summary['mean'])} [{_on_scale(m, summary['low'])}, {_on_scale(m, summary['high'])}]"


def _length(steps: list) -> str:
    """"1,872 generator steps, 1.33 % of the report's 140,550 (1/75)"."""
    if not steps:
        return ""
    report = facts.REPORT_GAN_GENERATOR_STEPS
    counts = " and ".join(f"{s:,}" for s in sorted(steps))
    shares = " and ".join(f"{100 * claim_readers.report_share(s):.2f} % (1/{report / s:.0f})" for s in sorted(steps) if s)
    return f"{counts} generator steps, {shares} of the report's {report:,}"


# ----------------------------------------------------------------------------- one measure

def measure(collected: Collected, m: shapes.Measure, family: int | None = None) -> MeasureResult:
    """One measure over the evaluation seeds: its values, the seeds that had one, its summary
    (mean, 95 % interval; paired when it compares two models of one seed), the bases it was read
    on, why seeds lack a value, the generator steps; with ``family`` (the number of tested claims)
    also the effect detectable at 80 % power and the share of measurement noise."""
    seeds, values, ses, bases, absent, missing, steps = [], [], [], [], [], [], []
    for seed in collected.evaluation_seeds:
        reading = shapes.read(m, {stem: by_seed.get(seed) for stem, by_seed in collected.records.items()})
        absent += [a for a in reading.absent if a not in absent]
        missing += [w for w in reading.missing if w not in missing]
        steps += [s for s in reading.steps if s not in steps]
        if reading.value is not None:
            seeds.append(seed)
            values.append(reading.value)
            ses.append(reading.se)
            if reading.basis and reading.basis not in bases:
                bases.append(reading.basis)
    common = dict(measurement=m.label, form=m.form, seeds=seeds, n=len(seeds), basis=bases, absent=absent,
                  missing=missing, generator_steps=sorted(steps))
    if m.form == "text":
        return MeasureResult(**common, values=values,
                             shown=" · ".join(f"seed {s}: {v}" for s, v in zip(seeds, values)) or "—")
    summary = stats.summarize(values)
    low, high = summary["low"], summary["high"]
    ratio = m.form == "log ratio"
    shown_value = (lambda v: None if v is None else math.exp(v)) if ratio else (lambda v: v)  # noqa: E731
    power = {}
    if family:
        mde = stats.minimum_detectable_effect(summary["std"], summary["n"], ALPHA, POWER)
        mde_holm = stats.minimum_detectable_effect(summary["std"], summary["n"], stats.holm_first_step_alpha(family),
                                                   POWER)
        detectable = "" if mde is None else \
            f"{_on_scale(m, mde)} (Holm over {family}: {_on_scale(m, mde_holm)})"
        power = dict(mde=mde, mde_holm=mde_holm, detectable=detectable,
                     noise_share=stats.noise_share(ses, [0.0] * len(ses), values))
    return MeasureResult(**common, interval=summary, scale=LOG_SCALE if ratio else "as measured",
                         estimate=shown_value(summary["mean"]), low=shown_value(low), high=shown_value(high),
                         half_width=stats.half_width(summary), shown=_shown(m, summary), **power)


# ----------------------------------------------------------------------------- one claim

def _condition_p(summary: dict, condition: shapes.Condition) -> float | None:
    test = stats.p_above if condition.side == "above" else stats.p_below
    return test(summary, condition.bound)


def _joined(p_values: list, join: str) -> float | None:
    """"all": the largest p (intersection-union; None unless every condition has one); "any": k
    times the smallest of the k conditions' (Bonferroni), capped at 1."""
    if join == "all":
        return None if not p_values or None in p_values else max(p_values)
    known = [p for p in p_values if p is not None]
    return min(1.0, len(p_values) * min(known)) if known else None


def _p_values(claim: shapes.Claim, parts: list[MeasureResult]) -> tuple:
    """(p for "supported", p for "contradicted", p for "smaller than the declared size")."""
    test, intervals = claim.test, [part.interval for part in parts]
    if isinstance(test, shapes.Sign):
        smaller = None if claim.margin is None else stats.p_smaller_than(intervals[0], claim.margin.size)
        return stats.p_above(intervals[0]), stats.p_below(intervals[0]), smaller
    if isinstance(test, shapes.Band):
        return (stats.p_inside(intervals[0], test.low, test.high),
                stats.p_outside(intervals[0], test.low, test.high), None)
    support = _joined([_condition_p(intervals[c.part], c) for c in test.supported], test.supported_join)
    contradict = _joined([_condition_p(intervals[c.part], c) for c in test.contradicted], test.contradicted_join)
    return support, contradict, None


def _family_p(verdict: str, p_support, p_contradict, p_smaller) -> tuple:
    """(the p the claim brings to the Holm family, its direction): that of the test behind its
    verdict; unresolved, the smaller of its two directions'."""
    against = p_smaller if p_smaller is not None else p_contradict
    if verdict == "supported":
        return p_support, "supported"
    if verdict in AGAINST:
        return against, "contradicted"
    candidates = [(p, d) for p, d in ((p_support, "supported"), (against, "contradicted")) if p is not None]
    return min(candidates, key=lambda c: c[0]) if candidates else (None, None)


def evaluate(collected: Collected, claim: shapes.Claim, family: int | None = None) -> ClaimResult:
    """One claim over the evaluation seeds: measurement, seeds, n, estimate, interval, power,
    p-values and the unadjusted verdict (``evaluate_registry`` adds the Holm-adjusted one)."""
    family = family or len(registry.TESTED)
    parts = [measure(collected, m, family if claim.tested else None) for m in claim.primary]
    n = min((part.n for part in parts if part.n), default=0)   # a criterion may resolve on one part
    seeds = sorted(set().union(*(part.seeds for part in parts)))
    p_support, p_contradict, p_smaller = _p_values(claim, parts) if n and claim.tested else (None, None, None)
    if not collected.evaluation_seeds:
        verdict = NO_EVALUATION_SEED
    elif n == 0:
        verdict = "no records" if any(part.absent for part in parts) and not any(part.missing for part in parts) \
            else "not measured"
    elif not claim.tested:
        verdict = claim.test.supports
    else:
        verdict = stats.decide_with_margin(p_support, p_contradict, p_smaller, n, ALPHA)
    p, direction = _family_p(verdict, p_support, p_contradict, p_smaller)
    caveat = ""
    if claim.caveat is not None and verdict == "supported":
        check = measure(collected, claim.caveat.measure)
        caveat = claim.caveat.says if check.interval and (check.interval["low"] or 0) > 0 else ""
    first, margin = parts[0], claim.margin
    steps = sorted({s for part in parts for s in part.generator_steps})
    why_empty = sorted({f"no records of {a}" for part in parts for a in part.absent} |
                       {w for part in parts for w in part.missing})
    return ClaimResult(
        key=claim.key, claim=claim.text, source=claim.source, measurement=claim.measurement,
        supported_when=claim.test.supports, why=claim.why, models=claim.models, seeds_compared=claim.seeds,
        seeds=seeds, n=n, basis=[b for part in parts for b in part.basis],
        estimate=first.estimate, low=first.low, high=first.high, scale=first.scale, half_width=first.half_width,
        shown="; ".join(part.shown for part in parts),
        margin=None if margin is None else margin.size,
        margin_shown="" if margin is None else _on_scale(claim.primary[0], margin.size),
        margin_reason="" if margin is None else margin.reason,
        detectable="; ".join(part.detectable for part in parts if part.detectable),
        noise_share=[part.noise_share for part in parts], generator_steps=steps,
        report_share=[claim_readers.report_share(s) for s in steps], length=_length(steps),
        parts=parts, p_support=p_support, p_contradict=p_contradict, p_smaller=p_smaller, p=p,
        supports_direction=direction, verdict=verdict, caveat=caveat, note=claim.note,
        not_measured_because=why_empty, descriptive=[measure(collected, m) for m in claim.descriptive],
        interval=first.interval,
        verdict_text=verdict + "".join(f" ({text})" for text in (caveat, claim.note) if text))


def _holm_adjusted(result: ClaimResult, p_holm: float | None, family: int) -> ClaimResult:
    """``result`` with its verdict adjusted by Holm over the ``family`` tested claims (``stats.holm``)."""
    if result.p is None:      # nothing tested: no records, not measured, one seed, descriptive
        verdict_holm = result.verdict
    elif result.supports_direction == "supported":
        verdict_holm = stats.decide(p_holm, None, result.n, ALPHA)
    elif result.p_smaller is None:
        verdict_holm = stats.decide(None, p_holm, result.n, ALPHA)
    else:                     # against, through the declared size: the sign's p scaled as the family scaled it
        scale = p_holm / result.p if result.p > 0 else family
        contradict = None if result.p_contradict is None else min(1.0, result.p_contradict * scale)
        verdict_holm = stats.decide_with_margin(None, contradict, p_holm, result.n, ALPHA)
    return replace(result, p_holm=p_holm, holm_family=family, verdict_holm=verdict_holm)


def evaluate_registry(collected: Collected) -> list[ClaimResult]:
    """Every claim of the registry, evaluated, its verdict adjusted by Holm over the m tested
    claims (a tested claim with nothing to test counts in m as p = 1; a descriptive row is no
    member)."""
    family = len(registry.TESTED)
    results = [evaluate(collected, claim, family) for claim in registry.REGISTRY]
    tested = [i for i, claim in enumerate(registry.REGISTRY) if claim.tested]
    adjusted = dict(zip(tested, stats.holm([results[i].p for i in tested], ALPHA)))
    return [_holm_adjusted(result, adjusted.get(i), family) if i in adjusted else
            replace(result, verdict_holm=result.verdict) for i, result in enumerate(results)]
