"""Cases for SimilaritySearch: the contract suite on a feature table, and
scikit-learn's own checks (its ``X`` may be a 2-D feature table)."""


def _features():
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 6)), np.array(["a", "b"] * 10)


def contract_cases():
    """SimilaritySearch on 20 random 6-d features."""
    from skastro.neighbors import SimilaritySearch

    return [(SimilaritySearch(n_neighbors=3), _features)]


def tabular_estimators():
    """SimilaritySearch takes 2-D feature tables: scikit-learn's checks apply."""
    from skastro.neighbors import SimilaritySearch

    return [SimilaritySearch(n_neighbors=3)]
