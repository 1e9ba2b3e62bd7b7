"""Features of image sets for the metrics: the two extractors, batched extraction, and the
cached features of the MNIST test set that every FID is measured against.

Two feature extractors, never mixed in one column (their FIDs are on different scales):

- ``inception``: pool3 (2048 values) of the TF Inception-v3 (``nbhelpers.metrics.inception``).
- ``classifier``: the 128 penultimate features of the project's MNIST CNN
  (``nbhelpers.metrics.classifier``): thousands of images per second, for per-epoch curves.
"""
import contextlib
import re
import time
from pathlib import Path

import numpy as np
import torch

from nbhelpers.data import load_mnist
from nbhelpers.files import recorded_mismatch, save_recorded, set_aside
from nbhelpers.metrics import classifier as clf, inception
from nbhelpers.metrics.distances import sqrtm_psd, statistics
from nbhelpers.paths import cache_dir

FEATURES = ("inception", "classifier")
FEATURE_DIMS = {"inception": inception.FEATURE_DIM, "classifier": clf.FEATURE_DIM}
MNIST_TEST_SIZE = 10_000


def batch_size(kind: str, device: torch.device) -> int:
    """Images per forward pass: Inception is large at 299x299, the classifier tiny at 28x28."""
    cuda = torch.device(device).type == "cuda"
    return {"inception": 200 if cuda else 50, "classifier": 10_000 if cuda else 2_000}[kind]


def load_extractor(kind: str, device, inception_source: str | None = None, log=print):
    """(function on float batches in [0, 1] -> features, info with a ``tag`` that names the
    weights exactly, for cache keys and for the record of what produced a number)."""
    if kind == "inception":
        net, info = inception.load_inception(device, inception_source, log=log)
        return (lambda batch: net(inception.preprocess(batch))), dict(info, tag=f"inception-{info['sha256'][:16]}")
    if kind == "classifier":
        model, record = clf.load(device, log=log)
        return model.features, dict(record, tag=f"classifier-{record['sha256'][:16]}", model=model)
    raise ValueError(f"features must be one of {FEATURES}, got {kind!r}")


@torch.inference_mode()
def extract(fn, images: torch.Tensor, device, batch_size: int, quantize: bool = False, label: str = "",
            log=None) -> torch.Tensor:
    """Apply ``fn`` to float batches in [0, 1] on ``device``; float32 [N, D] on ``device``.

    uint8 batches are divided by 255 on the device. ``quantize`` rounds floats to 1/255 steps
    first, as saving them to PNG or to an exported .npz would. cuDNN's TF32 is off (too lossy
    for FID). When ``log`` is given, progress is reported every 30 s (Inception on a CPU is slow).
    """
    out, started, last = [], time.time(), time.time()
    with no_tf32(device):
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device, non_blocking=True)
            batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
            if quantize:
                batch = batch.mul(255).round_().div_(255)
            out.append(fn(batch).float())
            if log and time.time() - last > 30:
                done = start + len(batch)
                log(f"{label}: {done}/{len(images)} images ({done / (time.time() - started):.1f} images/s)")
                last = time.time()
    return torch.cat(out)


def no_tf32(device):
    """cuDNN uses TF32 for fp32 convolutions on Ampere+ by default: too lossy for FID, so off."""
    if torch.device(device).type != "cuda":
        return contextlib.nullcontext()
    b = torch.backends.cudnn
    return b.flags(enabled=b.enabled, benchmark=b.benchmark, deterministic=b.deterministic, allow_tf32=False)


# ---------------------------------------------------------------------------- reference set

def reference_label(n: int) -> str:
    """"mnist-test" for the whole 10k test set, "mnist-test[:n]" for its first n images."""
    return "mnist-test" if n == MNIST_TEST_SIZE else f"mnist-test[:{n}]"


_REFERENCES = {}


def reference(tag: str, n: int, compute) -> dict:
    """Features and statistics of the first ``n`` MNIST test images for one extractor.

    ``tag`` names the extractor exactly (weights hash or classifier key); ``compute(images)``
    gives features. Features are cached on disk under ``cache_dir()/fid_reference/`` (a
    cached set of m >= n is sliced rather than recomputed), so is sqrt(sigma) once needed;
    statistics are kept in memory. Each cached file is used only if it has the sha256 recorded
    when it was written; one that does not is set aside (``.corrupt``) and computed again.
    Returns {"features": float32 [n, D] (CPU), "mu", "sigma", "sqrt_sigma": () -> array, "ref"}.
    """
    if not 2 <= n <= MNIST_TEST_SIZE:
        raise ValueError(f"reference size must be in [2, {MNIST_TEST_SIZE}], got {n}")
    if (tag, n) in _REFERENCES:
        return _REFERENCES[(tag, n)]
    folder = cache_dir() / "fid_reference"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{tag}-mnist-test"
    pattern = re.compile(re.escape(stem) + r"-(\d+)-features\.npy")
    cached = sorted((int(match[1]), path) for path in folder.iterdir() if (match := pattern.fullmatch(path.name)))
    larger = [path for m, path in cached if m >= n and _verified(path)]
    if larger:
        features = np.array(np.load(larger[0], mmap_mode="r")[:n])
    else:
        images, _ = load_mnist("test", limit=n)
        features = compute(images).cpu().numpy().astype(np.float32)
        save_recorded(folder / f"{stem}-{n}-features.npy", lambda f: np.save(f, features))
    mu, sigma = statistics(torch.from_numpy(features))
    root_path = folder / f"{stem}-{n}-sqrt-sigma.npy"

    def sqrt_sigma():  # eigh of a D x D matrix: tens of seconds on a CPU, so computed once
        if "root" not in entry:
            if root_path.exists() and _verified(root_path):
                entry["root"] = np.load(root_path)
            else:
                entry["root"] = sqrtm_psd(sigma)
                save_recorded(root_path, lambda f: np.save(f, entry["root"]))
        return entry["root"]

    entry = {"features": torch.from_numpy(features), "mu": mu, "sigma": sigma, "sqrt_sigma": sqrt_sigma,
             "ref": reference_label(n)}
    _REFERENCES[(tag, n)] = entry
    return entry


def _verified(path) -> bool:
    """Whether a cached file has the sha256 recorded when it was written; if not, it is set aside
    and a note names it (the caller computes the contents again)."""
    problem = recorded_mismatch(path)
    if problem:
        aside = set_aside(path)
        print(f"note: cached file {Path(path).name} not used: {problem}; kept as {aside.name}, computing it again")
    return problem is None

