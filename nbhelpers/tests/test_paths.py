"""Where reports go and how paths are shown: a dry run's reports in their own folder and a batch
run's files in its stage, only as the run's context (handed over) says; in reports relative to
the reports root (no machine paths), in the terminal as a path that opens from where the command
ran."""
from pathlib import Path

from nbhelpers import paths
from nbhelpers.environment import BatchContext


def test_reports_show_paths_from_the_reports_root_and_a_staged_file_where_it_will_be(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path / "elsewhere"))
    log = tmp_path / "elsewhere" / "smoke" / "seed0" / "01_vae.log"
    assert paths.display(log) == "reports/smoke/seed0/01_vae.log"
    assert paths.display(paths.REPO_ROOT / "params" / "smoke.json") == "params/smoke.json"
    stage = tmp_path / "elsewhere" / "smoke" / "seed0" / ".attempts" / "01_vae-1"
    batch = BatchContext().with_stage(stage, log.parent)        # as the batch runs it
    staged = stage / "01_vae" / "models" / "vae.pt"
    assert paths.display(staged, batch) == "reports/smoke/seed0/01_vae/models/vae.pt"
    assert paths.display(staged) == "reports/smoke/seed0/.attempts/01_vae-1/01_vae/models/vae.pt"


def test_a_batch_runs_outputs_go_to_its_stage_and_its_checkpoints_to_the_final_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    final = tmp_path / "smoke-dry-run" / "seed0"
    stage = final / ".attempts" / "03_gan_pixelshuffle-1"
    batch = BatchContext(dry_run=True).with_stage(stage, final)
    monkeypatch.setenv(*batch.variables().popitem())              # the kernel's environment: read by none of these
    out_dir = paths.notebook_output_dir("smoke", "03_gan_pixelshuffle", 0, batch)
    assert out_dir == stage / "03_gan_pixelshuffle" and paths.stage_dir(batch) == stage
    assert paths.checkpoint_folder(out_dir, batch) == final / "checkpoints" / "03_gan_pixelshuffle"
    assert paths.run_folder("smoke", 0, batch.dry_run) == final
    interactive = paths.notebook_output_dir("smoke", "03_gan_pixelshuffle", 0, BatchContext())
    assert interactive == tmp_path / "smoke" / "seed0" / "03_gan_pixelshuffle"
    assert paths.checkpoint_folder(interactive, BatchContext()) == tmp_path / "smoke" / "seed0" / "checkpoints" / \
        "03_gan_pixelshuffle"


def test_the_terminal_shows_a_path_that_opens_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path / "elsewhere"))
    log = tmp_path / "elsewhere" / "smoke" / ".jobs" / "1_0_log.out"
    monkeypatch.chdir(paths.REPO_ROOT)
    assert paths.in_terminal(log) == str(log.resolve())          # outside the working directory: absolute
    assert paths.in_terminal(paths.REPO_ROOT / "reports" / "smoke") == "reports/smoke"
    monkeypatch.chdir(tmp_path)
    assert Path(paths.in_terminal(log)) == Path("elsewhere/smoke/.jobs/1_0_log.out")
