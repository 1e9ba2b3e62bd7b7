"""The batch run behind ``./run_all.sh``: validate, prepare, execute, render, index.

    python -m nbhelpers.pipeline [--profile smoke|cpu|full|auto] [--seeds 0,1,2] [--only STEM]...
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
import html
import os
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

from . import config, dryrun, executors, outputs, paths, progress, results
from .assets import atomic_save
from .facts import GAN_NOTEBOOK, GAN_NOTEBOOKS, STUDY_NOTEBOOKS
from .paths import NOTEBOOKS_DIR, REPO_ROOT, SUMMARY_STEM, report_name, run_folder
from .render import render_html

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


def auto_profile() -> str:
    import torch
    return "full" if torch.cuda.is_available() else "cpu"


def prepare_assets(resolved: list[dict]) -> None:
    """Data, FID weights, the metric classifier and the largest Inception reference statistics
    any selected notebook needs, all verified before the first notebook starts."""
    from . import data, fid
    from .repro import pick_device
    for name, md5 in data.prepare().items():
        print(f"  {name}: md5 {md5} OK")
    if not resolved:   # only the summary: it reads records, no metric assets needed
        return
    fid.prepare(pick_device("auto"), ref_n_inception=max(p["fid_ref_n_inception"] for p in resolved),
                ref_n_classifier=max(p["fid_ref_n_classifier"] for p in resolved))


class LogFollower(threading.Thread):
    """Echoes a running notebook's progress lines from its log to the terminal, with the time
    elapsed: the training loops' epoch lines (losses, FID) and the evaluations' progress."""

    PROGRESS = re.compile(r"epoch\s+\d+\s*/\s*\d+|features: \d+/\d+ images|^\[[\w.]+\] ")

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


def execute(stem: str, params: dict, folder: Path, label: str = "") -> tuple[str, str | None]:
    """Run one notebook into ``folder``; returns (status, error message or None). Its cells'
    progress and its training loops' epoch lines are shown in the terminal as it runs."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    name = report_name(stem)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"    {label}"
    cells = {"file": progress.LineStream(sys.stdout, prefix=f"{prefix} "), "desc": "cells", "ascii": True,
             "ncols": 90, "mininterval": 20, "bar_format": "{desc} {n_fmt}/{total_fmt} [{elapsed}]"}
    follower = LogFollower(folder / f"{name}.log", prefix)
    try:
        with open(folder / f"{name}.log", "w") as log:
            follower.start()
            papermill.execute_notebook(
                str(NOTEBOOKS_DIR / f"{stem}.ipynb"), str(folder / f"{name}.ipynb"), parameters=params,
                kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=cells,
                stdout_file=log, stderr_file=log)
        return "ok", None
    except PapermillExecutionError as error:
        return "failed", f"{error.ename}: {error.evalue} (cell {error.exec_count})"
    except Exception as error:  # kernel died, timeout, ...: still report it
        return "failed", f"{type(error).__name__}: {error}"
    finally:
        follower.stop()


def run_one(stem: str, seed: int | None, params: dict, profile: str, label: str) -> dict:
    """Execute, render and record one notebook run; its row for the index."""
    folder, name = run_folder(profile, seed), report_name(stem)
    where = f"{stem}" + (f" (seed {seed})" if seed is not None else "")
    print(f"{label} {where}: running (log {folder / (name + '.log')})", flush=True)
    started = time.time()
    status, error = execute(stem, params, folder, label=f"{label} {stem}" + (f" s{seed}" if seed is not None else ""))
    seconds = time.time() - started
    notebook = folder / f"{name}.ipynb"
    page = render_html(notebook) if notebook.exists() else None
    metrics = outputs.mark_outcome(folder / f"{name}.metrics.json", stem, profile, status, error, seconds)
    print(f"{label} {where}: {metrics['status']} in {seconds:.0f} s"
          f"{' -> ' + str(page) if page else ''}{' | ' + error if error else ''}", flush=True)
    return {"stem": stem, "seed": seed, "status": metrics["status"], "seconds": seconds, "error": error,
            "headline": results.headline(metrics)}


def index_rows(profile: str, this_run: list[dict]) -> list[dict]:
    """The index's rows: the summary, then every study notebook of every seed folder of the
    profile in notebook order, this run's rows as they ended and the others (earlier runs,
    other seeds) read from their metrics files, so that a subset run keeps the rest listed."""
    fresh = {(row["stem"], row["seed"]): row for row in this_run}
    places = [(SUMMARY_STEM, None)] + [(stem, seed) for seed in results.seeds_present(profile) for stem in STUDY_NOTEBOOKS]
    rows = []
    for stem, seed in places:
        if (stem, seed) in fresh:
            rows.append({**fresh[(stem, seed)], "run": "this run"})
        elif (metrics := results.read(results.record_path(profile, stem, seed))) is not None:
            rows.append({"stem": stem, "seed": seed, "status": metrics.get("status", "unknown"),
                         "seconds": metrics.get("wall_seconds"), "error": metrics.get("error"),
                         "headline": results.headline(metrics), "run": "earlier run"})
    return rows


def thumbnail(profile: str, stem: str, seed: int, models: int = 2, side: int = 4) -> str | None:
    """A small PNG of the final samples of a run's first ``models`` models with exported samples
    (``side`` x ``side`` digits each, dark on white), written beside the run's samples; its link
    from the profile's index, or None when the run exported none."""
    from PIL import Image
    record = results.read(results.record_path(profile, stem, seed)) or {}
    grids = []
    for name in record.get("models") or {}:
        images = results.exported_samples(profile, stem, seed, name, side * side)
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
    return name if row["seed"] is None else f"seed{row['seed']}/{name}"


def write_index(out_dir: Path, profile: str, rows: list[dict]) -> Path:
    cells = []
    for row in rows:
        stem = html.escape(row["stem"])
        seed = "all" if row["seed"] is None else str(row["seed"])
        duration = f"{row['seconds']:.0f} s" if row.get("seconds") is not None else "?"
        image = thumbnail(profile, row["stem"], row["seed"]) if row["seed"] is not None else None
        picture = f"<img src='{image}' alt='final samples' height='64'>" if image else ""
        cells.append(
            f"<tr class='{row['status']}'><td><a href='{report_href(row, '.html')}'>{stem}</a></td><td>{seed}</td>"
            f"<td>{picture}</td>"
            f"<td>{row['status']}</td><td>{html.escape(row.get('run', ''))}</td><td>{duration}</td>"
            f"<td>{html.escape(row['headline'] or row.get('error') or '')}</td>"
            f"<td><a href='{report_href(row, '.ipynb')}'>ipynb</a> · <a href='{report_href(row, '.metrics.json')}'>metrics</a>"
            f" · <a href='{report_href(row, '.log')}'>log</a></td></tr>")
    summary = ("<p><a href='summary.html'><b>Summary across notebooks and seeds</b></a>: every model with mean ± std "
               "over seeds, and the original report's claims one by one.</p>" if (out_dir / "summary.html").exists() else "")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>MNIST generative models: {profile}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.4em .8em}}
tr.failed td{{background:#fdd}}tr.incomplete td{{background:#ffd}}</style></head><body>
<h1>MNIST generative models: profile <code>{profile}</code></h1>
{summary}<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. FIDs name their feature extractor and sample count N; the
reference set is the MNIST test set. Inception and classifier FIDs are on different scales.</p>
<table><tr><th>notebook</th><th>seed</th><th>final samples</th><th>status</th><th>run</th><th>duration</th><th>headline</th>
<th>files</th></tr>
{''.join(cells)}</table></body></html>"""
    path = out_dir / "index.html"
    path.write_text(page)
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
    parser.add_argument("--jobs", type=int, default=1, help="notebook runs at once on this machine (default 1)")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local", help="local (default) or slurm")
    parser.add_argument("--slurm-partition", default=None)
    parser.add_argument("--slurm-gpus-per-job", type=int, default=0)
    parser.add_argument("--slurm-time", type=int, default=60, metavar="MINUTES")
    parser.add_argument("--slurm-account", default=None)
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
    if args.jobs < 1:
        raise config.ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    seeds = config.parse_seeds(args.seeds) if args.seeds else config.profile_seeds(profile)
    selected = args.only or available
    config.check_overrides(selected + [SUMMARY_STEM], args.overrides)
    studies = [stem for stem in selected if stem != SUMMARY_STEM]
    resolved = {(stem, seed): config.resolve(stem, profile, args.overrides, seed=seed)
                for seed in seeds for stem in studies}
    resolved[(SUMMARY_STEM, None)] = config.resolve(SUMMARY_STEM, profile, args.overrides)
    if args.dry_run:
        resolved = {key: dryrun.limit(key[0], params) for key, params in resolved.items()}
    total, tasks = len(resolved), []
    for index, ((stem, seed), params) in enumerate(resolved.items(), 1):
        if stem == SUMMARY_STEM:
            after = [task.key for task in tasks]
        else:
            after = [(GAN_NOTEBOOK, seed)] if stem in GAN_NOTEBOOKS and stem != GAN_NOTEBOOK and (GAN_NOTEBOOK, seed) in resolved else []
        tasks.append(executors.Task(key=(stem, seed), stem=stem, seed=seed, params=params, profile=profile,
                                    label=f"[{index}/{total}]", after=after))
    return profile, seeds, tasks


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.dry_run:
            os.environ[paths.DRY_RUN_VARIABLE] = "1"   # before plan(): the kernels and run_folder see it
        profile, seeds, tasks = plan(args)
    except config.ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if args.reports_dir:
        os.environ["NBH_REPORTS_DIR"] = str(args.reports_dir.resolve())  # the kernels inherit it
    if args.fresh:
        os.environ[paths.FRESH_VARIABLE] = "1"
    os.environ[progress.MODE_VARIABLE] = "lines"   # the kernels' output is a log: no bars there
    out_dir = paths.profile_folder(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    studies = sorted({t.stem for t in tasks if t.seed is not None})
    print(f"profile {profile}{' (dry run)' if args.dry_run else ''}: {len(studies)} notebook(s) x seeds {seeds}, "
          f"then the summary -> {out_dir}")
    prepare_assets([t.params for t in tasks if t.stem != SUMMARY_STEM])
    ensure_kernel()

    started_all = time.time()
    options = executors.Options(executor=args.executor, jobs=args.jobs, slurm_partition=args.slurm_partition,
                                slurm_gpus_per_job=args.slurm_gpus_per_job, slurm_time=args.slurm_time,
                                slurm_account=args.slurm_account)
    rows = executors.run_tasks(tasks, options, run_one)

    index_page = write_index(out_dir, profile, index_rows(profile, rows))
    width = max(len(r["stem"]) for r in rows)
    print(f"\nsummary ({profile}, {time.time() - started_all:.0f} s in all; index {index_page})")
    for row in rows:
        seed = "all" if row["seed"] is None else f"seed {row['seed']}"
        print(f"  {row['stem']:<{width}}  {seed:<8}  {row['status']:<10}  {row['seconds']:6.0f} s  "
              f"{row['headline'] or row['error'] or ''}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
