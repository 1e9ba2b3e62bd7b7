"""``reports/<profile>/index.html``: the report's claims with their verdicts at a glance, then
every report of a profile (this batch's and earlier ones', every seed, the last unfinished
attempt beside the good report), one line each with its status, duration, two or three headline
numbers and a thumbnail of its final samples. One row type, ``IndexRow``, built from a run's
record in one place (``IndexRow.from_record``), serves the index, the batch's summary in the
terminal and the executors' reports of each run. The claims come from the summary's record
(``summary.metrics.json``), each linked to its row in summary.html; the page is rendered from
``templates/index.html.j2``. A dry run's index (``dry_run``) reads the profile's dry-run folder
(``paths.profile_folder``)."""
import time
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from nbhelpers.batch.attempts import UNFINISHED, in_batch
from nbhelpers.files import atomic_save
from nbhelpers.paths import STUDY_NOTEBOOKS, SUMMARY_STEM, report_name, run_folder
from nbhelpers.report import profiles, records
from nbhelpers.report.record_schema import ModelEntry, problem
from nbhelpers.studies import claims as registry, summary

HEADLINE_NUMBERS = 3   # at most, per run


def claimed_models() -> dict:
    """Per notebook, the models that the registry's claims compare: their numbers head the
    notebook's line."""
    found = {}
    for claim in registry.REGISTRY:
        for name in claim.models:
            stem, _, model = name.partition("/")
            if model not in found.setdefault(stem, []):
                found[stem].append(model)
    return found


CLAIMED_MODELS = claimed_models()


def model_number(name: str, entry: dict) -> str | None:
    """One model's headline number: its final Inception KID (what the claims of sample quality
    read), else its latest classifier FID, else its latest Inception FID; only a finite number
    with its sample size (a damaged entry shows none)."""
    if problem(entry, ModelEntry):
        return None
    kid = records.kid(entry)
    if kid and kid.get("features") == "inception" and records.is_number(kid.get("mean")):
        return f"{name}: Inception KID {kid['mean']:.4f} (N={kid.get('n')})"
    for features in ("classifier", "inception"):
        row = records.latest_fid(entry, features)
        if row is not None and records.is_number(row.get("value")):
            return f"{name}: {features} FID {row['value']:.2f} (N={row.get('n')})"
    return None


def headline_numbers(stem: str, record: dict) -> tuple:
    """A run's two or three headline numbers: one per model the claims compare (for a notebook
    no claim reads, its first models), in the record's order, at most ``HEADLINE_NUMBERS``."""
    models = record.get("models") or {}
    names = [name for name in models if name in CLAIMED_MODELS.get(stem, [])] or list(models)
    numbers = [number for name in names if (number := model_number(name, models[name] or {}))]
    return tuple(numbers[:HEADLINE_NUMBERS])


@dataclass(frozen=True)
class IndexRow:
    """One run's attempt as the index and the terminal show it."""

    stem: str
    seed: int | None                # None: the summary
    status: str                     # ok, failed, interrupted, incomplete (attempts.mark_outcome)
    seconds: float | None           # wall time
    error: str | None = None        # what ended it, unless it is ok
    headline: str = ""              # the record's headline numbers, when it is ok
    numbers: tuple = ()             # the index's few headline numbers (``headline_numbers``), when it is ok
    attempt: str = ""               # "": the run's report; UNFINISHED: its last unfinished attempt
    run: str = ""                   # "this run" or "earlier run" (the index's rows)

    @classmethod
    def from_record(cls, stem: str, seed: int | None, record: dict, *, status: str = "unknown",
                    seconds: float | None = None, error: str | None = None, attempt: str = "",
                    run: str = "") -> "IndexRow":
        """The row of a run whose metrics file holds ``record``; ``status``, ``seconds`` and
        ``error`` stand in for what the record does not say. A record that fails its schema
        (``records.malformed``; one read from disk already has) is "damaged", its problem named."""
        if damaged := records.malformed(record):
            return cls(stem=stem, seed=seed, status="damaged", seconds=seconds, attempt=attempt, run=run,
                       error=f"its record is damaged ({damaged})")
        status = record.get("status", status)
        ok = status == "ok"
        return cls(stem=stem, seed=seed, status=status, seconds=record.get("wall_seconds", seconds),
                   error=None if ok else record.get("error", error), headline=records.headline(record) if ok else "",
                   numbers=headline_numbers(stem, record) if ok else (), attempt=attempt, run=run)

    def href(self, suffix: str) -> str:
        """A report file's link from the profile's index (relative, so that the folder can be
        moved); a misnamed folder's row (``records.misnamed_folders``): the folder."""
        if self.stem not in (SUMMARY_STEM, *STUDY_NOTEBOOKS):
            return f"{self.stem}/"
        name = report_name(self.stem) + suffix
        if self.attempt:
            name = f"{self.attempt}/{name}"
        return name if self.seed is None else f"seed{self.seed}/{name}"


def index_rows(profile: str, since: float | None = None, dry_run: bool = False,
               batch: str | None = None) -> list[IndexRow]:
    """The index's rows, read from the records on disk: the summary, then every study notebook
    of every seed folder of the profile in notebook order; for each, its good report and, when
    there is one, its last unfinished attempt; last, each folder named like a seed's that is none
    (``records.misnamed_folders``), left out. The rows of batch ``batch``'s attempts (by the
    attempt's id its record carries: ``attempts.in_batch``) are "this run"; without ``batch``,
    those whose record was written after ``since``; the others "earlier run"."""
    places = [(SUMMARY_STEM, None)] + [(stem, seed) for seed in records.seeds_present(profile, dry_run)
                                       for stem in STUDY_NOTEBOOKS]
    rows, numbers = [], {}   # (stem, a run's identity): the seed whose record holds it
    for stem, seed in places:
        for attempt in ("", UNFINISHED):
            path = records.record_path(profile, stem, seed, dry_run)
            path = path.parent / attempt / path.name if attempt else path
            try:
                record = records.read(path)
            except records.DamagedRecord as damaged:   # named, never ok, never a crash
                rows.append(IndexRow(stem=stem, seed=seed, status="damaged", seconds=None, error=str(damaged),
                                     attempt=attempt, run="earlier run"))
                continue
            if record is not None and (wrong := records.misplaced(record, profile, stem, seed)):
                rows.append(IndexRow(stem=stem, seed=seed, status="misplaced", seconds=None,
                                     error=f"{path.name}: {wrong}", attempt=attempt, run="earlier run"))
            elif record is not None and seed is not None and (identity := records.run_identity(record)) and \
                    (twin := numbers.setdefault((stem, identity), seed)) != seed:
                rows.append(IndexRow(stem=stem, seed=seed, status="duplicate", seconds=None, attempt=attempt,
                                     error=f"{path.name}: the same numbers as seed {twin} (a copy of its run)",
                                     run="earlier run"))
            elif record is not None:
                mine = in_batch(record.get("attempt"), batch) if batch else since is not None and path.stat().st_mtime >= since
                run = "this run" if mine else "earlier run"
                rows.append(IndexRow.from_record(stem, seed, record, attempt=attempt, run=run))
    return rows + [IndexRow(stem=name, seed=None, status="misplaced", seconds=None, run="earlier run",
                            error=f"{name}/: {records.MISNAMED}") for name in records.misnamed_folders(profile, dry_run)]


def thumbnail(profile: str, stem: str, seed: int, models: int = 2, side: int = 4, dry_run: bool = False) -> str | None:
    """A small PNG of the final samples of a run's first ``models`` models with exported samples
    (``side`` x ``side`` digits each, dark on white), written beside the run's samples; its link
    from the profile's index, or None when the run exported none; ``records.DamagedSamples``
    naming a samples file that cannot be read."""
    from PIL import Image  # only to write a thumbnail
    record = records.load(profile, stem, seed, finished=False, dry_run=dry_run) or {}
    grids = []
    for name in record.get("models") or {}:
        images = records.exported_samples(profile, stem, seed, name, side * side, dry_run)
        if images is not None and len(images) == side * side:
            digits = (255 - images[:, 0].mul(255).round().byte().numpy())      # [n, 28, 28], dark on white
            grids.append(np.vstack([np.hstack(list(digits[r * side:(r + 1) * side])) for r in range(side)]))
        if len(grids) == models:
            break
    if not grids:
        return None
    gap = np.full((grids[0].shape[0], 6), 255, np.uint8)
    strip = np.hstack([part for grid in grids for part in (grid, gap)][:-1])
    path = run_folder(profile, seed, dry_run) / stem / "thumbnail.png"
    atomic_save(path, lambda handle: Image.fromarray(strip).save(handle, format="PNG"))
    return f"seed{seed}/{stem}/thumbnail.png"


# ----------------------------------------------------------------------------- the claims, from the summary's record

VERDICT_COLOURS = {"supported": "supported", "contradicted": "contradicted", "not resolved": "unresolved"}


def verdict_colour(verdict: str) -> str:
    """The CSS class suffix of a verdict: supported, contradicted, unresolved, or missing (no
    records, not measured, no evaluation seed)."""
    return next((colour for start, colour in VERDICT_COLOURS.items() if str(verdict).startswith(start)), "missing")


def interval_text(claim: dict) -> str:
    """The estimate and its 95 % interval as the summary wrote it, else from its numbers."""
    if claim.get("estimate [95% CI]"):
        return claim["estimate [95% CI]"]
    estimate, low, high = (claim.get(key) for key in ("estimate", "low", "high"))
    if not isinstance(estimate, (int, float)):
        return "—"
    bounds = isinstance(low, (int, float)) and isinstance(high, (int, float))
    return f"{estimate:.3g}" + (f" [{low:.3g}, {high:.3g}]" if bounds else "")


@dataclass(frozen=True)
class ClaimLine:
    """One claim as the index shows it, linked to its row in summary.html."""

    text: str
    verdict: str
    verdict_holm: str
    n: int
    seeds: list                    # the evaluation seeds that had a value
    interval: str
    href: str
    note: str = ""                 # said with the verdict (e.g. which implementation was tested)
    length: str = ""               # a GAN claim: the generator steps it was read at, and their share of the report's

    @property
    def colour(self) -> str:
        return verdict_colour(self.verdict)

    @property
    def colour_holm(self) -> str:
        return verdict_colour(self.verdict_holm)


@dataclass(frozen=True)
class Claims:
    """The claims of the summary's record, or, when there are none to show, why (one line)."""

    lines: list
    problem: str | None = None
    seeds: list | None = None      # the evaluation seeds the verdicts used
    written: str = ""              # when the summary's record was written
    deviations: list = field(default_factory=list)   # the profile's deviations the verdicts were read under
    registry: str = ""             # the claims registry's version and digest


def read_claims(out_dir: Path) -> Claims:
    """The claims of ``out_dir/summary.metrics.json``; a missing, damaged or claimless record
    gives no lines and a problem that says so."""
    path = Path(out_dir) / f"{report_name(SUMMARY_STEM)}.metrics.json"
    try:
        record = records.read(path)
    except records.DamagedRecord as damaged:
        return Claims([], f"The claims cannot be shown: {damaged}.")
    if record is None:
        return Claims([], f"No summary record yet ({path.name}): the claims appear once {SUMMARY_STEM} has run.")
    found = record.get("claims")
    if not isinstance(found, list) or not all(isinstance(claim, dict) for claim in found) or not found:
        return Claims([], f"The summary record ({path.name}, status {record.get('status', 'unknown')}) holds no "
                          f"claims; rerun {SUMMARY_STEM}.")
    lines = [ClaimLine(text=str(claim.get("claim", claim.get("key", "?"))), verdict=str(claim.get("verdict", "?")),
                       verdict_holm=str(claim.get("verdict_holm", "?")), n=claim.get("n", 0),
                       seeds=claim.get("seeds") or [], interval=interval_text(claim),
                       href=f"{report_name(SUMMARY_STEM)}.html#{summary.claim_anchor(claim.get('key', ''))}",
                       note="; ".join(str(claim.get(key)) for key in ("caveat", "note") if claim.get(key)),
                       length=str(claim.get("length") or ""))
             for claim in found]
    written = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    deviations = [d for d in record.get("deviations") or [] if isinstance(d, dict)]
    version = record.get("registry_version")
    registry_text = f"version {version}, sha256 {str(record.get('registry_digest'))[:12]}" if version else ""
    return Claims(lines, seeds=record.get("evaluation_seeds"), written=written, deviations=deviations,
                  registry=registry_text)


# ----------------------------------------------------------------------------- the page

TEMPLATES = Path(__file__).resolve().parent / "templates"
_PAGES = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                            lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def page_row(profile: str, row: IndexRow, dry_run: bool) -> dict:
    """What the template shows of one run: the row, its seed and duration as text, its thumbnail
    (or why there is none: a damaged samples file, named)."""
    image, damaged = None, ""
    try:
        if row.seed is not None and not row.attempt:
            image = thumbnail(profile, row.stem, row.seed, dry_run=dry_run)
    except records.DamagedSamples as error:
        damaged = f"no thumbnail: {error}"
    seed = "all" if row.stem == SUMMARY_STEM else "—" if row.seed is None else str(row.seed)
    declared = profiles.declarations(profile) if profile in profiles.PROFILES else {}
    if row.seed in declared.get("exploratory_seeds", []) or row.seed in declared.get("tuning_seeds", []):
        seed += " (exploratory)" if row.seed in declared["exploratory_seeds"] else " (tuning)"
    return {"row": row, "seed": seed, "image": image,
            "duration": f"{row.seconds:.0f} s" if row.seconds is not None else "?",
            "numbers": " · ".join(filter(None, [" · ".join(row.numbers) or row.headline or row.error, damaged]))}


def write_index(out_dir: Path, profile: str, rows: list[IndexRow], dry_run: bool = False) -> Path:
    """Write ``out_dir/index.html`` (atomically) from ``templates/index.html.j2``: the claims of
    the summary's record first, then one line per run of ``rows``; its path."""
    out_dir = Path(out_dir)
    page = _PAGES.get_template("index.html.j2").render(
        profile=profile, generated=time.strftime("%Y-%m-%d %H:%M:%S"), claims=read_claims(out_dir),
        summary_html=f"{report_name(SUMMARY_STEM)}.html" if (out_dir / f"{report_name(SUMMARY_STEM)}.html").exists()
        else None, runs=[page_row(profile, row, dry_run) for row in rows])
    path = out_dir / "index.html"
    atomic_save(path, lambda handle: handle.write(page.encode()))
    return path


def summary_lines(rows: list[IndexRow]) -> list[str]:
    """This batch's runs as the terminal's closing table shows them."""
    width = max(len(row.stem) for row in rows)
    lines = []
    for row in rows:
        seed = "all" if row.seed is None else f"seed {row.seed}"
        seconds = f"{row.seconds:6.0f} s" if row.seconds is not None else "     ? s"
        lines.append(f"  {row.stem:<{width}}  {seed:<8}  {row.status:<11}  {seconds}  {row.headline or row.error or ''}")
    return lines
