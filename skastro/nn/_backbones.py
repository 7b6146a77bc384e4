"""torchvision backbones for stamps with any number of bands, and their weights.

Martinazzo, Espadoto & Hirata (2020, "Deep learning for
astronomical object classification: a case study", §3.2) compares ImageNet
architectures — VGG16, DenseNet121, ResNeXt50, InceptionV3 (and
InceptionResNetV2, which torchvision lacks; we add Cavuoti et al.'s (ULISSE) EfficientNet-B0
instead) — used without their classifiers, as feature extractors under a new
head. This module builds those networks from torchvision (random
weights: nothing is downloaded, ever), adapts the first convolution to
``C``-band stamps, resizes stamps smaller than an architecture accepts, and
loads weights from

- a local file in torchvision's own format and name (``"imagenet"`` looks
  for ``vgg16-397923af.pth`` & co. in a folder, never online),
- a state dict (torchvision's keys, or a :class:`BackboneNet`'s),
- a fitted :class:`~skastro.nn.MagnitudePretrainer` (VGG16 weights learned on
  astronomical stamps instead of ImageNet).

Three-band weights go into a ``C``-band first convolution by giving every
band the mean of the red, green and blue filters times ``3 / C``: a stamp
whose bands are equal produces the same first-layer response as the
grey-level RGB image, whatever ``C`` is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import InputLayoutError
from ..utils._torchvision import import_torchvision

# Import torchvision now, through the shim: unpickling a fitted model
# imports skastro's classes first and then torchvision's, which must not fail
# next to the CPU build of PyTorch (see skastro.utils._torchvision).
import_torchvision()

__all__ = [
    "BACKBONES",
    "BackboneNet",
    "backbone_layers",
    "load_backbone_weights",
    "resolve_backbone_weights",
]


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
#: Keys of a full torchvision model that belong to the removed classifier.
_HEAD_KEY = re.compile(r"^(classifier|fc|AuxLogits)\.")
#: Old DenseNet checkpoints name ``norm.1`` what the module calls ``norm1``.
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


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

    Attributes
    ----------
    net : torch.nn.Module
        The torchvision model with its classifier replaced by
        :class:`~torch.nn.Identity` (VGG16 also pools globally instead of to
        7x7). Its parameter names are torchvision's, so torchvision state
        dicts load into it.
    n_features : int
        Length of the output feature vector (512, 1024, 2048, 2048, 1280).
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
    ):
        super().__init__()
        key, spec = _spec(name)
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
        self.n_features = spec.n_features
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


def _imagenet_file(key: str, spec: _BackboneSpec) -> str:
    tv = import_torchvision()
    url = tv.models.get_model_weights(spec.builder).DEFAULT.url
    return url.rsplit("/", 1)[-1]


def resolve_backbone_weights(
    weights: Any, name: str, *, weights_dir: str | os.PathLike | None = None
) -> dict[str, torch.Tensor] | None:
    """Return the state dict that ``weights`` stands for (CPU tensors).

    Parameters
    ----------
    weights : None, "imagenet", path, mapping, PretrainedWeights or MagnitudePretrainer
        ``None``: random initialisation (returns ``None``). ``"imagenet"``:
        the torchvision ImageNet file of the backbone by its torchvision name
        (e.g. ``efficientnet_b0_rwightman-7f5810bc.pth``) in ``weights_dir``,
        or else in torch's hub cache (``$TORCH_HOME/hub/checkpoints``); it is
        never downloaded. A path: a file saved with :func:`torch.save` of a
        state dict. A mapping: the state dict itself. A fitted
        :class:`~skastro.nn.MagnitudePretrainer` or its
        :class:`~skastro.nn.PretrainedWeights` (VGG16 only).
    name : str
        Backbone name (see :data:`BACKBONES`).
    weights_dir : path-like, optional
        Folder searched for ``"imagenet"`` files.

    Raises
    ------
    FileNotFoundError
        If the file is absent; the message says how to fetch it on a machine
        with internet access.
    """
    key, spec = _spec(name)
    if weights is None:
        return None
    from ._pretrain import MagnitudePretrainer, PretrainedWeights

    if isinstance(weights, MagnitudePretrainer):
        if not hasattr(weights, "n_channels_"):
            raise ValueError(
                "weights is a MagnitudePretrainer that is not fitted. (A grid search "
                "or clone() passes an unfitted copy of an estimator given as a "
                "parameter: give weights=pretrainer.pretrained_weights() or the path "
                "of a saved state dict instead.)"
            )
        weights = weights.pretrained_weights()
    if isinstance(weights, PretrainedWeights):
        if key != "vgg16":
            raise ValueError(
                f"MagnitudePretrainer weights are VGG16 weights; they cannot start a "
                f"{key} backbone. Use backbone='vgg16'."
            )
        if weights.width != 1.0:
            raise ValueError(
                f"the pretrainer was built with module__width={weights.width}; only "
                "full-width VGG16 weights (width=1.0) fit torchvision's VGG16."
            )
        return {
            k.removeprefix("backbone."): v
            for k, v in weights.state_dict.items()
            if k.startswith("backbone.features.")
        }
    if isinstance(weights, str) and weights.lower() == "imagenet":
        filename = _imagenet_file(key, spec)
        folder = (
            Path(weights_dir)
            if weights_dir is not None
            else (Path(torch.hub.get_dir()) / "checkpoints")
        )
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(
                f"ImageNet weights for {key} not found: {path} does not exist, and "
                "skastro never downloads. On a machine with internet access run\n"
                f'    python -c "import torchvision; torchvision.models.get_model('
                f"'{spec.builder}', weights='DEFAULT')\"\n"
                f"which saves ~/.cache/torch/hub/checkpoints/{filename}; copy that "
                "file here into that folder (or set weights_dir= to where you put it)."
            )
        weights = path
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"weight file {str(path)!r} does not exist; pass the path of a "
                "state dict saved with torch.save (e.g. torchvision's "
                f"{_imagenet_file(key, spec)} for {key})."
            )
        try:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise ValueError(
                f"could not read {str(path)!r} as a PyTorch state dict: {exc}"
            ) from exc
        if isinstance(weights, Mapping) and "state_dict" in weights:
            weights = weights["state_dict"]
    if not isinstance(weights, Mapping):
        raise TypeError(
            "weights must be None, 'imagenet', a file path, a state dict, "
            f"PretrainedWeights or a fitted MagnitudePretrainer; got {type(weights).__name__}."
        )
    return {str(k): torch.as_tensor(v).detach().cpu() for k, v in weights.items()}


def _torchvision_keys(
    state_dict: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.").removeprefix("backbone.").removeprefix("net.")
        match = _DENSENET_OLD_KEY.match(key)
        if match:
            key = match.group(1) + match.group(2)
        if _HEAD_KEY.match(key):
            continue
        out[key] = value
    return out


def load_backbone_weights(
    backbone: BackboneNet, state_dict: Mapping[str, torch.Tensor]
) -> BackboneNet:
    """Load a (torchvision) state dict into ``backbone``, adapting the bands.

    Parameters
    ----------
    backbone : BackboneNet
        Loaded in place.
    state_dict : mapping of str to torch.Tensor
        torchvision keys (a full model's classifier keys are ignored), or a
        :class:`BackboneNet`'s own (``net.`` prefix).

    Returns
    -------
    backbone : BackboneNet

    Raises
    ------
    ValueError
        If the weights belong to another architecture (keys or shapes do not
        match); the message names the architecture and example keys.
    InputLayoutError
        If the first convolution's weights have a band count that is neither
        3 (adapted) nor the stamps' band count.
    """
    sd = _torchvision_keys(state_dict)
    own = backbone.net.state_dict()
    for key in set(own) - set(sd):
        if key.endswith("num_batches_tracked"):  # absent from older checkpoints
            sd[key] = own[key]
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"these weights are not {backbone.name} weights: {len(missing)} of its "
            f"{len(own)} tensors are missing (e.g. {missing[:3]}) and "
            f"{len(unexpected)} keys are foreign (e.g. {unexpected[:3]}). Pass "
            f"weights saved from torchvision's {BACKBONES[backbone.name].builder} "
            "or choose the backbone they belong to."
        )
    conv_key = backbone.first_conv + ".weight"
    w = sd[conv_key]
    bands = backbone.in_channels
    if w.ndim == 4 and w.shape[1] != bands:
        if w.shape[1] != 3:
            raise InputLayoutError(
                f"the weights' first convolution ({conv_key}) takes {w.shape[1]} "
                f"bands but the stamps have {bands}; only 3-band (RGB) weights are "
                "adapted to other band counts. Use stamps with the bands the "
                "weights were trained on."
            )
        sd[conv_key] = w.mean(dim=1, keepdim=True).repeat(1, bands, 1, 1) * (
            3.0 / bands
        )
    for key, value in sd.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(
                f"weight {key!r} has shape {tuple(value.shape)} in the weights but "
                f"{tuple(own[key].shape)} in {backbone.name}; these weights belong to "
                "another variant of the architecture."
            )
    backbone.net.load_state_dict(sd, strict=True)
    return backbone
