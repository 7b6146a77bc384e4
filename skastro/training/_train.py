"""Train a recipe on streamed simulations for a wall-clock budget, resumably."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._checkpoint import CPUTime, TrainingCheckpoint, WallClockBudget, checkpoint_exists
from ._recipes import Recipe, get_recipe
from ._stream import SimulatedStream, StreamPass, read_arrays, write_arrays

__all__ = ["train_recipe", "make_stream", "simulate_ahead"]

#: Stream seeds: the training stream and the validation set (test sets are
#: drawn by the evaluation with other seeds).
_STREAM_SEED = 20210
_VALID_SEED = 777_001


def _cache_dir(recipe: Recipe, out: Path) -> Path:
    if recipe.cache is not None:
        return out.resolve().parent / f"cache-{recipe.cache}"
    return out / "pool"


def _validation_set(recipe: Recipe, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """The fixed validation set (simulator output, cached), transformed."""
    folder = _cache_dir(recipe, out) if recipe.cache is not None else out
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "valid.npz"
    if path.exists():
        X, y = read_arrays(path)
    else:
        X, y = recipe.simulate(recipe.valid_size, _VALID_SEED)
        tmp = folder / f"valid.npz.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            write_arrays(f, X, y)
        os.replace(tmp, path)
    if recipe.transform is not None:
        X, y = recipe.transform(X, y)
    return X, y


def make_stream(recipe: Recipe | str, out: str | os.PathLike) -> SimulatedStream:
    """The training stream of ``recipe`` for the run in ``out``."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    return SimulatedStream(
        recipe.simulate,
        examples_per_pass=recipe.examples_per_pass,
        chunk_size=recipe.chunk_size,
        repeats=recipe.repeats,
        cache_dir=_cache_dir(recipe, out) if recipe.repeats > 1 else None,
        transform=recipe.transform,
        consumer=recipe.name,
        random_state=_STREAM_SEED,
    )


def _build_for_training(
    recipe: Recipe | str,
    out: str | os.PathLike,
    *,
    hours: float = 1.0,
    every_minutes: float = 10.0,
    resume: bool = True,
    max_passes: int | None = None,
    verbose: int = 1,
) -> tuple[Any, SimulatedStream]:
    """The estimator of ``recipe`` set up for a streamed, checkpointed fit.

    Returns the initialised estimator (validation on a fixed simulated set,
    callbacks :class:`StreamPass`, :class:`CPUTime`,
    :class:`TrainingCheckpoint` in ``out`` and :class:`WallClockBudget`) and
    the training stream; :func:`train_recipe` runs the fit.
    """
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    X_valid, y_valid = _validation_set(recipe, out)
    stream = make_stream(recipe, out)
    est = recipe.build()
    callbacks = list(est.callbacks or [])
    callbacks += [
        ("stream_pass", StreamPass()),
        ("cpu_time", CPUTime()),
        (
            "checkpoint",
            TrainingCheckpoint(out, every_minutes=every_minutes, resume=resume),
        ),
        ("budget", WallClockBudget(hours)),
    ]
    est.set_params(
        callbacks=callbacks,
        train_split=predefined_split(Dataset(X_valid, y_valid)),
        iterator_train__shuffle=False,
        iterator_train__num_workers=recipe.num_workers,
        max_epochs=10**6 if max_passes is None else max_passes,
        verbose=verbose,
    )
    recipe.setup(est, X_valid, y_valid)
    return est, stream


def train_recipe(
    recipe: Recipe | str,
    out: str | os.PathLike,
    *,
    hours: float,
    resume: bool = False,
    every_minutes: float = 10.0,
    max_passes: int | None = None,
    n_threads: int = 1,
    verbose: int = 1,
) -> Any:
    """Train ``recipe`` on streamed simulations for ``hours`` of wall-clock time.

    The run lives in ``out``: ``checkpoint/`` (weights, optimizer, history,
    saved every ``every_minutes`` and when the run ends or is interrupted),
    ``valid.npz`` (the fixed validation set), ``pool/`` (cached simulations
    when the recipe repeats its pools) and ``train.json`` (the run's
    settings). Pass ``resume=True`` to continue a run from its checkpoint.

    Parameters
    ----------
    recipe : str or Recipe
        A name of :data:`~skastro.training.RECIPES` or a :class:`Recipe`.
    out : str or path
        The run's folder.
    hours : float
        Wall-clock budget of this call, hours (the fit stops at the end of
        the first pass past it).
    resume : bool, default=False
        Continue from the checkpoint in ``out``. Without it, a folder that
        already holds a checkpoint is refused.
    every_minutes : float, default=10.0
        Minutes between checkpoints.
    max_passes : int or None, default=None
        Stop after this many passes of this call (None: only the budget).
    n_threads : int, default=1
        torch threads of the training process.
    verbose : int, default=1
        1 prints skorch's table, one row per pass.

    Returns
    -------
    estimator
        The trained estimator (also in ``out/checkpoint``).
    """
    import torch
    from skorch import NeuralNet

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    if checkpoint_exists(out) and not resume:
        raise ValueError(
            f"{out} already holds a training checkpoint; pass resume=True "
            "(--resume) to continue it, or choose another folder."
        )
    torch.set_num_threads(n_threads)
    est, stream = _build_for_training(
        recipe,
        out,
        hours=hours,
        every_minutes=every_minutes,
        resume=resume,
        max_passes=max_passes,
        verbose=verbose,
    )
    with open(out / "train.json", "w") as f:
        json.dump(
            {
                "recipe": recipe.name,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "hours": hours,
                "resume": resume,
                "n_threads": n_threads,
                "examples_per_pass": len(stream),
                "repeats": recipe.repeats,
                "num_workers": recipe.num_workers,
            },
            f,
            indent=1,
        )
    NeuralNet.partial_fit(est, stream, None)
    return est


def simulate_ahead(
    recipe: Recipe | str,
    out: str | os.PathLike,
    *,
    ahead: int = 1,
    max_pools: int | None = None,
) -> int:
    """Simulate the pools of ``recipe``'s stream ahead of its training.

    For recipes whose simulator is slower than their training
    (``repeats > 1``); run in a process of its own beside
    :func:`train_recipe` on the same ``out`` (``skastro train RECIPE --out
    DIR --simulate-ahead``). See :meth:`SimulatedStream.fill`.

    Returns
    -------
    n_simulated : int
        Chunks simulated (only returns when ``max_pools`` is set).
    """
    stream = make_stream(recipe, out)
    if stream.cache_dir is None:
        raise ValueError(
            "this recipe simulates every pass afresh (repeats=1): there is no "
            "pool to simulate ahead."
        )
    return stream.fill(ahead=ahead, max_pools=max_pools)
