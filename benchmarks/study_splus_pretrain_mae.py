"""Study: magnitude MAE of the shipped 12- and 5-band S-PLUS pretrainers, by pool selection.

The pretraining task of Martinazzo et al. (2021, §5.1, Tables 5.1 and 5.2):
regress the AB magnitudes of an object from its 32×32 stamps. The shipped
12-band pretrainer (``load_pretrained("magnitude-pretrainer-splus-sim")``)
and the shipped 5-band one (``"magnitude-pretrainer-splus-sim-5band"``, the
broad bands u, g, r, i, z of the same stamps) are measured on fresh
simulated pool objects (:func:`skastro.datasets.make_splus_stamps`,
``--random-state``, not a seed used in training) under two selections
(``--cuts``):

- ``r``: r-band magnitude error below 0.05 mag, the pool the models were
  trained on (``make_splus_stamps``'s default);
- ``all``: every one of the 12 bands detected with an error below 0.05
  mag, the paper's ``X_u`` (§4.2: objects with any magnitude uncertainty
  above 0.05 removed, none with missing magnitudes).

Printed per selection: the set (objects, mean r, classes); the MAE (mag,
95% bootstrap interval over objects, 1000 resamples) of the 12-band model
over its 12 bands and over the 5 broad bands, and of the 5-band model; the
paired differences (same objects, same resamples) "5-band minus 12-band"
on the broad bands and "5-band over 5 bands minus 12-band over 12 bands"
(the paper's Table 5.1 comparison, 0.145 - 0.049 = +0.096); per band, each model's
MAE and the mean target uncertainty (the catalog's magnitude error, Table
5.2's comparison). Undetected magnitudes (NaN, only with ``r``) are left
out of the means, as the pretrainers' masked loss leaves them out.

``--mechanism`` adds, per selection, three tests of *how* each model reads
u (``mechanism``): the u bias of stars and quasars by their true u - g
colour; each model's response to its own u (and r) image, i.e. how far
its u (r) prediction moves, per magnitude, when that band's stamp alone is
made 0.3 mag brighter (1 for a model that measures the band from its image,
0 for one that infers it from the other bands); and the slope of predicted
against true colour (u - F378, u - g) per class.

``--model12`` and ``--model5`` measure other pretrainers (a shipped name or
a folder written by :func:`skastro.training.export_model`), e.g. the
continuations on the paper's pool (recipes
``splus-pretrain-{12,5}-paper-pool``).

Usage (one CPU thread; about 2 CPU minutes with the defaults, mostly the
simulation; ``--memory DIR`` caches the simulated sets)::

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 5 python benchmarks/study_splus_pretrain_mae.py
    python benchmarks/study_splus_pretrain_mae.py --n 60 --n-resamples 50  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from joblib import Memory  # noqa: E402

from skastro.datasets import (  # noqa: E402
    SPLUS_BANDS,
    SPLUS_BROAD_BANDS,
    make_splus_stamps,
)
from skastro.metrics import bootstrap_ci  # noqa: E402
from skastro.models import load_pretrained  # noqa: E402
from skastro.training import masked_mae_ci, splus_view  # noqa: E402

#: Martinazzo et al. (2021), Table 5.1: pretraining MAE (mag) on real S-PLUS.
PAPER_MAE = {"12": 0.049, "5": 0.145}


def pool_set(n: int, random_state: int, pool_cut: str) -> dict:
    """``n`` fresh pool objects: 12-band stamps, magnitudes, their errors, classes.

    The call of :func:`skastro.training.simulate_splus_pool` (``n_labelled=1``,
    default fields), keeping the catalog's errors and classes too.
    """
    data = make_splus_stamps(
        n_pool=n, n_labelled=1, pool_cut=pool_cut, random_state=random_state
    )
    cat = data.pool.catalog
    return {
        "X": data.pool.stamps.astype(np.float32, copy=False),
        "y": data.pool.magnitudes[list(SPLUS_BANDS)].to_numpy(dtype=np.float32),
        "err": cat[[f"{b}_err" for b in SPLUS_BANDS]].to_numpy(dtype=float),
        "cls": cat["class"].to_numpy(),
    }


def paired_ci(err_a: np.ndarray, err_b: np.ndarray, boot: dict) -> dict:
    """MAE of ``err_a`` minus MAE of ``err_b`` (absolute errors, NaN left
    out), with a bootstrap interval over the same resampled objects."""
    rows = np.arange(len(err_a))

    def diff(idx, _):
        return float(np.nanmean(err_a[idx]) - np.nanmean(err_b[idx]))

    ci = bootstrap_ci(diff, rows, rows, **boot)
    return {k: round(ci[k], 4) for k in ("value", "low", "high")}


def measure(s: dict, net12, net5, boot: dict) -> dict:
    """MAE of both networks on one set, paired differences, per-band table."""
    X12, y12 = splus_view(s["X"], s["y"], bands="12", target_scale=1.0)
    X5, y5 = splus_view(s["X"], s["y"], bands="5", target_scale=1.0)
    broad = [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]
    p12, p5 = net12.predict(X12), net5.predict(X5)
    e12, e5 = np.abs(p12 - y12), np.abs(p5 - y5)
    labels, counts = np.unique(s["cls"], return_counts=True)
    out = {
        "n": len(y12),
        "mean_r": round(float(np.nanmean(s["y"][:, SPLUS_BANDS.index("r")])), 2),
        "classes": dict(zip(labels.tolist(), counts.tolist())),
        "missing_magnitudes": round(float(np.isnan(s["y"]).mean()), 4),
        "mae_12band_12": masked_mae_ci(y12, p12, **boot),
        "mae_12band_broad": masked_mae_ci(y12[:, broad], p12[:, broad], **boot),
        "mae_5band": masked_mae_ci(y5, p5, **boot),
        "diff_5_minus_12_broad": paired_ci(e5, e12[:, broad], boot),
        "diff_5_minus_12_all": paired_ci(e5, e12, boot),
        "per_band": {},
    }
    for j, band in enumerate(SPLUS_BANDS):
        row = {
            "mae_12band": masked_mae_ci(y12[:, j : j + 1], p12[:, j : j + 1], **boot),
            "mean_err": round(float(np.nanmean(s["err"][:, j])), 4),
        }
        if band in SPLUS_BROAD_BANDS:
            k = SPLUS_BROAD_BANDS.index(band)
            row["mae_5band"] = masked_mae_ci(y5[:, k : k + 1], p5[:, k : k + 1], **boot)
            row["diff_5_minus_12"] = paired_ci(e5[:, k], e12[:, j], boot)
        out["per_band"][band] = row
    u12, u5 = SPLUS_BANDS.index("u"), SPLUS_BROAD_BANDS.index("u")
    out["per_class"] = {
        label: {
            "n": int(m.sum()),
            "mae_12band_12": masked_mae_ci(y12[m], p12[m], **boot),
            "mae_5band": masked_mae_ci(y5[m], p5[m], **boot),
            "u_mae_12band": masked_mae_ci(
                y12[m, u12 : u12 + 1], p12[m, u12 : u12 + 1], **boot
            ),
            "u_mae_5band": masked_mae_ci(
                y5[m, u5 : u5 + 1], p5[m, u5 : u5 + 1], **boot
            ),
            "diff_5_minus_12_all": paired_ci(e5[m], e12[m], boot),
        }
        for label in labels
        for m in [s["cls"] == label]
    }
    return out


#: Softening of the stamps' asinh stretch (``make_splus_stamps``'s
#: ``asinh_softening``), calibrated flux units: ``s = asinh(x / (2 b))``.
STAMP_SOFTENING = 1e-4


def mean_ci(values: np.ndarray, boot: dict) -> dict:
    """Mean of ``values`` with a bootstrap interval over them (objects)."""
    values = np.asarray(values, dtype=float)
    rows = np.arange(len(values))
    ci = bootstrap_ci(lambda idx, _: float(values[idx].mean()), rows, rows, **boot)
    return {k: round(ci[k], 3) for k in ("value", "low", "high")}


def brighten(X: np.ndarray, band: int, dmag: float) -> np.ndarray:
    """Stamps ``X`` (asinh-stretched) with channel ``band`` made ``dmag`` brighter.

    The channel's calibrated fluxes (sky noise included) are multiplied by
    ``10 ** (0.4 dmag)`` under the stretch; the other channels are unchanged.
    """
    out = X.copy()
    linear = 2.0 * STAMP_SOFTENING * np.sinh(out[:, band].astype(np.float64))
    out[:, band] = np.arcsinh(linear * 10 ** (0.4 * dmag) / (2.0 * STAMP_SOFTENING))
    return out


def _slope(true: np.ndarray, pred: np.ndarray) -> float:
    """Least-squares slope of ``pred`` on ``true``."""
    t = true - true.mean()
    return round(float((t * (pred - pred.mean())).sum() / (t * t).sum()), 2)


def mechanism(s: dict, net12, net5, boot: dict, dmag: float = 0.3) -> dict:
    """How each model reads u: bias by colour, own-image response, colour slopes.

    See the module docstring (``--mechanism``). Objects with a missing u, g,
    r or F378 magnitude are left out.
    """
    X12, y12 = splus_view(s["X"], s["y"], bands="12", target_scale=1.0)
    X5, y5 = splus_view(s["X"], s["y"], bands="5", target_scale=1.0)
    u, f378, g, r = (SPLUS_BANDS.index(b) for b in ("u", "F378", "g", "r"))
    u5, g5, r5 = (SPLUS_BROAD_BANDS.index(b) for b in ("u", "g", "r"))
    ok = np.isfinite(y12[:, [u, f378, g, r]]).all(axis=1)
    cls = s["cls"][ok]
    X12, y12, X5, y5 = X12[ok], y12[ok], X5[ok], y5[ok]
    p12, p5 = net12.predict(X12), net5.predict(X5)
    ug = y12[:, u] - y12[:, g]
    out: dict = {"dmag": dmag, "bias_by_colour": {}, "response": {}, "slopes": {}}
    bins = {"QSO": (-np.inf, 0.3, 0.6, np.inf), "STAR": (-np.inf, 0.6, np.inf)}
    for label, edges in bins.items():
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (cls == label) & (ug >= lo) & (ug < hi)
            if m.sum() < 5:
                continue
            out["bias_by_colour"][f"{label} u-g in [{lo}, {hi})"] = {
                "n": int(m.sum()),
                "12-band": mean_ci(p12[m, u] - y12[m, u], boot),
                "5-band": mean_ci(p5[m, u5] - y5[m, u5], boot),
            }
    for name, net, X, bands in (
        ("12-band", net12, X12, (u, r)),
        ("5-band", net5, X5, (u5, r5)),
    ):
        p0 = p12 if name == "12-band" else p5
        for band_name, b in zip(("u", "r"), bands):
            moved = (p0[:, b] - net.predict(brighten(X, b, dmag))[:, b]) / dmag
            for label in ("STAR", "QSO"):
                out["response"][f"{name} {band_name} {label}"] = mean_ci(
                    moved[cls == label], boot
                )
    for label in ("STAR", "QSO"):
        m = cls == label
        out["slopes"][label] = {
            "12-band u-F378": _slope(
                y12[m, u] - y12[m, f378], p12[m, u] - p12[m, f378]
            ),
            "12-band u-g": _slope(ug[m], p12[m, u] - p12[m, g]),
            "5-band u-g": _slope(ug[m], p5[m, u5] - p5[m, g5]),
            "true u-F378 mean": round(float((y12[m, u] - y12[m, f378]).mean()), 2),
            "true u-F378 sd": round(float((y12[m, u] - y12[m, f378]).std()), 2),
            "true u-g sd": round(float(ug[m].std()), 2),
            "predicted u-F378 mean (12-band)": round(
                float((p12[m, u] - p12[m, f378]).mean()), 2
            ),
        }
    return out


def report_mechanism(m: dict) -> None:
    print("  how the models read u (--mechanism):")
    for key, row in m["bias_by_colour"].items():
        print(
            f"    u bias (predicted - true), {key} (n={row['n']}): 12-band "
            f"{_fmt(row['12-band'], '+')}, 5-band {_fmt(row['5-band'], '+')}"
        )
    for key, ci in m["response"].items():
        print(
            f"    response of the {key} prediction to its own image "
            f"{m['dmag']} mag brighter (1 = read from that image): {_fmt(ci)}"
        )
    for label, row in m["slopes"].items():
        print(f"    {label}: slope of predicted on true colour {row}")


def _fmt(ci: dict, sign: str = "") -> str:
    return f"{ci['value']:{sign}.3f} [{ci['low']:{sign}.3f}, {ci['high']:{sign}.3f}]"


def report(cut: str, m: dict, random_state: int) -> None:
    print(
        f"\nselection {cut!r}: {m['n']} objects of make_splus_stamps(n_pool={m['n']}, "
        f"pool_cut={cut!r}, random_state={random_state}); mean r {m['mean_r']}; "
        f"{m['classes']}; {100 * m['missing_magnitudes']:.1f} % magnitudes missing"
    )
    print(
        f"  12-band model, 12 bands: {_fmt(m['mae_12band_12'])}  (paper {PAPER_MAE['12']})"
    )
    print(f"  12-band model, 5 broad bands: {_fmt(m['mae_12band_broad'])}")
    print(f"  5-band model: {_fmt(m['mae_5band'])}  (paper {PAPER_MAE['5']})")
    print(
        f"  paired 5-band - 12-band, broad bands: {_fmt(m['diff_5_minus_12_broad'], '+')}"
    )
    print(
        "  paired 5-band (5 bands) - 12-band (12 bands), the paper's comparison: "
        + _fmt(m["diff_5_minus_12_all"], "+")
    )
    print(f"  {'band':>5} {'mean err':>8} {'12-band MAE':>22} {'5-band MAE':>22} "
          f"{'5 - 12 (paired)':>25}")  # fmt: skip
    for band, row in m["per_band"].items():
        five = _fmt(row["mae_5band"]) if "mae_5band" in row else ""
        diff = _fmt(row["diff_5_minus_12"], "+") if "diff_5_minus_12" in row else ""
        print(
            f"  {band:>5} {row['mean_err']:8.3f} {_fmt(row['mae_12band']):>22} "
            f"{five:>22} {diff:>25}"
        )
    for label, row in m["per_class"].items():
        print(
            f"  {label} ({row['n']}): 12-band {_fmt(row['mae_12band_12'])}, "
            f"5-band {_fmt(row['mae_5band'])} (paired 5 - 12: "
            f"{_fmt(row['diff_5_minus_12_all'], '+')}); u: 12-band "
            f"{_fmt(row['u_mae_12band'])}, 5-band {_fmt(row['u_mae_5band'])}"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="objects per selection")
    parser.add_argument("--cuts", default="all,r", help="selections, comma-separated")
    parser.add_argument("--random-state", type=int, default=2024)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--memory", default=None, help="cache folder of the sets")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument(
        "--mechanism",
        action="store_true",
        help="also test how each model reads u (see the module docstring)",
    )
    parser.add_argument(
        "--model12",
        default="magnitude-pretrainer-splus-sim",
        help="12-band pretrainer: a shipped name or a model folder",
    )
    parser.add_argument(
        "--model5",
        default="magnitude-pretrainer-splus-sim-5band",
        help="5-band pretrainer: a shipped name or a model folder",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    net12, net5 = load_pretrained(args.model12), load_pretrained(args.model5)
    boot = {"n_resamples": args.n_resamples, "random_state": args.random_state}
    simulate = Memory(args.memory, verbose=0).cache(pool_set)
    results, sim_cpu = {}, 0.0
    print(
        f"S-PLUS magnitude pretraining MAE (mag), 12-band model {args.model12}, "
        f"5-band model {args.model5}; 95% bootstrap intervals over objects; "
        "torch 1 thread"
    )
    for cut in args.cuts.split(","):
        c0 = time.process_time()
        s = simulate(args.n, args.random_state, cut)
        sim_cpu += time.process_time() - c0
        results[cut] = measure(s, net12, net5, boot)
        report(cut, results[cut], args.random_state)
        if args.mechanism:
            results[cut]["mechanism"] = mechanism(s, net12, net5, boot)
            report_mechanism(results[cut]["mechanism"])
    cpu = time.process_time() - cpu0
    print(
        f"\nCPU time {cpu / 60:.1f} min (simulation {sim_cpu / 60:.1f}); "
        f"wall {(time.perf_counter() - wall0) / 60:.1f} min"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
