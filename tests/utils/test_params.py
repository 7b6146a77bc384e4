"""skastro.utils._params: constraints, messages, the function decorator."""

from numbers import Integral, Real

import numpy as np
import pytest
import sklearn

from skastro.utils._params import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    output_container,
    validate_estimator_params,
    validate_parameter_constraints,
    validate_params,
)

CONSTRAINTS = {
    "n": [Interval(Integral, 1, None, closed="left")],
    "rate": [Interval(Real, 0, 1, closed="neither"), None],
    "mode": [StrOptions({"a", "b"})],
    "flag": ["boolean"],
    "seed": ["random_state"],
    "batch": [Interval(Integral, 1, None, closed="left"), Options(int, {-1})],
    "table": [dict],
    "verbose": ["verbose"],
    "fn": [str, callable],
}


@pytest.mark.parametrize(
    "name, value",
    [
        ("n", 1),
        ("n", np.int64(7)),
        ("rate", 0.5),
        ("rate", None),
        ("mode", "b"),
        ("flag", np.bool_(True)),
        ("seed", None),
        ("seed", 3),
        ("seed", np.random.RandomState(0)),
        ("batch", -1),
        ("table", {}),
        ("verbose", 2),
        ("verbose", False),
        ("fn", "euclidean"),
        ("fn", len),
    ],
)
def test_valid_values_pass(name, value):
    """Values satisfying one of their constraints pass."""
    validate_parameter_constraints(CONSTRAINTS, {name: value}, "Thing")


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("n", 0, r"'n' parameter of Thing must be an int in the range \[1, inf\)"),
        ("n", True, "an int"),
        ("n", 2.0, "Got 2.0"),
        ("rate", 1.0, r"a float in the range \(0, 1\) or None"),
        ("rate", float("nan"), "Got nan"),
        ("mode", "c", r"a str among \{'a', 'b'\}. Got 'c'"),
        ("flag", 1, "a bool"),
        ("seed", "x", "RandomState"),
        ("batch", -2, "among {-1}"),
        ("table", [], "'dict'"),
        ("verbose", -1, "a bool or an int >= 0"),
        ("fn", 3, "or a callable"),
    ],
)
def test_invalid_values_name_the_parameter(name, value, match):
    """Bad values raise InvalidParameterError (a ValueError and a TypeError)
    naming the parameter, what is allowed and the value."""
    with pytest.raises(InvalidParameterError, match=match) as err:
        validate_parameter_constraints(CONSTRAINTS, {name: value}, "Thing")
    assert isinstance(err.value, ValueError) and isinstance(err.value, TypeError)


def test_unknown_names_are_not_checked_and_bad_closed_refused():
    validate_parameter_constraints(CONSTRAINTS, {"other": object()}, "Thing")
    with pytest.raises(ValueError, match="closed must be"):
        Interval(Real, 0, 1, closed="open")


def test_validate_estimator_params_checks_get_params():
    """An estimator's own parameters are checked against its table."""
    from sklearn.base import BaseEstimator

    class Thing(BaseEstimator):
        _parameter_constraints = CONSTRAINTS

        def __init__(self, n=1):
            self.n = n

    validate_estimator_params(Thing())
    with pytest.raises(InvalidParameterError, match="'n' parameter of Thing"):
        validate_estimator_params(Thing(n=0))


def test_validate_params_decorator():
    """The decorator checks bound arguments, defaults included."""

    @validate_params({"k": [Interval(Integral, 1, None, closed="left")]})
    def f(x, k=1):
        return x * k

    assert f(2, k=3) == 6
    with pytest.raises(InvalidParameterError, match="'k' parameter of .*f must be"):
        f(2, k=0)


def test_output_container():
    """The estimator's set_output setting, else scikit-learn's global one."""
    from sklearn.preprocessing import StandardScaler

    est = StandardScaler()
    assert output_container(est) == "default"
    with sklearn.config_context(transform_output="pandas"):
        assert output_container(est) == "pandas"
    assert output_container(est.set_output(transform="pandas")) == "pandas"
