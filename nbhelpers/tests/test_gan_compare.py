"""GAN runs side by side (nbhelpers.studies.gan_compare), from records shaped like gan_study.record's."""
import matplotlib
import pytest

from nbhelpers.models import gan
from nbhelpers.studies import claim_readers, gan_compare

from .gan_fakes import curve, gan_record

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_curves_at_another_sample_size_are_left_out():
    curves = {"WGAN": gan_record([50.0, 30.0])["fid"], "GAN": gan_record([40.0, 20.0], n=500)["fid"], "none": None}
    kept, notes = gan_compare.comparable_curves(curves)
    assert list(kept) == ["WGAN"] and len(notes) == 2 and "left out" in notes[0]


def test_fid_overlay_draws_comparable_curves_and_names_the_rest():
    fig, ax = plt.subplots()
    notes = gan_compare.plot_fid_overlay(ax, {"ours": curve([5.0, 3.0]), "gan": curve([6.0, 4.0]),
                                              "other": curve([1.0, 2.0], n=500)}, logy=True)
    assert len(ax.lines) == 2 and len(notes) == 1 and notes[0].startswith("other:") and ax.get_yscale() == "log"
    plt.close(fig)
    fig, ax = plt.subplots()
    assert gan_compare.plot_fid_overlay(ax, {"a": [], "b": None}) == ["a: no classifier FID history",
                                                                       "b: no classifier FID history"]
    assert ax.texts and not ax.lines
    plt.close(fig)


def test_comparison_table_side_by_side_with_a_missing_gan():
    wgan = gan_record([60.0, 30.0, 12.0], final=(90.0, 11.0), counts=[10, 10, 10, 10, 10, 10, 10, 10, 10, 19])
    table = gan_compare.comparison_table({"GAN (03)": None, "WGAN": wgan}, threshold=25.0)
    assert list(table.columns) == ["GAN (03)", "WGAN"]
    assert (table["GAN (03)"] == "not run").all()
    assert table.loc["classifier FID", "WGAN"] == 11.0 and table.loc["Inception FID", "WGAN"] == 90.0
    assert table.loc["Inception N / reference", "WGAN"] == "200 vs mnist-test[:1000] (biased)"
    assert table.loc["epochs to classifier FID ≤ 25", "WGAN"] == 3
    assert table.loc["largest digit share", "WGAN"] == round(19 / 109, 3)
    assert table.loc["digits covered (of 10)", "WGAN"] == 10
    assert "ratio 0.20" in table.loc["classifier FID first → last evaluation", "WGAN"]
    never = gan_compare.comparison_table({"WGAN": wgan}, threshold=5.0)
    assert never.loc["epochs to classifier FID ≤ 5", "WGAN"] == "not reached"
    with pytest.raises(ValueError, match="no model has a metrics record"):
        gan_compare.comparison_table({"GAN": None}, threshold=5.0)


def test_verdict_ranks_each_metric_and_names_ties():
    good = gan_record([60.0, 25.0], final=(80.0, 24.0))
    collapsed = gan_record([60.0, 40.0], final=(70.0, 39.0), counts=[0, 0, 0, 0, 0, 0, 0, 0, 50, 50])
    text = gan_compare.verdict({"GAN": collapsed, "WGAN": good}, threshold=30.0)
    assert "classifier FID (lower is better): WGAN is best" in text
    assert "Inception FID (lower is better): GAN is best" in text
    assert "Never reached classifier FID ≤ 30: GAN." in text
    assert gan_compare.verdict({"GAN": None, "WGAN": good}, 30.0).startswith("Only one model")
    tied = gan_compare.verdict({"A": good, "B": good}, threshold=30.0)
    assert "classifier FID (lower is better): tie between A and B" in tied


def test_coverage_comparison_and_final_shares():
    entries = {"GAN": gan_record([40.0, 20.0]), "WGAN": gan_record([50.0, 30.0], counts=[20] + [10] * 9), "none": None}
    shares = gan_compare.final_shares(entries)
    assert list(shares.index) == ["GAN", "WGAN"] and shares.loc["WGAN", 0] == pytest.approx(20 / 110)
    fig = gan_compare.plot_coverage_comparison(entries)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 20 and len(fig.axes[1].lines) >= 2
    plt.close(fig)


@pytest.mark.parametrize("choice, epochs, expected", [
    ("none", 24, []), ("first_quarter", 24, [6]), ("quarters", 24, [6, 12, 18, 24]),
    ("first_quarter", 150, [38]), ("quarters", 150, [38, 75, 113, 150]), ("first_quarter", 2, [1]),
])
def test_inception_epochs_follow_the_choice(choice, epochs, expected):
    assert gan_compare.inception_epochs(choice, epochs) == expected


def test_inception_epochs_refuse_an_unknown_choice():
    with pytest.raises(ValueError, match="inception_during_training"):
        gan_compare.inception_epochs("true", 24)


def test_the_first_quarter_is_where_the_claims_read_the_kid():
    for epochs in (2, 3, 24, 150):
        read_at = claim_readers.first_quarter_epoch({"params": {"epochs": epochs}})
        assert gan_compare.inception_epochs("first_quarter", epochs) == [read_at]


def test_quarter_kid_lines_read_the_training_kid_rows():
    row = {"features": "inception", "n": 200, "ref": "mnist-test[:1000]", "mean": 0.0123, "std": 0.001, "epoch": 6}
    entries = {"GAN": gan_record([40.0, 20.0], kid_rows=[row]), "WGAN": gan_record([40.0, 20.0]), "SS-GAN": None}
    lines = gan_compare.quarter_kid_lines(entries, 6)
    assert lines[0] == "GAN: Inception KID at epoch 6 = 0.0123 ± 0.0010 (N=200 vs mnist-test[:1000])"
    assert lines[1] == "WGAN: no Inception KID at epoch 6"
    assert lines[2] == "SS-GAN: no Inception KID at epoch 6 (no record)"
    assert gan_compare.quarter_kid_lines({"GAN": entries["GAN"]}, 12) == ["GAN: no Inception KID at epoch 12"]


def test_every_profile_runs_the_reports_optimisers_and_measures_the_first_quarter():
    from nbhelpers.report import profiles
    from nbhelpers.studies import wgan_study
    for profile in profiles.PROFILES:
        for stem in ("03_gan_pixelshuffle", "04_wgan", "05_ssgan"):
            values = profiles.resolve(stem, profile)
            epochs = gan_compare.inception_epochs(values["inception_during_training"], values["epochs"])
            if stem != "05_ssgan":   # the "learns faster" claim reads the GAN's and the WGAN's first quarter
                assert epochs[:1] == gan.quarter_epochs(values["epochs"])[:1], (profile, stem)
            if stem == "04_wgan":
                objective, optimiser = wgan_study.objective_for(values["setting"], values["report_n_critic"])
                assert values["setting"] == "report" and optimiser["optimizer"] == "rmsprop"
                assert optimiser["lr_generator"] == optimiser["lr_discriminator"] == 1e-3 and objective.clip == 0.01
            else:
                assert values["lr_generator"] == values["lr_discriminator"] == 1e-4, (profile, stem)
