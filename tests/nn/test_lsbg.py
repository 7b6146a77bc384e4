"""Tests of LSBGNet and its network DeepShadowsCNN (Tanoglidis et al. (2021), Table 1)."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from skastro.datasets import make_lsbg_stamps
from skastro.exceptions import InputLayoutError
from skastro.nn import DeepShadowsCNN, LSBGNet, grad_cam


@pytest.fixture(scope="module")
def data():
    return make_lsbg_stamps(12, random_state=0, return_X_y=True)


def _tiny(**kw):
    params = {"max_epochs": 1, "batch_size": 6, "random_state": 0}
    params.update(kw)
    return LSBGNet(**params)


def test_deepshadows_matches_table1_layer_for_layer():
    """Layer types, output shapes and parameter counts are those of Table 1."""
    m = DeepShadowsCNN().eval()
    expected = [
        (nn.Conv2d, (16, 64, 64), 448),
        (nn.ReLU, (16, 64, 64), 0),
        (nn.BatchNorm2d, (16, 64, 64), 64),
        (nn.MaxPool2d, (16, 32, 32), 0),
        (nn.Dropout, (16, 32, 32), 0),
        (nn.Conv2d, (32, 32, 32), 4640),
        (nn.ReLU, (32, 32, 32), 0),
        (nn.BatchNorm2d, (32, 32, 32), 128),
        (nn.MaxPool2d, (32, 16, 16), 0),
        (nn.Dropout, (32, 16, 16), 0),
        (nn.Conv2d, (64, 16, 16), 18496),
        (nn.ReLU, (64, 16, 16), 0),
        (nn.BatchNorm2d, (64, 16, 16), 256),
        (nn.MaxPool2d, (64, 8, 8), 0),
        (nn.Dropout, (64, 8, 8), 0),
    ]
    h = torch.zeros(2, 3, 64, 64)
    for layer, (kind, shape, n_params) in zip(m.features, expected, strict=True):
        h = layer(h)
        assert isinstance(layer, kind)
        assert tuple(h.shape[1:]) == shape
        # Keras counts BatchNorm's moving mean/variance as parameters
        count = sum(p.numel() for p in layer.parameters())
        if isinstance(layer, nn.BatchNorm2d):
            count += layer.running_mean.numel() + layer.running_var.numel()
            assert layer.momentum == pytest.approx(0.01) and layer.eps == 1e-3
        if isinstance(layer, nn.Conv2d):
            assert layer.kernel_size == (3, 3) and layer.stride == (1, 1)
        if isinstance(layer, nn.Dropout):
            assert layer.p == 0.4
        assert count == n_params
    assert m.flatten(h).shape[1] == 4096
    assert sum(p.numel() for p in m.dense.parameters()) == 4195328
    assert sum(p.numel() for p in m.out.parameters()) == 1025
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2,)


def test_deepshadows_glorot_uniform_init():
    """Kernels are Glorot-uniform, biases zero (Keras defaults)."""
    torch.manual_seed(0)
    m = DeepShadowsCNN()
    w = m.dense.weight
    bound = np.sqrt(6 / (4096 + 1024))
    assert w.abs().max() <= bound
    assert w.std().item() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    assert (m.dense.bias == 0).all() and (m.features[0].bias == 0).all()


def test_lsbgnet_optimizer_and_l2_loss(data):
    """Adadelta(lr=0.1, rho=0.95, eps=1e-7); loss = BCE + Keras L2 terms."""
    X, y = data
    net = _tiny().initialize()
    opt = net.optimizer_.param_groups[0]
    assert isinstance(net.optimizer_, torch.optim.Adadelta)
    assert (opt["lr"], opt["rho"], opt["eps"]) == (0.1, 0.95, 1e-7)
    m = net.module_
    logits = torch.randn(4)
    target = torch.tensor([0.0, 1.0, 1.0, 0.0])
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    l2 = (
        0.13
        * sum(c.weight.pow(2).sum() for c in m.features if isinstance(c, nn.Conv2d))
        + 0.12 * m.dense.weight.pow(2).sum()
    )
    got = net.get_loss(logits, target)
    assert got.item() == pytest.approx((bce + l2).item(), rel=1e-6)


def test_lsbgnet_fit_predict_proba(data):
    """fit returns self; predict_proba is (n, 2) with P(LSBG) in column 1."""
    X, y = data
    net = _tiny()
    assert net.fit(X, y) is net
    proba = net.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(net.predict(X), (proba[:, 1] > 0.5).astype(int))


def test_lsbgnet_fine_tune_keeps_recipe_and_pickles(data):
    """fine_tune retrains all layers, restores lr/epochs/batch and pickles."""
    X, y = data
    net = _tiny().fit(X, y)
    before = net.module_.features[0].weight.detach().clone()
    n_epochs = len(net.history_)
    net.fine_tune(X[:8], y[:8], max_epochs=2, batch_size=4)
    assert (net.lr, net.max_epochs, net.batch_size) == (0.1, 1, 6)
    assert net.fine_tuned_ == [
        {"lr": 0.005, "max_epochs": 2, "batch_size": 4, "n_samples": 8}
    ]
    assert len(net.history_) == n_epochs + 2
    assert not torch.equal(before, net.module_.features[0].weight)
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(loaded.predict_proba(X), net.predict_proba(X))
    fresh = clone(net)
    assert fresh.get_params()["lr"] == 0.1 and not hasattr(fresh, "fine_tuned_")


def test_lsbgnet_fine_tune_requires_fit(data):
    """fine_tune before fit raises NotFittedError."""
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _tiny().fine_tune(*data)


def test_lsbgnet_grad_cam(data):
    """Grad-CAM maps are (n, 64, 64) in [0, 1] on the stamp grid."""
    X, y = data
    net = _tiny().fit(X, y)
    cams = net.grad_cam(X[:3])
    assert cams.shape == (3, 64, 64)
    assert cams.min() >= 0 and cams.max() <= 1 + 1e-6
    neg = grad_cam(net.module_, net.prepare_stamps(X[:3]), positive=False)
    assert neg.shape == (3, 64, 64)
    assert net.module_.training is False or net.module_.training is True


@pytest.mark.parametrize(
    "transform, match",
    [
        (lambda X: np.moveaxis(X, 1, -1), "channels-last"),
        (lambda X: X[:, :, :32, :32], "32x32 pixels but 64x64"),
        (lambda X: np.concatenate([X, X[:, :1]], axis=1), "4 band"),
        (lambda X: np.where(np.arange(64) == 3, np.nan, X).astype("f4"), "NaN"),
    ],
    ids=["channels_last", "wrong_size", "four_bands", "nan"],
)
def test_lsbgnet_bad_stamps(data, transform, match):
    """Bad stamps raise InputLayoutError with the fix."""
    X, y = data
    with pytest.raises(InputLayoutError, match=match):
        _tiny().fit(transform(X), y)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.arange(12) % 3, "binary classifier but y holds 3 classes"),
        (np.linspace(0, 1, 12), "continuous"),
        (np.ones(12, dtype=int), "single class"),
        (np.ones((12, 2)), "one class label per object"),
    ],
    ids=["three_classes", "continuous", "one_class", "2d"],
)
def test_lsbgnet_bad_labels(data, labels, match):
    """Non-binary labels are refused, naming what was found."""
    X, _ = data
    with pytest.raises(ValueError, match=match):
        _tiny().fit(X, labels)


def test_lsbgnet_empty_batch(data):
    """Predicting on an empty batch raises a clear error."""
    X, y = data
    net = _tiny().fit(X, y)
    with pytest.raises(InputLayoutError, match="no stamps"):
        net.predict_proba(X[:0])


def test_lsbgnet_bad_parameters(data):
    """Negative L2 factors and softening are refused at fit."""
    X, y = data
    with pytest.raises(ValueError, match="l2_conv"):
        _tiny(l2_conv=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="asinh_softening"):
        _tiny(asinh_softening=0).fit(X, y)
    with pytest.raises(ValueError, match="softening"):
        _tiny(softening=0).fit(X, y)


def test_lsbgnet_string_labels_and_column_order(data):
    """Any labels: classes_ sorted, predict_proba columns in classes_ order."""
    X, y = data
    names = np.where(y == 1, "LSBG", "artifact")
    net = _tiny().fit(X, list(names))
    assert net.classes_.tolist() == ["LSBG", "artifact"]
    proba = net.predict_proba(X)
    pred = net.predict(X)
    assert set(pred) <= {"LSBG", "artifact"}
    np.testing.assert_array_equal(pred, net.classes_[(proba[:, 1] > 0.5).astype(int)])
    # the same fit on 0/1 labels with artifact=1 gives the same probabilities
    flipped = _tiny().fit(X, tuple((names == "artifact").astype(int)))
    np.testing.assert_allclose(flipped.predict_proba(X), proba, rtol=1e-5, atol=1e-6)


def test_lsbgnet_softening_is_deprecated_for_asinh_softening(data):
    """softening=s (asinh(x/s)) warns and equals asinh_softening=s/2 (asinh(x/2b))."""
    X, y = data
    old = _tiny(softening=0.02)
    with pytest.warns(FutureWarning, match="asinh_softening=0.01"):
        old.fit(X, y)
    new = _tiny(asinh_softening=0.01).fit(X, y)
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))
    np.testing.assert_allclose(
        _tiny().prepare_stamps(X), np.arcsinh(X / np.float32(0.01)), rtol=1e-6
    )
    with pytest.raises(ValueError, match="set asinh_softening only"):
        _tiny(softening=0.02, asinh_softening=0.3).fit(X, y)


def test_deepshadows_dense_units_is_deprecated():
    """DeepShadowsCNN(dense_units=...) warns and builds n_hidden units."""
    with pytest.warns(FutureWarning, match="n_hidden=32"):
        m = DeepShadowsCNN(dense_units=32)
    assert m.dense.out_features == 32
    assert set(m.state_dict()) == set(DeepShadowsCNN(n_hidden=32).state_dict())


def test_lsbgnet_in_grid_search(data):
    """Network hyperparameters are tunable as module__<name>."""
    X, y = data
    gs = GridSearchCV(_tiny(), {"module__dropout": [0.2, 0.4]}, cv=2).fit(X, y)
    assert gs.best_params_["module__dropout"] in (0.2, 0.4)
    assert (
        gs.best_estimator_.module_.features[4].p == gs.best_params_["module__dropout"]
    )
