"""Benchmark: period search on real and sparse survey light curves.

For each data set, the fraction of periods recovered within 1 % and the
speed (curves/s, one core) of:

* ``skastro default``: ``FATSFeatures(features=["PeriodLS"])`` (survey grid:
  0.05 d to half the baseline, 5 samples per peak, the 10 highest peaks
  ranked by a 2-harmonic Fourier fit);
* ``skastro fats grid``: the same with ``period_grid="fats"`` (feets' grid,
  up to 100 x the mean Nyquist frequency);
* ``astropy fast``: ``LombScargle(t, m).power(grid, method="fast")`` on the
  survey grid, highest peak;
* ``nifty-ls``: ``nifty_ls.lombscargle`` (finufft, one thread) on the survey
  grid, highest peak.

The astropy and nifty-ls rows search exactly the default grid, so the speed
ratio compares like with like (skastro's figure includes its input checks,
the ranking of peaks and the false-alarm probability).

Data sets:

* MACHO: the 15 example curves of ../shared/realdata/macho (r band; -99 marks
  a missing value), catalogue periods (``period_r`` of macho_vs_catalog.csv,
  matched by field.tile.seqn);
* ASAS RR Lyrae: the RR_Lyrae_FM/FO/DM curves of the ASAS training set
  (../shared/realdata/asas). These files carry no periods: the reference is
  astropy's Lomb-Scargle on a dense grid (20 samples per peak) over
  0.2-1.2 d, the RR Lyrae range, i.e. the answer a user restricting the
  search by hand would get -- agreement, not truth;
* simulated sparse RR Lyrae: Stripe 82-like sampling (5-15 epochs spread
  over 5 years, then three seasons of 12-25 nights observed near one hour
  angle, hence strong 1-day aliases), Fourier light-curve shapes of RRab
  (75 %) and RRc stars, noise 0.015-0.06 mag and 2 % outliers of 0.2-1 mag;
  the true periods are known.

Usage::

    python benchmarks/bench_periods.py           # all curves
    python benchmarks/bench_periods.py --small   # 40 ASAS, 60 simulated curves

Needs ``nifty-ls`` (``pip install nifty-ls``, the ``bench`` extra; its rows
are skipped without it) and ../shared/realdata (the MACHO and ASAS rows are
skipped without it).

Measured (all curves, one core of the shared 2-core development machine at
load average 9-13): within 1 %, skastro default / fats grid / astropy fast /
nifty-ls: MACHO 14/14/13/13 of 15; ASAS RR Lyrae 117/113/116/116 of 117
(against the dense reference); simulated 190/0/185/185 of 200. Speed,
times astropy fast: skastro default 49x, 58x, 31x; nifty-ls 28x, 26x, 34x.
See docs/user_guide/light_curves.rst.
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.timeseries import LombScargle

from skastro.exceptions import LightCurveWarning
from skastro.lightcurves import FATSFeatures, as_light_curve_list

ROOT = Path(__file__).resolve().parent.parent


def _realdata() -> Path | None:
    for candidate in (
        ROOT.parent / "shared" / "realdata",
        ROOT / "shared" / "realdata",
    ):
        if (candidate / "README.md").is_file():
            return candidate
    return None


def load_macho(realdata: Path):
    """MACHO example curves (r band, markers dropped) and catalogue periods."""
    catalog = pd.read_csv(realdata / "macho" / "macho_vs_catalog.csv")
    catalog = catalog.set_index(["field", "tile", "seqn"])
    curves, periods = [], []
    for path in sorted((realdata / "macho").glob("LC_*.csv")):
        key = tuple(int(v) for v in path.stem[3:].split("."))
        lc = pd.read_csv(path)
        curves.append((lc["dateobs"], lc["rmag"], lc["rerr"]))
        periods.append(float(catalog.loc[key, "period_r"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LightCurveWarning)  # the -99 markers
        curves = as_light_curve_list(curves)
    return curves, np.asarray(periods)


def load_asas_rr_lyrae(realdata: Path, limit: int | None = None):
    """ASAS RR Lyrae curves and the dense-grid astropy reference periods."""
    labels = pd.read_csv(realdata / "asas" / "asas_training_set_classes.dat")
    wanted = dict(zip(labels["filename"].astype(str), labels["class"]))
    classes = {"RR_Lyrae_FM", "RR_Lyrae_FO", "RR_Lyrae_DM"}
    curves = []
    with tarfile.open(realdata / "asas" / "asas_training_set.tar.gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1].split(".")[0]
            if member.isfile() and wanted.get(name) in classes:
                raw = tar.extractfile(member).read()
                data = np.loadtxt(io.BytesIO(raw), delimiter=",")
                curves.append((data[:, 0], data[:, 1], data[:, 2]))
    curves = as_light_curve_list(curves[:limit])
    reference = []
    for t, m, _ in curves:
        freq, power = LombScargle(t, m).autopower(
            minimum_frequency=1 / 1.2,
            maximum_frequency=1 / 0.2,
            samples_per_peak=20,
            method="fast",
        )
        reference.append(1 / freq[np.argmax(power)])
    return curves, np.asarray(reference)


def simulate_sparse_rr_lyrae(n: int, random_state: int = 0, outliers: float = 0.02):
    """Stripe 82-like RR Lyrae curves (see the module docstring)."""
    rng = np.random.default_rng(random_state)
    curves, periods = [], []
    for _ in range(n):
        rrab = rng.random() < 0.75
        if rrab:
            period = rng.uniform(0.45, 0.8)
            amp, ratios, phases = rng.uniform(0.15, 0.4), (1, 0.5, 0.33, 0.2), (0, 2.4, 5.1, 1.6)  # fmt: skip
        else:
            period = rng.uniform(0.25, 0.42)
            amp, ratios, phases = rng.uniform(0.12, 0.25), (1, 0.15, 0.07, 0.03), (0, 4.8, 3.0, 1.0)  # fmt: skip
        t = list(51000 + rng.uniform(0, 2000, rng.integers(5, 15)))
        for season in range(3):
            k = rng.integers(12, 25)
            nights = np.sort(rng.choice(80, k, replace=False))
            t.extend(53620 + 365.25 * season + nights + rng.normal(0, 0.04, k))
        t = np.sort(np.asarray(t))
        phase = 2 * np.pi * (t / period + rng.uniform())
        signal = sum(
            amp * r * np.sin((k + 1) * phase + p)
            for k, (r, p) in enumerate(zip(ratios, phases))
        )
        mag0 = rng.uniform(16.5, 20.5)
        err = 0.015 + 0.04 * 10 ** (0.4 * (mag0 - 20.5)) * rng.uniform(0.8, 1.2, t.size)
        mag = mag0 + signal + rng.normal(0, 1, t.size) * err
        bad = rng.random(t.size) < outliers
        mag[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(0.2, 1.0, bad.sum())
        curves.append((t, mag, err))
        periods.append(period)
    return curves, np.asarray(periods)


def _survey_grid(t):
    """The default grid's frequencies (cycles/day)."""
    from skastro.lightcurves._periods import PeriodSearch

    f0, df, nf = PeriodSearch().frequency_grid(t)
    return f0, df, nf


def _skastro(**params):
    fats = FATSFeatures(features=["PeriodLS"], **params).fit()

    def run(curves):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LightCurveWarning)
            return fats.transform(curves)[:, 0]

    return run


def _astropy(curves):
    out = []
    for t, m, _ in curves:
        f0, df, nf = _survey_grid(t)
        freq = f0 + df * np.arange(nf)
        power = LombScargle(t, m).power(
            freq, method="fast", assume_regular_frequency=True
        )
        out.append(1 / freq[np.argmax(power)])
    return np.asarray(out)


def _nifty(curves):
    import nifty_ls

    out = []
    for t, m, _ in curves:
        f0, df, nf = _survey_grid(t)
        res = nifty_ls.lombscargle(
            t, m, fmin=f0, fmax=f0 + df * (nf - 1), Nf=nf, backend="finufft",
            nthreads=1,
        )  # fmt: skip
        out.append(1 / res.freq()[np.argmax(res.power)])
    return np.asarray(out)


METHODS = {
    "skastro default": _skastro(),
    "skastro fats grid": _skastro(period_grid="fats"),
    "astropy fast": _astropy,
    "nifty-ls": _nifty,
}
try:
    import nifty_ls  # noqa: F401
except ImportError:  # the `bench` extra: pip install nifty-ls
    print("nifty-ls is not installed (pip install nifty-ls): its rows are skipped")
    del METHODS["nifty-ls"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer curves")
    args = parser.parse_args(argv)
    n_asas = 40 if args.small else None
    n_sim = 60 if args.small else 200

    # first calls: numba kernels (loaded or compiled), finufft plans
    warm = simulate_sparse_rr_lyrae(2, random_state=99)[0]
    for method in METHODS.values():
        method(warm)

    sets = {}
    realdata = _realdata()
    if realdata is None:
        print("../shared/realdata is absent: MACHO and ASAS rows skipped")
    else:
        sets["MACHO (catalogue)"] = load_macho(realdata)
        sets["ASAS RR Lyrae (dense astropy ref.)"] = load_asas_rr_lyrae(
            realdata, n_asas
        )
    sets["simulated sparse RR Lyrae (true)"] = simulate_sparse_rr_lyrae(n_sim)

    results: dict = {}
    print(f"{'data set':36s} {'method':18s} {'within 1%':>12s} {'curves/s':>9s} "
          f"{'x astropy':>9s}")  # fmt: skip
    for name, (curves, periods) in sets.items():
        rates = {}
        for label, method in METHODS.items():
            start = time.perf_counter()
            found = method(curves)
            elapsed = time.perf_counter() - start
            ok = np.abs(np.asarray(found) / periods - 1) < 0.01
            rates[label] = len(curves) / elapsed
            results[(name, label)] = (int(ok.sum()), len(curves), rates[label])
        for label in METHODS:
            hits, n, rate = results[(name, label)]
            print(
                f"{name:36s} {label:18s} {hits:4d}/{n:<4d}{100 * hits / n:3.0f}% "
                f"{rate:9.2f} {rate / rates['astropy fast']:9.1f}"
            )
    return results


if __name__ == "__main__":
    main()
