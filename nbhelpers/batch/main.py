"""The batch run behind ``./run_all.sh``: validate, prepare, execute, render, index.

    python -m nbhelpers.batch [--profile smoke|cpu|full|auto] [--seeds 0,1,2] [--only STEM]...
                                 [--set KEY=VALUE]...

1. Every input is checked before anything long starts: profile, seeds, notebook names,
   parameter names and types (``config``), and the data files (``data``; MD5-verified).
2. Each study notebook runs headless with papermill once per seed, into
   ``reports/<profile>/seed<k>/<stem>.ipynb``; the kernel's output goes to ``<stem>.log``
   beside it. Seeds never share a folder, and a failing notebook does not stop the others.
3. Last, the summary (``06_summary``) reads every seed's records into
   ``reports/<profile>/summary.*``.
4. Each executed notebook, failed ones included (papermill keeps the outputs up to the error
   and puts a banner at the top), is rendered by nbconvert to HTML beside it.
5. ``reports/<profile>/index.html`` links every report of the profile (this run's and earlier
   ones', every seed) with its status, duration and headline numbers from the metrics files;
   this run's summary is printed. Exit status 1 if any notebook of this run failed.
"""
import argparse
import contextlib
import html
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from nbhelpers.report import config, records, progress
from nbhelpers.batch import dryrun, executors
from nbhelpers import paths
from nbhelpers.assets import AssetError, atomic_save
from nbhelpers.paths import GAN_NOTEBOOK, GAN_NOTEBOOKS, STUDY_NOTEBOOKS
from nbhelpers.paths import NOTEBOOKS_DIR, REPO_ROOT, SUMMARY_STEM, report_name, run_folder
from nbhelpers.batch.render import render_html

KERNEL_NAME = "mnist-genmodels"
KERNEL_DISPLAY = "MNIST generative models (.venv)"


def ensure_kernel() -> None:
    """Register this environment's Python as the notebooks' kernel if it is not yet known."""
    from jupyter_client.kernelspec import KernelSpecManager
    if KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install
        install(prefix=sys.prefix, kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY)
        print(f"registered Jupyter kernel {KERNEL_NAME!r} for {sys.executable}")


def install_output_filter(repo: Path = REPO_ROOT) -> bool:
    """Make git strip notebook outputs on ``git add`` (nbstripout as a clean filter, cell ids
    kept), so that JupyterLab's autosave cannot bring outputs into a commit. The committed
    ``.gitattributes`` names the filter for ``*.ipynb``; this defines it in ``repo``'s local git
    config. False (and nothing changed) outside a git work tree."""
    import subprocess
    inside = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if inside.returncode != 0:
        return False
    settings = {"clean": f"'{sys.executable}' -m nbstripout --keep-id", "smudge": "cat", "required": "true"}
    for key, value in settings.items():
        subprocess.run(["git", "-C", str(repo), "config", f"filter.nbstripout.{key}", value], check=True)
    return True


def cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def auto_profile() -> str:
    return "full" if cuda_available() else "cpu"


def prepare_assets(resolved: list[dict]) -> None:
    """Data, FID weights, the metric classifier and the largest Inception reference statistics
    any selected notebook needs, all verified before the first notebook starts."""
    from nbhelpers import data
    from nbhelpers.metrics import fid
    from nbhelpers.report.context import pick_device
    for name, md5 in data.prepare().items():
        print(f"  {name}: md5 {md5} OK")
    if not resolved:   # only the summary: it reads records, no metric assets needed
        return
    fid.prepare(pick_device("auto"), ref_n_inception=max(p["fid_ref_n_inception"] for p in resolved),
                ref_n_classifier=max(p["fid_ref_n_classifier"] for p in resolved))


class LogFollower(threading.Thread):
    """Echoes a running notebook's progress lines from its log to the terminal, with the time
    elapsed: the training loops' epoch lines (losses, FID) and the evaluations' progress."""

    PROGRESS = re.compile(r"epoch\s+\d+\s*/\s*\d+|features: \d+/\d+ images|^\[(?!IPKernelApp)[\w.]+\] ")

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
                    if self.PROGRESS.search(line):
                        elapsed = int(time.time() - self.started)
                        print(f"{self.prefix} +{elapsed // 60}:{elapsed % 60:02d}  {line.strip()[:150]}", flush=True)
                elif self.stopped.is_set():
                    return
                else:
                    time.sleep(0.5)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a notebook run, after that run was recorded as interrupted."""

    def __init__(self, row: dict):
        super().__init__(row.get("error") or "interrupted")
        self.row = row


def interrupt_on_sigterm() -> None:
    """``kill`` (SIGTERM, e.g. from ``scancel``) stops the batch as Ctrl-C does."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def execute(stem: str, params: dict, folder: Path, label: str = "") -> tuple[str, str | None]:
    """Run one notebook into ``folder``; returns (status, error message or None). Its cells'
    progress and its training loops' epoch lines are shown in the terminal as it runs. Status
    "interrupted" after Ctrl-C (the caller then stops the batch)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    name = report_name(stem)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"    {label}"
    cells = {"file": progress.LineStream(sys.stdout, prefix=f"{prefix} "), "desc": "cells", "ascii": True,
             "ncols": 90, "mininterval": 20, "bar_format": "{desc} {n_fmt}/{total_fmt} [{elapsed}]"}
    follower = LogFollower(folder / f"{name}.log", prefix)
    try:
        with open(folder / f"{name}.log", "a") as log, stderr_into(folder / f"{name}.log"):
            follower.start()
            papermill.execute_notebook(
                str(NOTEBOOKS_DIR / f"{stem}.ipynb"), str(folder / f"{name}.ipynb"), parameters=params,
                kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=cells,
                stdout_file=log, stderr_file=log)
        return "ok", None
    except KeyboardInterrupt:
        asyncio_log_into(folder / f"{name}.log")
        return "interrupted", "interrupted (Ctrl-C or SIGTERM)"
    except PapermillExecutionError as error:
        if error.ename == "KeyboardInterrupt":   # the kernel got the terminal's SIGINT first
            return "interrupted", f"interrupted in cell {error.exec_count}"
        return "failed", f"{error.ename}: {error.evalue} (cell {error.exec_count})"
    except Exception as error:  # kernel died, timeout, ...: still report it
        return "failed", f"{type(error).__name__}: {error}"
    finally:
        follower.stop()


def asyncio_log_into(path: Path) -> None:
    """After Ctrl-C, nbclient's abandoned cell task ends with DeadKernelError once the kernel is
    shut down, and asyncio logs "Task exception was never retrieved" with its traceback when
    the task is collected. That belongs in the run's log, not the terminal: asyncio's logger
    writes there from now on (the batch is stopping), and the task is collected here."""
    import gc
    import logging
    logger = logging.getLogger("asyncio")
    logger.handlers = [logging.FileHandler(path)]
    logger.propagate = False
    gc.collect()


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


UNFINISHED = "unfinished"   # seed<k>/unfinished/: the last failed or interrupted attempt, kept beside the good one


def report_files(stem: str) -> list[str]:
    """A run's report files (the folder of its samples and models last)."""
    name = report_name(stem)
    return [f"{name}.ipynb", f"{name}.log", f"{name}.metrics.json", name]


def move_into(stage: Path, target: Path, stem: str) -> None:
    """Move a finished attempt's files from ``stage`` into ``target``, replacing what is there:
    each old file goes aside first and is deleted only once every new one is in place; the
    metrics file, the record readers trust, moves last but one (before the outputs folder)."""
    import shutil
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
    import shutil
    for part in report_files(stem) + [f"{report_name(stem)}.html"]:
        path = folder / part
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


ATTEMPTS = ".attempts"   # seed<k>/.attempts/<name>-*/: the stages of runs in progress


def stage_for(folder: Path, stem: str) -> Path:
    """A new, private folder for one attempt (hidden beside the reports it may replace)."""
    (folder / ATTEMPTS).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{report_name(stem)}-", dir=folder / ATTEMPTS))


def stages_since(folder: Path, stem: str, since: float) -> list[Path]:
    """The stages of ``stem`` in ``folder`` made or changed after ``since``, oldest first."""
    found = [p for p in (folder / ATTEMPTS).glob(f"{report_name(stem)}-*") if p.stat().st_mtime >= since]
    return sorted(found, key=lambda p: p.stat().st_mtime)


class kernel_environment:
    """Environment variables for the kernels started inside the block (papermill's kernels
    inherit this process's environment), restored afterwards."""

    def __init__(self, **values):
        self.values, self.saved = values, {}

    def __enter__(self):
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def where_it_stopped(notebook: Path) -> str | None:
    """"cell N" (N counts code cells, as papermill's execution counts do) of the cell that was
    running or failed when the run ended, or None when every cell completed or there is no
    notebook. After a dead kernel papermill marks the cells it never reached "completed" without
    an end time: the first of those code cells is where it died."""
    if not notebook.exists():
        return None
    import json
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
    import json
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


def banners(notebook: Path, metrics: dict, error: str | None) -> None:
    """The notes a report opens with, from its record."""
    status = metrics.get("status")
    if status != "ok":
        stopped = where_it_stopped(notebook)
        add_banner(notebook, "unfinished-banner",
                   f"<b>This attempt is {status}</b>{' in ' + stopped if stopped else ''}: "
                   f"{html.escape(error or 'it never reached its end')}. The last good report of this notebook "
                   "and seed, if any, is the one beside <code>unfinished/</code>.")
    if metrics.get("reused_checkpoints"):
        reused = "; ".join(f"{html.escape(name)}: {html.escape(text)}" for name, text in metrics["reused_checkpoints"].items())
        add_banner(notebook, "reuse-banner",
                   f"<b>Built from earlier training</b> (same settings and training code): {reused}. "
                   "<code>./run_all.sh --fresh</code> retrains.", colour="#eef")
    if metrics.get("dry_run"):
        add_banner(notebook, "dry-run-banner", f"<b>Dry run</b>: {html.escape(dryrun.describe())}.",
                   colour="#ffd", title=f"DRY RUN · {metrics.get('notebook', notebook.stem)}")


def run_one(stem: str, seed: int | None, params: dict, profile: str, label: str) -> dict:
    """Execute, render and record one notebook run; its row for the index.

    The notebook writes into a private stage folder; ``finish_attempt`` then puts it in place.
    Ctrl-C: recorded, then BatchInterrupted."""
    folder, name = run_folder(profile, seed), report_name(stem)
    where = f"{stem}" + (f" (seed {seed})" if seed is not None else "")
    stage = stage_for(folder, stem)
    print(f"{label} {where}: running (log {paths.in_terminal(stage / (name + '.log'))})", flush=True)
    started = time.time()
    with kernel_environment(**{paths.STAGE_VARIABLE: str(stage), paths.STAGE_FOR_VARIABLE: str(folder)}):
        status, error = execute(stem, params, stage, label=f"{label} {stem}" + (f" s{seed}" if seed is not None else ""))
    seconds = time.time() - started
    row, page = finish_attempt(stem, seed, profile, stage, status, error, seconds)
    shown = paths.in_terminal(page) if page else None
    print(f"{label} {where}: {row['status']} in {seconds:.0f} s"
          f"{' -> ' + shown if shown else ''}{' | ' + row['error'] if row['error'] else ''}", flush=True)
    if row["status"] == "interrupted":
        raise BatchInterrupted(row)
    return row


def finish_attempt(stem: str, seed: int | None, profile: str, stage: Path, status: str, error: str | None,
                   seconds: float) -> tuple[dict, Path | None]:
    """Record an attempt's outcome and put it in place: one that ended ok replaces the run's
    reports (and supersedes an earlier unfinished attempt); any other (failed, interrupted,
    incomplete) goes to ``unfinished/`` beside them, opening with a note on what ended it, so
    that the last good report is never lost. Renders it; returns (index row, HTML page or None)."""
    folder, name = run_folder(profile, seed), report_name(stem)
    if status == "failed" and error and error.startswith("DeadKernelError") and (cell := where_it_stopped(stage / f"{name}.ipynb")):
        error += f" (kernel died in {cell})"
    metrics = records.mark_outcome(stage / f"{name}.metrics.json", stem, profile, status, error, seconds)
    ok = metrics["status"] == "ok"
    target = folder if ok else folder / UNFINISHED
    banners(stage / f"{name}.ipynb", metrics, metrics.get("error"))
    move_into(stage, target, stem)
    if ok:
        discard(folder / UNFINISHED, stem)
    notebook = target / f"{name}.ipynb"
    page = render_html(notebook) if notebook.exists() else None
    row = {"stem": stem, "seed": seed, "status": metrics["status"], "seconds": seconds,
           "error": None if ok else metrics.get("error"), "headline": records.headline(metrics) if ok else ""}
    return row, page


def index_rows(profile: str, since: float | None = None) -> list[dict]:
    """The index's rows, read from the records on disk: the summary, then every study notebook
    of every seed folder of the profile in notebook order; for each, its good report and, when
    there is one, its last unfinished attempt. Rows whose record was written after ``since``
    (the batch's start) are "this run", the others "earlier run"."""
    places = [(SUMMARY_STEM, None)] + [(stem, seed) for seed in records.seeds_present(profile) for stem in STUDY_NOTEBOOKS]
    rows = []
    for stem, seed in places:
        for attempt in ("", UNFINISHED):
            path = records.record_path(profile, stem, seed)
            path = path.parent / attempt / path.name if attempt else path
            metrics = records.read(path)
            if metrics is None:
                continue
            ok = metrics.get("status") == "ok"
            rows.append({"stem": stem, "seed": seed, "status": metrics.get("status", "unknown"),
                         "seconds": metrics.get("wall_seconds"), "error": metrics.get("error"),
                         "headline": records.headline(metrics) if ok else "", "attempt": attempt,
                         "run": "this run" if since is not None and path.stat().st_mtime >= since else "earlier run"})
    return rows


def thumbnail(profile: str, stem: str, seed: int, models: int = 2, side: int = 4) -> str | None:
    """A small PNG of the final samples of a run's first ``models`` models with exported samples
    (``side`` x ``side`` digits each, dark on white), written beside the run's samples; its link
    from the profile's index, or None when the run exported none."""
    from PIL import Image
    record = records.read(records.record_path(profile, stem, seed)) or {}
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


def report_href(row: dict, suffix: str) -> str:
    """A report's link from the profile's index (relative, so that the folder can be moved)."""
    name = report_name(row["stem"]) + suffix
    if row.get("attempt"):
        name = f"{row['attempt']}/{name}"
    return name if row["seed"] is None else f"seed{row['seed']}/{name}"


def write_index(out_dir: Path, profile: str, rows: list[dict]) -> Path:
    cells = []
    for row in rows:
        stem = html.escape(row["stem"])
        seed = "all" if row["seed"] is None else str(row["seed"])
        duration = f"{row['seconds']:.0f} s" if row.get("seconds") is not None else "?"
        image = thumbnail(profile, row["stem"], row["seed"]) if row["seed"] is not None and not row.get("attempt") else None
        picture = f"<img src='{image}' alt='final samples' height='64'>" if image else ""
        cells.append(
            f"<tr class='{row['status']}'><td><a href='{report_href(row, '.html')}'>{stem}</a></td><td>{seed}</td>"
            f"<td>{picture}</td>"
            f"<td>{row['status']}{' (attempt kept in unfinished/)' if row.get('attempt') else ''}</td>"
            f"<td>{html.escape(row.get('run', ''))}</td><td>{duration}</td>"
            f"<td>{html.escape(row['headline'] or row.get('error') or '')}</td>"
            f"<td><a href='{report_href(row, '.ipynb')}'>ipynb</a> · <a href='{report_href(row, '.metrics.json')}'>metrics</a>"
            f" · <a href='{report_href(row, '.log')}'>log</a></td></tr>")
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
{''.join(cells)}</table></body></html>"""
    path = out_dir / "index.html"
    atomic_save(path, lambda handle: handle.write(page.encode()))
    return path


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="run_all.sh", description="Run the report notebooks headless and render them.")
    parser.add_argument("--profile", default="auto", help="smoke | cpu | full | auto (full with CUDA, else cpu)")
    parser.add_argument("--seeds", default=None, help="training seeds, e.g. 0,1,2 (default: seeds in params/<profile>/_all.yaml)")
    parser.add_argument("--only", action="append", default=[], metavar="STEM", help="run only this notebook (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a parameter (STEM.KEY=VALUE for one notebook; repeatable)")
    parser.add_argument("--reports-dir", type=Path, default=None, help="report root (default: <repo>/reports)")
    parser.add_argument("--dry-run", action="store_true",
                        help="the profile's parameters, but two batches per epoch and small sample counts")
    parser.add_argument("--fresh", action="store_true", help="retrain: ignore existing checkpoints")
    parser.add_argument("--jobs", type=int, default=None, help="notebook runs at once on this machine (default: one per "
                        "CPU core for runs on CPU, each computing with one thread; 1 on a GPU)")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local", help="local (default) or slurm")
    parser.add_argument("--slurm-partition", default=None, help="Slurm partition of the jobs (default: the cluster's)")
    parser.add_argument("--slurm-gpus-per-job", type=int, default=0, help="GPUs per Slurm job (default 0: one CPU each)")
    parser.add_argument("--slurm-time", type=int, default=60, metavar="MINUTES", help="time limit per Slurm job (default 60)")
    parser.add_argument("--slurm-account", default=None, help="Slurm account the jobs are charged to (default: yours)")
    return parser.parse_args(argv)


def plan(args) -> tuple[str, list[int], list[executors.Task]]:
    """Every input checked (ParameterError naming the problem) and the batch's tasks in order:
    each study notebook once per seed, 04/05 after 03 of the same seed, the summary last."""
    profile = auto_profile() if args.profile == "auto" else args.profile
    if profile not in config.PROFILES:
        raise config.ParameterError(f"unknown profile {args.profile!r}; expected smoke, cpu, full or auto")
    available = config.notebook_stems()
    unknown = [s for s in args.only if s not in available]
    if unknown:
        raise config.ParameterError(f"unknown notebook {', '.join(unknown)}; available: {', '.join(available)}")
    if args.jobs is not None and args.jobs < 1:
        raise config.ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    seeds = config.parse_seeds(args.seeds) if args.seeds else config.profile_seeds(profile)
    selected = args.only or available
    config.check_overrides(selected + [SUMMARY_STEM], args.overrides)
    studies = [stem for stem in selected if stem != SUMMARY_STEM]
    if not studies and not records.seeds_present(profile):
        raise config.ParameterError(f"the summary reads the study notebooks' records, and there are none in "
                                    f"{paths.profile_folder(profile)} yet; run them first (e.g. ./run_all.sh --profile {profile})")
    resolved = {(stem, seed): config.resolve(stem, profile, args.overrides, seed=seed)
                for seed in seeds for stem in studies}
    resolved[(SUMMARY_STEM, None)] = config.resolve(SUMMARY_STEM, profile, args.overrides)
    cuda = sorted({p["device"] for p in resolved.values() if str(p.get("device", "")).startswith("cuda")})
    if cuda and args.executor == "local" and not cuda_available():   # a cluster's nodes may have GPUs
        raise config.ParameterError(f"device {cuda[0]!r} was asked for, but CUDA is not available here; "
                                    "use device=auto or device=cpu")
    if args.dry_run:   # one seed unless --seeds chose; small sample counts (dryrun.py says why)
        seeds = dryrun.seeds(seeds, chosen=bool(args.seeds))
        resolved = {key: dryrun.limit(params) for key, params in resolved.items() if key[1] in (None, *seeds)}
    total, tasks = len(resolved), []
    for index, ((stem, seed), params) in enumerate(resolved.items(), 1):
        if stem == SUMMARY_STEM:
            after = [task.key for task in tasks]
        else:
            after = [(GAN_NOTEBOOK, seed)] if stem in GAN_NOTEBOOKS and stem != GAN_NOTEBOOK and (GAN_NOTEBOOK, seed) in resolved else []
        tasks.append(executors.Task(key=(stem, seed), stem=stem, seed=seed, params=params, profile=profile,
                                    label=f"[{index}/{total}]", after=after))
    return profile, seeds, tasks


class BatchLock:
    """One batch at a time per profile's reports folder: an exclusive ``flock`` on
    ``<folder>/.batch.lock``, which names its holder (pid, host, start, command) for the one
    refused. The lock goes with the process (even after ``kill -9``)."""

    def __init__(self, folder: Path):
        self.path, self.handle = folder / ".batch.lock", None

    def __enter__(self):
        import fcntl
        import socket
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise config.ParameterError(f"another batch is writing to {paths.in_terminal(self.path.parent)} ({holder}); "
                                        "wait for it to end, or pass another --reports-dir") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%H:%M:%S')}: "
                          f"{' '.join(sys.argv)}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        self.handle.close()   # releases the lock


def report_rows(rows: list[dict], profile: str, started_all: float) -> None:
    width = max(len(r["stem"]) for r in rows)
    print(f"\nsummary ({profile}, {time.time() - started_all:.0f} s in all)")
    for row in rows:
        seed = "all" if row["seed"] is None else f"seed {row['seed']}"
        print(f"  {row['stem']:<{width}}  {seed:<8}  {row['status']:<11}  {row['seconds']:6.0f} s  "
              f"{row['headline'] or row['error'] or ''}")


def main(argv=None) -> int:
    args = parse_args(argv)
    # For this batch and the kernels it starts (they inherit the environment); restored after.
    settings = {progress.MODE_VARIABLE: "lines",     # the kernels' output is a log: no bars there
                paths.DRY_RUN_VARIABLE: "1" if args.dry_run else "0",
                # a dry run proves that the training code runs: it never reuses a finished checkpoint
                paths.FRESH_VARIABLE: "1" if args.fresh or args.dry_run else "0"}
    if args.reports_dir:
        settings["NBH_REPORTS_DIR"] = str(Path(args.reports_dir).resolve())
    with kernel_environment(**settings):
        try:
            profile, seeds, tasks = plan(args)
            options = batch_options(args, tasks)
        except config.ParameterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        out_dir = paths.profile_folder(profile)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with BatchLock(out_dir):
                return run_batch(args, profile, seeds, tasks, options, out_dir)
        except (config.ParameterError, AssetError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except PermissionError as error:
            print(f"error: cannot write {error.filename or out_dir}: permission denied; "
                  "make it writable or pass another --reports-dir", file=sys.stderr)
            return 2


def batch_options(args, tasks: list[executors.Task]) -> executors.Options:
    """Where and how many runs at once, checked (ParameterError) before anything starts. By
    default one run per CPU core when the runs compute on CPU (each with one thread: the same
    numbers whatever runs beside them, ``executors``), one at a time on a GPU."""
    jobs = args.jobs
    if jobs is None:
        jobs = executors.default_jobs(tasks) if args.executor == "local" else 1
    options = executors.Options(executor=args.executor, jobs=jobs, slurm_partition=args.slurm_partition,
                                slurm_gpus_per_job=args.slurm_gpus_per_job, slurm_time=args.slurm_time,
                                slurm_account=args.slurm_account)
    executors.check_options(options, tasks)
    return options


def run_batch(args, profile: str, seeds: list[int], tasks: list, options: executors.Options, out_dir: Path) -> int:
    """Prepare the assets, run every task, write the index (also after Ctrl-C: then exit 130)."""
    studies = sorted({t.stem for t in tasks if t.seed is not None})
    at_once = "Slurm jobs" if options.executor == "slurm" else f"{options.jobs} at a time"
    print(f"profile {profile}{' (dry run)' if args.dry_run else ''}: {len(studies)} notebook(s) x seeds {seeds}, "
          f"then the summary ({at_once}) -> {paths.in_terminal(out_dir)}")
    started_all = time.time()
    try:
        interrupt_on_sigterm()
        prepare_assets([t.params for t in tasks if t.stem != SUMMARY_STEM])
        ensure_kernel()
        rows = executors.run_tasks(tasks, options, run_one)
    except KeyboardInterrupt as interruption:
        index_page = write_index(out_dir, profile, index_rows(profile, since=started_all))
        row = getattr(interruption, "row", None)
        stopped = (f"{row['stem']}" + (f" (seed {row['seed']})" if row["seed"] is not None else "") +
                   f" stopped ({row['error']}), its attempt kept in unfinished/" if row else "stopped")
        print(f"\ninterrupted: {stopped}; earlier reports are intact (index {paths.in_terminal(index_page)}); "
              "the same command resumes from the GAN checkpoints", file=sys.stderr)
        return 130
    index_page = write_index(out_dir, profile, index_rows(profile, since=started_all))
    report_rows(rows, profile, started_all)
    print(f"index: {paths.in_terminal(index_page)}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
