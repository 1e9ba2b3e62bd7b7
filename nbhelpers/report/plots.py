"""One plotting style for every report: loss curves and image grids."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython import get_ipython
from matplotlib.figure import Figure

from nbhelpers import clock


def set_style() -> None:
    import seaborn as sns  # heavy (scipy.stats): imported where a report is drawn, not where records are read
    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 90, "axes.titleweight": "bold"})
    time_figures()


def time_figures() -> None:
    """In a Jupyter kernel with the inline backend, count the drawing of every figure shown (its
    PNG for the page: the bulk of a figure's time) as ``clock``'s "figures" phase."""
    shell = get_ipython()
    if shell is None or "inline" not in matplotlib.get_backend():
        return
    # optional (kernels only); importing it registers its PNG drawing now, not at the first figure
    import matplotlib_inline.backend_inline  # noqa: F401
    formatter = shell.display_formatter.formatters["image/png"]
    draw = formatter.lookup_by_type(Figure)
    if getattr(draw, "clock_phase", None) != "figures":
        timed = clock.phase("figures")(draw)
        timed.clock_phase = "figures"
        formatter.for_type(Figure, timed)


def smooth(values, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what exists so far)."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.maximum(np.arange(1, len(values) + 1) - window, 0)]) / counts


def curves(ax, series: dict, xlabel: str = "epoch", ylabel: str = "", title: str = "",
           x=None, window: int = 1, logy: bool = False):
    """Overlay named 1-D series on ``ax`` (optionally smoothed and on a log axis)."""
    for label, values in series.items():
        values = np.asarray(values, dtype=float)
        xs = np.arange(1, len(values) + 1) if x is None else np.asarray(x)[: len(values)]
        ax.plot(xs, smooth(values, window), label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend()
    return ax


def image_grid(ax, images: torch.Tensor, nrow: int = 10, title: str = ""):
    """Show [N, 1, H, W] images in [0, 1] as one grid, no axes."""
    from torchvision.utils import make_grid  # heavy (it imports torch._dynamo): only where a grid is drawn
    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    ax.imshow(grid[0].numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_grids(grids: dict, nrow: int = 10, size: float = 4.0, per_row: int | None = None):
    """One figure with a titled grid per entry of ``{title: images}``: all in one row, or
    ``per_row`` to a row of the figure (for long series such as every-20-epoch grids)."""
    columns = per_row or max(len(grids), 1)
    rows = max(1, -(-len(grids) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for ax in axes.flat[len(grids):]:
        ax.set_axis_off()
    for ax, (title, images) in zip(axes.flat, grids.items()):
        image_grid(ax, images, nrow=nrow, title=title)
    fig.tight_layout()
    return fig
