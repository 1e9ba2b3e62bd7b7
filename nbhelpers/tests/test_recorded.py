"""One-off studies answered once: 02's Ki comparison is off by default in the cpu profile, one
``--set`` away, and a run that skips it shows the recorded result when it has its settings."""
from types import SimpleNamespace

from nbhelpers.report import profiles
from nbhelpers.studies import recorded

STEM, SWITCH = "02_controlvae", "ki_comparison"


def test_the_cpu_profile_skips_the_ki_comparison_and_one_set_runs_it_on_the_first_seed():
    first = profiles.first_seed("cpu", profiles.profile_seeds("cpu"))
    assert profiles.resolve(STEM, "cpu", seed=first, first_seed=first)[SWITCH] is False
    again = profiles.resolve(STEM, "cpu", [f"{STEM}.{SWITCH}=true"], seed=first, first_seed=first)
    assert again[SWITCH] is True and again["ki_comparison_epochs"] == 40
    # the smoke and full profiles keep theirs: smoke runs it (tiny), full never needs it
    assert profiles.resolve(STEM, "smoke")[SWITCH] is True and profiles.resolve(STEM, "full")[SWITCH] is False


def test_a_default_cpu_run_shows_the_recorded_comparison_with_its_commit_and_seed(capsys):
    params = SimpleNamespace(**profiles.resolve(STEM, "cpu", seed=2))
    shown = recorded.show_recorded(STEM, SWITCH, params)
    out = capsys.readouterr().out
    assert shown is not None and shown["commit"] in out and f"seed {shown['seed']}" in out
    assert f"--set {STEM}.{SWITCH}=true" in out and "8.42" in out and shown["finding"].split()[0] in out
    assert recorded.differing_settings(shown, vars(params)) == []
    assert recorded.recorded_path(STEM, SWITCH, "interactive") == recorded.recorded_path(STEM, SWITCH, "cpu")


def test_a_run_with_other_settings_is_told_why_nothing_recorded_is_shown(capsys):
    other = SimpleNamespace(**profiles.resolve(STEM, "cpu", [f"{STEM}.epochs=5"]))
    assert recorded.show_recorded(STEM, SWITCH, other) is None
    assert "used other settings (epochs 4 there, 5 here)" in capsys.readouterr().out
    smoke = SimpleNamespace(**profiles.resolve(STEM, "smoke", [f"{STEM}.{SWITCH}=false"]))
    assert recorded.show_recorded(STEM, SWITCH, smoke) is None
    assert "profile smoke has no recorded result of it" in capsys.readouterr().out
