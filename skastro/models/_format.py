"""A weights-only model file: save and load estimators without pickle.

Layout of a model file (one zip archive, suffix ``.skastro`` by convention)::

    skastro_model.json     the description: format name and version, library
                           versions, the optional model card, and the estimator
                           as a tree of JSON nodes (class paths, get_params(),
                           fitted attributes)
    arrays/<n>.npy         every numpy array and torch tensor, written with
                           numpy.save and read with allow_pickle=False
    skops/<n>.skops        scikit-learn estimators with a complex fitted state
                           (trees, SVMs, scalers...), written with skops.io

Loading never unpickles and never imports or calls anything the file names
unless it is on the allowlist (:data:`ALLOWED_MODULES`, minus
:data:`DENIED_CLASSES`), checked for the whole file before any object is
built; ``skops`` blobs are checked against the same allowlist before skops
loads them.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import math
import os
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ModelFileError, UnsafeLoadWarning

__all__ = [
    "ALLOWED_MODULES",
    "DENIED_CLASSES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MODEL_SUFFIX",
    "is_model_file",
    "load_model",
    "read_model_info",
    "save_model",
]

FORMAT_NAME = "skastro-model"
FORMAT_VERSION = 1
#: Suggested file suffix (any name works: files are recognised by content).
MODEL_SUFFIX = ".skastro"
_MANIFEST = "skastro_model.json"

#: Packages whose classes a model file may name. A class must be defined in one
#: of them (its ``__module__``), not merely importable through it.
ALLOWED_MODULES: tuple[str, ...] = (
    "skastro",
    "sklearn",
    "skorch",
    "torch.nn",
    "torch.optim",
    "torch.utils.data",
)
#: Modules of the allowed packages whose classes are refused all the same: they
#: write files, open network connections or run the command line when built.
_DENIED_MODULES: tuple[str, ...] = (
    "skastro._demo",
    "skastro.cli",
    "skastro.datasets",
    "skastro.models",
    "skorch.hf",
    "skorch.llm",
)
#: Classes refused although their package is allowed (checkpoints and loggers
#: that write files or connect to a service when a net initialises).
DENIED_CLASSES: frozenset[str] = frozenset(
    {
        "skorch.callbacks.training:Checkpoint",
        "skorch.callbacks.training:TrainEndCheckpoint",
        "skorch.callbacks.training:LoadInitState",
        "skorch.callbacks.logging:TensorBoard",
        "skorch.callbacks.logging:WandbLogger",
        "skorch.callbacks.logging:NeptuneLogger",
        "skorch.callbacks.logging:MlflowLogger",
        "skorch.callbacks.logging:SacredLogger",
    }
)
#: Functions a model may reference (e.g. ``FunctionTransformer(func=...)``):
#: numpy's ufuncs, these numpy functions, and the metrics of scikit-learn and
#: skastro. All compute on their arguments and touch no file.
_SAFE_NUMPY_FUNCTIONS = frozenset(
    {
        "asarray",
        "atleast_2d",
        "clip",
        "concatenate",
        "hstack",
        "mean",
        "median",
        "moveaxis",
        "nan_to_num",
        "nanmean",
        "nanmedian",
        "nanstd",
        "ravel",
        "reshape",
        "squeeze",
        "stack",
        "std",
        "sum",
        "swapaxes",
        "transpose",
        "vstack",
    }
)
_SAFE_FUNCTION_MODULES = ("sklearn.metrics", "skastro.metrics")
#: Single functions that networks take as parameters (pure tensor maps).
_SAFE_FUNCTIONS = frozenset({"skastro.nn._rcnn:step_softmax"})

#: scikit-learn estimators that hold other estimators as parameters: stored
#: as JSON nodes, so skastro and skorch steps inside them keep skastro's
#: format (other scikit-learn estimators go to skops whole).
_COMPOSITES = (
    "sklearn.pipeline:Pipeline",
    "sklearn.pipeline:FeatureUnion",
    "sklearn.compose._column_transformer:ColumnTransformer",
    "sklearn.compose._target:TransformedTargetRegressor",
)
#: skorch's bookkeeping attributes, rebuilt by ``initialize()``.
_SKORCH_INTERNAL = frozenset(
    {
        "callbacks_",
        "criterion_",
        "cuda_dependent_attributes_",
        "history_",
        "init_context_",
        "initialized_",
        "module_",
        "optimizer_",
        "prefixes_",
        "virtual_params_",
    }
)


# ---------------------------------------------------------------- class paths
def _class_path(obj: Any) -> str:
    """``module:qualname`` of a class or function, checked to be importable."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(obj, np.ufunc):
        module, qualname = "numpy", obj.__name__
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise _Unsaveable(
            f"{obj!r} cannot be saved by reference: it is defined in __main__, "
            "inside a function or as a lambda; define it at the top level of an "
            "importable module"
        )
    return f"{module}:{qualname}"


def _in(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _import_path(path: str) -> Any:
    """The object at ``module:qualname`` (module imported, attributes walked)."""
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class _Allowlist:
    """Which class and function paths a file may name (plus ``trusted``)."""

    def __init__(self, trusted: Iterable[Any] = ()):
        self.trusted: set[str] = set()
        for item in trusted:
            if isinstance(item, str):
                if ":" not in item:
                    try:
                        item = _colon_path(item)
                    except ValueError:
                        raise ValueError(
                            f"trusted class {item!r} is not importable; give it as "
                            "'module:Name' (e.g. 'mypackage.nets:MyNet') or as the "
                            "class itself."
                        ) from None
                self.trusted.add(item)
            elif isinstance(item, type):
                self.trusted.add(_class_path(item))
            else:
                raise TypeError(
                    f"trusted holds {item!r}; give classes or 'module:Name' strings."
                )

    def refusal(self, path: str, kind: str) -> str | None:
        """Why ``path`` is refused, or ``None`` when it is allowed."""
        if path in self.trusted:
            return None
        if not isinstance(path, str) or path.count(":") != 1:
            return f"{path!r} is not a 'module:name' path"
        module, _, name = path.partition(":")
        if kind == "function":
            if module == "numpy" and "." not in name:
                return (
                    None
                    if name in _SAFE_NUMPY_FUNCTIONS or _is_ufunc(name)
                    else f"function {path} is not on the allowlist"
                )
            if _in(module, _SAFE_FUNCTION_MODULES) or path in _SAFE_FUNCTIONS:
                return None
            return f"function {path} is not on the allowlist"
        if module == "numpy" or module.startswith("numpy."):
            return None if kind == "class" else f"{path} is not on the allowlist"
        if not _in(module, ALLOWED_MODULES) or _in(module, _DENIED_MODULES):
            return f"class {path} is outside the allowlist"
        if path in DENIED_CLASSES:
            return f"class {path} writes files or connects to a service when built"
        return None

    def resolve(self, path: str, kind: str) -> Any:
        """Import an allowed path and check that it is what the file says."""
        why = self.refusal(path, kind)
        if why is not None:
            raise ModelFileError(why)
        try:
            obj = _import_path(path)
        except (ImportError, AttributeError) as exc:
            raise ModelFileError(
                f"the model needs {path}, which cannot be imported here ({exc}); "
                "install the library versions the model was saved with"
            ) from None
        if path in self.trusted:
            return obj
        if kind == "function":
            if not callable(obj) or isinstance(obj, type):
                raise ModelFileError(f"{path} is not a function")
            return obj
        if not isinstance(obj, type):
            raise ModelFileError(f"{path} is not a class")
        if obj.__module__.startswith("numpy"):
            if not issubclass(obj, np.generic):
                raise ModelFileError(f"{path} is not a numpy scalar type")
            return obj
        if not _in(obj.__module__, ALLOWED_MODULES) or _in(
            obj.__module__, _DENIED_MODULES
        ):
            raise ModelFileError(
                f"{path} resolves to {obj.__module__}.{obj.__qualname__}, outside "
                "the allowlist"
            )
        if _class_path(obj) in DENIED_CLASSES:
            raise ModelFileError(f"class {path} is refused")
        return obj


def _is_ufunc(name: str) -> bool:
    return isinstance(getattr(np, name, None), np.ufunc)


def _colon_path(dotted: str) -> str:
    """``pkg.mod.Class`` -> ``pkg.mod:Class`` (longest importable module)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return f"{module}:{'.'.join(parts[i:])}"
    raise ValueError(f"cannot find the module of {dotted!r}")


# --------------------------------------------------------------------- saving
class _Unsaveable(Exception):
    """A value the safe format cannot store (message says which and why)."""


def _is_skorch_net(obj: Any) -> bool:
    skorch = sys.modules.get("skorch")
    return skorch is not None and isinstance(obj, skorch.NeuralNet)


def _is_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


#: Returned by an encoder of :class:`_Writer` for a value it does not handle.
_NOT_MINE = object()


class _Writer:
    """Turns objects into JSON nodes, collecting arrays and skops blobs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.classes: set[str] = set()

    def _add(self, folder: str, suffix: str, data: bytes) -> str:
        name = f"{folder}/{len(self.files):06d}{suffix}"
        self.files[name] = data
        return name

    def _array_file(self, arr: np.ndarray) -> str:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        return self._add("arrays", ".npy", buf.getvalue())

    def ref(self, obj: Any, kind: str = "class") -> dict:
        path = _class_path(obj)
        if kind == "class":
            self.classes.add(path)
        return {"$": kind, "path": path}

    # the dispatcher ---------------------------------------------------------
    def encode(self, value: Any, where: str) -> Any:
        """The JSON node of ``value`` (``where`` names it in error messages).

        The first of the encoders that knows the value's type answers:
        builtins, then numpy, then other plain values, pandas and FITS
        headers, then estimators and objects.
        """
        for encoder in (
            self._encode_builtin,
            self._encode_numpy,
            self._encode_plain,
            self._encode_table,
        ):
            node = encoder(value, where)
            if node is not _NOT_MINE:
                return node
        return self._encode_object(value, where)

    def _encode_builtin(self, value: Any, where: str) -> Any:
        """None, bool, str, int, float and the builtin containers."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if type(value) is float:
            if math.isfinite(value):
                return value
            return {"$": "float", "v": repr(value)}
        if type(value) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return {"$": "tuple", "items": items}
        if type(value) in (set, frozenset):
            items = [self.encode(v, f"{where}{{}}") for v in sorted(value, key=repr)]
            return {"$": type(value).__name__, "items": items}
        if type(value) is dict or (
            isinstance(value, dict) and type(value).__module__ == "collections"
        ):
            return {
                "$": "dict",
                "items": [
                    [self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in value.items()
                ],
            }
        return _NOT_MINE

    def _encode_numpy(self, value: Any, where: str) -> Any:
        """numpy arrays, scalars, dtypes and RandomState generators."""
        if isinstance(value, np.ndarray):
            return self._ndarray(value, where)
        if isinstance(value, np.generic):
            return {
                "$": "npscalar",
                "dtype": value.dtype.str,
                "v": self.encode(value.item(), where),
            }
        if isinstance(value, np.dtype):
            if value.hasobject or value.names is not None:
                return {"$": "dtype", "v": self._ndarray(np.empty(0, value), where)}
            return {"$": "dtype", "v": value.str}
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, gauss = value.get_state()
            return {
                "$": "randomstate",
                "keys": self._ndarray(keys, where),
                "v": [name, int(pos), int(has_gauss), float(gauss)],
            }
        return _NOT_MINE

    def _encode_plain(self, value: Any, where: str) -> Any:
        """complex, slice, paths, tensors, classes, functions, torch dtypes/devices."""
        if isinstance(value, complex):
            return {"$": "complex", "re": value.real, "im": value.imag}
        if isinstance(value, slice):
            return {
                "$": "slice",
                "v": [
                    self.encode(x, where) for x in (value.start, value.stop, value.step)
                ],
            }
        if isinstance(value, os.PathLike):
            return {"$": "path", "v": os.fspath(value)}
        if _is_tensor(value):
            return self._tensor(value)
        if isinstance(value, type):
            return self.ref(value)
        if _is_function(value):
            return self.ref(value, "function")
        torch = sys.modules.get("torch")
        if torch is not None:
            if isinstance(value, torch.dtype):
                return {"$": "torch_dtype", "v": str(value).removeprefix("torch.")}
            if isinstance(value, torch.device):
                return {"$": "torch_device", "v": str(value)}
        return _NOT_MINE

    def _encode_table(self, value: Any, where: str) -> Any:
        """pandas DataFrames, Series and Indexes, and FITS headers."""
        pd = sys.modules.get("pandas")
        if pd is not None:
            if isinstance(value, pd.DataFrame):
                return {
                    "$": "dataframe",
                    "columns": [self.encode(c, where) for c in value.columns],
                    "data": [
                        self._ndarray(value.iloc[:, j].to_numpy(), f"{where}[{c!r}]")
                        for j, c in enumerate(value.columns)
                    ],
                    "index": self._ndarray(value.index.to_numpy(), f"{where}.index"),
                }
            if isinstance(value, pd.Series):
                return {
                    "$": "series",
                    "name": self.encode(value.name, where),
                    "data": self._ndarray(value.to_numpy(), where),
                    "index": self._ndarray(value.index.to_numpy(), f"{where}.index"),
                }
            if isinstance(value, pd.Index):
                return {
                    "$": "index",
                    "name": self.encode(value.name, where),
                    "data": self._ndarray(value.to_numpy(), where),
                }
        fits = sys.modules.get("astropy.io.fits")
        if fits is not None and isinstance(value, fits.Header):
            return {"$": "fits_header", "v": value.tostring()}
        return _NOT_MINE

    def _encode_object(self, value: Any, where: str) -> Any:
        """skorch nets, estimators and plain objects of allowed packages, or refuse."""
        torch = sys.modules.get("torch")
        if _is_skorch_net(value):
            return self._skorch(value, where)
        if torch is not None and isinstance(value, torch.nn.Module):
            raise _Unsaveable(
                f"{where} is a torch module ({type(value).__name__}) held outside a "
                "skorch net; the safe format stores the networks of skorch "
                "estimators (module_, criterion_) only"
            )
        if type(value).__module__.startswith("skorch.history"):
            return {"$": "history", "v": self.encode(list(value), f"{where}.history")}
        sklearn_base = sys.modules.get("sklearn.base")
        if sklearn_base is not None and isinstance(value, sklearn_base.BaseEstimator):
            return self._estimator(value, where)
        if hasattr(value, "get_params") and _in(type(value).__module__, ("skorch",)):
            params = value.get_params(deep=False)
            return {
                "$": "object",
                "class": self.ref(type(value))["path"],
                "params": self._dict(params, where),
            }
        if dataclasses.is_dataclass(value) or (
            hasattr(value, "__dict__")
            and _in(type(value).__module__, ("skastro", "skorch", "sklearn"))
            and type(value).__reduce_ex__ is object.__reduce_ex__
        ):
            return {
                "$": "instance",
                "class": self.ref(type(value))["path"],
                "attrs": self._dict(vars(value), where),
            }
        raise _Unsaveable(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}, "
            "which the safe format cannot store"
        )

    def _dict(self, mapping: Mapping[str, Any], where: str) -> dict:
        out = {}
        for key, value in mapping.items():
            if not isinstance(key, str):
                raise _Unsaveable(f"{where} has a non-string attribute name {key!r}")
            out[key] = self.encode(value, f"{where}.{key}")
        return out

    def _ndarray(self, arr: np.ndarray, where: str) -> dict:
        if isinstance(arr, np.ma.MaskedArray):
            raise _Unsaveable(f"{where} is a masked array")
        if arr.dtype.hasobject:
            flat = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(arr.ravel())]
            return {"$": "object_array", "shape": list(arr.shape), "items": flat}
        return {"$": "ndarray", "file": self._array_file(arr)}

    def _tensor(self, tensor: Any) -> dict:
        import torch

        t = tensor.detach().cpu().contiguous()
        dtype = str(t.dtype).removeprefix("torch.")
        if t.dtype in (torch.bfloat16,):
            arr = t.view(torch.int16).numpy()
        elif dtype.startswith("float8"):
            arr = t.view(torch.uint8).numpy()
        else:
            arr = t.numpy()
        return {"$": "tensor", "dtype": dtype, "file": self._array_file(arr)}

    def _estimator(self, est: Any, where: str) -> dict:
        cls = type(est)
        path = _class_path(cls)
        from sklearn.model_selection._search import BaseSearchCV

        if isinstance(est, BaseSearchCV):
            if not hasattr(est, "best_estimator_"):
                raise _Unsaveable(
                    f"{where} is a {cls.__name__} without best_estimator_ (not fitted, "
                    "or refit=False); save the estimator you want to reuse"
                )
            node = self.encode(est.best_estimator_, f"{where}.best_estimator_")
            node["saved_from"] = {
                "class": path,
                "best_params": self.encode(dict(est.best_params_), where),
                "best_score": self.encode(float(est.best_score_), where),
            }
            return node
        if (
            cls.__module__.startswith("sklearn.")
            and path not in _COMPOSITES
            and not _holds_foreign_estimator(est)
        ):
            return self._skops(est, where, path)
        self.classes.add(path)
        params = est.get_params(deep=False)
        state = {k: v for k, v in vars(est).items() if k not in params}
        return {
            "$": "estimator",
            "class": path,
            "params": self._dict(params, where),
            "attrs": self._dict(state, where),
        }

    def _skops(self, est: Any, where: str, path: str) -> dict:
        import skops.io

        try:
            blob = skops.io.dumps(est)
        except Exception as exc:  # noqa: BLE001 - skops's own reasons
            raise _Unsaveable(f"skops cannot store {where} ({exc})") from exc
        refused = _skops_refusals(blob, _Allowlist())
        if refused:
            raise _Unsaveable(
                f"{where} ({path}) holds {refused}, outside the safe format's allowlist"
            )
        return {"$": "skops", "class": path, "file": self._add("skops", ".skops", blob)}

    def _skorch(self, net: Any, where: str) -> dict:
        if not getattr(net, "initialized_", False):
            # an unfitted net: its parameters are all there is
            return {
                "$": "skorch",
                "class": self.ref(type(net))["path"],
                "params": self._dict(net.get_params(deep=False), where),
                "attrs": {},
                "state": {},
            }
        params = net.get_params(deep=False)
        components = [*net._modules, *net._criteria]
        own = {f"{name}_" for name in [*components, *net._optimizers]}
        attrs = {}
        for key, value in vars(net).items():
            if (
                key in params
                or not key.endswith("_")
                or key.startswith("_")
                or key in _SKORCH_INTERNAL
                or key in own
            ):
                continue
            attrs[key] = value
        if hasattr(net, "_sklearn_output_config"):
            attrs["_sklearn_output_config"] = net._sklearn_output_config
        state = {}
        for name in components:
            component = getattr(net, f"{name}_")
            if hasattr(component, "state_dict"):
                state[name] = self.encode(
                    dict(component.state_dict()), f"{where}.{name}_.state_dict()"
                )
        return {
            "$": "skorch",
            "class": self.ref(type(net))["path"],
            "params": self._dict(params, where),
            "attrs": self._dict(attrs, where),
            "state": state,
            "history": self.encode(list(net.history_), f"{where}.history_"),
        }


def _is_function(value: Any) -> bool:
    import types

    return (
        isinstance(
            value,
            (types.FunctionType, types.BuiltinFunctionType, np.ufunc),
        )
        or type(value).__name__ == "_ArrayFunctionDispatcher"
    )


def _holds_foreign_estimator(est: Any) -> bool:
    """True when a scikit-learn estimator has a non-scikit-learn one inside."""
    from sklearn.base import BaseEstimator

    try:
        values = est.get_params(deep=True).values()
    except Exception:  # noqa: BLE001 - a broken get_params: let skops decide
        return False
    stack = list(values) + list(vars(est).values())
    seen = 0
    while stack and seen < 10_000:
        seen += 1
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, BaseEstimator) or _is_skorch_net(value):
            if not type(value).__module__.startswith("sklearn."):
                return True
    return False


def _skops_refusals(blob: bytes, allow: _Allowlist) -> list[str]:
    """Types a skops blob needs beyond skops's defaults that we refuse.

    scikit-learn and scipy classes are accepted (skops rebuilds them from
    their state without calling them); numpy scalar types and functions go
    through the allowlist; anything else is refused without being imported.
    """
    import skops.io

    trusted_dotted = {p.replace(":", ".") for p in allow.trusted}
    refused = []
    for dotted in skops.io.get_untrusted_types(data=blob):
        if dotted in trusted_dotted:
            continue
        if dotted.split(".", 1)[0] not in ("sklearn", "numpy", "scipy"):
            refused.append(dotted)
            continue
        try:
            path = _colon_path(dotted)
            obj = _import_path(path)
        except (ValueError, ImportError, AttributeError):
            refused.append(dotted)
            continue
        if isinstance(obj, type):
            if not path.startswith("numpy") or issubclass(obj, (np.generic, np.dtype)):
                continue
            refused.append(dotted)
        elif allow.refusal(path, "function") is not None:
            refused.append(dotted)
    return refused


def _versions() -> dict[str, str]:
    import sklearn

    from .. import __version__

    out = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "skastro": __version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
    for name in ("torch", "skorch"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = module.__version__
    return out


def save_model(
    estimator: Any,
    path: str | os.PathLike,
    *,
    card: Mapping[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Save a fitted (or unfitted) estimator in skastro's weights-only format.

    The file is a zip archive holding a JSON description of the estimator
    (class paths, ``get_params()``, fitted attributes, recursively through
    pipelines), its arrays and network weights as ``.npy`` files, and
    scikit-learn's own estimators (trees, SVMs...) in the
    `skops <https://skops.readthedocs.io>`_ format. :func:`load_model` reads it
    without unpickling anything (see :doc:`/saving_models`).

    Parameters
    ----------
    estimator : estimator
        A skastro, scikit-learn or skorch estimator, or a
        :class:`~sklearn.pipeline.Pipeline` / ``ColumnTransformer`` /
        ``FeatureUnion`` of them. A fitted ``GridSearchCV`` (or any search)
        is saved as its ``best_estimator_``; ``best_params_`` and
        ``best_score_`` are kept in the file's description.
    path : str or path-like
        Output file; ``.skastro`` by convention.
    card : dict, optional
        A model card (JSON-serialisable: intended use, training data,
        metrics, citation...), stored in the file and returned by
        :func:`read_model_info`.
    overwrite : bool, default=True
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ModelFileError
        Something in the estimator cannot be stored without pickle (a lambda,
        an object of an unknown type); the message names it. Save such a model
        with :func:`joblib.dump` instead.

    Notes
    -----
    For skorch nets, the modules' and criteria's ``state_dict`` and the
    fitted attributes (``classes_``, ``n_outputs_``...) are stored, and
    ``history_``; the optimizer state is not (training again after loading,
    e.g. with ``warm_start=True``, starts with a fresh optimizer).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skastro.models import load_model, save_model
    >>> X = np.random.default_rng(0).normal(size=(20, 3)); y = X[:, 0] > 0
    >>> rf = RandomForestClassifier(5, random_state=0).fit(X, y)
    >>> import tempfile, os; d = tempfile.mkdtemp()
    >>> _ = save_model(rf, os.path.join(d, "rf.skastro"), card={"data": "toy"})
    >>> (load_model(os.path.join(d, "rf.skastro")).predict(X) == rf.predict(X)).all()
    np.True_
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{os.fspath(path)!r} exists; pass overwrite=True to replace it."
        )
    if card is not None:
        if not isinstance(card, Mapping):
            raise TypeError(f"card must be a dict; got {type(card).__name__}.")
        try:
            card = json.loads(json.dumps(dict(card), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"card must be JSON-serialisable (str, numbers, lists, dicts); {exc}"
            ) from None
    writer = _Writer()
    try:
        tree = writer.encode(estimator, type(estimator).__name__)
    except _Unsaveable as exc:
        raise ModelFileError(
            f"cannot save {type(estimator).__name__} in skastro's safe format: {exc}. "
            "Save it with joblib.dump instead (only for people who trust you: "
            "loading a pickle runs code)."
        ) from None
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "estimator_class": _class_path(type(estimator)),
        "versions": _versions(),
        "classes": sorted(writer.classes),
        "card": card,
        "estimator": tree,
    }
    text = json.dumps(manifest, indent=1, allow_nan=False)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(_MANIFEST, text)
                for name, data in writer.files.items():
                    # weights hardly compress: storing them keeps saving fast;
                    # skops blobs (zips themselves) are deflated so that a
                    # truncated file is never read as the inner archive
                    method = zipfile.ZIP_STORED
                    if name.startswith("skops/"):
                        method = zipfile.ZIP_DEFLATED
                    zf.writestr(name, data, compress_type=method)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# -------------------------------------------------------------------- loading
class _Reader:
    """Rebuilds objects from JSON nodes (after :meth:`check` has passed)."""

    def __init__(self, zf: zipfile.ZipFile, allow: _Allowlist, device: str | None):
        self.zf = zf
        self.allow = allow
        self.device = device
        self.names = set(zf.namelist())

    # -- the allowlist pass: nothing is built until every path is accepted
    def check(self, node: Any, refused: list[str]) -> None:
        if isinstance(node, list):
            for item in node:
                self.check(item, refused)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("$")
        for key in ("class", "path"):
            if key in node and kind in (
                "class",
                "function",
                "estimator",
                "object",
                "instance",
                "skorch",
            ):
                path_kind = "function" if kind == "function" else "class"
                why = self.allow.refusal(node[key], path_kind)
                if why is not None:
                    refused.append(why)
        if kind == "skops":
            blob = self.read(node["file"])
            refused.extend(
                f"{t} (inside the scikit-learn estimator {node.get('class')})"
                for t in _skops_refusals(blob, self.allow)
            )
        for key, value in node.items():
            if key not in ("$", "class", "path", "file"):
                self.check(value, refused)

    def read(self, name: Any) -> bytes:
        if not isinstance(name, str) or name not in self.names:
            raise ModelFileError(f"the member {name!r} is missing")
        return self.zf.read(name)

    def array(self, name: str) -> np.ndarray:
        try:
            return np.load(io.BytesIO(self.read(name)), allow_pickle=False)
        except ValueError as exc:
            raise ModelFileError(
                f"{name} is not a plain numeric array ({exc})"
            ) from None

    # -- building
    def decode(self, node: Any) -> Any:  # noqa: C901 - a dispatcher
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or "$" not in node:
            raise ModelFileError(f"unexpected node {str(node)[:80]!r}")
        kind = node["$"]
        if kind == "float":
            return float(node["v"])
        if kind == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if kind in ("set", "frozenset"):
            items = [self.decode(v) for v in node["items"]]
            return set(items) if kind == "set" else frozenset(items)
        if kind == "dict":
            return {self.decode(k): self.decode(v) for k, v in node["items"]}
        if kind == "ndarray":
            return self.array(node["file"])
        if kind == "object_array":
            out = np.empty(len(node["items"]), dtype=object)
            out[:] = [self.decode(v) for v in node["items"]] or []
            return out.reshape(node["shape"])
        if kind == "npscalar":
            return np.dtype(node["dtype"]).type(self.decode(node["v"]))
        if kind == "dtype":
            value = node["v"]
            return (
                self.decode(value).dtype if isinstance(value, dict) else np.dtype(value)
            )
        if kind == "complex":
            return complex(node["re"], node["im"])
        if kind == "slice":
            return slice(*(self.decode(v) for v in node["v"]))
        if kind == "path":
            return Path(node["v"])
        if kind == "tensor":
            return self._tensor(node)
        if kind == "torch_dtype":
            import torch

            dtype = getattr(torch, str(node["v"]), None)
            if not isinstance(dtype, torch.dtype):
                raise ModelFileError(f"unknown torch dtype {node['v']!r}")
            return dtype
        if kind == "torch_device":
            import torch

            return torch.device(str(node["v"]))
        if kind == "randomstate":
            name, pos, has_gauss, gauss = node["v"]
            rs = np.random.RandomState()
            rs.set_state((str(name), self.decode(node["keys"]), pos, has_gauss, gauss))
            return rs
        if kind == "class":
            return self.allow.resolve(node["path"], "class")
        if kind == "function":
            return self.allow.resolve(node["path"], "function")
        if kind in ("dataframe", "series", "index"):
            return self._pandas(node)
        if kind == "fits_header":
            from astropy.io import fits

            return fits.Header.fromstring(str(node["v"]))
        if kind == "history":
            from skorch.history import History

            return History(self.decode(node["v"]))
        if kind == "estimator":
            from sklearn.base import BaseEstimator

            cls = self._resolve_subclass(node["class"], BaseEstimator)
            obj = cls(**self._kwargs(node["params"]))
            obj.__dict__.update(self._kwargs(node["attrs"]))
            return obj
        if kind == "object":
            from skorch.callbacks import Callback

            cls = self._resolve_subclass(node["class"], Callback)
            return cls(**self._kwargs(node["params"]))
        if kind == "instance":
            cls = self.allow.resolve(node["class"], "class")
            obj = cls.__new__(cls)
            obj.__dict__.update(self._kwargs(node["attrs"]))
            return obj
        if kind == "skops":
            return self._skops(node)
        if kind == "skorch":
            return self._skorch(node)
        raise ModelFileError(f"unknown node type {kind!r}")

    def _resolve_subclass(self, path: str, base: type) -> type:
        """An allowed class that must also derive from ``base``."""
        cls = self.allow.resolve(path, "class")
        if not issubclass(cls, base) and path not in self.allow.trusted:
            raise ModelFileError(f"{path} is not a {base.__name__}")
        return cls

    def _kwargs(self, node: Any) -> dict[str, Any]:
        if not isinstance(node, dict) or "$" in node:
            raise ModelFileError("parameters must be a JSON object of named values")
        return {str(k): self.decode(v) for k, v in node.items()}

    def _tensor(self, node: dict) -> Any:
        import torch

        arr = self.array(node["file"])
        dtype = getattr(torch, str(node["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ModelFileError(f"unknown torch dtype {node['dtype']!r}")
        tensor = torch.from_numpy(np.array(arr, copy=True))
        if tensor.dtype != dtype:
            tensor = tensor.view(dtype)
        return tensor

    def _pandas(self, node: dict) -> Any:
        import pandas as pd

        kind = node["$"]
        if kind == "index":
            return pd.Index(self.decode(node["data"]), name=self.decode(node["name"]))
        index = self.decode(node["index"])
        if kind == "series":
            return pd.Series(
                self.decode(node["data"]), index=index, name=self.decode(node["name"])
            )
        columns = [self.decode(c) for c in node["columns"]]
        data = [self.decode(d) for d in node["data"]]
        frame = pd.DataFrame(
            dict(zip(range(len(columns)), data, strict=True)), index=index
        )
        frame.columns = columns
        return frame

    def _skops(self, node: dict) -> Any:
        import skops.io

        blob = self.read(node["file"])
        trusted = skops.io.get_untrusted_types(data=blob)
        # every type was checked against the allowlist in check()
        return skops.io.loads(blob, trusted=trusted)

    def _skorch(self, node: dict) -> Any:
        from skorch import NeuralNet

        cls = self._resolve_subclass(node["class"], NeuralNet)
        params = self._kwargs(node["params"])
        device = self.device
        if device is None:
            device = params.get("device", "cpu")
            if isinstance(device, str) and device.startswith("cuda"):
                import torch

                if not torch.cuda.is_available():
                    from skorch.exceptions import DeviceWarning

                    warnings.warn(
                        f"the {cls.__name__} was saved with device={device!r} but no "
                        "GPU is available here; it is loaded on the CPU "
                        "(load_model(..., device='cpu') silences this).",
                        DeviceWarning,
                        stacklevel=_user_stacklevel(),
                    )
                    device = "cpu"
        if "device" in params:
            params["device"] = device
        net = cls(**params)
        attrs = self._kwargs(node["attrs"])
        if not node["state"]:
            return net
        for key, value in attrs.items():
            setattr(net, key, value)
        net.initialize()
        for key, value in attrs.items():
            setattr(net, key, value)
        if getattr(net, "_module_out_of_date", lambda: False)():
            # skastro networks size themselves from the fitted data attributes
            # (classes, bands, outputs), which initialize() clears
            net._rebuild_for_data()
        for name, state_node in node["state"].items():
            component = getattr(net, f"{name}_", None)
            if component is None or not hasattr(component, "load_state_dict"):
                raise ModelFileError(
                    f"the rebuilt {cls.__name__} has no {name}_ to load weights into"
                )
            try:
                component.load_state_dict(self.decode(state_node))
            except RuntimeError as exc:
                raise ModelFileError(
                    f"the weights of {cls.__name__}.{name}_ do not fit the rebuilt "
                    f"network ({' '.join(str(exc).split())[:300]})"
                ) from None
        if "history" in node:
            from skorch.history import History

            net.history_ = History(self.decode(node["history"]))
        return net


_PICKLE_HINT = (
    "Loading a pickle can run any code the file holds: if you trust its source, "
    "pass trust_pickle=True (command line: --trust-pickle), then re-save it with "
    "skastro.models.save_model."
)


def _sniff(path: Path) -> str:
    """``"model"``, ``"zip"``, ``"pickle"`` or ``"unknown"``, from the bytes."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head[:1] == b"\x80" or head[:2] in (b"x\x9c", b"x\x01", b"x\xda", b"\x1f\x8b"):
        return "pickle"  # pickle protocol 2+, or joblib's zlib/gzip compression
    if head.startswith((b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18")):
        return "pickle"  # joblib's bz2, xz, lz4 compression
    return "unknown"


def is_model_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a skastro model file (by its content, not its name)."""
    path = Path(path)
    try:
        if not path.is_file() or _sniff(path) != "zip":
            return False
        with zipfile.ZipFile(path) as zf:
            return _MANIFEST in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


#: Largest description accepted (a JSON tree; weights are stored apart).
_MAX_MANIFEST_BYTES = 256 * 2**20


def _open_manifest(zf: zipfile.ZipFile, where: str) -> dict:
    try:
        if zf.getinfo(_MANIFEST).file_size > _MAX_MANIFEST_BYTES:
            raise ModelFileError(
                f"{where} has a {zf.getinfo(_MANIFEST).file_size} byte description; "
                "this is not a model file skastro wrote."
            )
        manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
    except KeyError:
        raise ModelFileError(
            f"{where} is a zip archive but not a skastro model file (no {_MANIFEST}; "
            "a truncated or corrupt copy?)."
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{where} has a corrupt description ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{where} is not a skastro model file.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where} uses model format version {version!r}; this skastro reads "
            f"up to {FORMAT_VERSION}. Upgrade skastro."
        )
    return manifest


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The description of a model file, without building the model.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    info : dict
        ``format_version``, ``estimator_class`` (``module:name``), ``versions``
        (of Python and the libraries that wrote it), ``classes`` (every class
        it names) and ``card`` (the model card given to :func:`save_model`,
        or ``None``).
    """
    path = Path(path)
    where = repr(os.fspath(path))
    _check_readable(path)
    if _sniff(path) != "zip":
        raise ModelFileError(f"{where} is not a skastro model file.")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _open_manifest(zf, where)
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{where} is a corrupt zip archive ({exc}).") from None
    return {k: v for k, v in manifest.items() if k not in ("estimator", "format")}


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"model file {os.fspath(path)!r} does not exist.")
    if path.is_dir():
        raise ModelFileError(
            f"{os.fspath(path)!r} is a folder; give the model file inside it."
        )


def load_model(
    path: str | os.PathLike,
    *,
    trust_pickle: bool = False,
    trusted: Iterable[Any] = (),
    device: str | None = None,
) -> Any:
    """Load a model saved by :func:`save_model`, without running code from it.

    Parameters
    ----------
    path : str or path-like
        A skastro model file. A pickle or joblib file is refused unless
        ``trust_pickle=True``.
    trust_pickle : bool, default=False
        Also accept pickle/joblib files, loaded with :func:`joblib.load`
        (with an :class:`~skastro.exceptions.UnsafeLoadWarning`): only for
        files from a source you trust, as unpickling runs any code the file
        holds.
    trusted : iterable of class or str, default=()
        Classes outside the allowlist that this file may build (e.g. your
        own ``torch.nn.Module``), as classes or ``"module:Name"`` paths.
    device : str, optional
        Device of the skorch nets (``"cpu"``, ``"cuda"``); default: the device
        they were saved with, or the CPU (with a warning) when that is a GPU
        absent here.

    Returns
    -------
    estimator
        The estimator as it was saved (a search as its ``best_estimator_``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFileError
        The file is corrupt, not a model file, a pickle while
        ``trust_pickle=False``, or names a class or function outside the
        allowlist (nothing has been built then).
    """
    path = Path(path)
    where = repr(os.fspath(path))
    _check_readable(path)
    allow = _Allowlist(trusted)
    kind = _sniff(path)
    if kind != "zip":
        if not trust_pickle:
            if kind == "pickle":
                raise ModelFileError(f"{where} is a pickle/joblib file. {_PICKLE_HINT}")
            raise ModelFileError(
                f"{where} is not a skastro model file (nor a pickle/joblib file)."
            )
        return _load_pickle(path, where)
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _open_manifest(zf, where)
            reader = _Reader(zf, allow, device)
            refused: list[str] = []
            reader.check(manifest["estimator"], refused)
            if refused:
                unique = list(dict.fromkeys(refused))
                raise ModelFileError(
                    f"{where} was not loaded: {'; '.join(unique[:5])}"
                    + (f" (and {len(unique) - 5} more)" if len(unique) > 5 else "")
                    + ". If you trust these classes, pass them in trusted= "
                    "(command line: --trust-class MODULE:NAME)."
                )
            return reader.decode(manifest["estimator"])
    except ModelFileError as exc:
        if str(exc).startswith(where):
            raise
        raise ModelFileError(f"{where} cannot be loaded: {exc}") from None
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelFileError(f"{where} is a corrupt zip archive ({exc}).") from None
    except Exception as exc:  # noqa: BLE001 - any failure of a malformed file
        raise ModelFileError(
            f"{where} is a corrupt or incompatible skastro model file "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})."
        ) from None


def _user_stacklevel() -> int:
    """``stacklevel`` that points a warning at the first frame outside this
    module (the user's call of :func:`load_model`)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def _load_pickle(path: Path, where: str) -> Any:
    import joblib

    warnings.warn(
        f"{where} is loaded with joblib.load, which runs any code the file holds "
        "(trust_pickle=True); re-save it with skastro.models.save_model.",
        UnsafeLoadWarning,
        stacklevel=_user_stacklevel(),
    )
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - corrupt or foreign pickles
        raise ModelFileError(
            f"{where} is not a loadable pickle/joblib model "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})."
        ) from None
