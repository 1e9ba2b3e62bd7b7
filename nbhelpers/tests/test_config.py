import json
import re

import pytest
import yaml

from nbhelpers import paths
from nbhelpers.batch import main, plan
from nbhelpers.report import config
from nbhelpers.studies import claims


def test_declared_parameters_come_from_the_parameters_cell():
    declared = config.declared_parameters("01_vae")
    assert list(declared)[:3] == ["profile", "seed", "device"]
    assert declared["threshold"] == 0.5 and isinstance(declared["epochs"], int)


def test_profile_files_override_defaults_and_set_the_profile():
    smoke = config.resolve("01_vae", "smoke")
    assert smoke["profile"] == "smoke"
    assert smoke["epochs"] < config.declared_parameters("01_vae")["epochs"]


def test_overrides_are_typed_and_int_is_accepted_for_float():
    values = config.resolve("01_vae", "smoke", ["epochs=3", "01_vae.lr=1", "threshold=0.25"])
    assert values["epochs"] == 3 and values["lr"] == 1.0 and isinstance(values["lr"], float)
    assert values["threshold"] == 0.25


@pytest.mark.parametrize("override, message", [
    ("epoch=3", "unknown parameter 'epoch'"),
    ("epochs=1.5", "'epochs' must be int"),
    ("epochs=true", "'epochs' must be int"),
    ("threshold=high", "'threshold' must be float"),
    ("profile=cpu", "--profile"),
    ("epochs", "KEY=VALUE"),
])
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(config.ParameterError, match=message):
        config.check_overrides(["01_vae"], [override])
        config.resolve("01_vae", "smoke", [override])


def test_unknown_parameter_error_lists_the_allowed_ones():
    with pytest.raises(config.ParameterError) as error:
        config.check_overrides(["01_vae"], ["epoch=3"])
    assert "epochs" in str(error.value) and "threshold" in str(error.value)


def test_unknown_profile_and_notebook():
    with pytest.raises(config.ParameterError, match="unknown profile 'gpu'"):
        config.resolve("01_vae", "gpu")
    with pytest.raises(config.ParameterError, match="unknown notebook '99_x'"):
        config.resolve("99_x", "smoke")


def test_override_for_another_notebook_is_ignored_here():
    values = config.resolve("01_vae", "smoke", ["02_controlvae.epochs=7"])
    assert values["epochs"] == config.resolve("01_vae", "smoke")["epochs"]


def test_every_profile_file_is_valid_for_every_notebook():
    for profile in config.PROFILES:
        for stem in config.notebook_stems():
            config.resolve(stem, profile)  # raises on an unknown key or a wrong type


def test_notebook_params_recheck_types_inside_the_kernel():
    namespace = dict(config.declared_parameters("01_vae"))
    namespace["epochs"] = "ten"
    with pytest.raises(config.ParameterError, match="'epochs' must be int"):
        config.notebook_params("01_vae", namespace)


def test_gan_values_are_written_once_and_reach_every_gan_notebook_that_declares_them():
    for profile in config.PROFILES:
        shared = config._load_yaml(config.PARAMS_DIR / profile / "_gan.yaml")
        assert {"epochs", "train_limit", "batch_size", "eval_every"} <= set(shared)
        for stem in paths.GAN_NOTEBOOKS:
            own = config._load_yaml(config.PARAMS_DIR / profile / f"{stem}.yaml")
            assert not set(shared) & set(own), f"{profile}/{stem}.yaml repeats a value of _gan.yaml"
            values = config.resolve(stem, profile)
            for key, value in shared.items():
                if key in config.declared_parameters(stem):
                    assert values[key] == value
    assert "lr_generator" not in config.resolve("04_wgan", "cpu")        # the WGAN has its own presets
    assert "epochs" in config.resolve("01_vae", "cpu")                   # _gan.yaml does not reach 01


def test_a_gan_file_key_that_no_gan_notebook_declares_is_refused(tmp_path, monkeypatch):
    for name in ("_all.yaml", "_gan.yaml"):
        (tmp_path / "smoke").mkdir(exist_ok=True)
        (tmp_path / "smoke" / name).write_text((config.PARAMS_DIR / "smoke" / name).read_text())
    with open(tmp_path / "smoke" / "_gan.yaml", "a") as handle:
        handle.write("lr_critic: 0.1\n")
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path)
    with pytest.raises(config.ParameterError, match="'lr_critic' is declared by none of 03_gan_pixelshuffle"):
        config.resolve("04_wgan", "smoke")
    assert config.resolve("01_vae", "smoke")["profile"] == "smoke"       # not a GAN notebook: unaffected


def test_notebooks_open_with_the_cpu_profiles_values():
    """A notebook run from the top in JupyterLab does what one cpu-profile run does: minutes on
    a CPU, never the report's 150 epochs or Inception on 10k samples."""
    for stem in paths.STUDY_NOTEBOOKS:
        declared, cpu = config.declared_parameters(stem), config.resolve(stem, "cpu")
        differ = {k: (v, cpu[k]) for k, v in declared.items() if k not in ("profile", "seed", "device") and v != cpu[k]}
        assert not differ, f"{stem}: defaults differ from the cpu profile: {differ}"
        assert declared["fid_n_inception"] <= 200 and declared.get("epochs", 0) <= 24


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
    rule = config.Rule(text)
    assert all(rule.admits(v) for v in good) and not any(rule.admits(v) for v in bad)


def test_list_rules_apply_to_each_element_and_to_the_length():
    rule = config.Rule("(0, inf), non-empty")
    assert rule.problem([4.0, 8.0]) is None and rule.problem([]) == "must not be empty"
    assert "-5" in config.Rule("(0, inf)").problem([4, -5])
    assert config.Rule("[0, 1), length 2").problem([0.5]) == "must have 2 elements"


def test_prose_comments_are_not_rules():
    for comment in ('"auto": CUDA when present', "0 keeps all 60,000 images", "also train constant-beta VAEs",
                    "set by run_all.sh (smoke, cpu or full); names the report folder", ""):
        assert config.parse_rule(comment) is None
    assert config.parse_rule("[1, inf): the cpu profile's length").values == "[1, inf)"


@pytest.mark.parametrize("stem", config.notebook_stems())
def test_every_parameter_declares_its_valid_values_and_its_default_obeys_them(stem):
    declared, rules = config.declared_parameters(stem), config.declared_rules(stem)
    undeclared = [name for name, default in declared.items()
                  if name not in rules and name != "profile" and not isinstance(default, bool)]
    assert not undeclared, f"{stem}: no rule beside {undeclared}"
    config.check_rules(stem, declared)   # the defaults themselves are valid


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
    with pytest.raises(config.ParameterError, match=re.escape(named)) as error:
        config.resolve(stem, "smoke", [override])
    assert stem in str(error.value)


def test_a_malformed_override_says_it_is_not_yaml():
    with pytest.raises(config.ParameterError, match=r"'\[1' is not a YAML value"):
        config.parse_override("epochs=[1")


# ----------------------------------------------------------------------------- seeds, deviations, first-seed-only explorations

def test_each_profile_declares_evaluation_seeds_apart_from_its_tuning_seeds_and_its_deviations():
    expected = {"smoke": [1, 2], "cpu": [1, 2, 3], "full": [1, 2, 3]}
    for profile in config.PROFILES:
        declared = config.declarations(profile)
        assert declared["seeds"] == expected[profile] == config.profile_seeds(profile)
        assert declared["tuning_seeds"] == [0] == config.tuning_seeds(profile)
        assert declared["deviations"] and all(d["deviation"] and d["reason"] for d in declared["deviations"])
        assert set(declared["later_seeds"]) == {"02_controlvae", "04_wgan", "05_ssgan"}
    assert config.declarations("interactive")["source"] == "params/cpu/_all.yaml"   # the notebooks' defaults


def _profile_copy(tmp_path, monkeypatch):
    """The smoke profile's shared files in ``tmp_path``, which becomes the params folder."""
    (tmp_path / "smoke").mkdir(exist_ok=True)
    for name in ("_all.yaml", "_gan.yaml"):
        (tmp_path / "smoke" / name).write_text((config.PARAMS_DIR / "smoke" / name).read_text())
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path)


def test_a_profile_whose_evaluation_seeds_include_a_tuning_seed_is_refused(tmp_path, monkeypatch):
    _profile_copy(tmp_path, monkeypatch)
    text = (tmp_path / "smoke" / "_all.yaml").read_text().replace("seeds: [1, 2] ", "seeds: [0, 1] ")
    (tmp_path / "smoke" / "_all.yaml").write_text(text)
    with pytest.raises(config.ParameterError, match=r"seeds \[0\] are also tuning seeds"):
        config.profile_seeds("smoke")
    with pytest.raises(config.ParameterError, match="also tuning seeds"):
        config.resolve("01_vae", "smoke")


def test_a_tuning_seed_may_still_be_run_on_request():
    assert config.parse_seeds("0") == [0]
    assert config.resolve("03_gan_pixelshuffle", "cpu", seed=0)["seed"] == 0
    assert config.first_seed("cpu", [0]) == 0                 # no evaluation seed: the explorations still run once
    assert config.first_seed("cpu", [0, 2, 3]) == 2


def test_explorations_run_for_the_first_evaluation_seed_only():
    seeds = config.profile_seeds("cpu")
    first = config.first_seed("cpu", seeds)
    assert first == 1
    full = config.resolve("02_controlvae", "cpu", seed=1, first_seed=first)
    later = config.resolve("02_controlvae", "cpu", ["02_controlvae.sweep_set_points=[5]"], seed=2, first_seed=first)
    assert full["sweep_set_points"] == [4.0, 20.0, 30.0] and full["constant_beta_runs"] is True
    assert later["sweep_set_points"] == [] and later["constant_beta_runs"] is False     # applied last
    assert config.resolve("04_wgan", "full", seed=3, first_seed=1)["compare_settings"] == []
    assert config.resolve("04_wgan", "full", seed=1, first_seed=1)["compare_settings"] == ["paper"]
    ssgan = config.resolve("05_ssgan", "cpu", seed=3, first_seed=1)
    assert ssgan["ablation_alphas"] == [] and ssgan["failure_demo"] is False
    assert config.resolve("02_controlvae", "cpu", seed=2) == {**full, "seed": 2}   # the old call: no first seed, no change
    assert config.resolve("01_vae", "cpu", seed=2, first_seed=1) == config.resolve("01_vae", "cpu", seed=2)


def test_a_batch_runs_first_seed_only_notebooks_once_unless_only_names_them():
    assert config.declarations("cpu")["first_seed_only"] == ["01_vae"]
    _, seeds, tasks = plan.plan(main.parse_args(["--profile", "cpu"]))
    runs = {(t.stem, t.seed) for t in tasks}
    assert seeds == [1, 2, 3] and ("01_vae", 1) in runs and ("01_vae", 2) not in runs and ("01_vae", 3) not in runs
    assert {("02_controlvae", s) for s in seeds} <= runs
    _, _, tasks = plan.plan(main.parse_args(["--profile", "cpu", "--only", "01_vae"]))
    assert [t.seed for t in tasks if t.stem == "01_vae"] == [1, 2, 3]
    _, _, tasks = plan.plan(main.parse_args(["--profile", "cpu", "--seeds", "0,2"]))   # the first evaluation seed: 2
    assert [t.seed for t in tasks if t.stem == "01_vae"] == [2]


def test_no_claim_reads_a_notebook_that_a_profile_runs_for_one_seed():
    read = {stem for claim in claims.REGISTRY for m in claim.primary for stem in (s.stem for s in m.sides)}
    for profile in config.PROFILES:
        assert not read & set(config.declarations(profile)["first_seed_only"]), profile


@pytest.mark.parametrize("extra, message", [
    ("later_seeds:\n  02_controlvae: {sweep: []}\n", "declares no parameter 'sweep'"),
    ("later_seeds:\n  07_other: {epochs: 1}\n", "not a study notebook"),
    ("later_seeds:\n  05_ssgan: {failure_demo: 3}\n", "'failure_demo' must be bool"),
    ("deviations: [shorter runs]\n", "deviations must be a list of"),
    ("tuning_seeds: [-1]\n", "tuning_seeds must be a list of integers"),
    ("first_seed_only: [01_vea]\n", "first_seed_only must list study notebooks"),
])
def test_bad_profile_declarations_are_refused_by_name(tmp_path, monkeypatch, extra, message):
    _profile_copy(tmp_path, monkeypatch)
    path = tmp_path / "smoke" / "_all.yaml"
    content = config._load_yaml(path)
    key = extra.split(":", 1)[0]
    content.pop(key, None)
    path.write_text(yaml.safe_dump(content) + extra)
    with pytest.raises(config.ParameterError, match=re.escape(message)):
        config.declarations("smoke")


# ----------------------------------------------------------------------------- input that does not parse (issue 26)

def _notebooks_copy(tmp_path, monkeypatch):
    """The repository's notebooks in ``tmp_path/notebooks``, which becomes the notebooks folder."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for notebook in config.NOTEBOOKS_DIR.glob("*.ipynb"):
        (folder / notebook.name).write_text(notebook.read_text())
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", folder)
    return folder


def test_a_params_file_that_is_not_yaml_is_refused_naming_the_file_and_line(tmp_path, monkeypatch):
    _profile_copy(tmp_path, monkeypatch)
    path = tmp_path / "smoke" / "_gan.yaml"
    lines = path.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("epochs:"))
    lines[broken] += ": 3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(config.ParameterError) as refused:
        config.resolve("03_gan_pixelshuffle", "smoke")
    assert re.fullmatch(rf"{re.escape(str(path))}, line {broken + 1}, column \d+: could not parse YAML: "
                        "mapping values are not allowed here", str(refused.value))
    assert config._shown(paths.PARAMS_DIR / "cpu" / "_gan.yaml") == "params/cpu/_gan.yaml"   # the repository's


def test_a_notebook_that_is_not_json_is_refused_naming_it(tmp_path, monkeypatch):
    path = _notebooks_copy(tmp_path, monkeypatch) / "02_controlvae.ipynb"
    path.write_text(path.read_text()[:-100])   # cut short, as by a full disk
    with pytest.raises(config.ParameterError, match=rf"^{re.escape(str(path))}, line \d+, column \d+: not a notebook, "
                                                    "its JSON does not parse: "):
        config.declared_parameters("02_controlvae")


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
    with pytest.raises(config.ParameterError,
                       match=rf"^{re.escape(str(path))}, parameters cell, line {broken + 1}: {re.escape(problem)}"):
        config.declared_parameters("01_vae")


def test_seeds_beyond_what_numpy_and_torch_take_are_refused_naming_the_range(tmp_path, monkeypatch):
    assert config.parse_seeds(str(2**32 - 1)) == [2**32 - 1]
    for text in (str(2**32), f"1,{2**40}", "-1"):
        with pytest.raises(config.ParameterError, match=re.escape("--seeds must be a non-empty list of integers in "
                                                                  "[0, 4294967295]")):
            config.parse_seeds(text)
    _profile_copy(tmp_path, monkeypatch)
    path = tmp_path / "smoke" / "_all.yaml"
    path.write_text(path.read_text().replace("seeds: [1, 2] ", f"seeds: [1, {2**32}] "))
    with pytest.raises(config.ParameterError, match=re.escape(f"[0, 4294967295] (the seeds numpy and torch accept), "
                                                              f"got [1, {2**32}]")):
        config.profile_seeds("smoke")
