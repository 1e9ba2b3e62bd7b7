"""The sections several notebooks share (``studies.sections``) and the mode-collapse read-out of
notebook 03 (``studies.mode_collapse``), on real MNIST digits and small real networks."""
from types import SimpleNamespace

import matplotlib
import numpy as np
import torch

from nbhelpers.data import load_mnist
from nbhelpers.metrics import coverage
from nbhelpers.models.gan import nets
from nbhelpers.studies import mode_collapse, sections

matplotlib.use("Agg")

SIZES = SimpleNamespace(fid_n_inception=200, fid_n_classifier=1000, fid_ref_n_inception=500, fid_ref_n_classifier=2000)


class Recorder:
    """What a section writes to the notebook's record, kept in memory
    (``records.Metrics.update_model``'s signature)."""

    def __init__(self):
        self.models = {}

    def update_model(self, name, **fields):
        self.models.setdefault(name, {}).update(fields)
        return self.models[name]


def test_the_evaluator_is_sized_by_the_shared_parameters_or_by_the_sizes_given():
    run = SimpleNamespace(device=torch.device("cpu"))
    evaluator = sections.evaluator_for(run, SIZES)
    assert evaluator.n == {"inception": 200, "classifier": 1000}
    assert evaluator.ref_n == {"inception": 500, "classifier": 2000}
    cheap = sections.evaluator_for(run, SIZES, n_inception=0, n_classifier=300)
    assert cheap.n == {"inception": 0, "classifier": 300} and cheap.ref_n == evaluator.ref_n


def test_the_memorisation_check_records_each_set_and_finds_copies_of_training_digits(capsys):
    train, _ = load_mnist("train", limit=50)
    noise = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    recorder = Recorder()
    sections.show_memorisation(recorder, {"copies": train, "noise": noise}, {"copies": "copies", "noise": "noise"}, "cpu")
    copies, random = recorder.models["copies"]["memorisation"], recorder.models["noise"]["memorisation"]
    assert copies["n"] == random["n"] == 50 and copies["train_n"] == 60_000
    assert copies["nearest_exact_copies"] == 50 and copies["ratio_of_medians"] == 0.0
    assert random["nearest_exact_copies"] == 0 and random["ratio_of_medians"] > 1
    printed = capsys.readouterr().out
    assert printed.count("median nearest-training distance") == 2 and "50 exact copies" in printed


def test_the_noise_walks_keep_the_norm_on_the_great_circle_and_print_it(capsys):
    torch.manual_seed(0)
    generator = nets.Generator(channels=(8, 4))
    sections.show_noise_walks(generator, seed=3, name="G", pairs=2, steps=5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"mean |z| along the paths, t = 0 to 1 (a draw from N(0, I_{generator.latent_dim})")
    slerp = [float(v) for v in lines[1].split(":")[1].split()]
    linear = [float(v) for v in lines[2].split(":")[1].split()]
    assert len(slerp) == len(linear) == 5 and min(linear) < min(slerp)


def test_the_metrics_table_shows_one_column_per_sample_set(capsys):
    row = {"features": "classifier", "value": 12.3456, "n": 100, "ref": "mnist-test"}
    sections.show_metrics_table({"a": {"fid": [row]}, "b": {"fid": [{**row, "value": 7.0}]}}, digits=2)
    shown = capsys.readouterr().out
    assert "classifier FID" in shown and "12.35" in shown and "7.0" in shown


def collapsed_shares() -> mode_collapse.DigitShares:
    """1 over-produced (25 %), 7 under-produced (2 %), the rest within the band."""
    rest = (1000 - 250 - 20) / 8
    counts = [250 if d == 1 else 20 if d == 7 else rest for d in range(10)]
    labels = torch.tensor(np.repeat(np.arange(10), [int(c) for c in counts]))
    confidence = torch.where(labels == 1, 0.6, 0.95)
    shares = coverage.class_share_table(counts, [1000] * 10, confidence=coverage.confidence_by_digit(labels, confidence))
    return mode_collapse.DigitShares(shares, coverage.collapse_summary(shares), confidence, torch.full((100,), 0.99))


def test_the_collapse_lines_name_the_flagged_digits_and_the_classifier_confidence():
    lines = mode_collapse.lines(collapsed_shares())
    assert lines[0] == "over-produced (> 12%): 1 (25.0 %)"
    assert lines[1] == "under-produced (< 8%): 7 (2.0 %)"
    assert lines[2].startswith("most produced: 1 (25.0 %); least produced: 7 (2.0 %); ratio 12.50")
    assert lines[3].startswith("the report's suspects: 3 -> 3 (9.1 %), 8 -> 8 (9.1 %)")
    assert lines[4] == "digit 1 (over): mean classifier confidence 0.600 vs 0.950 for the digits within the band"
    assert lines[-1].endswith("on real test digits 0.990")


def test_the_collapse_lines_hold_no_confidence_comparison_when_every_digit_is_flagged():
    measured = collapsed_shares()
    measured.collapse["over"], measured.collapse["under"] = list(range(5)), list(range(5, 10))
    assert sum("nan for the digits within the band" in line for line in mode_collapse.lines(measured)) == 10
