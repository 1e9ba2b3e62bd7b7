"""Offline HTML reports: nothing loaded from another host, MathJax found by a relative path that
survives copying the profile folder, the shared copy kept small and repaired when damaged."""
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from nbhelpers.batch import render

MARKDOWN = r"""# Offline maths

Inline: $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$ and $\boldsymbol{\mu} \in \mathbb{R}^d$.

$$\mathcal{L}(\theta, \phi) = \mathbb{E}_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]
  - \operatorname{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)$$
"""


def write_notebook(path: Path) -> Path:
    """A small executed-looking notebook: markdown with inline and display maths, a code cell
    with a stream and a result output (no kernel involved)."""
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell(MARKDOWN),
        v4.new_code_cell("print('hello'); 6 * 7", execution_count=1, outputs=[
            v4.new_output("stream", name="stdout", text="hello\n"),
            v4.new_output("execute_result", {"text/plain": "42"}, execution_count=1),
        ]),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


class _References(HTMLParser):
    """Every URL the page would load: script src, link href, and img/iframe/source/embed src."""

    def __init__(self):
        super().__init__()
        self.scripts, self.links, self.others = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src") is not None:
            self.scripts.append(attrs["src"])
        elif tag == "link" and attrs.get("href") is not None:
            self.links.append(attrs["href"])
        elif tag in ("img", "iframe", "source", "embed") and attrs.get("src") is not None:
            self.others.append(attrs["src"])


def references(page: Path) -> _References:
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def is_remote(url: str) -> bool:
    return url.strip().lower().startswith(("http:", "https:", "//"))


def mathjax_script(page: Path) -> Path:
    """The file that the page's MathJax <script src> points to, resolved from the page's folder."""
    sources = [src for src in references(page).scripts if "MathJax.js" in src]
    assert len(sources) == 1, sources
    url = urlsplit(sources[0])
    assert not url.scheme and not url.netloc and not url.path.startswith("/"), sources[0]
    return (page.parent / unquote(url.path)).resolve()


@pytest.fixture
def profile(tmp_path):
    """A report tree ``reports/<profile>/`` with one report in a seed subfolder, one at the top."""
    folder = tmp_path / "reports" / "cpu"
    static = folder / render.STATIC_DIRNAME
    nested = render.render_html(write_notebook(folder / "seed-1" / "01_vae.ipynb"), static_dir=static)
    top = render.render_html(write_notebook(folder / "02_controlvae.ipynb"), static_dir=static)
    return folder, nested, top


def test_nothing_is_loaded_from_another_host(profile):
    _, nested, top = profile
    for page in (nested, top):
        refs = references(page)
        remote = [url for url in refs.scripts + refs.links + refs.others if is_remote(url)]
        assert remote == [], f"{page.name} loads {remote}"
        text = page.read_text(encoding="utf-8")
        for host in ("cdnjs.cloudflare.com", "unpkg.com", "cdn.jsdelivr.net"):
            assert host not in text  # not even in a script's import()
        assert r"$p_\theta(x) = " in text and "hello" in text and "42" in text


def test_mathjax_is_linked_relatively_and_resolves(profile):
    folder, nested, top = profile
    mathjax = (folder / render.STATIC_DIRNAME / render.MATHJAX_DIRNAME).resolve()
    assert "../_static/mathjax/MathJax.js?config=" in nested.read_text(encoding="utf-8")
    for page in (nested, top):
        script = mathjax_script(page)
        assert script.is_file() and script.parent == mathjax
    # What the combined configuration and HTML-CSS with STIX-Web fetch on demand is there too.
    for name in ("config/TeX-AMS-MML_HTMLorMML-full.js", "config/Safe.js", "extensions/Safe.js",
                 "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js",
                 "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff",
                 "jax/element/mml/optable/GeneralPunctuation.js", "extensions/TeX/color.js"):
        assert (mathjax / name).is_file(), name


def test_a_copied_profile_folder_still_resolves(profile, tmp_path):
    folder, nested, top = profile
    copy = shutil.copytree(folder, tmp_path / "elsewhere" / "cpu-copy")
    shutil.rmtree(folder)  # nothing may still point at the original
    for page in (copy / "seed-1" / nested.name, copy / top.name):
        script = mathjax_script(page)
        assert script.is_file() and copy.resolve() in script.parents


def test_the_shared_copy_is_small_and_only_one_per_profile(profile):
    folder, _, _ = profile
    static = folder / render.STATIC_DIRNAME
    size = sum(p.stat().st_size for p in static.rglob("*") if p.is_file())
    assert 1_000_000 < size < 3_000_000, size  # the package holds 12 MB
    assert sorted(p.name for p in static.iterdir()) == [render.MATHJAX_DIRNAME]  # no staging leftovers
    assert not list((folder / "seed-1").glob("_static")) and not list(folder.rglob("*.tmp"))


def test_default_static_dir_is_the_profiles(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    monkeypatch.setenv("NBH_REPORTS_DIR", str(root))
    page = render.render_html(write_notebook(root / "smoke" / "seed-3" / "04_wgan.ipynb"))
    assert page == root / "smoke" / "seed-3" / "04_wgan.html"
    assert mathjax_script(page) == (root / "smoke" / "_static" / "mathjax" / "MathJax.js").resolve()
    outside = render.render_html(write_notebook(tmp_path / "loose" / "x.ipynb"), tmp_path / "out" / "x.html")
    assert mathjax_script(outside) == (tmp_path / "out" / "_static" / "mathjax" / "MathJax.js").resolve()


def test_a_damaged_copy_is_replaced_and_a_current_one_kept(tmp_path):
    static = tmp_path / "_static"
    mathjax = render.install_mathjax(static)
    font = mathjax / "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff"
    stamp_time = (mathjax / render.STAMP_NAME).stat().st_mtime_ns
    assert render.install_mathjax(static) == mathjax
    assert (mathjax / render.STAMP_NAME).stat().st_mtime_ns == stamp_time  # current: not copied again
    font.unlink()
    render.install_mathjax(static)
    assert font.is_file()
    assert sorted(p.name for p in static.iterdir()) == [render.MATHJAX_DIRNAME]


def test_the_html_is_replaced_atomically(tmp_path, monkeypatch):
    notebook = write_notebook(tmp_path / "r.ipynb")
    page = render.render_html(notebook, static_dir=tmp_path / "_static")
    before = page.read_text(encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(render.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        render.write_atomic(page, "half")
    assert page.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_static", "r.html", "r.ipynb"]
