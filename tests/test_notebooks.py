"""End to end: the smoke profile through papermill and nbconvert, as ./run_all.sh runs it."""
import json
import re
import subprocess

import pytest

from nbhelpers import paths, pipeline

pytestmark = pytest.mark.notebook


def test_the_batch_run_succeeds(smoke_run):
    status, out_dir = smoke_run
    assert status == 0, (out_dir / "index.html").read_text()


def test_html_report_has_figures_and_no_error(smoke_run, stem):
    _, out_dir = smoke_run
    page = (out_dir / f"{stem}.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 3
    assert "papermill-error-cell" not in page and "Traceback" not in page
    assert "<table" in page  # at least one filled table (pandas renders dataframes as HTML tables)


def test_metrics_file_records_the_run(smoke_run, stem):
    _, out_dir = smoke_run
    metrics = json.loads((out_dir / f"{stem}.metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["profile"] == "smoke" and metrics["notebook"] == stem
    for key in ("device", "seed", "git_commit", "versions", "params", "models"):
        assert key in metrics
    assert metrics["models"], "every notebook records at least one model"
    assert metrics["params"]["profile"] == "smoke"


def test_index_links_every_report(smoke_run, stem):
    _, out_dir = smoke_run
    index = (out_dir / "index.html").read_text()
    assert f"href='{stem}.html'" in index


def test_committed_notebooks_carry_no_outputs(stem):
    notebook = json.loads((paths.NOTEBOOKS_DIR / f"{stem}.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None
    assert notebook["metadata"]["kernelspec"]["name"] == pipeline.KERNEL_NAME


def test_a_failing_notebook_is_still_rendered_and_reported(tmp_path):
    # batch_size=0 passes validation (it is an int) but makes the training loop raise.
    status = pipeline.main(["--profile", "smoke", "--only", "01_vae", "--set", "batch_size=0",
                            "--reports-dir", str(tmp_path)])
    assert status == 1
    page = (tmp_path / "smoke" / "01_vae.html").read_text()
    assert "ValueError" in page  # the failing cell and its traceback are in the report
    metrics = json.loads((tmp_path / "smoke" / "01_vae.metrics.json").read_text())
    assert metrics["status"] == "failed" and "ValueError" in metrics["error"]
    assert "failed" in (tmp_path / "smoke" / "index.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--profile", "gpu"], "unknown profile 'gpu'"),
    (["--only", "06_diffusion"], "unknown notebook '06_diffusion'"),
    (["--set", "epoch=3"], "unknown parameter 'epoch'"),
    (["--set", "01_vae.epochs=many"], "'epochs' must be int"),
    (["--frobnicate"], "unknown option"),
])
def test_run_all_rejects_bad_input_before_any_work(args, message, tmp_path):
    result = subprocess.run([str(paths.REPO_ROOT / "run_all.sh"), "--reports-dir", str(tmp_path), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr
    assert not any(tmp_path.iterdir()), "nothing may be written before the input is valid"
