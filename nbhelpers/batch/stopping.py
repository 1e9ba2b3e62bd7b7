"""How the batch's processes stop on a signal: Ctrl-C (SIGINT), ``kill`` (SIGTERM, e.g. from
``scancel``) and a closed terminal (SIGHUP) alike (``STOP_SIGNALS``).

- ``stopping_on_signals``: while the batch runs, the first of them raises KeyboardInterrupt where
  the batch is, and later ones are let go, so that none cuts the stopping short (the attempt
  being recorded, the jobs cancelled, the index written): Ctrl-C pressed again and again
  stops the batch as one Ctrl-C does.
- ``uninterrupted``: a block that must not be cut (an attempt being put in place) defers them;
  the caller sees that one came and stops after the block, later ones let go as above.
- After SIGHUP the terminal is gone: what the process writes there goes to /dev/null instead
  (``leave_terminal``), so that no write to it fails while the batch stops.

A signal ignored when the process started (``nohup``) stays ignored; outside the main thread,
where no handler can be set, nothing changes."""
import contextlib
import os
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def let_go(signum, frame) -> None:
    """A stop signal after the first: the process is stopping already."""


def heeded() -> list[int]:
    """The stop signals this process heeds (not ignored), in the main thread; none elsewhere."""
    if threading.current_thread() is not threading.main_thread():
        return []
    return [number for number in STOP_SIGNALS if signal.getsignal(number) is not signal.SIG_IGN]


def restore(handlers: dict) -> None:
    for number, handler in handlers.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def stopping_on_signals():
    """While the block runs, the first stop signal raises KeyboardInterrupt (its name the
    message); later ones are let go."""
    def stop(signum, frame):
        for number in previous:
            signal.signal(number, let_go)
        if signum == signal.SIGHUP:
            leave_terminal()
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {number: signal.signal(number, stop) for number in heeded()}
    try:
        yield
    finally:
        restore(previous)


@contextlib.contextmanager
def uninterrupted():
    """Stop signals wait until the block has run; yields a list that then holds those that came.
    Once one came, later ones are let go after the block as well: the caller stops."""
    caught = []

    def note(signum, frame):
        caught.append(signum)
        if signum == signal.SIGHUP:
            leave_terminal()

    previous = {number: signal.signal(number, note) for number in heeded()}
    try:
        yield caught
    finally:
        restore({number: let_go for number in previous} if caught else previous)


def leave_terminal() -> None:
    """Standard output and error that went to a terminal (closed now) go to /dev/null instead."""
    null = os.open(os.devnull, os.O_WRONLY)
    for descriptor in (1, 2):
        if os.isatty(descriptor):
            os.dup2(null, descriptor)
    os.close(null)
