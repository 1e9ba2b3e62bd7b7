"""A real browser with no network typesets the maths of a rendered report (jupyter/nbconvert#754).

Headless Chromium opens the report from file:// with every network path closed (a proxy on the
discard port, every host name unresolvable, QUIC and background fetches off) and dumps the DOM
after MathJax ran. The offline rendering must show typeset formulas and no raw TeX; nbconvert's
default rendering (MathJax from cdnjs) is rendered too and must fail the same check, which shows
that the check can fail and that the browser really had no network.
Needs Debian's ``chromium`` (listed in .ci/debian-packages); skipped where it is not installed.
``test_report_browser`` reuses its notebook and its typesetting check (folded code, the index).
"""
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from nbhelpers.batch import render

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not installed (Debian package chromium, listed in .ci/debian-packages)")

INLINE = r"p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz"
DISPLAY = (r"\mathcal{L} = \mathbb{E}_{q_\phi}\big[\log p_\theta(x \mid z)\big]"
           r" - \operatorname{KL}(q_\phi \,\|\, p)")
FORMULAS = 3  # two inline, one display


def write_notebook(path: Path) -> Path:
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell(f"The model: ${INLINE}$, with $\\beta = 4$.\n\n$${DISPLAY}$$\n"),
        v4.new_code_cell("6 * 7", execution_count=1,
                         outputs=[v4.new_output("execute_result", {"text/plain": "42"}, execution_count=1)]),
    ]
    nbformat.write(nb, path)
    return path


def render_cdn_default(notebook: Path, target: Path) -> Path:
    """The old behaviour: nbconvert's default exporter, MathJax and require.js from cdnjs."""
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_filename(str(notebook))
    target.write_text(body, encoding="utf-8")
    return target


def dump_dom(page: Path, scratch: Path) -> str:
    """The DOM after scripts ran, from headless Chromium with no way to reach any host."""
    profile = scratch / "chromium-profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--disable-crash-reporter",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
    ]
    env = {"HOME": str(scratch), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


class _VisibleText(HTMLParser):
    """Text outside <script>/<style>; MathJax's output frames (``MathJax-Element-N-Frame``),
    display blocks, and error or font-warning elements."""

    ERRORS = {"merror", "noError", "MJXp-merror", "MathJax_Error"}

    def __init__(self):
        super().__init__()
        self.hidden, self.text, self.frames, self.displays, self.errors = 0, [], 0, 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self.hidden += 1
        if (attrs.get("id") or "").startswith("MathJax-Element-") and attrs["id"].endswith("-Frame"):
            self.frames += 1
        classes = set((attrs.get("class") or "").split())
        self.displays += "MathJax_Display" in classes
        if classes & self.ERRORS or attrs.get("id") == "MathJax_FontWarning" or tag == "merror":
            self.errors.append(f"<{tag} {attrs}>")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)

    def handle_data(self, data):
        if not self.hidden:
            self.text.append(data)


def typeset_problems(dom: str) -> list[str]:
    """Why the page does not show typeset maths; empty when it does."""
    parser = _VisibleText()
    parser.feed(dom)
    text = "".join(parser.text)
    problems = []
    if parser.frames < FORMULAS:
        problems.append(f"{parser.frames} MathJax output frames, expected {FORMULAS}")
    if parser.displays < 1:
        problems.append("no MathJax_Display (display maths not typeset)")
    for source in ("$p_\\theta", "\\theta", "\\mathcal{L}", "$$"):
        if source in text:
            problems.append(f"raw TeX {source!r} shown as text")
    if "STIXMathJax_Main" not in dom:
        problems.append("no glyphs set in MathJax's STIX-Web fonts")
    if parser.errors:
        problems.append(f"MathJax font warning or TeX error: {parser.errors[:3]}")
    return problems


@pytest.mark.parametrize("renderer", ["offline", "nbconvert-cdn-default"])
def test_chromium_without_network_typesets_the_maths(renderer, tmp_path):
    folder = tmp_path / "reports" / "cpu" / "seed-1"
    folder.mkdir(parents=True)
    notebook = write_notebook(folder / "01_vae.ipynb")
    if renderer == "offline":
        page = render.render_html(notebook, static_dir=tmp_path / "reports" / "cpu" / render.STATIC_DIRNAME)
    else:
        page = render_cdn_default(notebook, folder / "01_vae.html")
    problems = typeset_problems(dump_dom(page, tmp_path))
    if renderer == "offline":
        assert problems == []
    else:  # the control: the CDN page must fail this very check without network
        assert any("raw TeX" in p for p in problems) and any("frames" in p for p in problems), problems
