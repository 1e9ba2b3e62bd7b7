"""The WGAN study's helpers (nbhelpers.studies.wgan_study), on tiny random data.

That the engine leaves every critic parameter in [-c, c] after its critic steps is tested in
test_gan.py (test_wgan_engine_leaves_the_critic_clipped); not repeated here.
"""
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from nbhelpers.models import gan
from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.gan.losses import WassersteinGAN
from nbhelpers.studies import wgan_study

from .gan_fakes import StubEvaluator, fake_mnist

matplotlib.use("Agg")


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_params(**changes):
    values = dict(epochs=3, batch_size=16, seed=0, grid_every=20, eval_every=1, inception_during_training="none")
    return SimpleNamespace(**{**values, **changes})


# ----------------------------------------------------------------------------- clip box

def test_clip_statistics_counts_values_at_each_bound():
    layer = nn.Linear(4, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.01, -0.01, 0.005, 0.0]]))
        layer.bias.fill_(-0.01)
    stats = wgan_study.clip_statistics(layer, clip=0.01)
    assert stats.loc["weight", ["count", "at -c", "at +c"]].tolist() == [4, 1, 1]
    assert stats.loc["weight", "share at bounds"] == pytest.approx(0.5)
    assert stats.loc["weight", "mean |w| / c"] == pytest.approx(0.625)
    assert stats.loc["bias", "share at bounds"] == 1.0
    assert stats.loc["all", ["count", "at -c", "at +c"]].tolist() == [5, 2, 1]
    assert stats.loc["all", "share at bounds"] == pytest.approx(0.6)
    assert stats.loc["all", "max |w| / c"] == pytest.approx(1.0)


def test_clipped_copy_is_in_the_box_and_leaves_the_original_alone():
    torch.manual_seed(0)
    critic = gan_nets.Discriminator()
    before = [p.detach().clone() for p in critic.parameters()]
    copied = wgan_study.clipped_copy(critic, 0.01)
    assert all(torch.equal(a, b) for a, b in zip(before, critic.parameters()))
    assert all(p.abs().max() <= 0.01 for p in copied.parameters())
    # the default initialisation is much wider than c, so the first clip saturates most weights
    assert wgan_study.clip_statistics(copied, 0.01).loc["all", "share at bounds"] > 0.5


# ----------------------------------------------------------------------------- settings and training

def test_settings_to_run_keeps_order_drops_repeats_and_rejects_unknown_names():
    assert wgan_study.settings_to_run("report", ["paper", "report"]) == ["report", "paper"]
    assert wgan_study.settings_to_run("paper") == ["paper"]
    with pytest.raises(ValueError, match="unknown WGAN setting"):
        wgan_study.settings_to_run("report", ["gp"])
    assert wgan_study.model_name("report", "report") == "wgan"
    assert wgan_study.model_name("paper", "report") == "wgan_paper"


def test_report_n_critic_changes_only_the_report_setting():
    assert wgan_study.objective_for("report")[0].n_critic == 5          # the preset's own value
    report, overrides = wgan_study.objective_for("report", report_n_critic=1)
    assert report.n_critic == 1 and report.schedule == "constant" and overrides["lr_generator"] == 1e-3
    paper, _ = wgan_study.objective_for("paper", report_n_critic=1)
    assert paper.n_critic == 5 and paper.schedule == "paper"
    assert wgan_study.settings_table(["report", "paper"], 1).loc["n_critic"].tolist() == [1, 5]


def test_train_setting_applies_report_n_critic(tmp_path):
    run = wgan_study.train_setting("report", fake_mnist(64), tiny_params(epochs=1, report_n_critic=1),
                                    StubEvaluator(), tmp_path, log=None)
    assert run.objective.n_critic == 1 and run.history.steps["critic_steps"].tolist() == [1] * 4


def test_presets_come_from_the_facts():
    objective, overrides = wgan_study.wgan_setting("paper")
    assert objective.schedule == "paper" and overrides["lr_generator"] == 5e-5
    assert wgan_study.wgan_setting("report")[1]["lr_generator"] == 1e-3


def test_settings_table_shows_both_schedules():
    table = wgan_study.settings_table(["report", "paper"])
    assert table.loc["lr critic", "report"] == 1e-3 and table.loc["lr critic", "paper"] == 5e-5
    assert table.loc["critic steps, first 25 G steps"].tolist() == [5, 100]


def test_train_setting_uses_the_setting_saves_a_critic_and_records_the_estimate(tmp_path):
    run = wgan_study.train_setting("report", fake_mnist(), tiny_params(), StubEvaluator(), tmp_path, log=None)
    assert run.config.optimizer == "rmsprop" and run.config.lr_discriminator == 1e-3
    assert run.config.epochs == 3 and run.config.batch_size == 16
    assert isinstance(run.objective, WassersteinGAN) and run.discriminator.norm == "none" and run.discriminator.output == "logit"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["wgan_critic.pt", "wgan_generator.pt"]
    assert run.history.model_files["critic"].endswith("wgan_critic.pt")
    assert [p.name[:5] for p in (tmp_path.parent / "checkpoints" / tmp_path.name).glob("*.pt")] == ["wgan-"]
    # 96 images / 16 = 6 batches an epoch: one generator step after 5 critic steps, one after the last
    assert run.history.steps["critic_steps"].tolist() == [5, 1] * 3

    steps = run.history.steps
    estimate = wgan_study.wasserstein_estimate(run.history)
    assert estimate.index.tolist() == steps["step"].tolist()
    np.testing.assert_allclose(estimate.to_numpy(), -steps["loss_d"].to_numpy())
    np.testing.assert_allclose(estimate.to_numpy(), (steps["d_real"] - steps["d_fake"]).to_numpy(), atol=1e-5)

    table, rho = wgan_study.estimate_vs_fid(run.history)
    assert table["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(table["classifier_fid"], [100.0, 50.0, 100.0 / 3])
    assert rho is not None and -1 <= rho <= 1

    summary = wgan_study.run_summary(run, "report")
    assert summary["setting"] == "report"
    assert summary["critic_steps"] == 18 and "generator_steps" not in summary   # gan_study.record writes those
    assert summary["loss_gap"] == wgan_study.loss_gap(run.history) and summary["loss_gap"]["steps"] == 1
    assert 0 <= summary["critic_share_at_clip_bounds"] <= 1


def history_of(loss_d, loss_g) -> gan.GanHistory:
    history = gan.GanHistory(statistics=())
    count = len(loss_d)
    columns = {"epoch": [1] * count, "step": range(1, count + 1), "loss_d": loss_d, "loss_g": loss_g,
               "grad_norm_d": [1.0] * count, "grad_norm_g": [1.0] * count, "critic_steps": [1] * count}
    history.add_epoch([history.step_block(columns)], {"epoch": 1}, 0.0)
    return history


def test_the_loss_gap_is_the_mean_distance_of_the_two_losses_over_the_first_and_the_last_quarter():
    # 9 steps: quarters of 2; the gap |L_C - L_G| is 4, 2 | ... | 1, 0.5 and the middle step is ignored
    history = history_of([-3.0, -1.0, 0.0, 0.0, 9.0, 0.0, 0.0, -0.5, 0.25], [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, -0.25])
    assert wgan_study.loss_gap(history) == {"first_quarter": 3.0, "last_quarter": 0.75, "steps": 2}
    diverged = history_of([-3.0, -1.0, 0.0, float("nan")], [1.0, 1.0, 0.0, 0.0])
    assert wgan_study.loss_gap(diverged) == {"first_quarter": 4.0, "last_quarter": None, "steps": 1}
    assert wgan_study.loss_gap(history_of([1.0, 2.0, 3.0], [0.0] * 3)) == \
        {"first_quarter": None, "last_quarter": None, "steps": 0}


def test_train_setting_measures_inception_where_the_parameter_says(tmp_path, monkeypatch):
    asked = {}
    train_variant = wgan_study.gan_study.train_variant

    def spy(name, *args, inception_epochs=(), **kwargs):
        asked[name] = list(inception_epochs)
        return train_variant(name, *args, inception_epochs=inception_epochs, **kwargs)

    monkeypatch.setattr(wgan_study.gan_study, "train_variant", spy)
    for choice, expected in (("none", []), ("first_quarter", [2]), ("quarters", [2, 4, 6, 8])):
        wgan_study.train_setting("report", fake_mnist(32), tiny_params(epochs=8, inception_during_training=choice),
                                 StubEvaluator(), tmp_path / choice, name=f"wgan_{choice}", log=None)
        assert asked[f"wgan_{choice}"] == expected, choice


def test_every_setting_starts_from_the_same_weights(tmp_path, monkeypatch):
    started = {}
    train_variant = wgan_study.gan_study.train_variant

    def spy(name, objective, generator, critic, *args, **kwargs):
        started[name] = [p.detach().clone() for p in [*generator.parameters(), *critic.parameters()]]
        return train_variant(name, objective, generator, critic, *args, **kwargs)

    monkeypatch.setattr(wgan_study.gan_study, "train_variant", spy)
    params = tiny_params(epochs=1)
    wgan_study.train_setting("report", fake_mnist(), params, StubEvaluator(), tmp_path / "a", log=None)
    second = wgan_study.train_setting("paper", fake_mnist(400), params, StubEvaluator(), tmp_path / "b",
                                      name="wgan_paper", log=None)
    assert all(torch.equal(a, b) for a, b in zip(started["wgan"], started["wgan_paper"]))
    # the paper's setting brings its own optimiser and batch size (64)
    assert second.config.lr_generator == 5e-5 and second.config.batch_size == 64
    assert second.history.steps["critic_steps"].tolist() == [6]   # a 100-step burst, cut short by the epoch


def test_figures_draw(tmp_path):
    import matplotlib.pyplot as plt
    run = wgan_study.train_setting("report", fake_mnist(), tiny_params(epochs=2), StubEvaluator(), tmp_path, log=None)
    figures = [wgan_study.plot_estimate(run.history),
               wgan_study.plot_weights(run.discriminator, 0.01, initial=wgan_study.initial_critic(0, 0.01))]
    assert all(f.axes for f in figures)
    plt.close("all")
    assert isinstance(run.history, gan.GanHistory)
