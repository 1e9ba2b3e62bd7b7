"""The batch runner's index: reports of earlier runs of a profile stay listed after a subset run."""
import json

from nbhelpers import pipeline


def test_index_keeps_earlier_reports_of_the_profile(tmp_path):
    earlier = {"notebook": "01_vae", "status": "ok", "wall_seconds": 266.0,
               "models": {"vae_prior": {"fid": [{"features": "classifier", "n": 10000, "value": 14.29}]}}}
    (tmp_path / "01_vae.metrics.json").write_text(json.dumps(earlier))
    (tmp_path / "not_a_notebook.metrics.json").write_text(json.dumps(earlier))   # ignored: no such notebook
    this_run = [{"stem": "04_wgan", "status": "failed", "seconds": 12.0, "error": "ValueError: boom", "headline": ""}]
    rows = pipeline.index_rows(tmp_path, this_run)
    assert [(r["stem"], r["run"]) for r in rows] == [("01_vae", "earlier run"), ("04_wgan", "this run")]
    assert rows[0]["headline"] == "vae_prior: classifier FID 14.29 (N=10000)" and rows[0]["seconds"] == 266.0
    page = pipeline.write_index(tmp_path, "cpu", rows).read_text()
    assert "href='01_vae.html'" in page and "earlier run" in page and "266 s" in page
    assert "<tr class='failed'><td><a href='04_wgan.html'>04_wgan</a></td><td>failed</td><td>this run</td>" in page
    assert "ValueError: boom" in page and "not_a_notebook" not in page
