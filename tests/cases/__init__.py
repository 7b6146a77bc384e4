"""Contract-suite cases, one module per component.

Each module defines ``contract_cases()`` returning a list of
``(estimator with tiny settings, make_data)`` pairs, ``make_data()`` returning
``(X, y)``; it may also define ``tabular_estimators()`` returning estimators
whose ``X`` is a 2-D table, for scikit-learn's own checks.
``tests/test_common.py`` collects them all.
"""

import importlib
import pkgutil


def _modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        yield importlib.import_module(f"{__name__}.{info.name}")


def all_contract_cases():
    """Every component's contract cases."""
    return [case for m in _modules() for case in m.contract_cases()]


def all_tabular_estimators():
    """Every component's tabular estimators."""
    return [
        est
        for m in _modules()
        if hasattr(m, "tabular_estimators")
        for est in m.tabular_estimators()
    ]
