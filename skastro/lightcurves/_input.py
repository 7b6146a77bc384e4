"""The single converter from the light-curve forms users have to a list of curves.

Every light-curve consumer in skastro (``FATSFeatures``, plotting, the HiTS
pipeline) goes through :func:`as_light_curve_list`, so the rules below hold
everywhere:

* a *point* is kept when its time and magnitude are both finite; a point with a
  NaN (or infinite) time or magnitude is *missing* and dropped -- this is how
  NaN-padded 2-D arrays mark absent epochs, and it is applied the same way to
  the other forms;
* a kept point must have a finite, strictly positive error, otherwise
  :class:`~skastro.exceptions.LightCurveError` names the curve and the point;
* times are sorted (stable) when ``sort=True``; with ``sort=False`` unsorted
  times raise;
* two points of one curve at the same time raise (combine them first);
* curves with fewer than 4 points, even empty ones, are returned as they are:
  deciding what a feature is on them is the consumer's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputLayoutError, LightCurveError

__all__ = ["as_light_curve_list", "light_curve_ids", "LIGHT_CURVE_KEYS"]

#: Accepted names of the three light-curve columns / keys, first one canonical.
LIGHT_CURVE_KEYS: dict[str, tuple[str, ...]] = {
    "time": ("time", "mjd", "t"),
    "mag": ("mag", "magnitude", "m"),
    "err": ("err", "error", "mag_err", "magerr", "sigma"),
}
_ID_KEYS = ("id", "object_id", "oid")

_FORMS_HINT = (
    "Pass light curves as (1) a mapping with 2-D NaN-padded arrays 'time', 'mag', "
    "'err' of shape (n_curves, n_epochs) (what LightCurveExtractor returns), "
    "(2) a list of (time, mag, err) tuples or (n_i, 3) arrays, or (3) a long "
    "pandas.DataFrame with columns 'id', 'time', 'mag', 'err'."
)


def _find_key(keys, role: str, *, name: str, kind: str) -> str:
    for candidate in LIGHT_CURVE_KEYS[role]:
        if candidate in keys:
            return candidate
    if role == "mag" and ("flux" in keys):
        raise InputLayoutError(
            f"{name} holds fluxes ('flux'), but light-curve features are defined "
            "on magnitudes; use LightCurveExtractor(output='mag') or convert "
            "with mag = zero_point - 2.5 log10(flux)."
        )
    raise InputLayoutError(
        f"{name} has no {role!r} {kind}; expected one of "
        f"{list(LIGHT_CURVE_KEYS[role])}, found {sorted(map(str, keys))}. "
        + _FORMS_HINT
    )


def _clean_curve(
    index: int, time: Any, mag: Any, err: Any, *, sort: bool, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one curve; return float64 (time, mag, err) without missing points."""
    try:
        t = np.asarray(time, dtype=np.float64).reshape(-1)
        m = np.asarray(mag, dtype=np.float64).reshape(-1)
        e = np.asarray(err, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputLayoutError(
            f"Light curve {index} of {name} is not numeric: {exc}. " + _FORMS_HINT
        ) from None
    if not (t.shape == m.shape == e.shape):
        raise InputLayoutError(
            f"Light curve {index} of {name} has arrays of different lengths: "
            f"time {t.size}, mag {m.size}, err {e.size}; each point needs a "
            "time, a magnitude and an error."
        )
    keep = np.isfinite(t) & np.isfinite(m)
    if not keep.all():
        t, m, e = t[keep], m[keep], e[keep]
    bad = ~(np.isfinite(e) & (e > 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise LightCurveError(
            f"Light curve {index} of {name} has {int(bad.sum())} point(s) with a "
            f"NaN, infinite, zero or negative error (first: time={t[j]!r}, "
            f"err={e[j]!r}); errors must be finite and > 0 (mag). Drop those "
            "points (set their magnitude to NaN) or replace the errors."
        )
    if t.size > 1:
        dt = np.diff(t)
        if (dt < 0).any():
            if not sort:
                j = int(np.flatnonzero(dt < 0)[0])
                raise LightCurveError(
                    f"Light curve {index} of {name} has unsorted times "
                    f"(time[{j + 1}]={t[j + 1]!r} < time[{j}]={t[j]!r}) and "
                    "sort=False; sort it or use sort=True."
                )
            order = np.argsort(t, kind="stable")
            t, m, e = t[order], m[order], e[order]
            dt = np.diff(t)
        if (dt == 0).any():
            j = int(np.flatnonzero(dt == 0)[0])
            raise LightCurveError(
                f"Light curve {index} of {name} has {int((dt == 0).sum())} "
                f"duplicate time(s) (first: time={t[j]!r}); combine the "
                "measurements taken at the same time (e.g. their inverse-variance "
                "weighted mean) or drop the duplicates."
            )
    return (
        np.ascontiguousarray(t),
        np.ascontiguousarray(m),
        np.ascontiguousarray(e),
    )


def _from_mapping(X: Mapping, *, sort: bool, name: str):
    keys = list(X.keys())
    names = {
        role: _find_key(keys, role, name=name, kind="key")
        for role in ("time", "mag", "err")
    }
    arrays = {}
    for role, key in names.items():
        arr = np.asarray(X[key], dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[np.newaxis, :]
        if arr.ndim != 2:
            raise InputLayoutError(
                f"{name}[{key!r}] must be 2-D (n_curves, n_epochs), NaN-padded; "
                f"got shape {arr.shape}."
            )
        arrays[role] = arr
    shapes = {names[r]: a.shape for r, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise InputLayoutError(
            f"The arrays of {name} must have one shape (n_curves, n_epochs); got "
            f"{shapes}."
        )
    t, m, e = arrays["time"], arrays["mag"], arrays["err"]
    if "mask" in X:
        mask = np.asarray(X["mask"], dtype=bool).reshape(t.shape)
        t = np.where(mask, t, np.nan)
    return [
        _clean_curve(i, t[i], m[i], e[i], sort=sort, name=name)
        for i in range(t.shape[0])
    ]


def _from_frame(X: pd.DataFrame, *, sort: bool, name: str):
    cols = list(X.columns)
    id_col = next((c for c in _ID_KEYS if c in cols), None)
    if id_col is None:
        raise InputLayoutError(
            f"{name} is a DataFrame without an id column (one of {list(_ID_KEYS)}); "
            f"found {sorted(map(str, cols))}. " + _FORMS_HINT
        )
    names = {
        role: _find_key(cols, role, name=name, kind="column")
        for role in ("time", "mag", "err")
    }
    codes, _ = pd.factorize(X[id_col], sort=False)
    if (codes < 0).any():
        raise InputLayoutError(f"{name}[{id_col!r}] contains missing ids (NaN).")
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    pieces = {
        role: np.split(np.asarray(X[col], dtype=np.float64)[order], bounds)
        for role, col in names.items()
    }
    if len(X) == 0:
        return []
    return [
        _clean_curve(
            i,
            pieces["time"][i],
            pieces["mag"][i],
            pieces["err"][i],
            sort=sort,
            name=name,
        )
        for i in range(len(pieces["time"]))
    ]


def _from_sequence(X: Sequence, *, name: str, sort: bool):
    curves = []
    for i, item in enumerate(X):
        if isinstance(item, np.ndarray) and item.ndim == 2:
            if item.shape[1] != 3:
                raise InputLayoutError(
                    f"Light curve {i} of {name} is an array of shape {item.shape}; "
                    "expected (n_points, 3) with columns time, mag, err."
                )
            parts = (item[:, 0], item[:, 1], item[:, 2])
        elif isinstance(item, Mapping):
            parts = tuple(
                item[_find_key(list(item), role, name=f"{name}[{i}]", kind="key")]
                for role in ("time", "mag", "err")
            )
        else:
            try:
                parts = tuple(item)
            except TypeError:
                parts = ()
            if len(parts) != 3:
                raise InputLayoutError(
                    f"Light curve {i} of {name} must be a (time, mag, err) tuple or "
                    f"an (n_points, 3) array; got {type(item).__name__}"
                    + (f" of length {len(parts)}" if parts else "")
                    + ". Errors are required (FATS's StetsonK and CAR use them)."
                )
        curves.append(_clean_curve(i, *parts, sort=sort, name=name))
    return curves


def as_light_curve_list(
    X: Any, *, sort: bool = True, name: str = "X"
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Convert light curves in any accepted form to a list of ``(time, mag, err)``.

    Parameters
    ----------
    X : mapping, sequence or pandas.DataFrame
        Light curves, in one of three forms:

        * a mapping (``dict``, :class:`skorch.helper.SliceDict`) with 2-D arrays
          ``"time"`` (MJD, days), ``"mag"`` and ``"err"`` (mag) of shape
          ``(n_curves, n_epochs)``, NaN where an epoch is missing (what
          ``LightCurveExtractor.transform`` returns); an optional boolean
          ``"mask"`` of the same shape marks valid epochs. ``"mjd"``,
          ``"magnitude"`` and ``"error"`` are accepted as aliases;
        * a sequence of curves, each a ``(time, mag, err)`` tuple of 1-D arrays
          or an ``(n_points, 3)`` array with columns time, mag, err;
        * a long :class:`pandas.DataFrame` with columns ``id``, ``time``,
          ``mag``, ``err``, one row per point; curves come out in the order in
          which their ids first appear.
    sort : bool, default=True
        Sort each curve by time (stable). With ``False``, unsorted times raise
        :class:`~skastro.exceptions.LightCurveError`.
    name : str, default="X"
        Name of the input used in error messages.

    Returns
    -------
    curves : list of tuple of ndarray
        One ``(time, mag, err)`` tuple of float64 1-D arrays per curve, in
        input order, sorted by time, points with a non-finite time or
        magnitude removed. A curve may be empty or have fewer than 4 points.

    Raises
    ------
    InputLayoutError
        The input is none of the accepted forms, lacks a key or column, or a
        curve's arrays have different lengths.
    LightCurveError
        A kept point has a NaN, infinite, zero or negative error; a curve has
        duplicate times; or times are unsorted and ``sort=False``.

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.lightcurves import as_light_curve_list
    >>> X = {"time": [[0.0, 1.0, np.nan], [2.0, 0.5, 1.0]],
    ...      "mag": [[20.1, 20.3, np.nan], [19.0, 19.2, 19.1]],
    ...      "err": [[0.1, 0.1, np.nan], [0.05, 0.05, 0.05]]}
    >>> [t.tolist() for t, m, e in as_light_curve_list(X)]
    [[0.0, 1.0], [0.5, 1.0, 2.0]]
    """
    if isinstance(X, pd.DataFrame):
        return _from_frame(X, sort=sort, name=name)
    if isinstance(X, Mapping):
        return _from_mapping(X, sort=sort, name=name)
    if isinstance(X, np.ndarray):
        if X.ndim == 3 and X.shape[-1] == 3:
            return _from_sequence(list(X), name=name, sort=sort)
        raise InputLayoutError(
            f"{name} is an array of shape {X.shape}; a single array is accepted "
            "only as (n_curves, n_points, 3) with NaN padding. " + _FORMS_HINT
        )
    if isinstance(X, Sequence) and not isinstance(X, (str, bytes)):
        return _from_sequence(X, name=name, sort=sort)
    raise InputLayoutError(
        f"{name} of type {type(X).__name__} is not a light-curve input. " + _FORMS_HINT
    )


def light_curve_ids(X: Any) -> pd.Index | None:
    """The curve ids of a long DataFrame, in output order; ``None`` for other forms.

    Parameters
    ----------
    X : any accepted light-curve input

    Returns
    -------
    ids : pandas.Index or None
        The unique values of the id column in order of first appearance (the
        order of :func:`as_light_curve_list`'s output), named after the column.
    """
    if not isinstance(X, pd.DataFrame):
        return None
    id_col = next((c for c in _ID_KEYS if c in X.columns), None)
    if id_col is None:
        return None
    return pd.Index(pd.unique(X[id_col]), name=id_col)
