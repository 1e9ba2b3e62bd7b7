"""04 and 05 read 03's record (``gan_study.load_gan_run``): a damaged one is named and read as
absent, so that their reports say why the GAN is left out instead of stopping (issue 26)."""
import pytest

from nbhelpers.studies import gan_study

PARAMS = {"profile": "cpu", "device": "cpu", "seed": 0, "epochs": 10}


@pytest.mark.parametrize("content, problem", [
    ('{"status": "ok", "models": {"gan": {"fid": [', "JSONDecodeError"),   # cut short
    ("[1, 2]", "a JSON list, not a record"),
])
def test_a_damaged_gan_record_is_named_and_read_as_absent(tmp_path, monkeypatch, content, problem):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    folder = tmp_path / "cpu" / "seed0"
    folder.mkdir(parents=True)
    (folder / "03_gan_pixelshuffle.metrics.json").write_text(content)
    entry, note = gan_study.load_gan_run("cpu", PARAMS)
    assert entry is None
    assert "reports/cpu/seed0/03_gan_pixelshuffle.metrics.json is damaged" in note and problem in note
    assert "no GAN to compare with" in note and "--seeds 0 --only 03_gan_pixelshuffle" in note
