"""Networks for magnitude pretraining (Martinazzo et al. 2021, §4.3).

Plain :class:`torch.nn.Module` classes, usable without skorch:

- :class:`VGG16Backbone`: the 13 convolutional layers and 5 max-pools of VGG16
  (Simonyan & Zisserman 2014, configuration "D"), with ``in_channels`` input
  bands. Layer names follow torchvision's ``vgg16().features`` exactly
  (``features.0`` … ``features.30``), so a torchvision VGG16 state dict loads
  into it (see :func:`load_vgg16_features`).
- :class:`VGG16StampNet`: backbone → global average pooling → Dense
  ``n_hidden`` (1024) + ReLU → Dense ``n_outputs``; the pretraining regressor
  (one output per magnitude) and the classifier (one logit per class) share it.
- :class:`MaskedL1Loss`: the mean absolute error over finite targets only,
  so magnitudes missing in some bands (NaN) neither crash nor poison the loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = [
    "VGG16_CONFIG",
    "MaskedL1Loss",
    "VGG16Backbone",
    "VGG16StampNet",
    "load_vgg16_features",
]

#: VGG16 ("D") convolutional configuration: output channels of each 3x3
#: convolution, ``"M"`` a 2x2 max-pool of stride 2.
VGG16_CONFIG: tuple = (
    64, 64, "M",
    128, 128, "M",
    256, 256, 256, "M",
    512, 512, 512, "M",
    512, 512, 512, "M",
)  # fmt: skip


def _scaled(n_filters: int, width: float) -> int:
    return max(1, int(round(n_filters * width)))


class VGG16Backbone(nn.Module):
    """The VGG16 convolutional backbone for ``in_channels``-band stamps.

    Parameters
    ----------
    in_channels : int, default=12
        Number of input bands (12 for S-PLUS FITS stamps, 5 for the broad
        bands, 3 for RGB composites).
    width : float, default=1.0
        Multiplier on the number of filters of every convolution. ``1.0`` is
        VGG16 (64 … 512 filters, 14.7 million weights for 3 bands); smaller
        values make fast, small networks for tests and CPU demos, with the
        same layer structure and names.

    Notes
    -----
    Input ``(n, in_channels, h, w)`` with ``h, w >= 32``; output
    ``(n, out_channels, h // 32, w // 32)``. Each convolution is 3x3 with
    padding 1 followed by ReLU, as in torchvision's ``vgg16`` (no batch norm),
    so parameter names are ``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}``
    ``.weight/.bias``.
    """

    def __init__(self, in_channels: int = 12, *, width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG16_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out = _scaled(item, width)
                layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
                layers.append(nn.ReLU(inplace=True))
                channels = out
        self.features = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class VGG16StampNet(nn.Module):
    """VGG16 backbone, global pooling, Dense 1024 and one output per target.

    The network of Martinazzo et al. (2021, §4.3): torchvision-compatible VGG16 convolutions
    (:class:`VGG16Backbone`), global average pooling, a dense layer of
    ``n_hidden`` units with ReLU (the learned representation), and a linear
    output layer.

    Parameters
    ----------
    in_channels : int, default=12
        Number of input bands.
    n_outputs : int, default=12
        Number of outputs: magnitudes for pretraining, classes (logits) for
        classification.
    width : float, default=1.0
        Filter multiplier of the backbone (see :class:`VGG16Backbone`).
    n_hidden : int, default=1024
        Units of the dense layer whose activations are the representation.
    init : {"pytorch", "vgg"}, default="pytorch"
        Initial weights. ``"pytorch"``: each layer's PyTorch default
        (uniform, scaled by ``1/sqrt(fan_in)``). ``"vgg"``: torchvision's VGG
        initialisation (He-normal convolutions with ``fan_out``, dense layers
        from N(0, 0.01), zero biases), which keeps the signal's scale through
        the 13 plain convolutions; with the PyTorch default it shrinks layer
        after layer, and a network trained from scratch on a few hundred
        labels often never leaves the chance loss (see the user guide,
        :doc:`/user_guide/pretraining`). Pretrained weights loaded
        afterwards replace either.

    Notes
    -----
    ``forward`` takes ``(n, in_channels, h, w)`` float32 stamps and returns
    ``(n, n_outputs)``; NaN pixels (off the image edge) are read as 0.
    :meth:`embed` returns the ``(n, n_hidden)`` representation. Parameter
    groups: ``backbone.*`` (convolutions), ``top.*`` (dense layer) and
    ``head.*`` (output layer).
    """

    def __init__(
        self,
        in_channels: int = 12,
        n_outputs: int = 12,
        *,
        width: float = 1.0,
        n_hidden: int = 1024,
        init: str = "pytorch",
    ):
        super().__init__()
        if init not in ("pytorch", "vgg"):
            raise ValueError(
                f"init must be 'pytorch' or 'vgg', got {init!r}; use 'vgg' for "
                "a network trained from scratch."
            )
        self.backbone = VGG16Backbone(in_channels, width=width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.top = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.backbone.out_channels, n_hidden),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(n_hidden, n_outputs)
        if init == "vgg":
            self._init_vgg()

    def _init_vgg(self) -> None:
        # torchvision's VGG initialisation
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(
                    layer.weight, mode="fan_out", nonlinearity="relu"
                )
                nn.init.zeros_(layer.bias)
            elif isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, 0.0, 0.01)
                nn.init.zeros_(layer.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Return the ``(n, n_hidden)`` representation of stamps ``x``."""
        x = torch.nan_to_num(x, nan=0.0)
        return self.top(self.pool(self.backbone(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class MaskedL1Loss(nn.Module):
    """Mean absolute error over the finite entries of the target.

    Missing magnitudes (NaN; about a third of S-PLUS objects miss at least one
    band, Martinazzo et al. (2021, §3.2)) are left out of the mean instead of being imputed or
    turning the loss into NaN: each object contributes only through the bands
    it was measured in. A batch whose targets are all missing gives a loss of
    0 that still depends on the graph (so ``backward`` works and changes
    nothing).

    Parameters
    ----------
    reduction : {"mean", "sum"}, default="mean"
        How finite absolute errors are combined.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}.")
        self.reduction = reduction

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        y_true = y_true.to(y_pred.dtype).reshape(y_pred.shape)
        mask = torch.isfinite(y_true)
        diff = torch.where(mask, y_pred - torch.nan_to_num(y_true), 0.0).abs()
        total = diff.sum()
        if self.reduction == "sum":
            return total
        return total / mask.sum().clamp(min=1)


def load_vgg16_features(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, strict: bool = True
) -> nn.Module:
    """Load VGG16 convolution weights (torchvision naming) into ``module``.

    Parameters
    ----------
    module : VGG16Backbone or VGG16StampNet
        Module to load into (in place).
    state_dict : mapping of str to torch.Tensor
        A torchvision ``vgg16`` state dict (keys ``features.N.weight``, the
        classifier keys are ignored) or a :class:`VGG16Backbone` state dict.
        Keys prefixed ``backbone.`` are accepted as well.
    strict : bool, default=True
        Whether every convolution of ``module`` must receive weights.

    Returns
    -------
    module : torch.nn.Module
        The same module.

    Raises
    ------
    ValueError
        If a weight's shape differs (wrong ``in_channels`` or ``width``); the
        message names the layer and both shapes.
    """
    backbone = module.backbone if isinstance(module, VGG16StampNet) else module
    if not isinstance(backbone, VGG16Backbone):
        raise TypeError(
            "module must be a VGG16Backbone or VGG16StampNet; got "
            f"{type(module).__name__}."
        )
    own = backbone.state_dict()
    picked: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.").removeprefix("backbone.")
        if not key.startswith("features."):
            continue
        if key not in own:
            raise ValueError(
                f"state dict key {key!r} has no counterpart in the VGG16 backbone; "
                "is it a VGG16 (configuration D, no batch norm) state dict?"
            )
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(
                f"weight {key!r} has shape {tuple(value.shape)} in the state dict "
                f"but {tuple(own[key].shape)} in the module; match in_channels="
                f"{backbone.in_channels} and width to the weights (a torchvision "
                "VGG16 has 3 input channels and width=1.0)."
            )
        picked[key] = value
    missing = sorted(set(own) - set(picked))
    if strict and missing:
        raise ValueError(
            f"the state dict lacks {len(missing)} backbone weight(s), e.g. "
            f"{missing[:3]}; pass strict=False to load a partial state dict."
        )
    backbone.load_state_dict(picked, strict=False)
    return module
