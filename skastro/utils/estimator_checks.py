"""The skastro estimator contract, for estimators scikit-learn's checks cannot run.

scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`
feeds 2-D numeric tables to every estimator. Estimators whose ``X`` is a
catalog, a stack of stamps ``(n_objects, n_bands, height, width)`` or an image
sequence cannot take those, so they run this suite instead, on data the
caller provides:

- parameters: ``__init__`` only stores them (scikit-learn's own checks),
  ``get_params``/``set_params`` round trip, :func:`~sklearn.base.clone`;
- ``NotFittedError`` before ``fit``; ``fit`` returns ``self``; fitted
  attributes end in ``_``;
- determinism: two fits with the same ``random_state`` give identical outputs;
- persistence: a :mod:`pickle` round trip, and a :func:`joblib.dump` loaded in
  a *fresh Python process* (on CPU), give identical outputs; for skorch
  networks also the weights alone (``save_params(f_params=...)``, then
  ``initialize()`` and ``load_params`` on a new estimator).

Use it as scikit-learn's function is used::

    from skastro.utils.estimator_checks import parametrize_with_contract_checks

    @parametrize_with_contract_checks([(MyEstimator(max_epochs=2), make_data)])
    def test_contract(estimator, check):
        check(estimator)

where ``make_data()`` returns ``(X, y)`` (``y`` may be ``None``).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

__all__ = [
    "CONTRACT_CHECKS",
    "check_clone",
    "check_deterministic",
    "check_estimator_contract",
    "check_fit_returns_self",
    "check_fitted_attributes",
    "check_joblib_fresh_process",
    "check_not_fitted",
    "check_params",
    "check_pickle_roundtrip",
    "check_weights_roundtrip",
    "estimator_output",
    "parametrize_with_contract_checks",
]

_OUTPUT_METHODS = ("predict_proba", "predict", "transform", "kneighbors")


def _output_method(estimator: BaseEstimator) -> str:
    for method in _OUTPUT_METHODS:
        if hasattr(estimator, method):
            return method
    raise TypeError(
        f"{type(estimator).__name__} has none of the methods {_OUTPUT_METHODS}."
    )


def _fit(estimator: BaseEstimator, X: Any, y: Any) -> BaseEstimator:
    return estimator.fit(X) if y is None else estimator.fit(X, y)


def _as_arrays(output: Any) -> dict[str, np.ndarray]:
    """Flatten an estimator output (array, DataFrame, mapping) to named arrays."""
    if isinstance(output, Mapping):
        out: dict[str, np.ndarray] = {}
        for key, value in output.items():
            for sub, arr in _as_arrays(value).items():
                out[f"{key}{'.' + sub if sub else ''}"] = arr
        return out
    if isinstance(output, pd.DataFrame | pd.Series):
        return {"": output.to_numpy()}
    if isinstance(output, list | tuple) and output and not np.isscalar(output[0]):
        out = {}
        for i, value in enumerate(output):
            for sub, arr in _as_arrays(value).items():
                out[f"{i}{'.' + sub if sub else ''}"] = arr
        return out
    return {"": np.asarray(output)}


def assert_outputs_equal(
    a: Any, b: Any, *, rtol: float = 1e-6, atol: float = 1e-7, what: str = "outputs"
) -> None:
    """Assert two estimator outputs are equal (NaN equal to NaN)."""
    aa, bb = _as_arrays(a), _as_arrays(b)
    assert aa.keys() == bb.keys(), (
        f"{what} differ in structure: {aa.keys()} vs {bb.keys()}"
    )
    for key in aa:
        x, z = aa[key], bb[key]
        assert x.shape == z.shape, (
            f"{what}[{key!r}] shapes differ: {x.shape} vs {z.shape}"
        )
        if x.dtype.kind in "fc" or z.dtype.kind in "fc":
            np.testing.assert_allclose(
                x.astype(float),
                z.astype(float),
                rtol=rtol,
                atol=atol,
                equal_nan=True,
                err_msg=f"{what}[{key!r}] differ",
            )
        else:
            np.testing.assert_array_equal(x, z, err_msg=f"{what}[{key!r}] differ")


def estimator_output(estimator: BaseEstimator, X: Any) -> Any:
    """Output of the first of ``predict_proba``, ``predict``, ``transform``,
    ``kneighbors``."""
    return getattr(estimator, _output_method(estimator))(X)


#: Attributes every skorch ``NeuralNet.__init__`` sets (not parameters).
_SKORCH_INIT_ATTRIBUTES = {"history_", "initialized_", "virtual_params_"}


def _check_skorch_init_attributes(estimator: BaseEstimator) -> None:
    """scikit-learn's ``check_no_attributes_set_in_init`` for skorch nets.

    skorch's own ``__init__`` sets ``history_``, ``initialized_`` and
    ``virtual_params_``, and stores ``prefix__name`` keyword arguments
    (``module__x``, ``optimizer__y``) as parameters; anything else set in
    ``__init__`` is an error.
    """
    import inspect

    init_params = set()
    for cls in type(estimator).__mro__:
        if "__init__" in vars(cls):
            init_params |= set(inspect.signature(cls.__init__).parameters)
    invalid = [
        k
        for k in vars(estimator)
        if not k.startswith("_")
        and k not in init_params
        and k not in _SKORCH_INIT_ATTRIBUTES
        and "__" not in k
    ]
    assert not invalid, (
        f"{type(estimator).__name__} sets attributes other than parameters in "
        f"__init__: {invalid}"
    )
    for key in estimator.get_params(deep=False):
        assert hasattr(estimator, key), f"parameter {key!r} is not an attribute"


def check_params(estimator: BaseEstimator, X: Any = None, y: Any = None) -> None:
    """``__init__`` only stores parameters; ``get_params``/``set_params`` agree."""
    name = type(estimator).__name__
    if hasattr(estimator, "initialized_") and hasattr(estimator, "module"):
        _check_skorch_init_attributes(clone(estimator))
    else:
        check_no_attributes_set_in_init(name, clone(estimator))
    check_get_params_invariance(name, clone(estimator))
    est = clone(estimator)
    params = est.get_params(deep=False)
    est.set_params(**params)
    after = est.get_params(deep=False)
    assert set(params) == set(after)
    for key in params:
        assert after[key] is params[key], f"set_params changed {key!r}"
    # scikit-learn's check mutates params with odd values; skip it for nets
    # whose parameters cannot take arbitrary values.
    if not hasattr(estimator, "module"):
        check_set_params(name, clone(estimator))


def check_clone(estimator: BaseEstimator, X: Any = None, y: Any = None) -> None:
    """:func:`~sklearn.base.clone` gives an unfitted copy with equal parameters."""
    est = clone(estimator)
    assert type(est) is type(estimator)
    p1, p2 = estimator.get_params(deep=False), est.get_params(deep=False)
    assert p1.keys() == p2.keys()
    for key in p1:
        if isinstance(p1[key], np.ndarray | pd.DataFrame):
            continue
        if isinstance(p1[key], BaseEstimator):
            assert type(p1[key]) is type(p2[key])
            continue
        if callable(p1[key]) and not isinstance(p1[key], type):
            continue
        assert p1[key] == p2[key] or p1[key] is p2[key], f"clone changed {key!r}"
    # a clone of a fitted estimator is unfitted
    fitted = _fit(clone(estimator), X, y)
    fresh = clone(fitted)
    try:
        estimator_output(fresh, X)
    except NotFittedError:
        return  # as expected: the clone is unfitted
    raise AssertionError("clone() of a fitted estimator is still fitted")


def check_not_fitted(estimator: BaseEstimator, X: Any = None, y: Any = None) -> None:
    """Every output method raises :class:`~sklearn.exceptions.NotFittedError`."""
    est = clone(estimator)
    for method in _OUTPUT_METHODS + ("decision_function", "score_samples"):
        if hasattr(est, method):
            try:
                getattr(est, method)(X)
            except NotFittedError:
                continue
            raise AssertionError(
                f"{type(est).__name__}.{method} did not raise NotFittedError before fit"
            )


def check_fit_returns_self(
    estimator: BaseEstimator, X: Any = None, y: Any = None
) -> None:
    """``fit`` returns ``self``."""
    est = clone(estimator)
    assert _fit(est, X, y) is est, "fit must return self"


def check_fitted_attributes(
    estimator: BaseEstimator, X: Any = None, y: Any = None
) -> None:
    """Attributes set by ``fit`` are private or end in ``_``; parameters unchanged."""
    est = clone(estimator)
    before = dict(vars(est))
    params = est.get_params(deep=False)
    _fit(est, X, y)
    new = [k for k in vars(est) if k not in before]
    bad = [k for k in new if not (k.endswith("_") or k.startswith("_"))]
    assert not bad, f"fit set public attributes without a trailing '_': {bad}"
    for key, value in params.items():
        assert est.get_params(deep=False)[key] is value, (
            f"fit changed parameter {key!r}"
        )


def check_deterministic(estimator: BaseEstimator, X: Any = None, y: Any = None) -> None:
    """Two fits with the same ``random_state`` give identical outputs."""
    params = estimator.get_params(deep=False)
    extra = (
        {"random_state": 0}
        if "random_state" in params and params["random_state"] is None
        else {}
    )
    a = _fit(clone(estimator).set_params(**extra), X, y)
    b = _fit(clone(estimator).set_params(**extra), X, y)
    assert_outputs_equal(
        estimator_output(a, X),
        estimator_output(b, X),
        what="outputs of two fits with the same random_state",
    )


def check_pickle_roundtrip(
    estimator: BaseEstimator, X: Any = None, y: Any = None
) -> None:
    """A fitted estimator survives :mod:`pickle` with identical outputs."""
    est = _fit(clone(estimator), X, y)
    expected = estimator_output(est, X)
    loaded = pickle.loads(pickle.dumps(est))
    assert_outputs_equal(
        expected, estimator_output(loaded, X), what="outputs after pickle"
    )


def check_weights_roundtrip(
    estimator: BaseEstimator, X: Any = None, y: Any = None
) -> None:
    """A skorch network's weights alone restore it: ``save_params(f_params=...)``,
    then a clone's ``initialize()`` + ``load_params(f_params=...)`` give
    identical outputs (and ``predict``, labels included). Other estimators
    pass."""
    if not (hasattr(estimator, "save_params") and hasattr(estimator, "module")):
        return
    import io

    est = _fit(clone(estimator), X, y)
    buffer = io.BytesIO()
    est.save_params(f_params=buffer)
    buffer.seek(0)
    new = clone(estimator).initialize()
    new.load_params(f_params=buffer)
    assert_outputs_equal(
        estimator_output(est, X),
        estimator_output(new, X),
        what="outputs after save_params/load_params",
    )
    if hasattr(est, "predict"):
        assert_outputs_equal(
            est.predict(X), new.predict(X), what="predict after load_params"
        )


_FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import sys, joblib
    from skastro.utils.estimator_checks import assert_outputs_equal, estimator_output
    est, X, expected = joblib.load(sys.argv[1])
    if hasattr(est, "set_params") and "device" in est.get_params(deep=False):
        est.set_params(device="cpu")
    assert_outputs_equal(expected, estimator_output(est, X),
                         what="outputs after joblib in a fresh process")
    print("OK")
    """
)


def check_joblib_fresh_process(
    estimator: BaseEstimator, X: Any = None, y: Any = None
) -> None:
    """A fitted estimator saved with :func:`joblib.dump` predicts identically
    after loading in a new Python process on CPU."""
    est = _fit(clone(estimator), X, y)
    expected = estimator_output(est, X)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.joblib")
        joblib.dump((est, X, expected), path)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
        root = os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        )
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run(
            [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, path],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    assert proc.returncode == 0 and "OK" in proc.stdout, (
        f"loading in a fresh process failed:\n{proc.stdout}\n{proc.stderr}"
    )


CONTRACT_CHECKS: tuple[Callable[..., None], ...] = (
    check_params,
    check_clone,
    check_not_fitted,
    check_fit_returns_self,
    check_fitted_attributes,
    check_deterministic,
    check_pickle_roundtrip,
    check_weights_roundtrip,
    check_joblib_fresh_process,
)


def check_estimator_contract(estimator: BaseEstimator, X: Any, y: Any = None) -> None:
    """Run every contract check on ``estimator`` with data ``(X, y)``."""
    for check in CONTRACT_CHECKS:
        check(estimator, X, y)


class _BoundCheck:
    """A contract check bound to a data factory; prints as the check's name."""

    def __init__(self, check: Callable[..., None], make_data: Callable[[], tuple]):
        self.check = check
        self.make_data = make_data

    def __call__(self, estimator: BaseEstimator) -> None:
        X, y = self.make_data()
        self.check(estimator, X, y)

    def __repr__(self) -> str:
        return self.check.__name__


def _estimator_id(obj: Any) -> str | None:
    if isinstance(obj, BaseEstimator):
        return type(obj).__name__
    if isinstance(obj, _BoundCheck):
        return repr(obj)
    return None


def parametrize_with_contract_checks(
    cases: list[tuple[BaseEstimator, Callable[[], tuple]]],
    checks: tuple[Callable[..., None], ...] = CONTRACT_CHECKS,
):
    """Pytest decorator over ``(estimator, check)`` pairs for each case.

    Parameters
    ----------
    cases : list of (estimator, make_data)
        ``make_data()`` returns ``(X, y)`` small enough to fit in seconds.
    checks : tuple of callables, default=CONTRACT_CHECKS
        Checks with signature ``check(estimator, X, y)``.
    """
    import pytest

    params = [
        (est, _BoundCheck(check, make_data))
        for est, make_data in cases
        for check in checks
    ]
    return pytest.mark.parametrize("estimator, check", params, ids=_estimator_id)
