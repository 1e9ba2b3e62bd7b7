"""k-nearest-neighbour fidelity / diversity metrics between a real and a fake feature set.

X = real features x_1..x_N, Y = fake (generated) features y_1..y_M, all [., D], Euclidean
distance d(a, b) = ||a - b||. The REAL set always comes first in every function here:
torch-fidelity's issue #58 reports its precision and recall coming out swapped, which the
thread traces to which of the two inputs is taken as the real one.

NND_k(x_i) = distance from x_i to its k-th nearest neighbour among the OTHER points of its
own set (the point itself excluded; an exact duplicate of it is another point and counts).
NND_k(y_j) likewise within Y.

Improved precision and recall (Kynkaenniemi, Karras, Laine, Lehtinen, Aila, "Improved
Precision and Recall Metric for Assessing Generative Models", NeurIPS 2019), default k = 3:

    precision = (1/M) #{ j : exists i with d(y_j, x_i) <= NND_k(x_i) }
    recall    = (1/N) #{ i : exists j with d(x_i, y_j) <= NND_k(y_j) }

Density and coverage (Naeem, Oh, Uh, Choi, Yoo, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML 2020), default k = 5, both from the real radii only:

    density  = 1/(k M) sum_j #{ i : d(y_j, x_i) <= NND_k(x_i) }
    coverage = (1/N) #{ i : min_j d(x_i, y_j) <= NND_k(x_i) }

For identical distributions E[density] = 1 and coverage -> 1 - 2^-k (Naeem et al.). A set
against itself gives precision = recall = coverage = 1 and, when no distance from a point
ties with its k-th neighbour distance (almost surely for continuous data), density exactly
(k + 1)/k: every ball holds the point itself and its k nearest neighbours.

Exact neighbours, no approximation: squared distances ||a||^2 + ||b||^2 - 2 a.b in float64
(negatives from round-off clipped at 0), computed for ``chunk_size`` rows at a time against
the whole other set, so 10k x 10k costs ~80 MB per chunk rather than 800 MB. Comparisons are
made between squared distances taken from the same kind of matrix product, so a point lying
exactly on a radius is counted consistently. Runs with torch on the device of the real
features (numpy arrays go to the CPU).
"""
import numpy as np
import torch

CHUNK_SIZE = 1024  # rows of one set against all of the other at a time


def _as_features(features, name: str, device=None) -> torch.Tensor:
    """float64 tensor [N, D] on ``device`` (or its own), after checking shape and finiteness."""
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(features)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} features must be a torch tensor or a numpy array, got {type(features).__name__}")
    if features.ndim != 2:
        raise ValueError(f"{name} features must be 2-D [N, D], got shape {tuple(features.shape)}")
    x = features.detach().to(device=device if device is not None else features.device, dtype=torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} features hold NaN or inf")
    return x


def _check_k(k: int, n: int, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k = {k} must be smaller than the size of the {name} set ({n} features): "
                         f"the k-th neighbour is taken among the other {n - 1} points, the point itself excluded")


def _pair(real_features, fake_features, k: int):
    real = _as_features(real_features, "real")
    fake = _as_features(fake_features, "fake", device=real.device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    _check_k(k, len(real), "real")
    _check_k(k, len(fake), "fake")
    return real, fake


def _squared_distances(a: torch.Tensor, a_sq: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """[len(a), len(b)] squared Euclidean distances, ||a||^2 + ||b||^2 - 2 a.b, clipped at 0."""
    d2 = torch.addmm(b_sq.unsqueeze(0), a, b.T, beta=1, alpha=-2)  # ||b||^2 - 2 a.b
    return d2.add_(a_sq.unsqueeze(1)).clamp_min_(0.0)


def _squared_radii(x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    """NND_k(x_i)^2 for every row: the (k+1)-th smallest squared distance in the row of x
    against x, whose self entry is set to exactly 0. Dropping one zero drops the point itself
    and nothing else, so an exact duplicate (also at 0) still counts as a neighbour."""
    return _squared_radii_for(x, (k,), chunk_size)[k]


def _squared_radii_for(x: torch.Tensor, ks, chunk_size: int) -> dict[int, torch.Tensor]:
    """``_squared_radii`` for each k of ``ks`` from one pass over the distances: the (k+1)-th
    smallest of a row is the same value whichever number of smallest ones is taken."""
    x_sq, largest = (x * x).sum(1), max(ks)
    radii = {k: torch.empty(len(x), dtype=x.dtype, device=x.device) for k in ks}
    for start in range(0, len(x), chunk_size):
        stop = min(start + chunk_size, len(x))
        d2 = _squared_distances(x[start:stop], x_sq[start:stop], x, x_sq)
        rows = torch.arange(stop - start, device=x.device)
        d2[rows, rows + start] = 0.0  # the self distance, exactly
        nearest = d2.topk(largest + 1, dim=1, largest=False).values
        for k in ks:
            radii[k][start:stop] = nearest[:, k]
    return radii


def nearest_neighbour_radii(features, k: int, chunk_size: int = CHUNK_SIZE) -> torch.Tensor:
    """NND_k of every row of ``features`` [N, D] within its own set, self excluded: float64 [N]."""
    x = _as_features(features, "the")
    _check_k(k, len(x), "given")
    return _squared_radii(x, k, chunk_size).sqrt()


def _cross_counts(real, fake, precision_r2, density_r2, fake_r2, chunk_size: int) -> dict:
    """One pass over the real x fake distances, real rows in chunks, against the radii: fakes
    inside some real ball (``precision_r2``), pairs (fake, real ball) in all and reals whose ball
    holds a fake (``density_r2``: the same tensor, or the real radii of another k), and (with
    fake radii) reals inside some fake ball."""
    real_sq, fake_sq = (real * real).sum(1), (fake * fake).sum(1)
    fake_in_real_ball = torch.zeros(len(fake), dtype=torch.bool, device=real.device)
    pairs = 0
    real_ball_hit = torch.empty(len(real), dtype=torch.bool, device=real.device)
    real_in_fake_ball = torch.empty(len(real), dtype=torch.bool, device=real.device)
    for start in range(0, len(real), chunk_size):
        stop = min(start + chunk_size, len(real))
        d2 = _squared_distances(real[start:stop], real_sq[start:stop], fake, fake_sq)
        inside = d2 <= precision_r2[start:stop].unsqueeze(1)  # [real i, fake j]: y_j in the ball of x_i
        fake_in_real_ball |= inside.any(0)
        if density_r2 is not precision_r2:
            inside = d2 <= density_r2[start:stop].unsqueeze(1)
        pairs += int(inside.sum())
        real_ball_hit[start:stop] = inside.any(1)  # same as: nearest fake within NND_k(x_i)
        if fake_r2 is not None:
            real_in_fake_ball[start:stop] = (d2 <= fake_r2.unsqueeze(0)).any(1)
    return {"fake_in_real_ball": int(fake_in_real_ball.sum()), "pairs": pairs,
            "real_ball_hit": int(real_ball_hit.sum()),
            "real_in_fake_ball": int(real_in_fake_ball.sum()) if fake_r2 is not None else None}


def precision_recall(real_features, fake_features, k: int = 3, chunk_size: int = CHUNK_SIZE) -> dict:
    """Improved precision and recall (Kynkaenniemi et al. 2019) of fake [M, D] against real
    [N, D] (real first): {"precision": share of fakes in some real k-NN ball, "recall": share
    of reals in some fake k-NN ball}."""
    real, fake = _pair(real_features, fake_features, k)
    real_r2 = _squared_radii(real, k, chunk_size)
    counts = _cross_counts(real, fake, real_r2, real_r2, _squared_radii(fake, k, chunk_size), chunk_size)
    return {"precision": counts["fake_in_real_ball"] / len(fake), "recall": counts["real_in_fake_ball"] / len(real)}


def density_coverage(real_features, fake_features, k: int = 5, chunk_size: int = CHUNK_SIZE) -> dict:
    """Density and coverage (Naeem et al. 2020) of fake [M, D] against real [N, D] (real
    first): {"density": real k-NN balls holding each fake, on average, divided by k,
    "coverage": share of real balls holding at least one fake}."""
    real, fake = _pair(real_features, fake_features, k)
    real_r2 = _squared_radii(real, k, chunk_size)
    counts = _cross_counts(real, fake, real_r2, real_r2, None, chunk_size)
    return {"density": counts["pairs"] / (k * len(fake)), "coverage": counts["real_ball_hit"] / len(real)}


def real_squared_radii(real_features, ks, chunk_size: int = CHUNK_SIZE) -> dict[int, torch.Tensor]:
    """NND_k(x_i)^2 of every real row for each k of ``ks`` (float64, one pass): what every
    fake set scored against the same real set shares, so a caller may keep it."""
    real = _as_features(real_features, "real")
    for k in ks:
        _check_k(k, len(real), "real")
    return _squared_radii_for(real, tuple(ks), chunk_size)


def fidelity_diversity(real_features, fake_features, k_pr: int = 3, k_dc: int = 5, real_r2: dict | None = None,
                       chunk_size: int = CHUNK_SIZE) -> dict:
    """``precision_recall`` (k = ``k_pr``) and ``density_coverage`` (k = ``k_dc``) from one pass
    over the real x fake distances, with the real radii of ``real_r2`` (``real_squared_radii``
    of the same real set) when given: {"precision", "recall", "density", "coverage"}, the same
    numbers as the two functions give."""
    real, fake = _pair(real_features, fake_features, max(k_pr, k_dc))
    real_r2 = real_r2 or real_squared_radii(real, (k_pr, k_dc), chunk_size)
    if any(len(real_r2[k]) != len(real) for k in (k_pr, k_dc)):
        raise ValueError("real_r2 holds the radii of another real set (its length differs)")
    counts = _cross_counts(real, fake, real_r2[k_pr], real_r2[k_dc], _squared_radii(fake, k_pr, chunk_size),
                           chunk_size)
    return {"precision": counts["fake_in_real_ball"] / len(fake), "recall": counts["real_in_fake_ball"] / len(real),
            "density": counts["pairs"] / (k_dc * len(fake)), "coverage": counts["real_ball_hit"] / len(real)}
