"""Starting weights of the networks: what ``weights=`` may be, read and loaded.

Every network estimator that starts from pretrained weights takes them as
``weights`` (with ``weights_dir`` for files found by name), in one of these
forms, read by :func:`read_weights`:

- ``None``: random initialisation;
- ``"imagenet"``: torchvision's ImageNet file of the backbone under its own
  name (``vgg16-397923af.pth`` & co.) in ``weights_dir`` or torch's hub
  cache; never downloaded — the error says how to fetch it elsewhere;
- a path of a state dict saved with :func:`torch.save`, or the state dict;
- :class:`PretrainedWeights`, or a fitted
  :class:`~skastro.nn.MagnitudePretrainer` (VGG16 weights learned on
  astronomical stamps, Martinazzo et al. 2021).

:func:`resolve_backbone_weights` and :func:`load_backbone_weights` put them
into a torchvision :class:`~skastro.nn.BackboneNet` (three-band weights go
into a ``C``-band first convolution by giving every band the mean of the red,
green and blue filters times ``3 / C``: a stamp whose bands are equal then
produces the grey-level RGB image's first-layer response);
:func:`as_pretrained_weights` and :func:`load_stamp_net_weights` into a
:class:`~skastro.nn.VGG16StampNet`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..exceptions import InputLayoutError
from ..utils._torchvision import import_torchvision
from ._backbones import BACKBONES, BackboneNet, _spec
from ._pretrain_modules import VGG16StampNet, load_vgg16_features

__all__ = [
    "PretrainedWeights",
    "as_pretrained_weights",
    "load_backbone_weights",
    "load_stamp_net_weights",
    "read_weights",
    "resolve_backbone_weights",
    "vgg16_width",
]

#: Keys of a full torchvision model that belong to the removed classifier.
_HEAD_KEY = re.compile(r"^(classifier|fc|AuxLogits)\.")
#: Old DenseNet checkpoints name ``norm.1`` what the module calls ``norm1``.
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)
#: Filters of VGG16's first convolution at ``width=1``.
_VGG16_FIRST_FILTERS = 64


class PretrainedWeights:
    """Weights of a pretrained :class:`~skastro.nn.VGG16StampNet` and its shape.

    What a :class:`~skastro.nn.PretrainedStampClassifier` starts from. Get
    one from :meth:`MagnitudePretrainer.pretrained_weights`, or wrap a state
    dict (for instance a torchvision ``vgg16`` state dict for 3-band stamps,
    of which only the ``features.*`` convolutions are used).

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
        Keys ``backbone.features.N.{weight,bias}`` (or torchvision's
        ``features.N.*``) and optionally ``top.1.{weight,bias}`` (the dense
        layer). Any ``head.*`` (output layer) keys are ignored: the classifier
        gets a new output layer.
    width : float or None, default=1.0
        Filter multiplier the weights were made with; ``None`` reads it from
        the first convolution (its filters / 64).
    n_hidden : int or None, default=1024
        Units of the dense layer; ``None`` reads it from ``top.1.weight``
        (1024 when absent).

    Attributes
    ----------
    in_channels : int
        Input bands of the first convolution, read from its weight.
    """

    def __init__(
        self,
        state_dict: Mapping[str, torch.Tensor],
        *,
        width: float | None = 1.0,
        n_hidden: int | None = 1024,
    ):
        sd = {}
        for key, value in state_dict.items():
            key = key.removeprefix("module.")
            if key.startswith("features."):
                key = "backbone." + key
            if key.startswith(("backbone.", "top.")):
                sd[key] = torch.as_tensor(value).detach().cpu().clone()
        first = sd.get("backbone.features.0.weight")
        if first is None:
            raise ValueError(
                "state_dict holds no VGG16 convolution weights (no "
                "'backbone.features.0.weight' or 'features.0.weight' key); got keys "
                f"{sorted(state_dict)[:5]}."
            )
        if width is None:
            width = first.shape[0] / _VGG16_FIRST_FILTERS
        if n_hidden is None:
            top = sd.get("top.1.weight")
            n_hidden = 1024 if top is None else top.shape[0]
        self.state_dict = sd
        self.width = float(width)
        self.n_hidden = int(n_hidden)
        self.in_channels = int(first.shape[1])

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


def _imagenet_file(builder: str) -> str:
    tv = import_torchvision()
    url = tv.models.get_model_weights(builder).DEFAULT.url
    return url.rsplit("/", 1)[-1]


def _imagenet_path(name: str, weights_dir: Any) -> Path:
    key, spec = _spec(name)
    filename = _imagenet_file(spec.builder)
    folder = (
        Path(weights_dir)
        if weights_dir is not None
        else Path(torch.hub.get_dir()) / "checkpoints"
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
    return path


def _read_state_dict_file(path: Path, name: str) -> Mapping:
    if not path.is_file():
        raise FileNotFoundError(
            f"weight file {str(path)!r} does not exist; pass the path of a "
            "state dict saved with torch.save (e.g. torchvision's "
            f"{_imagenet_file(_spec(name)[1].builder)} for {_spec(name)[0]})."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(
            f"could not read {str(path)!r} as a PyTorch state dict: {exc}"
        ) from exc
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    return state


def read_weights(
    weights: Any, name: str, *, weights_dir: str | os.PathLike | None = None
) -> PretrainedWeights | dict[str, torch.Tensor] | None:
    """Read what ``weights`` stands for, for backbone ``name``.

    Parameters
    ----------
    weights : None, "imagenet", path, mapping, PretrainedWeights or MagnitudePretrainer
        See the module documentation.
    name : str
        Backbone name (see :data:`~skastro.nn.BACKBONES`); ``"imagenet"``
        reads its torchvision file.
    weights_dir : path-like, optional
        Folder searched for ``"imagenet"`` files.

    Returns
    -------
    weights : PretrainedWeights, dict of CPU tensors, or None
        :class:`PretrainedWeights` for a pretrainer or its weights; a state
        dict otherwise; ``None`` for random weights.

    Raises
    ------
    FileNotFoundError
        If a file is absent; for ``"imagenet"`` the message says how to fetch
        it on a machine with internet access.
    """
    if weights is None or isinstance(weights, PretrainedWeights):
        return weights
    if callable(getattr(weights, "pretrained_weights", None)):
        from sklearn.exceptions import NotFittedError

        try:
            return weights.pretrained_weights()
        except NotFittedError:
            raise ValueError(
                f"weights is a {type(weights).__name__} that is not fitted. (A grid "
                "search or clone() passes an unfitted copy of an estimator given as "
                "a parameter: give weights=pretrainer.pretrained_weights() or the "
                "path of a saved state dict instead.)"
            ) from None
    if isinstance(weights, str) and weights.lower() == "imagenet":
        weights = _imagenet_path(name, weights_dir)
    if isinstance(weights, str | os.PathLike):
        weights = _read_state_dict_file(Path(weights), name)
    if not isinstance(weights, Mapping):
        raise TypeError(
            "weights must be None, 'imagenet', a file path, a state dict, "
            "PretrainedWeights or a fitted MagnitudePretrainer; got "
            f"{type(weights).__name__}."
        )
    return {str(k): torch.as_tensor(v).detach().cpu() for k, v in weights.items()}


def resolve_backbone_weights(
    weights: Any, name: str, *, weights_dir: str | os.PathLike | None = None
) -> dict[str, torch.Tensor] | None:
    """Return the state dict that ``weights`` stands for a :class:`BackboneNet`.

    Parameters
    ----------
    weights : None, "imagenet", path, mapping, PretrainedWeights or MagnitudePretrainer
        As for :func:`read_weights`; a pretrainer's weights are VGG16's, of
        its width (:func:`vgg16_width` reads it).
    name : str
        Backbone name.
    weights_dir : path-like, optional
        Folder searched for ``"imagenet"`` files.

    Returns
    -------
    state_dict : dict of CPU tensors, or None
    """
    key = _spec(name)[0]
    weights = read_weights(weights, name, weights_dir=weights_dir)
    if not isinstance(weights, PretrainedWeights):
        return weights
    if key != "vgg16":
        raise ValueError(
            f"MagnitudePretrainer weights are VGG16 weights; they cannot start a "
            f"{key} backbone. Use backbone='vgg16'."
        )
    return {
        k.removeprefix("backbone."): v
        for k, v in weights.state_dict.items()
        if k.startswith("backbone.features.")
    }


def vgg16_width(state_dict: Mapping[str, torch.Tensor] | None) -> float | None:
    """Filter multiplier of VGG16 weights: the first convolution's filters / 64.

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor, or None
        VGG16 weights with torchvision's key names (``features.0.weight``,
        optionally prefixed), as :func:`resolve_backbone_weights` returns.

    Returns
    -------
    width : float or None
        1.0 for torchvision's VGG16, 0.25 for the shipped quarter-width
        pretrainer; None without weights or without that key.
    """
    for key, value in (state_dict or {}).items():
        for prefix in ("module.", "backbone.", "net."):
            key = key.removeprefix(prefix)
        if key == "features.0.weight":
            return value.shape[0] / _VGG16_FIRST_FILTERS
    return None


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


def _adapt_first_conv(
    backbone: BackboneNet, sd: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Give a 3-band first convolution to ``C`` bands (mean filter × 3 / C)."""
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
    return sd


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
    sd = _adapt_first_conv(backbone, sd)
    for key, value in sd.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(
                f"weight {key!r} has shape {tuple(value.shape)} in the weights but "
                f"{tuple(own[key].shape)} in {backbone.name}; these weights belong to "
                "another variant of the architecture."
            )
    backbone.net.load_state_dict(sd, strict=True)
    return backbone


def as_pretrained_weights(
    weights: Any, *, weights_dir: str | os.PathLike | None = None
) -> PretrainedWeights | None:
    """``weights`` for a :class:`~skastro.nn.VGG16StampNet`, as :class:`PretrainedWeights`.

    A state dict (or file, or ``"imagenet"``: torchvision's VGG16) is wrapped
    with its width and dense-layer size read from the tensors.
    """
    weights = read_weights(weights, "vgg16", weights_dir=weights_dir)
    if weights is None or isinstance(weights, PretrainedWeights):
        return weights
    return PretrainedWeights(weights, width=None, n_hidden=None)


def load_stamp_net_weights(
    module: VGG16StampNet, weights: PretrainedWeights, *, n_bands: int | None = None
) -> VGG16StampNet:
    """Load the backbone (and dense-layer) weights of ``weights`` into ``module``.

    Parameters
    ----------
    module : VGG16StampNet
        Loaded in place; its output layer keeps its (random) weights.
    weights : PretrainedWeights
    n_bands : int, optional
        Bands of the stamps, checked against the weights' first convolution.
    """
    if n_bands is not None and weights.in_channels != n_bands:
        raise InputLayoutError(
            f"the pretrained weights were learned on {weights.in_channels}-band "
            f"stamps but X has {n_bands} bands; pretrain on the same band set "
            "(12 bands, 5 broad bands or 3-channel RGB)."
        )
    load_vgg16_features(module, weights.state_dict)
    top = {
        k.removeprefix("top."): v
        for k, v in weights.state_dict.items()
        if k.startswith("top.")
    }
    if top:
        module.top.load_state_dict(top)
    return module
