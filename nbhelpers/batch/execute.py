"""One notebook through papermill, as the batch runs it: the executed notebook and its log
(the kernel's stdout and stderr) in one folder, and in the terminal which cell of how many
runs and the kernel's progress lines (``progress.is_progress_line``) with the time
elapsed. Every line the batch prints about a running notebook starts with ``INDENT`` and its
label (``is_notebook_line``), so that a job's output can be echoed the same way."""
import contextlib
import gc
import logging
import os
import sys
import threading
import time
from pathlib import Path

from nbhelpers import progress
from nbhelpers.batch.kernel import KERNEL_NAME
from nbhelpers.paths import NOTEBOOKS_DIR, report_name
from nbhelpers.report.context import notebook_digest

INDENT = "    "
INTERRUPTED = "interrupted (Ctrl-C, SIGTERM or SIGHUP)"   # what stopped a run that the batch stopped


def is_notebook_line(line: str) -> bool:
    """Whether a line of the batch's output is about a running notebook (its cells, its progress)."""
    return line.startswith(INDENT + "[")


class LogFollower(threading.Thread):
    """Echoes a running notebook's progress lines from its log to the terminal, with the time
    elapsed: the training loops' epoch lines (losses, FID) and the evaluations' progress."""

    def __init__(self, path: Path, prefix: str):
        super().__init__(daemon=True)
        self.path, self.prefix, self.started, self.stopped = path, prefix, time.time(), threading.Event()

    def run(self) -> None:
        while not self.path.exists() and not self.stopped.is_set():
            time.sleep(0.2)
        with open(self.path, errors="replace") as handle:
            while True:
                line = handle.readline()
                if line:
                    if progress.is_progress_line(line):
                        elapsed = int(time.time() - self.started)
                        print(f"{self.prefix} +{elapsed // 60}:{elapsed % 60:02d}  {line.strip()[:150]}", flush=True)
                elif self.stopped.is_set():
                    return
                else:
                    time.sleep(0.5)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def staged_notebook(stem: str, stage: Path) -> tuple[Path, str | None]:
    """The notebook as this attempt executes it: its text, read once and written into the
    attempt's stage (nothing else writes there), and the digest of its code
    (``context.notebook_digest``) for the run's record. Unreadable: the notebook's own path and
    no digest (papermill then says what is wrong; the record says its code is unknown)."""
    try:
        text = (NOTEBOOKS_DIR / f"{stem}.ipynb").read_text(encoding="utf-8")
        source = stage / f"{report_name(stem)}.source.ipynb"
        source.write_text(text, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return NOTEBOOKS_DIR / f"{stem}.ipynb", None
    return source, notebook_digest(text)


def execute(stem: str, params: dict, folder: Path, label: str = "", source: Path | None = None) -> tuple[str, str | None]:
    """Run one notebook (``source``: ``staged_notebook``'s copy, else ``notebooks/<stem>.ipynb``)
    into ``folder`` (``<name>.ipynb`` and ``<name>.log``); returns (status, error message or
    None), status "ok", "failed" or, after Ctrl-C, "interrupted" (the caller then stops the batch)."""
    import papermill  # heavy: loaded by the process that runs notebooks, not by the batch's CLI
    from papermill.exceptions import PapermillExecutionError  # as above
    if source is not None and not source.exists():   # the batch took this attempt over: it cancelled it
        return "interrupted", INTERRUPTED
    name = report_name(stem)
    log_path = folder / f"{name}.log"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"{INDENT}{label}"
    cells = {"file": progress.LineStream(sys.stdout, prefix=f"{prefix} "), "desc": "cells", "ascii": True,
             "ncols": 90, "mininterval": 20, "bar_format": "{desc} {n_fmt}/{total_fmt} [{elapsed}]"}
    follower = LogFollower(log_path, prefix)
    try:
        with open(log_path, "a") as log, stderr_into(log_path):
            follower.start()
            papermill.execute_notebook(
                str(source or NOTEBOOKS_DIR / f"{stem}.ipynb"), str(folder / f"{name}.ipynb"), parameters=params,
                kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=cells,
                stdout_file=log, stderr_file=log)
        return "ok", None
    except KeyboardInterrupt:
        asyncio_log_into(log_path)
        return "interrupted", INTERRUPTED
    except PapermillExecutionError as error:
        if error.ename == "KeyboardInterrupt":   # the kernel got the terminal's SIGINT first
            return "interrupted", f"interrupted in cell {error.exec_count}"
        return "failed", f"{error.ename}: {error.evalue} (cell {error.exec_count})"
    except Exception as error:  # kernel died, timeout, ...: still report it
        return "failed", f"{type(error).__name__}: {error}"
    finally:
        follower.stop()


@contextlib.contextmanager
def stderr_into(path: Path):
    """File descriptor 2 goes to ``path`` (appending) while the block runs: the kernel started
    inside inherits it, so its warnings and its tracebacks on Ctrl-C land in the log, not in
    the terminal (the cells' progress goes to stdout)."""
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def asyncio_log_into(path: Path) -> None:
    """After Ctrl-C, nbclient's abandoned cell task ends with DeadKernelError once the kernel is
    shut down, and asyncio logs "Task exception was never retrieved" with its traceback when
    the task is collected. That belongs in the run's log, not the terminal: asyncio's logger
    writes there from now on (the batch is stopping), and the task is collected here.
    The handler holds the open file rather than its name: the attempt's folder moves to
    unfinished/ next, and a task collected at exit (after logging has closed its handlers)
    must not reopen a path that no longer exists."""
    logger = logging.getLogger("asyncio")
    logger.handlers = [logging.StreamHandler(open(path, "a", encoding="utf-8"))]
    logger.propagate = False
    gc.collect()
