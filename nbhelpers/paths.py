"""Where things live. Every location can be moved with an environment variable
(``environment``: ``NBH_DATA_DIR``, ``NBH_CACHE_DIR``, ``NBH_REPORTS_DIR``), and a batch run
writes into a stage folder until it has finished, so that a failed or interrupted run never
replaces a good report. What the batch decided for a run (a dry run, the stage) is handed to
these functions as an argument (``dry_run``, ``batch``: the run's ``environment.BatchContext``);
none of them reads it from the environment.

The report tree: ``reports/<profile>/seed<k>/<stem>.{ipynb,html,metrics.json,log}`` and
``<stem>/`` beside them (samples, models, checkpoints) for each notebook and seed;
``reports/<profile>/summary.*`` (the cross-notebook summary) and ``index.html`` per profile;
``reports/<profile>-dry-run/`` for a dry run of the profile.
"""
from pathlib import Path

from nbhelpers.environment import BatchContext, location

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PARAMS_DIR = REPO_ROOT / "params"


def data_dir() -> Path:
    return location("NBH_DATA_DIR", REPO_ROOT / "data")


def cache_dir() -> Path:
    path = location("NBH_CACHE_DIR", Path.home() / ".cache" / "nbhelpers")
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_root() -> Path:
    return location("NBH_REPORTS_DIR", REPO_ROOT / "reports")


SUMMARY_STEM = "06_summary"   # the cross-notebook summary: one per profile, not per seed
STUDY_NOTEBOOKS = ("01_vae", "02_controlvae", "03_gan_pixelshuffle", "04_wgan", "05_ssgan")  # one run per seed
# The GAN notebooks share one training length and sampling schedule (params/<profile>/_gan.yaml) so
# that their curves overlay; 04 and 05 compare with the GAN of GAN_NOTEBOOK (of the same seed).
GAN_NOTEBOOKS = ("03_gan_pixelshuffle", "04_wgan", "05_ssgan")
GAN_NOTEBOOK = "03_gan_pixelshuffle"
def profile_folder(profile: str, dry_run: bool) -> Path:
    """``reports/<profile>/``, or ``reports/<profile>-dry-run/`` for a dry run, so that a dry run
    never mixes with (or replaces) the real runs of the profile."""
    return reports_root() / (f"{profile}-dry-run" if dry_run else profile)


def run_folder(profile: str, seed: int | None, dry_run: bool) -> Path:
    """Where one run's reports go: ``reports/<profile>/seed<k>/`` for a notebook run with seed k,
    ``reports/<profile>/`` for the summary (``seed`` None), so that seeds never overwrite each other."""
    root = profile_folder(profile, dry_run)
    return root if seed is None else root / f"seed{seed}"


def stage_dir(batch: BatchContext) -> Path | None:
    """The folder a notebook run writes into until it is moved into place (``batch.stage``, batch
    runs), or None (interactive use: it writes straight into ``run_folder``)."""
    return Path(batch.stage).resolve() if batch.stage else None


def writing_folder(profile: str, seed: int | None, batch: BatchContext) -> Path:
    """Where a running notebook writes its own reports: the stage in a batch run, else the run folder."""
    return stage_dir(batch) or run_folder(profile, seed, batch.dry_run)


def checkpoint_folder(out_dir, batch: BatchContext) -> Path:
    """The checkpoint folder of the notebook whose output folder is ``out_dir``
    (``<run folder>/<name>/``): ``<run folder>/checkpoints/<name>/``, where ``<run folder>`` is
    the final one even while a batch writes the outputs into its stage."""
    out_dir = Path(out_dir).resolve()
    stage, final = stage_dir(batch), batch.final
    folder = Path(final) if stage is not None and final and out_dir.parent == stage else out_dir.parent
    path = folder / "checkpoints" / out_dir.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_name(stem: str) -> str:
    """The file name of a notebook's reports: the stem, or ``summary`` for the summary notebook."""
    return "summary" if stem == SUMMARY_STEM else stem


def notebook_output_dir(profile: str, stem: str, seed: int | None, batch: BatchContext) -> Path:
    """``reports/<profile>/seed<k>/<stem>/``: exported samples and ``models/`` (in the stage
    while a batch runs the notebook)."""
    path = writing_folder(profile, seed, batch) / report_name(stem)
    path.mkdir(parents=True, exist_ok=True)
    return path


def in_terminal(path) -> str:
    """A path as the batch prints it: relative to the working directory when under it, else
    absolute, so that it opens from where the command ran (``display`` is for the reports)."""
    path, here = Path(path).resolve(), Path.cwd().resolve()
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


def display(path, batch: BatchContext | None = None) -> str:
    """A path as a report shows it: relative to the reports root (``reports/...``) or to the
    repository, never the machine's absolute path where either contains it. A file in the stage
    of a batch run (``batch``: the run's context) is shown where it will lie once moved into place."""
    path = Path(path).resolve()
    stage = stage_dir(batch) if batch is not None else None
    if stage is not None and path.is_relative_to(stage) and (final := batch.final):
        path = Path(final) / path.relative_to(stage)      # where it will be once moved into place
    for base, shown in ((reports_root().resolve(), "reports"), (REPO_ROOT, ".")):
        if path.is_relative_to(base):
            return str(Path(shown) / path.relative_to(base))
    return str(path)
