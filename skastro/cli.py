"""The ``skastro`` command line (also ``python -m skastro``).

Every failure ends with one line on standard error,
``skastro COMMAND: error: ...``, and exit code 2 (``--verbose`` shows the
traceback instead); warnings are shown as one line each. Outputs are checked
(extension, folder, existing file) before any work starts.

Column names are matched case-insensitively, under the names the Python API
accepts plus the usual survey spellings (SExtractor's ``X_IMAGE``,
``ALPHA_J2000``, ``NUMBER``...); options name them explicitly.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

#: Names of an object's id column (any case), in order of preference.
ID_ALIASES = ("id", "object_id", "objid", "objectid", "oid", "source_id", "number")
#: Pixel-position column pairs; SExtractor's ``*_IMAGE`` are 1-based (FITS).
PIXEL_ALIASES = (
    ("x", "y"),
    ("x_image", "y_image"),
    ("xwin_image", "ywin_image"),
    ("xcentroid", "ycentroid"),
    ("x_pix", "y_pix"),
)
_ONE_BASED = {("x_image", "y_image"), ("xwin_image", "ywin_image")}
#: Sky-position column pairs (degrees).
WORLD_ALIASES = (
    ("ra", "dec"),
    ("alpha_j2000", "delta_j2000"),
    ("alphawin_j2000", "deltawin_j2000"),
    ("raj2000", "dej2000"),
    ("ra_icrs", "de_icrs"),
    ("x_world", "y_world"),
)
#: FWHM columns in pixels (SExtractor's FWHM_IMAGE).
FWHM_ALIASES = ("fwhm", "fwhm_image", "fwhm_pix")
FIELD_ALIASES = ("field", "field_id", "tile")
BAND_ALIASES = ("band", "filter", "passband", "fid")
#: Extra spellings of the light-curve columns, beyond the Python API's.
_EXTRA_LC_ALIASES = {
    "time": ("hjd", "bjd", "jd", "dateobs", "date_obs"),
    "mag": ("mag_auto", "mag_psf"),
    "err": ("magerr_auto", "magerr_psf", "mag_error", "e_mag"),
}
_CLI_STACK = 2


class _UsageError(Exception):
    """A command-line usage error (argparse's), shown on one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise _UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, but not ``(default: None)`` or for flags."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or isinstance(
            action, argparse._HelpAction | argparse._VersionAction
        ):
            return action.help
        return super()._get_help_string(action)


# ------------------------------------------------------------------- helpers
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _progress_on(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _cli_warn(message: str, category: type[Warning] = UserWarning) -> None:
    warnings.warn(_one_line(message), category, stacklevel=_CLI_STACK)


@contextlib.contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    """Show each warning once, as ``skastro COMMAND: warning: ...``."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"skastro {command}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def _position_columns(catalog, args) -> tuple[tuple[str, str], int]:
    """The catalog's position columns for ``args.coords``, and the origin."""
    from ._io import find_column
    from .exceptions import CatalogError

    if args.position_columns is not None:
        cols = tuple(
            find_column(
                catalog, (), given=name, role="position", option="--position-columns"
            )
            for name in args.position_columns
        )
        origin = 0 if args.origin == "auto" else int(args.origin)
        if args.origin == "auto" and tuple(c.lower() for c in cols) in _ONE_BASED:
            origin = 1
        return cols, origin  # type: ignore[return-value]
    lower = {str(c).lower(): c for c in catalog.columns}

    def pair(aliases):
        for a, b in aliases:
            if a in lower and b in lower:
                return (a, b), (lower[a], lower[b])
        return None, None

    key, cols = pair(PIXEL_ALIASES if args.coords == "pixel" else WORLD_ALIASES)
    if cols is None:
        _, other = pair(WORLD_ALIASES if args.coords == "pixel" else PIXEL_ALIASES)
        have = list(map(str, catalog.columns))
        if other is not None:
            kind = "sky" if args.coords == "pixel" else "pixel"
            raise CatalogError(
                f"the catalog has {kind} positions {other} but --coords is "
                f"{args.coords!r}; pass --coords {'world' if kind == 'sky' else 'pixel'}"
                f" (or name the columns with --position-columns). Columns: {have}."
            )
        wanted = PIXEL_ALIASES if args.coords == "pixel" else WORLD_ALIASES
        raise CatalogError(
            f"the catalog has no {args.coords} position columns (looked for "
            f"{', '.join('/'.join(p) for p in wanted)}, any case); name them with "
            f"--position-columns X Y. Columns: {have}."
        )
    if args.origin == "auto":
        origin = 1 if key in _ONE_BASED else 0
    else:
        origin = int(args.origin)
    return cols, origin


def _parse_images(specs: Sequence[str]) -> Any:
    """Image arguments: paths, or ``FIELD=PATH`` pairs (a dict by field)."""
    pairs = [s.partition("=") for s in specs]
    if not any(sep and not Path(s).exists() for s, (_, sep, _) in zip(specs, pairs)):
        return specs[0] if len(specs) == 1 else list(specs)
    bad = [
        s for s, (field, sep, path) in zip(specs, pairs) if not (sep and field and path)
    ]
    if bad:
        raise ValueError(
            f"give every image as FIELD=PATH when one is ({bad[0]!r} is not); "
            "e.g. 'STRIPE82-0001=field1.fits'."
        )
    images: dict[str, list[str]] = {}
    for field, _, path in pairs:
        images.setdefault(field, []).append(path)
    return {f: (p[0] if len(p) == 1 else p) for f, p in images.items()}


def _numeric_columns(frame, columns) -> None:
    """Convert ``columns`` of ``frame`` to float in place, or raise naming the
    first non-numeric value."""
    import numpy as np
    import pandas as pd

    from .exceptions import CatalogError

    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(values.isna() & frame[column].notna())
        if bad.size:
            raise CatalogError(
                f"column {column!r} holds non-numeric values (first: "
                f"{frame[column].iloc[bad[0]]!r} at row {int(bad[0])})."
            )
        frame[column] = values.astype(float)


def _pixel_scale(cropper, field) -> float | None:
    """Pixel scale (arcsec/pixel) from the first band's WCS, or None."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    wcs = cropper.band_sources_[field][0].wcs()
    if wcs is None or not wcs.has_celestial:
        return None
    return float(proj_plane_pixel_scales(wcs.celestial).mean() * 3600.0)


# ------------------------------------------------------------------ commands
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
    import numpy as np

    from ._io import check_output_path, find_column, read_table, write_stamps
    from .exceptions import CatalogError
    from .stamps import Calibrator, FITSCropper

    out = check_output_path(args.out, "stamps", overwrite=args.overwrite)
    if args.size != "fwhm" and not (args.size.isdigit() and int(args.size) > 0):
        raise ValueError(
            f"--size must be a positive integer or 'fwhm'; got {args.size!r}."
        )
    size = args.size if args.size == "fwhm" else int(args.size)
    if args.calibrate and args.zp_keyword is None:
        raise ValueError(
            "--calibrate needs each band's zero point: give --zp-keyword with the "
            "header keyword that holds it (e.g. ZP, MAGZP, PHOTZP)."
        )
    images = _parse_images(args.images)
    catalog = read_table(args.catalog)
    if len(catalog) == 0:
        raise CatalogError(f"the catalog {args.catalog!r} has no rows.")
    positions, origin = _position_columns(catalog, args)
    fwhm_column = (
        find_column(
            catalog, FWHM_ALIASES, given=args.fwhm_column, role="FWHM (pixels)",
            option="--fwhm-column",
        )
        if size == "fwhm"
        else None
    )  # fmt: skip
    catalog, field_column = _field_rows(catalog, images, args)
    id_column = find_column(
        catalog, ID_ALIASES, given=args.id_column, role="id", option="--id-column",
        required=False,
    )  # fmt: skip
    _numeric_columns(catalog, [*positions, *([fwhm_column] if fwhm_column else [])])
    cropper = FITSCropper(
        images,
        size=size,
        fwhm_factor=args.fwhm_factor,
        output_size=args.output_size,
        coords=args.coords,
        origin=origin,
        off_edge=args.off_edge,
        position_columns=positions,
        field_column=field_column or "field",
        fwhm_column=fwhm_column or "fwhm",
        zero_point_keyword=args.zp_keyword,
        n_jobs=args.n_jobs,
    ).fit(catalog)
    result = cropper.transform(catalog)
    stamps = result["stamps"] if args.zp_keyword else result
    first_field = cropper.fields_[0]
    first_header = cropper.band_sources_[first_field][0].header
    header: dict[str, Any] = {"ORIGIN0": (True, "x, y of OBJECTS are 0-based pixels")}
    if first_header is not None and "BUNIT" in first_header:
        header["BUNIT"] = (first_header["BUNIT"], "as in the source images")
    if args.calibrate:
        scale = args.pixel_scale or _pixel_scale(cropper, first_field)
        if scale is None:
            raise ValueError(
                "--calibrate needs the pixel scale: the images have no celestial "
                "WCS, so give --pixel-scale (arcsec/pixel; 0.55 for S-PLUS)."
            )
        stamps = Calibrator(pixel_scale=scale).fit_transform(result)
        header["BUNIT"] = (
            "1e-5 maggy/arcsec2",
            "10**(5-0.4 zp)/ps**2 x, AB zero points",
        )
        header["PIXSCALE"] = (scale, "arcsec/pixel used by --calibrate")
    objects = _crop_objects(
        cropper, catalog, id_column, result if args.zp_keyword else None
    )
    wcs_headers = {}
    for fid in cropper.fields_:
        wcs = cropper.band_sources_[fid][0].wcs()
        if wcs is not None and wcs.has_celestial:
            wcs_headers[fid] = wcs.celestial.to_header(relax=True)
    write_stamps(
        np.asarray(stamps),
        out,
        band_names=cropper.band_names_,
        objects=objects,
        wcs_headers=wcs_headers,
        header=header,
    )
    n, b, h, w = np.shape(stamps)
    print(f"wrote {n} stamps of {b} band(s) x {h}x{w} pixels to {out}")
    if out.suffix.lower() == ".npy" and id_column is not None:
        print("(a .npy file holds the stamps only; write .fits to keep ids and WCS)")
    return 0


def _field_rows(catalog, images, args) -> tuple[Any, str | None]:
    """The catalog rows to crop (``--field``) and the field column (or None).

    Several fields need a field column and FIELD=PATH images, or ``--field``.
    """
    import pandas as pd

    from ._io import find_column, read_table
    from .exceptions import CatalogError

    field_column = find_column(
        catalog,
        FIELD_ALIASES,
        given=args.field_column,
        role="field",
        option="--field-column",
        required=isinstance(images, dict) or args.field is not None,
    )
    if args.field is not None:
        catalog = catalog[catalog[field_column].astype(str) == args.field]
        if len(catalog) == 0:
            raise CatalogError(
                f"no catalog row has {field_column}={args.field!r}; the catalog's "
                f"fields are {sorted(map(str, pd.unique(read_table(args.catalog)[field_column])))[:10]}."
            )
        catalog = catalog.reset_index(drop=True)
    elif field_column is not None and not isinstance(images, dict):
        fields = pd.unique(catalog[field_column])
        if len(fields) > 1:
            raise CatalogError(
                f"the catalog's {field_column!r} column holds {len(fields)} fields "
                f"({', '.join(map(str, fields[:5]))}{'...' if len(fields) > 5 else ''}) "
                "but the images are of one field; crop one field at a time with "
                "--field ID, or give the images as FIELD=PATH pairs."
            )
    return catalog, field_column


def _crop_objects(cropper, catalog, id_column, sliced):
    """The OBJECTS table of ``skastro crop``: one row per stamp written."""
    import numpy as np
    import pandas as pd

    fields, x, y, sides = cropper._positions(catalog)
    x0, y0 = cropper._starts(x, sides), cropper._starts(y, sides)
    keep = (
        cropper.overlap_mask(catalog)
        if cropper.off_edge == "drop"
        else np.ones(len(catalog), bool)
    )
    out_side = cropper.output_size if cropper.size == "fwhm" else int(cropper.size)
    table = pd.DataFrame(
        {
            (id_column or "row"): (
                catalog[id_column].to_numpy() if id_column else np.arange(len(catalog))
            )
        }
    )
    if cropper.fields_ != [None]:
        table["field"] = [str(f) for f in fields]
    table["x"], table["y"] = x, y
    lon = np.full(len(catalog), np.nan)
    lat = np.full(len(catalog), np.nan)
    names = ("ra", "dec")
    for fid in cropper.fields_:
        wcs = cropper.band_sources_[fid][0].wcs()
        if wcs is None or not wcs.has_celestial:
            continue
        rows = np.flatnonzero(fields == fid) if fid is not None else np.arange(len(x))
        lon[rows], lat[rows] = wcs.celestial.all_pix2world(x[rows], y[rows], 0)
        frame = str(wcs.celestial.wcs.ctype[0])[:4].upper()
        names = {"GLON": ("glon", "glat"), "ELON": ("elon", "elat")}.get(frame, names)
    if np.isfinite(lon).any():
        table[names[0]], table[names[1]] = lon, lat
    table["x0"], table["y0"] = x0, y0
    table["side"] = sides
    table["scale"] = sides / out_side
    if sliced is not None:
        zp = np.asarray(sliced["zero_point"])
        for j, name in enumerate(cropper.band_names_):
            table[f"zp_{name}"] = zp[:, j] if len(zp) == keep.sum() else zp[keep, j]
    return table[keep].reset_index(drop=True)


def _light_curve_columns(frame, args) -> dict[str, str]:
    from ._io import find_column
    from .lightcurves._input import LIGHT_CURVE_KEYS

    cols = {
        "id": find_column(
            frame, ID_ALIASES, given=args.id_column, role="id", option="--id-column"
        )
    }
    for role in ("time", "mag", "err"):
        cols[role] = find_column(
            frame,
            LIGHT_CURVE_KEYS[role] + _EXTRA_LC_ALIASES[role],
            given=getattr(args, f"{role}_column"),
            role=role,
            option=f"--{role}-column",
        )
    if args.bands != "ignore":
        band = find_column(
            frame,
            BAND_ALIASES,
            given=args.band_column,
            role="band",
            option="--band-column",
            required=False,
        )
        if band is not None:
            cols["band"] = band
    return cols


def _cmd_features(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ._io import check_output_path, read_table, write_table
    from .exceptions import CatalogError, LightCurveError, LightCurveWarning
    from .lightcurves import FATSFeatures

    out = check_output_path(args.out, "table", overwrite=args.overwrite)
    features = None if args.features is None else list(args.features)
    if features is not None and len(features) == 1:
        features = features[
            0
        ]  # a set name ("carrasco-davis2019", "all") or one feature
    progress = _progress_on(args.progress)
    fats = FATSFeatures(
        features,
        backend=args.backend,
        n_jobs=args.n_jobs,
        verbose=int(progress),
        duplicates=args.duplicates,
    ).fit()  # checks the feature names before the table is read
    frame = read_table(args.light_curves)
    if len(frame) == 0:
        raise CatalogError(f"{args.light_curves!r} has no rows.")
    cols = _light_curve_columns(frame, args)
    _numeric_columns(frame, [cols[r] for r in ("time", "mag", "err")])
    keys = [cols["id"]] + ([cols["band"]] if "band" in cols else [])
    missing = frame[keys].isna().any(axis=1)
    if missing.any():
        raise CatalogError(
            f"{int(missing.sum())} row(s) of {args.light_curves!r} have no "
            f"{' / '.join(keys)} (first: row {int(np.flatnonzero(missing)[0])}); "
            "drop them or fill them in."
        )
    codes, uniques = pd.factorize(
        pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else frame[keys[0]]
    )
    curves = pd.DataFrame(
        {
            "id": codes,
            "time": frame[cols["time"]].to_numpy(),
            "mag": frame[cols["mag"]].to_numpy(),
            "err": frame[cols["err"]].to_numpy(),
        }
    )
    labels = [u if isinstance(u, tuple) else (u,) for u in uniques]

    def name(code: int) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in zip(keys, labels[code]))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LightCurveWarning)
        try:
            table = fats.set_output(transform="pandas").transform(curves)
        except LightCurveError as exc:
            message = re.sub(
                r"Light curve (\d+) of X",
                lambda m: f"the light curve of {name(int(m.group(1)))}",
                str(exc),
            )
            raise LightCurveError(message) from None
    for w in caught:
        counts = getattr(w.message, "counts", None)
        if counts:  # cleaning done on some curves: name them by the table's keys
            head = str(w.message).split(" light curve(s) of ")[0]
            shown = "; ".join(
                f"{name(int(k))} ({v})" for k, v in list(counts.items())[:5]
            )
            more = " ..." if len(counts) > 5 else ""
            _cli_warn(f"{head} light curve(s): {shown}{more}.", LightCurveWarning)
        elif not issubclass(w.category, LightCurveWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    values = table.to_numpy()
    n_points = (
        curves[np.isfinite(curves["time"]) & np.isfinite(curves["mag"])]
        .groupby("id")
        .size()
        .reindex(range(len(labels)), fill_value=0)
        .to_numpy()
    )
    short = np.flatnonzero(n_points < 4)
    if short.size:
        shown = "; ".join(name(i) for i in short[:5])
        _cli_warn(
            f"{short.size} light curve(s) have fewer than 4 points, so all their "
            f"features are NaN: {shown}{' ...' if short.size > 5 else ''}.",
            LightCurveWarning,
        )
    long_enough = n_points >= 4
    nan_rows = np.flatnonzero(np.isnan(values).any(axis=1) & long_enough)
    if nan_rows.size:
        per_column = np.isnan(values[nan_rows]).sum(axis=0)
        worst = [
            f"{c} ({n})"
            for c, n in sorted(zip(table.columns, per_column), key=lambda t: -t[1])
            if n
        ][:5]
        _cli_warn(
            f"some features are undefined (NaN) on {nan_rows.size} light curve(s) "
            f"(e.g. {name(int(nan_rows[0]))}): {', '.join(worst)}.",
            LightCurveWarning,
        )
    result = pd.DataFrame(values, columns=list(table.columns))
    for j, key in enumerate(keys):
        result.insert(j, key, [label[j] for label in labels])
    if "band" in cols and args.bands == "columns":
        result = result.pivot(index=cols["id"], columns=cols["band"])
        result.columns = [f"{feat}_{band}" for feat, band in result.columns]
        result = result.reset_index()
    write_table(result, out)
    print(f"wrote {result.shape[0]} rows x {result.shape[1]} columns to {out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ._io import (
        STAMP_SUFFIXES,
        _check_exists,
        _suffix,
        check_output_path,
        find_column,
        fits_has_stamps,
        read_stamp_objects,
        read_stamps,
        read_table,
        write_table,
    )
    from .exceptions import UnsafeLoadWarning
    from .models import load_model

    out = check_output_path(args.out, "table", overwrite=args.overwrite)
    _check_exists(args.input)
    suffix = _suffix(args.input)
    stamps = args.stamps or suffix == ".npy"
    if stamps and suffix not in STAMP_SUFFIXES:
        raise ValueError(
            f"--stamps needs a .npy or .fits stamps file; got {args.input!r}."
        )
    if not stamps and fits_has_stamps(args.input):
        raise ValueError(
            f"{args.input!r} holds stamps (a 4-D image HDU); pass --stamps to "
            "predict on them."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeLoadWarning)  # --trust-pickle asked
        model = load_model(
            args.model, trust_pickle=args.trust_pickle, trusted=args.trust_class or ()
        )
    kind = type(model).__name__
    if not hasattr(model, "predict"):
        raise ValueError(f"the model in {args.model!r} ({kind}) has no predict method.")
    if args.proba and not hasattr(model, "predict_proba"):
        raise ValueError(
            f"--proba: the model in {args.model!r} ({kind}) gives no class "
            "probabilities (no predict_proba); drop --proba."
        )
    if stamps:
        X = read_stamps(args.input)
        objects = read_stamp_objects(args.input)
        id_column = (
            None
            if objects is None
            else find_column(objects, (*ID_ALIASES, "row"), given=args.id_column,
                             role="id", option="--id-column", required=False)
        )  # fmt: skip
        ids = None if id_column is None else objects[id_column].to_numpy()
    else:
        X = read_table(args.input)
        id_column = find_column(
            X, ID_ALIASES, given=args.id_column, role="id", option="--id-column",
            required=False,
        )  # fmt: skip
        ids = None if id_column is None else X[id_column].to_numpy()
    try:
        pred = np.asarray(model.predict(X))
        proba = np.asarray(model.predict_proba(X)) if args.proba else None
    except Exception as exc:  # noqa: BLE001 - any model failure is reported
        raise ValueError(
            f"the model in {args.model!r} ({kind}) cannot predict on {args.input!r} "
            f"({type(exc).__name__}: {_one_line(exc)})"
        ) from exc
    out_frame = pd.DataFrame(index=range(len(pred)))
    if ids is not None and len(ids) == len(pred):
        out_frame[id_column] = ids
    if pred.ndim == 1:
        out_frame["prediction"] = pred
    else:
        for j in range(pred.reshape(len(pred), -1).shape[1]):
            out_frame[f"prediction_{j}"] = pred.reshape(len(pred), -1)[:, j]
    if proba is not None:
        classes = getattr(model, "classes_", None)
        if classes is None or len(classes) != proba.shape[1]:
            classes = range(proba.shape[1])
        for j, c in enumerate(classes):
            out_frame[f"p_{c}"] = proba[:, j]
    write_table(out_frame, out)
    print(f"wrote {len(out_frame)} predictions to {out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .training._cli import run_train

    return run_train(args)


# -------------------------------------------------------------------- parser
# -- options several commands share ------------------------------------------
_TABLE_OUT = "output table (.csv, .fits, .ecsv, .parquet)"


def _add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """``--out`` (required) and ``--overwrite``."""
    parser.add_argument("--out", required=True, help=what)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists"
    )


def _add_progress(parser: argparse.ArgumentParser, what: str) -> None:
    """``--progress/--no-progress``: None (the default) means "if a terminal"."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"{what} (default: only when stderr is a terminal)",
    )


def _add_choice(
    parser: argparse.ArgumentParser,
    flag: str,
    choices: tuple[str, ...],
    text: str | None = None,
) -> None:
    """A choice option; its default is its first choice."""
    parser.add_argument(flag, choices=list(choices), default=choices[0], help=text)


def _add_column_options(parser: argparse.ArgumentParser, **defaults: str) -> None:
    """``--NAME-column`` for each ``NAME=help`` (default None: found by alias)."""
    for name, text in defaults.items():
        parser.add_argument(f"--{name}-column", default=None, help=text)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``skastro`` command."""
    from . import __version__

    common = _Parser(add_help=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    parser = _Parser(
        prog="skastro",
        description="scikit-learn estimators for astronomical images and light curves.",
        formatter_class=_Formatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"skastro {__version__}")
    parser.set_defaults(verbose=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, **kwargs):
        return sub.add_parser(
            name, parents=[common], formatter_class=_Formatter, **kwargs
        )

    for add_command in (_add_demo, _add_crop, _add_features, _add_predict, _add_train):
        add_command(add)
    return parser


def _add_demo(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``demo`` command: simulated data, the papers' comparisons, a report."""
    demo = add(
        "demo",
        help="run the paper comparisons on built-in simulated data",
        description="Simulate data, run the papers' comparisons, write a report.",
    )
    demo.add_argument("--out", default="skastro_demo", help="output folder")
    _add_choice(demo, "--size", ("small", "paper"))
    demo.add_argument(
        "--sections",
        nargs="+",
        default=None,
        metavar="SECTION",
        help="run only these sections, in the report's order: stamps, lsbg, "
        "hits, splus, transfer, real (default: all)",
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    _add_progress(demo, "show progress bars")
    demo.set_defaults(func=_cmd_demo)


def _add_crop(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``crop`` command: catalog + FITS images -> stamps file."""
    crop = add(
        "crop",
        help="cut stamps around catalog positions from FITS images",
        description="Catalog (CSV/FITS/ECSV/VOTable/Parquet table) + FITS images -> "
        "stamps file. A .fits output holds the stamps (axes object, band, y, x), "
        "an OBJECTS table (id, field, x, y, sky position, cut origin, zero "
        "points) "
        "and each field's WCS (a stamp's own WCS: that field's WCS with CRPIX moved "
        "by the stamp's x0, y0 and pixels scaled by its scale); a .npy output holds "
        "the stamps only.",
    )
    crop.add_argument(
        "catalog", help="catalog with pixel (x, y) or sky (ra, dec) columns"
    )
    crop.add_argument(
        "images",
        nargs="+",
        help="one FITS file per band, one multi-band file, or FIELD=PATH pairs "
        "(several fields; repeat a FIELD for its band files)",
    )
    _add_output(crop, "output stamps file (.fits or .npy)")
    crop.add_argument(
        "--size",
        default="32",
        help="stamp side in pixels, or 'fwhm' (3 x FWHM rule of Martinazzo et al. "
        "2021, resampled to --output-size)",
    )
    crop.add_argument(
        "--fwhm-factor",
        type=float,
        default=3.0,
        help="side = factor x FWHM (--size fwhm)",
    )
    crop.add_argument(
        "--output-size", type=int, default=32, help="stamp side for --size fwhm"
    )
    _add_choice(
        crop,
        "--coords",
        ("pixel", "world"),
        "positions in pixels, or sky degrees through the images' WCS",
    )
    crop.add_argument(
        "--position-columns",
        nargs=2,
        metavar=("X", "Y"),
        default=None,
        help="position columns (default: x/y, X_IMAGE/Y_IMAGE, ... or ra/dec, "
        "ALPHA_J2000/DELTA_J2000, ..., any case)",
    )
    _add_choice(
        crop,
        "--origin",
        ("auto", "0", "1"),
        "pixel convention: 0 numpy (first pixel centre 0.0), 1 FITS; auto: "
        "1 for SExtractor's X_IMAGE/Y_IMAGE, else 0",
    )
    _add_choice(
        crop,
        "--off-edge",
        ("pad", "drop", "raise"),
        "objects near the edge: NaN-pad, leave out, or stop with an error",
    )
    _add_column_options(
        crop,
        fwhm="FWHM column in pixels (default: fwhm, FWHM_IMAGE, any case)",
        id="id column kept in OBJECTS (default: id, NUMBER, ..., any case)",
        field="field id column (default: field, any case)",
    )
    crop.add_argument(
        "--field", default=None, help="crop only the catalog rows of this field"
    )
    crop.add_argument(
        "--zp-keyword",
        default=None,
        help="header keyword of each band's zero point (e.g. ZP, MAGZP); stored in OBJECTS",
    )
    crop.add_argument(
        "--calibrate",
        action="store_true",
        help="calibrate the stamps: 10**(5 - 0.4 zp) / ps**2 x (Martinazzo et al. "
        "2021, eq. 3.2); needs --zp-keyword",
    )
    crop.add_argument(
        "--pixel-scale",
        type=float,
        default=None,
        help="pixel scale ps in arcsec/pixel for --calibrate (default: from the WCS)",
    )
    crop.add_argument("--n-jobs", type=int, default=None, help="threads cutting bands")
    crop.set_defaults(func=_cmd_crop)


def _add_features(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``features`` command: light curves -> FATS feature table."""
    feats = add(
        "features",
        help="light curves -> FATS feature table",
        description="Long table of light curves (one row per point: id, time, mag, "
        "err and optionally band) -> one row of FATS features per id (per id and "
        "band when there is a band column).",
    )
    feats.add_argument(
        "light_curves", help="CSV/FITS/ECSV/Parquet table, one row per point"
    )
    _add_output(feats, _TABLE_OUT)
    feats.add_argument(
        "--features",
        nargs="+",
        default=None,
        help="FATS feature names, or one set name: carrasco-davis2019 (Carrasco-Davis et al.'s "
        "(2019) 47), fats, all (default: every single-band FATS feature, 59)",
    )
    _add_choice(feats, "--backend", ("fast", "feets"))
    feats.add_argument("--n-jobs", type=int, default=None, help="parallel workers")
    _add_column_options(
        feats,
        id="default: id, object_id, oid, ... (any case)",
        time="default: time, mjd, t, hjd, ... (any case)",
        mag="default: mag, magnitude, m (any case)",
        err="default: err, error, mag_err, magerr, sigma (any case)",
        band="default: band, filter, passband, fid (any case)",
    )
    _add_choice(
        feats,
        "--bands",
        ("rows", "columns", "ignore"),
        "with a band column: one row per (id, band), one row per id with "
        "<feature>_<band> columns, or ignore the band (all points one curve)",
    )
    _add_choice(
        feats,
        "--duplicates",
        ("mean", "first", "raise"),
        "points of one curve at the same time: their inverse-variance "
        "weighted mean, the first one, or an error",
    )
    _add_progress(feats, "progress bar")
    feats.set_defaults(func=_cmd_features)


def _add_predict(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``predict`` command: a saved model applied to a catalog or stamps."""
    pred = add(
        "predict",
        help="apply a saved model to a catalog or stamps file",
        description="Load a model saved with skastro.models.save_model (no code "
        "runs from the file) and write its predictions, with the input's id "
        "column. Pickle/joblib files need --trust-pickle: loading them runs "
        "any code they hold.",
    )
    pred.add_argument("model", help="model file (skastro.models.save_model)")
    pred.add_argument(
        "input", help="catalog (CSV/FITS/... table) or stamps (.npy/.fits)"
    )
    _add_output(pred, _TABLE_OUT)
    pred.add_argument(
        "--stamps", action="store_true", help="INPUT is a stamps file (.fits or .npy)"
    )
    pred.add_argument(
        "--proba", action="store_true", help="add class probabilities p_<class>"
    )
    _add_column_options(
        pred, id="id column to keep (default: id, NUMBER, ..., any case)"
    )
    pred.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load pickle/joblib models (runs code from the file: trusted "
        "sources only)",
    )
    pred.add_argument(
        "--trust-class",
        action="append",
        metavar="MODULE:NAME",
        help="allow a class outside skastro's allowlist (repeatable)",
    )
    pred.set_defaults(func=_cmd_predict)


def _add_train(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``train`` command: a paper's recipe on streamed simulations."""
    train = add(
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
    train.add_argument(
        "--init",
        default=None,
        metavar="NAME_OR_DIR",
        help="start a new run from a shipped model's (or an exported model "
        "folder's) weights, same network; its budget adds to the card's",
    )
    train.add_argument(
        "--lr", type=float, default=None, help="start learning rate (the recipe's)"
    )
    train.add_argument(
        "--lr-floor",
        type=float,
        default=None,
        help="anneal the learning rate to this floor along a cosine over "
        "--max-passes (else --hours) instead of the recipe's plateau schedule",
    )
    train.add_argument("--threads", type=int, default=1, help="torch threads")
    _add_choice(
        train,
        "--dtype",
        ("float32", "float16", "bfloat16"),
        "storage type of the weights",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skastro`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.command is None:
        parser.print_help()
        return 2
    with _one_line_warnings(args.command):
        try:
            return int(args.func(args))
        except KeyboardInterrupt:
            print(f"skastro {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - every failure is one line
            if args.verbose:
                raise
            message = _one_line(exc) or type(exc).__name__
            if isinstance(exc, KeyError):
                message = f"missing key {message}"
            elif not isinstance(
                exc, (ValueError, OSError, LookupError, RuntimeError, ImportError)
            ):
                message = (
                    f"{type(exc).__name__}: {message} (unexpected; run with "
                    "--verbose for the traceback)"
                )
            print(f"skastro {args.command}: error: {message}", file=sys.stderr)
            return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
