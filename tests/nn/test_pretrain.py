"""Tests for MagnitudePretrainer, PretrainedStampClassifier and their network."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from skorch.dataset import ValidSplit
from skorch.helper import SliceDict

from skastro.exceptions import InputLayoutError
from skastro.nn import (
    MagnitudePretrainer,
    MaskedL1Loss,
    PretrainedStampClassifier,
    PretrainedWeights,
    VGG16Backbone,
    VGG16StampNet,
    load_vgg16_features,
)
from skastro.utils._params import InvalidParameterError

TINY = dict(
    module__width=0.0625,
    module__n_hidden=8,
    batch_size=8,
    train_split=None,
    verbose=0,
    random_state=0,
)
# torchvision's vgg16().features: indices of the 13 convolutions
TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One torch thread: on a shared 2-core machine two threads oversubscribe."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _stamps(n=12, c=12, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c, size, size)).astype(np.float32)


def _mags(n=12, k=12, seed=0, missing=True):
    rng = np.random.default_rng(seed)
    y = rng.uniform(15.0, 21.0, size=(n, k))
    if missing:
        y[::3, 0] = np.nan  # a third of objects miss the u band
        y[1, 5:] = np.nan
    return y


@pytest.fixture(scope="module")
def pretrainer():
    return MagnitudePretrainer(max_epochs=2, **TINY).fit(_stamps(), _mags())


# --- network ---------------------------------------------------------------


def test_backbone_names_match_torchvision_vgg16():
    """Conv parameters are named features.N exactly as in torchvision's VGG16."""
    names = set(VGG16Backbone(3).state_dict())
    expected = {
        f"features.{i}.{p}"
        for i in TORCHVISION_CONV_INDICES
        for p in ("weight", "bias")
    }
    assert names == expected


def test_backbone_full_width_has_vgg16_parameter_count():
    """width=1 with 3 bands is VGG16's convolutional part (14,714,688 weights)."""
    n = sum(p.numel() for p in VGG16Backbone(3).parameters())
    assert n == 14_714_688


def test_stampnet_shapes_and_nan_pixels():
    """Outputs (n, n_outputs), representation (n, n_hidden); NaN pixels read as 0."""
    net = VGG16StampNet(5, 7, width=0.0625, n_hidden=10).eval()
    x = torch.as_tensor(_stamps(3, 5))
    assert net(x).shape == (3, 7)
    assert net.embed(x).shape == (3, 10)
    x_nan = x.clone()
    x_nan[0, :, :4] = float("nan")
    x_zero = x.clone()
    x_zero[0, :, :4] = 0.0
    torch.testing.assert_close(net(x_nan), net(x_zero))


def test_stampnet_vgg_init_keeps_the_signal_scale():
    # torchvision's VGG initialisation: He-normal (fan_out) convolutions,
    # N(0, 0.01) dense layers, zero biases; through 13 plain convolutions it
    # keeps the activations' scale, where PyTorch's default shrinks it
    torch.manual_seed(0)
    vgg = VGG16StampNet(4, 3, width=0.25, n_hidden=32, init="vgg")
    conv = vgg.backbone.features[2]
    fan_out = conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    assert not conv.bias.any() and not vgg.head.bias.any()
    assert vgg.head.weight.std().item() == pytest.approx(0.01, rel=0.2)
    torch.manual_seed(0)
    default = VGG16StampNet(4, 3, width=0.25, n_hidden=32)
    x = torch.randn(16, 4, 32, 32)
    with torch.no_grad():
        out_vgg = vgg.backbone(x).std().item()
        out_default = default.backbone(x).std().item()
    assert out_vgg > 0.1
    assert out_default < out_vgg / 5  # measured: 0.012 against 0.14
    with pytest.raises(ValueError, match="init must be"):
        VGG16StampNet(4, 3, init="glorot")


def test_load_vgg16_features_roundtrip_and_errors():
    """A torchvision-named state dict loads; a wrong in_channels names the layer."""
    src = VGG16Backbone(3, width=0.0625)
    dst = VGG16StampNet(3, 2, width=0.0625, n_hidden=4)
    load_vgg16_features(dst, src.state_dict())
    for key, value in src.state_dict().items():
        torch.testing.assert_close(dst.backbone.state_dict()[key], value)
    with pytest.raises(ValueError, match=r"features\.0\.weight.*in_channels=12"):
        load_vgg16_features(VGG16StampNet(12, 2, width=0.0625), src.state_dict())
    partial = {k: v for k, v in src.state_dict().items() if "features.28" not in k}
    with pytest.raises(ValueError, match="lacks 2 backbone weight"):
        load_vgg16_features(VGG16Backbone(3, width=0.0625), partial)


def test_masked_l1_loss_ignores_nan_targets():
    """The loss is the MAE over finite targets; NaN targets get no gradient."""
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    true = torch.tensor([[1.5, float("nan")], [2.0, 4.0]])
    loss = MaskedL1Loss()(pred, true)
    assert loss.item() == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[0, 1] == 0


def test_masked_l1_loss_all_missing_is_zero_not_nan():
    """A batch with every target missing gives loss 0 and a usable graph."""
    pred = torch.ones(2, 3, requires_grad=True)
    loss = MaskedL1Loss()(pred, torch.full((2, 3), float("nan")))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros(2, 3))


# --- MagnitudePretrainer ---------------------------------------------------


def test_pretrainer_nan_targets_give_finite_losses():
    """Missing magnitudes (NaN) are masked: every epoch's loss is finite."""
    y = _mags()
    y[:, 0] = np.nan
    y[0, 0] = 18.0  # the u band measured for one object only
    net = MagnitudePretrainer(max_epochs=2, **TINY).fit(_stamps(), y)
    assert np.isfinite(net.history[:, "train_loss"]).all()
    assert net.missing_fraction_ > 0
    assert np.isfinite(net.predict(_stamps())).all()


def test_pretrainer_predicts_magnitudes(pretrainer):
    """predict returns magnitudes: the network output times target_scale."""
    X = _stamps()
    pred = pretrainer.predict(X)
    assert pred.shape == (12, 12)
    with torch.no_grad():
        raw = pretrainer.module_(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(pred, raw * 35.0, rtol=1e-5)
    assert not hasattr(pretrainer, "predict_proba")


def test_pretrainer_learns_scaled_targets():
    """A few epochs on a learnable target lower the MAE well below the start."""
    X = _stamps(32)
    y = 15.0 + X[:, :3].mean(axis=(2, 3)) * 20.0  # depends on the pixels
    net = MagnitudePretrainer(max_epochs=30, lr=3e-3, **TINY).fit(X, y)
    losses = net.history[:, "train_loss"]
    assert losses[-1] < 0.2 * losses[0]
    assert net.n_outputs_ == 3


def test_pretrainer_wrong_channel_count_is_clear(pretrainer):
    """A fitted 12-band model refuses 5-band stamps, naming both counts."""
    with pytest.raises(InputLayoutError, match="fitted on 12-band stamps.*5 band"):
        pretrainer.predict(_stamps(4, 5))
    with pytest.raises(InputLayoutError, match="fitted on 12-band"):
        pretrainer.transform(_stamps(4, 3))


def test_pretrainer_channels_last_hint(pretrainer):
    """Channels-last stamps get the numpy.moveaxis hint."""
    X = np.moveaxis(_stamps(4), 1, -1)
    with pytest.raises(InputLayoutError, match="moveaxis"):
        pretrainer.predict(X)


def test_pretrainer_too_small_stamps():
    """Stamps under 32x32 pixels cannot pass five max-pools: clear error."""
    with pytest.raises(InputLayoutError, match="at least 32x32"):
        MagnitudePretrainer(max_epochs=1, **TINY).fit(_stamps(size=16), _mags())


@pytest.mark.parametrize(
    "y, match",
    [
        (np.ones((5, 12)), "shape"),
        (np.full((12, 2), np.inf), "infinite"),
        (np.c_[np.ones(12), np.full(12, np.nan)], r"column\(s\) \[1\]"),
        (None, "needs the magnitudes"),
    ],
)
def test_pretrainer_bad_targets(y, match):
    """Wrong-shape, infinite, all-missing or absent targets raise clear errors."""
    with pytest.raises(ValueError, match=match):
        MagnitudePretrainer(max_epochs=1, **TINY).fit(_stamps(), y)


def test_pretrainer_slicedict_input(pretrainer):
    """A SliceDict with 'stamps' (and metadata) gives the array's results."""
    X = _stamps()
    sd = SliceDict(stamps=X, zero_point=np.full((12, 12), 20.0))
    np.testing.assert_allclose(pretrainer.predict(sd), pretrainer.predict(X))
    np.testing.assert_allclose(pretrainer.transform(sd), pretrainer.transform(X))
    with pytest.raises(InputLayoutError, match="without the key 'stamps'"):
        pretrainer.predict({"images": X})


def test_pretrainer_transform_in_pipeline(pretrainer):
    """transform feeds a random forest in a Pipeline; pandas output has names."""
    X = _stamps()
    feats = pretrainer.transform(X)
    assert feats.shape == (12, 8) and feats.dtype == np.float32
    names = pretrainer.get_feature_names_out()
    assert names[0] == "magnitudepretrainer_embedding0"
    df = clone(pretrainer).set_output(transform="pandas").fit(X, _mags()).transform(X)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(names)
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(
        FunctionTransformer(pretrainer.transform),
        RandomForestClassifier(n_estimators=5, random_state=0),
    )
    labels = np.array(["STAR", "GALAXY", "QSO"] * 4)
    assert pipe.fit(X, labels).predict(X).shape == (12,)


def test_pretrainer_invalid_params():
    """Bad hyperparameters raise scikit-learn's InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="target_scale"):
        MagnitudePretrainer(target_scale=-1.0, **TINY).fit(_stamps(), _mags())


def test_pretrainer_partial_fit_continues(pretrainer):
    """partial_fit adds epochs without re-initialising the network."""
    net = clone(pretrainer).set_params(max_epochs=1)
    net.partial_fit(_stamps(), _mags())
    w = net.module_.head.weight.detach().clone()
    net.partial_fit(_stamps(), _mags())
    assert len(net.history) == 2
    assert not torch.equal(w, net.module_.head.weight)


def test_pretrainer_early_stopping_callback():
    """patience adds skorch's EarlyStopping (load_best) on the validation loss."""
    net = MagnitudePretrainer(
        **{**TINY, "train_split": ValidSplit(0.25, random_state=0)},
        patience=1,
        max_epochs=2,
    )
    net.fit(_stamps(16), _mags(16))
    assert "early_stopping" in dict(net.callbacks_)


# --- PretrainedStampClassifier ---------------------------------------------

LABELS = np.array(["STAR", "GALAXY", "QSO", "STAR", "GALAXY", "STAR"] * 2)


def _backbone(net):
    return {k: v.detach().clone() for k, v in net.module_.backbone.state_dict().items()}


def test_classifier_frozen_keeps_pretrained_backbone(pretrainer):
    """freeze='head' starts from the pretrained backbone and never moves it."""
    clf = PretrainedStampClassifier.from_pretrainer(
        pretrainer, freeze="head", max_epochs=3, lr=1e-2, **TINY
    ).fit(_stamps(), LABELS)
    before = _backbone(pretrainer)
    for key, value in _backbone(clf).items():
        torch.testing.assert_close(value, before[key])
    top_pre = pretrainer.module_.top[1].weight
    assert not torch.equal(clf.module_.top[1].weight, top_pre)  # the top trains


def test_classifier_finetune_two_phases(pretrainer):
    """'two_phase': backbone frozen warmup_epochs at lr, then trained at finetune_lr."""
    kw = dict(freeze="two_phase", warmup_epochs=2, lr=1e-3, finetune_lr=1e-5)
    short = PretrainedStampClassifier.from_pretrainer(
        pretrainer, max_epochs=2, **kw, **TINY
    )
    with pytest.raises(ValueError, match="leaves none of max_epochs"):
        short.fit(_stamps(), LABELS)
    clf = PretrainedStampClassifier.from_pretrainer(
        pretrainer, max_epochs=4, **kw, **TINY
    ).fit(_stamps(), LABELS)
    assert clf.history[:, "event_lr"] == pytest.approx([1e-3, 1e-3, 1e-5, 1e-5])
    moved = [
        not torch.equal(v, _backbone(pretrainer)[k]) for k, v in _backbone(clf).items()
    ]
    assert any(moved)
    assert all(p.requires_grad for p in clf.module_.parameters())


def test_classifier_from_scratch_differs_from_pretrained(pretrainer):
    """weights=None trains the same architecture from random weights."""
    scratch = PretrainedStampClassifier(freeze="none", max_epochs=1, **TINY)
    scratch.fit(_stamps(), LABELS)
    assert scratch.weights is None
    assert scratch.module_.backbone.features[0].weight.shape == (4, 12, 3, 3)
    assert not torch.equal(
        scratch.module_.backbone.features[0].weight,
        pretrainer.module_.backbone.features[0].weight,
    )


def test_classifier_balanced_class_weights_and_labels(pretrainer):
    """Class weights are inversely proportional to class frequency; labels kept."""
    clf = PretrainedStampClassifier.from_pretrainer(
        pretrainer, freeze="head", max_epochs=1, **TINY
    ).fit(_stamps(), LABELS)
    assert clf.classes_.tolist() == ["GALAXY", "QSO", "STAR"]
    counts = np.array([4, 2, 6])
    np.testing.assert_allclose(clf.class_weight_, 12 / (3 * counts))
    np.testing.assert_allclose(
        clf.criterion_.weight.numpy(), clf.class_weight_.astype(np.float32)
    )
    assert set(clf.predict(_stamps())) <= set(LABELS)
    proba = clf.predict_proba(_stamps())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    unweighted = clone(clf).set_params(class_weight=None).fit(_stamps(), LABELS)
    assert unweighted.class_weight_ is None


def test_classifier_clone_and_pickle_keep_weights(pretrainer):
    """clone() keeps the pretrained weights, not the fit; pickle predicts alike."""
    import pickle

    clf = PretrainedStampClassifier.from_pretrainer(
        pretrainer, freeze="head", max_epochs=1, **TINY
    )
    cloned = clone(clf)
    assert cloned.weights == clf.weights
    assert cloned.weights is not clf.weights
    fitted = cloned.fit(_stamps(), LABELS)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        again.predict_proba(_stamps()), fitted.predict_proba(_stamps())
    )


def test_classifier_channel_mismatch_with_pretrained(pretrainer):
    """Pretrained 12-band weights on 5-band stamps: a clear error."""
    clf = PretrainedStampClassifier.from_pretrainer(pretrainer, max_epochs=11, **TINY)
    with pytest.raises(InputLayoutError, match="12-band stamps but X has 5"):
        clf.fit(_stamps(c=5), LABELS)


def test_classifier_wrong_channels_at_predict(pretrainer):
    """A fitted classifier refuses stamps with another band count."""
    clf = PretrainedStampClassifier(freeze="none", max_epochs=1, **TINY)
    clf.fit(_stamps(), LABELS)
    with pytest.raises(InputLayoutError, match="fitted on 12-band stamps"):
        clf.predict(_stamps(3, 3))


def test_classifier_invalid_params():
    """Unknown freeze, single class, and unknown class_weight labels raise."""
    X = _stamps()
    with pytest.raises(InvalidParameterError, match="freeze"):
        PretrainedStampClassifier(freeze="thaw", **TINY).fit(X, LABELS)
    with pytest.raises(ValueError, match="single class"):
        PretrainedStampClassifier(freeze="none", **TINY).fit(X, ["STAR"] * 12)
    with pytest.raises(ValueError, match="class_weight has labels"):
        PretrainedStampClassifier(
            freeze="none", max_epochs=1, class_weight={"ROCK": 2.0}, **TINY
        ).fit(X, LABELS)


def test_pretrained_weights_from_state_dict():
    """PretrainedWeights accepts torchvision-named keys and reads in_channels."""
    sd = VGG16Backbone(3, width=0.0625).state_dict()
    w = PretrainedWeights(sd, width=0.0625, n_hidden=8)
    assert w.in_channels == 3 and "backbone.features.0.weight" in w.state_dict
    with pytest.raises(ValueError, match="no VGG16 convolution weights"):
        PretrainedWeights({"fc.weight": torch.zeros(2, 2)})
    clf = PretrainedStampClassifier(
        weights=w,
        freeze="head",
        max_epochs=1,
        **{k: v for k, v in TINY.items() if not k.startswith("module__")},
    ).fit(_stamps(c=3), LABELS)
    torch.testing.assert_close(
        clf.module_.backbone.features[0].weight, sd["features.0.weight"]
    )


def test_classifier_old_parameter_names_warn_and_still_work(pretrainer):
    """pretrained/strategy/n_top_epochs: a FutureWarning naming the new name, and
    the same model as weights/freeze/warmup_epochs."""
    X = _stamps()
    weights = pretrainer.pretrained_weights()
    old = PretrainedStampClassifier(
        pretrained=weights, strategy="finetune", n_top_epochs=1, max_epochs=2, **TINY
    )
    with pytest.warns(FutureWarning) as record:
        old.fit(X, LABELS)
    messages = " ".join(str(w.message) for w in record)
    for hint in ("freeze='two_phase'", "warmup_epochs=1", "use weights="):
        assert hint in messages
    new = PretrainedStampClassifier(
        weights=weights, freeze="two_phase", warmup_epochs=1, max_epochs=2, **TINY
    ).fit(X, LABELS)
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))
    assert old.get_params()["strategy"] == "finetune"  # parameters untouched
    with pytest.warns(FutureWarning, match="n_bands_"):
        assert new.n_channels_ == new.n_bands_ == 12
    with pytest.raises(ValueError, match="set freeze only"):
        PretrainedStampClassifier(strategy="frozen", freeze="none", **TINY).fit(
            X, LABELS
        )


def test_classifier_weights_from_a_state_dict_file(tmp_path, pretrainer):
    """weights= takes a saved state dict (width and n_hidden read from it)."""
    path = tmp_path / "pretrained.pt"
    torch.save(pretrainer.module_.state_dict(), path)
    plain = {k: v for k, v in TINY.items() if not k.startswith("module__")}
    clf = PretrainedStampClassifier(
        weights=path, freeze="head", max_epochs=1, **plain
    ).fit(_stamps(), LABELS)
    torch.testing.assert_close(
        clf.module_.backbone.features[0].weight,
        pretrainer.module_.backbone.features[0].weight,
    )
    assert clf.module_.top[1].out_features == 8
