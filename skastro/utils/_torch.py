"""PyTorch helpers shared by the deep estimators."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state


def torch_seed_from(random_state) -> int:
    """Return an int seed for :func:`torch.manual_seed` from ``random_state``.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        Resolved with :func:`sklearn.utils.check_random_state`; ``None`` draws
        a fresh seed (non-deterministic), as scikit-learn does.
    """
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    rng = check_random_state(random_state)
    return int(rng.randint(0, 2**31 - 1))


def seed_everything(random_state) -> int:
    """Seed torch (CPU and CUDA) from ``random_state`` and return the seed."""
    import torch

    seed = torch_seed_from(random_state)
    torch.manual_seed(seed)
    return seed


def resolve_device(device: str | None) -> str:
    """Return ``device``, with ``"auto"`` meaning CUDA when available else CPU."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
