"""Records on disk that would show wrong numbers (issue 26): a page older than its record, a
damaged record, a seed folder copied to another seed's name."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from nbhelpers.batch import attempts, index, render
from nbhelpers.report import records
from nbhelpers.studies import collect

STEM = "01_vae"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


def record_of(seed: int, fid: float, status: str = "ok") -> dict:
    return {"notebook": STEM, "profile": "smoke", "status": status, "seed": seed, "git_commit": "abc",
            "params": {"seed": seed}, "environment": {"torch_threads": 1}, "models": {"vae": {"fid": [{"features": "classifier", "n": 10, "value": fid}]}}}


def notebook_saying(text: str) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": [text]}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def staged(root: Path, seed: int, fid: float, words: str) -> Path:
    """An attempt's stage as a run leaves it: notebook, log and record."""
    stage = attempts.stage_for(root / "smoke" / f"seed{seed}", STEM)
    (stage / f"{STEM}.ipynb").write_text(notebook_saying(words))
    (stage / f"{STEM}.log").write_text("log\n")
    (stage / f"{STEM}.metrics.json").write_text(json.dumps(record_of(seed, fid)))
    return stage


def test_a_kill_while_an_attempt_moves_in_never_leaves_the_old_page_beside_the_new_record(root, monkeypatch):
    folder = root / "smoke" / "seed0"
    attempts.finish_attempt(STEM, "smoke", staged(root, 0, 30.0, "old run"), "ok", None, 1.0)
    assert "old run" in (folder / f"{STEM}.html").read_text()

    real = os.replace

    def killed_after_the_record(source, target):   # the process dies once the new record is in place
        real(source, target)
        if Path(target) == folder / f"{STEM}.metrics.json":
            raise SystemExit("killed")

    monkeypatch.setattr(attempts.os, "replace", killed_after_the_record)
    with pytest.raises(SystemExit):
        attempts.finish_attempt(STEM, "smoke", staged(root, 0, 12.0, "new run"), "ok", None, 1.0)
    monkeypatch.undo()
    assert records.read(folder / f"{STEM}.metrics.json")["models"]["vae"]["fid"][0]["value"] == 12.0
    page = (folder / f"{STEM}.html").read_text()
    assert "new run" in page and "old run" not in page
    # rendered in the stage, its offline MathJax still found from where the page lies
    mathjax = re.search(r'src="([^"?]+MathJax\.js)', page).group(1)
    assert (folder / mathjax).resolve() == (root / "smoke" / render.STATIC_DIRNAME / "mathjax" / "MathJax.js").resolve()
    assert (folder / mathjax).exists()


@pytest.mark.parametrize("text, problem", [('{"notebook": "01_v', "JSONDecodeError"), ("[]", "a JSON list"),
                                           (json.dumps(record_of(0, "n/a")), "not a number")])
def test_a_damaged_record_is_named_and_left_out_by_every_reader_and_a_rerun_replaces_it(root, text, problem):
    good = root / "smoke" / "seed1" / f"{STEM}.metrics.json"
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps({**record_of(1, 20.0), "wall_seconds": 7}))
    damaged = root / "smoke" / "seed0" / f"{STEM}.metrics.json"
    damaged.parent.mkdir(parents=True)
    damaged.write_text(text)

    with pytest.raises(records.DamagedRecord, match=rf"seed0/{STEM}\.metrics\.json is damaged \(.*{problem}"):
        records.read(damaged)
    assert records.load("smoke", STEM, 0) is None
    assert records.typical_seconds("smoke", STEM) == 7                         # the expected times
    runs = collect.collect("smoke")                                            # the summary
    assert list(runs.records[STEM]) == [1]
    assert [line for line in runs.excluded if "seed 0" in line and "metrics.json is damaged" in line]
    rows = {(row.seed, row.status): row for row in index.index_rows("smoke")}  # the index
    assert f"{STEM}.metrics.json is damaged" in rows[(0, "damaged")].error
    assert (1, "ok") in rows and (0, "ok") not in rows
    assert "is damaged" in index.write_index(root / "smoke", "smoke", index.index_rows("smoke")).read_text()

    attempts.finish_attempt(STEM, "smoke", staged(root, 0, 11.0, "rerun"), "ok", None, 1.0)
    assert records.load("smoke", STEM, 0)["models"]["vae"]["fid"][0]["value"] == 11.0


def test_a_seed_folder_copied_to_another_seeds_name_is_not_a_second_seed(root):
    first = root / "smoke" / "seed1"
    first.mkdir(parents=True)
    (first / f"{STEM}.metrics.json").write_text(json.dumps(record_of(1, 20.0)))
    shutil.copytree(first, root / "smoke" / "seed2")                     # cp -a seed1 seed2
    renamed = root / "smoke" / "seed3"                                   # ...with its seed edited to match
    renamed.mkdir()
    (renamed / f"{STEM}.metrics.json").write_text(json.dumps({**record_of(1, 20.0), "seed": 3}))
    (root / "smoke" / "seed4").mkdir()                                   # a real second seed
    (root / "smoke" / "seed4" / f"{STEM}.metrics.json").write_text(json.dumps(record_of(4, 22.0)))

    runs = collect.collect("smoke")
    assert sorted(runs.records[STEM]) == [1, 4]
    assert f"{STEM}, seed 2: its record says seed 1, not where it lies" in runs.excluded
    assert f"{STEM}, seed 3: the same numbers as seed 1 (a copy of its run)" in runs.excluded
    status = {row.seed: row.status for row in index.index_rows("smoke")}
    assert status == {1: "ok", 2: "misplaced", 3: "duplicate", 4: "ok"}   # no summary record yet
