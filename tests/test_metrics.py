"""Tests of skastro.metrics (completeness, purity, bootstrap) and plotting."""

import matplotlib
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import cross_validate

from skastro.metrics import (
    bootstrap_ci,
    bootstrap_classification_metrics,
    completeness_score,
    lsbg_scoring,
    purity_score,
)

matplotlib.use("Agg")


def test_completeness_purity_values():
    """Completeness = TP/(TP+FN), purity = TP/(TP+FP) (Tanoglidis et al. (2021) eqs. 8-9)."""
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    assert completeness_score(y_true, y_pred) == pytest.approx(3 / 4)
    assert purity_score(y_true, y_pred) == pytest.approx(3 / 4)
    assert purity_score(y_true, np.zeros(8, int)) == 0.0


def test_lsbg_scoring_in_cross_validate():
    """The four scorers work in cross_validate."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.array([0, 1] * 20)
    res = cross_validate(
        DummyClassifier(strategy="constant", constant=1),
        X,
        y,
        cv=2,
        scoring=lsbg_scoring(),
    )
    np.testing.assert_allclose(res["test_completeness"], 1.0)
    np.testing.assert_allclose(res["test_purity"], 0.5)
    np.testing.assert_allclose(res["test_accuracy"], 0.5)
    np.testing.assert_allclose(res["test_roc_auc"], 0.5)


def test_bootstrap_ci_contains_value_and_shrinks_with_n():
    """The interval brackets the value and narrows as the test set grows."""
    rng = np.random.default_rng(1)

    def width(n):
        y = rng.integers(0, 2, n)
        pred = np.where(rng.random(n) < 0.8, y, 1 - y)
        ci = bootstrap_ci(accuracy_score, y, pred, n_resamples=300, random_state=0)
        assert ci["low"] <= ci["value"] <= ci["high"]
        return ci["high"] - ci["low"]

    assert width(2000) < 0.5 * width(100)


def test_bootstrap_ci_width_matches_binomial():
    """For accuracy p on n objects the 95% width is about 2*1.96*sqrt(p(1-p)/n)."""
    n = 1000
    y = np.zeros(n, int)
    pred = np.r_[np.zeros(800, int), np.ones(200, int)]
    ci = bootstrap_ci(accuracy_score, y, pred, random_state=0)
    expected = 2 * 1.96 * np.sqrt(0.8 * 0.2 / n)
    assert ci["high"] - ci["low"] == pytest.approx(expected, rel=0.15)


def test_bootstrap_ci_deterministic_and_validated():
    """Same random_state, same interval; mismatched lengths are refused."""
    y = np.array([0, 1] * 30)
    s = np.linspace(0, 1, 60)
    a = bootstrap_ci(roc_auc_score, y, s, n_resamples=50, random_state=3)
    b = bootstrap_ci(roc_auc_score, y, s, n_resamples=50, random_state=3)
    assert a == b
    with pytest.raises(ValueError, match="length"):
        bootstrap_ci(accuracy_score, y, y[:-1])


def test_bootstrap_classification_metrics_table():
    """One row per metric of Tanoglidis et al. (2021) Table 2, with intervals."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    score = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    table = bootstrap_classification_metrics(y, score, n_resamples=100, random_state=0)
    assert list(table.index) == ["accuracy", "completeness", "purity", "roc_auc"]
    assert list(table.columns) == ["value", "low", "high", "std"]
    assert (table["low"] <= table["value"]).all()
    assert (table["value"] <= table["high"]).all()
    assert table.loc["roc_auc", "value"] == pytest.approx(roc_auc_score(y, score))


def test_plotting_functions_run():
    """Colour stamps, Grad-CAM overlay and ROC figures are drawn."""
    import matplotlib.pyplot as plt

    from skastro.plotting import plot_grad_cam, plot_roc_curves, stamps_to_rgb

    rng = np.random.default_rng(0)
    stamps = rng.normal(0, 0.01, (3, 3, 16, 16))
    rgb = stamps_to_rgb(stamps)
    assert rgb.shape == (3, 16, 16, 3) and rgb.min() >= 0 and rgb.max() <= 1
    fig = plot_grad_cam(stamps, rng.random((3, 16, 16)), titles=["a", "b", "c"])
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="cams must have shape"):
        plot_grad_cam(stamps, rng.random((2, 16, 16)))
    ax = plot_roc_curves(
        {"x": (np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.6]))}
    )
    assert "AUC 1.000" in ax.get_legend().get_texts()[0].get_text()
    plt.close("all")


# --------------------------------------------------------------------------
# accuracy against the number of observation epochs seen
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sequences():
    from skastro.datasets import make_hits_sequences

    return make_hits_sequences(3, n_epochs=(4, 8), return_X_y=True, random_state=0)


class _LastEpochCount:
    """A stand-in classifier: predicts the number of valid epochs it sees."""

    def predict(self, X):
        return np.asarray(X["mask"]).sum(axis=1)


class _StepModel:
    """A stand-in with predict_proba_steps: class = epoch index (0-based),
    no output before the third epoch, like SequenceRCNN."""

    classes_ = np.arange(10, 18)

    def predict_proba_steps(self, X):
        mask = np.asarray(X["mask"])
        n, t = mask.shape
        out = np.full((n, t, 8), np.nan)
        for i in range(n):
            for j, e in enumerate(np.flatnonzero(mask[i])):
                if j >= 2:
                    out[i, e] = np.eye(8)[j]
        return out


def test_truncate_sequences_keeps_first_epochs(sequences):
    """Only the first k valid epochs stay valid; shorter sequences are kept whole."""
    from skastro.metrics import truncate_sequences

    X, _ = sequences
    n_valid = X["mask"].sum(axis=1)
    seen = truncate_sequences(X, 5)
    np.testing.assert_array_equal(seen["mask"].sum(axis=1), np.minimum(n_valid, 5))
    assert seen["stamps"] is X["stamps"] or np.shares_memory(
        seen["stamps"], X["stamps"]
    )
    # masked epochs anywhere: the first k *valid* ones are kept
    X2 = dict(X)
    X2["mask"] = X["mask"].copy()
    X2["mask"][:, 0] = False
    out = truncate_sequences(X2, 2)["mask"]
    assert not out[:, 0].any() and np.all(out.sum(axis=1) == 2)
    # epochs stored out of time order: the first k in *time* are kept
    X3 = {"mjd": np.array([[3.0, 1.0, 2.0, np.nan]])}
    np.testing.assert_array_equal(
        truncate_sequences(X3, 2)["mask"], [[False, True, True, False]]
    )


@pytest.mark.parametrize(
    "n_epochs, match", [(0, "int >= 1"), (2.5, "int >= 1"), (True, "int >= 1")]
)
def test_truncate_sequences_bad_n_epochs(sequences, n_epochs, match):
    """A non-positive or non-integer number of epochs is refused."""
    from skastro.metrics import truncate_sequences

    with pytest.raises(ValueError, match=match):
        truncate_sequences(sequences[0], n_epochs)


def test_truncate_sequences_bad_X():
    """X must be a mapping with 'mask' or 'mjd' of shape (n, T); every case
    raises SequenceError, the one type of skastro.sequences (before it, a
    TypeError or KeyError for the first two)."""
    from skastro.exceptions import SequenceError
    from skastro.metrics import truncate_sequences

    with pytest.raises(SequenceError, match="mapping"):
        truncate_sequences(np.zeros((3, 4)), 2)
    with pytest.raises(SequenceError, match="neither 'mask' nor 'mjd'"):
        truncate_sequences({"stamps": np.zeros((3, 4, 5, 5))}, 2)
    with pytest.raises(SequenceError, match=r"shape \(n_sequences, n_epochs\)"):
        truncate_sequences({"mask": np.ones(3, bool)}, 2)
    # without a mask, finite times mark the valid epochs
    mjd = np.array([[1.0, 2.0, np.nan], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(
        truncate_sequences({"mjd": mjd}, 2)["mask"].sum(axis=1), [2, 2]
    )


def test_accuracy_by_epochs_seen_truncates(sequences):
    """A plain classifier sees k epochs (or all of a shorter sequence)."""
    from skastro.metrics import accuracy_by_epochs_seen, predict_by_epochs_seen

    X, _ = sequences
    n_valid = X["mask"].sum(axis=1)
    preds = predict_by_epochs_seen(_LastEpochCount(), X, [1, 5, 8])
    for k, p in preds.items():
        np.testing.assert_array_equal(p, np.minimum(n_valid, k))
    table = accuracy_by_epochs_seen(
        _LastEpochCount(), X, np.minimum(n_valid, 5), n_resamples=50, random_state=0
    )
    assert list(table.index) == list(range(1, 9))
    assert table.index.name == "epochs_seen"
    assert table.loc[5, "accuracy"] == 1.0
    assert table.loc[5, "low"] == table.loc[5, "high"] == 1.0
    assert table.loc[1, "accuracy"] == 0.0


def test_accuracy_by_epochs_seen_uses_steps(sequences):
    """With predict_proba_steps, the k-th valid epoch's output is used (mapped
    through classes_), and NaN before the first full window."""
    from skastro.metrics import accuracy_by_epochs_seen, predict_by_epochs_seen

    X, _ = sequences
    n_valid = X["mask"].sum(axis=1)
    preds = predict_by_epochs_seen(_StepModel(), X)
    assert preds[1] is None and preds[2] is None
    np.testing.assert_array_equal(preds[4], np.full(len(n_valid), 13))
    np.testing.assert_array_equal(preds[8], 9 + np.minimum(n_valid, 8))
    table = accuracy_by_epochs_seen(
        _StepModel(), X, np.full(len(n_valid), 12), n_resamples=0
    )
    assert np.isnan(table.loc[2, "accuracy"]) and table.loc[3, "accuracy"] == 1.0
    assert np.isnan(table.loc[3, "low"])


def test_accuracy_by_epochs_seen_intervals_paired(sequences):
    """The same random_state draws the same resamples for two models."""
    from skastro.metrics import accuracy_by_epochs_seen

    X, _ = sequences
    y = np.minimum(X["mask"].sum(axis=1), 6)
    a = accuracy_by_epochs_seen(
        _LastEpochCount(), X, y, epochs=[6], n_resamples=200, random_state=3
    )
    b = accuracy_by_epochs_seen(
        _LastEpochCount(), X, y, epochs=[6], n_resamples=200, random_state=3
    )
    assert a.equals(b)
    assert a.loc[6, "low"] <= a.loc[6, "accuracy"] <= a.loc[6, "high"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": [0, 3]}, "positive ints"),
        ({"epochs": []}, "positive ints"),
        ({"epochs": ["a"]}, "positive ints"),
        ({"epochs": [2.5]}, "positive ints"),
        ({"n_resamples": -1}, "n_resamples"),
        ({"y": np.zeros(3)}, "one label per sequence"),
    ],
)
def test_accuracy_by_epochs_seen_bad_input(sequences, kwargs, match):
    """Bad epochs, resample counts and labels raise a clear ValueError."""
    from skastro.metrics import accuracy_by_epochs_seen

    X, y = sequences
    kwargs = {"y": y, **kwargs}
    with pytest.raises(ValueError, match=match):
        accuracy_by_epochs_seen(_LastEpochCount(), X, **kwargs)


def test_recall_by_class_ci_values_and_shared_resamples():
    """Per-class recall with an interval; a class absent from a resample scores 0."""
    from skastro.metrics import recall_by_class_ci

    y_true = np.array([0] * 10 + [1] * 10 + [2] * 10)
    y_pred = np.array([0] * 10 + [1] * 5 + [0] * 5 + [2] * 10)
    r = recall_by_class_ci(y_true, y_pred, random_state=0, n_resamples=200)
    assert list(r) == [0, 1, 2]
    assert r[0]["value"] == 1.0 and r[1]["value"] == 0.5
    assert r[1]["low"] < 0.5 < r[1]["high"]
    only = recall_by_class_ci(y_true, y_pred, labels=[2], n_resamples=10)
    assert list(only) == [2] and only[2]["low"] == 1.0
    names = recall_by_class_ci(["a", "b"], ["a", "a"], n_resamples=5, random_state=0)
    assert names["b"]["value"] == 0.0


def test_chance_level_per_metric():
    """Majority class for accuracy, 1/k balanced, random neighbours for precision@k."""
    from skastro.metrics import chance_level

    y = np.array(["STAR"] * 6 + ["QSO"] * 2 + ["GALAXY"] * 2)
    assert chance_level(y) == pytest.approx(0.6)
    assert chance_level(y, metric="balanced_accuracy") == pytest.approx(1 / 3)
    # a quasar query: 1 other quasar among the 9 other objects
    assert chance_level(y, metric="precision_at_k", queries=["QSO"]) == pytest.approx(
        1 / 9
    )
    every = chance_level(y, metric="precision_at_k")
    assert every == pytest.approx((6 * 5 / 9 + 2 * 1 / 9 + 2 * 1 / 9) / 10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": [0, 1], "metric": "auc"}, "metric must be one of"),
        ({"y": []}, "non-empty 1-D"),
        ({"y": [[0, 1]]}, "non-empty 1-D"),
        ({"y": [0], "metric": "precision_at_k"}, "at least 2"),
        (
            {"y": [0, 1], "metric": "precision_at_k", "queries": [2]},
            "not in the gallery",
        ),
    ],
)
def test_chance_level_errors(kwargs, match):
    """Bad metric names, empty or 2-D labels, and unknown queries are refused."""
    from skastro.metrics import chance_level

    with pytest.raises(ValueError, match=match):
        chance_level(**kwargs)
