"""Tests for SequenceRCNN, its network (Carrasco-Davis et al. (2019) Table 3.3) and streaming."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.helper import SliceDict

from skastro.exceptions import InputLayoutError, SequenceError
from skastro.nn import (
    BatchRenorm,
    MaskedStepCrossEntropy,
    SequenceRCNN,
    SequenceRCNNModule,
)
from skastro.nn._rcnn import prepare_sequences

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SMALL = {
    "module__n_filters": 8,
    "module__n_hidden": 32,
    "module__n_lstm": 16,
}


def make_sequences(n=14, T=8, seed=0, min_epochs=3):
    """Random HiTS-shaped sequences: class shows as a central bump."""
    rng = np.random.default_rng(seed)
    n_valid = rng.integers(min_epochs, T + 1, n)
    n_valid[0] = T
    mask = np.arange(T)[None] < n_valid[:, None]
    mjd = np.cumsum(rng.uniform(0.2, 3.0, (n, T)), axis=1) + 57000.0
    mjd = np.where(mask, mjd, np.nan)
    y = np.arange(n) % 7
    sky = rng.uniform(80, 120, (n, T))
    zp = rng.normal(25.0, 0.2, (n, T))
    stamps = rng.normal(0, 10, (n, T, 21, 21)) + sky[..., None, None]
    stamps[:, :, 9:12, 9:12] += 40.0 * y[:, None, None, None]
    stamps[~mask] = 0.0
    X = SliceDict(
        stamps=stamps.astype(np.float32), mjd=mjd, mask=mask, sky=sky, zero_point=zp
    )
    return X, y


def small_rcnn(**kw):
    params = dict(
        SMALL, max_epochs=2, batch_size=8, train_split=None, random_state=0, verbose=0
    )
    params.update(kw)
    return SequenceRCNN(**params)


@pytest.fixture(scope="module")
def data():
    return make_sequences()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return small_rcnn().fit(X, y)


def _stream_sequence(stream, X, i):
    out = []
    for t in np.flatnonzero(X["mask"][i]):
        out.append(
            stream.update(
                X["stamps"][i, t],
                X["mjd"][i, t],
                sky=X["sky"][i, t],
                zero_point=X["zero_point"][i, t],
            )
        )
    return np.array(out)


# -- the network ---------------------------------------------------------------
def test_module_layers_match_table_3_3():
    """Layer-by-layer output shapes and sizes are those of Carrasco-Davis et al. (2019) Table 3.3."""
    m = SequenceRCNNModule().eval()
    x = torch.zeros(2, 3, 21, 21)
    kinds, shapes = [], []
    for layer in m.cnn:
        x = layer(x)
        kinds.append(type(layer).__name__)
        shapes.append(tuple(x.shape[1:]))
    conv_brn = ["Conv2d", "ReLU", "BatchRenorm"] * 3
    assert kinds == ["BatchRenorm"] + conv_brn + ["MaxPool2d"] + conv_brn + [
        "MaxPool2d"
    ]
    assert shapes[0] == (3, 21, 21)
    assert shapes[1:10] == [(64, 21, 21)] * 9
    assert shapes[10] == (64, 11, 11)
    assert shapes[11:20] == [(64, 11, 11)] * 9
    assert shapes[20] == (64, 6, 6)
    convs = [layer for layer in m.cnn if isinstance(layer, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 6
    assert [c.stride for c in convs] == [(1, 1)] * 6
    assert convs[0].in_channels == 3
    assert m.cnn[0].num_features == 3  # input BRN: n_w means and stds
    dense = m.dense[1]
    assert (dense.in_features, dense.out_features) == (2304, 1024)
    assert isinstance(m.dense[3], torch.nn.Dropout)
    assert (m.lstm.input_size, m.lstm.hidden_size) == (1024 + 3, 512)
    assert (m.output.in_features, m.output.out_features) == (512, 7)
    logits, step_mask = m(
        torch.zeros(2, 22, 21, 21), torch.zeros(2, 22), torch.ones(2, 22, dtype=bool)
    )
    assert logits.shape == (2, 20, 7) and step_mask.shape == (2, 20)


def test_batchrenorm_warmup_is_batchnorm():
    """During warm-up (r_max=1, d_max=0) batch renorm equals batch norm."""
    torch.manual_seed(0)
    x = torch.randn(16, 4, 5, 5) * 3 + 2
    brn = BatchRenorm(4, eps=1e-3)
    with torch.no_grad():
        brn.running_mean.fill_(5.0)
        brn.running_std.fill_(0.1)
    y = brn(x)
    ref = torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-3)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
    assert int(brn.num_batches_tracked) == 1


def test_batchrenorm_renorm_and_eval():
    """After the schedule, r and d are clipped corrections; eval uses moving stats."""
    torch.manual_seed(0)
    x = torch.randn(32, 3) * 2 + 1
    brn = BatchRenorm(3, momentum=0.1, warmup_steps=0, r_max_steps=0, d_max_steps=0)
    assert brn.current_bounds() == (3.0, 5.0)
    with torch.no_grad():
        brn.running_mean.fill_(0.5)
        brn.running_std.fill_(1.5)
        brn.num_batches_tracked.fill_(1)  # past the first batch
    mu = x.mean(0)
    sd = torch.sqrt(x.var(0, unbiased=False) + 1e-3)
    r = (sd / 1.5).clamp(1 / 3, 3)
    d = ((mu - 0.5) / 1.5).clamp(-5, 5)
    y = brn(x)
    torch.testing.assert_close(y, (x - mu) / sd * r + d)
    torch.testing.assert_close(brn.running_mean, 0.5 + 0.1 * (mu - 0.5))
    brn.eval()
    y_eval = brn(x[:1])
    expected = (x[:1] - brn.running_mean) / brn.running_std
    torch.testing.assert_close(y_eval, expected)


def test_batchrenorm_first_batch_initialises_moving_averages():
    """The moving averages start at the first training batch's statistics."""
    x = torch.randn(64, 2) * 1000 + 5000
    brn = BatchRenorm(2)
    brn(x)
    torch.testing.assert_close(brn.running_mean, x.mean(0))
    torch.testing.assert_close(
        brn.running_std, torch.sqrt(x.var(0, unbiased=False) + 1e-3)
    )


def test_batchrenorm_schedule_ramps():
    """r_max ramps from 1 and d_max from 0 after the warm-up steps."""
    brn = BatchRenorm(1, warmup_steps=10, r_max_steps=30, d_max_steps=20)
    brn.num_batches_tracked.fill_(5)
    assert brn.current_bounds() == (1.0, 0.0)
    brn.num_batches_tracked.fill_(20)
    r, d = brn.current_bounds()
    assert r == pytest.approx(2.0) and d == pytest.approx(5.0)
    brn.num_batches_tracked.fill_(100)
    assert brn.current_bounds() == (3.0, 5.0)


def test_batchrenorm_bad_input():
    """Wrong channel count raises a clear error."""
    with pytest.raises(ValueError, match=r"expects input \(N, 3"):
        BatchRenorm(3)(torch.zeros(2, 4))


def test_masked_step_loss_sums_valid_steps():
    """Cross-entropy is summed over valid steps only, averaged over sequences."""
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    y = torch.tensor([3, 5])
    loss = MaskedStepCrossEntropy()((logits, mask), y)
    ce = torch.nn.functional.cross_entropy
    manual = (
        ce(logits[0, :2], y[[0, 0]], reduction="sum")
        + ce(logits[1], y[[1] * 4], reduction="sum")
    ) / 2
    torch.testing.assert_close(loss, manual)


def test_padding_does_not_change_valid_outputs():
    """Outputs at valid steps do not depend on padded epochs' content."""
    torch.manual_seed(0)
    m = SequenceRCNNModule(n_filters=8, n_hidden=16, n_lstm=8).eval()
    stamps = torch.randn(1, 6, 21, 21)
    dt = torch.arange(6.0)[None]
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]], dtype=bool)
    a, _ = m(stamps, dt, mask)
    stamps2 = stamps.clone()
    stamps2[0, 4:] = 1e3
    b, _ = m(stamps2, dt, mask)
    torch.testing.assert_close(a[:, :2], b[:, :2])


# -- pre-processing ------------------------------------------------------------
def test_reference_preprocessing_eq_3_5(data):
    """Stamps become (stamp - sky) * 10**((zp_first - zp)/2.5), padding zero."""
    X, _ = data
    prep = prepare_sequences(X)
    i, t = 0, 4
    expected = (X["stamps"][i, t] - X["sky"][i, t]) * 10 ** (
        (X["zero_point"][i, 0] - X["zero_point"][i, t]) / 2.5
    )
    np.testing.assert_allclose(prep.data["stamps"][i, t], expected, rtol=1e-5)
    np.testing.assert_allclose(
        prep.data["dt"][i], X["mjd"][i] - X["mjd"][i, 0], rtol=1e-6
    )
    j = int(np.flatnonzero(X["mask"].sum(1) < 8)[0])
    assert np.all(prep.data["stamps"][j][~X["mask"][j]] == 0)


def test_preprocessing_none_uses_stamps_as_given(data):
    """preprocessing=None needs no sky/zero point and keeps the pixels."""
    X, _ = data
    X2 = SliceDict(stamps=X["stamps"], mjd=X["mjd"], mask=X["mask"])
    prep = prepare_sequences(X2, preprocessing=None)
    np.testing.assert_array_equal(prep.data["stamps"][0], X["stamps"][0])


def test_asinh_softening_stretches_after_preprocessing(data):
    """asinh_softening=b applies asinh(x / 2b) to the pre-processed pixels."""
    X, _ = data
    plain = prepare_sequences(X).data["stamps"]
    stretched = prepare_sequences(X, asinh_softening=2.5).data["stamps"]
    np.testing.assert_allclose(stretched, np.arcsinh(plain / 5.0), rtol=1e-5, atol=1e-6)
    assert stretched.dtype == np.float32
    # padding stays zero
    assert np.all(stretched[~prepare_sequences(X).data["mask"]] == 0)


def test_asinh_softening_is_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="asinh_softening"):
        small_rcnn(asinh_softening=-1.0).fit(X, y)


# -- estimator -----------------------------------------------------------------
def test_fit_predict_shapes(fitted, data):
    """predict_proba is the last valid step of predict_proba_steps."""
    X, y = data
    proba = fitted.predict_proba(X)
    assert proba.shape == (14, 7)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    pred = fitted.predict(X)
    assert pred.shape == (14,) and pred.dtype.kind == "i"
    steps = fitted.predict_proba_steps(X)
    assert steps.shape == (14, 8, 7)
    assert np.isnan(steps[:, :2]).all()
    for i in range(14):
        valid = np.flatnonzero(X["mask"][i])
        assert np.isfinite(steps[i, valid[2:]]).all()
        assert np.isnan(steps[i, ~X["mask"][i]]).all()
        np.testing.assert_allclose(steps[i, valid[-1]], proba[i], rtol=1e-5)
    assert fitted.score(X, y) == pytest.approx(np.mean(pred == y))


def test_loss_decreases_with_training(data):
    """Training lowers the summed per-step loss on easy sequences."""
    X, y = data
    clf = small_rcnn(max_epochs=6).fit(X, y)
    losses = clf.history[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_masked_epoch_in_the_middle(fitted, data):
    """A masked epoch anywhere is skipped: same as the sequence without it."""
    X, _ = data
    i = 0
    keep = np.array([0, 1, 2, 4, 5, 6, 7])
    X_hole = SliceDict(**{k: v[[i]].copy() for k, v in X.items()})
    X_hole["mask"][0, 3] = False
    X_hole["stamps"][0, 3] = np.nan  # ignored: the epoch is masked
    X_cut = SliceDict(**{k: v[[i]][:, keep] for k, v in X.items()})
    a = fitted.predict_proba_steps(X_hole)
    b = fitted.predict_proba_steps(X_cut)
    assert np.isnan(a[0, 3]).all()
    np.testing.assert_allclose(a[0, keep], b[0], rtol=1e-5, equal_nan=True)


def test_stream_equals_batch_steps(fitted, data):
    """Streaming one image at a time gives predict_proba_steps' probabilities."""
    X, _ = data
    steps = fitted.predict_proba_steps(X)
    for i in (0, 5):
        stream = fitted.stream()
        got = _stream_sequence(stream, X, i)
        valid = np.flatnonzero(X["mask"][i])
        np.testing.assert_allclose(got, steps[i, valid], atol=1e-5, equal_nan=True)
        assert stream.n_epochs_ == valid.size
    stream.reset()
    assert stream.n_epochs_ == 0 and np.isnan(stream.proba_).all()


def test_stream_full_size_network_equals_batch(data):
    """Equality also holds for the full Table 3.3 network (untrained)."""
    X, y = data
    clf = SequenceRCNN(random_state=0).initialize()
    steps = clf.predict_proba_steps(X[:2])
    got = _stream_sequence(clf.stream(), X, 0)
    np.testing.assert_allclose(got, steps[0], atol=1e-5, equal_nan=True)


def test_pickle_then_stream_in_new_process(fitted, data, tmp_path):
    """A pickled fitted model streams in a fresh process like the batch API."""
    X, _ = data
    expected = fitted.predict_proba_steps(X)[1]
    path = tmp_path / "model.pkl"
    with open(path, "wb") as fh:
        pickle.dump((fitted, X[np.array([1])], expected), fh)
    script = textwrap.dedent(
        """
        import pickle, sys
        import numpy as np
        model, X, expected = pickle.load(open(sys.argv[1], "rb"))
        stream = model.stream()
        got = []
        for t in np.flatnonzero(X["mask"][0]):
            got.append(stream.update(X["stamps"][0, t], X["mjd"][0, t],
                       sky=X["sky"][0, t], zero_point=X["zero_point"][0, t]))
        valid = np.flatnonzero(X["mask"][0])
        np.testing.assert_allclose(np.array(got), expected[valid], atol=1e-5,
                                   equal_nan=True)
        print("OK")
        """
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr


def test_fine_tune_keeps_params_and_clones(data):
    """fine_tune continues training, then restores the estimator's parameters."""
    X, y = data
    clf = small_rcnn(max_epochs=1).fit(X, y)
    before = clf.get_params(deep=False)
    w0 = clf.module_.output.weight.detach().clone()
    clf.fine_tune(X[:7], y[:7], n_iterations=3, lr=1e-3)
    assert len(clf.history) == 1 + 3
    assert not torch.equal(w0, clf.module_.output.weight)
    after = clf.get_params(deep=False)
    for key in ("warm_start", "max_epochs", "train_split", "lr"):
        assert after[key] == before[key], key
    assert clone(clf).get_params()["max_epochs"] == 1
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="n_iterations"):
        clf.fine_tune(X, y, n_iterations=0)


def test_fine_tune_with_replay_mixes_batches(data):
    """replay: one pass of n_iterations batches mixing both domains, then restored."""
    X, y = data
    X_new, y_new = make_sequences(n=7, seed=5)
    clf = small_rcnn(max_epochs=1).fit(X, y)
    before = clf.get_params(deep=False)
    clf.fine_tune(X_new, y_new, n_iterations=5, replay=(X, y), replay_fraction=0.6)
    assert len(clf.history) == 2
    assert len(clf.history[-1, "batches"]) == 5
    after = clf.get_params(deep=False)
    assert "iterator_train__sampler" not in after
    assert after["iterator_train__shuffle"] is True
    for key in ("warm_start", "max_epochs", "train_split", "lr"):
        assert after[key] == before[key], key
    pickle.loads(pickle.dumps(clf))
    # deterministic with random_state
    twin = small_rcnn(max_epochs=1).fit(X, y)
    twin.fine_tune(X_new, y_new, n_iterations=5, replay=(X, y), replay_fraction=0.6)
    np.testing.assert_allclose(twin.predict_proba(X), clf.predict_proba(X))
    # the sampler draws the replayed sequences in the asked proportion
    joint, y_joint, settings = clf._replay_batches(X_new, y_new, (X, y), 0.6, 400)
    assert len(y_joint) == len(joint["stamps"]) == 7 + 14
    idx = np.fromiter(settings["iterator_train__sampler"], int)
    assert idx.size == 400 * clf.batch_size
    assert abs(np.mean(idx >= 7) - 0.6) < 0.03


@pytest.mark.parametrize(
    "freeze, fixed, trained",
    [
        ("cnn", ("cnn",), ("dense", "lstm", "output")),
        ("features", ("cnn", "dense"), ("lstm", "output")),
        ("none", (), ("cnn", "dense", "lstm", "output")),
    ],
)
def test_fine_tune_freeze_keeps_the_frozen_weights(
    fitted, data, freeze, fixed, trained
):
    """freeze: the named parts keep their weights, the rest trains, and every
    parameter is trainable again afterwards."""
    X, y = data
    clf = pickle.loads(pickle.dumps(fitted))

    def weights(part):
        return [
            p.detach().clone()
            for name, p in getattr(clf.module_, part).named_parameters()
            if "weight" in name
        ]

    w0 = {part: weights(part) for part in fixed + trained}
    clf.fine_tune(X[:7], y[:7], n_iterations=3, lr=1e-2, freeze=freeze)
    for part in fixed:
        assert all(torch.equal(a, b) for a, b in zip(w0[part], weights(part))), part
    for part in trained:
        assert not all(torch.equal(a, b) for a, b in zip(w0[part], weights(part))), part
    assert all(p.requires_grad for p in clf.module_.parameters())


@pytest.mark.parametrize("renorm_statistics", ["keep", "update"])
def test_fine_tune_renorm_statistics(fitted, data, renorm_statistics):
    """renorm_statistics="keep" leaves the moving averages of every batch
    renormalisation as trained (the weights still train), "update" moves
    them; the momenta are restored either way."""
    X, y = data
    clf = pickle.loads(pickle.dumps(fitted))
    renorms = [m for m in clf.module_.modules() if isinstance(m, BatchRenorm)]
    stats0 = [(m.running_mean.clone(), m.running_std.clone()) for m in renorms]
    momenta = [m.momentum for m in renorms]
    w0 = clf.module_.output.weight.detach().clone()
    clf.fine_tune(
        X[:7], y[:7], n_iterations=2, lr=1e-2, renorm_statistics=renorm_statistics
    )
    same = [
        torch.equal(mean, m.running_mean) and torch.equal(std, m.running_std)
        for (mean, std), m in zip(stats0, renorms, strict=True)
    ]
    assert all(same) if renorm_statistics == "keep" else not any(same)
    assert not torch.equal(w0, clf.module_.output.weight)
    assert [m.momentum for m in renorms] == momenta
    with pytest.raises(ValueError, match="renorm_statistics must be 'update' or"):
        clf.fine_tune(X, y, n_iterations=2, renorm_statistics="adapt")


def test_fine_tune_bad_freeze(fitted, data):
    """An unknown freeze names the allowed values and trains nothing."""
    X, y = data
    clf = pickle.loads(pickle.dumps(fitted))
    w0 = clf.module_.output.weight.detach().clone()
    with pytest.raises(ValueError, match=r"freeze must be one of \['cnn', 'features'"):
        clf.fine_tune(X, y, n_iterations=2, freeze="backbone")
    assert torch.equal(w0, clf.module_.output.weight)
    assert len(clf.history) == len(fitted.history)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"replay_fraction": 1.0}, ValueError, "replay_fraction"),
        ({"replay_fraction": 0.0}, ValueError, "replay_fraction"),
        ({"replay": "sim"}, ValueError, "pair"),
        ({"replay": ({"stamps": 1}, [0])}, InputLayoutError, "same keys"),
        ({"replay": (np.zeros(3), [0, 1, 2])}, InputLayoutError, "sequence dicts"),
        ({"replay": "empty"}, ValueError, "at least one sequence"),
        ({"replay": "short_y"}, ValueError, "one label per sequence"),
    ],
)
def test_fine_tune_replay_bad_input(fitted, data, kwargs, error, match):
    """Bad replay arguments say what is wrong and leave the model untouched."""
    X, y = data
    special = {"empty": (X[:0], y[:0]), "short_y": (X, y[:5])}
    if isinstance(kwargs.get("replay"), str) and kwargs["replay"] in special:
        kwargs = {**kwargs, "replay": special[kwargs["replay"]]}
    kwargs = {"replay": (X, y), **kwargs}
    clf = pickle.loads(pickle.dumps(fitted))
    w0 = clf.module_.output.weight.detach().clone()
    with pytest.raises(error, match=match):
        clf.fine_tune(X, y, n_iterations=2, **kwargs)
    assert torch.equal(w0, clf.module_.output.weight)
    assert "iterator_train__sampler" not in clf.get_params(deep=False)


def test_warm_start_fit_continues(data):
    """warm_start=True keeps the network between fit calls (ordinary skorch API)."""
    X, y = data
    clf = small_rcnn(max_epochs=1, warm_start=True).fit(X, y)
    module = clf.module_
    clf.fit(X, y)
    assert clf.module_ is module and len(clf.history) == 2


def test_not_fitted_errors(data):
    """Prediction and streaming before fit raise NotFittedError."""
    from sklearn.exceptions import NotFittedError

    X, _ = data
    clf = small_rcnn()
    for call in (
        lambda: clf.predict_proba(X),
        lambda: clf.predict_proba_steps(X),
        clf.stream,
        lambda: clf.fine_tune(X, np.zeros(14, int)),
    ):
        with pytest.raises(NotFittedError):
            call()


# -- bad input -----------------------------------------------------------------
def _with(X, **changes):
    out = SliceDict(**{k: np.array(v, copy=True) for k, v in X.items()})
    for key, fn in changes.items():
        fn(out[key])
    return out


def _short(m):
    m[3, 2:] = False


def _all_masked(m):
    m[4] = False


def _nan_pixel(s):
    s[2, 1, 5, 5] = np.nan


def _same_time(t):
    t[0, 3] = t[0, 1]


def _nan_time(t):
    t[0, 2] = np.nan


@pytest.mark.parametrize(
    "change, match",
    [
        ({"mask": _short}, r"fewer valid epochs than the window.*row\(s\) 3"),
        ({"mask": _all_masked}, r"no valid epoch \(all masked\): row\(s\) 4"),
        ({"stamps": _nan_pixel}, r"NaN pixels .*\(2, 1\)"),
        ({"mjd": _same_time}, r"Sequence\(s\) 0 have two valid epochs with the same"),
        ({"mjd": _nan_time}, r"NaN or infinite at valid epochs of row\(s\) 0"),
    ],
    ids=["short", "all-masked", "nan-pixel", "same-time", "nan-time"],
)
def test_bad_sequences_raise(fitted, data, change, match):
    """Each bad sequence raises SequenceError naming the row, in fit and predict."""
    X, y = data
    bad = _with(X, **change)
    with pytest.raises(SequenceError, match=match):
        fitted.predict_proba(bad)
    with pytest.raises(SequenceError, match=match):
        small_rcnn().fit(bad, y)


def test_unordered_epochs_are_read_in_time_order(fitted, data):
    """Epochs stored out of time order give the same answers, at the input's
    positions (one rule for every sequence tool, skastro.sequences); this
    replaces the former refusal of unordered epochs."""
    X, _ = data
    perm = np.random.default_rng(0).permutation(X["mask"].shape[1])
    shuffled = SliceDict(
        **{k: (v[:, perm] if np.ndim(v) >= 2 else v) for k, v in X.items()}
    )
    np.testing.assert_allclose(
        fitted.predict_proba(shuffled), fitted.predict_proba(X), rtol=1e-5
    )
    np.testing.assert_allclose(
        fitted.predict_proba_steps(shuffled),
        fitted.predict_proba_steps(X)[:, perm],
        rtol=1e-5,
    )


def test_nan_pixels_at_masked_epochs_are_ignored(fitted, data):
    """NaN pixels at padded epochs are allowed (they are padding)."""
    X, _ = data
    j = int(np.flatnonzero(X["mask"].sum(1) < 8)[0])
    bad = _with(X)
    bad["stamps"][j, -1] = np.nan
    np.testing.assert_allclose(fitted.predict_proba(bad), fitted.predict_proba(X))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda X: X["stamps"], InputLayoutError, "expects X as a mapping"),
        (
            lambda X: SliceDict(stamps=X["stamps"], mjd=X["mjd"], mask=X["mask"]),
            InputLayoutError,
            r"lacks the key\(s\) \['sky', 'zero_point'\].*preprocessing=None",
        ),
        (
            lambda X: SliceDict(**{**X, "stamps": X["stamps"][..., :15, :15]}),
            InputLayoutError,
            "15x15 pixels but 21x21",
        ),
        (
            lambda X: SliceDict(**{**X, "mjd": X["mjd"][:, :5]}),
            InputLayoutError,
            r"X\['mjd'\] has shape \(14, 5\)",
        ),
    ],
    ids=["not-mapping", "no-sky", "stamp-size", "mjd-shape"],
)
def test_bad_layout_raises(fitted, data, make, error, match):
    """Layout errors name the key and the fix."""
    X, _ = data
    with pytest.raises(error, match=match):
        fitted.predict_proba(make(X))


def test_bad_targets_raise(data):
    """A single class, continuous y and labels outside classes are refused."""
    X, y = data
    with pytest.raises(ValueError, match="single class"):
        small_rcnn().fit(X, np.array(["SN"] * 14))
    with pytest.raises(ValueError, match="continuous"):
        small_rcnn().fit(X, np.linspace(0, 1, 14))
    with pytest.raises(ValueError, match="not among the classes"):
        small_rcnn(classes=list(range(7))).fit(X, y + 3)
    with pytest.raises(ValueError, match="preprocessing"):
        small_rcnn(preprocessing="sky").fit(X, y)


def test_string_labels_in_and_out(data):
    """Labels of any type: classes_ from y, predict returns them, and the
    probabilities equal those of a fit on the label indices."""
    X, y = data
    names = np.array(["SN", "RRL", "CEP", "EB", "NV", "GAL", "AST"])
    clf = small_rcnn().fit(X, list(names[y]))
    assert clf.classes_.tolist() == sorted(names.tolist())
    assert clf.module_.n_outputs == 7
    assert set(clf.predict(X)) <= set(names)
    steps = clf.predict_proba_steps(X)
    last = [steps[i, np.flatnonzero(X["mask"][i])[-1]] for i in range(len(y))]
    np.testing.assert_allclose(clf.predict_proba(X), np.array(last), rtol=1e-5)


def test_classes_parameter_keeps_absent_classes(data):
    """classes= lists classes absent from y: one output each, never predicted
    from missing data."""
    X, y = data
    seen = y < 5
    sub = SliceDict(**{k: v[seen] for k, v in X.items()})
    clf = small_rcnn(classes=np.arange(7)).fit(sub, y[seen])
    assert clf.module_.n_outputs == 7 and clf.classes_.tolist() == list(range(7))
    assert clf.predict_proba(X).shape == (14, 7)


def test_module_n_classes_is_deprecated(data):
    """module__n_classes and SequenceRCNNModule(n_classes=...) warn, still work."""
    X, y = data
    clf = small_rcnn(module__n_classes=7, max_epochs=1)
    with pytest.warns(FutureWarning, match="module__n_classes"):
        clf.fit(X, y)
    assert clf.module_.n_outputs == 7
    with pytest.warns(FutureWarning, match="n_outputs=5"):
        m = SequenceRCNNModule(n_classes=5, n_filters=4, n_hidden=8, n_lstm=4)
    assert m.output.out_features == 5
    with pytest.warns(FutureWarning, match="renamed n_outputs"):
        assert m.n_classes == 5
    with pytest.raises(InputLayoutError, match="classes="):
        small_rcnn(module__n_outputs=9).fit(X, y)


def test_stream_bad_updates(fitted, data):
    """The stream rejects NaN images, time going back, wrong shapes, no sky."""
    X, _ = data
    stream = fitted.stream()
    img = X["stamps"][0, 0]
    stream.update(img, 57001.0, sky=100.0, zero_point=25.0)
    with pytest.raises(SequenceError, match="increasing time order"):
        stream.update(img, 57000.5, sky=100.0, zero_point=25.0)
    with pytest.raises(SequenceError, match="NaN or infinite pixels"):
        stream.update(np.full((21, 21), np.nan), 57002.0, sky=100.0, zero_point=25.0)
    with pytest.raises(InputLayoutError, match="one 21x21 stamp"):
        stream.update(np.zeros((3, 21, 21)), 57002.0, sky=100.0, zero_point=25.0)
    with pytest.raises(ValueError, match="sky .* and zero_point"):
        stream.update(img, 57002.0)
    assert stream.n_epochs_ == 1
    assert np.isnan(stream.update(img, 57002.0, sky=100.0, zero_point=25.0)).all()


@pytest.mark.slow
def test_demo_hits_section_small(tmp_path):
    """The demo's HiTS comparison runs end to end at size='small'."""
    from skastro._demo import DemoContext
    from skastro._demo.hits import run

    res = run(DemoContext(out=tmp_path, size="small", verbose=0))
    test = res.metrics["test"]
    for model in ("rcnn", "forest"):
        assert 0.0 <= test[model]["accuracy"]["value"] <= 1.0
        assert len(test[model]["recall"]) == 7
    assert "**Verdict:**" in res.summary
    assert set(res.metrics["shifted"]["average_recall"]) == {
        "rcnn",
        "forest",
        "rcnn_fine_tuned",
        "forest_augmented",
    }
    assert (tmp_path / "hits_comparison.png").exists()


def test_module_refuses_a_renorm_schedule_of_the_wrong_length():
    with pytest.raises(ValueError, match="renorm_schedule must be 3 step counts"):
        SequenceRCNNModule(renorm_schedule=(0, 0))
