"""The notebook's parameters cell (``report.parameters``): the declared defaults, the rule beside
each, and a cell or notebook that does not parse refused by name."""
import json
import re

import pytest

from nbhelpers.report import parameters, profiles


def test_declared_parameters_come_from_the_parameters_cell():
    declared = parameters.declared_parameters("01_vae")
    assert list(declared)[:3] == ["profile", "seed", "device"]
    assert declared["threshold"] == 0.5 and isinstance(declared["epochs"], int)


def test_notebook_params_recheck_types_inside_the_kernel():
    namespace = dict(parameters.declared_parameters("01_vae"))
    namespace["epochs"] = "ten"
    with pytest.raises(parameters.ParameterError, match="'epochs' must be int"):
        parameters.notebook_params("01_vae", namespace)


# ----------------------------------------------------------------------------- declared rules

@pytest.mark.parametrize("text, good, bad", [
    ("[1, inf)", [1, 5, 2.5, 1e300], [0, -1, True, "1"]),
    ("(0, inf)", [1e-9, 3], [0, -2]),
    ("[0, 60000]", [0, 60000], [-1, 60001]),
    ("(0, 1)", [0.5], [0, 1]),
    ("[0, 1)", [0, 0.999], [1, -0.1, float("nan")]),
    ("report | paper", ["report", "paper"], ["Report", "", 1]),
    ("auto | cpu | cuda | cuda:N", ["auto", "cuda", "cuda:12"], ["cuda:", "cuda:x", "gpu"]),
])
def test_a_rule_admits_exactly_its_values(text, good, bad):
    rule = parameters.Rule(text)
    assert all(rule.admits(v) for v in good) and not any(rule.admits(v) for v in bad)


def test_list_rules_apply_to_each_element_and_to_the_length():
    rule = parameters.Rule("(0, inf), non-empty")
    assert rule.problem([4.0, 8.0]) is None and rule.problem([]) == "must not be empty"
    assert "-5" in parameters.Rule("(0, inf)").problem([4, -5])
    assert parameters.Rule("[0, 1), length 2").problem([0.5]) == "must have 2 elements"


def test_prose_comments_are_not_rules():
    for comment in ('"auto": CUDA when present', "0 keeps all 60,000 images", "also train constant-beta VAEs",
                    "set by run_all.sh (smoke, cpu or full); names the report folder", ""):
        assert parameters.parse_rule(comment) is None
    assert parameters.parse_rule("[1, inf): the cpu profile's length").values == "[1, inf)"


@pytest.mark.parametrize("stem", parameters.notebook_stems())
def test_every_parameter_declares_its_valid_values_and_its_default_obeys_them(stem):
    declared, rules = parameters.declared_parameters(stem), parameters.declared_rules(stem)
    undeclared = [name for name, default in declared.items()
                  if name not in rules and name != "profile" and not isinstance(default, bool)]
    assert not undeclared, f"{stem}: no rule beside {undeclared}"
    parameters.check_rules(stem, declared)   # the defaults themselves are valid


@pytest.mark.parametrize("override, stem, named", [
    ("threshold=2", "01_vae", "'threshold' = 2.0"),
    ("set_points=[-5]", "02_controlvae", "'set_points' = [-5.0] holds -5.0"),
    ("set_points=[]", "02_controlvae", "must not be empty"),
    ("alpha=-1", "05_ssgan", "'alpha' = -1.0"),
    ("report_n_critic=-1", "04_wgan", "'report_n_critic' = -1"),
    ("train_limit=10000000", "01_vae", "[0, 60000]"),
    ("epochs=0", "01_vae", "'epochs' = 0"),
    ("batch_size=0", "03_gan_pixelshuffle", "'batch_size' = 0"),
    ("fid_n_classifier=1", "01_vae", "'fid_n_classifier' = 1"),
    ("compare_settings=[foo]", "04_wgan", "'foo'"),
    ("device=gpu", "01_vae", "auto | cpu | cuda | cuda:N"),
    ("batch_size=300", "05_ssgan", "ablation_train_limit"),     # smoke: 512 images, the ablation 256
    ("beta_init=30", "02_controlvae", "beta_min <= beta_init <= beta_max"),
])
def test_values_of_the_right_type_but_outside_their_rule_are_refused_by_name(override, stem, named):
    with pytest.raises(parameters.ParameterError, match=re.escape(named)) as error:
        profiles.resolve(stem, "smoke", [override])
    assert stem in str(error.value)


# ----------------------------------------------------------------------------- input that does not parse (issue 26)

def _notebooks_copy(tmp_path, monkeypatch):
    """The repository's notebooks in ``tmp_path/notebooks``, which becomes the notebooks folder."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for notebook in parameters.NOTEBOOKS_DIR.glob("*.ipynb"):
        (folder / notebook.name).write_text(notebook.read_text())
    monkeypatch.setattr(parameters, "NOTEBOOKS_DIR", folder)
    return folder


def test_a_notebook_that_is_not_json_is_refused_naming_it(tmp_path, monkeypatch):
    path = _notebooks_copy(tmp_path, monkeypatch) / "02_controlvae.ipynb"
    path.write_text(path.read_text()[:-100])   # cut short, as by a full disk
    with pytest.raises(parameters.ParameterError, match=rf"^{re.escape(str(path))}, line \d+, column \d+: not a notebook, "
                                                    "its JSON does not parse: "):
        parameters.declared_parameters("02_controlvae")


@pytest.mark.parametrize("bad_line, problem", [
    ("epochs = 20 20", "syntax error: invalid syntax"),
    ("epochs = (20", "syntax error: '(' was never closed"),
    ("    epochs = 20", "syntax error: unexpected indent"),
    ("epochs = 2 * 10", "the default of 'epochs' is not a literal"),
])
def test_a_parameters_cell_that_does_not_parse_is_refused_naming_the_notebook_and_line(
        tmp_path, monkeypatch, bad_line, problem):
    path = _notebooks_copy(tmp_path, monkeypatch) / "01_vae.ipynb"
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("epochs ="))
    lines[broken] = bad_line
    cell["source"] = "\n".join(lines)
    path.write_text(json.dumps(notebook))
    with pytest.raises(parameters.ParameterError,
                       match=rf"^{re.escape(str(path))}, parameters cell, line {broken + 1}: {re.escape(problem)}"):
        parameters.declared_parameters("01_vae")
