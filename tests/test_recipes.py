"""skastro.recipes: the papers' set-ups as unfitted, clone-able estimators."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from skastro import recipes


def _unfitted(est):
    """True when ``est`` (or its last step) has not been fitted."""
    from sklearn.exceptions import NotFittedError

    final = est[-1] if hasattr(est, "steps") else est
    if hasattr(final, "initialized_"):
        return not final.initialized_
    try:
        check_is_fitted(final)
    except NotFittedError:
        return True
    return False


ALL = [
    recipes.deepshadows_cnn,
    recipes.deepshadows_svm,
    recipes.deepshadows_forest,
    recipes.hits_rcnn,
    recipes.hits_forest,
    recipes.splus_pretrainer,
    recipes.splus_classifier,
    recipes.splus_magnitude_forest,
    recipes.transfer_classifier,
]


@pytest.mark.parametrize("recipe", ALL, ids=lambda f: f.__name__)
def test_recipe_returns_unfitted_clonable_estimator(recipe):
    """Every recipe gives a fresh unfitted estimator whose clone has the same params."""
    est = recipe()
    assert _unfitted(est)
    assert recipe() is not est
    twin = clone(est)
    assert sorted(twin.get_params(deep=False)) == sorted(est.get_params(deep=False))


def test_deepshadows_cnn_schedules():
    """The "paper" schedule keeps Table 1's Adadelta and L2; "short" is Adam with light L2."""
    import torch

    paper = recipes.deepshadows_cnn()
    assert paper.optimizer is torch.optim.Adadelta
    assert (paper.lr, paper.l2_conv, paper.l2_dense, paper.batch_size) == (
        0.1,
        0.13,
        0.12,
        64,
    )
    short = recipes.deepshadows_cnn(schedule="short", max_epochs=3, random_state=4)
    assert short.optimizer is torch.optim.Adam
    assert short.get_params()["module__bn_momentum"] == 0.1
    assert (short.lr, short.l2_conv, short.max_epochs, short.random_state) == (
        1e-3,
        1e-4,
        3,
        4,
    )


def test_deepshadows_baselines_are_the_papers():
    """SVM: C=1e4, gamma=1e-3 on scaled features; forest: 100 trees, split 10."""
    svm = recipes.deepshadows_svm()
    assert [n for n, _ in svm.steps] == ["sourcefeatures", "standardscaler", "svc"]
    assert (svm[-1].C, svm[-1].gamma, svm[-1].kernel) == (1e4, 1e-3, "rbf")
    forest = recipes.deepshadows_forest(random_state=3)
    rf = forest[-1]
    assert (rf.n_estimators, rf.min_samples_split, rf.random_state) == (100, 10, 3)


def test_deepshadows_forest_fits_on_stamps():
    """The forest recipe runs end to end on a few simulated stamps."""
    from skastro.datasets import make_lsbg_stamps

    X, y = make_lsbg_stamps(16, return_X_y=True, random_state=0)
    model = recipes.deepshadows_forest(random_state=0).fit(X, y)
    assert set(model.predict(X)) <= {0, 1}


def test_hits_forest_uses_the_papers_feature_list():
    """The forest is pinned to Carrasco-Davis et al.'s 47-feature list, 25 trees
    of depth 15."""
    from skastro.lightcurves._features_def import CARRASCO_DAVIS2019_FEATURES

    forest = recipes.hits_forest(random_state=0)
    fats = forest.named_steps["fatsfeatures"].fit()
    assert fats.features_ == CARRASCO_DAVIS2019_FEATURES
    assert len(fats.get_feature_names_out()) == 47
    rf = forest[-1]
    assert (rf.n_estimators, rf.max_depth) == (25, 15)


@pytest.mark.parametrize(
    "network, n_filters, lr",
    [("paper", 64, 5e-4), ("reduced", 16, 1e-3), ("small", 8, 1e-3)],
)
def test_hits_rcnn_networks(network, n_filters, lr):
    """The three network sizes set the module and the learning rate."""
    net = recipes.hits_rcnn(network=network, max_epochs=2)
    params = net.get_params()
    assert params.get("module__n_filters", 64) == n_filters
    assert net.lr == lr and net.max_epochs == 2


def test_splus_recipes_schedules():
    """Paper: dense 1024, Adam 1e-4; short: dense 256, 1e-3; the classifier
    from scratch uses torchvision's VGG initialisation."""
    paper = recipes.splus_pretrainer()
    assert paper.get_params()["module__n_hidden"] == 1024 and paper.lr == 1e-4
    short = recipes.splus_pretrainer(width=0.125, schedule="short")
    assert short.get_params()["module__width"] == 0.125 and short.lr == 1e-3
    scratch = recipes.splus_classifier(freeze="none", schedule="short")
    assert scratch.get_params()["module__init"] == "vgg"
    assert scratch.freeze == "none" and scratch.lr == 1e-3
    tuned = recipes.splus_classifier()
    assert (tuned.lr, tuned.finetune_lr, tuned.freeze) == (1e-4, 1e-5, "two_phase")
    assert recipes.splus_magnitude_forest().n_estimators == 300


def test_splus_classifier_from_a_fitted_pretrainer():
    """With a pretrainer, the classifier takes its weights and width."""
    from skastro.datasets import SPLUS_BANDS

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, len(SPLUS_BANDS), 32, 32)).astype(np.float32)
    mags = rng.uniform(15, 20, size=(8, len(SPLUS_BANDS))).astype(np.float32)
    pre = recipes.splus_pretrainer(
        width=0.0625, schedule="short", max_epochs=1, train_split=None
    ).fit(X, mags)
    clf = recipes.splus_classifier(
        pre, schedule="short", max_epochs=2, warmup_epochs=1, train_split=None
    )
    assert clf.weights is not None and clf.freeze == "two_phase"
    y = np.array(["STAR", "GALAXY"] * 4)
    clf.fit(X, y)
    assert set(clf.predict(X)) <= {"STAR", "GALAXY"}


def test_transfer_classifier_same_input_size_for_every_backbone():
    """The five backbones share one input size, λ = 0 and a 2048-unit head."""
    sizes = set()
    for backbone in recipes.TRANSFER_BACKBONES:
        clf = recipes.transfer_classifier(backbone)
        sizes.add(clf.input_size)
        assert clf.l2_dense == 0.0 and clf.freeze == "none"
        assert clf.get_params()["module__n_hidden"] == 2048
    assert sizes == {recipes.TRANSFER_INPUT_SIZE}
    assert len(recipes.TRANSFER_BACKBONES) == 5
    tuned = recipes.transfer_classifier("vgg16", weights={"x": 1})
    assert tuned.freeze == "two_phase"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: recipes.deepshadows_cnn(schedule="fast"), "schedule must be one of"),
        (lambda: recipes.hits_rcnn(network="tiny"), "network must be one of"),
        (lambda: recipes.splus_pretrainer(schedule="long"), "schedule must be one of"),
        (lambda: recipes.splus_classifier(schedule="x"), "schedule must be one of"),
        (lambda: recipes.transfer_classifier("vgg19"), "backbone must be one of"),
    ],
)
def test_recipe_bad_choice_raises(call, match):
    """A misspelt choice names the parameter and lists what is allowed."""
    with pytest.raises(ValueError, match=match):
        call()
