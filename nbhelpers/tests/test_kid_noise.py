"""The KID of all rows and its bootstrap standard error over the generated samples
(``distances.kid_bootstrap``), checked against the formula, against ``kid``'s subsets, and
against the spread of KID over independent generated sets."""
import numpy as np
import pytest
import torch

from nbhelpers.data import load_mnist
from nbhelpers.metrics import distances


def gaussian_features(n, d, seed, shift=0.0):
    return torch.from_numpy(np.random.default_rng(seed).normal(shift, 1.0, size=(n, d)))


def kernel(a, b):
    return (a @ b.T / a.shape[1] + 1) ** 3


def off_diagonal_mean(k):
    return (k.sum() - np.trace(k)) / (len(k) * (len(k) - 1))


def unbiased_mmd2(x, y, yy=None):
    """Binkowski et al. 2018, eq. 4, with N != M, straight from the definition in numpy
    (``yy``: the reference's term, when it is already known)."""
    x, y = x.numpy(), y.numpy()
    yy = off_diagonal_mean(kernel(y, y)) if yy is None else yy
    return off_diagonal_mean(kernel(x, x)) + yy - 2 * kernel(x, y).mean()


def test_the_full_sample_kid_is_the_unbiased_mmd_of_all_rows(one_thread):
    x, y = gaussian_features(70, 12, 1, shift=0.2), gaussian_features(130, 12, 2)
    full, _ = distances.kid_bootstrap_se(x, y, n_boot=10)
    assert full == pytest.approx(unbiased_mmd2(x, y), rel=1e-5)


def test_the_full_sample_kid_is_close_to_the_mean_over_kids_subsets(one_thread):
    # every pair is equally likely in a subset, so the subsets' mean estimates the full-sample value
    x, y = gaussian_features(400, 16, 3, shift=0.15), gaussian_features(400, 16, 4)
    mean, std = distances.kid(x, y, n_subsets=100, subset_size=100)
    full, se = distances.kid_bootstrap_se(x, y)
    assert abs(full - mean) < 4 * std / np.sqrt(100)
    assert abs(full - mean) < 0.5 * se


def test_the_same_seed_gives_the_same_error_and_another_seed_a_close_one(one_thread):
    x, y = gaussian_features(150, 16, 5, shift=0.3), gaussian_features(300, 16, 6)
    first, again, other = (distances.kid_bootstrap_se(x, y, seed=s) for s in (0, 0, 1))
    assert first == again and first[0] == other[0]
    assert first[1] != other[1] and other[1] == pytest.approx(first[1], rel=0.15)


def test_the_bootstrap_is_centred_on_the_estimate_as_no_row_pairs_with_itself(one_thread):
    # counting a row drawn twice as a pair would add k(x_i, x_i) ~ 8 times the kernel between two
    # samples to about 1 pair in N and shift every replicate up by far more than this tolerance
    x, y = gaussian_features(60, 16, 7, shift=0.3), gaussian_features(300, 16, 8)
    full, values = distances.kid_bootstrap(x, y, n_boot=4000)
    assert abs(values.mean().item() - full) < 4 * values.std().item() / np.sqrt(len(values))


def test_the_bootstrap_error_matches_the_spread_over_independent_generated_sets(one_thread):
    reference, n, shift = gaussian_features(500, 16, 9), 100, 0.3
    yy = off_diagonal_mean(kernel(reference.numpy(), reference.numpy()))
    spread = np.std([unbiased_mmd2(gaussian_features(n, 16, 100 + i, shift), reference, yy) for i in range(400)],
                    ddof=1)
    errors = [distances.kid_bootstrap_se(gaussian_features(n, 16, 1000 + i, shift), reference, seed=i)[1]
              for i in range(8)]
    assert np.mean(errors) == pytest.approx(spread, rel=0.3)


def test_the_error_halves_when_the_generated_digits_quadruple(one_thread):
    # real digits: a "generator" that over-produces 0-4 (pixels as features) against 1000 test digits
    images, labels = load_mnist("test", limit=6000)
    pixels = images.flatten(1).double()
    low_digits, reference = pixels[:5000][labels[:5000] < 5], pixels[5000:]     # 2561 low digits

    def mean_error(n):                       # over 4 disjoint generated sets of n digits
        return np.mean([distances.kid_bootstrap_se(low_digits[i * n:(i + 1) * n], reference, seed=i)[1]
                        for i in range(4)])

    assert mean_error(100) / mean_error(400) == pytest.approx(2.0, rel=0.3)


def test_a_bootstrap_needs_rows_and_draws():
    x = gaussian_features(10, 4, 0)
    with pytest.raises(ValueError, match="at least 4 generated"):
        distances.kid_bootstrap_se(x[:3], x)
    with pytest.raises(ValueError, match="equal D"):
        distances.kid_bootstrap_se(x, gaussian_features(10, 5, 1))
    with pytest.raises(ValueError, match="2 bootstrap draws"):
        distances.kid_bootstrap_se(x, x, n_boot=1)
