"""What the notebook kernels need from this environment: the Jupyter kernel they run on, the
git filter that keeps their outputs out of commits, and the environment variables they inherit
(papermill starts each kernel as a child of this process)."""
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from nbhelpers.paths import REPO_ROOT

KERNEL_NAME = "mnist-genmodels"
KERNEL_DISPLAY = "MNIST generative models (.venv)"


def ensure_kernel() -> None:
    """Register this environment's Python as the notebooks' kernel if it is not yet known."""
    from jupyter_client.kernelspec import KernelSpecManager  # Jupyter's machinery: only when kernels are started
    if KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install  # as above
        install(prefix=sys.prefix, kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY)
        print(f"registered Jupyter kernel {KERNEL_NAME!r} for {sys.executable}")


def install_output_filter(repo: Path = REPO_ROOT) -> bool:
    """Make git strip notebook outputs on ``git add`` (nbstripout as a clean filter, cell ids
    kept), so that JupyterLab's autosave cannot bring outputs into a commit. The committed
    ``.gitattributes`` names the filter for ``*.ipynb``; this defines it in ``repo``'s local git
    config. False (and nothing changed) outside a git work tree."""
    inside = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if inside.returncode != 0:
        return False
    settings = {"clean": f"'{sys.executable}' -m nbstripout --keep-id", "smudge": "cat", "required": "true"}
    for key, value in settings.items():
        subprocess.run(["git", "-C", str(repo), "config", f"filter.nbstripout.{key}", value], check=True)
    return True


@contextlib.contextmanager
def kernel_environment(variables: dict):
    """``variables`` set in this process's environment while the block runs, so that the kernels
    started inside inherit them; restored afterwards."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
