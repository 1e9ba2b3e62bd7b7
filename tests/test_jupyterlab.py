"""In a real browser: 01_vae.ipynb opens in JupyterLab on the project's kernel, and its
parameters and set-up cells run there from the UI. Serves a temporary copy of notebooks/,
so JupyterLab (autosave included) never writes to the committed files."""
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from lab_server import jupyterlab

from nbhelpers import paths
from nbhelpers.batch import kernel

pytestmark = pytest.mark.notebook

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEM = "01_vae"
HEADER = f"notebook {STEM} | profile interactive | seed 0"
TIMEOUT_MS = 45_000   # the set-up cell imports torch and friends on a possibly busy machine
SELECTED = re.compile(r"\bjp-mod-selected\b")
LAB_SETTINGS = {   # no news or update toasts over the page
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian package 'chromium')", allow_module_level=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def first_code_cells(notebook: Path, count: int) -> list[dict]:
    cells = json.loads(notebook.read_text())["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"][:count]


@pytest.fixture
def browser():
    """Debian's headless Chromium driven by Playwright (no downloaded browser)."""
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_01_vae_opens_on_the_project_kernel_and_runs_its_set_up(browser, tmp_path):
    expect = playwright_api.expect
    kernel.ensure_kernel()
    committed = paths.NOTEBOOKS_DIR / f"{STEM}.ipynb"
    before = digest(committed)
    parameters_cell, setup_cell = first_code_cells(committed, 2)
    assert "parameters" in parameters_cell["metadata"].get("tags", [])

    served = tmp_path / "notebooks"
    shutil.copytree(paths.NOTEBOOKS_DIR, served)
    reports = tmp_path / "reports"
    with jupyterlab(served, tmp_path / "lab", env={"NBH_REPORTS_DIR": str(reports)}, settings=LAB_SETTINGS) as lab:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(lab.url(f"lab/tree/{STEM}.ipynb"))
            panel = page.locator(".jp-NotebookPanel").filter(has=page.locator(".jp-CodeCell"))
            kernel_name = panel.locator('.jp-NotebookPanel-toolbar [data-jp-item-name="kernelName"]')
            expect(kernel_name).to_have_text(kernel.KERNEL_DISPLAY, timeout=TIMEOUT_MS)
            expect(page.locator("#jp-main-statusbar")).to_contain_text(f"{kernel.KERNEL_DISPLAY} | Idle",
                                                                       timeout=TIMEOUT_MS)
            expect(page.locator(".jp-Dialog")).to_have_count(0)   # no "Select Kernel" question
            sessions = lab.api("sessions")
            assert [(s["path"], s["kernel"]["name"]) for s in sessions] == [(f"{STEM}.ipynb", kernel.KERNEL_NAME)]

            cells = panel.locator(".jp-CodeCell")
            first, second = cells.nth(0), cells.nth(1)
            expect(first.locator(".cm-content")).to_contain_text('profile = "interactive"')
            expect(second.locator(".cm-content")).to_contain_text(f'sections.open_notebook("{STEM}", globals())')
            for cell, number in ((first, 1), (second, 2)):
                cell.locator(".jp-InputPrompt").click()
                expect(cell).to_have_class(SELECTED)
                page.keyboard.press("Shift+Enter")
                expect(cell.locator(".jp-InputPrompt")).to_have_text(f"[{number}]:", timeout=TIMEOUT_MS)

            header = second.locator(".jp-OutputArea-output").filter(has_text=HEADER)
            expect(header).to_have_count(1, timeout=TIMEOUT_MS)
            header_line = next(line for line in header.inner_text().splitlines() if line.startswith(HEADER))
            expect(second.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')) \
                .to_have_count(0)
            expect(first.locator(".jp-OutputArea-output")).to_have_count(0)   # assignments only
            print(f"kernel: {kernel_name.inner_text()}\noutput: {header_line}")
            assert (reports / "interactive" / "seed0" / f"{STEM}.metrics.json").exists()

            lab.shutdown_kernels()
            assert lab.api("kernels") == [] and lab.api("sessions") == []
        except Exception:
            page.screenshot(path=str(tmp_path / "jupyterlab-failure.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'jupyterlab-failure.png'}\nserver log:\n{lab.log_tail()}")
            raise
        finally:
            page.close()
    assert lab.process.returncode is not None
    assert digest(committed) == before, f"{committed} was modified while JupyterLab ran"

