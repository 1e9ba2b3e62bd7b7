"""The record of a run (nbhelpers.report.records): its schema, the writer, and the reader (records
on disk, final and latest FID rows, coverage, the headline)."""
import ast
import json
import typing
from pathlib import Path

import pytest
import torch

from nbhelpers import clock
from nbhelpers.batch import attempts
from nbhelpers.environment import BatchContext
from nbhelpers.metrics import coverage, prdc
from nbhelpers.report import context, record_schema, records

TRAINING = [{"features": "classifier", "n": 500, "ref": "mnist-test[:1000]", "value": 50.0, "epoch": 1},
            {"features": "classifier", "n": 500, "ref": "mnist-test[:1000]", "value": 5.0, "epoch": 10}]
FINAL = [{"features": "classifier", "n": 10000, "ref": "mnist-test", "value": 7.0},
         {"features": "inception", "n": 200, "ref": "mnist-test[:1000]", "value": 80.0, "biased": True}]
ENTRY = {"fid": [TRAINING[0], *FINAL, TRAINING[1]],
         "kid": {"mean": 0.01, "std": 0.001, "features": "inception", "n": 200, "ref": "mnist-test[:1000]"},
         "class_coverage": {"counts": [30, 10, 10, 10, 10, 10, 10, 5, 3, 2], "n": 100, "covered": 10},
         "coverage_history": {"1": [0.1] * 10}, "checks": [{"check": "x", "holds": True}]}


def test_final_rows_are_the_ones_without_an_epoch():
    assert records.final_fid(ENTRY, "classifier") == FINAL[0]
    assert records.final_value(ENTRY, "inception") == 80.0
    assert records.final_fid(ENTRY, "nonexistent") is None and records.final_value(None, "classifier") is None
    assert records.final_metrics(ENTRY) == {"fid": FINAL, "kid": ENTRY["kid"], "class_coverage": ENTRY["class_coverage"]}


def test_latest_row_falls_back_to_the_last_epoch():
    assert records.latest_fid(ENTRY, "classifier") == FINAL[0]
    assert records.latest_fid({"fid": TRAINING[::-1]}, "classifier") == TRAINING[1]


def test_coverage_and_histories():
    assert records.largest_share(ENTRY) == pytest.approx(0.3)
    assert records.digit_shares(ENTRY)[7] == pytest.approx(0.05)
    assert records.largest_share({"fid": []}) is None
    assert records.coverage_history(ENTRY) == {1: [0.1] * 10}
    assert records.checks(ENTRY)[0]["holds"]


def test_headline_prefers_the_final_row_then_the_latest_epoch():
    assert records.headline({"models": {"gan": {"fid": TRAINING}}}) == "gan: classifier FID 5.00 (N=500)"
    assert records.headline({"models": {"gan": ENTRY}}) == \
        "gan: classifier FID 7.00 (N=10000) · inception FID 80.00 (N=200)"


def test_what_the_writer_writes_the_reader_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    run = context.Run(stem="03_gan_pixelshuffle", profile="smoke", seed=0, device="cpu", params={"seed": 0})
    metrics = records.Metrics(run)
    metrics.update_model("gan", **ENTRY)
    assert records.load("smoke", "03_gan_pixelshuffle", 0) is None            # still running: not finished
    assert records.load("smoke", "03_gan_pixelshuffle", 0, finished=False)["status"] == "running"
    metrics.finish()
    record = records.load("smoke", "03_gan_pixelshuffle", 0)
    assert records.final_value(records.model(record, "gan"), "classifier") == 7.0
    assert records.model(record, "wgan") is None and records.load("smoke", "04_wgan", 0) is None
    assert records.load("smoke", "03_gan_pixelshuffle", 1) is None            # another seed: another folder
    assert json.loads(records.record_path("smoke", "03_gan_pixelshuffle", 0).read_text())["seed"] == 0
    assert records.record_path("smoke", "03_gan_pixelshuffle", 0).parent.name == "seed0"
    assert records.record_path("smoke", "06_summary", None).name == "summary.metrics.json"
    assert records.seeds_present("smoke") == [0]


def test_a_dry_runs_records_lie_in_its_own_folder_only_when_the_run_hands_that_over(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    dry = BatchContext(dry_run=True)
    monkeypatch.setenv(*dry.variables().popitem())              # a dry run's kernel environment, read by nothing here
    run = context.Run(stem="03_gan_pixelshuffle", profile="smoke", seed=0, device="cpu", params={"seed": 0}, batch=dry)
    records.Metrics(run).finish()
    in_dry_run = tmp_path / "smoke-dry-run" / "seed0" / "03_gan_pixelshuffle.metrics.json"
    assert run.metrics_path == records.record_path("smoke", "03_gan_pixelshuffle", 0, dry_run=True) == in_dry_run
    assert records.load("smoke", "03_gan_pixelshuffle", 0, dry_run=True)["dry_run"] is True
    assert records.seeds_present("smoke", dry_run=True) == [0]
    # not handed over: the profile's own folder, whatever the environment says
    assert records.record_path("smoke", "03_gan_pixelshuffle", 0) == tmp_path / "smoke" / "seed0" / in_dry_run.name
    assert records.load("smoke", "03_gan_pixelshuffle", 0) is None and records.seeds_present("smoke") == []
    assert context.Run(stem="01_vae", profile="smoke", seed=0, device="cpu", params={}).out_dir.parent.parent.name == "smoke"


# ----------------------------------------------------------------------------- the schema

SCHEMA = (record_schema.Record, record_schema.ModelEntry, record_schema.Evaluation, record_schema.FidRow,
          record_schema.KidRow, record_schema.FidelityRow, record_schema.ClassCoverage, record_schema.Check,
          record_schema.Claim, record_schema.CodeDigest)
WRITTEN_AT_START = ["notebook", "profile", "status", "device", "seed", "git_commit", "code_digest", "versions",
                    "environment", "params", "dry_run", "attempt", "models"]


def fields(schema) -> list[str]:
    return list(typing.get_type_hints(schema))


def test_a_record_written_by_metrics_reads_back_with_the_declared_top_level_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    run = context.Run(stem="04_wgan", profile="smoke", seed=1, device="cpu", params={"seed": 1},
                      env={"versions": {"torch": "x"}}, batch=BatchContext(dry_run=True))
    metrics = records.Metrics(run)
    assert list(records.read(run.metrics_path)) == WRITTEN_AT_START
    metrics.data["feature_extractors"] = {"classifier": {"sha256": "ab"}}
    metrics.update_model("wgan", reused_checkpoint="finished run loaded from checkpoint wgan_checkpoint.pt")
    metrics.update_model("gan", reused_checkpoint=None)
    metrics.finish()
    record = records.read(run.metrics_path)
    assert list(record) == WRITTEN_AT_START + ["feature_extractors", "reused_checkpoints", "duration_s",
                                               "cpu_seconds", "phase_seconds"]
    assert list(record["phase_seconds"]) == ["opening", *clock.PHASES]
    assert set(record) <= set(fields(record_schema.Record))
    assert record["dry_run"] is True and record["status"] == "ok" and record["versions"] == {"torch": "x"}
    assert record["reused_checkpoints"] == {"wgan": "finished run loaded from checkpoint wgan_checkpoint.pt"}


def test_the_written_json_is_indented_plain_json_with_non_finite_numbers_as_null(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    run = context.Run(stem="01_vae", profile="smoke", seed=0, device="cpu", params={"seed": 0})
    metrics = records.Metrics(run)
    metrics.update_model("vae", history={"loss": torch.tensor([2.0, float("nan")])}, test_kl=float("inf"), epochs=(1,))
    expected = {"notebook": "01_vae", "profile": "smoke", "status": "running", "device": "cpu", "seed": 0,
                "git_commit": "unknown", "code_digest": None, "versions": {}, "environment": {}, "params": {"seed": 0},
                "dry_run": False, "attempt": None, "models": {"vae": {"history": {"loss": [2.0, None]}, "test_kl": None, "epochs": [1]}}}
    assert run.metrics_path.read_text() == json.dumps(expected, indent=2)


def test_the_batch_merges_its_outcome_into_the_declared_fields(tmp_path):
    path = tmp_path / "02_controlvae.metrics.json"
    written = attempts.mark_outcome(path, "02_controlvae", "smoke", "failed", "CUDA error", 12.34)
    assert written == {"notebook": "02_controlvae", "profile": "smoke", "models": {}, "status": "failed",
                       "error": "CUDA error", "wall_seconds": 12.3}
    assert records.read(path) == written and set(written) <= set(fields(record_schema.Record))
    path.write_text(json.dumps({"notebook": "02_controlvae", "status": "running"}))
    assert attempts.mark_outcome(path, "02_controlvae", "smoke", "ok", None, 1.0)["status"] == "incomplete"
    path.write_text(json.dumps({"notebook": "02_controlvae", "status": "ok"}))
    assert attempts.mark_outcome(path, "02_controlvae", "smoke", "ok", None, 1.0) == \
        {"notebook": "02_controlvae", "status": "ok", "wall_seconds": 1.0}


def test_headline_of_a_record_with_inception_and_classifier_rows_names_both_by_feature_space():
    both = {"fid": [TRAINING[0], {"features": "inception", "n": 50, "ref": "mnist-test[:1000]", "value": 90.0, "epoch": 1},
                    *FINAL]}
    diverged = {"fid": [*TRAINING, {"features": "inception", "n": 50, "ref": "mnist-test[:1000]", "value": None}]}
    record = {"models": {"gan": both, "wgan": diverged, "unevaluated": {"checks": []}}}
    assert records.headline(record) == ("gan: classifier FID 7.00 (N=10000) · inception FID 80.00 (N=200); "
                                        "wgan: classifier FID 5.00 (N=500)")


def test_the_summarys_headline_counts_its_verdicts():
    claims = [{"verdict": "supported"}, {"verdict": "not resolved"}, {"verdict": "supported"}]
    assert records.headline({"claims": claims, "seeds": [0, 1]}) == \
        "seeds [0, 1]: 3 claims (2 supported, 1 not resolved)"
    assert records.headline({"claims": [], "seeds": [0]}) == "seeds [0]: no claim testable with the notebooks present"


def test_every_getter_reads_a_missing_model_or_a_null_field_as_empty():
    nulls = {"fid": None, "kid": None, "class_coverage": None, "precision_recall": None,
             "coverage_history": None, "checks": None}
    for entry in (None, {}, nulls):
        assert records.fid_rows(entry) == []
        assert records.final_fid(entry, "classifier") is None and records.latest_fid(entry, "inception") is None
        assert records.final_metrics(entry) == {"fid": []}
        assert records.kid(entry) is None and records.class_coverage(entry) is None
        assert records.fidelity_diversity(entry, "recall") is None and records.fidelity_diversity(entry, "coverage") is None
        assert records.digit_shares(entry) is None and records.largest_share(entry) is None
        assert records.coverage_history(entry) == {} and records.checks(entry) == []
    assert records.model(None, "gan") is None and records.model({"models": None}, "gan") is None


def test_final_metrics_has_the_evaluations_fields_in_its_order():
    pr = {"features": "classifier", "n": 100, "ref": "mnist-test", "k": 3, "precision": 0.9, "recall": 0.5}
    dc = {"features": "classifier", "n": 100, "ref": "mnist-test", "k": 5, "density": 1.1, "coverage": 0.8}
    entry = {**ENTRY, "density_coverage": dc, "precision_recall": pr}
    assert list(records.final_metrics(entry)) == fields(record_schema.Evaluation)
    assert records.fidelity_diversity(entry, "precision") == 0.9 and records.fidelity_diversity(entry, "density") == 1.1
    assert set(fields(record_schema.Evaluation)) <= set(fields(record_schema.ModelEntry))


def test_the_metric_modules_write_the_declared_fields():
    confidence = torch.tensor([0.99, 0.5, 0.95, 0.2])   # with it, the confident counts too
    assert list(coverage.class_coverage(torch.tensor([0, 1, 1, 9]), confidence=confidence)) == \
        fields(record_schema.ClassCoverage)
    torch.manual_seed(0)
    real, fake = torch.randn(20, 4), torch.randn(12, 4)
    measured = {**prdc.precision_recall(real, fake, k=3), **prdc.density_coverage(real, fake, k=5)}
    assert set(measured) <= set(fields(record_schema.FidelityRow))


def test_the_fields_the_module_reads_and_writes_are_declared_in_the_schema():
    declared = {name for schema in SCHEMA for name in fields(schema)}
    used = set()
    for node in ast.walk(ast.parse(Path(records.__file__).read_text())):
        if isinstance(node, ast.Subscript):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            key = node.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            used.add(key.value)
    used.discard("images")   # the key inside an exported-samples file, not a record's
    assert used and used <= declared, used - declared


def declared_kinds(kind) -> list:
    """Every type a schema field declares, down through lists, mappings, unions and bounds."""
    found, parts = [kind], typing.get_args(kind)
    if typing.is_typeddict(kind):
        parts = typing.get_type_hints(kind, include_extras=True).values()
    elif typing.get_origin(kind) is typing.Annotated:
        parts = parts[:1]
    elif typing.get_origin(kind) is typing.Literal:
        parts = ()
    return found + [inner for part in parts if part is not type(None) for inner in declared_kinds(part)]


def test_every_declared_field_is_checked_when_a_record_is_read():
    """A value of no JSON type is refused wherever the schema declares a type: the check knows
    every kind the schema uses (a bare mapping or list checks only its numbers)."""
    for kind in declared_kinds(record_schema.Record):
        if kind not in (dict, list):
            assert record_schema.problem(object(), kind), kind
    checked = record_schema.problem({"models": {"gan": {"kid": {"features": "inception", "n": 0}}}})
    assert checked == "models.gan.kid.n 0 is below 1"
