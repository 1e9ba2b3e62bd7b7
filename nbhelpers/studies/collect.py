"""The records a summary reads: every study notebook's metrics record of each seed of one profile,
collected when they are comparable (``collect``), and what the profile declares beside them.

    collected = collect.collect(profile, seeds)   # records[stem][seed], the seeds, what was left out

A record joins only when its run finished, ran the code as it is now (nbhelpers and its
notebook: ``records.other_code``, so that a summary never pools two code states) and when its
parameters (other than the seed, and the explorations a profile runs for its first evaluation
seed only) match those of the other seeds of the same notebook; the others are listed by name in
``Collected.excluded`` and left out, never mixed in, and so is a folder named like a seed's that
is none (``records.misnamed_folders``). The seeds collected are those with a record joined. The
profile's tuning seeds (those its settings were chosen on) and exploratory seeds (those whose
results were seen before or while the claims' registry was written) may be collected and are
shown, labelled; no verdict uses them (``Collected.evaluation_seeds``).
"""
from dataclasses import dataclass, field

from nbhelpers import paths
from nbhelpers.report import context, profiles, records

IGNORED_PARAMS = ("seed", "profile", "device")   # what may differ between seeds of one notebook


@dataclass
class Collected:
    """The records of one profile: ``records[stem][seed]``, the seeds collected, what was left
    out, and what the profile declares (``profiles.declarations``)."""

    profile: str
    dry_run: bool = False           # read from the profile's dry-run folder (``paths.profile_folder``)
    records: dict = field(default_factory=dict)
    seeds: list = field(default_factory=list)
    excluded: list = field(default_factory=list)
    tuning_seeds: list = field(default_factory=list)
    exploratory_seeds: list = field(default_factory=list)
    deviations: list = field(default_factory=list)
    later_seeds: dict = field(default_factory=dict)
    first_seed_only: list = field(default_factory=list)
    declared_in: str = ""

    @property
    def evaluation_seeds(self) -> list:
        """The seeds a verdict may use: every collected seed but the tuning and exploratory seeds."""
        return [seed for seed in self.seeds if seed not in self.tuning_seeds and seed not in self.exploratory_seeds]

    def entries(self, stem: str, model: str) -> list:
        """The model's entry in each seed's record (None where a seed lacks it), seed order."""
        by_seed = self.records.get(stem, {})
        return [records.model(by_seed.get(seed), model) for seed in self.seeds]


def _ignored(stem: str, later_seeds: dict) -> set:
    """Parameters that may differ between seeds of ``stem``: the seed, profile and device, and
    the explorations its profile switches off after the first evaluation seed."""
    return set(IGNORED_PARAMS) | set(later_seeds.get(stem, {}))


def _signature(record: dict, ignored=IGNORED_PARAMS) -> tuple:
    """What must match between seeds: the parameters (but the ``ignored``) and the classifier
    weights that the classifier-feature numbers were measured with (the code is the current one:
    ``records.other_code``)."""
    params = {k: v for k, v in (record.get("params") or {}).items() if k not in ignored}
    return tuple(sorted((k, repr(v)) for k, v in params.items())), _classifier(record)


def _classifier(record: dict) -> str | None:
    return ((record.get("feature_extractors") or {}).get("classifier") or {}).get("sha256")


def _difference(record: dict, reference: dict, ignored=IGNORED_PARAMS) -> str:
    ours, theirs = record.get("params") or {}, reference.get("params") or {}
    changed = [f"{k} {ours.get(k)!r} vs {theirs.get(k)!r}" for k in sorted(set(ours) | set(theirs))
               if k not in ignored and ours.get(k) != theirs.get(k)]
    if _classifier(record) != _classifier(reference):
        changed.append(f"classifier weights {_classifier(record)} vs {_classifier(reference)}")
    return "; ".join(changed)


def collect(profile: str, seeds=None, tuning_seeds=None, dry_run: bool = False,
            current_code_only: bool = True) -> Collected:
    """The finished, mutually comparable records of every study notebook for ``seeds`` (default:
    every seed folder present) that ran the current code. Per notebook the most common
    parameters among its seeds are the reference (ties: the lowest seed's); other records are
    excluded by name, and the seeds collected are those with a record joined.
    ``tuning_seeds`` (default: the profile's declared ones) are collected but kept out of verdicts;
    ``dry_run`` (the notebook's ``run.batch.dry_run``) collects the profile's dry run.
    ``current_code_only=False`` also joins records of other code states (a benchmark comparing the
    numbers of runs made at another commit; a summary never does)."""
    declared = profiles.declarations(profile)
    seeds_given = bool(seeds)
    seeds = sorted(profiles.check_seeds(list(seeds), "seeds")) if seeds else records.seeds_present(profile, dry_run)
    tuning = declared["tuning_seeds"] if tuning_seeds is None else list(tuning_seeds)
    collected = Collected(profile, dry_run=dry_run, seeds=list(seeds), tuning_seeds=[s for s in tuning],
                          exploratory_seeds=list(declared["exploratory_seeds"]), deviations=declared["deviations"], later_seeds=declared["later_seeds"],
                          first_seed_only=declared["first_seed_only"], declared_in=declared["source"])
    if not seeds_given:
        collected.excluded += [f"folder {name}: {records.MISNAMED}"
                               for name in records.misnamed_folders(profile, dry_run)]
    package = context.package_digest()
    for stem in paths.STUDY_NOTEBOOKS:
        ignored = _ignored(stem, collected.later_seeds)
        current = context.current_code(stem, package)
        found = {}
        for seed in seeds:
            try:
                record = records.read(records.record_path(profile, stem, seed, dry_run))
            except records.DamagedRecord as damaged:
                collected.excluded.append(f"{stem}, seed {seed}: {damaged}")
                continue
            if record is None:
                continue
            if record.get("status") != "ok":
                collected.excluded.append(f"{stem}, seed {seed}: status {record.get('status')!r}, not ok")
                continue
            if wrong := records.misplaced(record, profile, stem, seed):
                collected.excluded.append(f"{stem}, seed {seed}: {wrong}")
                continue
            if current_code_only and (other := records.other_code(record, current)):
                collected.excluded.append(f"{stem}, seed {seed}: {other}")
                continue
            if twin := next((s for s, r in found.items() if _same_run(r, record)), None):
                collected.excluded.append(f"{stem}, seed {seed}: the same numbers as seed {twin} (a copy of its run)")
                continue
            found[seed] = record
        if not found:
            continue
        signatures = [_signature(r, ignored) for r in found.values()]
        reference = max(signatures, key=lambda s: (signatures.count(s), -signatures.index(s)))
        first = next(r for r in found.values() if _signature(r, ignored) == reference)
        for seed, record in list(found.items()):
            if _signature(record, ignored) != reference:
                collected.excluded.append(f"{stem}, seed {seed}: {_difference(record, first, ignored)} "
                                          f"(the other seeds' value last)")
                del found[seed]
        collected.records[stem] = found
    collected.seeds = [seed for seed in seeds if any(seed in found for found in collected.records.values())]
    return collected


def _same_run(one: dict, other: dict) -> bool:
    """Whether two records of a batch hold one run: the same environment and models' numbers,
    timings included (two seeds never give equal ones)."""
    return records.run_identity(one) is not None and records.run_identity(one) == records.run_identity(other)
