"""Checkpoints and recorded files under kills and full disks (issue 26): a kill between a file and
its sha256 record never makes a valid file look corrupt, files set aside never replace each
other, and a write that fails leaves no temporary file."""
import errno
import subprocess
import sys
import textwrap

import pytest
import torch

from nbhelpers import files
from nbhelpers.models.gan.checkpoint import Checkpoint

SETTINGS = {"epochs": 2, "lr": 1e-4}

# Saves a checkpoint after epoch 1, then after epoch 2 with SIGKILL right after the k-th rename
# (argv[2]) of that second save: a kill between the file and its record, or between the writes.
SAVE_THEN_DIE = textwrap.dedent("""
    import os, signal, sys
    import torch
    from nbhelpers.models.gan.checkpoint import Checkpoint

    folder, kill_after = sys.argv[1], int(sys.argv[2])
    model = torch.nn.Linear(4, 4)
    checkpoint = Checkpoint(folder, "gan", {settings!r}, log=print)
    checkpoint.save(1, 10, {{"generator": model}})
    renames, rename = [], os.replace

    def rename_then_die(source, target):
        rename(source, target)
        renames.append(target)
        if len(renames) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = rename_then_die
    with torch.no_grad():
        model.weight.add_(1.0)
    checkpoint.save(2, 20, {{"generator": model}})
""").format(settings=SETTINGS)


@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_a_kill_between_a_checkpoint_and_its_record_never_discards_it(tmp_path, kill_after):
    died = subprocess.run([sys.executable, "-c", SAVE_THEN_DIE, str(tmp_path), str(kill_after)],
                          capture_output=True, text=True, timeout=120)
    assert died.returncode in (-9, 0), died.stderr   # -9: killed at that rename; 0: fewer renames than that
    messages = []
    state = Checkpoint(tmp_path, "gan", SETTINGS, log=messages.append).load()
    assert state is not None, messages                  # before: "not used", training from epoch 0
    assert state["epoch"] in (1, 2) and not list(tmp_path.glob("*.corrupt*")), messages
    if died.returncode == 0:
        assert state["epoch"] == 2


def test_files_set_aside_keep_names_of_their_own(tmp_path):
    checkpoint = Checkpoint(tmp_path, "gan", SETTINGS, log=lambda line: None)
    model = torch.nn.Linear(4, 4)
    damaged = []
    for epoch in (1, 2, 3):
        checkpoint.save(epoch, epoch * 10, {"generator": model})
        content = bytearray(checkpoint.path.read_bytes())
        content[len(content) // 2] ^= 0x01
        checkpoint.path.write_bytes(bytes(content))
        damaged.append(bytes(content))
        assert checkpoint.load() is None
    kept = sorted(tmp_path.glob(checkpoint.path.name + ".corrupt*"), key=lambda path: path.stat().st_mtime_ns)
    kept = [path for path in kept if not path.name.endswith(".sha256")]
    assert [path.read_bytes() for path in kept] == damaged      # every one, none overwritten
    assert kept[0].name == checkpoint.path.name + ".corrupt" and kept[1].name.endswith(".corrupt-2")


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "stats.npy"
    files.save_recorded(path, lambda handle: handle.write(b"old"))

    def disk_full(handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    for save in (files.atomic_save, files.save_recorded):
        with pytest.raises(OSError):
            save(path, disk_full)
        assert path.read_bytes() == b"old" and files.recorded_mismatch(path) is None
        assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.npy", "stats.npy.sha256"]


def test_a_truncated_checkpoint_whose_record_was_rewritten_to_match_is_set_aside_and_retrained(tmp_path):
    lines = []
    checkpoint = Checkpoint(tmp_path, "gan", SETTINGS, log=lines.append)
    checkpoint.save(1, 10, {"generator": torch.nn.Linear(4, 4)})
    truncated = checkpoint.path.read_bytes()[:300]
    checkpoint.path.write_bytes(truncated)
    files.write_record(checkpoint.path, [files.file_digest(checkpoint.path)])   # its record rewritten to match
    assert files.recorded_mismatch(checkpoint.path) is None

    assert checkpoint.load() is None                           # before: torch's zip error, in every rerun
    assert len(lines) == 1 and f"checkpoint {checkpoint.path} not used: torch cannot read it" in lines[0], lines
    assert "although its sha256 matches its record" in lines[0] and "--fresh" in lines[0]
    assert (tmp_path / f"{checkpoint.path.name}.corrupt").read_bytes() == truncated   # kept, named
    checkpoint.save(2, 20, {"generator": torch.nn.Linear(4, 4)})       # the run trains from the start and saves
    assert checkpoint.load()["epoch"] == 2
