"""Input validation for catalogs and stamps.

These are the project's single way to validate the two kinds of ``X`` that
flow through skastro pipelines: catalogs (one row per object) and stamps
(``(n_objects, n_bands, height, width)`` arrays, possibly inside a
:class:`skorch.helper.SliceDict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import CatalogError, InputLayoutError

__all__ = [
    "as_catalog",
    "check_catalog_columns",
    "check_stamps",
    "split_stamps_input",
]


def as_catalog(X: Any, *, name: str = "X") -> pd.DataFrame:
    """Return a catalog as a :class:`pandas.DataFrame` without copying data.

    Parameters
    ----------
    X : pandas.DataFrame, astropy.table.Table, dict of arrays or numpy record array
        One row per object.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    catalog : pandas.DataFrame
    """
    if isinstance(X, pd.DataFrame):
        return X
    try:
        from astropy.table import Table
    except ImportError:  # pragma: no cover - astropy is a dependency
        Table = ()  # type: ignore[assignment]
    if isinstance(X, Table):
        return X.to_pandas()
    if isinstance(X, Mapping):
        return pd.DataFrame(dict(X))
    if isinstance(X, np.ndarray) and X.dtype.names is not None:
        return pd.DataFrame.from_records(X)
    raise CatalogError(
        f"{name} must be a catalog (pandas.DataFrame, astropy.table.Table, dict of "
        f"columns or a numpy record array) with one row per object; got "
        f"{type(X).__name__}."
    )


def check_catalog_columns(
    catalog: pd.DataFrame,
    required: Iterable[str],
    *,
    name: str = "X",
    hint: str = "",
    finite: Iterable[str] = (),
) -> None:
    """Raise :class:`~skastro.exceptions.CatalogError` naming missing columns.

    Parameters
    ----------
    catalog : pandas.DataFrame
    required : iterable of str
        Columns that must be present.
    name : str, default="X"
        Name used in error messages.
    hint : str, default=""
        Sentence appended to the message saying how to fix it.
    finite : iterable of str, default=()
        Columns whose values must all be finite (no NaN or inf); the first
        offending rows are listed in the error.
    """
    required = list(required)
    missing = [c for c in required if c not in catalog.columns]
    if missing:
        raise CatalogError(
            f"{name} lacks the column(s) {missing}; it has {list(catalog.columns)}."
            + (f" {hint}" if hint else "")
        )
    for column in finite:
        values = np.asarray(catalog[column], dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            rows = ", ".join(str(catalog.index[i]) for i in bad[:5])
            more = f" (and {bad.size - 5} more)" if bad.size > 5 else ""
            raise CatalogError(
                f"{name} column {column!r} has {bad.size} non-finite value(s) "
                f"(NaN or inf) at row(s) {rows}{more}; remove those rows or fill "
                "in the values."
            )


def format_rows(rows: Iterable[int], limit: int = 5) -> str:
    """``"0, 3, 7"`` for the first ``limit`` rows, then ``" (and 4 more)"``:
    the rows an error message names."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" (and {len(rows) - limit} more)" if len(rows) > limit else "")


def split_stamps_input(X: Any, key: str = "stamps") -> tuple[Any, dict[str, Any]]:
    """Split ``X`` into its stamps and the metadata that travels with them.

    Parameters
    ----------
    X : array-like or mapping (e.g. :class:`skorch.helper.SliceDict`)
        Either the stamps themselves, or a mapping holding them under ``key``
        and per-object metadata (zero points, sky level, times) under other
        keys.
    key : str, default="stamps"
        Key of the stamps in a mapping.

    Returns
    -------
    stamps : array-like
    metadata : dict
        Empty when ``X`` is a plain array.
    """
    if isinstance(X, Mapping):
        if key not in X:
            raise InputLayoutError(
                f"X is a mapping without the key {key!r}; it has keys "
                f"{sorted(X.keys())}. Put the stamps under {key!r}."
            )
        meta = {k: v for k, v in X.items() if k != key}
        return X[key], meta
    return X, {}


def check_stamps(
    X: Any,
    *,
    n_bands: int | None = None,
    size: int | Sequence[int] | None = None,
    allow_nan: bool = True,
    ndim: int = 4,
    name: str = "X",
    dtype: Any = np.float32,
) -> np.ndarray:
    """Validate stamps in channels-first layout and return them as an array.

    Parameters
    ----------
    X : array-like of shape (n_objects, n_bands, height, width)
        Stamps in PyTorch (channels-first) order; for ``ndim=3`` a single band
        ``(n_objects, height, width)``, for sequences ``ndim=4`` means
        ``(n_objects, n_epochs, height, width)``.
    n_bands : int, optional
        Expected size of axis 1 (bands or epochs); checked if given.
    size : int or (int, int), optional
        Expected ``(height, width)`` in pixels; checked if given.
    allow_nan : bool, default=True
        Whether NaN pixels (outside the image) are allowed; ``inf`` never is.
    ndim : int, default=4
        Expected number of dimensions.
    name : str, default="X"
        Name used in error messages.
    dtype : numpy dtype, default=numpy.float32
        Output dtype.

    Returns
    -------
    stamps : numpy.ndarray
        The stamps as a C-contiguous array of ``dtype`` (no copy if it already is).
    """
    if np.iscomplexobj(X):
        raise InputLayoutError(
            f"{name} holds complex numbers ({np.asarray(X).dtype}); stamps are real "
            "pixel values. Pass X.real (or np.abs(X)) if that is what you mean."
        )
    try:
        arr = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputLayoutError(
            f"{name} could not be converted to a numeric array of stamps: {exc}"
        ) from exc
    if arr.ndim != ndim:
        raise InputLayoutError(
            f"{name} must have {ndim} dimensions "
            + (
                "(n_objects, n_bands, height, width)"
                if ndim == 4
                else "(n_objects, height, width)"
                if ndim == 3
                else ""
            )
            + f"; got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise InputLayoutError(f"{name} holds no stamps (shape {arr.shape}).")
    if ndim == 4 and n_bands is not None and arr.shape[1] != n_bands:
        if arr.shape[-1] == n_bands:
            raise InputLayoutError(
                f"{name} has shape {arr.shape}, which looks channels-last; skastro "
                f"expects channels first (n_objects, n_bands, height, width). Use "
                f"numpy.moveaxis({name}, -1, 1)."
            )
        raise InputLayoutError(
            f"{name} has {arr.shape[1]} band(s) on axis 1 but {n_bands} were "
            f"expected (shape {arr.shape})."
        )
    if size is not None:
        hw = (size, size) if np.isscalar(size) else tuple(size)
        if tuple(arr.shape[-2:]) != tuple(hw):
            raise InputLayoutError(
                f"{name} stamps are {arr.shape[-2]}x{arr.shape[-1]} pixels but "
                f"{hw[0]}x{hw[1]} were expected (shape {arr.shape}); crop them with "
                "FITSCropper(size=...) to the expected size."
            )
    if np.isinf(arr).any():
        raise InputLayoutError(f"{name} contains infinite pixel values.")
    if not allow_nan and np.isnan(arr).any():
        n_bad = int(np.isnan(arr).reshape(arr.shape[0], -1).any(axis=1).sum())
        raise InputLayoutError(
            f"{name} contains NaN pixels in {n_bad} stamp(s); fill them (e.g. "
            "numpy.nan_to_num) or crop with off_edge='drop'."
        )
    return np.ascontiguousarray(arr)
