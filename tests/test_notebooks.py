"""End to end: the smoke profile through papermill and nbconvert, as ./run_all.sh runs it,
for two seeds and the summary."""
import json
import re
import shutil
import subprocess

import pytest

from nbhelpers import paths
from nbhelpers.batch import kernel, main
from nbhelpers.report import profiles

pytestmark = pytest.mark.notebook
SMOKE_SEEDS = FIRST, SECOND = profiles.profile_seeds("smoke")   # the smoke run's (conftest)


def report(out_dir, stem, suffix, seed=FIRST):
    """A report file of the smoke run: seed<k>/<stem><suffix>, or summary<suffix> for the summary."""
    if stem == paths.SUMMARY_STEM:
        return out_dir / f"summary{suffix}"
    return out_dir / f"seed{seed}" / f"{stem}{suffix}"


def test_the_batch_run_succeeds(smoke_run):
    status, out_dir = smoke_run
    assert status == 0, (out_dir / "index.html").read_text()


def test_html_report_has_figures_and_no_error(smoke_run, stem):
    _, out_dir = smoke_run
    page = report(out_dir, stem, ".html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 3
    assert "papermill-error-cell" not in page and "Traceback" not in page
    assert "<table" in page  # at least one filled table (pandas renders dataframes as HTML tables)


def test_reports_read_cleanly_and_show_no_machine_paths(smoke_run, stem):
    _, out_dir = smoke_run
    page = report(out_dir, stem, ".html").read_text()
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page, "a stderr block in the report"
    assert str(out_dir.parent.resolve()) not in page and str(paths.REPO_ROOT) not in page
    assert "{'features'" not in page and "{&#39;features&#39;" not in page   # no raw record dumps


def test_metrics_file_records_the_run(smoke_run, stem):
    _, out_dir = smoke_run
    metrics = json.loads(report(out_dir, stem, ".metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["profile"] == "smoke" and metrics["notebook"] == stem
    for key in ("device", "seed", "git_commit", "versions", "params", "models"):
        assert key in metrics
    assert metrics["params"]["profile"] == "smoke"
    if stem == paths.SUMMARY_STEM:
        assert metrics["seed"] is None and metrics["seeds"] == [FIRST, SECOND] and metrics["claims"]
    else:
        assert metrics["models"], "every notebook records at least one model"
        assert metrics["seed"] == FIRST and metrics["params"]["seed"] == FIRST


def test_seeds_have_their_own_folders_and_numbers(smoke_run):
    _, out_dir = smoke_run
    for stem in ("01_vae", "03_gan_pixelshuffle", "04_wgan"):
        first, second = (json.loads(report(out_dir, stem, ".metrics.json", seed).read_text()) for seed in SMOKE_SEEDS)
        assert (first["seed"], second["seed"]) == (FIRST, SECOND)
        assert first["models"] != second["models"]          # another seed, other weights, other numbers
        assert report(out_dir, stem, ".html", SECOND).exists()
    wgan = json.loads(report(out_dir, "04_wgan", ".metrics.json", SECOND).read_text())
    assert f"seed {SECOND}" in wgan["models"]["wgan"]["gan_reference"]   # 04 compares with 03 of its own seed


def test_the_summary_aggregates_both_seeds(smoke_run):
    _, out_dir = smoke_run
    summary = json.loads((out_dir / "summary.metrics.json").read_text())
    assert summary["notebooks"]["03_gan_pixelshuffle"] == [FIRST, SECOND] and summary["excluded"] == []
    gan = summary["aggregated"]["03_gan_pixelshuffle/gan"]["classifier FID"]
    assert gan["n"] == 2 and gan["std"] > 0 and gan["low"] < gan["mean"] < gan["high"]
    verdicts = {claim["claim"]: claim["verdict"] for claim in summary["claims"] if claim["key"] != "vae_early_epochs"}
    assert len(verdicts) >= 7 and all(v in ("supported", "contradicted", "contradicted at the declared size",
                                            "not resolved with 2 seeds") for v in verdicts.values())
    assert summary["registry_version"] and summary["registry_digest"]
    page = (out_dir / "summary.html").read_text()
    assert "± " in page and "(n=2)" in page


def test_a_record_with_other_parameters_is_left_out_by_name(smoke_run, tmp_path):
    _, out_dir = smoke_run
    root = tmp_path / "reports"
    shutil.copytree(out_dir, root / "smoke")
    odd = json.loads(report(root / "smoke", "01_vae", ".metrics.json", SECOND).read_text())
    odd["seed"], odd["params"]["seed"], odd["params"]["epochs"] = 7, 7, 99
    odd["models"]["vae"]["test_recon"] += 1.0     # another run's numbers, not a copy of seed SECOND's
    (root / "smoke" / "seed7").mkdir()
    report(root / "smoke", "01_vae", ".metrics.json", 7).write_text(json.dumps(odd))
    assert main.main(["--profile", "smoke", "--only", "06_summary", "--reports-dir", str(root)]) == 0
    summary = json.loads((root / "smoke" / "summary.metrics.json").read_text())
    assert summary["seeds"] == [FIRST, SECOND] and summary["notebooks"]["01_vae"] == [FIRST, SECOND]   # 7: nothing joined
    assert any(line.startswith("01_vae, seed 7: epochs 99 vs 1") for line in summary["excluded"]), summary["excluded"]
    assert "01_vae, seed 7: epochs 99" in (root / "smoke" / "summary.html").read_text()


def test_index_links_every_report_of_every_seed(smoke_run, stem):
    _, out_dir = smoke_run
    index = (out_dir / "index.html").read_text()
    if stem == paths.SUMMARY_STEM:
        assert "href='summary.html'" in index
    else:
        assert f"href='seed{FIRST}/{stem}.html'" in index and f"href='seed{SECOND}/{stem}.html'" in index


def test_committed_notebooks_carry_no_outputs(stem):
    notebook = json.loads((paths.NOTEBOOKS_DIR / f"{stem}.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None
    assert notebook["metadata"]["kernelspec"]["name"] == kernel.KERNEL_NAME


# A notebook that fails while the others run: tests/test_reliability.py.


@pytest.mark.parametrize("args, message", [
    (["--profile", "gpu"], "unknown profile 'gpu'"),
    (["--only", "07_diffusion"], "unknown notebook '07_diffusion'"),
    (["--set", "epoch=3"], "unknown parameter 'epoch'"),
    (["--set", "01_vae.epochs=many"], "'epochs' must be int"),
    (["--set", "seed=1"], "chosen with --seeds"),
    (["--seeds", "0,one"], "--seeds takes integers"),
    (["--seeds", "1,1"], "lists a seed twice"),
    (["--frobnicate"], "unknown option"),
    (["--set", "batch_size=0"], "'batch_size' = 0 is not allowed"),
    (["--set", "02_controlvae.set_points=[]"], "must not be empty"),
    (["--set", "epochs=[1"], "is not a YAML value"),
    (["--jobs", "0"], "--jobs must be at least 1"),
])
def test_run_all_rejects_bad_input_before_any_work(args, message, tmp_path):
    result = subprocess.run([str(paths.REPO_ROOT / "run_all.sh"), "--reports-dir", str(tmp_path), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr
    assert not any(tmp_path.iterdir()), "nothing may be written before the input is valid"


def test_run_all_help_is_the_batchs_own_description_of_its_options():
    result = subprocess.run([str(paths.REPO_ROOT / "run_all.sh"), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: ./run_all.sh [OPTIONS]")
    for option in ("--profile", "--seeds", "--only", "--set", "--reports-dir", "--dry-run", "--fresh", "--jobs",
                   "--executor", "--slurm-partition", "--slurm-gpus-per-job", "--slurm-time", "--slurm-account"):
        assert f"  {option} " in result.stdout, option
    assert "examples:" in result.stdout and "outputs:" in result.stdout
