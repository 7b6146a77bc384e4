"""The contract suite catches broken estimators (it is not vacuous)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skastro.utils.estimator_checks import (
    check_deterministic,
    check_fitted_attributes,
    check_joblib_fresh_process,
    check_not_fitted,
    check_params,
    check_pickle_roundtrip,
)


class GoodTransformer(TransformerMixin, BaseEstimator):
    def __init__(self, scale=1.0, random_state=None):
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y=None):
        rng = np.random.default_rng(self.random_state)
        self.offset_ = rng.normal()
        return self

    def transform(self, X):
        check_is_fitted(self)
        return np.asarray(X) * self.scale + self.offset_


class SetsInInit(GoodTransformer):
    def __init__(self, scale=1.0, random_state=None):
        super().__init__(scale, random_state)
        self.cache = {}


class NoNotFitted(GoodTransformer):
    def transform(self, X):
        return np.asarray(X) * self.scale


class IgnoresSeed(GoodTransformer):
    def fit(self, X, y=None):
        self.offset_ = np.random.default_rng().normal()
        return self


class PublicAttr(GoodTransformer):
    def fit(self, X, y=None):
        super().fit(X)
        self.offset = 1.0
        return self


X = np.ones((4, 3, 2, 2), np.float32)


def test_good_estimator_passes():
    """A well-behaved estimator passes every check, in a fresh process too."""
    est = GoodTransformer(random_state=0)
    for check in (
        check_params,
        check_not_fitted,
        check_deterministic,
        check_pickle_roundtrip,
        check_fitted_attributes,
    ):
        check(est, X, None)


@pytest.mark.parametrize(
    "est, check",
    [
        (SetsInInit(), check_params),
        (NoNotFitted(), check_not_fitted),
        (IgnoresSeed(random_state=0), check_deterministic),
        (PublicAttr(), check_fitted_attributes),
    ],
)
def test_broken_estimators_fail(est, check):
    """Each check fails on an estimator that breaks its rule."""
    with pytest.raises(AssertionError):
        check(est, X, None)


def test_fresh_process_load_compares_outputs():
    """The fresh-process check compares outputs: a model whose output differs
    in another process (here: depends on how Python was started) fails."""
    with pytest.raises(AssertionError, match="fresh process"):
        check_joblib_fresh_process(EnvDependent(random_state=0), X, None)


class EnvDependent(GoodTransformer):
    def transform(self, X):
        import sys

        check_is_fitted(self)
        return np.asarray(X) * (2.0 if sys.argv[0] == "-c" else 1.0)


def test_weights_roundtrip_check_catches_lost_labels():
    """check_weights_roundtrip fails on a network whose saved weights forget
    the classes (plain skorch saving), and passes on LSBGNet's own."""
    from skastro.nn import LSBGNet
    from skastro.utils.estimator_checks import check_weights_roundtrip
    from tests.nn._tiny import lsbg

    class ForgetsClasses(LSBGNet):
        def save_params(self, f_params=None, **kwargs):
            import torch

            torch.save(self.module_.state_dict(), f_params)

    est, X, y = lsbg()
    check_weights_roundtrip(est, X, y)
    broken = ForgetsClasses(**est.get_params())
    with pytest.raises(AssertionError, match="after load_params"):
        check_weights_roundtrip(broken, X, y)
