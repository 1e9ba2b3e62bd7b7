"""A notebook run's attempt, from its stage folder to its place in the report tree.

Each attempt writes into a private stage, ``seed<k>/.attempts/<name>-*/`` (``stage_for``), so
that a failed or interrupted attempt never replaces a good report. ``finish_attempt`` then
records its outcome and puts it in place: one that ended ok replaces the run's reports (and
supersedes an earlier unfinished attempt); any other (failed, interrupted, incomplete) goes to
``seed<k>/unfinished/``, opening with a banner that says what ended it and where
(``where_it_stopped``)."""
import html
import json
import os
import shutil
import tempfile
from pathlib import Path

from nbhelpers.assets import atomic_save
from nbhelpers.batch import dryrun
from nbhelpers.batch.render import render_html
from nbhelpers.paths import report_name, run_folder
from nbhelpers.report import records

UNFINISHED = "unfinished"   # seed<k>/unfinished/: the last failed or interrupted attempt, kept beside the good one
ATTEMPTS = ".attempts"      # seed<k>/.attempts/<name>-*/: the stages of runs in progress


def stage_for(folder: Path, stem: str) -> Path:
    """A new, private folder for one attempt (hidden beside the reports it may replace)."""
    (folder / ATTEMPTS).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{report_name(stem)}-", dir=folder / ATTEMPTS))


def stages_since(folder: Path, stem: str, since: float) -> list[Path]:
    """The stages of ``stem`` in ``folder`` made or changed after ``since``, oldest first."""
    found = [p for p in (folder / ATTEMPTS).glob(f"{report_name(stem)}-*") if p.stat().st_mtime >= since]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def report_files(stem: str) -> list[str]:
    """A run's report files (the folder of its samples and models last)."""
    name = report_name(stem)
    return [f"{name}.ipynb", f"{name}.log", f"{name}.metrics.json", name]


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
    for part in report_files(stem) + [f"{report_name(stem)}.html"]:
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
    if not notebook.exists():
        return None
    code = [c for c in json.loads(notebook.read_text()).get("cells", []) if c.get("cell_type") == "code"]
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


def finish_attempt(stem: str, seed: int | None, profile: str, stage: Path, status: str, error: str | None,
                   seconds: float) -> tuple[dict, Path | None]:
    """Record an attempt's outcome (``status``, ``error``: what ``execute`` said) in its metrics
    file, open its notebook with the banners its record calls for, put it in place (the run's
    folder when it ended ok, else ``unfinished/``) and render it. Returns (the record, the HTML
    page or None)."""
    folder, name = run_folder(profile, seed), report_name(stem)
    if status == "failed" and error and error.startswith("DeadKernelError") and (cell := where_it_stopped(stage / f"{name}.ipynb")):
        error += f" (kernel died in {cell})"
    record = records.mark_outcome(stage / f"{name}.metrics.json", stem, profile, status, error, seconds)
    ok = record["status"] == "ok"
    target = folder if ok else folder / UNFINISHED
    banners(stage / f"{name}.ipynb", record)
    move_into(stage, target, stem)
    if ok:
        discard(folder / UNFINISHED, stem)
    notebook = target / f"{name}.ipynb"
    return record, render_html(notebook) if notebook.exists() else None
