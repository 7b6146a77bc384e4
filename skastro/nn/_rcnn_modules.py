"""Networks for image-sequence classification (Carrasco-Davis et al. 2019, Table 3.3).

Plain :class:`torch.nn.Module` classes, usable without skorch:

- :class:`BatchRenorm` -- batch renormalisation (Ioffe 2017), which PyTorch
  does not ship;
- :class:`SequenceRCNNModule` -- the recurrent convolutional network of
  Carrasco-Davis et al. (2019, Table 3.3): a CNN over sliding windows of
  ``n_window`` consecutive stamps, a dense layer, an LSTM fed with the CNN
  features and the window's time differences, and a softmax at every step;
- :class:`MaskedStepCrossEntropy` -- the loss: cross-entropy summed over the
  valid steps of each sequence (padding masked out), averaged over sequences.

The streaming path (:meth:`SequenceRCNNModule.stream_step`) runs on a private
:class:`_StreamPlan`: the evaluation-mode network with the batch
renormalisations folded into the neighbouring layers, cached on the module
and rebuilt whenever a weight or moving average changes.
"""

from __future__ import annotations

import warnings
from typing import Any

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
        the framework of Carrasco-Davis et al. (2019)).
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

    def eval_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The evaluation-mode map as ``y = scale * x + shift``.

        Returns
        -------
        scale, shift : tensors of shape (num_features,)
            ``gamma / sigma`` and ``beta - gamma mu / sigma`` (``gamma = 1``,
            ``beta = 0`` without ``affine``).
        """
        scale = 1.0 / self.running_std
        shift = -self.running_mean * scale
        if self.affine:
            scale = scale * self.weight
            shift = shift * self.weight + self.bias
        return scale, shift

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
            scale, shift = self.eval_affine()
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
    """Recurrent convolutional network over image sequences (Carrasco-Davis et al. 2019, Table 3.3).

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
    n_outputs : int, default=7
        Number of classes, one logit each (HiTS: SN, RRL, CEP, EB, NV, GAL,
        AST).
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
    n_classes : int, optional
        Deprecated name of ``n_outputs`` (removed in the next release).

    Notes
    -----
    :meth:`forward` takes the whole padded batch; :meth:`encode_windows` and
    :meth:`step` are its two halves for one window at a time, and
    :meth:`stream_step` their evaluation-mode composition with folded
    weights, used for streaming.
    Padded windows are dropped before the CNN, so they never enter the
    batch statistics; padding sits at the end of each sequence, so the
    (causal) LSTM outputs at valid steps do not depend on it.
    """

    def __init__(
        self,
        n_outputs: int = 7,
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
        *,
        n_classes: int | None = None,
    ):
        super().__init__()
        if n_classes is not None:
            warnings.warn(
                "SequenceRCNNModule(n_classes=...) is deprecated and will be removed "
                f"in the next release; use n_outputs={n_classes!r}.",
                FutureWarning,
                stacklevel=2,
            )
            n_outputs = n_classes
        self.n_outputs = n_outputs
        self.n_window = n_window
        self.stamp_size = stamp_size
        self.n_filters = n_filters
        self.n_hidden = n_hidden
        self.n_lstm = n_lstm
        # the settings of every batch renormalisation
        schedule = ("warmup_steps", "r_max_steps", "d_max_steps")
        if len(renorm_schedule) != len(schedule):
            raise ValueError(
                "renorm_schedule must be 3 step counts (warmup, r_max ramp, "
                f"d_max ramp); got {renorm_schedule!r}."
            )
        renorm = dict(zip(schedule, renorm_schedule))
        renorm.update(momentum=renorm_momentum, r_max=renorm_r_max, d_max=renorm_d_max)
        layers: list[nn.Module] = [BatchRenorm(n_window, **renorm)]
        in_ch = n_window
        for _block in range(2):
            for _conv in range(3):
                layers += [
                    nn.Conv2d(in_ch, n_filters, kernel_size=3, stride=1, padding=1),
                    nn.ReLU(),
                    BatchRenorm(n_filters, **renorm),
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
        self.output = nn.Linear(n_lstm, n_outputs)

    @property
    def n_classes(self) -> int:
        """Deprecated alias of ``n_outputs``."""
        warnings.warn(
            "SequenceRCNNModule.n_classes was renamed n_outputs; n_classes will be "
            "removed in the next release.",
            FutureWarning,
            stacklevel=2,
        )
        return self.n_outputs

    # -- the two halves, one window at a time --------------------------------
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
        logits : tensor of shape (N, n_outputs)
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

    def stream_step(
        self,
        windows: torch.Tensor,
        dt: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Evaluation-mode :meth:`encode_windows` + :meth:`step`, for streaming.

        Parameters
        ----------
        windows : tensor of shape (N, n_window, H, W)
            One window of pre-processed stamps per sequence.
        dt, state
            As for :meth:`step`.

        Returns
        -------
        logits, state
            As for :meth:`step`.

        Notes
        -----
        Always the evaluation-mode network (moving averages, no dropout),
        whatever :attr:`training` is, without switching the mode. It runs a
        cached :class:`_StreamPlan` with the batch renormalisations folded
        into the neighbouring layers: equal to ``eval()`` then
        ``step(encode_windows(windows), dt, state)`` to float rounding, about
        1.5x faster for one window on a CPU. The plan is rebuilt when any
        parameter or buffer changes (optimiser step, training pass,
        ``load_state_dict``, move to another device or dtype) and is not
        pickled. Call it under :func:`torch.inference_mode` or
        :func:`torch.no_grad`.
        """
        plan = self.__dict__.get("_stream_plan")
        if plan is None or not plan.is_current(self):
            plan = _StreamPlan.build(self)
            self.__dict__["_stream_plan"] = plan
        return plan(self, windows, dt, state)

    def __getstate__(self) -> dict:
        # the folded weights are a cache: rebuilt on first use after loading
        state = super().__getstate__()
        state.pop("_stream_plan", None)
        return state

    def __setstate__(self, state: dict) -> None:
        # networks pickled before n_classes was renamed n_outputs
        if "n_classes" in state:
            state.setdefault("n_outputs", state.pop("n_classes"))
        super().__setstate__(state)

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
        logits : tensor of shape (N, T - n_window + 1, n_outputs)
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


# gather rows of a weight matrix (rather than read it all) below this density,
# for matrices of at least this many bytes (smaller ones stay in the cache,
# where one dense product is faster: 0.5 MiB, 2x; 4 MiB, 1.5-2.5x slower)
_SPARSE_MAX_DENSITY = 0.8
_SPARSE_MIN_BYTES = 1 << 20


def lstm_output(
    gates: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor] | None,
    output: tuple[torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The end of one LSTM step of a stream plan, from the gate
    pre-activations ``(N, 4 n_lstm)`` (PyTorch's i, f, g, o order): the new
    ``(h, c)`` and the logits ``output`` (weight, bias) give on ``h``.
    ``state=None`` is the zero state."""
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(i).mul_(torch.tanh(g))
    if state is not None:
        c = c.addcmul_(torch.sigmoid(f), state[1])
    h = torch.sigmoid(o).mul_(torch.tanh(c))
    return F.linear(h, *output), (h, c)


class _Unsupported(Exception):
    """A layer the stream plan cannot fold; the plan falls back to the module."""


class _StreamPlan:
    r"""The evaluation-mode :class:`SequenceRCNNModule`, folded for streaming.

    Equal to ``module.eval()`` then ``step(encode_windows(w), dt, state)`` to
    float rounding, with fewer and cheaper operations:

    - every :class:`BatchRenorm` is the affine map :math:`s x + t`
      (:meth:`BatchRenorm.eval_affine`); after ``Conv -> ReLU`` with every
      :math:`s > 0` the scale folds into the convolution,
      :math:`s\,\mathrm{relu}(z) = \mathrm{relu}(s z)`; a shift (or an
      affine map with :math:`s > 0`) moves past a max pooling,
      :math:`\max(x + t) = \max(x) + t`; the one ending the CNN folds into
      the dense layer, :math:`W (s r + t) + b = (W s) r + (W t + b)`. The
      shifts feeding a zero-padded convolution stay (folding them would
      change the border), as does the input renormalisation;
    - convolutions run in channels-last memory order (oneDNN's fast path on
      CPU), and the dense layer's columns are permuted to read the
      channels-last features without a copy;
    - dropout is the identity; the LSTM cell's weights are stored
      transposed, and :math:`W_{hh} h` is skipped at a zero state;
    - on a CPU, for one window, the dense layer and the LSTM read only the
      weight rows whose input is not 0 (see :meth:`_matvec`).

    It records the identity, storage address and version counter of every
    parameter and buffer of the module: :meth:`is_current` is False after
    any in-place change (optimiser step, moving-average update,
    ``load_state_dict``), a move to another device or dtype, or a replaced
    layer or parameter. A network with layers it does not know runs
    through the module itself (in evaluation mode). The plan holds no
    reference to the module (no cycle through the module's ``__dict__``).
    """

    def __init__(self, module: SequenceRCNNModule):
        self.key = self._key(module)
        self.folded = False

    @staticmethod
    def _key(module: nn.Module) -> list[int]:
        # checked on every streamed alert: a plain walk of the module tree
        # (``module.modules()``, a generator with a memo set, took longer
        # than the reduced network's LSTM step); every layer's identity, then
        # each parameter's and buffer's identity, storage and version
        key: list[int] = []
        add = key.append
        stack: list[Any] = [module]
        while stack:
            mod = stack.pop()
            if mod is None:  # a child slot set to None
                continue
            attrs = mod.__dict__
            add(id(mod))
            for tensors in (attrs["_parameters"], attrs["_buffers"]):
                for t in tensors.values():
                    if t is not None:
                        add(id(t))
                        add(t.data_ptr())
                        add(t._version)
            stack.extend(attrs["_modules"].values())
        return key

    def is_current(self, module: SequenceRCNNModule) -> bool:
        """Whether no parameter or buffer changed since the plan was built."""
        return self._key(module) == self.key

    @classmethod
    def build(cls, module: SequenceRCNNModule) -> _StreamPlan:
        plan = cls(module)
        try:
            # ordinary tensors even when called under inference_mode, so the
            # plan also serves calls under no_grad
            with torch.inference_mode(False), torch.no_grad():
                plan._fold(module)
        except _Unsupported:
            plan.folded = False
        return plan

    # -- building -----------------------------------------------------------
    def _fold(self, m: SequenceRCNNModule) -> None:
        cnn = self._fold_cnn(self._parse_cnn(list(m.cnn)))
        tail = None
        if cnn and cnn[-1][0] in ("affine", "shift"):
            tail = cnn.pop()
        dense_layers = list(m.dense)
        if not (
            len(dense_layers) >= 2
            and isinstance(dense_layers[0], nn.Flatten)
            and dense_layers[0].start_dim == 1
            and dense_layers[0].end_dim == -1
            and isinstance(dense_layers[1], nn.Linear)
        ):
            raise _Unsupported(dense_layers[:2])
        for op in cnn:
            if op[0] == "conv":
                op[1] = op[1].contiguous(memory_format=torch.channels_last)
        self.cnn_ops = cnn
        # the CNN's output shape (C, H, W), from a dry run
        ref = next(iter(m.parameters()))
        probe = ref.new_zeros(1, m.n_window, m.stamp_size, m.stamp_size)
        c, h, w = self._run_cnn(probe).shape[1:]
        lin = dense_layers[1]
        weight, bias = lin.weight, lin.bias
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        if weight.shape[1] != c * h * w:
            raise _Unsupported(lin)
        if tail is not None:  # W (s r + t) + b = (W s) r + (W t + b), NCHW order
            scale = (
                tail[1].reshape(c, 1, 1).expand(c, h, w).reshape(-1)
                if tail[0] == "affine"
                else None
            )
            shift = tail[-1].reshape(c, 1, 1).expand(c, h, w).reshape(-1)
            bias = bias + weight @ shift
            if scale is not None:
                weight = weight * scale
        # columns in channels-last (H, W, C) order; stored transposed (in, out)
        weight = weight.reshape(-1, c, h, w).permute(0, 2, 3, 1).reshape(-1, c * h * w)
        self.dense_wt = weight.t().contiguous()
        self.dense_bias = bias.clone()
        ops = []
        for layer in dense_layers[2:]:
            if isinstance(layer, nn.ReLU):
                ops.append("relu")
            elif not isinstance(layer, nn.Dropout):  # dropout: identity in eval
                raise _Unsupported(layer)
        self.dense_ops = ops
        lstm = m.lstm
        if (
            not isinstance(lstm, nn.LSTM)
            or lstm.num_layers != 1
            or lstm.bidirectional
            or lstm.proj_size
            or not lstm.bias
        ):
            raise _Unsupported(lstm)
        n_feat = lstm.input_size - m.n_window
        w_ih = lstm.weight_ih_l0
        # transposed (in, 4 n_lstm): rows are what a sparse input gathers
        self.ih_wt = w_ih[:, :n_feat].t().contiguous()
        self.dt_wt = w_ih[:, n_feat:].t().contiguous()
        self.hh_wt = lstm.weight_hh_l0.t().contiguous()
        self.lstm_bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
        self.output = (m.output.weight, m.output.bias)
        self.sparse = self.dense_wt.device.type == "cpu"
        self.folded = True

    @staticmethod
    def _parse_cnn(layers: list[nn.Module]) -> list[list[Any]]:
        ops: list[list[Any]] = []
        for layer in layers:
            if isinstance(layer, BatchRenorm):
                ops.append(["affine", *layer.eval_affine()])
            elif isinstance(layer, nn.Conv2d) and layer.padding_mode == "zeros":
                ops.append(
                    [
                        "conv",
                        layer.weight,
                        layer.bias,
                        layer.stride,
                        layer.padding,
                        layer.dilation,
                        layer.groups,
                    ]
                )
            elif isinstance(layer, nn.ReLU):
                ops.append(["relu"])
            elif isinstance(layer, nn.MaxPool2d) and not layer.return_indices:
                ops.append(
                    [
                        "pool",
                        layer.kernel_size,
                        layer.stride,
                        layer.padding,
                        layer.dilation,
                        layer.ceil_mode,
                    ]
                )
            else:
                raise _Unsupported(layer)
        return ops

    @staticmethod
    def _fold_cnn(ops: list[list[Any]]) -> list[list[Any]]:
        ops = [list(op) for op in ops]
        # Conv -> ReLU -> affine(s > 0)  =>  Conv(s W, s b) -> ReLU -> shift(t)
        i = 0
        while i + 2 < len(ops):
            conv, relu, aff = ops[i : i + 3]
            if (
                conv[0] == "conv"
                and relu[0] == "relu"
                and aff[0] == "affine"
                and conv[6] == 1
                and bool((aff[1] > 0).all())
            ):
                s = aff[1]
                conv[1] = conv[1] * s.reshape(-1, 1, 1, 1)
                conv[2] = None if conv[2] is None else conv[2] * s
                ops[i + 2] = ["shift", aff[2]]
                i += 3
            else:
                i += 1
        # shift, or affine with s > 0, then max pool  =>  max pool, then it
        moved = True
        while moved:
            moved = False
            for i in range(len(ops) - 1):
                a, b = ops[i], ops[i + 1]
                if b[0] == "pool" and (
                    a[0] == "shift" or (a[0] == "affine" and bool((a[1] > 0).all()))
                ):
                    ops[i], ops[i + 1] = b, a
                    moved = True
        # consecutive shifts add up
        out: list[list[Any]] = []
        for op in ops:
            if op[0] == "shift" and out and out[-1][0] == "shift":
                out[-1] = ["shift", out[-1][1] + op[1]]
            else:
                out.append(op)
        for op in out:  # broadcast over (N, C, H, W)
            if op[0] in ("affine", "shift"):
                op[1:] = [t.reshape(1, -1, 1, 1).clone() for t in op[1:]]
        return out

    # -- running ------------------------------------------------------------
    def _run_cnn(self, x: torch.Tensor) -> torch.Tensor:
        owned = False  # may x be overwritten in place?
        for op in self.cnn_ops:
            kind = op[0]
            if kind == "conv":
                if not x.is_contiguous(memory_format=torch.channels_last):
                    x = x.contiguous(memory_format=torch.channels_last)
                x = F.conv2d(x, *op[1:])
                owned = True
            elif kind == "relu":
                x = x.relu_() if owned else torch.relu(x)
                owned = True
            elif kind == "shift":
                x = x.add_(op[1]) if owned else x + op[1]
                owned = True
            elif kind == "affine":
                x = torch.addcmul(op[2], x, op[1])
                owned = True
            else:  # pool
                x = F.max_pool2d(x, *op[1:])
                owned = True
        return x

    def __call__(
        self,
        m: SequenceRCNNModule,
        windows: torch.Tensor,
        dt: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Logits and LSTM state of ``m`` (the module the plan was built from)."""
        if not self.folded:
            was_training = m.training
            m.eval()
            try:
                windows = windows.to(m.output.weight.dtype)
                return m.step(m.encode_windows(windows), dt, state)
            finally:
                m.train(was_training)
        x = self._run_cnn(windows.to(self.dense_wt.dtype))
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (N, H*W*C)
        x = self._matvec(x, self.dense_wt, self.dense_bias)
        for _op in self.dense_ops:  # only ReLU
            x = x.relu_()
        # the LSTM cell (PyTorch's gate order i, f, g, o)
        gates = self._matvec(x, self.ih_wt, self.lstm_bias)
        gates = gates.addmm_(dt.to(x.dtype), self.dt_wt)
        if state is not None:  # zero state: W_hh h = 0
            gates = gates.addmm_(state[0], self.hh_wt)
        return lstm_output(gates, state, self.output)

    def _matvec(
        self, x: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        """``x @ wt + bias``; for one row on a CPU, only the rows of ``wt``
        where ``x`` is not 0 are read.

        The dense layer and the LSTM of the full network read 22 MB of
        weights per window, more than a core's share of cache: their cost is
        memory traffic. Their inputs follow a ReLU (and a max pooling), so a
        fraction of the entries is exactly 0; skipping those rows
        (:func:`torch.embedding_bag` with the values as weights) gives the
        same sum in another order. Matrices under 1 MiB (the reduced network
        shipped as ``"sequence-rcnn-hits-sim"``) stay in the cache and take
        one dense product, which is faster there.
        """
        if (
            self.sparse
            and x.shape[0] == 1
            and wt.numel() * wt.element_size() >= _SPARSE_MIN_BYTES
        ):
            idx = x[0].nonzero().squeeze(1)
            if idx.numel() <= _SPARSE_MAX_DENSITY * x.shape[1]:
                out = F.embedding_bag(
                    idx[None], wt, per_sample_weights=x[0, idx][None], mode="sum"
                )
                return out.add_(bias)
        return torch.addmm(bias, x, wt)


class MaskedStepCrossEntropy(nn.Module):
    """Cross-entropy summed over the valid steps of each sequence (Carrasco-Davis et al. 2019, §3.2.4).

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
