"""``python -m nbhelpers.bench claims_table``: a summary record's claims as the README's Markdown table."""
import json

import pytest

from nbhelpers.bench import claims_table

RECORD = {
    "profile": "cpu", "git_commit": "0123456789abcdef", "registry_version": 2, "registry_digest": "f" * 64,
    "evaluation_seeds": [11, 12, 13],
    "claims": [
        {"claim": "the WGAN | ends better", "seeds": [11, 12, 13], "n": 3, "estimate [95% CI]": "×2.0 [×1.8, ×2.3]",
         "verdict": "supported", "detectable": "", "verdict_holm": "supported",
         "length": "1,872 steps (1.3 % of the report's)"},
        {"claim": "the KL\nsettles", "seeds": [], "n": 0, "estimate [95% CI]": "—",
         "verdict": "not resolved with 3 seeds", "detectable": "± 0.02 (Holm over 17: ± 0.05)",
         "verdict_holm": "not resolved with 3 seeds", "length": ""},
    ],
}


def test_each_claim_is_one_row_with_its_seeds_verdicts_and_length():
    lines = claims_table.table(RECORD).splitlines()
    assert lines[0].startswith("| the report's claim | n (seeds) |") and len(lines) == 2 + 2
    assert lines[2] == ("| the WGAN \\| ends better | 3 (11, 12, 13) | ×2.0 [×1.8, ×2.3] | supported | supported "
                        "| — | 1,872 steps (1.3 % of the report's) |")
    assert lines[3] == ("| the KL settles | 0 | — | not resolved with 3 seeds | not resolved with 3 seeds "
                        "| ± 0.02 (Holm over 17: ± 0.05) | — |")


def test_the_heading_names_the_registry_the_commit_and_the_seeds():
    assert claims_table.heading(RECORD) == ("Registry version 2 (digest ffffffffffff), profile cpu, commit 0123456, "
                                            "evaluation seeds 11, 12, 13.")


def test_the_command_prints_the_table_and_refuses_what_is_no_summary_record(tmp_path, capsys):
    record = tmp_path / "summary.metrics.json"
    record.write_text(json.dumps(RECORD))
    assert claims_table.main([str(record)]) == 0
    assert claims_table.table(RECORD) in capsys.readouterr().out
    run_record = tmp_path / "03_gan_pixelshuffle.metrics.json"
    run_record.write_text(json.dumps({"models": {}}))
    for path, problem in ((tmp_path / "missing.json", "no summary record"), (run_record, "not a summary's record")):
        with pytest.raises(SystemExit):
            claims_table.main([str(path)])
        assert problem in capsys.readouterr().err
