"""Files this project writes: whole or not at all, with their sha256 recorded where a number
depends on them, and saved network weights.

- ``atomic_save`` writes into a temporary file beside the target and renames it into place: a
  reader sees the old file or the whole new one, never a partial write.
- ``save_recorded`` does the same and records the file's sha256 beside it (``<name>.sha256``);
  ``recorded_mismatch`` checks a file against that record before it is used, so a flipped byte
  or a truncated file is caught, never read into a number.
- Temporary files and folders have one exact form (``temporary_path``, ``temporary_folder``):
  hidden, named by the process that writes them and a random part, so that what a killed
  process left can be told from anything else (``temporary_pid``) and removed, and nothing else.
- A write that the disk cuts short without saying why (numpy's "N requested and M written",
  which carries no errno, or torch.save's "unexpected pos", a RuntimeError) is raised as the
  full disk it is (``ENOSPC``, naming the file).
"""
import contextlib
import errno
import hashlib
import os
import re
import secrets
import tempfile
from pathlib import Path

import torch


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


RANDOM_PART = 8   # characters, as tempfile draws them
TEMPORARY_FILE = re.compile(rf"\.(?P<name>.+)\.(?P<pid>\d+)-[a-z0-9_]{{{RANDOM_PART}}}\.tmp")
TEMPORARY_FOLDER = re.compile(rf"\.(?P<name>[a-z]+(?:-[a-z]+)*)-(?P<pid>\d+)-[a-z0-9_]{{{RANDOM_PART}}}")
# A write cut short, as the writers say it without an errno: numpy's, and torch.save's zip writer's
SHORT_WRITE = re.compile(r"\d+ requested and \d+ written|unexpected pos \d+ vs \d+")


def temporary_path(path: Path) -> Path:
    """Where ``atomic_save`` writes ``path`` before the rename: hidden, beside it, named by this
    process and a random part, ``.<name>.<pid>-<random>.tmp`` (in the report tree, the next batch
    removes those a killed process left: ``temporary_pid``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(RANDOM_PART // 2)}.tmp")


def temporary_folder(parent: Path, purpose: str) -> Path:
    """A new folder in ``parent`` for work that is renamed into place or deleted once done:
    ``.<purpose>-<pid>-<random>`` (``purpose``: lowercase words joined by "-")."""
    return Path(tempfile.mkdtemp(prefix=f".{purpose}-{os.getpid()}-", dir=parent))


def temporary_pid(name: str, purpose: str | None = None) -> int | None:
    """The process that made a file named ``name`` with ``temporary_path`` or, with ``purpose``,
    a folder made with ``temporary_folder(..., purpose)``; None for any other name."""
    if purpose is None:
        found = TEMPORARY_FILE.fullmatch(name)
    else:
        found = TEMPORARY_FOLDER.fullmatch(name)
        found = found if found and found["name"] == purpose else None
    return int(found["pid"]) if found else None


def as_disk_full(error: OSError | RuntimeError, path: Path) -> OSError | RuntimeError:
    """``error`` as the full disk it says (``ENOSPC``, naming ``path``) when it is a write cut
    short without an errno (``SHORT_WRITE``: numpy's OSError, torch.save's RuntimeError); else
    ``error`` itself."""
    if getattr(error, "errno", None) is None and SHORT_WRITE.search(str(error)):
        return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({error})", str(path))
    return error


@contextlib.contextmanager
def written_beside(path: Path, write):
    """``path``'s new content written through ``write(handle)`` into a temporary file beside it;
    yields that file, removed again if the block (or the writing: a full disk) fails."""
    tmp = temporary_path(path)
    try:
        try:
            with open(tmp, "wb") as handle:
                write(handle)
        except (OSError, RuntimeError) as error:
            if (full := as_disk_full(error, path)) is not error:
                raise full from error
            raise
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


def save_state(path: Path, module: torch.nn.Module) -> Path:
    """Save ``module``'s state_dict (CPU tensors) to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    atomic_save(path, lambda handle: torch.save(state, handle))
    return path
