"""Faults from outside a batch, on real notebooks (issue 26): ``kill -9`` of the batch, a full
disk, a read-only cache. Each runs the smoke profile's 01_vae (a dry run where it takes the same
path) into its own folder; the full disk is a small tmpfs (root mounts it, else skipped)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slurm_cluster
from test_reliability import wait_for_line

from nbhelpers import paths
from nbhelpers.batch import attempts, executors, lock, main
from nbhelpers.report import records
from nbhelpers.tests.test_record_faults import staged

pytestmark = pytest.mark.notebook

SEED = 1   # the smoke profile's first evaluation seed: the one a dry run takes


def start_batch(root: Path, *args, env=None):
    """The batch as a terminal starts it (its own process group), its output piped."""
    return subprocess.Popen([sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--only", "01_vae",
                             "--reports-dir", str(root), *args], cwd=paths.REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``: its command line."""
    parent, command = {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            command[int(entry)] = Path(f"/proc/{entry}/cmdline").read_text().replace("\0", " ")
        except (OSError, IndexError):
            continue
    found, frontier = {}, [pid]
    while frontier:
        below = [child for child, up in parent.items() if up in frontier]
        found.update({child: command[child] for child in below})
        frontier = below
    return found


# ------------------------------------------------------------------ kill -9 of the batch

@pytest.mark.parametrize("jobs", [1, 2])
def test_kill_9_of_the_batch_stops_its_runs_and_the_next_batch_records_them(tmp_path, monkeypatch, jobs):
    if jobs > executors.cores():
        pytest.skip("needs a core per job")
    root = tmp_path / "reports"
    process = start_batch(root, "--seeds", str(SEED), "--jobs", str(jobs), "--set", "01_vae.epochs=100")
    wait_for_line(process, "01_vae (seed 1): running")
    deadline = time.time() + 120
    while not [pid for pid, command in descendants(process.pid).items() if "ipykernel" in command]:
        assert time.time() < deadline, "no kernel started"
        time.sleep(0.5)
    runs = {pid: command for pid, command in descendants(process.pid).items()   # the kernel, and its job
            if "ipykernel" in command or "submitit.core._submit" in command}
    os.kill(process.pid, signal.SIGKILL)                     # the pid that the lock names
    process.wait()

    monkeypatch.setenv("NBH_REPORTS_DIR", str(root))
    folder = root / "smoke"
    with lock.BatchLock(folder) as held:                     # the next batch, into the same folder
        assert held.killed.startswith(f"pid {process.pid} on ")
        going = {pid: command for pid, command in runs.items() if lock.process_start(pid) is not None}
        assert not going, f"runs of the killed batch still going beside the next one: {going}"
        main.tidy("smoke", folder, held.killed)
    unfinished = folder / f"seed{SEED}" / attempts.UNFINISHED
    record = records.read(unfinished / "01_vae.metrics.json")
    assert record["status"] == "failed" and record["error"] == attempts.KILLED
    assert "This attempt is failed" in (unfinished / "01_vae.html").read_text()
    time.sleep(2 * lock.WATCH_SECONDS)                        # nothing of the killed batch writes on
    assert not (folder / f"seed{SEED}" / "01_vae.html").exists()
    assert not list((folder / f"seed{SEED}" / attempts.ATTEMPTS).iterdir())
    assert not list((folder / executors.JOBS).glob("*"))


@pytest.mark.skipif(slurm_cluster.unavailable_reason() is not None, reason=slurm_cluster.unavailable_reason() or "")
def test_kill_9_of_the_batch_stops_its_slurm_job_before_it_replaces_a_report(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    with slurm_cluster.local_slurm() as cluster:
        process = start_batch(root, "--seeds", str(SEED), "--executor", "slurm", "--set", "01_vae.epochs=100",
                              env=cluster)
        wait_for_line(process, "01_vae s1 ")                  # the job's kernel is at work
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        monkeypatch.setenv("NBH_REPORTS_DIR", str(root))
        folder = root / "smoke"
        with lock.BatchLock(folder) as held:                 # waits for the job, which stops on its own
            main.tidy("smoke", folder, held.killed)
        deadline = time.time() + 60
        while subprocess.run(["squeue", "-h"], env=cluster, capture_output=True, text=True).stdout.strip():
            assert time.time() < deadline, "the killed batch's Slurm job goes on"
            time.sleep(1)
    record = records.read(folder / f"seed{SEED}" / attempts.UNFINISHED / "01_vae.metrics.json")
    assert record["status"] == "failed" and record["error"] == attempts.KILLED
    assert not (folder / f"seed{SEED}" / "01_vae.html").exists()


def test_a_killed_job_beside_a_record_dated_ahead_of_the_clock_is_recorded_as_failed(tmp_path, monkeypatch):
    if executors.cores() < 2:
        pytest.skip("needs a core per job")
    root = tmp_path / "reports"
    monkeypatch.setenv("NBH_REPORTS_DIR", str(root))
    folder = root / "smoke" / f"seed{SEED}"
    attempts.finish_attempt("01_vae", "smoke", staged(root, SEED, 30.0, "earlier run"), "ok", None, 64.0)
    ahead = time.time() + 86400                              # a file server whose clock runs ahead, a restored folder
    os.utime(folder / "01_vae.metrics.json", (ahead, ahead))
    earlier = records.read(folder / "01_vae.metrics.json")
    process = start_batch(root, "--seeds", str(SEED), "--jobs", "2", "--set", "01_vae.epochs=400")
    wait_for_line(process, "01_vae s1 +")                    # its kernel at work
    job = [pid for pid, command in descendants(process.pid).items() if "submitit.core._submit" in command]
    os.kill(job[0], signal.SIGKILL)                          # as the OOM killer would
    out, errors = process.communicate(timeout=600)
    assert process.returncode == 1, out + errors
    assert re.search(r"01_vae \(seed 1\): failed in \d+ s \| job \d+ was killed or interrupted", out), out   # before:
    # "01_vae (seed 1): ok in 64 s", the earlier record's time, and the killed attempt recorded nowhere
    lost = records.read(folder / attempts.UNFINISHED / "01_vae.metrics.json")
    assert lost["status"] == "failed" and lost["attempt"] and lost["attempt"] != earlier.get("attempt")
    assert records.read(folder / "01_vae.metrics.json") == earlier   # kept, and shown as an earlier run:
    assert "<td>ok</td><td>earlier run</td>" in (root / "smoke" / "index.html").read_text().replace("\n", "")


# ------------------------------------------------------------------ a full disk

@pytest.fixture
def mount_tmpfs():
    """Mounts a tmpfs of the given size at a folder; unmounted after the test."""
    mounted = []

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder
    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path, leave: int) -> None:
    """Take all of ``folder``'s filesystem but ``leave`` bytes."""
    stats = os.statvfs(folder)
    with open(folder / "filler", "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(0, stats.f_bavail * stats.f_frsize - leave))


def assert_stopped_for_a_full_disk(process, mount: Path, root: Path) -> None:
    """Exit status 3, one line naming the filesystem and the space left, no temporary file, and
    the run recorded as failed in unfinished/ (never ok: it has no page)."""
    out, errors = process.communicate(timeout=300)
    assert process.returncode == main.DISK_FULL_EXIT, out + errors
    assert "Traceback" not in out + errors and errors.strip().count("\n") == 0, errors
    assert re.match(rf"error: no space left on {re.escape(str(mount))} \(tmpfs, [\d.]+ [kM]?B left of [\d.]+ [kM]?B\), "
                    rf"writing {re.escape(str(mount))}/", errors.strip()), errors
    assert not re.search(r"01_vae \(seed 1\): ok", out) and "06_summary: running" not in out, out
    folder = root / "smoke-dry-run" / f"seed{SEED}"
    record = records.read(folder / attempts.UNFINISHED / "01_vae.metrics.json")
    assert record["status"] == "failed" and attempts.disk_full_in(record["error"]), record
    assert not (folder / "01_vae.html").exists() and not (folder / "01_vae.metrics.json").exists()
    left = [str(path) for path in mount.rglob(".*") if path.name.endswith(".tmp")
            or path.name.startswith((".replaced-", ".mathjax-"))]
    assert not left, left


def test_a_disk_that_fills_during_a_run_stops_the_batch_in_one_line(tmp_path, mount_tmpfs):
    root = mount_tmpfs(tmp_path / "reports", "20m")
    process = start_batch(root, "--dry-run")
    wait_for_line(process, "01_vae (seed 1): running")
    fill(root, leave=256 << 10)                              # the kernel's outputs no longer fit
    assert_stopped_for_a_full_disk(process, root, root)


def test_a_report_page_that_does_not_fit_is_not_ok(tmp_path, mount_tmpfs):
    root = tmp_path / "reports"
    static = mount_tmpfs(root / "smoke-dry-run" / "_static", "1m")   # MathJax needs about 2 MB
    process = start_batch(root, "--dry-run", "--jobs", "1")
    assert_stopped_for_a_full_disk(process, static, root)


# ------------------------------------------------------------------ a read-only cache

def link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:   # another filesystem
        shutil.copy2(source, target)


def test_a_read_only_cache_missing_a_derived_file_is_refused_before_any_training(tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(paths.cache_dir(), cache, copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns("*.tmp", "*.corrupt*", "*-sqrt-sigma.npy*"))
    if not list((cache / "fid_reference").glob("classifier-*-features.npy")):
        pytest.skip("no classifier reference features cached here (python -m nbhelpers.fid --prepare)")
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(cache), str(cache)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount the cache read-only here: {done.stderr.strip()}")
    try:
        process = start_batch(tmp_path / "reports", "--dry-run", env={**os.environ, "NBH_CACHE_DIR": str(cache)})
        out, errors = process.communicate(timeout=300)
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    assert process.returncode == 2, out + errors             # before: 1, after the run's training
    assert errors.strip().count("\n") == 0, errors
    assert re.match(rf"error: cannot write {re.escape(str(cache))}/fid_reference/classifier-\w+-mnist-test-1000-"
                    r"sqrt-sigma\.npy: read-only file system; .* point NBH_CACHE_DIR at a writable folder", errors), errors
    assert "running" not in out, out
