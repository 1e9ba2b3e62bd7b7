"""What a report shows: every code input folded (``batch.render``), its outputs as before, the
executed notebook untouched; and the run's parameters once, as one table with the source of each
value (``report.context.parameter_table``, ``report.profiles.value_sources``)."""
import hashlib
from html.parser import HTMLParser

import nbformat
import pytest

from nbhelpers.batch import render
from nbhelpers.report import context, parameters, profiles

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def write_notebook(path):
    """An executed-looking notebook as papermill leaves it: the parameters cell, the injected
    one, a cell with text, a figure and a table, a cell that raised; markdown between."""
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# A report\n\nSome prose."),
        v4.new_code_cell('profile = "interactive"', metadata={"tags": ["parameters"]}, execution_count=1),
        v4.new_code_cell('profile = "smoke"', metadata={"tags": ["injected-parameters"]}, execution_count=2),
        v4.new_code_cell("show_everything()", execution_count=3, outputs=[
            v4.new_output("stream", name="stdout", text="printed line\n"),
            v4.new_output("display_data", {"image/png": PNG, "text/plain": "<Figure>"}),
            v4.new_output("execute_result", {"text/html": "<table class='shown'><tr><td>cell 7</td></tr></table>",
                                             "text/plain": "table"}, execution_count=3),
        ]),
        v4.new_code_cell("1 / 0", execution_count=4, outputs=[
            v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=["Traceback here"]),
        ]),
    ]
    nbformat.write(nb, path)
    return path


class Folds(HTMLParser):
    """Each <details> of the page (its attributes, summary text, how many code inputs it holds),
    the code input areas and outputs outside any, and the figures and tables anywhere."""

    def __init__(self, text: str):
        super().__init__()
        self.folds, self.open_folds, self.loose_inputs, self.images, self.tables = [], [], 0, 0, 0
        self.outputs, self.folded_outputs, self.in_summary = 0, 0, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "details":
            self.open_folds.append({"attrs": attrs, "summary": "", "inputs": 0})
        elif tag == "summary":
            self.in_summary = True
        elif "jp-InputArea" in classes and "jp-Cell-inputArea" in classes:
            if self.open_folds:
                self.open_folds[-1]["inputs"] += 1
            else:
                self.loose_inputs += 1
        if "jp-OutputArea-output" in classes:
            self.outputs += 1
            self.folded_outputs += bool(self.open_folds)
        self.images += tag == "img"
        self.tables += tag == "table" and "shown" in classes

    def handle_endtag(self, tag):
        if tag == "details":
            self.folds.append(self.open_folds.pop())
        elif tag == "summary":
            self.in_summary = False

    def handle_data(self, data):
        if self.in_summary:
            self.open_folds[-1]["summary"] += data


@pytest.fixture
def rendered(tmp_path):
    notebook = write_notebook(tmp_path / "report.ipynb")
    before = hashlib.sha256(notebook.read_bytes()).hexdigest()
    page = render.render_html(notebook, static_dir=tmp_path / "_static")
    return notebook, before, page.read_text(encoding="utf-8")


def test_every_code_input_is_folded_and_only_the_failing_cells_is_open(rendered):
    notebook, _, html = rendered
    folds = Folds(html)
    code_cells = [cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    assert len(folds.folds) == len(code_cells) and all(fold["inputs"] == 1 for fold in folds.folds)
    assert folds.loose_inputs == 1                                       # the markdown cell's, not code
    assert [fold["summary"] for fold in folds.folds] == [
        "code: the notebook's default parameters", "code: the parameters the batch injected", "code", "code"]
    assert ["open" in fold["attrs"] for fold in folds.folds] == [False, False, False, True]   # beside its traceback
    assert all("nbh-code" in fold["attrs"]["class"] for fold in folds.folds)


def test_outputs_figures_and_tables_show_as_before(rendered):
    _, _, html = rendered
    folds = Folds(html)
    assert folds.images == 1 and folds.tables == 1
    assert folds.outputs == 4 and folds.folded_outputs == 0
    for shown in ("printed line", "cell 7", "Traceback here", "Some prose."):
        assert shown in html


def test_the_executed_notebook_keeps_everything(rendered):
    notebook, before, _ = rendered
    assert hashlib.sha256(notebook.read_bytes()).hexdigest() == before
    cells = nbformat.read(notebook, as_version=4).cells
    assert cells[3].source == "show_everything()" and len(cells[3].outputs) == 3


# ----------------------------------------------------------------------------- the parameters, once, with sources

def test_each_value_names_the_file_or_override_it_came_from():
    values = profiles.resolve("05_ssgan", "smoke", ["lr_generator=0.5"], seed=2, first_seed=1)
    sources = profiles.value_sources("05_ssgan", "smoke", values)
    assert list(sources) == list(values)
    assert sources["fid_n_inception"] == "params/smoke/_all.yaml"
    assert sources["epochs"] == "params/smoke/_gan.yaml"
    assert sources["rotation_test_n"] == "params/smoke/05_ssgan.yaml"
    assert sources["alpha"] == "notebook default"
    assert sources["lr_generator"] == profiles.OVERRIDDEN
    assert sources["ablation_alphas"].startswith("params/smoke/_all.yaml: later_seeds")   # seed 2 is not the first
    assert sources["profile"] == "the batch (--profile)" and sources["seed"].startswith("the batch")
    first = profiles.value_sources("05_ssgan", "smoke", profiles.resolve("05_ssgan", "smoke", seed=1, first_seed=1))
    assert first["ablation_alphas"] == "params/smoke/05_ssgan.yaml"


def test_an_interactive_run_names_the_notebooks_cell():
    values = dict(parameters.declared_parameters("01_vae"), epochs=1)
    sources = profiles.value_sources("01_vae", "interactive", values)
    assert sources["epochs"] == "set in the notebook" and sources["lr"] == sources["profile"] == "notebook default"


def test_the_parameter_table_has_one_row_per_parameter_with_value_and_source():
    values = profiles.resolve("01_vae", "smoke", ["lr=0.5"], seed=1)
    table = context.parameter_table("01_vae", values)
    assert list(table.index) == list(values) and list(table.columns) == ["value", "source"]
    assert table.loc["epochs"].tolist() == ["1", "params/smoke/01_vae.yaml"]
    assert table.loc["lr"].tolist() == ["0.5", profiles.OVERRIDDEN]
    dry = context.parameter_table("01_vae", values, dry_run=True)
    assert dry.loc["lr", "source"] == profiles.OVERRIDDEN + " or the dry run's cap"


def test_the_parameters_show_once_as_the_run_starts(capsys, monkeypatch):
    displayed = []
    monkeypatch.setattr(context, "display", lambda bundle, raw: displayed.append(bundle))
    namespace = profiles.resolve("01_vae", "smoke", ["device=cpu"], seed=1)   # as papermill injects them
    params = parameters.notebook_params("01_vae", namespace)
    assert capsys.readouterr().out == ""                                  # no second list of the values
    context.start_run("01_vae", params)
    assert capsys.readouterr().out.startswith("notebook 01_vae | profile smoke | seed 1")
    (bundle,) = displayed
    text, html = bundle["text/plain"], bundle["text/html"]
    assert [line.split()[0] for line in text.splitlines()[2:]] == list(namespace)   # one line each, in order
    assert "params/smoke/_all.yaml" in text and "override (--set)" in text   # device=cpu
    assert html.count("<tr>") == len(namespace) + 1 and "text-align: left" in html
    assert "&#x27;cpu&#x27;" in html or "&#39;cpu&#39;" in html            # values as Python writes them, escaped
