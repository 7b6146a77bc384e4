"""Turn a training run into a shipped model: weights, measurements, model card."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._checkpoint import TrainingCheckpoint, checkpoint_exists
from ._recipes import Recipe, get_recipe
from ._train import INIT_FILE, _validation_set

__all__ = ["load_run", "export_model", "training_budget"]


def load_run(recipe: Recipe | str, out: str | os.PathLike):
    """The estimator of a training run, from the checkpoint in ``out``."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    if not checkpoint_exists(out):
        raise ValueError(
            f"{out} holds no training checkpoint; train first with "
            f"`skastro train {recipe.name} --out {out} --hours H`."
        )
    X_valid, y_valid = _validation_set(recipe, out)
    est = recipe.build()
    est.set_params(verbose=0, callbacks=None)
    recipe.setup(est, X_valid, y_valid)
    TrainingCheckpoint(out).initialize().load(est)
    return est


def training_budget(history) -> dict[str, Any]:
    """Passes, examples presented, CPU and wall-clock hours of a history."""
    rows = [r for r in history if "train_loss" in r]

    def total(key):
        return float(sum(r.get(key, 0.0) or 0.0 for r in rows))

    return {
        "passes": len(rows),
        "examples_presented": int(total("n_examples")),
        "cpu_hours": round(total("cpu_s") / 3600, 3),
        "wall_hours": round(total("dur") / 3600, 3),
        "final_lr": rows[-1].get("event_lr") if rows else None,
        "final_valid_loss": rows[-1].get("valid_loss") if rows else None,
        "best_valid_loss": min(
            (r["valid_loss"] for r in rows if "valid_loss" in r), default=None
        ),
    }


def _accumulated(budget: dict[str, Any], init: dict[str, Any]) -> dict[str, Any]:
    """``budget`` of a run plus that of the model it started from."""
    before = init.get("budget", {})
    total = dict(budget)
    for key, digits in (
        ("passes", None),
        ("examples_presented", None),
        ("cpu_hours", 3),
        ("wall_hours", 3),
    ):
        value = (before.get(key) or 0) + (budget.get(key) or 0)
        total[key] = value if digits is None else round(value, digits)
    return total


def _run_settings(out: Path) -> dict[str, Any]:
    path = out / "train.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _versions() -> dict[str, str]:
    import sklearn
    import skorch
    import torch

    import skastro

    return {
        "skastro": skastro.__version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def export_model(
    recipe: Recipe | str,
    out: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    dtype: str = "float32",
    evaluate: bool = True,
    eval_params: dict | None = None,
    notes: dict | None = None,
) -> Path:
    """Write the run in ``out`` as a model for :func:`skastro.models.load_pretrained`.

    The weights go to ``dest`` (default: the package's
    ``skastro/models/weights/<model name>``) with a model card: the recipe,
    the data, the budget (passes, examples presented, CPU hours), library
    versions and, with ``evaluate``, the recipe's measurements on freshly
    simulated test sets, made on the model as loaded back from ``dest``. A
    run warm-started from another model (``train_recipe(init=...)``)
    reports the budgets added up, and that model's record as ``init_from``.

    Parameters
    ----------
    recipe : str or Recipe
    out : str or path
        The training run's folder.
    dest : str or path, optional
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Storage type of the weights.
    evaluate : bool, default=True
    eval_params : dict, optional
        Passed to the recipe's evaluation.
    notes : dict, optional
        More model-card entries (comparisons made beside the evaluation,
        caveats), stored as they are.

    Returns
    -------
    dest : pathlib.Path
    """
    from ..models._pretrained import WEIGHTS_DIR, load_pretrained, save_pretrained

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    est = load_run(recipe, out)
    dest = Path(dest) if dest is not None else WEIGHTS_DIR / recipe.model_name
    settings = _run_settings(out)
    command = f"skastro train {recipe.name} --out DIR --hours H --resume"
    budget = training_budget(est.history)
    init_path = out / INIT_FILE
    init = json.loads(init_path.read_text()) if init_path.exists() else None
    if init is not None:
        command += f" --init {init['init']}"
        budget = _accumulated(budget, init)
    if settings.get("lr_floor") is not None:
        command += f" --lr {settings['lr']:g} --lr-floor {settings['lr_floor']:g}"
    card = {
        "name": recipe.model_name,
        "description": recipe.description,
        "recipe": {
            "name": recipe.name,
            "command": command,
            "optimizer": getattr(est.optimizer, "__name__", str(est.optimizer)),
            "lr_start": settings.get("lr", est.lr),
            "batch_size": est.batch_size,
            "examples_per_pass": recipe.examples_per_pass,
            "repeats_per_pool": recipe.repeats,
        },
        "data": {
            "simulator": getattr(recipe.simulate, "func", recipe.simulate).__name__,
            "simulator_kwargs": getattr(recipe.simulate, "keywords", {}),
            "note": "fresh simulated examples; each pool presented "
            f"{recipe.repeats} times",
        },
        "budget": budget,
        "versions": _versions(),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(notes or {}),
    }
    if settings.get("lr_floor") is not None:
        card["recipe"]["lr_schedule"] = (
            f"cosine from {settings['lr']:g} to {settings['lr_floor']:g} over "
            f"{settings['anneal_over']} (the last call's)"
        )
    if init is not None:
        # the budget above includes the starting model's
        card["init_from"] = init
    # written and measured beside dest, then swapped in: a model folder is
    # never left without its measurements
    staging = dest.with_name(dest.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    save_pretrained(est, staging, card=card, dtype=dtype)
    if evaluate and recipe.evaluate is not None:
        loaded = load_pretrained(staging)
        card["metrics"] = recipe.evaluate(loaded, **(eval_params or {}))
        save_pretrained(est, staging, card=card, dtype=dtype)
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest
