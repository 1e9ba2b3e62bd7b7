"""The claims registry (nbhelpers.studies.claims): complete, frozen by version and digest, confirmed
on seeds that no one had seen, read on the record layout, and the training-time Inception KID
that its "learns faster" claim needs."""
import ast
import dataclasses
import json
import math
import re

import pytest
import torch

from nbhelpers import paths
from nbhelpers.report import profiles
from nbhelpers.studies import claim_shapes, claims as registry, gan_study, stats

from .test_summary import CLASSIFIER, INCEPTION, gan, kid_row

# The digest of version 2 (``registry.registry_digest``). A change to any claim's measurement,
# test, bounds or declared size changes it: raise REGISTRY_VERSION, name the version's fresh
# evaluation seeds in VERSIONS and the profile, and pin the new digest here.
VERSION_2_DIGEST = "fd5d96314f81e69b1d3c48a249d361440d485f0440b92635e26781d869c79aad"


# ----------------------------------------------------------------------------- the registry's content

def test_every_claim_names_its_measurement_its_sign_its_models_its_seeds_and_why():
    assert len(registry.REGISTRY) == 18 and len(registry.TESTED) == 17
    for claim in registry.REGISTRY:
        assert claim.text and claim.measurement and claim.test.supports and claim.seeds, claim.key
        assert claim.why.endswith(".") and claim.why.count(". ") == 0, f"{claim.key}: one sentence on why"
        assert claim.source in ("report", "project")
        for model in claim.models:
            stem, _ = model.split("/")
            assert stem in paths.STUDY_NOTEBOOKS, model
    project = [c.key for c in registry.REGISTRY if c.source == "project"]
    assert project == ["ssgan_as_gan", "rotation_beyond_sn"]
    assert all("this project's" in registry.claim(key).text for key in project)


def test_every_comparison_declares_the_smallest_effect_that_counts_with_its_reason():
    for claim in registry.REGISTRY:
        if isinstance(claim.test, claim_shapes.Sign):
            assert claim.margin is not None and claim.margin.size > 0, claim.key
            assert len(claim.margin.reason) > 40 and claim.margin.reason.endswith("."), claim.key
        else:
            assert claim.margin is None, f"{claim.key}: a band or criterion states its own bounds"
    # the report's 1.7x FID gap, halved on the log scale, for the KL 8 vs 14 claim
    fid = registry.claim("controlvae_fid")
    assert fid.primary[0].form == "log ratio" and "KID(KL 14) / KID(KL 8)" in fid.measurement
    assert fid.margin.size == pytest.approx(math.log(136.79 / 80.65) / 2)
    assert math.exp(fid.margin.size) == pytest.approx(1.30, abs=0.005)


def test_the_sample_quality_claims_are_measured_by_the_inception_kid():
    for key in ("controlvae_fid", "wgan_faster", "wgan_ends_better", "rotation_beyond_sn", "gan_worse_than_sngan",
                "gan_worse_than_ssgan"):
        claim = registry.claim(key)
        assert "Inception KID" in claim.measurement and claim.primary[0].form == "log ratio", key
        assert all(side.se is not None for side in claim.primary[0].sides), f"{key}: reads the KID's standard error"
        assert all("FID" not in m.label or "classifier" in m.label for m in claim.descriptive), key
    assert registry.claim("controlvae_fid").descriptive[0].label.startswith("classifier FID")
    assert registry.claim("wgan_diverse").primary[0].label.startswith("coverage")
    bound = math.log(registry.SSGAN_GAN_FACTOR)
    assert [c.bound for c in registry.claim("ssgan_as_gan").test.supported] == [bound, bound]


def test_the_ssgan_did_not_train_is_judged_by_its_own_training_never_by_the_gan():
    claim = registry.claim("ssgan_did_not_train")
    assert claim.models == ["05_ssgan/ssgan"]
    test = claim.test
    assert (test.supported_join, test.contradicted_join) == ("any", "all")
    assert [(c.side, c.bound) for c in test.supported] == [("above", registry.UNTRAINED_FALL), ("below", registry.FEW_DIGITS)]
    assert [(c.side, c.bound) for c in test.contradicted] == [("below", registry.TRAINED_FALL), ("above", registry.ALL_DIGITS)]


def test_the_statements_that_no_row_tests_say_why():
    statements = " ".join(u.statement for u in registry.NOT_TESTABLE)
    assert "FID tracks the visual progress" in statements
    assert all(u.reason and not u.reason.endswith(".") for u in registry.NOT_TESTABLE)
    tested = {c.key for c in registry.REGISTRY}
    assert {"gan_converges", "gan_worse_than_sngan", "gan_worse_than_ssgan", "wgan_losses_approach",
            "vae_early_epochs", "kl_feedback_steadier"} <= tested
    assert not registry.claim("vae_early_epochs").tested   # one seed of 01: shown, never judged


def test_every_reader_has_a_name_of_its_own():
    """The digest names the readers: a lambda (or two readers of one name) would hide a change."""
    readers = {}
    for claim in registry.REGISTRY:
        measures = (*claim.primary, *claim.descriptive, *((claim.caveat.measure,) if claim.caveat else ()))
        for side in (side for m in measures for side in m.sides):
            for reader in (side.value, side.basis, side.se, side.steps):
                if reader is not None:
                    assert reader.__name__ != "<lambda>", claim.key
                    assert readers.setdefault(reader.__name__, reader.__code__) is reader.__code__ or \
                        "[" in reader.__name__, reader.__name__


# ----------------------------------------------------------------------------- frozen and versioned

def test_the_digest_of_version_2_is_pinned():
    """Changing any claim's measurement or criterion fails here until the version is raised."""
    assert registry.REGISTRY_VERSION == 2
    assert registry.registry_digest() == VERSION_2_DIGEST


@pytest.mark.parametrize("change", [
    lambda c: dataclasses.replace(c, margin=claim_shapes.Margin(c.margin.size * 1.01, c.margin.reason)),
    lambda c: dataclasses.replace(c, primary=(dataclasses.replace(c.primary[0], form="difference"),)),
    lambda c: dataclasses.replace(c, primary=(dataclasses.replace(
        c.primary[0], sides=(c.primary[0].sides[1], c.primary[0].sides[0])),)),
    lambda c: dataclasses.replace(c, test=claim_shapes.Band(0.0, 1.0)),
])
def test_a_change_to_a_measurement_or_criterion_changes_the_digest(monkeypatch, change):
    changed = tuple(change(c) if c.key == "wgan_ends_better" else c for c in registry.REGISTRY)
    monkeypatch.setattr(registry, "REGISTRY", changed)
    assert registry.registry_digest() != VERSION_2_DIGEST


def test_rewording_a_reason_leaves_the_digest_alone(monkeypatch):
    changed = tuple(dataclasses.replace(c, why=c.why.upper()) for c in registry.REGISTRY)
    monkeypatch.setattr(registry, "REGISTRY", changed)
    assert registry.registry_digest() == VERSION_2_DIGEST


def test_each_version_names_the_seeds_it_was_confirmed_on_and_the_profile_runs_fresh_ones():
    declared = profiles.declarations("cpu")
    current = registry.VERSIONS[registry.REGISTRY_VERSION]
    assert current["profile"] == "cpu" and current["seeds"] == declared["seeds"] == [11, 12, 13, 14, 15]
    assert registry.VERSIONS[1]["seeds"] == [1, 2, 3] and "exploratory" in registry.VERSIONS[1]["status"]
    earlier = {s for v, info in registry.VERSIONS.items() if v != registry.REGISTRY_VERSION for s in info["seeds"]}
    assert earlier <= set(declared["exploratory_seeds"]), "a version's seeds are seen: later ones never judge on them"
    assert not set(current["seeds"]) & (earlier | set(declared["tuning_seeds"]) | set(declared["exploratory_seeds"]))
    assert profiles.declarations("full")["seeds"] == current["seeds"]


def test_the_registry_does_not_claim_it_was_fixed_before_any_run():
    text = (paths.REPO_ROOT / "nbhelpers" / "studies" / "claims.py").read_text()
    assert "before any run was looked at" not in text
    assert "seeds 1 and 2" in ast.get_docstring(ast.parse(text))


# ----------------------------------------------------------------------------- reading a measure

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
    reading = claim_shapes.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                          "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value == pytest.approx(math.log(3)) and reading.basis == "inception features, N = 200 vs mnist-test[:1000]"
    assert reading.se == pytest.approx(math.sqrt(2) / 20)   # each KID's se is a twentieth of it: the delta method
    wgan_entry["kid"] = kid_row(CLASSIFIER, 0.01)          # a classifier KID is no Inception KID
    reading = claim_shapes.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                          "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value is None and reading.missing
    wgan_entry["kid"] = kid_row({**INCEPTION, "n": 1000}, 0.01)   # another N: not paired
    reading = claim_shapes.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                          "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value is None and "different bases" in reading.missing[0]
    assert claim_shapes.read(measure, {"04_wgan": record(wgan_entry, "wgan")}).absent == ["03_gan_pixelshuffle/gan"]
    wgan_entry["kid"] = kid_row(INCEPTION, -0.001)                # an unbiased KID below 0: no log ratio
    reading = claim_shapes.read(measure, {"03_gan_pixelshuffle": record(gan_entry, "gan"),
                                          "04_wgan": record(wgan_entry, "wgan")})
    assert reading.value is None and "no log ratio" in reading.missing[0]


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


# ----------------------------------------------------------------------------- the wording

def _prose(path) -> list[str]:
    """A file's prose, each piece apart: a Python file's strings and comments, any other file whole."""
    text = path.read_text()
    if path.suffix != ".py":
        return [text]
    strings = [node.value for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Constant)
               and isinstance(node.value, str)]
    return strings + re.findall(r"#.*$", text, re.M)


def _my_texts() -> dict:
    """The prose of every file of the registry's part of the project."""
    root = paths.REPO_ROOT
    files = ["nbhelpers/studies/summary.py", "nbhelpers/studies/verdicts.py", "nbhelpers/studies/collect.py",
             "nbhelpers/studies/claims.py", "nbhelpers/studies/claim_shapes.py", "nbhelpers/studies/claim_readers.py",
             "nbhelpers/studies/stats.py", "nbhelpers/studies/facts.py", "nbhelpers/report/parameters.py",
             "nbhelpers/report/profiles.py"]
    files += [f"params/{profile}/_all.yaml" for profile in profiles.PROFILES]
    texts = {name: _prose(root / name) for name in files}
    notebook = json.loads((root / "notebooks" / "06_summary.ipynb").read_text())
    texts["06_summary.ipynb"] = ["".join(cell["source"]) for cell in notebook["cells"]]
    texts["registry"] = [f"{c.text}. {c.measurement}. {c.why}. {c.note}" for c in registry.REGISTRY]
    return texts


def test_unbiased_is_said_of_the_kid_only_never_of_an_fid():
    for name, pieces in _my_texts().items():
        for piece in pieces:
            for sentence in re.split(r"(?<=[.;:])\s+|\n\s*\n", piece):
                if "unbiased" in sentence.lower():
                    assert "KID" in sentence and not re.search(r"FID[^.;]*\bunbiased|unbiased[^.;]*FID", sentence), \
                        f"{name}: {sentence!r}"


def test_the_documents_say_what_the_runs_show_and_which_seeds_were_seen():
    readme, results = (paths.REPO_ROOT / "README.md").read_text(), (paths.REPO_ROOT / "docs" / "results.md").read_text()
    for text in (readme, results):
        assert "answers every claim" not in text and "pre-registered measurement" not in text
    assert "## The claims: registry v1, seeds 1-3, exploratory" in results and "## The confirming run: registry v2" in results
    assert "## What the default run found" in readme and "exploratory" in readme
