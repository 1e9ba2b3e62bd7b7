"""One batch at a time per reports folder, and no run of a batch beyond its end.

``BatchLock`` is an exclusive ``flock`` on ``<folder>/.batch.lock``, which names its holder (pid,
host, start, command) for the batch it refuses (``BatchLocked``). The lock goes with the process, even after
``kill -9``; a holder that ended cleanly empties the file, so the next batch can tell that the
one before it was killed.

Runs in jobs (``executors``) are processes of their own that a ``kill -9`` of the batch does not
reach: submitit's local job controllers are meant to outlive their caller, Slurm jobs run
elsewhere. So that no run outlives its batch:

- each job holds ``<folder>/.runs.lock`` shared while it lives (``follow_batch``), and a batch
  takes it exclusively once it holds the batch lock: the runs of a killed batch make it wait
  until they have stopped, so that it never starts beside them;
- each job watches its batch (``Lifeline``): where it sees the batch's processes (the same
  machine and process namespace) by its pid and start time, elsewhere (Slurm's compute nodes)
  by a heartbeat file that the batch touches (``Heartbeat``). Once the batch
  is gone, the job kills its kernel and exits, its stage left for the next batch to record
  (``attempts.tidy``). An attempt already being put in place is completed first, and none is
  started for a batch that is gone (``putting_in_place``);
- a run in the batch's own process (``--jobs 1``) has its kernel as a child, and ipykernel ends a
  kernel whose parent is gone within a second; the next batch waits for the kernels of the
  batch killed before it (``kernels_of``) before it records what was left.
"""
import contextlib
import fcntl
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nbhelpers.paths import in_terminal

BATCH_LOCK, RUNS_LOCK = ".batch.lock", ".runs.lock"
WATCH_SECONDS = 1.0                # how often a job looks at its batch
HEARTBEAT_SECONDS = 5              # how often a batch touches its heartbeat file
HEARTBEAT_STALE_SECONDS = 300      # a heartbeat unchanged this long: the batch is gone (shared file
                                   # systems may show a file's time a minute late)
RUNS_STOP_SECONDS = HEARTBEAT_STALE_SECONDS + 120   # the longest a killed batch's runs take to stop
ORPHAN_EXIT = 75                   # the exit status of a job that stopped because its batch is gone


class BatchLocked(Exception):
    """The reports folder is another batch's, or the runs of a killed batch still write to it:
    this batch is refused before it runs anything (its message says whose and what to do)."""


class BatchLock:
    """The reports folder for one batch: its batch lock (refused when another batch holds it),
    then its runs lock once free of the runs of a killed batch. ``killed`` names the batch that
    held the lock before and was killed (its leftovers are this batch's to record), else ""."""

    def __init__(self, folder: Path):
        self.path, self.handle, self.killed = folder / BATCH_LOCK, None, ""

    def __enter__(self):
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise BatchLocked(f"another batch is writing to {in_terminal(self.path.parent)} ({holder}); "
                              "wait for it to end, or pass another --reports-dir") from None
        self.handle.seek(0)
        self.killed = self.handle.read().strip()
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%H:%M:%S')}: "
                          f"{' '.join(sys.argv)}\n")
        self.handle.flush()
        try:
            await_runs_of_a_killed_batch(self.path.parent, self.killed)
        except BaseException:   # refused, or Ctrl-C while waiting: the killed batch stays named for the next
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write(f"{self.killed}\n" if self.killed else "")
            self.handle.close()
            raise
        return self

    def __exit__(self, *exc):
        self.handle.truncate(0)   # ended cleanly: nothing for the next batch to tidy after it
        self.handle.close()       # releases the lock


def await_runs_of_a_killed_batch(folder: Path, killed: str) -> None:
    """Return once no run of an earlier batch holds ``folder``'s runs lock and no kernel of the
    batch that held the lock when it was killed (``killed``: its holder line) is left; they stop
    on their own, so wait, saying so once, and refuse (``BatchLocked``) if they do not."""
    holder = re.match(r"pid (\d+) on (\S+),", killed)
    killed_pid = int(holder[1]) if holder and holder[2] == socket.gethostname() else None
    deadline, said = time.monotonic() + RUNS_STOP_SECONDS, False
    with open(folder / RUNS_LOCK, "a") as handle:   # closing it lets this batch's runs share it
        while going := still_going(handle, killed_pid):
            if time.monotonic() > deadline:
                raise BatchLocked(f"runs of a batch that was killed still write to {in_terminal(folder)} "
                                  f"({going}) and did not stop; end them (kill, scancel), then run again")
            if not said:
                print(f"waiting for the runs of a killed batch to stop ({going})", file=sys.stderr, flush=True)
                said = True
            time.sleep(WATCH_SECONDS)


def still_going(runs_lock, killed_pid: int | None) -> str:
    """What of an earlier batch still runs, in words ("" when nothing): runs that hold the runs
    lock (``runs_lock``, an open file), or kernels of the killed batch ``killed_pid``."""
    try:
        fcntl.flock(runs_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return lock_holders(Path(runs_lock.name))
    if kernels := kernels_of(killed_pid) if killed_pid else []:
        fcntl.flock(runs_lock, fcntl.LOCK_UN)
        return f"kernels, pids {', '.join(map(str, kernels))}"
    return ""


def lock_holders(path: Path) -> str:
    """The processes on this machine that hold ``path`` locked, as words ("pids 12, 34"), from
    /proc/locks; holders on other machines (Slurm jobs) show there as none."""
    inode = str(path.stat().st_ino)
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        lines = []
    pids = sorted({fields[4] for line in lines if len(fields := line.split()) > 5 and
                   fields[5].rsplit(":", 1)[-1] == inode})
    return f"pids {', '.join(pids)}" if pids else "jobs on other machines"


def kernels_of(pid: int) -> list[int]:
    """The Jupyter kernels on this machine that process ``pid`` started (jupyter_client names
    their parent in ``JPY_PARENT_PID``)."""
    needle, found = f"\0JPY_PARENT_PID={pid}\0".encode(), []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if needle in b"\0" + Path(f"/proc/{entry}/environ").read_bytes() and process_start(int(entry)):
                found.append(int(entry))
    return found


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), so that a reused pid
    is not mistaken for it; None when there is no such process or it has ended (a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def process_space() -> str:
    """Which processes this one sees by pid: its machine (this boot of its kernel) and its pid
    namespace; a host name does not tell (Slurm may run jobs under another on the same machine)."""
    return f"{Path('/proc/sys/kernel/random/boot_id').read_text().strip()} {os.readlink('/proc/self/ns/pid')}"


@dataclass(frozen=True)
class Lifeline:
    """What a job needs to tell whether its batch still runs, and the folder it writes to."""

    host: str
    pid: int
    started: str          # process_start(pid)
    space: str            # process_space() of the batch
    heartbeat: str        # a file the batch touches every HEARTBEAT_SECONDS (for jobs on other machines)
    folder: str           # the reports folder, whose runs lock the job holds

    @classmethod
    def of_this_process(cls, heartbeat: Path, folder: Path) -> "Lifeline":
        return cls(host=socket.gethostname(), pid=os.getpid(), started=process_start(os.getpid()),
                   space=process_space(), heartbeat=str(heartbeat), folder=str(folder))

    def alive(self) -> bool:
        """Whether the batch still runs: where its process is in sight, at once from its pid and
        start; elsewhere, whether its heartbeat moves within HEARTBEAT_STALE_SECONDS (waiting
        for it)."""
        if self.space == process_space():
            return process_start(self.pid) == self.started
        try:
            last = heartbeat_time(self.heartbeat)
            deadline = time.monotonic() + HEARTBEAT_STALE_SECONDS
            while time.monotonic() < deadline:
                time.sleep(WATCH_SECONDS)
                if heartbeat_time(self.heartbeat) != last:
                    return True
        except OSError:   # removed: a later batch tidied the folder
            pass
        return False


def heartbeat_time(path: str) -> int:
    """When the heartbeat file was last touched, as its file system says now (opening it makes
    a network file system look again instead of answering from its cache)."""
    with open(path, "rb") as handle:
        return os.fstat(handle.fileno()).st_mtime_ns


class Heartbeat:
    """The batch's heartbeat for its jobs on other machines: ``path`` touched every
    HEARTBEAT_SECONDS by a thread, from entering the block until leaving it."""

    def __init__(self, path: Path):
        self.path, self.stopped = Path(path), threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)

    def beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()


# ------------------------------------------------------------------------ in a job's process
_followed: Lifeline | None = None    # this job's batch, once it follows it
_held = []                            # the runs lock's file, kept open while the process lives
_putting_in_place = threading.Lock()  # held while this process puts an attempt in place


def follow_batch(lifeline: Lifeline) -> None:
    """In a job: hold the folder's runs lock, and stop this process as soon as its batch is gone
    (at once if it is gone already: a Slurm job that started after its batch was killed)."""
    global _followed
    if not lifeline.alive():
        stop_orphan(lifeline)
    try:
        handle = open(Path(lifeline.folder) / RUNS_LOCK, "a")
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        _held.append(handle)
    except BlockingIOError:   # a later batch holds it: this one is gone
        stop_orphan(lifeline)
    except OSError:           # a file system without locks: the watch alone stops the run
        pass
    _followed = lifeline
    threading.Thread(target=watch, args=(lifeline,), daemon=True).start()


def watch(lifeline: Lifeline) -> None:
    while lifeline.alive():
        time.sleep(WATCH_SECONDS)
    with _putting_in_place:   # an attempt being put in place is completed first
        stop_orphan(lifeline)


@contextlib.contextmanager
def putting_in_place():
    """The block puts an attempt in place: a job whose batch is gone stops before it (never
    replacing a report for a batch that is gone), and not half-way through it."""
    with _putting_in_place:
        if _followed is not None and not _followed.alive():
            stop_orphan(_followed)
        yield


def stop_orphan(lifeline: Lifeline):
    """End this job's process now, its kernel (a child, leading its own process group) first:
    its batch is gone. Its stage stays for the next batch to record."""
    with contextlib.suppress(OSError):   # the job's log may be on a full disk
        print(f"the batch (pid {lifeline.pid} on {lifeline.host}) is gone: this run stops", flush=True)
    for pid in children():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    os._exit(ORPHAN_EXIT)


def children() -> list[int]:
    """This process's child processes (those of each of its threads)."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in (task / "children").read_text().split()]
    return found
