"""The single converter from the light-curve forms users have to a list of curves.

Every light-curve consumer in skastro (``FATSFeatures``, plotting, the HiTS
pipeline) goes through :func:`as_light_curve_list`, so the rules below hold
everywhere. Real archives carry missing values, markers and repeated
timestamps; one bad curve never stops a batch:

* **Padding.** In the padded forms (a mapping of 2-D arrays, an
  ``(n_curves, n_points, 3)`` array) a NaN *time* marks an absent epoch
  (what ``LightCurveExtractor`` writes); those points are dropped silently.
* **Missing measurements.** A point is missing when its time, magnitude or
  error is NaN or infinite (a NaN time counts only outside the padded forms),
  equals one of ``missing_values`` (default ``(-99.0, -999.0, 99.999)``:
  MACHO's -99, the 99.999 of many photometry tables), or has an error
  ``<= 0``. Missing points are dropped, and one
  :class:`~skastro.exceptions.LightCurveWarning` per call names the curves
  (by id for a long DataFrame, by position otherwise) and how many points
  each lost.
* **Duplicate times** (two points of one curve at the same time, after
  dropping the missing ones) follow ``duplicates``: ``"mean"`` (default)
  replaces them by their inverse-variance weighted mean,
  ``m = sum(m_i / e_i^2) / sum(1 / e_i^2)`` with error
  ``e = sum(1 / e_i^2) ** -0.5``; ``"first"`` keeps the first in input order;
  both warn once per call, naming the curves and their counts; ``"raise"``
  raises :class:`~skastro.exceptions.LightCurveError` naming the curve.
* Times are sorted (stable) when ``sort=True``; with ``sort=False`` unsorted
  times raise.
* Curves with fewer than 4 points, even empty ones (after the drops above),
  are returned as they are: deciding what a feature is on them is the
  consumer's job (``FATSFeatures`` gives NaN and says so).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputLayoutError, LightCurveError, LightCurveWarning

__all__ = [
    "as_light_curve_list",
    "light_curve_ids",
    "LIGHT_CURVE_KEYS",
    "MISSING_VALUES",
    "DUPLICATE_POLICIES",
]

#: Default markers of a missing value in time, magnitude or error columns.
MISSING_VALUES: tuple[float, ...] = (-99.0, -999.0, 99.999)

#: Accepted values of ``duplicates``.
DUPLICATE_POLICIES = ("mean", "first", "raise")

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


def external_stacklevel() -> int:
    """``stacklevel`` making a warning point at the first caller outside skastro
    and scikit-learn (the user's ``transform`` or ``fit`` call, also through a
    pipeline or ``set_output``'s wrapper)."""
    import sklearn

    import skastro

    skip = tuple(os.path.dirname(m.__file__) + os.sep for m in (skastro, sklearn))
    frame = sys._getframe(1)  # the function that warns
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        frame = frame.f_back
        level += 1
    return level


class _Policy:
    """How to clean curves, and what was cleaned (reported once per call)."""

    def __init__(self, *, sort: bool, name: str, duplicates: str, missing_values):
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(
                f"duplicates must be one of {list(DUPLICATE_POLICIES)}; got "
                f"{duplicates!r}."
            )
        try:
            markers = np.asarray(
                [] if missing_values is None else list(missing_values), dtype=float
            ).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(
                "missing_values must be a sequence of numbers (the markers of a "
                f"missing value, e.g. (-99.0, 99.999)) or None; got {missing_values!r}."
            ) from None
        self.sort = sort
        self.name = name
        self.duplicates = duplicates
        self.markers = markers[np.isfinite(markers)]
        self.missing: dict[Hashable, int] = {}  # curve id (or position) -> points
        self.duplicated: dict[Hashable, int] = {}
        self.by_position = True

    def is_marker(self, v: np.ndarray) -> np.ndarray:
        out = np.zeros(v.shape, dtype=bool)
        for marker in self.markers:  # float32 inputs: compare at 1e-6
            out |= np.abs(v - marker) <= 1e-6 * max(abs(marker), 1.0)
        return out

    def warn(self) -> None:
        """One warning per kind of cleaning done in this call."""
        markers = ", ".join(f"{m:g}" for m in self.markers)
        how = {
            "mean": "replaced by their inverse-variance weighted mean",
            "first": "reduced to their first point in input order",
            "raise": "",
        }[self.duplicates]
        for found, text, unit in (
            (
                self.missing,
                "Dropped missing points (NaN or infinite time, magnitude or error; "
                "error <= 0"
                + (f"; a missing_values marker: {markers}" if markers else "")
                + ") from",
                "dropped",
            ),
            (
                self.duplicated,
                f"Duplicate times {how} (duplicates={self.duplicates!r}) in",
                "removed",
            ),
        ):
            if not found:
                continue
            shown = ", ".join(
                f"{'#' + str(k) if self.by_position else repr(k)} ({v} {unit})"
                for k, v in list(found.items())[:10]
            )
            more = f" and {len(found) - 10} more" if len(found) > 10 else ""
            warning = LightCurveWarning(
                f"{text} {len(found)} light curve(s) of {self.name}: {shown}{more}. "
                "The points per curve are in this warning's counts attribute ("
                + ("curve position" if self.by_position else "curve id")
                + " -> number of points)."
            )
            warning.counts = dict(found)
            warnings.warn(warning, stacklevel=external_stacklevel())


def _curve_key(curve_id: Hashable | None, index: int) -> Hashable:
    """The curve's id (a numpy scalar as its Python value), or its position."""
    if curve_id is None:
        return index
    return curve_id.item() if isinstance(curve_id, np.generic) else curve_id


def _label(curve_id: Hashable | None, index: int) -> str:
    """How messages name a curve: its id (repr), or ``#position``."""
    return f"#{index}" if curve_id is None else repr(_curve_key(curve_id, index))


def _combine_duplicates(t, m, e, policy: str):
    """Merge points with equal (sorted) times; return arrays and the count removed."""
    first = np.concatenate([[True], np.diff(t) != 0])
    starts = np.flatnonzero(first)
    if starts.size == t.size:
        return t, m, e, 0
    if policy == "first":
        return t[starts], m[starts], e[starts], t.size - starts.size
    w = 1.0 / (e * e)
    sw = np.add.reduceat(w, starts)
    mean = np.add.reduceat(w * m, starts) / sw
    single = np.diff(np.append(starts, t.size)) == 1
    mean[single] = m[starts[single]]  # unchanged where not duplicated
    err = np.where(single, e[starts], 1.0 / np.sqrt(sw))
    return t[starts], mean, err, t.size - starts.size


def _clean_curve(
    index: int,
    time: Any,
    mag: Any,
    err: Any,
    *,
    policy: _Policy,
    padded: bool = False,
    curve_id: Hashable | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One curve as float64 (time, mag, err): missing points dropped, sorted,
    duplicates handled (see the module docstring)."""
    name = policy.name
    label = _label(curve_id, index)
    key = _curve_key(curve_id, index)
    try:
        t = np.asarray(time, dtype=np.float64).reshape(-1)
        m = np.asarray(mag, dtype=np.float64).reshape(-1)
        e = np.asarray(err, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputLayoutError(
            f"Light curve {label} of {name} is not numeric: {exc}. " + _FORMS_HINT
        ) from None
    if not (t.shape == m.shape == e.shape):
        raise InputLayoutError(
            f"Light curve {label} of {name} has arrays of different lengths: "
            f"time {t.size}, mag {m.size}, err {e.size}; each point needs a "
            "time, a magnitude and an error."
        )
    if padded:  # a NaN time is an absent epoch: not reported
        present = ~np.isnan(t)
        t, m, e = t[present], m[present], e[present]
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(t) & np.isfinite(m) & np.isfinite(e) & (e > 0)
    if policy.markers.size:
        keep &= ~(policy.is_marker(t) | policy.is_marker(m) | policy.is_marker(e))
    if not keep.all():
        policy.missing[key] = policy.missing.get(key, 0) + int((~keep).sum())
        t, m, e = t[keep], m[keep], e[keep]
    if t.size > 1:
        dt = np.diff(t)
        if (dt < 0).any():
            if not policy.sort:
                j = int(np.flatnonzero(dt < 0)[0])
                raise LightCurveError(
                    f"Light curve {label} of {name} has unsorted times "
                    f"(time[{j + 1}]={t[j + 1]!r} < time[{j}]={t[j]!r}) and "
                    "sort=False; sort it or use sort=True."
                )
            order = np.argsort(t, kind="stable")
            t, m, e = t[order], m[order], e[order]
            dt = np.diff(t)
        if (dt == 0).any():
            if policy.duplicates == "raise":
                j = int(np.flatnonzero(dt == 0)[0])
                raise LightCurveError(
                    f"Light curve {label} of {name} has {int((dt == 0).sum())} "
                    f"duplicate time(s) (first: time={t[j]!r}) and "
                    "duplicates='raise'; use duplicates='mean' (inverse-variance "
                    "weighted mean) or 'first', or combine them yourself."
                )
            t, m, e, removed = _combine_duplicates(t, m, e, policy.duplicates)
            policy.duplicated[key] = policy.duplicated.get(key, 0) + removed
    return (
        np.ascontiguousarray(t),
        np.ascontiguousarray(m),
        np.ascontiguousarray(e),
    )


def _from_mapping(X: Mapping, policy: _Policy):
    name = policy.name
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
        _clean_curve(i, t[i], m[i], e[i], policy=policy, padded=True)
        for i in range(t.shape[0])
    ]


def _from_frame(X: pd.DataFrame, policy: _Policy):
    name = policy.name
    policy.by_position = False
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
    codes, uniques = pd.factorize(X[id_col], sort=False)
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
            policy=policy,
            curve_id=uniques[i],
        )
        for i in range(len(pieces["time"]))
    ]


def _from_sequence(X: Sequence, policy: _Policy, *, padded: bool = False):
    name = policy.name
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
        curves.append(_clean_curve(i, *parts, policy=policy, padded=padded))
    return curves


def as_light_curve_list(
    X: Any,
    *,
    sort: bool = True,
    name: str = "X",
    duplicates: str = "mean",
    missing_values: Sequence[float] | None = MISSING_VALUES,
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
    duplicates : {"mean", "first", "raise"}, default="mean"
        Points of one curve at the same time: replaced by their
        inverse-variance weighted mean (error ``sum(1 / err**2) ** -0.5``),
        reduced to the first in input order (both with a
        :class:`~skastro.exceptions.LightCurveWarning` naming the curves), or
        an error.
    missing_values : sequence of float or None, default=(-99.0, -999.0, 99.999)
        Values that mark a missing time, magnitude or error; such points are
        dropped (with NaN, infinite and ``err <= 0`` ones) and a
        :class:`~skastro.exceptions.LightCurveWarning` names the curves.
        None or ``()``: no markers.

    Returns
    -------
    curves : list of tuple of ndarray
        One ``(time, mag, err)`` tuple of float64 1-D arrays per curve, in
        input order, sorted by time, missing points removed, one point per
        time. A curve may be empty or have fewer than 4 points.

    Raises
    ------
    InputLayoutError
        The input is none of the accepted forms, lacks a key or column, or a
        curve's arrays have different lengths.
    LightCurveError
        A curve has duplicate times and ``duplicates="raise"``, or unsorted
        times and ``sort=False``.

    Warns
    -----
    LightCurveWarning
        Once per call for the curves that lost missing points and once for
        those whose duplicate times were combined; the message names them
        (ids of a long DataFrame, ``#position`` otherwise) and the warning's
        ``counts`` attribute maps each (id, or position) to its number of
        points.

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
    policy = _Policy(
        sort=sort, name=name, duplicates=duplicates, missing_values=missing_values
    )
    if isinstance(X, pd.DataFrame):
        curves = _from_frame(X, policy)
    elif isinstance(X, Mapping):
        curves = _from_mapping(X, policy)
    elif isinstance(X, np.ndarray):
        if not (X.ndim == 3 and X.shape[-1] == 3):
            raise InputLayoutError(
                f"{name} is an array of shape {X.shape}; a single array is accepted "
                "only as (n_curves, n_points, 3) with NaN padding. " + _FORMS_HINT
            )
        curves = _from_sequence(list(X), policy, padded=True)
    elif isinstance(X, Sequence) and not isinstance(X, (str, bytes)):
        curves = _from_sequence(X, policy)
    else:
        raise InputLayoutError(
            f"{name} of type {type(X).__name__} is not a light-curve input. "
            + _FORMS_HINT
        )
    policy.warn()
    return curves


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
