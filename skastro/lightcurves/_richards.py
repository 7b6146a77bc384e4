"""Period and folded-curve features of Richards et al. (2011, 2012) that FATS lacks.

FATS describes the best period by the amplitudes of four harmonics fitted one
after the other and by "relative phases" ``phi_j - phi_1`` that depend on the
time origin. Richards et al. (2011, ApJ 733, 10; used again for the ASAS
catalogue of Richards et al. 2012) add features of the light-curve *shape*
at that period, which separate classes of similar period: the Fourier
amplitude ratios and the origin-free phase differences
``phi_k1 = phi_k - k phi_1`` (Simon & Lee 1981), the model's asymmetry, a
second period found after removing the first, and point-to-point scatter of
the curve folded at one and two periods (eclipsing binaries with unequal
minima).

Every feature is computed from the best period of the
:class:`~skastro.lightcurves._periods.PeriodSearch` that ``PeriodLS`` uses,
refined within one grid step on either side by the Fourier fit (a grid
frequency is up to half a step off the peak, which over a multi-year
baseline shifts the k-th harmonic's phase by up to ``k pi / oversampling``).
Definitions (``f1`` that refined best frequency; ``m`` magnitudes;
``MAD`` the median absolute deviation from the median):

``R21``, ``R31``
    ``A2 / A1``, ``A3 / A1``: amplitude ratios of the harmonics of ``f1`` in
    one simultaneous least-squares fit of ``N_HARMONICS`` harmonics.
``phi21_sin``, ``phi21_cos``, ``phi31_sin``, ``phi31_cos``
    sine and cosine of ``phi_k1 = phi_k - k phi_1`` (``m = c + sum A_k
    sin(2 pi k f1 t + phi_k)``); the pair keeps the angle continuous
    across 0 and 2 pi.
``model_amplitude``
    Peak-to-peak of that Fourier model, mag.
``model_skew``
    ``(max - mean) - (mean - min)`` of the model over its peak-to-peak:
    -1 to 1, positive when the minima in brightness (maxima in magnitude)
    are deep and narrow (eclipses).
``rise_fraction``
    Fraction of the period from the model's faintest to its brightest
    point (short for an RRab star's steep rise).
``var_ratio``
    Variance of the residuals of the model over the variance of ``m``:
    the part of the variability the period does not explain.
``scatter_res_raw``
    ``MAD`` of the residuals over ``MAD`` of ``m``.
``f2_over_f1``, ``A2f_over_A1f``, ``var_ratio2``
    The best frequency of the residuals (same grid; the second mode of a
    double-mode pulsator, a beat, a secondary period) over ``f1``; its
    one-harmonic amplitude over ``A1``; variance of the residuals after
    removing it too, over the variance of ``m``.
``p2p_over_mad``
    Median absolute difference of consecutive points in time over ``MAD``.
``p2p_fold_over_mad``
    The same on the curve folded at ``PeriodLS`` (small for a clean periodic
    curve).
``p2p_fold2p_over_fold``
    90th percentile of the consecutive differences folded at ``2 PeriodLS``
    over that at ``PeriodLS`` (an eclipsing binary found at half its period:
    unequal minima make it large).
``fold2p_slope_10``, ``fold2p_slope_90``
    10th and 90th percentiles of the slopes between consecutive points of
    the curve folded at ``2 PeriodLS``, mag per unit phase.
``noise_ratio``
    Standard deviation of ``m`` over the median error: how far the
    variability stands above the photometric noise.
``freq_signif``
    Significance of ``PeriodLS``'s periodogram peak: its power minus the
    mean power over the searched grid, in standard deviations of the power
    over the grid (the periodogram's signal-to-noise; Richards et al. 2011
    rank the significance of the first frequency among their most useful
    features, with their own definition, a false-alarm probability).
``signif_ratio_21``, ``signif_ratio_31``
    The same significance for the second frequency (in the periodogram of
    the residuals of the ``N_HARMONICS``-harmonic fit at ``f1``) and for a
    third one (in the periodogram of what is left after also removing
    ``N_HARMONICS`` harmonics of ``f2``: Richards et al.'s prewhitening),
    over ``freq_signif``: near 1 for a multi-periodic star, small for a
    single clean period.
"""

from __future__ import annotations

import numpy as np

from ._features_def import RICHARDS_FEATURES
from ._periods import PeriodSearch, harmonic_rss

__all__ = ["RICHARDS_FEATURES", "N_HARMONICS", "richards_features"]

#: Harmonics of the simultaneous Fourier fit at the best period.
N_HARMONICS = 4

#: Frequencies tried within one grid step on either side of the best one.
N_REFINE = 21


def _fourier_design(ts: np.ndarray, f: float, n_harmonics: int) -> np.ndarray:
    """Columns ``1, sin(2 pi k f t), cos(2 pi k f t)`` for ``k = 1..n``."""
    arg = 2.0 * np.pi * f * ts[:, None] * np.arange(1, n_harmonics + 1)[None, :]
    return np.hstack([np.ones((ts.size, 1)), np.sin(arg), np.cos(arg)])


def _fourier_fit(ts, y, f, n_harmonics):
    """Least-squares Fourier series at ``f``: amplitudes, phases, residuals,
    and the coefficients (``y = c + sum A_k sin(2 pi k f t + phi_k)``)."""
    design = _fourier_design(ts, f, n_harmonics)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    a = coef[1 : n_harmonics + 1]  # sine coefficients
    b = coef[n_harmonics + 1 :]  # cosine coefficients
    amps = np.hypot(a, b)
    phases = np.arctan2(b, a)  # A sin(x + phi) = A cos(phi) sin x + A sin(phi) cos x
    return amps, phases, y - design @ coef, coef


def _mad(v: np.ndarray) -> float:
    return float(np.median(np.abs(v - np.median(v))))


def _fold_diffs(t, m, period):
    """Magnitude and phase differences of consecutive points folded at ``period``."""
    phase = np.mod(t - t[0], period) / period
    order = np.argsort(phase, kind="stable")
    return np.diff(m[order]), np.diff(phase[order])


def _next_frequency(search: PeriodSearch, t: np.ndarray, resid: np.ndarray):
    """Best frequency of the residuals' periodogram and its significance
    (NaN, NaN for residuals without a periodogram: an exact fit)."""
    try:
        freqs, _, best, signif = search.best_frequencies(t, resid, significance=True)
    except ValueError:
        return np.nan, np.nan
    return float(freqs[best]), float(signif[best])


def richards_features(
    t: np.ndarray,
    m: np.ndarray,
    e: np.ndarray,
    search: PeriodSearch,
    f1: float,
    signif1: float = np.nan,
) -> dict[str, float]:
    """The :data:`RICHARDS_FEATURES` of one curve.

    Parameters
    ----------
    t, m, e : ndarray
        Times (days, sorted), magnitudes and errors (mag) of one curve.
    search : PeriodSearch
        The period search of ``PeriodLS`` (its grid is reused for the
        second frequency).
    f1 : float
        The best frequency (``1 / PeriodLS``), cycles/day; refined here.
    signif1 : float, default=NaN
        Significance of its peak (``PeriodSearch.best_frequencies(...,
        significance=True)``): ``freq_signif``.

    Returns
    -------
    dict
        Feature name -> value (NaN where undefined).
    """
    ts = t - t.min()
    y = m - np.mean(m)
    var = float(np.var(y))
    n_h = min(N_HARMONICS, max(1, (t.size - 2) // 2 - 1))
    # the grid's frequency is within half a step of the peak: over a long
    # baseline that half step moves the k-th harmonic's phase by up to
    # k pi / oversampling, enough to blur amplitudes and phases
    _, df, _ = search.frequency_grid(t)
    trial = f1 + df * np.linspace(-1.0, 1.0, N_REFINE)
    f1 = float(trial[np.argmin(harmonic_rss(ts, y, trial, n_h))])
    amps, phases, resid, coef = _fourier_fit(ts, y, f1, n_h)
    out = dict.fromkeys(RICHARDS_FEATURES, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if n_h >= 2:
            out["R21"] = amps[1] / amps[0]
            d21 = phases[1] - 2 * phases[0]
            out["phi21_sin"], out["phi21_cos"] = np.sin(d21), np.cos(d21)
        if n_h >= 3:
            out["R31"] = amps[2] / amps[0]
            d31 = phases[2] - 3 * phases[0]
            out["phi31_sin"], out["phi31_cos"] = np.sin(d31), np.cos(d31)
        grid = np.linspace(0.0, 1.0, 200, endpoint=False)
        model = _fourier_design(grid / f1, f1, n_h) @ coef
        ptp = float(np.ptp(model))
        mean = float(np.mean(model))
        out["model_amplitude"] = ptp
        out["model_skew"] = ((model.max() - mean) - (mean - model.min())) / ptp
        # magnitudes: faintest = largest value, brightest = smallest
        out["rise_fraction"] = np.mod(
            grid[np.argmin(model)] - grid[np.argmax(model)], 1.0
        )
        out["var_ratio"] = float(np.var(resid)) / var
        mad = _mad(m)
        out["scatter_res_raw"] = _mad(resid) / mad

        out["freq_signif"] = signif1
        # second frequency: the best peak of the residuals' periodogram; a
        # third after removing the second's harmonics too (prewhitening)
        f2, signif2 = _next_frequency(search, t, resid)
        if np.isfinite(f2):
            amps2, _, resid2, _ = _fourier_fit(ts, resid, f2, 1)
            out["f2_over_f1"] = f2 / f1
            out["A2f_over_A1f"] = amps2[0] / amps[0]
            out["var_ratio2"] = float(np.var(resid2)) / var
            out["signif_ratio_21"] = signif2 / signif1
            _, _, resid3, _ = _fourier_fit(ts, resid, f2, n_h)
            out["signif_ratio_31"] = _next_frequency(search, t, resid3)[1] / signif1

        out["p2p_over_mad"] = float(np.median(np.abs(np.diff(m)))) / mad
        dm1, _ = _fold_diffs(t, m, 1.0 / f1)
        out["p2p_fold_over_mad"] = float(np.median(np.abs(dm1))) / mad
        dm2, dph2 = _fold_diffs(t, m, 2.0 / f1)
        out["p2p_fold2p_over_fold"] = float(
            np.percentile(np.abs(dm2), 90) / np.percentile(np.abs(dm1), 90)
        )
        slope = dm2[dph2 > 0] / dph2[dph2 > 0]
        if slope.size:
            out["fold2p_slope_10"], out["fold2p_slope_90"] = np.percentile(
                slope, [10, 90]
            )
        out["noise_ratio"] = float(np.std(m)) / float(np.median(e))
    return {k: (float(v) if np.isfinite(v) else np.nan) for k, v in out.items()}
