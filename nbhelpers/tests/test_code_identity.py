"""A record's code identity (issue 33): two digests tell any two code states apart, nbhelpers'
sources when the run starts and the notebook's code cells as the batch handed them to papermill;
the summary joins only records of the code as it is now, and names the others."""
import json
import os
import shutil
from types import SimpleNamespace

import pytest

from nbhelpers import paths
from nbhelpers.batch import attempts, execute, plan, task
from nbhelpers.environment import BATCH_VARIABLE
from nbhelpers.report import context, records
from nbhelpers.studies import collect

STEM = "01_vae"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of nbhelpers' sources that ``context.package_digest`` reads; its folder."""
    copy = tmp_path / "nbhelpers"
    shutil.copytree(context.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pt", "*.json"))
    monkeypatch.setattr(context, "PACKAGE_DIR", copy)
    return copy


def test_the_package_digest_changes_with_any_edit_of_nbhelpers_but_not_of_its_tests(package):
    original = context.package_digest()
    vae = package / "models" / "vae.py"
    source = vae.read_text()
    assert "lr=lr)" in source
    vae.write_text(source.replace("lr=lr)", "lr=lr * 1.0)"))     # the same numbers, other code
    times_one = context.package_digest()
    vae.write_text(source.replace("lr=lr)", "lr=lr * 5.0)"))     # other numbers
    assert len({original, times_one, context.package_digest()}) == 3
    vae.write_text(source)
    assert context.package_digest() == original
    (package / "tests" / "test_records.py").write_text("# edited\n")
    assert context.package_digest() == original                    # no run imports the tests
    (package / "report" / "new_module.py").write_text("")
    assert context.package_digest() != original


def test_the_notebook_digest_is_that_of_its_code_cells_alone():
    notebook = json.loads((paths.NOTEBOOKS_DIR / f"{STEM}.ipynb").read_text())
    original = context.notebook_digest(json.dumps(notebook))
    code = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    markdown = next(cell for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["autosaved\n"]}]
    markdown["source"] = ["# another title"]
    notebook["metadata"]["edited"] = True
    assert context.notebook_digest(json.dumps(notebook, indent=4)) == original
    code["source"] = "".join(code["source"]) + "\nepochs = 2"
    assert context.notebook_digest(json.dumps(notebook)) != original
    assert context.notebook_digest("not a notebook") != context.notebook_digest("not a notebook either")


def test_a_notebook_run_records_nbhelpers_now_and_the_notebook_digest_its_batch_handed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    monkeypatch.setenv(BATCH_VARIABLE, json.dumps({"notebook_digest": "ab" * 32}))
    run = context.start_run(STEM, SimpleNamespace(profile="smoke", seed=1, device="cpu"))
    records.Metrics(run).finish()
    assert records.read(run.metrics_path)["code_digest"] == {"package": context.package_digest(), "notebook": "ab" * 32}
    monkeypatch.delenv(BATCH_VARIABLE)                             # JupyterLab: the cells run are not known
    assert context.start_run(STEM, SimpleNamespace(profile="smoke", seed=1, device="cpu")).code_digest["notebook"] is None


def test_the_batch_runs_the_notebook_text_whose_digest_its_kernel_sees(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(paths.NOTEBOOKS_DIR / f"{STEM}.ipynb", notebooks)
    monkeypatch.setattr(execute, "NOTEBOOKS_DIR", notebooks)
    text = (notebooks / f"{STEM}.ipynb").read_text()
    seen = {}

    def kernel(stem, params, folder, label="", source=None):   # what papermill is given, and the kernel's context
        seen.update(source=source.read_text(), context=json.loads(os.environ[BATCH_VARIABLE]))
        (notebooks / f"{STEM}.ipynb").write_text(text.replace("epochs", "epochz"))   # edited as the run starts
        return "failed", "stopped by the test"

    monkeypatch.setattr(task, "execute", kernel)
    job = plan.Task(key=(STEM, 1), stem=STEM, seed=1, params={}, profile="smoke", label="[1/1]")
    assert task.execute_task(job, attempts.new_attempt(attempts.new_batch())).status == "failed"
    assert seen["source"] == text and seen["context"]["notebook_digest"] == context.notebook_digest(text)
    stage = tmp_path / "stage"
    stage.mkdir()
    (notebooks / f"{STEM}.ipynb").unlink()
    assert execute.staged_notebook(STEM, stage) == (notebooks / f"{STEM}.ipynb", None)   # papermill says what is wrong


def test_the_summary_joins_only_records_of_the_current_code_and_names_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    current = context.current_code(STEM)
    codes = {1: current, 2: current, 3: {**current, "package": "1" * 64}, 4: {**current, "notebook": "2" * 64},
             5: {**current, "notebook": None}, 6: None}
    for seed, code in codes.items():
        folder = tmp_path / "smoke" / f"seed{seed}"
        folder.mkdir(parents=True)
        record = {"notebook": STEM, "profile": "smoke", "status": "ok", "seed": seed, "git_commit": "fa34ffa-dirty",
                  "params": {"seed": seed}, "environment": {"seed": seed},
                  "models": {"vae": {"fid": [{"features": "classifier", "n": 10, "value": 100.0 + seed}]}}}
        if code is not None:
            record["code_digest"] = code
        (folder / f"{STEM}.metrics.json").write_text(json.dumps(record))
    runs = collect.collect("smoke")
    assert sorted(runs.records[STEM]) == [1, 2] and runs.seeds == [1, 2]
    assert runs.excluded == [
        f"{STEM}, seed 3: ran other code: nbhelpers 111111111111 (commit fa34ffa-dirty), not the current "
        f"{current['package'][:12]}",
        f"{STEM}, seed 4: ran other code: its notebook's code 222222222222, not the current {current['notebook'][:12]}",
        f"{STEM}, seed 5: ran other code: the code of its notebook is not known (a run outside ./run_all.sh)",
        f"{STEM}, seed 6: ran other code: its record has no code digest (commit fa34ffa-dirty, before records had one)"]
