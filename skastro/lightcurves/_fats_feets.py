"""The reference FATS backend: feets 1.0.1 itself, dask's synchronous scheduler.

feets' default scheduler is a process pool, which costs seconds per call and
fails in scripts without an ``if __name__ == "__main__"`` guard; we always
pass ``dask_options={"scheduler": "synchronous"}`` and parallelise over
curves with joblib instead.

The period search: with ``period_grid="fats"`` feets' own grid; with the
survey grid, each curve's grid (range, oversampling) is passed to feets'
Lomb-Scargle and Fourier extractors, and feets takes the three highest grid
values of the single-harmonic periodogram as it always does (the fast
backend instead ranks distinct peaks by a Fourier fit: see ``_periods``).

Guards (documented in the user guide): curves with fewer than 4 points are
not passed to feets (all NaN); ``Autocor_length`` is not passed to feets when
no lag of the autocorrelation function drops below 1/e, because feets' loop
then never ends (NaN instead); an extractor that raises on a curve gives NaN
for its features on that curve only.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import _fats_kernels as K
from ._features_def import FEETS_MAP, MIN_POINTS, feature_columns
from ._rows import backend_rows

__all__ = ["compute_feets"]

_SYNC = {"scheduler": "synchronous"}


def _plan(features):
    """Group the features by FeatureSpace configuration.

    Returns a list of ``(only, kwargs, {feets column: output column})``.
    """
    configs: dict = {}
    for f in features:
        if f in ("Signature", "DeltamDeltat"):
            feets_name, kwargs = f, {}
            mapping = {c: c for c in feature_columns(f)}
        else:
            feets_name, kwargs, col = FEETS_MAP[f]
            mapping = {col: f}
        if f == "Autocor_length":
            key = "acf"
        else:
            key = repr(sorted((k, sorted(v.items())) for k, v in kwargs.items()))
        only, kw, cols = configs.setdefault(key, ([], kwargs, {}))
        if feets_name not in only:
            only.append(feets_name)
        cols.update(mapping)
    return [(key, only, kw, cols) for key, (only, kw, cols) in configs.items()]


class _Spaces:
    """FeatureSpaces built once per transform (and per feature on fallback)."""

    def __init__(self, features):
        import feets

        self.feets = feets
        self.plan = _plan(features)
        self.spaces = {
            key: feets.FeatureSpace(only=only, dask_options=_SYNC, **kw)
            for key, only, kw, _ in self.plan
        }
        self._single: dict = {}

    def single(self, key, name, kw, curve_kw=None):
        if curve_kw:  # one curve's own grid: not cached
            return self.feets.FeatureSpace(
                only=[name], dask_options=_SYNC, **kw, **curve_kw
            )
        if (key, name) not in self._single:
            self._single[(key, name)] = self.feets.FeatureSpace(
                only=[name], dask_options=_SYNC, **kw
            )
        return self._single[(key, name)]


def _frame_values(result):
    frame = result.as_frame()
    return dict(zip(frame.columns, frame.iloc[0].to_numpy(dtype=float)))


def _curve(spaces, t, m, e, col_index, n_cols, search):
    row = np.full(n_cols, np.nan)
    if t.size < MIN_POINTS:
        return row
    lc = {"time": t, "magnitude": m, "error": e}
    grid_ok = True
    grid_kw: dict = {}
    try:
        grid_kw = search.feets_kwargs(t)
    except ValueError:  # baseline too short for the period range
        grid_ok = False
    for key, only, kw, cols in spaces.plan:
        if key == "acf" and K.autocor_length(m) < 0:
            continue  # feets would loop forever
        # this curve's survey grid needs FeatureSpaces of its own
        curve_kw = grid_kw if PERIODIC_FEETS & set(only) else {}
        if curve_kw:
            space = spaces.feets.FeatureSpace(
                only=only, dask_options=_SYNC, **kw, **curve_kw
            )
        else:
            space = spaces.spaces[key]
        try:
            values = _frame_values(space.extract(**lc))
        except Exception:  # noqa: BLE001 - isolate the failing extractor
            values = {}
            for name in only:
                try:
                    single = spaces.single(key, name, kw, curve_kw)
                    values.update(_frame_values(single.extract(**lc)))
                except Exception:  # noqa: BLE001
                    continue  # this feature stays NaN in the row (NaN policy)
        for feets_col, out_col in cols.items():
            if feets_col in values:
                if not grid_ok and _is_periodic(out_col):
                    continue  # no grid for this curve: NaN
                row[col_index[out_col]] = values[feets_col]
    return row


#: feets features computed from the Lomb-Scargle periodogram.
PERIODIC_FEETS = frozenset(
    {"PeriodLS", "Period_fit", "Psi_CS", "Psi_eta", "Signature"}
    | {
        f"Freq{i}_harmonics_{kind}_{j}"
        for i in (1, 2, 3)
        for kind in ("amplitude", "rel_phase")
        for j in range(4)
    }
)


def _is_periodic(column: str) -> bool:
    return column in PERIODIC_FEETS or column.startswith("Signature_")


def _row_function(features, col_index, n_cols, search):
    """``row(t, m, e)`` of :func:`~._rows.feature_rows`, with its feets spaces."""
    return partial(
        _curve, _Spaces(features), col_index=col_index, n_cols=n_cols, search=search
    )


def compute_feets(curves, features, columns, **options):
    """Feature matrix ``(n_curves, len(columns))`` computed by feets.

    With ``period_search.grid == "survey"`` each curve's frequency grid
    (range and oversampling) and false-alarm settings are passed to feets'
    Lomb-Scargle and Fourier extractors; feets then takes the three highest
    grid values of that periodogram (no ranking of peaks by a Fourier fit).
    ``options`` are those of :func:`~._rows.backend_rows`.
    """
    options.setdefault("desc", "FATS features (feets)")
    return backend_rows(_row_function, features, curves, columns, **options)
