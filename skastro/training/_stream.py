"""Fresh simulated examples every pass: a torch ``IterableDataset`` over a simulator."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["SimulatedStream", "StreamPass"]


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    return int(value)


class SimulatedStream(torch.utils.data.IterableDataset):
    """Examples drawn from a simulator, new ones at every pass.

    A pass (one skorch epoch) yields ``examples_per_pass`` examples made of
    chunks of ``chunk_size``; chunk ``c`` of pass ``p`` is simulated with a
    seed derived from ``(random_state, p // repeats, c)`` only, so passes are
    reproducible, chunks are split across DataLoader workers (worker ``w``
    of ``W`` simulates chunks ``w, w + W, ...``) without two workers drawing
    the same examples, and a network never sees the same example twice when
    ``repeats=1``. Within a chunk the examples are yielded in an order
    drawn from ``(random_state, p, c)``.

    When simulating is slower than training, ``repeats > 1`` makes a pool:
    the examples of one pool are presented in ``repeats`` consecutive passes
    (reshuffled) before the next pool is drawn. With ``cache_dir`` the
    chunks of the current pool are kept on disk (``.npz``), so the repeated
    passes, and a run resumed after an interruption, read them instead of
    simulating again; chunks of earlier pools are deleted.

    Parameters
    ----------
    simulate : callable
        ``simulate(n, random_state)`` -> ``(X, y)``: ``n`` examples (arrays
        with the examples along axis 0, already in the network's input
        units) from an int ``random_state`` in [0, 2**32). Must be
        picklable (a module-level function or a :func:`functools.partial`
        of one) when ``iterator_train__num_workers > 0``.
    examples_per_pass : int
        Examples per pass, rounded up to a whole number of chunks.
    chunk_size : int, default=256
        Examples per simulator call.
    repeats : int, default=1
        Passes over each pool of examples (1: fresh examples every pass).
    cache_dir : str, path or None, default=None
        Folder for the pool's chunks; None keeps nothing.
    random_state : int, default=0
        Seed of the whole stream.

    Attributes
    ----------
    pass_index : int
        The pass the next iteration yields; set by :meth:`set_pass` (the
        :class:`StreamPass` callback sets it from the net's history).

    Examples
    --------
    >>> from functools import partial
    >>> from skastro.training import SimulatedStream
    >>> from skastro.training import simulate_lsbg
    >>> stream = SimulatedStream(
    ...     partial(simulate_lsbg, survey="des"), examples_per_pass=4, chunk_size=2
    ... )
    >>> [x.shape for x, y in stream]  # doctest: +NORMALIZE_WHITESPACE
    [(3, 64, 64), (3, 64, 64), (3, 64, 64), (3, 64, 64)]
    """

    def __init__(
        self,
        simulate: Callable,
        *,
        examples_per_pass: int,
        chunk_size: int = 256,
        repeats: int = 1,
        cache_dir: str | os.PathLike | None = None,
        random_state: int = 0,
    ):
        super().__init__()
        if not callable(simulate):
            raise TypeError(
                f"simulate must be a callable simulate(n, random_state) -> (X, y); "
                f"got {simulate!r}."
            )
        self.simulate = simulate
        self.chunk_size = _check_positive_int(chunk_size, "chunk_size")
        examples_per_pass = _check_positive_int(examples_per_pass, "examples_per_pass")
        self.n_chunks = -(-examples_per_pass // self.chunk_size)
        self.repeats = _check_positive_int(repeats, "repeats")
        if isinstance(random_state, bool) or not isinstance(random_state, Integral):
            raise ValueError(
                f"random_state must be an int (the stream's seed); got {random_state!r}."
            )
        self.random_state = int(random_state)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.pass_index = 0

    def __len__(self) -> int:
        return self.n_chunks * self.chunk_size

    def set_pass(self, pass_index: int) -> None:
        """Select the pass the next iteration yields (0-based)."""
        if isinstance(pass_index, bool) or not isinstance(pass_index, Integral):
            raise ValueError(f"pass_index must be an int >= 0; got {pass_index!r}.")
        if pass_index < 0:
            raise ValueError(f"pass_index must be an int >= 0; got {pass_index!r}.")
        self.pass_index = int(pass_index)

    # ------------------------------------------------------------------ seeds
    def chunk_seed(self, pool: int, chunk: int) -> int:
        """The simulator's ``random_state`` for ``chunk`` of ``pool``."""
        seq = np.random.SeedSequence([self.random_state, pool, chunk])
        return int(seq.generate_state(1, np.uint32)[0])

    def _order(self, pass_index: int, chunk: int, n: int) -> np.ndarray:
        seq = np.random.SeedSequence([self.random_state, pass_index, chunk, 1])
        return np.random.default_rng(seq).permutation(n)

    # ------------------------------------------------------------------ chunks
    def _chunk_path(self, pool: int, chunk: int) -> Path:
        return self.cache_dir / f"pool{pool:07d}-chunk{chunk:05d}.npz"

    def _simulate_chunk(self, pool: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = self.simulate(self.chunk_size, self.chunk_seed(pool, chunk))
        X, y = np.asarray(X), np.asarray(y)
        if len(X) != self.chunk_size or len(y) != self.chunk_size:
            raise ValueError(
                f"simulate({self.chunk_size}, random_state) returned {len(X)} "
                f"examples and {len(y)} targets; it must return exactly n of each."
            )
        return X, y

    def load_chunk(self, pool: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ``chunk`` of ``pool``: from the cache if there, else simulated
        (and cached when ``cache_dir`` is set)."""
        if self.cache_dir is None:
            return self._simulate_chunk(pool, chunk)
        path = self._chunk_path(pool, chunk)
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as f:
                    return f["X"], f["y"]
            except (OSError, ValueError, KeyError):
                pass  # a damaged chunk (interrupted elsewhere): simulate it again
        X, y = self._simulate_chunk(pool, chunk)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, X=X, y=y)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return X, y

    def _evict(self, pool: int) -> None:
        for path in self.cache_dir.glob("pool*-chunk*.npz"):
            try:
                if int(path.name[4:11]) < pool:
                    path.unlink()
            except (ValueError, FileNotFoundError):
                pass

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        info = torch.utils.data.get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        p = self.pass_index
        pool = p // self.repeats
        if self.cache_dir is not None and worker == 0:
            self._evict(pool)
        for chunk in range(worker, self.n_chunks, n_workers):
            X, y = self.load_chunk(pool, chunk)
            for i in self._order(p, chunk, len(X)):
                yield X[i], y[i]


class StreamPass(Callback):
    """Tell a :class:`SimulatedStream` training set which pass an epoch is.

    At the start of each epoch, sets the stream's pass to the number of
    epochs already in the net's history, so a fit resumed from a
    checkpoint continues with new examples instead of repeating the first
    passes.
    """

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if isinstance(dataset_train, SimulatedStream):
            dataset_train.set_pass(len(net.history) - 1)
