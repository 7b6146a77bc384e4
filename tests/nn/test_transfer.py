"""TransferCNNClassifier, BackboneNet weights and ImageEmbedder (issue: transfer backbones)."""

from __future__ import annotations

import pickle
import socket

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline

from skastro.exceptions import InputLayoutError
from skastro.nn import (
    BACKBONES,
    BackboneNet,
    ImageEmbedder,
    MagnitudePretrainer,
    TransferCNNClassifier,
    load_backbone_weights,
)
from skastro.utils._torchvision import import_torchvision

ALL_BACKBONES = sorted(BACKBONES)
TV_NAME = {"resnext50": "resnext50_32x4d"}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Weights must load with no network: any socket use fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("skastro tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _stamps(n=8, bands=4, size=32, seed=0):
    return (
        np.random.default_rng(seed)
        .normal(size=(n, bands, size, size))
        .astype(np.float32)
    )


def _torchvision_state(name: str) -> dict:
    """A full torchvision model's state dict (random weights, classifier included)."""
    tv = import_torchvision()
    builder = TV_NAME.get(name, name)
    kwargs = {"init_weights": False} if name == "inception_v3" else {}
    torch.manual_seed(1)
    return getattr(tv.models, builder)(weights=None, **kwargs).state_dict()


def _imagenet_filename(name: str) -> str:
    tv = import_torchvision()
    return tv.models.get_model_weights(TV_NAME.get(name, name)).DEFAULT.url.rsplit(
        "/", 1
    )[-1]


@pytest.mark.parametrize("backbone", ALL_BACKBONES)
def test_every_backbone_trains_a_few_steps_and_pickles(backbone):
    X = _stamps(n=6, bands=5)
    y = np.array(["STAR", "GALAXY", "QSO"] * 2)
    clf = TransferCNNClassifier(
        backbone=backbone,
        freeze="two_phase",
        warmup_epochs=1,
        unfreeze_last=2,
        module__n_hidden=32,
        max_epochs=2,
        batch_size=3,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    clf.fit(X, y)
    losses = clf.history[:, "train_loss"]
    assert len(losses) == 2 and np.isfinite(losses).all()
    proba = clf.predict_proba(X)
    assert proba.shape == (6, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= set(clf.classes_)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X), proba, rtol=1e-5, atol=1e-6)
    # two-phase: only the last 2 backbone layers became trainable again
    trainable = [
        n for n, p in clf.module_.backbone.named_parameters() if p.requires_grad
    ]
    assert 1 <= len(trainable) <= 4
    first_conv = clf.module_.backbone.first_conv
    assert not any(n.startswith(f"net.{first_conv}.") for n in trainable)


@pytest.mark.parametrize("bands", [3, 12])
def test_imagenet_weights_load_from_local_file_under_torchvision_name(tmp_path, bands):
    sd = _torchvision_state("efficientnet_b0")
    torch.save(sd, tmp_path / _imagenet_filename("efficientnet_b0"))
    emb = ImageEmbedder(weights="imagenet", weights_dir=tmp_path).fit(
        _stamps(bands=bands)
    )
    loaded = emb.backbone_.net.state_dict()
    for key in ("features.1.0.block.0.0.weight", "features.8.0.weight"):
        assert torch.equal(loaded[key], sd[key])
    w = loaded["features.0.0.weight"]
    if bands == 3:
        assert torch.equal(w, sd["features.0.0.weight"])
    else:  # each band gets the mean RGB filter times 3 / C
        expected = sd["features.0.0.weight"].mean(dim=1, keepdim=True) * 3 / bands
        torch.testing.assert_close(w, expected.repeat(1, bands, 1, 1))


def test_adapted_weights_see_equal_bands_as_the_grey_rgb_image():
    sd = _torchvision_state("resnext50")
    rgb = load_backbone_weights(BackboneNet("resnext50", 3), sd).eval()
    multi = load_backbone_weights(BackboneNet("resnext50", 7), sd).eval()
    grey = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            multi(grey.repeat(1, 7, 1, 1)),
            rgb(grey.repeat(1, 3, 1, 1)),
            rtol=1e-4,
            atol=1e-5,
        )


def test_weights_from_a_state_dict_and_a_file_path(tmp_path):
    sd = _torchvision_state("densenet121")
    path = tmp_path / "my_densenet.pt"
    torch.save(sd, path)
    X, y = _stamps(bands=3), np.array([0, 1] * 4)
    for weights in (sd, path, str(path)):
        clf = TransferCNNClassifier(
            backbone="densenet121",
            weights=weights,
            freeze="head",
            max_epochs=1,
            module__n_hidden=8,
            train_split=None,
            verbose=0,
            random_state=0,
        ).fit(X, y)
        got = clf.module_.backbone.net.state_dict()
        # frozen backbone: convolutions keep the loaded weights exactly
        assert torch.equal(got["features.conv0.weight"], sd["features.conv0.weight"])
        assert torch.equal(
            got["features.denseblock4.denselayer16.conv2.weight"],
            sd["features.denseblock4.denselayer16.conv2.weight"],
        )


def test_old_densenet_checkpoint_key_names_are_understood():
    sd = _torchvision_state("densenet121")
    old = {
        k.replace("norm1", "norm.1").replace("conv2", "conv.2"): v
        for k, v in sd.items()
    }
    assert old.keys() != sd.keys()
    net = load_backbone_weights(BackboneNet("densenet121", 3), old)
    assert torch.equal(
        net.net.state_dict()["features.denseblock1.denselayer1.norm1.weight"],
        sd["features.denseblock1.denselayer1.norm1.weight"],
    )


def test_magnitude_pretrainer_weights_start_the_vgg16_backbone():
    X = _stamps(n=6, bands=5)
    mags = np.random.default_rng(1).uniform(15, 21, size=(6, 5))
    pre = MagnitudePretrainer(
        module__n_hidden=8,
        max_epochs=1,
        batch_size=6,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, mags)
    clf = TransferCNNClassifier(
        backbone="vgg16",
        weights=pre,
        freeze="head",
        max_epochs=1,
        module__n_hidden=8,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, np.array(["a", "b"] * 3))
    ours = clf.module_.backbone.net.state_dict()
    theirs = pre.module_.state_dict()
    for i in (0, 28):
        assert torch.equal(
            ours[f"features.{i}.weight"], theirs[f"backbone.features.{i}.weight"]
        )
    # the pretrainer's weights do not fit another architecture
    with pytest.raises(ValueError, match="VGG16 weights"):
        TransferCNNClassifier(
            backbone="resnext50", weights=pre, max_epochs=1, train_split=None, verbose=0
        ).fit(X, np.array([0, 1] * 3))


def test_narrow_pretrainer_weights_build_a_vgg16_of_their_width():
    """A quarter-width pretrainer (as the shipped one) starts the classifier
    and the embedder: a VGG16 of its width with its very weights."""
    X = _stamps(n=6, bands=3)
    pre = MagnitudePretrainer(
        module__width=0.0625,
        module__n_hidden=4,
        max_epochs=1,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, np.ones((6, 3)) * 18)
    assert ImageEmbedder("vgg16", weights=pre).fit(X).transform(X).shape == (6, 32)
    clf = TransferCNNClassifier(
        backbone="vgg16",
        weights=pre.pretrained_weights(),
        freeze="head",
        max_epochs=1,
        module__n_hidden=8,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, np.array(["a", "b"] * 3))
    backbone = clf.module_.backbone
    assert (backbone.width, backbone.n_features) == (0.0625, 32)
    theirs = pre.module_.state_dict()
    for name, value in backbone.net.state_dict().items():
        assert torch.equal(value, theirs[f"backbone.{name}"]), name
    # from scratch, the same narrow VGG16 by module__width; other backbones refuse it
    scratch = TransferCNNClassifier(
        backbone="vgg16",
        module__width=0.0625,
        max_epochs=1,
        module__n_hidden=8,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, np.array(["a", "b"] * 3))
    assert scratch.module_.backbone.n_features == 32
    with pytest.raises(ValueError, match="VGG16 only"):
        BackboneNet("densenet121", width=0.5)


def test_missing_imagenet_file_says_how_to_fetch_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        ImageEmbedder("vgg16", weights="imagenet", weights_dir=tmp_path).fit(_stamps())
    msg = str(err.value)
    assert "vgg16-397923af.pth" in msg
    assert "never downloads" in msg
    assert "get_model('vgg16', weights='DEFAULT')" in msg
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageEmbedder(weights=tmp_path / "nope.pth").fit(_stamps())


def test_weight_file_of_another_architecture_is_refused(tmp_path):
    torch.save(_torchvision_state("vgg16"), tmp_path / "vgg.pth")
    with pytest.raises(ValueError, match="not resnext50 weights"):
        ImageEmbedder("resnext50", weights=tmp_path / "vgg.pth").fit(_stamps())
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="junk.pth"):
        ImageEmbedder("resnext50", weights=tmp_path / "junk.pth").fit(_stamps())


def test_band_count_mismatch_with_weights_and_with_fitted_model():
    sd = _torchvision_state("efficientnet_b0")
    five = BackboneNet("efficientnet_b0", 5)
    sd5 = {f"net.{k}": v for k, v in five.net.state_dict().items()}
    with pytest.raises(InputLayoutError, match="takes 5 bands but the stamps have 12"):
        load_backbone_weights(BackboneNet("efficientnet_b0", 12), sd5)
    load_backbone_weights(BackboneNet("efficientnet_b0", 12), sd)  # RGB: adapted
    emb = ImageEmbedder().fit(_stamps(bands=4))
    with pytest.raises(InputLayoutError):
        emb.transform(_stamps(bands=3))
    clf = TransferCNNClassifier(
        max_epochs=1, module__n_hidden=4, train_split=None, verbose=0
    ).fit(_stamps(bands=4), np.array([0, 1] * 4))
    with pytest.raises(InputLayoutError, match="4-band"):
        clf.predict(_stamps(bands=3))


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ValueError, match="efficientnet_b0"):
        BackboneNet("resnet18")
    with pytest.raises(ValueError, match="backbone"):
        TransferCNNClassifier(backbone="alexnet", train_split=None).fit(
            _stamps(), np.array([0, 1] * 4)
        )


def test_small_stamps_are_resized_or_refused():
    y = np.array([0, 1] * 4)
    # 20-pixel stamps: upsampled to InceptionV3's 75-pixel minimum, inside the net
    net = BackboneNet("inception_v3", 2).eval()
    seen = []
    net.net.Conv2d_1a_3x3.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    with torch.no_grad():
        assert net(torch.randn(2, 2, 20, 20)).shape == (2, 2048)
    assert tuple(seen[0][-2:]) == (75, 75)
    with pytest.raises(InputLayoutError, match="needs at least 32x32"):
        ImageEmbedder(input_size=None).fit(_stamps(size=20))
    with pytest.raises(InputLayoutError, match="4x4"):
        TransferCNNClassifier(max_epochs=1, train_split=None, verbose=0).fit(
            _stamps(size=4), y
        )
    with pytest.raises(InputLayoutError, match="below the 75-pixel minimum"):
        BackboneNet("inception_v3", 3, input_size=64)
    assert ImageEmbedder(input_size=48).fit(_stamps(size=20)).transform(
        _stamps(size=20)
    ).shape == (8, 1280)


def test_head_freezing_keeps_the_backbone_and_max_norm_bounds_the_hidden_layer():
    X, y = _stamps(), np.array(["a", "b"] * 4)
    clf = TransferCNNClassifier(
        freeze="head",
        max_norm=0.5,
        l2_dense=0.1,
        module__n_hidden=16,
        max_epochs=2,
        batch_size=4,
        train_split=None,
        verbose=0,
        random_state=0,
        lr=0.05,
    )
    clf.fit(X, y)
    ref = TransferCNNClassifier(
        module__n_hidden=16, max_epochs=0, train_split=None, verbose=0, random_state=0
    ).fit(X, y)
    for (name, a), b in zip(
        clf.module_.backbone.named_parameters(),
        ref.module_.backbone.parameters(),
        strict=True,
    ):
        assert torch.equal(a, b), name
    norms = clf.module_.hidden.weight.detach().norm(dim=1)
    assert float(norms.max()) <= 0.5 + 1e-5
    # the L2 penalty enters the loss
    yp, yt = torch.zeros(2, 2), torch.tensor([0, 1])
    plain = TransferCNNClassifier.get_loss(ref, yp, yt)
    clf_pen = clf.get_loss(yp, yt)
    expected = 0.1 * clf.module_.hidden.weight.pow(2).sum()
    torch.testing.assert_close(clf_pen - plain, expected)


def test_feature_norm_standardises_small_pretrained_features_for_the_head():
    """Pooled features of a few hundredths (as the shipped pretrainer's)
    reach the hidden layer standardised with feature_norm; the recipe turns
    it on with pretrained weights only, and a pickled network without it
    still runs."""
    from skastro import recipes
    from skastro.nn import TransferNet

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = TransferNet(
            "vgg16", 3, 2, width=0.0625, n_hidden=4, feature_norm=True
        ).train()
    seen = []
    net.backbone.register_forward_hook(lambda mod, inp, out: seen.append(out))
    net.hidden.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    x = torch.from_numpy(_stamps(n=16, bands=3))
    net(x)
    raw, features = seen
    assert features.shape == (16, 32)
    # features that vary well above BatchNorm's eps (1e-5) come out standardised
    live = raw.var(dim=0, unbiased=False) > 1e-3
    assert live.sum() >= 8
    assert torch.allclose(features.mean(dim=0), torch.zeros(32), atol=1e-4)
    assert torch.allclose(
        features.std(dim=0, unbiased=False)[live],
        torch.ones(int(live.sum())),
        atol=1e-2,
    )
    assert recipes.transfer_classifier(weights={}).get_params()["module__feature_norm"]
    assert "module__feature_norm" not in recipes.transfer_classifier().get_params()
    # a network pickled before the option (no feature_norm module) still runs
    plain = TransferNet("vgg16", 3, 2, width=0.0625, n_hidden=4).eval()
    assert "feature_norm" not in plain._modules
    assert plain(x).shape == (16, 2)


def test_two_phase_needs_epochs_after_warmup():
    with pytest.raises(ValueError, match="warmup_epochs"):
        TransferCNNClassifier(
            freeze="two_phase", warmup_epochs=3, max_epochs=3, train_split=None
        ).fit(_stamps(), np.array([0, 1] * 4))


def test_backbone_and_optimizer_in_one_grid_search():
    X = _stamps(n=8, bands=3)
    y = np.array(["LSBG", "artifact"] * 4)
    base = TransferCNNClassifier(
        module__n_hidden=8,
        max_epochs=1,
        batch_size=4,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    grid = GridSearchCV(
        base,
        {
            "backbone": ["efficientnet_b0", "densenet121"],
            "optimizer": [torch.optim.Adam, torch.optim.RMSprop],
        },
        cv=StratifiedKFold(2),
        error_score="raise",
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.backbone in ("efficientnet_b0", "densenet121")


@pytest.mark.parametrize("backbone", ALL_BACKBONES)
def test_embedder_feature_length_per_backbone(backbone):
    X = _stamps(n=2, bands=3)
    emb = ImageEmbedder(backbone, random_state=0).fit(X)
    feats = emb.transform(X)
    assert feats.shape == (2, BACKBONES[backbone].n_features)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    assert len(emb.get_feature_names_out()) == feats.shape[1]


def test_embedder_not_fitted_and_knn_regression_pipeline():
    with pytest.raises(NotFittedError):
        ImageEmbedder().transform(_stamps())
    X = _stamps(n=10, bands=3)
    target = np.arange(10.0)
    pipe = make_pipeline(
        ImageEmbedder(random_state=0), KNeighborsRegressor(n_neighbors=1)
    )
    pred = pipe.fit(X, target).predict(X)
    np.testing.assert_allclose(pred, target)  # each stamp is its own nearest neighbour
