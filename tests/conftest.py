import pytest

from nbhelpers import config, pipeline


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Every notebook executed headless with the smoke profile, into a temporary report root."""
    root = tmp_path_factory.mktemp("reports")
    status = pipeline.main(["--profile", "smoke", "--reports-dir", str(root)])
    return status, root / "smoke"


def pytest_generate_tests(metafunc):
    if "stem" in metafunc.fixturenames:
        metafunc.parametrize("stem", config.notebook_stems())
