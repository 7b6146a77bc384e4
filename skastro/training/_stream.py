"""Fresh simulated examples every pass: a torch ``IterableDataset`` over a simulator."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["SimulatedStream", "StreamPass"]

#: A lock older than this (seconds) belongs to a process that died.
_STALE_LOCK_S = 3600.0
_POLL_S = 5.0


def _n_examples(X) -> int:
    if isinstance(X, dict):
        lengths = {len(v) for v in X.values()}
        return lengths.pop() if len(lengths) == 1 else -1
    return len(X)


def _stale(lock: Path) -> bool:
    """Whether a chunk's lock file was left by a process that is gone."""
    try:
        age = time.time() - lock.stat().st_mtime
        pid = int(lock.read_text() or 0)
    except FileNotFoundError:
        return False
    except ValueError:
        pid = 0
    if age > _STALE_LOCK_S:
        return True
    if pid <= 0:
        return age > 60.0  # being written: give it a minute
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def write_arrays(f, X, y) -> None:
    """Write ``(X, y)`` (``X`` an array or a dict of arrays) to an ``.npz`` file."""
    arrays = (
        {"X." + k: np.asarray(v) for k, v in X.items()}
        if isinstance(X, Mapping)
        else {"X": X}
    )
    np.savez(f, y=y, **arrays)


def read_arrays(path) -> tuple:
    """``(X, y)`` written by :func:`write_arrays`."""
    with np.load(path, allow_pickle=False) as f:
        if "X" in f.files:
            return f["X"], f["y"]
        keys = [k[2:] for k in f.files if k.startswith("X.")]
        return {k: f["X." + k] for k in keys}, f["y"]


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
        ``simulate(n, random_state)`` -> ``(X, y)``: ``n`` examples (an
        array with the examples along axis 0, or a dict of such arrays, e.g.
        padded image sequences and their masks for a sequence network,
        already in the network's input units) from an int ``random_state``
        in [0, 2**32). Must be
        picklable (a module-level function or a :func:`functools.partial`
        of one) when ``iterator_train__num_workers > 0``.
    examples_per_pass : int
        Examples per pass, rounded up to a whole number of chunks.
    chunk_size : int, default=256
        Examples per simulator call.
    repeats : int, default=1
        Passes over each pool of examples (1: fresh examples every pass).
    cache_dir : str, path or None, default=None
        Folder for the pool's chunks; None keeps nothing. Several streams
        with the same ``simulate`` and ``random_state`` (e.g. two networks
        trained on views of the same simulations) can share it.
    transform : callable or None, default=None
        ``transform(X, y)`` -> ``(X, y)`` applied to every chunk after it is
        simulated or read from the cache (a view of the bands, a target
        scaling), so the cache holds the simulator's output.
    consumer : str, default="train"
        Name of this stream among those sharing ``cache_dir``: each records
        the pool it reads (``consumer-<name>.json``); chunks of pools older
        than every consumer's are deleted, and :meth:`fill` simulates ahead
        of the slowest.
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
        transform: Callable | None = None,
        consumer: str = "train",
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
        if transform is not None and not callable(transform):
            raise TypeError(
                f"transform must be a callable transform(X, y) -> (X, y) or None; "
                f"got {transform!r}."
            )
        self.transform = transform
        if not isinstance(consumer, str) or not consumer.replace("-", "").isalnum():
            raise ValueError(
                f"consumer must be a name of letters, digits and '-'; got {consumer!r}."
            )
        self.consumer = consumer
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
        if self.cache_dir is not None:
            self._mark_and_evict(self.pass_index // self.repeats)

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
        if isinstance(X, Mapping):
            X = {str(k): np.asarray(v) for k, v in X.items()}
        else:
            X = np.asarray(X)
        y = np.asarray(y)
        sizes = {_n_examples(X), len(y)}
        if sizes != {self.chunk_size}:
            raise ValueError(
                f"simulate({self.chunk_size}, random_state) returned "
                f"{_n_examples(X)} examples and {len(y)} targets; it must return "
                "exactly n of each (every array of a dict X too)."
            )
        return X, y

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            return read_arrays(path)
        except (OSError, ValueError, KeyError, EOFError):
            return None  # missing, or damaged by an interruption elsewhere

    def _cached_chunk(self, pool: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        path = self._chunk_path(pool, chunk)
        lock = path.with_suffix(".lock")
        while True:
            found = self._read(path)
            if found is not None:
                return found
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                # another process simulates this chunk: wait for it, unless
                # it died (its pid is gone, or the lock is too old)
                if _stale(lock):
                    lock.unlink(missing_ok=True)
                else:
                    time.sleep(_POLL_S)
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            try:
                X, y = self._simulate_chunk(pool, chunk)
                fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".npz.tmp")
                try:
                    with os.fdopen(fd, "wb") as f:
                        write_arrays(f, X, y)
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            finally:
                lock.unlink(missing_ok=True)
            return X, y

    def load_chunk(self, pool: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ``chunk`` of ``pool``, transformed: from the cache if there,
        else simulated (and cached when ``cache_dir`` is set)."""
        if self.cache_dir is None:
            X, y = self._simulate_chunk(pool, chunk)
        else:
            X, y = self._cached_chunk(pool, chunk)
        if self.transform is not None:
            X, y = self.transform(X, y)
        return X, y

    # ----------------------------------------------------- sharing the cache
    def _consumer_pools(self) -> list[int]:
        pools = []
        for path in self.cache_dir.glob("consumer-*.json"):
            try:
                pools.append(int(json.loads(path.read_text())["pool"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return pools

    def _mark_and_evict(self, pool: int) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        marker = self.cache_dir / f"consumer-{self.consumer}.json"
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pool": pool, "time": time.time()}))
        os.replace(tmp, marker)
        oldest = min(self._consumer_pools(), default=pool)
        for path in self.cache_dir.glob("pool*-chunk*.npz"):
            try:
                if int(path.name[4:11]) < oldest:
                    path.unlink()
            except (ValueError, FileNotFoundError):
                pass

    def fill(
        self,
        *,
        ahead: int = 1,
        max_pools: int | None = None,
        poll_seconds: float = 30.0,
    ) -> int:
        """Simulate pools into ``cache_dir`` ahead of the streams reading it.

        Run in a process of its own beside the training (``skastro train
        --simulate-ahead``): keeps the pool of the slowest consumer and the
        ``ahead`` next ones complete, simulating one chunk at a time (chunks
        another process is simulating are skipped), and sleeps when they
        are. Returns after ``max_pools`` pools are complete (None: never).

        Returns
        -------
        n_simulated : int
            Chunks this call simulated.
        """
        if self.cache_dir is None:
            raise ValueError("fill needs a cache_dir to simulate into.")
        n = 0
        while True:
            current = min(self._consumer_pools(), default=0)
            todo = [
                (pool, chunk)
                for pool in range(current, current + ahead + 1)
                if max_pools is None or pool < max_pools
                for chunk in range(self.n_chunks)
                if not self._chunk_path(pool, chunk).exists()
                and not self._chunk_path(pool, chunk).with_suffix(".lock").exists()
            ]
            if not todo:
                if max_pools is not None and current + ahead + 1 >= max_pools:
                    return n
                time.sleep(poll_seconds)
                continue
            pool, chunk = todo[0]
            self._cached_chunk(pool, chunk)
            n += 1

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        info = torch.utils.data.get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        p = self.pass_index
        pool = p // self.repeats
        for chunk in range(worker, self.n_chunks, n_workers):
            X, y = self.load_chunk(pool, chunk)
            for i in self._order(p, chunk, len(y)):
                if isinstance(X, dict):
                    yield {k: v[i] for k, v in X.items()}, y[i]
                else:
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
