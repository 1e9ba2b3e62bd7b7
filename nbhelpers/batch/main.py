"""The batch behind ``./run_all.sh`` (``python -m nbhelpers.batch``): its command line, the one
description of it (``./run_all.sh --help``), and the batch from start to end.

1. Every input is checked before anything long starts (``plan``): profile, seeds, notebook
   names, parameter names and types, where and how many runs at once; then, under the reports
   folder's lock (``lock``), what a killed batch left is recorded and removed (``attempts.tidy``)
   and the data and metric assets are prepared (MD5/SHA-verified, derived statistics included).
2. The batch decides one ``environment.BatchContext`` (dry run, ``--fresh``, progress lines:
   ``plan.batch_context_of``), which every task carries to the kernel it starts, and sets it,
   with the reports folder, in its own environment and so in every kernel's and job's
   (``kernel``, ``executors``).
3. Each study notebook runs headless once per seed (``task``, ``execute``, ``attempts``), into
   ``reports/<profile>/seed<k>/``, where ``executors`` says: a failing notebook does not stop the
   others. Last, the summary (``06_summary``) reads every seed's records.
4. ``reports/<profile>/index.html`` links every report of the profile (``index``), also after
   Ctrl-C or a full disk. Exit status 0 when every run of this batch ended ok, 1 when one did
   not, 2 for bad input (nothing ran), 3 when a disk or quota filled up (the batch stopped), 130
   after Ctrl-C, SIGTERM or SIGHUP (listed in ``EPILOG``, which ``--help`` shows).
"""
import argparse
import contextlib
import errno
import os
import re
import sys
import time
from pathlib import Path

from nbhelpers import data
from nbhelpers.assets import AssetError
from nbhelpers.batch import attempts, executors, index, kernel, leftovers, plan
from nbhelpers.batch.lock import BatchLock, BatchLocked
from nbhelpers.batch.stopping import stopping_on_signals, uninterrupted
from nbhelpers.batch.task import OutOfSpace, execute_task
from nbhelpers.device import pick_device
from nbhelpers.metrics import caches
from nbhelpers.paths import SUMMARY_STEM, cache_dir, data_dir, in_terminal, profile_folder
from nbhelpers.report import parameters

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

exit status:
  0    every run of this batch ended ok
  1    a notebook run failed (the others went on)
  2    bad input or a folder that cannot be written: nothing ran
  3    the disk or a quota is full: the batch stopped (its runs so far are recorded)
  130  interrupted (Ctrl-C, SIGTERM, or SIGHUP: the terminal closed)
"""
DISK_FULL_EXIT = 3   # see "exit status" in EPILOG


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
                        help=f"run only this notebook (repeatable): {', '.join(parameters.notebook_stems())}; "
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


def batch_variables(args) -> dict:
    """The environment this batch, its kernels and its jobs share: its context and, with
    ``--reports-dir``, the reports folder (absolute: relative to where the batch started)."""
    variables = plan.batch_context_of(args).variables()
    if args.reports_dir:
        try:
            variables["NBH_REPORTS_DIR"] = str(args.reports_dir.expanduser().resolve())
        except (OSError, RuntimeError) as error:   # RuntimeError: a symbolic link that leads back to itself
            raise parameters.ParameterError(f"cannot use --reports-dir {args.reports_dir}: {error}; "
                                            "pass another folder") from None
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
    """Data, FID weights, the metric classifier and the reference statistics of every size a
    selected notebook uses (with what is derived from them), all verified before the first
    notebook starts: a cache that cannot take them fails the batch here, before any training."""
    for name, md5 in data.prepare().items():
        print(f"  {name}: md5 {md5} OK")
    sizes = {(p["fid_ref_n_inception"], p["fid_ref_n_classifier"]) for p in resolved}
    for ref_n_inception, ref_n_classifier in sorted(sizes, reverse=True):   # the largest first: the others slice it
        caches.prepare(pick_device("auto"), ref_n_inception=ref_n_inception, ref_n_classifier=ref_n_classifier)


def main(argv=None) -> int:
    args = parse_args(argv)
    with stopping_on_signals():
        try:
            return start(args)
        except KeyboardInterrupt:   # in the checks, or waiting for a killed batch's runs: run_batch says the rest
            print("\ninterrupted: stopped before any run started", file=sys.stderr)
            return 130


def start(args) -> int:
    """The batch of the parsed command line ``args``, from its checks to its exit status."""
    try:
        variables = batch_variables(args)
    except parameters.ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with kernel.kernel_environment(variables):   # for this batch, and the kernels and jobs it starts
        try:
            profile, seeds, tasks = plan.plan(args)
            options = batch_options(args, tasks)
        except parameters.ParameterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        out_dir = profile_folder(profile, args.dry_run)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with BatchLock(out_dir) as lock:
                return run_batch(args, profile, seeds, tasks, options, variables, out_dir, lock.killed)
        except (parameters.ParameterError, BatchLocked, AssetError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            if attempts.is_disk_full(error):   # before the batch started: writing its lock
                return report_full_disk(error, out_dir, profile, args.dry_run, batch=None)
            if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR):
                raise
            print(f"error: {unwritable(error, out_dir)}", file=sys.stderr)
            return 2


def unwritable(error: OSError, out_dir: Path) -> str:
    """A file or folder the batch must write that it cannot, in one line, with what to do instead."""
    path = Path(error.filename2 or error.filename or out_dir)   # a rename names its target second
    if path.name.startswith(".") and path.name.endswith(".tmp"):   # the file it was writing, not a temporary name
        path = path.with_name(path.name[1:].rsplit(".", 2)[0])
    instead = ("point NBH_CACHE_DIR at a writable folder" if path.is_relative_to(cache_dir()) else
               "point NBH_DATA_DIR at a writable folder" if path.is_relative_to(data_dir()) else
               "pass another --reports-dir")
    fix = "move it away" if error.errno in (errno.EISDIR, errno.ENOTDIR) else "make it writable"
    return f"cannot write {path}: {os.strerror(error.errno).lower()}; {fix} or {instead}"


def runs_in_words(tasks: list[plan.Task], seeds: list[int]) -> str:
    """The batch's runs as its opening line counts them, e.g. "14 runs: 4 notebooks x seeds
    [1, 2, 3], 01_vae for seed 1 only, then the summary"."""
    seeds_of = {}
    for task in tasks:
        if task.seed is not None:
            seeds_of.setdefault(task.stem, []).append(task.seed)
    every = [stem for stem, its in seeds_of.items() if sorted(its) == sorted(seeds)]
    parts = [f"{len(every)} notebook{'s' * (len(every) != 1)} x seeds {seeds}"] if every else []
    parts += [f"{stem} for seed{'s' * (len(its) != 1)} {', '.join(map(str, its))} only"
              for stem, its in seeds_of.items() if stem not in every]
    if any(task.seed is None for task in tasks):
        parts.append("then the summary" if parts else "the summary")
    return f"{len(tasks)} run{'s' * (len(tasks) != 1)}: {', '.join(parts)}"


def run_batch(args, profile: str, seeds: list[int], tasks: list[plan.Task], options: executors.Options,
              variables: dict, out_dir: Path, killed: str) -> int:
    """Record what a killed batch left (``killed``: the lock's holder then), prepare the assets,
    run every task, write the index (also after Ctrl-C: then exit 130; a full disk: exit 3)."""
    at_once = "Slurm jobs" if options.executor == "slurm" else f"{options.jobs} at a time"
    print(f"profile {profile}{' (dry run)' if args.dry_run else ''}: {runs_in_words(tasks, seeds)} "
          f"({at_once}) -> {in_terminal(out_dir)}")
    started, batch = time.time(), attempts.new_batch()   # the batch's id: its attempts' records carry it
    try:
        tidy(profile, out_dir, killed)
        prepare_assets([t.params for t in tasks if t.stem != SUMMARY_STEM])
        kernel.ensure_kernel()
        rows = executors.run_tasks(tasks, options, execute_task, variables, batch)
        index_page = index.write_index(out_dir, profile, index.index_rows(profile, dry_run=args.dry_run, batch=batch),
                                       args.dry_run)
    except KeyboardInterrupt as interruption:
        with uninterrupted():   # stopping: a further Ctrl-C cuts nothing short
            return report_interruption(interruption, out_dir, profile, args.dry_run, batch)
    except (OutOfSpace, OSError) as full:
        if not isinstance(full, OutOfSpace) and not attempts.is_disk_full(full):
            raise
        return report_full_disk(full, out_dir, profile, args.dry_run, batch)
    print(f"\nsummary ({profile}, {time.time() - started:.0f} s in all)")
    print("\n".join(index.summary_lines(rows)))
    print(f"index: {in_terminal(index_page)}")
    return 0 if all(row.status == "ok" for row in rows) else 1


def tidy(profile: str, out_dir: Path, killed: str) -> None:
    """What a killed batch left in the folder (``leftovers``): its runs' stages recorded in
    unfinished/ or moved in, its temporary files and earlier batches' job folders removed; one
    line naming them when there was any."""
    if done := leftovers.tidy(profile, out_dir):
        before = f"the batch before this one was killed ({killed})" if killed else "earlier batches left files"
        print(f"{before}: {'; '.join(done)}")


def report_interruption(interruption: KeyboardInterrupt, out_dir: Path, profile: str, dry_run: bool,
                        batch: str) -> int:
    """After Ctrl-C (SIGTERM, SIGHUP): the index rewritten, one line on stderr, exit status 130."""
    index_page = index.write_index(out_dir, profile, index.index_rows(profile, dry_run=dry_run, batch=batch), dry_run)
    row = getattr(interruption, "row", None)
    stopped = (f"{row.stem}" + (f" (seed {row.seed})" if row.seed is not None else "") +
               f" stopped ({row.error}), its attempt kept in unfinished/" if row else "stopped")
    if cancelled := getattr(interruption, "cancelled", None):
        stopped = f"{cancelled}, their attempts kept in unfinished/"
    print(f"\ninterrupted: {stopped}; earlier reports are intact (index {in_terminal(index_page)}); "
          "the same command resumes from the GAN checkpoints", file=sys.stderr)
    return 130


def report_full_disk(full: OSError | OutOfSpace, out_dir: Path, profile: str, dry_run: bool,
                     batch: str | None) -> int:
    """A full disk or quota: temporary files removed, the index rewritten if there is room for
    it (once the batch ``batch`` has started), one line on stderr naming the filesystem and the
    space left; exit status 3."""
    leftovers.remove_temporary(out_dir)
    if batch is not None:
        with contextlib.suppress(OSError):
            index.write_index(out_dir, profile, index.index_rows(profile, dry_run=dry_run, batch=batch), dry_run)
    text = str(full.row.error) if isinstance(full, OutOfSpace) else str(full)
    named = re.search(r"\[Errno \d+\] [^:']*: '([^']+)'(?: -> '([^']+)')?", text)   # a copy names its target second
    path = Path(named[2] or named[1]) if named else out_dir
    quota = f"[Errno {errno.EDQUOT}]" in text or os.strerror(errno.EDQUOT) in text
    where = f" (seed {full.row.seed})" if isinstance(full, OutOfSpace) and full.row.seed is not None else ""
    stopped = (f"{full.row.stem}{where} recorded as failed in unfinished/" if isinstance(full, OutOfSpace)
               else "the batch stopped")
    cancelled = f"; {full.cancelled}" if getattr(full, "cancelled", None) else ""
    print(f"\nerror: {'a disk quota is exceeded' if quota else 'no space left'} on {filesystem_of(path)}, "
          f"writing {in_terminal(path)}; {stopped}{cancelled}; free space there (or pass another --reports-dir) "
          "and run the same command again", file=sys.stderr)
    return DISK_FULL_EXIT


def filesystem_of(path: Path) -> str:
    """The filesystem holding ``path``, as a person finds it: its mount point, type and the
    space left, e.g. "/mnt/reports (tmpfs, 12 kB left of 20 MB)"."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    mount = path.resolve()
    while not os.path.ismount(mount):
        mount = mount.parent
    kind = "?"
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for fields in (line.split() for line in mounts):
            if len(fields) > 2 and fields[1].replace("\\040", " ") == str(mount):
                kind = fields[2]   # the last one listed: the mount on top
    stats = os.statvfs(path)
    return (f"{mount} ({kind}, {in_bytes(stats.f_bavail * stats.f_frsize)} left of "
            f"{in_bytes(stats.f_blocks * stats.f_frsize)})")


def in_bytes(count: int) -> str:
    """A size as a person reads it: "0 B", "12 kB", "20 MB", "1.5 GB"."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.3g} {unit}" if unit != "B" else f"{count} B"
        count /= 1000
