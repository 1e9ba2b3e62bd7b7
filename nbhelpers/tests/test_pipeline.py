"""The batch runner's index: every seed's reports and the summary, earlier runs' kept listed;
the git filter that keeps notebook outputs out of commits; progress in batch runs."""
import io
import json
import shutil
import subprocess
import time

import numpy as np
from PIL import Image

from nbhelpers import environment, paths, progress
from nbhelpers.batch import execute, index, kernel
from nbhelpers.batch.index import IndexRow


def test_index_keeps_earlier_reports_and_other_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    earlier = {"notebook": "01_vae", "status": "ok", "wall_seconds": 266.0,
               "models": {"vae_prior": {"fid": [{"features": "classifier", "n": 10000, "value": 14.29}]}}}
    for seed in (0, 2):
        (tmp_path / "cpu" / f"seed{seed}").mkdir(parents=True)
        (tmp_path / "cpu" / f"seed{seed}" / "01_vae.metrics.json").write_text(json.dumps(earlier))
    (tmp_path / "cpu" / "seed0" / "not_a_notebook.metrics.json").write_text(json.dumps(earlier))   # ignored
    (tmp_path / "cpu" / "seedless").mkdir()                                                       # ignored
    since = time.time()
    failed = {"notebook": "04_wgan", "status": "failed", "wall_seconds": 12.0, "error": "ValueError: boom",
              "models": {"wgan": {"fid": [{"features": "classifier", "n": 10000, "value": 99.0}]}}}
    (tmp_path / "cpu" / "seed0" / "unfinished").mkdir()
    (tmp_path / "cpu" / "seed0" / "unfinished" / "04_wgan.metrics.json").write_text(json.dumps(failed))
    rows = index.index_rows("cpu", since=since)
    assert [(r.stem, r.seed, r.run, r.attempt) for r in rows] == [
        ("01_vae", 0, "earlier run", ""), ("04_wgan", 0, "this run", "unfinished"), ("01_vae", 2, "earlier run", "")]
    assert rows[1].headline == "" and rows[1].error == "ValueError: boom"   # a failed run shows its error
    assert rows[0].headline == "vae_prior: classifier FID 14.29 (N=10000)" and rows[0].seconds == 266.0
    page = index.write_index(tmp_path / "cpu", "cpu", rows).read_text()
    assert "href='seed0/01_vae.html'" in page and "href='seed2/01_vae.html'" in page and "266 s" in page
    assert ("<tr class='failed'><td><a href='seed0/unfinished/04_wgan.html'>04_wgan</a></td><td>0 (tuning)</td><td></td>"
            "<td>failed (attempt kept in unfinished/)</td><td>this run</td>") in page
    assert "ValueError: boom" in page and "not_a_notebook" not in page and "summary.html" not in page
    (tmp_path / "cpu" / "summary.html").write_text("")
    assert "href='summary.html'" in index.write_index(tmp_path / "cpu", "cpu", rows).read_text()


def test_index_shows_a_thumbnail_of_the_final_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    folder = tmp_path / "cpu" / "seed1"
    (folder / "03_gan_pixelshuffle" / "samples").mkdir(parents=True)
    record = {"status": "ok", "models": {"gan": {"fid": []}, "no_samples": {}}}
    (folder / "03_gan_pixelshuffle.metrics.json").write_text(json.dumps(record))
    digits = np.zeros((20, 28, 28), np.uint8)
    digits[:, 10:18, 10:18] = 255                                   # a white square on black
    np.savez_compressed(folder / "03_gan_pixelshuffle" / "samples" / "gan.npz", images=digits)
    assert index.thumbnail("cpu", "03_gan_pixelshuffle", 1) == "seed1/03_gan_pixelshuffle/thumbnail.png"
    image = np.asarray(Image.open(folder / "03_gan_pixelshuffle" / "thumbnail.png"))
    assert image.shape == (112, 112) and image[0, 0] == 255 and image[14, 14] == 0   # dark digits on white
    assert index.thumbnail("cpu", "01_vae", 1) is None
    rows = [IndexRow(stem="03_gan_pixelshuffle", seed=1, status="ok", seconds=1.0)]
    page = index.write_index(tmp_path / "cpu", "cpu", rows).read_text()
    assert "<img src='seed1/03_gan_pixelshuffle/thumbnail.png'" in page


def test_the_output_filter_keeps_outputs_out_of_commits(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    assert kernel.install_output_filter(repo) is False           # not a git work tree: nothing done
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.copy(paths.REPO_ROOT / ".gitattributes", repo)
    assert kernel.install_output_filter(repo)
    committed = (paths.NOTEBOOKS_DIR / "01_vae.ipynb").read_text()
    notebook = json.loads(committed)
    notebook["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["autosaved output\n"]}]
    notebook["cells"][1]["execution_count"] = 4
    (repo / "notebooks" / "01_vae.ipynb").write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    subprocess.run(["git", "-C", str(repo), "add", "notebooks/01_vae.ipynb"], check=True)
    staged = subprocess.run(["git", "-C", str(repo), "show", ":notebooks/01_vae.ipynb"], capture_output=True, text=True,
                            check=True).stdout
    assert "autosaved output" not in staged and staged == committed    # stripped back to the committed bytes


def test_progress_bars_are_off_in_batch_runs_and_lines_are_sparse(monkeypatch, capsys):
    monkeypatch.setenv(*environment.BatchContext(progress_lines=True).variables().popitem())
    assert not progress.bar(range(3)).disable and progress.bar(range(3), disable=True).disable   # the caller decides
    assert progress.bar(range(3), lines=True).disable and progress.bar(range(3), lines=True, disable=False).disable
    stream = io.StringIO()
    lines = progress.LineStream(stream, prefix="> ")
    for text in ("\r 1/3", "\r 1/3", "\r 2/3", "\n", "\r 3/3"):
        lines.write(text)
    assert stream.getvalue() == "> 1/3\n> 2/3\n> 3/3\n"          # one line each, no carriage returns


def test_a_runs_row_is_built_from_its_record_whoever_reports_it():
    record = {"status": "ok", "wall_seconds": 12.5,
              "models": {"vae_prior": {"fid": [{"features": "classifier", "n": 10000, "value": 14.29}]}}}
    row = IndexRow.from_record("01_vae", 0, record, seconds=99.0)          # the record's own time wins
    assert (row.status, row.seconds, row.error) == ("ok", 12.5, None)
    assert row.headline == "vae_prior: classifier FID 14.29 (N=10000)" and row.href(".html") == "seed0/01_vae.html"
    failed = IndexRow.from_record("04_wgan", 1, {"status": "failed", "error": "ValueError: boom"}, seconds=3.0)
    assert (failed.status, failed.seconds, failed.error, failed.headline) == ("failed", 3.0, "ValueError: boom", "")
    lost = IndexRow.from_record("02_controlvae", 0, {}, status="interrupted", seconds=4.0, error="job 7 was killed")
    assert (lost.status, lost.error) == ("interrupted", "job 7 was killed")   # no record: what the executor saw
    summary = IndexRow.from_record(paths.SUMMARY_STEM, None, {"status": "ok"}, attempt="unfinished")
    assert summary.href(".log") == "unfinished/summary.log"


def test_a_running_notebooks_progress_lines_reach_the_terminal_and_nothing_else(tmp_path, capsys):
    log = tmp_path / "03_gan_pixelshuffle.log"
    log.write_text("some output\n" + progress.epoch_line("gan", 1, 3, "loss_d 1.2") + "\n"
                   "[IPKernelApp] WARNING | a kernel warning\n" + progress.line("fid", "features: 64/128 images") + "\n")
    follower = execute.LogFollower(log, f"{execute.INDENT}[1/2] 03_gan_pixelshuffle s0")
    follower.start()
    follower.stop()                                  # it reads to the end of the log first
    shown = capsys.readouterr().out.splitlines()
    assert [line.split(" +0:00  ", 1)[1] for line in shown] == ["[gan] epoch 1/3  loss_d 1.2",
                                                                 "[fid] features: 64/128 images"]
    assert all(execute.is_notebook_line(line) for line in shown)   # what a job's output is echoed by
