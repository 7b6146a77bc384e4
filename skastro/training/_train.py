"""Train a recipe on streamed simulations for a wall-clock budget, resumably."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._checkpoint import (
    CosineAnnealing,
    CPUTime,
    TrainingCheckpoint,
    WallClockBudget,
    checkpoint_exists,
)
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


@dataclass(frozen=True)
class _RunSettings:
    """How one run trains (the arguments of :func:`train_recipe`)."""

    hours: float
    every_minutes: float
    resume: bool
    max_passes: int | None
    lr: float | None
    lr_floor: float | None

    @property
    def anneal_over(self) -> str | None:
        """What the cosine annealing spans, or None without ``lr_floor``."""
        if self.lr_floor is None:
            return None
        if self.max_passes is not None:
            return f"{self.max_passes} passes"
        return f"{self.hours} hours"


def _build_for_training(
    recipe: Recipe, out: Path, run: _RunSettings, verbose: int
) -> tuple[Any, SimulatedStream]:
    """The estimator of ``recipe`` set up for a streamed, checkpointed fit.

    Returns the initialised estimator (validation on a fixed simulated set,
    callbacks :class:`StreamPass`, :class:`CPUTime`,
    :class:`TrainingCheckpoint` in ``out``, :class:`WallClockBudget` and,
    with ``lr_floor``, :class:`CosineAnnealing` in place of the recipe's
    plateau schedule) and the training stream; :func:`train_recipe` runs the
    fit.
    """
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    out.mkdir(parents=True, exist_ok=True)
    X_valid, y_valid = _validation_set(recipe, out)
    stream = make_stream(recipe, out)
    est = recipe.build()
    if run.lr is not None:
        est.set_params(lr=run.lr)
    callbacks = list(est.callbacks or [])
    if run.lr_floor is not None:
        # one schedule: the annealing replaces the recipe's plateau one
        callbacks = [c for c in callbacks if c[0] != "lr_plateau"]
    callbacks += [
        ("stream_pass", StreamPass()),
        ("cpu_time", CPUTime()),
        (
            "checkpoint",
            TrainingCheckpoint(out, every_minutes=run.every_minutes, resume=run.resume),
        ),
        ("budget", WallClockBudget(run.hours)),
    ]
    if run.lr_floor is not None:
        # after the checkpoint, which restores the history it counts passes in
        callbacks.append(
            (
                "lr_anneal",
                CosineAnnealing(
                    est.lr,
                    run.lr_floor,
                    passes=run.max_passes,
                    hours=None if run.max_passes is not None else run.hours,
                ),
            )
        )
    est.set_params(
        callbacks=callbacks,
        train_split=predefined_split(Dataset(X_valid, y_valid)),
        iterator_train__shuffle=False,
        iterator_train__num_workers=recipe.num_workers,
        max_epochs=10**6 if run.max_passes is None else run.max_passes,
        verbose=verbose,
    )
    recipe.setup(est, X_valid, y_valid)
    return est, stream


#: The run folder's record of the model a run started from.
INIT_FILE = "init.json"


def _warm_start(est: Any, init: str | os.PathLike) -> dict[str, Any]:
    """Load the weights of the trained model ``init`` into ``est``'s network.

    ``init`` is a name of :func:`~skastro.models.list_pretrained` or a folder
    written by :func:`~skastro.models.save_pretrained` (``OUT/model`` of a
    run). The network must be the one ``est`` has built (same estimator,
    same parameter names and shapes); the optimizer is left fresh. Returns
    the record of ``init`` kept in the run folder (:data:`INIT_FILE`): its
    name, the training budget of its card and that budget's notes.
    """
    from ..models import load_pretrained, model_card

    source = load_pretrained(init)
    if type(source) is not type(est):
        raise ValueError(
            f"init={str(init)!r} is a {type(source).__name__}; the recipe trains "
            f"a {type(est).__name__}."
        )
    theirs, ours = source.module_.state_dict(), est.module_.state_dict()
    differ = sorted(
        key
        for key in theirs.keys() | ours.keys()
        if key not in theirs or key not in ours or theirs[key].shape != ours[key].shape
    )
    if differ:
        shapes = ", ".join(
            f"{k}: {tuple(theirs[k].shape) if k in theirs else 'absent'} in init, "
            f"{tuple(ours[k].shape) if k in ours else 'absent'} in the recipe"
            for k in differ[:3]
        )
        raise ValueError(
            f"init={str(init)!r} has another network than the recipe's "
            f"({len(differ)} parameters differ; {shapes}); start from a model "
            "trained by the same recipe."
        )
    est.module_.load_state_dict(theirs)
    card = model_card(init)
    record = {
        "init": str(init),
        "name": card.get("name"),
        "exported": card.get("exported"),
        "budget": card.get("budget", {}),
    }
    for key in ("budget_note", "init_from"):
        if key in card:
            record[key] = card[key]
    return record


def train_recipe(
    recipe: Recipe | str,
    out: str | os.PathLike,
    *,
    hours: float,
    resume: bool = False,
    every_minutes: float = 10.0,
    max_passes: int | None = None,
    init: str | os.PathLike | None = None,
    lr: float | None = None,
    lr_floor: float | None = None,
    n_threads: int = 1,
    verbose: int = 1,
) -> Any:
    """Train ``recipe`` on streamed simulations for ``hours`` of wall-clock time.

    The run lives in ``out``: ``checkpoint/`` (weights, optimizer, history,
    saved every ``every_minutes`` and when the run ends or is interrupted),
    ``valid.npz`` (the fixed validation set), ``pool/`` (cached simulations
    when the recipe repeats its pools) and ``train.json`` (the run's
    settings). Pass ``resume=True`` to continue a run from its checkpoint.

    ``init`` warm-starts a new run from a trained model (its weights, a
    fresh optimizer); ``init.json`` in ``out`` then records it, and the
    exported model card adds its budget to the run's. ``lr_floor`` anneals
    the learning rate from ``lr`` (default: the recipe's) to ``lr_floor``
    along a cosine over ``max_passes`` or, without it, over ``hours``
    (:class:`~skastro.training.CosineAnnealing`), instead of the recipe's
    division on plateaus.

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
    init : str or path, optional
        A shipped model's name (:func:`~skastro.models.load_pretrained`) or
        an exported model's folder to start a new run from; its network
        must be the recipe's. Ignored when resuming from a checkpoint, which
        holds the run's weights (the run's ``init.json`` keeps its record).
    lr : float, optional
        Learning rate at the start of this call (default: the recipe's).
    lr_floor : float, optional
        Anneal the learning rate to this value along a cosine over this
        call's ``max_passes`` (or ``hours``); None: the recipe's schedule.
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
    run = _RunSettings(hours, every_minutes, resume, max_passes, lr, lr_floor)
    est, stream = _build_for_training(recipe, out, run, verbose)
    if init is not None and not checkpoint_exists(out):
        record = _warm_start(est, init)
        with open(out / INIT_FILE, "w") as f:
            json.dump(record, f, indent=1)
    elif init is None and not checkpoint_exists(out) and (out / INIT_FILE).exists():
        (out / INIT_FILE).unlink()  # a stale record of an earlier run
    with open(out / "train.json", "w") as f:
        json.dump(
            {
                "recipe": recipe.name,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "hours": hours,
                "resume": resume,
                "n_threads": n_threads,
                "init": None if init is None else str(init),
                "lr": est.lr,
                "lr_floor": lr_floor,
                "anneal_over": run.anneal_over,
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
