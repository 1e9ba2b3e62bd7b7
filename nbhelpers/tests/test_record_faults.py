"""Records on disk that would show wrong numbers (issues 26 and 33): a page older than its
record, a damaged record (a value of the wrong type, not finite, out of its range), a seed folder
copied to another seed's name or named like a seed's in another spelling, a damaged samples
file, a summary record whose claims lack their verdicts."""
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nbhelpers.batch import attempts, index, main, render
from nbhelpers.notes import ReportNote
from nbhelpers.report import context, records
from nbhelpers.studies import collect, summary, verdicts

STEM = "01_vae"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


def record_of(seed: int, fid: float, status: str = "ok") -> dict:
    return {"notebook": STEM, "profile": "smoke", "status": status, "seed": seed, "git_commit": "abc",
            "code_digest": context.current_code(STEM), "params": {"seed": seed}, "environment": {"torch_threads": 1},
            "models": {"vae": {"fid": [{"features": "classifier", "n": 10, "ref": "mnist-test", "value": fid}]}}}


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


# ----------------------------------------------------------------------------- issue 33

def put(root: Path, folder: str, record: dict | str, stem: str = STEM) -> Path:
    """``record`` (JSON text as it is, or a record, non-finite numbers as JSON's NaN) as
    ``smoke/<folder>/<stem>.metrics.json``."""
    path = root / "smoke" / folder / f"{stem}.metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return path


def with_kid(seed: int, mean, n=200) -> dict:
    record = record_of(seed, 20.0 + seed)
    record["models"]["vae"]["kid"] = {"features": "inception", "n": n, "ref": "mnist-test[:32]", "mean": mean,
                                      "std": 0.001, "subsets": 10, "subset_size": 16}
    return record


MISNAMED = ("seed01", "seed+1", "seed 1", "seed\u0661", "seed00", "seed4294967296")   # \u0661: Arabic-Indic one


def test_a_seed_folder_spelt_another_way_is_named_and_left_out_and_no_seed_counts_twice(root):
    for seed in (1, 2):
        put(root, f"seed{seed}", record_of(seed, 20.0 + seed))
    for name in (*MISNAMED, "seedless", "seed1.bak"):                          # the last two read as no seed
        (root / "smoke" / name).mkdir()
    shutil.copy(root / "smoke" / "seed1" / f"{STEM}.metrics.json", root / "smoke" / "seed01")

    assert records.seeds_present("smoke") == [1, 2]
    assert records.misnamed_folders("smoke") == sorted(MISNAMED)
    runs = collect.collect("smoke")                                            # the summary
    assert runs.seeds == [1, 2] and sorted(runs.records[STEM]) == [1, 2]
    assert sorted(line for line in runs.excluded if line.startswith("folder ")) == \
        sorted(f"folder {name}: {records.MISNAMED}" for name in MISNAMED)
    rows = index.index_rows("smoke")                                           # the index
    assert sorted(row.seed for row in rows if row.status == "ok") == [1, 2]
    assert sorted(row.stem for row in rows if row.status == "misplaced") == sorted(MISNAMED)
    page = index.write_index(root / "smoke", "smoke", rows).read_text()
    assert page.count(f"href='seed1/{STEM}.html'") == 1 and "href='seed01/'" in page and "not a seed&#39;s folder" in page


def test_a_copied_seed_folder_whose_every_record_is_left_out_is_no_evaluation_seed(root):
    for seed in (1, 2):
        put(root, f"seed{seed}", record_of(seed, 20.0 + seed))
    shutil.copytree(root / "smoke" / "seed1", root / "smoke" / "seed8")       # cp -a seed1 seed8

    runs = collect.collect("smoke")
    assert f"{STEM}, seed 8: its record says seed 1, not where it lies" in runs.excluded
    assert runs.seeds == [1, 2] and runs.evaluation_seeds == [1, 2]
    assert "Evaluation seeds (the verdicts use these only): [1, 2];" in summary.declared(runs)
    assert "seed 8" not in summary.declared(runs)


@pytest.mark.parametrize("field, value, problem", [
    ("mean", "0.0123", "models.vae.kid.mean '0.0123' is not a number"),    # a KID mean as a string
    ("mean", math.nan, "models.vae.kid.mean nan is not finite"),
    ("n", -5, "models.vae.kid.n -5 is below 1"),                            # a negative N
    ("std", math.inf, "models.vae.kid.std inf is not finite")])
def test_a_number_of_the_wrong_type_not_finite_or_out_of_range_makes_its_record_damaged_and_left_out(
        root, field, value, problem):
    put(root, "seed1", with_kid(1, 0.0456))
    damaged = with_kid(2, 0.0123)
    damaged["models"]["vae"]["kid"][field] = value
    path = put(root, "seed2", damaged)

    with pytest.raises(records.DamagedRecord, match=re.escape(f"seed2/{STEM}.metrics.json is damaged ({problem})")):
        records.read(path)
    runs = collect.collect("smoke")                                            # the summary notebook
    assert sorted(runs.records[STEM]) == [1] and runs.seeds == [1]
    assert any(line.startswith(f"{STEM}, seed 2: ") and problem in line for line in runs.excluded)
    assert summary.model_table(runs).loc["01 vae", "Inception KID"] == "0.0456 (1 seed)"
    assert verdicts.evaluate_registry(runs)
    assert index.model_number("vae", damaged["models"]["vae"]) is None        # never a crash, never "KID nan"
    assert index.IndexRow.from_record(STEM, 2, damaged).status == "damaged"
    rows = {(row.seed, row.status): row for row in index.index_rows("smoke")}  # the index
    assert problem in rows[(2, "damaged")].error and (2, "ok") not in rows
    page = index.write_index(root / "smoke", "smoke", list(rows.values())).read_text()
    assert "vae: Inception KID 0.0456 (N=200)" in page
    assert not re.search(r"KID (nan|inf|0\.0123)|N=-5", page)


def test_a_samples_file_of_random_bytes_is_named_and_left_out_of_the_thumbnails_and_the_index(root):
    torch.manual_seed(0)
    for seed in (1, 2):
        record = record_of(seed, 20.0 + seed)
        record["models"]["vae_other"] = {"fid": [{"features": "classifier", "n": 10, "ref": "mnist-test", "value": 30.0}]}
        put(root, f"seed{seed}", record)
        run = context.Run(stem=STEM, profile="smoke", seed=seed, device="cpu", params={"seed": seed})
        for name in ("vae", "vae_other"):
            records.export_samples(run, name, torch.rand(36, 1, 28, 28))
    damaged = root / "smoke" / "seed1" / STEM / "samples" / "vae.npz"
    damaged.write_bytes(np.random.default_rng(0).bytes(4000))

    with pytest.raises(records.DamagedSamples, match=f"seed1/{STEM}/samples/vae.npz is damaged"):
        records.exported_samples("smoke", STEM, 1, "vae")
    with pytest.warns(ReportNote, match=f"left out of the thumbnails: .*seed1/{STEM}/samples/vae.npz is damaged"):
        shown = summary.sample_thumbnails(collect.collect("smoke"))            # the summary's cell goes on
    assert list(shown) == ["01 vae_other (seed 1)"]
    page = index.write_index(root / "smoke", "smoke", index.index_rows("smoke")).read_text()
    assert re.search(rf"no thumbnail: \S*seed1/{STEM}/samples/vae\.npz is damaged \(not an images file numpy reads", page)
    assert f"seed2/{STEM}/thumbnail.png" in page                              # the other runs' thumbnails


def test_a_summary_record_whose_claims_lack_a_verdict_is_named_damaged_and_ctrl_c_stays_one_line(root, capsys):
    put(root, "seed1", record_of(1, 20.0))
    put(root, ".", {"notebook": "06_summary", "profile": "smoke", "status": "ok", "seed": None, "seeds": [1],
                    "claims": [{"claim": "the WGAN ends better", "n": 1}]}, stem="summary")

    rows = {(row.stem, row.seed): row for row in index.index_rows("smoke")}
    assert rows[("06_summary", None)].status == "damaged" and "claims[0] lacks its verdict" in rows[("06_summary", None)].error
    assert "The claims cannot be shown" in index.read_claims(root / "smoke").problem
    assert records.headline({"claims": [{"claim": "x"}], "seeds": [1]}).startswith("seeds [1]: 1 claims")
    assert main.report_interruption(KeyboardInterrupt(), root / "smoke", "smoke", False, time.time()) == 130
    assert capsys.readouterr().err.strip().count("\n") == 0                  # one line, no traceback
    assert "claims[0] lacks its verdict" in (root / "smoke" / "index.html").read_text()
