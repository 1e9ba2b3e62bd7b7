"""One call at the top of every notebook: seed, pick the device, record the environment and the
code as it runs (``code_digest``), read what the batch decided for this run
(``environment.BatchContext``) into the run's context, and show the run's parameters once, as
one table with the source of each value.

The code a run executed is told apart from any other by two sha256 digests: of nbhelpers'
sources when the run starts (``package_digest``), and of the notebook's code cells as the batch
handed them to papermill (``notebook_digest``; the batch passes it in the run's
``BatchContext``). A file edited between its import and the digest, or a module first imported
after it, escapes them: docs/operations.md says so."""
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas
import scipy
import torch
from IPython.display import display

from nbhelpers.device import pick_device
from nbhelpers.environment import BatchContext, batch_context
from nbhelpers.notes import show_notes_once
from nbhelpers.paths import NOTEBOOKS_DIR, REPO_ROOT, notebook_output_dir, report_name, writing_folder
from nbhelpers.report import profiles
from nbhelpers.report.record_schema import CodeDigest

PACKAGE_DIR = Path(__file__).resolve().parent.parent   # nbhelpers/


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_digest() -> str:
    """sha256 of nbhelpers' sources as they are now: every ``*.py`` of the package but its tests
    (no run imports them), each as its path relative to the package and its bytes, in path
    order. Any edit changes it, a comment's too."""
    digest = hashlib.sha256()
    sources = {path.relative_to(PACKAGE_DIR).as_posix(): path for path in PACKAGE_DIR.rglob("*.py")}
    for name in sorted(name for name in sources if not name.startswith("tests/")):
        content = sources[name].read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


def notebook_digest(text: str) -> str:
    """sha256 of a notebook's code as papermill executes it: its code cells' sources in order,
    from the notebook's JSON text (markdown, outputs and metadata aside: JupyterLab's autosave
    writes outputs). Text that is not a notebook: the digest of the text itself."""
    try:
        cells = json.loads(text)["cells"]
        code = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                for cell in cells if cell.get("cell_type") == "code"]
    except (ValueError, TypeError, KeyError, AttributeError):   # papermill then fails on it, saying why
        code = text
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()


def code_digest(batch: BatchContext) -> CodeDigest:
    """The code this run executes: nbhelpers now, and its notebook as the batch handed it over
    (None outside the batch: a notebook run in JupyterLab may have run any edit of its cells)."""
    return {"package": package_digest(), "notebook": batch.notebook_digest}


def current_code(stem: str, package: str | None = None) -> CodeDigest:
    """The code a run of notebook ``stem`` would execute now: nbhelpers (``package``: its digest
    when the caller took it) and the notebook's file (None when there is none to read)."""
    try:
        notebook = notebook_digest((NOTEBOOKS_DIR / f"{stem}.ipynb").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        notebook = None
    return {"package": package or package_digest(), "notebook": notebook}


def environment(device: torch.device) -> dict:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                     "pandas": pandas.__version__, "matplotlib": matplotlib.__version__},
    }


@dataclass
class Run:
    """What a notebook run knows about itself; ``records.Metrics`` writes it out."""
    stem: str
    profile: str
    seed: int | None            # None for the summary, which reads every seed's records
    device: torch.device
    params: dict
    env: dict = field(default_factory=dict)
    git_commit: str = "unknown"
    code_digest: CodeDigest | None = None   # the code it runs (``code_digest``); None: not taken
    batch: BatchContext = field(default_factory=BatchContext)   # what ./run_all.sh decided; interactive: defaults

    @property
    def out_dir(self) -> Path:
        """``reports/<profile>/seed<k>/<stem>/``: samples and models of this run."""
        return notebook_output_dir(self.profile, self.stem, self.seed, self.batch)

    @property
    def metrics_path(self) -> Path:
        return writing_folder(self.profile, self.seed, self.batch) / f"{report_name(self.stem)}.metrics.json"


def parameter_table(stem: str, values: dict, dry_run: bool = False) -> pandas.DataFrame:
    """One row per parameter: its value and where it came from (``profiles.value_sources``); in a
    dry run an unexplained value may also be one of its smaller sample counts."""
    sources = profiles.value_sources(stem, values["profile"], values)
    if dry_run:
        sources = {key: source + " or the dry run's cap" if source == profiles.OVERRIDDEN else source
                   for key, source in sources.items()}
    return pandas.DataFrame({"value": [repr(value) for value in values.values()], "source": list(sources.values())},
                            index=pandas.Index(list(values), name="parameter"))


def show_parameters(table: pandas.DataFrame) -> None:
    """Display ``parameter_table`` once: an HTML table, left-aligned, in the report and JupyterLab;
    whole lines of text where only text is read (a log, a terminal)."""
    html = (table.reset_index().style.hide(axis="index").format(escape="html")
            .set_table_styles([{"selector": "th, td", "props": "text-align: left;"}]).to_html())
    display({"text/html": html, "text/plain": table.to_string(max_colwidth=None)}, raw=True)


def start_run(stem: str, params) -> Run:
    """Seed everything, choose the device, print the run's header, show its parameters
    (``parameter_table``) and return the run."""
    values = dict(vars(params))
    show_notes_once()
    device = pick_device(values.get("device", "auto"))
    seed = values.get("seed")
    seed_everything(0 if seed is None else seed)
    batch = batch_context()
    run = Run(stem=stem, profile=values["profile"], seed=seed, device=device,
              params=values, env=environment(device), git_commit=git_commit(),
              code_digest=code_digest(batch), batch=batch)
    seeds = f"seed {run.seed}" if seed is not None else f"seeds {values.get('seeds') or 'all present'}"
    print(f"notebook {stem} | profile {run.profile}{' | DRY RUN' if run.batch.dry_run else ''} | {seeds} | device {device} "
          f"({run.env['device_name']}) | torch {torch.__version__} | commit {run.git_commit}")
    if run.batch.dry_run:
        print(f"DRY RUN: {run.batch.note}")
    show_parameters(parameter_table(stem, values, run.batch.dry_run))
    return run
