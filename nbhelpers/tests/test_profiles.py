"""Profiles (``report.profiles``): the files of ``params/<profile>/`` layered over the declared
defaults, overrides, seeds and what a profile declares beside its parameters."""
import re

import pytest
import yaml

from nbhelpers import paths
from nbhelpers.batch import main, plan
from nbhelpers.report import parameters, profiles
from nbhelpers.studies import claims, collect


def test_profile_files_override_defaults_and_set_the_profile():
    smoke = profiles.resolve("01_vae", "smoke")
    assert smoke["profile"] == "smoke"
    assert smoke["epochs"] < parameters.declared_parameters("01_vae")["epochs"]


def test_overrides_are_typed_and_int_is_accepted_for_float():
    values = profiles.resolve("01_vae", "smoke", ["epochs=3", "01_vae.lr=1", "threshold=0.25"])
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
    with pytest.raises(parameters.ParameterError, match=message):
        profiles.check_overrides(["01_vae"], [override])
        profiles.resolve("01_vae", "smoke", [override])


def test_unknown_parameter_error_lists_the_allowed_ones():
    with pytest.raises(parameters.ParameterError) as error:
        profiles.check_overrides(["01_vae"], ["epoch=3"])
    assert "epochs" in str(error.value) and "threshold" in str(error.value)


def test_unknown_profile_and_notebook():
    with pytest.raises(parameters.ParameterError, match="unknown profile 'gpu'"):
        profiles.resolve("01_vae", "gpu")
    with pytest.raises(parameters.ParameterError, match="unknown notebook '99_x'"):
        profiles.resolve("99_x", "smoke")


def test_override_for_another_notebook_is_ignored_here():
    values = profiles.resolve("01_vae", "smoke", ["02_controlvae.epochs=7"])
    assert values["epochs"] == profiles.resolve("01_vae", "smoke")["epochs"]


def test_every_profile_file_is_valid_for_every_notebook():
    for profile in profiles.PROFILES:
        for stem in parameters.notebook_stems():
            profiles.resolve(stem, profile)  # raises on an unknown key or a wrong type


def test_gan_values_are_written_once_and_reach_every_gan_notebook_that_declares_them():
    for profile in profiles.PROFILES:
        shared = profiles._load_yaml(profiles.PARAMS_DIR / profile / "_gan.yaml")
        if profiles.declarations(profile)["extends"] is None:   # else the base profile's file holds them
            assert {"epochs", "train_limit", "batch_size", "eval_every"} <= set(shared)
        for stem in paths.GAN_NOTEBOOKS:
            own = profiles._load_yaml(profiles.PARAMS_DIR / profile / f"{stem}.yaml")
            assert not set(shared) & set(own), f"{profile}/{stem}.yaml repeats a value of _gan.yaml"
            values = profiles.resolve(stem, profile)
            for key, value in shared.items():
                if key in parameters.declared_parameters(stem):
                    assert values[key] == value
    assert "lr_generator" not in profiles.resolve("04_wgan", "cpu")        # the WGAN has its own presets
    assert "epochs" in profiles.resolve("01_vae", "cpu")                   # _gan.yaml does not reach 01


def test_a_gan_file_key_that_no_gan_notebook_declares_is_refused(tmp_path, monkeypatch):
    for name in ("_all.yaml", "_gan.yaml"):
        (tmp_path / "smoke").mkdir(exist_ok=True)
        (tmp_path / "smoke" / name).write_text((profiles.PARAMS_DIR / "smoke" / name).read_text())
    with open(tmp_path / "smoke" / "_gan.yaml", "a") as handle:
        handle.write("lr_critic: 0.1\n")
    monkeypatch.setattr(profiles, "PARAMS_DIR", tmp_path)
    with pytest.raises(parameters.ParameterError, match="'lr_critic' is declared by none of 03_gan_pixelshuffle"):
        profiles.resolve("04_wgan", "smoke")
    assert profiles.resolve("01_vae", "smoke")["profile"] == "smoke"       # not a GAN notebook: unaffected


def test_resolving_and_naming_a_values_source_read_the_files_in_one_order():
    """``resolve`` and ``value_sources`` both take the files from ``parameter_files``: each value a
    file gives is that of the last file that sets it, and is said to come from that file."""
    assert [path.name for path, _ in profiles.parameter_files("04_wgan", "cpu")] == \
        ["_all.yaml", "_gan.yaml", "04_wgan.yaml"]
    assert [path.name for path, _ in profiles.parameter_files("06_summary", "cpu")] == ["06_summary.yaml"]
    for profile in profiles.PROFILES:
        for stem in paths.STUDY_NOTEBOOKS:
            values = profiles.resolve(stem, profile)
            sources = profiles.value_sources(stem, profile, values)
            last = {}
            for path, content in profiles.parameter_files(stem, profile):
                last.update({key: (f"params/{path.parent.name}/{path.name}", value) for key, value in content.items()})
            assert last and "seeds" not in last, (profile, stem)   # the profile keys are no parameters
            for key, (source, value) in last.items():
                assert values[key] == value and sources[key] == source, (profile, stem, key)


def test_notebooks_open_with_the_cpu_profiles_values():
    """A notebook run from the top in JupyterLab does what one cpu-profile run does: minutes on
    a CPU, never the report's 150 epochs or Inception on 10k samples."""
    for stem in paths.STUDY_NOTEBOOKS:
        declared, cpu = parameters.declared_parameters(stem), profiles.resolve(stem, "cpu")
        differ = {k: (v, cpu[k]) for k, v in declared.items() if k not in ("profile", "seed", "device") and v != cpu[k]}
        assert not differ, f"{stem}: defaults differ from the cpu profile: {differ}"
        assert declared["fid_n_inception"] <= 200 and declared.get("epochs", 0) <= 24


def test_a_malformed_override_says_it_is_not_yaml():
    with pytest.raises(parameters.ParameterError, match=r"'\[1' is not a YAML value"):
        profiles.parse_override("epochs=[1")


# ----------------------------------------------------------------------------- seeds, deviations, first-seed-only explorations

def test_each_profile_declares_evaluation_seeds_apart_from_its_tuning_seeds_and_its_deviations():
    expected = {"smoke": [1, 2], "cpu": [11, 12, 13, 14, 15], "full": [11, 12, 13, 14, 15], "lengths": [1, 2, 3]}
    exploratory = {"smoke": [], "cpu": [1, 2, 3, 4], "full": [1, 2, 3, 4],   # seen before the registry's version 2
                   "lengths": [1, 2, 3]}                                      # the length study only explores
    for profile in profiles.PROFILES:
        declared = profiles.declarations(profile)
        assert declared["seeds"] == expected[profile] == profiles.profile_seeds(profile)
        assert declared["tuning_seeds"] == [0] == profiles.tuning_seeds(profile)
        assert declared["exploratory_seeds"] == exploratory[profile]
        assert declared["deviations"] and all(d["deviation"] and d["reason"] for d in declared["deviations"])
        if declared["extends"] is None:   # the length study runs no exploration (its own files)
            assert set(declared["later_seeds"]) == {"02_controlvae", "04_wgan", "05_ssgan"}
    assert profiles.declarations("interactive")["source"] == "params/cpu/_all.yaml"   # the notebooks' defaults


def _profile_copy(tmp_path, monkeypatch):
    """The smoke profile's shared files in ``tmp_path``, which becomes the params folder."""
    (tmp_path / "smoke").mkdir(exist_ok=True)
    for name in ("_all.yaml", "_gan.yaml"):
        (tmp_path / "smoke" / name).write_text((profiles.PARAMS_DIR / "smoke" / name).read_text())
    monkeypatch.setattr(profiles, "PARAMS_DIR", tmp_path)


def test_a_profile_whose_evaluation_seeds_include_a_tuning_seed_is_refused(tmp_path, monkeypatch):
    _profile_copy(tmp_path, monkeypatch)
    text = (tmp_path / "smoke" / "_all.yaml").read_text().replace("seeds: [1, 2] ", "seeds: [0, 1] ")
    (tmp_path / "smoke" / "_all.yaml").write_text(text)
    with pytest.raises(parameters.ParameterError, match=r"seeds \[0\] are also tuning seeds"):
        profiles.profile_seeds("smoke")
    with pytest.raises(parameters.ParameterError, match="also tuning seeds"):
        profiles.resolve("01_vae", "smoke")


def test_an_exploratory_seed_may_be_run_by_default_but_never_be_a_tuning_seed(tmp_path, monkeypatch):
    _profile_copy(tmp_path, monkeypatch)
    shared = (tmp_path / "smoke" / "_all.yaml").read_text()
    (tmp_path / "smoke" / "_all.yaml").write_text(shared + "exploratory_seeds: [2, 3]\n")
    declared = profiles.declarations("smoke")   # a profile that explores (the length study): run, never judged
    assert declared["seeds"] == [1, 2] and declared["exploratory_seeds"] == [2, 3]
    assert collect.Collected("smoke", seeds=[1, 2], exploratory_seeds=[2, 3], tuning_seeds=[0]).evaluation_seeds == [1]
    (tmp_path / "smoke" / "_all.yaml").write_text(shared + "exploratory_seeds: [0, 3]\n")
    with pytest.raises(parameters.ParameterError, match=r"exploratory_seeds \[0\] are also tuning seeds"):
        profiles.declarations("smoke")


def test_a_tuning_seed_may_still_be_run_on_request():
    assert profiles.parse_seeds("0") == [0]
    assert profiles.resolve("03_gan_pixelshuffle", "cpu", seed=0)["seed"] == 0
    assert profiles.first_seed("cpu", [0]) == 0                 # no evaluation seed: the explorations still run once
    assert profiles.first_seed("cpu", [0, 2, 3]) == 2            # exploratory seeds alone: the first of them
    assert profiles.first_seed("cpu", [0, 2, 12]) == 12           # the first evaluation seed comes first


def test_explorations_run_for_the_first_evaluation_seed_only():
    seeds = profiles.profile_seeds("cpu")
    first = profiles.first_seed("cpu", seeds)
    assert first == 11
    full = profiles.resolve("02_controlvae", "cpu", seed=first, first_seed=first)
    later = profiles.resolve("02_controlvae", "cpu", ["02_controlvae.sweep_set_points=[5]"], seed=2, first_seed=first)
    assert full["sweep_set_points"] == [4.0, 20.0, 30.0] and full["constant_beta_runs"] is True
    assert later["sweep_set_points"] == [] and later["constant_beta_runs"] is False     # applied last
    assert profiles.resolve("04_wgan", "full", seed=3, first_seed=1)["compare_settings"] == []
    assert profiles.resolve("04_wgan", "full", seed=1, first_seed=1)["compare_settings"] == ["paper"]
    ssgan = profiles.resolve("05_ssgan", "cpu", seed=3, first_seed=1)
    assert ssgan["ablation_alphas"] == [] and ssgan["failure_demo"] is False
    assert profiles.resolve("02_controlvae", "cpu", seed=2) == {**full, "seed": 2}   # the old call: no first seed, no change
    assert profiles.resolve("01_vae", "cpu", seed=2, first_seed=1) == profiles.resolve("01_vae", "cpu", seed=2)


def test_a_batch_runs_first_seed_only_notebooks_once_unless_only_names_them():
    assert profiles.declarations("cpu")["first_seed_only"] == ["01_vae"]
    _, seeds, tasks = plan.plan(main.parse_args(["--profile", "cpu"]))
    runs = {(t.stem, t.seed) for t in tasks}
    assert seeds == [11, 12, 13, 14, 15] and ("01_vae", 11) in runs and not {("01_vae", s) for s in seeds[1:]} & runs
    assert {("02_controlvae", s) for s in seeds} <= runs
    _, _, tasks = plan.plan(main.parse_args(["--profile", "cpu", "--only", "01_vae"]))
    assert [t.seed for t in tasks if t.stem == "01_vae"] == [11, 12, 13, 14, 15]
    _, _, tasks = plan.plan(main.parse_args(["--profile", "cpu", "--seeds", "0,2"]))   # the first evaluation seed: 2
    assert [t.seed for t in tasks if t.stem == "01_vae"] == [2]


def test_no_verdict_reads_a_notebook_that_a_profile_runs_for_one_seed():
    read = {stem for claim in claims.REGISTRY if claim.tested for m in claim.primary for stem in (s.stem for s in m.sides)}
    for profile in profiles.PROFILES:
        assert not read & set(profiles.declarations(profile)["first_seed_only"]), profile


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
    content = profiles._load_yaml(path)
    key = extra.split(":", 1)[0]
    content.pop(key, None)
    path.write_text(yaml.safe_dump(content) + extra)
    with pytest.raises(parameters.ParameterError, match=re.escape(message)):
        profiles.declarations("smoke")


# ----------------------------------------------------------------------------- input that does not parse (issue 26)

def test_a_params_file_that_is_not_yaml_is_refused_naming_the_file_and_line(tmp_path, monkeypatch):
    _profile_copy(tmp_path, monkeypatch)
    path = tmp_path / "smoke" / "_gan.yaml"
    lines = path.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("epochs:"))
    lines[broken] += ": 3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(parameters.ParameterError) as refused:
        profiles.resolve("03_gan_pixelshuffle", "smoke")
    assert re.fullmatch(rf"{re.escape(str(path))}, line {broken + 1}, column \d+: could not parse YAML: "
                        "mapping values are not allowed here", str(refused.value))
    assert parameters.repo_relative(paths.PARAMS_DIR / "cpu" / "_gan.yaml") == "params/cpu/_gan.yaml"   # the repository's


def test_seeds_beyond_what_numpy_and_torch_take_are_refused_naming_the_range(tmp_path, monkeypatch):
    assert profiles.parse_seeds(str(2**32 - 1)) == [2**32 - 1]
    for text in (str(2**32), f"1,{2**40}", "-1"):
        with pytest.raises(parameters.ParameterError, match=re.escape("--seeds must be a non-empty list of integers in "
                                                                  "[0, 4294967295]")):
            profiles.parse_seeds(text)
    _profile_copy(tmp_path, monkeypatch)
    path = tmp_path / "smoke" / "_all.yaml"
    path.write_text(path.read_text().replace("seeds: [1, 2] ", f"seeds: [1, {2**32}] "))
    with pytest.raises(parameters.ParameterError, match=re.escape(f"[0, 4294967295] (the seeds numpy and torch accept), "
                                                              f"got [1, {2**32}]")):
        profiles.profile_seeds("smoke")
