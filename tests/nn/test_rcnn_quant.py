"""Tests of the reduced-precision (int8 / bfloat16) SequenceRCNN stream."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from skastro.datasets import make_hits_sequences
from skastro.nn import SequenceRCNN
from skastro.nn._rcnn_quant import quantized_stream_step

SMALL = {
    "module__n_filters": 4,
    "module__n_hidden": 32,
    "module__n_lstm": 16,
    "module__renorm_schedule": (0, 0, 0),
}


@pytest.fixture(scope="module")
def fitted():
    X, y = make_hits_sequences(3, n_epochs=8, return_X_y=True, random_state=0)
    net = SequenceRCNN(
        **SMALL,
        max_epochs=2,
        batch_size=8,
        lr=3e-3,
        asinh_softening=2.5,
        train_split=None,
        random_state=0,
    ).fit(X, y)
    return net, X


def _stream_all(net, X, precision):
    out = []
    for i in range(len(X["mask"])):
        s = net.stream(precision=precision)
        for t in range(X["stamps"].shape[1]):
            out.append(
                s.update(
                    X["stamps"][i, t],
                    X["mjd"][i, t],
                    sky=X["sky"][i, t],
                    zero_point=X["zero_point"][i, t],
                )
            )
    return np.array(out)


@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
def test_quantized_stream_close_to_float32(fitted, precision):
    """Per-step probabilities within 1e-2 of the float32 stream."""
    net, X = fitted
    ref = _stream_all(net, X, "float32")
    got = _stream_all(net, X, precision)
    ok = np.isfinite(ref).all(axis=1)
    assert ok.sum() == len(X["mask"]) * (X["stamps"].shape[1] - 2)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
    assert np.abs(got[ok] - ref[ok]).max() < 1e-2
    np.testing.assert_allclose(got[ok].sum(axis=1), 1.0, atol=1e-5)


def test_quantized_plan_follows_weight_changes(fitted):
    """A changed state dict rebuilds the int8 plan; pickling works without it."""
    net, X = fitted
    module = net.module_
    w = torch.from_numpy(X["stamps"][:1, :3].astype(np.float32)) / 100.0
    dt = torch.tensor([[0.0, 0.1, 0.2]])
    with torch.inference_mode():
        a, _ = quantized_stream_step(module, w, dt, precision="int8")
    saved = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        module.output.bias.add_(1.0)
    with torch.inference_mode():
        b, _ = quantized_stream_step(module, w, dt, precision="int8")
        ref, _ = module.stream_step(w, dt)
    module.load_state_dict(saved)
    assert torch.allclose(b - a, torch.ones_like(a), atol=1e-5)
    assert torch.allclose(b, ref, atol=5e-2)
    clone = pickle.loads(pickle.dumps(net))
    p = clone.stream(precision="int8")
    assert p.precision == "int8"


def test_quantized_stream_bad_precision(fitted):
    """An unknown precision is refused with the allowed values."""
    net, _ = fitted
    with pytest.raises(ValueError, match="precision must be one of"):
        net.stream(precision="int4")
    with pytest.raises(ValueError, match="'int8' or 'bfloat16'"):
        from skastro.nn._rcnn_quant import QuantizedStreamPlan

        QuantizedStreamPlan(net.module_, "float16")
