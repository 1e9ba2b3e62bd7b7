"""The cross-notebook summary's logic on records written to a temporary report tree."""
import json

import pytest

from nbhelpers.studies import summary

from .gan_fakes import curve


def write(root, stem, seed, models, status="ok", commit="abc", **params):
    folder = root / "cpu" / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"notebook": stem, "status": status, "seed": seed, "git_commit": commit,
              "params": {"seed": seed, "profile": "cpu", "epochs": 24, **params}, "models": models}
    (folder / f"{stem}.metrics.json").write_text(json.dumps(record))


def controlvae(fid8, fid14, kl8, kl14, recon8, recon14):
    final = lambda v: [{"features": "classifier", "n": 10000, "ref": "mnist-test", "value": v}]  # noqa: E731
    return {"controlvae_kl8": {"fid": final(fid8), "achieved_kl": kl8, "test_recon": recon8, "seconds": 60.0},
            "controlvae_kl14": {"fid": final(fid14), "achieved_kl": kl14, "test_recon": recon14, "seconds": 61.0}}


def gan(values, final, entropy):
    rows = curve(values) + [{"features": "classifier", "n": 10000, "ref": "mnist-test", "value": final}]
    return {"fid": rows, "class_coverage": {"counts": [1] * 10, "n": 10, "covered": 10, "entropy": entropy},
            "training_seconds": 100.0}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    return tmp_path


def test_claims_over_three_seeds(root):
    for seed, shift in enumerate((0.0, 0.3, -0.2)):
        write(root, "02_controlvae", seed, controlvae(20 + shift, 25 + shift, 8.0 + shift / 10, 14.0, 90.0, 80.0 + shift))
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan([40, 30, 20, 16 + shift], 16 + shift, 3.20)})
        write(root, "04_wgan", seed, {"wgan": gan([30, 20, 18, 17 + shift], 17 + shift, 3.25 + shift / 10)})
        write(root, "05_ssgan", seed, {"ssgan": gan([40, 30, 20, 16 + shift], 16 + shift, 3.3)})
    runs = summary.collect("cpu")
    assert runs.seeds == [0, 1, 2] and runs.excluded == []
    verdicts = {row["claim"]: row["verdict"] for row in summary.claims(runs)}
    assert verdicts["KL 8 gives a better (lower) FID than KL 14 (report: 80.65 vs 136.79)"] == "supported"
    assert verdicts["the KL settles at the set point 8"] == "supported"
    assert verdicts["the higher set point (14) gives the lower reconstruction loss"] == "supported"
    assert verdicts["the WGAN learns faster than the GAN"] == "supported"           # 30 < 40 at the first quarter
    assert verdicts["the WGAN ends better than the GAN"] == "contradicted"          # 17 > 16 on every seed
    assert verdicts["the WGAN's samples are more diverse"].startswith("not resolved")
    assert verdicts["the SS-GAN does not train"] == "contradicted"                  # its FID falls by 24
    table = summary.model_table(runs)
    assert table.loc["03 gan", "classifier FID"] == "16.03 ± 0.25 (n=3)"
    assert table.loc["02 controlvae_kl8", "training s"] == "60 ± 0 (n=3)"


def test_one_seed_resolves_nothing(root):
    write(root, "03_gan_pixelshuffle", 0, {"gan": gan([40, 16], 16, 3.2)})
    write(root, "04_wgan", 0, {"wgan": gan([30, 12], 12, 3.3)})
    rows = summary.claims(summary.collect("cpu"))
    assert rows and all(row["verdict"] == "not resolved with 1 seed" for row in rows)
    assert summary.model_table(summary.collect("cpu")).loc["04 wgan", "classifier FID"] == "12.00 (1 seed)"


def test_mismatching_or_failed_records_are_left_out_by_name(root):
    for seed in (0, 1, 2):
        write(root, "03_gan_pixelshuffle", seed, {"gan": gan([40, 16], 16 + seed, 3.2)})
    write(root, "03_gan_pixelshuffle", 3, {"gan": gan([40, 16], 1, 3.2)}, epochs=30)
    write(root, "03_gan_pixelshuffle", 4, {"gan": gan([40, 16], 1, 3.2)}, commit="def")
    write(root, "03_gan_pixelshuffle", 5, {}, status="failed")
    runs = summary.collect("cpu")
    assert sorted(runs.records["03_gan_pixelshuffle"]) == [0, 1, 2]
    assert sorted(runs.excluded) == ["03_gan_pixelshuffle, seed 3: epochs 30 vs 24 (the other seeds' value last)",
                             "03_gan_pixelshuffle, seed 4: code version def vs abc (the other seeds' value last)",
                             "03_gan_pixelshuffle, seed 5: status 'failed', not ok"]
    assert summary.collect("cpu", [0, 1]).seeds == [0, 1]
    assert summary.model_table(summary.collect("cpu", [0, 1])).loc["03 gan", "classifier FID"] == "16.50 ± 0.71 (n=2)"
