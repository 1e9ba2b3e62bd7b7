"""The notebooks narrate and display: their code cells call helpers and show results, define no
function, stay short and are committed without outputs; what several notebooks share goes
through ``studies.sections``; and every ``nbhelpers`` module or file that a notebook's markdown,
the README or a page of ``docs/`` names exists."""
import ast
import importlib
import importlib.util
import json
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]
MAX_LINES = 20
# The cell tagged "parameters" (papermill's convention: one cell) declares every parameter with
# its range; it is a list of declarations, not logic, and may be longer.
PARAMETERS_TAG = "parameters"
# Done by one helper of ``studies.sections`` (the opening, the evaluator, the metrics table, the
# memorisation check, walks between noise vectors), never by hand in a notebook.
SHARED_BY_SECTIONS = ("notebook_params", "start_run", "Metrics", "Evaluator", "fid_table", "check_mnist",
                      "gaussian_noise")
ROOMS = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
DOTTED = re.compile(r"(?<![\w.])nbhelpers(?:\.[A-Za-z_]\w*)+")
NBHELPERS_PATH = re.compile(r"(?<![\w./-])nbhelpers/[\w./-]*")
ROOM_PATH = re.compile(r"(?<![\w./-])(?:" + "|".join(ROOMS) + r")/[\w./-]*")
CODE_TEXT = re.compile(r"```.*?```|`[^`\n]+`", re.S)   # fenced blocks and inline code spans


def cells(path: Path, kind: str) -> list[dict]:
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def python(cell: dict) -> str:
    """A code cell as Python: IPython's line magics and shell escapes left out."""
    return "\n".join(line for line in source(cell).splitlines() if not line.lstrip().startswith(("%", "!")))


def code_cells() -> list[tuple[str, int, dict]]:
    return [(path.name, index, cell) for path in NOTEBOOKS for index, cell in enumerate(cells(path, "code"))]


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 6 and code_cells()


def test_no_code_cell_defines_a_function_or_a_class():
    offenders = [f"{name} code cell {index}, line {node.lineno}: {type(node).__name__}"
                 for name, index, cell in code_cells() for node in ast.walk(ast.parse(python(cell)))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))]
    assert not offenders, "logic belongs in nbhelpers, not in a notebook:\n" + "\n".join(offenders)


def test_no_code_cell_is_longer_than_twenty_lines_but_the_parameters_cell():
    offenders = [f"{name} code cell {index}: {len(source(cell).splitlines())} lines"
                 for name, index, cell in code_cells()
                 if PARAMETERS_TAG not in cell.get("metadata", {}).get("tags", [])
                 and len(source(cell).splitlines()) > MAX_LINES]
    assert not offenders, f"code cells over {MAX_LINES} lines:\n" + "\n".join(offenders)


def test_every_notebook_has_exactly_one_parameters_cell():
    for path in NOTEBOOKS:
        tagged = [cell for cell in cells(path, "code") if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name


def test_notebooks_are_committed_without_outputs():
    offenders = [f"{name} code cell {index}" for name, index, cell in code_cells()
                 if cell.get("outputs") or cell.get("execution_count") is not None]
    assert not offenders, "committed outputs (git's filter strips them; run `./run_all.sh` once):\n" + "\n".join(offenders)


def called_names(tree: ast.AST) -> set[str]:
    """The names that calls in ``tree`` call: ``f(...)`` and ``module.f(...)`` both give ``f``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def test_what_several_notebooks_share_goes_through_one_helper_of_studies_sections():
    offenders = [f"{name} code cell {index} calls {called}" for name, index, cell in code_cells()
                 for called in sorted(called_names(ast.parse(python(cell))) & set(SHARED_BY_SECTIONS))]
    assert not offenders, "call the helper of nbhelpers.studies.sections instead:\n" + "\n".join(offenders)


def test_every_study_notebook_opens_with_one_call():
    for path in NOTEBOOKS:
        opening = "\n".join(python(cell) for cell in cells(path, "code")[:2])
        assert re.search(r"^\S.* = sections\.open_(gan_)?notebook\(\"" + path.stem + r"\", globals\(\)\)$",
                         opening, re.M), path.name


# ----------------------------------------------------------------------------- names in the prose

def resolves(name: str) -> bool:
    """Whether ``nbhelpers.a.b.c`` names a module or package, or an attribute (a function, a
    class, a constant, a re-exported name) of the longest prefix that is one."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        module = ".".join(parts[:end])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:   # a parent package is missing
            found = False
        if found:
            target = importlib.import_module(module)
            for attribute in parts[end:]:
                if not hasattr(target, attribute):
                    return False
                target = getattr(target, attribute)
            return True
    return False


def path_exists(path: str, *roots: Path) -> bool:
    path = path.rstrip(".,;:")
    return any((root / path).exists() for root in roots)


def texts() -> list[tuple[str, str]]:
    """(where, text) of every page checked: each markdown cell of a notebook, the README, docs/."""
    found = [(f"{path.name} markdown cell {index}", source(cell)) for path in NOTEBOOKS
             for index, cell in enumerate(cells(path, "markdown"))]
    return found + [(str(page.relative_to(REPO)), page.read_text()) for page in PAGES if page.exists()]


def missing_names(where: str, text: str) -> list[str]:
    """The names in ``text`` that point nowhere: ``nbhelpers.x.y`` anywhere; ``nbhelpers/x/y.py``
    (from the repository root) anywhere; ``models/control.py`` (a path below nbhelpers, or the
    repository's own ``tests/``) in code, inline or fenced, where paths are written."""
    missing = [name for name in DOTTED.findall(text) if not resolves(name)]
    missing += [path for path in NBHELPERS_PATH.findall(text) if not path_exists(path, REPO)]
    code = "\n".join(CODE_TEXT.findall(text))
    missing += [path for path in ROOM_PATH.findall(code) if not path_exists(path, PACKAGE, REPO)]
    return [f"{where}: {name}" for name in missing]


def test_the_name_checker_tells_real_names_from_stale_ones():
    assert resolves("nbhelpers.metrics") and resolves("nbhelpers.models.control")
    assert resolves("nbhelpers.models.control.PIController") and resolves("nbhelpers.models.gan.train")
    assert not resolves("nbhelpers.gan.train") and not resolves("nbhelpers.models.control.no_such_name")
    assert not resolves("nbhelpers.gan_nets") and not resolves("nbhelpers.no_such_module")
    text = ("See `nbhelpers.models.gan.nets` and `nbhelpers/control.py`, `models/control.py`, "
            "`studies/claims.py` and `report/no_such.py`; nbhelpers.gan.train. Plain models/not_code stays prose.")
    assert missing_names("t", text) == ["t: nbhelpers.gan.train", "t: nbhelpers/control.py", "t: report/no_such.py"]


def test_every_nbhelpers_module_or_file_named_in_the_prose_exists():
    stale = [line for where, text in texts() for line in missing_names(where, text)]
    assert not stale, "names of modules or files that do not exist (moved or renamed?):\n" + "\n".join(stale)
