"""The fast FATS backend: feets 1.0.1's definitions, computed quickly.

* The 17 features feets itself delegates to the ``light-curve`` package are
  computed by the same ``light-curve`` objects, many curves per call (Rust).
* The periodogram is computed once (feets computes it twice), by a
  non-uniform FFT, with the exact power at the grid values that matter
  (:mod:`._fats_kernels`), on the grid and with the choice of peaks of
  :mod:`._periods` (feets' own grid with ``period_grid="fats"``).
* The harmonic fits are solved as the linear least-squares problems they are
  (feets runs an iterative ``curve_fit`` on them).
* CAR runs scipy's bounded Nelder-Mead, re-implemented compiled, from the
  same start and bounds; every comparison it makes is decided either by a
  margin far larger than the error of a fast libm likelihood or with exact
  (feets-identical) likelihood values, computed in batches
  (:func:`_car_minimize`).
* Slotted autocorrelation, autocorrelation length and the Delta m - Delta t
  histogram are compiled loops over pairs / lags.
* The opt-in features of Richards et al. (2011) (:mod:`._richards`; not FATS
  features, feets has none) are computed here for both backends, from the
  same best period as ``PeriodLS``.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import light_curve as lcpkg
import numpy as np
from astropy.timeseries import LombScargle

from . import _fats_kernels as K
from ._features_def import (
    DMDT_DM_BINS,
    DMDT_DT_BINS,
    MIN_POINTS,
    RICHARDS_FEATURES,
    feature_columns,
)
from ._richards import richards_features
from ._rows import backend_rows

__all__ = ["FAST_GROUPS", "compute_fast"]

# FATS name -> (light-curve class, keyword arguments, index of the output used)
_LC = {
    "Amplitude": ("Amplitude", {}, 0),
    "AndersonDarling": ("AndersonDarlingNormal", {}, 0),
    "Beyond1Std": ("BeyondNStd", {"nstd": 1}, 0),
    "Eta_e": ("EtaE", {}, 0),
    "LinearTrend": ("LinearTrend", {}, 0),
    "MaxSlope": ("MaximumSlope", {}, 0),
    "Mean": ("Mean", {}, 0),
    "Meanvariance": ("MeanVariance", {}, 0),
    "MedianAbsDev": ("MedianAbsoluteDeviation", {}, 0),
    "MedianBRP": ("MedianBufferRangePercentage", {"quantile": 0.1}, 0),
    "PercentAmplitude": ("PercentAmplitude", {}, 0),
    "PercentDifferenceFluxPercentile": (
        "PercentDifferenceMagnitudePercentile",
        {"quantile": 0.05},
        0,
    ),
    "Skew": ("Skew", {}, 0),
    "SmallKurtosis": ("Kurtosis", {}, 0),
    "Std": ("StandardDeviation", {}, 0),
    "StetsonK": ("StetsonK", {}, 0),
}
for _p, _q in {20: 0.4, 35: 0.325, 50: 0.25, 65: 0.175, 80: 0.1}.items():
    _LC[f"FluxPercentileRatioMid{_p}"] = (
        "MagnitudePercentageRatio",
        {"quantile_numerator": _q, "quantile_denominator": 0.05},
        0,
    )

_HARMONICS = tuple(
    f"Freq{i}_harmonics_{kind}_{j}"
    for i in (1, 2, 3)
    for kind in ("amplitude", "rel_phase")
    for j in range(4)
)

#: Feature -> computation group of the fast backend.
FAST_GROUPS: dict[str, str] = {name: "lc" for name in _LC}
FAST_GROUPS.update(
    {
        "Autocor_length": "acf",
        "CAR_mean": "car",
        "CAR_sigma": "car",
        "CAR_tau": "car",
        "Con": "basic",
        "PairSlopeTrend": "basic",
        "Q31": "basic",
        "Rcs": "basic",
        "PeriodLS": "ls",
        "Period_fit": "ls",
        "Psi_CS": "ls",
        "Psi_eta": "ls",
        "SlottedA_length": "slotted",
        "StetsonK_AC": "slotted",
        "Signature": "signature",
        "DeltamDeltat": "dmdt",
    }
)
FAST_GROUPS.update({name: "fourier" for name in _HARMONICS})
FAST_GROUPS.update({name: "richards" for name in RICHARDS_FEATURES})


# ---------------------------------------------------------------------------
# per-group computations on one curve; each returns {column: value}
# ---------------------------------------------------------------------------


def _basic(t, m, e):
    sigma = np.std(m)
    mean = np.mean(m)
    con, pst, rcs = K.basic_features(m, mean, sigma)
    q75, q25 = np.percentile(m, [75, 25])
    return {"Con": con, "PairSlopeTrend": pst, "Q31": q75 - q25, "Rcs": rcs}


def _acf(t, m, e):
    k = K.autocor_length(m)
    return {"Autocor_length": float(k) if k >= 0 else np.nan}


def _car_minimize(neg_dt, x, error_vars, mean_x, maxfun=400, tol=K.CAR_TOL):
    """feets' CAR fit: scipy's bounded Nelder-Mead on the exact likelihood.

    The optimiser runs compiled (:func:`._fats_kernels.car_nelder_mead`) on
    a libm evaluation of the likelihood, which differs from feets' (numpy's
    exp/log, libm's pow) by a few ULP per term at most. Wherever that could
    change a comparison the optimiser makes (a margin within ``tol`` times
    the sum of the terms' magnitudes, or a non-finite value), the values
    taking part are computed exactly (feets-identical, in one batch) and the
    optimiser is replayed, reusing every value already computed, until no
    comparison depends on a guessed value. The result is then the one scipy
    returns with feets' likelihood, bit for bit; typically a few percent of
    the evaluations are computed exactly.
    """
    known_pts = np.empty((0, 2))
    known_f = np.empty(0)
    known_s = np.empty(0)
    known_exact = np.zeros(0, dtype=bool)
    for _ in range(2 * maxfun):
        x_opt, pts, f, scale, exact, need = K.car_nelder_mead(
            neg_dt, x, error_vars, mean_x, known_pts, known_f, known_s,
            known_exact, maxfun, tol,
        )  # fmt: skip
        if not need.any():
            return x_opt
        f[need] = K.car_neg_loglik_many(pts[need], neg_dt, x, error_vars, mean_x)
        known_pts, known_f, known_s, known_exact = pts, f, scale, exact | need
    raise RuntimeError("CAR: the exact optimiser path was not reached")


def _car(t, m, e):
    sigma, tau = _car_minimize(-(t[1:] - t[:-1]), m.copy(), e.copy() ** 2, np.mean(m))
    return {"CAR_sigma": sigma, "CAR_tau": tau, "CAR_mean": np.mean(m) / tau}


def _slotted_round(t, d, T, k_lo, k_hi):
    """SAC at the occupied slots, and the slots (feets slotted_autocorrelation)."""
    sums, counts = K.slotted_sums(t, d, T, 0 if k_lo == 1 else k_lo, k_hi)
    if k_lo != 1:  # the zero lag is needed for normalisation in every round
        s0, c0 = K.slotted_sums(t, d, T, 0, 1)
        sums[0], counts[0] = s0[0], c0[0]
    sq = K._sequential_sum(d**2)  # Python's sum, in order, as feets
    prod0 = (sq + sums[0]) / (counts[0] + d.size)
    ks = np.flatnonzero(counts[k_lo:]) + k_lo
    with np.errstate(all="ignore"):
        sac = sums[ks] / counts[ks] / prod0
    if k_lo == 1:
        ks = np.concatenate([[0], ks]) if ks.size else np.zeros(0, dtype=np.int64)
        sac = np.concatenate([[prod0 / prod0], sac]) if ks.size else np.zeros(0)
    return sac, ks


def _first_below(values):
    below = np.flatnonzero(values < K.EXP_M1)
    return int(below[0]) if below.size else None


def _slotted(t, m, e, T=1.0):
    ts = t - np.min(t)
    d = m - np.mean(m)
    sac2, slots = _slotted_round(ts, d, T, 1, 100)
    out = {}
    n_ac = sac2.size
    with np.errstate(all="ignore"):
        sigmap = (
            np.sqrt(n_ac * 1.0 / (n_ac - 1)) * (sac2 - np.mean(sac2)) / np.std(sac2)
        )
        out["StetsonK_AC"] = (
            1
            / np.sqrt(n_ac * 1.0)
            * np.sum(np.abs(sigmap))
            / np.sqrt(np.sum(sigmap**2))
        )
    k = _first_below(sac2)
    big_k = 100
    while k is None:
        big_k = big_k + big_k
        if big_k > (np.max(t) - np.min(t)) / T:
            break
        sac2, slots = _slotted_round(ts, d, T, int(big_k / 2), big_k)
        k = _first_below(sac2)
    out["SlottedA_length"] = np.nan if k is None else slots[k] * T
    return out


def _psi(time, magnitude, period):
    new_time = np.mod(time, 2 * period) / (2 * period)
    folded = magnitude[np.argsort(new_time)]
    n = len(folded)
    sigma = np.std(folded)
    s = np.cumsum(folded - np.mean(folded)) * 1.0 / (n * sigma)
    r = np.max(s) - np.min(s)
    eta = (
        1.0 / ((n - 1) * np.var(folded)) * np.sum(np.power(folded[1:] - folded[:-1], 2))
    )
    return r, eta


def _ls(t, m, e, cache):
    freqs, power, best = cache["periodogram"]
    period = 1 / freqs[best]
    model = LombScargle(t, m, None)
    fap = model.false_alarm_probability(
        power[best], method="baluev", method_kwds=None, **cache["search"].fap_kwds(t)
    )
    r, eta = _psi(t, m, period)
    return {"PeriodLS": period, "Period_fit": fap, "Psi_CS": r, "Psi_eta": eta}


def _fourier(t, m, e, cache):
    freqs, _, _ = cache["periodogram"]
    ts = t - np.min(t)
    amps, phases, ok = K.harmonic_fits(ts, m, freqs)
    if not ok:  # ill-conditioned normal equations: SVD least squares
        return _fourier_lstsq(ts, m, freqs)
    out = {}
    for i in range(3):
        for j in range(4):
            out[f"Freq{i + 1}_harmonics_amplitude_{j}"] = amps[i, j]
            out[f"Freq{i + 1}_harmonics_rel_phase_{j}"] = phases[i, j] - phases[i, 0]
    return out


def _fourier_lstsq(ts, m, freqs):
    out = {}
    mag = m
    for i in range(3):
        amps, phases = [], []
        omag = mag
        for j in range(4):
            w = 2 * np.pi * (j + 1) * freqs[i] * ts
            design = np.column_stack([np.sin(w), np.cos(w), np.ones_like(ts)])
            (a, b, c), *_ = np.linalg.lstsq(design, omag, rcond=None)
            amps.append(np.sqrt(a**2 + b**2))
            phases.append(np.arctan(b / a))
            mag = np.array(mag) - (a * np.sin(w) + b * np.cos(w) + c)
        for j in range(4):
            out[f"Freq{i + 1}_harmonics_amplitude_{j}"] = amps[j]
            out[f"Freq{i + 1}_harmonics_rel_phase_{j}"] = phases[j] - phases[0]
    return out


def _median_amplitude(m):
    n = len(m)
    s = np.sort(m)
    q = int(math.ceil(0.05 * n))
    return (np.median(s[-q:]) - np.median(s[0:q])) / 2.0


def _signature(t, m, e, cache):
    freqs, _, _ = cache["periodogram"]
    y = (m - np.min(m)) / np.float64(_median_amplitude(m))
    loc = np.argmin(y)
    values = []
    for period in 1 / freqs:
        phases = np.remainder(t - t[loc], period) / period
        count = np.histogram2d(phases, y, bins=(18, 12), density=True)[0]
        values.append(count.reshape(18 * 12))
    return dict(zip(feature_columns("Signature"), np.concatenate(values)))


def _dmdt(t, m, e):
    counts = K.dmdt_counts(t, m, DMDT_DT_BINS, DMDT_DM_BINS)
    n_vals = int(0.5 * t.size * (t.size - 1))
    counts = np.fix(255.0 * counts / n_vals + 0.999).astype(int)
    return dict(zip(feature_columns("DeltamDeltat"), counts.reshape(-1)))


def _richards(t, m, e, cache):
    freqs, _, best = cache["periodogram"]
    (signif,) = cache["significance"]
    signif = float(signif[best])
    return richards_features(t, m, e, cache["search"], float(freqs[best]), signif)


_PLAIN = {
    "basic": _basic,
    "acf": _acf,
    "car": _car,
    "slotted": _slotted,
    "dmdt": _dmdt,
}
_PERIODIC = {
    "ls": _ls,
    "fourier": _fourier,
    "signature": _signature,
    "richards": _richards,
}


def _curve_features(t, m, e, groups, col_index, n_cols, search):
    row = np.full(n_cols, np.nan)
    if t.size < MIN_POINTS:
        return row
    cache = {"search": search}
    for group in groups:
        try:
            if group in _PERIODIC:
                if "periodogram" not in cache:
                    # the peaks' significance only for the Richards features
                    # (one more periodogram on the fats grid)
                    found = search.best_frequencies(
                        t, m, significance="richards" in groups
                    )
                    cache["periodogram"] = found[:3]
                    cache["significance"] = found[3:]
                values = _PERIODIC[group](t, m, e, cache)
            else:
                values = _PLAIN[group](t, m, e)
        except Exception:  # noqa: BLE001 - a degenerate curve: NaN for the group
            continue
        for col, val in values.items():
            j = col_index.get(col)
            if j is not None:
                row[j] = val
    return row


def _row_function(groups, col_index, n_cols, search):
    """``row(t, m, e)`` of :func:`~._rows.feature_rows` for ``groups``."""
    return partial(
        _curve_features,
        groups=groups,
        col_index=col_index,
        n_cols=n_cols,
        search=search,
    )


def compute_fast(curves, features, columns, *, n_jobs=1, **options):
    """Feature matrix ``(n_curves, len(columns))`` of the fast backend.

    The features of the ``light-curve`` package in one batch call, the
    others curve by curve (:func:`~._rows.backend_rows`, whose parameters
    ``options`` are).

    Parameters
    ----------
    curves : list of (time, mag, err)
        Validated curves (:func:`as_light_curve_list`).
    features : sequence of str
        FATS feature names.
    columns : sequence of str
        Output columns, in order.
    n_jobs : int
        Number of workers.
    **options
        ``period_search``, ``parallel``, ``progress`` of
        :func:`~._rows.backend_rows`.
    """
    col_index = {c: i for i, c in enumerate(columns)}
    X = np.full((len(curves), len(columns)), np.nan)
    lc_names = [f for f in features if FAST_GROUPS[f] == "lc"]
    ok = [i for i, c in enumerate(curves) if c[0].size >= MIN_POINTS]
    if lc_names and ok:
        objs = [getattr(lcpkg, _LC[f][0])(**_LC[f][1]) for f in lc_names]
        extractor = lcpkg.Extractor(*objs)
        offsets = np.cumsum([0] + [len(o.names) for o in objs])
        lcs = [(curves[i][0], curves[i][1], 1.0 / curves[i][2] ** 2) for i in ok]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            values = np.asarray(
                extractor.many(lcs, fill_value=np.nan, sorted=True, n_jobs=n_jobs)
            )
        for k, f in enumerate(lc_names):
            X[np.asarray(ok), col_index[f]] = values[:, offsets[k] + _LC[f][2]]

    groups = []
    for f in features:
        g = FAST_GROUPS[f]
        if g != "lc" and g not in groups:
            groups.append(g)
    if groups:
        X_other = backend_rows(
            _row_function, groups, curves, columns, n_jobs=n_jobs, **options
        )
        other_cols = [
            col_index[c]
            for f in features
            if FAST_GROUPS[f] != "lc"
            for c in feature_columns(f)
        ]
        X[:, other_cols] = X_other[:, other_cols]
    return X
