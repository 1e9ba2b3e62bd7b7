"""Numbers over training seeds: mean ± std, Student-t intervals, paired differences, verdicts.

With n seeds and values x_1..x_n: mean m, sample standard deviation s (divisor n - 1), and the
95 % confidence interval of the mean m ± t_{0.975, n-1} s / sqrt(n) (Student's t, since s is
estimated from the same few runs). A comparison of two models trained with the same seeds is
paired: d_i = a_i - b_i, and the interval is that of the mean of d. With n = 1 there is no
spread and no interval: a comparison is then "not resolved", whatever its sign.

p-values (for the Holm adjustment over many claims) are matched to those 95 % intervals: each
is below 0.05 exactly when the interval lies wholly on the side it tests (``p_below``,
``p_above``), so that a verdict read from p at 0.05 is the verdict read from the interval.

Beside the verdicts: the effect n seeds detect with 80 % power (``minimum_detectable_effect``),
verdicts that let a null result contradict a claim at a declared size (``verdict_with_margin``,
``decide_with_margin``), and the share of the seed spread that measurement noise explains
(``noise_share``).
"""
import math

import numpy as np
from scipy import optimize as scipy_optimize, stats as scipy_stats

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


# ----------------------------------------------------------------------------- power

def holm_first_step_alpha(m: int, alpha: float = 1 - CONFIDENCE) -> float:
    """The level Holm's step-down rule tests its smallest p at over a family of ``m`` claims:
    alpha / m (``holm``). The level a claim must reach to be decided whatever the others give."""
    if m < 1:
        raise ValueError(f"a Holm family has at least one claim, got m = {m}")
    return alpha / m


def _critical_t(n: int, alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(scipy_stats.t.ppf(1 - alpha / 2, n - 1))


def power_at(delta: float, std: float | None, n: int, alpha: float = 1 - CONFIDENCE) -> float | None:
    """The chance that n paired seeds give "supported" when the true mean difference is ``delta``
    (in the predicted direction) and the seeds' standard deviation is ``std``.

    "Supported" is the two-sided (1 - alpha) t interval lying wholly on the predicted side, i.e.
    T = m / (s / sqrt(n)) > t_{1-alpha/2, n-1}. With normal differences T follows the noncentral t
    with n - 1 degrees of freedom and noncentrality delta sqrt(n) / std (Cohen 1988, "Statistical
    Power Analysis for the Behavioral Sciences", ch. 2; Johnson, Kotz & Balakrishnan 1995, ch. 31),
    so the power is P(T' > t_{1-alpha/2, n-1}) (``scipy.stats.nct.sf``). At delta = 0 it is alpha / 2.
    None below n = 2 or without a spread; a spread of 0 gives 1 for delta > 0, else 0."""
    if n < 2 or std is None:
        return None
    if std == 0:
        return 1.0 if delta > 0 else 0.0
    return float(scipy_stats.nct.sf(_critical_t(n, alpha), n - 1, delta * math.sqrt(n) / std))


def minimum_detectable_effect(std: float | None, n: int, alpha: float = 1 - CONFIDENCE,
                              power: float = 0.80) -> float | None:
    """The smallest true mean difference that n seeds at spread ``std`` call "supported" with
    probability ``power``: the delta that solves ``power_at(delta, std, n, alpha) = power``
    (brentq on the noncentral t, ``power_at``). Linear in std: delta = c(n, alpha, power) std.

    It replaces the interval's half-width t_{1-alpha/2, n-1} s / sqrt(n) as the resolution of n
    seeds: a true effect of one half-width is called "supported" little more than half the time
    (the observed mean falls below it about as often as above). For Holm's procedure pass the level of its first step,
    ``holm_first_step_alpha(m)``: a claim that is to be decided whatever the family's other p-values
    must reach it. None below n = 2 or without a spread; a spread of 0 gives 0."""
    if n < 2 or std is None:
        return None
    if not alpha / 2 < power < 1:
        raise ValueError(f"power must lie in (alpha / 2, 1), got {power} at alpha = {alpha}")
    if std == 0:
        return 0.0
    t_crit, root_n = _critical_t(n, alpha), math.sqrt(n)

    def shortfall(c):                       # c = delta / std
        return float(scipy_stats.nct.sf(t_crit, n - 1, c * root_n)) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return std * scipy_optimize.brentq(shortfall, 0.0, high, xtol=1e-10, rtol=1e-12)


# ----------------------------------------------------------------------------- a declared effect size

def _check_margin(margin: float) -> None:
    if not margin > 0:
        raise ValueError(f"the smallest effect of interest must be > 0 (in the predicted direction), got {margin}")


def verdict_with_margin(interval: dict, margin: float, expected: str = "positive") -> str:
    """``verdict`` for a claim that also declares ``margin`` (> 0): the smallest effect, in the
    predicted direction, that would count as the report's effect. Read in the predicted direction:

    - "supported": the interval lies wholly on the predicted side of 0 (as ``verdict``), even
      when it also lies below the margin (the claim is about the sign; the estimate shows the size);
    - "contradicted": it lies wholly on the opposite side of 0. Such an interval also lies below
      the margin; the stronger label wins;
    - "contradicted at the declared size": otherwise, it lies wholly below the margin: it excludes
      effects as large as the report's, so a null result counts against the claim;
    - else "not resolved with n seeds" (always with fewer than two seeds).
    """
    _check_margin(margin)
    by_sign = verdict(interval, expected)
    if interval["low"] is None or by_sign in ("supported", "contradicted"):
        return by_sign
    sign = 1 if expected == "positive" else -1
    reach = max(sign * interval["low"], sign * interval["high"])   # the largest effect the interval admits
    return "contradicted at the declared size" if reach < margin else by_sign


def p_smaller_than(summary: dict, margin: float, expected: str = "positive") -> float | None:
    """The p of "the effect is smaller than ``margin`` in the predicted direction": ``p_below``
    at +margin for a ``positive`` claim, ``p_above`` at -margin for a ``negative`` one. It is < 0.05
    exactly when the 95 % interval lies wholly below the margin (``verdict_with_margin``)."""
    _check_margin(margin)
    return p_below(summary, margin) if expected == "positive" else p_above(summary, -margin)


def decide_with_margin(p_support: float | None, p_contradict: float | None, p_smaller: float | None,
                       n: int, alpha: float = 1 - CONFIDENCE) -> str:
    """``decide`` with the declared size: "supported" when ``p_support`` < alpha, "contradicted"
    when ``p_contradict`` < alpha, "contradicted at the declared size" when ``p_smaller``
    (``p_smaller_than``) < alpha, else "not resolved with n seeds", in that order of precedence,
    as ``verdict_with_margin`` reads the interval. The p-values may be Holm-adjusted."""
    if p_support is not None and p_support < alpha:
        return "supported"
    if p_contradict is not None and p_contradict < alpha:
        return "contradicted"
    if p_smaller is not None and p_smaller < alpha:
        return "contradicted at the declared size"
    return f"not resolved with {n} seed{'s' if n != 1 else ''}"


# ----------------------------------------------------------------------------- measurement noise

def noise_share(se_a, se_b, paired_values) -> float | None:
    """The share of the variance of the paired differences across seeds that measurement noise
    explains: mean_i(se_a,i^2 + se_b,i^2) / var(d, ddof=1).

    ``se_a``, ``se_b``: each seed's standard error of measurement of the two arms (e.g.
    ``distances.kid_bootstrap_se``); ``paired_values``: the differences d_i = a_i - b_i, in the
    same seed order (seeds with a None anywhere are dropped). With independent measurement errors,
    E var(d) = var across seeds of the true differences + mean(se_a^2 + se_b^2), so the ratio
    estimates the noise's share. It is reported as is, not capped: above 1, the seed spread is no
    larger than the measurement noise alone would give, and more samples per evaluation, not more
    seeds, are what would narrow the interval first. None below two complete seeds or when both
    are 0; infinite when the differences do not vary but the measurements are noisy."""
    rows = [(a, b, d) for a, b, d in zip(se_a, se_b, paired_values) if None not in (a, b, d)]
    if len(rows) < 2:
        return None
    sa, sb, d = (np.asarray(column, dtype=float) for column in zip(*rows))
    noise, spread = float(np.mean(sa ** 2 + sb ** 2)), float(np.var(d, ddof=1))
    if spread == 0:
        return None if noise == 0 else math.inf
    return noise / spread
