"""Common checks over all public estimators.

Tabular estimators (2-D ``X``) run scikit-learn's
:func:`~sklearn.utils.estimator_checks.parametrize_with_checks`; estimators
whose ``X`` is a catalog, stamps or sequences run skastro's contract suite
(:mod:`skastro.utils.estimator_checks`) with the small, fast settings below.
Add one entry per estimator.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from skastro.utils.estimator_checks import parametrize_with_contract_checks


def _light_curve_extractor_cases():
    from skastro.datasets import simulate_hits_sequences
    from skastro.lightcurves import LightCurveExtractor

    def make_data():
        return simulate_hits_sequences(2, n_epochs=(4, 6), random_state=0)["data"], None

    return [(LightCurveExtractor(), make_data)]


# (estimator with small settings, make_data) -- make_data() returns (X, y).
# Each component adds its cases in a function below and lists it here.
CONTRACT_CASE_FACTORIES: list = [_light_curve_extractor_cases]

# Estimators whose X is a 2-D numeric table.
TABULAR_ESTIMATORS: list = []


def _contract_cases():
    cases = []
    for factory in CONTRACT_CASE_FACTORIES:
        cases.extend(factory())
    return cases


@parametrize_with_contract_checks(_contract_cases())
def test_contract(estimator, check):
    """Clone, params, NotFittedError, determinism, pickle and fresh-process joblib."""
    check(estimator)


if TABULAR_ESTIMATORS:

    @parametrize_with_checks(TABULAR_ESTIMATORS)
    def test_sklearn_compatible(estimator, check):
        """scikit-learn's own estimator checks."""
        check(estimator)
