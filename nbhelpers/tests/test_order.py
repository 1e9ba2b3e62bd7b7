"""Which ready run starts first (``batch.order``): the expected seconds of the first evaluation
seed's runs, which carry the explorations, apart from the other seeds' runs, from the first
guesses and from the profile's own records."""
import json

import pytest

from nbhelpers.batch import order
from nbhelpers.batch.plan import Task
from nbhelpers.report import context, profiles, records

STEM = "05_ssgan"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


def task_for(seed: int, first: bool) -> Task:
    params = profiles.resolve(STEM, "smoke", seed=seed, first_seed=seed if first else seed - 1)
    return Task(key=(STEM, seed), stem=STEM, seed=seed, params=params, profile="smoke", label=f"[{seed}/2]")


def write_record(root, task: Task, seconds: float) -> None:
    path = root / "smoke" / f"seed{task.seed}" / f"{STEM}.metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"notebook": STEM, "profile": "smoke", "status": "ok", "seed": task.seed,
                                "git_commit": "abc", "code_digest": context.current_code(STEM),
                                "params": task.params, "wall_seconds": seconds}))


def test_the_first_seeds_run_with_its_explorations_is_expected_to_take_longer(root):
    first, later = task_for(1, first=True), task_for(2, first=False)
    later_values = profiles.declarations("smoke")["later_seeds"][STEM]
    assert records.ran_explorations(first.params, later_values) and not records.ran_explorations(later.params, later_values)
    guess = order.first_guess_seconds()
    assert order.expected_seconds([first, later]) == {first.key: guess["first_seed"][STEM], later.key: guess[STEM]}
    # once the profile has timed runs of both kinds, each task takes its own kind's time
    write_record(root, first, 300)
    write_record(root, later, 100)
    assert order.expected_seconds([first, later]) == {first.key: 300, later.key: 100}
    assert records.typical_seconds("smoke", STEM) == 200   # all runs, as before
