"""A notebook run's attempt, from its stage folder to its place in the report tree.

Each attempt has an id of its own (``new_attempt``: its batch's id, then its own random part),
which its stage's name, its batch context and so its record carry: a run's record is known as
its own by that id, never by a clock. Each attempt writes into a private stage,
``seed<k>/.attempts/<name>-<attempt>/`` (``stage_for``), so that a failed or interrupted attempt
never replaces a good report. ``finish_attempt`` then records its outcome and puts it in place:
one that ended ok replaces the run's reports (and supersedes an earlier unfinished attempt); any
other (failed, interrupted, incomplete) goes to ``seed<k>/unfinished/``, opening with a banner
that says what ended it and where (``where_it_stopped``).

One process finishes an attempt: the first to rename its stage to ``<stage>.finishing``
(``take``); another that comes to it (the batch, for a job that it cancelled) waits for that
one's result. Finishing defers Ctrl-C, SIGTERM and SIGHUP (``stopping.uninterrupted``), so that
none cuts an attempt in half; the move into place is named in a journal first (``move_into``), so that a kill
half-way leaves a move that the next batch completes (``complete_move``), never two half
reports. No attempt is ok without its HTML page: one whose page cannot be rendered is failed,
saying why. A full disk (or quota) while finishing still records the attempt as failed,
in the space its stage kept for that (``RESERVE``), and moves it to ``unfinished/``; its error
then says that the disk is full (``disk_full_in``), and the batch stops.

What a killed batch left (stages, half-done moves, temporary files of interrupted writes) the
next batch records, completes and removes before it starts (``leftovers``)."""
import contextlib
import errno
import html
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from nbhelpers.batch import dryrun
from nbhelpers.batch.render import render_html
from nbhelpers.batch.stopping import uninterrupted
from nbhelpers.files import SHORT_WRITE, atomic_save
from nbhelpers.paths import report_name
from nbhelpers.report import records
from nbhelpers.report.record_schema import Record

UNFINISHED = "unfinished"   # seed<k>/unfinished/: the last failed or interrupted attempt, kept beside the good one
ATTEMPTS = ".attempts"      # seed<k>/.attempts/<name>-<attempt>/: the stages of runs in progress
TAKEN = ".finishing"        # a stage one process is finishing
MOVING = ".moving"          # in a stage: the journal of its move into place (move_into)
REPLACED = ".replaced-"     # <target>/.replaced-<attempt>/: the files an attempt's move set aside
ATTEMPT_ID = r"[0-9a-f]{8}-[0-9a-f]{8}"   # new_attempt: the batch's id, then the attempt's own
STAGE = re.compile(rf"(?P<name>.+)-(?P<attempt>{ATTEMPT_ID})(?P<taken>{re.escape(TAKEN)})?")
RESERVE = ".reserve"        # space a stage holds from its start, given up for its record if the disk fills
RESERVE_BYTES = 1 << 16
FINISH_WAIT_SECONDS = 120   # how long another process's finishing may take before this one takes it over
KILLED = "killed: its batch ended before it did (recorded by the next batch)"
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXT = re.compile("|".join(rf"\[Errno {code}\]|{os.strerror(code)}" for code in DISK_FULL_ERRNOS))


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says that a disk or a quota is full (also a write cut short without an
    errno: ``files.SHORT_WRITE``)."""
    return isinstance(error, OSError) and (error.errno in DISK_FULL_ERRNOS or
                                           error.errno is None and bool(SHORT_WRITE.search(str(error))))


def disk_full_in(text: str | None) -> bool:
    """Whether a run's error message (a kernel's, a job's) says that a disk or quota is full."""
    return bool(text and (DISK_FULL_TEXT.search(text) or SHORT_WRITE.search(text)))


def new_batch() -> str:
    """A batch's id: random, the first part of each of its attempts' ids."""
    return secrets.token_hex(4)


def new_attempt(batch: str) -> str:
    """A new attempt's id in batch ``batch`` (``new_batch``): ``<batch>-<random>``."""
    return f"{batch}-{secrets.token_hex(4)}"


def in_batch(attempt: str | None, batch: str) -> bool:
    """Whether the attempt ``attempt`` (a record's ``attempt``) is one of batch ``batch``'s."""
    return isinstance(attempt, str) and attempt.startswith(f"{batch}-")


def stage_for(folder: Path, stem: str, attempt: str | None = None) -> Path:
    """The new, private folder of attempt ``attempt`` (a new one's when None) of ``stem``,
    ``<folder>/.attempts/<name>-<attempt>`` (hidden beside the reports it may replace), holding
    ``RESERVE_BYTES`` of the disk for the attempt's record should the disk fill up meanwhile."""
    stage = folder / ATTEMPTS / f"{report_name(stem)}-{attempt or new_attempt(new_batch())}"
    stage.mkdir(parents=True)   # an attempt's id is never reused
    (stage / RESERVE).write_bytes(bytes(RESERVE_BYTES))
    return stage


def attempt_of(stage: Path) -> str | None:
    """The id of the attempt whose stage is ``stage`` (taken or not), None for any other folder."""
    found = STAGE.fullmatch(Path(stage).name)
    return found["attempt"] if found else None


def stage_of(folder: Path, stem: str, attempt: str) -> Path | None:
    """Attempt ``attempt``'s stage of ``stem`` in ``folder``, taken or not; None when it is gone."""
    stage = folder / ATTEMPTS / f"{report_name(stem)}-{attempt}"
    return next((path for path in (stage, stage.with_name(stage.name + TAKEN)) if path.is_dir()), None)


def run_folder_of(stage: Path) -> Path:
    """The run folder an attempt belongs to: its stage lies in ``<run folder>/.attempts/`` (``stage_for``)."""
    return stage.parent.parent


def placed(folder: Path, stem: str, attempt: str) -> tuple[Path, dict] | None:
    """Where attempt ``attempt``'s record lies once put in place (``folder`` or its
    ``unfinished/``), and the record; None when neither holds a record of that attempt."""
    name = f"{report_name(stem)}.metrics.json"
    for path in (folder / name, folder / UNFINISHED / name):
        with contextlib.suppress(records.DamagedRecord):   # a damaged record is no attempt's
            if (record := records.read(path)) and record.get("attempt") == attempt:
                return path, record
    return None


def report_files(stem: str) -> list[str]:
    """A run's report files, its page and its record last but one (the folder of its samples
    and models last)."""
    name = report_name(stem)
    return [f"{name}.ipynb", f"{name}.log", f"{name}.html", f"{name}.metrics.json", name]


def move_into(stage: Path, target: Path, stem: str, supersede: Path | None = None) -> None:
    """Move a finished attempt's files from ``stage`` into ``target``, replacing what is there,
    then delete ``stem``'s attempt in ``supersede`` (an ok attempt supersedes the unfinished one).
    First a journal in the stage names the move (``MOVING``); a kill at any point after leaves it
    for the next batch, which completes the move (``complete_move``), and one before it leaves
    the stage as it was. So the old report and the new one are never both lost."""
    folder = run_folder_of(stage)   # the journal names places from there: the report tree may move meanwhile
    plan = {"stem": stem, "target": str(target.relative_to(folder)),
            "supersede": str(supersede.relative_to(folder)) if supersede else None,
            "parts": [part for part in report_files(stem) if os.path.lexists(stage / part)]}
    atomic_save(stage / MOVING, lambda handle: handle.write(json.dumps(plan).encode()))
    complete_move(stage)


def complete_move(stage: Path) -> tuple[str, Path]:
    """Carry out the move that the journal in ``stage`` names, from wherever it stopped (each
    step is skipped once done); (its stem, its target). Each old file goes aside
    (``<target>/.replaced-<attempt>/``) just before its new one comes in (also one the attempt has
    no new one of: no page is left beside another attempt's record), and is deleted only once
    every new one is in place; the metrics file, the record readers trust, moves last but one
    (before the outputs folder). The journal goes last, with the emptied stage."""
    plan = json.loads((stage / MOVING).read_text())
    stem, target = plan["stem"], run_folder_of(stage) / plan["target"]
    aside = target / f"{REPLACED}{attempt_of(stage)}"
    target.mkdir(parents=True, exist_ok=True)
    for part in report_files(stem):
        new = part in plan["parts"]
        if new and not os.path.lexists(stage / part):   # moved in already
            continue
        if os.path.lexists(target / part):              # the old one (the new one is still in the stage, or none)
            aside.mkdir(exist_ok=True)
            os.replace(target / part, aside / part)
        if new:
            os.replace(stage / part, target / part)
    if plan["supersede"]:
        discard(run_folder_of(stage) / plan["supersede"], stem)
    shutil.rmtree(aside, ignore_errors=True)
    for path in stage.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.name != MOVING:
            path.unlink()
    (stage / MOVING).unlink()
    stage.rmdir()
    return stem, target


def discard(folder: Path, stem: str) -> None:
    """Delete a run's report files (and its HTML page) from ``folder``."""
    for part in report_files(stem):
        path = folder / part
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def where_it_stopped(notebook: Path) -> str | None:
    """"cell N" (N counts code cells, as papermill's execution counts do) of the cell that was
    running or failed when the run ended, or None when every cell completed or there is no
    notebook. After a dead kernel papermill marks the cells it never reached "completed" without
    an end time: the first of those code cells is where it died."""
    try:
        cells = json.loads(notebook.read_text()).get("cells", [])
    except (OSError, ValueError, AttributeError):   # none, or damaged: nothing to tell
        return None
    code = [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    for number, cell in enumerate(code, 1):
        record = cell.get("metadata", {}).get("papermill", {})
        if record.get("status") in ("running", "failed") or (record and not record.get("end_time")):
            return f"cell {number}"
    return None


def add_banner(notebook: Path, tag: str, text: str, colour: str = "#fdd", title: str | None = None) -> None:
    """Put a note at the top of an executed notebook (once per ``tag``), so that its report
    opens with it: what ended an unfinished attempt, a reused checkpoint, a dry run. ``title``
    also becomes the HTML page's title (nbconvert reads ``metadata.title``)."""
    if not notebook.exists():
        return
    content = json.loads(notebook.read_text())
    cells = content.get("cells", [])
    if any(tag in c.get("metadata", {}).get("tags", []) for c in cells):
        return
    box = f"<div style='background:{colour};padding:.6em;border:1px solid #bbb'>{text}</div>"
    cells.insert(0, {"cell_type": "markdown", "id": tag, "metadata": {"tags": [tag]}, "source": [box]})
    if title:
        content.setdefault("metadata", {})["title"] = title
    atomic_save(notebook, lambda handle: handle.write(json.dumps(content, indent=1, ensure_ascii=False).encode()))


def banners(notebook: Path, record: dict) -> None:
    """The notes a report opens with, from its record."""
    status = record.get("status")
    if status != "ok":
        stopped = where_it_stopped(notebook)
        add_banner(notebook, "unfinished-banner",
                   f"<b>This attempt is {status}</b>{' in ' + stopped if stopped else ''}: "
                   f"{html.escape(record.get('error') or 'it never reached its end')}. The last good report of "
                   "this notebook and seed, if any, is the one beside <code>unfinished/</code>.")
    if record.get("reused_checkpoints"):
        reused = "; ".join(f"{html.escape(name)}: {html.escape(text)}" for name, text in record["reused_checkpoints"].items())
        add_banner(notebook, "reuse-banner",
                   f"<b>Built from earlier training</b> (same settings and training code): {reused}. "
                   "<code>./run_all.sh --fresh</code> retrains.", colour="#eef")
    if record.get("dry_run"):
        add_banner(notebook, "dry-run-banner", f"<b>Dry run</b>: {html.escape(dryrun.describe())}.",
                   colour="#ffd", title=f"DRY RUN · {record.get('notebook', notebook.stem)}")


def take(stage: Path) -> Path | None:
    """The stage renamed to ``<stage>.finishing`` (atomic: one process wins), or None when
    another process took it first or it is gone."""
    if stage.name.endswith(TAKEN):
        return None
    taken = stage.with_name(stage.name + TAKEN)
    try:
        os.rename(stage, taken)
    except FileNotFoundError:
        return None
    return taken


def finished_by_another(taken: Path, stem: str, wait: float) -> tuple[dict, Path | None] | None:
    """Once the process that took an attempt has put it in place (waiting up to ``wait``
    seconds): the attempt's record and page, found by its id; None when it never did (it
    stopped half-way)."""
    deadline = time.time() + wait
    while taken.exists() and time.time() < deadline:
        time.sleep(0.5)
    if taken.exists() or (found := placed(run_folder_of(taken), stem, attempt_of(taken))) is None:
        return None
    page = found[0].with_name(f"{report_name(stem)}.html")
    return found[1], page if page.exists() else None


def finish_attempt(stem: str, profile: str, stage: Path, status: str, error: str | None,
                   seconds: float, wait: float = FINISH_WAIT_SECONDS) -> tuple[dict, Path | None]:
    """Record an attempt's outcome (``status``, ``error``: what ``execute`` said) in its metrics
    file, open its notebook with the banners its record calls for, render it, and put it in
    place (the run's folder when it ended ok, else ``unfinished/``), the page with the other
    files. Returns (the record, the HTML page or None). When another process took the stage
    first, its result (waiting ``wait`` seconds for it; a move it began is completed here).
    Ctrl-C meanwhile waits, and is raised once the attempt is in place."""
    mine = take(stage)
    if mine is None:
        taken = stage if stage.name.endswith(TAKEN) else stage.with_name(stage.name + TAKEN)
        if (done := finished_by_another(taken, stem, wait)) is not None:
            return done
        if not taken.exists():
            raise FileNotFoundError(f"attempt {stage} is gone and left no record")
        mine = taken   # its finisher stopped half-way: finished here
    with uninterrupted() as caught:
        if (mine / MOVING).exists():   # recorded and rendered, stopped while moving into place
            record, page = moved_in(mine)
        else:
            record, page = put_in_place(stem, profile, mine, status, error, seconds)
    if caught and record["status"] != "interrupted":   # an interrupted one stops its batch anyway
        raise KeyboardInterrupt("interrupted while an attempt was put in place")
    return record, page


def moved_in(stage: Path) -> tuple[dict, Path | None]:
    """``complete_move`` of a stage whose move was cut short: the record and page now in place."""
    stem, _ = complete_move(stage)
    if (found := placed(run_folder_of(stage), stem, attempt_of(stage))) is None:   # it had no record
        return {"notebook": stem, "status": "failed", "error": "its record could not be written"}, None
    page = found[0].with_name(f"{report_name(stem)}.html")
    return found[1], page if page.exists() else None


def mark_outcome(metrics_path: Path, stem: str, profile: str, status: str, error: str | None,
                 seconds: float, render_seconds: float | None = None, attempt: str | None = None) -> Record:
    """After a batch ran a notebook: merge its outcome (status ok, failed or interrupted) into
    the notebook's metrics file (writing one if the notebook never got that far, for attempt
    ``attempt``); once its page is rendered, with the CPU-seconds that took."""
    record: Record = json.loads(metrics_path.read_text()) if metrics_path.exists() else {
        "notebook": stem, "profile": profile, "models": {}}
    if attempt is not None:
        record.setdefault("attempt", attempt)
    if status in ("failed", "interrupted"):
        record["status"] = status
        record["error"] = error
    elif record.get("status") != "ok":  # ran without error but never reached metrics.finish()
        record["status"] = "incomplete"
    record["wall_seconds"] = round(seconds, 1)
    if render_seconds is not None:
        record["render_seconds"] = round(render_seconds, 1)
    text = json.dumps(record, indent=2)
    atomic_save(metrics_path, lambda handle: handle.write(text.encode()))
    return record


def put_in_place(stem: str, profile: str, stage: Path, status: str, error: str | None,
                 seconds: float) -> tuple[dict, Path | None]:
    folder, name = run_folder_of(stage), report_name(stem)
    if status == "failed" and error and error.startswith("DeadKernelError") and (cell := where_it_stopped(stage / f"{name}.ipynb")):
        error += f" (kernel died in {cell})"
    metrics = stage / f"{name}.metrics.json"
    try:
        record = mark_outcome(metrics, stem, profile, status, error, seconds, attempt=attempt_of(stage))
        started = time.process_time()   # this process renders; its CPU-seconds
        problem = render_page(stage, name, record, folder)
        if problem and record["status"] == "ok":   # no attempt is ok without its page
            status, error = "failed", f"its report could not be rendered: {problem}"
        record = mark_outcome(metrics, stem, profile, status, error, seconds, render_seconds=time.process_time() - started)
    except OSError as full:
        if not is_disk_full(full):
            raise
        (stage / RESERVE).unlink(missing_ok=True)   # room for the record
        record = record_out_of_space(metrics, stem, profile, error, seconds, full, attempt_of(stage))
    ok = record["status"] == "ok"
    target = folder if ok else folder / UNFINISHED
    move_into(stage, target, stem, supersede=folder / UNFINISHED if ok else None)
    page = target / f"{name}.html"
    return record, page if page.exists() else None


def render_page(stage: Path, name: str, record: dict, folder: Path) -> str | None:
    """Open the attempt's notebook with the banners its record calls for and render its HTML page
    in the stage, its links as from where it will lie; None, or why there is no page (a full
    disk raises)."""
    notebook = stage / f"{name}.ipynb"
    (stage / f"{name}.html").unlink(missing_ok=True)
    if not notebook.exists():
        return "the run left no notebook"
    try:
        banners(notebook, record)
        render_html(notebook, lies_in=folder if record["status"] == "ok" else folder / UNFINISHED)
    except Exception as error:   # a damaged notebook, nbconvert's error: said in the record
        if is_disk_full(error):
            raise
        return f"{type(error).__name__}: {error}"
    return None


def record_out_of_space(metrics: Path, stem: str, profile: str, error: str | None, seconds: float,
                        full: OSError, attempt: str | None) -> dict:
    """The record of an attempt that the disk filling up kept from being put in place: failed,
    saying so after what ended the run, written if the space allows."""
    said = f"{error}; " if error else ""
    text = f"{said}its report could not be written: {full}"
    try:
        return mark_outcome(metrics, stem, profile, "failed", text, seconds, attempt=attempt)
    except (OSError, ValueError):   # no space even for the record: the batch says it instead
        return {"notebook": stem, "profile": profile, "status": "failed", "error": text, "wall_seconds": round(seconds, 1),
                "attempt": attempt}

