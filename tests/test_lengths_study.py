"""The length study end to end on the smoke profile: a long run of the GAN notebooks scored at a
shorter length gives the numbers and verdicts of the smoke run of that length (conftest's
``smoke_run``: the same seeds, the same code), and its summary shows each claim at each length."""
import json

import pytest

from nbhelpers.batch import main
from nbhelpers.paths import GAN_NOTEBOOKS
from nbhelpers.report import profiles
from nbhelpers.studies import claim_readers, collect, lengths, verdicts

pytestmark = pytest.mark.notebook
SMOKE_SEEDS = profiles.profile_seeds("smoke")
SHORT = profiles.resolve("03_gan_pixelshuffle", "smoke")["epochs"]
LONG = 2 * SHORT
READERS = (claim_readers.inception_kid, claim_readers.quarter_inception_kid, claim_readers.final_classifier_fid,
           claim_readers.classifier_fid_fall, claim_readers.early_classifier_fid, claim_readers.generator_steps,
           claim_readers.confident_largest_share, claim_readers.fidelity("coverage"), claim_readers.loss_gap("last_quarter"))


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lengths")
    status = main.main(["--profile", "smoke", "--seeds", ",".join(map(str, SMOKE_SEEDS)), "--jobs", "1",
                        *[arg for stem in GAN_NOTEBOOKS for arg in ("--only", stem)],
                        "--set", f"epochs={LONG}", "--set", f"claim_lengths=[{SHORT}, {LONG}]",
                        "--reports-dir", str(root)])
    return status, root


def _collected(root, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(root))
    return collect.collect("smoke", SMOKE_SEEDS)


def test_the_long_run_read_at_the_short_length_is_the_short_run(smoke_run, long_run, monkeypatch):
    (short_status, short_dir), (long_status, long_root) = smoke_run, long_run
    assert short_status == 0 and long_status == 0
    compared = 0
    for seed in SMOKE_SEEDS:
        for stem in GAN_NOTEBOOKS:
            short = json.loads((short_dir / f"seed{seed}" / f"{stem}.metrics.json").read_text())
            long = json.loads((long_root / "smoke" / f"seed{seed}" / f"{stem}.metrics.json").read_text())
            view = lengths.record_at(long, SHORT)
            for name, entry in view["models"].items():
                for reader in READERS:
                    assert reader(entry, view) == reader(short["models"][name], short), (seed, stem, name, reader.__name__)
                    compared += 1
            assert all(entry["epochs_trained"] == LONG for entry in lengths.record_at(long, LONG)["models"].values())
    assert compared >= 2 * 4 * len(READERS)   # gan, wgan, ssgan, sngan on each seed

    by_length = lengths.results(_collected(long_root, monkeypatch))
    short_results = {r.key: r for r in verdicts.evaluate_registry(_collected(short_dir.parent, monkeypatch))}
    assert sorted(by_length) == [SHORT, LONG]
    for result in by_length[SHORT]:   # the verdict before Holm: the short run's family holds the VAEs' claims too
        same = short_results[result.key]
        assert (result.estimate, result.low, result.high, result.n, result.verdict) == \
               (same.estimate, same.low, same.high, same.n, same.verdict), result.key


def test_the_long_runs_summary_shows_each_claim_at_each_length(long_run):
    _, root = long_run
    page = (root / "smoke" / "summary.html").read_text()
    assert "The GAN claims at each training length" in page and f"{SHORT} epochs, " in page and f"{LONG} epochs, " in page
    summary = json.loads((root / "smoke" / "summary.metrics.json").read_text())
    assert sorted(summary["lengths"], key=int) == [str(SHORT), str(LONG)]
    assert summary["lengths"][str(LONG)]["generator_steps"] == 2 * summary["lengths"][str(SHORT)]["generator_steps"]
