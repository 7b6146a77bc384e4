"""PyTorch helpers shared by the deep estimators.

Seeding never touches torch's *global* random state: an estimator with a
``random_state`` draws its initial weights inside
:func:`torch.random.fork_rng` seeded from it (:func:`seeded`), and its
training randomness (dropout, batch order) from a stream of its own
(:class:`PrivateRNG`), which is swapped in around each training step and out
again. With ``random_state=None`` nothing is seeded: torch's global state is
used as any PyTorch code uses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "PrivateRNG",
    "autocast",
    "resolve_device",
    "seeded",
    "torch_seed_from",
]


def torch_seed_from(random_state) -> int:
    """Return an int seed for torch from ``random_state``.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        Resolved with :func:`sklearn.utils.check_random_state`; ``None`` draws
        a fresh seed (non-deterministic), as scikit-learn does.
    """
    if isinstance(random_state, int | np.integer):
        return int(random_state)
    rng = check_random_state(random_state)
    return int(rng.randint(0, 2**31 - 1))


def _cuda_devices(device: Any) -> list[int]:
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type != "cuda" or not torch.cuda.is_available():
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


@contextlib.contextmanager
def seeded(seed: int | None, device: Any = "cpu") -> Iterator[None]:
    """Run a block with torch's generators seeded by ``seed``, then restore them.

    Parameters
    ----------
    seed : int or None
        ``None`` runs the block as it is (torch's global state, not seeded).
    device : str or torch.device, default="cpu"
        A CUDA device's generator is forked and seeded too.
    """
    if seed is None:
        yield
        return
    import torch

    devices = _cuda_devices(device)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class PrivateRNG:
    """A torch random stream of one estimator, apart from the global one.

    Parameters
    ----------
    seed : int
        Starts the stream.

    Notes
    -----
    :meth:`active` swaps the stream in as torch's current (CPU, and CUDA for
    a CUDA device) random state, runs the block, saves where the stream got
    to and restores the global state: dropout masks and anything else drawn
    inside come from the stream, and code outside sees torch's global state
    unchanged. The object pickles (its states are tensors).
    """

    def __init__(self, seed: int):
        import torch

        self.seed = int(seed)
        self.cpu_state = torch.Generator().manual_seed(self.seed).get_state()
        self.cuda_states: dict[int, Any] = {}

    @contextlib.contextmanager
    def active(self, device: Any = "cpu") -> Iterator[None]:
        import torch

        devices = _cuda_devices(device)
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu_state)
            for index in devices:
                state = self.cuda_states.get(index)
                if state is None:
                    torch.cuda.manual_seed(self.seed)
                else:
                    torch.cuda.set_rng_state(state, index)
            try:
                yield
            finally:
                self.cpu_state = torch.get_rng_state()
                for index in devices:
                    self.cuda_states[index] = torch.cuda.get_rng_state(index)

    def generator(self) -> Any:
        """A new :class:`torch.Generator` seeded from the stream (advancing it)."""
        import torch

        with self.active("cpu"):
            seed = int(torch.randint(0, 2**62, ()).item())
        return torch.Generator().manual_seed(seed)


def resolve_device(device: str | None) -> str:
    """Return ``device``, with ``"auto"`` meaning CUDA when available else CPU."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


#: ``amp`` values and the dtype they compute in.
AMP_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def autocast(amp: str | bool | None, device: Any) -> contextlib.AbstractContextManager:
    """The :func:`torch.autocast` context of ``amp`` on ``device``.

    Parameters
    ----------
    amp : {None, False, "bf16", "fp16"}
        ``None``/``False``: full precision (a no-op context). ``"bf16"``:
        bfloat16 autocast (CPU or CUDA). ``"fp16"``: float16 autocast (use
        with a gradient scaler for training).
    device : str or torch.device
    """
    if not amp:
        return contextlib.nullcontext()
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    return torch.autocast(dev.type, dtype=getattr(torch, AMP_DTYPES[amp]))
