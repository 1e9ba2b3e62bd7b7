"""Class coverage: counts, shares, the per-digit table, collapse summaries, figures."""
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from nbhelpers.data import load_mnist
from nbhelpers.metrics import coverage
from nbhelpers.metrics.evaluator import Evaluator

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_class_coverage_counts_and_entropy():
    uniform = coverage.class_coverage(torch.arange(10).repeat(30))
    assert uniform["counts"] == [30] * 10 and uniform["n"] == 300 and uniform["covered"] == 10
    assert uniform["entropy"] == pytest.approx(math.log2(10), abs=1e-4)
    collapsed = coverage.class_coverage(torch.tensor([3] * 199 + [5]))
    assert collapsed["covered"] == 1  # one stray 5 is below a tenth of a uniform share
    assert collapsed["counts"][3] == 199 and 0 < collapsed["entropy"] < 0.1
    two = coverage.class_coverage([1, 1, 7, 7])
    assert two["covered"] == 2 and two["entropy"] == pytest.approx(1.0)


def test_figures_draw_counts_and_labels():
    counts = coverage.class_coverage(torch.arange(10).repeat(3))
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3)
    coverage.coverage_bar(ax1, counts)
    assert len(ax1.patches) == 10 and "10/10" in ax1.get_title()
    labels = torch.arange(100) % 10
    coverage.label_grid(ax2, labels)
    assert [t.get_text() for t in ax2.texts][:3] == ["0", "1", "2"] and len(ax2.texts) == 100
    coverage.label_grid(ax3, labels[:20], images=torch.rand(20, 1, 28, 28), nrow=10)
    assert len(ax3.images) == 1 and len(ax3.texts) == 20
    plt.close(fig)


def test_class_share_table_verdicts_and_summary():
    counts = [2000, 500, 1000, 1000, 1000, 1000, 1000, 1000, 1200, 300]
    table = coverage.class_share_table(counts, real_counts=[1000] * 10)
    assert list(table["verdict"]) == ["over", "under", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "under"]
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.loc[0, "z vs 10%"] == pytest.approx((0.2 - 0.1) / math.sqrt(0.09 / 10000))
    summary = coverage.collapse_summary(table)
    assert summary["over"] == [0] and summary["under"] == [9, 1]
    assert summary["most"] == 0 and summary["most_share"] == pytest.approx(0.2)
    assert summary["max_over_min"] == pytest.approx(2000 / 300)


def test_a_missing_digit_gives_an_infinite_ratio():
    table = coverage.class_share_table([0] + [100] * 9, real_counts=[1] * 10)
    assert math.isinf(coverage.collapse_summary(table)["max_over_min"])


def test_dominant_digits_per_epoch():
    shares = pd.DataFrame([np.full(10, 0.1), np.r_[0.5, np.full(9, 0.5 / 9)]], index=[1, 2], columns=range(10))
    table = coverage.dominant_digits(shares)
    assert table.loc[2, "most produced"] == 0 and table.loc[2, "its share"] == pytest.approx(0.5)
    assert table.loc[1, "TV from uniform"] == pytest.approx(0.0)


def test_confidence_by_digit_and_its_columns_in_the_share_table():
    labels = torch.tensor([3, 3, 1, 1, 1])
    confidence = torch.tensor([0.95, 0.85, 0.99, 0.5, 0.9])
    by_digit = coverage.confidence_by_digit(labels, confidence)
    assert by_digit.loc[3, "mean confidence"] == pytest.approx(0.9)
    assert by_digit.loc[1, "share p >= 0.9"] == pytest.approx(2 / 3)
    assert np.isnan(by_digit.loc[0, "mean confidence"])      # a digit nobody produced
    table = coverage.class_share_table(torch.bincount(labels, minlength=10).tolist(), [1] * 10, confidence=by_digit)
    assert table.loc[3, "mean confidence"] == pytest.approx(0.9)


def test_shares_and_largest_share():
    counts = coverage.class_coverage(torch.tensor([0] * 6 + [1] * 3 + [2]))
    assert coverage.shares(counts).tolist()[:3] == pytest.approx([0.6, 0.3, 0.1])
    assert coverage.largest_share(counts) == pytest.approx(0.6)
    assert coverage.largest_share(coverage.class_coverage(torch.arange(10))) == pytest.approx(coverage.UNIFORM_SHARE)


def test_the_band_of_the_share_table_follows_the_named_tolerance():
    # 12 % is exactly at the +20 % tolerance (ok), 12.5 % is beyond it (over); 8 % / 7.5 % below.
    counts = [120, 125, 80, 75, 100, 100, 100, 100, 100, 100]
    verdicts = coverage.class_share_table(counts, [1] * 10)["verdict"].tolist()
    assert verdicts[:4] == ["ok", "over", "ok", "under"]
    assert coverage.UNIFORM_SHARE * (1 + coverage.SHARE_TOLERANCE) == pytest.approx(0.12)


def test_classifier_confidence_agrees_with_the_evaluators_predictions():
    images, labels = load_mnist("test", limit=300)
    evaluator = Evaluator("cpu", n_inception=0, n_classifier=300, ref_n_classifier=1000, log=lambda *a: None)
    predicted, confidence = coverage.classifier_confidence(evaluator, images)
    assert torch.equal(predicted, evaluator.predict(images).cpu())
    assert (predicted == labels).float().mean() > 0.97          # the real classifier reads real digits
    assert ((confidence > 0.1) & (confidence <= 1.0)).all() and confidence.mean() > 0.9


def test_confident_counts_leave_out_the_predictions_below_the_threshold():
    labels = torch.tensor([3, 3, 8, 8, 8, 1])
    confidence = torch.tensor([0.95, 0.5, 0.4, 0.3, 0.99, 0.9])
    result = coverage.class_coverage(labels, confidence=confidence)
    assert result["counts"][8] == 3 and result["confident_counts"] == [0, 1, 0, 1, 0, 0, 0, 0, 1, 0]
    assert result["confident_threshold"] == coverage.CONFIDENT_PROBABILITY == 0.9   # 0.9 itself passes
    assert result["confident_share"] == pytest.approx(0.5) and coverage.confident_largest_share(result) == pytest.approx(1 / 3)
    assert coverage.largest_share(result) == pytest.approx(0.5)      # counting every prediction: the 8s lead
    assert "confident_counts" not in coverage.class_coverage(labels)
    unsure = coverage.class_coverage(labels, confidence=torch.zeros(6))
    assert unsure["confident_counts"] == [0] * 10 and unsure["confident_share"] == 0
    assert coverage.confident_largest_share(unsure) is None
    with pytest.raises(ValueError, match="5 confidences for 6 labels"):
        coverage.class_coverage(labels, confidence=confidence[:5])


def test_the_evaluator_counts_every_prediction_as_before_and_the_confident_ones_apart():
    images, _ = load_mnist("test", limit=400)
    blends = (images[:200] + images[200:]) / 2           # two digits in one image: no digit to be sure of
    evaluator = Evaluator("cpu", n_inception=0, n_classifier=400, ref_n_classifier=1000, log=lambda *a: None)
    for sample in (images, torch.cat([images[:200], blends])):
        result = evaluator.class_coverage(sample)
        assert result["counts"] == torch.bincount(evaluator.predict(sample), minlength=10).tolist()
        probabilities = evaluator.probabilities(sample).cpu()
        sure = probabilities.max(1).values >= coverage.CONFIDENT_PROBABILITY
        assert result["confident_counts"] == torch.bincount(probabilities.argmax(1)[sure], minlength=10).tolist()
        assert result["confident_share"] == pytest.approx(sure.float().mean().item())
    real, mixed = evaluator.class_coverage(images), evaluator.class_coverage(torch.cat([images[:200], blends]))
    assert real["confident_share"] > 0.9 > mixed["confident_share"]   # real digits pass: the threshold drops guesses


def test_class_coverage_from_the_fids_features_equals_a_second_pass_of_the_whole_classifier_bit_for_bit():
    images, _ = load_mnist("test", limit=4500)   # three of the classifier's batches, the last one partial
    sample = torch.cat([images[:2500], (images[2500:] + images[:2000]) / 2])   # blends: unsure predictions too
    evaluator = Evaluator("cpu", n_inception=0, n_classifier=4200, ref_n_classifier=1000, log=lambda *a: None)
    evaluator.fid(sample, "classifier")          # the features that class coverage then reuses
    model, _ = evaluator.classifier()
    whole = evaluator.extract(sample[:4200], "classifier", fn=model)
    assert torch.equal(evaluator.logits_of_features(evaluator.features(sample, "classifier")), whole)
    labels, confidence = evaluator.predictions(sample[:4200])
    assert evaluator.class_coverage(sample) == coverage.class_coverage(labels, confidence=confidence)


def test_digit_share_bars_one_group_per_digit():
    fig, ax = plt.subplots()
    coverage.plot_digit_shares(ax, {"a": np.full(10, 0.1), "b": np.r_[0.3, np.full(9, 0.7 / 9)]})
    assert len(ax.patches) == 20 and ax.get_legend() is not None
    plt.close(fig)
