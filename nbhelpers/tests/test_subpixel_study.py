"""Notebook 03's PixelShuffle / ICNR demonstrations."""
import pytest
import torch
from torch import nn

from nbhelpers.studies import subpixel_study


def test_channel_order_table_matches_the_formula():
    table = subpixel_study.channel_order_table(channels=3, upscale=3)
    assert len(table) == 27
    assert (table["input channel (observed)"] == table["c*r^2 + i*r + j"]).all()


@pytest.mark.parametrize("kernel, padding", [(4, 1), (6, 2), (2, 0)])
def test_transposed_conv_equals_its_subpixel_rewrite(kernel, padding):
    torch.manual_seed(0)
    tconv = nn.ConvTranspose2d(3, 2, kernel, stride=2, padding=padding)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(tconv(x), subpixel_study.transposed_as_subpixel(tconv)(x), atol=1e-5)


def test_transposed_rewrite_for_stride_three():
    torch.manual_seed(0)
    tconv = nn.ConvTranspose2d(2, 2, 3, stride=3, padding=0)   # non-overlapping: a 1x1 sub-pixel conv
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        assert torch.allclose(tconv(x), subpixel_study.transposed_as_subpixel(tconv)(x), atol=1e-5)


def test_transposed_rewrite_refuses_what_it_cannot_express():
    with pytest.raises(ValueError):
        subpixel_study.transposed_as_subpixel(nn.ConvTranspose2d(1, 1, 5, stride=2, padding=1))   # 2H + 1 outputs
    with pytest.raises(ValueError):
        subpixel_study.transposed_as_subpixel(nn.ConvTranspose2d(1, 1, 10, stride=2, padding=4))  # needs 5x5


def test_equivalence_table_reports_exact_agreement_and_weight_counts():
    table = subpixel_study.transposed_equivalence()
    assert (table["max |difference|"] < 1e-5).all()
    k6 = table.iloc[1]
    assert k6["transposed weights"] == k6["sub-pixel weights (non-zero)"] == k6["sub-pixel weights (total)"]


def test_icnr_comparison_finds_checkerboards_only_where_expected():
    table, examples = subpixel_study.icnr_comparison(out_channels=(1, 3), seeds=3)
    strength = table.set_index(["output channels C", "initialisation"])["checkerboard strength (mean)"]
    assert strength[(1, "ICNR")] < 1e-6 and strength[(3, "ICNR")] < 1e-6
    assert strength[(1, "naive repeat")] < 1e-6            # right by accident for C = 1
    assert strength[(3, "naive repeat")] > 0.1 and strength[(3, "random (Kaiming)")] > 0.1
    assert all(image.shape[-1] in (16, 32) for image in examples.values())
