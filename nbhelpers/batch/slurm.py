"""Reading a Slurm job's state as the batch needs it (submitit's Slurm support does the rest).

sacct reads slurmdbd's records, which can trail the controller and list an array's pending
range after a task that already runs; the batch must still say "running" as soon as a job
runs (``slurm_phase``, ``slurm_job_class``)."""
# Slurm states (sacct) of a job that has not started yet, and of one that runs; any other has ended.
QUEUED_STATES = {"PENDING", "REQUEUED", "CONFIGURING", "RESIZING", "SUSPENDED", "UNKNOWN", "READY"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT"}


def slurm_phase(state: str, log_exists: bool) -> str:
    """queued, running or ended, from sacct's state and whether the job's log exists yet.

    On a busy machine (CI) a short job stayed pending in sacct until it ended. slurmd creates
    the job's log as it launches the job, so a log proves that a job sacct still calls pending
    (or does not list) runs."""
    state = state.split()[0].upper()
    if state in QUEUED_STATES:
        return "running" if log_exists and state in {"PENDING", "UNKNOWN"} else "queued"
    return "running" if state in RUNNING_STATES else "ended"


def slurm_job_class():
    """submitit's SlurmJob, with a watcher that trusts a task's own sacct line over its array's.

    While an array's first task runs, sacct can still list the pending range of the whole array
    after it ("4_0|RUNNING" then "4_[0-1%2]|PENDING"); submitit reads lines in order, so the
    running task would show as queued until it ended. Range lines are read first here."""
    from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob  # optional: only for --executor slurm

    class OwnLineFirst(SlurmInfoWatcher):
        def read_info(self, string):
            text = string if isinstance(string, str) else string.decode()
            header, *lines = text.splitlines() or [""]
            lines.sort(key=lambda line: "[" not in line.split("|")[0])   # stable: ranges, then the rest
            return super().read_info("\n".join([header, *lines]))

    class Job(SlurmJob):
        watcher = OwnLineFirst(delay_s=600)
    return Job
