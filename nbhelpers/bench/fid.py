"""Inception FID: our path against pytorch-fid's pipeline, same weights, same images, one run.

- ours: uint8 tensors straight to the network in batches (no PNG round trip), features and
  statistics on the device, Frechet distance from a symmetric eigenproblem (N x N when
  N < 2048);
- pytorch-fid: the images written as PNG, read back by its ``ImagePathDataset`` /
  ``get_activations`` (DataLoader, PIL, ToTensor), its ``calculate_frechet_distance``
  (scipy ``sqrtm``). Its network is a wrapper that hands the batches to the same Inception
  weights with pytorch-fid's own resize and normalisation, so the two FIDs must agree.

Then the per-epoch cost that matters during training: classifier FID of 10k samples
against the cached reference. Run: ``python -m nbhelpers.bench fid`` (or
``python -m nbhelpers.bench.fid --n 200``).
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import features, fid, inception
from ..data import load_mnist
from ..repro import pick_device


class PytorchFidWrapper(torch.nn.Module):
    """Looks like pytorch-fid's ``InceptionV3([3])``: [N, 3, H, W] in [0, 1] -> [[N, 2048, 1, 1]],
    resizing and normalising the way its forward does, then calling our Inception network."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return [self.net(2 * x - 1)[:, :, None, None]]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours(net, sets, device, batch_size):
    """(FID, seconds in all, seconds for features) of our path."""
    started = time.perf_counter()
    feats = [features.extract(lambda b: net(inception.preprocess(b)), images, device, batch_size) for images in sets]
    _sync(device)
    features_s = time.perf_counter() - started
    mu, sigma = fid.statistics(feats[0])
    value = fid.fid_of_features({"mu": mu, "sigma": sigma, "features": feats[0]}, feats[1])
    return value, time.perf_counter() - started, features_s


def pytorch_fid_pipeline(net, folders, device, batch_size, num_workers):
    """(FID, seconds) of pytorch-fid's own functions on PNG folders, with our weights."""
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS, calculate_frechet_distance, get_activations
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
    ev = fid.Evaluator(device, n_inception=0, n_classifier=n, log=lambda *a: None)
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
    sets = [(load_mnist(split, limit=n)[0] * 255).round().to(torch.uint8) for split in ("test", "train")]
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / name for name in ("a", "b")]
        for images, folder in zip(sets, folders):
            write_pngs(images, folder)
        with torch.inference_mode():  # warm-up: first calls of a TorchScript module optimise it
            net(inception.preprocess(sets[0][:2].to(device).float() / 255))
        theirs_value, theirs_s, theirs_features_s = pytorch_fid_pipeline(net, folders, device, batch_size, num_workers)
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
            "relative_difference": relative, "classifier_fid_10k_s": warm}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.fid", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=None, help="images per set (default 100 on CPU, 10000 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--num-workers", type=int, default=None, help="pytorch-fid DataLoader workers")
    args = parser.parse_args()
    main(args.device, args.n, args.batch_size, args.num_workers)
