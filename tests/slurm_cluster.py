"""A real single-node Slurm cluster on 127.0.0.1, for tests, from Debian's packages.

Why: notebook runs are to be sent to Slurm through submitit, which drives the real command-line
tools (sbatch, squeue, sacct, scancel). A mock would not show how those behave, so the tests start
a throwaway cluster instead: one controller, one compute node with the machine's real CPUs and
memory, one default partition.

What runs, each as root (we are root, and slurmd must be), each in the foreground as a child of
this process, with every file it reads or writes in one temporary folder (no system configuration
in /etc/slurm, /etc/munge or /etc/mysql is read or touched; the only path the config names outside
that folder is /bin/true):

  munged     authentication between all the others; its own key, socket, pid, log and seed files
  mariadbd   a throwaway accounting database (no privilege tables, see _mariadbd_args)
  slurmdbd   the accounting daemon: submitit learns a job's state from `sacct`, which only works
             with slurmdbd, and without it a job cancelled with scancel would look "UNKNOWN"
             forever instead of CANCELLED
  slurmctld  the controller
  slurmd     the compute node

All listen on 127.0.0.1 only, on ports chosen free. Slurm binds to "any address" unless
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny, and then binds to the address that the
host *name* resolves to, which on some machines is a LAN address. So each Slurm daemon runs in
its own UTS namespace (`unshare --uts`, hostname "localhost"): same network, same processes,
only the host name differs, and it resolves to 127.0.0.1 everywhere. Job steps (srun inside a
job, which submitit uses) inherit that and listen on 127.0.0.1 too. Run srun or salloc by hand
only inside a job, not from the test process.

Use:

    with local_slurm() as env:           # env: os.environ without SLURM_* plus SLURM_CONF
        subprocess.run(["sbatch", "--wait", "job.sh"], env=env, check=True)

or by hand, `python tests/slurm_cluster.py`: prints the SLURM_CONF to export; Ctrl-C stops it.

Teardown (also when start-up fails): cancel every job and wait for the queue to drain, SIGTERM
each daemon's process group in reverse start order (SIGKILL after a grace period), SIGKILL any
process still marked as this cluster's (a job step or job left by a killed slurmd), then remove
the temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

# Daemons come from /usr/sbin, which a non-login PATH may lack.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "sdiag", "sacct", "sacctmgr", "unshare",
           "hostname")
# Environment variables that would steer the clients or jobs away from this cluster (set when the
# tests themselves run inside a Slurm job, or by a user's shell).
_FOREIGN_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SACCT_", "SINFO_", "SCANCEL_")
# Set in the daemons' environment (their helpers inherit it) to find leftovers at teardown.
_MARK = "LOCAL_SLURM_ROOT"


class LocalSlurmError(RuntimeError):
    """The local cluster could not be started (the message carries the daemons' log tails)."""


def _which(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def unavailable_reason() -> str | None:
    """Why a local cluster cannot run on this machine, or None when it can (used to skip tests)."""
    missing = [name for name in DAEMONS + CLIENTS if _which(name) is None]
    if missing:
        return ("local Slurm cluster: programs not installed: " + ", ".join(missing)
                + " (Debian packages listed in .ci/debian-packages)")
    if os.geteuid() != 0:
        return "local Slurm cluster: needs root (slurmd launches jobs; unshare --uts needs CAP_SYS_ADMIN)"
    return None


def point_tests_at(env: dict, monkeypatch) -> None:
    """Make this process's environment exactly ``env`` for one test (pytest's ``monkeypatch``
    restores it): submitit runs sbatch and sacct with the process's own environment."""
    for key in [key for key in os.environ if key not in env]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now (all held open until all are picked)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(unreadable: {error})"
    return "\n".join(text[-lines:]) or "(empty)"


class LocalSlurm:
    """One cluster in `root` (an empty folder it owns and removes): start(), env, stop()."""

    cluster_name = "localslurm"
    node_name = "localnode"
    partition = "debug"

    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "slurm.conf"
        self.logs = root / "log"
        self.munge_dir = root / "munge"            # 0700: key, pid, log, seed
        self.munge_socket = root / "munge.socket"  # its folder must be searchable by all
        ctld, slurmd, dbd, db = _free_ports(4)
        self.ports = {"slurmctld": ctld, "slurmd": slurmd, "slurmdbd": dbd, "mariadbd": db}
        self.procs: dict[str, subprocess.Popen] = {}
        base = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
        #: Environment for clients (sbatch, sacct, submitit's calls): points them at this cluster.
        self.env = {**base, "SLURM_CONF": str(self.conf)}
        self._daemon_env = {**self.env, _MARK: str(root)}

    # -- configuration -------------------------------------------------------------------------

    def _node_hardware(self) -> str:
        """CPUs, sockets, cores, threads and RealMemory as `slurmd -C` reads them off this machine
        (a node configured with more than it has would be drained; with less, jobs would see less)."""
        out = subprocess.run([_which("slurmd"), "-C"], env=self._daemon_env, capture_output=True,
                             text=True, timeout=30, check=True).stdout
        first = out.splitlines()[0].split()
        return " ".join(word for word in first if not word.startswith("NodeName="))

    def _slurm_conf(self) -> str:
        r, p = self.root, self.ports
        return f"""\
# Written by tests/slurm_cluster.py for one test run; everything lives in {r}.
ClusterName={self.cluster_name}
# The controller is this machine; "localhost" also passes slurmctld's is-this-me check.
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={p["slurmctld"]}
SlurmdPort={p["slurmd"]}
# Bind to what the host name resolves to (localhost: see the module docstring), not to any address.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
# We run as root; no service account to create.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={self.logs}/slurmctld.log
SlurmdLogFile={self.logs}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Without this Slurm reads the system's /etc/slurm/plugstack.conf (SPANK plugins).
PlugStackConfig={r}/plugstack.conf
# The default mail program is absent here; jobs never ask for mail.
MailProg=/bin/true
# No cgroups (containers often have no writable cgroup tree): track job processes through
# /proc parentage, bind no tasks to CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# Cores are the consumable resource, not memory: with the default CR_Core_Memory a job that
# asks for no memory gets the whole node's, and jobs (array tasks) would run one at a time.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
# A node that was down comes back by itself when its slurmd registers with a valid config.
ReturnToService=2
# Seconds between SIGTERM and SIGKILL when a job is cancelled (default 30): submitit's job
# process ignores SIGTERM (it treats it as preemption), so this is how long scancel takes.
KillWait=2
# Start a batch job as soon as it is submitted (by default that may wait up to 3 s).
SchedulerParameters=batch_sched_delay=0
# Accounting through slurmdbd, because sacct (and so submitit's job states) needs it. The
# connection to slurmdbd authenticates with munge through the socket named in the "Pass".
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={p["slurmdbd"]}
AccountingStoragePass={self.munge_socket}
JobCompType=jobcomp/none
NodeName={self.node_name} NodeHostname=localhost NodeAddr=127.0.0.1 {self._node_hardware()} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node_name} Default=YES MaxTime=INFINITE State=UP
"""

    def _slurmdbd_conf(self) -> str:
        r, p = self.root, self.ports
        return f"""\
# Written by tests/slurm_cluster.py. slurmdbd reads it from the folder of SLURM_CONF.
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={p["slurmdbd"]}
CommunicationParameters=NoInAddrAny
SlurmUser=root
PidFile={r}/slurmdbd.pid
LogFile={self.logs}/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={p["mariadbd"]}
StorageUser=root
StorageLoc=slurm_acct_db
"""

    def _write_files(self) -> None:
        # munged refuses a socket in a folder that others cannot search (mkdtemp gives 0700).
        self.root.chmod(0o755)
        for sub in ("state", "spool", "log", "db", "db-tmp"):
            (self.root / sub).mkdir()
        self.munge_dir.mkdir(mode=0o700)
        # A munge key is just random bytes (mungekey writes 128 of them), readable by its owner only.
        fd = os.open(self.munge_dir / "munge.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as key:
            key.write(os.urandom(128))
        (self.root / "plugstack.conf").write_text("")
        self.conf.write_text(self._slurm_conf())
        dbd_conf = self.root / "slurmdbd.conf"
        dbd_conf.write_text(self._slurmdbd_conf())
        dbd_conf.chmod(0o600)  # slurmdbd insists: it may hold the database password

    # -- daemons -------------------------------------------------------------------------------

    def _munged_args(self) -> list[str]:
        """Every path munged would otherwise take from /etc/munge, /run/munge or /var/lib/munge.
        In the foreground munged logs to stderr (log/munged.out); --log-file is given anyway so
        that no path at all falls back to a system default."""
        m = self.munge_dir
        return [_which("munged"), "--foreground", f"--key-file={m}/munge.key",
                f"--socket={self.munge_socket}", f"--pid-file={m}/munged.pid",
                f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"]

    def _mariadbd_args(self) -> list[str]:
        """A fresh, empty data folder, not prepared by mariadb-install-db (which would need the
        client package, and seconds): InnoDB creates itself, and as there are no privilege tables,
        --skip-grant-tables lets slurmdbd (as "root", no password) create its database. Fine for
        a database that lives for one test run and listens on 127.0.0.1 only."""
        r = self.root
        return [_which("mariadbd"), "--no-defaults",  # read no /etc/mysql option files
                f"--datadir={r}/db", f"--tmpdir={r}/db-tmp", f"--socket={r}/mariadb.sock",
                f"--pid-file={r}/mariadbd.pid",  # no --log-error: it logs to stderr, log/mariadbd.out
                "--bind-address=127.0.0.1", f"--port={self.ports['mariadbd']}",
                "--user=root", "--skip-grant-tables", "--skip-name-resolve",
                # at least what slurmdbd checks for at start-up (it logs an error below them);
                # the buffer pool is address space, touched only as far as it is used
                "--innodb-buffer-pool-size=512M", "--innodb-log-file-size=64M",
                "--innodb-lock-wait-timeout=900"]

    def _spawn(self, name: str, args: list[str], own_hostname: bool = False) -> None:
        if own_hostname:  # see the module docstring: makes NoInAddrAny mean 127.0.0.1
            args = [_which("unshare"), "--uts", "sh", "-c", 'hostname localhost && exec "$0" "$@"', *args]
        with open(self.logs / f"{name}.out", "wb") as out:
            # Own session and process group: stop() signals the daemon with all its children.
            self.procs[name] = subprocess.Popen(args, env=self._daemon_env, cwd=self.root,
                                                stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def _wait(self, name: str, ready: Callable[[], bool], deadline: float, what: str) -> None:
        while True:
            code = self.procs[name].poll()
            if code is not None:
                raise LocalSlurmError(f"{name} exited with code {code} before {what}\n{self.log_tails()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise LocalSlurmError(f"timed out waiting until {what}\n{self.log_tails()}")
            time.sleep(0.2)

    def _client(self, *args: str) -> str | None:
        """stdout of a Slurm client command, or None when it fails or hangs."""
        try:
            done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return None
        return done.stdout if done.returncode == 0 else None

    def start(self, timeout: float = 60.0) -> None:
        """Start every daemon in dependency order; return once the node is idle and the cluster
        is registered for accounting, or raise LocalSlurmError within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self._write_files()
        p = self.ports
        self._spawn("munged", self._munged_args())
        self._wait("munged", self.munge_socket.exists, deadline, "munged created its socket")
        self._spawn("mariadbd", self._mariadbd_args())
        self._wait("mariadbd", lambda: _port_open(p["mariadbd"]), deadline, "mariadbd listens")
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"], own_hostname=True)
        clusters = ("sacctmgr", "-n", "-P", "list", "cluster", "format=cluster")
        self._wait("slurmdbd", lambda: self._client(*clusters) is not None, deadline, "slurmdbd answers")
        self._spawn("slurmctld", [_which("slurmctld"), "-D"], own_hostname=True)
        self._wait("slurmctld", lambda: "UP" in (self._client("scontrol", "ping") or ""),
                   deadline, "scontrol ping finds slurmctld up")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.node_name], own_hostname=True)
        node_state = ("sinfo", "-h", "-n", self.node_name, "-o", "%T")
        self._wait("slurmd", lambda: (self._client(*node_state) or "").strip() == "idle",
                   deadline, f"sinfo reports node {self.node_name} idle")
        # slurmctld adds the cluster to the accounting database by itself when it first connects.
        self._wait("slurmdbd", lambda: self.cluster_name in (self._client(*clusters) or "").split(),
                   deadline, f"sacctmgr lists cluster {self.cluster_name}")
        # The main scheduler first runs a few seconds after slurmctld starts; a job submitted
        # before that waits for it (and `sbatch --wait`, which polls ever more slowly, longer).
        self._wait("slurmctld", self._scheduler_has_run, deadline, "the scheduler has run once")

    def _scheduler_has_run(self) -> bool:
        found = re.search(r"Main schedule statistics.*?Total cycles:\s*(\d+)",
                          self._client("sdiag") or "", re.DOTALL)
        return bool(found and int(found.group(1)) > 0)

    def log_tails(self, lines: int = 20) -> str:
        """The last lines of what each daemon wrote to stderr (in the foreground, they all write
        everything there, also what comes before their log file is open), for error messages.
        Slurm's own log files stay beside them in log/ while the cluster runs."""
        return "\n".join(f"--- {path.name} ---\n{_tail(path, lines)}"
                         for path in sorted(self.logs.glob("*.out")))

    # -- teardown ------------------------------------------------------------------------------

    def _cancel_jobs(self, grace: float = 15.0) -> None:
        self._client("scancel", f"--partition={self.partition}")
        deadline = time.monotonic() + grace
        while (self._client("squeue", "-h", "-o", "%i") or "").strip() and time.monotonic() < deadline:
            time.sleep(0.3)

    @staticmethod
    def _terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # the group's other members, or a stuck leader
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _leftover_pids(self) -> list[int]:
        """Processes of this cluster still alive: daemons and their helpers (they carry the
        daemons' mark in their environment), job steps (slurmstepd overwrites its environment
        with its title, but keeps slurmd's working folder, the cluster's), and jobs (a job id
        and this cluster's SLURM_CONF in their environment). A shell that merely exported this
        SLURM_CONF, or looks at the logs from inside the folder, is left alone."""
        mark, conf = f"{_MARK}={self.root}".encode(), f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                variables = (entry / "environ").read_bytes().split(b"\0")
                is_step = ((entry / "cmdline").read_bytes().startswith(b"slurmstepd")
                           and Path(os.readlink(entry / "cwd")) == self.root)
            except OSError:
                continue
            in_job = conf in variables and any(v.startswith(b"SLURM_JOB_ID=") for v in variables)
            if mark in variables or is_step or in_job:
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """Stop everything this cluster started and remove its folder; safe to call after a
        failed or partial start."""
        try:
            ctld = self.procs.get("slurmctld")
            if ctld is not None and ctld.poll() is None:
                self._cancel_jobs()
        finally:
            for name in reversed(list(self.procs)):
                self._terminate(self.procs[name])
            for _ in range(20):
                pids = self._leftover_pids()
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def local_slurm(timeout: float = 60.0) -> Iterator[dict[str, str]]:
    """Run a local cluster for the duration of the block; yields the environment for clients
    (a copy of os.environ without SLURM_* and friends, plus SLURM_CONF). Raises LocalSlurmError
    when the programs are missing or the cluster does not come up within `timeout` seconds."""
    reason = unavailable_reason()
    if reason:
        raise LocalSlurmError(reason)
    base = tempfile.gettempdir()
    # Unix socket paths are limited to ~107 bytes; a long TMPDIR would break munge's.
    root = Path(tempfile.mkdtemp(prefix="local-slurm-", dir=base if len(base) <= 60 else "/tmp"))
    cluster = LocalSlurm(root)
    try:
        cluster.start(timeout)
        yield cluster.env
    finally:
        cluster.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the cluster on kill, too
    with local_slurm() as environment:
        print(f"export SLURM_CONF={environment['SLURM_CONF']}   # Ctrl-C stops the cluster", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    sys.exit(0)
