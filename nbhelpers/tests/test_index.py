"""The profile's index page (``batch.index``, rendered from ``templates/index.html.j2``): the
claims of the summary's record first, each with its verdict as a word and a colour, n and the
interval, linked to its row in summary.html; then one line per run with its headline numbers;
a missing or unreadable summary record said in one line. And the rows the links point to."""
import json
import tomllib
from html.parser import HTMLParser

import pytest

from nbhelpers import paths
from nbhelpers.batch import index
from nbhelpers.batch.index import IndexRow
from nbhelpers.studies import claims as registry, collect, summary

CLAIMS = [
    {"key": "wgan_faster", "claim": "the WGAN learns faster than the GAN", "verdict": "supported",
     "verdict_holm": "not resolved with 3 seeds", "n": 3, "seeds": [1, 2, 3], "estimate [95% CI]": "+0.0120 [+0.0040, +0.0200]"},
    {"key": "ssgan_did_not_train", "claim": "the SS-GAN did not train", "verdict": "contradicted",
     "verdict_holm": "contradicted", "n": 3, "seeds": [1, 2, 3], "estimate [95% CI]": "×1.02 [×0.95, ×1.10]",
     "note": "tested on this project's own SS-GAN"},
    {"key": "wgan_diverse", "claim": "the WGAN's samples are <more> diverse", "verdict": "not resolved with 3 seeds",
     "verdict_holm": "not resolved with 3 seeds", "n": 3, "seeds": [1, 2, 3], "estimate": 0.01, "low": -0.02,
     "high": 0.04},
    {"key": "rotation_beyond_sn", "claim": "the rotation loss adds beyond spectral norm", "verdict": "no records",
     "verdict_holm": "no records", "n": 0, "seeds": []},
]


class Page(HTMLParser):
    """The index as tables of rows; each cell its text, its links and the classes inside it."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.table, self.paragraphs, self.in_p, self.in_cell = {}, None, {}, None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.table.append({"class": attrs.get("class"), "cells": []})
        elif tag in ("td", "th") and self.table is not None:
            self.table[-1]["cells"].append({"text": "", "links": [], "classes": [], "images": []})
            self.in_cell = True
        elif tag == "a" and self.table:
            self.table[-1]["cells"][-1]["links"].append(attrs["href"])
        elif tag == "span" and self.table:
            self.table[-1]["cells"][-1]["classes"] += attrs.get("class", "").split()
        elif tag == "img" and self.table:
            self.table[-1]["cells"][-1]["images"].append(attrs["src"])
        elif tag == "p":
            self.in_p = attrs.get("id")
            self.paragraphs[self.in_p] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        elif tag in ("td", "th"):
            self.in_cell = False
        elif tag == "p":
            self.in_p = None

    def handle_data(self, data):
        if self.in_cell:
            self.table[-1]["cells"][-1]["text"] += data
        if self.in_p in self.paragraphs:
            self.paragraphs[self.in_p] += data


@pytest.fixture
def profile(tmp_path, monkeypatch):
    """An empty report tree for the cpu profile; its folder."""
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path))
    folder = tmp_path / "cpu"
    folder.mkdir()
    return folder


def write_summary(folder, claims=CLAIMS, html=True):
    (folder / "summary.metrics.json").write_text(json.dumps({"notebook": paths.SUMMARY_STEM, "status": "ok",
                                                             "evaluation_seeds": [1, 2, 3], "claims": claims}))
    if html:
        (folder / "summary.html").write_text("<html></html>")


def gan_entry(kid=None, classifier=None):
    entry = {"fid": [{"features": "classifier", "n": 500, "ref": "mnist-test", "value": classifier}] if classifier is not None else []}
    if kid is not None:
        entry["kid"] = {"features": "inception", "n": 200, "ref": "mnist-test[:1000]", "mean": kid}
    return entry


def test_the_index_opens_with_every_claim_its_verdict_word_and_colour_n_interval_and_link(profile):
    write_summary(profile)
    page = Page(index.write_index(profile, "cpu", []).read_text())
    assert list(page.tables) == ["claims", "runs"]                      # the claims first
    header, *rows = page.tables["claims"]
    assert [cell["text"] for cell in header["cells"]] == ["claim", "verdict", "n", "estimate [95 % interval]",
                                                          "Holm-adjusted verdict"]
    assert len(rows) == len(CLAIMS)
    shown = {row["cells"][0]["links"][0]: row["cells"] for row in rows}
    assert list(shown) == [f"summary.html#claim-{claim['key']}" for claim in CLAIMS]
    colours = [(cells[1]["text"], [c for c in cells[1]["classes"] if c.startswith("verdict-")]) for cells in shown.values()]
    assert colours == [("supported", ["verdict-supported"]), ("contradicted", ["verdict-contradicted"]),
                       ("not resolved with 3 seeds", ["verdict-unresolved"]), ("no records", ["verdict-missing"])]
    wgan, ssgan, diverse, rotation = shown.values()
    assert (wgan[2]["text"], wgan[3]["text"]) == ("3", "+0.0120 [+0.0040, +0.0200]")
    assert wgan[4]["text"] == "not resolved with 3 seeds" and "verdict-unresolved" in wgan[4]["classes"]
    assert "tested on this project's own SS-GAN" in ssgan[0]["text"]
    assert diverse[0]["text"] == "the WGAN's samples are <more> diverse"   # escaped in the page, text again here
    assert diverse[3]["text"] == "0.01 [-0.02, 0.04]"                        # from the numbers when no text
    assert (rotation[2]["text"], rotation[3]["text"]) == ("0", "—")


def test_without_summary_html_the_claims_are_shown_unlinked(profile):
    write_summary(profile, html=False)
    page = Page(index.write_index(profile, "cpu", []).read_text())
    assert all(row["cells"][0]["links"] == [] for row in page.tables["claims"][1:])


@pytest.mark.parametrize("summary_file, said", [
    (None, "No summary record yet (summary.metrics.json)"),
    ("{not json", "summary.metrics.json is damaged"),
    (json.dumps({"status": "failed", "error": "boom"}), "(summary.metrics.json, status failed) holds no claims"),
    (json.dumps({"status": "ok", "claims": ["not a claim"]}), "is damaged (claims[0] is not a mapping)"),
    (json.dumps({"status": "ok", "claims": [{"claim": "the WGAN ends better", "n": 3}]}), "is damaged (claims[0] lacks its verdict)"),
])
def test_a_missing_or_unreadable_summary_record_is_one_line_and_the_runs_are_still_listed(profile, summary_file, said):
    if summary_file is not None:
        (profile / "summary.metrics.json").write_text(summary_file)
    rows = [IndexRow(stem="01_vae", seed=1, status="ok", seconds=12.0),
            IndexRow(stem="04_wgan", seed=1, status="failed", seconds=3.0, error="ValueError: boom")]
    page = Page(index.write_index(profile, "cpu", rows).read_text())
    assert "claims" not in page.tables
    assert said in page.paragraphs["claims-missing"]
    assert [row["class"] for row in page.tables["runs"][1:]] == ["ok", "failed"]


def test_one_line_per_run_with_its_headline_numbers_status_time_and_thumbnail(profile, monkeypatch):
    monkeypatch.setattr(index, "thumbnail", lambda profile, stem, seed, dry_run: f"seed{seed}/{stem}/thumbnail.png")
    gan = {"status": "ok", "wall_seconds": 41.6,
           "models": {"gan_other": gan_entry(classifier=9.0), "gan": gan_entry(kid=0.01234, classifier=12.5)}}
    rows = [IndexRow.from_record("03_gan_pixelshuffle", 1, gan),
            IndexRow.from_record("04_wgan", 1, {"status": "failed", "error": "ValueError: boom", "wall_seconds": 3.0}),
            IndexRow.from_record(paths.SUMMARY_STEM, None, {"status": "ok", "seeds": [1], "claims": CLAIMS[:1]})]
    page = Page(index.write_index(profile, "cpu", rows).read_text())
    header, *lines = page.tables["runs"]
    assert len(lines) == len(rows)
    texts = [[cell["text"] for cell in line["cells"]] for line in lines]
    assert texts[0][:7] == ["03_gan_pixelshuffle", "1 (exploratory)", "", "ok", "", "42 s",   # cpu's seed 1: seen
                            "gan: Inception KID 0.0123 (N=200)"]
    assert lines[0]["cells"][2]["images"] == ["seed1/03_gan_pixelshuffle/thumbnail.png"]
    assert (lines[1]["class"], texts[1][3], texts[1][6]) == ("failed", "failed", "ValueError: boom")
    assert texts[2][:2] == ["06_summary", "all"] and "1 claims (1 supported)" in texts[2][6]
    assert lines[2]["cells"][2]["images"] == []                          # the summary has no thumbnail
    assert lines[0]["cells"][0]["links"] == ["seed1/03_gan_pixelshuffle.html"]


def test_the_headline_numbers_are_the_claimed_models_at_most_three():
    assert index.CLAIMED_MODELS["05_ssgan"] == ["sngan", "ssgan"]   # the registry's order
    assert set(index.CLAIMED_MODELS) == {name.partition("/")[0] for claim in registry.REGISTRY for name in claim.models}
    models = {"ssgan": gan_entry(kid=0.02), "ssgan_ablation": gan_entry(kid=0.5), "sngan": gan_entry(classifier=7.25)}
    assert index.headline_numbers("05_ssgan", {"models": models}) == (
        "ssgan: Inception KID 0.0200 (N=200)", "sngan: classifier FID 7.25 (N=500)")   # the ablation: no claim
    many = {f"vae_{i}": gan_entry(classifier=float(i)) for i in range(5)}   # no claim reads 01: its first models
    assert index.headline_numbers("01_vae", {"models": many}) == tuple(
        f"vae_{i}: classifier FID {i:.2f} (N=500)" for i in range(3))
    assert index.headline_numbers("01_vae", {"models": {"vae": {}}}) == ()


def test_the_summary_gives_each_claims_row_the_anchor_the_index_links_to():
    html = summary.claims_view(collect.Collected("cpu")).to_html()
    parser = Page(html)
    (rows,) = parser.tables.values()
    body = rows[1:]
    assert len(body) == len(registry.REGISTRY)
    for claim in registry.REGISTRY:
        assert f'<tr id="{summary.claim_anchor(claim.key)}">' in html
    assert [row["cells"][0]["text"] for row in body] == [claim.text for claim in registry.REGISTRY]
    assert "claim-" not in "".join(cell["text"] for row in body for cell in row["cells"])   # the index stays hidden


def test_the_template_ships_with_the_package():
    assert (index.TEMPLATES / "index.html.j2").is_file()
    pyproject = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["nbhelpers.batch"]
    assert any(index.TEMPLATES.joinpath("index.html.j2").match(f"batch/{pattern}") for pattern in shipped)
