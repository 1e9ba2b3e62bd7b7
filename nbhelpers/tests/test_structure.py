"""The package's layering, read from the source with ``ast``: the folders' dependency order
(written once, in the docstring of ``nbhelpers/__init__.py``, and read from there), which
imports may wait inside a function, where environment variables and the batch's context are
read, how long a module may grow, and whether the package map in ``nbhelpers/__init__.py``
matches the files. Modules are found on disk, so a new file is checked as soon as it exists."""
import ast
import io
import json
import re
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
NOTEBOOKS = PACKAGE.parent / "notebooks"
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
MAX_LINES = 400                   # a product module's length (the package docstring says so)
SHIMS = {"nbhelpers.fid": "nbhelpers.metrics.__main__"}   # the ground's one import of a folder


def module_name(path: Path) -> str:
    """``nbhelpers/report/profiles.py`` -> ``nbhelpers.report.profiles``; a package's
    ``__init__.py`` is the package itself."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def folder_of(name: str) -> str:
    """The folder under nbhelpers that module ``name`` lives in, "ground" for nbhelpers/*.py."""
    parts = MODULES[name].relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else "ground"


def in_room(name: str, *rooms: str) -> bool:
    """Whether module ``name`` lives in one of these folders under nbhelpers (the ground is none)."""
    return folder_of(name) in rooms


def folder_order() -> list[list[str]]:
    """The dependency order of the package docstring, lowest first, one list per rank: its line
    ``ground -> models, metrics -> report -> ...``."""
    docstring = ast.get_docstring(ast.parse(MODULES["nbhelpers"].read_text())) or ""
    lines = [line for line in docstring.splitlines() if re.fullmatch(r"ground( -> [a-z_]+(, [a-z_]+)*)+", line)]
    assert len(lines) == 1, "the package docstring states the folders' order once, as `ground -> ... -> ...`"
    return [rank.split(", ") for rank in lines[0].split(" -> ")]


RANK = {folder: rank for rank, folders in enumerate(folder_order()) for folder in folders}


class Imports(ast.NodeVisitor):
    """Every import statement of one module, resolved to absolute module names, with whether
    it sits inside a function body; imports that only a type checker runs are left out."""

    def __init__(self, name: str):
        self.package = name if MODULES.get(name, Path()).name == "__init__.py" else name.rpartition(".")[0]
        self.found: list[tuple[str, ast.stmt, bool]] = []   # (module, statement, in a function)
        self.depth = 0

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:   # the body never runs; an else branch does
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, node, self.depth > 0))

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            # `from package import module` imports the module; `from module import name` the module
            sub = f"{base}.{alias.name}"
            self.found.append((sub if sub in MODULES else base, node, self.depth > 0))


def imports_of(name: str, source: str | None = None) -> list[tuple[str, ast.stmt, bool]]:
    visitor = Imports(name)
    visitor.visit(ast.parse(source if source is not None else MODULES[name].read_text(), str(MODULES.get(name, name))))
    return visitor.found


def notebook_sources() -> dict[str, str]:
    sources = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
        # IPython's line magics and shell escapes are not Python
        sources[path.name] = "\n".join(line for line in "\n".join(code).splitlines()
                                       if not line.lstrip().startswith(("%", "!")))
    return sources


def test_the_order_names_every_folder_once():
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()} - {"tests"}
    assert sorted(RANK) == sorted(folders | {"ground"})
    assert sum(map(len, folder_order())) == len(RANK), "a folder named twice in the order"


def test_no_module_imports_a_folder_after_its_own_or_beside_it():
    offenders = [f"{name}:{node.lineno} ({folder_of(name)}) imports {module} ({folder_of(module)})"
                 for name in MODULES if not in_room(name, "tests")
                 for module, node, _ in imports_of(name)
                 if module in MODULES and folder_of(module) != folder_of(name) and SHIMS.get(name) != module
                 and RANK[folder_of(module)] >= RANK[folder_of(name)]]
    assert not offenders, "imports against the order of nbhelpers/__init__.py:\n" + "\n".join(offenders)


def test_notebooks_import_neither_the_batch_nor_the_benchmarks():
    offenders = [f"notebooks/{stem}:{node.lineno} imports {module}"
                 for stem, source in notebook_sources().items()
                 for module, node, _ in imports_of(stem, source)
                 if module.split(".")[:2] in (["nbhelpers", "batch"], ["nbhelpers", "bench"])]
    assert not offenders, "\n".join(offenders)


def test_the_batchs_context_is_read_only_where_a_notebook_run_starts():
    readers = {name for name in MODULES if not in_room(name, "tests") and name != "nbhelpers.environment"
               for node in ast.walk(ast.parse(MODULES[name].read_text()))
               if (isinstance(node, ast.Name) and node.id == "batch_context")
               or (isinstance(node, ast.Attribute) and node.attr == "batch_context")
               or (isinstance(node, ast.alias) and node.name == "batch_context")}
    readers |= {f"notebooks/{stem}" for stem, source in notebook_sources().items() if "batch_context" in source}
    assert readers == {"nbhelpers.report.context"}, f"environment.batch_context() read in {sorted(readers)}"


def test_no_product_module_is_over_the_line_limit():
    long = {str(path.relative_to(PACKAGE.parent)): count for name, path in MODULES.items()
            if not in_room(name, "tests") and (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concern): {long}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (depth-first, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for after in sorted(graph[node]):
            if state.get(after) == "open":
                return stack[stack.index(after):] + [after]
            if after not in state and (cycle := visit(after)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_module_level_imports_among_nbhelpers_modules_form_no_cycle():
    graph = {name: {module for module, _, local in imports_of(name)
                    if not local and module in MODULES and module != name}
             for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def comment_lines(source: str) -> dict[int, str]:
    """Line number -> the comment's text, for every line that holds a ``#`` comment."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {token.start[0]: token.string.lstrip("#").strip() for token in tokens if token.type == tokenize.COMMENT}


def is_reason(text: str | None) -> bool:
    return bool(text) and not re.match(r"(noqa|type:|pragma|fmt:)", text)


def test_function_local_imports_are_third_party_and_each_gives_its_reason():
    offenders = []
    for name, path in MODULES.items():
        if in_room(name, "tests"):
            continue
        source = path.read_text()
        lines, comments = source.splitlines(), comment_lines(source)
        for module, node, local in imports_of(name, source):
            if not local:
                continue
            where = (str(path.relative_to(PACKAGE.parent)), node.lineno, f"imports {module}")
            if module.split(".")[0] == "nbhelpers":
                offenders.append(where + ("nbhelpers modules are imported at the top of the module",))
                continue
            before = node.lineno - 1   # a comment-only line right above the import also counts
            above = comments.get(before) if before and lines[before - 1].lstrip().startswith("#") else None
            trailing = [comments.get(line) for line in range(node.lineno, node.end_lineno + 1)]
            if not any(is_reason(text) for text in trailing + [above]):
                offenders.append(where + ("no `# reason` comment (why not at the top: heavy or optional)",))
    assert not offenders, "function-local imports:\n" + "\n".join(
        f"{file}:{line} {what}: {why}" for file, line, what, why in sorted(set(offenders)))


def environment_uses(name: str) -> list[str]:
    """Where module ``name`` touches the process environment through ``os``."""
    tree = ast.parse(MODULES[name].read_text())
    os_names = {"os"} | {alias.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                         for alias in node.names if alias.name == "os" and alias.asname}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES and \
                isinstance(node.value, ast.Name) and node.value.id in os_names:
            uses.append(f"{node.value.id}.{node.attr}:{node.lineno}")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            uses += [f"from os import {alias.name}:{node.lineno}" for alias in node.names if alias.name in ENV_NAMES]
    return uses


def test_science_code_reads_no_environment_variable():
    offenders = {name: uses for name in MODULES if in_room(name, "models", "metrics", "studies", "report")
                 if (uses := environment_uses(name))}
    assert not offenders, ("environment read in science code (take the value from `environment` "
                           f"or the run's context): {offenders}")


def test_outside_batch_and_benchmarks_only_environment_reads_environment_variables():
    offenders = {name: uses for name in MODULES
                 if not in_room(name, "batch", "bench", "tests") and name != "nbhelpers.environment"
                 if (uses := environment_uses(name))}
    assert not offenders, f"environment read outside nbhelpers.environment: {offenders}"


def package_map() -> tuple[set[str], set[str]]:
    """The docstring map of ``nbhelpers/__init__.py``: the rooms it names (``report``, ...) and
    its modules as paths under nbhelpers (``paths``, ``report/profiles``, ``models/gan/loop``).
    A room is a line ``name/  what it holds`` at the left margin; its modules follow, indented
    by two spaces; any other line at the left margin ends the room."""
    rooms, modules, prefix = set(), set(), ""
    for line in (ast.get_docstring(ast.parse(MODULES["nbhelpers"].read_text())) or "").splitlines():
        if match := re.match(r"([a-z_][a-z0-9_]*)/\s{2,}\S", line):
            rooms.add(match[1])
            prefix = match[1] + "/"
        elif match := re.match(r" {2}([a-z_][a-z0-9_/]*)\s{2,}\S", line):
            modules.add(prefix + match[1])
        elif line and not line[0].isspace():
            prefix = ""
    return rooms, modules


def test_the_package_map_lists_every_module_and_names_none_that_is_missing():
    rooms, listed = package_map()
    on_disk = {path.relative_to(PACKAGE).with_suffix("").as_posix() for path in PACKAGE.rglob("*.py")}
    needed = {module for module in on_disk if not module.startswith("tests/")
              and Path(module).name not in ("__init__", "__main__")
              and not (module.startswith("bench/") and "bench" in rooms)}   # bench/ may be one entry
    missing = sorted(needed - listed)
    unknown = sorted(listed - on_disk) + sorted(r + "/" for r in rooms if not (PACKAGE / r).is_dir())
    assert not missing, f"modules missing from the map in nbhelpers/__init__.py: {missing}"
    assert not unknown, f"the map in nbhelpers/__init__.py names what does not exist: {unknown}"
