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


def _find_realdata():
    """``../shared/realdata`` beside the checkout (CI and developers have it)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for candidate in (
        root.parent / "shared" / "realdata",
        root / "shared" / "realdata",
    ):
        if (candidate / "README.md").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def realdata():
    """Path of the real survey data folder; the test is skipped where it is absent
    (users do not have it: it is the project's development data)."""
    path = _find_realdata()
    if path is None:
        pytest.skip("../shared/realdata (the project's real survey data) is absent")
    return path
