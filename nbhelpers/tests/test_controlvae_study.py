"""The ControlVAE study: the anti-windup rules on the toy plant, the study of trained VAEs (keys,
labels, controllers, shared prior noise, the report's table, the ordering against the report,
the bounds check) and the comparison of I gains."""
import matplotlib
import pytest
import torch

from nbhelpers.models import control
from nbhelpers.studies import claims, controlvae_study
from nbhelpers.studies.controlvae_study import SetPointStudy, gain_effect, gain_table, simulate_anti_windup

matplotlib.use("Agg")

GAINS = dict(kp=0.01, ki=0.01, beta_min=0.0, beta_max=3.0, beta_init=1.0)
TRAINING = dict(epochs=1, batch_size=64, lr=1e-3, latent_dim=4, hidden=16, seed=0)


# --- the toy plant --------------------------------------------------------------------------------

def test_the_simulation_shows_the_three_variants():
    # a fresh model (KL 0) asked for an unreachable KL 35 pins beta at 0, then the target drops to 14
    traces = simulate_anti_windup([(600, 35.0), (900, 14.0)], kp=0.01, ki=0.005, beta_min=0, beta_max=25,
                                  beta_init=1)
    assert set(traces["variant"]) == set(control.ANTI_WINDUP)
    end = traces[traces["step"] > 1300].groupby("variant")
    kl, beta = end["kl"].mean(), end["beta"].mean()
    assert kl["conditional"] == pytest.approx(14, abs=0.5)
    assert kl["clamped"] == pytest.approx(14, abs=1.5)   # wound-up: recovers, but later
    assert beta["freeze"] == 0.0                          # stuck at beta_min for good
    first_beta = traces[(traces["step"] > 600) & (traces["beta"] > 0.5)].groupby("variant")["step"].min()
    assert first_beta["conditional"] < first_beta["clamped"] - 100


def test_the_reachable_phases_show_conditional_integration_reaching_each_target_first():
    traces = simulate_anti_windup(controlvae_study.DEMO_SCHEDULE, kp=0.01, ki=0.005, beta_min=0.0, beta_max=25.0,
                                  beta_init=1.0)
    table = controlvae_study.reachable_phases(traces)
    steps = table["steps to reach"]
    assert list(table.index.get_level_values("target KL")) == [14.0, 8.0]
    ours, paper = controlvae_study.VARIANT_NAMES["conditional"], controlvae_study.VARIANT_NAMES["clamped"]
    assert (steps[ours] < steps[paper]).all()
    assert steps[controlvae_study.VARIANT_NAMES["freeze"]].isna().any()   # no way back: never reached
    controlvae_study.plot_anti_windup(traces)


# --- the study of trained VAEs -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def study():
    images = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    trained = SetPointStudy(images, images[:64], TRAINING, GAINS, kl_ema=0.0, device=torch.device("cpu"))
    trained.train("vae_beta1", 1.0)
    trained.train(controlvae_study.controlled_key(5.0), trained.controller(5.0))
    trained.train(controlvae_study.settled_key(5.0), trained.runs["controlvae_kl5"].summary["settled_beta"])
    return trained


def classifier_scores(value: float) -> dict:
    return {"fid": [{"features": "classifier", "value": value, "n": 64, "ref": "mnist-test"}]}


def test_every_model_has_its_key_and_a_label_a_reader_understands(study):
    assert list(study.runs) == ["vae_beta1", "controlvae_kl5", "vae_settled_beta_kl5"]
    assert study.label("vae_beta1") == "VAE, beta = 1.00"
    assert study.label("controlvae_kl5") == "ControlVAE, KL 5"
    settled = study.runs["controlvae_kl5"].summary["settled_beta"]
    assert study.label("vae_settled_beta_kl5") == f"VAE, beta = {settled:.2f} (settled for KL 5)"
    assert study.controlled_keys() == ["controlvae_kl5"]


def test_a_controller_takes_the_study_gains_or_another_i_gain(study):
    assert study.controller(8.0).ki == GAINS["ki"] and study.controller(8.0).target_kl == 8.0
    other = study.controller(8.0, ki=1e-4)
    assert other.ki == 1e-4 and other.kp == GAINS["kp"] and study.gains["ki"] == GAINS["ki"]


def test_every_model_decodes_the_same_prior_noise(study):
    model = study.runs["vae_beta1"].model
    assert torch.equal(study.samples_of("vae_beta1", 10), study.samples_of("vae_beta1", 10))
    z = torch.randn(10, 4, generator=torch.Generator().manual_seed(TRAINING["seed"]))
    assert torch.allclose(study.samples_of("vae_beta1", 10), torch.sigmoid(model.decode(z)))


def test_the_report_table_judges_each_set_point_with_the_registry_tolerance(study):
    study.scores.update({"vae_beta1": classifier_scores(30.0), "controlvae_kl5": classifier_scores(20.0)})
    table = controlvae_study.report_table(study, ["vae_beta1", "controlvae_kl5"])
    column = f"within {claims.KL_TOLERANCE:g} nats"
    achieved = study.runs["controlvae_kl5"].summary["achieved_kl"]
    assert table.loc["ControlVAE, KL 5", column] == (abs(achieved - 5.0) <= claims.KL_TOLERANCE)
    assert table.loc["VAE, beta = 1.00", column] is None
    assert table.loc["ControlVAE, KL 5", "classifier FID"] == 20.0


def test_only_the_baseline_leaves_inception_out_when_asked(study, monkeypatch):
    calls = []
    monkeypatch.setattr(study, "score", lambda key, *args, inception, kid: calls.append((key, inception and kid)))
    keys = ["vae_beta1", "controlvae_kl5"]
    study.score_models(keys, "evaluator", "run", "metrics")
    study.score_models(keys, "evaluator", "run", "metrics", baseline_inception=False)
    assert calls == [("vae_beta1", True), ("controlvae_kl5", True), ("vae_beta1", False), ("controlvae_kl5", True)]


def test_the_ordering_lines_compare_the_set_points_with_the_report(study):
    lines = controlvae_study.ordering_lines(study, ["controlvae_kl5"])
    assert lines == ["classifier FID, best first: KL 5 = 20.00: no comparison possible"]


class Recorder:
    """What ``check_bounds`` writes, kept in memory (``records.Metrics.update_model``'s signature)."""

    def __init__(self):
        self.models = {}

    def update_model(self, name, **fields):
        self.models.setdefault(name, {}).update(fields)
        return self.models[name]


def test_the_bounds_check_records_whether_each_controlled_kl_held_its_set_point(study):
    recorder = Recorder()
    study.check_bounds(list(study.runs), recorder)
    achieved = study.runs["controlvae_kl5"].summary["achieved_kl"]
    assert recorder.models == {"controlvae_kl5": {"within_half_nat": abs(achieved - 5.0) <= claims.KL_TOLERANCE}}
    narrow = SetPointStudy(study.train_images, study.test_images, TRAINING, {**GAINS, "beta_max": 0.5}, 0.0, "cpu")
    narrow.runs = study.runs
    with pytest.raises(AssertionError):
        narrow.check_bounds(["controlvae_kl5"], recorder)


def test_the_settled_beta_table_sets_each_controlled_vae_beside_its_constant_beta_twin(study):
    table = controlvae_study.settled_beta_table(study)
    assert list(table["set point"]) == [5.0]
    twin = study.runs["vae_settled_beta_kl5"].summary
    assert table.iloc[0]["constant-beta KL"] == twin["achieved_kl"]
    assert table.iloc[0]["settled beta"] == study.runs["controlvae_kl5"].summary["settled_beta"]


# --- Ki comparison ------------------------------------------------------------------------------------

def _gain_rows():
    def row(target, ki, epochs, kl, recon, fid):
        return {"set point": target, "Ki": ki, "epochs": epochs, "achieved KL": kl, "settled beta": 1.0,
                "test recon": recon, "test KL": kl, "classifier FID": fid}
    return [row(8.0, 0.005, 4, 8.1, 120.0, 20.0), row(8.0, 0.005, 40, 8.0, 110.0, 10.0),
            row(8.0, 1e-4, 40, 8.3, 111.0, 10.5), row(14.0, 0.005, 40, 14.0, 100.0, 8.0),
            row(14.0, 1e-4, 40, 14.2, 99.0, 8.4)]


def test_gain_table_flags_the_runs_off_their_set_point():
    table = gain_table(_gain_rows())
    assert table.index.names == ["set point", "Ki", "epochs"] and len(table) == 5
    assert table[f"within {claims.KL_TOLERANCE:g} nats"].all()
    assert not gain_table(_gain_rows(), tolerance=0.25).loc[(8.0, 1e-4, 40), "within 0.25 nats"]
    with pytest.raises(ValueError, match="share a"):
        gain_table(_gain_rows() + _gain_rows()[:1])


def test_gain_effect_states_settling_and_the_paired_differences():
    table = gain_table(_gain_rows())
    text = gain_effect(table, paper_ki=1e-4, profile_ki=0.005, epochs=40)
    assert text.startswith("At 40 epochs both gains hold every set point within 0.5 nats.")
    assert "Ki 0.0001 minus Ki 0.005 (KL 8 / 14): achieved KL +0.30 / +0.20 nats" in text
    assert "test reconstruction +1.00 / -1.00 nats, classifier FID +0.50 / +0.40" in text
    assert "5.0% in classifier FID" in text and "1.0% in reconstruction" in text
    strict = gain_effect(table, 1e-4, 0.005, 40, tolerance=0.25)
    assert strict.startswith("At 40 epochs Ki 0.0001 leaves KL 8 at 8.30 (more than 0.25 nats off).")
    assert gain_effect(table, 1e-4, 0.005, 4).startswith("no pair of runs")


def test_a_gain_row_reads_a_trained_vae_summary(study):
    row = controlvae_study.gain_row(5.0, 0.01, 1, study.runs["controlvae_kl5"], 12.5)
    summary = study.runs["controlvae_kl5"].summary
    assert row["achieved KL"] == summary["achieved_kl"] and row["classifier FID"] == 12.5
    assert set(controlvae_study.GAIN_COLUMNS) < set(row)
