"""The dry run's limits: sample counts capped, switches and schedules kept, two batches an
epoch in every training loop, one seed unless chosen (fast, CPU)."""
from types import SimpleNamespace

import pytest
import torch

from nbhelpers.batch import dryrun, main, plan
from nbhelpers.environment import BatchContext
from nbhelpers.models import gan, vae
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.gan.losses import SelfSupervisedGAN, WassersteinGAN
from nbhelpers.report import context, profiles

pytestmark = pytest.mark.usefixtures("one_thread")


def decided(*args: str) -> BatchContext:
    """The context the batch decides for its notebook runs from its command line."""
    return plan.batch_context_of(main.parse_args(list(args)))


@pytest.fixture
def dry(monkeypatch):
    """A notebook run of ``--dry-run``: the batch's context in the kernel's environment."""
    monkeypatch.setenv(*decided("--dry-run").variables().popitem())


def test_limit_caps_sample_counts_and_keeps_everything_else():
    full = profiles.resolve("05_ssgan", "full", seed=0)
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
    profile, seeds, tasks = plan.plan(main.parse_args(["--profile", "full", "--dry-run"]))
    first = profiles.profile_seeds("full")[0]
    assert profile == "full" and seeds == [first] and {t.seed for t in tasks} == {first, None}
    params = {t.stem: t.params for t in tasks}
    assert params["04_wgan"]["compare_settings"] == ["paper"]
    assert params["02_controlvae"]["sweep_fid_inception"] is True
    assert params["03_gan_pixelshuffle"]["inception_during_training"] == "quarters"
    assert all(p.get("fid_n_inception", 0) <= dryrun.CAPS["fid_n_inception"] for p in params.values())
    _, seeds, tasks = plan.plan(main.parse_args(["--profile", "full", "--dry-run", "--seeds", "1,2"]))
    assert seeds == [1, 2] and {t.seed for t in tasks} == {1, 2, None}


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_every_profile_has_a_dry_run(profile):
    _, seeds, tasks = plan.plan(main.parse_args(["--profile", profile, "--dry-run"]))
    assert seeds == profiles.profile_seeds(profile)[:1]
    assert all(t.params.get(key, 0) <= cap for t in tasks for key, cap in dryrun.CAPS.items())


def test_batch_caps_apply_only_in_a_dry_run():
    assert decided().max_batches is None and decided("--fresh").max_batches is None
    dry = decided("--dry-run")
    assert dry.max_batches == dryrun.BATCHES_PER_EPOCH == 2 and dry.dry_run and dry.note == dryrun.describe()
    assert dry.fresh and not decided().fresh                   # a dry run never reuses a finished checkpoint
    assert decided().progress_lines and dry.progress_lines    # a batch's kernels write to a log
    items = torch.arange(1000)
    assert vae.first_batches(items, 128, decided().max_batches) is items
    assert torch.equal(vae.first_batches(items, 128, dry.max_batches), items[:256])
    assert len(vae.first_batches(items[:100], 128, dry.max_batches)) == 100


def test_the_vae_loop_runs_two_batches_an_epoch_and_a_short_test_pass():
    torch.manual_seed(0)
    images = torch.rand(1000, 1, 28, 28)
    history = vae.train_vae(vae.VAE(), images, images, epochs=3, batch_size=64, progress=False,
                            max_batches=decided("--dry-run").max_batches)
    assert history.steps.groupby("epoch").size().tolist() == [2, 2, 2]
    assert len(history.epochs) == 3


@pytest.mark.parametrize("objective", [WassersteinGAN(n_critic=5), SelfSupervisedGAN()], ids=["wgan", "ssgan"])
def test_the_gan_engine_runs_two_batches_an_epoch(objective):
    torch.manual_seed(0)
    rotation = isinstance(objective, SelfSupervisedGAN)
    generator = gan_nets.Generator()
    discriminator = gan_nets.Discriminator(norm="spectral" if rotation else "none", output="logit", rotation_head=rotation)
    config = gan.GanConfig(epochs=3, batch_size=16, grid_samples=8, optimizer="rmsprop" if not rotation else "adam")
    history = gan.train(generator, discriminator, objective, torch.rand(160, 1, 28, 28), config, log=None,
                        max_batches=decided("--dry-run").max_batches)
    epochs = history.epochs
    assert history.status == "finished" and epochs["epoch"].tolist() == [1, 2, 3]
    # 10 batches an epoch otherwise; the WGAN's 5 critic steps run out of batches after 2.
    assert (epochs["critic_steps"] == 2).all()
    assert (epochs["generator_steps"] == (1 if not rotation else 2)).all()


def test_the_run_header_says_dry_run(dry, capsys):
    context.start_run("01_vae", SimpleNamespace(profile="full", seed=0, device="cpu"))
    header = capsys.readouterr().out
    assert "| DRY RUN |" in header and dryrun.describe() in header
