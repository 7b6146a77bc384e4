"""Scale-out on Dask: joblib's Dask backend and per-file feature extraction,
on a dask.distributed LocalCluster."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skastro.datasets import make_light_curves
from skastro.lightcurves import FATSFeatures, features_from_files

distributed = pytest.importorskip("dask.distributed")

FEATURES = ["Mean", "Std", "Amplitude", "Skew", "Beyond1Std", "PeriodLS"]


@pytest.fixture(scope="module")
def client():
    """An in-process LocalCluster (threads), closed after the module."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def curves():
    return make_light_curves(40, n_points=(40, 80), random_state=0)


def _long_table(curves, ids):
    rows = [
        pd.DataFrame({"id": i, "time": t, "mag": m, "err": e})
        for i, (t, m, e) in zip(ids, curves)
    ]
    return pd.concat(rows, ignore_index=True)


def test_features_from_files_on_cluster(tmp_path, client, curves):
    """One Dask task per file gives the same table as FATSFeatures in one call."""
    paths = []
    for k in range(4):
        part = list(range(10 * k, 10 * k + 10))
        table = _long_table([curves.curves[i] for i in part], [f"lc{i}" for i in part])
        path = tmp_path / f"part{k}.csv"
        table.to_csv(path, index=False)
        paths.append(path)
    got = features_from_files(paths, FATSFeatures(FEATURES))
    expected = FATSFeatures(FEATURES).fit_transform(curves.curves)
    assert list(got["id"]) == [f"lc{i}" for i in range(40)]
    np.testing.assert_allclose(got[list(FEATURES)].to_numpy(), expected, rtol=1e-10)
    assert set(got["file"]) == {f"part{k}.csv" for k in range(4)}


def test_features_from_files_errors(tmp_path):
    """No files, or a file without the id column, are explained."""
    with pytest.raises(ValueError, match="paths is empty"):
        features_from_files([])
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"time": [1.0], "mag": [1.0], "err": [0.1]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="no 'id' column"):
        features_from_files([bad], FATSFeatures(FEATURES), scheduler="synchronous")


def test_grid_search_and_fats_on_dask_backend(client, curves):
    """GridSearchCV and FATSFeatures(n_jobs=-1) run through joblib's Dask
    backend and give the same results as locally."""
    X, y = curves.curves, curves.target
    pipe = make_pipeline(
        FATSFeatures(FEATURES), RandomForestClassifier(n_estimators=10, random_state=0)
    )
    grid = GridSearchCV(
        pipe, {"randomforestclassifier__max_depth": [2, None]}, cv=2, n_jobs=-1
    )
    with joblib.parallel_backend("dask"):
        grid.fit(X, y)
        dask_table = FATSFeatures(FEATURES, n_jobs=-1).fit_transform(X)
    local = GridSearchCV(
        pipe, {"randomforestclassifier__max_depth": [2, None]}, cv=2
    ).fit(X, y)
    np.testing.assert_allclose(
        grid.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    np.testing.assert_allclose(dask_table, FATSFeatures(FEATURES).fit_transform(X))
    assert len(client.scheduler_info()["workers"]) == 2
