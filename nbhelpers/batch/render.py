"""Render an executed notebook to HTML that works opened from disk, with no network, its code
folded away until a reader asks for it.

nbconvert's ``HTMLExporter`` points ``mathjax_url``, ``require_js_url`` and the mermaid URLs at
cdnjs. A report opened without network then shows every formula as raw LaTeX
(``$p_\\theta(x) = ...$``): jupyter/nbconvert#754. Here the report is rendered with the same "lab"
template, but:

- **MathJax is local.** MathJax 2.7.9 comes from the pinned PyPI package
  ``jupyter-server-mathjax`` (the copy Jupyter Server ships for exactly this). Only the files our
  reports can use are copied (``MATHJAX_PARTS``: MathJax.js, the combined
  ``TeX-AMS-MML_HTMLorMML-full`` configuration, Safe mode as in nbconvert's default URL, the TeX
  extensions loaded on first use of a macro, the operator dictionary, and the HTML-CSS output's
  STIX-Web font data and woff fonts: about 2.1 MB instead of the package's 12 MB) into one shared
  folder per profile, ``reports/<profile>/_static/mathjax/``, and each HTML file refers to it by a
  path relative to its own folder. Copying or moving ``reports/<profile>/`` as a whole keeps every
  report working, also those in subfolders (``reports/<profile>/seed-1/<stem>.html``).
  Why not embed MathJax in each page: MathJax 2 fetches its font data and web fonts on demand by
  URL, so embedding means inlining ~2 MB of scripts and fonts into every report (and rewriting
  MathJax's loader); one shared copy per profile keeps each report at its usual size.
  The package ships HTML-CSS output with STIX-Web fonts only (no CommonHTML, no TeX fonts), so
  the page selects those, as the classic Jupyter Notebook did with this package.
- **require.js, the Jupyter widgets loader and mermaid are left out** (blocks emptied and their
  URL traits set to ""): our outputs are static images, tables, text and math, which need none of
  them. A mermaid code block would show as its source text.
- **Code on demand.** Every code cell's input is folded into ``<details class="nbh-code">`` with
  a short ``<summary>`` ("code"; the parameters cell and the one papermill injected say so):
  closed by default, opened by a click, no JavaScript. Outputs, figures and tables show as
  before, and the input of a cell that raised is open, beside its traceback. Only the HTML
  changes: the executed ``.ipynb`` keeps every input, and JupyterLab shows the notebook as ever.

No ``<script src>`` or ``<link href>`` of the page points to another host. The HTML is written
atomically (temporary file in the same folder + ``os.replace``): a browser or an interrupted run
never sees half a report.
"""
import importlib.metadata
import importlib.util
import os
import shutil
from pathlib import Path
from urllib.parse import quote

from nbhelpers.files import temporary_folder, temporary_path
from nbhelpers.paths import reports_root

MATHJAX_DIST = "jupyter-server-mathjax"
STATIC_DIRNAME = "_static"
MATHJAX_DIRNAME = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# What is copied from the package's static/ folder (a folder: everything in it).
MATHJAX_PARTS = (
    "LICENSE",
    "MathJax.js",
    "config/TeX-AMS-MML_HTMLorMML-full.js",  # TeX and MathML input, HTML-CSS output, menu, zoom
    "config/Safe.js",
    "extensions/Safe.js",
    "extensions/FontWarnings.js",            # the notice shown if the web fonts fail to load
    "extensions/HelpDialog.js",              # the math menu's help
    "extensions/HTML-CSS",                   # handle-floats
    "extensions/TeX",                        # \boldsymbol, \cancel, \newcommand, ...: loaded on first use
    "jax/element/mml/optable",               # operator dictionary, one file per Unicode block
    "jax/output/HTML-CSS",                   # autoloaded parts (mtable, multiline, ...), STIX-Web font data
    "fonts/HTML-CSS/STIX-Web/woff",          # the web fonts
)
STAMP_NAME = ".nbhelpers-mathjax-version"
STAGING, RETIRED = "mathjax-new", "mathjax-old"   # temporary folders beside mathjax/ (files.temporary_folder)

_TEMPLATE_NAME = "nbhelpers-offline.html.j2"
_TEMPLATE = r"""{%- extends "index.html.j2" -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
details.nbh-code > summary { cursor: pointer; color: #616161; font-size: 85%; padding: 2px 0 2px 4px; }
details.nbh-code > summary:hover { color: #1976d2; }
</style>
{%- endblock extra_css -%}
{% block input_group -%}
{%- set tags = cell.metadata.get("tags", []) -%}
<details class="nbh-code"{% if cell.outputs | selectattr("output_type", "equalto", "error") | list %} open{% endif %}>
<summary>{% if "injected-parameters" in tags %}code: the parameters the batch injected{% elif "parameters" in tags %}code: the notebook's default parameters{% else %}code{% endif %}</summary>
{{ super() }}
</details>
{%- endblock input_group %}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
                 linebreaks: {automatic: true}}
});
</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
"""


def mathjax_source() -> Path:
    """The package's MathJax folder (found without importing the package, which loads jupyter_server)."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"MathJax for offline reports is missing: pip install {MATHJAX_DIST} "
                           f"(pinned in requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def mathjax_files(source: Path) -> list[str]:
    """The copied files, as POSIX paths relative to ``source``."""
    files = []
    for part in MATHJAX_PARTS:
        path = source / part
        if path.is_dir():
            files += [p.relative_to(source).as_posix() for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            files.append(part)
        else:
            raise RuntimeError(f"{MATHJAX_DIST} {importlib.metadata.version(MATHJAX_DIST)} lacks {part}")
    return sorted(files)


def _is_current(dest: Path, source: Path, files: list[str], version: str) -> bool:
    stamp = dest / STAMP_NAME
    if not stamp.is_file() or stamp.read_text().strip() != version:
        return False
    try:
        return all((dest / f).stat().st_size == (source / f).stat().st_size for f in files)
    except OSError:
        return False


def install_mathjax(static_dir: Path) -> Path:
    """``static_dir/mathjax/`` with the MathJax subset, copied unless an identical copy is there.

    The copy is staged in a temporary folder beside it and renamed into place, so that a report
    rendered meanwhile never refers to a half-copied MathJax."""
    static_dir = Path(static_dir)
    source, version = mathjax_source(), importlib.metadata.version(MATHJAX_DIST)
    files = mathjax_files(source)
    dest = static_dir / MATHJAX_DIRNAME
    if _is_current(dest, source, files, version):
        return dest
    static_dir.mkdir(parents=True, exist_ok=True)
    staging = temporary_folder(static_dir, STAGING)
    retired = None
    try:
        staging.chmod(0o755)
        for name in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, staging / name)
        (staging / STAMP_NAME).write_text(version + "\n")
        if dest.exists():  # an older or damaged copy: move it aside, then swap
            retired = temporary_folder(static_dir, RETIRED)
            os.replace(dest, retired / MATHJAX_DIRNAME)
        try:
            os.replace(staging, dest)
        except OSError:
            if not _is_current(dest, source, files, version):  # not a concurrent render's copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    return dest


def default_static_dir(target: Path) -> Path:
    """``<profile>/_static`` when ``target`` lies in the report tree (at any depth below the
    profile's folder), otherwise ``_static`` beside ``target``."""
    folder = Path(target).resolve().parent
    root = reports_root().resolve()
    try:
        parts = folder.relative_to(root).parts
    except ValueError:
        parts = ()
    return (root / parts[0] if parts else folder) / STATIC_DIRNAME


def relative_url(path: Path, start: Path) -> str:
    """URL of ``path`` relative to the folder ``start`` (both made absolute first)."""
    relative = os.path.relpath(Path(path).resolve(), Path(start).resolve())
    return quote(Path(relative).as_posix())


def offline_exporter(mathjax_url: str):
    """An ``HTMLExporter`` with the "lab" template, MathJax from ``mathjax_url``, nothing remote,
    and every code input folded."""
    from jinja2 import DictLoader  # with nbconvert: only when a page is rendered
    from nbconvert import HTMLExporter  # heavy: only when a page is rendered
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        mathjax_url=mathjax_url,
        require_js_url="", jquery_url="", mermaid_js_url="", mermaid_layout_elk_js_url="",
        jupyter_widgets_base_url="", widget_renderer_url="",
    )


def write_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` via a temporary file in its folder and ``os.replace``."""
    target = Path(target)
    temporary = temporary_path(target)
    try:
        with open(temporary, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render_html(notebook: Path, target: Path | None = None, static_dir: Path | None = None,
                lies_in: Path | None = None) -> Path:
    """Render ``notebook`` to ``target`` (default: beside it, ``.html``) for offline viewing.

    MathJax goes to ``static_dir/mathjax/`` (default: ``default_static_dir`` of where the page
    will lie, the profile's ``_static``), linked from the page by a path relative to the folder
    the page will lie in: ``lies_in`` when it is rendered elsewhere first (an attempt's stage,
    moved there with the other report files), else its own. Returns ``target``."""
    notebook = Path(notebook)
    target = Path(target) if target is not None else notebook.with_suffix(".html")
    lies_in = Path(lies_in) if lies_in is not None else target.parent
    static_dir = Path(static_dir) if static_dir is not None else default_static_dir(lies_in / target.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    mathjax = install_mathjax(static_dir) / "MathJax.js"
    url = f"{relative_url(mathjax, lies_in)}?config={MATHJAX_CONFIG}"
    body, _ = offline_exporter(url).from_filename(str(notebook))
    write_atomic(target, body)
    return target
