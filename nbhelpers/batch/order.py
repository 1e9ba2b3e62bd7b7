"""Which of the runs that are ready together starts first: the one heading the longest
expected chain of runs that wait for it (``chain_seconds``), so that the critical path keeps
moving. How long a run should take comes from its profile's finished runs
(``records.typical_seconds``) or, before every notebook of the batch has one, from the measured
first guess in ``first_guess_seconds.yaml`` beside this file."""
from pathlib import Path

import yaml

from nbhelpers.batch.plan import Task
from nbhelpers.report.records import typical_seconds

FIRST_GUESS_FILE = Path(__file__).with_name("first_guess_seconds.yaml")


def first_guess_seconds() -> dict[str, float]:
    """Each notebook's expected seconds before a profile has timed its own runs."""
    return yaml.safe_load(FIRST_GUESS_FILE.read_text())


def expected_seconds(tasks: list[Task]) -> dict:
    """How long each task should take: its notebook's finished runs of this profile when every
    notebook of the batch has one, else the first guess."""
    timed = {task.key: typical_seconds(task.profile, task.stem, task.batch.dry_run) for task in tasks}
    if all(timed.values()):
        return timed
    guess = first_guess_seconds()
    return {task.key: guess.get(task.stem, 0) for task in tasks}


def chain_seconds(tasks: list[Task], expected: dict) -> dict:
    """For each task, the expected seconds from its start to the end of the longest chain of
    tasks that wait for it: chain(t) = expected(t) + max(chain(u) for u waiting for t), 0 if none.
    On the cpu profile 03 -> 05 is the longest: 03 starts first, then 02, the longer of 01 and 02."""
    chain = {}

    def length(task: Task) -> float:
        if task.key not in chain:
            chain[task.key] = expected[task.key] + max((length(u) for u in tasks if task.key in u.after), default=0)
        return chain[task.key]
    for task in tasks:
        length(task)
    return chain
