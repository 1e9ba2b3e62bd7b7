"""The local Slurm test cluster (tests/slurm_cluster.py), and submitit driving it.

These check what the planned "send notebook runs to Slurm" feature will rely on: a batch script
runs and is accounted for; submitit runs a Python function with this environment's interpreter
and returns its value; a job killed with scancel shows as CANCELLED and its result raises; job
arrays run. One cluster serves the whole module (start-up takes a few seconds).
"""

import re
import subprocess
import sys
import time

import pytest
import slurm_cluster
import submitit

REASON = slurm_cluster.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def slurm_env():
    """Environment for Slurm clients, pointing at a cluster that lives as long as this module."""
    with slurm_cluster.local_slurm() as env:
        yield env


@pytest.fixture
def executor(slurm_env, monkeypatch, tmp_path):
    """A submitit AutoExecutor on the local cluster. submitit runs sbatch and sacct with this
    process's own environment, so os.environ is pointed at the cluster for the test."""
    slurm_cluster.point_tests_at(slurm_env, monkeypatch)
    # submitit caches job states in one watcher per process, keyed by job id; another cluster
    # in the same process would reuse the ids.
    submitit.SlurmJob.watcher.clear()
    # A job that ended without a result file makes result() wait this long for the file to show
    # up (15 s, for slow network file systems) before it raises; here the folder is local.
    monkeypatch.setattr(submitit.SlurmJob, "_results_timeout_s", 1)
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit")
    assert executor.cluster == "slurm"
    # submitit asks for SIGUSR2 90 s before the time limit (--signal=USR2@90), and slurmctld
    # sends it up to 30 s early; with a 2-minute limit that can hit a job as it starts, before
    # submitit's handler is in place, and kill it. 10 minutes keeps the signal out of the way.
    executor.update_parameters(timeout_min=10)
    return executor


def _sacct_state(job_id, env):
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", job_id], env=env,
                         capture_output=True, text=True, timeout=15).stdout
    return out.strip()


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)


def test_sbatch_wait_runs_a_script_and_accounts_for_it(slurm_env, tmp_path):
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/sh\necho "hello from job $SLURM_JOB_ID on $SLURMD_NODENAME"\n')
    output = tmp_path / "hello.out"
    done = subprocess.run(["sbatch", "--wait", "--time=1", f"--output={output}", str(script)],
                          env=slurm_env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    job_id = re.fullmatch(r"Submitted batch job (\d+)", done.stdout.strip()).group(1)
    assert output.read_text() == f"hello from job {job_id} on {slurm_cluster.LocalSlurm.node_name}\n"
    # The job's end reaches the accounting database shortly after sbatch returns.
    _wait_for(lambda: _sacct_state(job_id, slurm_env) == "COMPLETED", 15, "sacct to say COMPLETED")


def test_submitit_returns_the_value_of_a_function_run_with_this_python(executor):
    def add_and_report(a, b):
        import sys

        return a + b, sys.executable

    job = executor.submit(add_and_report, 2, 3)
    # submitit runs `sys.executable -m submitit.core._submit` in the job: this venv's python.
    assert job.result() == (5, sys.executable)
    _wait_for(lambda: job.get_info(mode="force").get("State") == "COMPLETED", 15,
              "submitit to see the job COMPLETED")


def test_job_killed_with_scancel_shows_as_cancelled_and_its_result_raises(executor, slurm_env):
    job = executor.submit(time.sleep, 120)
    _wait_for(lambda: job.get_info(mode="force").get("State") == "RUNNING", 30, "the job to run")
    subprocess.run(["scancel", job.job_id], env=slurm_env, check=True, timeout=15)
    # Bounded here, as job.result() alone would wait as long as the state never changes.
    _wait_for(lambda: job.done(force_check=True), 30, "submitit to see the job finished")
    assert job.state.startswith("CANCELLED")
    with pytest.raises(submitit.core.utils.UncompletedJobError, match="CANCELLED"):
        job.result()


def test_job_arrays_run_each_task(executor):
    def square(x):
        return x * x

    def greet(name):
        return f"hello {name}"

    executor.update_parameters(slurm_array_parallelism=2)
    jobs = executor.map_array(square, [3, 4])
    # Two different functions in one array, too.
    with executor.batch():
        mixed = [executor.submit(square, 5), executor.submit(greet, "slurm")]
    for array in (jobs, mixed):
        assert len({job.job_id.split("_")[0] for job in array}) == 1  # one array job
        assert sorted(job.job_id.split("_")[1] for job in array) == ["0", "1"]
    assert [job.result() for job in jobs] == [9, 16]
    assert [job.result() for job in mixed] == [25, "hello slurm"]
