"""What the three GAN studies share (nbhelpers.studies.gan_study): settings from parameters, one way to
train a variant, its record, the acceptance checks, and the parameter-checked GAN loader."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nbhelpers.models import gan
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.gan.losses import NonSaturatingGAN
from nbhelpers.report import parameters
from nbhelpers.studies import facts, gan_study

from .gan_fakes import MemoryMetrics, StubEvaluator, fake_mnist, gan_record

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    (tmp_path / "cpu" / "seed0").mkdir(parents=True)
    return tmp_path / "cpu" / "seed0"


def write_gan_record(folder, params, status="ok", model=None):
    content = {"status": status, "seed": params.get("seed"), "params": params,
               "models": {"gan": model if model is not None else gan_record([40.0, 20.0])}}
    (folder / "03_gan_pixelshuffle.metrics.json").write_text(json.dumps(content))


# ----------------------------------------------------------------------------- settings

def test_gan_config_takes_the_declared_fields_and_checks_betas():
    params = SimpleNamespace(epochs=3, batch_size=16, seed=2, grid_every=20, eval_every=1,
                             lr_generator=2e-4, lr_discriminator=3e-4, betas=[0.0, 0.9], icnr=True)
    config_ = gan_study.gan_config(params)
    assert (config_.epochs, config_.seed, config_.lr_discriminator, config_.betas) == (3, 2, 3e-4, (0.0, 0.9))
    wgan_like = SimpleNamespace(epochs=3, batch_size=16, seed=0, grid_every=20, eval_every=1)
    assert gan_study.gan_config(wgan_like, optimizer="rmsprop", lr_generator=1e-3).lr_generator == 1e-3
    assert gan_study.gan_config(wgan_like).lr_discriminator == 1e-4     # the engine's default
    with pytest.raises(parameters.ParameterError, match=r"betas must be two numbers in \[0, 1\), got \[0.5, 1.0\]"):
        gan_study.gan_config(SimpleNamespace(**{**vars(params), "betas": [0.5, 1.0]}))


# ----------------------------------------------------------------------------- one variant

def test_train_variant_trains_evaluates_records_and_reloads(tmp_path):
    def networks():
        torch.manual_seed(0)
        return gan_nets.Generator(), gan_nets.Discriminator(output="logit")

    config_ = gan_study.gan_config(SimpleNamespace(epochs=2, batch_size=16, seed=0, grid_every=20, eval_every=1))
    generator, discriminator = networks()
    result = gan_study.train_variant("gan", NonSaturatingGAN(), generator, discriminator, fake_mnist(32), config_,
                                     StubEvaluator(), tmp_path, log=None)
    assert result.finished and result.train_images == 32 and result.final["fid"][0]["value"] == 100.0
    assert result.generator is generator and result.discriminator is discriminator   # trained in place
    assert [r["epoch"] for r in result.fid_rows()] == [1, 2]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["gan_discriminator.pt", "gan_generator.pt"]
    entry = gan_study.record(MemoryMetrics(), result, role="test")
    assert entry["role"] == "test" and entry["fid_halving"]["ratio"] == pytest.approx(0.5)
    assert entry["fid_halving"]["first"] == 100.0 and entry["class_coverage"]["covered"] == 8
    assert entry["coverage_history"][2][9] == 0 and entry["epochs_trained"] == 2
    assert entry["generator_steps"] == 4 == len(result.history.steps)   # 2 batches of 16 an epoch, 2 epochs
    again = gan_study.train_variant("gan", NonSaturatingGAN(), *networks(), fake_mnist(32), config_,
                                    StubEvaluator(), tmp_path, final=False, log=None)   # from the checkpoint
    assert again.history.training_seconds == result.history.training_seconds and again.final is None
    for a, b in zip(result.generator.parameters(), again.generator.parameters()):
        assert torch.equal(a, b)
    samples = gan_study.final_samples(result.generator, StubEvaluator())
    assert samples.shape == (16, 1, 28, 28) and torch.equal(samples, gan_study.final_samples(again.generator, StubEvaluator()))


def test_the_reports_generator_steps_are_its_epochs_of_whole_batches_of_the_engines_default_size():
    assert facts.REPORT_GAN_GENERATOR_STEPS == facts.REPORT_GAN_EPOCHS * (60_000 // gan.GanConfig().batch_size)
    assert gan.GanConfig().epochs == facts.REPORT_GAN_EPOCHS


def test_first_and_last_fid_reads_one_extractors_curve_in_epoch_order():
    rows = gan_record([60.0, 30.0, 15.0], epochs=[3, 1, 2], final=(80.0, 10.0))["fid"]   # finals: no epoch
    assert gan_study.first_and_last_fid(rows) == {"first": 30.0, "last": 60.0, "ratio": 2.0}
    assert gan_study.first_and_last_fid(rows[:1]) == {"first": None, "last": None, "ratio": None}
    assert gan_study.first_and_last_fid(rows, "inception")["ratio"] is None


def test_acceptance_checks():
    good = gan_record([60.0, 25.0], final=(80.0, 24.0))
    collapsed = gan_record([60.0, 40.0], final=(70.0, 39.0), counts=[0, 0, 0, 0, 0, 0, 0, 0, 50, 50])
    checks = gan_study.acceptance_checks(good)
    assert checks["holds"].all() and len(checks) == 3
    assert checks.iloc[0]["value"] == "60.00 → 25.00 (×0.417)"
    assert gan_study.acceptance_checks(collapsed)["holds"].tolist() == [False, False, False]
    versus_gan = gan_study.acceptance_checks(good, gan_entry=gan_record([50.0, 20.0]), gan_factor=1.25)
    assert versus_gan.loc["last classifier FID within 1.25× the GAN's", "holds"]      # 25 / 20 = 1.25
    assert versus_gan.loc["last classifier FID within 1.25× the GAN's", "value"] == "25.00 vs 20.00 (×1.250)"
    unknown = gan_study.acceptance_checks({"fid": gan_record([60.0])["fid"]}, gan_factor=1.25)
    assert unknown["holds"].isna().all() and unknown.iloc[-1]["value"] == "GAN run not available"


# ----------------------------------------------------------------------------- the GAN notebook's run

PARAMS = {"profile": "cpu", "device": "cpu", "seed": 0, "epochs": 10, "batch_size": 64, "train_limit": 20000,
          "eval_every": 1, "grid_every": 20, "fid_n_classifier": 10000}


def test_missing_or_unfinished_gan_run_is_explained(reports):
    entry, note = gan_study.load_gan_run("cpu", PARAMS)
    assert entry is None and "03_gan_pixelshuffle has not run for profile 'cpu' and seed 0" in note
    assert "./run_all.sh --profile cpu --seeds 0 --only 03_gan_pixelshuffle" in note
    write_gan_record(reports, PARAMS, status="failed")
    entry, note = gan_study.load_gan_run("cpu", PARAMS)
    assert entry is None and "did not finish" in note
    write_gan_record(reports, PARAMS, model={"fid": []})
    assert gan_study.load_gan_run("cpu", PARAMS)[0] is None


def test_gan_run_is_used_only_with_the_same_shared_parameters(reports):
    write_gan_record(reports, dict(PARAMS, d_norm="none"))
    ours = dict(PARAMS, setting="report", device="cuda", grid_every=5)      # ours only, or not compared
    entry, note = gan_study.load_gan_run("cpu", ours)
    assert entry["fid"][0]["value"] == 40.0 and "same shared parameters" in note and "seed 0" in note
    for change, named in (({"epochs": 5}, "epochs 10 there, 5 here"),
                          ({"fid_n_classifier": 2000}, "fid_n_classifier 10000 there, 2000 here")):
        entry, note = gan_study.load_gan_run("cpu", {**ours, **change})
        assert entry is None and named in note and "left out" in note
    entry, note = gan_study.load_gan_run("cpu", {**ours, "seed": 1})     # seed 1 reads seed1/, not seed0/
    assert entry is None and "has not run for profile 'cpu' and seed 1" in note


def test_gan_samples_are_read_from_the_exported_npz(reports):
    folder = reports / "03_gan_pixelshuffle" / "samples"
    assert gan_study.load_gan_samples("cpu", 0) is None
    folder.mkdir(parents=True)
    np.savez_compressed(folder / "gan.npz", images=np.full((150, 28, 28), 255, dtype=np.uint8))
    assert gan_study.load_gan_samples("cpu", 1) is None                  # another seed's run
    images = gan_study.load_gan_samples("cpu", 0)
    assert images.shape == (100, 1, 28, 28) and images.max() == 1.0


def test_training_precision_chooses_the_training_steps_autocast():
    params = SimpleNamespace(epochs=3, batch_size=16, seed=2, training_precision="fp32")
    assert gan_study.gan_config(params).bf16_autocast is False
    params.training_precision = "bf16"
    assert gan_study.gan_config(params).bf16_autocast is True
    params.training_precision = "fp16"
    with pytest.raises(parameters.ParameterError, match="training_precision must be one of fp32, bf16"):
        gan_study.gan_config(params)
