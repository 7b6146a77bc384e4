"""Reading and writing the files the command line works with.

Tables (catalogs, light curves, features, predictions): CSV (``.csv``, also
gzipped), FITS binary tables (``.fits``, ``.fit``, ``.fts``), ECSV
(``.ecsv``), VOTable (``.vot``, ``.xml``; read only) and Parquet
(``.parquet``, if pyarrow is installed).

Stamps: numpy ``.npy`` files, or FITS files whose first 4-D image HDU is
``(n_objects, n_bands, height, width)``. ``skastro crop`` writes a FITS stamps
file that carries what is needed to reuse the stamps:

- the primary HDU: the stamps (float32, NaN outside the image), ``BUNIT``,
  ``BANDi`` (band names, 0-based i), ``ORIGIN0`` (positions are 0-based);
- an ``OBJECTS`` binary table, one row per stamp: the catalog's id column
  (under its own name), ``field``, ``x``, ``y`` (0-based pixel position in the
  field image), ``ra``, ``dec`` (degrees, when the images have a celestial
  WCS; ``glon``, ``glat`` for a Galactic one), ``x0``, ``y0`` (0-based pixel of the stamp's first pixel in the field
  image), ``side`` (pixels cut before any resampling), ``scale`` (field pixels
  per stamp pixel), ``zp_<band>`` (zero points, mag, when read);
- one header-only ``WCS`` HDU per field (``FIELD`` keyword) with the field's
  celestial WCS; :func:`stamp_wcs` combines it with a row of ``OBJECTS``
  into the stamp's own WCS.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import CatalogError, FITSFormatError, InputLayoutError

__all__ = [
    "STAMP_SUFFIXES",
    "TABLE_SUFFIXES",
    "check_output_path",
    "find_column",
    "fits_has_stamps",
    "read_stamp_objects",
    "read_stamps",
    "read_table",
    "stamp_wcs",
    "write_stamps",
    "write_table",
]

_FITS_SUFFIXES = (".fits", ".fit", ".fts")
#: Table formats by suffix, for reading (VOTable is read only).
TABLE_SUFFIXES = (".csv", *_FITS_SUFFIXES, ".ecsv", ".parquet", ".vot", ".xml")
_TABLE_OUT_SUFFIXES = (".csv", *_FITS_SUFFIXES, ".ecsv", ".parquet")
#: Stamps formats by suffix.
STAMP_SUFFIXES = (".npy", *_FITS_SUFFIXES)


def _suffix(path: str | os.PathLike) -> str:
    name = Path(path).name.lower()
    for packed in (".gz", ".bz2"):
        if name.endswith(packed):
            name = name[: -len(packed)]
    return Path(name).suffix


def _check_exists(path: str | os.PathLike) -> None:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{os.fspath(path)!r} does not exist.")
    if path.is_dir():
        raise IsADirectoryError(f"{os.fspath(path)!r} is a folder, not a file.")


def check_output_path(
    path: str | os.PathLike, kind: str, *, overwrite: bool = False
) -> Path:
    """Refuse an output path before any work is done.

    Parameters
    ----------
    path : str or path-like
    kind : {"table", "stamps", "model"}
        What will be written (decides the accepted suffixes).
    overwrite : bool, default=False
        Whether an existing file may be replaced.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        Unsupported suffix.
    FileExistsError
        The file exists and ``overwrite`` is False.
    FileNotFoundError
        The folder does not exist.
    """
    path = Path(path)
    suffixes = {"table": _TABLE_OUT_SUFFIXES, "stamps": STAMP_SUFFIXES}.get(kind)
    if suffixes is not None and _suffix(path) not in suffixes:
        raise ValueError(
            f"cannot write {kind} to {os.fspath(path)!r}: unsupported extension "
            f"{_suffix(path) or '(none)'!r}; use one of {', '.join(suffixes)}."
        )
    if _suffix(path) == ".parquet":
        _require_pyarrow(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"output {os.fspath(path)!r} is a folder; give a file name."
        )
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"output {os.fspath(path)!r} exists; pass --overwrite to replace it."
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(
            f"the folder {os.fspath(parent)!r} of the output does not exist."
        )
    return path


def _require_pyarrow(path: str | os.PathLike) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            f"{os.fspath(path)!r}: Parquet needs the pyarrow package "
            "(pip install pyarrow), or use .csv / .fits."
        ) from None


def find_column(
    frame: pd.DataFrame,
    aliases: Sequence[str],
    *,
    given: str | None = None,
    role: str,
    option: str | None = None,
    required: bool = True,
) -> str | None:
    """The column of ``frame`` playing ``role``, matched case-insensitively.

    Parameters
    ----------
    frame : pandas.DataFrame
    aliases : sequence of str
        Accepted names, in order of preference (lower case).
    given : str, optional
        A name the user gave (``--id-column``...); must exist (any case).
    role : str
        What the column holds, for messages ("id", "time"...).
    option : str, optional
        Command-line option that sets it, for messages.
    required : bool, default=True
        Raise when no column is found; else return None.

    Returns
    -------
    column : str or None
        The column's name as spelt in ``frame``.
    """
    by_lower: dict[str, str] = {}
    for column in frame.columns:
        by_lower.setdefault(str(column).lower(), column)
    if given is not None:
        if given in frame.columns:
            return given
        if given.lower() in by_lower:
            return by_lower[given.lower()]
        raise CatalogError(
            f"the table has no column {given!r}"
            + (f" (given with {option})" if option else "")
            + f"; its columns are {list(map(str, frame.columns))}."
        )
    for alias in aliases:
        if alias in by_lower:
            return by_lower[alias]
    if required:
        raise CatalogError(
            f"the table has no {role} column (looked for {list(aliases)}, any case); "
            f"its columns are {list(map(str, frame.columns))}"
            + (f". Name it with {option}." if option else ".")
        )
    return None


def _first_table_hdu(hdul) -> int | None:
    from astropy.io import fits

    for i, hdu in enumerate(hdul):
        if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
            return i
    return None


@contextmanager
def _open_hdu(path, find: Callable[[Any], Any], missing: str) -> Iterator[Any]:
    """The HDU (or index) ``find(hdul)`` picks in FITS file ``path``, open.

    A :class:`FITSFormatError` saying ``missing`` when ``find`` returns None.
    """
    from .stamps._fits import open_fits

    with open_fits(path) as hdul:
        hdu = find(hdul)
        if hdu is None:
            raise FITSFormatError(missing)
        yield hdu


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table (CSV, FITS table, ECSV, VOTable, Parquet) into a DataFrame.

    Multidimensional FITS columns are left out. A FITS file with several
    tables is read from its first table HDU.
    """
    _check_exists(path)
    where = repr(os.fspath(path))
    suffix = _suffix(path)
    if suffix == ".csv":
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
            raise CatalogError(
                f"{where} is not a readable CSV table ({' '.join(str(exc).split())})."
            ) from None
        except pd.errors.EmptyDataError:
            raise CatalogError(f"{where} is empty.") from None
    if suffix == ".parquet":
        _require_pyarrow(path)
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow's many error types
            raise CatalogError(
                f"{where} is not a readable Parquet table ({exc})."
            ) from None
    if suffix in (*_FITS_SUFFIXES, ".ecsv", ".vot", ".xml"):
        from astropy.table import Table

        kwargs: dict[str, Any] = {}
        if suffix in _FITS_SUFFIXES:
            missing = (
                f"{where} holds no FITS table (only images); a catalog or "
                "light-curve file needs a binary table HDU."
            )
            with _open_hdu(path, _first_table_hdu, missing) as hdu:
                kwargs["hdu"] = hdu
        elif suffix in (".vot", ".xml"):
            kwargs["format"] = "votable"
        try:
            with warnings.catch_warnings():
                # units astropy cannot parse are kept as strings: harmless here
                warnings.simplefilter("ignore")
                table = Table.read(path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - astropy's many error types
            raise CatalogError(
                f"{where} holds no readable table ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())})."
            ) from None
        names = [n for n in table.colnames if len(table[n].shape) <= 1]
        return _decode_bytes_columns(table[names].to_pandas())
    raise ValueError(
        f"Cannot tell the table format of {where} from its extension "
        f"{suffix or '(none)'!r}; use one of {', '.join(TABLE_SUFFIXES)}."
    )


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV, FITS binary table, ECSV or Parquet (by suffix)."""
    suffix = _suffix(path)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        _require_pyarrow(path)
        df.to_parquet(path, index=False)
    elif suffix in (*_FITS_SUFFIXES, ".ecsv"):
        from astropy.table import Table

        table = Table.from_pandas(_fits_safe(df))
        table.write(
            path, overwrite=True, format="ascii.ecsv" if suffix == ".ecsv" else None
        )
    else:
        raise ValueError(
            f"Cannot tell the output format of {os.fspath(path)!r}; use one of "
            f"{', '.join(_TABLE_OUT_SUFFIXES)}."
        )


def _fits_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns (mixed or None) as strings, which FITS can store."""
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("str", "string"):
            out[column] = out[column].map(lambda v: "" if v is None else str(v))
    out.columns = [str(c) for c in out.columns]
    return out


def _stamps_hdu(hdul) -> Any:
    for hdu in hdul:
        if getattr(hdu, "is_image", False) and hdu.header.get("NAXIS", 0) == 4:
            return hdu
    return None


def fits_has_stamps(path: str | os.PathLike) -> bool:
    """True when ``path`` is a FITS file with a 4-D image HDU (stamps)."""
    from .stamps._fits import open_fits

    if _suffix(path) not in _FITS_SUFFIXES:
        return False
    with open_fits(path) as hdul:
        return _stamps_hdu(hdul) is not None


def read_stamps(path: str | os.PathLike) -> np.ndarray:
    """Read stamps ``(n_objects, n_bands, height, width)`` from .npy or FITS."""
    _check_exists(path)
    where = repr(os.fspath(path))
    suffix = _suffix(path)
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputLayoutError(
                f"{where} is not a readable numpy array file ({exc})."
            ) from None
    elif suffix in _FITS_SUFFIXES:
        missing = (
            f"{where} has no 4-D image HDU (n_objects, n_bands, height, width) "
            "of stamps."
        )
        with _open_hdu(path, _stamps_hdu, missing) as hdu:
            try:
                arr = np.array(hdu.data, dtype=np.float32)
            except (OSError, ValueError, TypeError) as exc:
                raise FITSFormatError(
                    f"{where}: the stamps cannot be read ({exc}); the file may be "
                    "truncated."
                ) from None
    else:
        raise ValueError(
            f"Cannot tell the stamps format of {where}; use .npy or .fits."
        )
    if arr.ndim != 4:
        raise InputLayoutError(
            f"{where} holds an array of shape {arr.shape}; stamps are "
            "(n_objects, n_bands, height, width)."
        )
    if arr.dtype.kind not in "fiub":
        raise InputLayoutError(
            f"{where} holds {arr.dtype} values; stamps are real numbers."
        )
    return arr


def read_stamp_objects(path: str | os.PathLike) -> pd.DataFrame | None:
    """The ``OBJECTS`` table of a stamps FITS file (None when it has none)."""
    if _suffix(path) not in _FITS_SUFFIXES:
        return None
    from .stamps._fits import open_fits

    with open_fits(path) as hdul:
        if "OBJECTS" not in hdul:
            return None
    return _read_fits_table(path, "OBJECTS")


def _decode_bytes_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """FITS strings come back from astropy as bytes: decode them (UTF-8, in place)."""
    for column in frame.columns:
        if (
            frame[column].dtype == object
            and len(frame)
            and isinstance(frame[column].iloc[0], bytes)
        ):
            frame[column] = frame[column].str.decode("utf-8").str.rstrip()
    return frame


def _read_fits_table(path, hdu) -> pd.DataFrame:
    from astropy.table import Table

    return _decode_bytes_columns(Table.read(path, hdu=hdu).to_pandas())


def stamp_wcs(path: str | os.PathLike, index: int):
    """The celestial WCS of stamp ``index`` of a stamps FITS file.

    Built from the field's ``WCS`` HDU and the stamp's row of ``OBJECTS``:
    the reference pixel moves by ``(x0, y0)`` and, for stamps resampled from
    a larger cut, the pixel scale grows by ``scale`` (distortion terms are
    not rescaled).

    Parameters
    ----------
    path : str or path-like
        A file written by ``skastro crop``.
    index : int
        Row of the stamp (0-based).

    Returns
    -------
    wcs : astropy.wcs.WCS
        Two axes (x, y) of the stamp's pixel grid.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    objects = read_stamp_objects(path)
    if objects is None:
        raise FITSFormatError(f"{os.fspath(path)!r} has no OBJECTS table.")
    row = objects.iloc[int(index)]
    field = str(row["field"]) if "field" in objects.columns else ""
    with fits.open(path) as hdul:
        header = next(
            (
                h.header
                for h in hdul
                if h.name == "WCS" and str(h.header.get("FIELD", "")) == field
            ),
            None,
        )
        if header is None:
            raise FITSFormatError(
                f"{os.fspath(path)!r} has no WCS HDU for field {field!r}."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header, naxis=2)
    scale = float(row["scale"])
    wcs.wcs.crpix = [
        (wcs.wcs.crpix[0] - 1 - float(row["x0"]) + 0.5) / scale + 0.5,
        (wcs.wcs.crpix[1] - 1 - float(row["y0"]) + 0.5) / scale + 0.5,
    ]
    if scale != 1.0:
        if wcs.wcs.has_cd():
            wcs.wcs.cd = wcs.wcs.cd * scale
        else:
            wcs.wcs.cdelt = np.asarray(wcs.wcs.cdelt) * scale
    return wcs


def write_stamps(
    stamps: np.ndarray,
    path: str | os.PathLike,
    *,
    band_names: Iterable[str] | None = None,
    objects: pd.DataFrame | None = None,
    wcs_headers: Mapping[Any, Any] | None = None,
    header: Mapping[str, Any] | None = None,
) -> None:
    """Write stamps as .npy, or as FITS with their objects table and WCS.

    Parameters
    ----------
    stamps : ndarray of shape (n_objects, n_bands, height, width)
    path : str or path-like
        ``.npy`` (the stamps only) or ``.fits``.
    band_names : iterable of str, optional
        Written as ``BAND0``, ``BAND1``... keywords.
    objects : pandas.DataFrame, optional
        One row per stamp (see the module docstring); the ``OBJECTS`` HDU.
    wcs_headers : dict, optional
        ``field -> astropy.io.fits.Header`` of each field's celestial WCS.
    header : dict, optional
        Extra primary-header keywords: ``{key: value}`` or
        ``{key: (value, comment)}`` (e.g. ``BUNIT``).
    """
    suffix = _suffix(path)
    if suffix == ".npy":
        np.save(path, stamps)
        return
    if suffix not in _FITS_SUFFIXES:
        raise ValueError(
            f"Cannot tell the stamps format of {os.fspath(path)!r}; use .npy or .fits."
        )
    from astropy.io import fits
    from astropy.table import Table

    primary = fits.PrimaryHDU(np.asarray(stamps, dtype=np.float32))
    primary.header["COMMENT"] = "skastro stamps: axes (object, band, y, x)"
    for i, name in enumerate(band_names or []):
        primary.header[f"BAND{i}"] = (str(name), f"name of band {i} (0-based)")
    for key, value in (header or {}).items():
        primary.header[key] = value
    hdus = [primary]
    if objects is not None:
        table = fits.BinTableHDU(Table.from_pandas(_fits_safe(objects)), name="OBJECTS")
        table.header["COMMENT"] = (
            "x, y, x0, y0: 0-based pixels of the field image; scale: field pixels "
            "per stamp pixel"
        )
        hdus.append(table)
    for field, wcs_header in (wcs_headers or {}).items():
        hdu = fits.ImageHDU(header=fits.Header(wcs_header), name="WCS")
        hdu.header["FIELD"] = ("" if field is None else str(field), "field id")
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(path, overwrite=True)
