"""Trained models shipped with skastro: weights-only files and model cards.

Each model lives in ``skastro/models/weights/<name>/``: ``weights.pt``, the
network's state dict written by :func:`torch.save` and read with
``torch.load(weights_only=True)`` (tensors only: no code runs when it is
read), and ``card.json``, the model card: the estimator's class and
parameters, the fitted attributes ``predict`` needs, and how the model was
trained and measured.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "WEIGHTS_DIR",
    "list_pretrained",
    "load_pretrained",
    "model_card",
    "save_pretrained",
]

#: Folder of the shipped models.
WEIGHTS_DIR = Path(__file__).parent / "weights"

#: Estimators a card may name: class name -> module. Nothing else is built.
_ESTIMATORS = {
    "LSBGNet": "skastro.nn",
    "MagnitudePretrainer": "skastro.nn",
    "SequenceRCNN": "skastro.nn",
}

#: Parameter and attribute renames of the estimators (old name -> (new name,
#: conversion)); a card written before a rename loads into the renamed class.
_RENAMES: dict[str, dict[str, tuple[str, Any]]] = {
    "LSBGNet": {
        "softening": ("asinh_softening", lambda b: None if b is None else b / 2)
    },
    "*": {"n_channels_": ("n_bands_", None)},
}

#: skorch's bookkeeping and training-only attributes, never stored.
_NOT_STORED = frozenset(
    {
        "callbacks_",
        "criterion_",
        "history_",
        "initialized_",
        "module_",
        "optimizer_",
        "prefixes_",
        "virtual_params_",
        "cuda_dependent_attributes_",
        "init_context_",
        "classes_inferred_",
    }
)


def _simple(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_simple(v) for v in value)
    return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _estimator_state(est) -> tuple[dict, dict]:
    """The parameters and fitted attributes a card stores.

    Parameters: the network's (``module__*``) and the estimator's own (those
    skorch's :class:`~skorch.NeuralNet` does not have: stretches, target
    scales, penalties); the training loop's settings (optimizer, learning
    rate, epochs, iterators, callbacks) are left at the class defaults, so
    the loaded model fine-tunes with its class's recipe. Fitted attributes:
    the JSON-simple ones (band and output counts, ...).
    """
    import inspect

    from skorch import NeuralNet

    loop = set(inspect.signature(NeuralNet.__init__).parameters)
    params = {}
    for k, v in est.get_params(deep=False).items():
        v = _jsonable(v)
        keep = k.startswith("module__") or (k not in loop and "__" not in k)
        if keep and _simple(v):
            params[k] = v
    fitted = {}
    for k, v in vars(est).items():
        if k.endswith("_") and not k.startswith("_") and k not in _NOT_STORED:
            v = _jsonable(v)
            if _simple(v):
                fitted[k] = v
    return params, fitted


def save_pretrained(
    estimator,
    folder: str | os.PathLike,
    *,
    card: dict | None = None,
    dtype: str = "float32",
) -> Path:
    """Write a fitted estimator as ``weights.pt`` + ``card.json`` in ``folder``.

    Parameters
    ----------
    estimator : fitted skorch estimator
        One of the classes :func:`load_pretrained` rebuilds (LSBGNet,
        MagnitudePretrainer, SequenceRCNN).
    folder : str or path
        Created if missing; files in it are replaced.
    card : dict, optional
        Model-card entries (data, recipe, budget, metrics ...) stored beside
        the ones written here (``estimator``, ``params``, ``fitted``,
        ``weights``).
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Storage type of the floating-point tensors (loaded back as float32).

    Returns
    -------
    folder : pathlib.Path
    """
    import torch

    name = type(estimator).__name__
    if name not in _ESTIMATORS:
        raise ValueError(f"save_pretrained stores {sorted(_ESTIMATORS)}; got a {name}.")
    if not getattr(estimator, "initialized_", False):
        raise ValueError(f"This {name} is not fitted; fit it before saving.")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ValueError(
            f"dtype must be 'float32', 'float16' or 'bfloat16'; got {dtype!r}."
        )
    store = getattr(torch, dtype)
    state = {
        k: (v.detach().cpu().to(store) if v.is_floating_point() else v.detach().cpu())
        for k, v in estimator.module_.state_dict().items()
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "weights.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / "weights.pt")
    params, fitted = _estimator_state(estimator)
    data = (folder / "weights.pt").read_bytes()
    doc = {
        "estimator": name,
        "params": params,
        "fitted": fitted,
        "weights": {
            "file": "weights.pt",
            "dtype": dtype,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "n_parameters": int(sum(p.numel() for p in estimator.module_.parameters())),
        },
        **(card or {}),
    }
    with open(folder / "card.json.tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(folder / "card.json.tmp", folder / "card.json")
    return folder


def list_pretrained() -> list[str]:
    """Names of the shipped models."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in WEIGHTS_DIR.glob("*/card.json"))


def _folder(name: str | os.PathLike) -> Path:
    path = Path(name)
    if (path / "card.json").exists():
        return path
    folder = WEIGHTS_DIR / str(name)
    if not isinstance(name, str) or not (folder / "card.json").exists():
        raise ValueError(
            f"No pretrained model {str(name)!r}; shipped models: "
            f"{list_pretrained()} (or pass a folder holding card.json and "
            "weights.pt)."
        )
    return folder


def model_card(name: str | os.PathLike) -> dict:
    """The model card of a shipped model (or of a folder written by
    :func:`save_pretrained`): data, recipe, budget, metrics, versions."""
    with open(_folder(name) / "card.json") as f:
        return json.load(f)


def _renamed(cls_name: str, names: set[str], values: dict) -> dict:
    out = {}
    for key, value in values.items():
        rule = _RENAMES.get(cls_name, {}).get(key) or _RENAMES["*"].get(key)
        if rule is not None and key not in names and rule[0] in names:
            new, convert = rule
            out[new] = value if convert is None else convert(value)
        else:
            out[key] = value
    return out


def load_pretrained(name: str | os.PathLike, *, device: str = "cpu"):
    """Load a shipped trained model, ready to ``predict``.

    Parameters
    ----------
    name : str or path
        A name of :func:`list_pretrained` (``"lsbgnet-des-sim"``,
        ``"magnitude-pretrainer-splus-sim"``, ...), or a folder written by
        :func:`save_pretrained`.
    device : str, default="cpu"
        Where the network runs (``"cuda"`` on a GPU).

    Returns
    -------
    estimator
        The fitted estimator (e.g. :class:`~skastro.nn.LSBGNet`); its card
        is :func:`model_card`.

    Examples
    --------
    >>> from skastro.models import load_pretrained, list_pretrained
    >>> "lsbgnet-des-sim" in list_pretrained()
    True
    >>> net = load_pretrained("lsbgnet-des-sim")
    >>> type(net).__name__
    'LSBGNet'
    """
    import importlib

    import torch

    folder = _folder(name)
    card = model_card(folder)
    cls_name = card.get("estimator")
    if cls_name not in _ESTIMATORS:
        raise ValueError(
            f"{folder / 'card.json'} names estimator {cls_name!r}; only "
            f"{sorted(_ESTIMATORS)} are loaded."
        )
    cls = getattr(importlib.import_module(_ESTIMATORS[cls_name]), cls_name)
    known = set(cls().get_params(deep=False))
    params = _renamed(cls_name, known, card.get("params", {}))
    unknown = sorted(k for k in params if k not in known and "__" not in k)
    if unknown:
        raise ValueError(
            f"{folder / 'card.json'} sets {unknown}, which {cls_name} does not "
            "take; the model was saved by another skastro version."
        )
    est = cls(**params, device=device, verbose=0)
    for key, value in card.get("fitted", {}).items():
        setattr(est, key, value)
        rule = _RENAMES["*"].get(key)
        if rule is not None:  # the attribute's name before/after a rename
            setattr(est, rule[0], value)
    est.initialize()
    state = torch.load(folder / card["weights"]["file"], weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    est.module_.load_state_dict(state)
    est.module_.eval()
    return est
