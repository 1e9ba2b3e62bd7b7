"""The results reader: records on disk, final and latest FID rows, coverage, the headline."""
import json

import pytest

from nbhelpers.report import records, context

TRAINING = [{"features": "classifier", "n": 500, "ref": "mnist-test[:1000]", "value": 50.0, "epoch": 1},
            {"features": "classifier", "n": 500, "ref": "mnist-test[:1000]", "value": 5.0, "epoch": 10}]
FINAL = [{"features": "classifier", "n": 10000, "ref": "mnist-test", "value": 7.0},
         {"features": "inception", "n": 200, "ref": "mnist-test[:1000]", "value": 80.0, "biased": True}]
ENTRY = {"fid": [TRAINING[0], *FINAL, TRAINING[1]], "kid": {"mean": 0.01, "std": 0.001, "features": "inception"},
         "class_coverage": {"counts": [30, 10, 10, 10, 10, 10, 10, 5, 3, 2], "n": 100, "covered": 10},
         "coverage_history": {"1": [0.1] * 10}, "fid_last_iterate": TRAINING, "checks": [{"check": "x", "holds": True}]}


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
    assert records.last_iterate_fid_rows(ENTRY) == TRAINING and records.checks(ENTRY)[0]["holds"]


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
