"""One task of the batch (one notebook run), start to end: a stage folder for the attempt, the
notebook through papermill with the task's batch context and the stage in its kernel's
environment, the attempt finished (recorded, put in place, rendered), one line in the terminal,
the run's ``IndexRow``. What every executor runs for a task (in this process or in a job's)."""
import time

from nbhelpers.batch import attempts
from nbhelpers.batch.execute import INTERRUPTED, execute, staged_notebook
from nbhelpers.batch.index import IndexRow
from nbhelpers.batch.kernel import kernel_environment
from nbhelpers.batch.lock import putting_in_place
from nbhelpers.batch.plan import Task
from nbhelpers.paths import in_terminal, report_name


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a notebook run, after that run was recorded as interrupted."""

    def __init__(self, row: IndexRow):
        super().__init__(row.error or "interrupted")
        self.row = row


class OutOfSpace(Exception):
    """A run found its disk (or quota) full, and was recorded as failed: the batch stops, since
    every later run would fail the same way."""

    def __init__(self, row: IndexRow):
        super().__init__(row.error)
        self.row = row


def execute_task(task: Task, attempt: str) -> IndexRow:
    """Execute, render and record one notebook run as attempt ``attempt``
    (``attempts.new_attempt``); its row. The kernel sees the task's ``BatchContext`` with the
    attempt's id and stage (``paths.stage_dir``) and the folder it then moves to. Ctrl-C: the
    run is recorded, then ``BatchInterrupted`` (the batch's process lets only its first Ctrl-C
    through: ``main``); a full disk: recorded as far as the space allows, then ``OutOfSpace``."""
    folder, name = task.folder, report_name(task.stem)
    stage = attempts.stage_for(folder, task.stem, attempt)
    print(f"{task.label} {task.where}: running (log {in_terminal(stage / (name + '.log'))})", flush=True)
    started = time.time()
    label = f"{task.label} {task.stem}" + (f" s{task.seed}" if task.seed is not None else "")
    outcome, stopped = None, False
    try:
        source, digest = staged_notebook(task.stem, stage)   # the kernel records the digest of what it runs
        with kernel_environment(task.batch.with_stage(stage, folder, attempt).with_notebook(digest).variables()):
            outcome = execute(task.stem, task.params, stage, label=label, source=source)
    except KeyboardInterrupt:   # around the notebook rather than in it (``execute`` says those): recorded all the same
        stopped = True
    status, error = outcome or ("interrupted", INTERRUPTED)
    seconds = time.time() - started
    with putting_in_place():   # in a job: only while its batch runs
        record, page = attempts.finish_attempt(task.stem, task.profile, stage, status, error, seconds)
    row = IndexRow.from_record(task.stem, task.seed, record, seconds=seconds)
    shown = f" -> {in_terminal(page)}" if page else ""
    print(f"{task.label} {task.where}: {row.status} in {seconds:.0f} s{shown}"
          f"{' | ' + row.error if row.error else ''}", flush=True)
    if row.status == "interrupted":
        raise BatchInterrupted(row)
    if stopped:   # as the run ended, which is recorded as it ended
        raise KeyboardInterrupt("interrupted as a run ended")
    if attempts.disk_full_in(row.error):
        raise OutOfSpace(row)
    return row
