import pytest

from nbhelpers import config


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
