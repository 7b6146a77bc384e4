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

#: Fitted attributes renamed since a card may have been written (old -> new).
#: Renamed *parameters* are the estimators' own ``_renamed_params``.
_ATTRIBUTE_RENAMES = {"n_channels_": "n_bands_"}

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
    scales, penalties), without the old names of renamed parameters; the
    training loop's settings (optimizer, learning rate, epochs, iterators,
    callbacks) are left at the class defaults, so the loaded model
    fine-tunes with its class's recipe. Fitted attributes: those learned
    from the data (classes, bands, outputs; also stored in ``weights.pt``,
    which :func:`load_pretrained` reads), for a reader of the card.
    """
    import inspect

    from skorch import NeuralNet

    loop = set(inspect.signature(NeuralNet.__init__).parameters)
    old_names = set(getattr(type(est), "_renamed_params", {}))
    params = {}
    for k, v in est.get_params(deep=False).items():
        v = _jsonable(v)
        keep = k.startswith("module__") or (
            k not in loop and "__" not in k and k not in old_names
        )
        if keep and _simple(v):
            params[k] = v
    fitted = {
        k: _jsonable(est.__dict__[k])
        for k in est._all_data_attributes()
        if k in est.__dict__
    }
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
    from ..nn._base import METADATA_KEY

    store = getattr(torch, dtype)
    state = {
        k: (v.detach().cpu().to(store) if v.is_floating_point() else v.detach().cpu())
        for k, v in estimator.module_.state_dict().items()
    }
    # the estimator's own description of what it learned from the data, as
    # its save_params writes it (load_params reads it back)
    state[METADATA_KEY] = json.dumps(estimator._fitted_metadata())
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


def _upgraded_params(cls: type, params: dict) -> dict:
    """``params`` of a card with renamed parameters under their new names.

    The renames are the estimator's ``_renamed_params`` (old name -> (new
    name, conversion of the value)); a new name already set wins.
    """
    out = dict(params)
    for old, (new, convert) in getattr(cls, "_renamed_params", {}).items():
        if old not in out:
            continue
        value = out.pop(old)
        if isinstance(value, str) and value == "deprecated":
            continue
        out.setdefault(new, convert(value))
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
    params = _upgraded_params(cls, card.get("params", {}))
    unknown = sorted(k for k in params if k not in known and "__" not in k)
    if unknown:
        raise ValueError(
            f"{folder / 'card.json'} sets {unknown}, which {cls_name} does not "
            "take; the model was saved by another skastro version."
        )
    est = cls(**params, device=device, verbose=0)
    est.initialize()
    # weights written before they carried the fitted description: the card's
    legacy = {
        _ATTRIBUTE_RENAMES.get(k, k): v for k, v in card.get("fitted", {}).items()
    }
    legacy = {k: v for k, v in legacy.items() if k in est._all_data_attributes()}
    if legacy:
        for key, value in legacy.items():
            setattr(est, key, np.asarray(value) if isinstance(value, list) else value)
        est._rebuild_for_data()
    # float16/bfloat16 tensors are cast to the network's float32 as they load
    est.load_params(f_params=folder / card["weights"]["file"])
    est.module_.eval()
    return est
