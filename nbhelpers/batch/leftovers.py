"""What a killed batch left in a profile's folder, dealt with by the next batch before it runs
anything (under the lock, once the killed batch's runs have stopped: ``lock``). Only what the
batch and its notebooks make is touched, in the exact form and the places they make it:

- each attempt's stage (``attempts.STAGE``, in the ``.attempts/`` of the profile's folder and of
  each seed's): one whose move into place was cut short is moved in as its journal says
  (``attempts.complete_move``), keeping its outcome; any other is recorded as a failed attempt
  (``attempts.KILLED``) in ``unfinished/``, rendered as far as it got; an empty one (killed as
  it was made, or as its move ended) is removed;
- temporary files of interrupted writes (``files.temporary_path``) in the folders the batch and
  its notebooks write to (``written_folders``), the temporary folders of the MathJax copy in
  ``_static/`` (``render``) and the batch's write probe, each once the process it names has ended;
- the job folders of earlier batches (``.jobs/<date>-<time>-<pid>/``, ``executors``).

Anything else, say a user's ``.notes.tmp`` or ``.replaced-by-me/``, is left alone; what was done
is said by name (``tidy``)."""
import re
import shutil
from pathlib import Path

from nbhelpers.batch import attempts, render
from nbhelpers.batch.executors import JOBS
from nbhelpers.batch.lock import process_start
from nbhelpers.batch.plan import WRITE_PROBE
from nbhelpers.batch.stopping import uninterrupted
from nbhelpers.files import temporary_pid
from nbhelpers.paths import STUDY_NOTEBOOKS, SUMMARY_STEM, report_name
from nbhelpers.report.records import SEED_FOLDER

JOB_FOLDER = re.compile(r"\d{8}-\d{6}-\d+")   # executors.Batch names its job folder so
SHOWN = 6                                      # names listed in a line at most, then how many more


def tidy(profile: str, out_dir: Path) -> list[str]:
    """Everything a killed batch left in ``out_dir`` (the profile's folder) recorded, completed
    or removed, oldest stage first; what was done, in words naming each thing (none when there
    was nothing)."""
    stems = {report_name(stem): stem for stem in (*STUDY_NOTEBOOKS, SUMMARY_STEM)}
    stages = [stage for folder in run_folders(out_dir) for stage in sorted((folder / attempts.ATTEMPTS).glob("*"))
              if stage.is_dir() and (found := attempts.STAGE.fullmatch(stage.name)) and found["name"] in stems]
    recorded, moved, emptied = [], [], 0
    for stage in sorted(stages, key=lambda path: path.stat().st_mtime):
        where = shown(attempts.run_folder_of(stage), out_dir, attempts.STAGE.fullmatch(stage.name)["name"])
        with uninterrupted():
            if not any(stage.iterdir()):
                stage.rmdir()
                emptied += 1
            elif (stage / attempts.MOVING).exists():
                attempts.complete_move(stage)
                moved.append(where)
            else:
                times = [path.stat().st_mtime for path in stage.rglob("*")]
                stem = stems[attempts.STAGE.fullmatch(stage.name)["name"]]
                attempts.put_in_place(stem, profile, stage, "failed", attempts.KILLED, max(times) - min(times))
                recorded.append(where)
    done = []
    if recorded:
        done.append(f"{len(recorded)} attempt(s) of killed runs recorded in unfinished/: {listed(recorded)}")
    if moved:
        done.append(f"{len(moved)} finished attempt(s) whose move into place was cut short moved in: {listed(moved)}")
    if emptied:
        done.append(f"{emptied} empty stage(s) removed")
    if removed := remove_temporary(out_dir):
        done.append(f"{len(removed)} temporary file(s) of interrupted writes removed: {listed(removed)}")
    if jobs := remove_job_folders(out_dir):
        done.append(f"{len(jobs)} job folder(s) of earlier batches removed: {listed(jobs)}")
    return done


def run_folders(out_dir: Path) -> list[Path]:
    """The run folders of a profile's folder: its own (the summary's) and each seed's (``seed<k>``)."""
    seeds = [path for path in out_dir.glob("seed*") if path.is_dir() and SEED_FOLDER.fullmatch(path.name)]
    return [out_dir, *sorted(seeds)]


def written_folders(out_dir: Path) -> list[Path]:
    """The folders of a profile's folder that the batch and its notebooks write files in: each
    run folder and its ``unfinished/``, and below them each notebook's outputs (``<name>/``:
    samples, models) and the checkpoints, at any depth."""
    names = [report_name(stem) for stem in (*STUDY_NOTEBOOKS, SUMMARY_STEM)] + ["checkpoints"]
    found = []
    for folder in (place for run in run_folders(out_dir) for place in (run, run / attempts.UNFINISHED)):
        found.append(folder)
        for below in (folder / name for name in names):
            if below.is_dir() and not below.is_symlink():
                found += [below, *(path for path in below.rglob("*") if path.is_dir() and not path.is_symlink())]
    return found


def ended(pid: int | None) -> bool:
    """Whether ``pid`` names a process that has ended (None: no name of ours)."""
    return pid is not None and process_start(pid) is None


def remove_temporary(out_dir: Path) -> list[str]:
    """Delete what interrupted writes of ended processes left in ``out_dir`` (a profile's folder):
    ``files.temporary_path`` files in ``written_folders``, MathJax's temporary folders in
    ``_static/`` and the batch's write probe; their names, relative to ``out_dir``."""
    left = [path for folder in written_folders(out_dir) for path in folder.glob(".*.tmp")
            if path.is_file() and ended(temporary_pid(path.name))]
    left += [path for path in (out_dir / render.STATIC_DIRNAME).glob(".mathjax-*") if path.is_dir() and
             any(ended(temporary_pid(path.name, purpose)) for purpose in (render.STAGING, render.RETIRED))]
    left += [path for path in out_dir.glob(f".{WRITE_PROBE}-*") if path.is_file()
             and ended(temporary_pid(path.name, WRITE_PROBE))]
    for path in left:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return [str(path.relative_to(out_dir)) for path in left]


def remove_job_folders(out_dir: Path) -> list[str]:
    """Delete the job folders of earlier batches (their runs have ended: ``lock``); their names."""
    folders = [path for path in sorted((out_dir / JOBS).glob("*")) if path.is_dir() and JOB_FOLDER.fullmatch(path.name)]
    for path in folders:
        shutil.rmtree(path, ignore_errors=True)
    return [str(path.relative_to(out_dir)) for path in folders]


def shown(folder: Path, out_dir: Path, name: str) -> str:
    """A run as the tidy-up's line names it: "seed1/01_vae", "summary"."""
    return str((folder / name).relative_to(out_dir))


def listed(names: list[str]) -> str:
    """Names as one line lists them: the first ``SHOWN``, then how many more."""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more
