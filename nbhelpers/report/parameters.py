"""The notebook's ``parameters`` cell (papermill's convention): the declared names, their
defaults (and therefore their types) and the valid values of each, checked before any work.

Each parameter declares its valid values next to its default, as the start of its comment,
up to ": " (``Rule``): intervals ``[1, inf)``, ``(0, inf)``, ``[0, 60000]``, ``[0, 1)`` for numbers
(for a list: each element), ``report | paper`` for choices (``N`` in a choice stands for any
natural number, as in ``cuda:N``), optionally followed by ``, non-empty`` or ``, length 2`` for
lists. (No "=" in them: papermill warns about a parameter line with two.) ``RELATIONS`` adds
the few rules that tie two parameters together. A value outside its rule is refused before any
work, naming the parameter, the value and the rule. A value of the wrong type is refused too
(papermill itself would only warn and carry on); an int is accepted where a float is declared.

Where the values of a run come from (the profile files layered over these defaults, and
command-line overrides) is ``profiles``.
"""
import ast
import io
import json
import math
import re
import tokenize
from pathlib import Path
from types import SimpleNamespace

from nbhelpers.paths import NOTEBOOKS_DIR, REPO_ROOT


class ParameterError(ValueError):
    """A parameter is unknown, mistyped, or a profile/notebook does not exist."""


def repo_relative(path: Path) -> str:
    """A file as an error names it: relative to the repository when inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


class Rule:
    """The valid values of one parameter, parsed from the start of its comment: an interval
    (``[0, 1)``, ``[1, inf)``) or choices (``a | b``), then options (``, non-empty``,
    ``, length 2``) that apply to a list as a whole; the values rule applies to each element."""

    INTERVAL = re.compile(r"([\[(])\s*(-inf|-?[\d.e+]+)\s*,\s*(inf|-?[\d.e+]+)\s*([\])])")
    CHOICES = re.compile(r"[\w.:-]+(?:\s*\|\s*[\w.:-]+)+")

    def __init__(self, text: str):
        self.text = text
        match = self.INTERVAL.match(text) or self.CHOICES.match(text)
        if not match:
            raise ValueError(f"not a rule: {text!r}")
        self.values = match.group(0)
        self.low = self.high = self.choices = self.length = None
        self.closed, self.non_empty = (True, True), False
        if match.re is self.INTERVAL:
            self.low, self.high = float(match[2]), float(match[3])
            self.closed = (match[1] == "[", match[4] == "]")
        else:
            self.choices = [choice.strip() for choice in self.values.split("|")]
        for option in filter(None, (part.strip() for part in text[match.end():].split(","))):
            if option == "non-empty":
                self.non_empty = True
            elif re.fullmatch(r"length \d+", option):
                self.length = int(option.split()[1])
            else:
                raise ValueError(f"not a rule option: {option!r}")

    def admits(self, value) -> bool:
        """Whether one value (or a list's element) obeys the rule."""
        if self.choices is not None:   # "N" in a choice stands for a natural number: cuda:N
            return isinstance(value, str) and any(
                re.fullmatch(re.escape(choice).replace("N", r"\d+"), value) for choice in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        above = self.low is None or (value >= self.low if self.closed[0] else value > self.low)
        below = self.high is None or (value <= self.high if self.closed[1] else value < self.high)
        return above and below

    def problem(self, value) -> str | None:
        """Why ``value`` breaks the rule, or None."""
        if not isinstance(value, list):
            return None if self.admits(value) else "is not allowed"
        if self.non_empty and not value:
            return "must not be empty"
        if self.length is not None and len(value) != self.length:
            return f"must have {self.length} elements"
        bad = [element for element in value if not self.admits(element)]
        return f"holds {bad[0]!r}, which is not allowed" if bad else None


def parse_rule(comment: str) -> Rule | None:
    """The rule at the start of a parameter's comment (text before ": "), or None for prose."""
    head = comment.split(": ", 1)[0].split("; ", 1)[0].split(" (", 1)[0].strip()
    head = head[3:] if head.startswith("in ") else head
    try:
        return Rule(head)
    except ValueError:
        return None


def notebook_stems() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(stem: str) -> dict:
    """Names and default values of the notebook's ``parameters`` cell, in order."""
    return {name: default for name, (default, _) in _parameters_cell(stem).items()}


def declared_rules(stem: str) -> dict:
    """Name -> ``Rule`` for every parameter whose comment starts with one."""
    return {name: rule for name, (_, rule) in _parameters_cell(stem).items() if rule is not None}


def _parameters_cell(stem: str) -> dict:
    """Name -> (default, rule or None), read from the notebook's ``parameters`` cell."""
    path = NOTEBOOKS_DIR / f"{stem}.ipynb"
    if not path.exists():
        raise ParameterError(f"unknown notebook {stem!r}; available: {', '.join(notebook_stems())}")
    try:
        notebook = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ParameterError(f"{repo_relative(path)}, line {error.lineno}, column {error.colno}: not a notebook, "
                             f"its JSON does not parse: {error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError(f"{repo_relative(path)}: cannot read the notebook: {error}") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ParameterError(f"{repo_relative(path)}: not a notebook (no list of cells)")
    cells = [c for c in notebook["cells"]
             if isinstance(c, dict) and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{repo_relative(path)} must have exactly one cell tagged 'parameters' (found {len(cells)})")
    source = "".join(cells[0].get("source", ""))
    where = f"{repo_relative(path)}, parameters cell"
    try:
        nodes = ast.parse(source).body
        comments = {token.start[0]: token.string.lstrip("#").strip()
                    for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}
    except SyntaxError as error:   # IndentationError included; what parses, tokenizes
        raise ParameterError(f"{where}, line {error.lineno}: syntax error: {error.msg}") from None
    declared = {}
    for node in nodes:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ParameterError(f"{where}, line {node.lineno}: it may hold only 'name = literal' lines")
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"{where}, line {node.lineno}: the default of {node.targets[0].id!r} "
                                 f"is not a literal (a number, string, list, ...)") from None
        declared[node.targets[0].id] = (default, parse_rule(comments.get(node.lineno, "")))
    return declared


# Rules that tie parameters together: (names, holds(values), what must be true). Checked when a
# notebook declares every name.
MNIST_TRAIN_SIZE = 60_000
RELATIONS = (
    (("batch_size", "train_limit"), lambda v: v["batch_size"] <= (v["train_limit"] or MNIST_TRAIN_SIZE),
     "batch_size must not exceed the training images (train_limit, 0 meaning all 60,000)"),
    (("batch_size", "ablation_train_limit"),
     lambda v: v["batch_size"] <= (v["ablation_train_limit"] or MNIST_TRAIN_SIZE),
     "batch_size must not exceed the ablation's training images (ablation_train_limit)"),
    (("beta_min", "beta_init", "beta_max"), lambda v: v["beta_min"] <= v["beta_init"] <= v["beta_max"],
     "beta_min <= beta_init <= beta_max must hold"),
)


def check_rules(stem: str, values: dict) -> None:
    """ParameterError naming the parameter, its value and the rule it breaks (its own, declared
    next to its default, or one of ``RELATIONS``)."""
    for name, rule in declared_rules(stem).items():
        if name in values and (problem := rule.problem(values[name])):
            raise ParameterError(f"{stem}: parameter {name!r} = {values[name]!r} {problem}; allowed: {rule.text} "
                                 f"(declared beside its default in notebooks/{stem}.ipynb)")
    for names, holds, requirement in RELATIONS:
        if all(name in values for name in names) and not holds(values):
            shown = ", ".join(f"{name}={values[name]!r}" for name in names)
            raise ParameterError(f"{stem}: {requirement}; got {shown}")


def check_value(name: str, value, default):
    """``value`` converted to the declared type of ``default``, or ParameterError."""
    if default is None:  # declared without a type: anything goes
        return value
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ParameterError(f"parameter {name!r} must be {expected.__name__} (default {default!r}), "
                             f"got {type(value).__name__} {value!r}")
    if expected is list and default and value:
        element_type = type(default[0])
        return [check_value(f"{name}[{i}]", v, default[0]) if element_type in (int, float, str, bool) else v
                for i, v in enumerate(value)]
    return value


def notebook_params(stem: str, namespace: dict) -> SimpleNamespace:
    """Inside a notebook: collect and re-check the parameters after papermill's injection.

    ``namespace`` is the notebook's ``globals()``. Returns the values as attributes;
    ``context.start_run`` shows them, with their sources, so every report shows what it ran with.
    """
    declared = declared_parameters(stem)
    values = {name: check_value(name, namespace[name], default) for name, default in declared.items()}
    check_rules(stem, values)
    return SimpleNamespace(**values)
