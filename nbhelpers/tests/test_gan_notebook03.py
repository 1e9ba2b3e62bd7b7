"""Notebook 03's demonstrations and mode-collapse table."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from nbhelpers import gan_notebook03 as nb03


def test_channel_order_table_matches_the_formula():
    table = nb03.channel_order_table(channels=3, upscale=3)
    assert len(table) == 27
    assert (table["input channel (observed)"] == table["c*r^2 + i*r + j"]).all()


@pytest.mark.parametrize("kernel, padding", [(4, 1), (6, 2), (2, 0)])
def test_transposed_conv_equals_its_subpixel_rewrite(kernel, padding):
    torch.manual_seed(0)
    tconv = nn.ConvTranspose2d(3, 2, kernel, stride=2, padding=padding)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(tconv(x), nb03.transposed_as_subpixel(tconv)(x), atol=1e-5)


def test_transposed_rewrite_for_stride_three():
    torch.manual_seed(0)
    tconv = nn.ConvTranspose2d(2, 2, 3, stride=3, padding=0)   # non-overlapping: a 1x1 sub-pixel conv
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        assert torch.allclose(tconv(x), nb03.transposed_as_subpixel(tconv)(x), atol=1e-5)


def test_transposed_rewrite_refuses_what_it_cannot_express():
    with pytest.raises(ValueError):
        nb03.transposed_as_subpixel(nn.ConvTranspose2d(1, 1, 5, stride=2, padding=1))   # 2H + 1 outputs
    with pytest.raises(ValueError):
        nb03.transposed_as_subpixel(nn.ConvTranspose2d(1, 1, 10, stride=2, padding=4))  # needs 5x5


def test_equivalence_table_reports_exact_agreement_and_weight_counts():
    table = nb03.transposed_equivalence()
    assert (table["max |difference|"] < 1e-5).all()
    k6 = table.iloc[1]
    assert k6["transposed weights"] == k6["sub-pixel weights (non-zero)"] == k6["sub-pixel weights (total)"]


def test_icnr_comparison_finds_checkerboards_only_where_expected():
    table, examples = nb03.icnr_comparison(out_channels=(1, 3), seeds=3)
    strength = table.set_index(["output channels C", "initialisation"])["checkerboard strength (mean)"]
    assert strength[(1, "ICNR")] < 1e-6 and strength[(3, "ICNR")] < 1e-6
    assert strength[(1, "naive repeat")] < 1e-6            # right by accident for C = 1
    assert strength[(3, "naive repeat")] > 0.1 and strength[(3, "random (Kaiming)")] > 0.1
    assert all(image.shape[-1] in (16, 32) for image in examples.values())


def test_class_share_table_verdicts_and_summary():
    counts = [2000, 500, 1000, 1000, 1000, 1000, 1000, 1000, 1200, 300]
    table = nb03.class_share_table(counts, real_counts=[1000] * 10)
    assert list(table["verdict"]) == ["over", "under", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "under"]
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.loc[0, "z vs 10%"] == pytest.approx((0.2 - 0.1) / math.sqrt(0.09 / 10000))
    summary = nb03.collapse_summary(table)
    assert summary["over"] == [0] and summary["under"] == [9, 1]
    assert summary["most"] == 0 and summary["most_share"] == pytest.approx(0.2)
    assert summary["max_over_min"] == pytest.approx(2000 / 300)


def test_a_missing_digit_gives_an_infinite_ratio():
    table = nb03.class_share_table([0] + [100] * 9, real_counts=[1] * 10)
    assert math.isinf(nb03.collapse_summary(table)["max_over_min"])


def test_dominant_digits_per_epoch():
    import pandas as pd
    shares = pd.DataFrame([np.full(10, 0.1), np.r_[0.5, np.full(9, 0.5 / 9)]], index=[1, 2], columns=range(10))
    table = nb03.dominant_digits(shares)
    assert table.loc[2, "most produced"] == 0 and table.loc[2, "its share"] == pytest.approx(0.5)
    assert table.loc[1, "TV from uniform"] == pytest.approx(0.0)


def test_confidence_by_digit_and_its_columns_in_the_share_table():
    labels = torch.tensor([3, 3, 1, 1, 1])
    confidence = torch.tensor([0.95, 0.85, 0.99, 0.5, 0.9])
    by_digit = nb03.confidence_by_digit(labels, confidence)
    assert by_digit.loc[3, "mean confidence"] == pytest.approx(0.9)
    assert by_digit.loc[1, "share p >= 0.9"] == pytest.approx(2 / 3)
    assert np.isnan(by_digit.loc[0, "mean confidence"])      # a digit nobody produced
    table = nb03.class_share_table(torch.bincount(labels, minlength=10).tolist(), [1] * 10, confidence=by_digit)
    assert table.loc[3, "mean confidence"] == pytest.approx(0.9)


def test_classifier_confidence_uses_the_evaluators_classifier():
    class Stub:
        device = torch.device("cpu")

        def classifier(self):
            net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
            nn.init.zeros_(net[1].weight)
            with torch.no_grad():
                net[1].bias.copy_(torch.arange(10.0))
            return net, {}

    labels, confidence = nb03.classifier_confidence(Stub(), torch.rand(5, 1, 28, 28))
    assert labels.tolist() == [9] * 5
    assert torch.allclose(confidence, torch.softmax(torch.arange(10.0), 0)[9].expand(5))
