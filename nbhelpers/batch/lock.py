"""One batch at a time per reports folder (``BatchLock``)."""
import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from nbhelpers.paths import in_terminal
from nbhelpers.report.config import ParameterError


class BatchLock:
    """An exclusive ``flock`` on ``<folder>/.batch.lock``, which names its holder (pid, host,
    start, command) for the batch it refuses. The lock goes with the process (even after
    ``kill -9``)."""

    def __init__(self, folder: Path):
        self.path, self.handle = folder / ".batch.lock", None

    def __enter__(self):
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise ParameterError(f"another batch is writing to {in_terminal(self.path.parent)} ({holder}); "
                                 "wait for it to end, or pass another --reports-dir") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%H:%M:%S')}: "
                          f"{' '.join(sys.argv)}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        self.handle.close()   # releases the lock
