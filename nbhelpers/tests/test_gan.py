"""The GAN engine, objectives and networks, on tiny random data (fast, CPU)."""
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nbhelpers import clock
from nbhelpers.metrics.samples import evaluation_samples
from nbhelpers.models import gan
from nbhelpers.models.gan import (
    loop as gan_loop,
    losses as gan_losses,
    nets as gan_nets,
    settings as gan_settings,
)
from nbhelpers.models.gan.losses import NonSaturatingGAN, SelfSupervisedGAN, WassersteinGAN

LATENT = gan_nets.LATENT_DIM


pytestmark = pytest.mark.usefixtures("one_thread")


def fake_mnist(count: int = 64, seed: int = 0) -> torch.Tensor:
    """Random 'digits' in [0, 1]: enough for testing the plumbing."""
    return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def networks(seed: int = 0, **discriminator_options):
    torch.manual_seed(seed)
    return gan_nets.Generator(), gan_nets.Discriminator(**discriminator_options)


def tiny_config(**changes) -> gan.GanConfig:
    return gan.GanConfig(epochs=2, batch_size=16, grid_samples=8).with_overrides(**changes)


def run(objective=None, images=None, config=None, seed: int = 0, discriminator_options=None, **options):
    generator, discriminator = networks(seed, **(discriminator_options or {}))
    history = gan.train(generator, discriminator, objective or NonSaturatingGAN(),
                        fake_mnist() if images is None else images, config or tiny_config(), log=None, **options)
    return generator, discriminator, history


# ----------------------------------------------------------------------------- networks

@pytest.mark.parametrize("norm", gan_nets.NORMS)
def test_network_shapes_and_ranges(norm):
    generator, discriminator = networks(norm=norm, rotation_head=True)
    images = generator(torch.randn(5, LATENT))
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    features = discriminator.features(images)
    assert features.shape == (5, 7 * 7 * 64)                      # the report's 7*7*64
    assert discriminator(images).shape == (5,)
    assert discriminator.rotation_logits(features).shape == (5, 4)


def test_sigmoid_output_is_a_probability_and_logit_is_not_squashed():
    torch.manual_seed(0)
    x = torch.randn(16, 1, 28, 28) * 5
    probability = gan_nets.Discriminator(output="sigmoid")(x)
    assert ((probability > 0) & (probability < 1)).all()
    with pytest.raises(ValueError):
        gan_nets.Discriminator(norm="layer")


def test_generator_starts_without_checkerboard_thanks_to_icnr():
    from nbhelpers.models.pixelshuffle import SubPixelUpsample, nearest_equivalent
    generator, _ = networks()
    blocks = [m for m in generator.modules() if isinstance(m, SubPixelUpsample)]
    assert len(blocks) == 2
    x = torch.randn(2, blocks[0].conv.in_channels, 7, 7)
    with torch.no_grad():
        assert torch.allclose(blocks[0](x), nearest_equivalent(blocks[0], x), atol=1e-5)


# ----------------------------------------------------------------------------- objectives

def test_wgan_critic_step_keeps_every_parameter_in_the_clip_box():
    torch.manual_seed(0)
    critic, objective = gan_nets.Discriminator(), WassersteinGAN(clip=0.01)
    optimizer = torch.optim.RMSprop(critic.parameters(), lr=0.5)   # large steps to leave the box
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    loss, stats = objective.discriminator_loss(critic, real, fake)
    assert torch.allclose(loss, stats["d_fake"] - stats["d_real"], atol=1e-6)
    loss.backward()
    optimizer.step()
    assert any(p.abs().max() > 0.01 for p in critic.parameters())
    objective.after_discriminator_step(critic)
    for parameter in critic.parameters():
        assert parameter.min() >= -0.01 and parameter.max() <= 0.01
    assert any((p.abs() == 0.01).any() for p in critic.parameters())


def test_wgan_engine_leaves_the_critic_clipped():
    _, critic, history = run(WassersteinGAN(clip=0.02, n_critic=2), config=tiny_config(epochs=1, optimizer="rmsprop"))
    assert history.status == "finished"
    assert all(p.abs().max() <= 0.02 for p in critic.parameters())
    assert (history.steps["critic_steps"] == 2).all() and len(history.steps) == 2   # 4 batches / 2


def test_wgan_rejects_sigmoid_or_batchnorm_critics():
    with pytest.raises(ValueError, match="logit"):
        WassersteinGAN().check(gan_nets.Discriminator(output="sigmoid"))
    with pytest.raises(ValueError, match="BatchNorm"):
        WassersteinGAN().check(gan_nets.Discriminator(norm="batch"))


def test_wgan_paper_schedule():
    paper, constant = WassersteinGAN(n_critic=5, schedule="paper"), WassersteinGAN(n_critic=5)
    assert [paper.critic_steps(g) for g in range(25)] == [100] * 25
    assert [paper.critic_steps(g) for g in (25, 26, 499, 501, 999, 1001)] == [5] * 6
    assert [paper.critic_steps(g) for g in (500, 1000, 1500)] == [100] * 3
    assert {constant.critic_steps(g) for g in range(1200)} == {5}


def test_engine_follows_the_critic_schedule_within_an_epoch():
    # The paper's schedule scaled down (bursts of 6 critic steps for 2 generator steps, then
    # n_critic = 3): 16 batches of 2 -> 6, 6, 3, then the last generator step gets the 1 left.
    objective = WassersteinGAN(n_critic=3, schedule="paper")
    objective.WARMUP_GENERATOR_STEPS, objective.BURST_CRITIC_STEPS = 2, 6
    config = tiny_config(epochs=1, batch_size=2, optimizer="rmsprop")
    _, _, history = run(objective, images=fake_mnist(32), config=config)
    assert history.steps["critic_steps"].tolist() == [6, 6, 3, 1]


def test_rotations_are_true_rotations_a_quarter_each():
    images = torch.arange(8 * 3 * 3, dtype=torch.float).reshape(8, 1, 3, 3)
    rotated, labels = gan_losses.rotate_quarters(images)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for index, k in enumerate(labels.tolist()):
        assert torch.equal(rotated[index], torch.rot90(images[index], k, dims=(1, 2)))
    assert not torch.equal(rotated[2], images[2].transpose(1, 2))   # a transpose is not a rotation
    assert gan_losses.rotate_quarters(torch.zeros(6, 1, 4, 4))[1].tolist() == [0, 0, 1, 2, 2, 3]


class Spy:
    """Records what reaches D's real/fake head and its rotation head."""

    def __init__(self, discriminator):
        self.scored, self.rotation_inputs = [], []
        score, rotation = discriminator.score, discriminator.rotation_logits
        discriminator.score = lambda h: self.scored.append(h.detach()) or score(h)
        discriminator.rotation_logits = lambda h: self.rotation_inputs.append(h.detach()) or rotation(h)


@pytest.mark.parametrize("norm", ["none", "spectral", "batch"])
def test_ssgan_scores_only_upright_images_and_rotates_only_for_the_rotation_head(norm):
    torch.manual_seed(0)
    discriminator = gan_nets.Discriminator(norm=norm, rotation_head=True).eval()  # eval: fixed SN/BN
    real, fake = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)
    features = lambda x: discriminator.features(x).detach()  # noqa: E731
    spy = Spy(discriminator)
    objective = SelfSupervisedGAN(alpha=0.2, beta=1.0)
    _, stats = objective.discriminator_loss(discriminator, real, fake)
    assert torch.allclose(torch.cat(spy.scored), features(torch.cat([real, fake])), atol=1e-5)
    assert torch.allclose(spy.rotation_inputs[0], features(gan_lossesrot(real)), atol=1e-5)
    assert 0 <= stats["rotation_accuracy_real"] <= 1
    spy.scored.clear(), spy.rotation_inputs.clear()
    _, g_stats = objective.generator_loss(discriminator, fake)
    assert torch.allclose(torch.cat(spy.scored), features(fake), atol=1e-5)
    assert torch.allclose(spy.rotation_inputs[0], features(gan_lossesrot(fake)), atol=1e-5)
    assert set(g_stats) == {"rotation_loss_fake", "rotation_accuracy_fake"}


def gan_lossesrot(images):
    return gan_losses.rotate_quarters(images)[0]


def test_ssgan_leak_switch_really_leaks():
    """The failure-mode switch scores rotated images too: the spy above would catch it."""
    torch.manual_seed(0)
    discriminator = gan_nets.Discriminator(rotation_head=True).eval()
    spy = Spy(discriminator)
    SelfSupervisedGAN(score_rotated=True).discriminator_loss(discriminator, torch.rand(8, 1, 28, 28),
                                                             torch.rand(8, 1, 28, 28))
    assert sum(len(h) for h in spy.scored) == 32


def test_ssgan_needs_a_rotation_head():
    with pytest.raises(ValueError, match="rotation_head"):
        SelfSupervisedGAN().check(gan_nets.Discriminator())


def test_non_saturating_loss_matches_its_formula():
    torch.manual_seed(0)
    for output in ("logit", "sigmoid"):
        discriminator = gan_nets.Discriminator(output=output)
        real, fake = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
        loss_d, stats = NonSaturatingGAN().discriminator_loss(discriminator, real, fake)
        p_real, p_fake = stats["d_real"], stats["d_fake"]
        d_real = discriminator(real) if output == "sigmoid" else torch.sigmoid(discriminator(real))
        d_fake = discriminator(fake) if output == "sigmoid" else torch.sigmoid(discriminator(fake))
        expected = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
        assert torch.allclose(loss_d, expected, atol=1e-5)
        assert torch.allclose(p_real, d_real.mean()) and torch.allclose(p_fake, d_fake.mean())
        loss_g, _ = NonSaturatingGAN().generator_loss(discriminator, fake)
        assert torch.allclose(loss_g, -torch.log(d_fake).mean(), atol=1e-5)


# ----------------------------------------------------------------------------- engine

def test_history_records_and_grids(tmp_path):
    calls = []

    def evaluate(generator, epoch):
        calls.append((epoch, generator.training, torch.is_grad_enabled()))
        return {"score": float(epoch), "per_class": torch.arange(3)}

    config = tiny_config(epochs=4, grid_every=20, eval_every=3)
    _, _, history = run(config=config, evaluate=evaluate, models_dir=tmp_path)
    assert history.status == "finished" and history.last_epoch == 4
    steps = history.steps
    assert len(steps) == 16 and steps["step"].tolist() == list(range(16))
    for column in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert steps[column].notna().all()
    assert steps["d_real"].between(0, 1).all()
    assert history.epochs["epoch"].tolist() == [1, 2, 3, 4] and (history.epochs["seconds"] > 0).all()
    assert sorted(history.grids) == [1, 2, 3, 4] == gan.quarter_epochs(4)
    grid = history.grids[4]
    assert grid.shape == (8, 1, 28, 28) and grid.device.type == "cpu" and 0 <= grid.min() <= grid.max() <= 1
    assert [c[0] for c in calls] == [1, 2, 3, 4] and not any(c[1] or c[2] for c in calls)
    assert history.evaluations["score"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert torch.equal(history.evaluation_details[0]["per_class"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan_discriminator.pt", "gan_generator.pt"]


def test_schedule_of_grids_and_quarters():
    assert gan.quarter_epochs(150) == [38, 75, 113, 150]
    config = gan.GanConfig(epochs=150, grid_every=20, eval_every=10)
    assert gan.grid_epochs(config) == [20, 38, 40, 60, 75, 80, 100, 113, 120, 140, 150]
    assert gan.evaluation_epochs(config)[:4] == [10, 20, 30, 38] and gan.evaluation_epochs(config)[-1] == 150
    assert gan.quarter_epochs(2) == [1, 2]


def test_an_evaluation_schedule_dense_through_the_first_quarter_keeps_the_quarters_and_the_end():
    dense = gan.GanConfig(epochs=12, eval_every=1)
    sparse = dense.with_overrides(eval_every_through="first_quarter")
    assert gan.evaluation_epochs(dense) == list(range(1, 13))
    assert gan.evaluation_epochs(sparse) == [1, 2, 3, 6, 9, 12]
    assert gan.evaluation_epochs(gan.GanConfig(epochs=150, eval_every=10, eval_every_through="first_quarter")) == [
        10, 20, 30, 38, 75, 113, 150]
    with pytest.raises(ValueError, match="eval_every_through must be one of end, first_quarter, got 'half'"):
        gan.GanConfig(eval_every_through="half")


def test_evaluating_fewer_epochs_changes_no_number_of_the_epochs_still_evaluated():
    """Training is the same whichever epochs are evaluated (evaluation draws its own noise, G in
    eval mode): the sparse schedule's evaluations, final weights and step losses equal the dense one's."""
    def evaluate(generator, epoch):
        images = evaluation_samples(gan.sample_images, generator, 32, seed=5)
        return {"mean": images.mean().item(), "first": images[0, 0, 14].tolist()}

    dense = tiny_config(epochs=8, eval_every=1)
    g_dense, d_dense, h_dense = run(config=dense, evaluate=evaluate, images=fake_mnist(48))
    g_sparse, d_sparse, h_sparse = run(config=dense.with_overrides(eval_every_through="first_quarter"),
                                       evaluate=evaluate, images=fake_mnist(48))
    assert h_sparse.evaluations["epoch"].tolist() == [1, 2, 4, 6, 8]
    untimed = {"columns": ["eval_seconds", "seconds"], "errors": "ignore"}
    assert h_dense.evaluations.set_index("epoch").loc[[1, 2, 4, 6, 8]].drop(**untimed).equals(
        h_sparse.evaluations.set_index("epoch").drop(**untimed))
    assert h_dense.steps.drop(**untimed).equals(h_sparse.steps.drop(**untimed))
    for dense_net, sparse_net in ((g_dense, g_sparse), (d_dense, d_sparse)):
        assert all(torch.equal(a, b) for a, b in zip(dense_net.state_dict().values(), sparse_net.state_dict().values()))


def test_wgan_saves_a_critic(tmp_path):
    run(WassersteinGAN(), config=tiny_config(epochs=1, optimizer="rmsprop"), name="wgan", models_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wgan_critic.pt", "wgan_generator.pt"]


def test_ssgan_runs_and_records_rotation_accuracy():
    _, _, history = run(SelfSupervisedGAN(), discriminator_options={"norm": "spectral", "rotation_head": True},
                        config=tiny_config(epochs=1))
    steps = history.steps
    for column in ("rotation_accuracy_real", "rotation_accuracy_fake"):
        assert steps[column].between(0, 1).all()


def test_same_seed_same_run_on_cpu():
    g1, _, h1 = run(config=tiny_config(epochs=1))
    g2, _, h2 = run(config=tiny_config(epochs=1))
    assert h1.steps.equals(h2.steps)
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    _, _, h3 = run(config=tiny_config(epochs=1, seed=1))
    assert not h1.steps["loss_d"].equals(h3.steps["loss_d"])


class Interrupted(Exception):
    pass


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    config = tiny_config(epochs=3, eval_every=1)

    def evaluate(generator, epoch):
        z = torch.randn(4, LATENT, generator=torch.Generator().manual_seed(7))
        return {"mean": generator(z).mean().item()}

    def interrupt_at_epoch_2(generator, epoch):
        if epoch == 2:
            raise Interrupted
        return evaluate(generator, epoch)

    g_full, d_full, full = run(config=config, evaluate=evaluate)
    with pytest.raises(Interrupted):
        run(config=config, evaluate=interrupt_at_epoch_2, checkpoint_dir=tmp_path)
    assert only_checkpoint(tmp_path).name.startswith("gan-")
    g_resumed, d_resumed, resumed = run(config=config, evaluate=evaluate, checkpoint_dir=tmp_path, seed=123)
    assert resumed.resumed_at_epoch == 1 and resumed.status == "finished"
    assert full.steps.equals(resumed.steps)
    assert full.evaluations.drop(columns="eval_seconds").equals(resumed.evaluations.drop(columns="eval_seconds"))
    for a, b in [(g_full, g_resumed), (d_full, d_resumed)]:
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert all(torch.equal(full.grids[e], resumed.grids[e]) for e in full.grids)
    # A finished run is loaded, not trained again.
    g_again, _, again = run(config=config, evaluate=evaluate, checkpoint_dir=tmp_path, seed=5)
    assert again.steps.equals(full.steps)
    assert all(torch.equal(x, y) for x, y in zip(g_full.state_dict().values(), g_again.state_dict().values()))


def only_checkpoint(folder):
    (path,) = [p for p in folder.iterdir() if p.suffix == ".pt"]
    return path


def test_other_settings_start_their_own_checkpoint_and_switching_back_resumes(tmp_path):
    run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    first = only_checkpoint(tmp_path)
    before = first.read_bytes()
    _, _, other = run(config=tiny_config(epochs=1, lr_generator=3e-4), checkpoint_dir=tmp_path)
    _, _, critic = run(WassersteinGAN(), config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    assert other.resumed_at_epoch is None and critic.resumed_at_epoch is None   # trained, nothing refused
    assert len(list(tmp_path.glob("*.pt"))) == 3 and first.read_bytes() == before
    _, _, again = run(config=tiny_config(epochs=1, checkpoint_every=5), checkpoint_dir=tmp_path)  # bookkeeping only
    assert again.resumed_at_epoch == 1 and again.reused.startswith("finished run loaded from checkpoint")


def test_the_training_code_is_part_of_the_checkpoint_key(tmp_path, monkeypatch):
    run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    monkeypatch.setattr(gan_settings, "code_fingerprint", lambda: "changed-source")
    _, _, rerun = run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    assert rerun.resumed_at_epoch is None and len(list(tmp_path.glob("*.pt"))) == 2


def test_a_corrupt_checkpoint_is_set_aside_and_never_used(tmp_path):
    config = tiny_config(epochs=1)
    g_clean, _, _ = run(config=config, checkpoint_dir=tmp_path)
    path = only_checkpoint(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01                     # one flipped bit inside the tensors
    path.write_bytes(bytes(data))
    messages = []
    generator, discriminator = networks()
    history = gan.train(generator, discriminator, NonSaturatingGAN(), fake_mnist(), config,
                        checkpoint_dir=tmp_path, log=messages.append)
    assert history.resumed_at_epoch is None and not history.reused       # retrained, not loaded
    assert any(path.name + " not used: its sha256" in m for m in messages), messages
    assert (tmp_path / (path.name + ".corrupt")).exists()
    assert all(torch.equal(a, b) for a, b in zip(g_clean.state_dict().values(), generator.state_dict().values()))
    path.write_bytes(path.read_bytes()[:1000])       # truncated: caught the same way
    _, _, again = run(config=config, checkpoint_dir=tmp_path)
    assert again.resumed_at_epoch is None


def test_every_module_of_the_loop_is_part_of_the_checkpoint_key():
    package = Path(gan_settings.__file__).parent
    modules = {f"gan/{path.name}" for path in package.glob("*.py") if path.name != "__init__.py"}
    assert modules <= set(gan_settings.TRAINING_SOURCES) and "pixelshuffle.py" in gan_settings.TRAINING_SOURCES
    assert all((gan_settings.MODELS_DIR / name).is_file() for name in gan_settings.TRAINING_SOURCES)


def test_the_loop_reads_no_hidden_channel():
    """Batch caps and retraining come in as arguments of train(), never from the environment."""
    for path in Path(gan_settings.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert "os.environ" not in source and "nbhelpers.batch" not in source, path.name


def test_fresh_retrains_instead_of_loading(tmp_path):
    run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    messages = []
    _, _, fresh = run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path, fresh=True)
    assert fresh.resumed_at_epoch is None and len(list(tmp_path.glob("*.pt"))) == 1
    generator, discriminator = networks()
    gan.train(generator, discriminator, NonSaturatingGAN(), fake_mnist(), tiny_config(epochs=1),
              checkpoint_dir=tmp_path, log=messages.append, fresh=True)
    path = only_checkpoint(tmp_path)
    assert f"[gan] --fresh: retraining; {path.name} will be replaced" in messages
    _, _, again = run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)   # what fresh wrote is resumed
    assert again.resumed_at_epoch == 1


def test_max_batches_caps_the_batches_of_every_epoch():
    _, _, history = run(config=tiny_config(epochs=2), max_batches=2)       # 4 batches an epoch otherwise
    assert history.steps.groupby("epoch").size().tolist() == [2, 2]
    assert history.epochs["generator_steps"].tolist() == [2, 2] and history.status == "finished"
    _, _, critic = run(WassersteinGAN(n_critic=5), config=tiny_config(epochs=1, optimizer="rmsprop"), max_batches=3)
    assert critic.steps["critic_steps"].tolist() == [3]                     # the critic runs out of batches
    _, _, uncapped = run(config=tiny_config(epochs=1), max_batches=100)    # a cap above the epoch changes nothing
    assert len(uncapped.steps) == 4
    with pytest.raises(ValueError, match="max_batches"):
        run(max_batches=0)


def test_a_capped_run_never_shares_a_checkpoint_with_a_full_one(tmp_path):
    run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    _, _, capped = run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path, max_batches=1)
    assert capped.resumed_at_epoch is None and len(capped.steps) == 1 and len(list(tmp_path.glob("*.pt"))) == 2


class NaNAfter(NonSaturatingGAN):
    def __init__(self, step):
        self.calls, self.step = 0, step

    def discriminator_loss(self, discriminator, real, fake):
        loss, stats = super().discriminator_loss(discriminator, real, fake)
        self.calls += 1
        return (loss * float("nan") if self.calls > self.step else loss), stats


def test_non_finite_loss_stops_with_status_diverged(tmp_path):
    _, _, history = run(NaNAfter(5), config=tiny_config(epochs=3), models_dir=tmp_path)  # 4 steps/epoch
    assert history.status == "diverged" and history.diverged_step == 5
    assert "diverged" in history.message and "step 5 (epoch 2)" in history.message
    steps = history.steps
    assert len(steps) == 6 and steps["loss_d"].iloc[:5].notna().all() and steps["loss_d"].isna().iloc[5]
    assert history.last_epoch == 2 and history.epochs["generator_steps"].tolist() == [4, 2]
    assert list(tmp_path.iterdir()) == []


def test_engine_does_not_use_a_dataloader(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the engine must not build a DataLoader")

    monkeypatch.setattr(torch.utils.data.DataLoader, "__init__", forbidden)
    _, _, history = run(config=tiny_config(epochs=1))
    assert history.status == "finished"


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="batch_size"):
        run(images=fake_mnist(8))
    with pytest.raises(TypeError, match="unknown GanConfig"):
        tiny_config(learning_rate=1.0)
    with pytest.raises(ValueError, match="rotation_head"):
        run(SelfSupervisedGAN())


def test_sample_images_are_reproducible_and_in_range():
    generator, _ = networks()
    generator.train()
    first = gan.sample_images(generator, 10, seed=3, batch_size=4)
    assert first.shape == (10, 1, 28, 28) and 0 <= first.min() <= first.max() <= 1
    assert torch.equal(first, gan.sample_images(generator, 10, seed=3, batch_size=4))
    assert torch.allclose(first, gan.sample_images(generator, 10, seed=3), atol=1e-5)  # eval mode: per-sample
    assert generator.training


# ----------------------------------------------------------------------------- step records by name

class WithFakeMean(NonSaturatingGAN):
    """The GAN objective with one more statistic of G's update: the mean fake pixel."""
    generator_stats = ("fake_mean",)

    def generator_loss(self, discriminator, fake):
        loss, stats = super().generator_loss(discriminator, fake)
        return loss, {**stats, "fake_mean": fake.detach().mean()}


def test_a_new_statistic_is_recorded_by_its_name_alone():
    _, _, history = run(WithFakeMean(), config=tiny_config(epochs=2))
    steps = history.steps
    assert list(steps.columns) == ["epoch", "step", "loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "critic_steps",
                                   "d_real", "d_fake", "fake_mean"]
    assert steps["fake_mean"].between(-1, 1).all() and steps["critic_steps"].dtype.kind == "i"
    by_epoch = steps.groupby("epoch")["fake_mean"].mean()
    assert history.epochs["fake_mean"].to_numpy() == pytest.approx(by_epoch.to_numpy())
    _, _, plain = run(config=tiny_config(epochs=2))   # the same updates: the extra statistic changes nothing
    assert steps.drop(columns="fake_mean").equals(plain.steps)


def test_steps_copied_to_the_host_in_blocks_are_the_steps_copied_one_by_one():
    """The CUDA path (one device -> host copy every ``sync_every`` steps), run on the CPU."""
    def one_epoch(sync_every):
        generator, discriminator = networks()
        t = gan_loop._start(generator, discriminator, NonSaturatingGAN(), fake_mnist(80), tiny_config(), None, None,
                            name="gan", evaluate=None, models_dir=None, log=print, progress_lines=True)
        t.sync_every = sync_every
        return gan_loop._train_epoch(t, epoch=1)

    blocks, used = one_epoch(3)
    single, _ = one_epoch(1)
    assert used == 5 and [len(b) for b in blocks] == [3, 2] and [len(b) for b in single] == [1] * 5
    assert np.array_equal(np.concatenate(blocks), np.concatenate(single))
    assert np.concatenate(blocks)["step"].tolist() == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------- the checkpoint key

LOOP_SOURCE = Path(gan_loop.__file__).read_text()


def fingerprint_of(tmp_path, source: str) -> str:
    copy = tmp_path / "loop.py"
    copy.write_text(source)
    return gan_settings.code_fingerprint([copy])


def test_a_comment_docstring_or_layout_edit_keeps_the_checkpoint_key(tmp_path):
    assert fingerprint_of(tmp_path, LOOP_SOURCE) == gan_settings.code_fingerprint([gan_loop.__file__])
    edited = (LOOP_SOURCE.replace('"""The one GAN training loop', '"""The one GAN training loop (edited)', 1)
              .replace("Algorithm 1 for one epoch.", "Algorithm 1, one epoch at a time.", 1)
              .replace("# e.g. WGAN weight clipping", "# for example the WGAN's weight clipping", 1)
              .replace("import time\n", "import time  # a new comment\n\n\n", 1))
    assert edited.count("(edited)") == 1 and "one epoch at a time" in edited and "a new comment" in edited
    assert "the WGAN's weight clipping" in edited
    assert fingerprint_of(tmp_path, edited) == gan_settings.code_fingerprint([gan_loop.__file__])


def test_changing_an_operation_changes_the_checkpoint_key(tmp_path):
    changed = LOOP_SOURCE.replace("RMSprop(parameters, lr=lr)", "RMSprop(parameters, lr=lr * 1.0)", 1)
    assert changed != LOOP_SOURCE
    assert fingerprint_of(tmp_path, changed) != gan_settings.code_fingerprint([gan_loop.__file__])


def test_the_key_covers_every_training_source_in_order():
    paths = [gan_settings.MODELS_DIR / name for name in gan_settings.TRAINING_SOURCES]
    assert gan_settings.code_fingerprint() == gan_settings.code_fingerprint(paths)
    assert gan_settings.code_fingerprint() != gan_settings.code_fingerprint(paths[:-1])
    assert gan_settings.code_fingerprint() != gan_settings.code_fingerprint(paths[::-1])


# ----------------------------------------------------------------------------- precision and time

def test_bf16_autocast_is_off_by_default_keyed_apart_and_changes_the_arithmetic(tmp_path):
    assert gan.GanConfig().bf16_autocast is False
    _, _, fp32 = run(config=tiny_config(epochs=1), checkpoint_dir=tmp_path)
    _, _, bf16 = run(config=tiny_config(epochs=1, bf16_autocast=True), checkpoint_dir=tmp_path)
    assert bf16.resumed_at_epoch is None and len(list(tmp_path.glob("*.pt"))) == 2   # never resumes an fp32 run
    assert np.isfinite(bf16.steps["loss_d"]).all() and np.isfinite(bf16.steps["loss_g"]).all()
    assert not np.allclose(fp32.steps["loss_d"], bf16.steps["loss_d"], rtol=1e-6, atol=0)   # bf16 really ran
    _, _, again = run(config=tiny_config(epochs=1))
    assert np.array_equal(fp32.steps["loss_d"], again.steps["loss_d"])   # fp32 untouched by the option


def test_the_training_steps_and_the_evaluation_callback_count_as_their_own_phases():
    def evaluate(generator, epoch):
        until = time.process_time() + 0.05   # 50 ms of CPU a call
        while time.process_time() < until:
            pass
        return {}

    before = clock.spent()
    _, _, history = run(config=tiny_config(epochs=2), evaluate=evaluate)
    spent = clock.spent(since=before)
    calls = len(history.evaluation_details)
    assert calls == 2 and 0.05 * calls <= spent["evaluation"] < 0.05 * calls + 0.05
    assert spent["training"] > 0 and history.training_seconds > 0
