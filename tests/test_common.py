"""Common checks over all public estimators.

Tabular estimators (2-D ``X``) run scikit-learn's
:func:`~sklearn.utils.estimator_checks.parametrize_with_checks`; estimators
whose ``X`` is a catalog, stamps or sequences run skastro's contract suite
(:mod:`skastro.utils.estimator_checks`) with the small, fast settings listed
per component in ``tests/cases/<component>.py``.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from skastro.utils.estimator_checks import parametrize_with_contract_checks

from .cases import all_contract_cases, all_tabular_estimators

TABULAR_ESTIMATORS = all_tabular_estimators()


@parametrize_with_contract_checks(all_contract_cases())
def test_contract(estimator, check):
    """Clone, params, NotFittedError, determinism, pickle and fresh-process joblib."""
    check(estimator)


if TABULAR_ESTIMATORS:

    @parametrize_with_checks(TABULAR_ESTIMATORS)
    def test_sklearn_compatible(estimator, check):
        """scikit-learn's own estimator checks."""
        check(estimator)
