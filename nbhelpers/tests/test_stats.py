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
