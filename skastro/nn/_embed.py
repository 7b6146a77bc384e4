"""Frozen-backbone image features (Cavuoti et al., ULISSE)."""

from __future__ import annotations

import copy
import os
from numbers import Integral
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..exceptions import InputLayoutError
from ..utils._torch import seed_everything
from ..utils._validation import check_stamps, split_stamps_input
from ._backbones import (
    BACKBONES,
    BackboneNet,
    _spec,
    load_backbone_weights,
    resolve_backbone_weights,
)
from ._transfer import MIN_RESIZED_SIDE

__all__ = ["ImageEmbedder"]


class ImageEmbedder(TransformerMixin, BaseEstimator):
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
    device : str, default="cpu"
        ``"cuda"`` to compute on a GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the random weights when ``weights=None``.

    Attributes
    ----------
    backbone_ : BackboneNet
        The frozen network (evaluation mode), kept on the CPU between calls.
    n_channels_ : int
        Bands of the stamps seen in ``fit``.

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
        "device": [str],
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
        device: str = "cpu",
        random_state: Any = None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.weights_dir = weights_dir
        self.input_size = input_size
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def _stamps(self, X: Any, *, reset: bool) -> np.ndarray:
        stamps, _ = split_stamps_input(X)
        arr = check_stamps(
            stamps, n_bands=None if reset else self.n_channels_, name="X"
        )
        name, spec = _spec(self.backbone)
        min_side = spec.min_size if self.input_size is None else MIN_RESIZED_SIDE
        if min(arr.shape[-2:]) < min_side:
            raise InputLayoutError(
                f"X stamps are {arr.shape[-2]}x{arr.shape[-1]} pixels; {name} needs "
                f"at least {min_side}x{min_side}"
                + (
                    " without resizing (input_size=None)"
                    if self.input_size is None
                    else ""
                )
                + ". Cut larger stamps."
            )
        return arr

    def fit(self, X: Any, y: Any = None) -> ImageEmbedder:
        """Build the backbone for the bands of ``X`` and load its weights.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width) or SliceDict
            Stamps, channels first; only their band count and size are used.
        y : ignored

        Returns
        -------
        self : ImageEmbedder
        """
        self._validate_params()
        arr = self._stamps(X, reset=True)
        self.n_channels_ = int(arr.shape[1])
        if self.weights is None:
            seed_everything(self.random_state)
        net = BackboneNet(self.backbone, self.n_channels_, input_size=self.input_size)
        state = resolve_backbone_weights(
            self.weights, self.backbone, weights_dir=self.weights_dir
        )
        if state is not None:
            load_backbone_weights(net, state)
        net.eval().requires_grad_(False)
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
        arr = self._stamps(X, reset=False)
        net = self.backbone_.to(self.device)
        out = np.empty((len(arr), net.n_features), dtype=np.float32)
        try:
            with torch.inference_mode():
                for start in range(0, len(arr), self.batch_size):
                    batch = torch.from_numpy(arr[start : start + self.batch_size])
                    out[start : start + len(batch)] = (
                        net(batch.to(self.device)).cpu().numpy()
                    )
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
