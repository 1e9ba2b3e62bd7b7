"""Reruns, interruptions, bad values and damaged files on the smoke profile (issue 18): nothing
lost, nothing stale, nothing silently wrong. Each test runs real notebooks into its own folder,
one at a time (``--jobs 1``: the kernels are the batch's children; jobs: test_executors.py)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nbhelpers import data, paths
from nbhelpers.batch import main
from nbhelpers.report import profiles

pytestmark = pytest.mark.notebook

GAN = "03_gan_pixelshuffle"
SEED = profiles.profile_seeds("smoke")[0]   # one seed a batch: the profile's first
FOLDER = f"seed{SEED}"


def batch(root, *args):
    return main.main(["--profile", "smoke", "--seeds", str(SEED), "--jobs", "1", "--reports-dir", str(root), *args])


def record(root, stem, attempt=""):
    return json.loads((root / "smoke" / FOLDER / attempt / f"{stem}.metrics.json").read_text())


def start_batch(root, *args):
    """The batch as its own process group (as a terminal runs it), its output piped."""
    command = [sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--seeds", str(SEED), "--jobs", "1",
               "--reports-dir", str(root), *args]
    return subprocess.Popen(command, cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for_line(process, needle, timeout=300):
    """Read the batch's stdout until a line holds ``needle``; the lines read so far."""
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if needle in line:
            return lines
    pytest.fail(f"no line with {needle!r} in the batch's output:\n{''.join(lines)}")


def test_a_failed_rerun_keeps_the_last_good_report_and_shows_its_own_error(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    assert batch(root, "--only", "01_vae") == 0
    good_page = (root / "smoke" / FOLDER / "01_vae.html").read_text()
    good = record(root, "01_vae")

    # The data is damaged after the batch checked it: the notebook itself fails on it.
    copy = tmp_path / "data"
    shutil.copytree(data.raw_dir(), copy / "MNIST" / "raw")
    checked = main.prepare_assets

    def check_then_damage(resolved):
        checked(resolved)
        labels = copy / "MNIST" / "raw" / "train-labels-idx1-ubyte"
        damaged = bytearray(labels.read_bytes())
        damaged[100] ^= 0xFF
        labels.write_bytes(bytes(damaged))

    monkeypatch.setenv("NBH_DATA_DIR", str(copy))
    monkeypatch.setattr(main, "prepare_assets", check_then_damage)
    assert batch(root, "--only", "01_vae") == 1

    folder = root / "smoke" / FOLDER
    assert (folder / "01_vae.html").read_text() == good_page and record(root, "01_vae") == good
    failed = record(root, "01_vae", "unfinished")
    assert failed["status"] == "failed" and "train-labels-idx1-ubyte" in failed["error"]
    attempt = (folder / "unfinished" / "01_vae.html").read_text()
    assert "This attempt is failed" in attempt and failed["error"].split(":")[0] in attempt
    index = (root / "smoke" / "index.html").read_text()
    assert f"href='{FOLDER}/01_vae.html'" in index and f"href='{FOLDER}/unfinished/01_vae.html'" in index
    assert "failed (attempt kept in unfinished/)" in index
    summary = json.loads((root / "smoke" / "summary.metrics.json").read_text())
    assert summary["notebooks"]["01_vae"] == [SEED]     # the good record, not the failed attempt

    monkeypatch.undo()                                   # a good rerun supersedes the failed attempt
    assert batch(root, "--only", "01_vae") == 0
    assert not (folder / "unfinished" / "01_vae.metrics.json").exists()


def test_other_settings_train_their_own_model_and_switching_back_reuses_it_visibly(tmp_path):
    root = tmp_path / "reports"
    assert batch(root, "--only", GAN) == 0
    assert "reused_checkpoints" not in record(root, GAN)
    assert batch(root, "--only", GAN, "--set", f"{GAN}.epochs=3") == 0      # no refusal, nothing deleted
    assert record(root, GAN)["params"]["epochs"] == 3
    checkpoints = root / "smoke" / FOLDER / "checkpoints" / GAN
    assert len(list(checkpoints.glob("gan-*.pt"))) == 2

    assert batch(root, "--only", GAN) == 0                                  # back to the defaults
    reused = record(root, GAN)["reused_checkpoints"]
    assert reused["gan"].startswith("finished run loaded from checkpoint gan-")
    page = (root / "smoke" / FOLDER / f"{GAN}.html").read_text()
    assert page.index("Built from earlier training") < page.index("PixelShuffle")   # at the top

    assert batch(root, "--only", GAN, "--fresh") == 0
    assert "reused_checkpoints" not in record(root, GAN)


def test_ctrl_c_stops_cleanly_keeps_the_attempt_and_a_rerun_resumes(tmp_path):
    root = tmp_path / "reports"
    longer = ["--only", GAN, "--set", f"{GAN}.epochs=40"]     # about a second an epoch
    process = start_batch(root, *longer)
    wait_for_line(process, "epoch 2/40")

    # A second batch into the same folder is refused at once, naming the one that holds it.
    second = subprocess.run([sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--only", "01_vae",
                             "--reports-dir", str(root)], cwd=paths.REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 2 and f"pid {process.pid}" in second.stderr
    assert "another batch is writing" in second.stderr

    os.killpg(process.pid, signal.SIGINT)               # what Ctrl-C in the terminal does
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 130, errors
    assert "Traceback" not in errors and errors.strip().splitlines()[-1].startswith("interrupted:")
    interrupted = record(root, GAN, "unfinished")
    assert interrupted["status"] == "interrupted"
    assert "interrupted" in (root / "smoke" / "index.html").read_text()
    assert "This attempt is interrupted" in (root / "smoke" / FOLDER / "unfinished" / f"{GAN}.html").read_text()

    resumed = start_batch(root, *longer)
    output, errors = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, errors
    log = (root / "smoke" / FOLDER / f"{GAN}.log").read_text()
    assert f"[gan] resumed from checkpoint reports/smoke/{FOLDER}/checkpoints/" in log
    assert "after epoch 40" not in log and record(root, GAN)["status"] == "ok"


def kernels_of(pid):
    """Process ids of the Jupyter kernels that process ``pid`` started."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
                command = open(f"/proc/{entry}/cmdline").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "ipykernel" in command:
                found.append(int(entry))
    return found


def test_a_killed_kernel_is_a_failed_run_whose_report_says_where_it_died(tmp_path):
    root = tmp_path / "reports"
    process = start_batch(root, "--only", GAN, "--set", f"{GAN}.epochs=6")
    wait_for_line(process, "epoch 1/6")
    for kernel in kernels_of(process.pid):
        os.kill(kernel, signal.SIGKILL)
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 1, errors
    failed = record(root, GAN, "unfinished")
    assert failed["status"] == "failed" and "DeadKernelError" in failed["error"] and "kernel died in cell" in failed["error"]
    page = (root / "smoke" / FOLDER / "unfinished" / f"{GAN}.html").read_text()
    assert "This attempt is failed</b> in cell" in page and "DeadKernelError" in page


def test_relative_reports_dir_is_relative_to_where_the_user_stands(tmp_path):
    done = subprocess.run([str(paths.REPO_ROOT / "run_all.sh"), "--profile", "smoke", "--only", "06_summary",
                           "--reports-dir", "here"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    # Nothing to summarise there yet: refused in one line that names the folder it looked in.
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"none in {tmp_path / 'here' / 'smoke'} yet" in done.stderr
