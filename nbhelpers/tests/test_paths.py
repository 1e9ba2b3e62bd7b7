"""How paths are shown: in reports relative to the reports root (no machine paths), in the
terminal as a path that opens from where the command ran."""
from pathlib import Path

from nbhelpers import paths
from nbhelpers.environment import BatchContext


def test_reports_show_paths_from_the_reports_root_and_a_staged_file_where_it_will_be(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path / "elsewhere"))
    log = tmp_path / "elsewhere" / "smoke" / "seed0" / "01_vae.log"
    assert paths.display(log) == "reports/smoke/seed0/01_vae.log"
    assert paths.display(paths.REPO_ROOT / "params" / "smoke.json") == "params/smoke.json"
    stage = tmp_path / "elsewhere" / "smoke" / "seed0" / ".attempts" / "01_vae-1"
    monkeypatch.setenv(*BatchContext().with_stage(stage, log.parent).variables().popitem())   # as the batch runs it
    assert paths.display(stage / "01_vae" / "models" / "vae.pt") == "reports/smoke/seed0/01_vae/models/vae.pt"


def test_the_terminal_shows_a_path_that_opens_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path / "elsewhere"))
    log = tmp_path / "elsewhere" / "smoke" / ".jobs" / "1_0_log.out"
    monkeypatch.chdir(paths.REPO_ROOT)
    assert paths.in_terminal(log) == str(log.resolve())          # outside the working directory: absolute
    assert paths.in_terminal(paths.REPO_ROOT / "reports" / "smoke") == "reports/smoke"
    monkeypatch.chdir(tmp_path)
    assert Path(paths.in_terminal(log)) == Path("elsewhere/smoke/.jobs/1_0_log.out")
