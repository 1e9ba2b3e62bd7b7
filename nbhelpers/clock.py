"""Where a process's CPU time goes, by phase: training, the two feature extractors, the rest of
the evaluation, figures. The code that does the work says which phase it is in::

    with clock.phase("training"):
        ...

    @clock.phase("evaluation")
    def fid(...): ...

Phases nest, and each second counts once, in the innermost phase open: a GAN's evaluation
callback (``"evaluation"``) that extracts Inception features (``"inception"``) counts those
seconds as Inception's only. ``spent()`` gives the totals so far, in CPU-seconds of this process
(``time.process_time``: all its threads, whatever else runs on the machine); a notebook's
record writes them when it finishes (``report.records.Metrics``), and ``python -m
nbhelpers.bench budget`` adds them up over a batch.
"""
import time
from contextlib import contextmanager

PHASES = ("training", "inception", "classifier", "evaluation", "figures")

_spent = dict.fromkeys(PHASES, 0.0)   # CPU-seconds by phase, nested phases' taken out
_nested: list[float] = []             # per open phase, innermost last: the CPU-seconds of the phases inside it


@contextmanager
def phase(name: str):
    """Count the CPU time of the block (or of the decorated function) as phase ``name``."""
    if name not in _spent:
        raise ValueError(f"unknown phase {name!r}; the phases are {', '.join(PHASES)}")
    started = time.process_time()
    _nested.append(0.0)
    try:
        yield
    finally:
        took = time.process_time() - started
        _spent[name] += took - _nested.pop()
        if _nested:
            _nested[-1] += took


def spent(since: dict[str, float] | None = None) -> dict[str, float]:
    """CPU-seconds by phase so far (minus ``since``, an earlier ``spent()``)."""
    return {name: seconds - (since or {}).get(name, 0.0) for name, seconds in _spent.items()}
