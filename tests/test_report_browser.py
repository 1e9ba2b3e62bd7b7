"""The reports in a real browser with the network off: Debian's headless Chromium, driven by
Playwright, opens a rendered report and the profile's index from file://. In the report the
code is folded (its input not shown), a click on the fold opens it, the output shows, and the
maths is typeset; the index shows each claim's verdict in its colour, and a claim's link opens
the summary at that claim's row. Every request the pages make must be a local one (file://).
Skipped where Chromium or Playwright is not installed (.ci/debian-packages, requirements-dev.txt)."""
import json
from pathlib import Path

import nbformat
import pytest
from test_offline_math import CHROMIUM, FORMULAS, typeset_problems, write_notebook

from nbhelpers.batch import index, render
from nbhelpers.batch.index import IndexRow
from nbhelpers.studies import claims as registry, collect, summary

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian package 'chromium')", allow_module_level=True)

OFFLINE_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND"]
LOCAL = ("file://", "about:", "data:", "blob:")   # URLs that never reach the network
TIMEOUT_MS = 30_000
SUPPORTED, CONTRADICTED = registry.REGISTRY[0].key, registry.REGISTRY[1].key
GREEN, RED, HIGHLIGHT = "rgb(211, 249, 216)", "rgb(255, 227, 227)", "rgb(255, 243, 191)"


@pytest.fixture
def reports(tmp_path, monkeypatch):
    """reports/cpu/ with one seed's report (maths, one code cell), summary.html holding the
    claims table as notebook 06 shows it, summary.metrics.json and the index."""
    monkeypatch.setenv("NBH_REPORTS_DIR", str(tmp_path / "reports"))
    folder = tmp_path / "reports" / "cpu"
    static = folder / render.STATIC_DIRNAME
    (folder / "seed1").mkdir(parents=True)
    render.render_html(write_notebook(folder / "seed1" / "01_vae.ipynb"), static_dir=static)

    claims_html = summary.claims_view(collect.Collected("cpu")).to_html()
    v4 = nbformat.v4
    notebook = v4.new_notebook(cells=[v4.new_code_cell("display(summary.claims_view(collected, results))", execution_count=1,
                                                       outputs=[v4.new_output("display_data", {"text/html": claims_html})])])
    nbformat.write(notebook, folder / "summary.ipynb")
    render.render_html(folder / "summary.ipynb", static_dir=static)
    verdicts = {SUPPORTED: "supported", CONTRADICTED: "contradicted"}
    claims = [{"key": key, "claim": registry.claim(key).text, "verdict": verdict, "verdict_holm": verdict, "n": 3,
               "seeds": [1, 2, 3], "estimate [95% CI]": "+1.00 [+0.50, +1.50]"} for key, verdict in verdicts.items()]
    (folder / "summary.metrics.json").write_text(json.dumps({"status": "ok", "evaluation_seeds": [1, 2, 3],
                                                             "claims": claims}))
    index.write_index(folder, "cpu", [IndexRow(stem="01_vae", seed=1, status="ok", seconds=5.0)])
    return folder


@pytest.fixture
def page():
    """A page of an offline browser context; afterwards, every URL it requested must be local
    (file://, or about:blank, data: and blob: that MathJax makes in the page)."""
    requested = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=OFFLINE_ARGS)
        try:
            context = browser.new_context(offline=True)
            tab = context.new_page()
            tab.on("request", lambda request: requested.append(request.url))
            yield tab
        finally:
            browser.close()
    remote = [url for url in requested if not url.startswith(LOCAL)]
    assert requested and not remote, remote


def background(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).backgroundColor")


def test_a_report_folds_its_code_opens_it_on_a_click_and_typesets_the_maths(reports, page):
    expect = playwright_api.expect
    page.goto((reports / "seed1" / "01_vae.html").as_uri())
    fold = page.locator("details.nbh-code")
    expect(fold).to_have_count(1)
    code = fold.locator(".jp-InputArea")
    expect(code).to_be_hidden()                                          # folded: the input is not shown
    expect(page.locator(".jp-OutputArea-output")).to_contain_text("42")  # the output is
    fold.locator("summary").click()
    expect(code).to_be_visible()
    expect(code).to_contain_text("6 * 7")
    expect(page.locator("[id^='MathJax-Element-'][id$='-Frame']")).to_have_count(FORMULAS, timeout=TIMEOUT_MS)
    expect(page.locator(".MathJax_Display")).to_have_count(1)
    assert typeset_problems(page.content()) == []


def test_the_index_shows_the_verdicts_and_links_each_claim_to_its_row_in_the_summary(reports, page):
    expect = playwright_api.expect
    page.goto((reports / "index.html").as_uri())
    claims = page.locator("#claims tr")
    expect(claims).to_have_count(3)                                      # the header and two claims
    supported = claims.nth(1).locator(".verdict").first
    expect(supported).to_have_text("supported")
    assert background(supported) == GREEN
    contradicted = claims.nth(2).locator(".verdict").first
    expect(contradicted).to_have_text("contradicted")
    assert background(contradicted) == RED
    expect(page.locator("#runs tr")).to_have_count(2)                    # the header and the one run

    claims.nth(2).locator("a").click()
    page.wait_for_url(f"**/summary.html#{summary.claim_anchor(CONTRADICTED)}")
    row = page.locator(f"#{summary.claim_anchor(CONTRADICTED)}")
    expect(row).to_be_in_viewport()
    expect(row).to_contain_text(registry.claim(CONTRADICTED).text)
    assert background(row.locator("td").first) == HIGHLIGHT               # the row the link opened
    assert Path(page.url.split("#")[0].removeprefix("file://")).name == "summary.html"
