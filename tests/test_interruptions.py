"""Ctrl-C with several runs at once (issue 26), Ctrl-C pressed again and again and a closed
terminal (SIGHUP) with one run at a time (issue 33): one line, exit 130, the index rewritten,
every attempt finished (by one process), nothing printed by submitit."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from nbhelpers import paths
from nbhelpers.batch import executors

pytestmark = pytest.mark.notebook

PROGRESS = re.compile(r"^    \[\d+/\d+\] (\w+) s\d+ \+\d+:\d\d ")   # a running notebook's progress line
STARTED = re.compile(r"^\[\d+/\d+\] (\w+) \(seed \d+\): running ")
ENDED = re.compile(r"^\[\d+/\d+\] (\w+) \(seed \d+\): \w+ in ")


def test_ctrl_c_with_the_default_jobs_ends_in_one_line_and_records_both_attempts(tmp_path):
    if executors.cores() < 2:
        pytest.skip("needs two cores for two runs at once")
    root = tmp_path / "reports"
    process = subprocess.Popen([sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--seeds", "1",
                                "--reports-dir", str(root)], cwd=paths.REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    running, shown, deadline = {}, [], time.time() + 300   # stem: whether it printed progress
    while len(running) < 2 or not all(running.values()):     # two runs at work
        line = process.stdout.readline()
        shown.append(line)
        assert line and time.time() < deadline, "".join(shown)
        if match := STARTED.match(line):
            running[match.group(1)] = False
        elif (match := ENDED.match(line)) and match.group(1) in running:
            del running[match.group(1)]
        elif (match := PROGRESS.match(line)) and match.group(1) in running:
            running[match.group(1)] = True
    started = time.time()
    os.killpg(process.pid, signal.SIGINT)                 # what Ctrl-C in the terminal does
    out, errors = process.communicate(timeout=240)
    assert process.returncode == 130, errors
    assert "Traceback" not in out + errors
    assert [line for line in errors.strip().splitlines()] == [errors.strip()]   # one line
    assert errors.strip().startswith("interrupted:")
    unfinished = root / "smoke" / "seed1" / "unfinished"
    for stem in running:
        record = json.loads((unfinished / f"{stem}.metrics.json").read_text())
        assert record["status"] == "interrupted", record
        assert "This attempt is interrupted" in (unfinished / f"{stem}.html").read_text()
    index = root / "smoke" / "index.html"
    assert index.stat().st_mtime >= started and "interrupted" in index.read_text()
    assert not list((root / "smoke" / "seed1" / ".attempts").iterdir())   # every attempt finished


@pytest.mark.parametrize("signals", [("SIGINT", "SIGINT", "SIGINT", "SIGINT"), ("SIGHUP",)],
                         ids=["ctrl-c-four-times", "terminal-closed"])
def test_one_job_stopped_by_repeated_ctrl_c_or_a_closed_terminal_records_its_attempt(tmp_path, signals):
    root = tmp_path / "reports"
    process = subprocess.Popen([sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--only", "01_vae",
                                "--seeds", "1", "--jobs", "1", "--set", "01_vae.epochs=100", "--reports-dir", str(root)],
                               cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    shown, deadline = [], time.time() + 300
    while not (shown and PROGRESS.match(shown[-1])):                  # the kernel at work
        shown.append(process.stdout.readline())
        assert shown[-1] and time.time() < deadline, "".join(shown)
    started = time.time()
    for name, pause in zip(signals, (0.1, 0.3, 0.2, 0.1)):            # as a terminal sends them
        os.killpg(process.pid, getattr(signal, name))
        time.sleep(pause)
    out, errors = process.communicate(timeout=240)
    assert process.returncode == 130, errors                           # before, SIGHUP: 129, silent
    assert "Traceback" not in out + errors and errors.strip().count("\n") == 0, errors
    assert errors.strip().startswith("interrupted: 01_vae (seed 1) stopped (interrupted")
    folder = root / "smoke" / "seed1"
    record = json.loads((folder / "unfinished" / "01_vae.metrics.json").read_text())
    assert record["status"] == "interrupted", record                   # before, Ctrl-C x4: left in .attempts/
    assert "This attempt is interrupted" in (folder / "unfinished" / "01_vae.html").read_text()
    assert not list((folder / ".attempts").iterdir())
    index = root / "smoke" / "index.html"
    assert index.stat().st_mtime >= started and "interrupted" in index.read_text()
