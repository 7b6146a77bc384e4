"""Frozen-backbone image features (Cavuoti et al., ULISSE)."""

from __future__ import annotations

import copy
import os
from numbers import Integral
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..utils._params import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from ..utils._torch import autocast, seeded, torch_seed_from
from ._backbones import BACKBONES, BackboneNet, _spec
from ._base import StampInputMixin
from ._transfer import MIN_RESIZED_SIDE
from ._weights import load_backbone_weights, resolve_backbone_weights, vgg16_width

__all__ = ["ImageEmbedder"]


class ImageEmbedder(StampInputMixin, TransformerMixin, BaseEstimator):
    """Describe stamps by the features of a frozen torchvision backbone.

    Cavuoti et al. (ULISSE): a convolutional network pretrained elsewhere, without
    its classifier, maps each image to a point of a feature space — 1280
    numbers for EfficientNet-B0 — where distances measure similarity. Nothing
    is trained: ``fit`` builds the network and loads its weights; ``transform``
    returns the globally pooled features. Feed them to scikit-learn's
    :class:`~sklearn.neighbors.NearestNeighbors` (query by example,
    :class:`~skastro.neighbors.SimilaritySearch`),
    :class:`~sklearn.neighbors.KNeighborsRegressor` (physical parameters
    from the neighbours) or :class:`~sklearn.neighbors.LocalOutlierFactor`
    (:func:`~skastro.neighbors.rank_anomalies`).

    Parameters
    ----------
    backbone : str, default="efficientnet_b0"
        ``"vgg16"`` (512 features), ``"densenet121"`` (1024), ``"resnext50"``
        (2048), ``"inception_v3"`` (2048) or ``"efficientnet_b0"`` (1280).
    weights : None, "imagenet", path, mapping, PretrainedWeights or MagnitudePretrainer, default=None
        The backbone's weights, as for
        :class:`~skastro.nn.TransferCNNClassifier`: ``"imagenet"`` reads
        torchvision's file from ``weights_dir`` or torch's hub cache (never
        downloaded), a path or state dict in torchvision's format, or a fitted
        :class:`~skastro.nn.MagnitudePretrainer` (VGG16 learned on stamps).
        ``None``: random weights (seeded by ``random_state``) — a baseline,
        not the paper's method.
    weights_dir : path-like or None, default=None
        Folder searched for ``"imagenet"`` files.
    input_size : "auto", int or None, default="auto"
        Resizing of the stamps inside the network (see
        :class:`~skastro.nn.BackboneNet`).
    batch_size : int, default=256
        Stamps per forward pass.
    nan_policy : {"raise", "fill"}, default="raise"
        NaN pixels raise an error naming the rows; ``"fill"`` reads them as 0
        with a warning naming the rows.
    amp : {None, False, "bf16", "fp16"}, default=None
        Mixed precision of the forward passes (:func:`torch.autocast`); the
        features are returned as float32.
    channels_last : bool, default=False
        Run the convolutions in channels-last memory layout.
    device : str, default="cpu"
        ``"cuda"`` to compute on a GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the random weights when ``weights=None`` (never torch's global
        random state).

    Attributes
    ----------
    backbone_ : BackboneNet
        The frozen network (evaluation mode), kept on the CPU between calls.
    n_bands_ : int
        Bands of the stamps seen in ``fit`` (``n_channels_`` is a deprecated
        alias).

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.nn import ImageEmbedder
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    >>> ImageEmbedder(random_state=0).fit_transform(X).shape
    (4, 1280)
    """

    _parameter_constraints: dict = {
        "backbone": [StrOptions(set(BACKBONES) | {"resnext50_32x4d"})],
        "weights_dir": [str, os.PathLike, None],
        "input_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "nan_policy": [StrOptions({"raise", "fill"})],
        "amp": [StrOptions({"bf16", "fp16"}), Options(bool, {False}), None],
        "channels_last": ["boolean"],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        backbone: str = "efficientnet_b0",
        *,
        weights: Any = None,
        weights_dir: Any = None,
        input_size: str | int | None = "auto",
        batch_size: int = 256,
        nan_policy: str = "raise",
        amp: str | None = None,
        channels_last: bool = False,
        device: str = "cpu",
        random_state: Any = None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.weights_dir = weights_dir
        self.input_size = input_size
        self.batch_size = batch_size
        self.nan_policy = nan_policy
        self.amp = amp
        self.channels_last = channels_last
        self.device = device
        self.random_state = random_state

    def _min_stamp_side(self) -> tuple[int, str]:
        name, spec = _spec(self.backbone)
        if self.input_size is None:
            return (
                spec.min_size,
                f"{name} needs them without resizing (input_size=None)",
            )
        return MIN_RESIZED_SIDE, f"{name} cannot resize smaller ones"

    def fit(self, X: Any, y: Any = None) -> ImageEmbedder:
        """Build the backbone for the bands of ``X`` and load its weights.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Stamps, channels first; only their band count and size are used
            (and checked, NaN pixels included).
        y : ignored

        Returns
        -------
        self : ImageEmbedder
        """
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        self.__dict__.pop("n_bands_", None)
        arr = self._check_stamps(X)
        self.n_bands_ = int(arr.shape[1])
        seed = None
        if self.weights is None and self.random_state is not None:
            seed = torch_seed_from(self.random_state)
        state = resolve_backbone_weights(
            self.weights, self.backbone, weights_dir=self.weights_dir
        )
        # VGG16 weights of a narrow pretrainer build a VGG16 of their width
        width = vgg16_width(state) if _spec(self.backbone)[0] == "vgg16" else None
        with seeded(seed):
            net = BackboneNet(
                self.backbone,
                self.n_bands_,
                input_size=self.input_size,
                width=width or 1.0,
            )
        if state is not None:
            load_backbone_weights(net, state)
        net.eval().requires_grad_(False)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.backbone_ = net
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Features of stamps ``X``.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Stamps with the bands of ``fit``.

        Returns
        -------
        features : ndarray of shape (n_objects, n_features)
            Globally pooled backbone features, float32.
        """
        check_is_fitted(self, "backbone_")
        arr = self._check_stamps(X)
        net = self.backbone_.to(self.device)
        out = np.empty((len(arr), net.n_features), dtype=np.float32)
        try:
            with torch.inference_mode(), autocast(self.amp, self.device):
                for start in range(0, len(arr), self.batch_size):
                    batch = torch.from_numpy(arr[start : start + self.batch_size])
                    batch = batch.to(self.device)
                    if self.channels_last:
                        batch = batch.contiguous(memory_format=torch.channels_last)
                    out[start : start + len(batch)] = net(batch).float().cpu().numpy()
        finally:
            self.backbone_.to("cpu")
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``<backbone>_feature{i}`` for each output column."""
        check_is_fitted(self, "backbone_")
        name = self.backbone_.name
        return np.asarray(
            [f"{name}_feature{i}" for i in range(self.backbone_.n_features)],
            dtype=object,
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        net = state.get("backbone_")
        if net is not None and any(p.device.type != "cpu" for p in net.parameters()):
            state["backbone_"] = copy.deepcopy(net).to("cpu")
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags
