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

