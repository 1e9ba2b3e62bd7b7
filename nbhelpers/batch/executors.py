"""Where the batch's notebook runs execute: one after another in this process (``--jobs 1``),
several at once on this machine (``--jobs N``, by default one per core on CPU), or as Slurm
jobs (``--executor slurm``), through submitit.

The unit of work is a ``plan.Task``, run by an ``execute_task(task, attempt) -> IndexRow``
(``task.execute_task``: it stages, executes, renders and records the run as attempt
``attempt``, an id this process gives it: ``attempts.new_attempt``). A task starts only
after the tasks it ``after`` names have ended, whatever their outcome (04 and 05 of a seed after
03 of that seed; the summary after everything). Of the tasks ready together, the one heading the longest
expected chain starts first (``order``).

Several at once or on Slurm, each run is a submitit job: a process of its own that calls
``run_job`` (module-level, so that submitit pickles it by reference) with the variables it is
given: the batch's (its ``environment.BatchContext`` and reports folder) and the run's share of
the machine. This process submits the ready tasks, polls the jobs' states and prints one line
per change (queued, running, its outcome, with the job's log), and reads back each job's row. A
job that ended without one (killed, cancelled, out of memory) is recorded as a failed run
(``record_lost``), from what its attempt left: its stage, or its record, known by the attempt's
id that the record carries (never by a file's time). Ctrl-C, or a run that found the disk full,
cancels every job still going (submitit: SIGINT locally, ``scancel`` on Slurm), says which,
records them as interrupted and re-raises. A job never outlives the batch: it follows the batch's ``lock.Lifeline`` and stops
when the batch is gone, however it ended (``lock`` says how).

Threads. A CPU run's floats depend on how many threads computed them (torch's reductions, MKL
and oneDNN split their work by thread count: a loss can differ in its last digits between one
thread and two). So that a notebook, seed and profile give the same numbers whichever executor
ran them, every run on CPU computes with ``CPU_THREADS`` threads, sequential or not, and
parallelism comes from running several at once (``--jobs`` at most the cores). Runs on a GPU
get ``cores // jobs`` threads and, locally, a GPU each (round-robin over the visible ones).
"""
import contextlib
import dataclasses
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from nbhelpers.batch import attempts
from nbhelpers.batch.execute import is_notebook_line
from nbhelpers.batch.index import IndexRow
from nbhelpers.batch.kernel import kernel_environment
from nbhelpers.batch.lock import Heartbeat, Lifeline, follow_batch
from nbhelpers.batch.order import chain_seconds, expected_seconds
from nbhelpers.batch.plan import Task
from nbhelpers.batch.slurm import QUEUED_STATES, RUNNING_STATES, slurm_job_class, slurm_phase
from nbhelpers.batch.stopping import uninterrupted
from nbhelpers.batch.task import BatchInterrupted, OutOfSpace
from nbhelpers.paths import in_terminal, profile_folder, report_name
from nbhelpers.report.parameters import ParameterError

CPU_THREADS = 1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
LOCAL_TIME_LIMIT_MIN = 10 * 24 * 60   # submitit's local jobs time out (2 minutes by default); ours do not
POLL_SECONDS = {"local": 1.0, "slurm": 5.0}
CANCEL_WAIT_SECONDS = 60              # after Ctrl-C, how long the cancelled jobs get to end
JOBS = ".jobs"                        # <profile>/.jobs/<batch>/: a batch's job files and logs


@dataclass
class Options:
    executor: str = "local"     # local | slurm
    jobs: int = 1               # local: notebook runs at once
    slurm_partition: str | None = None
    slurm_gpus_per_job: int = 0
    slurm_time: int = 60        # minutes per job
    slurm_account: str | None = None


def cores() -> int:
    """CPU cores this process may use (its affinity: a cgroup or taskset limit counts)."""
    return len(os.sched_getaffinity(0))


def local_gpus() -> list[str]:
    """The GPUs this process sees, as CUDA_VISIBLE_DEVICES entries for its jobs."""
    import torch  # heavy: only to count the GPUs
    count = torch.cuda.device_count()
    listed = [entry.strip() for entry in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    return listed[:count] if listed else [str(index) for index in range(count)]


def on_cpu(task: Task, gpus: int) -> bool:
    """Whether the run computes on CPU where it runs with ``gpus`` GPUs."""
    device = str(task.params.get("device", "auto"))
    return device == "cpu" or (device == "auto" and gpus == 0)


def default_jobs(tasks: list[Task]) -> int:
    """Runs at once when ``--jobs`` is not given: one per core when any run computes on CPU
    (each with ``CPU_THREADS``), else one (a GPU)."""
    on_a_cpu = any(on_cpu(task, len(local_gpus())) for task in tasks)
    return max(1, cores() // CPU_THREADS) if on_a_cpu else 1


def threads(count: int) -> dict:
    return {name: str(count) for name in THREAD_VARIABLES}


def check_options(options: Options, tasks: list[Task]) -> None:
    """A ParameterError naming the problem, before anything starts."""
    if options.executor == "slurm":
        missing = [tool for tool in ("sbatch", "srun", "sacct", "scancel") if shutil.which(tool) is None]
        if missing:
            raise ParameterError(f"--executor slurm needs Slurm's {', '.join(missing)} on PATH; "
                                 "run it on a machine that submits to the cluster (a login node)")
        if options.jobs != 1:
            raise ParameterError("--jobs is for --executor local; on Slurm the cluster decides how many run at once")
        if options.slurm_time < 1 or options.slurm_gpus_per_job < 0:
            raise ParameterError(f"--slurm-time must be at least 1 minute and --slurm-gpus-per-job at least 0, "
                                 f"got {options.slurm_time} and {options.slurm_gpus_per_job}")
    elif options.jobs > cores() and any(on_cpu(task, len(local_gpus())) for task in tasks):
        raise ParameterError(f"--jobs {options.jobs}: this machine has {cores()} CPU cores and each run on CPU "
                             f"computes with {CPU_THREADS} thread(s); use --jobs {cores() // CPU_THREADS} or fewer")


def resources(task: Task, options: Options, slot: int, gpus: list[str]) -> dict:
    """Environment variables that give a run its share of this machine (``slot``: which of the
    ``options.jobs`` places it takes) or, on Slurm, of its allocation."""
    if options.executor == "slurm":   # Slurm sets CUDA_VISIBLE_DEVICES; threads: see run_job
        return threads(CPU_THREADS) if on_cpu(task, options.slurm_gpus_per_job) else {}
    if on_cpu(task, len(gpus)):
        return threads(CPU_THREADS)
    return {**threads(max(1, cores() // options.jobs)), "CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)]}


def run_job(task: Task, variables: dict, execute_task, attempt: str) -> IndexRow:
    """One notebook run, attempt ``attempt``, with ``variables`` set for it and its kernel; its
    row. What a job executes (also in this process when the batch runs one at a time)."""
    if not set(THREAD_VARIABLES) & set(variables) and "SLURM_CPUS_ON_NODE" in os.environ:
        variables = {**variables, **threads(int(os.environ["SLURM_CPUS_ON_NODE"]))}   # a GPU job: its CPUs
    with kernel_environment(variables):
        return execute_task(task, attempt)


def interrupt_once(signum, frame):
    """A job's Ctrl-C: the first stops its run; later ones (the batch cancelling it) are ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_in_job(task: Task, variables: dict, execute_task, lifeline: Lifeline, attempt: str) -> IndexRow:
    """``run_job`` as a submitit job runs it, for as long as its batch (``lifeline``) runs: its
    job controller ignores Ctrl-C (``Batch.submit``), the run itself stops at the first; an
    interrupted run, or one that found the disk full, returns its row (recorded), so that
    submitit has no error to print and the batch decides."""
    follow_batch(lifeline)
    signal.signal(signal.SIGINT, interrupt_once)
    try:
        return run_job(task, variables, execute_task, attempt)
    except (BatchInterrupted, OutOfSpace) as stopped:
        return stopped.row
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # the row goes back whatever comes now


def job_processes(job) -> list[int]:
    """A local job's processes: the children of its submitit controller (whose pid is the job id)."""
    try:
        return [int(pid) for pid in Path(f"/proc/{job.job_id}/task/{job.job_id}/children").read_text().split()]
    except (OSError, ValueError):
        return []


@contextlib.contextmanager
def controllers_ignore_ctrl_c():
    """SIGINT ignored while local jobs are started, so that their submitit controllers inherit
    it ignored: Ctrl-C in the terminal reaches the runs, never a controller (it would print a
    traceback and kill its run a second later, half-way through putting it in place)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def run_tasks(tasks: list[Task], options: Options, execute_task, variables: dict, batch: str) -> list[IndexRow]:
    """Run every task (``execute_task(task, attempt) -> IndexRow``) respecting ``after``, each
    with the batch's ``variables`` (``BatchContext.variables()``, the reports folder) as an
    attempt of batch ``batch`` (``attempts.new_batch``); the rows in task order."""
    gpus = local_gpus() if options.executor == "local" else []
    if options.executor == "local" and options.jobs == 1:
        return [run_job(task, {**variables, **resources(task, options, 0, gpus)}, execute_task,
                        attempts.new_attempt(batch)) for task in tasks]
    return Batch(tasks, options, execute_task, variables, gpus, batch).run()


class Running(NamedTuple):
    """A submitted task: its job, its slot (its GPU, locally), when and as which attempt."""
    task: Task
    job: object
    slot: int
    submitted: float
    attempt: str


class Batch:
    """The tasks as submitit jobs: submitted when their ``after`` tasks have ended (locally at
    most ``options.jobs`` at once, each in a slot that decides its GPU), polled until all ended."""

    def __init__(self, tasks: list[Task], options: Options, execute_task, variables: dict, gpus: list[str],
                 batch: str):
        import submitit  # optional: only when runs go to jobs
        self.tasks, self.options, self.execute_task, self.variables = tasks, options, execute_task, variables
        self.gpus, self.slurm, self.batch = gpus, options.executor == "slurm", batch
        out_dir = profile_folder(tasks[0].profile, tasks[0].batch.dry_run)
        self.folder = out_dir / JOBS / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.lifeline = Lifeline.of_this_process(self.folder / "heartbeat", out_dir)
        if self.slurm:
            self.executor = submitit.SlurmExecutor(folder=self.folder)
            self.executor.job_class = slurm_job_class()
            requests = {"gpus_per_node": options.slurm_gpus_per_job} if options.slurm_gpus_per_job else {"cpus_per_task": CPU_THREADS}
            optional = {"partition": options.slurm_partition, "account": options.slurm_account}
            self.executor.update_parameters(job_name="nbhelpers", time=options.slurm_time, stderr_to_stdout=True,
                                            **requests, **{k: v for k, v in optional.items() if v is not None})
        else:
            self.executor = submitit.LocalExecutor(folder=self.folder)
            self.executor.update_parameters(timeout_min=LOCAL_TIME_LIMIT_MIN, stderr_to_stdout=True)
        self.pending = list(tasks)
        self.chain = chain_seconds(tasks, expected_seconds(tasks))   # the longest chain starts first
        self.running: dict[tuple, Running] = {}   # by task key
        self.rows, self.shown, self.echoed = {}, {}, {}

    def run(self) -> list[IndexRow]:
        try:
            with Heartbeat(Path(self.lifeline.heartbeat)):
                while self.pending or self.running:
                    self.submit_ready()
                    time.sleep(POLL_SECONDS[self.options.executor])
                    self.poll()
        except (KeyboardInterrupt, OutOfSpace) as stopped:
            stopped.cancelled = self.cancel()
            raise
        return [self.rows[task.key] for task in self.tasks]

    def submit_ready(self) -> None:
        ready = sorted((t for t in self.pending if all(key in self.rows for key in t.after)),
                       key=lambda t: -self.chain[t.key])
        if not self.slurm:
            free = [slot for slot in range(self.options.jobs) if slot not in {r.slot for r in self.running.values()}]
            ready = ready[:len(free)]
        else:
            free = [0] * len(ready)
        if not ready:
            return
        submissions = [(task, slot, {**self.variables, **resources(task, self.options, slot, self.gpus)},
                        attempts.new_attempt(self.batch)) for task, slot in zip(ready, free)]
        if self.slurm:
            with self.executor.batch():   # one job array for the tasks that became ready together
                jobs = [self.executor.submit(run_in_job, task, variables, self.execute_task, self.lifeline, attempt)
                        for task, _, variables, attempt in submissions]
        else:
            with controllers_ignore_ctrl_c():
                jobs = [self.executor.submit(run_in_job, task, variables, self.execute_task, self.lifeline, attempt)
                        for task, _, variables, attempt in submissions]
        for (task, slot, _, attempt), job in zip(submissions, jobs):
            self.pending.remove(task)
            self.running[task.key] = Running(task, job, slot, time.time(), attempt)
            self.show(task, job, "queued" if self.slurm else "running")

    def show(self, task: Task, job, phase: str) -> None:
        if self.shown.get(task.key) != phase:
            self.shown[task.key] = phase
            print(f"{task.label} {task.where}: {phase} (job {job.job_id}, log {in_terminal(job.paths.stdout)})", flush=True)

    def phase(self, job) -> str:
        """queued, running or ended."""
        if job.paths.result_pickle.exists():
            return "ended"
        if not self.slurm:
            return "running" if job.state == "RUNNING" else "ended"
        return slurm_phase(job.watcher.get_state(job.job_id, mode="cache"), Path(job.paths.stdout).exists())

    def echo(self, task: Task, job) -> None:
        """Show what a job printed since the last poll about its notebook (its cells' progress
        and progress lines, as a run one at a time shows them in the terminal)."""
        path = Path(job.paths.stdout)
        if not path.exists():
            return
        with open(path, "rb") as handle:
            handle.seek(self.echoed.get(task.key, 0))
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]          # whole lines only; the rest next time
        self.echoed[task.key] = self.echoed.get(task.key, 0) + len(complete)
        for line in complete.decode(errors="replace").splitlines():
            if is_notebook_line(line):             # the job's own status lines are ours to print
                print(line, flush=True)

    def poll(self) -> None:
        if self.slurm and self.running:
            self.executor.job_class.watcher.update()   # one sacct call for every job
        for key, running in list(self.running.items()):
            task, job = running.task, running.job
            self.echo(task, job)
            phase = self.phase(job)
            if phase != "ended":
                self.show(task, job, phase)
                continue
            del self.running[key]
            row = self.outcome(running, "failed")
            self.rows[key] = row
            print(f"{task.label} {task.where}: {row.status} in {row.seconds:.0f} s"
                  f"{' | ' + row.error if row.error else ''}", flush=True)
            if attempts.disk_full_in(row.error):
                raise OutOfSpace(row)

    def outcome(self, running: Running, status: str, wait: bool = True) -> IndexRow:
        """The row the job returned, or (it returned none) its run recorded as ``status``. On
        Slurm ``wait`` lets a slow shared file system show the result (submitit waits 15 s)."""
        from submitit.core.utils import FailedJobError, UncompletedJobError  # optional, as in __init__
        task, job = running.task, running.job
        ended = self.phase(job) == "ended"   # then none of its processes finishes the attempt any more
        if job.paths.result_pickle.exists() or (self.slurm and wait):
            try:
                row = job.result()
                state = job.state.split()[0] if self.slurm else "COMPLETED"
                if row.status != "ok" and state not in QUEUED_STATES | RUNNING_STATES | {"COMPLETED"}:
                    row = dataclasses.replace(row, error=f"{row.error} [Slurm job {job.job_id}: {state}]")   # e.g. scancel
                return row
            except UncompletedJobError:
                pass
            except FailedJobError as error:   # the job raised: the last line of its traceback says why
                trace = str(error).split("-" * 22)[1].strip().splitlines() if "-" * 22 in str(error) else ["?"]
                return record_lost(task, status, f"job {job.job_id} raised {trace[-1]}", running, ended)
        how = f"ended {job.state}" if self.slurm else "was killed or interrupted"
        return record_lost(task, status, f"job {job.job_id} {how} before its run finished", running, ended)

    def cancel(self) -> str:
        """Ctrl-C: cancel every job still going (locally its run gets SIGINT, as from the
        terminal: a second one is ignored), record each as interrupted; what was cancelled."""
        with uninterrupted():   # a further Ctrl-C: the cancelling goes on
            return self.cancel_jobs()

    def interrupt(self, job) -> bool:
        """SIGINT to a local job's run (its controller ignores it); whether it had one."""
        processes = [] if self.slurm or self.phase(job) == "ended" else job_processes(job)
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        return bool(processes)

    def cancel_jobs(self) -> str:
        going = list(self.running.values())
        for running in going:
            if not self.interrupt(running.job):
                running.job.cancel(check=False)
        cancelled = (f"cancelled {len(going)} running job(s) with {'scancel' if self.slurm else 'SIGINT'}: "
                     + ", ".join(f"{r.task.where} [job {r.job.job_id}]" for r in going) if going
                     else "no job was running") + (f"; {len(self.pending)} not started" if self.pending else "")
        deadline = time.time() + CANCEL_WAIT_SECONDS
        while time.time() < deadline:
            if self.slurm:
                self.executor.job_class.watcher.update()
            if all(self.phase(r.job) == "ended" for r in going):
                break
            for running in going:   # again: a job still starting up ignores it (Batch.submit_ready)
                self.interrupt(running.job)
            time.sleep(1)
        for running in going:
            self.rows[running.task.key] = self.outcome(running, "interrupted", wait=False)
        return cancelled


def record_lost(task: Task, status: str, error: str, running: Running, ended: bool) -> IndexRow:
    """The row of a run whose job returned none (killed, cancelled, out of memory), its attempt
    (``running.attempt``) recorded as ``status`` so that the index shows it: from its stage
    (notebook and log so far, marked, rendered and moved to unfinished/; a move into place it
    began, completed), else the record it put in place (known by its attempt's id, whatever
    the file's time; kept if it says ok or failed), else a bare record in unfinished/. A job
    that has ``ended`` finishes nothing any more: its stage is taken over at once."""
    folder, name, attempt = task.folder, report_name(task.stem), running.attempt
    unfinished, seconds = folder / attempts.UNFINISHED, time.time() - running.submitted
    wait = 0 if ended else attempts.FINISH_WAIT_SECONDS
    if stage := attempts.stage_of(folder, task.stem, attempt):
        record, _ = attempts.finish_attempt(task.stem, task.profile, stage, status, error, seconds, wait=wait)
    elif placed := attempts.placed(folder, task.stem, attempt):
        path, record = placed
        if record.get("status") not in ("ok", "failed"):
            record = attempts.mark_outcome(path, task.stem, task.profile, status, error, seconds)
    else:
        attempts.discard(unfinished, task.stem)
        unfinished.mkdir(parents=True, exist_ok=True)
        record = attempts.mark_outcome(unfinished / f"{name}.metrics.json", task.stem, task.profile, status, error,
                                       seconds, attempt=attempt)
    return IndexRow.from_record(task.stem, task.seed, record, status=status, seconds=seconds, error=error)
