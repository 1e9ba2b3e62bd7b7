import pytest

from nbhelpers.batch import main
from nbhelpers.report import parameters, profiles

SMOKE_SEEDS = tuple(profiles.profile_seeds("smoke"))   # its evaluation seeds: two, so that the summary compares


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Every notebook executed headless with the smoke profile for two seeds, then the summary,
    into a temporary report root. Returns (exit status, reports/smoke folder)."""
    root = tmp_path_factory.mktemp("reports")
    status = main.main(["--profile", "smoke", "--seeds", ",".join(map(str, SMOKE_SEEDS)), "--jobs", "1",
                        "--reports-dir", str(root)])   # one after another: the reference for --jobs 2
    return status, root / "smoke"


def pytest_generate_tests(metafunc):
    if "stem" in metafunc.fixturenames:
        metafunc.parametrize("stem", parameters.notebook_stems())
