"""torchvision backbones for stamps with any number of bands.

Martinazzo, Espadoto & Hirata (2020, "Deep learning for
astronomical object classification: a case study", §3.2) compares ImageNet
architectures — VGG16, DenseNet121, ResNeXt50, InceptionV3 (and
InceptionResNetV2, which torchvision lacks; we add Cavuoti et al.'s (ULISSE)
EfficientNet-B0 instead) — used without their classifiers, as feature
extractors under a new head. This module builds those networks from
torchvision (random weights: nothing is downloaded, ever), adapts the first
convolution to ``C``-band stamps and resizes stamps smaller than an
architecture accepts. Their starting weights (ImageNet files, state dicts,
a :class:`~skastro.nn.MagnitudePretrainer`) are read by
:mod:`skastro.nn._weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import InputLayoutError
from ..utils._torchvision import import_torchvision
from ._pretrain_modules import VGG16Backbone

# Import torchvision now, through the shim: unpickling a fitted model
# imports skastro's classes first and then torchvision's, which must not fail
# next to the CPU build of PyTorch (see skastro.utils._torchvision).
import_torchvision()

__all__ = ["BACKBONES", "BackboneNet", "backbone_layers"]


@dataclass(frozen=True)
class _BackboneSpec:
    builder: str  # torchvision.models function
    n_features: int  # pooled feature length
    min_size: int  # smallest input side (pixels) the network accepts
    head: tuple[str, ...]  # torchvision attributes replaced by Identity
    builder_kwargs: tuple = ()


#: Backbones by name: torchvision builder, feature length, minimum stamp side
#: (pixels) and the classifier attributes removed.
BACKBONES: dict[str, _BackboneSpec] = {
    "vgg16": _BackboneSpec("vgg16", 512, 32, ("classifier",)),
    "densenet121": _BackboneSpec("densenet121", 1024, 32, ("classifier",)),
    "resnext50": _BackboneSpec("resnext50_32x4d", 2048, 32, ("fc",)),
    "inception_v3": _BackboneSpec(
        "inception_v3",
        2048,
        75,
        ("fc", "dropout"),
        (("aux_logits", False), ("transform_input", False), ("init_weights", False)),
    ),
    "efficientnet_b0": _BackboneSpec("efficientnet_b0", 1280, 32, ("classifier",)),
}
_ALIASES = {"resnext50_32x4d": "resnext50", "inceptionv3": "inception_v3"}


def _spec(name: str) -> tuple[str, _BackboneSpec]:
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}."
        )
    return key, BACKBONES[key]


def _first_conv(module: nn.Module) -> tuple[str, nn.Conv2d]:
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Conv2d):
            return name, sub
    raise TypeError(f"{type(module).__name__} has no convolution")  # pragma: no cover


def _replace(module: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, attr = dotted.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, attr, new)


class _NarrowVGG16(nn.Module):
    """torchvision's VGG16 without its classifier, ``width`` times as many
    filters per convolution: the same layer names (``features.N``) and
    torchvision's initialisation (He-normal with ``fan_out``, zero biases)."""

    def __init__(self, width: float):
        super().__init__()
        self.features = VGG16Backbone(3, width=width).features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.n_features = self.features[-3].out_channels
        for layer in self.features:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(
                    layer.weight, mode="fan_out", nonlinearity="relu"
                )
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


class BackboneNet(nn.Module):
    """A torchvision network without its classifier, for ``C``-band stamps.

    Parameters
    ----------
    name : str, default="efficientnet_b0"
        One of ``"vgg16"``, ``"densenet121"``, ``"resnext50"`` (ResNeXt-50
        32x4d), ``"inception_v3"``, ``"efficientnet_b0"``.
    in_channels : int, default=3
        Bands of the stamps. The first convolution is rebuilt for them when
        they are not 3.
    input_size : "auto", int or None, default="auto"
        Side (pixels) stamps are resized to, bilinearly, inside the network.
        ``"auto"`` resizes only stamps smaller than the architecture's
        minimum (32 pixels; 75 for InceptionV3) up to that minimum; an int
        resizes every stamp to that side; ``None`` never resizes, and smaller
        stamps raise an error.
    width : float, default=1.0
        Filter multiplier of VGG16's convolutions (``"vgg16"`` only; 1.0 is
        torchvision's VGG16). A narrower VGG16 has the same layers and layer
        names with ``round(width * n)`` filters each, as
        :class:`~skastro.nn.VGG16Backbone`, so the weights of a narrow
        :class:`~skastro.nn.MagnitudePretrainer` load into it.

    Attributes
    ----------
    net : torch.nn.Module
        The torchvision model with its classifier replaced by
        :class:`~torch.nn.Identity` (VGG16 also pools globally instead of to
        7x7). Its parameter names are torchvision's, so torchvision state
        dicts load into it.
    n_features : int
        Length of the output feature vector (512, 1024, 2048, 2048, 1280;
        ``round(512 * width)`` for a narrow VGG16).
    min_size : int
        Smallest stamp side the network accepts, pixels.

    Notes
    -----
    ``forward`` maps float32 ``(n, in_channels, h, w)`` stamps to
    ``(n, n_features)`` globally pooled features; NaN pixels (off the image
    edge) are read as 0.
    """

    def __init__(
        self,
        name: str = "efficientnet_b0",
        in_channels: int = 3,
        *,
        input_size: str | int | None = "auto",
        width: float = 1.0,
    ):
        super().__init__()
        key, spec = _spec(name)
        if not width > 0:
            raise ValueError(f"width must be positive; got {width!r}.")
        if width != 1.0 and key != "vgg16":
            raise ValueError(
                f"width={width!r} applies to VGG16 only; {key} is built as "
                "torchvision defines it (width=1.0)."
            )
        if not (input_size is None or input_size == "auto" or int(input_size) > 0):
            raise ValueError(
                f"input_size must be 'auto', a positive int or None; got {input_size!r}."
            )
        if isinstance(input_size, int) and input_size < spec.min_size:
            raise InputLayoutError(
                f"input_size={input_size} is below the {spec.min_size}-pixel minimum "
                f"of {key}; use input_size='auto' or at least {spec.min_size}."
            )
        tv = import_torchvision()
        if width != 1.0:
            net = _NarrowVGG16(width)
        else:
            net = getattr(tv.models, spec.builder)(
                weights=None, **dict(spec.builder_kwargs)
            )
            for attr in spec.head:
                setattr(net, attr, nn.Identity())
        if key == "vgg16":
            net.avgpool = nn.AdaptiveAvgPool2d(1)
        conv_name, conv = _first_conv(net)
        if in_channels != conv.in_channels:
            _replace(
                net,
                conv_name,
                nn.Conv2d(
                    in_channels,
                    conv.out_channels,
                    kernel_size=conv.kernel_size,
                    stride=conv.stride,
                    padding=conv.padding,
                    bias=conv.bias is not None,
                ),
            )
        self.net = net
        self.name = key
        self.in_channels = int(in_channels)
        self.input_size = input_size
        self.width = float(width)
        self.n_features = net.n_features if width != 1.0 else spec.n_features
        self.min_size = spec.min_size
        self.first_conv = conv_name

    def _target_size(self, h: int, w: int) -> tuple[int, int] | None:
        if self.input_size is None:
            if min(h, w) < self.min_size:
                raise InputLayoutError(
                    f"stamps are {h}x{w} pixels but {self.name} needs at least "
                    f"{self.min_size}x{self.min_size}; use input_size='auto' to "
                    "resize them, or cut larger stamps."
                )
            return None
        if self.input_size == "auto":
            if min(h, w) >= self.min_size:
                return None
            scale = self.min_size / min(h, w)
            return (
                max(self.min_size, round(h * scale)),
                max(self.min_size, round(w * scale)),
            )
        size = int(self.input_size)
        return None if (h, w) == (size, size) else (size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nan_to_num(x, nan=0.0)
        size = self._target_size(*x.shape[-2:])
        if size is not None:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.net(x)


def backbone_layers(backbone: BackboneNet) -> list[str]:
    """Names of the backbone's layers with weights, input to output.

    A "layer" is a module owning parameters directly (convolution, batch
    norm, linear), as Keras counts the "last *k* layers" Martinazzo, Espadoto & Hirata (2020) unfreezes.

    Returns
    -------
    names : list of str
        Dotted module names relative to ``backbone`` (e.g. ``"net.features.28"``).
    """
    return [
        name
        for name, module in backbone.named_modules()
        if name and any(True for _ in module.parameters(recurse=False))
    ]
