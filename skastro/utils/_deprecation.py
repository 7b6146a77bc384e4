"""Renamed functions and keywords keep working for one release, with a warning.

A renamed public function stays importable under its old name
(:func:`renamed_function`) and a renamed keyword stays accepted
(:func:`renamed_params`); both emit a :class:`FutureWarning` (shown to end
users by default, unlike :class:`DeprecationWarning`) that names the new
spelling and the release that drops the old one.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["REMOVED_IN", "renamed_function", "renamed_params"]

#: The release that drops the names renamed in this one.
REMOVED_IN = "0.3"


def renamed_params(**renames: str) -> Callable:
    """Decorate a function so that old keyword names still work: ``old="new"``.

    A call with an old keyword warns (:class:`FutureWarning`) and passes its
    value under the new name; giving both names is a :class:`TypeError`.
    Put it outermost (above ``validate_params``), so the function sees only
    the new names.
    """

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        f"{func.__name__}() got both {old!r} and {new!r}; {old} is "
                        f"the old name of {new}: pass {new} only."
                    )
                warnings.warn(
                    f"{func.__name__}(): the keyword {old!r} was renamed {new!r} "
                    f"and stops working in skastro {REMOVED_IN}; pass {new} "
                    "instead (same value).",
                    FutureWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorator


def renamed_function(func: Callable, old_name: str, module: str) -> Callable:
    """Return ``func`` under its old name ``old_name``, warning at each call.

    ``module`` is the public module of both names (e.g. ``"skastro.datasets"``),
    shown in the warning and the alias's docstring.
    """
    new_name = func.__name__

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"{module}.{old_name} was renamed {new_name} and stops working in "
            f"skastro {REMOVED_IN}; call {module}.{new_name} instead (same "
            "arguments).",
            FutureWarning,
            stacklevel=2,
        )
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = (
        f"Deprecated name of :func:`{module}.{new_name}` (removed in skastro "
        f"{REMOVED_IN}).\n"
    )
    return alias
