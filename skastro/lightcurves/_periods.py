"""The period search of FATSFeatures: frequency grids and the choice of peaks.

Two grids are available (``FATSFeatures(period_grid=...)``):

``"survey"`` (default)
    Frequencies from ``1 / max_period`` to ``1 / min_period`` (cycles/day)
    in steps of ``1 / (oversampling * baseline)``, as astropy's
    ``LombScargle.autofrequency(samples_per_peak=oversampling,
    minimum_frequency=..., maximum_frequency=...)`` builds them; by default
    periods from 0.05 d to half the curve's baseline. The step is tied to the
    baseline (a periodogram peak is ``1 / baseline`` wide), the range is not:
    a sparse curve spread over years is searched up to 20 cycles/day however
    few points it has.
``"fats"``
    feets 1.0.1's (and FATS's) grid: astropy's ``autofrequency`` with 5
    samples per peak up to 100 times the *mean* Nyquist frequency
    ``0.5 N / baseline``. For a sparse multi-year curve this stops far below
    1 cycle/day (60 points over 8 years: 1.03 cycles/day), so short periods
    are never searched; kept for agreement with feets and for the
    reproduction of Carrasco-Davis et al. (2019).

The periodogram is astropy's floating-mean Lomb-Scargle, ``"standard"``
normalisation, without errors (as feets computes it). On the ``"fats"`` grid
the three highest grid values are taken, as feets does. On the ``"survey"``
grid the ``N_CANDIDATES`` highest local maxima (distinct peaks) are
candidates; each is scored by the residual sum of squares of a least-squares
Fourier series with ``n_harmonics`` harmonics at that frequency, and the
three best distinct peaks are kept (best last). With one harmonic this
ranking is the periodogram's own (the power is ``1 - RSS / RSS_0``); with two
(the default) a non-sinusoidal variable (an RRab star's saw-tooth, an
eclipse) is credited with its harmonics, which picks its true frequency over
a daily alias more often on sparse curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _fats_kernels as K

__all__ = ["PeriodSearch", "N_CANDIDATES"]

#: Number of periodogram peaks scored by the Fourier fit on the survey grid.
N_CANDIDATES = 10


@dataclass(frozen=True)
class PeriodSearch:
    """Settings of the period search (see the module docstring).

    Attributes
    ----------
    grid : {"survey", "fats"}
    min_period : float
        Shortest period searched on the survey grid, days.
    max_period : float or None
        Longest period searched on the survey grid, days; None is half the
        curve's baseline.
    oversampling : float
        Grid points per periodogram peak width ``1 / baseline``.
    n_harmonics : int
        Harmonics of the Fourier series that ranks the candidate peaks.
    """

    grid: str = "survey"
    min_period: float = 0.05
    max_period: float | None = None
    oversampling: float = 5.0
    n_harmonics: int = 2

    def frequency_grid(self, t: np.ndarray) -> tuple[float, float, int]:
        """``(f0, df, nf)`` of the grid ``f0 + df * arange(nf)`` for the times
        ``t`` (days), in cycles/day.

        Raises
        ------
        ValueError
            The curve's baseline is too short for the period range.
        """
        baseline = float(t.max() - t.min())
        if self.grid == "fats":
            # astropy's autofrequency(samples_per_peak=5, nyquist_factor=100)
            df = 1.0 / baseline / 5
            f0 = 0.5 * df
            fmax = 100 * (0.5 * t.size / baseline)
        else:
            df = 1.0 / baseline / self.oversampling
            longest = 0.5 * baseline if self.max_period is None else self.max_period
            f0 = 1.0 / longest
            fmax = 1.0 / self.min_period
        nf = 1 + int(np.round((fmax - f0) / df))
        if not fmax > f0 or nf < 3:
            raise ValueError(
                f"a baseline of {baseline:g} d is too short for periods of "
                f"{1 / fmax:g}-{1 / f0:g} d"
            )
        return f0, df, nf

    def fap_kwds(self, t: np.ndarray) -> dict:
        """Keyword arguments of astropy's ``false_alarm_probability`` (Baluev
        2008) for ``Period_fit``: feets' on the fats grid; the searched band
        and oversampling on the survey grid."""
        if self.grid == "fats":
            return {
                "samples_per_peak": 5,
                "nyquist_factor": 5,
                "minimum_frequency": None,
                "maximum_frequency": None,
            }
        f0, df, nf = self.frequency_grid(t)
        return {
            "samples_per_peak": self.oversampling,
            "minimum_frequency": f0,
            "maximum_frequency": f0 + df * (nf - 1),
        }

    def feets_kwargs(self, t: np.ndarray) -> dict:
        """``feets.FeatureSpace`` keyword arguments giving feets' extractors
        this grid for the curve with times ``t`` (empty on the fats grid)."""
        if self.grid == "fats":
            return {}
        f0, df, nf = self.frequency_grid(t)
        autopower = {
            "normalization": "standard",
            "minimum_frequency": f0,
            "maximum_frequency": f0 + df * (nf - 1),
            "samples_per_peak": self.oversampling,
        }
        fap = {"method": "baluev", "method_kwds": None, **self.fap_kwds(t)}
        lscargle = {"autopower_kwds": autopower}
        return {
            "AstropyLombScargle": {"lscargle_kwds": lscargle, "fap_kwds": fap},
            "FourierComponents": {"lscargle_kwds": lscargle},
        }

    def best_frequencies(
        self, t: np.ndarray, m: np.ndarray, *, significance: bool = False
    ) -> tuple:
        """The three frequencies of ``Freq1-3`` and the index of the best one.

        Parameters
        ----------
        t, m : ndarray
            Times (days, sorted) and magnitudes of one curve.
        significance : bool, default=False
            Also return the significance of each of the three peaks: its
            power minus the mean power over the whole grid, in standard
            deviations of the power over the grid (the periodogram's
            signal-to-noise; free on the survey grid, one more periodogram
            on the fats grid).

        Returns
        -------
        freqs : ndarray of shape (3,)
            Frequencies (cycles/day) in the order of the features ``Freq1``,
            ``Freq2``, ``Freq3``: feets' on the fats grid (ascending power,
            so ``Freq1`` is the third-highest grid value), best first on the
            survey grid.
        power : ndarray of shape (3,)
            Their Lomb-Scargle powers (astropy's ``"standard"``).
        best : int
            Index of ``PeriodLS``'s frequency in ``freqs``.
        significance : ndarray of shape (3,)
            Only with ``significance=True``.
        """
        f0, df, nf = self.frequency_grid(t)
        ts = t - t.min()
        w = np.full(t.size, 1.0 / t.size)
        y = m - np.mean(m)
        if self.grid == "fats":
            idx, power = K.ls_top3(ts, y, w, f0, df, nf)
            freqs = f0 + df * idx.astype(np.float64)
            if significance:
                grid = K.ls_power_grid(ts, y, w, f0, df, nf)
                return freqs, power, 2, _significance(power, grid)
            return freqs, power, 2
        approx = K.ls_power_grid(ts, y, w, f0, df, nf)
        idx = _top_peaks(approx, N_CANDIDATES)
        if idx.size < 3:
            raise ValueError("periodogram undefined (constant light curve)")
        freqs = f0 + df * idx.astype(np.float64)
        power = K.ls_power_exact(ts, y, w, freqs)
        if self.n_harmonics == 1 or t.size <= 2 * (2 * self.n_harmonics + 1):
            score = -power  # the periodogram's own ranking
        else:
            score = harmonic_rss(ts, y, freqs, self.n_harmonics)
        order = np.lexsort((freqs, score))[:3]  # best first
        if significance:
            return freqs[order], power[order], 0, _significance(power[order], approx)
        return freqs[order], power[order], 0


def _significance(power: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``(power - mean) / std`` of the periodogram ``grid`` (NaN if flat)."""
    finite = grid[np.isfinite(grid)]
    std = float(np.std(finite)) if finite.size else 0.0
    if not std > 0:
        return np.full(np.shape(power), np.nan)
    return (np.asarray(power) - float(np.mean(finite))) / std


def _top_peaks(power: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest local maxima of ``power`` (plateaus count
    once, at their first point; the grid's ends count as maxima when higher
    than their one neighbour)."""
    p = np.where(np.isfinite(power), power, -np.inf)
    left = np.concatenate([[-np.inf], p[:-1]])
    right = np.concatenate([p[1:], [-np.inf]])
    peaks = np.flatnonzero((p > left) & (p >= right) & np.isfinite(p))
    order = np.argsort(-p[peaks], kind="stable")[:k]
    return peaks[order]


def harmonic_rss(
    ts: np.ndarray, y: np.ndarray, freqs: np.ndarray, n_harmonics: int
) -> np.ndarray:
    """Residual sum of squares of the least-squares Fourier series
    ``c + sum_k a_k sin(2 pi k f t) + b_k cos(2 pi k f t)``, ``k = 1..n_harmonics``,
    at each frequency ``f`` of ``freqs``."""
    rss = np.empty(freqs.size)
    k = np.arange(1, n_harmonics + 1)
    for i, f in enumerate(freqs):
        arg = 2.0 * np.pi * f * ts[:, None] * k[None, :]
        design = np.hstack([np.ones((ts.size, 1)), np.sin(arg), np.cos(arg)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        resid = y - design @ coef
        rss[i] = float(resid @ resid)
    return rss
