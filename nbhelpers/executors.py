"""Where the batch's notebook runs execute: one after another here (the default), several at
once on this machine, or as Slurm jobs (issue 14: submitit).

The unit of work is a ``Task``: one notebook for one seed and profile, run by
``pipeline.run_one`` (which stages, executes, renders and records it and returns its index row).
A task starts only after the tasks it ``after`` names have ended (04 and 05 of a seed after 03
of that seed; the summary after everything).
"""
from dataclasses import dataclass, field


@dataclass
class Task:
    key: tuple                  # (stem, seed): seed None for the summary
    stem: str
    seed: int | None
    params: dict
    profile: str
    label: str                  # "[3/16]" in the terminal
    after: list = field(default_factory=list)   # keys of the tasks that must end first


@dataclass
class Options:
    executor: str = "local"     # local | slurm
    jobs: int = 1               # local: notebook runs at once
    slurm_partition: str | None = None
    slurm_gpus_per_job: int = 0
    slurm_time: int = 60        # minutes per job
    slurm_account: str | None = None


def run_tasks(tasks: list[Task], options: Options, run_one) -> list[dict]:
    """Run every task (``run_one(stem, seed, params, profile, label) -> row``) respecting
    ``after``; the rows in task order."""
    if options.executor != "local" or options.jobs != 1:
        raise NotImplementedError("parallel and Slurm execution: issue 14")
    return [run_one(t.stem, t.seed, t.params, t.profile, t.label) for t in tasks]
