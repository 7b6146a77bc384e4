"""Transfer learning on torchvision backbones (Martinazzo, Espadoto & Hirata 2020, §3.2).

:class:`TransferCNNClassifier` puts Martinazzo, Espadoto & Hirata's (2020) head — Dense 2048 (Glorot
initialisation, bias 0.01), Leaky ReLU, Dropout 0.5, softmax — on one of five
torchvision backbones (:mod:`skastro.nn._backbones`), with the paper's
regularisers on the hidden layer (L2 penalty λ, max-norm constraint γ) and
freezing policies, as a skorch classifier: the backbone, the optimizer,
λ and γ are grid parameters of one :class:`~sklearn.model_selection.GridSearchCV`.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any

import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch import nn

from ..utils._params import Interval, StrOptions
from ._backbones import BACKBONES, BackboneNet, _spec
from ._base import (
    DEPRECATED,
    BatchNormSafeLoader,
    ClassifierNetMixin,
    EmbeddingMixin,
    FreezingMixin,
    NetMixin,
    StampNetMixin,
    init_arguments,
)
from ._weights import load_backbone_weights, resolve_backbone_weights, vgg16_width

__all__ = ["BatchNormSafeLoader", "MaxNorm", "TransferCNNClassifier", "TransferNet"]

#: Smallest stamp side accepted when stamps are resized inside the network:
#: below it there is too little to upsample.
MIN_RESIZED_SIDE = 8


def _identity(value: Any) -> Any:
    return value


class TransferNet(nn.Module):
    """A torchvision backbone under Martinazzo, Espadoto & Hirata's (2020) classification head.

    Parameters
    ----------
    backbone : str, default="efficientnet_b0"
        Backbone name (see :class:`BackboneNet`).
    in_channels : int, default=3
        Bands of the stamps.
    n_outputs : int, default=2
        Classes (logits).
    n_hidden : int, default=2048
        Units of the hidden dense layer.
    dropout : float, default=0.5
        Dropout probability after the hidden layer.
    negative_slope : float, default=0.3
        Slope of the Leaky ReLU for negative inputs; 0.3 is the Keras default
        the paper used ("default settings").
    input_size : "auto", int or None, default="auto"
        Resizing of the stamps (see :class:`BackboneNet`).
    width : float, default=1.0
        Filter multiplier of a VGG16 backbone (see :class:`BackboneNet`).
    feature_norm : bool, default=False
        Standardise the pooled backbone features (batch normalisation,
        :class:`~torch.nn.BatchNorm1d`) before the hidden layer. The paper's
        head has none: ImageNet features are of order one. Features of
        other pretrained weights may not be — those of the shipped
        magnitude pretrainer vary by about 0.02 — and Adam moves the hidden
        layer's output by about ``lr`` times their scale per step, so a new
        head on them barely leaves the chance loss in a hundred steps;
        standardised, it learns at the same pace whatever their units.
        For a backbone trained from scratch its running statistics lag
        behind the changing features (keep it off there).

    Notes
    -----
    Parameter groups: ``backbone.*`` (the torchvision network),
    ``feature_norm.*`` (with ``feature_norm=True``), ``hidden.*``
    (Dense 2048, Glorot-uniform weights, biases 0.01) and ``head.*`` (the
    output layer). :meth:`embed` returns the hidden layer's activations.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_b0",
        in_channels: int = 3,
        n_outputs: int = 2,
        *,
        n_hidden: int = 2048,
        dropout: float = 0.5,
        negative_slope: float = 0.3,
        input_size: str | int | None = "auto",
        width: float = 1.0,
        feature_norm: bool = False,
    ):
        super().__init__()
        self.backbone = BackboneNet(
            backbone, in_channels, input_size=input_size, width=width
        )
        if feature_norm:
            self.feature_norm = nn.BatchNorm1d(self.backbone.n_features)
        self.hidden = nn.Linear(self.backbone.n_features, n_hidden)
        nn.init.xavier_uniform_(self.hidden.weight)
        nn.init.constant_(self.hidden.bias, 0.01)
        self.activation = nn.LeakyReLU(negative_slope)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(n_hidden, n_outputs)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(n, n_hidden)`` activations of the hidden layer."""
        features = self.backbone(x)
        norm = self._modules.get("feature_norm")  # absent: the paper's head
        if norm is not None:
            features = norm(features)
        return self.activation(self.hidden(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


class MaxNorm(Callback):
    """Max-norm constraint on a linear layer, after every optimizer step.

    Each unit's incoming weight vector is rescaled to an L2 norm of at most
    ``max_norm`` (Srebro & Shraibman 2005; Keras' ``MaxNorm`` on a Dense
    kernel), as Martinazzo, Espadoto & Hirata (2020) applies to its hidden layer (γ = 2).

    Parameters
    ----------
    max_norm : float
        Largest allowed norm.
    module : str, default="hidden"
        Dotted name of the :class:`~torch.nn.Linear` layer inside ``module_``.
    """

    def __init__(self, max_norm: float, module: str = "hidden"):
        self.max_norm = max_norm
        self.module = module

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        weight = net.module_.get_submodule(self.module).weight
        with torch.no_grad():
            weight.copy_(torch.renorm(weight, p=2, dim=0, maxnorm=self.max_norm))


class TransferCNNClassifier(
    FreezingMixin,
    EmbeddingMixin,
    ClassifierNetMixin,
    StampNetMixin,
    NetMixin,
    NeuralNetClassifier,
):
    """Classify stamps with a torchvision backbone and Martinazzo, Espadoto & Hirata's (2020) head.

    The set-up of Martinazzo, Espadoto & Hirata (2020, §3.2): the convolutional part of VGG16,
    DenseNet121, ResNeXt50, InceptionV3 or EfficientNet-B0
    (:class:`~skastro.nn.BackboneNet`, torchvision's architectures), global
    pooling, one dense layer of 2048 units (Glorot initialisation, bias
    0.01, Leaky ReLU), dropout 0.5 and a softmax output
    (:class:`~skastro.nn.TransferNet`). Stamps may have any number of bands
    (the first convolution is rebuilt for them) and stamps smaller than an
    architecture accepts are resized bilinearly inside the network (to 32
    pixels, or 75 for InceptionV3; see ``input_size``).

    Weights come from a local file, a state dict or a fitted
    :class:`~skastro.nn.MagnitudePretrainer`; nothing is downloaded (see
    ``weights``). Freezing policies:

    - ``"none"``: every layer trains from the first epoch (from scratch, or
      fine-tuning everything);
    - ``"head"``: the backbone stays frozen; only the dense layers train
      (feature extraction);
    - ``"two_phase"`` (the paper's fine-tuning): the backbone is frozen for
      ``warmup_epochs`` (10) epochs while the head trains, then its last
      ``unfreeze_last`` (7) layers with weights are unfrozen, optionally at
      a new learning rate ``finetune_lr``. Built from skorch's
      :class:`~skorch.callbacks.Freezer`, :class:`~skorch.callbacks.Unfreezer`
      and :class:`~skorch.callbacks.LRScheduler`.

    Parameters
    ----------
    backbone : str, default="efficientnet_b0"
        ``"vgg16"``, ``"densenet121"``, ``"resnext50"``, ``"inception_v3"`` or
        ``"efficientnet_b0"``.
    weights : None, "imagenet", path, mapping, PretrainedWeights or MagnitudePretrainer, default=None
        Starting weights of the backbone. ``None``: random (from scratch).
        ``"imagenet"``: torchvision's ImageNet file under its torchvision
        name (``vgg16-397923af.pth`` …) in ``weights_dir`` or torch's hub
        cache, never downloaded — the error says how to fetch it on a
        connected machine. A path or a state dict: torchvision's format. A
        fitted :class:`~skastro.nn.MagnitudePretrainer`: VGG16 weights
        learned on astronomical stamps (a narrow pretrainer's,
        ``module__width < 1``, build a VGG16 of its width, see
        ``module__width``). Three-band weights are
        adapted to other band counts (each band gets the mean RGB filter
        times 3 / C).
    weights_dir : path-like or None, default=None
        Folder searched for ``"imagenet"`` weight files.
    freeze : {"none", "head", "two_phase"}, default="none"
        Which layers train when (see above).
    warmup_epochs : int, default=10
        Epochs with the backbone frozen in ``"two_phase"``.
    unfreeze_last : int or None, default=7
        Backbone layers (with weights, counted from the output) unfrozen
        after the warm-up in ``"two_phase"``; ``None``: all.
    finetune_lr : float or None, default=None
        Learning rate after the warm-up; ``None`` keeps ``lr``.
    l2_dense : float, default=0.0
        L2 penalty λ on the hidden dense layer's weights, ``λ · Σ w²`` added
        to the loss (the paper's λ ∈ {0, 0.1}); the name of
        :class:`~skastro.nn.LSBGNet`'s dense-layer factor.
    max_norm : float or None, default=None
        Max-norm constraint γ on the hidden layer (the paper's γ ∈ {0, 2};
        ``None`` or 0: none).
    input_size : "auto", int or None, default="auto"
        ``"auto"``: stamps smaller than the backbone's minimum are upsampled
        to it; an int: every stamp is resized to that side (pixels);
        ``None``: no resizing (smaller stamps raise an error).
    class_weight : "balanced", dict or None, default=None
        Cross-entropy class weights (``"balanced"``: inversely proportional
        to class frequency).
    optimizer : torch optimizer class, default=torch.optim.Adam
        A grid parameter, as in the paper (Adam, RAdam, RMSprop; SGD with
        ``optimizer__momentum=0.9`` for the paper's fine-tuning).
    lr : float, default=1e-3
    max_epochs : int, default=200
    batch_size : int, default=32
    patience : int or None, default=10
        Early stopping on the validation loss (skorch
        :class:`~skorch.callbacks.EarlyStopping`, best weights restored).
        ``None``, or ``train_split=None`` (no validation set), trains all
        ``max_epochs``.
    train_split : callable or None, default=ValidSplit(0.1, stratified=True)
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
    device : str, default="cpu"
        ``"cuda"`` trains on a GPU.
    nan_policy : {"raise", "fill"}, default="raise"
        NaN pixels raise an error naming the rows; ``"fill"`` reads them as 0
        with a warning naming the rows.
    classes : array-like or None, default=None
        The class labels, when they should not be read from ``y``.
    amp : {None, False, "bf16", "fp16"}, default=None
        Mixed precision in the training and evaluation steps.
    channels_last : bool, default=False
        Run the convolutions in channels-last memory layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, dropout and batch order (never torch's
        global random state); ``None`` seeds nothing.
    l2 : float, optional
        Deprecated name of ``l2_dense`` (removed in the next release).
    **kwargs
        Other skorch parameters; network ones as ``module__n_hidden``,
        ``module__dropout``, ``module__negative_slope``, ``module__width``
        (VGG16's filter multiplier; read from VGG16 ``weights``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_weight_ : ndarray of shape (n_classes,) or None
    n_bands_ : int
        Bands of the stamps seen in ``fit``.
    module_ : TransferNet
        The trained network.
    history_ : skorch.History

    See Also
    --------
    ImageEmbedder : frozen-backbone features for similarity search.
    PretrainedStampClassifier : Martinazzo et al.'s (2021) VGG16 classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.nn import TransferCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 5, 32, 32)).astype(np.float32)
    >>> y = np.array(["LSBG", "artifact"] * 4)
    >>> clf = TransferCNNClassifier(backbone="efficientnet_b0", max_epochs=1,
    ...                             train_split=None, verbose=0, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (8, 2)
    """

    _parameter_constraints: dict = {
        **NetMixin._parameter_constraints,
        **StampNetMixin._stamp_constraints,
        **FreezingMixin._freezing_constraints,
        "backbone": [StrOptions(set(BACKBONES) | {"resnext50_32x4d"})],
        "weights_dir": [str, os.PathLike, None],
        "l2_dense": [Interval(Real, 0, None, closed="left")],
        "l2": [StrOptions({DEPRECATED}), Interval(Real, 0, None, closed="left")],
        "max_norm": [Interval(Real, 0, None, closed="left"), None],
        "input_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "classes": ["array-like", None],
    }
    _renamed_params = {"l2": ("l2_dense", _identity)}

    def __init__(
        self,
        module=TransferNet,
        *,
        backbone="efficientnet_b0",
        weights=None,
        weights_dir=None,
        freeze="none",
        warmup_epochs=10,
        unfreeze_last=7,
        finetune_lr=None,
        l2_dense=0.0,
        max_norm=None,
        input_size="auto",
        class_weight=None,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=200,
        batch_size=32,
        patience=10,
        train_split=ValidSplit(0.1, stratified=True, random_state=0),  # noqa: B008
        nan_policy="raise",
        classes=None,
        amp=None,
        channels_last=False,
        device="cpu",
        random_state=None,
        l2=DEPRECATED,
        **kwargs,
    ):
        super().__init__(**init_arguments(locals()))

    # -- hooks -----------------------------------------------------------
    def _min_stamp_side(self) -> tuple[int, str]:
        name, spec = _spec(self.backbone)
        if self.input_size is None:
            return spec.min_size, f"{name} (input_size=None, no resizing)"
        return MIN_RESIZED_SIDE, "too little is left to resize"

    def _on_initialize(self) -> None:
        self._check_schedule()
        self._weights_ = resolve_backbone_weights(
            self.weights, self.backbone, weights_dir=self.weights_dir
        )

    def _extra_callbacks(self) -> list[tuple[str, Any]]:
        callbacks = self._freeze_callbacks()
        if self.max_norm:
            callbacks.append(("max_norm", MaxNorm(self.max_norm)))
        return callbacks

    def _structure_kwargs(self) -> dict[str, Any]:
        kwargs = super()._structure_kwargs()
        kwargs.update(backbone=self.backbone, input_size=self.input_size)
        return kwargs

    def _module_kwargs(self) -> dict[str, Any]:
        kwargs = super()._module_kwargs()
        for key in ("backbone", "input_size"):
            if key in kwargs and kwargs[key] != getattr(self, key):
                raise ValueError(
                    f"module__{key}={kwargs[key]!r} conflicts with {key}="
                    f"{getattr(self, key)!r}; set {key} on the classifier only."
                )
            kwargs[key] = getattr(self, key)
        if "in_channels" not in kwargs:
            # before the data are seen: the bands of the weights' first convolution
            weights = self._initial_weights()
            first = next((w for w in (weights or {}).values() if w.ndim == 4), None)
            if first is not None:
                kwargs["in_channels"] = int(first.shape[1])
        if self.backbone == "vgg16" and "width" not in kwargs:
            # VGG16 weights of a narrow pretrainer build a VGG16 of their width
            width = vgg16_width(self._initial_weights())
            if width is not None:
                kwargs["width"] = width
        return kwargs

    def _initial_weights(self) -> dict | None:
        if "_weights_" not in self.__dict__:
            self._on_initialize()
        return self._weights_

    def _load_initial_weights(self) -> None:
        weights = self._initial_weights()
        if weights is not None:
            load_backbone_weights(self.module_.backbone, weights)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self.__dict__.pop("_weights_", None)  # only needed to build the network

    def _l2_terms(self) -> list[tuple[float, list[torch.Tensor]]]:
        return [(self._param("l2_dense"), [self.module_.hidden.weight])]
