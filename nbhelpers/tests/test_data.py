import pickle

import numpy as np
import pytest
import torch

from nbhelpers import assets, data, files


@pytest.fixture(scope="module", autouse=True)
def prepared():
    return data.prepare()


def test_raw_files_are_the_canonical_mnist(prepared):
    assert prepared == data.CANONICAL_MD5


def test_shapes_ranges_and_labels():
    train_x, train_y = data.load_mnist("train")
    test_x, test_y = data.load_mnist("test")
    assert train_x.shape == (60_000, 1, 28, 28) and test_x.shape == (10_000, 1, 28, 28)
    assert train_x.dtype == torch.float32 and train_x.min() == 0 and train_x.max() == 1
    assert train_y.dtype == torch.int64 and set(train_y.unique().tolist()) == set(range(10))
    # Known facts of canonical MNIST: the first training digit is a 5, the first test digit a 7,
    # and the test set has 1,135 ones.
    assert train_y[0] == 5 and test_y[0] == 7 and int((test_y == 1).sum()) == 1135


def test_limit_keeps_the_first_images():
    first, labels = data.load_mnist("test", limit=10)
    assert first.shape[0] == 10 and torch.equal(labels, data.load_mnist("test")[1][:10])


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown MNIST split"):
        data.load_mnist("valid")


def test_corrupt_or_partial_files_are_refused_with_a_recovery_hint(tmp_path):
    raw = data.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    source = data.raw_dir()
    for name in data.CANONICAL_MD5:
        (raw / name).write_bytes((source / name).read_bytes())
    damaged = raw / "t10k-labels-idx1-ubyte"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    (raw / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(assets.AssetError) as error:
        data.prepare(tmp_path, try_torchvision=False)
    message = str(error.value)
    assert "corrupt" in message and "t10k-labels" in message and "missing" in message and "--repair" in message


def test_idx_writer_matches_the_canonical_layout(tmp_path):
    labels = np.frombuffer((data.raw_dir() / "t10k-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8)
    data._write_idx(tmp_path / "labels", labels)
    assert files.file_digest(tmp_path / "labels", "md5") == data.CANONICAL_MD5["t10k-labels-idx1-ubyte"]


def test_restricted_unpickler_refuses_arbitrary_globals():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    payload = pickle.dumps(Evil(), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._NumpyOnlyUnpickler(__import__("io").BytesIO(payload)).load()


def test_verify_reports_a_hash_mismatch(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"not the pinned file")
    with pytest.raises(assets.AssetError, match="sha256 mismatch"):
        assets.verify(path, "0" * 64)
