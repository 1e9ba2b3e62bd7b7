"""Where a finished batch's CPU-seconds go, read from its records: per notebook and phase, the
seconds of one run (per seed) and their share of the batch.

    python -m nbhelpers.bench budget REPORTS_DIR [--profile P]

``REPORTS_DIR`` is what the batch's ``--reports-dir`` named (``reports/`` by default); its
records are ``<profile>/seed<k>/<stem>.metrics.json`` and ``<profile>/summary.metrics.json``.
A run's columns, from what its record holds, all CPU-seconds:

- training, Inception, classifier, other evaluation, figures: the kernel's time in ``clock``'s
  phases (``phase_seconds``; nested phases counted once, in the innermost; Inception and
  classifier include loading their weights);
- rest: the kernel's other time from the record's opening to its finish (``cpu_seconds`` less
  the phases and less ``opening``: loading data, sampling, the memorisation search, tables);
- kernel start: the kernel's time before the record opened (``opening``: the interpreter, the
  imports, the parameters);
- render: the batch rendering the run's HTML page (``render_seconds``).

One thread computes each run, so its CPU-seconds are the core-seconds it holds, whatever else
runs on the machine. Not counted: papermill's own process while the kernel runs. The last
lines compare with wall-clock time: the share of a core the kernels got (below 100 % when other
processes shared the cores), and the wall seconds around the notebooks that no kernel spent
(``wall_seconds - duration_s - opening``: starting processes, papermill, waiting for a core).
Runs that did not end ok, and records written before ``phase_seconds`` existed, are left out
by name.
"""
import argparse
import sys
from pathlib import Path

import pandas as pd

from nbhelpers.clock import PHASES
from nbhelpers.paths import SUMMARY_STEM, report_name
from nbhelpers.report import records

LABELS = {"training": "training", "inception": "Inception", "classifier": "classifier",
          "evaluation": "other eval", "figures": "figures"}
REST, START, RENDER = "rest", "kernel start", "render"
COLUMNS = [LABELS[name] for name in PHASES] + [REST, START, RENDER]


class BudgetError(ValueError):
    """A reports folder or profile without records to read (one line, exit status 2)."""


def run_seconds(record: dict) -> dict[str, float]:
    """One run's CPU-seconds by column (``COLUMNS``, module docstring) from its record."""
    phases = record["phase_seconds"]
    columns = {LABELS[name]: phases.get(name, 0.0) for name in PHASES}
    opening = phases.get("opening", 0.0)
    columns[REST] = max(record["cpu_seconds"] - opening - sum(columns.values()), 0.0)
    columns[START], columns[RENDER] = opening, record.get("render_seconds", 0.0)
    return columns


def wall_seconds(record: dict) -> dict[str, float]:
    """What the wall clock says of one run: its notebook's time, the kernel's CPU-seconds in it,
    and the time around the notebook that the kernel did not spend (never below 0)."""
    notebook_cpu = record["cpu_seconds"] - record["phase_seconds"].get("opening", 0.0)
    around = record.get("wall_seconds", 0.0) - record["duration_s"] - record["phase_seconds"].get("opening", 0.0)
    return {"notebook wall": record["duration_s"], "notebook cpu": notebook_cpu, "around": max(around, 0.0)}


def profiles_in(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def read_runs(root: Path, profile: str | None) -> tuple[str, pd.DataFrame, list[str]]:
    """(the profile, one row per run: notebook, seed and ``COLUMNS``, what was left out and why)."""
    if not root.is_dir():
        raise BudgetError(f"{root} is not a folder: give the reports folder of a finished batch (its --reports-dir)")
    found = profiles_in(root)
    if profile is None:
        if len(found) != 1:
            raise BudgetError(f"{root} holds the profiles {', '.join(found) or '(none)'}: choose one with --profile")
        profile = found[0]
    folder = root / profile
    paths = sorted(folder.glob("seed*/*.metrics.json")) + sorted(folder.glob(f"{report_name(SUMMARY_STEM)}.metrics.json"))
    rows, left_out = [], []
    for path in paths:
        try:
            record = records.read(path)
        except records.DamagedRecord as damaged:
            left_out.append(str(damaged))
            continue
        where = path.relative_to(root)
        if record.get("status") != "ok":
            left_out.append(f"{where}: status {record.get('status')}")
        elif "phase_seconds" not in record:
            left_out.append(f"{where}: written before records held phase_seconds")
        else:
            rows.append({"notebook": record.get("notebook", path.name.split(".")[0]), "seed": record.get("seed"),
                         **run_seconds(record), **wall_seconds(record)})
    if not rows:
        raise BudgetError(f"no finished run with phase_seconds under {folder}" + (f" ({len(left_out)} left out)" if left_out else ""))
    return profile, pd.DataFrame(rows), left_out


def per_notebook(runs: pd.DataFrame) -> pd.DataFrame:
    """Per notebook: the mean seconds of one run by column, their total, its seeds and its share
    of the batch's seconds; then the batch's seconds per seed (all runs over the number of seeds,
    the summary counted as no seed), in all, and each column's share."""
    batch_total = runs[COLUMNS].to_numpy().sum()
    grouped = runs.groupby("notebook", sort=True)
    table = grouped[COLUMNS].mean()
    table["total"] = table[COLUMNS].sum(axis=1)
    table["seeds"] = grouped.size()
    table["share"] = grouped[COLUMNS].sum().sum(axis=1) / batch_total
    totals, seeds = runs[COLUMNS].sum(), runs.seed.nunique()
    table.loc["batch, per seed"] = [*(totals / seeds), batch_total / seeds, seeds, float("nan")]
    table.loc["batch (all runs)"] = [*totals, batch_total, len(runs), 1.0]
    table.loc["share of the batch"] = [*(totals / batch_total), 1.0, float("nan"), float("nan")]
    return table


def each_run(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run (notebook and seed), by notebook: its seconds by column, total and share."""
    runs = runs.sort_values(["notebook", "seed"])
    names = [notebook if pd.isna(seed) else f"{notebook} s{int(seed)}" for notebook, seed in zip(runs.notebook, runs.seed)]
    table = runs.set_axis(pd.Index(names, name="run"))[COLUMNS]
    table["total"] = table.sum(axis=1)
    table["share"] = table["total"] / table["total"].sum()
    return table


def _formatted(table: pd.DataFrame, share_row: str | None = None) -> str:
    """Seconds to one decimal, shares as percentages, counts as integers."""
    shown = table.astype(object)
    for column in table.columns:
        if column == "share":
            shown[column] = [f"{v:.1%}" if v == v else "" for v in table[column]]
        elif column == "seeds":
            shown[column] = [f"{v:.0f}" if v == v else "" for v in table[column]]
        else:
            shown[column] = [f"{v:,.1f}" for v in table[column]]
    if share_row in table.index:
        shown.loc[share_row] = [f"{v:.1%}" if v == v else "" for v in table.loc[share_row]]
    return shown.to_string()


def report(root: Path, profile: str | None = None) -> str:
    profile, runs, left_out = read_runs(root, profile)
    seeds = sorted({int(s) for s in runs.seed.dropna()})
    core = runs["notebook cpu"].sum() / runs["notebook wall"].sum()
    lines = [f"Where the CPU-seconds go: {root / profile}, {len(runs)} runs (seeds {', '.join(map(str, seeds))})",
             "", "Per notebook, CPU-seconds of one run (mean over its seeds), and its share of the batch:",
             _formatted(per_notebook(runs), share_row="share of the batch"), "",
             "Each run:", _formatted(each_run(runs)), "",
             f"While in their notebooks the kernels got {core:.0%} of a core (their CPU-seconds over the "
             "notebooks' wall seconds; below 100 % when other processes share the cores).",
             f"Around the notebooks, {runs['around'].sum():,.1f} wall seconds in all were spent by no kernel "
             "(starting processes, papermill, waiting for a core)."]
    lines += [f"left out: {why}" for why in left_out]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbhelpers.bench budget", description=__doc__.split("\n")[0])
    parser.add_argument("reports_dir", type=Path, help="the reports folder of a finished batch (its --reports-dir)")
    parser.add_argument("--profile", help="the profile's folder in it (default: the only one there)")
    args = parser.parse_args(argv)
    try:
        print(report(args.reports_dir, args.profile))
    except BudgetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
