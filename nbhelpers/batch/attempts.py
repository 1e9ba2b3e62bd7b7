"""A notebook run's attempt, from its stage folder to its place in the report tree.

Each attempt writes into a private stage, ``seed<k>/.attempts/<name>-*/`` (``stage_for``), so
that a failed or interrupted attempt never replaces a good report. ``finish_attempt`` then
records its outcome and puts it in place: one that ended ok replaces the run's reports (and
supersedes an earlier unfinished attempt); any other (failed, interrupted, incomplete) goes to
``seed<k>/unfinished/``, opening with a banner that says what ended it and where
(``where_it_stopped``).

One process finishes an attempt: the first to rename its stage to ``<stage>.finishing``
(``take``); another that comes to it (the batch, for a job that it cancelled) waits for that
one's result. Finishing defers Ctrl-C (``uninterrupted``), so that a second one never cuts an
attempt in half. No attempt is ok without its HTML page: one whose page cannot be rendered is
failed, saying why. A full disk (or quota) while finishing still records the attempt as failed,
in the space its stage kept for that (``RESERVE``), and moves it to ``unfinished/``; its error
then says that the disk is full (``disk_full_in``), and the batch stops.

What a killed batch left (stages, temporary files of interrupted writes) the next batch records
and removes before it starts (``tidy``)."""
import contextlib
import errno
import html
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from nbhelpers.batch import dryrun
from nbhelpers.batch.render import render_html
from nbhelpers.files import atomic_save
from nbhelpers.paths import SUMMARY_STEM, report_name
from nbhelpers.report import records
from nbhelpers.report.record_schema import Record

UNFINISHED = "unfinished"   # seed<k>/unfinished/: the last failed or interrupted attempt, kept beside the good one
ATTEMPTS = ".attempts"      # seed<k>/.attempts/<name>-*/: the stages of runs in progress
TAKEN = ".finishing"        # a stage one process is finishing
RESERVE = ".reserve"        # space a stage holds from its start, given up for its record if the disk fills
RESERVE_BYTES = 1 << 16
FINISH_WAIT_SECONDS = 120   # how long another process's finishing may take before this one takes it over
KILLED = "killed: its batch ended before it did (recorded by the next batch)"
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXT = re.compile("|".join(rf"\[Errno {code}\]|{os.strerror(code)}" for code in DISK_FULL_ERRNOS))


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says that a disk or a quota is full."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def disk_full_in(text: str | None) -> bool:
    """Whether a run's error message (a kernel's, a job's) says that a disk or quota is full."""
    return bool(text and DISK_FULL_TEXT.search(text))


def stage_for(folder: Path, stem: str) -> Path:
    """A new, private folder for one attempt (hidden beside the reports it may replace), holding
    ``RESERVE_BYTES`` of the disk for the attempt's record should the disk fill up meanwhile."""
    (folder / ATTEMPTS).mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{report_name(stem)}-", dir=folder / ATTEMPTS))
    (stage / RESERVE).write_bytes(bytes(RESERVE_BYTES))
    return stage


def run_folder_of(stage: Path) -> Path:
    """The run folder an attempt belongs to: its stage lies in ``<run folder>/.attempts/`` (``stage_for``)."""
    return stage.parent.parent


def stages_since(folder: Path, stem: str, since: float) -> list[Path]:
    """The stages of ``stem`` in ``folder`` made or changed after ``since``, oldest first."""
    found = {}
    for path in (folder / ATTEMPTS).glob(f"{report_name(stem)}-*"):
        with contextlib.suppress(FileNotFoundError):   # one finished meanwhile
            if (changed := path.stat().st_mtime) >= since:
                found[path] = changed
    return sorted(found, key=found.get)


def report_files(stem: str) -> list[str]:
    """A run's report files, its page and its record last but one (the folder of its samples
    and models last)."""
    name = report_name(stem)
    return [f"{name}.ipynb", f"{name}.log", f"{name}.html", f"{name}.metrics.json", name]


def move_into(stage: Path, target: Path, stem: str) -> None:
    """Move a finished attempt's files from ``stage`` into ``target``, replacing what is there:
    each old file goes aside first and is deleted only once every new one is in place; the
    metrics file, the record readers trust, moves last but one (before the outputs folder)."""
    target.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=".replaced-", dir=target))
    try:
        for part in report_files(stem):
            if (target / part).exists():
                os.replace(target / part, aside / part)
            if (stage / part).exists():
                os.replace(stage / part, target / part)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)


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


@contextlib.contextmanager
def uninterrupted():
    """Ctrl-C (SIGINT) waits until the block has run; yields a list that then holds the signal
    if one came. Outside the main thread (where no handler can be set) the block runs as is."""
    caught = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


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


def finished_by_another(taken: Path, stem: str) -> tuple[dict, Path | None] | None:
    """Once the process that took an attempt has put it in place: its record and page (the
    newer of the run's folder and unfinished/); None when it never did (it stopped half-way)."""
    deadline = time.time() + FINISH_WAIT_SECONDS
    while taken.exists() and time.time() < deadline:
        time.sleep(0.5)
    if taken.exists():
        return None
    folder, name = run_folder_of(taken), report_name(stem)
    placed = [f / f"{name}.metrics.json" for f in (folder, folder / UNFINISHED) if (f / f"{name}.metrics.json").exists()]
    if not placed:
        return None
    newest = max(placed, key=lambda p: p.stat().st_mtime)
    try:
        record = records.read(newest)
    except records.DamagedRecord:
        return None
    page = newest.parent / f"{name}.html"
    return (record, page if page.exists() else None) if record else None


def finish_attempt(stem: str, profile: str, stage: Path, status: str, error: str | None,
                   seconds: float) -> tuple[dict, Path | None]:
    """Record an attempt's outcome (``status``, ``error``: what ``execute`` said) in its metrics
    file, open its notebook with the banners its record calls for, render it, and put it in
    place (the run's folder when it ended ok, else ``unfinished/``), the page with the other
    files. Returns (the record, the HTML page or None). When another process took the stage
    first, its result; Ctrl-C meanwhile waits, and is raised after an attempt that ended ok."""
    mine = take(stage)
    if mine is None:
        taken = stage if stage.name.endswith(TAKEN) else stage.with_name(stage.name + TAKEN)
        if (done := finished_by_another(taken, stem)) is not None:
            return done
        if not taken.exists():
            raise FileNotFoundError(f"attempt {stage} is gone and left no record")
        mine = taken   # its finisher stopped half-way: finished here
    with uninterrupted() as caught:
        record, page = put_in_place(stem, profile, mine, status, error, seconds)
    if caught and record["status"] == "ok":
        raise KeyboardInterrupt("interrupted while an attempt was put in place")
    return record, page


def mark_outcome(metrics_path: Path, stem: str, profile: str, status: str, error: str | None,
                 seconds: float) -> Record:
    """After a batch ran a notebook: merge its outcome (status ok, failed or interrupted) into
    the notebook's metrics file (writing one if the notebook never got that far)."""
    record: Record = json.loads(metrics_path.read_text()) if metrics_path.exists() else {
        "notebook": stem, "profile": profile, "models": {}}
    if status in ("failed", "interrupted"):
        record["status"] = status
        record["error"] = error
    elif record.get("status") != "ok":  # ran without error but never reached metrics.finish()
        record["status"] = "incomplete"
    record["wall_seconds"] = round(seconds, 1)
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
        record = mark_outcome(metrics, stem, profile, status, error, seconds)
        problem = render_page(stage, name, record, folder)
        if problem and record["status"] == "ok":   # no attempt is ok without its page
            record = mark_outcome(metrics, stem, profile, "failed", f"its report could not be rendered: "
                                  f"{problem}", seconds)
    except OSError as full:
        if not is_disk_full(full):
            raise
        (stage / RESERVE).unlink(missing_ok=True)   # room for the record
        record = record_out_of_space(metrics, stem, profile, error, seconds, full)
    ok = record["status"] == "ok"
    target = folder if ok else folder / UNFINISHED
    move_into(stage, target, stem)
    if ok:
        discard(folder / UNFINISHED, stem)
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
                        full: OSError) -> dict:
    """The record of an attempt that the disk filling up kept from being put in place: failed,
    saying so after what ended the run, written if the space allows."""
    said = f"{error}; " if error else ""
    text = f"{said}its report could not be written: {full}"
    try:
        return mark_outcome(metrics, stem, profile, "failed", text, seconds)
    except (OSError, ValueError):   # no space even for the record: the batch says it instead
        return {"notebook": stem, "profile": profile, "status": "failed", "error": text, "wall_seconds": round(seconds, 1)}


def tidy(profile: str, out_dir: Path) -> list[str]:
    """What an earlier batch left when it was killed, dealt with before this one runs anything
    (under the lock, after the killed batch's runs stopped): every stage in ``.attempts/`` is
    recorded as a failed attempt (``KILLED``) and put in ``unfinished/``, rendered as far as it
    got, oldest first; temporary files and folders of interrupted writes are removed. Returns
    what was done, in words (none when there was nothing). ``out_dir``: the profile's folder."""
    stages = [path for pattern in (f"{ATTEMPTS}/*", f"seed*/{ATTEMPTS}/*") for path in out_dir.glob(pattern)
              if path.is_dir()]
    for stage in sorted(stages, key=lambda path: path.stat().st_mtime):
        name = stage.name.removesuffix(TAKEN).rsplit("-", 1)[0]
        stem = SUMMARY_STEM if name == report_name(SUMMARY_STEM) else name
        times = [path.stat().st_mtime for path in stage.rglob("*")] or [0.0]
        with uninterrupted():
            put_in_place(stem, profile, stage, "failed", KILLED, max(times) - min(times))
    done = [f"{len(stages)} attempt(s) of killed runs recorded in unfinished/"] if stages else []
    if removed := remove_temporary(out_dir):
        done.append(f"{removed} temporary file(s) removed")
    return done


def remove_temporary(out_dir: Path) -> int:
    """Delete what interrupted writes left in ``out_dir``: temporary files (``.<name>...tmp``,
    from ``files.atomic_save`` and ``render``), old reports set aside by a replacement that was
    cut short (``.replaced-*``) and half-copied MathJax folders; how many."""
    left = [path for path in out_dir.rglob(".*")
            if path.name.endswith(".tmp") and path.is_file()
            or path.name.startswith((".replaced-", ".mathjax-new-", ".mathjax-old-")) and path.is_dir()]
    for path in left:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(left)
