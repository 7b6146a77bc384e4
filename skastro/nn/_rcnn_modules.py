"""Networks for image-sequence classification (seed 001, Table 3.3).

Plain :class:`torch.nn.Module` classes, usable without skorch:

- :class:`BatchRenorm` -- batch renormalisation (Ioffe 2017), which PyTorch
  does not ship;
- :class:`SequenceRCNNModule` -- the recurrent convolutional network of
  Carrasco-Davis et al. (seed 001, Table 3.3): a CNN over sliding windows of
  ``n_window`` consecutive stamps, a dense layer, an LSTM fed with the CNN
  features and the window's time differences, and a softmax at every step;
- :class:`MaskedStepCrossEntropy` -- the loss: cross-entropy summed over the
  valid steps of each sequence (padding masked out), averaged over sequences.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BatchRenorm", "MaskedStepCrossEntropy", "SequenceRCNNModule"]


class BatchRenorm(nn.Module):
    r"""Batch renormalisation (Ioffe 2017, NeurIPS 30, Algorithm 1).

    In training, each feature (channel) is normalised with the mini-batch
    mean :math:`\mu_B` and standard deviation :math:`\sigma_B`, then corrected
    towards the moving averages :math:`\mu, \sigma`:

    .. math::

        \hat x = \frac{x - \mu_B}{\sigma_B} r + d,\quad
        r = \mathrm{clip}_{[1/r_{max}, r_{max}]}(\sigma_B / \sigma),\quad
        d = \mathrm{clip}_{[-d_{max}, d_{max}]}((\mu_B - \mu) / \sigma),

    with ``r`` and ``d`` treated as constants in the gradient, and
    :math:`y = \gamma \hat x + \beta`. In evaluation,
    :math:`y = \gamma (x - \mu) / \sigma + \beta`, so each sample is
    normalised independently of the others. ``r_max = 1, d_max = 0`` is plain
    batch normalisation.

    The clipping bounds follow the paper's schedule: plain batch norm
    (``r_max=1, d_max=0``) for the first ``warmup_steps`` training steps,
    then relaxed linearly to ``r_max`` at step ``r_max_steps`` and to
    ``d_max`` at step ``d_max_steps`` (the paper: 5000, 40k, 25k).

    Parameters
    ----------
    num_features : int
        Number of channels (axis 1 of the input).
    eps : float, default=1e-3
        Added to the variance before the square root (TensorFlow's default,
        the framework of seed 001).
    momentum : float, default=0.01
        Update rate of the moving averages, ``mu <- mu + momentum (mu_B -
        mu)`` (PyTorch convention; TensorFlow's ``renorm_momentum=0.99``).
    r_max, d_max : float, default=3.0, 5.0
        Final clipping bounds (Ioffe 2017, Sect. 4).
    warmup_steps, r_max_steps, d_max_steps : int, default=5000, 40000, 25000
        The schedule of the bounds, in training steps (forward passes in
        training mode).
    affine : bool, default=True
        Learn a scale ``gamma`` and shift ``beta`` per channel.

    Notes
    -----
    Input of shape ``(N, C)`` or ``(N, C, ...)``; statistics are per channel
    over every other axis. The moving averages start at the statistics of
    the first training batch (not at 0 and 1), so that a short training
    run, far from converging averages with ``momentum=0.01``, still
    evaluates on the scale of its data (input pixels are in ADU, thousands).
    Buffers: ``running_mean``, ``running_std`` and ``num_batches_tracked``
    (the step counter of the schedule).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-3,
        momentum: float = 0.01,
        r_max: float = 3.0,
        d_max: float = 5.0,
        warmup_steps: int = 5000,
        r_max_steps: int = 40000,
        d_max_steps: int = 25000,
        affine: bool = True,
    ):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.r_max = r_max
        self.d_max = d_max
        self.warmup_steps = warmup_steps
        self.r_max_steps = r_max_steps
        self.d_max_steps = d_max_steps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_std", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def current_bounds(self) -> tuple[float, float]:
        """``(r_max, d_max)`` at the current training step of the schedule."""
        step = int(self.num_batches_tracked)
        if step < self.warmup_steps:
            return 1.0, 0.0

        def ramp(end: int, final: float, start_value: float) -> float:
            if end <= self.warmup_steps or step >= end:
                return final
            frac = (step - self.warmup_steps) / (end - self.warmup_steps)
            return start_value + frac * (final - start_value)

        return ramp(self.r_max_steps, self.r_max, 1.0), ramp(
            self.d_max_steps, self.d_max, 0.0
        )

    def _shape(self, x: torch.Tensor) -> list[int]:
        return [1, self.num_features] + [1] * (x.dim() - 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchRenorm({self.num_features}) expects input (N, "
                f"{self.num_features}, ...); got shape {tuple(x.shape)}."
            )
        shape = self._shape(x)
        if self.training:
            if x.shape[0] * (x[0, 0].numel()) < 2:
                raise ValueError(
                    "BatchRenorm needs more than one value per channel in training "
                    f"(got input of shape {tuple(x.shape)}); use a larger batch."
                )
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=dims)
            std = torch.sqrt(x.var(dim=dims, unbiased=False) + self.eps)
            r_max, d_max = self.current_bounds()
            with torch.no_grad():
                if int(self.num_batches_tracked) == 0:
                    # start the moving averages at the first batch's statistics
                    self.running_mean.copy_(mean)
                    self.running_std.copy_(std)
                r = (std / self.running_std).clamp(1.0 / r_max, r_max)
                d = ((mean - self.running_mean) / self.running_std).clamp(-d_max, d_max)
                self.running_mean.add_(self.momentum * (mean - self.running_mean))
                self.running_std.add_(self.momentum * (std - self.running_std))
                self.num_batches_tracked.add_(1)
            x_hat = (x - mean.view(shape)) / std.view(shape) * r.view(shape) + d.view(
                shape
            )
        else:  # one affine map: gamma (x - mu) / sigma + beta
            scale = 1.0 / self.running_std
            shift = -self.running_mean * scale
            if self.affine:
                scale = scale * self.weight
                shift = shift * self.weight + self.bias
            return torch.addcmul(shift.view(shape), x, scale.view(shape))
        if self.affine:
            x_hat = x_hat * self.weight.view(shape) + self.bias.view(shape)
        return x_hat

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"r_max={self.r_max}, d_max={self.d_max}"
        )


class SequenceRCNNModule(nn.Module):
    """Recurrent convolutional network over image sequences (seed 001, Table 3.3).

    At step ``k`` the network sees the window of ``n_window`` consecutive
    stamps ending at epoch ``k + n_window - 1`` (a ``(n_window, H, W)``
    tensor) and the ``n_window`` time differences between those epochs and
    the first epoch of the sequence:

    ======================  ===================================  ==================
    layer                   parameters                           output (C, H, W)
    ======================  ===================================  ==================
    BatchRenorm (input)     n_window means and stds              (n_w, 21, 21)
    3 x [Conv, ReLU, BRN]   3x3, n_filters, stride 1, same pad   (64, 21, 21)
    MaxPool                 2x2, stride 2, ceil                  (64, 11, 11)
    3 x [Conv, ReLU, BRN]   3x3, n_filters                       (64, 11, 11)
    MaxPool                 2x2, stride 2, ceil                  (64, 6, 6)
    Dense + ReLU + dropout  2304 -> 1024                         1024
    LSTM                    1024 + n_w -> 512, zero initial      512
    Dense (softmax)         512 -> 7                             7
    ======================  ===================================  ==================

    Parameters
    ----------
    n_classes : int, default=7
        Number of classes (HiTS: SN, RRL, CEP, EB, NV, GAL, AST).
    n_window : int, default=3
        Stamps per window ``n_w``.
    stamp_size : int, default=21
        Side of the stamps, in pixels.
    n_filters : int, default=64
        Filters of every convolution.
    n_hidden : int, default=1024
        Units of the dense layer after the CNN.
    n_lstm : int, default=512
        Units of the LSTM.
    dropout : float, default=0.5
        Dropout probability after the dense layer.
    renorm_r_max, renorm_d_max : float, default=3.0, 5.0
        Final clipping bounds of every :class:`BatchRenorm`.
    renorm_schedule : tuple of 3 int, default=(5000, 40000, 25000)
        ``(warmup_steps, r_max_steps, d_max_steps)`` of every
        :class:`BatchRenorm`, in training steps.
    renorm_momentum : float, default=0.01
        Moving-average update rate of every :class:`BatchRenorm`.

    Notes
    -----
    :meth:`forward` takes the whole padded batch; :meth:`encode_windows` and
    :meth:`step` are the two halves used for streaming, one window at a time.
    Padded windows are dropped before the CNN, so they never enter the
    batch statistics; padding sits at the end of each sequence, so the
    (causal) LSTM outputs at valid steps do not depend on it.
    """

    def __init__(
        self,
        n_classes: int = 7,
        n_window: int = 3,
        stamp_size: int = 21,
        n_filters: int = 64,
        n_hidden: int = 1024,
        n_lstm: int = 512,
        dropout: float = 0.5,
        renorm_r_max: float = 3.0,
        renorm_d_max: float = 5.0,
        renorm_schedule: tuple[int, int, int] = (5000, 40000, 25000),
        renorm_momentum: float = 0.01,
    ):
        super().__init__()
        self.n_classes = n_classes
        self.n_window = n_window
        self.stamp_size = stamp_size
        self.n_filters = n_filters
        self.n_hidden = n_hidden
        self.n_lstm = n_lstm
        warmup, r_steps, d_steps = renorm_schedule

        def brn(n: int) -> BatchRenorm:
            return BatchRenorm(
                n,
                momentum=renorm_momentum,
                r_max=renorm_r_max,
                d_max=renorm_d_max,
                warmup_steps=warmup,
                r_max_steps=r_steps,
                d_max_steps=d_steps,
            )

        layers: list[nn.Module] = [brn(n_window)]
        in_ch = n_window
        for _block in range(2):
            for _conv in range(3):
                layers += [
                    nn.Conv2d(in_ch, n_filters, kernel_size=3, stride=1, padding=1),
                    nn.ReLU(),
                    brn(n_filters),
                ]
                in_ch = n_filters
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        self.cnn = nn.Sequential(*layers)
        side = stamp_size
        for _pool in range(2):  # two ceil-mode 2x2 poolings: 21 -> 11 -> 6
            side = -(-side // 2)
        self.n_flat = n_filters * side * side
        self.dense = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.n_flat, n_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.lstm = nn.LSTM(n_hidden + n_window, n_lstm, batch_first=True)
        self.output = nn.Linear(n_lstm, n_classes)

    # -- the two halves, also used by the streaming API ---------------------
    def encode_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """Features ``(N, n_hidden)`` of windows ``(N, n_window, H, W)``."""
        return self.dense(self.cnn(windows))

    def step(
        self,
        features: torch.Tensor,
        dt: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Advance the LSTM by one window.

        Parameters
        ----------
        features : tensor of shape (N, n_hidden)
            Output of :meth:`encode_windows`.
        dt : tensor of shape (N, n_window)
            Days between each epoch of the window and the first epoch.
        state : (h, c), each of shape (N, n_lstm), optional
            LSTM state; zeros when None (the start of a sequence).

        Returns
        -------
        logits : tensor of shape (N, n_classes)
        state : (h, c)

        Notes
        -----
        One :func:`torch.lstm_cell` with the weights of :attr:`lstm`: the same
        computation as :meth:`forward`'s :class:`torch.nn.LSTM`, without the
        sequence machinery (faster for one step).
        """
        inp = torch.cat([features, dt.to(features.dtype)], dim=1)
        if state is None:
            zeros = inp.new_zeros(inp.shape[0], self.n_lstm)
            state = (zeros, zeros)
        lstm = self.lstm
        h, c = torch.lstm_cell(
            inp,
            state,
            lstm.weight_ih_l0,
            lstm.weight_hh_l0,
            lstm.bias_ih_l0,
            lstm.bias_hh_l0,
        )
        return self.output(h), (h, c)

    # -- the whole padded batch --------------------------------------------
    def forward(
        self, stamps: torch.Tensor, dt: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at every step.

        Parameters
        ----------
        stamps : tensor of shape (N, T, H, W)
            Pre-processed stamps, valid epochs first (left-aligned).
        dt : tensor of shape (N, T)
            Days since the first epoch of each sequence (0 at padding).
        mask : bool tensor of shape (N, T)
            Valid epochs.

        Returns
        -------
        logits : tensor of shape (N, T - n_window + 1, n_classes)
            Step ``k`` is the prediction after epoch ``k + n_window - 1``;
            zeros at padded steps.
        step_mask : bool tensor of shape (N, T - n_window + 1)
            Valid steps (every epoch of the window valid).
        """
        n_w = self.n_window
        n, t = stamps.shape[:2]
        if t < n_w:
            raise ValueError(
                f"sequences of {t} epochs are shorter than the window of {n_w} stamps."
            )
        mask = mask.bool()
        # (N, S, H, W, n_w) -> (N, S, n_w, H, W)
        windows = stamps.unfold(1, n_w, 1).permute(0, 1, 4, 2, 3)
        dt_windows = dt.unfold(1, n_w, 1)  # (N, S, n_w)
        step_mask = mask.unfold(1, n_w, 1).all(dim=2)
        n_steps = windows.shape[1]
        feats = self.encode_windows(windows[step_mask])
        seq_feats = feats.new_zeros(n, n_steps, feats.shape[1])
        seq_feats[step_mask] = feats
        seq_in = torch.cat([seq_feats, dt_windows.to(feats.dtype)], dim=2)
        out, _ = self.lstm(seq_in)
        logits = self.output(out)
        logits = logits * step_mask[..., None].to(logits.dtype)
        return logits, step_mask


class MaskedStepCrossEntropy(nn.Module):
    """Cross-entropy summed over the valid steps of each sequence (seed 001 §3.2.4).

    ``loss = mean over sequences of sum over valid steps of CE(step)``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        How the per-sequence sums are combined over the batch.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(
        self, y_pred: tuple[torch.Tensor, torch.Tensor], y_true: torch.Tensor
    ) -> torch.Tensor:
        logits, step_mask = y_pred
        n, s, c = logits.shape
        target = y_true.long()[:, None].expand(n, s)
        ce = F.cross_entropy(
            logits.reshape(n * s, c), target.reshape(n * s), reduction="none"
        ).reshape(n, s)
        per_seq = (ce * step_mask.to(ce.dtype)).sum(dim=1)
        if self.reduction == "mean":
            return per_seq.mean()
        if self.reduction == "sum":
            return per_seq.sum()
        return per_seq
