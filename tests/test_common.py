"""Common checks over all public estimators.

- Estimators whose ``X`` may be a 2-D table (``tabular_estimators()`` of a
  case module; their tags say ``input_tags.two_d_array``) run scikit-learn's
  full :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`, with
  no expected failure.
- Every public estimator runs scikit-learn's checks that need no data (the
  API checks: clone, tags, repr, parameters, ``__init__``); the image,
  sequence, light-curve and catalog estimators declare their non-tabular
  input in ``__sklearn_tags__`` (``input_tags.two_d_array = False``), for
  which scikit-learn's data checks do not apply.
- Every public estimator runs skastro's contract suite
  (:mod:`skastro.utils.estimator_checks`: clone, parameters,
  ``NotFittedError``, determinism, pickle, a fresh process, weights-only
  saving) with the small, fast settings listed per component in
  ``tests/cases/<component>.py``.
"""

from __future__ import annotations

import pytest
from sklearn.utils import estimator_checks as sk
from sklearn.utils.estimator_checks import parametrize_with_checks

import skastro
from skastro.utils.estimator_checks import parametrize_with_contract_checks

from .cases import all_contract_cases, all_tabular_estimators

TABULAR_ESTIMATORS = all_tabular_estimators()
CONTRACT_CASES = all_contract_cases()

#: scikit-learn's checks that need no data, run on every estimator.
API_CHECKS = (
    sk.check_estimator_cloneable,
    sk.check_estimator_tags_renamed,
    sk.check_valid_tag_types,
    sk.check_estimator_repr,
    sk.check_no_attributes_set_in_init,
    sk.check_mixin_order,
    sk.check_do_not_raise_errors_in_init_or_set_params,
    sk.check_parameters_default_constructible,
    sk.check_get_params_invariance,
    sk.check_set_params,
)

_SKORCH_INIT = (
    "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_ "
    "and stores prefixed arguments (module__*, iterator_train__*) as attributes; "
    "the contract suite's check_params checks the rest of this rule for networks"
)
_SKORCH_SET_PARAMS = (
    "skorch's set_params acts on what it is given (callbacks are iterated, a "
    "module or optimizer re-initialised), so the check's placeholder values "
    "raise TypeError; the contract suite checks get_params/set_params round trips"
)

#: Expected failures of the API checks for skorch networks, with the reason.
NETWORK_API_FAILURES = {
    "check_no_attributes_set_in_init": _SKORCH_INIT,
    "check_set_params": _SKORCH_SET_PARAMS,
}

#: Expected failures of scikit-learn's data checks for SimilaritySearch: none
#: (it sets n_features_in_ for feature tables and refuses complex and sparse X
#: with the messages the checks look for).
SIMILARITY_SEARCH_FAILURES: dict[str, str] = {}


def _unique_estimators():
    seen, out = set(), []
    for est in [e for e, _ in CONTRACT_CASES] + TABULAR_ESTIMATORS:
        if type(est).__name__ not in seen:
            seen.add(type(est).__name__)
            out.append(est)
    return out


def _api_params():
    params = []
    for est in _unique_estimators():
        name = type(est).__name__
        is_network = hasattr(est, "module") and hasattr(est, "initialized_")
        for check in API_CHECKS:
            reason = NETWORK_API_FAILURES.get(check.__name__) if is_network else None
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            params.append(
                pytest.param(est, check, marks=marks, id=f"{name}-{check.__name__}")
            )
    return params


@pytest.mark.parametrize("estimator, check", _api_params())
def test_sklearn_api_checks(estimator, check):
    """scikit-learn's data-free API checks, on every public estimator."""
    check(type(estimator).__name__, estimator)


def test_every_public_estimator_is_checked():
    """Each estimator of the public API has a contract case (tests/cases)."""
    public = {name for name in skastro.__all__ if name[0].isupper()}
    covered = {type(est).__name__ for est, _ in CONTRACT_CASES}
    assert public <= covered, f"no contract case for {sorted(public - covered)}"


def test_every_estimator_declares_its_input():
    """Tags say what each estimator takes: the ones given to scikit-learn's
    full checks take 2-D tables (input_tags.two_d_array), every other one
    (stamps, sequence sets, light curves, catalogs) declares that it does
    not, which is why it runs the API checks and the contract suite only."""
    tabular = {type(est).__name__ for est in TABULAR_ESTIMATORS}
    for est in _unique_estimators():
        two_d = est.__sklearn_tags__().input_tags.two_d_array
        assert two_d is (type(est).__name__ in tabular), type(est).__name__


@parametrize_with_contract_checks(CONTRACT_CASES)
def test_contract(estimator, check):
    """Clone, params, NotFittedError, determinism, pickle, fresh-process joblib,
    weights-only saving."""
    check(estimator)


def _expected_failures(estimator):
    if type(estimator).__name__ == "SimilaritySearch":
        return SIMILARITY_SEARCH_FAILURES
    return {}


@parametrize_with_checks(TABULAR_ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    """scikit-learn's own estimator checks, for estimators taking 2-D tables."""
    check(estimator)
