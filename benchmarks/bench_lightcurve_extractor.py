"""Benchmark: LightCurveExtractor vs a loop of photutils aperture photometry,
and the HiTS sequence simulator's throughput.

1. Simulates HiTS-like sequences with ``make_hits_sequences`` and reports
   sequences per second.
2. Measures the light curves of those sequences with
   ``LightCurveExtractor(method="optimal")`` and ``(method="aperture")``, and
   with what a user would otherwise write: a Python loop over sequences and
   epochs calling ``photutils.aperture.aperture_photometry`` with a
   ``CircularAperture`` of the same radius (exact overlap) on each
   sky-subtracted stamp, plus the same aperture correction. The loop is timed
   on the first ``--n-loop`` sequences and its rate extrapolated; the aperture
   fluxes of both are checked to be identical on those sequences.

Usage::

    python benchmarks/bench_lightcurve_extractor.py            # 10,000 sequences
    python benchmarks/bench_lightcurve_extractor.py --small    # 1,400 sequences
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from photutils.aperture import CircularAperture, aperture_photometry

from skastro.datasets import HITS_CLASSES, make_hits_sequences
from skastro.lightcurves import LightCurveExtractor
from skastro.utils._physics import gaussian_psf


def photutils_loop(X, n: int, radius_fwhm: float) -> np.ndarray:
    """Aperture fluxes (ADU) of the first ``n`` sequences, one call per epoch."""
    stamps, mask = X["stamps"], X["mask"]
    size = stamps.shape[-1]
    c = (size - 1) / 2.0
    out = np.full(mask[:n].shape, np.nan)
    for i in range(n):
        for j in np.flatnonzero(mask[i]):
            fwhm = X["fwhm"][i, j]
            ap = CircularAperture((c, c), r=radius_fwhm * fwhm)
            data = stamps[i, j].astype(float) - X["sky"][i, j]
            raw = aperture_photometry(data, ap, method="exact")["aperture_sum"][0]
            psf = gaussian_psf(size, fwhm, 0.0, 0.0)
            frac = aperture_photometry(psf, ap, method="exact")["aperture_sum"][0]
            out[i, j] = raw / frac
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1,400 sequences")
    parser.add_argument("--n-loop", type=int, default=200)
    args = parser.parse_args()
    print("Timings are wall-clock; on a shared machine compare the ratios.")
    n_per_class = 200 if args.small else 10_000 // len(HITS_CLASSES) + 1

    t0, c0 = time.perf_counter(), time.process_time()
    X, y = make_hits_sequences(
        n_per_class, n_epochs=(5, 22), return_X_y=True, random_state=0
    )
    t_sim, c_sim = time.perf_counter() - t0, time.process_time() - c0
    n = len(y)
    n_epochs = int(X["mask"].sum())
    print(
        f"make_hits_sequences: {n} sequences ({n_epochs} epochs) in "
        f"{t_sim:.1f} s wall ({c_sim:.1f} s CPU) = {n / t_sim:.0f} sequences/s "
        f"({n / c_sim:.0f} per CPU second)"
    )

    rates = {}
    for method in ("optimal", "aperture"):
        ext = LightCurveExtractor(method=method, output="flux", flux_unit="adu")
        t0 = time.perf_counter()
        lc = ext.fit_transform(X)
        dt = time.perf_counter() - t0
        rates[method] = n_epochs / dt
        print(
            f"LightCurveExtractor({method!r}): {dt:.2f} s = "
            f"{rates[method]:.0f} epochs/s = {n / dt:.0f} sequences/s"
        )
        if method == "aperture":
            ours = lc["flux"]

    n_loop = min(args.n_loop, n)
    t0 = time.perf_counter()
    ref = photutils_loop(X, n_loop, 0.8)
    dt = time.perf_counter() - t0
    loop_epochs = int(X["mask"][:n_loop].sum())
    rate_loop = loop_epochs / dt
    print(
        f"photutils aperture_photometry loop: {loop_epochs} epochs in {dt:.2f} s "
        f"= {rate_loop:.0f} epochs/s (all: {n_epochs / rate_loop:.0f} s extrapolated)"
    )
    # our output is left-aligned and time-sorted; the simulator's input already is
    valid = X["mask"][:n_loop]
    diff = np.nanmax(
        np.abs(ours[:n_loop][valid] - ref[valid]) / np.abs(ref[valid]).clip(1)
    )
    print(f"max relative difference of aperture fluxes vs photutils: {diff:.2e}")
    print(
        f"ratio aperture  (LightCurveExtractor / photutils loop): "
        f"{rates['aperture'] / rate_loop:.1f}x faster"
    )
    print(
        f"ratio optimal   (LightCurveExtractor / photutils loop): "
        f"{rates['optimal'] / rate_loop:.1f}x faster"
    )


if __name__ == "__main__":
    main()
