"""One lifecycle for skastro's networks.

Every network estimator (:class:`~skastro.nn.LSBGNet`,
:class:`~skastro.nn.MagnitudePretrainer`,
:class:`~skastro.nn.PretrainedStampClassifier`,
:class:`~skastro.nn.TransferCNNClassifier`,
:class:`~skastro.nn.SequenceRCNN`) is a skorch ``NeuralNet`` with the mixins
of this module in front of it; the estimators change skorch *hooks*
(``get_dataset``, ``check_data``, ``initialize_module``, ``get_loss``,
``_default_callbacks`` …), never ``fit`` or ``predict``. Written once here:

- **parameters** are checked against the estimator's
  ``_parameter_constraints`` in ``initialize`` (and again in ``check_data``,
  which every ``fit``/``partial_fit`` runs); renamed parameters keep working
  for one release with a :class:`FutureWarning` naming the new one
  (``_renamed_params``);
- **sizes learned from the data** (bands ``n_bands_``, classes ``classes_``,
  outputs ``n_outputs_``) are read from the training data when training
  starts (the net's own ``on_train_begin``, before any callback's), and
  the network is built for them; continuing to train (``warm_start``,
  ``partial_fit``) on data of other sizes is refused;
- **seeding** never touches torch's global random state: the initial
  weights are drawn inside :func:`torch.random.fork_rng` seeded from
  ``random_state``, dropout and batch order from a stream of the estimator's
  own (:class:`~skastro.utils._torch.PrivateRNG`); ``random_state=None``
  seeds nothing;
- ``predict``/``predict_proba``/``transform`` before ``fit`` raise
  scikit-learn's :class:`~sklearn.exceptions.NotFittedError`;
- **early stopping** from ``patience``; the training loader shuffles and
  never ends on a batch of one (:class:`BatchNormSafeLoader`);
- **mixed precision** (``amp``) and **memory layout** (``channels_last``) in
  the training and evaluation steps;
- **weights-only saving**: ``save_params(f_params=...)`` stores, next to the
  module's state dict, what a new estimator needs to use it (classes, bands,
  outputs), and ``load_params`` restores it;
- **labels** (:class:`ClassifierNetMixin`): any labels, ``classes_``,
  ``predict`` returns them;
- **stamps** (:class:`StampInputMixin`): one validation and one NaN policy;
- **freezing** (:class:`FreezingMixin`): ``freeze`` / ``warmup_epochs`` /
  ``unfreeze_last`` / ``finetune_lr``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from skorch import NeuralNet
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    Freezer,
    LRScheduler,
    Unfreezer,
)
from skorch.dataset import get_len, unpack_data
from skorch.exceptions import NotInitializedError
from skorch.history import History
from skorch.utils import (
    TeeGenerator,
    data_from_dataset,
    get_map_location,
    is_dataset,
    to_numpy,
    to_tensor,
)
from torch.optim.lr_scheduler import MultiStepLR
from torch.utils.data import DataLoader

from ..exceptions import InputLayoutError
from ..utils._params import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from ..utils._torch import PrivateRNG, autocast, seeded, torch_seed_from
from ..utils._validation import check_stamps, format_rows, split_stamps_input
from ._backbones import backbone_layers

__all__ = [
    "BatchNormSafeLoader",
    "ClassifierNetMixin",
    "EmbeddingMixin",
    "FreezingMixin",
    "NetMixin",
    "RegressorNetMixin",
    "StampInputMixin",
    "StampNetMixin",
    "check_finite_stamps",
    "init_arguments",
    "upgrade_state",
]

#: Default of a renamed parameter: "not given".
DEPRECATED = "deprecated"
#: Key of the estimator description saved with the weights by ``save_params``.
METADATA_KEY = "_skastro_metadata"
#: Stamps scanned at a time for non-finite pixels (bounded temporary memory).
_CHECK_CHUNK = 8192


_list_rows = format_rows  # the rows an error names (skastro.utils._validation)


# --------------------------------------------------------------------- loader
class BatchNormSafeLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` that never ends on a batch of one.

    Batch normalisation cannot train on a single object, so when the data
    leave one object over after the full batches (``n % batch_size == 1``),
    that last batch is dropped for the epoch (the order is shuffled, so each
    object is still seen over the epochs).
    """

    def __init__(self, dataset, batch_size=1, drop_last=False, **kwargs):
        sampler = kwargs.get("sampler")
        n = len(sampler) if sampler is not None else len(dataset)
        if batch_size and 1 < batch_size < n and n % batch_size == 1:
            drop_last = True
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, **kwargs)


# --------------------------------------------------------------------- stamps
def check_finite_stamps(
    arr: np.ndarray, *, nan_policy: str = "raise", name: str = "X", owner: str = ""
) -> np.ndarray:
    """Apply the stamp networks' NaN policy to float stamps ``arr``.

    Parameters
    ----------
    arr : ndarray of shape (n_objects, ...)
        Stamps (float).
    nan_policy : {"raise", "fill"}, default="raise"
        ``"raise"``: NaN pixels raise, naming the first rows. ``"fill"``:
        they are replaced by 0 (in a copy) with a :class:`UserWarning`
        naming the rows.
    name : str, default="X"
        Name used in messages.
    owner : str, default=""
        Estimator named in messages.

    Returns
    -------
    stamps : ndarray
        ``arr``, or a filled copy.

    Raises
    ------
    InputLayoutError
        Infinite pixels (always), or NaN pixels with ``nan_policy="raise"``.
    """
    nan_rows, inf_rows = [], []
    for start in range(0, len(arr), _CHECK_CHUNK):
        chunk = arr[start : start + _CHECK_CHUNK].reshape(
            min(_CHECK_CHUNK, len(arr) - start), -1
        )
        finite = np.isfinite(chunk).all(axis=1)
        for r in np.flatnonzero(~finite):
            row = chunk[r]
            (inf_rows if np.isinf(row).any() else nan_rows).append(start + r)
    who = f"{owner} " if owner else ""
    if inf_rows:
        rows = np.asarray(inf_rows)
        raise InputLayoutError(
            f"{name} has infinite pixel values in {rows.size} stamp(s), row(s) "
            f"{_list_rows(rows)}; {who}cannot use them. Replace them (e.g. "
            "numpy.nan_to_num(X, posinf=..., neginf=...)) or drop those stamps."
        )
    if not nan_rows:
        return arr
    rows = np.asarray(nan_rows)
    where = f"{rows.size} stamp(s), row(s) {_list_rows(rows)}"
    if nan_policy != "fill":
        raise InputLayoutError(
            f"{name} has NaN pixels (e.g. off the image edge) in {where}; a network "
            "would read them as 0 and still give a confident answer. Fill them "
            "(numpy.nan_to_num), drop those stamps (FITSCropper(off_edge='drop')), "
            f"or pass nan_policy='fill' to {who or 'the estimator '}to fill them "
            "with 0 with a warning."
        )
    warnings.warn(
        f"{name} has NaN pixels in {where}; they are read as 0 (nan_policy='fill'), "
        "so the outputs of those rows rest on the pixels that remain.",
        UserWarning,
        stacklevel=3,
    )
    arr = arr.copy()
    for r in rows:
        np.nan_to_num(arr[r], copy=False, nan=0.0)
    return arr


class StampInputMixin:
    """Stamps in, as every stamp network takes them.

    ``X`` is an array ``(n_objects, n_bands, height, width)`` (channels
    first) or a mapping holding it under ``"stamps"``. Layout errors say how
    to fix them; NaN and infinite pixels follow :func:`check_finite_stamps`
    with the estimator's ``nan_policy``. The bands seen in ``fit`` are
    ``n_bands_`` and later calls must have the same.
    """

    #: Whether the band count comes from the data (else from the network).
    _bands_from_data = True

    def _min_stamp_side(self) -> tuple[int, str]:
        """Smallest stamp side the network accepts (pixels), and why."""
        return 1, ""

    def _expected_stamp_size(self) -> tuple[int, int] | None:
        """``(height, width)`` the network needs, or ``None`` for any."""
        return None

    def _stamp_bands(self, X: Any) -> int | None:
        """Band count of stamps ``X`` from their shape alone (no copy)."""
        shape = np.shape(split_stamps_input(X)[0])
        if len(shape) != 4:
            return None
        if shape[1] == shape[2] and shape[3] != shape[2] and shape[3] <= 16:
            raise InputLayoutError(
                f"X has shape {tuple(shape)}, which looks channels-last; skastro "
                "expects channels first (n_objects, n_bands, height, width). Use "
                "numpy.moveaxis(X, -1, 1)."
            )
        return int(shape[1])

    def _check_stamps(self, X: Any) -> np.ndarray:
        """Return the stamps of ``X`` as float32 ``(n, C, h, w)``, checked."""
        stamps, _ = split_stamps_input(X)
        n_bands = self.__dict__.get("n_bands_")
        name = type(self).__name__
        shape = np.shape(stamps)
        if (
            n_bands is not None
            and len(shape) == 4
            and shape[1] != n_bands
            and shape[-1] != n_bands
        ):
            raise InputLayoutError(
                f"{name} was fitted on {n_bands}-band stamps but X has {shape[1]} "
                f"band(s) on axis 1 (shape {tuple(shape)}); pass stamps with the "
                "same bands in the same order as in fit, or fit a new model for "
                "this band set."
            )
        try:
            arr = np.asarray(stamps, dtype=np.float32)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.ndim >= 2 and len(arr):
            arr = check_finite_stamps(
                arr, nan_policy=getattr(self, "nan_policy", "raise"), owner=name
            )
        arr = check_stamps(
            stamps if arr is None else arr,
            n_bands=n_bands,
            size=self._expected_stamp_size(),
            name="X",
        )
        min_side, why = self._min_stamp_side()
        if min(arr.shape[-2:]) < min_side:
            raise InputLayoutError(
                f"X stamps are {arr.shape[-2]}x{arr.shape[-1]} pixels; {why} and "
                f"needs at least {min_side}x{min_side}. Cut them with "
                f"FITSCropper(output_size={max(min_side, 32)})."
            )
        return arr

    @property
    def n_channels_(self) -> int:
        """Deprecated alias of ``n_bands_``."""
        warnings.warn(
            f"{type(self).__name__}.n_channels_ was renamed n_bands_; n_channels_ "
            "will be removed in the next release.",
            FutureWarning,
            stacklevel=2,
        )
        return self.n_bands_

    def __setstate__(self, state: dict) -> None:
        # models pickled before the rename keep loading
        if "n_channels_" in state:
            state.setdefault("n_bands_", state.pop("n_channels_"))
        upgrade_state(type(self), state)
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:
            parent(state)
        else:  # pragma: no cover - object has __setstate__ since Python 3.11
            self.__dict__.update(state)


class StampNetMixin(StampInputMixin):
    """:class:`StampInputMixin` for a network estimator (``NetMixin`` hooks).

    The band count is learned from the training data (``n_bands_``) and the
    network built with ``in_channels=n_bands_``, unless
    ``_bands_from_data`` is False (a network of fixed bands, such as
    DeepShadows' g, r, z): then ``n_bands_`` is the network's ``in_channels``.
    """

    _data_attribute_names = ("n_bands_",)
    _stamp_constraints: dict = {"nan_policy": [StrOptions({"raise", "fill"})]}

    def _data_attributes(self, X: Any, y: Any) -> dict[str, Any]:
        found = super()._data_attributes(X, y)
        if self._bands_from_data and not is_dataset(X):
            bands = self._stamp_bands(X)
            if bands is not None:
                found["n_bands_"] = bands
        return found

    def _data_module_kwargs(self) -> dict[str, Any]:
        kwargs = super()._data_module_kwargs()
        if self._bands_from_data and self.__dict__.get("n_bands_") is not None:
            kwargs["in_channels"] = self.n_bands_
        return kwargs

    def _module_conflict_hint(self, key: str) -> str:
        if key == "in_channels":
            return " (the bands of the stamps given to fit)"
        return super()._module_conflict_hint(key)

    def initialize_module(self):
        super().initialize_module()
        self.n_bands_ = int(
            self._built_kwargs_.get(
                "in_channels", _signature_default(self.module, "in_channels")
            )
        )
        return self

    def _prepare_X(self, X: Any) -> np.ndarray:
        return self._check_stamps(X)


def upgrade_state(cls: type, state: dict) -> dict:
    """Bring the state of an estimator pickled by an earlier release up to date.

    Parameters added since get their defaults (a renamed parameter keeps its
    old name's value, read through ``_renamed_params``), and a classifier's
    ``label_encoder_`` becomes ``classes_inferred_``.
    """
    if "label_encoder_" in state:
        state.setdefault("classes_inferred_", state.pop("label_encoder_").classes_)
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.default is not inspect.Parameter.empty and name != "self":
            state.setdefault(name, param.default)
    return state


# ------------------------------------------------------------------- helpers
def _to_channels_last(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if isinstance(x, Mapping):
        return {k: _to_channels_last(v) for k, v in x.items()}
    return x


def _as_float32(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_as_float32(o) for o in out)
    return out


def _signature_default(module: Any, name: str) -> Any:
    cls = module if isinstance(module, type) else type(module)
    param = inspect.signature(cls).parameters.get(name)
    return None if param is None else param.default


def _accepts(module: Any, name: str) -> bool:
    cls = module if isinstance(module, type) else type(module)
    return name in inspect.signature(cls).parameters


def _encode_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode_json(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        dtype = np.dtype(value["dtype"])
        return np.asarray(value["__ndarray__"], dtype=dtype)
    return value


def _index_accuracy(net: NeuralNet, X: Any, y: Any) -> float:
    """Validation accuracy on class indices (the encoded targets of training).

    skorch's ``"accuracy"`` scorer compares ``net.predict`` (labels from
    ``classes_``) with the encoded targets; this compares indices.
    """
    proba = NeuralNet.predict_proba(net, X)
    return float(np.mean(net._proba_to_index(proba) == to_numpy(y)))


# ----------------------------------------------------------------- the base
class NetMixin:
    """The lifecycle of every skastro network (see the module documentation).

    Put it (after :class:`ClassifierNetMixin` for a classifier) before a
    skorch ``NeuralNet*`` class. Subclasses describe themselves through
    hooks: ``_prepare_X``/``_prepare_y`` (input to arrays, in
    ``get_dataset``), ``_data_attributes`` (sizes learned from the
    training data), ``_data_module_kwargs`` (network arguments implied by
    them), ``_load_initial_weights``, ``_extra_callbacks`` and
    ``_l2_terms``.
    """

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(int, {-1})],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "amp": [StrOptions({"bf16", "fp16"}), Options(bool, {False}), None],
        "channels_last": ["boolean"],
        "warm_start": ["boolean"],
    }
    #: Renamed parameters: ``{old: (new, convert)}``, ``convert(old_value)``
    #: giving the new parameter's value.
    _renamed_params: dict = {}
    #: Fitted attributes learned from the data (saved with the weights).
    _data_attribute_names: tuple[str, ...] = ()

    def __init__(self, module: Any, **params: Any):
        own = set(inspect.signature(type(self).__init__).parameters)
        own -= _skorch_init_names(type(self)) | {"self", "kwargs"}
        mine = {name: params.pop(name) for name in list(params) if name in own}
        params.setdefault("iterator_train__shuffle", True)
        params.setdefault("iterator_train", BatchNormSafeLoader)
        super().__init__(module, **params)
        for name, value in mine.items():
            setattr(self, name, value)

    # -- parameters ------------------------------------------------------
    def _param(self, name: str) -> Any:
        """The value of parameter ``name``, honouring a renamed old one."""
        for old, (new, convert) in self._renamed_params.items():
            value = getattr(self, old, DEPRECATED)
            if new == name and not (isinstance(value, str) and value == DEPRECATED):
                return convert(value)
        return getattr(self, name)

    def _validate_hyperparams(self, *, warn: bool = True) -> None:
        """Check the parameters; warn about renamed ones (``warn=True``)."""
        cls = type(self).__name__
        params = {k: getattr(self, k) for k in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params, cls)
        for old, (new, convert) in self._renamed_params.items():
            value = getattr(self, old, DEPRECATED)
            if isinstance(value, str) and value == DEPRECATED:
                continue
            default = inspect.signature(type(self).__init__).parameters[new].default
            if getattr(self, new) is not default and getattr(self, new) != default:
                raise ValueError(
                    f"{cls} got both {old}={value!r} and {new}="
                    f"{getattr(self, new)!r}; {old} was renamed {new}: set {new} only."
                )
            if warn:
                warnings.warn(
                    f"{cls}: '{old}' is deprecated and will be removed in the next "
                    f"release; use {new}={convert(value)!r} instead of "
                    f"{old}={value!r}.",
                    FutureWarning,
                    stacklevel=4,
                )
            validate_parameter_constraints(
                self._parameter_constraints, {new: convert(value)}, cls
            )
        self._check_module_params(warn=warn)

    def _check_module_params(self, *, warn: bool) -> None:
        """Estimator-specific checks of ``module__*`` parameters (hook)."""

    # -- initialisation --------------------------------------------------
    def initialize(self):
        """Check the parameters, seed from ``random_state`` and build the net."""
        self._validate_hyperparams()
        seed = None if self.random_state is None else torch_seed_from(self.random_state)
        self._seed_ = seed
        self._rng_ = None if seed is None else PrivateRNG(seed)
        for name in self._all_data_attributes():
            self.__dict__.pop(name, None)
        self._sizes_open_ = True
        self._on_initialize()
        return super().initialize()

    def _on_initialize(self) -> None:
        """Prepare what building the network needs, e.g. read weights (hook)."""

    def _data_module_kwargs(self) -> dict[str, Any]:
        """Network arguments implied by the fitted data attributes (hook)."""
        return {}

    def _module_kwargs(self) -> dict[str, Any]:
        kwargs = self.get_params_for("module")
        for key, value in self._data_module_kwargs().items():
            given = kwargs.get(key)
            if given is not None and given != value:
                raise InputLayoutError(
                    f"module__{key}={given!r} but the training data ask for "
                    f"{key}={value!r}; drop module__{key} (it is set from the data)"
                    + self._module_conflict_hint(key)
                    + "."
                )
            kwargs[key] = value
        return kwargs

    def _module_conflict_hint(self, key: str) -> str:
        return ""

    def initialize_module(self):
        """Build the network for the data's sizes, seeded, with its start weights."""
        kwargs = self._module_kwargs()
        with seeded(getattr(self, "_seed_", None), self.device):
            module = self.initialized_instance(self.module, kwargs)
        self.module_ = module
        self._built_kwargs_ = kwargs
        self._load_initial_weights()
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def _load_initial_weights(self) -> None:
        """Load pretrained weights into ``module_`` (hook)."""

    def _module_out_of_date(self) -> bool:
        built = getattr(self, "_built_kwargs_", {})
        return any(
            built.get(k, _signature_default(self.module, k)) != v
            for k, v in self._data_module_kwargs().items()
        )

    def _rebuild_for_data(self) -> None:
        """Rebuild module, criterion and optimizer quietly (sizes changed)."""
        initialized, self.initialized_ = self.initialized_, False
        try:
            self._initialize_module()
            self._initialize_criterion()
            self._initialize_optimizer()
        finally:
            self.initialized_ = initialized

    # -- data --------------------------------------------------------------
    def _data_attributes(self, X: Any, y: Any) -> dict[str, Any]:
        """Fitted attributes read from the training data (hook)."""
        return {}

    def check_data(self, X, y=None):
        """Check the training data; learn their sizes when a fit starts."""
        self._validate_hyperparams(warn=False)
        found = self._data_attributes(X, y)
        if getattr(self, "_sizes_open_", False):
            for key, value in found.items():
                setattr(self, key, value)
            return
        for key, value in found.items():
            known = self.__dict__.get(key)
            if known is None or _same(known, value):
                continue
            raise InputLayoutError(
                f"{type(self).__name__} was trained with {key}={_short(known)} but "
                f"these data have {key}={_short(value)}; continuing to train "
                "(warm_start=True or partial_fit) needs data of the same sizes. Fit "
                "a new model (warm_start=False) for them."
            )

    def notify(self, method_name, **cb_kwargs):
        """skorch's; a tuple ``y`` reaches the callbacks as an array.

        (skorch's scoring callbacks would index a tuple as several targets.)
        """
        if isinstance(cb_kwargs.get("y"), tuple):
            cb_kwargs["y"] = np.asarray(cb_kwargs["y"])
        return super().notify(method_name, **cb_kwargs)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Learn the data's sizes and build the network for them.

        The net's own ``on_train_begin`` runs before the callbacks' (skorch
        notifies the net first), so callbacks see the final network.
        """
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.check_data(X, y)
        if getattr(self, "_sizes_open_", False):
            if self._module_out_of_date():
                self._rebuild_for_data()
            self._sizes_open_ = False
        rng = getattr(self, "_rng_", None)
        self._loader_generator_ = None if rng is None else rng.generator()
        self._grad_scaler_ = (
            torch.amp.GradScaler(torch.device(self.device).type)
            if self.amp == "fp16"
            else None
        )

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self._grad_scaler_ = None

    def _prepare_X(self, X: Any) -> Any:
        """``X`` as the network's input arrays (hook); validates it."""
        return X

    def _prepare_y(self, y: Any) -> Any:
        """``y`` as the training targets (hook)."""
        return y

    def get_dataset(self, X, y=None):
        """Validate and convert ``X`` (and ``y``), then wrap them for skorch."""
        if is_dataset(X):
            return super().get_dataset(X, y)
        X = self._prepare_X(X)
        if y is not None:
            y = self._prepare_y(y)
            if get_len(y) != get_len(X):
                raise InputLayoutError(
                    f"X holds {get_len(X)} objects but y holds {get_len(y)} "
                    "targets; give one target per object."
                )
        return super().get_dataset(X, y)

    def get_iterator(self, dataset, training=False):
        """skorch's loaders; the training one shuffles with the estimator's seed."""
        generator = getattr(self, "_loader_generator_", None)
        if not training or generator is None:
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train")
        if not {"generator", "sampler", "batch_sampler"} & set(kwargs):
            kwargs["generator"] = generator
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return self.iterator_train(dataset, **kwargs)

    # -- steps ---------------------------------------------------------------
    def _input_tensor(self, x: Any) -> Any:
        x = to_tensor(x, device=self.device)
        return _to_channels_last(x) if self.channels_last else x

    def infer(self, x, **fit_params):
        """Forward pass in ``amp`` precision and ``channels_last`` layout."""
        x = self._input_tensor(x)
        with autocast(self.amp, self.device):
            out = super().infer(x, **fit_params)
        return _as_float32(out) if self.amp else out

    def train_step(self, batch, **fit_params):
        """One optimiser step, drawing dropout from the estimator's stream."""
        rng = getattr(self, "_rng_", None)
        with rng.active(self.device) if rng is not None else contextlib.nullcontext():
            scaler = getattr(self, "_grad_scaler_", None)
            if scaler is None:
                return super().train_step(batch, **fit_params)
            return self._scaled_train_step(batch, scaler, **fit_params)

    def _scaled_train_step(self, batch, scaler, **fit_params):
        """A float16 step with loss scaling (``amp="fp16"``)."""
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        self._zero_grad_optimizer()
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        for optimizer in optimizers:
            scaler.unscale_(optimizer)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        for optimizer in optimizers:
            scaler.step(optimizer)
        scaler.update()
        return {"loss": loss, "y_pred": y_pred}

    def _l2_terms(self) -> list[tuple[float, list[torch.Tensor]]]:
        """``[(λ, kernels), ...]``: Keras-style L2 penalties ``λ Σ w²`` (hook)."""
        return []

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion's loss plus the L2 penalties (as Keras' total loss)."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        for factor, tensors in self._l2_terms():
            if factor:
                loss = loss + factor * sum(w.pow(2).sum() for w in tensors)
        return loss

    # -- callbacks -----------------------------------------------------------
    def _extra_callbacks(self) -> list[tuple[str, Any]]:
        """Callbacks the estimator adds to skorch's defaults (hook)."""
        return []

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        try:
            self._validate_hyperparams(warn=False)
        except (TypeError, ValueError):
            return callbacks  # invalid parameters: initialize() reports them
        callbacks += self._extra_callbacks()
        if self.patience is not None and self.train_split is not None:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(patience=self.patience, load_best=True),
                )
            )
        return callbacks

    # -- fitted state ----------------------------------------------------------
    def check_is_fitted(self, attributes=None, *args, **kwargs):
        """Raise :class:`~sklearn.exceptions.NotFittedError` before ``fit``."""
        if not self.initialized_ and "msg" not in kwargs:
            raise NotInitializedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator (or "
                "'initialize' then 'load_params' to use saved weights)."
            )
        return super().check_is_fitted(attributes, *args, **kwargs)

    def _reset_rng(self) -> None:
        """Restart the estimator's random stream from ``random_state``."""
        if self.random_state is not None:
            self._rng_ = PrivateRNG(torch_seed_from(self.random_state))

    # -- weights-only persistence ------------------------------------------------
    @classmethod
    def _all_data_attributes(cls) -> list[str]:
        """Fitted attributes learned from the data, over the class hierarchy."""
        names: list[str] = []
        for klass in cls.__mro__:
            for name in vars(klass).get("_data_attribute_names", ()):
                if name not in names:
                    names.append(name)
        return names

    def _fitted_metadata(self) -> dict[str, Any]:
        return {
            name: _encode_json(self.__dict__[name])
            for name in self._all_data_attributes()
            if name in self.__dict__
        }

    def save_params(self, f_params=None, use_safetensors=False, **kwargs):
        """skorch's ``save_params``; ``f_params`` also describes the fitted model.

        The file holds the module's state dict plus one string entry,
        ``"_skastro_metadata"`` (JSON: classes, bands, outputs learned in
        ``fit``), so that ``initialize()`` then ``load_params(f_params=...)``
        on a new estimator with the same parameters restores a usable model,
        whatever the labels were. ``load_params`` also reads plain state
        dicts (without it).
        """
        if f_params is not None and not use_safetensors:
            self.check_is_fitted()
            state = self.module_.state_dict()
            state[METADATA_KEY] = json.dumps(self._fitted_metadata())
            torch.save(state, f_params)
            f_params = None
        if kwargs or f_params is not None:
            super().save_params(
                f_params=f_params, use_safetensors=use_safetensors, **kwargs
            )

    def load_params(
        self, f_params=None, checkpoint=None, use_safetensors=False, **kwargs
    ):
        """skorch's ``load_params``, restoring the fitted description too.

        See :meth:`save_params`. A ``checkpoint`` (skorch
        :class:`~skorch.callbacks.Checkpoint`) is read the same way.
        """
        if use_safetensors:
            return super().load_params(
                f_params=f_params, checkpoint=checkpoint, use_safetensors=True, **kwargs
            )
        if checkpoint is not None:
            if not self.initialized_:
                self.initialize()
            if kwargs.get("f_history") is None and checkpoint.f_history is not None:
                # first, as skorch does: the file names may depend on the history
                self.history = History.from_file(checkpoint.f_history_)
            files = checkpoint.get_formatted_files(self)
            for key, value in files.items():
                if kwargs.get(key) is None and key not in ("f_params", "f_history"):
                    kwargs[key] = value
            f_params = f_params or files.get("f_params")
        if f_params is not None:
            self._load_module_state(f_params)
        if any(v is not None for v in kwargs.values()):
            super().load_params(**kwargs)
        return self

    def _load_module_state(self, f_params) -> None:
        if not self.initialized_:
            self.check_is_fitted(msg="Cannot load the weights of an uninitialized net.")
        load_kwargs = self.torch_load_kwargs or {"weights_only": True}
        map_location = get_map_location(self.device)
        self.device = self._check_device(self.device, map_location)
        state = torch.load(f_params, map_location=map_location, **load_kwargs)
        meta = state.pop(METADATA_KEY, None)
        if meta is not None:
            for key, value in json.loads(meta).items():
                setattr(self, key, _decode_json(value))
            # rebuilt only when the sizes differ: the module and optimizer
            # otherwise stay the objects callbacks (an LR scheduler) hold
            if self._module_out_of_date():
                self._rebuild_for_data()
        self._sizes_open_ = False
        self.module_.load_state_dict(state)

    def __setstate__(self, state):
        # models pickled by an earlier release keep loading
        if "__cuda_dependent_attributes__" in state:
            upgrade_state(type(self), state)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


def init_arguments(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The arguments of an estimator's ``__init__`` from its ``locals()``.

    Every network's ``__init__`` is ``super().__init__(**init_arguments(locals()))``:
    :class:`NetMixin` stores the estimator's own parameters as attributes
    and gives skorch the rest (``**kwargs`` included), so each
    ``__init__`` only lists its parameters and their defaults.
    """
    args = {k: v for k, v in frame_locals.items() if k not in ("self", "__class__")}
    args.update(args.pop("kwargs", {}))
    return args


def _skorch_init_names(cls: type) -> set[str]:
    """Parameters taken by the ``__init__`` of skorch's classes above ``cls``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("skorch.") and "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters)
    return names - {"self", "args", "kwargs"}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return repr(value.tolist()[:10])
    return repr(value)


# ------------------------------------------------------------------- labels
class ClassifierNetMixin:
    """Labels of any type for a network classifier.

    ``y`` may hold strings, ints or bools (a list, tuple or array); binary
    and multi-class. The classes are ``classes_`` (sorted, or the
    ``classes`` parameter when given, which may list classes absent from
    ``y``); the network is built with one output per class (one logit for a
    binary network, :attr:`_binary_logit`), trains on class indices, and
    :meth:`predict` returns labels from ``classes_``. A continuous ``y`` or a
    single class raise with the remedy. Class weights (``class_weight``,
    where the estimator has it) enter the cross-entropy.
    """

    #: One logit for two classes (BCE), instead of one output per class.
    _binary_logit = False
    _data_attribute_names = ("classes_inferred_", "class_weight_")

    @property
    def classes_(self) -> np.ndarray:
        if self.classes is not None and len(self.classes):
            return np.asarray(self.classes)
        inferred = self.__dict__.get("classes_inferred_")
        if inferred is not None:
            return inferred
        if self.__dict__.get("initialized_"):
            # weights loaded without a description: the outputs' indices
            return np.arange(self._n_module_outputs())
        raise AttributeError(
            f"{type(self).__name__} has no attribute 'classes_' before fit."
        )

    def _n_module_outputs(self) -> int:
        if self._binary_logit:
            return 2
        built = getattr(self, "_built_kwargs_", {})
        return int(built.get("n_outputs", _signature_default(self.module, "n_outputs")))

    def _check_labels(self, y: Any) -> np.ndarray:
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} is a classifier: fit needs y (one label per object)."
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        kind = type_of_target(y, input_name="y") if y.ndim == 1 else "multioutput"
        if kind == "continuous":
            raise ValueError(
                f"{name} is a classifier but y holds continuous values (e.g. "
                f"{y[:3].tolist()}); give class labels (strings, ints or bools), or "
                "bin the values first (e.g. numpy.digitize)."
            )
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"{name} needs y as one class label per object (1-D); got "
                f"{kind} targets of shape {y.shape}."
            )
        return y

    def _data_attributes(self, X: Any, y: Any) -> dict[str, Any]:
        found = super()._data_attributes(X, y)
        if y is None and is_dataset(X):
            # the dataset's targets are class indices already
            if getattr(self, "_sizes_open_", False) and self.classes is None:
                try:
                    _, y_ds = data_from_dataset(X)
                except AttributeError:
                    return found
                found["classes_inferred_"] = np.unique(to_numpy(y_ds))
            return found
        labels = self._check_labels(y)
        name = type(self).__name__
        if getattr(self, "_sizes_open_", False):
            given = self.classes is not None and len(self.classes)
            classes = np.asarray(self.classes) if given else np.unique(labels)
            if not given and classes.size < 2:
                raise ValueError(
                    f"y holds a single class {classes.tolist()}; a classifier needs "
                    f"at least two (or pass classes=[...] to {name} to declare the "
                    "others)."
                )
            if self._binary_logit and classes.size != 2:
                raise ValueError(
                    f"{name} is a binary classifier but y holds {classes.size} "
                    f"classes {_short(classes)}; give two classes (e.g. 'LSBG' and "
                    "'artifact')."
                )
            found["classes_inferred_"] = None if given else classes
            found["class_weight_"] = self._class_weights(labels, classes)
        else:
            classes = self.classes_
        unknown = np.setdiff1d(labels, classes)
        if unknown.size:
            raise ValueError(
                f"y holds label(s) {unknown.tolist()[:10]} that are not among the "
                f"classes {classes.tolist()}; "
                + (
                    "the classes parameter must list every label."
                    if self.classes is not None
                    else "a model continuing to train keeps the classes of its first fit."
                )
            )
        return found

    def _class_weights(self, y: np.ndarray, classes: np.ndarray) -> np.ndarray | None:
        class_weight = getattr(self, "class_weight", None)
        if class_weight is None:
            return None
        present = np.isin(classes, y)
        weights = np.ones(len(classes))
        if class_weight == "balanced":
            weights[present] = compute_class_weight(
                "balanced", classes=classes[present], y=y
            )
            return weights
        unknown = set(class_weight) - set(classes.tolist())
        if unknown:
            raise ValueError(
                f"class_weight has labels {sorted(unknown, key=str)} not among the "
                f"classes {classes.tolist()}."
            )
        for i, label in enumerate(classes.tolist()):
            weights[i] = class_weight.get(label, 1.0)
        return weights

    def _data_module_kwargs(self) -> dict[str, Any]:
        kwargs = super()._data_module_kwargs()
        if self._binary_logit or not _accepts(self.module, "n_outputs"):
            return kwargs
        if (self.classes is not None and len(self.classes)) or self.__dict__.get(
            "classes_inferred_"
        ) is not None:
            kwargs["n_outputs"] = len(self.classes_)
        return kwargs

    def _module_conflict_hint(self, key: str) -> str:
        if key == "n_outputs":
            return (
                ", or pass classes=[...] to declare classes absent from y (one "
                "output per class)"
            )
        return super()._module_conflict_hint(key)

    def initialize_criterion(self):
        """The criterion, weighted by ``class_weight_`` when there are weights."""
        kwargs = self.get_params_for("criterion")
        weights = self.__dict__.get("class_weight_")
        if weights is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(weights, dtype=torch.float32)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def _prepare_y(self, y: Any) -> np.ndarray:
        """Labels to class indices (float 0/1 for a binary logit)."""
        labels = self._check_labels(y)
        classes = self.classes_
        index = {label: i for i, label in enumerate(classes.tolist())}
        try:
            encoded = np.fromiter(
                (index[v] for v in labels.tolist()), dtype=np.int64, count=len(labels)
            )
        except KeyError as exc:
            raise ValueError(
                f"y holds the label {exc.args[0]!r}, not among the classes "
                f"{classes.tolist()}."
            ) from None
        return encoded.astype(np.float32) if self._binary_logit else encoded

    def _proba_to_index(self, proba: np.ndarray) -> np.ndarray:
        if self._binary_logit:
            return (proba[:, 1] > self.threshold).astype(np.int64)
        return proba.argmax(axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels of ``X`` (from ``classes_``), shape ``(n_objects,)``."""
        index = self._proba_to_index(self.predict_proba(X))
        return self.classes_[index]

    @property
    def _default_callbacks(self):
        callbacks = []
        for name, cb in super()._default_callbacks:
            if name == "valid_acc":
                cb = EpochScoring(
                    _index_accuracy, name="valid_acc", lower_is_better=False
                )
            callbacks.append((name, cb))
        return callbacks


# --------------------------------------------------------------- regression
class RegressorNetMixin:
    """Regression outputs: :meth:`predict` returns the network's outputs
    times :meth:`_output_scale`; ``predict_proba`` is hidden."""

    def _output_scale(self) -> float:
        return 1.0

    @available_if(lambda self: False)
    def predict_proba(self, X):  # pragma: no cover - hidden: a regressor
        """Not available: use :meth:`predict`."""

    def predict(self, X: Any) -> np.ndarray:
        """The predicted targets of ``X``, shape ``(n_objects, n_outputs)``."""
        return NeuralNet.predict_proba(self, X) * np.float32(self._output_scale())


# ------------------------------------------------------------- representation
class EmbeddingMixin(TransformerMixin):
    """``transform``: the network's learned representation (``module_.embed``)."""

    def transform(self, X: Any) -> np.ndarray:
        """Return the learned representation of stamps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Stamps (channels first) with the bands seen in ``fit``, or a
            mapping holding them under ``"stamps"``.

        Returns
        -------
        features : ndarray of shape (n_objects, n_hidden)
            Activations of the network's representation layer (float32),
            for random forests, SVMs, kNN or t-SNE.
        """
        self.check_is_fitted()
        embed = getattr(self.module_, "embed", None)
        if embed is None:
            raise TypeError(
                f"transform needs a module with an 'embed' method returning the "
                f"representation; {type(self.module_).__name__} has none."
            )
        self._set_training(False)
        out = []
        iterator = self.get_iterator(self.get_dataset(X), training=False)
        with torch.no_grad():
            for batch in iterator:
                Xi, _ = unpack_data(batch)
                with autocast(self.amp, self.device):
                    features = embed(self._input_tensor(Xi))
                out.append(to_numpy(features.float()))
        return np.concatenate(out, axis=0).astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the representation's columns: ``<class>_embedding{i}``."""
        self.check_is_fitted()
        n = self.module_.head.in_features
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_embedding{i}" for i in range(n)], dtype=object)


# ------------------------------------------------------------------ freezing
def _meta_layer_names(module: Any, kwargs: dict[str, Any]) -> tuple[str, ...]:
    key = (
        module if isinstance(module, type) else type(module),
        repr(sorted(kwargs.items())),
    )
    if key not in _LAYER_CACHE:
        with torch.device("meta"):
            net = (
                module(**kwargs) if isinstance(module, type) else type(module)(**kwargs)
            )
        _LAYER_CACHE[key] = tuple(
            f"backbone.{name}" for name in backbone_layers(net.backbone)
        )
    return _LAYER_CACHE[key]


_LAYER_CACHE: dict[tuple, tuple[str, ...]] = {}


class FreezingMixin:
    """One freezing schedule for networks with a ``backbone`` and a head.

    Parameters (on the estimator): ``freeze`` in ``{"none", "head",
    "two_phase"}``; ``warmup_epochs`` (head-only epochs of ``"two_phase"``);
    ``unfreeze_last`` (backbone layers with weights, counted from the
    output, unfrozen after the warm-up; ``None`` = all); ``finetune_lr``
    (learning rate after the warm-up; ``None`` keeps ``lr``). Built from
    skorch's :class:`~skorch.callbacks.Freezer`,
    :class:`~skorch.callbacks.Unfreezer` and
    :class:`~skorch.callbacks.LRScheduler` (``MultiStepLR``).
    """

    _freezing_constraints: dict = {
        "freeze": [StrOptions({"none", "head", "two_phase"})],
        "warmup_epochs": [Interval(Integral, 1, None, closed="left")],
        "unfreeze_last": [Interval(Integral, 0, None, closed="left"), None],
        "finetune_lr": [Interval(Real, 0, None, closed="neither"), None],
    }

    def _unfrozen_after_warmup(self) -> list[str]:
        """Parameter-name patterns unfrozen after the warm-up."""
        last = self.unfreeze_last
        if last is None:
            return ["backbone.*"]
        if last == 0:
            return []
        layers = _meta_layer_names(self.module, self._structure_kwargs())
        return [f"{name}.*" for name in layers[-last:]]

    def _structure_kwargs(self) -> dict[str, Any]:
        """Network arguments that decide its layer names (no data, no weights)."""
        return self.get_params_for("module")

    def _freeze_callbacks(self) -> list[tuple[str, Any]]:
        freeze = self._param("freeze")
        callbacks = []
        if freeze in ("head", "two_phase"):
            callbacks.append(("freeze_backbone", Freezer("backbone.*", at=1)))
        if freeze == "two_phase":
            warmup = self._param("warmup_epochs")
            callbacks.append(
                (
                    "unfreeze_backbone",
                    Unfreezer(self._unfrozen_after_warmup(), at=warmup + 1),
                )
            )
            if self.finetune_lr is not None:
                callbacks.append(
                    (
                        "finetune_lr",
                        LRScheduler(
                            policy=MultiStepLR,
                            milestones=[warmup],
                            gamma=self.finetune_lr / self.lr,
                        ),
                    )
                )
        return callbacks

    def _check_schedule(self) -> None:
        freeze, warmup = self._param("freeze"), self._param("warmup_epochs")
        if freeze == "two_phase" and warmup >= self.max_epochs > 0:
            raise ValueError(
                f"freeze='two_phase' trains the head alone for warmup_epochs="
                f"{warmup} epochs, which leaves none of max_epochs={self.max_epochs} "
                "for fine-tuning; raise max_epochs or use freeze='head'."
            )
