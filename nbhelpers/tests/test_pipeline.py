"""The batch runner's index: every seed's reports and the summary, earlier runs' kept listed."""
import json

from nbhelpers import pipeline


def test_index_keeps_earlier_reports_and_other_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    earlier = {"notebook": "01_vae", "status": "ok", "wall_seconds": 266.0,
               "models": {"vae_prior": {"fid": [{"features": "classifier", "n": 10000, "value": 14.29}]}}}
    for seed in (0, 2):
        (tmp_path / "cpu" / f"seed{seed}").mkdir(parents=True)
        (tmp_path / "cpu" / f"seed{seed}" / "01_vae.metrics.json").write_text(json.dumps(earlier))
    (tmp_path / "cpu" / "seed0" / "not_a_notebook.metrics.json").write_text(json.dumps(earlier))   # ignored
    (tmp_path / "cpu" / "seedless").mkdir()                                                       # ignored
    this_run = [{"stem": "04_wgan", "seed": 0, "status": "failed", "seconds": 12.0, "error": "ValueError: boom",
                 "headline": ""}]
    rows = pipeline.index_rows("cpu", this_run)
    assert [(r["stem"], r["seed"], r["run"]) for r in rows] == [
        ("01_vae", 0, "earlier run"), ("04_wgan", 0, "this run"), ("01_vae", 2, "earlier run")]
    assert rows[0]["headline"] == "vae_prior: classifier FID 14.29 (N=10000)" and rows[0]["seconds"] == 266.0
    page = pipeline.write_index(tmp_path / "cpu", "cpu", rows).read_text()
    assert "href='seed0/01_vae.html'" in page and "href='seed2/01_vae.html'" in page and "266 s" in page
    assert ("<tr class='failed'><td><a href='seed0/04_wgan.html'>04_wgan</a></td><td>0</td><td>failed</td>"
            "<td>this run</td>") in page
    assert "ValueError: boom" in page and "not_a_notebook" not in page and "summary.html" not in page
    (tmp_path / "cpu" / "summary.html").write_text("")
    assert "href='summary.html'" in pipeline.write_index(tmp_path / "cpu", "cpu", rows).read_text()
