"""Self-supervised magnitude pretraining and the classifier built on it.

Martinazzo et al. (2021, §4–5): a VGG16 network learns to predict the
per-band magnitudes of unlabelled objects from their stamps (the pretext
task); its convolutional backbone and dense layer then classify stars,
galaxies and quasars from a small labelled set (the downstream task), either
frozen (only the top is trained) or fine-tuned in two phases.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    Freezer,
    LRScheduler,
    Unfreezer,
)
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import to_numpy, to_tensor
from torch.optim.lr_scheduler import MultiStepLR

from ..exceptions import InputLayoutError
from ..utils._torch import seed_everything
from ..utils._validation import check_stamps, split_stamps_input
from ._pretrain_modules import MaskedL1Loss, VGG16StampNet, load_vgg16_features

__all__ = [
    "MagnitudePretrainer",
    "PretrainedStampClassifier",
    "PretrainedWeights",
]

#: Smallest stamp side a VGG16 backbone (five 2x2 max-pools) accepts, pixels.
MIN_STAMP_SIZE = 32
#: Stamps validated at a time for large inputs (bounded temporary memory).
_CHECK_CHUNK = 8192


def _index_accuracy(net: NeuralNet, X: Any, y: Any) -> float:
    """Accuracy of the argmax of the network output against encoded ``y``.

    skorch's default ``valid_acc`` compares ``net.predict`` (class labels)
    with the encoded targets the net trains on; this compares indices.
    """
    y_pred = NeuralNet.predict_proba(net, X).argmax(axis=1)
    return float(np.mean(y_pred == to_numpy(y)))


class PretrainedWeights:
    """Weights of a pretrained :class:`~skastro.nn.VGG16StampNet` and its shape.

    The object a :class:`PretrainedStampClassifier` starts from. Get one from
    :meth:`MagnitudePretrainer.pretrained_weights`, or wrap a state dict
    (for instance a torchvision ``vgg16`` state dict for 3-band stamps, of
    which only the ``features.*`` convolutions are used).

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
        Keys ``backbone.features.N.{weight,bias}`` (or torchvision's
        ``features.N.*``) and optionally ``top.1.{weight,bias}`` (the dense
        layer). Any ``head.*`` (output layer) keys are ignored: the classifier
        gets a new output layer.
    width : float, default=1.0
        Filter multiplier the weights were made with.
    n_hidden : int, default=1024
        Units of the dense layer.

    Attributes
    ----------
    in_channels : int
        Input bands of the first convolution, read from its weight.
    """

    def __init__(
        self,
        state_dict: Mapping[str, torch.Tensor],
        *,
        width: float = 1.0,
        n_hidden: int = 1024,
    ):
        sd = {}
        for key, value in state_dict.items():
            key = key.removeprefix("module.")
            if key.startswith("features."):
                key = "backbone." + key
            if key.startswith(("backbone.", "top.")):
                sd[key] = torch.as_tensor(value).detach().cpu().clone()
        if "backbone.features.0.weight" not in sd:
            raise ValueError(
                "state_dict holds no VGG16 convolution weights (no "
                "'backbone.features.0.weight' or 'features.0.weight' key); got keys "
                f"{sorted(state_dict)[:5]}."
            )
        self.state_dict = sd
        self.width = float(width)
        self.n_hidden = int(n_hidden)
        self.in_channels = int(sd["backbone.features.0.weight"].shape[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PretrainedWeights):
            return NotImplemented
        return (
            self.width == other.width
            and self.n_hidden == other.n_hidden
            and self.state_dict.keys() == other.state_dict.keys()
            and all(
                torch.equal(self.state_dict[k], other.state_dict[k])
                for k in self.state_dict
            )
        )

    __hash__ = None  # mutable container of tensors

    def __repr__(self) -> str:
        return (
            f"PretrainedWeights(in_channels={self.in_channels}, width={self.width}, "
            f"n_hidden={self.n_hidden}, n_tensors={len(self.state_dict)})"
        )


class _StampNetMixin(TransformerMixin):
    """Stamp input handling, seeding, representation and module sizing."""

    def _validate_hyperparams(self) -> None:
        params = {k: getattr(self, k) for k in self._parameter_constraints}
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name=type(self).__name__
        )

    def _check_fitted(self) -> None:
        if not getattr(self, "initialized_", False) or not hasattr(self, "n_channels_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call "
                "'fit' with appropriate arguments before using this estimator."
            )

    def _check_stamps_X(self, X: Any, *, reset: bool) -> np.ndarray:
        """Return the stamps of ``X`` as float32 ``(n, C, h, w)``."""
        stamps, _ = split_stamps_input(X)
        name = type(self).__name__
        if not reset:
            shape = np.shape(stamps)
            if (
                len(shape) == 4
                and shape[1] != self.n_channels_
                and shape[-1] != self.n_channels_
            ):
                raise InputLayoutError(
                    f"{name} was fitted on {self.n_channels_}-band stamps but X has "
                    f"{shape[1]} band(s) on axis 1 (shape {tuple(shape)}); pass "
                    "stamps with the same bands in the same order as in fit, or "
                    "fit a new model for this band set."
                )
        n_bands = None if reset else self.n_channels_
        if (
            isinstance(stamps, np.ndarray)
            and stamps.dtype == np.float32
            and stamps.ndim == 4
            and len(stamps) > _CHECK_CHUNK
        ):
            # large stacks (100k stamps are 4.9 GB): validate chunk by chunk so
            # the temporaries stay small; the array itself is not copied
            for start in range(0, len(stamps), _CHECK_CHUNK):
                stop = min(start + _CHECK_CHUNK, len(stamps))
                check_stamps(
                    stamps[start:stop], n_bands=n_bands, name=f"X[{start}:{stop}]"
                )
            arr = np.ascontiguousarray(stamps)
        else:
            arr = check_stamps(stamps, n_bands=n_bands, name="X")
        min_side, why = self._min_stamp_side()
        if min(arr.shape[-2:]) < min_side:
            raise InputLayoutError(
                f"X stamps are {arr.shape[-2]}x{arr.shape[-1]} pixels; {why} and "
                f"needs at least {min_side}x{min_side}. Cut them with "
                f"FITSCropper(output_size={max(min_side, 32)})."
            )
        if reset:
            self.n_channels_ = int(arr.shape[1])
        return arr

    def _min_stamp_side(self) -> tuple[int, str]:
        """Smallest stamp side the network accepts (pixels), and why."""
        return MIN_STAMP_SIZE, "the VGG16 backbone halves them five times"

    # -- skorch hooks --------------------------------------------------
    def initialize(self):
        """Seed torch from ``random_state``, then initialise as skorch does."""
        if self.random_state is not None:
            seed_everything(self.random_state)
        return super().initialize()

    def _module_kwargs(self) -> dict[str, Any]:
        kwargs = self.get_params_for("module")
        if hasattr(self, "n_channels_"):
            given = kwargs.get("in_channels")
            if given is not None and given != self.n_channels_:
                raise InputLayoutError(
                    f"module__in_channels={given} but the stamps given to fit have "
                    f"{self.n_channels_} bands; drop module__in_channels (it is "
                    "inferred from X) or pass matching stamps."
                )
            kwargs["in_channels"] = self.n_channels_
        if hasattr(self, "n_outputs_"):
            kwargs["n_outputs"] = self.n_outputs_
        return kwargs

    def initialize_module(self):
        self.module_ = self.initialized_instance(self.module, self._module_kwargs())
        return self

    # -- representation ------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """Return the learned representation of stamps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Calibrated stamps (channels first), or a mapping holding them
            under ``"stamps"``; same bands as in ``fit``.

        Returns
        -------
        features : ndarray of shape (n_objects, n_hidden)
            Activations of the dense layer after the pooled VGG16 backbone
            (float32), for random forests, SVMs, kNN or t-SNE.
        """
        self._check_fitted()
        X = self._check_stamps_X(X, reset=False)
        embed = getattr(self.module_, "embed", None)
        if embed is None:
            raise TypeError(
                f"transform needs a module with an 'embed' method returning the "
                f"representation; {type(self.module_).__name__} has none."
            )
        self._set_training(False)
        iterator = self.get_iterator(self.get_dataset(X), training=False)
        out = []
        with torch.no_grad():
            for batch in iterator:
                Xi, _ = unpack_data(batch)
                out.append(to_numpy(embed(to_tensor(Xi, device=self.device))))
        return np.concatenate(out, axis=0).astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the representation's columns: ``<class>_embedding{i}``."""
        self._check_fitted()
        n = self.module_.head.in_features
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_embedding{i}" for i in range(n)], dtype=object)


_COMMON_CONSTRAINTS = {
    "lr": [Interval(Real, 0, None, closed="neither")],
    "max_epochs": [Interval(Integral, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
}


class MagnitudePretrainer(_StampNetMixin, NeuralNetRegressor):
    """Pretrain a VGG16 network to predict per-band magnitudes from stamps.

    The pretext task of Martinazzo et al. (2021, §4.1): from calibrated
    ``C``-band stamps of unlabelled objects, regress their catalog magnitudes
    (12 for 12-band and RGB stamps, 5 for the broad bands). The network
    (:class:`~skastro.nn.VGG16StampNet`) is the VGG16 convolutional backbone
    for ``C`` input channels, global average pooling, a dense layer of 1024
    units and one linear output per magnitude. Targets are divided by
    ``target_scale`` (35, just above the faintest magnitude) for training and
    predictions are multiplied back, so :meth:`predict` returns magnitudes.
    Loss: mean absolute error; optimiser Adam, learning rate 1e-4 (§4.3).

    Missing magnitudes (NaN in ``y``, about a third of S-PLUS objects miss at
    least one band) are *masked in the loss*: an object contributes through
    the bands it was measured in, nothing is imputed, and the loss never
    becomes NaN (:class:`~skastro.nn.MaskedL1Loss`).

    :meth:`transform` returns the learned representation (the 1024 dense
    activations), so the pretrained network feeds a random forest, an SVM,
    kNN or t-SNE in a :class:`~sklearn.pipeline.Pipeline`, and
    :meth:`pretrained_weights` starts a :class:`PretrainedStampClassifier`.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=VGG16StampNet
        The network; ``in_channels`` and ``n_outputs`` are set from the data in
        ``fit``. Tune it with ``module__width`` (filter multiplier, 1.0 =
        VGG16) and ``module__n_hidden`` (1024).
    criterion : torch loss class, default=MaskedL1Loss
        Mean absolute error over finite targets.
    optimizer : torch optimiser class, default=torch.optim.Adam
    lr : float, default=1e-4
        Learning rate.
    max_epochs : int, default=100
        Epochs (100 in the paper for ~100k stamps).
    batch_size : int, default=128
    target_scale : float, default=35.0
        Magnitudes are divided by it for training (Martinazzo et al. 2021, §5.1).
    patience : int or None, default=None
        If set, stop after ``patience`` epochs without a lower validation loss
        and restore the best weights (skorch
        :class:`~skorch.callbacks.EarlyStopping` with ``load_best=True``);
        needs a ``train_split``.
    train_split : callable or None, default=ValidSplit(0.1, random_state=0)
        Held-out validation fraction (skorch); ``None`` trains on everything.
    device : str, default="cpu"
        ``"cuda"`` to train on a GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weight initialisation, batch order) when the network is
        initialised in ``fit``.
    **kwargs
        Other skorch :class:`~skorch.NeuralNet` parameters (``callbacks``,
        ``verbose``, ``iterator_train__num_workers`` …).

    Attributes
    ----------
    n_channels_ : int
        Number of bands of the stamps seen in ``fit``.
    n_outputs_ : int
        Number of magnitudes predicted.
    missing_fraction_ : float
        Fraction of the target entries that were missing (NaN) in ``fit``.
    module_ : VGG16StampNet
        The trained network.
    history_ : skorch.History
        Per-epoch losses; ``train_loss``/``valid_loss`` are MAE of the scaled
        targets (multiply by ``target_scale`` for magnitudes).

    See Also
    --------
    PretrainedStampClassifier : the downstream classifier.
    skastro.nn.VGG16StampNet : the network.

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.nn import MagnitudePretrainer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 12, 32, 32)).astype(np.float32)
    >>> y = rng.uniform(15, 21, size=(16, 12))
    >>> y[::3, 0] = np.nan  # missing u magnitudes: masked in the loss
    >>> net = MagnitudePretrainer(module__width=0.0625, module__n_hidden=16,
    ...                           max_epochs=2, train_split=None, verbose=0,
    ...                           random_state=0).fit(X, y)
    >>> net.predict(X).shape, net.transform(X).shape
    ((16, 12), (16, 16))
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "target_scale": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        module=VGG16StampNet,
        *,
        criterion=MaskedL1Loss,
        optimizer=torch.optim.Adam,
        lr=1e-4,
        max_epochs=100,
        batch_size=128,
        target_scale=35.0,
        patience=None,
        train_split=ValidSplit(0.1, random_state=0),  # noqa: B008
        device="cpu",
        random_state=None,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            **kwargs,
        )
        self.target_scale = target_scale
        self.patience = patience
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        if self.patience is not None:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(patience=self.patience, load_best=True),
                )
            )
        return callbacks

    def _check_targets(self, y: Any, n_objects: int, *, reset: bool) -> np.ndarray:
        """Magnitudes ``(n, n_outputs)`` scaled by ``1/target_scale``, float32."""
        if y is None:
            raise ValueError(
                "MagnitudePretrainer needs the magnitudes as y, shape "
                "(n_objects, n_bands), e.g. catalog[list(SPLUS_BANDS)]."
            )
        try:
            arr = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y (magnitudes) must be numeric: {exc}") from exc
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != n_objects:
            raise ValueError(
                f"y must have shape (n_objects, n_magnitudes) = ({n_objects}, k) to "
                f"match X; got {np.shape(y)}."
            )
        if np.isinf(arr).any():
            raise ValueError(
                "y holds infinite magnitudes; use NaN for missing ones (they are "
                "masked in the loss)."
            )
        finite = np.isfinite(arr)
        empty = np.flatnonzero(~finite.any(axis=0))
        if empty.size:
            raise ValueError(
                f"y column(s) {empty.tolist()} hold no finite magnitude; drop them "
                "(nothing can be learned from a band without measurements)."
            )
        if not reset and arr.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {arr.shape[1]} magnitudes but the model predicts "
                f"{self.n_outputs_}."
            )
        if reset:
            self.n_outputs_ = int(arr.shape[1])
            self.missing_fraction_ = float(1.0 - finite.mean())
        return (arr / self.target_scale).astype(np.float32)

    def fit(self, X: Any, y: Any, **fit_params) -> MagnitudePretrainer:
        """Train the network from scratch on stamps ``X`` and magnitudes ``y``.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Calibrated stamps, float32, channels first, at least 32x32 pixels;
            or a mapping holding them under ``"stamps"`` (other keys, such as
            ``"zero_point"``, are ignored). NaN pixels (off the image) are
            read as 0.
        y : array-like of shape (n_objects, n_magnitudes)
            AB magnitudes; NaN marks a missing measurement (masked).

        Returns
        -------
        self : MagnitudePretrainer
        """
        self._validate_hyperparams()
        X = self._check_stamps_X(X, reset=True)
        y = self._check_targets(y, len(X), reset=True)
        if not self.warm_start or not self.initialized_:
            self.initialize()
        NeuralNet.partial_fit(self, X, y, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X: Any, y: Any, classes=None, **fit_params):
        """Continue training on ``X, y`` (initialises on the first call)."""
        self._validate_hyperparams()
        first = not self.initialized_ or not hasattr(self, "n_channels_")
        X = self._check_stamps_X(X, reset=first)
        y = self._check_targets(y, len(X), reset=first)
        if first:
            self.initialize()
        return NeuralNet.partial_fit(self, X, y, **fit_params)

    @available_if(lambda self: False)
    def predict_proba(self, X):  # pragma: no cover - hidden: a regressor
        """Not available: use :meth:`predict` (magnitudes)."""

    def predict(self, X: Any) -> np.ndarray:
        """Predict magnitudes.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Stamps with the bands used in ``fit``.

        Returns
        -------
        magnitudes : ndarray of shape (n_objects, n_outputs)
            AB magnitudes (the network output times ``target_scale``).
        """
        self._check_fitted()
        X = self._check_stamps_X(X, reset=False)
        return NeuralNet.predict_proba(self, X) * np.float32(self.target_scale)

    def score(self, X: Any, y: Any, sample_weight=None) -> float:
        """Coefficient of determination R² over the measured magnitudes.

        R² of each band over its finite targets (NaN = missing, skipped),
        averaged over bands.
        """
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        pred = self.predict(X)
        sw = None if sample_weight is None else np.asarray(sample_weight)
        scores = []
        for j in range(y.shape[1]):
            ok = np.isfinite(y[:, j])
            if ok.sum() >= 2:
                scores.append(
                    r2_score(
                        y[ok, j],
                        pred[ok, j],
                        sample_weight=None if sw is None else sw[ok],
                    )
                )
        return float(np.mean(scores))

    def pretrained_weights(self) -> PretrainedWeights:
        """Return the backbone and dense-layer weights for a classifier.

        Returns
        -------
        weights : PretrainedWeights
            Copies (on CPU) of ``backbone.*`` and ``top.*`` with the network's
            ``width`` and ``n_hidden``; pass them as
            ``PretrainedStampClassifier(pretrained=weights)``.
        """
        self._check_fitted()
        kwargs = self._module_kwargs()
        return PretrainedWeights(
            self.module_.state_dict(),
            width=kwargs.get("width", 1.0),
            n_hidden=kwargs.get("n_hidden", 1024),
        )


class _StampClassifierMixin:
    """Labels, class weights and predictions shared by the stamp classifiers.

    Labels of any type are encoded with a :class:`~sklearn.preprocessing.LabelEncoder`
    (``classes_``), class weights enter the cross-entropy, and the validation
    accuracy compares class indices.
    """

    def _classifier_callbacks(self) -> list:
        """skorch's default callbacks with ``valid_acc`` on class indices."""
        callbacks = [
            (name, cb) for name, cb in super()._default_callbacks if name != "valid_acc"
        ]
        callbacks.insert(
            -1,
            (
                "valid_acc",
                EpochScoring(
                    _index_accuracy,
                    name="valid_acc",
                    lower_is_better=False,
                    use_caching=True,
                ),
            ),
        )
        return callbacks

    @property
    def classes_(self) -> np.ndarray:
        if not hasattr(self, "label_encoder_"):
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_' before fit."
            )
        return self.label_encoder_.classes_

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        if getattr(self, "class_weight_", None) is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(self.class_weight_, dtype=torch.float32)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def _encode_targets(self, y: Any, *, reset: bool) -> np.ndarray:
        if y is None:
            raise ValueError(f"{type(self).__name__} needs class labels y.")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(
                f"y must be a 1-D array of class labels; got shape {y.shape}."
            )
        if reset:
            encoder = LabelEncoder().fit(y if self.classes is None else self.classes)
            self.label_encoder_ = encoder
            self.n_outputs_ = len(encoder.classes_)
            if self.n_outputs_ < 2:
                raise ValueError(
                    f"y holds a single class {encoder.classes_.tolist()}; a "
                    "classifier needs at least two."
                )
            self.class_weight_ = self._class_weights(y, encoder.classes_)
        unknown = np.setdiff1d(y, self.label_encoder_.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()} unseen in fit; known classes: "
                f"{self.label_encoder_.classes_.tolist()}."
            )
        return self.label_encoder_.transform(y).astype(np.int64)

    def _class_weights(self, y: np.ndarray, classes: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
            return None
        present = np.isin(classes, y)
        weights = np.ones(len(classes))
        if self.class_weight == "balanced":
            weights[present] = compute_class_weight(
                "balanced", classes=classes[present], y=y
            )
            return weights
        unknown = set(self.class_weight) - set(classes.tolist())
        if unknown:
            raise ValueError(
                f"class_weight has labels {sorted(unknown)} not among the classes "
                f"{classes.tolist()}."
            )
        for i, label in enumerate(classes):
            weights[i] = self.class_weight.get(label, 1.0)
        return weights

    def _check_schedule(self) -> None:
        """Raise if the freezing schedule leaves no epoch to train (subclasses)."""

    def fit(self, X: Any, y: Any, **fit_params):
        """Train the classifier on stamps ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Calibrated stamps (channels first; NaN pixels read as 0), or a
            mapping holding them under ``"stamps"``.
        y : array-like of shape (n_objects,)
            Class labels of any type (e.g. ``"STAR"``, ``"GALAXY"``, ``"QSO"``).

        Returns
        -------
        self : object
            The fitted classifier.
        """
        self._validate_hyperparams()
        self._check_schedule()
        X = self._check_stamps_X(X, reset=True)
        y = self._encode_targets(y, reset=True)
        if not self.warm_start or not self.initialized_:
            self.initialize()
        NeuralNet.partial_fit(self, X, y, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X: Any, y: Any, classes=None, **fit_params):
        """Continue training on ``X, y`` (initialises on the first call)."""
        self._validate_hyperparams()
        first = not self.initialized_ or not hasattr(self, "label_encoder_")
        X = self._check_stamps_X(X, reset=first)
        y = self._encode_targets(y, reset=first)
        if first:
            self.initialize()
        return NeuralNet.partial_fit(self, X, y, **fit_params)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_objects, n_classes)`` in ``classes_`` order."""
        self._check_fitted()
        X = self._check_stamps_X(X, reset=False)
        return NeuralNet.predict_proba(self, X)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels of stamps ``X``, shape ``(n_objects,)``."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class PretrainedStampClassifier(
    _StampNetMixin, _StampClassifierMixin, NeuralNetClassifier
):
    """Classify stamps with a (pretrained) VGG16 backbone: frozen or fine-tuned.

    The downstream task of Martinazzo et al. (2021, §4.1, §5.2): the network of
    :class:`MagnitudePretrainer` with a new output layer of one logit per
    class, trained with class weights inversely proportional to class
    frequency (cross-entropy). Three strategies:

    - ``"finetune"`` (the paper's fine-tuning): the backbone is frozen for
      ``n_top_epochs`` (10) epochs while the dense layer and output layer
      train at ``lr``; then every layer trains at ``finetune_lr`` (1e-5).
      Built from skorch callbacks: :class:`~skorch.callbacks.Freezer` at epoch
      1, :class:`~skorch.callbacks.Unfreezer` at epoch ``n_top_epochs + 1`` and
      an :class:`~skorch.callbacks.LRScheduler` (``MultiStepLR``) dividing the
      learning rate at that epoch.
    - ``"frozen"`` (feature extraction): the backbone stays frozen; only the
      dense layer and output layer train.
    - ``"full"``: every layer trains at ``lr`` from the first epoch (the
      from-scratch baseline, with ``pretrained=None``).

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=VGG16StampNet
        The network; ``in_channels`` and ``n_outputs`` (classes) are set in
        ``fit``, ``width`` and ``n_hidden`` from ``pretrained`` if given.
    pretrained : PretrainedWeights or None, default=None
        Starting weights of the backbone (and dense layer), from
        :meth:`MagnitudePretrainer.pretrained_weights` (or
        :meth:`from_pretrainer`). ``None`` starts from random weights (the
        same architecture trained from scratch).
    strategy : {"finetune", "frozen", "full"}, default="finetune"
        Which layers train when (see above).
    n_top_epochs : int, default=10
        Epochs with the backbone frozen before fine-tuning (``"finetune"``).
    lr : float, default=1e-4
        Learning rate (Adam) of the first phase, or of all epochs.
    finetune_lr : float, default=1e-5
        Learning rate of every layer after ``n_top_epochs`` (``"finetune"``).
    class_weight : "balanced", dict or None, default="balanced"
        Cross-entropy class weights. ``"balanced"``: ``n / (n_classes *
        count_c)``, inversely proportional to class frequency (Martinazzo et al. (2021)
        §4.2); a dict maps labels to weights; ``None`` weighs classes equally.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
    optimizer : torch optimiser class, default=torch.optim.Adam
    max_epochs : int, default=100
        Total epochs, including the ``n_top_epochs`` of the first phase.
    batch_size : int, default=128
    patience : int or None, default=None
        If set, stop after ``patience`` epochs without a lower validation loss
        and restore the best weights (skorch
        :class:`~skorch.callbacks.EarlyStopping`, ``load_best=True``). It
        counts from the first epoch: keep it above ``n_top_epochs``.
    train_split : callable or None, default=ValidSplit(0.1, stratified=True)
        Held-out validation fraction (stratified by class, with
        ``random_state=0`` so the split is fixed); ``None`` trains on
        everything.
    device : str, default="cpu"
    random_state : int, RandomState instance or None, default=None
        Seeds torch when the network is initialised in ``fit``.
    **kwargs
        Other skorch parameters (``callbacks`` — e.g. a
        :class:`~skorch.callbacks.Checkpoint` — ``verbose`` …).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any type: strings such as ``"STAR"`` work).
    class_weight_ : ndarray of shape (n_classes,)
        Loss weight of each class.
    n_channels_ : int
        Number of bands of the stamps seen in ``fit``.
    module_ : VGG16StampNet
        The trained network.

    See Also
    --------
    MagnitudePretrainer : the pretext task making ``pretrained``.

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.nn import MagnitudePretrainer, PretrainedStampClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(24, 5, 32, 32)).astype(np.float32)
    >>> mags = rng.uniform(15, 21, size=(24, 5))
    >>> small = dict(module__width=0.0625, module__n_hidden=16, train_split=None,
    ...              verbose=0, random_state=0)
    >>> pre = MagnitudePretrainer(max_epochs=2, **small).fit(X, mags)
    >>> y = np.array(["STAR", "GALAXY", "QSO"] * 8)
    >>> clf = PretrainedStampClassifier.from_pretrainer(
    ...     pre, strategy="finetune", n_top_epochs=1, max_epochs=2,
    ...     train_split=None, verbose=0, random_state=0).fit(X, y)
    >>> clf.predict(X[:2]).tolist() in ([a, b] for a in clf.classes_
    ...                                  for b in clf.classes_)
    True
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "pretrained": [PretrainedWeights, None],
        "strategy": [StrOptions({"finetune", "frozen", "full"})],
        "n_top_epochs": [Interval(Integral, 1, None, closed="left")],
        "finetune_lr": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        module=VGG16StampNet,
        *,
        pretrained=None,
        strategy="finetune",
        n_top_epochs=10,
        lr=1e-4,
        finetune_lr=1e-5,
        class_weight="balanced",
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=100,
        batch_size=128,
        patience=None,
        train_split=ValidSplit(0.1, stratified=True, random_state=0),  # noqa: B008
        device="cpu",
        random_state=None,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            **kwargs,
        )
        self.pretrained = pretrained
        self.strategy = strategy
        self.n_top_epochs = n_top_epochs
        self.finetune_lr = finetune_lr
        self.class_weight = class_weight
        self.patience = patience
        self.random_state = random_state

    @classmethod
    def from_pretrainer(
        cls, pretrainer: MagnitudePretrainer, **params: Any
    ) -> PretrainedStampClassifier:
        """Build an (unfitted) classifier starting from a fitted pretrainer.

        Parameters
        ----------
        pretrainer : MagnitudePretrainer
            A fitted pretrainer; its backbone and dense-layer weights are
            copied into ``pretrained``.
        **params
            Other parameters of the classifier.
        """
        return cls(pretrained=pretrainer.pretrained_weights(), **params)

    @property
    def _default_callbacks(self):
        callbacks = self._classifier_callbacks()
        if self.strategy in ("frozen", "finetune"):
            callbacks.append(("freeze_backbone", Freezer("backbone.*", at=1)))
        if self.strategy == "finetune":
            at = self.n_top_epochs + 1
            callbacks.append(("unfreeze_backbone", Unfreezer("backbone.*", at=at)))
            callbacks.append(
                (
                    "finetune_lr",
                    LRScheduler(
                        policy=MultiStepLR,
                        milestones=[self.n_top_epochs],
                        gamma=self.finetune_lr / self.lr,
                    ),
                )
            )
        if self.patience is not None:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(patience=self.patience, load_best=True),
                )
            )
        return callbacks

    def _module_kwargs(self) -> dict[str, Any]:
        kwargs = super()._module_kwargs()
        if self.pretrained is not None:
            for key in ("width", "n_hidden"):
                value = getattr(self.pretrained, key)
                if key in kwargs and kwargs[key] != value:
                    raise ValueError(
                        f"module__{key}={kwargs[key]!r} differs from the pretrained "
                        f"weights' {key}={value!r}; drop module__{key}."
                    )
                kwargs[key] = value
        return kwargs

    def initialize_module(self):
        super().initialize_module()
        if self.pretrained is None:
            return self
        weights = self.pretrained
        if hasattr(self, "n_channels_") and weights.in_channels != self.n_channels_:
            raise InputLayoutError(
                f"the pretrained weights were learned on {weights.in_channels}-band "
                f"stamps but X has {self.n_channels_} bands; pretrain on the same "
                "band set (12 bands, 5 broad bands or 3-channel RGB)."
            )
        load_vgg16_features(self.module_, weights.state_dict)
        top = {
            k.removeprefix("top."): v
            for k, v in weights.state_dict.items()
            if k.startswith("top.")
        }
        if top:
            self.module_.top.load_state_dict(top)
        return self

    def _check_schedule(self) -> None:
        if self.strategy == "finetune" and self.n_top_epochs >= self.max_epochs > 0:
            raise ValueError(
                f"strategy='finetune' trains the top alone for n_top_epochs="
                f"{self.n_top_epochs} epochs, which leaves none of max_epochs="
                f"{self.max_epochs} for fine-tuning; raise max_epochs or use "
                "strategy='frozen'."
            )
