"""The dry run's limits: sample counts capped, switches and schedules kept, two batches an
epoch in every training loop, one seed unless chosen (fast, CPU)."""
import pytest
import torch

from nbhelpers.report import config
from nbhelpers.batch import dryrun, main as pipeline
from nbhelpers.models import gan, vae
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers import paths
from nbhelpers.models.gan.losses import SelfSupervisedGAN, WassersteinGAN

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def dry(monkeypatch):
    monkeypatch.setenv(paths.DRY_RUN_VARIABLE, "1")


def test_limit_caps_sample_counts_and_keeps_everything_else():
    full = config.resolve("05_ssgan", "full", seed=0)
    limited = dryrun.limit(full)
    for key, cap in dryrun.CAPS.items():
        assert limited[key] == min(full[key], cap) <= cap
    assert limited["fid_n_classifier"] >= 128     # the classifier's feature dimension: rows stay unflagged
    changed = {key for key in full if limited[key] != full[key]}
    assert changed and changed <= set(dryrun.CAPS)
    assert (limited["epochs"], limited["eval_every"], limited["ablation_alphas"]) == (150, 5, [0.0, 0.1, 0.2, 0.5, 1.0])
    assert full["fid_n_inception"] == 10000       # limit returned a copy


def test_limit_leaves_small_and_switched_off_counts_alone():
    params = {"fid_n_inception": 0, "fid_n_classifier": 100, "compare_settings": ["paper"], "profile": "full"}
    assert dryrun.limit(params) == params


def test_the_full_profiles_switches_survive_the_plan():
    profile, seeds, tasks = pipeline.plan(pipeline.parse_args(["--profile", "full", "--dry-run"]))
    assert profile == "full" and seeds == [0] and {t.seed for t in tasks} == {0, None}
    params = {t.stem: t.params for t in tasks}
    assert params["04_wgan"]["compare_settings"] == ["paper"]
    assert params["02_controlvae"]["sweep_fid_inception"] is True
    assert params["03_gan_pixelshuffle"]["inception_at_quarters"] is True
    assert all(p.get("fid_n_inception", 0) <= dryrun.CAPS["fid_n_inception"] for p in params.values())
    _, seeds, tasks = pipeline.plan(pipeline.parse_args(["--profile", "full", "--dry-run", "--seeds", "1,2"]))
    assert seeds == [1, 2] and {t.seed for t in tasks} == {1, 2, None}


@pytest.mark.parametrize("profile", config.PROFILES)
def test_every_profile_has_a_dry_run(profile):
    _, seeds, tasks = pipeline.plan(pipeline.parse_args(["--profile", profile, "--dry-run"]))
    assert seeds == config.profile_seeds(profile)[:1]
    assert all(t.params.get(key, 0) <= cap for t in tasks for key, cap in dryrun.CAPS.items())


def test_batch_caps_apply_only_in_a_dry_run(monkeypatch):
    monkeypatch.delenv(paths.DRY_RUN_VARIABLE, raising=False)
    items = torch.arange(1000)
    assert dryrun.batches(937) == 937 and dryrun.first_batches(items, 128) is items
    monkeypatch.setenv(paths.DRY_RUN_VARIABLE, "1")
    assert dryrun.batches(937) == 2 and dryrun.batches(1) == 1
    assert torch.equal(dryrun.first_batches(items, 128), items[:256])
    assert len(dryrun.first_batches(items[:100], 128)) == 100


def test_the_vae_loop_runs_two_batches_an_epoch_and_a_short_test_pass(dry):
    torch.manual_seed(0)
    images = torch.rand(1000, 1, 28, 28)
    history = vae.train_vae(vae.VAE(), images, images, epochs=3, batch_size=64, progress=False)
    assert history.steps.groupby("epoch").size().tolist() == [2, 2, 2]
    assert len(history.epochs) == 3


@pytest.mark.parametrize("objective", [WassersteinGAN(n_critic=5), SelfSupervisedGAN()], ids=["wgan", "ssgan"])
def test_the_gan_engine_runs_two_batches_an_epoch(dry, objective):
    torch.manual_seed(0)
    rotation = isinstance(objective, SelfSupervisedGAN)
    generator = gan_nets.Generator()
    discriminator = gan_nets.Discriminator(norm="spectral" if rotation else "none", output="logit", rotation_head=rotation)
    config = gan.GanConfig(epochs=3, batch_size=16, grid_samples=8, optimizer="rmsprop" if not rotation else "adam")
    history = gan.train(generator, discriminator, objective, torch.rand(160, 1, 28, 28), config, log=None)
    epochs = history.epochs
    assert history.status == "finished" and epochs["epoch"].tolist() == [1, 2, 3]
    # 10 batches an epoch otherwise; the WGAN's 5 critic steps run out of batches after 2.
    assert (epochs["critic_steps"] == 2).all()
    assert (epochs["generator_steps"] == (1 if not rotation else 2)).all()


def test_the_run_header_says_dry_run(dry, capsys):
    from types import SimpleNamespace

    from nbhelpers.report import context
    context.start_run("01_vae", SimpleNamespace(profile="full", seed=0, device="cpu"))
    header = capsys.readouterr().out
    assert "| DRY RUN |" in header and dryrun.describe() in header
