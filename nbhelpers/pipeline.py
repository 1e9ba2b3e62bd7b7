"""The batch run behind ``./run_all.sh``: validate, prepare, execute, render, index.

    python -m nbhelpers.pipeline [--profile smoke|cpu|full|auto] [--only STEM]... [--set KEY=VALUE]...

1. Every input is checked before anything long starts: profile, notebook names, parameter
   names and types (``config``), and the data files (``data``; MD5-verified).
2. Each notebook runs headless with papermill into ``reports/<profile>/<stem>.ipynb``; the
   kernel's output goes to ``<stem>.log`` beside it. A failing notebook does not stop the others.
3. Each executed notebook, failed ones included (papermill keeps the outputs up to the error
   and puts a banner at the top), is rendered by nbconvert to a self-contained ``<stem>.html``.
4. ``reports/<profile>/index.html`` links every report of the profile (this run's and earlier
   ones') with its status, duration and headline numbers from the metrics files; this run's
   summary is printed. Exit status 1 if any notebook of this run failed.
"""
import argparse
import html
import os
import sys
import time
from pathlib import Path

from . import config, outputs, results
from .paths import NOTEBOOKS_DIR, reports_root

KERNEL_NAME = "mnist-genmodels"
KERNEL_DISPLAY = "MNIST generative models (.venv)"


def ensure_kernel() -> None:
    """Register this environment's Python as the notebooks' kernel if it is not yet known."""
    from jupyter_client.kernelspec import KernelSpecManager
    if KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install
        install(prefix=sys.prefix, kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY)
        print(f"registered Jupyter kernel {KERNEL_NAME!r} for {sys.executable}")


def auto_profile() -> str:
    import torch
    return "full" if torch.cuda.is_available() else "cpu"


def prepare_assets(resolved: dict) -> None:
    """Data, FID weights, the metric classifier and the largest Inception reference statistics
    any selected notebook needs, all verified before the first notebook starts."""
    from . import data, fid
    from .repro import pick_device
    for name, md5 in data.prepare().items():
        print(f"  {name}: md5 {md5} OK")
    fid.prepare(pick_device("auto"), ref_n_inception=max(p["fid_ref_n_inception"] for p in resolved.values()),
                ref_n_classifier=max(p["fid_ref_n_classifier"] for p in resolved.values()))


def execute(stem: str, params: dict, out_dir: Path) -> tuple[str, str | None]:
    """Run one notebook; returns (status, error message or None)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    output = out_dir / f"{stem}.ipynb"
    try:
        with open(out_dir / f"{stem}.log", "w") as log:
            papermill.execute_notebook(
                str(NOTEBOOKS_DIR / f"{stem}.ipynb"), str(output), parameters=params,
                kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=False,
                stdout_file=log, stderr_file=log)
        return "ok", None
    except PapermillExecutionError as error:
        return "failed", f"{error.ename}: {error.evalue} (cell {error.exec_count})"
    except Exception as error:  # kernel died, timeout, ...: still report it
        return "failed", f"{type(error).__name__}: {error}"


def render_html(notebook: Path) -> Path:
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    target.write_text(body)
    return target


def index_rows(out_dir: Path, this_run: list[dict]) -> list[dict]:
    """The index's rows in notebook order: this run's, then, for every other notebook whose
    metrics file is in ``out_dir`` (an earlier run of the same profile), a row read from it,
    so that running a subset (``--only``) keeps the other reports listed."""
    fresh = {row["stem"]: row for row in this_run}
    rows = []
    for stem in config.notebook_stems():
        metrics_path = out_dir / f"{stem}.metrics.json"
        if stem in fresh:
            rows.append({**fresh[stem], "run": "this run"})
        elif (metrics := results.read(metrics_path)) is not None:
            rows.append({"stem": stem, "status": metrics.get("status", "unknown"), "seconds": metrics.get("wall_seconds"),
                         "error": metrics.get("error"), "headline": results.headline(metrics), "run": "earlier run"})
    return rows


def write_index(out_dir: Path, profile: str, rows: list[dict]) -> Path:
    cells = []
    for row in rows:
        stem = html.escape(row["stem"])
        duration = f"{row['seconds']:.0f} s" if row.get("seconds") is not None else "?"
        cells.append(
            f"<tr class='{row['status']}'><td><a href='{stem}.html'>{stem}</a></td><td>{row['status']}</td>"
            f"<td>{html.escape(row.get('run', ''))}</td><td>{duration}</td>"
            f"<td>{html.escape(row['headline'] or row.get('error') or '')}</td>"
            f"<td><a href='{stem}.ipynb'>ipynb</a> · <a href='{stem}.metrics.json'>metrics</a> · "
            f"<a href='{stem}.log'>log</a></td></tr>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>MNIST generative models: {profile}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.4em .8em}}
tr.failed td{{background:#fdd}}tr.incomplete td{{background:#ffd}}</style></head><body>
<h1>MNIST generative models: profile <code>{profile}</code></h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. FIDs name their feature extractor and sample count N; the
reference set is the MNIST test set. Inception and classifier FIDs are on different scales.</p>
<table><tr><th>notebook</th><th>status</th><th>run</th><th>duration</th><th>headline</th><th>files</th></tr>
{''.join(cells)}</table></body></html>"""
    path = out_dir / "index.html"
    path.write_text(page)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.sh", description="Run the report notebooks headless and render them.")
    parser.add_argument("--profile", default="auto", help="smoke | cpu | full | auto (full with CUDA, else cpu)")
    parser.add_argument("--only", action="append", default=[], metavar="STEM", help="run only this notebook (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a parameter (STEM.KEY=VALUE for one notebook; repeatable)")
    parser.add_argument("--reports-dir", type=Path, default=None, help="report root (default: <repo>/reports)")
    args = parser.parse_args(argv)

    profile = auto_profile() if args.profile == "auto" else args.profile
    try:
        if profile not in config.PROFILES:
            raise config.ParameterError(f"unknown profile {args.profile!r}; expected smoke, cpu, full or auto")
        available = config.notebook_stems()
        unknown = [s for s in args.only if s not in available]
        if unknown:
            raise config.ParameterError(f"unknown notebook {', '.join(unknown)}; available: {', '.join(available)}")
        stems = args.only or available
        config.check_overrides(stems, args.overrides)
        resolved = {stem: config.resolve(stem, profile, args.overrides) for stem in stems}
    except config.ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if args.reports_dir:
        os.environ["NBH_REPORTS_DIR"] = str(args.reports_dir.resolve())  # the kernels inherit it
    out_dir = reports_root() / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"profile {profile}: {len(stems)} notebook(s) -> {out_dir}")
    prepare_assets(resolved)
    ensure_kernel()

    rows, started_all = [], time.time()
    for index, stem in enumerate(stems, 1):
        print(f"[{index}/{len(stems)}] {stem}: running (log {out_dir / (stem + '.log')})", flush=True)
        started = time.time()
        status, error = execute(stem, resolved[stem], out_dir)
        seconds = time.time() - started
        notebook = out_dir / f"{stem}.ipynb"
        page = render_html(notebook) if notebook.exists() else None
        metrics = outputs.mark_outcome(out_dir / f"{stem}.metrics.json", stem, profile, status, error, seconds)
        rows.append({"stem": stem, "status": metrics["status"], "seconds": seconds, "error": error,
                     "headline": results.headline(metrics)})
        print(f"[{index}/{len(stems)}] {stem}: {metrics['status']} in {seconds:.0f} s"
              f"{' -> ' + str(page) if page else ''}{' | ' + error if error else ''}", flush=True)

    index_page = write_index(out_dir, profile, index_rows(out_dir, rows))
    width = max(len(r["stem"]) for r in rows)
    print(f"\nsummary ({profile}, {time.time() - started_all:.0f} s in all; index {index_page})")
    for row in rows:
        print(f"  {row['stem']:<{width}}  {row['status']:<10}  {row['seconds']:6.0f} s  {row['headline'] or row['error'] or ''}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
