"""Every environment variable that nbhelpers reads, read here and nowhere else.

Set by a person, each optional:

- ``NBH_DATA_DIR``       MNIST raw files (default ``<repo>/data``)
- ``NBH_CACHE_DIR``      per-machine caches: FID weights, reference statistics (default
                         ``~/.cache/nbhelpers``)
- ``NBH_REPORTS_DIR``    root of the report tree (default ``<repo>/reports``)
- ``NBH_FID_INCEPTION``  where the Inception weights come from (``metrics.inception``; default auto)
- ``NBH_INCEPTION_PATH`` which inference path of those weights runs (default fast)
- ``NBH_CLASSIFIER``     which metric-classifier weights (``metrics.classifier``; default shipped)

Set by the batch (``./run_all.sh``) for the kernels it starts, never by hand:

- ``NBH_BATCH``          the ``BatchContext`` of this notebook run, as JSON: what the batch
                         decided (a dry run, --fresh, the stage folder and the attempt's id, the digest of the
                         notebook it executes). A notebook run reads it
                         once (``report.context.start_run``) and hands its values to the code
                         that needs them as arguments.
"""
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

BATCH_VARIABLE = "NBH_BATCH"


def location(name: str, default: Path) -> Path:
    """The folder named by variable ``name`` (``~`` expanded, absolute), else ``default``."""
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def choice(name: str, default: str) -> str:
    """A setting chosen by variable ``name`` (e.g. ``NBH_CLASSIFIER``), else ``default``."""
    return os.environ.get(name) or default


@dataclass(frozen=True)
class BatchContext:
    """What the batch decided for one notebook run; the defaults are an interactive run."""

    dry_run: bool = False               # ./run_all.sh --dry-run: reports/<profile>-dry-run/
    max_batches: int | None = None      # the training loops' cap on batches an epoch (dry run), None: all
    fresh: bool = False                 # --fresh: retrain instead of resuming or reusing checkpoints
    progress_lines: bool = False        # the run's output is a log: plain lines, no progress bars
    stage: str | None = None            # where the run writes until it has finished (batch runs)
    final: str | None = None            # the run folder that the stage's files then move to
    attempt: str | None = None          # the attempt's id, which its record carries (batch.attempts)
    note: str = ""                      # what a dry run changes, for the run header
    notebook_digest: str | None = None  # the notebook's code as handed to papermill (report.context.notebook_digest)

    def with_stage(self, stage: Path, final: Path, attempt: str | None = None) -> "BatchContext":
        return replace(self, stage=str(stage), final=str(final), attempt=attempt)

    def with_notebook(self, digest: str | None) -> "BatchContext":
        return replace(self, notebook_digest=digest)

    def variables(self) -> dict:
        """The environment a kernel needs to see this context."""
        return {BATCH_VARIABLE: json.dumps(asdict(self))}


def batch_context() -> BatchContext:
    """This process's ``BatchContext``: the batch's, or the interactive default. Read once, where
    a notebook run starts (``report.context.start_run``); the batch builds its own."""
    text = os.environ.get(BATCH_VARIABLE)
    return BatchContext(**json.loads(text)) if text else BatchContext()
