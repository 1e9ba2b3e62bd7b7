"""The shapes the registry of claims (``claims``) is written in, how one of its measures is read on
one seed (``read``), and each shape's canonical description (``canonical``: what the registry's
digest is taken of).

A ``Measure`` is one number per seed, read from the metrics records: from one model
(``value``), or from two models of the same seed (``difference`` a - b, or ``log ratio``
log(a / b)), so that comparisons are paired by seed; ``text`` is shown, never tested. Its
``Side``s state the basis of what they read (N, reference set, features): two models pair only on
the same basis. A side may also read its standard error of measurement (``se``) and the generator
steps it was read at (``steps``).

A test says which result supports a claim (``verdicts`` reads each with its p-values):

- ``Sign()``: the measure is > 0: supported when its 95 % interval lies above 0, contradicted
  when below; with the claim's ``Margin``, "contradicted at the declared size" when the interval
  lies wholly below the smallest effect that would count as the claim's (``stats.verdict_with_margin``).
- ``Band(low, high)``: it lies in [low, high] (the interval inside; contradicted wholly outside).
- ``Criterion``: conditions on the parts of a claim of several measures (``Condition``: one part's
  interval wholly above or below a bound), joined by "all" or "any", one set for "supported" and
  one for "contradicted". "all" is an intersection-union test (Berger 1982, Technometrics 24:
  each condition tested at alpha, the largest p); "any" a union of tests, Bonferroni-corrected
  (k times the smallest p over its k conditions).
- ``Describe()``: shown, never judged; no verdict and no place in the Holm family.
"""
import math
from dataclasses import dataclass, field
from typing import Callable

from nbhelpers.report import records

FORMS = ("value", "difference", "log ratio", "text")


@dataclass(frozen=True)
class Side:
    """One model's number: ``value(entry, record)`` (None when not measured), and optionally
    ``basis`` (the text that must match for two models to pair), ``se`` (its standard error of
    measurement on the seed) and ``steps`` (the generator steps it was read at)."""
    stem: str
    model: str
    value: Callable
    basis: Callable | None = None
    missing: str = ""          # why a record may lack the value (printed when none has it)
    se: Callable | None = None
    steps: Callable | None = None


@dataclass(frozen=True)
class Measure:
    label: str                 # what it is, in words
    sides: tuple               # one Side ("value", "text") or two ("difference", "log ratio")
    form: str = "difference"
    digits: int = 2
    unit: str = ""

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"unknown form {self.form!r}; expected one of {FORMS}")


@dataclass(frozen=True)
class Margin:
    """The smallest effect, on the measure's scale (a log for a log ratio) and in the predicted
    direction, that would count as the claim's: below it, the claim is "contradicted at the
    declared size"."""
    size: float
    reason: str


@dataclass(frozen=True)
class Caveat:
    """A second measure that may explain the primary one (e.g. fidelity behind coverage): when the
    claim is supported and this measure's interval lies wholly above 0 too, the verdict says ``says``."""
    measure: Measure
    says: str


@dataclass(frozen=True)
class Sign:
    supports: str = "> 0"


@dataclass(frozen=True)
class Band:
    low: float
    high: float

    @property
    def supports(self) -> str:
        return f"inside [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Condition:
    part: int                  # which primary measure
    side: str                  # "above" or "below": the interval wholly on that side of the bound
    bound: float

    def __post_init__(self):
        if self.side not in ("above", "below"):
            raise ValueError(f"a condition's side is 'above' or 'below', got {self.side!r}")


@dataclass(frozen=True)
class Criterion:
    supported: tuple           # Conditions
    supported_join: str        # "all" or "any"
    contradicted: tuple
    contradicted_join: str
    supports: str              # in words


@dataclass(frozen=True)
class Describe:
    supports: str = "descriptive only: no verdict"


@dataclass(frozen=True)
class Claim:
    key: str
    text: str                  # the claim in English, as the report makes it
    source: str                # "report", or "project" (a question of this project, not the report's)
    primary: tuple             # its Measure (several parts only for a Criterion)
    test: object               # Sign, Band, Criterion or Describe
    why: str                   # one sentence: why this measurement
    descriptive: tuple = ()    # Measures shown beside it, never judged
    margin: Margin | None = None
    caveat: Caveat | None = None
    note: str = ""             # said with its verdict
    seeds: str = "the evaluation seeds, paired by seed"

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(f"{s.stem}/{s.model}" for m in self.primary for s in m.sides))

    @property
    def measurement(self) -> str:
        return "; ".join(m.label for m in self.primary)

    @property
    def tested(self) -> bool:
        """Whether the claim gets a verdict (and a place in the Holm family)."""
        return not isinstance(self.test, Describe)


@dataclass(frozen=True)
class Untestable:
    """A statement of the report that no row tests here, and why."""
    statement: str
    reason: str


# ----------------------------------------------------------------------------- the digest's content

def _name(reader: Callable | None) -> str | None:
    return None if reader is None else reader.__name__


def _measure(m: Measure) -> dict:
    return {"label": m.label, "form": m.form, "sides": [
        {"stem": s.stem, "model": s.model, "value": _name(s.value), "basis": _name(s.basis), "se": _name(s.se),
         "steps": _name(s.steps)} for s in m.sides]}


def _test(test) -> dict:
    if isinstance(test, Criterion):
        conditions = lambda cs: [[c.part, c.side, c.bound] for c in cs]  # noqa: E731
        return {"type": "Criterion", "supported": conditions(test.supported), "supported_join": test.supported_join,
                "contradicted": conditions(test.contradicted), "contradicted_join": test.contradicted_join}
    if isinstance(test, Band):
        return {"type": "Band", "low": test.low, "high": test.high}
    return {"type": type(test).__name__}


def canonical(claim: Claim) -> dict:
    """What defines a claim's verdict: key, text, source, measurements (labels, forms, the sides'
    stems, models and reader names), the test and its bounds, the margin, the caveat and the
    descriptive measures' labels. Reasons and notes are prose: they may be reworded."""
    return {"key": claim.key, "text": claim.text, "source": claim.source,
            "primary": [_measure(m) for m in claim.primary], "test": _test(claim.test),
            "margin": None if claim.margin is None else claim.margin.size,
            "caveat": None if claim.caveat is None else _measure(claim.caveat.measure),
            "descriptive": [m.label for m in claim.descriptive]}


# ----------------------------------------------------------------------------- one measure on one seed

@dataclass
class Reading:
    """A measure on one seed: the number (None when not measured), its basis, its standard error
    of measurement (None unless every side reads one), the generator steps of its sides, and what
    was absent."""
    value: object = None
    basis: str | None = None
    se: float | None = None
    steps: list = field(default_factory=list)
    absent: list = field(default_factory=list)    # "stem/model" without a record on this seed
    missing: list = field(default_factory=list)   # why a present record gave no value


def _combined_se(form: str, values: list, ses: list) -> float | None:
    """The measure's standard error from its sides' (independent errors): se_a for a value,
    sqrt(se_a^2 + se_b^2) for a difference, and for a log ratio by the delta method
    sqrt((se_a / a)^2 + (se_b / b)^2) (var log X ~ var X / X^2)."""
    if form == "text" or None in ses:
        return None
    if form == "log ratio":
        return math.sqrt(sum((se / value) ** 2 for se, value in zip(ses, values)))
    return math.sqrt(sum(se ** 2 for se in ses))


def read(measure: Measure, by_stem: dict) -> Reading:
    """``measure`` on one seed; ``by_stem`` maps a notebook to its record of that seed."""
    values, bases, ses, reading = [], [], [], Reading()
    for side in measure.sides:
        record = by_stem.get(side.stem)
        entry = records.model(record, side.model)
        if entry is None:
            reading.absent.append(f"{side.stem}/{side.model}")
            return reading
        value = side.value(entry, record)
        if value is None:
            reading.missing.append(side.missing or f"{side.stem}/{side.model}: not measured")
            return reading
        values.append(value)
        bases.append(side.basis(entry, record) if side.basis else None)
        ses.append(side.se(entry, record) if side.se else None)
        steps = side.steps(entry, record) if side.steps else None
        if steps is not None and steps not in reading.steps:
            reading.steps.append(steps)
    if len(set(bases)) > 1:   # e.g. two N or two references: not comparable
        reading.missing.append("measured on different bases: " + " vs ".join(map(str, bases)))
        return reading
    if measure.form == "log ratio" and not all(v > 0 for v in values):
        reading.missing.append(f"{measure.label}: a value ≤ 0 has no log ratio (an unbiased KID can be ≤ 0)")
        return reading
    reading.basis = bases[0]
    if measure.form in ("value", "text"):
        reading.value = values[0]
    elif measure.form == "difference":
        reading.value = values[0] - values[1]
    else:
        reading.value = math.log(values[0] / values[1])
    reading.se = _combined_se(measure.form, values, ses)
    return reading
