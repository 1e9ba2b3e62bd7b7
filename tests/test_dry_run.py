"""End to end: ``./run_all.sh --profile full --dry-run``. Every notebook runs with the full
profile's parameters at a fraction of the work (``nbhelpers.batch.dryrun``: two batches an epoch,
small sample counts, one seed), so that the full profile, which only a GPU runs for real,
cannot break unnoticed. About 6 minutes on 2 idle CPU cores (measured: docs/results.md)."""
import json

import pytest

from nbhelpers import paths
from nbhelpers.batch import dryrun, main
from nbhelpers.bench import gpu_check
from nbhelpers.models import gan
from nbhelpers.paths import STUDY_NOTEBOOKS
from nbhelpers.report import profiles
from nbhelpers.studies import ssgan_study, wgan_study

pytestmark = [pytest.mark.notebook, pytest.mark.dryrun]
SEED = profiles.profile_seeds("full")[0]   # a dry run's one seed: the profile's first


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """The batch's exit status and its reports folder."""
    root = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        # One thread a kernel: on 2 shared cores (CI, other tests) two threads' OpenMP barriers make
        # a dry run's many small steps several times slower (measured: 10x for a VAE epoch).
        patch.setenv("OMP_NUM_THREADS", "1")
        status = main.main(["--profile", "full", "--dry-run", "--reports-dir", str(root)])
    return status, root


def record(root, stem):
    name = "summary" if stem == paths.SUMMARY_STEM else f"seed{SEED}/{stem}"
    return json.loads((root / "full-dry-run" / f"{name}.metrics.json").read_text())


def training_rows(entry, features):
    return [row for row in entry.get("fid", []) if row["features"] == features and "epoch" in row]


def test_it_runs_beside_the_real_reports_never_among_them(dry_run):
    status, root = dry_run
    assert status == 0, (root / "full-dry-run" / "index.html").read_text()
    assert not (root / "full").exists()
    assert sorted(p.name for p in (root / "full-dry-run").glob("seed*")) == [f"seed{SEED}"]     # one seed
    assert list((root / "full-dry-run" / f"seed{SEED}" / "checkpoints").rglob("*.pt"))


def test_every_report_says_dry_run(dry_run, stem):   # stem: every notebook (conftest)
    _, root = dry_run
    metrics = record(root, stem)
    assert metrics["status"] == "ok" and metrics["dry_run"] is True and metrics["profile"] == "full"
    name = "summary" if stem == paths.SUMMARY_STEM else f"seed{SEED}/{stem}"
    page = (root / "full-dry-run" / f"{name}.html").read_text()
    assert "| DRY RUN |" in page     # the run header
    if stem != paths.SUMMARY_STEM:
        full = profiles.resolve(stem, "full", seed=SEED, first_seed=SEED)
        assert metrics["params"] == {**dryrun.limit(full), "profile": "full"}


def test_the_gan_schedules_ran_at_full_length(dry_run):
    _, root = dry_run
    gan_entry = record(root, "03_gan_pixelshuffle")["models"]["gan"]
    assert gan_entry["epochs_trained"] == 150
    every_fifth = gan.evaluation_epochs(gan.GanConfig(epochs=150, eval_every=5))
    assert [r["epoch"] for r in training_rows(gan_entry, "classifier")] == every_fifth
    assert [r["epoch"] for r in training_rows(gan_entry, "inception")] == gan.quarter_epochs(150)
    assert all(r.get("biased") for r in gan_entry["fid"] if r["features"] == "inception")   # N = 4: said so
    assert not any(r.get("biased") for r in gan_entry["fid"] if r["features"] == "classifier")


def test_the_full_profiles_own_branches_ran(dry_run):
    _, root = dry_run
    wgan = record(root, "04_wgan")["models"]
    assert {wgan_study.model_name("report", "report"), wgan_study.model_name("paper", "report")} <= set(wgan)
    ssgan = record(root, "05_ssgan")
    alphas = profiles.resolve("05_ssgan", "full")["ablation_alphas"]
    assert len(alphas) == 5 and all(ssgan["models"][ssgan_study.alpha_name(a)]["epochs_trained"] == 30 for a in alphas)
    assert len(ssgan["failure_demo"]["runs"]) == 3
    controlvae = record(root, "02_controlvae")["models"]
    for target in profiles.resolve("02_controlvae", "full")["sweep_set_points"]:
        assert {row["features"] for row in controlvae[f"controlvae_kl{target:g}"]["fid"]} == {"inception", "classifier"}
        assert f"vae_settled_beta_kl{target:g}" in controlvae


def test_the_gpu_checks_workload_counts_what_the_notebooks_ran(dry_run):
    _, root = dry_run
    counts = gpu_check.workload({stem: profiles.resolve(stem, "full", seed=SEED, first_seed=SEED) for stem in STUDY_NOTEBOOKS})
    wgans = [wgan_study.model_name(setting, "report") for setting in ("report", "paper")]
    models = {"03_gan_pixelshuffle": ["gan"], "04_wgan": wgans, "05_ssgan": ["ssgan", "sngan"]}   # sngan: the SN-GAN baseline
    for stem, names in models.items():
        entries = [record(root, stem)["models"][name] for name in names]
        for unit, features in (("classifier_eval", "classifier"), ("inception_eval", "inception")):
            ran = sum(len(training_rows(e, features)) for e in entries)
            assert ran == counts[stem][unit], (stem, unit)
