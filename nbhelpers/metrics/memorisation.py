"""Does a generative model copy its training set? Nearest training images of generated samples,
against those of real digits the model never saw.

For every query q (a generated sample, or a held-out MNIST test digit) we find its exact nearest
neighbour among all training images x_1..x_M in pixel space (784 values in [0, 1], Euclidean):

    d(q) = min_j ||q - x_j||,   ||q - x||^2 = ||q||^2 + ||x||^2 - 2 q.x

A model that memorises puts its samples on (or next to) training images: d(generated) far below
d(test). A ratio of medians median d(generated) / median d(test) near or above 1 says the samples
are no closer to the training set than unseen real digits are.

Why pixels: a copy is a copy in pixel space (distance 0 up to 8-bit rounding), the neighbour a
figure shows is the one that is closest to the eye, and no network decides what counts as
similar. The classifier's 128 features would call any two well-formed digits of the same class
close, which answers "same class", not "same image". The price: a shifted copy is not found.

Speed. The search is brute force and exact, one matrix product per block of training rows:
argmin_j ||q - x_j||^2 = argmin_j (||x_j||^2 - 2 q.x_j), since ||q||^2 is the same for the whole
row. Products run in float32: the neighbour found can differ from the true one only where their
squared distances tie to within float32 rounding, and then it is as near up to that rounding. The
distance to the neighbour found is recomputed from q - x in float64, so an exact copy reports
exactly 0. Nothing is cached: the training norms are recomputed block by block on every call.
"""
import math
import time
from dataclasses import dataclass, field
from typing import TypedDict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from nbhelpers.data import load_mnist

SPACE = "pixels"
DEFAULT_N = 1000        # generated samples (and test digits) compared per set
QUERY_BLOCK = 2048      # queries per block of the distance matrix
TRAIN_BLOCK = 4096      # training rows per block: [2048, 4096] float32 = 32 MB
TEST_SEED = 0           # which test digits form the baseline
# A copy "up to 8-bit rounding": every pixel off by at most half a grey level, so the distance
# is at most sqrt(D) * 0.5 / 255 (0.056 for 784 pixels).
COPY_TOLERANCE_PER_PIXEL = 0.5 / 255
LOW_QUANTILE = 0.05     # share_below_test_q05: generated samples nearer than 95 % of test digits are


class MemorisationRecord(TypedDict):
    """``models[<model>]["memorisation"]`` in metrics.json (``Memorisation.record``)."""
    space: str                  # where distances are measured: "pixels"
    distance: str               # the metric and the value range
    n: int                      # generated samples compared
    test_n: int                 # test digits in the baseline (the same n)
    train_n: int                # training images searched (all 60,000 in the notebooks)
    baseline: str               # which test digits
    median_generated: float     # median nearest-training distance of the samples
    median_test: float          # the same for the test digits
    ratio_of_medians: float | None  # median_generated / median_test: << 1 copying, ~1 or above none
    q05_generated: float        # 5th percentiles of the same two distributions
    q05_test: float
    share_below_test_q05: float  # samples nearer than 95 % of test digits (about 0.05 without copying)
    nearest_exact_copies: int   # samples within copy_tolerance of a training image
    copy_tolerance: float       # sqrt(D) * half a grey level
    seconds: float              # this set's search (the baseline's is apart)


def flatten(images: torch.Tensor) -> torch.Tensor:
    """[N, ...] images as float32 rows [N, D]; refuses NaN or inf (a diverged generator)."""
    rows = images.detach().reshape(len(images), -1).float()
    if not torch.isfinite(rows).all():
        raise ValueError("the images hold NaN or inf: no distances for a diverged model")
    return rows


@torch.no_grad()
def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, query_block: int = QUERY_BLOCK,
                       train_block: int = TRAIN_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest neighbour in ``reference`` [M, ...] of every row of ``queries`` [N, ...]
    (images or features, flattened): (distances float64 [N], indices int64 [N]), on the
    reference's device. Brute force in blocks of the distance matrix (module doc)."""
    x = flatten(reference)
    q = flatten(queries).to(x.device)
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries and reference differ in size: {q.shape[1]} vs {x.shape[1]} values")
    if len(x) == 0:
        raise ValueError("the reference set is empty")
    best = torch.full((len(q),), math.inf, device=x.device)
    index = torch.zeros(len(q), dtype=torch.long, device=x.device)
    for start in range(0, len(x), train_block):
        block = x[start:start + train_block]
        block_sq = (block * block).sum(1)                                  # ||x_j||^2
        for q_start in range(0, len(q), query_block):
            rows = slice(q_start, q_start + query_block)
            # ||x_j||^2 - 2 q.x_j: the squared distance less ||q||^2, which does not move the argmin
            partial = torch.addmm(block_sq.unsqueeze(0), q[rows], block.T, alpha=-2)
            value, arg = partial.min(1)
            better = value < best[rows]
            best[rows] = torch.where(better, value, best[rows])
            index[rows] = torch.where(better, arg + start, index[rows])
    # the distance to the neighbour found, exactly: ||q - x|| in float64
    distances = (q.double() - x[index].double()).norm(dim=1)
    return distances, index


@dataclass
class NearestTraining:
    """One compared set: its images, and the nearest training image of each."""
    images: torch.Tensor       # [n, 1, 28, 28] the queries
    distances: torch.Tensor    # float64 [n], on the CPU
    indices: torch.Tensor      # int64 [n] into the training set, on the CPU


@dataclass
class Memorisation:
    """Generated sets and the test-digit baseline, each against the same training set."""
    train: torch.Tensor                        # [M, 1, 28, 28] the training images searched
    test: NearestTraining                      # the baseline: held-out MNIST test digits
    generated: dict[str, NearestTraining]      # name -> its set
    space: str = SPACE
    test_seed: int = TEST_SEED                 # which random test digits (test_baseline)
    seconds: dict[str, float] = field(default_factory=dict)   # name (and "test") -> search time

    @property
    def n(self) -> int:
        return len(self.test.distances)

    def copy_tolerance(self) -> float:
        return math.sqrt(self.train[0].numel()) * COPY_TOLERANCE_PER_PIXEL

    def record(self, name: str) -> MemorisationRecord:
        """The metrics.json fields of set ``name`` (``metrics.update_model(key, memorisation=...)``)."""
        gen, test = self.generated[name].distances.numpy(), self.test.distances.numpy()
        median_gen, median_test = float(np.median(gen)), float(np.median(test))
        low = float(np.quantile(test, LOW_QUANTILE))
        return {"space": self.space, "distance": "euclidean, pixels in [0, 1]",
                "n": len(gen), "test_n": len(test), "train_n": len(self.train),
                "baseline": f"{len(test)} random MNIST test images (seed {self.test_seed})",
                "median_generated": median_gen, "median_test": median_test,
                "ratio_of_medians": median_gen / median_test if median_test > 0 else None,
                "q05_generated": float(np.quantile(gen, LOW_QUANTILE)), "q05_test": low,
                "share_below_test_q05": float((gen < low).mean()),
                "nearest_exact_copies": int((gen <= self.copy_tolerance()).sum()),
                "copy_tolerance": self.copy_tolerance(),
                "seconds": round(self.seconds.get(name, 0.0), 3)}   # this set's search; the baseline's is apart

    def table(self) -> pd.DataFrame:
        """One row per generated set: the headline numbers."""
        rows = {name: self.record(name) for name in self.generated}
        columns = ["n", "median_generated", "median_test", "ratio_of_medians", "share_below_test_q05",
                   "nearest_exact_copies"]
        return pd.DataFrame.from_dict(rows, orient="index")[columns]


def test_baseline(test_images: torch.Tensor, n: int, seed: int = TEST_SEED) -> torch.Tensor:
    """``n`` test images drawn at random (seeded): MNIST's test set is ordered (its first half
    was written by Census employees, the second by students), so its first n would be biased."""
    order = torch.randperm(len(test_images), generator=torch.Generator().manual_seed(seed))
    return test_images[order[:n].to(test_images.device)]


def check(sample_sets: dict[str, torch.Tensor], train_images: torch.Tensor, test_images: torch.Tensor,
          n: int = DEFAULT_N, seed: int = TEST_SEED) -> Memorisation:
    """Nearest training images of the first ``n`` samples of every set (samples are i.i.d., so
    the first n are a random n) and of ``n`` random test digits; n shrinks to the smallest set.
    ``train_images``: every image the models could have seen (all 60,000 in the notebooks)."""
    n = min([n, len(test_images)] + [len(images) for images in sample_sets.values()])
    if n < 1:
        raise ValueError("nothing to compare: an empty sample set or test set")
    timed = {}

    def search(key, images):
        started = time.perf_counter()
        distances, indices = nearest_neighbours(images, train_images)
        # .clone(): keep only the n images, not the whole sample set behind a view; .cpu() waits for the device
        found = NearestTraining(images[:n].clone(), distances.cpu(), indices.cpu())
        timed[key] = time.perf_counter() - started
        return found

    baseline = search("test", test_baseline(test_images, n, seed))
    generated = {name: search(name, images[:n]) for name, images in sample_sets.items()}
    return Memorisation(train=train_images, test=baseline, generated=generated, test_seed=seed, seconds=timed)


def check_mnist(sample_sets: dict[str, torch.Tensor], device, n: int = DEFAULT_N) -> Memorisation:
    """``check`` against all 60,000 MNIST training images, with the baseline drawn from the
    10,000 test images: every image a notebook's model could have been trained on, whatever its
    ``train_limit``."""
    train, _ = load_mnist("train", device)
    test, _ = load_mnist("test", device)
    return check({name: images.to(device) for name, images in sample_sets.items()}, train, test, n=n)


def summary_line(memo: Memorisation, name: str) -> str:
    r = memo.record(name)
    ratio = "n/a" if r["ratio_of_medians"] is None else f"{r['ratio_of_medians']:.3f}"
    return (f"{name}: median nearest-training distance {r['median_generated']:.3f} (generated) vs "
            f"{r['median_test']:.3f} (test digits), ratio {ratio}; {r['share_below_test_q05']:.1%} of samples nearer "
            f"than 95 % of test digits; {r['nearest_exact_copies']} exact copies; n = {r['n']} vs "
            f"{r['train_n']:,} training images, {r['space']}, {r['seconds']:.1f} s")


def plot_neighbours(memo: Memorisation, name: str, count: int = 10, title: str = ""):
    """Four rows of ``count``: the first samples and their nearest training images, then the
    samples nearest to the training set and theirs, each pair labelled with its distance."""
    found = memo.generated[name]
    closest = torch.argsort(found.distances)[:count]
    first = torch.arange(min(count, len(found.distances)))
    fig, axes = plt.subplots(4, len(first), figsize=(1.25 * len(first), 6.2), squeeze=False)
    rows = [(first, "samples"), (closest, "samples nearest\nto the training set")]
    for block, (picked, label) in enumerate(rows):
        for col, i in enumerate(picked.tolist()):
            top, bottom = axes[2 * block, col], axes[2 * block + 1, col]
            top.imshow(found.images[i, 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
            bottom.imshow(memo.train[int(found.indices[i]), 0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
            top.set_title(f"{found.distances[i]:.2f}", fontsize=8)
        axes[2 * block, 0].set_ylabel(label, fontsize=8)
        axes[2 * block + 1, 0].set_ylabel("nearest\ntraining image", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{name}: samples (rows 1 and 3) above their nearest training images, "
                 "pixel distance over each pair", fontsize=10)
    fig.tight_layout()
    return fig


def plot_distances(ax, memo: Memorisation, labels: dict[str, str] | None = None, title: str = ""):
    """Histograms of the nearest-training distances: the test digits and every generated set
    (or those in ``labels``, name -> legend text)."""
    labels = labels or {name: name for name in memo.generated}
    sets = {"MNIST test digits": memo.test, **{text: memo.generated[name] for name, text in labels.items()}}
    top = max(float(s.distances.max()) for s in sets.values())
    bins = np.linspace(0, top * 1.02 + 1e-9, 40)
    for label, found in sets.items():
        _, _, patches = ax.hist(found.distances.numpy(), bins=bins, histtype="step", linewidth=1.6, label=label)
        ax.axvline(float(np.median(found.distances.numpy())), color=patches[0].get_edgecolor(), linestyle=":",
                   linewidth=1)
    ax.set(xlabel=f"distance to the nearest of {len(memo.train):,} training images ({memo.space})",
           ylabel=f"images (of {memo.n})", title=title or "nearest-training distances (dotted: medians)")
    ax.legend(fontsize=8)
