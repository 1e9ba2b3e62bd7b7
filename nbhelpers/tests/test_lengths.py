"""The length study (nbhelpers.studies.lengths): one long GAN run scored at several lengths gives
the records that shorter runs of the same seed write, and the summary reads the claims at each."""
import json
from types import SimpleNamespace

import pytest
import torch

from nbhelpers.models.gan import nets as gan_nets
from nbhelpers.models.gan.losses import NonSaturatingGAN
from nbhelpers.report import parameters, profiles
from nbhelpers.studies import claim_readers, gan_compare, gan_study, lengths, wgan_study
from nbhelpers.studies.collect import Collected

from .gan_fakes import MemoryMetrics, fake_mnist

pytestmark = pytest.mark.usefixtures("one_thread")


class SampleEvaluator:
    """Scores that follow the samples themselves (their mean, spread and a fixed projection's
    classes), so that two generators that differ score differently."""

    n = {"classifier": 64, "inception": 64}

    def fid(self, samples, features="classifier", epoch=None):
        value = float(samples.mean() * (1 if features == "classifier" else 2))
        row = {"features": features, "n": len(samples), "ref": "sample test", "value": value}
        return {**row, "epoch": epoch} if epoch is not None else row

    def kid(self, samples, features="inception"):
        return {"features": features, "n": len(samples), "ref": "sample test", "mean": float(samples.std()),
                "se": 0.001}

    def class_coverage(self, samples):
        classes = (samples.flatten(1) @ torch.linspace(-1, 1, 784)).mul(50).long().remainder(10)
        counts = torch.bincount(classes, minlength=10).tolist()
        return {"counts": counts, "n": len(samples), "covered": sum(c > 0 for c in counts), "entropy": 1.0}

    def evaluate(self, sampler):
        images = sampler(64)
        return {"fid": [self.fid(images, "inception"), self.fid(images, "classifier")],
                "kid": self.kid(images), "class_coverage": self.class_coverage(images),
                "precision_recall": {"precision": float(images.max()), "recall": 0.5, "k": 3, "n": 64},
                "density_coverage": {"density": 1.0, "coverage": float(images.min()), "k": 5, "n": 64}}


def _train(tmp_path, epochs, claim_lengths=()):
    torch.manual_seed(0)
    generator, discriminator = gan_nets.Generator(), gan_nets.Discriminator(output="logit")
    config = gan_study.gan_config(SimpleNamespace(epochs=epochs, batch_size=16, seed=0, grid_every=20, eval_every=1))
    return gan_study.train_variant("gan", NonSaturatingGAN(), generator, discriminator, fake_mnist(48), config,
                                   SampleEvaluator(), tmp_path / f"run{epochs}", log=None,
                                   inception_epochs=gan_compare.inception_epochs("first_quarter", epochs, claim_lengths),
                                   claim_lengths=claim_lengths)


def test_a_long_run_read_at_a_shorter_length_is_the_shorter_run(tmp_path):
    short = gan_study.record(MemoryMetrics(), _train(tmp_path, 2))
    long_result = _train(tmp_path, 4, claim_lengths=[2, 4])
    long = gan_study.record(MemoryMetrics(), long_result)
    assert sorted(long["lengths"]) == ["2", "4"] and long["lengths"]["2"]["generator_steps"] == 6
    assert long["lengths"]["4"]["kid"] == long["kid"]   # the longest is the final evaluation itself
    record = {"params": {"epochs": 4, "claim_lengths": [2, 4], "train_limit": 48, "batch_size": 16}}
    view = lengths.record_at({**record, "models": {"gan": long}}, 2)
    short_record = {"params": {"epochs": 2, "train_limit": 48, "batch_size": 16}, "models": {"gan": short}}
    assert view["params"] == short_record["params"]
    at_two = view["models"]["gan"]
    for key in ("fid", "kid", "class_coverage", "precision_recall", "density_coverage", "fid_halving",
                "epochs_trained", "generator_steps", "coverage_history"):
        assert at_two[key] == short[key], key
    readers = (claim_readers.inception_kid, claim_readers.quarter_inception_kid, claim_readers.classifier_fid_fall,
               claim_readers.early_classifier_fid, claim_readers.generator_steps, claim_readers.final_classifier_fid)
    for reader in readers:
        assert reader(at_two, view) == reader(short, short_record), reader.__name__
    # the longer run did move on: at 4 epochs the same reads differ
    at_four = lengths.record_at({**record, "models": {"gan": long}}, 4)
    assert claim_readers.inception_kid(at_four["models"]["gan"], at_four) != claim_readers.inception_kid(at_two, view)


def test_claim_lengths_must_be_evaluated_epochs_of_the_run():
    config = gan_study.gan_config(SimpleNamespace(epochs=8, batch_size=16, seed=0, grid_every=20, eval_every=4))
    assert gan_study.check_claim_lengths([8, 4, 4], config) == [4, 8]
    with pytest.raises(parameters.ParameterError, match=r"claim_lengths \[3, 9\]"):
        gan_study.check_claim_lengths([3, 4, 9], config)


def test_inception_epochs_cover_the_first_quarter_of_every_length():
    assert gan_compare.inception_epochs("first_quarter", 48, [12, 24, 48]) == [3, 6, 12]
    assert gan_compare.inception_epochs("first_quarter", 12) == [3]
    assert gan_compare.inception_epochs("none", 48, [12, 24]) == []


def test_the_loss_gap_at_a_length_reads_the_steps_up_to_it(tmp_path):
    result = _train(tmp_path, 4, claim_lengths=[2, 4])
    steps = result.history.steps
    gap = (steps["loss_d"] - steps["loss_g"]).abs()
    early = gap[steps["epoch"] <= 2]
    assert wgan_study.loss_gap(result.history, 2)["first_quarter"] == pytest.approx(float(early[:len(early) // 4].mean()))
    assert wgan_study.loss_gap(result.history, 4) == wgan_study.loss_gap(result.history)


def test_a_view_keeps_only_what_holds_at_its_length():
    entry = {"lengths": {"2": {"generator_steps": 6, "kid": {"mean": 0.5}, "fid": [], "class_coverage": None}},
             "fid": [{"features": "classifier", "value": v, "epoch": e} for e, v in ((1, 9.0), (2, 6.0), (3, 4.0))],
             "kid": {"mean": 0.1}, "max_class_share": 0.4, "status": "finished", "epochs": 3,
             "loss_gap": {"first_quarter": 1.0}, "loss_gap_at": {"2": {"first_quarter": 2.0}},
             "kid_rows": [{"epoch": 1, "mean": 0.7}, {"epoch": 3, "mean": 0.2}]}
    view = lengths.entry_at(entry, 2)
    assert view["kid"] == {"mean": 0.5} and "max_class_share" not in view and view["status"] == "finished"
    assert [row["epoch"] for row in view["fid"]] == [1, 2] and view["fid_halving"]["ratio"] == pytest.approx(6 / 9)
    assert view["loss_gap"] == {"first_quarter": 2.0} and view["epochs"] == 2 and view["kid_rows"] == [{"epoch": 1, "mean": 0.7}]
    assert lengths.entry_at(entry, 3) is None   # no snapshot there
    no_gap = dict(entry, loss_gap_at={})
    assert "loss_gap" not in lengths.entry_at(no_gap, 2)   # never the long run's


def test_the_study_reads_each_gan_claim_at_each_length():
    def record(seed, factor):
        entry = {"lengths": {str(length): {"generator_steps": 156 * length,
                                           "kid": {"features": "inception", "n": 200, "ref": "r", "mean": factor / length}}
                             for length in (12, 24)}}
        return {"params": {"epochs": 24, "claim_lengths": [12, 24], "train_limit": 10000, "batch_size": 64},
                "models": {"gan": entry, "wgan": entry}}
    collected = Collected("lengths", seeds=[1, 2, 3], exploratory_seeds=[1, 2, 3], tuning_seeds=[0])
    collected.records = {stem: {seed: record(seed, seed + 1.0) for seed in (1, 2, 3)}
                         for stem in ("03_gan_pixelshuffle", "04_wgan")}
    assert lengths.available(collected) == [12, 24]
    by_length = lengths.results(collected)
    assert sorted(by_length) == [12, 24]
    keys = [result.key for result in by_length[12]]
    assert "wgan_ends_better" in keys and "vae_early_epochs" not in keys
    ends = {length: next(r for r in found if r.key == "wgan_ends_better") for length, found in by_length.items()}
    assert ends[12].n == 3 and ends[12].generator_steps == [1872]   # exploratory seeds read, labelled so
    assert ends[24].generator_steps == [3744]
    table = lengths.table(by_length)
    assert list(table.columns) == [lengths.length_label(12, by_length[12]), lengths.length_label(24, by_length[24])]
    assert "1,872 steps (1.3% of the report's)" in table.columns[0]
    metrics = SimpleNamespace(data={}, write=lambda: None)
    lengths.record(metrics, by_length)
    assert json.loads(json.dumps(metrics.data))["lengths"]["24"]["generator_steps"] == 3744


def test_the_lengths_profile_is_the_cpu_profile_at_other_lengths():
    cpu, study = profiles.resolve("04_wgan", "cpu", seed=1), profiles.resolve("04_wgan", "lengths", seed=1)
    changed = {key for key in cpu if cpu[key] != study[key]}
    assert changed == {"epochs", "claim_lengths", "profile"} and study["epochs"] == 48
    assert study["claim_lengths"] == [12, 24, 48]
    declared = profiles.declarations("lengths")
    assert declared["extends"] == "cpu" and declared["notebooks"] == ["03_gan_pixelshuffle", "04_wgan", "05_ssgan"]
    assert set(declared["seeds"]) <= set(declared["exploratory_seeds"])   # it confirms nothing
    assert profiles.value_sources("04_wgan", "lengths", study)["epochs"] == "params/lengths/_gan.yaml"
    assert profiles.value_sources("04_wgan", "lengths", study)["train_limit"] == "params/cpu/_gan.yaml"


def test_extends_must_name_another_profile_that_extends_none(tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "PARAMS_DIR", tmp_path)
    monkeypatch.setattr(profiles, "PROFILES", ("smoke", "cpu", "full", "lengths"))
    for name, content in (("cpu", "seeds: [1]\n"), ("lengths", "seeds: [1]\nextends: nowhere\n"),
                          ("full", "seeds: [1]\nextends: lengths\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "_all.yaml").write_text(content)
    with pytest.raises(parameters.ParameterError, match="extends must name another profile"):
        profiles.declarations("lengths")
    (tmp_path / "lengths" / "_all.yaml").write_text("seeds: [1]\nextends: cpu\n")
    assert profiles.declarations("lengths")["extends"] == "cpu"
    with pytest.raises(parameters.ParameterError, match="one level only"):
        profiles.declarations("full")
