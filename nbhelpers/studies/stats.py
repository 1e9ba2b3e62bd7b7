"""Numbers over training seeds: mean ± std, Student-t intervals, paired differences, verdicts.

With n seeds and values x_1..x_n: mean m, sample standard deviation s (divisor n - 1), and the
95 % confidence interval of the mean m ± t_{0.975, n-1} s / sqrt(n) (Student's t, since s is
estimated from the same few runs). A comparison of two models trained with the same seeds is
paired: d_i = a_i - b_i, and the interval is that of the mean of d. With n = 1 there is no
spread and no interval: a comparison is then "not resolved", whatever its sign.
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
