import numpy as np
import pytest
from sklearn.utils import Bunch

from skastro.nn import LSBGNet, MagnitudePretrainer
from skastro.training import (
    evaluate_lsbgnet,
    evaluate_pretrainer,
    evaluate_splus_classification,
    masked_mae_ci,
    simulate_splus_pool,
)


def test_masked_mae_skips_missing_magnitudes():
    y = np.array([[1.0, np.nan], [2.0, 3.0]])
    pred = np.array([[1.5, 9.0], [2.0, 2.0]])
    ci = masked_mae_ci(y, pred, n_resamples=50)
    assert ci["value"] == pytest.approx(0.5)
    assert ci["low"] <= ci["value"] <= ci["high"]


@pytest.fixture(scope="module")
def pretrainer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 12, 32, 32)).astype(np.float32)
    y = rng.uniform(15, 20, size=(16, 12))
    return MagnitudePretrainer(
        module__width=0.0625,
        module__n_hidden=8,
        max_epochs=1,
        train_split=None,
        random_state=0,
    ).fit(X, y)


def test_evaluate_pretrainer_reports_the_broad_bands(pretrainer):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 12, 32, 32)).astype(np.float32)
    y = rng.uniform(15, 20, size=(12, 12)).astype(np.float32)
    out = evaluate_pretrainer(pretrainer, test_set=(X, y), n_resamples=20)
    assert set(out["mae_per_band"]) == {
        "u",
        "F378",
        "F395",
        "F410",
        "F430",
        "g",
        "F515",
        "r",
        "F660",
        "i",
        "F861",
        "z",
    }
    assert out["mae"]["value"] > 0 and out["mae_broad"]["value"] > 0


def test_pretrainer_test_set_on_the_papers_selection(pretrainer):
    """pool_cut="all" reaches make_splus_stamps (every magnitude measured)
    and is named in the evaluation's test set."""
    X, y = simulate_splus_pool(
        10, 0, n_per_field=120, field_shape=(256, 256), pool_cut="all"
    )
    assert X.shape == (10, 12, 32, 32) and np.isfinite(y).all()
    out = evaluate_pretrainer(
        pretrainer, test_set=(X, y), n_resamples=10, pool_cut="all"
    )
    assert out["sets"]["test"].endswith("pool_cut='all')")


def test_evaluate_splus_classification_compares_three_starts(pretrainer):
    rng = np.random.default_rng(2)
    labelled = Bunch(
        stamps=rng.normal(size=(30, 12, 32, 32)).astype(np.float32),
        target=np.array(["STAR", "GALAXY", "QSO"] * 10),
    )
    out = evaluate_splus_classification(
        pretrainer,
        n_labels=(12,),
        n_test=12,
        max_epochs=2,
        warmup_epochs=1,
        n_resamples=20,
        labelled=labelled,
    )
    assert set(out["accuracy"]["12"]) == {"fine_tuned", "frozen", "scratch"}
    assert all(0 <= a[0] <= 1 for a in out["accuracy"]["12"].values())


def test_evaluate_lsbgnet_runs_the_protocol():
    from skastro.datasets import make_lsbg_stamps

    X, y = make_lsbg_stamps(16, return_X_y=True, random_state=0)
    net = LSBGNet(max_epochs=1, random_state=0).fit(X, y)
    out = evaluate_lsbgnet(
        net, test_size=20, train_size=20, transfer_size=8, n_resamples=20
    )
    assert {"cnn", "svm", "rf", "transfer", "sets"} <= set(out)
    assert set(out["cnn"]) == {"accuracy", "completeness", "purity", "roc_auc"}
    assert out["transfer"]["fine_tune"]["optimizer"] == "Adadelta"


def test_evaluate_pretrainer_with_classification_and_cache(pretrainer, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10, 12, 32, 32)).astype(np.float32)
    y = rng.uniform(15, 20, size=(10, 12)).astype(np.float32)
    labelled = Bunch(
        stamps=rng.normal(size=(24, 12, 32, 32)).astype(np.float32),
        target=np.array(["STAR", "GALAXY", "QSO"] * 8),
    )
    out = evaluate_pretrainer(
        pretrainer,
        bands="5" if pretrainer.n_outputs_ == 5 else "12",
        test_set=(X, y),
        n_resamples=10,
        memory=tmp_path,
        classification=dict(
            n_labels=(12,), n_test=12, max_epochs=2, warmup_epochs=1, labelled=labelled
        ),
    )
    assert set(out["classification"]["mean"]["12"]) == {
        "fine_tuned",
        "frozen",
        "scratch",
    }
