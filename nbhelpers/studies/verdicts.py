"""The claims of the registry (``claims``) tested one by one over the evaluation seeds of the
collected records (``collect``), each as a typed result (``ClaimResult``), never a tuning seed.

    results = verdicts.evaluate_registry(collected)   # one ClaimResult per claim, registry order
    results[0].verdict, results[0].verdict_holm       # the two verdicts
    results[0].record()                               # as summary.metrics.json holds it

Each claim gets two verdicts. The first from its 95 % interval alone (``stats``: supported when
the interval lies on the side the claim predicts). The second adjusted for the number m of
claims in the registry by Holm's step-down rule: with the p-values matched to those intervals
sorted p_(1) <= ... <= p_(m), claim (k) keeps its verdict while p_(j) < 0.05 / (m - j + 1) for
every j <= k (``stats.holm``), so that the chance of any false verdict among the m is at most
5 %. The p-value of a claim is that of the test behind its verdict: the paired t-test's two-sided
p for a sign, two one-sided tests (TOST) for a band, and for a criterion of several parts the
intersection-union rule (the largest part's p when all parts must hold, the smallest when any
one suffices).

A result holds every field under the name its record gives it (``field`` metadata ``key`` where
that name is no identifier); a field added to ``ClaimResult`` or ``MeasureResult`` reaches
summary.metrics.json by itself.
"""
import math
from dataclasses import dataclass, field, fields, replace

from nbhelpers.studies import claims as registry, stats
from nbhelpers.studies.collect import Collected

ALPHA = 1 - stats.CONFIDENCE
SHOWN = {"key": "estimate [95% CI]"}   # the record's name of the ``shown`` fields


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
    difference of two models of one seed), for a text measure each seed's text. A field with
    metadata ``form`` is recorded for that form only ("text", or "number" for every other)."""

    measurement: str                   # the measure's label
    form: str                          # registry.Measure.form
    seeds: list
    n: int
    basis: list
    absent: list                       # "stem/model" without a record on some seed
    missing: list                      # why a present record gave no value
    values: list | None = field(default=None, metadata={"form": "text"})
    interval: dict | None = field(default=None, metadata={"form": "number"})   # stats.summarize
    estimate: float | None = field(default=None, metadata={"form": "number"})
    low: float | None = field(default=None, metadata={"form": "number"})
    high: float | None = field(default=None, metadata={"form": "number"})
    half_width: float | None = field(default=None, metadata={"form": "number"})
    shown: str = field(default="—", metadata=SHOWN)   # the estimate [95 % interval], or each seed's text
    resolvable: str = field(default="", metadata={"form": "number"})   # what these seeds resolve at their spread

    def record(self) -> dict:
        form = "text" if self.form == "text" else "number"
        return {f.metadata.get("key", f.name): _recorded(getattr(self, f.name)) for f in fields(self)
                if f.metadata.get("form", form) == form}


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    """One claim over the evaluation seeds: the claim as the registry states it, its primary
    measurement (``parts``, several for a criterion; the estimate and interval are the first
    part's), the p-values, the verdict and the Holm-adjusted one, the descriptive measures."""

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
    half_width: float | None
    shown: str = field(metadata=SHOWN)
    resolvable: str                    # the half-width of each part that has one, as text
    parts: list                        # a MeasureResult per primary measure
    p_support: float | None            # p for "supported", matched to the 95 % interval
    p_contradict: float | None
    p: float | None                    # the smaller of the two: the p of the verdict's direction
    supports_direction: str | None     # "supported" or "contradicted": the direction p is for
    verdict: str
    note: str
    not_measured_because: list = field(metadata={"key": "not measured because"})
    descriptive: list                  # a MeasureResult per descriptive measure, never judged
    interval: dict | None
    p_holm: float | None = None        # set by evaluate_registry, over the whole registry
    holm_family: int | None = None
    verdict_holm: str | None = None
    verdict_text: str = ""             # the verdict, with the claim's note

    def record(self) -> dict:
        """The result as summary.metrics.json holds it (the index reads it from there)."""
        return {f.metadata.get("key", f.name): _recorded(getattr(self, f.name)) for f in fields(self)}


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


def measure(collected: Collected, m: registry.Measure) -> MeasureResult:
    """One measure over the evaluation seeds: its values, the seeds that had one, its summary
    (mean, 95 % interval; paired when it is a difference of two models of one seed), the bases
    it was read on, and why seeds lack a value."""
    seeds, values, bases, absent, missing = [], [], [], [], []
    for seed in collected.evaluation_seeds:
        reading = registry.read(m, {stem: by_seed.get(seed) for stem, by_seed in collected.records.items()})
        absent += [a for a in reading.absent if a not in absent]
        missing += [w for w in reading.missing if w not in missing]
        if reading.value is not None:
            seeds.append(seed)
            values.append(reading.value)
            if reading.basis and reading.basis not in bases:
                bases.append(reading.basis)
    common = dict(measurement=m.label, form=m.form, seeds=seeds, n=len(seeds), basis=bases, absent=absent,
                  missing=missing)
    if m.form == "text":
        return MeasureResult(**common, values=values,
                             shown=" · ".join(f"seed {s}: {v}" for s, v in zip(seeds, values)) or "—")
    summary = stats.summarize(values)
    half = stats.half_width(summary)
    return MeasureResult(**common, interval=summary, estimate=summary["mean"], low=summary["low"],
                         high=summary["high"], half_width=half, shown=_shown(m, summary),
                         resolvable=_resolvable(m, half))


def _p_values(claim: registry.Claim, parts: list[MeasureResult]) -> tuple:
    """(p for "supported", p for "contradicted"), each matched to the 95 % intervals (``stats``)."""
    test, intervals = claim.test, [part.interval for part in parts]
    if isinstance(test, registry.Sign):
        return stats.p_above(intervals[0]), stats.p_below(intervals[0])
    if isinstance(test, registry.Band):
        return stats.p_inside(intervals[0], test.low, test.high), stats.p_outside(intervals[0], test.low, test.high)
    # Criterion: contradicted when every part lies below its bound (intersection-union: all must
    # hold, so the largest p; none without every part); supported when any part lies above (the smallest).
    below = [stats.p_below(s, bound) for s, bound in zip(intervals, test.bounds)]
    above = [p for p in (stats.p_above(s, bound) for s, bound in zip(intervals, test.bounds)) if p is not None]
    return (min(above) if above else None), (None if None in below else max(below))


def evaluate(collected: Collected, claim: registry.Claim) -> ClaimResult:
    """One claim over the evaluation seeds: measurement, seeds, n, estimate, interval and
    half-width, p-values and the unadjusted verdict (``evaluate_registry`` adds the Holm-adjusted one)."""
    parts = [measure(collected, m) for m in claim.primary]
    n = min((part.n for part in parts if part.n), default=0)   # a criterion may resolve on one part
    seeds = sorted(set().union(*(part.seeds for part in parts)))
    p_support, p_contradict = _p_values(claim, parts) if n else (None, None)
    if not collected.evaluation_seeds:
        verdict = "no evaluation seed (tuning seeds are not used in verdicts)"
    elif n == 0:
        verdict = "no records" if any(part.absent for part in parts) and not any(part.missing for part in parts) \
            else "not measured"
    else:
        verdict = stats.decide(p_support, p_contradict, n, ALPHA)
    p = min((q for q in (p_support, p_contradict) if q is not None), default=None)
    first = parts[0]
    why_empty = sorted({f"no records of {a}" for part in parts for a in part.absent} |
                       {w for part in parts for w in part.missing})
    return ClaimResult(
        key=claim.key, claim=claim.text, source=claim.source, measurement=claim.measurement,
        supported_when=claim.test.supports, why=claim.why, models=claim.models, seeds_compared=claim.seeds,
        seeds=seeds, n=n, basis=[b for part in parts for b in part.basis],
        estimate=first.estimate, low=first.low, high=first.high, half_width=first.half_width,
        shown="; ".join(part.shown for part in parts),
        resolvable="; ".join(part.resolvable for part in parts if part.resolvable),
        parts=parts, p_support=p_support, p_contradict=p_contradict, p=p,
        supports_direction=None if p is None else ("supported" if p == p_support else "contradicted"),
        verdict=verdict, note=claim.note, not_measured_because=why_empty,
        descriptive=[measure(collected, m) for m in claim.descriptive], interval=first.interval,
        verdict_text=verdict + (f" ({claim.note})" if claim.note else ""))


def _holm_adjusted(result: ClaimResult, p_holm: float, family: int) -> ClaimResult:
    """``result`` with its verdict adjusted by Holm over the ``family`` claims (``stats.holm``)."""
    if result.p is None and not result.verdict.startswith("not resolved"):
        verdict_holm = result.verdict          # no records / not measured / no evaluation seed
    else:
        support = p_holm if result.supports_direction == "supported" else None
        contradict = p_holm if result.supports_direction == "contradicted" else None
        verdict_holm = stats.decide(support, contradict, result.n, ALPHA)
    return replace(result, p_holm=p_holm, holm_family=family, verdict_holm=verdict_holm)


def evaluate_registry(collected: Collected) -> list[ClaimResult]:
    """Every claim of the registry, evaluated, with its verdict adjusted by Holm over all m claims
    of the registry (a claim with nothing to test counts in m as p = 1)."""
    results = [evaluate(collected, claim) for claim in registry.REGISTRY]
    adjusted = stats.holm([result.p for result in results], ALPHA)
    return [_holm_adjusted(result, p_holm, len(results)) for result, p_holm in zip(results, adjusted)]
