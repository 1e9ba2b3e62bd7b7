"""What a GAN run records (``GanHistory``), and ``checkpoint_safe``, which turns what the
caller's ``evaluate()`` returned into values a checkpoint can hold."""
import numpy as np
import pandas as pd
import torch

# The columns of a step row, in order, then the objective's statistics (d_real, d_fake, ...).
STEP_COLUMNS = ("epoch", "step", "loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "critic_steps")
COUNTED = ("epoch", "step", "critic_steps")   # counted on the host (integers); the others are measured on the device


class GanHistory:
    """What a run recorded. Tables are pandas DataFrames built on access:

    - ``steps``: one row per generator step: epoch, step, loss_d, loss_g, grad_norm_d,
      grad_norm_g, critic_steps, then the objective's statistics (d_real, d_fake, ...);
      D-side values are averaged over the critic steps of that generator step.
    - ``epochs``: per-epoch means of the measured step columns, seconds (training only), images/s.
    - ``evaluations``: one row per evaluated epoch with the scalar values ``evaluate``
      returned (non-scalars, e.g. per-class counts, are in ``evaluation_details``).
    - ``grids``: {epoch: [100, 1, 28, 28] CPU tensor in [0, 1]} from fixed noise.
    - ``status`` ("running", "finished", "diverged"), ``message``, ``diverged_step``,
      ``model_files`` ({role: path}).

    Step rows are kept by name: NumPy structured arrays of ``step_type`` (``step_block`` builds
    one from its columns), so a new statistic is one more name, never a column index.
    """

    def __init__(self, statistics: tuple[str, ...]):
        self.step_type = np.dtype([(name, np.int64 if name in COUNTED else np.float64)
                                   for name in STEP_COLUMNS + tuple(statistics)])
        self.measured = tuple(name for name in self.columns if name not in COUNTED)   # the device's values, in order
        self._step_blocks: list[np.ndarray] = []
        self._epoch_rows: list[dict] = []
        self.evaluation_details: list[dict] = []
        self.grids: dict[int, torch.Tensor] = {}
        self.status = "running"
        self.message = ""
        self.diverged_step: int | None = None
        self.training_seconds = 0.0
        self.model_files: dict[str, str] = {}
        self.resumed_at_epoch: int | None = None
        self.reused = ""           # what came from an earlier run's checkpoint, said in the report

    @property
    def columns(self) -> tuple[str, ...]:
        return self.step_type.names

    # recording (by the training loop)
    def step_block(self, values: dict) -> np.ndarray:
        """Step rows from their columns: ``values`` maps every column name to one value per step."""
        block = np.empty(len(values["step"]), self.step_type)
        for name in self.columns:
            block[name] = values[name]
        return block

    def add_epoch(self, step_blocks: list[np.ndarray], summary: dict, seconds: float) -> None:
        """An epoch's step rows (``step_block``s), its summary row and its training time."""
        self._step_blocks.extend(step_blocks)
        self._epoch_rows.append(summary)
        self.training_seconds += seconds

    # tables
    @property
    def steps(self) -> pd.DataFrame:
        return pd.DataFrame(self._step_array())

    @property
    def epochs(self) -> pd.DataFrame:
        return pd.DataFrame(self._epoch_rows)

    @property
    def evaluations(self) -> pd.DataFrame:
        rows = [{k: v for k, v in row.items() if isinstance(v, (int, float, str, bool))}
                for row in self.evaluation_details]
        return pd.DataFrame(rows)

    @property
    def last_epoch(self) -> int:
        """The last epoch with records (a diverged run's last epoch is partial)."""
        return self._epoch_rows[-1]["epoch"] if self._epoch_rows else 0

    def __repr__(self) -> str:
        return (f"GanHistory(status={self.status!r}, epochs={self.last_epoch}, "
                f"steps={sum(len(b) for b in self._step_blocks)}, grids={sorted(self.grids)}, "
                f"evaluations={len(self.evaluation_details)})")

    def _step_array(self) -> np.ndarray:
        return np.concatenate(self._step_blocks) if self._step_blocks else np.empty(0, self.step_type)

    # checkpointing (plain tensors and Python values: loadable with weights_only=True)
    def state_dict(self) -> dict:
        rows = self._step_array()
        return {"steps": {name: torch.from_numpy(rows[name].copy()) for name in self.columns},
                "epochs": self._epoch_rows, "evaluations": self.evaluation_details,
                "grids": self.grids, "status": self.status, "message": self.message,
                "diverged_step": self.diverged_step, "training_seconds": self.training_seconds}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["steps"]) != self.columns:
            raise ValueError(f"history columns differ: {list(state['steps'])} vs {list(self.columns)}")
        self._step_blocks = [self.step_block({name: column.numpy() for name, column in state["steps"].items()})]
        self._epoch_rows = list(state["epochs"])
        self.evaluation_details = list(state["evaluations"])
        self.grids = dict(state["grids"])
        self.status, self.message = state["status"], state["message"]
        self.diverged_step = state["diverged_step"]
        self.training_seconds = state["training_seconds"]


def checkpoint_safe(value, where: str):
    """``evaluate``'s result as checkpoint-safe values: numbers, strings, tensors, containers.
    ``where`` names the value in the error raised for anything else."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.detach().cpu().clone()
    if isinstance(value, dict):
        return {str(k): checkpoint_safe(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [checkpoint_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, pd.Series):
        return checkpoint_safe(value.to_dict(), where)
    raise TypeError(f"{where} is a {type(value).__name__}; evaluate() must return a dict of numbers, "
                    "strings, tensors, arrays, lists or dicts")
