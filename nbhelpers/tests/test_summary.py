"""The cross-notebook summary on records written to a temporary report tree, in the layout the
notebooks write (``report.records``: FID rows, KID rows with their features, N and reference,
class coverage, density/coverage rows, the ControlVAE's summary fields, the run's parameters)."""
import dataclasses
import hashlib
import json
import math
import statistics

import pytest

from nbhelpers.report import context
from nbhelpers.studies import claims as registry, collect, summary, verdicts

INCEPTION = {"features": "inception", "weights": "0123456789abcdef", "n": 200, "ref": "mnist-test[:1000]"}
CLASSIFIER = {"features": "classifier", "weights": "fedcba9876543210", "n": 10000, "ref": "mnist-test"}
GAN_EPOCHS = 8                                     # quarters end at epochs 2, 4, 6, 8
PROFILE = "smoke"   # its evaluation seeds are all but the tuning seed 0 (the cpu profile also keeps 1-4 out)


# ----------------------------------------------------------------------------- records as the notebooks write them

def fid_row(space: dict, value: float, epoch: int | None = None) -> dict:
    row = {**space, "value": value}
    if space["features"] == "inception" and space["n"] < 2048:
        row["biased"] = True
    return row if epoch is None else {**row, "epoch": epoch}


def kid_row(space: dict, mean: float, epoch: int | None = None, se: float | None = None) -> dict:
    """A KID row: the subsets' mean and std, the full-sample KID and its bootstrap standard error."""
    row = {**space, "mean": mean, "std": mean / 10, "subsets": 100, "subset_size": space["n"] // 2,
           "full": mean, "se": mean / 20 if se is None else se, "bootstraps": 200}
    return row if epoch is None else {**row, "epoch": epoch}


def spread(coverage: float = 0.8, recall: float = 0.7, density: float = 0.9) -> dict:
    return {"precision_recall": {**CLASSIFIER, "k": 3, "precision": 0.8, "recall": recall},
            "density_coverage": {**CLASSIFIER, "k": 5, "density": density, "coverage": coverage}}


def digits(counts=None, entropy: float = 3.3, confident=None) -> dict:
    """Class coverage with its confident counts (predictions with top probability >= 0.9; default:
    every prediction confident)."""
    counts = counts or [100] * 10
    confident = confident or counts
    return {"counts": counts, "n": sum(counts), "covered": sum(c > 0 for c in counts), "entropy": entropy,
            "max_entropy": 3.3219, "confident_counts": confident, "confident_threshold": 0.9,
            "confident_share": sum(confident) / sum(counts)}


def vae(kl: float, recon: float, kid: float | None = None, clf: float = 20.0, target: float | None = None,
        test_kl: float | None = None, kid_space: dict = INCEPTION, settled_beta: float = 2.0) -> dict:
    """A 02 model entry: final FID rows (Inception only with an Inception KID), KID, coverage and
    ``control.TrainedVAE.summary``'s fields."""
    test_kl = kl if test_kl is None else test_kl
    rows = ([fid_row(INCEPTION, 60.0)] if kid_space is INCEPTION else []) + [fid_row(CLASSIFIER, clf)]
    entry = {"fid": rows, "class_coverage": digits(), **spread(),
             "target_kl": target, "achieved_kl": kl, "settled_beta": settled_beta, "final_beta": settled_beta,
             "test_recon": recon, "test_kl": test_kl, "test_elbo": -(recon + test_kl), "seconds": 60.0, "epochs": 4}
    if kid is not None:
        entry["kid"] = kid_row(kid_space, kid)
    return entry


def gan(curve, kid: float, quarter_kid: float | None = None, clf: float | None = None, counts=None,
        coverage: float = 0.8, recall: float = 0.7, entropy: float = 3.3, density: float = 0.9, confident=None,
        **extra) -> dict:
    """A 03/04/05 model entry as ``gan_study.record`` writes it: the classifier FID curve and the
    final rows (``fid_halving``: first and last of the curve), the final KID, the training-time KID
    at the first quarter, coverage, the generator steps (156 an epoch)."""
    rows = [fid_row(CLASSIFIER, v, epoch) for epoch, v in enumerate(curve, 1)]
    rows += [fid_row(INCEPTION, 50.0), fid_row(CLASSIFIER, curve[-1] if clf is None else clf)]
    entry = {"status": "finished", "epochs_trained": len(curve), "generator_steps": 156 * len(curve),
             "training_seconds": 100.0, "fid": rows,
             "fid_halving": {"first": curve[0], "last": curve[-1], "ratio": curve[-1] / curve[0]},
             "kid": kid_row(INCEPTION, kid), "class_coverage": digits(counts, entropy, confident),
             **spread(coverage, recall, density)}
    if quarter_kid is not None:
        entry["kid_rows"] = [kid_row(INCEPTION, quarter_kid, epoch=2)]
    return {**entry, **extra}


def curve(first: float, last: float) -> list:
    """A classifier FID curve over GAN_EPOCHS evaluations, from ``first`` to ``last``."""
    return [first + (last - first) * i / (GAN_EPOCHS - 1) for i in range(GAN_EPOCHS)]


def code_of(stem: str, commit: str) -> dict:
    """The code digest a run of ``stem`` records: the current code's for commit "abc", other code's else."""
    current = context.current_code(stem)
    return current if commit == "abc" else {**current, "package": hashlib.sha256(commit.encode()).hexdigest()}


def write(root, stem, seed, models, status="ok", commit="abc", profile=PROFILE, **params):
    folder = root / profile / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {"epochs": GAN_EPOCHS} if stem != "02_controlvae" else \
        {"epochs": 4, "sweep_set_points": [4.0], "constant_beta_runs": True}
    record = {"notebook": stem, "profile": profile, "status": status, "seed": seed, "device": "cpu",
              "git_commit": commit, "code_digest": code_of(stem, commit), "params": {"seed": seed, "profile": profile, "device": "cpu", **defaults, **params},
              "feature_extractors": {"classifier": {"sha256": "fedcba9876543210"}}, "models": models}
    (folder / f"{stem}.metrics.json").write_text(json.dumps(record))


def verdict_of(collected, field="verdict") -> dict:
    return {result.key: getattr(result, field) for result in verdicts.evaluate_registry(collected)}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


# ----------------------------------------------------------------------------- the claims over seeds

def test_claims_over_three_evaluation_seeds(root):
    for seed, shift in zip((1, 2, 3), (0.0, 0.3, -0.2)):
        write(root, "02_controlvae", seed, {
            "controlvae_kl8": vae(8.0 + shift / 10, 90.0, kid=0.010 + shift / 100, target=8.0),
            "controlvae_kl14": vae(14.0, 80.0 + shift, kid=0.030 + shift / 100, target=14.0)})
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16 + shift), 0.020 + shift / 100, 0.08,
                                                            counts=[80] * 8 + [180, 180], coverage=0.70 + shift / 10)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 17 + shift), 0.010 + shift / 100, 0.03 + shift / 100,
                                                  coverage=0.72 + shift / 10 + (0.05 if seed == 3 else 0))})
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(40, 16 + shift), 0.02)})
    collected = collect.collect(PROFILE)
    assert collected.seeds == [1, 2, 3] and collected.evaluation_seeds == [1, 2, 3] and collected.excluded == []
    found = verdict_of(collected)
    assert found["controlvae_fid"] == "supported"              # KID ×3 on every seed
    assert found["controlvae_kl8"] == "supported" and found["controlvae_kl14"] == "supported"
    assert found["controlvae_recon"] == "supported"            # recon 90 vs 80
    assert found["controlvae_total"] == "supported"            # recon + KL: 98 vs 94
    assert found["gan_converges"] == "supported"               # 40 -> 16
    assert found["wgan_faster"] == "supported"                 # KID 0.08 vs 0.03 at epoch 2
    assert found["wgan_ends_better"] == "supported"            # final KID 0.02 vs 0.01
    assert found["wgan_diverse"].startswith("not resolved")    # coverage +0.02, +0.02, +0.07
    assert found["gan_overproduces"] == "supported"            # 18 % vs 10 %
    assert found["ssgan_did_not_train"] == "contradicted"      # 0.4 of its first evaluation, all 10 digits
    assert found["ssgan_as_gan"] == "supported"                # the GAN's final FID and fall
    assert found["rotation_beyond_sn"] == found["gan_worse_than_sngan"] == "no records"   # 05 has no sngan yet
    assert found["wgan_losses_approach"] == found["kl_feedback_steadier"] == "not measured"
    assert found["vae_early_epochs"] == "no records"
    row = next(r for r in verdicts.evaluate_registry(collected) if r.key == "wgan_faster")
    assert row.seeds == [1, 2, 3] and row.n == 3 and row.shown.startswith("×")
    assert row.basis == ["epoch 2, inception features, N = 200 vs mnist-test[:1000]"]
    assert row.generator_steps == [2 * 156] and "312 generator steps" in row.length   # the first quarter's
    table = summary.claims_table(collected)
    assert list(table.columns[:6]) == ["claim", "primary measurement", "n and seeds", "estimate [95% CI]", "verdict",
                                       f"Holm-adjusted verdict ({len(registry.TESTED)} claims)"]
    ssgan = table.set_index("claim").loc["the SS-GAN did not train"]
    assert "this project's own corrected SS-GAN" in ssgan["verdict"]
    diverse = table.set_index("claim").loc["the WGAN's samples are more diverse"]
    assert diverse["detectable at 80 % power (Holm)"].startswith("0.")   # what three seeds detect
    assert diverse["declared size (below: contradicted)"] == "0.050"
    assert "generator steps" in diverse["generator steps"] and "1/" in diverse["generator steps"]


def test_one_evaluation_seed_resolves_nothing(root):
    write(root, "03_gan_pixelshuffle", 1, {"gan": gan(curve(40, 16), 0.02, 0.08)})
    write(root, "04_wgan", 1, {"wgan": gan(curve(30, 12), 0.01, 0.03)})
    rows = [r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.n]
    assert rows and all(r.verdict == r.verdict_holm == "not resolved with 1 seed" for r in rows)
    assert summary.model_table(collect.collect(PROFILE)).loc["04 wgan", "classifier FID"] == "12.00 (1 seed)"


def test_a_tuning_seed_never_enters_a_verdict(root):
    """Seed 0 (the tuning seed) says the opposite of seeds 1-3, strongly: the verdicts are those
    of seeds 1-3, and seed 0 is shown, labelled, in the model table only."""
    for seed in (0, 1, 2, 3):
        gan_kid, wgan_kid = (0.01, 0.09) if seed == 0 else (0.03 + seed / 1000, 0.01)
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), gan_kid)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), wgan_kid)})
    collected = collect.collect(PROFILE, [0, 1, 2, 3])
    assert collected.tuning_seeds == [0] and collected.evaluation_seeds == [1, 2, 3]
    row = next(r for r in verdicts.evaluate_registry(collected) if r.key == "wgan_ends_better")
    assert row.seeds == [1, 2, 3] and row.verdict == "supported"
    assert all(0 not in r.seeds for r in verdicts.evaluate_registry(collected))
    assert summary.seed_labels(collected)[0] == "seed 0: tuning seed, not used in verdicts"
    assert "(n=4)" in summary.model_table(collected).loc["03 gan", "Inception KID"]
    only_tuning = collect.collect(PROFILE, [0])
    assert {r.verdict for r in verdicts.evaluate_registry(only_tuning)} == {verdicts.NO_EVALUATION_SEED}


def test_exploratory_seeds_are_labelled_and_never_enter_a_verdict(root):
    """The cpu profile's seeds 1-4 were seen before the registry's version 2: they say the opposite
    of the evaluation seeds 11-13, and the verdicts are those of 11-13 alone."""
    for seed in (1, 2, 11, 12, 13):
        gan_kid, wgan_kid = (0.01, 0.09) if seed < 10 else (0.03 + seed / 1000, 0.01)
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), gan_kid)}, profile="cpu")
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), wgan_kid)}, profile="cpu")
    collected = collect.collect("cpu")
    assert collected.exploratory_seeds == [1, 2, 3, 4] and collected.evaluation_seeds == [11, 12, 13]
    results = verdicts.evaluate_registry(collected)
    assert next(r for r in results if r.key == "wgan_ends_better").verdict == "supported"
    assert all(not set(r.seeds) & {1, 2} for r in results)
    assert summary.seed_labels(collected)[:2] == [f"seed {s}: {summary.EXPLORATORY_LABEL}" for s in (1, 2)]
    assert "exploratory seeds (seen before the registry was fixed): [1, 2, 3, 4]" in summary.declared(collected)
    only_exploratory = collect.collect("cpu", [1, 2])
    assert {r.verdict for r in verdicts.evaluate_registry(only_exploratory)} == {verdicts.NO_EVALUATION_SEED}


def test_the_inception_kid_decides_the_fid_claims(root):
    """The classifier FID says the GAN ends better and KL 14 beats KL 8; the Inception KID says
    the opposite on every seed: the verdicts are the KID's, the FID a descriptive column."""
    for seed in (1, 2, 3):
        write(root, "02_controlvae", seed, {
            "controlvae_kl8": vae(8.0, 90.0, kid=0.010 + seed / 1000, clf=30.0 + seed, target=8.0),
            "controlvae_kl14": vae(14.0, 80.0, kid=0.040, clf=20.0, target=14.0)})
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 10 + seed), 0.030 + seed / 1000)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 20), 0.010)})
    rows = {r.key: r for r in verdicts.evaluate_registry(collect.collect(PROFILE))}
    assert rows["controlvae_fid"].verdict == "supported" and rows["wgan_ends_better"].verdict == "supported"
    proxy = rows["wgan_ends_better"].descriptive[0]
    assert proxy.measurement.startswith("final classifier FID") and proxy.high < 0   # the proxy disagrees
    assert rows["controlvae_fid"].descriptive[0].high < 0
    assert rows["controlvae_fid"].basis == ["inception features, N = 200 vs mnist-test[:1000]"]
    described = summary.descriptive_table(collect.collect(PROFILE))
    assert "verdict" not in described.columns and len(described) == sum(len(c.descriptive) for c in registry.REGISTRY)


def test_the_holm_adjusted_verdict_can_differ_from_the_unadjusted_one(root):
    """A coverage gain whose interval just clears 0 is supported alone, not over the registry."""
    for seed, gain in zip((1, 2, 3, 4), (0.010, 0.030, 0.012, 0.025)):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02, coverage=0.70)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01, coverage=0.70 + gain)})
    rows = {r.key: r for r in verdicts.evaluate_registry(collect.collect(PROFILE))}
    diverse = rows["wgan_diverse"]
    assert diverse.verdict == "supported" and diverse.verdict_holm == "not resolved with 4 seeds"
    assert diverse.p < 0.05 < diverse.p_holm and diverse.holm_family == len(registry.TESTED)
    assert rows["wgan_ends_better"].verdict == rows["wgan_ends_better"].verdict_holm == "supported"  # no spread


def test_the_band_claim(root):
    kls = {1: (8.05, 15.0, 13.8), 2: (7.98, 15.2, 14.6), 3: (8.02, 15.1, 14.1)}
    for seed, (kl8, kl14, _) in kls.items():
        write(root, "02_controlvae", seed, {"controlvae_kl8": vae(kl8, 90.0, kid=0.01, target=8.0),
                                            "controlvae_kl14": vae(kl14, 80.0, kid=0.02, target=14.0)})
    found = verdict_of(collect.collect(PROFILE))
    assert found["controlvae_kl8"] == "supported"              # inside [7.5, 8.5]
    assert found["controlvae_kl14"] == "contradicted"          # wholly above 14.5
    for seed, (_, _, kl14) in kls.items():
        write(root, "02_controlvae", seed, {"controlvae_kl8": vae(8.0, 90.0, kid=0.01, target=8.0),
                                            "controlvae_kl14": vae(kl14, 80.0, kid=0.02, target=14.0)})
    assert verdict_of(collect.collect(PROFILE))["controlvae_kl14"] == "not resolved with 3 seeds"   # straddles 14.5


@pytest.mark.parametrize("ssgan_last, gan_last, verdict", [
    (16.0, 16.0, "supported"),                     # as good as the GAN and a tenth of its first FID
    (30.0, 16.0, "contradicted"),                  # nearly twice the GAN's
    (20.0, 16.0, "not resolved with 3 seeds"),     # ×1.25 lies inside the interval
])
def test_the_ssgan_compared_with_the_gan(root, ssgan_last, gan_last, verdict):
    for seed, wobble in zip((1, 2, 3), (-0.6, 0.1, 0.5)):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, gan_last), 0.02)})
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(160, ssgan_last + wobble * (3 if verdict != "supported" else 1)), 0.02)})
    row = next(r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.key == "ssgan_as_gan")
    assert row.verdict == verdict and len(row.parts) == 2 and row.n == 3
    assert row.shown.startswith("×") and row.source == "project"


def test_the_ssgan_falls_short_of_the_gan_when_its_fid_falls_far_less_than_the_gans(root):
    for seed in (1, 2, 3):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16 + seed / 10), 0.02)})   # 0.4 of its first
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(20, 16 + seed / 5), 0.02)})            # 0.8 of its first
    row = next(r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.key == "ssgan_as_gan")
    assert row.verdict == "contradicted"
    assert row.parts[0].interval["high"] < math.log(registry.SSGAN_GAN_FACTOR)   # ends as good as the GAN ...
    assert row.parts[1].interval["low"] > math.log(registry.SSGAN_GAN_FACTOR)    # ... but fell half as far
    assert row.parts[0].high < registry.SSGAN_GAN_FACTOR                         # the record's ends: ratios


def test_the_ssgan_comparison_does_not_ask_more_than_the_gan_does(root):
    # both fall to 0.6 of their first evaluation: a short run that halves neither still "trains as a GAN does"
    for seed, wobble in zip((1, 2, 3), (-0.2, 0.1, 0.3)):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 24 + wobble), 0.02)})
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(45, 27 - wobble), 0.02)})
    row = next(r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.key == "ssgan_as_gan")
    assert row.verdict == "supported"


def test_the_rotation_claim_reads_the_sngan_once_05_records_it(root):
    for seed in (1, 2, 3):
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(40, 16), 0.010), "sngan": gan(curve(40, 18), 0.015 + seed / 1000)})
    row = next(r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.key == "rotation_beyond_sn")
    assert row.verdict == "supported" and row.models == ["05_ssgan/sngan", "05_ssgan/ssgan"]


def test_the_largest_digit_share_reads_the_confident_predictions_of_the_final_samples(root):
    for seed in (1, 2):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02, counts=[50] * 8 + [300 + seed, 300])})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01)})
    row = next(r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.key == "gan_overproduces")
    assert row.n == 2 and row.estimate > 0
    assert row.basis == ["predictions with top probability ≥ 0.9"]
    assert row.descriptive[2].values[0].startswith("8 (")


def test_without_the_quarter_kid_the_speed_claim_says_what_to_run(root):
    for seed in (1, 2):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01)})
    collected = collect.collect(PROFILE)
    row = next(r for r in verdicts.evaluate_registry(collected) if r.key == "wgan_faster")
    assert row.verdict == "not measured" and "inception_during_training" in row.not_measured_because[0]
    assert next(d for d in row.descriptive).n == 2      # the classifier FID over the first quarter still shows


# ----------------------------------------------------------------------------- models, records and seeds

def test_both_kid_columns_in_one_summary(root):
    """02's report models carry an Inception KID, its sweep models a classifier KID: each goes
    to its own column, never one column for both."""
    for seed in (1, 2):
        write(root, "02_controlvae", seed, {
            "controlvae_kl8": vae(8.0, 90.0, kid=0.0123, target=8.0),
            "controlvae_kl4": vae(4.0, 95.0, kid=0.0456, target=4.0, kid_space=CLASSIFIER)})
    table = summary.model_table(collect.collect(PROFILE))
    assert table.loc["02 controlvae_kl8", "Inception KID"] == "0.0123 ± 0.0000 (n=2)"
    assert table.loc["02 controlvae_kl8", "classifier KID"] == "—"
    assert table.loc["02 controlvae_kl4", "classifier KID"] == "0.0456 ± 0.0000 (n=2)"
    assert table.loc["02 controlvae_kl4", "Inception KID"] == "—"
    assert "KID" not in table.columns and {"Inception KID", "classifier KID"} <= set(summary.QUALITY_COLUMNS)


def test_first_seed_only_explorations_do_not_exclude_the_later_seeds(root):
    write(root, "02_controlvae", 1, {"controlvae_kl8": vae(8.0, 90.0, kid=0.01)})
    write(root, "02_controlvae", 2, {"controlvae_kl8": vae(8.0, 90.0, kid=0.01)}, sweep_set_points=[],
          constant_beta_runs=False)
    write(root, "02_controlvae", 3, {"controlvae_kl8": vae(8.0, 90.0, kid=0.01)}, epochs=5)
    collected = collect.collect(PROFILE)
    assert sorted(collected.records["02_controlvae"]) == [1, 2]
    assert collected.excluded == ["02_controlvae, seed 3: epochs 5 vs 4 (the other seeds' value last)"]


def test_mismatching_or_failed_records_are_left_out_by_name(root):
    for seed in (1, 2, 3):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16 + seed - 1), 0.02)})
    write(root, "03_gan_pixelshuffle", 4, {"gan": gan(curve(40, 1), 0.02)}, epochs=30)
    write(root, "03_gan_pixelshuffle", 5, {"gan": gan(curve(40, 1), 0.02)}, commit="def")
    write(root, "03_gan_pixelshuffle", 6, {}, status="failed")
    collected = collect.collect(PROFILE)
    assert sorted(collected.records["03_gan_pixelshuffle"]) == [1, 2, 3]
    assert sorted(collected.excluded) == ["03_gan_pixelshuffle, seed 4: epochs 30 vs 8 (the other seeds' value last)",
                                     f"03_gan_pixelshuffle, seed 5: ran other code: nbhelpers {code_of('', 'def')['package'][:12]} "
                                     f"(commit def), not the current {context.package_digest()[:12]}",
                                     "03_gan_pixelshuffle, seed 6: status 'failed', not ok"]
    assert collect.collect(PROFILE, [1, 2]).seeds == [1, 2]
    assert summary.model_table(collect.collect(PROFILE, [1, 2])).loc["03 gan", "classifier FID"] == "16.50 ± 0.71 (n=2)"


class Metrics:
    """``records.Metrics``' interface to the summary, in memory (through JSON, as on disk)."""

    def __init__(self):
        self.data, self.written = {}, None

    def write(self):
        self.written = json.loads(json.dumps(self.data))


def test_the_summary_record_holds_every_claim_the_seeds_and_the_deviations(root):
    for seed in (1, 2, 3):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02 + seed / 1000, 0.08)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01, 0.03)})
    metrics = Metrics()
    summary.record(metrics, collect.collect(PROFILE, [0, 1, 2, 3]))
    written = metrics.written
    assert written["tuning_seeds"] == [0] and written["evaluation_seeds"] == [1, 2, 3]
    assert written["deviations"] and all(set(d) == {"deviation", "reason"} for d in written["deviations"])
    assert [c["key"] for c in written["claims"]] == registry.KEYS and written["holm_family"] == len(registry.TESTED)
    assert written["registry_version"] == registry.REGISTRY_VERSION and written["registry_digest"] == registry.registry_digest()
    assert written["registry_versions"]["1"]["seeds"] == [1, 2, 3] and written["exploratory_seeds"] == []
    assert [u["statement"] for u in written["not_testable"]] == [u.statement for u in registry.NOT_TESTABLE]
    claim = next(c for c in written["claims"] if c["key"] == "wgan_ends_better")
    for key in ("claim", "measurement", "seeds", "n", "estimate", "low", "high", "half_width", "verdict", "verdict_holm",
                "margin", "margin_shown", "margin_reason", "detectable", "noise_share", "generator_steps", "length"):
        assert key in claim, key
    assert claim["seeds"] == [1, 2, 3] and claim["low"] < claim["estimate"] < claim["high"]
    assert claim["estimate"] == pytest.approx(math.exp(claim["interval"]["mean"]))   # a ratio, its logs named
    assert claim["scale"] == verdicts.LOG_SCALE and claim["margin_shown"] == "×1.250"
    declared = summary.declared(collect.collect(PROFILE))
    assert "Deviations from the original report" in declared and registry.registry_digest() in declared


def test_every_field_of_a_claim_result_reaches_the_record_under_its_record_name(root):
    """The record is the typed result field by field, so that a field added to ``ClaimResult`` or
    ``MeasureResult`` reaches summary.metrics.json; a text measure records its texts, no interval."""
    for seed in (1, 2):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16 + seed), 0.02, counts=[80] * 9 + [280])})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01 + seed / 1000)})
    result = next(r for r in verdicts.evaluate_registry(collect.collect(PROFILE)) if r.key == "gan_overproduces")
    recorded = json.loads(json.dumps(result.record()))
    assert list(recorded) == [f.metadata.get("key", f.name) for f in dataclasses.fields(verdicts.ClaimResult)]
    assert recorded["estimate [95% CI]"] == result.shown and recorded["verdict_holm"] == result.verdict_holm
    number, text = recorded["parts"][0], recorded["descriptive"][2]
    assert number == result.parts[0].record() and number["n"] == 2 and number["interval"] == result.interval
    assert "values" not in number and number["estimate"] == result.estimate > 0
    assert text["values"] == ["9 (28.0%)", "9 (28.0%)"] and "interval" not in text and "detectable" not in text


def test_the_ssgan_comparison_is_not_measured_without_the_gan_it_compares_with(root):
    for seed in (1, 2, 3):
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(20, 19 + seed / 5), 0.02)})   # falls by a twentieth
    rows = {r.key: r for r in verdicts.evaluate_registry(collect.collect(PROFILE))}
    assert [part.n for part in rows["ssgan_as_gan"].parts] == [0, 0] and rows["ssgan_as_gan"].verdict == "no records"
    assert rows["ssgan_did_not_train"].verdict == "supported"   # its own FID barely fell: judged without the GAN


def test_records_of_other_code_join_only_a_benchmarks_collection(root):
    for seed, commit in ((1, "abc"), (2, "def")):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02)}, commit=commit)
    assert sorted(collect.collect(PROFILE).records["03_gan_pixelshuffle"]) == [1]
    assert sorted(collect.collect(PROFILE, current_code_only=False).records["03_gan_pixelshuffle"]) == [1, 2]


def test_the_precision_bench_sets_one_seeds_two_runs_against_the_seeds_spread(tmp_path, capsys):
    from nbhelpers.bench import precision
    for folder, kid in (("fp32", 0.02), ("bf16", 0.03)):
        write(tmp_path / folder, "03_gan_pixelshuffle", 0, {"gan": gan(curve(40, 16), kid, quarter_kid=0.04)})
        write(tmp_path / folder, "04_wgan", 0, {"wgan": gan(curve(40, 12), 0.01, quarter_kid=0.02)})
    for seed, kid in ((1, 0.02), (2, 0.04), (3, 0.03)):
        write(tmp_path / "spread", "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), kid, quarter_kid=0.04)})
        write(tmp_path / "spread", "04_wgan", seed, {"wgan": gan(curve(40, 12), 0.01, quarter_kid=0.02)})
    assert precision.main([str(tmp_path / "fp32"), str(tmp_path / "bf16"), "--profile", PROFILE, "--seed", "0",
                           "--spread", str(tmp_path / "spread"), "--spread-profile", PROFILE]) == 0
    fp32 = precision._seed_runs(tmp_path / "fp32", PROFILE, 0)
    bf16 = precision._seed_runs(tmp_path / "bf16", PROFILE, 0)
    rows = precision.table(fp32, bf16, precision._spread_runs(tmp_path / "spread", PROFILE, None)).set_index("claim")
    ends = rows.loc["wgan_ends_better"]   # log(GAN KID / WGAN KID): log 2 in fp32, log 3 in bf16
    assert ends["fp32"] == pytest.approx(math.log(2)) and ends["bf16 - fp32"] == pytest.approx(math.log(1.5))
    sd = statistics.stdev([math.log(2), math.log(4), math.log(3)])   # the three seeds' log ratios
    assert ends["seeds' sd"] == pytest.approx(sd) and ends["n seeds"] == 3
    assert ends["|difference| / sd"] == pytest.approx(math.log(1.5) / sd)
    assert "wgan_ends_better" in capsys.readouterr().out
