"""Mean ± std, t-intervals and paired differences over seeds, checked against scipy.stats."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from nbhelpers.studies import stats


def test_summary_matches_scipys_t_interval():
    values = [16.4, 15.8, 17.1, 16.0]
    s = stats.summarize(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert s["n"] == 4 and s["mean"] == pytest.approx(np.mean(values)) and s["std"] == pytest.approx(np.std(values, ddof=1))
    assert (s["low"], s["high"]) == (pytest.approx(low), pytest.approx(high))


def test_paired_difference_matches_scipys_paired_t_test():
    a, b = [16.4, 15.8, 17.1, 16.0, 15.2], [15.2, 15.9, 16.0, 15.1, 14.8]
    d = stats.paired_difference(a, b)
    test = scipy_stats.ttest_rel(a, b)
    interval = test.confidence_interval(0.95)
    assert (d["low"], d["high"]) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert d["mean"] == pytest.approx(np.mean(np.subtract(a, b)))
    # the interval excludes 0 exactly when the two-sided paired t-test rejects at 5 %
    assert (d["low"] > 0 or d["high"] < 0) == (test.pvalue < 0.05)


def test_pairs_with_a_missing_value_are_dropped():
    d = stats.paired_difference([1.0, None, 3.0], [0.5, 2.0, None])
    assert d["n"] == 1 and d["mean"] == 0.5 and d["low"] is None


def test_verdicts_follow_the_interval():
    assert stats.verdict(stats.summarize([1.0, 1.2, 0.9])) == "supported"
    assert stats.verdict(stats.summarize([1.0, 1.2, 0.9]), "negative") == "contradicted"
    assert stats.verdict(stats.summarize([1.0, -1.2, 0.9])) == "not resolved with 3 seeds"
    assert stats.verdict(stats.summarize([5.0])) == "not resolved with 1 seed"      # one seed: never a verdict
    assert stats.verdict(stats.summarize([-5.0]), "negative") == "not resolved with 1 seed"
    kl = stats.summarize([8.05, 7.98, 8.02])
    assert stats.within(kl, 7.5, 8.5) == "supported" and stats.within(kl, 9.0, 10.0) == "contradicted"
    assert stats.within(stats.summarize([8.4, 7.0, 8.6]), 7.5, 8.5).startswith("not resolved")


def test_cells_and_interval_text():
    assert stats.cell(stats.summarize([1.0, 2.0, 3.0])) == "2.00 ± 1.00 (n=3)"
    assert stats.cell(stats.summarize([1.5])) == "1.50 (1 seed)" and stats.cell(stats.summarize([])) == "—"
    assert stats.interval_text(stats.summarize([2.0])) == "+2.00 (1 seed, no interval)"
    assert stats.interval_text(stats.summarize([1.0, 3.0])).startswith("+2.00 [")
    with pytest.raises(ValueError, match="finite"):
        stats.summarize([1.0, float("nan")])


# ----------------------------------------------------------------------------- p-values and Holm

def test_one_sided_p_values_are_scipys_doubled_and_match_the_interval():
    values = [0.8, 1.3, 0.2, 1.1]
    s = stats.summarize(values)
    for bound in (0.0, 0.5, 1.5):
        below = scipy_stats.ttest_1samp(values, bound, alternative="less").pvalue
        above = scipy_stats.ttest_1samp(values, bound, alternative="greater").pvalue
        assert stats.p_below(s, bound) == pytest.approx(min(1, 2 * below))
        assert stats.p_above(s, bound) == pytest.approx(min(1, 2 * above))
    assert stats.p_two_sided(s) == pytest.approx(scipy_stats.ttest_1samp(values, 0.0).pvalue)
    assert stats.p_below(stats.summarize([1.0]), 0) is None


def test_p_value_verdicts_are_the_interval_verdicts():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = stats.summarize(rng.normal(rng.normal(0, 1), rng.uniform(0.1, 2), size=rng.integers(2, 6)))
        assert stats.decide(stats.p_above(s), stats.p_below(s), s["n"]) == stats.verdict(s)
        band = stats.decide(stats.p_inside(s, -0.5, 0.5), stats.p_outside(s, -0.5, 0.5), s["n"])
        assert band == stats.within(s, -0.5, 0.5)


def test_holm_adjusts_step_down_over_the_whole_family():
    # sorted 0.01, 0.02, 0.03, 0.04, None (= 1): factors 5, 4, 3, 2, 1, then the running maximum
    adjusted = stats.holm([0.03, 0.01, None, 0.04, 0.02])
    assert adjusted == [pytest.approx(0.09), pytest.approx(0.05), None, pytest.approx(0.09), pytest.approx(0.08)]
    assert stats.holm([0.001, 0.9]) == [pytest.approx(0.002), pytest.approx(0.9)]
    assert stats.holm([0.6, 0.5]) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_half_width_is_what_n_seeds_resolve_at_their_spread():
    s = stats.summarize([1.0, 2.0, 3.0])
    assert stats.half_width(s) == pytest.approx(scipy_stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3))
    assert stats.half_width(stats.summarize([1.0])) is None
