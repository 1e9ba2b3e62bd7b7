"""Several notebook runs at once on this machine (``--jobs N``, submitit's local executor): the
same numbers as one at a time, the order 03 -> 04/05 -> summary, at most N at once, a killed
job as a failed run while the others go on, and Ctrl-C cancelling every job."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

from nbhelpers import paths
from nbhelpers.batch import attempts, executors, index, main, order, slurm
from nbhelpers.batch.index import IndexRow
from nbhelpers.batch.plan import Task
from nbhelpers.environment import BatchContext, batch_context
from nbhelpers.report import parameters, profiles, records

# The stand-in runs below travel to the jobs by value (this module is not importable there).
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SEED = profiles.profile_seeds("smoke")[0]   # the seed the real batches below run: the profile's first
TIMING = re.compile(r"seconds|per_second|^message$")   # keys whose values are wall-clock times


def numbers(record: dict):
    """A record's models with every timing field left out."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not TIMING.search(k)}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(record["models"])


# ------------------------------------------------------------------ the scheduler, with stand-in runs

def stand_in_run(task, attempt):
    """Sleeps ``params['sleep']`` s and logs its start and end (and its thread setting and the
    batch's settings it sees) as a JSON line; ``params['die']`` kills its own process instead, as
    the OOM killer or ``kill -9`` would."""
    params = task.params
    if params.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    started = time.time()
    time.sleep(params["sleep"])
    with open(params["log"], "a") as log:
        log.write(json.dumps({"stem": task.stem, "seed": task.seed, "start": started, "end": time.time(),
                              "threads": os.environ.get("OMP_NUM_THREADS"),
                              "reports": os.environ.get("NBH_REPORTS_DIR"), "fresh": batch_context().fresh}) + "\n")
    return IndexRow(stem=task.stem, seed=task.seed, status="ok", seconds=params["sleep"])


def batch_variables(reports: Path) -> dict:
    """What a batch with ``--fresh --reports-dir <reports>`` gives its runs."""
    return {"NBH_REPORTS_DIR": str(reports), **BatchContext(fresh=True, progress_lines=True).variables()}


def tasks_for(log: Path, die: str | None = None) -> list[Task]:
    """01, 03, 04, 05 of seed 0 and the summary, in plan order, with plan's ``after``."""
    stems = ["01_vae", "03_gan_pixelshuffle", "04_wgan", "05_ssgan"]
    tasks = []
    for number, stem in enumerate(stems + [paths.SUMMARY_STEM], 1):
        seed = None if stem == paths.SUMMARY_STEM else 0
        after = ([t.key for t in tasks] if seed is None else
                 [("03_gan_pixelshuffle", 0)] if stem in ("04_wgan", "05_ssgan") else [])
        params = {"sleep": 3 if stem == "03_gan_pixelshuffle" else 1, "log": str(log), "device": "cpu", "die": stem == die}
        tasks.append(Task(key=(stem, seed), stem=stem, seed=seed, params=params, profile="smoke",
                          label=f"[{number}/5]", after=after))
    return tasks


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


def test_jobs_start_after_their_dependencies_and_at_most_n_at_once(reports, tmp_path, capsys):
    log = tmp_path / "runs.jsonl"
    tasks = tasks_for(log)
    rows = executors.run_tasks(tasks, executors.Options(jobs=2), stand_in_run, batch_variables(reports),
                               attempts.new_batch())
    assert [(r.stem, r.status) for r in rows] == [(t.stem, "ok") for t in tasks]   # in task order
    runs = {r["stem"]: r for r in map(json.loads, log.read_text().splitlines())}
    gan = runs["03_gan_pixelshuffle"]
    assert runs["04_wgan"]["start"] >= gan["end"] and runs["05_ssgan"]["start"] >= gan["end"]
    assert runs[paths.SUMMARY_STEM]["start"] >= max(r["end"] for s, r in runs.items() if s != paths.SUMMARY_STEM)
    for run in runs.values():   # never three at once
        assert sum(other["start"] <= run["start"] < other["end"] for other in runs.values()) <= 2
    assert runs["01_vae"]["start"] < gan["end"]   # ...but two at once when they may
    assert {r["threads"] for r in runs.values()} == {str(executors.CPU_THREADS)}
    assert {(r["reports"], r["fresh"]) for r in runs.values()} == {(str(reports), True)}   # the batch's settings reach the job
    shown = capsys.readouterr().out
    assert re.search(r"\[3/5\] 04_wgan \(seed 0\): running \(job \d+, log \S+/smoke/\.jobs/.+_log\.out\)", shown)
    started = re.findall(r"\] (\w+) \(seed 0\): running", shown)
    # the longest chain first: 03 (04 and 05 wait for it), and once it ended 05 before 04
    assert started == ["03_gan_pixelshuffle", "01_vae", "05_ssgan", "04_wgan"]


def test_a_killed_job_is_a_failed_run_and_the_others_go_on(reports, tmp_path):
    log = tmp_path / "runs.jsonl"
    rows = executors.run_tasks(tasks_for(log, die="01_vae"), executors.Options(jobs=2), stand_in_run,
                               batch_variables(reports), attempts.new_batch())
    status = {r.stem: r.status for r in rows}
    assert status == {"01_vae": "failed", "03_gan_pixelshuffle": "ok", "04_wgan": "ok", "05_ssgan": "ok",
                      paths.SUMMARY_STEM: "ok"}
    assert "killed" in rows[0].error
    record = json.loads((reports / "smoke" / "seed0" / attempts.UNFINISHED / "01_vae.metrics.json").read_text())
    assert record["status"] == "failed" and "killed" in record["error"]   # what the index shows
    assert [r.stem for r in index.index_rows("smoke") if r.status == "failed"] == ["01_vae"]


def test_options_that_cannot_work_are_refused_before_anything_starts(tmp_path, monkeypatch):
    tasks = tasks_for(tmp_path / "runs.jsonl")
    too_many = executors.cores() + 1
    with pytest.raises(parameters.ParameterError, match=f"--jobs {too_many}: this machine has {executors.cores()} CPU cores"):
        executors.check_options(executors.Options(jobs=too_many), tasks)
    monkeypatch.setenv("PATH", str(tmp_path))   # no Slurm tools here
    with pytest.raises(parameters.ParameterError, match="--executor slurm needs Slurm's sbatch, srun, sacct, scancel"):
        executors.check_options(executors.Options(executor="slurm"), tasks)


# ------------------------------------------------------------------ real notebooks

def test_jobs_2_gives_the_sequential_numbers_in_order(smoke_run, tmp_path, capsys):
    status, sequential = smoke_run
    assert status == 0
    started = time.time()
    assert main.main(["--profile", "smoke", "--seeds", str(SEED), "--jobs", "2", "--reports-dir", str(tmp_path)]) == 0
    print(f"--jobs 2, seed {SEED}: {time.time() - started:.0f} s", file=sys.stderr)
    parallel = tmp_path / "smoke"
    for stem in parameters.notebook_stems():
        if stem == paths.SUMMARY_STEM:
            continue
        ours, theirs = (json.loads((root / f"seed{SEED}" / f"{stem}.metrics.json").read_text())
                        for root in (parallel, sequential))
        assert ours["environment"]["torch_threads"] == theirs["environment"]["torch_threads"] == executors.CPU_THREADS
        assert numbers(ours) == numbers(theirs), stem
    summary = json.loads((parallel / "summary.metrics.json").read_text())
    assert summary["status"] == "ok" and summary["seeds"] == [SEED]
    lines = capsys.readouterr().out.splitlines()
    position = {(stem, what): i for i, line in enumerate(lines)
                for stem, what in re.findall(rf"\] (\w+)(?: \(seed {SEED}\))?: (running|ok) ", line)}
    assert position[("04_wgan", "running")] > position[("03_gan_pixelshuffle", "ok")]
    assert position[("06_summary", "running")] > max(v for (s, w), v in position.items() if w == "ok" and s != "06_summary")


def batch(tmp_path, *args, env=None):
    """The batch as ./run_all.sh starts it, in its own process group (as a terminal's foreground job)."""
    return subprocess.Popen([sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--seeds", str(SEED),
                             "--reports-dir", str(tmp_path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=paths.REPO_ROOT, start_new_session=True, env=env)


def wait_for_lines(process, pattern, count, timeout=240):
    """The first ``count`` matches of ``pattern`` in the batch's output, read as it comes."""
    found, deadline = [], time.time() + timeout
    while len(found) < count:
        line = process.stdout.readline()
        assert line and time.time() < deadline, f"the batch ended or stalled before {count} x {pattern}"
        found += re.findall(pattern, line)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_ctrl_c_cancels_every_job_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    process = batch(tmp_path, "--jobs", "2", "--only", "01_vae", "--only", "02_controlvae")
    jobs = [int(pid) for pid in wait_for_lines(process, r": running \(job (\d+),", 2)]
    time.sleep(3)   # both kernels at work
    os.killpg(process.pid, signal.SIGINT)   # what Ctrl-C in a terminal does
    out, err = process.communicate(timeout=180)
    assert process.returncode == 130, err
    # in the order they started: 02 first, the longer (order.first_guess_seconds)
    assert re.search(rf"cancelled 2 running job\(s\) with SIGINT: 02_controlvae \(seed {SEED}\) \[job \d+\], 01_vae", err)
    assert not any(alive(pid) for pid in jobs)
    statuses = {(r.stem, r.status) for r in index.index_rows("smoke")}
    assert statuses >= {("01_vae", "interrupted"), ("02_controlvae", "interrupted")}, statuses


def test_a_running_array_task_shows_as_running_while_sacct_still_lists_its_arrays_pending_range():
    # What sacct printed on the test cluster while task 0 of array 4 ran and task 1 waited
    # (slurmdbd still listed the range's pending record after the task's own line).
    printed = ("JobID|State|NodeList\n1_2|RUNNING|localnode\n1_2.batch|RUNNING|localnode\n"
               "4_0|RUNNING|localnode\n4_0.batch|RUNNING|localnode\n4_0.0|RUNNING|localnode\n"
               "4_[0-1%2]|PENDING|None assigned\n")
    states = {job: info["State"] for job, info in slurm.slurm_job_class().watcher.read_info(printed).items()}
    assert states == {"1_2": "RUNNING", "4_0": "RUNNING", "4_1": "PENDING"}


def test_a_job_whose_log_exists_runs_even_while_sacct_still_calls_it_pending():
    # slurmd writes the log as it launches the job; sacct's records can trail it (CI showed a
    # 24-second job as pending until it ended).
    assert slurm.slurm_phase("PENDING", log_exists=True) == "running"
    assert slurm.slurm_phase("UNKNOWN", log_exists=True) == "running"
    assert slurm.slurm_phase("PENDING", log_exists=False) == "queued"
    assert slurm.slurm_phase("REQUEUED", log_exists=True) == "queued"   # a new try, not yet started
    assert slurm.slurm_phase("RUNNING", log_exists=False) == "running"
    assert slurm.slurm_phase("CANCELLED by 0", log_exists=True) == "ended"
    assert slurm.slurm_phase("COMPLETED", log_exists=True) == "ended"


def test_the_ready_run_heading_the_longest_chain_goes_first_timed_by_this_profiles_records(reports, tmp_path):
    tasks = tasks_for(tmp_path / "runs.jsonl")
    first_guess = order.chain_seconds(tasks, order.expected_seconds(tasks))
    guess = order.first_guess_seconds()
    assert first_guess[("03_gan_pixelshuffle", 0)] == guess["03_gan_pixelshuffle"] + guess["05_ssgan"] + guess["06_summary"]
    assert first_guess[("05_ssgan", 0)] > first_guess[("04_wgan", 0)]
    # once every notebook of the batch has a finished run on this profile, its times decide
    taken = {"01_vae": 30, "03_gan_pixelshuffle": 20, "04_wgan": 50, "05_ssgan": 10, paths.SUMMARY_STEM: 5}
    for task in tasks:
        for seed, factor in ((task.seed, 1), (7, 3), (8, 1)) if task.seed is not None else ((None, 1),):
            record = records.record_path("smoke", task.stem, seed)
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"status": "ok", "wall_seconds": taken[task.stem] * factor}))
    expected = order.expected_seconds(tasks)
    assert expected[("04_wgan", 0)] == 50   # the median over seeds 0, 7 and 8
    chain = order.chain_seconds(tasks, expected)
    assert chain[("03_gan_pixelshuffle", 0)] == 20 + 50 + 5 and chain[("01_vae", 0)] == 30 + 5
    assert chain[("04_wgan", 0)] > chain[("05_ssgan", 0)]
    records.record_path("smoke", "05_ssgan", 0).write_text(json.dumps({"status": "failed", "wall_seconds": 3}))
    assert order.expected_seconds(tasks)[("05_ssgan", 0)] == 10 * 2   # failed runs do not count
