"""``reports/<profile>/index.html``: every report of a profile (this batch's and earlier ones',
every seed, the last unfinished attempt beside the good report) with its status, duration,
headline numbers and a thumbnail of its final samples. One row type, ``IndexRow``, built from
a run's record in one place (``IndexRow.from_record``), serves the index, the batch's summary
in the terminal and the executors' reports of each run."""
import html
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbhelpers.assets import atomic_save
from nbhelpers.batch.attempts import UNFINISHED
from nbhelpers.paths import STUDY_NOTEBOOKS, SUMMARY_STEM, report_name, run_folder
from nbhelpers.report import records


@dataclass(frozen=True)
class IndexRow:
    """One run's attempt as the index and the terminal show it."""

    stem: str
    seed: int | None                # None: the summary
    status: str                     # ok, failed, interrupted, incomplete (records.mark_outcome)
    seconds: float | None           # wall time
    error: str | None = None        # what ended it, unless it is ok
    headline: str = ""              # the record's headline numbers, when it is ok
    attempt: str = ""               # "": the run's report; UNFINISHED: its last unfinished attempt
    run: str = ""                   # "this run" or "earlier run" (the index's rows)

    @classmethod
    def from_record(cls, stem: str, seed: int | None, record: dict, *, status: str = "unknown",
                    seconds: float | None = None, error: str | None = None, attempt: str = "",
                    run: str = "") -> "IndexRow":
        """The row of a run whose metrics file holds ``record``; ``status``, ``seconds`` and
        ``error`` stand in for what the record does not say."""
        status = record.get("status", status)
        ok = status == "ok"
        return cls(stem=stem, seed=seed, status=status, seconds=record.get("wall_seconds", seconds),
                   error=None if ok else record.get("error", error), headline=records.headline(record) if ok else "",
                   attempt=attempt, run=run)

    def href(self, suffix: str) -> str:
        """A report file's link from the profile's index (relative, so that the folder can be moved)."""
        name = report_name(self.stem) + suffix
        if self.attempt:
            name = f"{self.attempt}/{name}"
        return name if self.seed is None else f"seed{self.seed}/{name}"


def index_rows(profile: str, since: float | None = None) -> list[IndexRow]:
    """The index's rows, read from the records on disk: the summary, then every study notebook
    of every seed folder of the profile in notebook order; for each, its good report and, when
    there is one, its last unfinished attempt. Rows whose record was written after ``since``
    (the batch's start) are "this run", the others "earlier run"."""
    places = [(SUMMARY_STEM, None)] + [(stem, seed) for seed in records.seeds_present(profile) for stem in STUDY_NOTEBOOKS]
    rows, numbers = [], {}   # (stem, a run's identity): the seed whose record holds it
    for stem, seed in places:
        for attempt in ("", UNFINISHED):
            path = records.record_path(profile, stem, seed)
            path = path.parent / attempt / path.name if attempt else path
            try:
                record = records.read(path)
            except records.DamagedRecord as damaged:   # named, never ok, never a crash
                rows.append(IndexRow(stem=stem, seed=seed, status="damaged", seconds=None, error=str(damaged),
                                     attempt=attempt, run="earlier run"))
                continue
            if record is not None and (wrong := records.misplaced(record, profile, stem, seed)):
                rows.append(IndexRow(stem=stem, seed=seed, status="misplaced", seconds=None,
                                     error=f"{path.name}: {wrong}", attempt=attempt, run="earlier run"))
            elif record is not None and seed is not None and (identity := records.run_identity(record)) and \
                    (twin := numbers.setdefault((stem, identity), seed)) != seed:
                rows.append(IndexRow(stem=stem, seed=seed, status="duplicate", seconds=None, attempt=attempt,
                                     error=f"{path.name}: the same numbers as seed {twin} (a copy of its run)",
                                     run="earlier run"))
            elif record is not None:
                run = "this run" if since is not None and path.stat().st_mtime >= since else "earlier run"
                rows.append(IndexRow.from_record(stem, seed, record, attempt=attempt, run=run))
    return rows


def thumbnail(profile: str, stem: str, seed: int, models: int = 2, side: int = 4) -> str | None:
    """A small PNG of the final samples of a run's first ``models`` models with exported samples
    (``side`` x ``side`` digits each, dark on white), written beside the run's samples; its link
    from the profile's index, or None when the run exported none."""
    from PIL import Image  # only to write a thumbnail
    record = records.load(profile, stem, seed, finished=False) or {}
    grids = []
    for name in record.get("models") or {}:
        images = records.exported_samples(profile, stem, seed, name, side * side)
        if images is not None and len(images) == side * side:
            digits = (255 - images[:, 0].mul(255).round().byte().numpy())      # [n, 28, 28], dark on white
            grids.append(np.vstack([np.hstack(list(digits[r * side:(r + 1) * side])) for r in range(side)]))
        if len(grids) == models:
            break
    if not grids:
        return None
    gap = np.full((grids[0].shape[0], 6), 255, np.uint8)
    strip = np.hstack([part for grid in grids for part in (grid, gap)][:-1])
    path = run_folder(profile, seed) / stem / "thumbnail.png"
    atomic_save(path, lambda handle: Image.fromarray(strip).save(handle, format="PNG"))
    return f"seed{seed}/{stem}/thumbnail.png"


def table_row(profile: str, row: IndexRow) -> str:
    seed = "all" if row.seed is None else str(row.seed)
    duration = f"{row.seconds:.0f} s" if row.seconds is not None else "?"
    image = thumbnail(profile, row.stem, row.seed) if row.seed is not None and not row.attempt else None
    picture = f"<img src='{image}' alt='final samples' height='64'>" if image else ""
    kept = " (attempt kept in unfinished/)" if row.attempt else ""
    return (f"<tr class='{row.status}'><td><a href='{row.href('.html')}'>{html.escape(row.stem)}</a></td><td>{seed}</td>"
            f"<td>{picture}</td><td>{row.status}{kept}</td><td>{html.escape(row.run)}</td><td>{duration}</td>"
            f"<td>{html.escape(row.headline or row.error or '')}</td>"
            f"<td><a href='{row.href('.ipynb')}'>ipynb</a> · <a href='{row.href('.metrics.json')}'>metrics</a>"
            f" · <a href='{row.href('.log')}'>log</a></td></tr>")


def write_index(out_dir: Path, profile: str, rows: list[IndexRow]) -> Path:
    """Write ``out_dir/index.html`` (atomically) with ``rows``; its path."""
    summary = ("<p><a href='summary.html'><b>Summary across notebooks and seeds</b></a>: every model with mean ± std "
               "over seeds, and the original report's claims one by one.</p>" if (out_dir / "summary.html").exists() else "")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>MNIST generative models: {profile}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.4em .8em}}
tr.failed td{{background:#fdd}}tr.incomplete td,tr.interrupted td{{background:#ffd}}</style></head><body>
<h1>MNIST generative models: profile <code>{profile}</code></h1>
{summary}<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. FIDs name their feature extractor and sample count N; the
reference set is the MNIST test set. Inception and classifier FIDs are on different scales.</p>
<table><tr><th>notebook</th><th>seed</th><th>final samples</th><th>status</th><th>run</th><th>duration</th><th>headline</th>
<th>files</th></tr>
{''.join(table_row(profile, row) for row in rows)}</table></body></html>"""
    path = out_dir / "index.html"
    atomic_save(path, lambda handle: handle.write(page.encode()))
    return path


def summary_lines(rows: list[IndexRow]) -> list[str]:
    """This batch's runs as the terminal's closing table shows them."""
    width = max(len(row.stem) for row in rows)
    lines = []
    for row in rows:
        seed = "all" if row.seed is None else f"seed {row.seed}"
        seconds = f"{row.seconds:6.0f} s" if row.seconds is not None else "     ? s"
        lines.append(f"  {row.stem:<{width}}  {seed:<8}  {row.status:<11}  {seconds}  {row.headline or row.error or ''}")
    return lines
