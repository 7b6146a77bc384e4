"""Shared fixtures: a single torch thread for the tiny test networks."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _torch_threads():
    """One torch thread: the tiny test networks gain nothing from more, and
    several threads on a loaded 2-core machine slow them down many times."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    yield
