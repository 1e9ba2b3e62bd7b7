"""Where things live. Every location can be moved with an environment variable.

- ``NBH_DATA_DIR``    MNIST raw files (default: ``<repo>/data``)
- ``NBH_CACHE_DIR``   per-machine caches: FID weights, reference statistics, the
                      metric classifier (default: ``~/.cache/nbhelpers``)
- ``NBH_REPORTS_DIR`` root of the report tree (default: ``<repo>/reports``)

The report tree: ``reports/<profile>/seed<k>/<stem>.{ipynb,html,metrics.json,log}`` and
``<stem>/`` beside them (samples, models, checkpoints) for each notebook and seed;
``reports/<profile>/summary.*`` (the cross-notebook summary) and ``index.html`` per profile.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PARAMS_DIR = REPO_ROOT / "params"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    return _env_path("NBH_DATA_DIR", REPO_ROOT / "data")


def cache_dir() -> Path:
    path = _env_path("NBH_CACHE_DIR", Path.home() / ".cache" / "nbhelpers")
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_root() -> Path:
    return _env_path("NBH_REPORTS_DIR", REPO_ROOT / "reports")


SUMMARY_STEM = "06_summary"   # the cross-notebook summary: one per profile, not per seed


def run_folder(profile: str, seed: int | None) -> Path:
    """Where one run's reports go: ``reports/<profile>/seed<k>/`` for a notebook run with seed k,
    ``reports/<profile>/`` for the summary (``seed`` None), so that seeds never overwrite each other."""
    root = reports_root() / profile
    return root if seed is None else root / f"seed{seed}"


def report_name(stem: str) -> str:
    """The file name of a notebook's reports: the stem, or ``summary`` for the summary notebook."""
    return "summary" if stem == SUMMARY_STEM else stem


def notebook_output_dir(profile: str, stem: str, seed: int | None) -> Path:
    """``reports/<profile>/seed<k>/<stem>/``: exported samples, ``models/``, checkpoints."""
    path = run_folder(profile, seed) / report_name(stem)
    path.mkdir(parents=True, exist_ok=True)
    return path


def display(path) -> str:
    """A path as a report shows it: relative to the reports root (``reports/...``) or to the
    repository, never the machine's absolute path where either contains it."""
    path = Path(path).resolve()
    for base, shown in ((reports_root().resolve(), "reports"), (REPO_ROOT, ".")):
        if path.is_relative_to(base):
            return str(Path(shown) / path.relative_to(base))
    return str(path)
