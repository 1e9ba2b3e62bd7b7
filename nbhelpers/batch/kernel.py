"""What the notebook kernels need from this environment: the Jupyter kernel they run on, the
git filter that keeps their outputs out of commits, and the environment variables they inherit
(papermill starts each kernel as a child of this process)."""
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from nbhelpers.paths import REPO_ROOT

KERNEL_NAME = "mnist-genmodels"
KERNEL_DISPLAY = "MNIST generative models (.venv)"
CONFIG_TRIES = 10   # git config tries while another git process holds .git/config locked


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
    config, where it is not defined so yet. False (and nothing changed) outside a git work tree,
    or, said in one line, when git refuses to write its config."""
    inside = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if inside.returncode != 0:
        return False
    settings = {"clean": f"'{sys.executable}' -m nbstripout --keep-id", "smudge": "cat", "required": "true"}
    for key, value in settings.items():
        if (refused := set_config(repo, f"filter.nbstripout.{key}", value)) is not None:
            print(f"warning: git's filter that strips notebook outputs is not set ({refused}); run ./run_all.sh "
                  "again before you commit a notebook", file=sys.stderr)
            return False
    return True


def set_config(repo: Path, name: str, value: str) -> str | None:
    """``git config name value`` in ``repo`` unless it holds that already; None when done, else
    git's message. Two ``./run_all.sh`` started together may both write: git lets one at a time
    hold ``.git/config`` locked and refuses the other, which tries again."""
    command = ["git", "-C", str(repo), "config"]
    if subprocess.run([*command, "--get", name], capture_output=True, text=True).stdout.rstrip("\n") == value:
        return None
    for attempt in range(CONFIG_TRIES):
        done = subprocess.run([*command, name, value], capture_output=True, text=True)
        if done.returncode == 0:
            return None
        if "could not lock config file" not in done.stderr:
            break
        time.sleep(0.1 * (attempt + 1))
    return " ".join(done.stderr.split()) or f"git config exited with {done.returncode}"


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
