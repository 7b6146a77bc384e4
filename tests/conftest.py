"""Shared fixtures: small deterministic data and a single torch thread."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """Keep torch to the CI machine's two cores, if torch is loaded."""
    import sys

    if "torch" in sys.modules:  # pragma: no cover - depends on test order
        sys.modules["torch"].set_num_threads(2)
    yield
