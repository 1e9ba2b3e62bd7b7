"""Nearest training images: exactness against a brute force, exact copies, and the ratio of
medians on sets that copy the training set and on held-out real digits."""
import matplotlib
import numpy as np
import pytest
import torch

from nbhelpers.data import load_mnist
from nbhelpers.metrics import memorisation

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")


def brute_force(queries, reference):
    """Every distance from its definition, in float64 by broadcasting; nearest = argmin."""
    q = queries.reshape(len(queries), -1).double()
    x = reference.reshape(len(reference), -1).double()
    distances = (q[:, None, :] - x[None, :, :]).pow(2).sum(-1).sqrt()
    return distances.min(1)


@pytest.fixture(scope="module")
def mnist():
    train, _ = load_mnist("train", limit=6000)
    test, _ = load_mnist("test")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(5))
    return train, test[order[:2000]], test[order[2000:4000]]   # train, baseline pool, held-out queries


def test_the_blocked_search_equals_a_brute_force_on_random_images():
    g = torch.Generator().manual_seed(0)
    queries, reference = torch.rand(37, 1, 5, 5, generator=g), torch.rand(203, 1, 5, 5, generator=g)
    distances, indices = memorisation.nearest_neighbours(queries, reference, query_block=8, train_block=16)
    expected = brute_force(queries, reference)
    assert torch.equal(indices, expected.indices)
    assert torch.allclose(distances, expected.values, rtol=1e-12, atol=0)


def test_block_sizes_do_not_change_the_result():
    g = torch.Generator().manual_seed(1)
    queries, reference = torch.randn(50, 12, generator=g), torch.randn(300, 12, generator=g)
    one = memorisation.nearest_neighbours(queries, reference)
    other = memorisation.nearest_neighbours(queries, reference, query_block=7, train_block=33)
    assert torch.equal(one[1], other[1]) and torch.equal(one[0], other[0])


def test_an_exact_copy_of_a_training_image_is_its_own_neighbour_at_distance_0(mnist):
    train, _, _ = mnist
    picked = torch.tensor([0, 17, 4321, 5999])
    distances, indices = memorisation.nearest_neighbours(train[picked], train)
    assert torch.equal(distances, torch.zeros(4, dtype=torch.float64))
    assert torch.equal(train[indices], train[picked])   # the image itself (or a pixel-identical twin)


def test_samples_made_of_training_images_give_a_ratio_far_below_1_and_count_as_copies(mnist):
    train, pool, _ = mnist
    memo = memorisation.check({"copies": train[1000:1500]}, train, pool, n=500)
    record = memo.record("copies")
    assert record["median_generated"] == 0 and record["ratio_of_medians"] == 0
    assert record["nearest_exact_copies"] == 500 and record["share_below_test_q05"] == 1
    assert record["n"] == record["test_n"] == 500 and record["train_n"] == len(train)


def test_held_out_real_digits_give_a_ratio_of_medians_near_1(mnist):
    train, pool, held_out = mnist
    record = memorisation.check({"held_out": held_out}, train, pool, n=1000).record("held_out")
    assert 0.93 < record["ratio_of_medians"] < 1.07
    assert record["nearest_exact_copies"] == 0
    assert 0.01 < record["share_below_test_q05"] < 0.10


def test_the_record_names_its_feature_space_and_sizes_and_n_shrinks_to_the_smallest_set(mnist):
    train, pool, held_out = mnist
    memo = memorisation.check({"a": held_out[:300], "b": held_out[:800]}, train, pool, n=1000)
    record = memo.record("b")
    assert record["space"] == "pixels" and record["n"] == record["test_n"] == 300
    assert set(memo.table().index) == {"a", "b"}
    assert "pixels" in memorisation.summary_line(memo, "a")


def test_the_baseline_is_a_seeded_random_subset_of_the_test_images(mnist):
    _, pool, _ = mnist
    first = memorisation.test_baseline(pool, 100)
    assert torch.equal(first, memorisation.test_baseline(pool, 100))
    assert not torch.equal(first, pool[:100])


def test_non_finite_samples_and_mismatched_sizes_are_refused():
    reference = torch.rand(10, 4)
    with pytest.raises(ValueError, match="NaN"):
        memorisation.nearest_neighbours(torch.tensor([[np.nan, 0, 0, 0]]), reference)
    with pytest.raises(ValueError, match="differ in size"):
        memorisation.nearest_neighbours(torch.rand(2, 3), reference)


def test_the_figures_draw_pairs_and_histograms(mnist):
    import matplotlib.pyplot as plt
    train, pool, held_out = mnist
    memo = memorisation.check({"held_out": held_out[:50]}, train, pool, n=50)
    fig = memorisation.plot_neighbours(memo, "held_out", count=6)
    assert len(fig.axes) == 24
    fig, ax = plt.subplots()
    memorisation.plot_distances(ax, memo)
    assert len(ax.get_legend().get_texts()) == 2
    plt.close("all")
