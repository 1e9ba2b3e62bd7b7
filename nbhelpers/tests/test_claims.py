"""The claims registry (nbhelpers.studies.claims): complete, pre-registered, read on the record
layout, and the training-time Inception KID that its "learns faster" claim needs."""
import json
import math
import re

import pytest
import torch

from nbhelpers import paths
from nbhelpers.report import profiles
from nbhelpers.studies import claims as registry, gan_study, stats

from .test_summary import CLASSIFIER, INCEPTION, gan, kid_row


def test_every_claim_names_its_measurement_its_sign_its_models_its_seeds_and_why():
    assert len(registry.REGISTRY) == 11
    for claim in registry.REGISTRY:
        assert claim.text and claim.measurement and claim.test.supports and claim.seeds, claim.key
        assert claim.why.endswith(".") and claim.why.count(". ") == 0, f"{claim.key}: one sentence on why"
        assert claim.source in ("report", "project")
        for model in claim.models:
            stem, _ = model.split("/")
            assert stem in paths.STUDY_NOTEBOOKS, model
    assert [c.key for c in registry.REGISTRY if c.source == "project"] == ["rotation_beyond_sn"]
    assert "this project's question" in registry.claim("rotation_beyond_sn").text


def test_the_sample_quality_claims_are_measured_by_the_inception_kid():
    for key in ("controlvae_fid", "wgan_faster", "wgan_ends_better", "rotation_beyond_sn"):
        claim = registry.claim(key)
        assert "Inception KID" in claim.measurement, key
        assert all("FID" not in m.label or "classifier" in m.label for m in claim.descriptive), key
    assert registry.claim("controlvae_fid").descriptive[0].label.startswith("classifier FID")
    assert registry.claim("wgan_diverse").primary[0].label.startswith("coverage")
    assert registry.claim("ssgan_did_not_train").test.bounds == (math.log(1.25), math.log(1.25))


def test_an_interval_through_zero_is_not_resolved():
    through = stats.summarize([0.02, -0.01, 0.03])
    assert through["low"] < 0 < through["high"]
    assert stats.verdict(through) == "not resolved with 3 seeds"
    assert stats.decide(stats.p_above(through), stats.p_below(through), 3) == "not resolved with 3 seeds"
    assert stats.p_two_sided(through) > 0.05


def test_a_kid_is_read_only_in_its_own_feature_space_and_on_one_basis():
    measure = registry.claim("wgan_ends_better").primary[0]
    gan_entry, wgan_entry = gan([40, 20], 0.03), gan([30, 15], 0.01)
    record = lambda entry, model: {"params": {"epochs": 8}, "models": {model: entry}}   # noqa: E731
    reading = registry.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                      "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value == pytest.approx(0.02) and reading.basis == "inception features, N = 200 vs mnist-test[:1000]"
    wgan_entry["kid"] = kid_row(CLASSIFIER, 0.01)          # a classifier KID is no Inception KID
    reading = registry.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                      "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value is None and reading.missing
    wgan_entry["kid"] = kid_row({**INCEPTION, "n": 1000}, 0.01)   # another N: not paired
    reading = registry.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                      "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value is None and "different bases" in reading.missing[0]
    assert registry.read(measure, {"04_wgan": record(wgan_entry, "wgan")}).absent == ["03_gan_pixelshuffle/gan"]


class InceptionStub:
    """``evaluator.Evaluator``'s interface to the training evaluator, with Inception switched on."""

    n = {"classifier": 16, "inception": 8}

    def fid(self, samples, features="classifier", epoch=None):
        row = {"features": features, "n": self.n[features], "ref": "stub", "value": 10.0}
        return row if epoch is None else {**row, "epoch": epoch}

    def kid(self, samples, features="inception"):
        return {"features": features, "n": self.n[features], "ref": "stub", "mean": 0.5, "std": 0.1,
                "subsets": 100, "subset_size": 4}

    def class_coverage(self, samples):
        return {"counts": [2] * 8, "n": 16, "covered": 8, "entropy": 3.0}


def test_the_training_evaluator_measures_the_inception_kid_beside_the_inception_fid():
    generator = torch.nn.Sequential(torch.nn.Linear(64, 784), torch.nn.Unflatten(1, (1, 28, 28)), torch.nn.Sigmoid())
    generator.latent_dim = 64
    evaluate = gan_study.training_evaluator(InceptionStub(), inception_epochs=[2])
    at_quarter, elsewhere = evaluate(generator, 2), evaluate(generator, 3)
    assert [r["features"] for r in at_quarter["fid_rows"]] == ["classifier", "inception"]
    assert at_quarter["kid_rows"] == [{"features": "inception", "n": 8, "ref": "stub", "mean": 0.5, "std": 0.1,
                                       "subsets": 100, "subset_size": 4, "epoch": 2}]
    assert "kid_rows" not in elsewhere and len(elsewhere["fid_rows"]) == 1


def _my_texts() -> dict:
    """The text of every file of the registry's part of the project."""
    root = paths.REPO_ROOT
    files = ["nbhelpers/studies/summary.py", "nbhelpers/studies/verdicts.py", "nbhelpers/studies/collect.py",
             "nbhelpers/studies/claims.py", "nbhelpers/studies/stats.py", "nbhelpers/studies/facts.py",
             "nbhelpers/report/parameters.py", "nbhelpers/report/profiles.py"]
    files += [f"params/{profile}/_all.yaml" for profile in profiles.PROFILES]
    texts = {name: (root / name).read_text() for name in files}
    notebook = json.loads((root / "notebooks" / "06_summary.ipynb").read_text())
    texts["06_summary.ipynb"] = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
    texts["registry"] = "\n".join(f"{c.text}. {c.measurement}. {c.why}. {c.note}" for c in registry.REGISTRY)
    return texts


def test_unbiased_is_said_of_the_kid_only_never_of_an_fid():
    for name, text in _my_texts().items():
        for sentence in re.split(r"(?<=[.;:])\s+|\n\s*\n", text):
            if "unbiased" in sentence.lower():
                assert "KID" in sentence and not re.search(r"FID[^.;]*\bunbiased|unbiased[^.;]*FID", sentence), \
                    f"{name}: {sentence!r}"
