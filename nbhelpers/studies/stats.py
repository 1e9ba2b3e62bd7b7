"""Numbers over training seeds: mean ± std, Student-t intervals, paired differences, verdicts.

With n seeds and values x_1..x_n: mean m, sample standard deviation s (divisor n - 1), and the
95 % confidence interval of the mean m ± t_{0.975, n-1} s / sqrt(n) (Student's t, since s is
estimated from the same few runs). A comparison of two models trained with the same seeds is
paired: d_i = a_i - b_i, and the interval is that of the mean of d. With n = 1 there is no
spread and no interval: a comparison is then "not resolved", whatever its sign.

p-values (for the Holm adjustment over many claims) are matched to those 95 % intervals: each
is below 0.05 exactly when the interval lies wholly on the side it tests (``p_below``,
``p_above``), so that a verdict read from p at 0.05 is the verdict read from the interval.
"""
import math

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95


def _values(values) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise ValueError(f"expected finite numbers, got {values!r}")
    return array


def summarize(values, confidence: float = CONFIDENCE) -> dict:
    """{"n", "mean", "std", "low", "high"} of the values (None entries skipped); std, low and
    high are None with fewer than two values."""
    x = _values(values)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "low": None, "high": None}
    if n == 1:
        return {"n": 1, "mean": float(x[0]), "std": None, "low": None, "high": None}
    mean, std = float(x.mean()), float(x.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "low": mean - half, "high": mean + half}


def paired_difference(a, b, confidence: float = CONFIDENCE) -> dict:
    """``summarize`` of a_i - b_i over the seeds both have (pairs with a None are dropped)."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    return summarize([x - y for x, y in pairs], confidence)


def verdict(interval: dict, expected: str = "positive") -> str:
    """What an interval says about a claim that predicts a ``positive`` (or ``negative``)
    quantity: "supported" when the whole interval has the predicted sign, "contradicted" when
    it has the other, else "not resolved with n seeds"."""
    n = interval["n"]
    if interval["low"] is None:
        return f"not resolved with {n} seed{'s' if n != 1 else ''}"
    sign = 1 if expected == "positive" else -1
    low, high = sorted((sign * interval["low"], sign * interval["high"]))
    if low > 0:
        return "supported"
    if high < 0:
        return "contradicted"
    return f"not resolved with {n} seeds"


def within(interval: dict, low: float, high: float) -> str:
    """Verdict on a claim that a quantity lies in [low, high]: "supported" when the interval does,
    "contradicted" when the interval lies wholly outside it, else "not resolved with n seeds"."""
    n = interval["n"]
    if interval["low"] is None:
        return f"not resolved with {n} seed{'s' if n != 1 else ''}"
    if low <= interval["low"] and interval["high"] <= high:
        return "supported"
    if interval["high"] < low or interval["low"] > high:
        return "contradicted"
    return f"not resolved with {n} seeds"


def cell(summary: dict, digits: int = 2) -> str:
    """A table cell: "12.34 ± 0.56 (n=3)", "12.34 (1 seed)" or "—"."""
    if summary["n"] == 0 or summary["mean"] is None:
        return "—"
    if summary["std"] is None:
        return f"{summary['mean']:.{digits}f} (1 seed)"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f} (n={summary['n']})"


def interval_text(summary: dict, digits: int = 2, signed: bool = True) -> str:
    """"+1.23 [+0.45, +2.01]" (the mean and its 95 % interval; ``signed`` for differences), or
    the mean alone with one seed."""
    if summary["mean"] is None:
        return "—"
    form = f"{'+' if signed else ''}.{digits}f"
    if summary["low"] is None:
        return f"{summary['mean']:{form}} (1 seed, no interval)"
    return f"{summary['mean']:{form}} [{summary['low']:{form}}, {summary['high']:{form}}]"


def half_width(summary: dict) -> float | None:
    """Half the interval's width, t_{0.975, n-1} s / sqrt(n): the smallest difference from a
    threshold that these n values, at their spread, can tell apart from it (None below n = 2)."""
    return None if summary["low"] is None else (summary["high"] - summary["low"]) / 2


def _one_sided(summary: dict, bound: float, side: str) -> float | None:
    """Student's one-sided p of H0 "mean >= bound" (``side`` "below") or "mean <= bound" ("above"),
    doubled and capped at 1: it is < 0.05 exactly when the two-sided 95 % interval lies wholly
    below (above) ``bound``, since U < bound <=> (m - bound) / (s / sqrt(n)) < -t_{0.975, n-1}.
    None below n = 2. A spread of zero gives 0 or 1 (a single point, on one side or not)."""
    n, mean, std = summary["n"], summary["mean"], summary["std"]
    if n < 2 or std is None:
        return None
    gap = mean - bound if side == "below" else bound - mean
    if std == 0:
        return 0.0 if gap < 0 else 1.0
    t = gap / (std / math.sqrt(n))
    return min(1.0, 2 * float(scipy_stats.t.cdf(t, n - 1)))


def p_below(summary: dict, bound: float = 0.0) -> float | None:
    """< 0.05 exactly when the 95 % interval lies wholly below ``bound`` (``_one_sided``)."""
    return _one_sided(summary, bound, "below")


def p_above(summary: dict, bound: float = 0.0) -> float | None:
    """< 0.05 exactly when the 95 % interval lies wholly above ``bound``."""
    return _one_sided(summary, bound, "above")


def p_two_sided(summary: dict, null: float = 0.0) -> float | None:
    """The paired t-test's two-sided p: 2 min(P(T <= t), P(T >= t)) = min(p_below, p_above)."""
    below, above = p_below(summary, null), p_above(summary, null)
    return None if below is None else min(below, above)


def p_inside(summary: dict, low: float, high: float) -> float | None:
    """Two one-sided tests (TOST) that the mean lies in [low, high]: the larger of "above low"
    and "below high" (both must hold), < 0.05 exactly when the 95 % interval lies inside."""
    above, below = p_above(summary, low), p_below(summary, high)
    return None if above is None else max(above, below)


def p_outside(summary: dict, low: float, high: float) -> float | None:
    """< 0.05 exactly when the 95 % interval lies wholly outside [low, high] (either side)."""
    below, above = p_below(summary, low), p_above(summary, high)
    return None if below is None else min(below, above)


def holm(p_values: list, alpha: float = 1 - CONFIDENCE) -> list:
    """Holm-Bonferroni adjusted p-values, in the given order, over the family of all ``p_values``
    (a None, a hypothesis with nothing to test, counts in the family as p = 1 and stays None).

    Sorted ascending p_(1) <= ... <= p_(m), the adjusted p_(k) = max_{j <= k} min(1, (m - j + 1) p_(j)):
    rejecting where it is < alpha is Holm's step-down rule (reject H_(k) while p_(j) < alpha /
    (m - j + 1) for every j <= k), which bounds the chance of any false verdict by alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: 1.0 if p_values[i] is None else p_values[i])
    adjusted, running = [None] * m, 0.0
    for rank, i in enumerate(order):
        p = 1.0 if p_values[i] is None else p_values[i]
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = None if p_values[i] is None else running
    return adjusted


def decide(p_support: float | None, p_contradict: float | None, n: int, alpha: float = 1 - CONFIDENCE) -> str:
    """The verdict from the two p-values of a claim (each tests one way of resolving it): "supported"
    when ``p_support`` < alpha, "contradicted" when ``p_contradict`` < alpha (the two cannot both
    be, as the interval cannot lie on both sides), else "not resolved with n seeds"."""
    if p_support is not None and p_support < alpha:
        return "supported"
    if p_contradict is not None and p_contradict < alpha:
        return "contradicted"
    return f"not resolved with {n} seed{'s' if n != 1 else ''}"
