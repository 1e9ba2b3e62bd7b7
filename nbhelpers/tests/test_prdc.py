"""Precision / recall (Kynkaenniemi et al. 2019) and density / coverage (Naeem et al. 2020):
closed forms, large-N values, mode dropping, argument order, and agreement with a brute
force written here in numpy."""
import numpy as np
import pytest
import torch

from nbhelpers.metrics import prdc

pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian(n, d, seed, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def all_four(real, fake, k_pr=3, k_dc=5, **kwargs):
    return {**prdc.precision_recall(real, fake, k=k_pr, **kwargs), **prdc.density_coverage(real, fake, k=k_dc, **kwargs)}


def brute_force(real, fake, k):
    """The four metrics and the real / fake radii, straight from the definitions: full
    distance matrices by broadcasting, k-th neighbour = column k of the sorted row (column 0
    is the point itself)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    dist = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    r_real = np.sort(dist(real, real), axis=1)[:, k]
    r_fake = np.sort(dist(fake, fake), axis=1)[:, k]
    d = dist(real, fake)  # [real i, fake j]
    in_real_ball = d <= r_real[:, None]
    return {"precision": in_real_ball.any(0).mean(),
            "recall": (d <= r_fake[None, :]).any(1).mean(),
            "density": in_real_ball.sum() / (k * len(fake)),
            "coverage": (d.min(1) <= r_real).mean(),
            "r_real": r_real, "r_fake": r_fake}


# ---------------------------------------------------------------------------- closed forms

@pytest.mark.parametrize("k", [1, 3, 5])
def test_set_against_itself(k):
    # Each fake y_j = x_j. The ball of x_i (radius NND_k(x_i)) holds x_i itself and its k
    # nearest neighbours, and nothing else when no other distance ties with the k-th one
    # (almost surely for continuous data). Summing the counts over j is summing the ball
    # sizes over i: N (k + 1), so density = N (k + 1) / (k N) = (k + 1)/k EXACTLY, not only
    # in expectation. Python's int / int division is correctly rounded, hence ==.
    x = gaussian(500, 8, seed=k)
    got = all_four(x, x.copy(), k_pr=k, k_dc=k)
    assert got == {"precision": 1.0, "recall": 1.0, "density": (k + 1) / k, "coverage": 1.0}
    assert brute_force(x, x, k)["density"] == (k + 1) / k


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_exact_duplicates_count_as_neighbours(k):
    # Every point twice: only the point itself is excluded, so its twin is its first
    # neighbour (at distance 0, up to the cancellation of ||a||^2 + ||a||^2 - 2 a.a). The
    # sorted other distances are 0, d1, d1, d2, d2, ...: NND_k = d_floor(k/2), and each ball
    # holds 2 + 2 floor(k/2) points of the copy. Excluding the twin as well would give
    # 2 + 2 ceil(k/2) instead, a different number for odd k.
    x = gaussian(300, 6, seed=10)
    doubled = np.concatenate([x, x])
    assert prdc.nearest_neighbour_radii(doubled, 1).max() < 1e-6  # typical neighbour distances here ~ 1
    got = prdc.density_coverage(doubled, doubled, k=k)
    assert got == {"density": (2 + 2 * (k // 2)) / k, "coverage": 1.0}


def test_far_apart_clouds_give_zero():
    real, fake = gaussian(400, 8, seed=1), gaussian(300, 8, seed=2, shift=50.0)
    assert all_four(real, fake) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


# ---------------------------------------------------------------------------- statistics

def test_two_draws_of_one_gaussian():
    real, fake = gaussian(2000, 16, seed=3), gaussian(2000, 16, seed=4)
    got = all_four(real, fake)
    # Precision / recall of identical distributions fall with the dimension (the union of k-NN
    # balls misses more of the space in 16-d): ~0.78-0.81 here, not ~1, and equal up to noise.
    assert 0.70 < got["precision"] < 0.90 and 0.70 < got["recall"] < 0.90
    assert abs(got["precision"] - got["recall"]) < 0.05
    # Naeem et al.: E[density] = 1 and coverage -> 1 - 2^-k for identical distributions. A
    # radius one neighbour short (self not excluded) would give coverage ~ 1 - 2^-(k-1) = 0.94.
    assert 0.90 < got["density"] < 1.10
    assert abs(got["coverage"] - (1 - 2.0 ** -5)) < 0.02


def test_dropped_modes():
    # 10 clusters far apart on a circle in 2-d; fakes come from the first 7 only.
    rng = np.random.default_rng(5)
    angle = np.arange(10) * 2 * np.pi / 10
    centres = 30 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    real_mode, fake_mode = rng.integers(0, 10, 2000), rng.integers(0, 7, 2000)
    real = centres[real_mode] + rng.normal(size=(2000, 2))
    fake = centres[fake_mode] + rng.normal(size=(2000, 2))
    got = all_four(real, fake)
    kept = (real_mode < 7).mean()  # share of the reals in the modes the fakes cover, ~0.7
    assert got["precision"] > 0.93  # every fake lies on a real mode
    # reals in the 3 missing modes are in no fake ball and their balls hold no fake: at most
    # `kept`, and within the covered modes nearly all of it.
    for name in ("recall", "coverage"):
        assert kept - 0.06 < got[name] <= kept, name
    assert 0.9 < got["density"] < 1.1


# ---------------------------------------------------------------------------- interface

def test_swapping_arguments_swaps_precision_and_recall():
    real = gaussian(600, 4, seed=6)
    fake = gaussian(500, 4, seed=7, scale=0.5)  # a narrow fake inside the real cloud: precise, not diverse
    forward, backward = prdc.precision_recall(real, fake), prdc.precision_recall(fake, real)
    assert forward["precision"] > 0.9 and forward["recall"] < 0.7
    assert backward == {"precision": forward["recall"], "recall": forward["precision"]}


def test_k_not_smaller_than_the_set_is_refused():
    real, fake = gaussian(20, 3, seed=8), gaussian(5, 3, seed=9)
    with pytest.raises(ValueError, match=r"k = 5 must be smaller than the size of the fake set \(5 features\)"):
        prdc.precision_recall(real, fake, k=5)
    with pytest.raises(ValueError, match=r"k = 20 must be smaller than the size of the real set \(20 features\)"):
        prdc.density_coverage(real, gaussian(30, 3, seed=9), k=20)
    with pytest.raises(ValueError, match=r"k = 6 must be smaller than the size of the fake set \(5 features\)"):
        prdc.density_coverage(real, fake, k=6)
    with pytest.raises(ValueError, match="positive integer"):
        prdc.precision_recall(real, fake, k=0)
    assert prdc.precision_recall(real, fake, k=4)  # k = N - 1 is the largest allowed


def test_bad_inputs_are_refused():
    x = gaussian(10, 3, seed=0)
    with pytest.raises(ValueError, match="2-D"):
        prdc.precision_recall(x[0], x, k=1)
    with pytest.raises(ValueError, match="dimension: 3 vs 4"):
        prdc.density_coverage(x, gaussian(10, 4, seed=1), k=1)
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="fake features hold NaN or inf"):
        prdc.precision_recall(x, bad, k=1)
    with pytest.raises(TypeError):
        prdc.precision_recall(x.tolist(), x, k=1)


def test_tensors_and_arrays_agree():
    real, fake = gaussian(200, 5, seed=11), gaussian(150, 5, seed=12, shift=0.3)
    assert all_four(torch.from_numpy(real), torch.from_numpy(fake)) == all_four(real, fake)


# ---------------------------------------------------------------------------- against a brute force

@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_matches_brute_force(k):
    real, fake = gaussian(70, 5, seed=20 + k), gaussian(55, 5, seed=40 + k, scale=1.3, shift=0.2)
    expected = brute_force(real, fake, k)
    got = all_four(real, fake, k_pr=k, k_dc=k)
    for name in ("precision", "recall", "density", "coverage"):
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name
    np.testing.assert_allclose(prdc.nearest_neighbour_radii(real, k).numpy(), expected["r_real"], rtol=1e-12)
    np.testing.assert_allclose(prdc.nearest_neighbour_radii(torch.from_numpy(fake), k).numpy(), expected["r_fake"],
                               rtol=1e-12)


def test_chunking_changes_nothing():
    real, fake = gaussian(300, 6, seed=30), gaussian(250, 6, seed=31, scale=0.8)
    whole = all_four(real, fake, chunk_size=10_000)
    radii = prdc.nearest_neighbour_radii(real, 3, chunk_size=10_000).numpy()
    for chunk_size in (1, 7, 64):
        assert all_four(real, fake, chunk_size=chunk_size) == whole
        # the radii themselves may move by an ulp: a 1-row chunk is a matrix-vector product,
        # summed in another order than the matrix-matrix one
        np.testing.assert_allclose(prdc.nearest_neighbour_radii(real, 3, chunk_size=chunk_size).numpy(), radii,
                                   rtol=1e-14)


def test_evaluator_rows_separate_fidelity_from_diversity_on_real_digits():
    """Real MNIST training digits of only three classes against the test-set reference: sharp
    (precision high) but not diverse (recall and coverage near the missing share), as the
    BatchNorm failure demo's collapse onto three digits should read."""
    from nbhelpers.data import load_mnist
    from nbhelpers.metrics import classifier, tables
    from nbhelpers.metrics.evaluator import Evaluator
    images, labels = load_mnist("train", limit=6000)
    three = images[(labels <= 2)][:1000]
    evaluator = Evaluator("cpu", n_inception=0, n_classifier=1000, ref_n_classifier=1000, log=lambda *a: None)
    collapsed = evaluator.fidelity_diversity(three)
    diverse = evaluator.fidelity_diversity(images[:1000])
    pr, dc = collapsed["precision_recall"], collapsed["density_coverage"]
    assert (pr["features"], pr["n"], pr["ref"], pr["k"], dc["k"]) == ("classifier", 1000, "mnist-test[:1000]", 3, 5)
    assert pr["weights"] == classifier.SHIPPED_SHA256[:16] and pr["biased"] and dc["biased"]   # N < 10k
    assert pr["precision"] > 0.8 and diverse["precision_recall"]["precision"] > 0.8
    assert pr["recall"] < 0.5 < diverse["precision_recall"]["recall"]
    assert dc["coverage"] < 0.45 < diverse["density_coverage"]["coverage"]
    result = evaluator.evaluate(three)
    assert result["precision_recall"]["recall"] == pr["recall"]
    table = tables.fid_table({"three digits": result})
    assert table.loc["three digits", "recall (k=3)"] == pr["recall"] and "coverage (k=5)" in table.columns


# ---------------------------------------------------------------------------- one pass for all four

@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_one_pass_gives_the_four_numbers_of_the_two_functions_exactly(chunk_size):
    real = gaussian(300, 6, seed=3)
    fake = np.concatenate([gaussian(250, 6, seed=4, shift=0.3), real[:20]])   # duplicates of real points too
    separate = all_four(real, fake, chunk_size=chunk_size)
    radii = prdc.real_squared_radii(real, (3, 5), chunk_size=chunk_size)
    assert prdc.fidelity_diversity(real, fake, chunk_size=chunk_size) == separate
    assert prdc.fidelity_diversity(real, fake, real_r2=radii, chunk_size=chunk_size) == separate
    assert prdc.fidelity_diversity(real, fake, k_pr=2, k_dc=4) == all_four(real, fake, k_pr=2, k_dc=4)
    assert torch.equal(radii[5].sqrt(), prdc.nearest_neighbour_radii(real, 5, chunk_size=chunk_size))


def test_radii_of_another_real_set_are_refused():
    real, fake = gaussian(50, 4, seed=1), gaussian(40, 4, seed=2)
    with pytest.raises(ValueError, match="another real set"):
        prdc.fidelity_diversity(real, fake, real_r2=prdc.real_squared_radii(real[:30], (3, 5)))
