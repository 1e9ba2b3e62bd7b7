"""Profiles: the values a notebook run gets, from the files of ``params/<profile>/`` layered over
the notebook's declared defaults (``parameters``), strictly overridden, validated before any work.

Where a value comes from, later sources winning (``parameter_files`` gives the files' order):
1. the notebook's cell tagged ``parameters`` (``parameters.declared_parameters``): the declared
   names, their defaults, and therefore their types;
2. ``params/<profile>/_all.yaml``: values every study notebook (``paths.STUDY_NOTEBOOKS``)
   of that profile shares (FID sample counts, device), so that numbers stay comparable across
   notebooks; every study notebook must declare each of its keys. Its profile keys
   (``PROFILE_KEYS``) are the batch's and the summary's, not notebook parameters:
   ``seeds``, the evaluation seeds of a batch run (each run gets one ``seed``:
   ``resolve(..., seed=k)``); ``tuning_seeds``, those its settings were chosen on, and
   ``exploratory_seeds``, those whose results were seen before or while the claims' registry was
   written (each never in a verdict, never among ``seeds``, a batch runs them only when
   ``--seeds`` names them); ``deviations`` from the original report, each with its
   reason; ``later_seeds``, per notebook the values that switch its explorations off for every
   seed but the batch's first evaluation seed (``resolve(..., first_seed=...)``, applied last);
   ``first_seed_only``, the notebooks no claim reads, which a batch runs for that seed alone;
   ``notebooks``, the study notebooks a batch of the profile runs (default: all); and
   ``extends``, a profile whose files apply first, this profile's own files over them
   (the length study, ``lengths``, is the cpu profile at other lengths);
3. ``params/<profile>/_gan.yaml``: values the GAN notebooks (``paths.GAN_NOTEBOOKS``) share
   (training length, evaluation schedule, optimiser, sizes), so that their curves overlay;
   each key applies to every GAN notebook that declares it, and a key that none declares
   is an error;
4. ``params/<profile>/<stem>.yaml``, where the profile changes that notebook's own values (the
   summary has none: its values are its defaults and the shared file's);
5. command-line overrides ``KEY=VALUE`` or ``STEM.KEY=VALUE`` (values parsed as YAML).

An unknown key or a value of the wrong type or outside its rule is an error that names it
(``parameters.ParameterError``), and so is a missing shared or group file (2., 3.: without it
the notebooks' defaults would run as the profile, seeds and all).

    python -m nbhelpers.report.profiles STEM PROFILE [KEY=VALUE ...]   # print the resolved YAML
"""
import sys
from pathlib import Path

import yaml

from nbhelpers.paths import GAN_NOTEBOOKS, PARAMS_DIR, STUDY_NOTEBOOKS
from nbhelpers.report.parameters import ParameterError, check_rules, check_value, declared_parameters, repo_relative

PROFILES = ("smoke", "cpu", "full", "lengths")
SHARED_FILE = "_all.yaml"
GROUP_FILES = {"_gan.yaml": GAN_NOTEBOOKS}   # a file of values shared by a group of notebooks
CHOSEN_BY_THE_BATCH = ("profile", "seed")    # set per run by ./run_all.sh, never by files or --set
PROFILE_KEYS = ("seeds", "tuning_seeds", "exploratory_seeds", "deviations", "later_seeds",
                "first_seed_only", "notebooks", "extends")   # _all.yaml keys that are no parameters
# Profiles without a folder of their own: a notebook run from JupyterLab ("interactive") has
# the cpu profile's values (test_profiles checks it), so it is declared by the cpu profile's file.
DECLARED_BY = {"interactive": "cpu"}
SEED_LIMIT = 2**32   # numpy and torch take seeds in [0, 2**32 - 1]

def _yaml_problem(error: yaml.YAMLError) -> tuple[str, str]:
    """(", line L, column C" or "", what is wrong) of a YAML error, on one line."""
    mark = getattr(error, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return where, " ".join((f"{problem} ({context})" if context else problem).split())


def _load_yaml(path: Path, required: bool = False) -> dict:
    """The mapping in the YAML file ``path``; a file that is not ``required`` may be missing ({})."""
    if not path.exists():
        if required:
            raise ParameterError(f"{repo_relative(path)} is missing: every profile has one (without it the "
                                 "notebooks' defaults would run unannounced); restore it, e.g. with git")
        return {}
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        where, problem = _yaml_problem(error)
        raise ParameterError(f"{repo_relative(path)}{where}: could not parse YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError(f"{repo_relative(path)}: cannot read it: {error}") from None
    if not isinstance(content, dict):
        raise ParameterError(f"{repo_relative(path)} must be a mapping of parameter names to values")
    return content


def parse_override(text: str) -> tuple[str | None, str, object]:
    """``KEY=VALUE`` or ``STEM.KEY=VALUE`` -> (stem or None, key, YAML-parsed value)."""
    if "=" not in text:
        raise ParameterError(f"override {text!r} must look like KEY=VALUE")
    key, raw = text.split("=", 1)
    stem, _, key = key.strip().rpartition(".")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        where = f" (line {error.problem_mark.line + 1}, column {error.problem_mark.column + 1})" \
            if getattr(error, "problem_mark", None) else ""
        raise ParameterError(f"override {text!r}: {raw!r} is not a YAML value{where}: "
                             f"{getattr(error, 'problem', None) or error}; e.g. 3, 0.5, true, [4, 8]") from None
    return stem or None, key, value


def profile_seeds(profile: str) -> list[int]:
    """The evaluation ``seeds`` of ``params/<profile>/_all.yaml`` (default [0]): distinct ints >= 0."""
    return declarations(profile)["seeds"]


def tuning_seeds(profile: str) -> list[int]:
    """The seeds the profile's settings were chosen on (``tuning_seeds``; default none)."""
    return declarations(profile)["tuning_seeds"]


def first_seed(profile: str, seeds: list[int]) -> int:
    """The batch's first evaluation seed: the first of ``seeds`` that is neither a tuning nor an
    exploratory seed (without one, the first that is no tuning seed, else the first of ``seeds``).
    The explorations of ``later_seeds`` run for it alone."""
    declared = declarations(profile)
    tuning, exploratory = set(declared["tuning_seeds"]), set(declared["exploratory_seeds"])
    return next((seed for seed in seeds if seed not in tuning | exploratory),
                next((seed for seed in seeds if seed not in tuning), seeds[0]))


def declarations(profile: str) -> dict:
    """What ``params/<profile>/_all.yaml`` declares beside the parameters, checked:
    {"seeds", "tuning_seeds", "exploratory_seeds", "deviations": [{"deviation", "reason"}], "later_seeds": {stem:
    {parameter: value}}, "first_seed_only": [stem], "notebooks": [stem], "extends": profile or None, "source": the
    file}. A profile in ``DECLARED_BY`` reads another's. Evaluation seeds may be exploratory too (a profile that
    only explores, as ``lengths``: its summary gives no verdict of the registry's)."""
    name = DECLARED_BY.get(profile, profile)
    if name not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    path = PARAMS_DIR / name / SHARED_FILE
    content = _load_yaml(path, required=True)
    seeds = check_seeds(content.get("seeds", [0]), f"{path}: seeds")
    tuning = check_seeds(content.get("tuning_seeds", []), f"{path}: tuning_seeds", empty=True)
    if overlap := sorted(set(seeds) & set(tuning)):
        raise ParameterError(f"{path}: seeds {overlap} are also tuning seeds; the evaluation seeds must be others "
                             f"(a tuning seed may still be run with --seeds, and the summary keeps it out of verdicts)")
    exploratory = check_seeds(content.get("exploratory_seeds", []), f"{path}: exploratory_seeds", empty=True)
    if overlap := sorted(set(exploratory) & set(tuning)):
        raise ParameterError(f"{path}: exploratory_seeds {overlap} are also tuning seeds; a seed is one or the other "
                             f"(the summary keeps both out of verdicts)")
    deviations = content.get("deviations", [])
    if not isinstance(deviations, list) or not all(
            isinstance(d, dict) and set(d) == {"deviation", "reason"} and all(isinstance(v, str) and v for v in d.values())
            for d in deviations):
        raise ParameterError(f"{path}: deviations must be a list of {{deviation: text, reason: text}}, got {deviations!r}")
    later = content.get("later_seeds", {}) or {}
    if not isinstance(later, dict) or not all(isinstance(v, dict) for v in later.values()):
        raise ParameterError(f"{path}: later_seeds must map a notebook to {{parameter: value}}, got {later!r}")
    for stem, values in later.items():
        if stem not in STUDY_NOTEBOOKS:
            raise ParameterError(f"{path}: later_seeds names {stem!r}, which is not a study notebook "
                                 f"({', '.join(STUDY_NOTEBOOKS)})")
        declared = declared_parameters(stem)
        for key, value in values.items():
            if key not in declared or key in CHOSEN_BY_THE_BATCH:
                raise ParameterError(f"{path}: later_seeds: {stem} declares no parameter {key!r}")
            check_value(key, value, declared[key])
    alone = content.get("first_seed_only", []) or []
    if not isinstance(alone, list) or not all(stem in STUDY_NOTEBOOKS for stem in alone):
        raise ParameterError(f"{path}: first_seed_only must list study notebooks ({', '.join(STUDY_NOTEBOOKS)}), "
                             f"got {alone!r}")
    runs = content.get("notebooks", list(STUDY_NOTEBOOKS))
    if not isinstance(runs, list) or not runs or not all(stem in STUDY_NOTEBOOKS for stem in runs):
        raise ParameterError(f"{path}: notebooks must list study notebooks ({', '.join(STUDY_NOTEBOOKS)}), got {runs!r}")
    return {"seeds": seeds, "tuning_seeds": tuning, "exploratory_seeds": exploratory, "deviations": deviations,
            "later_seeds": later, "first_seed_only": alone, "notebooks": runs, "extends": _extends(path, content),
            "source": f"params/{name}/{SHARED_FILE}"}


def _extends(path: Path, content: dict) -> str | None:
    """The profile that ``content`` (of ``path``, a shared file) extends, checked: one of the other
    profiles, itself extending none."""
    base = content.get("extends")
    if base is None:
        return None
    if base not in PROFILES or base == path.parent.name:
        raise ParameterError(f"{path}: extends must name another profile ({', '.join(PROFILES)}), got {base!r}")
    if _load_yaml(PARAMS_DIR / base / SHARED_FILE, required=True).get("extends") is not None:
        raise ParameterError(f"{path}: extends {base!r}, which extends another profile; one level only")
    return base


def check_seeds(seeds, where: str = "seeds", empty: bool = False) -> list[int]:
    """``seeds`` as a list of distinct seeds that numpy and torch accept, or ParameterError."""
    if not isinstance(seeds, list) or not (seeds or empty) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < SEED_LIMIT for s in seeds):
        raise ParameterError(f"{where} must be a {'' if empty else 'non-empty '}list of integers in "
                             f"[0, {SEED_LIMIT - 1}] (the seeds numpy and torch accept), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"{where} lists a seed twice: {seeds}")
    return list(seeds)


def parse_seeds(text: str) -> list[int]:
    """``--seeds 0,1,2`` -> [0, 1, 2]; one that names no seed (``--seeds ""``) is an error."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ParameterError(f"--seeds takes integers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if not seeds:
        raise ParameterError(f"--seeds {text!r} names no seed; give one or more, e.g. --seeds 1,2,3, or leave "
                             "--seeds out for the profile's")
    return check_seeds(seeds, "--seeds")


def _group_values(path: Path, group, stem: str, required: bool = True) -> dict:
    """The values of a group file that ``stem`` declares; a key no notebook of the group
    declares is an error naming the file."""
    content = _load_yaml(path, required=required)
    declared_by_group = {key for member in group for key in declared_parameters(member)}
    unknown = sorted(set(content) - declared_by_group)
    if unknown:
        raise ParameterError(f"{path}: {', '.join(map(repr, unknown))} is declared by none of {', '.join(group)}")
    return {key: value for key, value in content.items() if key in declared_parameters(stem)}


def parameter_files(stem: str, profile: str) -> list[tuple[Path, dict]]:
    """The parameter files of ``profile`` that apply to ``stem``, in the order they apply (a later
    one wins), each with the values it sets: the shared file for a study notebook (its profile
    keys aside), each group file of a group that holds ``stem`` (the keys ``stem`` declares),
    then ``stem``'s own file; a profile that ``extends`` another has the other's files first (its
    own group files may then be missing). ``resolve`` and ``value_sources`` both read them from here."""
    folder = PARAMS_DIR / profile
    shared = _load_yaml(folder / SHARED_FILE, required=True)
    base = _extends(folder / SHARED_FILE, shared)
    files = parameter_files(stem, base) if base else []
    if stem in STUDY_NOTEBOOKS:
        files.append((folder / SHARED_FILE, {k: v for k, v in shared.items() if k not in PROFILE_KEYS}))
    files += [(folder / name, _group_values(folder / name, group, stem, required=base is None))
              for name, group in GROUP_FILES.items() if stem in group]
    files.append((folder / f"{stem}.yaml", _load_yaml(folder / f"{stem}.yaml")))
    return files


def resolve(stem: str, profile: str, overrides: list[str] = (), seed: int | None = None,
            first_seed: int | None = None) -> dict:
    """The validated parameters for one notebook run (with ``seed``, for that training seed).
    With ``first_seed`` (the batch's first evaluation seed, ``first_seed(profile, seeds)``), a
    ``seed`` other than it also gets the profile's ``later_seeds`` values for ``stem``, last
    (over the files and overrides): its explorations run for the first evaluation seed only."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    declared = declared_parameters(stem)
    allowed = ", ".join(k for k in declared if k not in CHOSEN_BY_THE_BATCH)
    values = dict(declared)
    profile_block = declarations(profile)
    for path, content in parameter_files(stem, profile):
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
    if first_seed is not None and seed is not None and seed != first_seed:
        for key, value in profile_block["later_seeds"].get(stem, {}).items():
            values[key] = check_value(key, value, declared[key])
    values["profile"] = profile
    check_rules(stem, values)
    return values


OVERRIDDEN = "override (--set)"   # a value that no parameter file gives


def value_sources(stem: str, profile: str, values: dict) -> dict:
    """Where each of a run's resolved ``values`` came from, in ``resolve``'s layering: "notebook
    default", the last parameter file that sets it (``params/<profile>/...``), the profile's
    ``later_seeds`` (a seed after the first), or OVERRIDDEN when no file gives that value (``--set``,
    or a value the batch changed, e.g. a dry run's sample counts). ``profile`` and ``seed`` are
    the batch's. A profile without files (``interactive``): the notebook's cell, default or edited."""
    declared = declared_parameters(stem)
    if profile not in PROFILES:
        return {key: "notebook default" if value == declared.get(key) else "set in the notebook"
                for key, value in values.items()}
    where = {key: ("notebook default", default) for key, default in declared.items()}
    for path, content in parameter_files(stem, profile):
        for key, value in content.items():
            if key in where:
                where[key] = (f"params/{path.parent.name}/{path.name}", value)
    later = declarations(profile)["later_seeds"].get(stem, {})
    sources = {}
    for key, value in values.items():
        if key == "profile":
            sources[key] = "the batch (--profile)"
        elif key == "seed":
            sources[key] = f"the batch (seeds in params/{profile}/{SHARED_FILE}, or --seeds)"
        elif key in where and value == where[key][1]:
            sources[key] = where[key][0]
        elif key in later and value == later[key]:
            sources[key] = f"params/{profile}/{SHARED_FILE}: later_seeds (explorations on the first seed only)"
        else:
            sources[key] = OVERRIDDEN
    return sources


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


def main(argv=None) -> int:
    """``python -m nbhelpers.report.profiles STEM PROFILE [KEY=VALUE ...]``: print the resolved YAML."""
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
