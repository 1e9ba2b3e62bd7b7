"""Progress of long work, with tqdm: a live bar where a person watches, sparse lines in logs.

- In JupyterLab or a terminal, ``bar(...)`` is a tqdm bar on stdout (JupyterLab redraws the
  line in place: a bar that moves, elapsed time and rate included).
- In a batch run (``./run_all.sh``) the kernels' output goes to a log file, where a bar's
  carriage-return refreshes would pile up (papermill issue #765): the pipeline sets
  ``NBH_PROGRESS=lines`` and the bars are off there, since every training loop already prints
  one plain line per epoch. The pipeline itself shows the progress of each notebook in the
  terminal: which cell of how many (papermill's own tqdm, written as sparse lines through
  ``LineStream``) and the training loops' epoch lines, with the elapsed time.
"""
import os
import sys

from tqdm import tqdm

MODE_VARIABLE = "NBH_PROGRESS"     # "lines": a batch run, whose output is a log


def batch_mode() -> bool:
    return os.environ.get(MODE_VARIABLE) == "lines"


def bar(iterable=None, total: int | None = None, desc: str = "", unit: str = "it", **options):
    """A tqdm bar on stdout, switched off in batch runs (their logs get plain lines instead)."""
    disable = options.pop("disable", False) or batch_mode()
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stdout, dynamic_ncols=True, disable=disable,
                **options)


class LineStream:
    """A file-like object for tqdm that turns its in-place refreshes into whole lines, each one
    written once (``prefix`` before it), so that a log or a non-terminal shows sparse plain lines."""

    def __init__(self, stream=None, prefix: str = ""):
        self.stream, self.prefix, self.last = stream or sys.stdout, prefix, None

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line and line != self.last:
            self.stream.write(f"{self.prefix}{line}\n")
            self.stream.flush()
            self.last = line

    def flush(self) -> None:
        self.stream.flush()
