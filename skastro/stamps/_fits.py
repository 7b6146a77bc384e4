"""Reading FITS images band by band, without reading whole fields.

An *image spec* says where the bands of one field are:

- a path to a multi-extension file: every HDU holding 2-D image data is a band
  (uncompressed ``ImageHDU``/``PrimaryHDU`` or tile-compressed ``CompImageHDU``);
- a path to a file whose first data HDU is a 3-D cube ``(n_bands, ny, nx)``;
- a list of paths, one file per band (the first image HDU of each);
- an in-memory array ``(n_bands, ny, nx)`` or ``(ny, nx)``.

Files may be gzip- or bzip2-compressed as a whole (``.fits.gz``,
``.fits.bz2``; astropy recognises them by content).

:class:`BandSource` remembers where a band is; :meth:`BandSource.read_rows`
reads a block of rows through astropy's ``section`` interface, which reads
only the requested part of an uncompressed image and decompresses only the
tiles it needs of a compressed one. Files are opened per read call and closed
again, so estimators holding band sources stay picklable.

Pixel values are physical values: integer images with ``BSCALE``/``BZERO``
(2MASS, unsigned 16-bit camera frames) are scaled as astropy scales them,
``value = BZERO + BSCALE * stored``, and stored values equal to ``BLANK``
become NaN (also in unsigned 16-bit images, where astropy's default
``uint=True`` reading keeps them as numbers); the result is float32.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning

from ..exceptions import FITSFormatError

__all__ = [
    "BandSource",
    "header_pixel_scales",
    "header_zero_points",
    "open_fits",
    "resolve_image_spec",
]


def _describe(path: str, hdu: int | None = None, plane: int | None = None) -> str:
    where = repr(os.path.basename(path)) if path else "the in-memory image"
    if hdu is not None:
        where += f" HDU {hdu}"
    if plane is not None:
        where += f" plane {plane}"
    return where


def open_fits(path: str | os.PathLike) -> fits.HDUList:
    """Open a FITS file memory-mapped where possible, with errors that name
    the file.

    Scaled integer images (``BSCALE``/``BZERO``/``BLANK``) are read as floats
    with ``BLANK`` pixels NaN (``uint=False``; astropy memory-maps the stored
    integers and scales the part read); gzip- and bzip2-compressed files are
    read through a decompressing stream (no memory map).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    FITSFormatError
        The file is not a readable FITS file (corrupt or truncated header).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"FITS file {path!r} does not exist; check the path (relative paths are "
            f"resolved from {os.getcwd()!r})."
        )
    if os.path.isdir(path):
        raise FITSFormatError(f"{path!r} is a directory, not a FITS file.")
    try:
        # astropy warns (rather than fails) on truncated files; truncation is
        # detected from the headers' data sizes in ``_check_complete``.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            warnings.simplefilter("ignore", AstropyUserWarning)
            return fits.open(path, uint=False, lazy_load_hdus=False, mode="readonly")
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise FITSFormatError(
            f"Cannot read {path!r} as FITS ({type(exc).__name__}: {exc}); the file is "
            "corrupt, truncated or not FITS."
        ) from exc


def _data_shape(hdu: Any) -> tuple[int, ...]:
    """Shape of an image HDU's data from its header, without reading the data."""
    shape = getattr(hdu, "shape", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    return ()


def _stream_compressed(hdul: fits.HDUList) -> bool:
    """Whether the whole file is gzip/bzip2/lzma-compressed (no memory map)."""
    return bool(getattr(hdul._file, "compression", None))


def _check_complete(path: str, hdu_index: int, hdu: Any, hdul: fits.HDUList) -> None:
    """Raise if the file is shorter than the HDU's data claims (truncated file).

    Not checked here for gzip/bzip2 files (their size on disk is not the
    data's): a truncated one fails when its pixels are read, naming the file.
    """
    info = hdu.fileinfo()
    if not info or _stream_compressed(hdul):
        return
    end = info["datLoc"] + info["datSpan"]
    size = os.path.getsize(path)
    if size < end:
        raise FITSFormatError(
            f"{_describe(path, hdu_index)} is truncated: its header announces data up "
            f"to byte {end} but the file has {size} bytes. Re-copy or re-download "
            "the file."
        )


_RAW_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _raw_layout(hdul: fits.HDUList, hdu: Any) -> tuple[int, str] | tuple[None, None]:
    """Byte offset and dtype of a plain image's data, when it can be read
    straight from the file: uncompressed, unscaled, not gzipped."""
    if isinstance(hdu, fits.CompImageHDU) or _stream_compressed(hdul):
        return None, None
    header = hdu.header
    if header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0:
        return None, None
    if "BLANK" in header and header.get("BITPIX", 0) > 0:
        return None, None
    dtype = _RAW_DTYPES.get(header.get("BITPIX"))
    info = hdu.fileinfo()
    if dtype is None or not info:
        return None, None
    return int(info["datLoc"]), dtype


def _is_image_hdu(hdu: Any) -> bool:
    return isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU)


@dataclass
class BandSource:
    """Where one band of one field lives, and how to read rows from it.

    Attributes
    ----------
    path : str
        File path ("" for an in-memory array).
    hdu : int or None
        HDU index in the file.
    plane : int or None
        Index along the first axis of a cube, or None for a 2-D image.
    shape : (int, int)
        ``(ny, nx)`` of the band image, in pixels.
    header : astropy.io.fits.Header or None
        The band's header (the cube's header for all planes of a cube).
    array : numpy.ndarray or None
        The in-memory image, for array specs.
    raw_offset, raw_dtype : int or None, str or None
        Byte offset and dtype of a plain (uncompressed, unscaled) image's
        pixels in the file, for reading them directly.
    stream_compressed : bool
        The file is gzip/bzip2-compressed as a whole: it can only be read
        forward, so readers load the band whole (see :meth:`read_rows`).
    """

    path: str
    hdu: int | None
    plane: int | None
    shape: tuple[int, int]
    header: fits.Header | None = None
    array: np.ndarray | None = field(default=None, repr=False)
    raw_offset: int | None = None
    raw_dtype: str | None = None
    stream_compressed: bool = False

    def read_raw_rows(self, y0: int, y1: int, handle, buffer: np.ndarray) -> np.ndarray:
        """Rows ``y0:y1`` (full width) read straight from the file into
        ``buffer`` (file byte order, no scaling), for plain uncompressed
        images (``raw_offset`` set); returns the filled view of ``buffer``."""
        nx = self.shape[1]
        itemsize = np.dtype(self.raw_dtype).itemsize
        view = buffer[: y1 - y0]
        handle.seek(self.raw_offset + y0 * nx * itemsize)
        n = handle.readinto(memoryview(view).cast("B"))
        if n != view.nbytes:
            raise FITSFormatError(
                f"{self.describe()} ended early while reading rows {y0}-{y1}; the "
                "file is truncated."
            )
        return view

    @property
    def name(self) -> str:
        """Band name from ``FILTER``/``BAND``/``EXTNAME`` header keywords if any."""
        if self.header is not None:
            for key in ("FILTER", "BAND", "EXTNAME"):
                value = self.header.get(key)
                if value and self.plane is None:
                    return str(value).strip()
        if self.plane is not None:
            return f"band{self.plane}"
        return os.path.splitext(os.path.basename(self.path))[0] or "band"

    def describe(self) -> str:
        """Human-readable location, for error messages."""
        return _describe(self.path, self.hdu, self.plane)

    def read_rows(
        self,
        y0: int,
        y1: int,
        x0: int = 0,
        x1: int | None = None,
        hdul: fits.HDUList | None = None,
    ) -> np.ndarray:
        """Read ``image[y0:y1, x0:x1]`` (0-based, within bounds) as float32.

        Parameters
        ----------
        y0, y1, x0, x1 : int
            Row and column bounds in pixels (numpy convention, end exclusive).
        hdul : astropy.io.fits.HDUList, optional
            An open file to read from; opened (and closed) here otherwise.
        """
        x1 = self.shape[1] if x1 is None else x1
        if self.array is not None:
            if self.plane is None:
                block = self.array[y0:y1, x0:x1]
            else:
                block = self.array[self.plane, y0:y1, x0:x1]
            return np.asarray(block, dtype=np.float32)
        close = hdul is None
        if hdul is None:
            hdul = open_fits(self.path)
        try:
            section = hdul[self.hdu].section
            try:
                if self.plane is None:
                    block = section[y0:y1, x0:x1]
                else:
                    block = section[self.plane, y0:y1, x0:x1]
            except (OSError, EOFError, ValueError, TypeError, IndexError) as exc:
                raise FITSFormatError(
                    f"Cannot read pixels of {self.describe()} ({type(exc).__name__}: "
                    f"{exc}); the file may be corrupt or truncated."
                ) from exc
            return np.asarray(block, dtype=np.float32)
        finally:
            if close:
                hdul.close()

    def check_has_data(self, hdul: fits.HDUList | None = None) -> None:
        """Raise if every pixel is ``BLANK`` (an integer image holding no data).

        Rows are read in growing blocks until a valid pixel is found, so a
        normal image costs a few rows; only images with a ``BLANK`` keyword
        are checked.
        """
        header = self.header
        if header is None or "BLANK" not in header or header.get("BITPIX", 0) <= 0:
            return
        ny = self.shape[0]
        y0, step = 0, 16
        while y0 < ny:
            y1 = min(y0 + step, ny)
            if not np.isnan(self.read_rows(y0, y1, hdul=hdul)).all():
                return
            y0, step = y1, step * 4
        raise FITSFormatError(
            f"Every pixel of {self.describe()} is BLANK (stored value "
            f"{header['BLANK']}): the image holds no data. Check that this is the "
            "file you meant (e.g. not an empty mosaic tile or a failed download)."
        )

    def pixel_scale(self) -> float | None:
        """Pixel scale in arcsec/pixel from the celestial WCS, None without one.

        The geometric mean of the two axes' scales
        (:func:`astropy.wcs.utils.proj_plane_pixel_scales`), so that its square
        is the pixel's area on the sky at the reference point, rounded to 10
        significant digits.
        """
        wcs = self.wcs()
        if wcs is None:
            return None
        from astropy.wcs.utils import proj_plane_pixel_scales

        scales = proj_plane_pixel_scales(wcs) * 3600.0  # deg -> arcsec
        value = float(np.sqrt(np.prod(np.abs(scales))))
        if not (np.isfinite(value) and value > 0):
            return None
        # 10 significant digits: 0.55 / 3600 * 3600 is 0.55 again, not 0.55 + 1 ulp
        return float(f"{value:.10g}")

    def zero_point(self, keyword: str) -> float | None:
        """The header's zero point (mag) under ``keyword``, None when absent.

        For a cube, whose one header serves all planes, ``keyword`` followed by
        the 1-based plane number (``ZP1 ... ZPn``) is read when ``keyword``
        itself is absent.
        """
        header = self.header
        if header is None:
            return None
        key = keyword
        if self.plane is not None and key not in header:
            key = f"{keyword}{self.plane + 1}"
        if key not in header:
            return None
        try:
            return float(header[key])
        except (TypeError, ValueError):
            raise FITSFormatError(
                f"{self.describe()} has {key}={header[key]!r}, which is not a "
                "number; a zero point is a magnitude."
            ) from None

    def wcs(self) -> WCS | None:
        """The celestial WCS of the band, or None when the header has none."""
        if self.header is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            warnings.simplefilter("ignore", AstropyUserWarning)
            try:
                wcs = WCS(self.header, naxis=2)
            except Exception:  # noqa: BLE001 - any WCS failure means "no WCS"
                return None
        if not wcs.has_celestial:
            return None
        return wcs.celestial


def _sources_from_file(path: str) -> list[BandSource]:
    """All bands of one file: a cube's planes, or every 2-D image HDU; each
    checked to hold data (:meth:`BandSource.check_has_data`)."""
    with open_fits(path) as hdul:
        sources = _find_sources(path, hdul)
        for src in sources:
            src.check_has_data(hdul)
    return sources


def _find_sources(path: str, hdul: fits.HDUList) -> list[BandSource]:
    """The band sources of an open file (see :func:`_sources_from_file`)."""
    sources: list[BandSource] = []
    for index, hdu in enumerate(hdul):
        if not _is_image_hdu(hdu):
            continue
        shape = _data_shape(hdu)
        if len(shape) == 0 or 0 in shape:
            continue  # an empty primary HDU (common in MEF files), or no pixels
        _check_complete(path, index, hdu, hdul)
        header = hdu.header.copy()
        offset, raw_dtype = _raw_layout(hdul, hdu)
        streamed = _stream_compressed(hdul)
        if len(shape) == 3:
            if sources:
                raise FITSFormatError(
                    f"{_describe(path, index)} is a 3-D cube but the file also "
                    "has 2-D image HDUs; use one layout per file."
                )
            plane_bytes = shape[1] * shape[2] * np.dtype(raw_dtype or "u1").itemsize
            return [
                BandSource(
                    path,
                    index,
                    plane,
                    (shape[1], shape[2]),
                    header,
                    raw_offset=None if offset is None else offset + plane * plane_bytes,
                    raw_dtype=raw_dtype,
                    stream_compressed=streamed,
                )
                for plane in range(shape[0])
            ]
        if len(shape) != 2:
            raise FITSFormatError(
                f"{_describe(path, index)} has {len(shape)}-D data of shape "
                f"{shape}; expected 2-D band images or one 3-D cube."
            )
        sources.append(
            BandSource(
                path,
                index,
                None,
                (shape[0], shape[1]),
                header,
                raw_offset=offset,
                raw_dtype=raw_dtype,
                stream_compressed=streamed,
            )
        )
    if not sources:
        raise FITSFormatError(
            f"{_describe(path)} has no HDU with image data (only empty HDUs or "
            "tables); point to the file holding the images."
        )
    return sources


def _source_from_band_file(path: str) -> BandSource:
    """The single band image of a one-band-per-file spec."""
    sources = _sources_from_file(path)
    if len(sources) != 1:
        raise FITSFormatError(
            f"{_describe(path)} holds {len(sources)} band images, but a list of files "
            "means one band per file; pass this file alone (not in a list) to use "
            "all its bands."
        )
    return sources[0]


def resolve_image_spec(spec: Any, *, name: str = "images") -> list[BandSource]:
    """Return the band sources of one field's image spec.

    Parameters
    ----------
    spec : str, path-like, list of path-like, or numpy.ndarray
        See the module docstring.
    name : str, default="images"
        Parameter name for error messages.

    Returns
    -------
    sources : list of BandSource
        One per band, all with the same image shape.
    """
    if isinstance(spec, str | os.PathLike):
        sources = _sources_from_file(os.fspath(spec))
    elif isinstance(spec, np.ndarray):
        arr = spec
        if arr.ndim == 2:
            sources = [BandSource("", None, 0, arr.shape, None, arr[None])]
        elif arr.ndim == 3:
            sources = [
                BandSource("", None, plane, arr.shape[1:], None, arr)
                for plane in range(arr.shape[0])
            ]
        else:
            raise FITSFormatError(
                f"{name} array must be (ny, nx) or (n_bands, ny, nx); got shape "
                f"{arr.shape}."
            )
    elif (
        isinstance(spec, Sequence)
        and spec
        and all(isinstance(p, str | os.PathLike) for p in spec)
    ):
        sources = [_source_from_band_file(os.fspath(p)) for p in spec]
    else:
        raise FITSFormatError(
            f"{name} must be a FITS path, a list of FITS paths (one per band), an "
            f"array (n_bands, ny, nx), or a dict mapping field ids to those; got "
            f"{type(spec).__name__}."
        )
    shapes = {s.shape for s in sources}
    if len(shapes) > 1:
        detail = ", ".join(
            f"{s.describe()}: {s.shape[0]}x{s.shape[1]}" for s in sources
        )
        raise FITSFormatError(
            f"The bands of one field must share one image shape (ny, nx); got "
            f"{detail}. "
            "Reproject the images onto one pixel grid first (e.g. reproject)."
        )
    return sources


def header_zero_points(sources: list[BandSource], keyword: str) -> np.ndarray:
    """Zero points (mag) of the bands from the header keyword ``keyword``.

    Raises
    ------
    FITSFormatError
        A band's header lacks the keyword (the message names the file).
    """
    zps = []
    for src in sources:
        value = src.zero_point(keyword)
        if value is None:
            raise FITSFormatError(
                f"{src.describe()} has no header keyword {keyword!r} for its zero "
                "point; set zero_point_keyword to the keyword your files use (e.g. "
                "'ZP', 'MAGZP', 'PHOTZP'), or give the zero points yourself "
                "(Calibrator(zero_point=...))."
            )
        zps.append(value)
    return np.asarray(zps, dtype=float)


def header_pixel_scales(sources: list[BandSource]) -> np.ndarray:
    """Pixel scales (arcsec/pixel) of the bands from their WCS, NaN without one
    (see :meth:`BandSource.pixel_scale`)."""
    return np.asarray(
        [np.nan if (ps := src.pixel_scale()) is None else ps for src in sources]
    )
