"""Where a batch's time goes, per notebook, from the executed notebooks of one seed folder:

    python -m nbhelpers.bench.profile reports/cpu/seed0 [--top 5] [--no-render]

For each notebook: the wall time the batch recorded, the kernel's start (papermill's start to
the first cell), each cell's duration as papermill timed it (the slowest ``--top`` cells shown
with their first line), and the HTML rendering, timed here by rendering the notebook once more
into a temporary folder. Then the batch's total split into kernel starts, cells and rendering.
"""
import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

from nbhelpers.batch.render import render_html
from nbhelpers.paths import STUDY_NOTEBOOKS


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def first_line(cell: dict) -> str:
    lines = [line.strip() for line in "".join(cell.get("source", "")).splitlines()]
    return next((line for line in lines if line and not line.startswith("#")), "")[:70]


def notebook_profile(path: Path) -> dict:
    """Kernel start, cell durations and their sum for one executed notebook."""
    content = json.loads(path.read_text())
    run = content.get("metadata", {}).get("papermill", {})
    cells = [c for c in content["cells"] if c.get("cell_type") == "code"]
    timed = [(c["metadata"]["papermill"]["duration"] or 0.0, c) for c in cells
             if c.get("metadata", {}).get("papermill", {}).get("duration") is not None]
    starts = [c["metadata"]["papermill"]["start_time"] for _, c in timed if c["metadata"]["papermill"].get("start_time")]
    kernel = _seconds(run["start_time"], min(starts)) if run.get("start_time") and starts else None
    return {"kernel_start": kernel, "cells": sum(d for d, _ in timed),
            "slowest": sorted(((d, first_line(c)) for d, c in timed), reverse=True)}


def render_seconds(path: Path) -> float:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_bytes(path.read_bytes())
        started = time.perf_counter()
        render_html(copy)
        return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a seed folder of a finished batch, e.g. reports/cpu/seed0")
    parser.add_argument("--top", type=int, default=5, help="slowest cells shown per notebook")
    parser.add_argument("--no-render", action="store_true", help="skip timing the HTML rendering")
    args = parser.parse_args(argv)
    totals = {"wall": 0.0, "kernel": 0.0, "cells": 0.0, "render": 0.0}
    for stem in STUDY_NOTEBOOKS:
        notebook, record = args.folder / f"{stem}.ipynb", args.folder / f"{stem}.metrics.json"
        if not notebook.exists():
            continue
        wall = json.loads(record.read_text()).get("wall_seconds") if record.exists() else None
        profile = notebook_profile(notebook)
        render = None if args.no_render else render_seconds(notebook)
        print(f"{stem}: wall {wall or 0:.0f} s | kernel start {profile['kernel_start'] or 0:.1f} s | "
              f"cells {profile['cells']:.0f} s" + ("" if render is None else f" | render {render:.1f} s"))
        for duration, line in profile["slowest"][:args.top]:
            share = duration / profile["cells"] if profile["cells"] else 0
            print(f"    {duration:7.1f} s  {share:5.1%}  {line}")
        totals["wall"] += wall or 0
        totals["kernel"] += profile["kernel_start"] or 0
        totals["cells"] += profile["cells"]
        totals["render"] += render or 0
    if totals["wall"]:
        print(f"all: wall {totals['wall']:.0f} s = cells {totals['cells'] / totals['wall']:.1%}, "
              f"kernel starts {totals['kernel'] / totals['wall']:.1%}; rendering adds {totals['render']:.0f} s "
              f"({totals['render'] / totals['wall']:.1%} of the wall time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
