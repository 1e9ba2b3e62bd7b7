"""The verdicts of registry version 2 on constructed records (the layout of ``test_summary``): power
stated as the effect detected four times in five, null results that contradict at the declared
size, measurement noise beside the seeds' spread, the length each GAN verdict was read at, and
the operationalisations a reviewer asked for (an SS-GAN judged by its own training, confident
over-production, coverage beside fidelity, the report's further statements as rows)."""
import html
import json
import math

import numpy as np
import pytest

from nbhelpers import paths
from nbhelpers.batch import index
from nbhelpers.report import profiles
from nbhelpers.studies import claims as registry, collect, stats, summary, verdicts

from .test_summary import INCEPTION, PROFILE, Metrics, curve, gan, kid_row, vae, write


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


def results(seeds=None) -> dict:
    return {r.key: r for r in verdicts.evaluate_registry(collect.collect(PROFILE, seeds))}


def write_kids(root, gan_kids, wgan_kids, ses=None, **gan_fields):
    """The GAN and the WGAN of seeds 1, 2, ... with these final Inception KIDs (and standard errors)."""
    for seed, (g, w) in enumerate(zip(gan_kids, wgan_kids), 1):
        se_g, se_w = (None, None) if ses is None else ses[seed - 1]
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), g, **gan_fields) | {
            "kid": kid_row(INCEPTION, g, se=se_g)}})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), w) | {"kid": kid_row(INCEPTION, w, se=se_w)}})


# ----------------------------------------------------------------------------- power

def test_the_power_is_the_effect_that_the_seeds_detect_four_times_in_five(root):
    """At n = 3 the effect detected with 80 % power is 1.31 half-widths unadjusted and 4.37 at
    Holm's first step over 11 claims (noncentral t; the half-width alone is detected half the time)."""
    for seed, gain in zip((1, 2, 3), (0.02, 0.05, 0.11)):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02, coverage=0.70)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01, coverage=0.70 + gain)})
    collected = collect.collect(PROFILE)
    part = verdicts.evaluate(collected, registry.claim("wgan_diverse"), family=11).parts[0]
    assert part.mde / part.half_width == pytest.approx(1.314, abs=0.001)
    assert part.mde_holm / part.half_width == pytest.approx(4.372, abs=0.001)
    assert stats.power_at(part.mde, part.interval["std"], 3) == pytest.approx(0.80)
    assert 0.45 < stats.power_at(part.half_width, part.interval["std"], 3) < 0.65   # about half the time
    row = results()["wgan_diverse"]
    assert row.detectable == f"{row.parts[0].mde:.3f} (Holm over {len(registry.TESTED)}: {row.parts[0].mde_holm:.3f})"
    ratio = results()["wgan_ends_better"]
    assert ratio.detectable.startswith("×") and "(Holm over 17: ×" in ratio.detectable


# ----------------------------------------------------------------------------- null results that contradict

def test_a_null_result_contradicts_the_fid_claim_at_the_declared_size(root):
    """KL 14's KID within a few per cent of KL 8's on five seeds: the interval straddles 0 (no sign)
    but excludes the report's gap halved (×1.30), so the null result counts against the claim."""
    for seed, ratio in zip((1, 2, 3, 4, 5), (1.01, 0.99, 1.00, 1.02, 0.98)):
        write(root, "02_controlvae", seed, {"controlvae_kl8": vae(8.0, 90.0, kid=0.02, target=8.0),
                                            "controlvae_kl14": vae(14.0, 80.0, kid=0.02 * ratio, target=14.0)})
    row = results()["controlvae_fid"]
    assert row.low < 1 < row.high < math.exp(row.margin)
    assert row.verdict == row.verdict_holm == "contradicted at the declared size"
    assert row.p == row.p_smaller < 0.05 / len(registry.TESTED) and row.p_contradict > 0.05
    assert row.margin_shown == "×1.302" and "1.70x" in row.margin_reason


def test_a_wide_null_result_stays_not_resolved(root):
    for seed, ratio in zip((1, 2, 3), (1.4, 0.8, 1.1)):
        write(root, "02_controlvae", seed, {"controlvae_kl8": vae(8.0, 90.0, kid=0.02, target=8.0),
                                            "controlvae_kl14": vae(14.0, 80.0, kid=0.02 * ratio, target=14.0)})
    assert results()["controlvae_fid"].verdict == "not resolved with 3 seeds"


def test_contradicted_survives_holm_only_when_its_sign_test_does_too(root):
    """The WGAN ends slightly worse on five seeds: its interval lies below 0 (contradicted) and far
    below ×1.25. Over the family only the declared size holds: the sign's p, scaled as the
    family scaled the claim's, is not small enough."""
    logs = np.array([-0.09, -0.05, -0.02, -0.06, -0.03])
    write_kids(root, 0.02 * np.exp(logs), [0.02] * 5)
    row = results()["wgan_ends_better"]
    assert row.verdict == "contradicted" and row.verdict_holm == "contradicted at the declared size"
    assert row.p_contradict < 0.05 < row.p_contradict * row.p_holm / row.p
    write_kids(root, 0.02 * np.exp(logs - 0.3), [0.02] * 5)     # further below at the same spread: contradicted either way
    row = results()["wgan_ends_better"]
    assert row.verdict == row.verdict_holm == "contradicted"


# ----------------------------------------------------------------------------- measurement noise

def test_each_kid_claim_shows_the_share_of_the_seed_variance_that_measurement_noise_explains(root):
    gan_kids, wgan_kids = [0.030, 0.034, 0.029], [0.010, 0.011, 0.012]
    ses = [(0.002, 0.001), (0.003, 0.001), (0.002, 0.002)]
    write_kids(root, gan_kids, wgan_kids, ses)
    row = results()["wgan_ends_better"]
    logs = np.log(np.array(gan_kids) / np.array(wgan_kids))
    noise = np.mean([(sg / g) ** 2 + (sw / w) ** 2 for (sg, sw), g, w in zip(ses, gan_kids, wgan_kids)])
    assert row.noise_share == [pytest.approx(noise / np.var(logs, ddof=1))]
    table = summary.claims_table(collect.collect(PROFILE)).set_index("claim")
    assert table.loc["the WGAN ends better than the GAN", "measurement noise / seed variance"] == \
        f"{noise / np.var(logs, ddof=1):.0%}"
    assert results()["controlvae_recon"].noise_share == [None]   # a loss has no standard error recorded


# ----------------------------------------------------------------------------- the length of a verdict

def test_each_gan_claim_carries_the_generator_steps_it_was_read_at(root):
    write_kids(root, [0.03, 0.031, 0.032], [0.01, 0.011, 0.01])
    row = results()["wgan_ends_better"]
    assert row.generator_steps == [156 * 8] and row.report_share == [pytest.approx(1248 / 140_550)]
    assert row.length == "1,248 generator steps, 0.89 % (1/113) of the report's 140,550"
    assert results()["controlvae_recon"].length == ""


def test_without_the_recorded_steps_they_follow_from_the_parameters(root):
    """12 epochs of 10,000 images in batches of 64: 156 steps an epoch, 1,872 in all, 1/75 of the
    report's; the WGAN's report setting with one critic step a generator step takes as many."""
    for seed in (1, 2):
        for stem, model in (("03_gan_pixelshuffle", "gan"), ("04_wgan", "wgan")):
            entry = gan(curve(40, 16), 0.02 + seed / 1000 if model == "gan" else 0.01)
            del entry["generator_steps"]
            params = {"train_limit": 10_000, "batch_size": 64}
            if model == "wgan":
                params |= {"setting": "report", "report_n_critic": 1}
            write(root, stem, seed, {model: {**entry, "epochs_trained": 12}}, epochs=12, **params)
    assert results()["wgan_ends_better"].length == "1,872 generator steps, 1.33 % (1/75) of the report's 140,550"


# ----------------------------------------------------------------------------- the SS-GAN judged by its own training

def write_ssgan(root, ssgan_last, gan_last, counts=None, wobble=(-0.3, 0.1, 0.2)):
    for seed, w in zip((1, 2, 3), wobble):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, gan_last + w / 2), 0.02)})
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(40, ssgan_last + w), 0.02, counts=counts)})


def test_an_ssgan_that_halves_its_fid_but_ends_at_1_3_times_the_gans_did_train(root):
    write_ssgan(root, 18.0, 18.0 / 1.3)            # last / first 0.45, all ten digits
    rows = results()
    assert rows["ssgan_did_not_train"].verdict == "contradicted"   # it trained ...
    assert rows["ssgan_as_gan"].verdict == "contradicted"          # ... though not as well as the GAN
    write_ssgan(root, 20.0, 20.0 / 1.3)            # exactly half: neither flat nor clearly halved
    assert results()["ssgan_did_not_train"].verdict != "supported"


def test_an_ssgan_whose_fid_stays_flat_or_that_covers_few_digits_did_not_train(root):
    write_ssgan(root, 38.0, 16.0)                  # last / first 0.95
    assert results()["ssgan_did_not_train"].verdict == "supported"
    write_ssgan(root, 16.0, 16.0, counts=[300, 300, 300, 100] + [0] * 6)   # its FID fell, but 4 digits
    row = results()["ssgan_did_not_train"]
    assert row.verdict == "supported" and row.parts[1].estimate == 4
    assert row.p_support == pytest.approx(2 * stats.p_below(row.parts[1].interval, registry.FEW_DIGITS))   # Bonferroni


# ----------------------------------------------------------------------------- over-production and diversity

def test_over_production_counts_the_confident_predictions_only(root):
    """The GAN's blurry samples are called 8 (every prediction: 42 % eights), but its confident
    predictions are as balanced as the WGAN's: no over-production, and at the declared size."""
    for seed, wobble in zip((1, 2, 3), (0, 2, 4)):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02, counts=[60] * 8 + [100, 420],
                                                            confident=[50 + wobble] + [50] * 9)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01, confident=[50 + wobble // 2] + [50] * 9)})
    row = results()["gan_overproduces"]
    assert row.verdict == "contradicted at the declared size" and abs(row.estimate) < 0.01
    every_prediction = row.descriptive[0]
    assert every_prediction.measurement.startswith("largest predicted-digit share over every prediction")
    assert every_prediction.estimate == pytest.approx(0.42 - 0.10)


@pytest.mark.parametrize("density_gain, caveat", [(0.2, True), (0.0, False)])
def test_a_coverage_gain_that_fidelity_may_explain_says_so(root, density_gain, caveat):
    for seed, wobble in zip((1, 2, 3), (0.0, 0.01, -0.01)):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 16), 0.02, coverage=0.6, density=0.7)})
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01, coverage=0.7 + wobble,
                                                  density=0.7 + density_gain + (wobble if density_gain else 0))})
    row = results()["wgan_diverse"]
    assert row.verdict == "supported" and bool(row.caveat) is caveat
    assert ("fidelity may explain" in row.verdict_text) is caveat
    described = [d.measurement.split(" (")[0] for d in row.descriptive]
    assert described[:2] == ["density", "precision"]               # fidelity shown beside coverage


# ----------------------------------------------------------------------------- the report's further statements

def test_the_gan_converges_and_is_much_worse_than_the_other_networks(root):
    for seed in (1, 2, 3):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan(curve(40, 20 + seed), 0.05 + seed / 1000)})
        write(root, "05_ssgan", seed, {"ssgan": gan(curve(40, 16), 0.02), "sngan": gan(curve(40, 17), 0.03)})
    rows = results()
    assert rows["gan_converges"].verdict == "supported" and rows["gan_converges"].shown.startswith("×1.")
    assert rows["gan_worse_than_sngan"].verdict == rows["gan_worse_than_ssgan"].verdict == "supported"


def test_the_wgans_losses_and_the_controllers_feedback_are_rows(root):
    for seed in (1, 2, 3):
        write(root, "04_wgan", seed, {"wgan": gan(curve(30, 12), 0.01, loss_gap={
            "first_quarter": 2.0 + seed / 10, "last_quarter": 0.5, "steps": 39})})
        feedback = {"example_std": 4.0 + seed / 10, "batch_mean_std": 0.5, "ratio": (4.0 + seed / 10) / 0.5}
        write(root, "02_controlvae", seed, {"controlvae_kl8": {**vae(8.0, 90.0, kid=0.01, target=8.0),
                                                               "kl_feedback": feedback}})
    rows = results()
    assert rows["wgan_losses_approach"].verdict == "supported" and rows["wgan_losses_approach"].shown.startswith("×4.")
    assert rows["kl_feedback_steadier"].verdict == "supported"


def test_the_vaes_first_epochs_are_described_never_judged_nor_counted_in_holms_family(root):
    early = {"epoch": [1, 2, 3], "train_recon": [190.0, 150.0, 120.0], "train_kl": [4.0, 7.5, 9.8],
             "recon_change": -70.0, "kl_change": 5.8}
    write(root, "01_vae", 1, {"vae": {"test_recon": 80.0, "test_kl": 25.0, "early_epochs": early}})
    write_kids(root, [0.03, 0.032], [0.01, 0.01])
    rows = results()
    row = rows["vae_early_epochs"]
    assert row.verdict == row.verdict_holm == "descriptive only: no verdict" and row.p is None and row.p_holm is None
    assert row.shown == "seed 1: recon 190.0 → 120.0, KL 4.0 → 9.8 over epochs 1-3"
    assert [d.estimate for d in row.descriptive] == [-70.0, 5.8]
    assert rows["wgan_ends_better"].holm_family == len(registry.TESTED) == len(registry.REGISTRY) - 1


def test_the_summary_lists_each_declared_size_and_the_untestable_statements(root):
    write_kids(root, [0.03, 0.032], [0.01, 0.01])
    found = list(results().values())
    margins = summary.margins_table(found)
    assert len(margins) == sum(c.margin is not None for c in registry.REGISTRY)
    assert margins.set_index("claim").loc["the WGAN ends better than the GAN", "declared size"] == "×1.250"
    untestable = summary.untestable_table()
    assert list(untestable["the report's statement"]) == [u.statement for u in registry.NOT_TESTABLE]


# ----------------------------------------------------------------------------- the index

def test_the_index_shows_the_deviations_above_the_verdicts_and_each_gan_claims_length(root):
    write_kids(root, [0.03, 0.032, 0.031], [0.01, 0.01, 0.012])
    metrics = Metrics()
    summary.record(metrics, collect.collect(PROFILE))
    out = root / PROFILE
    (out / f"{paths.report_name(paths.SUMMARY_STEM)}.metrics.json").write_text(json.dumps(metrics.written))
    page = html.unescape(index.write_index(out, PROFILE, []).read_text())
    deviation = profiles.declarations(PROFILE)["deviations"][0]["deviation"]
    assert page.index("id='deviations'") < page.index(deviation) < page.index("id='claims'")
    assert f"version {registry.REGISTRY_VERSION}, sha256 {registry.registry_digest()[:12]}" in page
    claims = index.read_claims(out)
    line = next(c for c in claims.lines if c.text == "the WGAN ends better than the GAN")
    assert line.length.startswith("1,248 generator steps") and f"read at {line.length}" in page
