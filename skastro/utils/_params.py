"""Parameter validation for skastro's estimators and functions.

A small, public-API-only counterpart of scikit-learn's private
``sklearn.utils._param_validation``: estimators declare a
``_parameter_constraints`` table, ``{name: [constraint, ...]}``, and a value
is valid when it satisfies *any* of its constraints. A constraint is

- an :class:`Interval` (numbers of a type within bounds),
- a :class:`StrOptions` / :class:`Options` (a fixed set of values),
- a type (``dict``, ``str``, ``os.PathLike``, a class of the package),
- ``None`` (the value ``None``),
- one of the strings ``"random_state"`` (int, RandomState or None),
  ``"boolean"`` (bool or numpy bool), ``"verbose"`` (bool or int >= 0),
  ``"array-like"``, ``"callable"`` or
  ``"no_validation"`` (the builtin :func:`callable` works too).

:func:`validate_parameter_constraints` checks a mapping of values (used by
the estimators in ``fit``, or in skorch's ``initialize``);
:func:`validate_estimator_params` checks an estimator's own parameters;
:func:`validate_params` decorates a public function;
:func:`output_container` says which container ``set_output`` asked for.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = [
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "output_container",
    "validate_estimator_params",
    "validate_parameter_constraints",
    "validate_params",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value outside of what its constraints allow.

    Subclasses both :class:`ValueError` and :class:`TypeError`, as
    scikit-learn's error of the same name does, so ``except ValueError``
    catches it whichever kind of mistake it was.
    """


@dataclass(frozen=True)
class Interval:
    """Numbers of type ``type`` between ``left`` and ``right``.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        ``Integral`` accepts ints (not bools); ``Real`` accepts ints and
        floats (not bools).
    left, right : float or None
        Bounds; ``None`` is unbounded on that side.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval.
    """

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def __post_init__(self) -> None:
        if self.closed not in ("left", "right", "both", "neither"):
            raise ValueError(
                f"closed must be 'left', 'right', 'both' or 'neither'; got "
                f"{self.closed!r}."
            )

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_) or not isinstance(value, self.type):
            return False
        if isinstance(value, Real) and math.isnan(value):
            return False
        left_ok = (
            self.left is None
            or value > self.left
            or (self.closed in ("left", "both") and value == self.left)
        )
        right_ok = (
            self.right is None
            or value < self.right
            or (self.closed in ("right", "both") and value == self.right)
        )
        return bool(left_ok and right_ok)

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        lo = "-inf" if self.left is None else self.left
        hi = "inf" if self.right is None else self.right
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values of type ``type``."""

    type: type
    options: frozenset

    def __init__(self, type: type, options: Iterable) -> None:  # noqa: A002
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "options", frozenset(options))

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.type) and value in self.options

    def __str__(self) -> str:
        shown = ", ".join(repr(o) for o in sorted(self.options, key=repr))
        return f"a {self.type.__name__} among {{{shown}}}"


class StrOptions(Options):
    """One of a fixed set of strings."""

    def __init__(self, options: Iterable[str]) -> None:
        super().__init__(str, options)


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if constraint is callable:
        return "a callable"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__!r}"
    if isinstance(constraint, str):
        return {
            "random_state": "an int, a numpy RandomState instance or None",
            "boolean": "a bool",
            "verbose": "a bool or an int >= 0",
            "array-like": "an array-like",
            "callable": "a callable",
        }.get(constraint, constraint)
    return str(constraint)


def _satisfies(value: Any, constraint: Any) -> bool:
    if constraint is None:
        return value is None
    if constraint is callable:  # the builtin, as scikit-learn allows
        return callable(value)
    if isinstance(constraint, str):
        if constraint == "no_validation":
            return True
        if constraint == "random_state":
            return (
                value is None
                or isinstance(value, Integral | np.random.RandomState)
                and not isinstance(value, bool)
            )
        if constraint == "boolean":
            return isinstance(value, bool | np.bool_)
        if constraint == "verbose":
            return isinstance(value, bool | np.bool_) or (
                isinstance(value, Integral) and value >= 0
            )
        if constraint == "array-like":
            return hasattr(value, "__len__") or hasattr(value, "__array__")
        if constraint == "callable":
            return callable(value)
        raise ValueError(f"unknown parameter constraint {constraint!r}")
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return constraint.is_satisfied_by(value)


def validate_parameter_constraints(
    constraints: Mapping[str, list], params: Mapping[str, Any], caller_name: str
) -> None:
    """Check each of ``params`` against its list of ``constraints``.

    Parameters
    ----------
    constraints : mapping of str to list
        ``{name: [constraint, ...]}``; a value passes if any constraint
        accepts it. Names absent from ``constraints`` are not checked.
    params : mapping of str to object
        The values to check.
    caller_name : str
        Estimator or function named in the error.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, the value and what is allowed.
    """
    for name, value in params.items():
        if name not in constraints:
            continue
        allowed = constraints[name]
        if any(_satisfies(value, c) for c in allowed):
            continue
        described = [_describe(c) for c in allowed if c != "no_validation"]
        expected = (
            described[0]
            if len(described) == 1
            else ", ".join(described[:-1]) + " or " + described[-1]
        )
        raise InvalidParameterError(
            f"The {name!r} parameter of {caller_name} must be {expected}. Got "
            f"{value!r} instead."
        )


def validate_estimator_params(estimator: Any) -> None:
    """Check an estimator's parameters against its ``_parameter_constraints``.

    Call it first in ``fit`` (scikit-learn's convention: ``__init__`` only
    stores the parameters).

    Raises
    ------
    InvalidParameterError
        Naming the parameter, the value and what is allowed.
    """
    validate_parameter_constraints(
        getattr(estimator, "_parameter_constraints", {}),
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )


def validate_params(constraints: Mapping[str, list]) -> Callable:
    """Decorate a function so that its arguments are validated on each call.

    Parameters
    ----------
    constraints : mapping of str to list
        As for :func:`validate_parameter_constraints`.

    Examples
    --------
    >>> from numbers import Integral
    >>> @validate_params({"n": [Interval(Integral, 1, None, closed="left")]})
    ... def twice(n):
    ...     return 2 * n
    >>> twice(3)
    6
    """

    def decorator(func: Callable) -> Callable:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            validate_parameter_constraints(
                constraints, bound.arguments, caller_name=func.__qualname__
            )
            return func(*args, **kwargs)

        return wrapper

    return decorator


def output_container(estimator: Any, method: str = "transform") -> str:
    """The container ``set_output`` asked ``estimator``'s ``method`` to return.

    Returns ``"default"`` (numpy), ``"pandas"`` or ``"polars"``: the
    estimator's own ``set_output(transform=...)`` setting, else scikit-learn's
    global ``transform_output`` configuration.
    """
    import sklearn

    own = getattr(estimator, "_sklearn_output_config", {}).get(method)
    if own is not None:
        return own
    return sklearn.get_config().get(f"{method}_output", "default")
