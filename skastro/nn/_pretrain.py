"""Self-supervised magnitude pretraining and the classifier built on it.

Martinazzo et al. (2021, §4–5): a VGG16 network learns to predict the
per-band magnitudes of unlabelled objects from their stamps (the pretext
task); its convolutional backbone and dense layer then classify stars,
galaxies and quasars from a small labelled set (the downstream task), either
frozen (only the top is trained) or fine-tuned in two phases.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.metrics import r2_score
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.dataset import ValidSplit
from skorch.utils import is_dataset

from ..utils._params import Interval, StrOptions
from ..utils._validation import split_stamps_input
from ._base import (
    DEPRECATED,
    ClassifierNetMixin,
    EmbeddingMixin,
    FreezingMixin,
    NetMixin,
    RegressorNetMixin,
    StampNetMixin,
    init_arguments,
)
from ._pretrain_modules import MaskedL1Loss, VGG16StampNet
from ._weights import PretrainedWeights, as_pretrained_weights, load_stamp_net_weights

__all__ = ["MagnitudePretrainer", "PretrainedStampClassifier"]

#: Smallest stamp side a VGG16 backbone (five 2x2 max-pools) accepts, pixels.
MIN_STAMP_SIZE = 32

_STAMP_NET_CONSTRAINTS = {
    **NetMixin._parameter_constraints,
    **StampNetMixin._stamp_constraints,
}


class _VGG16StampInput:
    """The smallest stamps a VGG16 backbone takes."""

    def _min_stamp_side(self) -> tuple[int, str]:
        return MIN_STAMP_SIZE, "the VGG16 backbone halves them five times"


class MagnitudePretrainer(
    RegressorNetMixin,
    EmbeddingMixin,
    _VGG16StampInput,
    StampNetMixin,
    NetMixin,
    NeuralNetRegressor,
):
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
    nan_policy : {"raise", "fill"}, default="raise"
        NaN pixels raise an error naming the rows; ``"fill"`` reads them as 0
        with a warning naming the rows.
    amp : {None, False, "bf16", "fp16"}, default=None
        Mixed precision in the training and evaluation steps.
    channels_last : bool, default=False
        Run the convolutions in channels-last memory layout.
    device : str, default="cpu"
        ``"cuda"`` to train on a GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and batch order (never torch's global
        random state); ``None`` seeds nothing.
    **kwargs
        Other skorch :class:`~skorch.NeuralNet` parameters (``callbacks``,
        ``verbose``, ``iterator_train__num_workers`` …).

    Attributes
    ----------
    n_bands_ : int
        Number of bands of the stamps seen in ``fit`` (``n_channels_`` is a
        deprecated alias).
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
        **_STAMP_NET_CONSTRAINTS,
        "target_scale": [Interval(Real, 0, None, closed="neither")],
    }
    _data_attribute_names = ("n_outputs_", "missing_fraction_")

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
        nan_policy="raise",
        amp=None,
        channels_last=False,
        device="cpu",
        random_state=None,
        **kwargs,
    ):
        super().__init__(**init_arguments(locals()))

    def _targets(self, y: Any, n_objects: int | None) -> np.ndarray:
        """Magnitudes as float64 ``(n, n_outputs)``, checked."""
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
        if arr.ndim != 2 or (n_objects is not None and arr.shape[0] != n_objects):
            raise ValueError(
                f"y must have shape (n_objects, n_magnitudes) = ({n_objects}, k) to "
                f"match X; got {np.shape(y)}."
            )
        if np.isinf(arr).any():
            raise ValueError(
                "y holds infinite magnitudes; use NaN for missing ones (they are "
                "masked in the loss)."
            )
        return arr

    def _data_attributes(self, X: Any, y: Any) -> dict[str, Any]:
        found = super()._data_attributes(X, y)
        if is_dataset(X):
            return found
        arr = self._targets(y, len(split_stamps_input(X)[0]))
        finite = np.isfinite(arr)
        empty = np.flatnonzero(~finite.any(axis=0))
        if empty.size:
            raise ValueError(
                f"y column(s) {empty.tolist()} hold no finite magnitude; drop them "
                "(nothing can be learned from a band without measurements)."
            )
        found["n_outputs_"] = int(arr.shape[1])
        if getattr(self, "_sizes_open_", False):
            found["missing_fraction_"] = float(1.0 - finite.mean())
        return found

    def _data_module_kwargs(self) -> dict[str, Any]:
        kwargs = super()._data_module_kwargs()
        if self.__dict__.get("n_outputs_") is not None:
            kwargs["n_outputs"] = self.n_outputs_
        return kwargs

    def _prepare_y(self, y: Any) -> np.ndarray:
        return (self._targets(y, None) / self.target_scale).astype(np.float32)

    def _output_scale(self) -> float:
        return self.target_scale

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
            ``PretrainedStampClassifier(weights=weights)``.
        """
        self.check_is_fitted()
        kwargs = self._built_kwargs_
        return PretrainedWeights(
            self.module_.state_dict(),
            width=kwargs.get("width", 1.0),
            n_hidden=kwargs.get("n_hidden", 1024),
        )


_STRATEGY_TO_FREEZE = {"finetune": "two_phase", "frozen": "head", "full": "none"}


def _identity(value: Any) -> Any:
    return value


def _strategy_to_freeze(strategy: str) -> str:
    return _STRATEGY_TO_FREEZE.get(strategy, strategy)


class PretrainedStampClassifier(
    FreezingMixin,
    EmbeddingMixin,
    ClassifierNetMixin,
    _VGG16StampInput,
    StampNetMixin,
    NetMixin,
    NeuralNetClassifier,
):
    """Classify stamps with a (pretrained) VGG16 backbone: frozen or fine-tuned.

    The downstream task of Martinazzo et al. (2021, §4.1, §5.2): the network of
    :class:`MagnitudePretrainer` with a new output layer of one logit per
    class, trained with class weights inversely proportional to class
    frequency (cross-entropy). Three freezing schedules (``freeze``, as
    :class:`~skastro.nn.TransferCNNClassifier`'s):

    - ``"two_phase"`` (the paper's fine-tuning): the backbone is frozen for
      ``warmup_epochs`` (10) epochs while the dense layer and output layer
      train at ``lr``; then the backbone (its last ``unfreeze_last`` layers;
      ``None``: all) trains too, every layer at ``finetune_lr`` (1e-5).
    - ``"head"`` (feature extraction): the backbone stays frozen; only the
      dense layer and output layer train.
    - ``"none"``: every layer trains at ``lr`` from the first epoch (the
      from-scratch baseline, with ``weights=None``).

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=VGG16StampNet
        The network; ``in_channels`` and ``n_outputs`` (classes) are set in
        ``fit``, ``width`` and ``n_hidden`` from ``weights`` if given.
    weights : PretrainedWeights, MagnitudePretrainer, path, mapping, "imagenet" or None, default=None
        Starting weights of the backbone (and dense layer):
        :meth:`MagnitudePretrainer.pretrained_weights` (or
        :meth:`from_pretrainer`), a fitted pretrainer, a state dict or its
        file, or ``"imagenet"`` (torchvision's VGG16 file in ``weights_dir``,
        3-band stamps). ``None`` starts from random weights (the same
        architecture trained from scratch).
    weights_dir : path-like or None, default=None
        Folder searched for ``"imagenet"`` files.
    freeze : {"two_phase", "head", "none"}, default="two_phase"
        Which layers train when (see above).
    warmup_epochs : int, default=10
        Epochs with the backbone frozen before fine-tuning (``"two_phase"``).
    unfreeze_last : int or None, default=None
        Backbone layers (with weights, counted from the output) unfrozen
        after the warm-up; ``None``: the whole backbone (the paper).
    lr : float, default=1e-4
        Learning rate (Adam) of the first phase, or of all epochs.
    finetune_lr : float or None, default=1e-5
        Learning rate after the warm-up (``"two_phase"``); ``None`` keeps
        ``lr``.
    class_weight : "balanced", dict or None, default="balanced"
        Cross-entropy class weights. ``"balanced"``: ``n / (n_classes *
        count_c)``, inversely proportional to class frequency (Martinazzo et al. (2021)
        §4.2); a dict maps labels to weights; ``None`` weighs classes equally.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
    optimizer : torch optimiser class, default=torch.optim.Adam
    max_epochs : int, default=100
        Total epochs, including the ``warmup_epochs`` of the first phase.
    batch_size : int, default=128
    patience : int or None, default=None
        If set, stop after ``patience`` epochs without a lower validation loss
        and restore the best weights (skorch
        :class:`~skorch.callbacks.EarlyStopping`, ``load_best=True``). It
        counts from the first epoch: keep it above ``warmup_epochs``.
    train_split : callable or None, default=ValidSplit(0.1, stratified=True)
        Held-out validation fraction (stratified by class, with
        ``random_state=0`` so the split is fixed); ``None`` trains on
        everything.
    nan_policy : {"raise", "fill"}, default="raise"
        NaN pixels raise an error naming the rows; ``"fill"`` reads them as 0
        with a warning naming the rows.
    classes : array-like or None, default=None
        The class labels, when they should not be read from ``y`` (e.g. a
        class absent from a small training set).
    amp : {None, False, "bf16", "fp16"}, default=None
        Mixed precision in the training and evaluation steps.
    channels_last : bool, default=False
        Run the convolutions in channels-last memory layout.
    device : str, default="cpu"
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, dropout and batch order (never torch's
        global random state); ``None`` seeds nothing.
    pretrained, strategy, n_top_epochs : optional
        Deprecated names of ``weights``, ``freeze`` (``"finetune"`` is
        ``"two_phase"``, ``"frozen"`` is ``"head"``, ``"full"`` is
        ``"none"``) and ``warmup_epochs``; removed in the next release.
    **kwargs
        Other skorch parameters (``callbacks`` — e.g. a
        :class:`~skorch.callbacks.Checkpoint` — ``verbose`` …).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any type: strings such as ``"STAR"`` work).
    class_weight_ : ndarray of shape (n_classes,)
        Loss weight of each class.
    n_bands_ : int
        Number of bands of the stamps seen in ``fit``.
    module_ : VGG16StampNet
        The trained network.

    See Also
    --------
    MagnitudePretrainer : the pretext task making the weights.

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
    ...     pre, freeze="two_phase", warmup_epochs=1, max_epochs=2,
    ...     train_split=None, verbose=0, random_state=0).fit(X, y)
    >>> clf.predict(X[:2]).tolist() in ([a, b] for a in clf.classes_
    ...                                  for b in clf.classes_)
    True
    """

    _parameter_constraints: dict = {
        **_STAMP_NET_CONSTRAINTS,
        **FreezingMixin._freezing_constraints,
        "weights_dir": [str, os.PathLike, None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "classes": ["array-like", None],
        "pretrained": [StrOptions({DEPRECATED}), PretrainedWeights, None],
        "strategy": [StrOptions({DEPRECATED, "finetune", "frozen", "full"})],
        "n_top_epochs": [
            StrOptions({DEPRECATED}),
            Interval(Integral, 1, None, closed="left"),
        ],
    }
    _renamed_params = {
        "pretrained": ("weights", _identity),
        "strategy": ("freeze", _strategy_to_freeze),
        "n_top_epochs": ("warmup_epochs", _identity),
    }

    def __init__(
        self,
        module=VGG16StampNet,
        *,
        weights=None,
        weights_dir=None,
        freeze="two_phase",
        warmup_epochs=10,
        unfreeze_last=None,
        lr=1e-4,
        finetune_lr=1e-5,
        class_weight="balanced",
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=100,
        batch_size=128,
        patience=None,
        train_split=ValidSplit(0.1, stratified=True, random_state=0),  # noqa: B008
        nan_policy="raise",
        classes=None,
        amp=None,
        channels_last=False,
        device="cpu",
        random_state=None,
        pretrained=DEPRECATED,
        strategy=DEPRECATED,
        n_top_epochs=DEPRECATED,
        **kwargs,
    ):
        super().__init__(**init_arguments(locals()))

    @classmethod
    def from_pretrainer(
        cls, pretrainer: MagnitudePretrainer, **params: Any
    ) -> PretrainedStampClassifier:
        """Build an (unfitted) classifier starting from a fitted pretrainer.

        Parameters
        ----------
        pretrainer : MagnitudePretrainer
            A fitted pretrainer; its backbone and dense-layer weights are
            copied into ``weights``.
        **params
            Other parameters of the classifier.
        """
        return cls(weights=pretrainer.pretrained_weights(), **params)

    # -- hooks -------------------------------------------------------------
    def _on_initialize(self) -> None:
        self._check_schedule()
        self._weights_ = as_pretrained_weights(
            self._param("weights"), weights_dir=self.weights_dir
        )

    def _initial_weights(self) -> PretrainedWeights | None:
        if "_weights_" not in self.__dict__:
            self._on_initialize()
        return self._weights_

    def _extra_callbacks(self) -> list[tuple[str, Any]]:
        return self._freeze_callbacks()

    def _module_kwargs(self) -> dict[str, Any]:
        kwargs = super()._module_kwargs()
        weights = self._initial_weights()
        if weights is None:
            return kwargs
        for key in ("width", "n_hidden"):
            value = getattr(weights, key)
            if key in self.get_params_for("module") and kwargs[key] != value:
                raise ValueError(
                    f"module__{key}={kwargs[key]!r} differs from the pretrained "
                    f"weights' {key}={value!r}; drop module__{key}."
                )
            kwargs[key] = value
        kwargs.setdefault("in_channels", weights.in_channels)
        return kwargs

    def _load_initial_weights(self) -> None:
        weights = self._initial_weights()
        if weights is not None:
            load_stamp_net_weights(
                self.module_, weights, n_bands=self._built_kwargs_["in_channels"]
            )

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self.__dict__.pop("_weights_", None)  # only needed to build the network
