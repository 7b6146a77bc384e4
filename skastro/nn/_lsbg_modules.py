"""The DeepShadows network (Tanoglidis et al. 2021, Table 1) as a plain ``torch.nn.Module``."""

from __future__ import annotations

import warnings

import torch
from torch import nn

__all__ = ["DeepShadowsCNN"]


class DeepShadowsCNN(nn.Module):
    """DeepShadows CNN of Tanoglidis et al. (2021), Table 1, layer for layer.

    Input ``(n, 3, 64, 64)`` (channels first; the paper's Keras model is
    channels last). Three blocks of [Conv 3×3, stride 1, "same" padding,
    ReLU → BatchNorm → MaxPool 2×2 → Dropout 0.4] with 16, 32 and 64
    filters, then Flatten (8·8·64 = 4096) → Dense 1024 + ReLU → Dense 1.
    The output is the logit of P(LSBG) (the paper's sigmoid is applied by
    the loss, :class:`torch.nn.BCEWithLogitsLoss`, and in ``predict_proba``).

    Initialisation and normalisation follow Keras' defaults, which the paper
    used: Glorot-uniform kernels, zero biases, BatchNorm ``momentum=0.01``
    (Keras 0.99) and ``eps=1e-3``. Table 1 lists 4,220,385 parameters; Keras
    counts BatchNorm's moving mean and variance among them, which PyTorch
    keeps as buffers: 4,220,161 trainable parameters plus 224 running
    statistics.

    Parameters
    ----------
    in_channels : int, default=3
        Bands (g, r, z).
    filters : tuple of int, default=(16, 32, 64)
        Filters of the three convolutional blocks.
    n_hidden : int, default=1024
        Units of the hidden dense layer.
    dropout : float, default=0.4
        Dropout rate after each pooling layer.
    image_size : int, default=64
        Height = width of the input stamps, pixels (divisible by 8).
    bn_momentum : float, default=0.01
        PyTorch BatchNorm momentum (Keras' 0.99 is PyTorch's 0.01). The
        running statistics then need a few hundred steps to settle; short
        trainings on small samples are better served by 0.1.
    dense_units : int, optional
        Deprecated name of ``n_hidden`` (removed in the next release).
    """

    def __init__(
        self,
        in_channels: int = 3,
        filters: tuple[int, int, int] = (16, 32, 64),
        n_hidden: int = 1024,
        dropout: float = 0.4,
        image_size: int = 64,
        bn_momentum: float = 0.01,
        *,
        dense_units: int | None = None,
    ):
        super().__init__()
        if dense_units is not None:
            warnings.warn(
                "DeepShadowsCNN(dense_units=...) is deprecated and will be removed "
                f"in the next release; use n_hidden={dense_units!r}.",
                FutureWarning,
                stacklevel=2,
            )
            n_hidden = dense_units
        if image_size % 8:
            raise ValueError(
                f"image_size must be divisible by 8 (three 2x2 poolings); got "
                f"{image_size!r}."
            )
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in filters:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, stride=1, padding="same"),
                nn.ReLU(),
                nn.BatchNorm2d(c_out, eps=1e-3, momentum=bn_momentum),
                nn.MaxPool2d(2),
                nn.Dropout(dropout),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        n_flat = c_in * (image_size // 8) ** 2
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(n_flat, n_hidden)
        self.relu = nn.ReLU()
        self.out = nn.Linear(n_hidden, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases, BN (1, 0)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
                m.reset_running_stats()

    def conv_kernels(self) -> list[torch.Tensor]:
        """The convolution kernels (L2 0.13 in the paper)."""
        return [m.weight for m in self.features if isinstance(m, nn.Conv2d)]

    def last_conv_activation(self) -> nn.Module:
        """The output of the last convolutional layer (Keras' Conv2D includes its
        ReLU), the layer Grad-CAM uses in Tanoglidis et al. (2021, §4.3.)"""
        convs = [i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]
        return self.features[convs[-1] + 1]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n,) for stamps (n, in_channels, size, size)."""
        h = self.flatten(self.features(X))
        return self.out(self.relu(self.dense(h))).squeeze(-1)
