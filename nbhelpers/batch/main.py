"""The batch behind ``./run_all.sh`` (``python -m nbhelpers.batch``): its command line, the one
description of it (``./run_all.sh --help``), and the batch from start to end.

1. Every input is checked before anything long starts (``plan``): profile, seeds, notebook
   names, parameter names and types, where and how many runs at once; then, under the reports
   folder's lock (``lock``), the data and metric assets (MD5/SHA-verified).
2. The batch decides one ``environment.BatchContext`` (dry run, ``--fresh``, progress lines)
   and sets it, with the reports folder, in its own environment and so in every kernel's and
   job's (``kernel``, ``executors``).
3. Each study notebook runs headless once per seed (``run``, ``execute``, ``attempts``), into
   ``reports/<profile>/seed<k>/``, where ``executors`` says: a failing notebook does not stop the
   others. Last, the summary (``06_summary``) reads every seed's records.
4. ``reports/<profile>/index.html`` links every report of the profile (``index``), also after
   Ctrl-C. Exit status 0 when every run of this batch ended ok, 1 when one did not, 2 for bad
   input (nothing written), 130 after Ctrl-C or SIGTERM.
"""
import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from nbhelpers import data
from nbhelpers.assets import AssetError
from nbhelpers.batch import attempts, dryrun, executors, index, kernel, plan
from nbhelpers.batch.lock import BatchLock
from nbhelpers.batch.run import run_one
from nbhelpers.environment import BatchContext
from nbhelpers.metrics import fid
from nbhelpers.paths import SUMMARY_STEM, in_terminal, profile_folder
from nbhelpers.report import config
from nbhelpers.report.context import pick_device

USAGE = """./run_all.sh [OPTIONS]             run the report notebooks and render HTML reports
       ./run_all.sh --test [PYTEST ARGS]  set up the same environment, then ruff and the test suite"""
DESCRIPTION = """Runs every report notebook headless (papermill) once per seed, then the summary, renders each to
HTML and writes an index. Either way ./run_all.sh first makes sure .venv matches requirements*.txt
and pyproject.toml (nbhelpers installed editable) and that git strips notebook outputs."""
EPILOG = """examples:
  ./run_all.sh --profile smoke                       quick end-to-end check
  ./run_all.sh --only 02_controlvae --only 04_wgan   a subset (the summary still runs last)
  ./run_all.sh --seeds 1,2,3                         every notebook once per seed
  ./run_all.sh --seeds 4                             add seed 4 later: the summary uses every seed present
  ./run_all.sh --only 06_summary                     only re-read the records into the summary
  ./run_all.sh --set 01_vae.epochs=5                 an override for one notebook
  ./run_all.sh --profile full --dry-run              the full profile's every branch, at a fraction of the work
  ./run_all.sh --executor slurm --slurm-gpus-per-job 1 --slurm-time 240
  ./run_all.sh --test -x tests/test_notebooks.py     pytest's own arguments after --test

outputs:
  reports/<profile>/seed<k>/<stem>.{ipynb,html,metrics.json,log} and <stem>/ (samples, models) per
  seed, reports/<profile>/summary.html and index.html; a dry run writes reports/<profile>-dry-run/.
  Profiles and seeds never overwrite each other, and a failed or interrupted run never replaces a
  good report (its attempt goes to seed<k>/unfinished/).
"""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (exit status 2) and unknown options named as such."""

    def error(self, message):
        self.exit(2, f"error: {message} (see ./run_all.sh --help)\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self.error(f"unknown option {extra[0]!r}" if extra[0].startswith("-") else f"unexpected argument {extra[0]!r}")
        return parsed


def parse_args(argv) -> argparse.Namespace:
    parser = Parser(prog="run_all.sh", usage=USAGE, description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto", metavar="{" + ",".join(plan.PROFILE_CHOICES) + "}",
                        help="parameter set: params/<profile>/ (default auto: full with CUDA, else cpu)")
    parser.add_argument("--seeds", default=None, metavar="LIST",
                        help="seeds, e.g. 1,2,3: every notebook runs once per seed (default: the profile's "
                             "seeds in params/<profile>/_all.yaml; adding a seed later keeps the others)")
    parser.add_argument("--only", action="append", default=[], metavar="STEM",
                        help=f"run only this notebook (repeatable): {', '.join(config.notebook_stems())}; "
                             "the summary always runs last")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a parameter for this run; STEM.KEY=VALUE targets one notebook "
                             "(repeatable; values are YAML: 3, 0.5, true, [4, 8, 14])")
    parser.add_argument("--reports-dir", type=Path, default=None, metavar="DIR",
                        help="write reports under DIR (relative to where you stand) instead of <repo>/reports")
    parser.add_argument("--dry-run", action="store_true",
                        help="the profile's parameters but two batches an epoch and small sample counts, for the "
                             "first seed unless --seeds, into reports/<profile>-dry-run/ (proves a profile runs)")
    parser.add_argument("--fresh", action="store_true",
                        help="retrain from scratch instead of resuming or reusing GAN checkpoints")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="run up to N notebooks at once on this machine (default: one per CPU core for runs on "
                             "CPU, each computing with one thread; 1 on a GPU)")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local (default) or slurm: each notebook run becomes a Slurm job")
    parser.add_argument("--slurm-partition", default=None, metavar="P",
                        help="Slurm partition of the jobs (default: the cluster's)")
    parser.add_argument("--slurm-gpus-per-job", type=int, default=0, metavar="G",
                        help="GPUs per Slurm job (default 0: one CPU each)")
    parser.add_argument("--slurm-time", type=int, default=60, metavar="MINUTES",
                        help="time limit per Slurm job (default 60)")
    parser.add_argument("--slurm-account", default=None, metavar="A",
                        help="Slurm account the jobs are charged to (default: yours)")
    return parser.parse_args(argv)


def batch_context_of(args) -> BatchContext:
    """What this batch decides for every notebook run: the kernels' output is a log (progress
    lines, no bars); a dry run caps the training loops' batches and never reuses a finished
    checkpoint (it proves that the training code runs)."""
    return BatchContext(dry_run=args.dry_run, max_batches=dryrun.BATCHES_PER_EPOCH if args.dry_run else None,
                        fresh=args.fresh or args.dry_run, progress_lines=True,
                        note=dryrun.describe() if args.dry_run else "")


def batch_variables(args) -> dict:
    """The environment this batch, its kernels and its jobs share: its context and, with
    ``--reports-dir``, the reports folder (absolute: relative to where the batch started)."""
    variables = batch_context_of(args).variables()
    if args.reports_dir:
        variables["NBH_REPORTS_DIR"] = str(args.reports_dir.expanduser().resolve())
    return variables


def batch_options(args, tasks: list[plan.Task]) -> executors.Options:
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


def prepare_assets(resolved: list[dict]) -> None:
    """Data, FID weights, the metric classifier and the largest Inception reference statistics
    any selected notebook needs, all verified before the first notebook starts."""
    for name, md5 in data.prepare().items():
        print(f"  {name}: md5 {md5} OK")
    if not resolved:   # only the summary: it reads records, no metric assets needed
        return
    fid.prepare(pick_device("auto"), ref_n_inception=max(p["fid_ref_n_inception"] for p in resolved),
                ref_n_classifier=max(p["fid_ref_n_classifier"] for p in resolved))


def interrupt_on_sigterm() -> None:
    """``kill`` (SIGTERM, e.g. from ``scancel``) stops the batch as Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv=None) -> int:
    args = parse_args(argv)
    variables = batch_variables(args)
    with kernel.kernel_environment(variables):   # for this batch, and the kernels and jobs it starts
        try:
            profile, seeds, tasks = plan.plan(args)
            options = batch_options(args, tasks)
        except config.ParameterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        out_dir = profile_folder(profile)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with BatchLock(out_dir):
                return run_batch(args, profile, seeds, tasks, options, variables, out_dir)
        except (config.ParameterError, AssetError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except PermissionError as error:
            print(f"error: cannot write {error.filename or out_dir}: permission denied; "
                  "make it writable or pass another --reports-dir", file=sys.stderr)
            return 2


def run_batch(args, profile: str, seeds: list[int], tasks: list[plan.Task], options: executors.Options,
              variables: dict, out_dir: Path) -> int:
    """Prepare the assets, run every task, write the index (also after Ctrl-C: then exit 130)."""
    studies = sorted({t.stem for t in tasks if t.seed is not None})
    at_once = "Slurm jobs" if options.executor == "slurm" else f"{options.jobs} at a time"
    print(f"profile {profile}{' (dry run)' if args.dry_run else ''}: {len(studies)} notebook(s) x seeds {seeds}, "
          f"then the summary ({at_once}) -> {in_terminal(out_dir)}")
    started = time.time()
    try:
        interrupt_on_sigterm()
        prepare_assets([t.params for t in tasks if t.stem != SUMMARY_STEM])
        kernel.ensure_kernel()
        rows = executors.run_tasks(tasks, options, run_one, variables)
    except KeyboardInterrupt as interruption:
        with attempts.uninterrupted():   # stopping: a further Ctrl-C cuts nothing short
            return report_interruption(interruption, out_dir, profile, started)
    index_page = index.write_index(out_dir, profile, index.index_rows(profile, since=started))
    print(f"\nsummary ({profile}, {time.time() - started:.0f} s in all)")
    print("\n".join(index.summary_lines(rows)))
    print(f"index: {in_terminal(index_page)}")
    return 0 if all(row.status == "ok" for row in rows) else 1


def report_interruption(interruption: KeyboardInterrupt, out_dir: Path, profile: str, started: float) -> int:
    """After Ctrl-C: the index rewritten, one line on stderr, exit status 130."""
    index_page = index.write_index(out_dir, profile, index.index_rows(profile, since=started))
    row = getattr(interruption, "row", None)
    stopped = (f"{row.stem}" + (f" (seed {row.seed})" if row.seed is not None else "") +
               f" stopped ({row.error}), its attempt kept in unfinished/" if row else "stopped")
    if cancelled := getattr(interruption, "cancelled", None):
        stopped = f"{cancelled}, their attempts kept in unfinished/"
    print(f"\ninterrupted: {stopped}; earlier reports are intact (index {in_terminal(index_page)}); "
          "the same command resumes from the GAN checkpoints", file=sys.stderr)
    return 130
