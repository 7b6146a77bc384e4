"""Study: does an S-PLUS magnitude pretrainer read u from its u image while it trains?

Companion of ``study_splus_pretrain_mae.py --mechanism``, which finds that
the 12-band pretrainer of Martinazzo et al. (2021) predicts u from the
neighbouring blue bands (its u prediction moves by ~0.13 of a change of the
u stamp alone, the 5-band model's by ~0.83), so quasars, bluer in u than the
stellar locus, get u about 0.5 mag too faint. This script trains a network
on a folder of pool chunks (``--pool``: ``.npz`` files of 12-band stamps and
magnitudes, e.g. the cache of the recipe ``splus-pretrain-12-paper-pool``,
``cache-splus-pool-all``; read only) and prints, every ``--every`` passes, on
fresh objects of ``make_splus_stamps(pool_cut="all",
random_state=--test-state)``:

- the MAE (mag) over its bands, of stars and of quasars, and the quasar u
  MAE and bias;
- the *u response*: how far the u prediction moves, per magnitude, when the
  u stamp alone is made 0.3 mag brighter (1: u read from the u image; 0:
  inferred from the other bands), for 200 stars and every quasar.

The network is the recipes' (:func:`skastro.training.martinazzo_pretrainer`:
quarter-width VGG16, dense 1024, VGG initialisation, batches of 32, masked
mean absolute error on magnitudes / 35, Adam), trained from scratch
(``--bands``, ``--lr``, default the recipe's 3e-4; ``--width``, default
the recipe's 0.25) or continued from a
trained model (``--init``: a shipped name or an exported folder). Two
departures from the paper, for diagnosis only: ``--loss mse`` (squared
error) and ``--oversample-blue K`` (objects with u - g < 0.6 drawn K + 1
times per pass).

``--probe MODEL`` instead asks whether a trained model's representation holds
quasar u: a ridge and a gradient-boosted regressor (absolute error) fit u
from the 1024 dense activations of one half of the test objects and predict
the other half (both ways); beside them, the u magnitude of a 6-pixel
aperture on the u stamp (its offset taken from the fitting half's stars).

Usage (one CPU thread, ~20 CPU s a pass of 10,000 stamps, plus ~100 CPU s
simulating the test objects once; ``--memory DIR`` caches them)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/study_splus_u_reading.py \\
        --pool runs/cache-splus-pool-all --bands 12 --passes 12
    python benchmarks/study_splus_u_reading.py --pool DIR --bands 5 --passes 12
    python benchmarks/study_splus_u_reading.py --pool DIR \\
        --init runs/pp12/model --lr 1e-4 --passes 4
    python benchmarks/study_splus_u_reading.py --probe runs/pp12/model
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from joblib import Memory  # noqa: E402

from skastro.datasets import SPLUS_BANDS, SPLUS_BROAD_BANDS  # noqa: E402
from skastro.models import load_pretrained  # noqa: E402
from skastro.nn import MaskedL1Loss, VGG16StampNet  # noqa: E402
from skastro.training import martinazzo_pretrainer, splus_view  # noqa: E402
from skastro.training._stream import read_arrays  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_splus_pretrain_mae import (  # noqa: E402
    STAMP_SOFTENING,
    brighten,
    pool_set,
)

#: Magnitude by which the u stamp alone is brightened for the response.
DMAG = 0.3


def load_pool(
    folder: str, bands: str, target_scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``.npz`` chunk of ``folder`` (``valid.npz`` left out) in the
    pretrainer's view: stamps and magnitudes / ``target_scale``."""
    paths = sorted(
        p for p in glob.glob(os.path.join(folder, "*.npz")) if "valid" not in p
    )
    if not paths:
        raise ValueError(f"no .npz pool chunks in {folder!r}.")
    Xs, ys = zip(
        *(
            splus_view(*read_arrays(p), bands=bands, target_scale=target_scale)
            for p in paths
        )
    )
    return torch.from_numpy(np.concatenate(Xs)), torch.from_numpy(np.concatenate(ys))


def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the finite targets (``--loss mse``)."""
    mask = torch.isfinite(target)
    diff = torch.where(mask, pred - torch.nan_to_num(target), 0.0)
    return (diff**2).sum() / mask.sum().clamp(min=1)


def predict(module: torch.nn.Module, X: np.ndarray, scale: float) -> np.ndarray:
    """Magnitudes predicted for stamps ``X`` (batches of 256), outputs times
    the target scale."""
    module.eval()
    with torch.no_grad():
        out = [
            module(torch.from_numpy(X[i : i + 256])).numpy()
            for i in range(0, len(X), 256)
        ]
    module.train()
    return np.concatenate(out) * scale


def evaluate(module, X, y, cls, probe, scale) -> str:
    """One line: MAE overall / stars / quasars, quasar u, u response."""
    p = predict(module, X, scale)
    err = np.abs(p - y)
    brighter = predict(module, brighten(X[probe], 0, DMAG), scale)
    moved = (p[probe, 0] - brighter[:, 0]) / DMAG
    parts = [f"MAE {np.nanmean(err):.3f}"]
    for label in ("STAR", "QSO"):
        m = cls == label
        parts.append(
            f"{label} {np.nanmean(err[m]):.3f}, u {np.nanmean(err[m, 0]):.3f} "
            f"(bias {np.nanmean(p[m, 0] - y[m, 0]):+.3f}), u response "
            f"{moved[cls[probe] == label].mean():.2f}"
        )
    return "; ".join(parts)


def aperture_u(X: np.ndarray, radius: float = 6.0) -> np.ndarray:
    """u magnitude (plus a constant) of a ``radius``-pixel aperture on the u
    stamp (channel 0), undoing the asinh stretch."""
    linear = 2.0 * STAMP_SOFTENING * np.sinh(X[:, 0].astype(np.float64))
    h, w = X.shape[-2:]
    yy, xx = np.mgrid[:h, :w]
    inside = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) < radius
    flux = (linear * inside).sum(axis=(1, 2))
    return -2.5 * np.log10(np.clip(flux, 1e-12, None))


def probe_representation(model: str, s: dict, random_state: int) -> None:
    """Print how well u is recovered from ``model``'s representation, by class."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    net = load_pretrained(model)
    bands = "12" if net.module_.head.out_features == len(SPLUS_BANDS) else "5"
    X, y = splus_view(s["X"], s["y"], bands=bands, target_scale=1.0)
    Z, u, cls = net.transform(X), y[:, 0], s["cls"]
    half = np.random.default_rng(random_state).random(len(u)) < 0.5
    ap = aperture_u(X)
    regressors = {
        "ridge": lambda: Ridge(alpha=1e-2),
        "gradient boosting": lambda: HistGradientBoostingRegressor(
            loss="absolute_error", random_state=random_state
        ),
        "6-pixel aperture": None,
    }
    for name, make in regressors.items():
        pred = np.empty_like(u)
        for fit in (half, ~half):
            if make is None:
                star = fit & (cls == "STAR")
                pred[~fit] = ap[~fit] + np.median(u[star] - ap[star])
            else:
                pred[~fit] = make().fit(Z[fit], u[fit]).predict(Z[~fit])
        row = [
            f"{label} u MAE {np.abs(pred[m] - u[m]).mean():.3f} "
            f"(bias {np.mean(pred[m] - u[m]):+.3f})"
            for label in ("STAR", "QSO")
            for m in [cls == label]
        ]
        print(f"{bands}-band {model}, {name}: " + "; ".join(row))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", default=None, help="folder of .npz pool chunks")
    parser.add_argument(
        "--probe", default=None, help="probe this trained model's representation"
    )
    parser.add_argument("--bands", default="12", choices=["12", "5"])
    parser.add_argument("--init", default=None, help="continue this model")
    parser.add_argument("--lr", type=float, default=None, help="default: recipe's")
    parser.add_argument(
        "--width", type=float, default=None, help="filter multiplier (scratch)"
    )
    parser.add_argument("--passes", type=int, default=12)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--loss", default="mae", choices=["mae", "mse"])
    parser.add_argument("--oversample-blue", type=int, default=0)
    parser.add_argument("--test-state", type=int, default=7)
    parser.add_argument("--n-test", type=int, default=1500)
    parser.add_argument("--memory", default=None, help="cache folder of the test set")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cpu0 = time.process_time()
    if args.probe is not None:
        s = Memory(args.memory, verbose=0).cache(pool_set)(
            args.n_test, args.test_state, "all"
        )
        probe_representation(args.probe, s, args.random_state)
        return
    if args.pool is None:
        parser.error("--pool is needed to train (or pass --probe MODEL)")
    recipe = martinazzo_pretrainer().get_params()
    if args.init is not None:
        module = load_pretrained(args.init).module_
        bands = "12" if module.head.out_features == len(SPLUS_BANDS) else "5"
    else:
        bands = args.bands
        torch.manual_seed(args.random_state)
        n = len(SPLUS_BANDS) if bands == "12" else len(SPLUS_BROAD_BANDS)
        module = VGG16StampNet(
            n,
            n,
            width=recipe["module__width"] if args.width is None else args.width,
            n_hidden=recipe["module__n_hidden"],
            init=recipe["module__init"],
        )
    lr = recipe["lr"] if args.lr is None else args.lr
    scale = recipe["target_scale"]
    X, y = load_pool(args.pool, bands, scale)
    s = Memory(args.memory, verbose=0).cache(pool_set)(
        args.n_test, args.test_state, "all"
    )
    Xt, yt = splus_view(s["X"], s["y"], bands=bands, target_scale=1.0)
    cls = s["cls"]
    probe = np.concatenate(
        [np.flatnonzero(cls == "STAR")[:200], np.flatnonzero(cls == "QSO")]
    )
    counts = {str(c): int((cls == c).sum()) for c in np.unique(cls)}
    print(
        f"{bands}-band network (width {module.backbone.features[0].out_channels / 64}), "
        f"{'from ' + args.init if args.init else 'from scratch'}"
        f", Adam lr {lr}, loss {args.loss}, batch {recipe['batch_size']}, "
        f"{len(X)} pool stamps, oversample blue x{args.oversample_blue}; test: "
        f"{len(yt)} objects of make_splus_stamps(pool_cut='all', "
        f"random_state={args.test_state}) {counts}"
    )
    print(f"start: {evaluate(module, Xt, yt, cls, probe, scale)}", flush=True)
    criterion = MaskedL1Loss() if args.loss == "mae" else masked_mse
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(args.random_state)
    rows = torch.arange(len(X))
    if args.oversample_blue:
        names = SPLUS_BANDS if bands == "12" else SPLUS_BROAD_BANDS
        u, g = names.index("u"), names.index("g")
        blue = torch.nonzero((y[:, u] - y[:, g]) * scale < 0.6).ravel()
        rows = torch.cat([rows] + [blue] * args.oversample_blue)
    for k in range(1, args.passes + 1):
        order = rows[torch.randperm(len(rows), generator=gen)]
        for i in range(0, len(order), recipe["batch_size"]):
            idx = order[i : i + recipe["batch_size"]]
            optimizer.zero_grad()
            criterion(module(X[idx]), y[idx]).backward()
            optimizer.step()
        if k % args.every == 0 or k == args.passes:
            print(
                f"pass {k}: {evaluate(module, Xt, yt, cls, probe, scale)}", flush=True
            )
    print(f"CPU time {(time.process_time() - cpu0) / 60:.1f} min")


if __name__ == "__main__":
    main()
