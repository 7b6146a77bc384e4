"""One row of features per light curve, in one process or in chunks.

The loop both FATS backends (``_fats_fast``, ``_fats_feets``) run over the
curves: each curve's row from a per-curve function, warnings of degenerate
curves silenced, and, with a ``joblib.Parallel``, the curves cut into
``4 * n_jobs`` chunks; :func:`backend_rows` is that loop with what both
backends give their row functions (the period search, the output columns).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from ._periods import PeriodSearch

__all__ = ["backend_rows", "feature_rows"]

RowFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _rows(
    make_row: Callable[[], RowFunction],
    curves: Sequence,
    n_cols: int,
    progress: bool,
    desc: str,
) -> np.ndarray:
    row = make_row()
    if progress:
        from tqdm.auto import tqdm

        curves = tqdm(curves, desc=desc, unit="curve")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rows = [row(t, m, e) for t, m, e in curves]
    return np.vstack(rows) if rows else np.empty((0, n_cols))


def feature_rows(
    make_row: Callable[[], RowFunction],
    curves: Sequence,
    n_cols: int,
    *,
    n_jobs: int = 1,
    parallel: Callable | None = None,
    progress: bool = False,
    desc: str = "FATS features",
) -> np.ndarray:
    """Stack ``row(t, m, e)`` over ``curves``: shape ``(n_curves, n_cols)``.

    Parameters
    ----------
    make_row : callable
        ``make_row()`` -> ``row``, the function of one curve's
        ``(time, mag, err)`` arrays returning ``n_cols`` values; called once
        per process (or chunk), where it may build what the rows share.
        Picklable (a module-level function or a ``functools.partial`` of
        one) when ``parallel`` is given.
    curves : sequence of (time, mag, err)
        Validated curves.
    n_cols : int
        Values per row (the width of the result when ``curves`` is empty).
    n_jobs : int, default=1
        Number of workers; with 1 (or fewer than two curves) no chunks.
    parallel : joblib.Parallel or None, default=None
        Runs the chunks; None: one process.
    progress : bool, default=False
        A tqdm progress bar (one process only).
    desc : str, default="FATS features"
        The progress bar's label.

    Returns
    -------
    X : ndarray of shape (n_curves, n_cols)
    """
    if parallel is None or n_jobs == 1 or len(curves) < 2:
        return _rows(make_row, curves, n_cols, progress, desc)
    from joblib import delayed

    n_chunks = min(len(curves), 4 * n_jobs)
    bounds = np.linspace(0, len(curves), n_chunks + 1).astype(int)
    parts = parallel(
        delayed(_rows)(make_row, curves[a:b], n_cols, False, desc)
        for a, b in zip(bounds[:-1], bounds[1:])
    )
    return np.vstack(parts)


def backend_rows(
    row_function: Callable[..., RowFunction],
    spec: Any,
    curves: Sequence,
    columns: Sequence[str],
    *,
    period_search: PeriodSearch | None = None,
    **options: Any,
) -> np.ndarray:
    """A backend's feature matrix ``(n_curves, len(columns))``.

    Parameters
    ----------
    row_function : callable
        ``row_function(spec, col_index, n_cols, search)`` -> ``row``, the
        ``make_row`` of :func:`feature_rows` (a module-level function, so that
        it pickles): ``row`` fills the columns ``col_index`` maps to (column
        name -> position) of a row of ``n_cols`` values.
    spec : object
        What the backend computes (feature names or feature groups).
    curves : list of (time, mag, err)
        Validated curves (:func:`as_light_curve_list`).
    columns : sequence of str
        Output columns, in order.
    period_search : PeriodSearch, optional
        The period search (default: the survey grid's defaults).
    **options
        ``n_jobs``, ``parallel``, ``progress``, ``desc`` of
        :func:`feature_rows`.
    """
    search = PeriodSearch() if period_search is None else period_search
    col_index = {c: i for i, c in enumerate(columns)}
    n_cols = len(columns)
    make_row = partial(row_function, spec, col_index, n_cols, search)
    return feature_rows(make_row, curves, n_cols, **options)
