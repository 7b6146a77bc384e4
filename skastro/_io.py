"""Reading and writing the files the command line works with.

Tables (catalogs, light curves, features, predictions): CSV (``.csv``),
FITS binary tables (``.fits``, ``.fit``, ``.fts``) and Parquet
(``.parquet``, if pyarrow is installed). Stamps: numpy ``.npy`` files or FITS
files whose first data HDU is ``(n_objects, n_bands, height, width)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import FITSFormatError, InputLayoutError

__all__ = ["read_stamps", "read_table", "write_stamps", "write_table"]

_FITS_SUFFIXES = {".fits", ".fit", ".fts"}


def _suffix(path: str | os.PathLike) -> str:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix


def _check_exists(path: str | os.PathLike) -> None:
    if not Path(path).exists():
        raise FileNotFoundError(f"{os.fspath(path)!r} does not exist.")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table (CSV, FITS binary table, Parquet) into a DataFrame."""
    _check_exists(path)
    suffix = _suffix(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in _FITS_SUFFIXES:
        from astropy.table import Table

        try:
            table = Table.read(path)
        except (OSError, ValueError, TypeError) as exc:
            raise FITSFormatError(
                f"{os.fspath(path)!r} holds no readable FITS table ({exc})."
            ) from exc
        names = [n for n in table.colnames if len(table[n].shape) <= 1]
        return table[names].to_pandas()
    raise ValueError(
        f"Cannot tell the table format of {os.fspath(path)!r}; use .csv, .fits or "
        ".parquet."
    )


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV, FITS binary table or Parquet (by suffix)."""
    suffix = _suffix(path)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix in _FITS_SUFFIXES:
        from astropy.table import Table

        Table.from_pandas(df).write(path, overwrite=True)
    else:
        raise ValueError(
            f"Cannot tell the output format of {os.fspath(path)!r}; use .csv, .fits "
            "or .parquet."
        )


def read_stamps(path: str | os.PathLike) -> np.ndarray:
    """Read stamps ``(n_objects, n_bands, height, width)`` from .npy or FITS."""
    _check_exists(path)
    suffix = _suffix(path)
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif suffix in _FITS_SUFFIXES:
        from .stamps._fits import open_fits

        with open_fits(path) as hdul:
            data = next(
                (
                    h.data
                    for h in hdul
                    if getattr(h, "data", None) is not None and h.data.ndim == 4
                ),
                None,
            )
            if data is None:
                raise FITSFormatError(
                    f"{os.fspath(path)!r} has no 4-D image HDU (n_objects, n_bands, "
                    "height, width) of stamps."
                )
            arr = np.array(data, dtype=np.float32)
    else:
        raise ValueError(
            f"Cannot tell the stamps format of {os.fspath(path)!r}; use .npy or .fits."
        )
    if arr.ndim != 4:
        raise InputLayoutError(
            f"{os.fspath(path)!r} holds an array of shape {arr.shape}; stamps are "
            "(n_objects, n_bands, height, width)."
        )
    return arr


def write_stamps(
    stamps: np.ndarray, path: str | os.PathLike, *, band_names=None
) -> None:
    """Write stamps as .npy or as a FITS image HDU (NAXIS=4)."""
    suffix = _suffix(path)
    if suffix == ".npy":
        np.save(path, stamps)
    elif suffix in _FITS_SUFFIXES:
        from astropy.io import fits

        hdu = fits.PrimaryHDU(np.asarray(stamps, dtype=np.float32))
        hdu.header["COMMENT"] = "skastro stamps: axes (object, band, y, x)"
        for i, name in enumerate(band_names or []):
            hdu.header[f"BAND{i}"] = str(name)
        hdu.writeto(path, overwrite=True)
    else:
        raise ValueError(
            f"Cannot tell the stamps format of {os.fspath(path)!r}; use .npy or .fits."
        )
