"""The batch on a real single-node Slurm (tests/slurm_cluster.py): the smoke notebooks as Slurm
jobs give the numbers of a sequential run; a job killed with scancel is a failed run; Ctrl-C
cancels the batch's jobs with scancel. One cluster serves the module."""
import json
import re
import signal
import subprocess
import time

import pytest
import slurm_cluster
import submitit
from test_executors import SEED, batch, numbers, wait_for_lines

from nbhelpers import paths
from nbhelpers.batch import index, main
from nbhelpers.report import parameters

REASON = slurm_cluster.unavailable_reason()
pytestmark = [pytest.mark.notebook, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def cluster():
    with slurm_cluster.local_slurm() as env:
        yield env


@pytest.fixture
def slurm_env(cluster, monkeypatch, tmp_path):
    """This process's environment pointed at the cluster (submitit runs sbatch and sacct with it)."""
    slurm_cluster.point_tests_at(cluster, monkeypatch)
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    submitit.SlurmJob.watcher.clear()   # job ids restart with each test cluster
    return {**cluster, "NBH_REPORTS_DIR": str(tmp_path)}


def queue(env) -> str:
    return subprocess.run(["squeue", "-h", "-o", "%i %T"], env=env, capture_output=True, text=True, timeout=15).stdout.strip()


def test_the_smoke_notebooks_as_slurm_jobs_give_the_sequential_numbers(smoke_run, slurm_env, tmp_path, capsys):
    status, sequential = smoke_run
    assert status == 0
    assert main.main(["--profile", "smoke", "--seeds", str(SEED), "--executor", "slurm", "--slurm-time", "30",
                          "--reports-dir", str(tmp_path)]) == 0
    for stem in parameters.notebook_stems():
        if stem != paths.SUMMARY_STEM:
            ours, theirs = (json.loads((root / f"seed{SEED}" / f"{stem}.metrics.json").read_text())
                            for root in (tmp_path / "smoke", sequential))
            assert numbers(ours) == numbers(theirs), stem
    assert (tmp_path / "smoke" / f"seed{SEED}" / "05_ssgan.html").exists() and (tmp_path / "smoke" / "index.html").exists()
    shown = capsys.readouterr().out
    # 01, 02 and 03 together in one array, the longest chain first: 03 (04 and 05 wait for it),
    # then 02 (longer than 01); its states as they change, with each job's log
    arrays = {stem: re.search(rf"{stem} \(seed {SEED}\): queued \(job (\d+)_(\d), log \S+/smoke/\.jobs/.+_log\.out\)",
                              shown) for stem in ("03_gan_pixelshuffle", "02_controlvae", "01_vae")}
    assert all(arrays.values()), shown
    assert len({found.group(1) for found in arrays.values()}) == 1, shown
    assert [found.group(2) for found in arrays.values()] == ["0", "1", "2"], shown
    assert re.search(rf"05_ssgan \(seed {SEED}\): running \(job \d+_0,", shown), shown   # 05 and 04: an array of their own
    assert re.search(rf"05_ssgan \(seed {SEED}\): ok in \d+ s", shown)


def test_a_job_killed_with_scancel_is_a_failed_run(slurm_env, tmp_path):
    process = batch(tmp_path, "--only", "02_controlvae", "--executor", "slurm", env=slurm_env)
    job = wait_for_lines(process, rf"02_controlvae \(seed {SEED}\): running \(job (\d+(?:_\d+)?),", 1)[0]
    time.sleep(3)
    subprocess.run(["scancel", job], env=slurm_env, check=True, timeout=15)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1, out + err
    assert re.search(rf"02_controlvae +seed {SEED} +failed .*CANCELLED", out)   # the kernel died, then the job ended
    rows = {(r.stem, r.status) for r in index.index_rows("smoke")}
    assert ("02_controlvae", "failed") in rows
    assert re.search(r"\[2/2\] 06_summary: running", out)   # the batch went on
    assert "failed" in (tmp_path / "smoke" / "index.html").read_text()


def test_ctrl_c_cancels_the_batchs_slurm_jobs(slurm_env, tmp_path):
    process = batch(tmp_path, "--only", "02_controlvae", "--executor", "slurm", env=slurm_env)
    job = wait_for_lines(process, rf"02_controlvae \(seed {SEED}\): running \(job (\d+(?:_\d+)?),", 1)[0]
    process.send_signal(signal.SIGINT)   # the jobs run elsewhere: only the batch gets the terminal's Ctrl-C
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, out + err
    assert f"cancelled 1 running job(s) with scancel: 02_controlvae (seed {SEED}) [job {job}]; 1 not started" in err
    deadline = time.time() + 30
    while queue(slurm_env) and time.time() < deadline:
        time.sleep(1)
    assert queue(slurm_env) == ""
    assert ("02_controlvae", "interrupted") in {(r.stem, r.status) for r in index.index_rows("smoke")}
