"""The metric classifier: the shipped weights, verified by sha256, accurate, the same everywhere;
retraining on another scale; the cache keyed by config.
"""
import shutil

import pytest
import torch

from nbhelpers.assets import AssetError
from nbhelpers.data import load_mnist
from nbhelpers.files import file_digest, save_recorded
from nbhelpers.metrics import classifier as clf


@pytest.fixture(scope="module")
def trained():
    return clf.load("cpu")


def test_shipped_classifier_is_verified_accurate_and_recorded(trained):
    model, record = trained
    assert record["source"] == "shipped" and record["sha256"] == clf.SHIPPED_SHA256 == file_digest(clf.SHIPPED_WEIGHTS)
    assert record["test_accuracy"] >= clf.MIN_TEST_ACCURACY
    assert record["key"] == clf.TrainConfig().key() and record["path"].endswith(f"{record['key']}.pt")
    assert record["config"]["epochs"] == clf.TrainConfig().epochs
    test_x, test_y = load_mnist("test", limit=2000)
    feats, predicted = clf.predict(model, test_x)
    assert feats.shape == (2000, clf.FEATURE_DIM) and (feats >= 0).all()  # after ReLU
    assert (predicted == test_y).float().mean() > 0.98


def test_predict_is_deterministic_and_batch_independent(trained):
    model, _ = trained
    x, _ = load_mnist("test", limit=300)
    f1, p1 = clf.predict(model, x, batch_size=300)
    f2, p2 = clf.predict(model, x, batch_size=7)
    torch.testing.assert_close(f1, f2, rtol=1e-5, atol=1e-5)
    assert torch.equal(p1, p2) and not model.training


def test_cache_key_follows_the_training_config():
    base = clf.TrainConfig()
    assert base.key() == clf.TrainConfig().key()
    assert clf.TrainConfig(epochs=base.epochs + 1).key() != base.key()
    assert clf.TrainConfig(seed=1).key() != base.key()
    assert clf.cache_path(base).name == f"mnist-cnn-{base.key()}.pt"


def test_learning_rate_schedule_warms_up_then_decays_to_zero():
    config = clf.TrainConfig(lr=1e-3, warmup_fraction=0.1)
    lrs = [clf._lr_at(step, 100, config) for step in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and max(lrs) == pytest.approx(1e-3)
    assert lrs[9] == pytest.approx(1e-3) and lrs[-1] < 1e-6
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_a_damaged_weights_file_is_refused_naming_it(tmp_path, monkeypatch):
    damaged = tmp_path / clf.SHIPPED_WEIGHTS.name
    shutil.copy(clf.SHIPPED_WEIGHTS, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01                       # one flipped bit in the middle of a tensor
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(clf, "SHIPPED_WEIGHTS", damaged)
    with pytest.raises(AssetError, match=f"{damaged.name}: sha256 .* is not the shipped weights'"):
        clf.load("cpu")


def test_retrained_weights_are_loaded_only_on_request_and_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_CACHE_DIR", str(tmp_path))
    cached = clf.cache_path()
    cached.parent.mkdir(parents=True)
    # the shipped weights stand in for this machine's own training, saved as retrain() saves
    save_recorded(cached, lambda handle: handle.write(clf.SHIPPED_WEIGHTS.read_bytes()))
    messages = []
    _, record = clf.load("cpu", source="retrained", log=messages.append)
    assert record["source"] == "retrained" and record["path"] == str(cached)
    assert "another scale" in messages[0]
    monkeypatch.setenv("NBH_CLASSIFIER", "retrained")
    assert clf.load("cpu", log=lambda *a: None)[1]["source"] == "retrained"
    with pytest.raises(ValueError, match="expected one of"):
        clf.load("cpu", source="imagenet")
    damaged = bytearray(cached.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01               # one flipped bit: refused, with the recovery command
    cached.write_bytes(bytes(damaged))
    with pytest.raises(AssetError, match=r"differs from the .* recorded when it was written.*--retrain"):
        clf.load("cpu", log=lambda *a: None)
