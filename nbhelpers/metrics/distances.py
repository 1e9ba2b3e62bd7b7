"""Distances between two feature sets [N, D]: FID (Frechet) and KID (kernel MMD).

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
Nash Equilibrium", NeurIPS) fits a Gaussian to each feature set and takes their Frechet
distance. It depends on N: below N = feature dim the covariance is rank-deficient and the
value is biased upward. KID (Binkowski et al. 2018, "Demystifying MMD GANs", ICLR) is an
unbiased MMD^2 and stays usable at small N.
"""
import numpy as np
import torch

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # KID: mean and std of the MMD^2 over 100 random subsets of 1000
KID_BOOTSTRAPS = 500                       # KID's bootstrap standard error: resamples of the generated rows


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


def kid_subset_size(n_x: int, n_y: int, subset_size: int = KID_SUBSET_SIZE) -> int:
    """The rows of each KID subset: at most ``subset_size`` and half the smaller set."""
    return min(subset_size, min(n_x, n_y) // 2)


def kid(x: torch.Tensor, y: torch.Tensor, n_subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std over subsets of the unbiased MMD^2 estimate.

    With the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3 and subsets X, Y of m rows:

        MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
                  - 2 sum_{i,j} k(x_i, y_j) / m^2

    m = min(subset_size, N // 2) with N the smaller set (``kid_subset_size``): every subset is
    a proper part of each set, so the subsets differ and their std measures something (a subset
    that is a whole set is the same every time). Subsets drawn without replacement, seeded.
    Kernel values in float32 on the features' device, sums in float64; std over subsets (ddof 0).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs two feature sets [N, D] of equal D, got {tuple(x.shape)} and {tuple(y.shape)}")
    y = y.to(x.device)
    m = kid_subset_size(len(x), len(y), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 4 samples in each set (got {len(x)} and {len(y)})")
    d = x.shape[1]
    rng = np.random.default_rng(seed)

    def kernel(a, b):
        return (a.float() @ b.float().T / d + 1.0).pow(3).double()

    def off_diagonal_mean(k):
        return (k.sum() - k.diagonal().sum()) / (m * (m - 1))

    values = []
    for _ in range(n_subsets):
        xs = x[torch.from_numpy(rng.choice(len(x), m, replace=False)).to(x.device)]
        ys = y[torch.from_numpy(rng.choice(len(y), m, replace=False)).to(y.device)]
        xx, yy = off_diagonal_mean(kernel(xs, xs)), off_diagonal_mean(kernel(ys, ys))
        values.append((xx + yy - 2.0 * kernel(xs, ys).mean()).item())
    return float(np.mean(values)), float(np.std(values))



def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KID's cubic kernel k(a, b) = (a.b / d + 1)^3 between the rows of a [N, D] and b [M, D]:
    [N, M], computed in float32 and returned in float64 (as ``kid`` does)."""
    return (a.float() @ b.float().T / a.shape[1] + 1.0).pow(3).double()


def _kernel_sums(a: torch.Tensor, b: torch.Tensor, rows: int = 1024) -> torch.Tensor:
    """The row sums of ``polynomial_kernel(a, b)`` [N], built ``rows`` rows of a at a time so that
    a large reference never holds its whole kernel matrix."""
    return torch.cat([polynomial_kernel(a[i:i + rows], b).sum(1) for i in range(0, len(a), rows)])


def kid_bootstrap(x: torch.Tensor, y: torch.Tensor, n_boot: int = KID_BOOTSTRAPS,
                  seed: int = 0) -> tuple[float, torch.Tensor]:
    """The KID of all rows, and its ``n_boot`` bootstrap replicates over the generated samples
    [n_boot or a few fewer, float64] (``kid_bootstrap_se`` takes their standard deviation).

    ``x`` [N, D]: generated features, the random part; ``y`` [M, D]: the reference, held fixed (it is
    the same for every model and seed that is compared with it, so its own sampling error does not
    enter a paired difference). The estimate is ``kid``'s unbiased MMD^2 with the cubic kernel, on
    all rows at once instead of subsets:

        KID = sum_{i!=j} k(x_i, x_j) / (N(N-1)) + sum_{i!=j} k(y_i, y_j) / (M(M-1)) - 2 sum_{i,j} k(x_i, y_j) / (NM)

    Its expectation over subsets is this full-sample value (every pair is equally likely in a
    subset), so ``kid``'s mean over many subsets is close to it.

    Bootstrap (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 6): draw N rows of
    x with replacement ``n_boot`` times and recompute the estimate. The kernel matrices are
    computed once and each draw only reweights them: with c_i the times row i was drawn,

        x-x term = sum_{i!=j} c_i c_j k(x_i, x_j) / (N^2 - sum_i c_i^2),   x-y term = sum_i c_i sum_j k(x_i, y_j) / (NM)

    and the y-y term is a constant. The x-x term sums over the pairs of positions of the draw that
    hold two different rows: a row drawn twice is not a pair of samples, and counting k(x_i, x_i)
    (much larger than the kernel between two samples) would bias every draw upward and add the
    spread of the number of ties. Without ties the x-x term averages, over draws, to the
    full-sample one (by symmetry every pair of different rows is equally likely), and so does
    the estimate. When x and y come from nearly the same distribution the U-statistic is
    degenerate and its bootstrap overstates the error (Arcones & Gine 1992, "On the bootstrap of U
    and V statistics", Ann. Statist.): an upper bound there. A draw in which one row fills every
    position has no pair and is left out. Indices from a seeded ``torch.Generator`` on the CPU:
    the same seed gives the same replicates. Holds the N x N kernel of x.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs two feature sets [N, D] of equal D, got {tuple(x.shape)} and {tuple(y.shape)}")
    n, m = len(x), len(y)
    if n < 4 or m < 2:
        raise ValueError(f"a KID bootstrap needs at least 4 generated and 2 reference samples (got {n} and {m})")
    if n_boot < 2:
        raise ValueError(f"a standard error needs at least 2 bootstrap draws, got {n_boot}")
    y = y.to(x.device)
    k_xx = polynomial_kernel(x, x).fill_diagonal_(0.0)
    xy_sums = _kernel_sums(x, y)
    y_diagonal = ((y.float() * y.float()).sum(1) / y.shape[1] + 1.0).pow(3).double()
    yy = (_kernel_sums(y, y).sum() - y_diagonal.sum()) / (m * (m - 1))
    full = float((k_xx.sum() / (n * (n - 1)) + yy - 2.0 * xy_sums.sum() / (n * m)).item())

    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(n, (n_boot, n), generator=generator)
    counts = torch.zeros(n_boot, n, dtype=torch.float64).scatter_add_(
        1, draws, torch.ones(n_boot, n, dtype=torch.float64)).to(x.device)
    pairs = n * n - (counts * counts).sum(1)
    xx = ((counts @ k_xx) * counts).sum(1) / pairs.clamp(min=1)
    values = (xx + yy - 2.0 * (counts @ xy_sums) / (n * m))[pairs > 0]
    if len(values) < 2:
        raise ValueError(f"fewer than 2 of {n_boot} bootstrap draws held two different rows: raise n_boot")
    return full, values


def kid_bootstrap_se(x: torch.Tensor, y: torch.Tensor, n_boot: int = KID_BOOTSTRAPS,
                     seed: int = 0) -> tuple[float, float]:
    """The KID of all rows and its standard error over the generated samples: the standard
    deviation (ddof 1) of its bootstrap replicates (``kid_bootstrap``, which gives the maths).
    Deterministic for a given seed."""
    full, values = kid_bootstrap(x, y, n_boot, seed)
    return full, float(values.std().item())
