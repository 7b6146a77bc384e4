"""Similarity search, precision@k and anomaly ranking (skastro.neighbors)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skastro.neighbors import SimilaritySearch, precision_at_k, rank_anomalies


def _clusters(seed=0):
    """Three tight clusters in 8-d, plus three isolated points."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 8)) * 5
    X = np.concatenate([c + 0.05 * rng.normal(size=(30, 8)) for c in centres])
    y = np.repeat(["a", "b", "c"], 30)
    outliers = rng.normal(size=(3, 8)) * 5 + 20 * np.eye(8)[:3]
    return np.concatenate([X, outliers]), np.concatenate([y, ["x"] * 3])


def test_query_by_example_returns_the_same_cluster():
    X, y = _clusters()
    search = SimilaritySearch(n_neighbors=5, metric="euclidean").fit(X, y)
    dist, idx = search.kneighbors(X[[0, 30, 60]])
    assert idx.shape == dist.shape == (3, 5)
    assert np.all(np.diff(dist, axis=1) >= 0)
    assert precision_at_k(y[[0, 30, 60]], search.labels_[idx]) == 1.0
    assert search.kneighbors(X[:1], n_neighbors=500)[1].shape == (1, len(X))


def test_cosine_fast_path_equals_nearest_neighbors():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    gallery = rng.normal(size=(500, 16))
    queries = rng.normal(size=(7, 16))
    search = SimilaritySearch(n_neighbors=9).fit(gallery)
    dist, idx = search.kneighbors(queries)
    ref_d, ref_i = NearestNeighbors(metric="cosine").fit(gallery).kneighbors(queries, 9)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, atol=1e-5)
    # the whole gallery, and a zero vector, are handled
    assert search.kneighbors(queries[:1], n_neighbors=500)[1].shape == (1, 500)
    assert np.isfinite(search.kneighbors(np.zeros((1, 16)))[0]).all()


def test_search_with_an_embedder_on_stamps():
    from skastro.nn import ImageEmbedder

    rng = np.random.default_rng(0)
    stamps = rng.normal(size=(6, 3, 32, 32)).astype(np.float32)
    stamps *= np.arange(1, 7, dtype=np.float32)[:, None, None, None]
    search = SimilaritySearch(
        ImageEmbedder(random_state=0), n_neighbors=1, metric="euclidean"
    ).fit(stamps)
    _, idx = search.kneighbors(stamps)
    np.testing.assert_array_equal(idx[:, 0], np.arange(6))
    assert search.features_.shape == (6, 1280)


def test_precision_at_k_counts_matching_neighbours():
    q = np.array(["lens", "lens"])
    nb = np.array([["lens", "x", "lens"], ["x", "x", "lens"]])
    assert precision_at_k(q, nb) == pytest.approx(3 / 6)
    assert precision_at_k(q, nb, k=1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="exceeds"):
        precision_at_k(q, nb, k=4)
    with pytest.raises(ValueError, match="n_queries"):
        precision_at_k(q, nb[:1])


@pytest.mark.parametrize("method", ["lof", "nearest"])
def test_rank_anomalies_puts_isolated_points_first(method):
    X, y = _clusters()
    order, scores = rank_anomalies(X, method=method, n_neighbors=10, metric="euclidean")
    assert set(order[:3]) == set(np.flatnonzero(y == "x"))
    assert scores.shape == (len(X),)
    assert np.all(np.diff(scores[order]) <= 0)


def test_bad_input_errors():
    with pytest.raises(NotFittedError):
        SimilaritySearch().kneighbors(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="feature table"):
        SimilaritySearch().fit(np.zeros((4, 3, 8, 8)))
    with pytest.raises(ValueError, match="at least 2"):
        SimilaritySearch().fit(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="labels for"):
        SimilaritySearch().fit(np.eye(3), y=[1, 2])
    with pytest.raises(ValueError, match="NaN"):
        rank_anomalies(np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="n_objects >= 3"):
        rank_anomalies(np.eye(2))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nan_queries_and_gallery_are_refused(metric):
    """NaN or infinite features: an error naming the rows, not NaN distances."""
    X, y = _clusters()
    search = SimilaritySearch(n_neighbors=3, metric=metric).fit(X, y)
    queries = X[:4].copy()
    queries[2, 1] = np.nan
    queries[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 of 4 row\(s\) \(rows 2, 3\)"):
        search.kneighbors(queries)
    gallery = X.copy()
    gallery[5] = np.nan
    with pytest.raises(ValueError, match="rows 5"):
        SimilaritySearch(metric=metric).fit(gallery)


def test_complex_and_non_numeric_input_is_refused():
    """Complex features are not silently cast to their real part."""
    from skastro.exceptions import InputLayoutError

    X, _ = _clusters()
    with pytest.raises(InputLayoutError, match="complex"):
        SimilaritySearch().fit(X + 1j)
    search = SimilaritySearch().fit(X)
    with pytest.raises(InputLayoutError, match="complex"):
        search.kneighbors(X[:2] * (1 + 1j))
    with pytest.raises(InputLayoutError, match="must hold numbers"):
        search.kneighbors(np.array([["a"] * 8]))
    with pytest.raises(InputLayoutError, match="complex"):
        rank_anomalies(X.astype(complex))


def test_sparse_features_are_refused_and_tables_set_n_features_in():
    """Sparse X raises a TypeError saying to densify; a feature table gallery
    sets scikit-learn's n_features_in_ (what its table checks look for)."""
    import scipy.sparse

    X, _ = _clusters()
    with pytest.raises(TypeError, match=r"sparse .*toarray\(\)"):
        SimilaritySearch().fit(scipy.sparse.csr_matrix(X))
    assert SimilaritySearch().fit(X).n_features_in_ == X.shape[1]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_wrong_feature_width_is_a_clear_error(metric):
    """Queries with another number of features than the gallery: the error
    names both widths (no raw matmul error)."""
    from skastro.exceptions import InputLayoutError

    X, _ = _clusters()
    search = SimilaritySearch(metric=metric).fit(X)
    with pytest.raises(InputLayoutError, match="5 features per object .* 8"):
        search.kneighbors(X[:2, :5])
    with pytest.raises(InputLayoutError, match="feature table"):
        search.kneighbors(X[0])


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True])
def test_bad_n_neighbors_in_kneighbors(k):
    """kneighbors(n_neighbors=...) must be a positive int."""
    X, _ = _clusters()
    search = SimilaritySearch().fit(X)
    with pytest.raises(ValueError, match="n_neighbors must be an int >= 1"):
        search.kneighbors(X[:1], n_neighbors=k)
