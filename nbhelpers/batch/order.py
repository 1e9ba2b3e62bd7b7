"""Which of the runs that are ready together starts first: the one heading the longest
expected chain of runs that wait for it (``chain_seconds``), so that the critical path keeps
moving. How long a run should take comes from its profile's finished runs
(``records.typical_seconds``) or, before every notebook of the batch has one, from the measured
first guess in ``first_guess_seconds.yaml`` beside this file; either way, the first evaluation
seed's runs with their explorations (``later_seeds``) apart from the others."""
from pathlib import Path

import yaml

from nbhelpers.batch.plan import Task
from nbhelpers.report import profiles, records

FIRST_GUESS_FILE = Path(__file__).with_name("first_guess_seconds.yaml")


def first_guess_seconds() -> dict:
    """Each notebook's expected seconds before a profile has timed its own runs, and under
    ``first_seed`` those of the runs with the first evaluation seed's explorations."""
    return yaml.safe_load(FIRST_GUESS_FILE.read_text())


def expected_seconds(tasks: list[Task]) -> dict:
    """How long each task should take: its notebook's finished runs of this profile, those with
    the explorations for a task that runs them and the others for the rest (the first evaluation
    seed's runs of some notebooks take far longer), when every task has such runs; else the
    first guess."""
    declared = {profile: profiles.declarations(profile)["later_seeds"] for profile in {task.profile for task in tasks}}
    later = {task.key: declared[task.profile].get(task.stem, {}) for task in tasks}
    explores = {task.key: records.ran_explorations(task.params, later[task.key]) for task in tasks}
    timed = {task.key: records.typical_seconds(task.profile, task.stem, task.batch.dry_run, later[task.key],
                                               explores[task.key]) for task in tasks}
    if all(timed.values()):
        return timed
    guess = first_guess_seconds()
    return {task.key: (guess["first_seed"] if explores[task.key] else guess).get(task.stem, guess.get(task.stem, 0))
            for task in tasks}


def chain_seconds(tasks: list[Task], expected: dict) -> dict:
    """For each task, the expected seconds from its start to the end of the longest chain of
    tasks that wait for it: chain(t) = expected(t) + max(chain(u) for u waiting for t), 0 if none.
    On the cpu profile 03 -> 05 is the longest: 03 starts first."""
    chain = {}

    def length(task: Task) -> float:
        if task.key not in chain:
            chain[task.key] = expected[task.key] + max((length(u) for u in tasks if task.key in u.after), default=0)
        return chain[task.key]
    for task in tasks:
        length(task)
    return chain
