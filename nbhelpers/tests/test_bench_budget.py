"""Where a batch's seconds go: the phases a process counts (``clock``), the Evaluator's share of
them, and ``python -m nbhelpers.bench budget`` on a report tree built here."""
import json
import time

import pytest
import torch

from nbhelpers import clock
from nbhelpers.bench import budget
from nbhelpers.metrics.evaluator import Evaluator


def burn(seconds: float) -> None:
    """Keep this process's CPU busy for ``seconds`` of CPU time."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


# ----------------------------------------------------------------------------- clock

def test_nested_phases_count_each_second_once_in_the_innermost():
    before = clock.spent()
    with clock.phase("evaluation"):
        burn(0.05)
        with clock.phase("inception"):
            burn(0.10)
        burn(0.05)
    spent = clock.spent(since=before)
    assert 0.10 <= spent["evaluation"] < 0.14 and 0.10 <= spent["inception"] < 0.14
    assert spent["training"] == spent["classifier"] == spent["figures"] == 0


def test_a_decorated_function_counts_as_its_phase_and_an_unknown_phase_is_refused():
    counted = clock.phase("figures")(burn)
    before = clock.spent()
    counted(0.05)
    assert 0.05 <= clock.spent(since=before)["figures"] < 0.09
    with pytest.raises(ValueError, match="unknown phase 'plotting'; the phases are training, inception"):
        with clock.phase("plotting"):
            pass


def test_the_evaluator_counts_feature_extraction_apart_from_the_rest_of_its_evaluation():
    evaluator = Evaluator("cpu", n_inception=0, n_classifier=8)
    images = torch.rand(8, 1, 28, 28)
    before = clock.spent()

    def slow_features(batch):
        burn(0.05)
        return batch.flatten(1)

    features = evaluator.extract(images, "classifier", fn=slow_features)
    assert features.shape == (8, 784)
    spent = clock.spent(since=before)
    assert spent["classifier"] >= 0.05 and spent["evaluation"] == 0 and spent["inception"] == 0


# ----------------------------------------------------------------------------- the budget of a report tree

def record(notebook: str, seed: int | None, **fields) -> dict:
    base = {"notebook": notebook, "profile": "smoke", "seed": seed, "status": "ok", "models": {},
            "duration_s": 20.0, "wall_seconds": 30.0, "render_seconds": 2.0, "cpu_seconds": 24.0,
            "phase_seconds": {"opening": 3.0, "training": 8.0, "inception": 4.0, "classifier": 2.0,
                              "evaluation": 1.0, "figures": 1.5}}
    return {**base, **fields}


def write(root, relative: str, content: dict) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


@pytest.fixture
def tree(tmp_path):
    """Seeds 1 and 2 of 03 (seed 2 training twice as long), 04 on seed 1, the summary, an old
    record without phases and a failed run."""
    write(tmp_path, "smoke/seed1/03_gan_pixelshuffle.metrics.json", record("03_gan_pixelshuffle", 1))
    write(tmp_path, "smoke/seed2/03_gan_pixelshuffle.metrics.json",
          record("03_gan_pixelshuffle", 2, cpu_seconds=32.0,
                 phase_seconds={**record("x", 2)["phase_seconds"], "training": 16.0}))
    write(tmp_path, "smoke/seed1/04_wgan.metrics.json", record("04_wgan", 1, render_seconds=0.0))
    write(tmp_path, "smoke/summary.metrics.json",
          record("06_summary", None, cpu_seconds=5.0, duration_s=2.0, wall_seconds=6.0, render_seconds=1.0,
                 phase_seconds={"opening": 3.0, "figures": 0.5}))
    old = record("05_ssgan", 1)
    del old["phase_seconds"]
    write(tmp_path, "smoke/seed1/05_ssgan.metrics.json", old)
    write(tmp_path, "smoke/seed2/04_wgan.metrics.json", record("04_wgan", 2, status="failed", error="boom"))
    return tmp_path


def test_a_runs_seconds_are_its_phases_the_rest_of_its_notebook_its_kernels_start_and_its_page():
    seconds = budget.run_seconds(record("03_gan_pixelshuffle", 1))
    assert seconds == {"training": 8.0, "Inception": 4.0, "classifier": 2.0, "other eval": 1.0, "figures": 1.5,
                       "rest": 24.0 - 3.0 - 16.5, "kernel start": 3.0, "render": 2.0}
    assert budget.wall_seconds(record("03_gan_pixelshuffle", 1)) == {"notebook wall": 20.0, "notebook cpu": 21.0,
                                                                   "around": 30.0 - 20.0 - 3.0}


def test_the_budget_averages_a_notebook_over_its_seeds_and_shares_the_batch_out(tree):
    profile, runs, left_out = budget.read_runs(tree, None)
    assert profile == "smoke" and len(runs) == 4
    assert left_out == ["smoke/seed1/05_ssgan.metrics.json: written before records held phase_seconds",
                        "smoke/seed2/04_wgan.metrics.json: status failed"]
    table = budget.per_notebook(runs)
    gan = table.loc["03_gan_pixelshuffle"]
    assert gan["training"] == 12.0 and gan["rest"] == 4.5 and gan["seeds"] == 2     # (8 + 16) / 2; 4.5 both seeds
    run_totals = {"03 s1": 26.0, "03 s2": 34.0, "04 s1": 24.0, "summary": 0.5 + 1.5 + 3.0 + 1.0}
    batch = sum(run_totals.values())
    assert gan["total"] == 30.0 and gan["share"] == pytest.approx(60.0 / batch)
    assert table.loc["batch (all runs)", "total"] == pytest.approx(batch)
    assert table.loc["batch, per seed", "total"] == pytest.approx(batch / 2)            # seeds 1 and 2
    assert table.loc["share of the batch", budget.COLUMNS].sum() == pytest.approx(1.0)
    assert table.loc["06_summary", "figures"] == 0.5 and table.loc["06_summary", "render"] == 1.0


def test_the_budget_command_prints_every_run_and_names_what_it_left_out(tree, capsys):
    assert budget.main([str(tree)]) == 0
    out = capsys.readouterr().out
    assert "Where the CPU-seconds go: " in out and "seeds 1, 2" in out
    assert "the kernels got 118% of a core" in out and "22.0 wall seconds in all were spent by no kernel" in out
    for row in ("03_gan_pixelshuffle s1", "03_gan_pixelshuffle s2", "04_wgan s1", "06_summary", "share of the batch"):
        assert row in out
    assert "left out: smoke/seed2/04_wgan.metrics.json: status failed" in out


@pytest.mark.parametrize("arguments, message", [
    (["missing"], "is not a folder: give the reports folder of a finished batch"),
    (["."], "holds the profiles cpu, smoke: choose one with --profile"),
    ([".", "--profile", "cpu"], "no finished run with phase_seconds under"),
])
def test_a_reports_folder_without_a_budget_is_one_line_and_exit_status_2(tree, capsys, arguments, message):
    (tree / "cpu").mkdir()
    arguments = [str(tree / arguments[0]), *arguments[1:]]
    assert budget.main(arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
