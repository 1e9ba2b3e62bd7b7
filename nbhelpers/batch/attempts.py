"""A notebook run's attempt, from its stage folder to its place in the report tree.

Each attempt writes into a private stage, ``seed<k>/.attempts/<name>-*/`` (``stage_for``), so
that a failed or interrupted attempt never replaces a good report. ``finish_attempt`` then
records its outcome and puts it in place: one that ended ok replaces the run's reports (and
supersedes an earlier unfinished attempt); any other (failed, interrupted, incomplete) goes to
``seed<k>/unfinished/``, opening with a banner that says what ended it and where
(``where_it_stopped``).

One process finishes an attempt: the first to rename its stage to ``<stage>.finishing``
(``claim``); another that comes to it (the batch, for a job that it cancelled) waits for that
one's result. Finishing defers Ctrl-C (``uninterrupted``), so that a second one never cuts an
attempt in half."""
import contextlib
import html
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from nbhelpers.assets import atomic_save
from nbhelpers.batch import dryrun
from nbhelpers.batch.render import render_html
from nbhelpers.paths import report_name, run_folder
from nbhelpers.report import records

UNFINISHED = "unfinished"   # seed<k>/unfinished/: the last failed or interrupted attempt, kept beside the good one
ATTEMPTS = ".attempts"      # seed<k>/.attempts/<name>-*/: the stages of runs in progress
CLAIMED = ".finishing"      # a stage one process is finishing
FINISH_WAIT_SECONDS = 120   # how long another process's finishing may take before this one takes it over


def stage_for(folder: Path, stem: str) -> Path:
    """A new, private folder for one attempt (hidden beside the reports it may replace)."""
    (folder / ATTEMPTS).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{report_name(stem)}-", dir=folder / ATTEMPTS))


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


def claim(stage: Path) -> Path | None:
    """The stage renamed to ``<stage>.finishing`` (atomic: one process wins), or None when
    another process claimed it first or it is gone."""
    if stage.name.endswith(CLAIMED):
        return None
    claimed = stage.with_name(stage.name + CLAIMED)
    try:
        os.rename(stage, claimed)
    except FileNotFoundError:
        return None
    return claimed


def finished_by_another(claimed: Path, stem: str, seed: int | None, profile: str) -> tuple[dict, Path | None] | None:
    """Once the process that claimed an attempt has put it in place: its record and page (the
    newer of the run's folder and unfinished/); None when it never did (it stopped half-way)."""
    deadline = time.time() + FINISH_WAIT_SECONDS
    while claimed.exists() and time.time() < deadline:
        time.sleep(0.5)
    if claimed.exists():
        return None
    folder, name = run_folder(profile, seed), report_name(stem)
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


def finish_attempt(stem: str, seed: int | None, profile: str, stage: Path, status: str, error: str | None,
                   seconds: float) -> tuple[dict, Path | None]:
    """Record an attempt's outcome (``status``, ``error``: what ``execute`` said) in its metrics
    file, open its notebook with the banners its record calls for, render it, and put it in
    place (the run's folder when it ended ok, else ``unfinished/``), the page with the other
    files. Returns (the record, the HTML page or None). When another process claimed the stage
    first, its result; Ctrl-C meanwhile waits, and is raised after an attempt that ended ok."""
    mine = claim(stage)
    if mine is None:
        claimed = stage if stage.name.endswith(CLAIMED) else stage.with_name(stage.name + CLAIMED)
        if (done := finished_by_another(claimed, stem, seed, profile)) is not None:
            return done
        if not claimed.exists():
            raise FileNotFoundError(f"attempt {stage} is gone and left no record")
        mine = claimed   # its finisher stopped half-way: finished here
    with uninterrupted() as caught:
        record, page = put_in_place(stem, seed, profile, mine, status, error, seconds)
    if caught and record["status"] == "ok":
        raise KeyboardInterrupt("interrupted while an attempt was put in place")
    return record, page


def put_in_place(stem: str, seed: int | None, profile: str, stage: Path, status: str, error: str | None,
                 seconds: float) -> tuple[dict, Path | None]:
    folder, name = run_folder(profile, seed), report_name(stem)
    if status == "failed" and error and error.startswith("DeadKernelError") and (cell := where_it_stopped(stage / f"{name}.ipynb")):
        error += f" (kernel died in {cell})"
    record = records.mark_outcome(stage / f"{name}.metrics.json", stem, profile, status, error, seconds)
    ok = record["status"] == "ok"
    target = folder if ok else folder / UNFINISHED
    notebook = stage / f"{name}.ipynb"
    banners(notebook, record)
    (stage / f"{name}.html").unlink(missing_ok=True)
    if notebook.exists():   # rendered here, its links as from where it will lie
        render_html(notebook, lies_in=target)
    move_into(stage, target, stem)
    if ok:
        discard(folder / UNFINISHED, stem)
    page = target / f"{name}.html"
    return record, page if page.exists() else None
