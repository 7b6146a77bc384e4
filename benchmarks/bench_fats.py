"""Benchmark: FATSFeatures(backend="fast") vs feets, and vs the light-curve package.

Throughput (light curves per second, one core) of the default FATS feature
set (every single-band FATS feature: 59 columns) with

* ``FATSFeatures(backend="fast")``;
* feets 1.0.1 itself (``FATSFeatures(backend="feets")``: feets' FeatureSpace
  with dask's synchronous scheduler, what a user would otherwise run);

on the 19 MACHO light curves feets ships and on simulated curves of 50-1,000
points (``skastro.datasets.make_light_curves``). feets is timed on the first
``--n-feets`` simulated curves and its rate extrapolated; the fast backend
runs on ``--n-fast`` curves and, for a like-for-like ratio, on the same
``--n-feets`` curves. On the same curves, the two backends are timed in
alternating chunks of 5 curves, so that both see the same load of a shared
machine. The two backends' tables are compared on the curves both computed.

The fast backend's first call in a process loads its numba kernels from the
on-disk cache (or compiles them, ~20 s, when the cache is missing or stale:
"cold"); that call is timed and printed separately and excluded from the
rates, and one row gives the like-for-like ratio with it included.

Per feature group (``FAST_GROUPS``: lc, acf, car, basic, fourier, ls,
slotted), both backends compute only that group's features on the first
``--n-groups`` simulated curves, so the hot spots are visible; each group
includes the intermediates it needs (the periodogram for ``ls`` and
``fourier``).

Third comparison, the "Rust floor": the 21 features whose definitions feets
takes from the ``light-curve`` package, computed by ``light_curve.Extractor``
directly versus by ``FATSFeatures`` (same code plus input validation).

Usage::

    python benchmarks/bench_fats.py                 # 10,000 fast, 100 feets
    python benchmarks/bench_fats.py --quick         # 500 fast, 10 feets

Figures (one core of the shared 2-core development machine, with a long
training job running on it: noisy; two full runs and two --quick runs, the
last full run on the final code, the others with 8 periodogram residue
classes instead of 4; see docs/user_guide/light_curves.rst): MACHO 173x /
145x (full), 157x / 151x (quick): min 145x, median 154x; the same simulated
curves 128x / 119x (100 curves), 97x / 116x (10 curves): min 97x, median
118x; fast on 10,000 curves against feets' rate on 100: 167x / 140x. Per
group, ms per curve fast vs feets (full runs 1 / 2, 30 curves): periodogram
groups ls 9.3 / 11.4 vs 510 / 492, fourier 8.3 / 9.5 vs 400 / 525; car
2.9 / 2.9 vs 379 / 410; slotted 0.77 / 0.44 vs 328 / 308; lc 0.31 / 0.30 vs
21 / 22; basic 0.27 / 0.30 vs 5.7 / 6.9; acf 0.08 / 0.09 vs 2.2 / 3.0.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import light_curve  # noqa: E402
import numpy as np  # noqa: E402

from skastro.datasets import load_macho_light_curves, make_light_curves  # noqa: E402
from skastro.exceptions import LightCurveWarning  # noqa: E402
from skastro.lightcurves import FATSFeatures, as_light_curve_list  # noqa: E402
from skastro.lightcurves._fats_fast import _LC, FAST_GROUPS  # noqa: E402


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


def _alternated(fast, ref, curves, chunk=5):
    """Time both backends on the same curves, alternating chunks of ``chunk``
    curves so that both see the same load of the shared machine."""
    t_fast = t_ref = 0.0
    X_fast, X_ref = [], []
    for a in range(0, len(curves), chunk):
        part = curves[a : a + chunk]
        xf, tf = _timed(fast.transform, part)
        xr, tr = _timed(ref.transform, part)
        t_fast, t_ref = t_fast + tf, t_ref + tr
        X_fast.append(xf)
        X_ref.append(xr)
    return np.vstack(X_fast), t_fast, np.vstack(X_ref), t_ref


def _agreement(fast, ref, columns):
    """Largest relative difference (relative phases excluded), largest
    relative-phase difference modulo pi (rad), and whether the NaN patterns
    match."""
    phase = np.array(["rel_phase" in c for c in columns])
    both = ~np.isnan(fast) & ~np.isnan(ref)
    with np.errstate(all="ignore"):
        rel = np.abs(fast - ref) / np.abs(ref)
        d = np.mod(np.abs(fast - ref), np.pi)
    rel[~both | (fast == ref)] = 0.0
    dphi = np.where(both, np.minimum(d, np.pi - d), 0.0)[:, phase]
    nan_match = bool(np.array_equal(np.isnan(fast), np.isnan(ref)))
    max_phase = float(dphi.max()) if dphi.size else 0.0
    return float(np.nanmax(rel[:, ~phase])), max_phase, nan_match


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-fast", type=int, default=10_000)
    parser.add_argument("--n-feets", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="500 fast, 10 feets")
    parser.add_argument(
        "--n-groups", type=int, default=30, help="curves for the per-group table"
    )
    parser.add_argument("--no-macho-feets", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n_fast, args.n_feets, args.n_groups = 500, 10, 10
    warnings.simplefilter("ignore", LightCurveWarning)

    # feets' own period grid on both sides: the agreement is the point here
    fast = FATSFeatures(period_grid="fats").fit()
    ref = FATSFeatures(backend="feets", period_grid="fats").fit()
    print(
        f"features: {len(fast.features_)} (the default set: every single-band "
        "FATS feature), one core"
    )

    # first call: numba kernels loaded from the on-disk cache, or compiled
    # when there is none ("cold"); excluded from the rates below, reported
    warm = make_light_curves(3, n_points=60, random_state=1).curves
    _, t_cold = _timed(fast.transform, warm)
    print(
        f"fast backend first call (3 curves, loads or compiles the numba "
        f"kernels): {t_cold:.2f} s, excluded from the rates below"
    )

    rows = []
    # ---- MACHO
    macho = as_light_curve_list(load_macho_light_curves())
    n_pts = np.array([c[0].size for c in macho])
    if args.no_macho_feets:
        _, t_fast = _timed(fast.transform, macho)
        rows.append(("MACHO (19 curves)", len(macho), t_fast, None, None))
    else:
        X_fast, t_fast, X_ref, t_ref = _alternated(fast, ref, macho)
        rows.append(("MACHO (19 curves)", len(macho), t_fast, t_ref, X_ref))
        agree = _agreement(X_fast, X_ref, fast.feature_names_out_)
        print(
            f"MACHO: {len(macho)} curves, {n_pts.min()}-{n_pts.max()} points; "
            f"fast vs feets: max relative difference {agree[0]:.1e} (relative "
            f"phases: {agree[1]:.1e} rad modulo pi), NaN pattern identical: "
            f"{agree[2]}"
        )

    # ---- simulated
    sim = make_light_curves(args.n_fast, n_points=(50, 1000), random_state=0).curves
    sub = sim[: args.n_feets]
    X_fast_sub, t_fast_sub, X_ref_sub, t_ref_sub = _alternated(fast, ref, sub)
    agree = _agreement(X_fast_sub, X_ref_sub, fast.feature_names_out_)
    print(
        f"simulated, {len(sub)} curves on both backends: max relative difference "
        f"{agree[0]:.1e} (relative phases: {agree[1]:.1e} rad modulo pi), NaN "
        f"pattern identical: {agree[2]}"
    )
    rows.append(
        (f"simulated 50-1000 pts ({len(sub)})", len(sub), t_fast_sub, t_ref_sub, None)
    )
    rows.append(
        (
            f"  same, fast timed with its first call ({len(sub)})",
            len(sub),
            t_fast_sub + t_cold,
            t_ref_sub,
            None,
        )
    )
    _, t_fast_all = _timed(fast.transform, sim)
    rows.append(
        (
            f"simulated 50-1000 pts ({len(sim)} fast, feets rate of {len(sub)})",
            len(sim),
            t_fast_all,
            t_ref_sub * len(sim) / len(sub),
            None,
        )
    )

    print()
    print(f"{'data':58s} {'fast /s':>9s} {'feets /s':>9s} {'ratio':>7s}")
    for name, n, tf, tr, _ in rows:
        rf = _rate(n, tf)
        if tr is None:
            print(f"{name:58s} {rf:9.2f} {'-':>9s} {'-':>7s}")
        else:
            rr = _rate(n, tr)
            print(f"{name:58s} {rf:9.2f} {rr:9.3f} {rf / rr:7.0f}x")

    # ---- per feature group, same curves on both backends
    groups: dict = {}
    for f in fast.features_:
        groups.setdefault(FAST_GROUPS[f], []).append(f)
    gsub = sim[: args.n_groups]
    print()
    print(
        f"per feature group, {len(gsub)} simulated curves on both backends "
        "(each group timed alone, with the intermediates it needs, e.g. the "
        "periodogram for 'ls' and 'fourier'):"
    )
    print(
        f"{'group':9s} {'n':>3s} {'fast ms/curve':>14s} {'feets ms/curve':>15s} "
        f"{'ratio':>7s}  features"
    )
    for g, names in groups.items():
        gf = FATSFeatures(features=names, period_grid="fats").fit()
        gr = FATSFeatures(features=names, backend="feets", period_grid="fats").fit()
        _, tf, _, tr = _alternated(gf, gr, gsub)
        shown = (
            ", ".join(names) if len(names) <= 4 else f"{names[0]} ... ({len(names)})"
        )
        print(
            f"{g:9s} {len(names):3d} {1e3 * tf / len(gsub):14.2f} "
            f"{1e3 * tr / len(gsub):15.1f} {tr / tf:7.0f}x  {shown}"
        )

    # ---- light-curve package on the features both compute
    shared = list(_LC)
    objs = [getattr(light_curve, _LC[f][0])(**_LC[f][1]) for f in shared]
    extractor = light_curve.Extractor(*objs)
    lcs = [(t, m, 1.0 / e**2) for t, m, e in sim]
    _, t_lc = _timed(
        lambda: extractor.many(lcs, sorted=True, n_jobs=1, fill_value=np.nan)
    )
    ours = FATSFeatures(features=shared).fit()
    _, t_ours = _timed(ours.transform, sim)
    print()
    print(
        f"{len(shared)} features shared with light-curve, {len(sim)} curves: "
        f"light_curve.Extractor {_rate(len(sim), t_lc):.0f} /s, "
        f"FATSFeatures(fast) {_rate(len(sim), t_ours):.0f} /s "
        f"(ratio {t_lc / t_ours:.2f}; the difference is input validation)"
    )
    print(
        f"full default set, fast backend: {_rate(len(sim), t_fast_all):.1f} /s "
        f"= {t_lc / t_fast_all:.3f} x the light-curve rate on its 21 features"
    )


if __name__ == "__main__":
    main()
