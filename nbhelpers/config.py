"""Notebook parameters: declared once, overridden strictly, validated before any work.

Where a value comes from, later sources winning:
1. the notebook's cell tagged ``parameters`` (papermill's convention): the declared names,
   their defaults, and therefore their types;
2. ``params/<profile>/_all.yaml``: values every study notebook (``facts.STUDY_NOTEBOOKS``)
   of that profile shares (FID sample counts, device), so that numbers stay comparable across
   notebooks; every study notebook must declare each of its keys. Its ``seeds`` list is the
   batch's, not a notebook parameter: each run gets one ``seed`` (``resolve(..., seed=k)``);
3. ``params/<profile>/_gan.yaml``: values the GAN notebooks (``facts.GAN_NOTEBOOKS``) share
   (training length, evaluation schedule, optimiser, sizes), so that their curves overlay;
   each key applies to every GAN notebook that declares it, and a key that none declares
   is an error;
4. ``params/<profile>/<stem>.yaml``;
5. command-line overrides ``KEY=VALUE`` or ``STEM.KEY=VALUE`` (values parsed as YAML).

An unknown key or a value of the wrong type is an error that names it (papermill itself
would only warn and carry on). An int is accepted where a float is declared.
"""
import ast
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from .facts import GAN_NOTEBOOKS, STUDY_NOTEBOOKS
from .paths import NOTEBOOKS_DIR, PARAMS_DIR

PROFILES = ("smoke", "cpu", "full")
SHARED_FILE = "_all.yaml"
GROUP_FILES = {"_gan.yaml": GAN_NOTEBOOKS}   # a file of values shared by a group of notebooks
CHOSEN_BY_THE_BATCH = ("profile", "seed")    # set per run by ./run_all.sh, never by files or --set


class ParameterError(ValueError):
    """A parameter is unknown, mistyped, or a profile/notebook does not exist."""


def notebook_stems() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(stem: str) -> dict:
    """Names and default values of the notebook's ``parameters`` cell, in order."""
    path = NOTEBOOKS_DIR / f"{stem}.ipynb"
    if not path.exists():
        raise ParameterError(f"unknown notebook {stem!r}; available: {', '.join(notebook_stems())}")
    cells = [c for c in json.loads(path.read_text())["cells"]
             if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path} must have exactly one cell tagged 'parameters' (found {len(cells)})")
    source = "".join(cells[0]["source"])
    declared = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ParameterError(f"{path}: the parameters cell may hold only 'name = literal' lines")
        declared[node.targets[0].id] = ast.literal_eval(node.value)
    return declared


def check_value(name: str, value, default):
    """``value`` converted to the declared type of ``default``, or ParameterError."""
    if default is None:  # declared without a type: anything goes
        return value
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ParameterError(f"parameter {name!r} must be {expected.__name__} (default {default!r}), "
                             f"got {type(value).__name__} {value!r}")
    if expected is list and default and value:
        element_type = type(default[0])
        return [check_value(f"{name}[{i}]", v, default[0]) if element_type in (int, float, str, bool) else v
                for i, v in enumerate(value)]
    return value


def _load_yaml(path: Path) -> dict:
    if not path.exists():
        return {}
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise ParameterError(f"{path} must be a mapping of parameter names to values")
    return content


def parse_override(text: str) -> tuple[str | None, str, object]:
    """``KEY=VALUE`` or ``STEM.KEY=VALUE`` -> (stem or None, key, YAML-parsed value)."""
    if "=" not in text:
        raise ParameterError(f"override {text!r} must look like KEY=VALUE")
    key, raw = text.split("=", 1)
    stem, _, key = key.strip().rpartition(".")
    return stem or None, key, yaml.safe_load(raw) if raw.strip() else ""


def profile_seeds(profile: str) -> list[int]:
    """The ``seeds`` of ``params/<profile>/_all.yaml`` (default [0]): distinct ints >= 0."""
    path = PARAMS_DIR / profile / SHARED_FILE
    return check_seeds(_load_yaml(path).get("seeds", [0]), f"{path}: seeds")


def check_seeds(seeds, where: str = "seeds") -> list[int]:
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                           for s in seeds):
        raise ParameterError(f"{where} must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"{where} lists a seed twice: {seeds}")
    return list(seeds)


def parse_seeds(text: str) -> list[int]:
    """``--seeds 0,1,2`` -> [0, 1, 2]."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ParameterError(f"--seeds takes integers separated by commas, e.g. 0,1,2; got {text!r}") from None
    return check_seeds(seeds, "--seeds")


def _group_values(path: Path, group, stem: str) -> dict:
    """The values of a group file that ``stem`` declares; a key no notebook of the group
    declares is an error naming the file."""
    content = _load_yaml(path)
    declared_by_group = {key for member in group for key in declared_parameters(member)}
    unknown = sorted(set(content) - declared_by_group)
    if unknown:
        raise ParameterError(f"{path}: {', '.join(map(repr, unknown))} is declared by none of {', '.join(group)}")
    return {key: value for key, value in content.items() if key in declared_parameters(stem)}


def resolve(stem: str, profile: str, overrides: list[str] = (), seed: int | None = None) -> dict:
    """The validated parameters for one notebook run (with ``seed``, for that training seed)."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    declared = declared_parameters(stem)
    allowed = ", ".join(k for k in declared if k not in CHOSEN_BY_THE_BATCH)
    values = dict(declared)
    shared = {k: v for k, v in _load_yaml(PARAMS_DIR / profile / SHARED_FILE).items() if k != "seeds"}
    layers = [(PARAMS_DIR / profile / SHARED_FILE, shared)] if stem in STUDY_NOTEBOOKS else []
    layers += [(PARAMS_DIR / profile / name, _group_values(PARAMS_DIR / profile / name, group, stem))
               for name, group in GROUP_FILES.items() if stem in group]
    layers.append((PARAMS_DIR / profile / f"{stem}.yaml", _load_yaml(PARAMS_DIR / profile / f"{stem}.yaml")))
    for path, content in layers:
        for key, value in content.items():
            if key in CHOSEN_BY_THE_BATCH:
                raise ParameterError(f"{path}: {key!r} cannot be set in a parameter file; the batch chooses it "
                                     f"(--profile, and seeds: in {SHARED_FILE} or --seeds)")
            if key not in declared:
                raise ParameterError(f"{path}: unknown parameter {key!r} for {stem}; allowed: {allowed}")
            values[key] = check_value(key, value, declared[key])
    for text in overrides:
        target, key, value = parse_override(text)
        if key == "profile":
            raise ParameterError("the profile is chosen with --profile, not overridden")
        if key == "seed":
            raise ParameterError("the seed is chosen with --seeds (e.g. --seeds 1 or --seeds 0,1,2), not overridden")
        if target not in (None, stem) or (target is None and key not in declared):
            continue  # meant for another notebook; check_overrides() rejects keys nobody declares
        if key not in declared:
            raise ParameterError(f"unknown parameter {key!r} for {stem}; allowed: {allowed}")
        values[key] = check_value(key, value, declared[key])
    if seed is not None and "seed" in declared:
        values["seed"] = check_value("seed", seed, declared["seed"])
    values["profile"] = profile
    return values


def check_overrides(stems: list[str], overrides: list[str]) -> None:
    """Every override must name a parameter of at least one selected notebook."""
    for text in overrides:
        target, key, _ = parse_override(text)
        if key in ("profile", "seed"):
            raise ParameterError(f"override {text!r}: the {key} is chosen with --{key}{'s' if key == 'seed' else ''}, "
                                 f"not with --set")
        targets = [target] if target else stems
        if target and target not in stems:
            raise ParameterError(f"override {text!r} names notebook {target!r}, which is not selected")
        if not any(key in declared_parameters(s) for s in targets):
            allowed = sorted({k for s in targets for k in declared_parameters(s)} - set(CHOSEN_BY_THE_BATCH))
            raise ParameterError(f"unknown parameter {key!r} in override {text!r}; allowed: {', '.join(allowed)}")


def notebook_params(stem: str, namespace: dict) -> SimpleNamespace:
    """Inside a notebook: collect and re-check the parameters after papermill's injection.

    ``namespace`` is the notebook's ``globals()``. Returns the values as attributes and
    prints them, so every report shows what it ran with.
    """
    declared = declared_parameters(stem)
    values = {name: check_value(name, namespace[name], default) for name, default in declared.items()}
    width = max(map(len, values))
    print("\n".join(f"{name:<{width}}  {value!r}" for name, value in values.items()))
    return SimpleNamespace(**values)


def main(argv=None) -> int:
    """``python -m nbhelpers.config STEM PROFILE [KEY=VALUE ...]``: print the resolved YAML."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    try:
        print(yaml.safe_dump(resolve(args[0], args[1], args[2:]), sort_keys=False), end="")
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
