"""A GAN run's checkpoint: ``<checkpoint_dir>/<name>-<key>.pt``, where the key is
``settings_hash(run_settings(...))``. A run with other settings or changed training code gets
another key and so its own file (nothing is refused or deleted), and switching back resumes the
earlier one.

The file holds the networks, both optimisers, both random generators and the history
(``CHECKPOINT_FORMAT``); it is written whole or not at all, with its sha256
recorded beside it (``files.save_recorded``: a kill between the file and its record never makes
a valid checkpoint look corrupt). A file that does not match its record is never read, and one
that matches it but torch cannot read (damaged before its digest was taken, or its record
rewritten to match) is not used either: either is set aside as ``<file>.corrupt`` (``.corrupt-2``
and on for later ones, none replacing another), said in one line naming it, and the run starts
from the beginning.
"""
import pickle
from collections.abc import Callable
from pathlib import Path

import torch

from nbhelpers import progress
from nbhelpers.files import recorded_mismatch, save_recorded, set_aside
from nbhelpers.models.gan.settings import settings_hash
from nbhelpers.paths import display

CHECKPOINT_FORMAT = 3   # 3: the history keeps its step columns by name


def part_state(part):
    """What a checkpoint keeps of one part of a run: a random generator's state, the
    ``state_dict`` of anything else (modules, optimisers, the history)."""
    return part.get_state() if isinstance(part, torch.Generator) else part.state_dict()


def restore_part(part, state) -> None:
    """Put ``state`` (from ``part_state``) back into ``part``, in place."""
    if isinstance(part, torch.Generator):
        part.set_state(state)
    else:
        part.load_state_dict(state)


class Checkpoint:
    """The checkpoint file of the run called ``name`` with these ``settings``, in ``folder``.
    ``log`` gets the progress lines on why a file was not used."""

    def __init__(self, folder: str | Path, name: str, settings: dict, log: Callable[[str], None]):
        self.name, self.settings, self.log = name, settings, log
        self.key = settings_hash(settings)
        self.path = Path(folder) / f"{name}-{self.key}.pt"

    def save(self, epoch: int, generator_step: int, parts: dict) -> None:
        """Write the run after ``epoch``: ``parts`` maps each saved name to a run's part (see ``part_state``)."""
        state = {"format": CHECKPOINT_FORMAT, "settings_hash": self.key, "settings": self.settings,
                 "epoch": epoch, "generator_step": generator_step,
                 **{key: part_state(part) for key, part in parts.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_recorded(self.path, lambda handle: torch.save(state, handle))

    def load(self, fresh: bool = False) -> dict | None:
        """The saved state if there is a file and its sha256 is the one recorded when it was
        written; None when there is none, when ``fresh`` (retrain: the file will be replaced) or
        when the file does not match (then it is set aside). A verified file that holds other
        settings (renamed by hand) is an error."""
        if not self.path.exists():
            return None
        if fresh:
            self.log(progress.line(self.name, f"--fresh: retraining; {self.path.name} will be replaced"))
            return None
        problem = recorded_mismatch(self.path)
        if problem is None:
            try:
                state = torch.load(self.path, map_location="cpu", weights_only=True)
            except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:   # e.g. truncated
                state = None
                problem = (f"torch cannot read it ({type(error).__name__}: {(str(error).splitlines() or [''])[0][:160]}), "
                           "although its sha256 matches its record")
            else:
                problem = None if isinstance(state, dict) else f"it holds a {type(state).__name__}, not a checkpoint"
        if problem:
            aside = set_aside(self.path)
            self.log(progress.line(self.name, f"checkpoint {display(self.path)} not used: {problem}; kept as "
                                              f"{aside.name}, training from the start (--fresh never reads checkpoints)"))
            return None
        if state.get("format") != CHECKPOINT_FORMAT or state.get("settings_hash") != self.key:
            raise RuntimeError(f"{self.path}: holds settings {state.get('settings_hash')}, "
                               f"not {self.key} (a file renamed by hand?); move it away and run again")
        return state

    @staticmethod
    def restore(state: dict, parts: dict) -> None:
        """Put a loaded state back into the run's ``parts`` (as given to ``save``), in place."""
        for key, part in parts.items():
            restore_part(part, state[key])
