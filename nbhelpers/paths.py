"""Where things live. Every location can be moved with an environment variable.

- ``NBH_DATA_DIR``    MNIST raw files (default: ``<repo>/data``)
- ``NBH_CACHE_DIR``   per-machine caches: FID weights, reference statistics, the
                      metric classifier (default: ``~/.cache/nbhelpers``)
- ``NBH_REPORTS_DIR`` root of the report tree (default: ``<repo>/reports``)
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


def notebook_output_dir(profile: str, stem: str) -> Path:
    """``reports/<profile>/<stem>/``: exported samples, ``models/``, checkpoints."""
    path = reports_root() / profile / stem
    path.mkdir(parents=True, exist_ok=True)
    return path
