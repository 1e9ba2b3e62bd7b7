"""Progress of long work, with tqdm: a live bar where a person watches, sparse lines in logs.

- In JupyterLab or a terminal, ``bar(...)`` is a tqdm bar on stdout (JupyterLab redraws the
  line in place: a bar that moves, elapsed time and rate included).
- In a batch run (``./run_all.sh``) the kernels' output goes to a log file, where a bar's
  carriage-return refreshes would pile up (papermill issue #765): the caller passes the batch's
  ``progress_lines`` as ``lines`` and the bars are off there, since every training loop already
  writes one progress line per epoch.
- A progress line (``line``, ``epoch_line``) starts with ``[name] ``: the training loops write
  them, and the batch shows the ones it finds in a running notebook's log in the terminal
  (``is_progress_line``), beside which cell of how many (papermill's own tqdm, written as sparse
  lines through ``LineStream``), with the elapsed time.
"""
import re
import sys

from tqdm import tqdm

PROGRESS_LINE = re.compile(r"^\[(?!IPKernelApp)[\w.]+\] ")   # IPKernelApp: the kernel's own warnings


def line(name: str, text: str) -> str:
    """A progress line of the work called ``name`` (e.g. a model being trained)."""
    return f"[{name}] {text}"


def epoch_line(name: str, epoch: int, epochs: int, text: str) -> str:
    """The progress line that ends epoch ``epoch`` of ``epochs``."""
    return line(name, f"epoch {epoch}/{epochs}  {text}")


def is_progress_line(text: str) -> bool:
    return PROGRESS_LINE.match(text) is not None


def bar(iterable=None, total: int | None = None, desc: str = "", unit: str = "it", lines: bool = False,
        **options):
    """A tqdm bar on stdout, switched off where the output is a log (``lines``: a batch run's
    ``progress_lines``), which gets plain progress lines instead."""
    disable = options.pop("disable", False) or lines
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
