"""One-off studies whose answer is recorded: a profile may switch such a study off (a parameter,
one ``--set`` away), and its notebook then shows the recorded result instead, with the commit,
profile and seed that produced it.

A recorded result is a data file, ``params/<profile>/recorded/<stem>.<switch>.yaml`` (``switch``:
the parameter that runs the study), holding what its run measured, never numbers in code:

    study: what was compared         commit, profile, seed, source: where the numbers come from
    settings: {parameter: value}     the run's values that decide the numbers
    tables: {title: [row, ...]}      the numbers, as rows
    finding: one paragraph           what they say

It is shown only to a run whose parameters have those ``settings``; otherwise the run says which
differ (the record answers another question).

    recorded.show_recorded("02_controlvae", "ki_comparison", P)
"""
from pathlib import Path

import pandas as pd
import yaml
from IPython.display import display

from nbhelpers.paths import PARAMS_DIR
from nbhelpers.report.profiles import DECLARED_BY

FOLDER = "recorded"


def recorded_path(stem: str, switch: str, profile: str) -> Path:
    """Where ``stem``'s recorded ``switch`` study of ``profile`` lies (an interactive run reads
    the profile whose values it has)."""
    return PARAMS_DIR / DECLARED_BY.get(profile, profile) / FOLDER / f"{stem}.{switch}.yaml"


def load(stem: str, switch: str, profile: str) -> dict | None:
    """The recorded study, or None when the profile has none."""
    path = recorded_path(stem, switch, profile)
    return yaml.safe_load(path.read_text()) if path.exists() else None


def differing_settings(record: dict, params: dict) -> list[str]:
    """The recorded settings that this run's parameters do not share, as text."""
    return [f"{key} {value!r} there, {params.get(key)!r} here" for key, value in record["settings"].items()
            if params.get(key) != value]


def show_recorded(stem: str, switch: str, params) -> dict | None:
    """When a run skips the study (``switch`` off): its recorded result, if one was recorded with
    this run's settings (a line, each table, the finding); else one line saying why none is
    shown. Returns the record shown, or None."""
    values = dict(vars(params))
    record = load(stem, switch, values["profile"])
    if record is None:
        print(f"{switch} is false: not run, and profile {values['profile']} has no recorded result of it")
        return None
    differ = differing_settings(record, values)
    if differ:
        print(f"{switch} is false: not run; its recorded result ({record['profile']} profile, commit "
              f"{record['commit']}) used other settings ({'; '.join(differ)}), so it is not shown")
        return None
    print(f"{switch} is false: not run here. Recorded on seed {record['seed']} of the {record['profile']} profile "
          f"at commit {record['commit']} ({record['source']}); `--set {stem}.{switch}=true` runs it again.")
    for title, rows in record["tables"].items():
        print(f"\n{title}:")
        display(pd.DataFrame(rows))
    print(f"\n{record['finding'].strip()}")
    return record
