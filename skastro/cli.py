"""The ``skastro`` command line (also ``python -m skastro``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(
        args.out,
        size=args.size,
        sections=args.sections,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
        progress=args.progress,
    )
    return 0


def _cmd_crop(args: argparse.Namespace) -> int:
    from ._io import read_table, write_stamps
    from .stamps import FITSCropper

    catalog = read_table(args.catalog)
    images = args.images[0] if len(args.images) == 1 else list(args.images)
    size = args.size if args.size == "fwhm" else int(args.size)
    cropper = FITSCropper(
        images,
        size=size,
        coords=args.coords,
        origin=args.origin,
        off_edge=args.off_edge,
    ).fit(catalog)
    stamps = cropper.transform(catalog)
    write_stamps(stamps, args.out, band_names=cropper.band_names_)
    print(
        f"wrote {stamps.shape[0]} stamps of {stamps.shape[1]} band(s) x "
        f"{stamps.shape[2]}x{stamps.shape[3]} pixels to {args.out}"
    )
    return 0


def _cmd_features(args: argparse.Namespace) -> int:
    from ._io import read_table, write_table
    from .lightcurves import FATSFeatures

    curves = read_table(args.light_curves)
    features = None if args.features is None else list(args.features)
    if features is not None and len(features) == 1:
        features = features[0]  # a set name ("seed001", "all") or one feature
    fats = FATSFeatures(features, backend=args.backend, n_jobs=args.n_jobs)
    table = fats.set_output(transform="pandas").fit_transform(curves)
    ids = getattr(curves, "id", None)
    if ids is not None:
        table.insert(0, "id", list(dict.fromkeys(ids)))
    write_table(table, args.out)
    print(f"wrote {table.shape[0]} rows x {table.shape[1]} columns to {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import joblib
    import numpy as np
    import pandas as pd

    from ._io import read_stamps, read_table, write_table

    model = joblib.load(args.model)
    path = str(args.input).lower()
    X = (
        read_stamps(args.input)
        if path.endswith((".npy",)) or args.stamps
        else (read_table(args.input))
    )
    try:
        pred = model.predict(X)
    except Exception as exc:  # noqa: BLE001 - any model failure is reported
        raise ValueError(
            f"the model in {args.model} cannot predict on {args.input} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    out = pd.DataFrame({"prediction": np.asarray(pred)})
    if args.proba and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        classes = getattr(model, "classes_", range(proba.shape[1]))
        for j, c in enumerate(classes):
            out[f"p_{c}"] = proba[:, j]
    write_table(out, args.out)
    print(f"wrote {len(out)} predictions to {args.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .training._cli import run_train

    return run_train(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``skastro`` command."""
    parser = argparse.ArgumentParser(
        prog="skastro",
        description="scikit-learn estimators for astronomical images and light curves.",
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the paper comparisons on built-in simulated data",
        description="Simulate data, run the papers' comparisons, write a report.",
    )
    demo.add_argument("--out", default="skastro_demo", help="output folder")
    demo.add_argument("--size", choices=["small", "paper"], default="small")
    demo.add_argument(
        "--sections", nargs="+", default=None, help="run only these sections"
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress bars (default: only when stderr is a terminal)",
    )
    demo.set_defaults(func=_cmd_demo)

    crop = sub.add_parser(
        "crop",
        help="cut stamps around catalog positions from FITS images",
        description="Catalog (CSV/FITS table) + FITS images -> stamps file "
        "(.npy or .fits, axes object, band, y, x).",
    )
    crop.add_argument("catalog", help="catalog with x, y (or ra, dec) columns")
    crop.add_argument(
        "images", nargs="+", help="one FITS file per band, or one multi-band file"
    )
    crop.add_argument("--out", required=True, help="output stamps file (.npy, .fits)")
    crop.add_argument("--size", default="32", help="side in pixels, or 'fwhm'")
    crop.add_argument("--coords", choices=["pixel", "world"], default="pixel")
    crop.add_argument("--origin", type=int, choices=[0, 1], default=0)
    crop.add_argument("--off-edge", choices=["pad", "drop", "raise"], default="pad")
    crop.set_defaults(func=_cmd_crop)

    feats = sub.add_parser(
        "features",
        help="light curves -> FATS feature table",
        description="Long table of light curves (columns id, time, mag, err) -> "
        "one row of FATS features per id.",
    )
    feats.add_argument("light_curves", help="CSV/FITS/Parquet with id, time, mag, err")
    feats.add_argument("--out", required=True, help="output table (.csv, .fits)")
    feats.add_argument(
        "--features",
        nargs="+",
        default=None,
        help="FATS feature names, or one set name: seed001 (Carrasco-Davis et al.'s (2019) 47), "
        "fats, all (default: every single-band FATS feature, 59)",
    )
    feats.add_argument("--backend", choices=["fast", "feets"], default="fast")
    feats.add_argument("--n-jobs", type=int, default=None)
    feats.set_defaults(func=_cmd_features)

    pred = sub.add_parser(
        "predict",
        help="apply a saved pipeline to a catalog or stamps file",
        description="Load a joblib-saved pipeline (only load files you trust: "
        "unpickling runs code) and write its predictions.",
    )
    pred.add_argument("model", help="model saved with joblib.dump")
    pred.add_argument("input", help="catalog (CSV/FITS table) or stamps (.npy/.fits)")
    pred.add_argument("--out", required=True, help="output table (.csv, .fits)")
    pred.add_argument(
        "--stamps", action="store_true", help="INPUT is a FITS stamps file"
    )
    pred.add_argument("--proba", action="store_true", help="add class probabilities")
    pred.set_defaults(func=_cmd_predict)

    train = sub.add_parser(
        "train",
        help="train a paper's recipe on streamed simulations, with checkpoints",
        description="Train RECIPE ('list' lists them) for a wall-clock budget, "
        "checkpointing to OUT; then write OUT/model (weights + model card).",
    )
    train.add_argument("recipe", help="recipe name, or 'list'")
    train.add_argument("--out", default="skastro_train", help="run folder")
    train.add_argument("--hours", type=float, default=None, help="budget (hours)")
    train.add_argument("--resume", action="store_true", help="continue OUT's run")
    train.add_argument("--every-minutes", type=float, default=10.0)
    train.add_argument("--max-passes", type=int, default=None)
    train.add_argument("--threads", type=int, default=1, help="torch threads")
    train.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float32",
        help="storage type of the weights",
    )
    train.add_argument(
        "--evaluate",
        action="store_true",
        help="measure the model on fresh simulations for its card",
    )
    train.add_argument(
        "--simulate-ahead",
        action="store_true",
        help="only simulate the run's pools ahead of its training",
    )
    train.add_argument("--ahead", type=int, default=2)
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=_cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skastro`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, OSError, KeyError, RuntimeError) as exc:
        if args.verbose:
            raise
        message = " ".join(str(exc).split())  # one line
        print(f"skastro {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
