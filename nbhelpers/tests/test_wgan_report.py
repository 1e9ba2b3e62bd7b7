"""The WGAN notebook's helpers (nbhelpers.wgan_report), on tiny random data.

That the engine leaves every critic parameter in [-c, c] after its critic steps is tested in
test_gan.py (test_wgan_engine_leaves_the_critic_clipped); not repeated here.
"""
import json
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from nbhelpers import gan, gan_nets, gan_report, wgan_report
from nbhelpers.gan_losses import WassersteinGAN

matplotlib.use("Agg")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


def fake_mnist(count: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


class StubEvaluator:
    """Stands in for fid.Evaluator in ``gan_report.training_evaluator``: a fake FID that
    falls with the epoch and a fixed uniform coverage, without any network."""

    n = {"classifier": 20, "inception": 0}

    def fid(self, samples, features, epoch=None):
        return {"features": features, "n": self.n[features], "ref": "stub", "value": 100.0 / epoch, "epoch": epoch}

    def class_coverage(self, samples):
        return {"counts": [2] * 10, "n": 20, "covered": 10, "entropy": 3.32}


def tiny_params(**changes):
    values = dict(epochs=3, batch_size=16, seed=0, grid_every=20, eval_every=1, inception_at_quarters=False)
    return SimpleNamespace(**{**values, **changes})


def record(values, epochs=None, n=100, final=None, counts=None, ref="mnist-test", **extra):
    """A metrics record shaped like gan_report.record's."""
    epochs = epochs or list(range(1, len(values) + 1))
    rows = [{"features": "classifier", "n": n, "ref": ref, "value": v, "epoch": e} for e, v in zip(epochs, values)]
    if final is not None:
        rows += [{"features": "inception", "n": 200, "ref": "mnist-test[:1000]", "value": final[0], "biased": True},
                 {"features": "classifier", "n": n, "ref": ref, "value": final[1]}]
    counts = counts or [10] * 10
    entry = {"fid": rows, "kid": {"features": "inception", "mean": 0.01, "std": 0.001},
             "class_coverage": {"counts": counts, "n": sum(counts), "covered": sum(c >= 0.01 * sum(counts) for c in counts)},
             "coverage_history": {str(e): [c / sum(counts) for c in counts] for e in epochs},
             "epochs_trained": epochs[-1], "training_seconds": 1.0}
    return {**entry, **extra}


# ----------------------------------------------------------------------------- clip box

def test_clip_statistics_counts_values_at_each_bound():
    layer = nn.Linear(4, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.01, -0.01, 0.005, 0.0]]))
        layer.bias.fill_(-0.01)
    stats = wgan_report.clip_statistics(layer, clip=0.01)
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
    copied = wgan_report.clipped_copy(critic, 0.01)
    assert all(torch.equal(a, b) for a, b in zip(before, critic.parameters()))
    assert all(p.abs().max() <= 0.01 for p in copied.parameters())
    # the default initialisation is much wider than c, so the first clip saturates most weights
    assert wgan_report.clip_statistics(copied, 0.01).loc["all", "share at bounds"] > 0.5


# ----------------------------------------------------------------------------- settings and training

def test_settings_to_run_keeps_order_drops_repeats_and_rejects_unknown_names():
    assert wgan_report.settings_to_run("report", ["paper", "report"]) == ["report", "paper"]
    assert wgan_report.settings_to_run("paper") == ["paper"]
    with pytest.raises(ValueError, match="unknown WGAN setting"):
        wgan_report.settings_to_run("report", ["gp"])
    assert wgan_report.model_name("report", "report") == "wgan"
    assert wgan_report.model_name("paper", "report") == "wgan_paper"


def test_report_n_critic_changes_only_the_report_setting():
    assert wgan_report.objective_for("report")[0].n_critic == 5          # gan_losses' own value
    report, overrides = wgan_report.objective_for("report", report_n_critic=1)
    assert report.n_critic == 1 and report.schedule == "constant" and overrides["lr_generator"] == 1e-3
    paper, _ = wgan_report.objective_for("paper", report_n_critic=1)
    assert paper.n_critic == 5 and paper.schedule == "paper"
    assert wgan_report.settings_table(["report", "paper"], 1).loc["n_critic"].tolist() == [1, 5]


def test_train_setting_applies_report_n_critic(tmp_path):
    run = wgan_report.train_setting("report", fake_mnist(64), tiny_params(epochs=1, report_n_critic=1),
                                    StubEvaluator(), tmp_path, log=None)
    assert run.objective.n_critic == 1 and run.history.steps["critic_steps"].tolist() == [1] * 4


def test_settings_table_shows_both_schedules():
    table = wgan_report.settings_table(["report", "paper"])
    assert table.loc["lr critic", "report"] == 1e-3 and table.loc["lr critic", "paper"] == 5e-5
    assert table.loc["critic steps, first 25 G steps"].tolist() == [5, 100]


def test_train_setting_uses_the_setting_saves_a_critic_and_records_the_estimate(tmp_path):
    run = wgan_report.train_setting("report", fake_mnist(), tiny_params(), StubEvaluator(), tmp_path, log=None)
    assert run.config.optimizer == "rmsprop" and run.config.lr_discriminator == 1e-3
    assert run.config.epochs == 3 and run.config.batch_size == 16
    assert isinstance(run.objective, WassersteinGAN) and run.critic.norm == "none" and run.critic.output == "logit"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["wgan_critic.pt", "wgan_generator.pt"]
    assert run.history.model_files["critic"].endswith("wgan_critic.pt")
    assert (tmp_path / "checkpoints" / "wgan_checkpoint.pt").exists()
    # 96 images / 16 = 6 batches an epoch: one generator step after 5 critic steps, one after the last
    assert run.history.steps["critic_steps"].tolist() == [5, 1] * 3

    steps = run.history.steps
    estimate = wgan_report.wasserstein_estimate(run.history)
    assert estimate.index.tolist() == steps["step"].tolist()
    np.testing.assert_allclose(estimate.to_numpy(), -steps["loss_d"].to_numpy())
    np.testing.assert_allclose(estimate.to_numpy(), (steps["d_real"] - steps["d_fake"]).to_numpy(), atol=1e-5)

    table, rho = wgan_report.estimate_vs_fid(run.history)
    assert table["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(table["classifier_fid"], [100.0, 50.0, 100.0 / 3])
    assert rho is not None and -1 <= rho <= 1

    summary = wgan_report.run_summary(run)
    assert summary["generator_steps"] == 6 and summary["critic_steps"] == 18
    assert 0 <= summary["critic_share_at_clip_bounds"] <= 1


def test_every_setting_starts_from_the_same_weights(tmp_path):
    params = tiny_params(epochs=1)
    first = wgan_report.train_setting("report", fake_mnist(), params, StubEvaluator(), tmp_path / "a", log=None)
    second = wgan_report.train_setting("paper", fake_mnist(400), params, StubEvaluator(), tmp_path / "b",
                                       name="wgan_paper", log=None)
    for a, b in zip(first.initial_critic.parameters(), second.initial_critic.parameters()):
        assert torch.equal(a, b)
    # the paper's setting brings its own optimiser and batch size (64)
    assert second.config.lr_generator == 5e-5 and second.config.batch_size == 64
    assert second.history.steps["critic_steps"].tolist() == [6]   # a 100-step burst, cut short by the epoch


# ----------------------------------------------------------------------------- the GAN's run

def test_missing_gan_run_is_explained(reports):
    entry, note = wgan_report.load_gan_reference("cpu")
    assert entry is None
    assert "03_gan_pixelshuffle has not run" in note and "before 04_wgan" in note
    (reports / "cpu").mkdir()
    (reports / "cpu" / "03_gan_pixelshuffle.metrics.json").write_text(json.dumps({"status": "failed", "models": {}}))
    entry, note = wgan_report.load_gan_reference("cpu")
    assert entry is None and "did not finish" in note


def test_gan_run_is_loaded_and_parameter_differences_named(reports):
    (reports / "cpu").mkdir()
    content = {"status": "ok", "params": {"epochs": 10, "batch_size": 64, "train_limit": 20000, "eval_every": 1, "seed": 0},
               "models": {"gan": record([40.0, 20.0])}}
    (reports / "cpu" / "03_gan_pixelshuffle.metrics.json").write_text(json.dumps(content))
    same = dict(content["params"], setting="report")
    entry, note = wgan_report.load_gan_reference("cpu", same)
    assert entry["fid"][0]["value"] == 40.0 and "same shared GAN parameters" in note
    entry, note = wgan_report.load_gan_reference("cpu", dict(same, epochs=5))
    assert entry is not None and "epochs 10 there, 5 here" in note


def test_gan_samples_are_read_from_the_exported_npz(reports):
    folder = reports / "cpu" / "03_gan_pixelshuffle" / "samples"
    assert wgan_report.load_gan_samples("cpu") is None
    folder.mkdir(parents=True)
    np.savez_compressed(folder / "gan.npz", images=np.full((150, 28, 28), 255, dtype=np.uint8))
    images = wgan_report.load_gan_samples("cpu")
    assert images.shape == (100, 1, 28, 28) and images.max() == 1.0


# ----------------------------------------------------------------------------- comparisons

def test_curves_at_another_sample_size_are_left_out():
    curves = {"WGAN": record([50.0, 30.0])["fid"], "GAN": record([40.0, 20.0], n=500)["fid"], "none": None}
    kept, notes = gan_report.comparable_curves(curves)
    assert list(kept) == ["WGAN"] and len(notes) == 2 and "left out" in notes[0]


def test_comparison_table_side_by_side_with_a_missing_gan():
    wgan = record([60.0, 30.0, 12.0], final=(90.0, 11.0), counts=[10, 10, 10, 10, 10, 10, 10, 10, 10, 19])
    table = wgan_report.comparison_table({"GAN (03)": None, "WGAN": wgan}, threshold=25.0)
    assert list(table.columns) == ["GAN (03)", "WGAN"]
    assert (table["GAN (03)"] == "not run").all()
    assert table.loc["classifier FID", "WGAN"] == 11.0 and table.loc["Inception FID", "WGAN"] == 90.0
    assert table.loc["Inception N / reference", "WGAN"] == "200 vs mnist-test[:1000] (biased)"
    assert table.loc["epochs to classifier FID ≤ 25", "WGAN"] == 3
    assert table.loc["largest digit share", "WGAN"] == round(19 / 109, 3)
    assert table.loc["digits covered (of 10)", "WGAN"] == 10
    assert "ratio 0.20" in table.loc["classifier FID first → last evaluation", "WGAN"]
    assert table.loc["last iterate: classifier FID first → last", "WGAN"] == "—"      # not averaged
    averaged = {**wgan, "fid_halving_last_iterate": {"first": 62.0, "last": 15.5, "ratio": 0.25}}
    table = wgan_report.comparison_table({"WGAN": averaged}, threshold=25.0)
    assert table.loc["last iterate: classifier FID first → last", "WGAN"] == "62.00 → 15.50 (ratio 0.25)"
    never = wgan_report.comparison_table({"WGAN": wgan}, threshold=5.0)
    assert never.loc["epochs to classifier FID ≤ 5", "WGAN"] == "not reached"


def test_final_result_keeps_only_the_final_evaluation():
    result = gan_report.final_result(record([60.0, 30.0], final=(90.0, 11.0)))
    assert [r["features"] for r in result["fid"]] == ["inception", "classifier"] and "kid" in result


def test_acceptance_checks_and_verdict():
    good = record([60.0, 25.0], final=(80.0, 24.0),
                  fid_halving_last_iterate={"first": 58.0, "last": 31.9, "ratio": 0.55})
    collapsed = record([60.0, 40.0], final=(70.0, 39.0), counts=[0, 0, 0, 0, 0, 0, 0, 0, 50, 50])
    checks = gan_report.acceptance_checks(good)
    assert checks["holds"].all() and len(checks) == 3
    assert checks.iloc[0]["value"] == "60.00 → 25.00 (×0.417); last iterate 58.00 → 31.90 (×0.550)"
    assert gan_report.acceptance_checks(collapsed)["holds"].tolist() == [False, False, False]
    versus_gan = gan_report.acceptance_checks(good, gan_entry=record([50.0, 20.0]), gan_factor=1.25)
    assert versus_gan.loc["last classifier FID within 1.25× the GAN's", "holds"]      # 25 / 20 = 1.25
    assert versus_gan.loc["last classifier FID within 1.25× the GAN's", "value"] == "25.00 vs 20.00 (×1.250)"
    unknown = gan_report.acceptance_checks({"fid": record([60.0])["fid"]}, gan_factor=1.25)
    assert unknown["holds"].isna().all() and unknown.iloc[-1]["value"] == "GAN run not available"
    text = wgan_report.verdict({"GAN": collapsed, "WGAN": good}, threshold=30.0)
    assert "classifier FID (lower is better): WGAN is best" in text
    assert "Inception FID (lower is better): GAN is best" in text
    assert "Never reached classifier FID ≤ 30: GAN." in text
    assert "last iterates'" not in text                     # neither record has a last iterate
    text = wgan_report.verdict({"GAN": {**collapsed, "fid_halving_last_iterate": {"last": 14.0}}, "WGAN": good}, 30.0)
    assert "last iterates' classifier FID at the last evaluation (lower is better): GAN is best" in text
    assert wgan_report.verdict({"GAN": None, "WGAN": good}, 30.0).startswith("Only one model")
    tied = wgan_report.verdict({"A": good, "B": good}, threshold=30.0)
    assert "classifier FID (lower is better): tie between A and B" in tied


def test_figures_draw(tmp_path):
    import matplotlib.pyplot as plt
    run = wgan_report.train_setting("report", fake_mnist(), tiny_params(epochs=2), StubEvaluator(), tmp_path, log=None)
    entries = {"GAN": record([40.0, 20.0]), "WGAN": record([50.0, 30.0])}
    figures = [wgan_report.plot_estimate(run.history),
               wgan_report.plot_weights(run.critic, 0.01, initial=run.initial_critic),
               wgan_report.plot_coverage_comparison(entries, run.history, "WGAN"),
               wgan_report.plot_fid_overlay({k: e["fid"] for k, e in entries.items()})[0]]
    assert all(f.axes for f in figures)
    plt.close("all")
    assert isinstance(run.history, gan.GanHistory)
