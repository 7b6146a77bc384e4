"""Tests for SequenceRCNN's streaming path: the folded plan behind stream_step."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from skorch.helper import SliceDict

from skastro.exceptions import SequenceError
from skastro.nn import BatchRenorm, SequenceRCNN, SequenceRCNNModule, _rcnn_modules

from .test_rcnn import _stream_sequence, make_sequences, small_rcnn

SMALL_MODULE = {"n_filters": 8, "n_hidden": 32, "n_lstm": 16}


def _randomise_renorms(module: torch.nn.Module, seed: int = 0) -> None:
    """Moving averages and scales as after training, some scales negative."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, layer in enumerate(
            m for m in module.modules() if isinstance(m, BatchRenorm)
        ):
            n = layer.num_features
            layer.running_mean.copy_(torch.randn(n, generator=gen))
            layer.running_std.copy_(0.5 + torch.rand(n, generator=gen))
            layer.weight.copy_(0.5 + torch.rand(n, generator=gen))
            if i == 2:  # one renormalisation that cannot fold into its conv
                layer.weight[0] = -0.7
            layer.bias.copy_(0.3 * torch.randn(n, generator=gen))


def _reference(module, windows, dt, state):
    """The unfolded evaluation-mode network."""
    was = module.training
    module.eval()
    with torch.no_grad():
        out = module.step(module.encode_windows(windows), dt, state)
    module.train(was)
    return out


def _assert_step_close(got, want):
    (lg, (h, c)), (lw, (hw, cw)) = got, want
    for a, b in ((lg, lw), (h, hw), (c, cw)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sparse", [True, False], ids=["row-gather", "dense"])
@pytest.mark.parametrize("n", [1, 2])
def test_stream_step_equals_eval_network(sparse, n, monkeypatch):
    """stream_step equals eval() encode_windows + step, with or without a state."""
    # always gather the non-zero rows, or never (the path a GPU takes)
    monkeypatch.setattr(_rcnn_modules, "_SPARSE_MAX_DENSITY", 1.01 if sparse else -1.0)
    monkeypatch.setattr(_rcnn_modules, "_SPARSE_MIN_BYTES", 0 if sparse else 1 << 62)
    torch.manual_seed(0)
    m = SequenceRCNNModule()
    _randomise_renorms(m)
    windows = 3.0 * torch.randn(n, 3, 21, 21)
    dt = torch.tensor([[0.0, 1.5, 2.5]]).repeat(n, 1)
    with torch.inference_mode():
        got = m.stream_step(windows, dt)
        got2 = m.stream_step(windows.flip(0), dt + 1.0, got[1])
    want = _reference(m, windows, dt, None)
    _assert_step_close(got, want)
    _assert_step_close(got2, _reference(m, windows.flip(0), dt + 1.0, want[1]))


def test_plan_folds_renormalisations():
    """Positive-scale renorms fold into their convs; the others stay affine maps."""
    torch.manual_seed(0)
    m = SequenceRCNNModule(**SMALL_MODULE)
    _randomise_renorms(m)
    with torch.inference_mode():
        m.stream_step(torch.randn(1, 3, 21, 21), torch.zeros(1, 3))
    plan = m._stream_plan
    assert plan.folded
    kinds = [op[0] for op in plan.cnn_ops]
    # input affine; conv 1 and 3 fold their scales, conv 2 (negative) does not;
    # the shifts before a pooling move past it; the last one is in the dense bias
    assert kinds == [
        "affine",
        *["conv", "relu", "shift"],
        *["conv", "relu", "affine"],
        *["conv", "relu", "pool", "shift"],
        *["conv", "relu", "shift"] * 2,
        *["conv", "relu", "pool"],
    ]


def test_stream_step_keeps_mode_and_needs_no_eval():
    """A module left in training mode streams in evaluation mode, untouched."""
    torch.manual_seed(1)
    m = SequenceRCNNModule(**SMALL_MODULE)
    _randomise_renorms(m, seed=1)
    m.train()
    windows, dt = torch.randn(1, 3, 21, 21), torch.zeros(1, 3)
    with torch.inference_mode():
        got = m.stream_step(windows, dt)
    assert m.training
    _assert_step_close(got, _reference(m, windows, dt, None))


def test_plan_rebuilt_when_weights_change():
    """Optimiser steps, load_state_dict, replaced layers, dtype moves: new plan."""
    torch.manual_seed(2)
    m = SequenceRCNNModule(**SMALL_MODULE)
    windows, dt = torch.randn(1, 3, 21, 21), torch.zeros(1, 3)

    def check():
        with torch.inference_mode():
            got = m.stream_step(windows.to(m.output.weight.dtype), dt)
        want = _reference(m, windows.to(m.output.weight.dtype), dt, None)
        _assert_step_close(got, want)
        return m._stream_plan

    first = check()
    # a training pass: moving averages and (after the step) weights change
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.train()
    logits, _ = m(
        torch.randn(4, 5, 21, 21), torch.zeros(4, 5), torch.ones(4, 5, dtype=torch.bool)
    )
    logits.sum().backward()
    opt.step()
    assert not first.is_current(m)
    second = check()
    assert second is not first and second.is_current(m)
    state = {k: v + 0.01 for k, v in m.state_dict().items() if v.is_floating_point()}
    m.load_state_dict(state, strict=False)
    assert not second.is_current(m)
    check()
    third = check()
    m.output = torch.nn.Linear(m.n_lstm, m.n_outputs)  # a replaced layer
    assert not third.is_current(m)
    fourth = check()
    m.cnn[1].bias = torch.nn.Parameter(torch.randn(m.n_filters))  # and parameter
    assert not fourth.is_current(m)
    check()
    m.double()
    assert check().dense_wt.dtype == torch.float64


def test_plan_rebuilt_when_a_layer_without_weights_is_replaced():
    """A swapped activation (no parameters of its own) is seen too."""
    torch.manual_seed(5)
    m = SequenceRCNNModule(**SMALL_MODULE)
    windows, dt = torch.randn(1, 3, 21, 21), torch.zeros(1, 3)
    with torch.inference_mode():
        m.stream_step(windows, dt)
    plan = m._stream_plan
    assert plan.folded and plan.is_current(m)
    m.cnn[2] = torch.nn.Tanh()
    assert not plan.is_current(m)
    with torch.inference_mode():
        got = m.stream_step(windows, dt)
    assert not m._stream_plan.folded  # Tanh does not fold: the module runs
    _assert_step_close(got, _reference(m, windows, dt, None))


def test_small_matrices_take_one_dense_product(monkeypatch):
    """Weights under _SPARSE_MIN_BYTES skip the row gather, with equal results."""
    torch.manual_seed(6)
    m = SequenceRCNNModule(**SMALL_MODULE)
    _randomise_renorms(m, seed=6)
    windows, dt = 3.0 * torch.randn(1, 3, 21, 21), torch.zeros(1, 3)
    calls = []
    real = _rcnn_modules.F.embedding_bag

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_rcnn_modules.F, "embedding_bag", spy)
    with torch.inference_mode():
        dense = m.stream_step(windows, dt)
        assert calls == []
        monkeypatch.setattr(_rcnn_modules, "_SPARSE_MIN_BYTES", 0)
        gathered = m.stream_step(windows, dt)
    assert len(calls) == 2  # the dense layer and the LSTM input
    _assert_step_close(gathered, dense)
    _assert_step_close(dense, _reference(m, windows, dt, None))


def test_shipped_network_streams_as_the_batch_api():
    """The shipped RCNN: the float32 stream equals predict_proba_steps; the
    bfloat16 stream stays within 1e-2 of it at every step, the int8 one
    within 5e-2 (benchmarks/bench_rcnn.py, 140 sequences x 20 steps: largest
    difference 3.7e-3 for bfloat16, 1.6e-2 for int8, over the 1e-2 goal)."""
    from skastro.datasets import make_hits_sequences
    from skastro.models import load_pretrained

    net = load_pretrained("sequence-rcnn-hits-sim")
    X, _ = make_hits_sequences(2, n_epochs=22, return_X_y=True, random_state=4242)
    steps = net.predict_proba_steps(X)
    streamed = {p: [] for p in ("float32", "int8", "bfloat16")}
    for precision, out in streamed.items():
        for i in range(len(X["mask"])):
            out.append(_stream_sequence(net.stream(precision=precision), X, i))
    valid = [np.flatnonzero(X["mask"][i]) for i in range(len(X["mask"]))]
    want = np.concatenate([steps[i, v] for i, v in enumerate(valid)])
    ref = np.concatenate(streamed["float32"])
    np.testing.assert_allclose(ref, want, atol=1e-5, equal_nan=True)
    ok = np.isfinite(ref).all(axis=1)
    assert ok.sum() >= len(valid) * 15
    for precision, bound in (("int8", 5e-2), ("bfloat16", 1e-2)):
        got = np.concatenate(streamed[precision])
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
        assert np.abs(got[ok] - ref[ok]).max() < bound, precision


def test_plan_is_not_pickled():
    """The folded weights stay out of pickles and copies; rebuilt on first use."""
    torch.manual_seed(3)
    m = SequenceRCNNModule(**SMALL_MODULE)
    windows, dt = torch.randn(1, 3, 21, 21), torch.zeros(1, 3)
    with torch.inference_mode():
        want = m.stream_step(windows, dt)
    assert "_stream_plan" in m.__dict__
    for other in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert "_stream_plan" not in other.__dict__
        with torch.inference_mode():
            _assert_step_close(other.stream_step(windows, dt), want)
    assert "_stream_plan" in m.__dict__  # pickling did not drop the original's


def test_unknown_layer_falls_back_to_the_module():
    """A network with a layer the plan cannot fold still streams correctly."""
    torch.manual_seed(4)
    m = SequenceRCNNModule(**SMALL_MODULE)
    m.cnn[2] = torch.nn.LeakyReLU(0.1)
    m.train()
    windows, dt = torch.randn(1, 3, 21, 21), torch.zeros(1, 3)
    with torch.inference_mode():
        got = m.stream_step(windows, dt)
    assert not m._stream_plan.folded and m.training
    _assert_step_close(got, _reference(m, windows, dt, None))


def test_stream_equals_batch_after_more_training():
    """Training again after streaming: the stream follows the new weights."""
    X, y = make_sequences(seed=1)
    clf = small_rcnn().fit(X, y)
    _stream_sequence(clf.stream(), X, 0)
    clf.partial_fit(X, y)
    steps = clf.predict_proba_steps(X[:1])
    got = _stream_sequence(clf.stream(), X, 0)
    np.testing.assert_allclose(got, steps[0], atol=1e-5, equal_nan=True)


def test_stream_equals_batch_without_preprocessing():
    """preprocessing=None: the stream feeds the stamps as given, like the batch."""
    X, y = make_sequences(seed=2)
    X = SliceDict(**{k: v for k, v in X.items() if k not in ("sky", "zero_point")})
    clf = small_rcnn(preprocessing=None).fit(X, y)
    steps = clf.predict_proba_steps(X[:1])
    stream = clf.stream()
    got = [stream.update(X["stamps"][0, t], X["mjd"][0, t]) for t in range(8)]
    np.testing.assert_allclose(np.array(got), steps[0], atol=1e-5, equal_nan=True)


def test_stream_equals_batch_with_asinh_stretch():
    """asinh_softening: the stream stretches each image as the batch API does."""
    X, y = make_sequences(seed=4)
    clf = small_rcnn(asinh_softening=3.0).fit(X, y)
    steps = clf.predict_proba_steps(X[:1])
    got = _stream_sequence(clf.stream(), X, 0)
    np.testing.assert_allclose(got, steps[0], atol=1e-5, equal_nan=True)


def test_stream_copies_the_image():
    """Overwriting the caller's array after update does not change the stream."""
    X, y = make_sequences(seed=3)
    clf = small_rcnn().fit(X, y)
    steps = clf.predict_proba_steps(X[:1])
    stream = clf.stream()
    got = []
    for t in range(8):
        img = X["stamps"][0, t].copy()
        got.append(
            stream.update(
                img,
                X["mjd"][0, t],
                sky=X["sky"][0, t],
                zero_point=X["zero_point"][0, t],
            )
        )
        img[:] = 0.0
    np.testing.assert_allclose(np.array(got), steps[0], atol=1e-5, equal_nan=True)


def test_stream_rejects_nan_sky():
    """A NaN sky or zero point raises, as in the batch API."""
    clf = SequenceRCNN(module__n_filters=4, module__n_hidden=8, module__n_lstm=4)
    stream = clf.initialize().stream()
    with pytest.raises(SequenceError, match="must be finite"):
        stream.update(np.zeros((21, 21)), 57000.0, sky=np.nan, zero_point=25.0)
    assert stream.n_epochs_ == 0
