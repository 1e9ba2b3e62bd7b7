"""Input errors the batch must refuse before any work, in one line naming the file (and line)
or the value, with exit status 2 (issue 26): a params file or notebook that does not parse, a
reports folder that cannot be written, a seed that numpy and torch cannot take. Each refusal
comes within seconds; the batch runs as a process where its input can be placed in a temporary
folder (seeds, reports folder), else in-process on copies of the params and notebooks."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from nbhelpers import paths
from nbhelpers.batch import main
from nbhelpers.report import parameters, profiles

SEED_LIMIT = 2**32


def refused(*args, reports_variable=None) -> str:
    """The batch as a person starts it (a dry run of one notebook, were its input good), which
    must refuse that input: its one line on stderr."""
    environment = {key: value for key, value in os.environ.items() if key != "NBH_REPORTS_DIR"}
    if reports_variable is not None:
        environment["NBH_REPORTS_DIR"] = str(reports_variable)
    done = subprocess.run([sys.executable, "-m", "nbhelpers.batch", "--profile", "smoke", "--dry-run",
                           "--only", "01_vae", *args], cwd=paths.REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "profile smoke (dry run)" not in done.stdout, "the batch started"
    return done.stderr


# ----------------------------------------------------------------------------- seeds

@pytest.mark.parametrize("seeds", [str(SEED_LIMIT), f"1,{SEED_LIMIT + 5}"])
def test_a_seed_numpy_and_torch_cannot_take_is_refused_naming_it_and_the_range(tmp_path, seeds):
    line = refused("--seeds", seeds, "--reports-dir", str(tmp_path / "reports"))
    assert f"--seeds must be a non-empty list of integers in [0, {SEED_LIMIT - 1}]" in line
    assert seeds.replace(",", ", ") in line
    assert not (tmp_path / "reports").exists()


# ----------------------------------------------------------------------------- the reports folder

@pytest.mark.parametrize("where", ["option", "option, below", "variable"])
def test_a_reports_folder_that_is_a_file_is_refused_naming_it(tmp_path, where):
    file = tmp_path / "reports.txt"
    file.write_text("a file\n")
    if where == "variable":
        line = refused(reports_variable=file)
    else:
        line = refused("--reports-dir", str(file / "below" if where.endswith("below") else file))
    assert f"cannot write the reports to {file}" in line and f"{file} exists and is not a folder" in line
    assert file.read_text() == "a file\n" and sorted(p.name for p in tmp_path.iterdir()) == ["reports.txt"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder on a read-only filesystem. Root may write whatever the permission bits say, so
    only a read-only mount shows that the batch tries to write rather than reads the bits."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only filesystem here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("below", ["", "not/yet/made"])
def test_a_reports_folder_on_a_read_only_filesystem_is_refused_naming_it(read_only_folder, below):
    reports = read_only_folder / below
    line = refused("--reports-dir", str(reports))
    assert f"cannot write the reports to {reports / 'smoke-dry-run'}: Read-only file system" in line
    assert not any(read_only_folder.iterdir())


# ----------------------------------------------------------------------------- params and notebooks

@pytest.fixture
def copies(tmp_path, monkeypatch):
    """The repository's params and notebooks copied into ``tmp_path``, which the batch reads
    instead: (params folder, notebooks folder). The real ones are never touched."""
    params, notebooks = tmp_path / "params", tmp_path / "notebooks"
    shutil.copytree(profiles.PARAMS_DIR, params)
    notebooks.mkdir()
    for notebook in parameters.NOTEBOOKS_DIR.glob("*.ipynb"):
        shutil.copy(notebook, notebooks)
    monkeypatch.setattr(profiles, "PARAMS_DIR", params)
    monkeypatch.setattr(parameters, "NOTEBOOKS_DIR", notebooks)
    return params, notebooks


def refused_in_process(capsys, tmp_path) -> str:
    """``main.main`` (the batch, in this process, so that it reads the copies) refusing its
    input: its one line on stderr."""
    status = main.main(["--profile", "smoke", "--dry-run", "--reports-dir", str(tmp_path / "reports")])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not out and not (tmp_path / "reports").exists(), "the batch started"
    return err


@pytest.mark.parametrize("name", ["_all.yaml", "_gan.yaml", "05_ssgan.yaml"])
def test_a_params_file_that_is_not_yaml_is_refused_naming_the_file_and_line(copies, capsys, tmp_path, name):
    path = copies[0] / "smoke" / name
    lines = path.read_text().splitlines() + ["epochs: 2: 3"]
    path.write_text("\n".join(lines) + "\n")
    line = refused_in_process(capsys, tmp_path)
    assert line.startswith(f"error: {path}, line {len(lines)}, column ")
    assert "could not parse YAML: mapping values are not allowed here" in line


def test_a_notebook_that_is_not_json_is_refused_naming_it(copies, capsys, tmp_path):
    path = copies[1] / "04_wgan.ipynb"
    path.write_text(path.read_text()[:-100])   # cut short
    line = refused_in_process(capsys, tmp_path)
    assert line.startswith(f"error: {path}, line ") and "not a notebook, its JSON does not parse" in line


def test_a_syntax_error_in_a_parameters_cell_is_refused_naming_the_notebook_and_line(copies, capsys, tmp_path):
    path = copies[1] / "05_ssgan.ipynb"
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    broken = next(i for i, text in enumerate(lines) if text.startswith("epochs ="))
    lines[broken] = "epochs = (20"
    cell["source"] = "\n".join(lines)
    path.write_text(json.dumps(notebook))
    line = refused_in_process(capsys, tmp_path)
    assert line == f"error: {path}, parameters cell, line {broken + 1}: syntax error: '(' was never closed\n"
