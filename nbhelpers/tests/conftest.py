"""Fixtures shared by the nbhelpers unit tests."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread for the test: tiny tensors gain nothing from threads, and on a busy
    2-core machine OpenMP's barriers make two threads up to ten times slower than one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
