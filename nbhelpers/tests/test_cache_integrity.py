"""Cached files that feed numbers are used only with the sha256 recorded when they were written:
a flipped byte or a truncated file is set aside and computed again, never read into a number."""
import numpy as np
import pytest

from nbhelpers import files
from nbhelpers.metrics import features


@pytest.fixture
def classifier_reference(tmp_path, monkeypatch):
    """features.reference for the real classifier features of 500 test images, cached in tmp_path."""
    monkeypatch.setenv("NBH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(features, "_REFERENCES", {})
    extract, info = features.load_extractor("classifier", "cpu", log=lambda *a: None)

    def reference():
        features._REFERENCES.clear()        # as a new process would: read from the disk cache
        return features.reference(info["tag"], 500, lambda images: features.extract(extract, images, "cpu", 500))
    return reference, tmp_path / "fid_reference"


def damage(path, how):
    content = bytearray(path.read_bytes())
    if how == "flip":
        content[-7] ^= 0x10                 # a mantissa bit of the last values: a subtle change
    else:
        content = content[:len(content) // 2]
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damaged_reference_features_are_recomputed_not_used(classifier_reference, how, capsys):
    reference, folder = classifier_reference
    clean = reference()
    (cached,) = folder.glob("*-features.npy")
    assert files.recorded_mismatch(cached) is None
    damage(cached, how)
    again = reference()
    assert np.array_equal(again["mu"], clean["mu"]) and np.array_equal(again["sigma"], clean["sigma"])
    assert (folder / (cached.name + ".corrupt")).exists() and files.recorded_mismatch(cached) is None
    assert f"cached file {cached.name} not used: its sha256" in capsys.readouterr().out


def test_a_damaged_square_root_of_sigma_is_recomputed(classifier_reference):
    reference, folder = classifier_reference
    clean = reference()["sqrt_sigma"]()
    (cached,) = folder.glob("*-sqrt-sigma.npy")
    damage(cached, "flip")
    assert np.array_equal(reference()["sqrt_sigma"](), clean)


def test_a_file_without_a_recorded_hash_is_not_trusted(tmp_path):
    path = tmp_path / "stats.npy"
    np.save(path, np.ones(3))
    assert "no sha256 was recorded" in files.recorded_mismatch(path)
    files.save_recorded(path, lambda handle: np.save(handle, np.ones(3)))
    assert files.recorded_mismatch(path) is None
