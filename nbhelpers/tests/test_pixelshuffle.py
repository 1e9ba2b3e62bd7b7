"""Sub-pixel convolution: the report's demo shapes, PyTorch's channel order, and ICNR."""
import pytest
import torch
import torch.nn.functional as F

from nbhelpers.models import pixelshuffle as ps


def test_report_demo_shapes():
    demo = ps.report_demo(seed=0)
    assert demo["input"].shape == (1, 1, 16, 16)
    assert demo["conv"].shape == (1, 4, 16, 16)
    assert demo["pixel_shuffle"].shape == (1, 1, 32, 32)


def test_report_demo_leaves_global_rng_alone():
    state = torch.get_rng_state()
    ps.report_demo(seed=3)
    assert torch.equal(state, torch.get_rng_state())


def test_pixel_shuffle_channel_order():
    """Channel c*r^2 + i*r + j lands in output channel c at sub-pixel (i, j)."""
    r, channels, size = 3, 2, 4
    features = torch.randn(1, channels * r * r, size, size)
    out = torch.nn.PixelShuffle(r)(features)
    for c in range(channels):
        for i in range(r):
            for j in range(r):
                assert torch.equal(out[0, c, i::r, j::r], features[0, c * r * r + i * r + j])


@pytest.mark.parametrize("upscale", [2, 3])
def test_icnr_equals_nearest_upsampling_of_a_conv(upscale):
    torch.manual_seed(0)
    block = ps.SubPixelUpsample(3, 2, upscale=upscale, icnr=True)   # 2 output channels: grouping matters
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(block(x), ps.nearest_equivalent(block, x), atol=1e-6)
        assert ps.checkerboard_strength(block(x), upscale) < 1e-6


def test_naive_repeat_has_the_wrong_grouping():
    torch.manual_seed(0)
    block = ps.SubPixelUpsample(3, 2, upscale=2, icnr=False, bias=False)
    ps.naive_repeat_(block.conv.weight, 2)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(block(x), ps.nearest_equivalent(block, x), atol=1e-3)
        assert ps.checkerboard_strength(block(x), 2) > 0.05


def test_naive_repeat_is_only_right_for_one_output_channel():
    """Why the mistake survives: with C = 1 (the report's demo) both orders coincide."""
    weight_icnr, weight_naive = torch.empty(4, 5, 3, 3), torch.empty(4, 5, 3, 3)
    torch.manual_seed(1)
    ps.icnr_(weight_icnr, 2)
    torch.manual_seed(1)
    ps.naive_repeat_(weight_naive, 2)
    assert torch.equal(weight_icnr, weight_naive)


def test_random_init_shows_a_checkerboard_and_icnr_does_not():
    image = ps.smooth_image(16, seed=0)
    torch.manual_seed(0)
    random_block = ps.SubPixelUpsample(1, 1, upscale=2, icnr=False)
    icnr_block = ps.SubPixelUpsample(1, 1, upscale=2, icnr=True)
    with torch.no_grad():
        assert ps.checkerboard_strength(random_block(image)) > 0.05
        assert ps.checkerboard_strength(icnr_block(image)) < 1e-6


def test_icnr_rejects_channel_counts_that_cannot_be_shuffled():
    with pytest.raises(ValueError, match="multiple of 4"):
        ps.icnr_(torch.empty(6, 1, 3, 3), 2)


def test_icnr_groups_are_consecutive_channels():
    weight = ps.icnr_(torch.empty(8, 3, 3, 3), 2)
    for group in range(2):
        block = weight[group * 4:(group + 1) * 4]
        assert all(torch.equal(block[0], block[k]) for k in range(4))
    assert not torch.equal(weight[0], weight[4])
    assert F.pixel_shuffle(torch.zeros(1, 8, 2, 2), 2).shape == (1, 2, 4, 4)
