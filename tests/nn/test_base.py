"""The lifecycle every network shares (skastro.nn._base), tested on each network."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from skorch.callbacks import Checkpoint, LoadInitState

from skastro.exceptions import InputLayoutError
from skastro.nn._base import BatchNormSafeLoader

from ._tiny import CLASSIFIERS, NETWORKS, STAMP_ESTIMATORS, lsbg, transfer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One torch thread: on a shared 2-core machine two threads oversubscribe."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _output(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


@pytest.mark.parametrize("name", sorted(STAMP_ESTIMATORS) + ["SequenceRCNN"])
def test_outputs_before_fit_raise_not_fitted(name):
    """predict, predict_proba and transform raise NotFittedError before fit."""
    build = STAMP_ESTIMATORS.get(name) or NETWORKS[name]
    est, X, _ = build()
    methods = [m for m in ("predict", "predict_proba", "transform") if hasattr(est, m)]
    assert methods
    for method in methods:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(est, method)(X)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_string_labels_in_labels_out(name):
    """Strings in a list: classes_ sorted, predict returns labels of classes_,
    probabilities in classes_ order."""
    est, X, y = CLASSIFIERS[name]()
    est.fit(X, list(y))
    assert est.classes_.tolist() == sorted(set(y.tolist()))
    pred = est.predict(X)
    assert set(pred.tolist()) <= set(y.tolist())
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), len(est.classes_))
    np.testing.assert_array_equal(pred, est.classes_[est._proba_to_index(proba)])
    assert est.score(X, y) == pytest.approx(np.mean(pred == y))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_binary_and_multiclass_string_labels(name, n_classes):
    """Two or three string classes in, the same strings out; LSBGNet, binary
    like the DeepShadows network (Tanoglidis et al. 2021), refuses a third
    class by name."""
    est, X, y = CLASSIFIERS[name]()
    labels = np.array(["alpha", "beta", "gamma"][:n_classes])
    y = labels[np.arange(len(y)) % n_classes]
    if name == "LSBGNet" and n_classes == 3:
        with pytest.raises(ValueError, match="binary classifier but y holds 3"):
            est.fit(X, y)
        return
    est.fit(X, y)
    assert est.classes_.tolist() == labels.tolist()
    assert set(est.predict(X).tolist()) <= set(labels.tolist())
    assert est.predict_proba(X).shape == (len(y), n_classes)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
@pytest.mark.parametrize(
    "make_y, match",
    [
        (lambda y: np.linspace(0.1, 0.9, len(y)), "continuous"),
        (lambda y: np.full(len(y), y[0]), "single class"),
    ],
    ids=["continuous", "one_class"],
)
def test_unusable_labels_are_refused(name, make_y, match):
    """A continuous y or a single class raises, saying what to do."""
    est, X, y = CLASSIFIERS[name]()
    with pytest.raises(ValueError, match=match):
        est.fit(X, make_y(y))


def test_labels_agree_across_a_grid_search():
    """In one GridSearchCV the candidates take the same string labels."""
    est, X, y = lsbg()
    grid = GridSearchCV(
        est, {"module__dropout": [0.2, 0.4]}, cv=StratifiedKFold(2), error_score="raise"
    ).fit(X, y)
    assert set(grid.predict(X)) <= set(y)
    assert grid.best_estimator_.classes_.tolist() == ["LSBG", "artifact"]


# -- NaN policy ---------------------------------------------------------------
def _with_nan(X):
    X = np.array(X, copy=True)
    X[1, 0, 3, 3] = np.nan
    X[3] = np.nan
    return X


@pytest.mark.parametrize("name", sorted(STAMP_ESTIMATORS))
def test_nan_pixels_raise_naming_the_rows(name):
    """NaN pixels are refused by every stamp estimator, naming rows 1 and 3."""
    est, X, y = STAMP_ESTIMATORS[name]()
    bad = _with_nan(X)
    with pytest.raises(
        InputLayoutError, match=r"NaN pixels .* row\(s\) 1, 3;.*nan_policy"
    ):
        est.fit(bad, y)
    fitted = est.fit(X, y)
    with pytest.raises(InputLayoutError, match=r"row\(s\) 1, 3"):
        (fitted.transform if y is None else fitted.predict)(bad)


@pytest.mark.parametrize("name", sorted(STAMP_ESTIMATORS))
def test_nan_policy_fill_warns_naming_the_rows(name):
    """nan_policy='fill' reads NaN as 0 with a warning naming the rows."""
    est, X, y = STAMP_ESTIMATORS[name](nan_policy="fill")
    bad = _with_nan(X)
    with pytest.warns(UserWarning, match=r"row\(s\) 1, 3.*read as 0"):
        est.fit(bad, y)
    zero = np.nan_to_num(bad)
    with pytest.warns(UserWarning, match=r"row\(s\) 1, 3"):
        got = est.transform(bad) if y is None else _output(est, bad)
    expected = est.transform(zero) if y is None else _output(est, zero)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(bad[3]).all()  # the caller's array is left as it was


@pytest.mark.parametrize("name", sorted(STAMP_ESTIMATORS))
def test_infinite_pixels_always_raise(name):
    """Infinite pixels raise whatever the NaN policy, naming the row."""
    est, X, y = STAMP_ESTIMATORS[name](nan_policy="fill")
    bad = np.array(X, copy=True)
    bad[2, 0, 0, 0] = np.inf
    with pytest.raises(InputLayoutError, match=r"infinite pixel values .* row\(s\) 2"):
        est.fit(bad, y)


# -- seeding -----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_seeding_leaves_the_global_generator_alone(name):
    """A seeded fit neither reads nor moves torch's global random state, and
    is deterministic; random_state=None reseeds nothing."""
    est, X, y = NETWORKS[name](max_epochs=2)
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    a = clone(est).fit(X, y)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)  # other global state: same model
    b = clone(est).fit(X, y)
    np.testing.assert_array_equal(_output(a, X), _output(b, X))
    seed = torch.initial_seed()
    clone(est).set_params(random_state=None).fit(X, y)
    assert torch.initial_seed() == seed


# -- save and load weights only ------------------------------------------------
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_weights_only_round_trip(name):
    """save_params(f_params) then a new estimator's initialize() + load_params()
    predicts identically (labels, bands and outputs restored)."""
    est, X, y = NETWORKS[name]()
    est.fit(X, y)
    buffer = io.BytesIO()
    est.save_params(f_params=buffer)
    buffer.seek(0)
    new, _, _ = NETWORKS[name]()
    new.initialize().load_params(f_params=buffer)
    np.testing.assert_array_equal(new.predict(X), est.predict(X))
    np.testing.assert_array_equal(_output(new, X), _output(est, X))
    # the module's own state dict is unchanged: plain torch loading works
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    state.pop("_skastro_metadata")
    assert set(state) == set(est.module_.state_dict())


def test_plain_state_dict_loads_too(tmp_path):
    """A bare module state dict (no description) loads; classes come from
    the classes parameter."""
    est, X, y = lsbg()
    est.fit(X, y)
    torch.save(est.module_.state_dict(), tmp_path / "plain.pt")
    new, _, _ = lsbg(classes=["LSBG", "artifact"])
    new.initialize().load_params(f_params=tmp_path / "plain.pt")
    np.testing.assert_array_equal(new.predict(X), est.predict(X))


_FRESH_WEIGHTS_SCRIPT = textwrap.dedent(
    """
    import sys
    import joblib
    import numpy as np
    sys.path.insert(0, sys.argv[3])
    from tests.nn._tiny import NETWORKS, embedder
    name, folder = sys.argv[1], sys.argv[2]
    X, expected = joblib.load(folder + "/data.joblib")
    if name == "ImageEmbedder":
        # nothing is trained: the weights file is the backbone's state dict
        est = embedder(weights=folder + "/weights.pt", random_state=None)[0].fit(X)
        got = {"transform": est.transform(X)}
    else:
        est = NETWORKS[name]()[0]
        est.initialize().load_params(f_params=folder + "/weights.pt")
        got = {m: getattr(est, m)(X) for m in expected}
    for m in expected:
        np.testing.assert_array_equal(got[m], expected[m], err_msg=m)
    print("OK", np.asarray(got[sorted(expected)[0]])[:4].tolist())
    """
)


@pytest.mark.parametrize("name", sorted(NETWORKS) + ["ImageEmbedder"])
def test_weights_only_round_trip_in_a_fresh_process(name, tmp_path):
    """The weights alone (save_params; the backbone's state dict for the
    ImageEmbedder, which trains nothing) restore identical outputs and labels
    in a new Python process, for every network."""
    import joblib

    build = NETWORKS.get(name) or STAMP_ESTIMATORS[name]
    est, X, y = build()
    est.fit(X, y)
    if name == "ImageEmbedder":
        torch.save(est.backbone_.state_dict(), tmp_path / "weights.pt")
    else:
        est.save_params(f_params=tmp_path / "weights.pt")
    methods = [m for m in ("predict", "predict_proba", "transform") if hasattr(est, m)]
    joblib.dump((X, {m: getattr(est, m)(X) for m in methods}), tmp_path / "data.joblib")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_WEIGHTS_SCRIPT, name, str(tmp_path), ROOT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr
    if name in CLASSIFIERS:  # string labels come back, not indices
        assert "'" in proc.stdout, proc.stdout


def test_checkpoint_callback_and_warm_start(tmp_path):
    """skorch callbacks pass through callbacks=: a Checkpoint's files resume a
    new estimator (LoadInitState), and warm_start continues training."""
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    est, X, y = lsbg(callbacks=[checkpoint], max_epochs=2)
    est.fit(X, y)
    resumed, _, _ = lsbg(
        callbacks=[
            Checkpoint(dirname=str(tmp_path), monitor=None),
            LoadInitState(checkpoint),
        ],
        max_epochs=1,
    )
    resumed.fit(X, y)
    assert len(resumed.history) == 3  # 2 epochs restored + 1 trained
    warm, _, _ = lsbg(warm_start=True)
    warm.fit(X, y)
    module = warm.module_
    warm.fit(X, y)
    assert warm.module_ is module and len(warm.history) == 2
    with pytest.raises(ValueError, match="not among the classes"):
        warm.fit(X, np.where(y == "LSBG", "LSBG", "star"))


def test_continuing_with_other_bands_is_refused():
    """partial_fit on stamps with other bands than the first fit raises."""
    est, X, y = transfer()
    est.partial_fit(X, y)
    with pytest.raises(InputLayoutError, match="n_bands_=4 but these data have"):
        est.partial_fit(X[:, :3], y)


# -- loader, early stopping, precision and layout ----------------------------------
def test_batchnorm_safe_loader_never_ends_on_one():
    """n % batch_size == 1 drops the last batch of one; otherwise all are kept."""
    ds = torch.utils.data.TensorDataset(torch.zeros(9, 1))
    assert [len(b[0]) for b in BatchNormSafeLoader(ds, batch_size=4)] == [4, 4]
    assert [len(b[0]) for b in BatchNormSafeLoader(ds, batch_size=3)] == [3, 3, 3]


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_defaults_shuffle_batchnorm_safe_and_patience(name):
    """Every network: shuffled BatchNormSafeLoader, EarlyStopping from patience."""
    from skorch.dataset import ValidSplit

    est, X, y = NETWORKS[name](patience=1, train_split=ValidSplit(0.3, random_state=0))
    params = est.get_params()
    assert params["iterator_train"] is BatchNormSafeLoader
    assert params["iterator_train__shuffle"] is True
    est.initialize()
    assert dict(est.callbacks_)["early_stopping"].patience == 1


@pytest.mark.parametrize("name", sorted(NETWORKS) + ["ImageEmbedder"])
def test_bf16_autocast_on_cpu(name):
    """amp='bf16' fits and predicts; its predictions are close to float32's."""
    build = NETWORKS.get(name) or STAMP_ESTIMATORS[name]
    est, X, y = build(amp="bf16")
    est.fit(X, y)
    out = est.transform(X) if y is None else _output(est, X)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    ref = clone(est).set_params(amp=None).fit(X, y)
    expected = ref.transform(X) if y is None else _output(ref, X)
    ref.set_params(amp="bf16")
    got = ref.transform(X) if y is None else _output(ref, X)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, atol=0.05 * scale, rtol=0.05)


@pytest.mark.parametrize("name", ["LSBGNet", "TransferCNNClassifier", "ImageEmbedder"])
def test_channels_last_gives_the_same_model(name):
    """channels_last=True changes the memory layout, not the results."""
    build = NETWORKS.get(name) or STAMP_ESTIMATORS[name]
    est, X, y = build()
    a = clone(est).fit(X, y)
    b = clone(est).set_params(channels_last=True).fit(X, y)
    if y is not None:
        conv = next(m for m in b.module_.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    got = b.transform(X) if y is None else _output(b, X)
    expected = a.transform(X) if y is None else _output(a, X)
    # training sums in another order (and Adadelta's first steps are
    # sign-like): close, not equal
    np.testing.assert_allclose(got, expected, rtol=0.05, atol=0.05)
    a.set_params(channels_last=True)  # the same weights, other input layout
    got = a.transform(X) if y is None else _output(a, X)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_fp16_with_loss_scaling_trains():
    """amp='fp16' trains through a gradient scaler (CPU float16 autocast)."""
    est, X, y = lsbg(amp="fp16", max_epochs=2)
    est.fit(X, y)
    assert np.isfinite(est.history[:, "train_loss"]).all()
    assert np.isfinite(est.predict_proba(X)).all()


def _as_if_pickled_by_the_previous_release(est, renames, removed):
    """Make ``est``'s state look like the previous release's, then pickle it."""
    import pickle

    state = est.__dict__
    for new, (old, value) in renames.items():
        del state[new]
        state[old] = value
    for name in removed:
        state.pop(name, None)
    if "n_bands_" in state:
        state["n_channels_"] = state.pop("n_bands_")
    return pickle.loads(pickle.dumps(est))


def test_models_pickled_by_the_previous_release_still_predict():
    """Old parameter names, label_encoder_ and n_channels_ in a pickle are
    understood: the same labels and probabilities come out."""
    from sklearn.preprocessing import LabelEncoder

    from ._tiny import stamp_classifier

    est, X, y = stamp_classifier()
    est.fit(X, y)
    expected = est.predict_proba(X), est.predict(X)
    encoder = LabelEncoder().fit(y)
    est.__dict__.pop("classes_inferred_")
    est.__dict__["label_encoder_"] = encoder
    old = _as_if_pickled_by_the_previous_release(
        est,
        {"weights": ("pretrained", None), "freeze": ("strategy", "full")},
        ["warmup_epochs", "unfreeze_last", "nan_policy", "amp", "channels_last"],
    )
    np.testing.assert_array_equal(old.predict_proba(X), expected[0])
    np.testing.assert_array_equal(old.predict(X), expected[1])
    assert old._param("freeze") == "none" and old.n_bands_ == 5

    net, X, y = lsbg()
    net.fit(X, y)
    expected = net.predict_proba(X)
    old = _as_if_pickled_by_the_previous_release(
        net, {"asinh_softening": ("softening", 0.01)}, ["nan_policy", "classes"]
    )
    np.testing.assert_array_equal(old.predict_proba(X), expected)
