"""Reduced-precision streaming for SequenceRCNN: the dense layer and LSTM in int8 or bf16.

The float32 stream (:meth:`SequenceRCNNModule.stream_step`) spends most of
an alert of the full network (Carrasco-Davis et al. 2019, Table 3.3) in
the 2304→1024 dense layer and the LSTM, whose 22 MB of float32 weights are
read once per alert and do not fit in a core's share of the cache. Here
those weights are stored in 8 bits (``"int8"``: symmetric, one scale per
output row, applied with :func:`torch._weight_int8pack_mm` on bfloat16
activations) or 16 bits (``"bfloat16"``), 4 or 2 times less memory
traffic; the convolutions, the pre-processing and the LSTM state stay in
float32 (the CNN of the folded float32 plan is reused as it is).

The per-step probabilities differ from float32 by the rounding of the
weights (about 0.4 % of a weight for int8, 0.2 % for bfloat16) and of the
activations (bfloat16, 0.4 %); ``benchmarks/bench_rcnn.py`` measures the
largest difference over a test set and the latency. On the shipped
``"sequence-rcnn-hits-sim"`` network: 3.7e-3 for bfloat16 and 1.6e-2 for
int8, over the 1e-2 goal. The int8 kernel takes bfloat16 activations and
rounds its outputs to bfloat16 too; with float32 activations and outputs
the int8 weights alone give 6.0e-3, but that kernel is ten times slower
than float32 (measured; equalising the weight columns before rounding
moved the bfloat16-kernel figure either way on other test sets).
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F

from ._rcnn_modules import SequenceRCNNModule, _StreamPlan, lstm_output

__all__ = ["PRECISIONS", "quantized_stream_step"]

#: Precisions of the dense layer and the LSTM in the stream.
PRECISIONS = ("float32", "int8", "bfloat16")

# plans per module, outside the module so that pickling the module does not
# carry them (they are rebuilt from the weights on first use)
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 rows of ``weight`` (out, in) and their scales (out,)."""
    # scales rounded up to bfloat16 (the dtype the kernel takes them in) before
    # quantising, so that they are exact: no error common to a whole row
    scale = (weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0).to(torch.bfloat16)
    up = scale.to(torch.float32) < weight.abs().amax(dim=1) / 127.0
    scale = torch.where(up, torch.nextafter(scale, torch.full_like(scale, 1e30)), scale)
    q = torch.round(weight / scale.to(torch.float32)[:, None]).clamp_(-127, 127)
    return q.to(torch.int8).contiguous(), scale


class _Linear:
    """``x @ W.T`` for one precision; ``W`` of shape (out, in), float32."""

    def __init__(self, weight: torch.Tensor, precision: str):
        self.precision = precision
        if precision == "int8":
            self.q, self.scale = _int8_rows(weight)
        else:  # bfloat16
            self.w = weight.to(torch.bfloat16).contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        xb = x.to(torch.bfloat16)
        if self.precision == "int8":
            out = torch._weight_int8pack_mm(xb, self.q, self.scale)
        else:
            out = F.linear(xb, self.w)
        return out.to(torch.float32)


class QuantizedStreamPlan:
    """The folded stream of :class:`SequenceRCNNModule` with a reduced-precision
    dense layer and LSTM.

    Parameters
    ----------
    module : SequenceRCNNModule
    precision : {"int8", "bfloat16"}

    Notes
    -----
    Built from the float32 :class:`~skastro.nn._rcnn_modules._StreamPlan`
    (batch renormalisations folded, channels-last convolutions): its CNN runs
    as it is, its dense and LSTM weights (already folded, stored transposed)
    are rounded. Biases, the ``dt`` columns of the LSTM and the output layer
    stay float32. Rebuilt when any parameter or buffer of the module changes
    (same test as the float32 plan).
    """

    def __init__(self, module: SequenceRCNNModule, precision: str):
        if precision not in ("int8", "bfloat16"):
            raise ValueError(
                f"precision must be 'int8' or 'bfloat16'; got {precision!r}."
            )
        if precision == "int8" and not hasattr(torch, "_weight_int8pack_mm"):
            raise RuntimeError(
                "precision='int8' needs torch._weight_int8pack_mm (PyTorch >= 2.3); "
                "use precision='bfloat16' or 'float32'."
            )
        base = _StreamPlan.build(module)
        if not base.folded:
            raise ValueError(
                "this network has layers the stream plan cannot fold; use "
                "precision='float32'."
            )
        self.key = base.key
        self.base = base
        self.precision = precision
        with torch.no_grad():
            self.dense = _Linear(base.dense_wt.t(), precision)
            self.ih = _Linear(base.ih_wt.t(), precision)
            self.hh = _Linear(base.hh_wt.t(), precision)

    def is_current(self, module: SequenceRCNNModule) -> bool:
        return _StreamPlan._key(module) == self.key

    def __call__(
        self,
        windows: torch.Tensor,
        dt: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        base = self.base
        x = base._run_cnn(windows.to(torch.float32))
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (N, H*W*C)
        x = self.dense(x).add_(base.dense_bias)
        for _op in base.dense_ops:  # only ReLU
            x = x.relu_()
        gates = self.ih(x).add_(base.lstm_bias)
        gates = gates.addmm_(dt.to(torch.float32), base.dt_wt)
        if state is not None:  # zero state: W_hh h = 0
            gates = gates.add_(self.hh(state[0]))
        return lstm_output(gates, state, base.output)


def quantized_stream_step(
    module: SequenceRCNNModule,
    windows: torch.Tensor,
    dt: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    precision: str = "int8",
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """:meth:`SequenceRCNNModule.stream_step` with a reduced-precision dense layer and LSTM.

    Parameters
    ----------
    module : SequenceRCNNModule
    windows : tensor of shape (N, n_window, H, W)
        Pre-processed stamps, float32, on the CPU.
    dt : tensor of shape (N, n_window)
        Days between each epoch of the window and the first epoch.
    state : (h, c), each of shape (N, n_lstm), optional
        LSTM state; zeros when None.
    precision : {"float32", "int8", "bfloat16"}, default="int8"
        ``"float32"`` is ``module.stream_step`` itself.

    Returns
    -------
    logits : tensor of shape (N, n_classes), float32
    state : (h, c), float32
    """
    if precision == "float32":
        return module.stream_step(windows, dt, state)
    plans = _PLANS.setdefault(module, {})
    plan = plans.get(precision)
    if plan is None or not plan.is_current(module):
        if next(module.parameters()).device.type != "cpu":
            raise ValueError(
                f"precision={precision!r} streams on the CPU only; move the network "
                "to the CPU or use precision='float32'."
            )
        with torch.inference_mode(False), torch.no_grad():
            plan = QuantizedStreamPlan(module, precision)
        plans[precision] = plan
    return plan(windows, dt, state)
