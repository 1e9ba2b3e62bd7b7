"""The GPU check's arithmetic, which needs no GPU: what each notebook of a profile runs, and
its price; and the clear refusal without CUDA."""
import pytest
import torch

from nbhelpers.bench import gpu_check
from nbhelpers.paths import STUDY_NOTEBOOKS
from nbhelpers.report import profiles


def counts(profile: str) -> dict:
    return gpu_check.workload({stem: profiles.resolve(stem, profile, seed=0) for stem in STUDY_NOTEBOOKS})


def test_the_full_profiles_workload_counted_by_hand():
    full = counts("full")
    assert full["01_vae"] == {"vae_epoch": 50, "final_eval": 4}
    # 02: baseline + 2 set points + 6 sweep points, then 8 constant-beta twins, 60 epochs each; Inception for all 17
    assert full["02_controlvae"] == {"controlvae_epoch": 8 * 60, "vae_epoch": 9 * 60, "final_eval": 17}
    # 03: 150 epochs, evaluated every 5th and at the quarters 38 and 113 (32); Inception at the three
    # quarters before the end, the fourth the final evaluation's
    assert full["03_gan_pixelshuffle"] == {"gan_epoch": 150, "gan_warmup": 1, "classifier_eval": 32,
                                           "inception_eval": 4, "final_eval": 1}
    assert full["04_wgan"] == {"wgan_report_epoch": 150, "wgan_paper_epoch": 150, "wgan_report_warmup": 1,
                               "wgan_paper_warmup": 1, "classifier_eval": 64, "inception_eval": 8, "final_eval": 2}
    # 05: the SS-GAN and its SN-GAN baseline, five 30-epoch alphas (each with its final evaluation),
    # two failure demos
    assert full["05_ssgan"] == {"ssgan_epoch": 2 * 150 + 7 * 30, "ssgan_warmup": 9, "classifier_eval": 2 * 32,
                                "inception_eval": 2 * 3, "curve_eval": 7 * 30, "final_eval": 2 + 5}


def test_a_run_on_fewer_images_counts_its_fraction_of_an_epoch():
    cpu = counts("cpu")
    gan = profiles.resolve("03_gan_pixelshuffle", "cpu", seed=0)
    assert cpu["03_gan_pixelshuffle"]["gan_epoch"] == pytest.approx(gan["epochs"] * gan["train_limit"] / 60_000)
    assert cpu["03_gan_pixelshuffle"]["inception_eval"] == 1        # the first quarter only
    # 02: Inception only for the baseline and the two set points; the 3 sweep points and 5 twins classifier only,
    # and each comparison run of the I gains one classifier FID
    p = profiles.resolve("02_controlvae", "cpu", seed=0)
    comparison = 2 * len(p["set_points"]) if p["ki_comparison"] else 0
    assert (cpu["02_controlvae"]["final_eval"], cpu["02_controlvae"]["classifier_eval"]) == (3, 8 + comparison)


def test_extrapolate_prices_units_and_says_what_it_could_not():
    workload = {"a": {"x": 10, "y": 2}, "b": {"x": 1}}
    estimate = gpu_check.extrapolate(workload, {"x": 1.5, "y": 4.0}, fixed={"a": 3.0}, seeds=3)
    assert estimate["notebooks"] == {"a": 3.0 + 15.0 + 8.0, "b": 1.5}
    assert estimate["one_seed_s"] == 27.5 and estimate["all_seeds_s"] == 82.5
    partial = gpu_check.extrapolate(workload, {"x": 1.0})
    assert partial["notebooks"] == {"a": None, "b": 1.0} and partial["one_seed_s"] is None


def test_without_cuda_it_refuses_clearly(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "check.json")]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "check.json").exists()


@pytest.mark.parametrize("kind", ["gan", "ssgan", "wgan_report", "wgan_paper"])
def test_every_gan_unit_trains_as_its_notebook_builds_it(kind, monkeypatch, tmp_path, one_thread):
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)   # the unit's timing, on the CPU here
    monkeypatch.setattr(gpu_check, "GAN_EPOCHS", 2)
    stem = {"gan": "03_gan_pixelshuffle", "ssgan": "05_ssgan"}.get(kind, "04_wgan")
    unit = gpu_check.gan_unit(kind, profiles.resolve(stem, "full", seed=0), torch.rand(64, 1, 28, 28), False, tmp_path)
    assert len(unit["epochs_s"]) == 2 and unit["epoch_s"] > 0 and unit["warmup_s"] >= 0
    assert list(tmp_path.rglob(f"{kind}-*.pt"))      # checkpoints, as the notebooks' runs write them


def test_a_failed_step_is_recorded_and_none_starts_after_the_budget(tmp_path):
    record = {}
    step = gpu_check.Steps(tmp_path / "check.json", record, budget_s=60)
    assert step("fine", lambda: {"seconds_a": 1.5, "nested": {"dropped": 1}}) == {"seconds_a": 1.5, "nested": {"dropped": 1}}
    assert step("broken", lambda: 1 / 0) is None
    step.budget_s = -1
    assert step("late", lambda: {"never": 1}) is None
    steps = record["steps"]
    assert steps["fine"]["status"] == "ok" and steps["fine"]["seconds_a"] == 1.5 and "nested" not in steps["fine"]
    assert steps["broken"]["status"] == "failed" and "ZeroDivisionError" in steps["broken"]["error"]
    assert steps["late"]["status"] == "skipped"
    assert "broken" in (tmp_path / "check.json").read_text()
