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
    """Completeness = TP/(TP+FN), purity = TP/(TP+FP) (seed 003 eqs. 8-9)."""
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
    """One row per metric of seed 003 Table 2, with intervals."""
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
