"""The batch under kills and full disks, without notebooks (issue 26): a job stops when its batch
is gone, a new batch waits for such runs instead of starting beside them and records what a
killed batch left; an attempt is never ok without its page, and a full disk is recorded."""
import errno
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nbhelpers.batch import attempts, lock, main, plan, render
from nbhelpers.paths import SUMMARY_STEM
from nbhelpers.report import profiles, records
from nbhelpers.tests.test_batch_recovery import left_by_a_killed_process
from nbhelpers.tests.test_record_faults import STEM, notebook_saying, staged


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


# ------------------------------------------------------------------ runs never outlive their batch

# A job as executors.run_in_job starts: it follows the batch that argv names (pid, its start,
# the folder), starts a stand-in kernel (its own session, as jupyter_client starts kernels),
# prints its pid and waits.
JOB = textwrap.dedent("""
    import socket, subprocess, sys, time
    from nbhelpers.batch import lock

    pid, started, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    lock.follow_batch(lock.Lifeline(host=socket.gethostname(), pid=pid, started=started,
                                    space=lock.process_space(), heartbeat="", folder=folder))
    kernel = subprocess.Popen(["sleep", "600"], start_new_session=True)
    print(kernel.pid, flush=True)
    time.sleep(600)
""")


def alive(pid: int) -> bool:
    return lock.process_start(pid) is not None


def test_a_job_stops_with_its_kernel_as_soon_as_its_batch_is_killed(tmp_path):
    batch = subprocess.Popen(["sleep", "600"])                     # the batch's main process
    job = subprocess.Popen([sys.executable, "-c", JOB, str(batch.pid), lock.process_start(batch.pid), str(tmp_path)],
                           stdout=subprocess.PIPE, text=True)
    kernel = int(job.stdout.readline())
    assert alive(kernel) and job.poll() is None
    batch.kill()                                                   # kill -9, not reaped yet (a zombie)
    assert job.wait(timeout=10) == lock.ORPHAN_EXIT                # before: ran on, an orphan
    assert not alive(kernel)
    batch.wait()


def test_a_job_whose_batch_is_gone_when_it_starts_does_not_run(tmp_path):
    batch = subprocess.Popen(["sleep", "600"])
    started = lock.process_start(batch.pid)
    batch.kill()
    batch.wait()                                                    # e.g. a Slurm job that waited in the queue
    job = subprocess.run([sys.executable, "-c", JOB, str(batch.pid), started, str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert job.returncode == lock.ORPHAN_EXIT, job.stdout + job.stderr
    assert job.stdout.splitlines() == [f"the batch (pid {batch.pid} on {socket.gethostname()}) is gone: this run stops"]


def test_a_new_batch_waits_for_the_runs_of_a_killed_one_and_refuses_if_they_go_on(tmp_path, monkeypatch, capsys):
    holder = textwrap.dedent("""
        import fcntl, sys, time
        handle = open(sys.argv[1], "a")
        fcntl.flock(handle, fcntl.LOCK_SH)
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """)
    run = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path / lock.RUNS_LOCK), "2"], stdout=subprocess.PIPE,
                           text=True)
    assert run.stdout.readline() == "held\n"
    with lock.BatchLock(tmp_path):                                  # before: started beside the run
        assert run.poll() is not None
    assert f"waiting for the runs of a killed batch to stop (pids {run.pid})" in capsys.readouterr().err

    stuck = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path / lock.RUNS_LOCK), "600"],
                             stdout=subprocess.PIPE, text=True)
    assert stuck.stdout.readline() == "held\n"
    monkeypatch.setattr(lock, "RUNS_STOP_SECONDS", 1)
    with pytest.raises(lock.BatchLocked, match=rf"still write to .* \(pids {stuck.pid}\) and did not stop"):
        with lock.BatchLock(tmp_path):
            pass
    stuck.kill()
    stuck.wait()
    with lock.BatchLock(tmp_path):                                  # the batch lock was let go on refusal
        pass


def test_a_job_on_another_machine_reads_its_batchs_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "WATCH_SECONDS", 0.05)
    monkeypatch.setattr(lock, "HEARTBEAT_STALE_SECONDS", 1)
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    elsewhere = lock.Lifeline(host="another-node", pid=os.getpid(), started="0", space="another machine",
                              heartbeat=str(heartbeat), folder=str(tmp_path))
    beating = threading.Timer(0.3, lambda: os.utime(heartbeat, ns=(1, time.time_ns())))
    beating.start()
    assert elsewhere.alive()
    assert not elsewhere.alive()                                    # unchanged for a whole stale period
    heartbeat.unlink()
    assert not elsewhere.alive()                                    # a later batch tidied its folder


# ------------------------------------------------------------------ what a killed batch left

def test_the_next_batch_records_a_killed_batchs_attempts_and_removes_its_leftovers(root, capsys):
    profile = root / "smoke"
    older = staged(root, 0, 30.0, "older attempt")
    os.utime(older, (1, 1))
    newer = staged(root, 0, 20.0, "killed attempt")
    summary = attempts.take(attempts.stage_for(profile, SUMMARY_STEM))   # killed while being recorded
    (summary / "summary.ipynb").write_text(notebook_saying("summary so far"))
    leftovers = left_by_a_killed_process([profile / "seed0" / f"{STEM}.metrics.json",
                                          profile / "seed0" / "checkpoints" / "gan" / "gan-abc.pt"],
                                         [(profile / render.STATIC_DIRNAME, render.STAGING)])
    leftovers.append(profile / ".jobs" / "20250101-120000-77" / "77_0_log.out")
    leftovers[-1].parent.mkdir(parents=True)
    leftovers[-1].write_text("")

    main.tidy("smoke", profile, killed="pid 77 on host, started 12:00:00")
    said = capsys.readouterr().out
    assert said.startswith("the batch before this one was killed (pid 77 on host") and "3 attempt(s)" in said
    unfinished = profile / "seed0" / attempts.UNFINISHED
    record = records.read(unfinished / f"{STEM}.metrics.json")
    assert record["status"] == "failed" and record["error"] == attempts.KILLED
    assert record["models"]["vae"]["fid"][0]["value"] == 20.0       # the newer attempt, not the older
    assert "killed attempt" in (unfinished / f"{STEM}.html").read_text()
    assert records.read(profile / attempts.UNFINISHED / "summary.metrics.json")["status"] == "failed"
    assert not older.exists() and not newer.exists() and not summary.exists()
    assert not any(path.exists() for path in leftovers) and not list((profile / ".jobs").iterdir())


# ------------------------------------------------------------------ no page, no ok; a full disk

def failing_render(error):
    def render(notebook, lies_in):
        raise error
    return render


def test_an_attempt_whose_page_cannot_be_rendered_is_not_ok(root, monkeypatch):
    folder = root / "smoke" / "seed0"
    attempts.finish_attempt(STEM, "smoke", staged(root, 0, 30.0, "good run"), "ok", None, 1.0)
    monkeypatch.setattr(attempts, "render_html", failing_render(ValueError("not a notebook")))
    record, page = attempts.finish_attempt(STEM, "smoke", staged(root, 0, 12.0, "rerun"), "ok", None, 1.0)
    assert record["status"] == "failed" and page is None            # before: "ok", without a page
    assert record["error"] == "its report could not be rendered: ValueError: not a notebook"
    assert records.read(folder / attempts.UNFINISHED / f"{STEM}.metrics.json")["status"] == "failed"
    assert "good run" in (folder / f"{STEM}.html").read_text()     # the good report stays


def test_a_full_disk_while_an_attempt_is_put_in_place_records_it_as_failed(root, monkeypatch):
    folder = root / "smoke" / "seed0"
    attempts.finish_attempt(STEM, "smoke", staged(root, 0, 30.0, "good run"), "ok", None, 1.0)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(root / "smoke" / "_static" / "x.js"))
    monkeypatch.setattr(attempts, "render_html", failing_render(full))
    record, page = attempts.finish_attempt(STEM, "smoke", staged(root, 0, 12.0, "rerun"), "ok", None, 1.0)
    assert record["status"] == "failed" and page is None and attempts.disk_full_in(record["error"])
    assert "its report could not be written: [Errno 28] No space left on device" in record["error"]
    assert json.loads((folder / attempts.UNFINISHED / f"{STEM}.metrics.json").read_text()) == record
    assert "good run" in (folder / f"{STEM}.html").read_text()
    assert not list((folder / attempts.ATTEMPTS).iterdir())        # nothing left in the stage


def test_a_full_disk_is_told_in_one_line_naming_the_filesystem(tmp_path, capsys):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "smoke" / "index.html"))
    assert main.report_full_disk(full, tmp_path, "smoke", False, batch=None) == main.DISK_FULL_EXIT == 3
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("error: no space left on /")
    assert re.search(r"\(\w+, [\d.]+ [kMGT]?B left of [\d.]+ [kMGT]?B\), writing ", line), line


# ------------------------------------------------------------------ the opening line

def test_the_opening_line_counts_the_runs_the_cpu_profile_plans(root):
    profile, seeds, tasks = plan.plan(main.parse_args(["--profile", "cpu"]))
    assert seeds == profiles.profile_seeds("cpu") and profiles.declarations("cpu")["first_seed_only"] == ["01_vae"]
    assert main.runs_in_words(tasks, seeds) == (f"{4 * len(seeds) + 2} runs: 4 notebooks x seeds {seeds}, 01_vae for "
                                                f"seed {profiles.first_seed('cpu', seeds)} only, then the summary")
    _, seeds, tasks = plan.plan(main.parse_args(["--profile", "cpu", "--only", "01_vae", "--seeds", "4"]))
    assert main.runs_in_words(tasks, seeds) == "2 runs: 1 notebook x seeds [4], then the summary"


def test_a_dry_runs_tasks_carry_its_context_and_write_into_its_own_folder(root, monkeypatch):
    monkeypatch.delenv("NBH_BATCH", raising=False)                  # the batch builds its context; it reads none
    args = main.parse_args(["--profile", "smoke", "--dry-run"])
    _, _, tasks = plan.plan(args)
    assert {task.batch for task in tasks} == {plan.batch_context_of(args)} and tasks[0].batch.dry_run
    assert {task.folder.relative_to(root).parts[0] for task in tasks} == {"smoke-dry-run"}
    _, _, real = plan.plan(main.parse_args(["--profile", "smoke"]))
    assert {task.folder.relative_to(root).parts[0] for task in real} == {"smoke"}


def test_a_batch_refused_by_the_lock_says_so_in_one_line_with_exit_status_2(root, capsys):
    (root / "smoke").mkdir()
    with lock.BatchLock(root / "smoke"):                              # another batch holds the folder
        status = main.main(["--profile", "smoke", "--only", "01_vae", "--reports-dir", str(root)])
    said = capsys.readouterr().err
    assert status == 2 and said.startswith("error: another batch is writing to ") and said.count("\n") == 1


def test_a_zombie_is_no_batch():
    child = subprocess.Popen(["true"])
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    assert lock.process_start(child.pid) is None
    child.wait()
