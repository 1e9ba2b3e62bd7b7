"""What a batch will run: every input checked before anything long starts, the runs in order,
one ``Task`` each (each study notebook once per seed, the summary last), and what the batch
decides for every run (``batch_context_of``), which each task carries."""
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nbhelpers.batch import dryrun
from nbhelpers.environment import BatchContext
from nbhelpers.paths import GAN_NOTEBOOK, GAN_NOTEBOOKS, SUMMARY_STEM, in_terminal, profile_folder, run_folder
from nbhelpers.report import parameters, profiles, records

PROFILE_CHOICES = (*profiles.PROFILES, "auto")
WRITE_PROBE = "write-probe"   # .write-probe-<pid>-<random>: the file that tries a reports folder
INDEX_PAGE = "index.html"     # the profile's index (``index.write_index``)


@dataclass
class Task:
    """One notebook run of the batch."""

    key: tuple                  # (stem, seed): seed None for the summary
    stem: str
    seed: int | None
    params: dict
    profile: str
    label: str                  # "[3/16]" in the terminal
    after: list = field(default_factory=list)   # keys of the tasks that must end first
    batch: BatchContext = field(default_factory=BatchContext)   # what the batch decided (batch_context_of)

    @property
    def where(self) -> str:
        """The run as the terminal names it: "04_wgan (seed 0)", "06_summary"."""
        return self.stem + (f" (seed {self.seed})" if self.seed is not None else "")

    @property
    def folder(self) -> Path:
        """Where the run's reports go (``paths.run_folder``; a dry run's in its own folder)."""
        return run_folder(self.profile, self.seed, self.batch.dry_run)


def batch_context_of(args) -> BatchContext:
    """What this batch decides for every notebook run: the kernels' output is a log (progress
    lines, no bars); a dry run caps the training loops' batches and never reuses a finished
    checkpoint (it proves that the training code runs)."""
    return BatchContext(dry_run=args.dry_run, max_batches=dryrun.BATCHES_PER_EPOCH if args.dry_run else None,
                        fresh=args.fresh or args.dry_run, progress_lines=True,
                        note=dryrun.describe() if args.dry_run else "")


def cuda_available() -> bool:
    import torch  # heavy: only to choose the auto profile or check a CUDA device
    return torch.cuda.is_available()


def auto_profile() -> str:
    return "full" if cuda_available() else "cpu"


def check_reports_folder(folder: Path) -> None:
    """ParameterError naming ``folder`` and the reason unless the batch can create it and write
    in it. Tried by creating it and a probe file in it (permission bits do not tell root that a
    filesystem is read-only), then removing whatever the try created: a refused batch leaves nothing."""
    advice = "pass another --reports-dir (or NBH_REPORTS_DIR)"
    created = []   # the folders the try makes, deepest first
    try:
        existing = folder
        while not (existing.exists() or existing.is_symlink()):
            created.append(existing)
            existing = existing.parent
        if not existing.is_dir():
            raise parameters.ParameterError(f"cannot write the reports to {in_terminal(folder)}: "
                                        f"{in_terminal(existing)} exists and is not a folder; {advice}")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{WRITE_PROBE}-{os.getpid()}-"):
            pass
        if (folder / INDEX_PAGE).is_dir():   # the page the batch writes last
            raise parameters.ParameterError(f"cannot write the index {in_terminal(folder / INDEX_PAGE)}: a folder "
                                            f"has that name; move it away or {advice}")
    except OSError as error:
        raise parameters.ParameterError(f"cannot write the reports to {in_terminal(folder)}: "
                                    f"{error.strerror or error}; {advice}") from None
    finally:
        for path in created:
            try:
                path.rmdir()
            except OSError:   # not made by this try, or no longer empty: left as it is
                pass


def plan(args) -> tuple[str, list[int], list[Task]]:
    """Every input of the parsed command line checked (``parameters.ParameterError`` naming the
    problem): profile, seeds, notebook names, parameter names and types, ``--jobs``, the reports
    folder (``--reports-dir``, set in the batch's environment, and ``--dry-run``); then the
    batch's tasks in order: each study notebook the profile runs (``notebooks``) once per seed (its explorations, and the
    profile's ``first_seed_only`` notebooks unless ``--only`` names them, for the first
    evaluation seed only: ``profiles.first_seed``), 04/05 after 03 of the same seed, the summary
    last, each with the batch's context. Returns (profile, seeds, tasks)."""
    if args.profile not in PROFILE_CHOICES:
        raise parameters.ParameterError(f"unknown profile {args.profile!r}; expected {', '.join(PROFILE_CHOICES[:-1])} "
                                    f"or {PROFILE_CHOICES[-1]}")
    profile = auto_profile() if args.profile == "auto" else args.profile
    available = parameters.notebook_stems()
    unknown = [stem for stem in args.only if stem not in available]
    if unknown:
        raise parameters.ParameterError(f"unknown notebook {', '.join(map(repr, unknown))}; available: {', '.join(available)}")
    if args.jobs is not None and args.jobs < 1:
        raise parameters.ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    seeds = profiles.parse_seeds(args.seeds) if args.seeds is not None else profiles.profile_seeds(profile)
    declared = profiles.declarations(profile)
    selected = args.only or [stem for stem in available if stem in declared["notebooks"] or stem == SUMMARY_STEM]
    profiles.check_overrides(selected + [SUMMARY_STEM], args.overrides)
    check_reports_folder(profile_folder(profile, args.dry_run))
    studies = [stem for stem in selected if stem != SUMMARY_STEM]
    if not studies and not records.seeds_present(profile, args.dry_run):
        raise parameters.ParameterError(f"the summary reads the study notebooks' records, and there are none in "
                                    f"{profile_folder(profile, args.dry_run)} yet; run them first (e.g. ./run_all.sh --profile {profile})")
    first = profiles.first_seed(profile, seeds)   # the explorations (later_seeds) run for this seed alone
    alone = set(declared["first_seed_only"]) - set(args.only)   # --only names a notebook: every seed
    resolved = {(stem, seed): profiles.resolve(stem, profile, args.overrides, seed=seed, first_seed=first)
                for seed in seeds for stem in studies if seed == first or stem not in alone}
    resolved[(SUMMARY_STEM, None)] = profiles.resolve(SUMMARY_STEM, profile, args.overrides)
    cuda = sorted({p["device"] for p in resolved.values() if str(p.get("device", "")).startswith("cuda")})
    if cuda and args.executor == "local" and not cuda_available():   # a cluster's nodes may have GPUs
        raise parameters.ParameterError(f"device {cuda[0]!r} was asked for, but CUDA is not available here; "
                                    "use device=auto or device=cpu")
    if args.dry_run:   # one seed unless --seeds chose; small sample counts (dryrun.py says why)
        seeds = dryrun.seeds(seeds, chosen=args.seeds is not None)
        resolved = {key: dryrun.limit(params) for key, params in resolved.items() if key[1] in (None, *seeds)}
    total, tasks, context = len(resolved), [], batch_context_of(args)
    for index, ((stem, seed), params) in enumerate(resolved.items(), 1):
        if stem == SUMMARY_STEM:
            after = [task.key for task in tasks]
        elif stem in GAN_NOTEBOOKS and stem != GAN_NOTEBOOK and (GAN_NOTEBOOK, seed) in resolved:
            after = [(GAN_NOTEBOOK, seed)]
        else:
            after = []
        tasks.append(Task(key=(stem, seed), stem=stem, seed=seed, params=params, profile=profile,
                          label=f"[{index}/{total}]", after=after, batch=context))
    return profile, seeds, tasks
