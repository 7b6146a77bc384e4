"""FITSCropper: cut stamps around catalog positions from FITS images."""

from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..exceptions import CatalogError, FITSFormatError, StampOverlapError
from ..utils import as_catalog, check_catalog_columns
from ..utils._params import Interval, Options, StrOptions, validate_estimator_params
from ._fits import (
    BandSource,
    header_pixel_scales,
    header_zero_points,
    open_fits,
    resolve_image_spec,
)

__all__ = ["FITSCropper", "OffImageWarning", "resample_flux_conserving"]


def _gather_band(block, ly, lx, dest, band, side, out):
    """Copy the ``side``-pixel stamps at ``(ly, lx)`` of ``block`` into
    ``out[dest, band]``."""
    windows = np.lib.stride_tricks.sliding_window_view(block, (side, side))
    for c in range(0, ly.size, 256):  # chunks keep the temporary in cache
        out[dest[c : c + 256], band] = windows[ly[c : c + 256], lx[c : c + 256]]


def _plain(value):
    """A numpy scalar as the Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


class _MapUnavailableError(Exception):
    """A file cannot be memory-mapped here; read it in row blocks instead."""


def _map_plain_band(src: BandSource, ny: int, nx: int):
    """Memory-map a plain float32 band: ``(mmap, (ny, nx) uint32 view)``."""
    try:
        with open(src.path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError as exc:  # an empty file cannot be mapped
        raise FITSFormatError(
            f"{src.describe()} is empty; the file was truncated after fit. "
            "Re-copy or re-download it."
        ) from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise _MapUnavailableError(str(exc)) from exc
    end = src.raw_offset + ny * nx * 4
    if len(mapped) < end:
        size = len(mapped)
        mapped.close()
        raise FITSFormatError(
            f"{src.describe()} is truncated: its data end at byte {end} but the "
            f"file now has {size} bytes. Re-copy or re-download the file."
        )
    image = np.frombuffer(mapped, np.uint32, ny * nx, src.raw_offset)
    return mapped, image.reshape(ny, nx)


class OffImageWarning(UserWarning):
    """Some catalog objects do not overlap their image at all (all-NaN stamps)."""


def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Overlap matrix ``R`` (n_out, n_in) of a flux-conserving 1-D resampling.

    ``R[o, i]`` is the fraction of input pixel ``i`` (covering ``[i, i+1)``)
    that falls in output pixel ``o`` (covering ``[o f, (o+1) f)`` with
    ``f = n_in / n_out`` input pixels), so each column sums to one.
    """
    f = n_in / n_out
    lo_out = np.arange(n_out)[:, None] * f
    hi_out = lo_out + f
    lo_in = np.arange(n_in)[None, :]
    hi_in = lo_in + 1
    return np.clip(np.minimum(hi_out, hi_in) - np.maximum(lo_out, lo_in), 0, None)


def resample_flux_conserving(stamps: np.ndarray, output_size: int) -> np.ndarray:
    """Resample square stamps to ``output_size`` pixels, conserving flux.

    Each output pixel receives the flux of the input pixels it overlaps, in
    proportion to the overlapping area (an exact area-weighted rebinning,
    separable along both axes), so the sum over a stamp is unchanged and a
    pixel value becomes flux per *output* pixel. NaN input pixels make the
    output pixels they overlap NaN.

    Parameters
    ----------
    stamps : ndarray of shape (..., side, side)
        Stamps, last two axes ``(height, width)`` in pixels.
    output_size : int
        Side of the output stamps, in pixels.

    Returns
    -------
    resampled : ndarray of shape (..., output_size, output_size), float32
    """
    side = stamps.shape[-1]
    if stamps.shape[-2] != side:
        raise ValueError(f"stamps must be square; got shape {stamps.shape}.")
    if side == output_size:
        return stamps.astype(np.float32, copy=False)
    R = _resample_matrix(side, output_size)
    out = np.matmul(np.matmul(R, stamps.astype(np.float64)), R.T)
    return out.astype(np.float32)


class FITSCropper(TransformerMixin, BaseEstimator):
    """Cut stamps around catalog positions from FITS images.

    The transformer's ``X`` is a catalog (one row per object, with pixel or
    sky positions) and its output the stamps ``(n_objects, n_bands, height,
    width)`` in PyTorch (channels-first) order, ``float32``.

    Images are read through astropy's ``section`` interface, block of rows by
    block of rows, so a full 9232×9216×12 S-PLUS field is never read whole;
    tile-compressed HDUs (``CompImageHDU``) decompress only the tiles needed.
    Files gzip- or bzip2-compressed as a whole (``.fits.gz``, ``.fits.bz2``)
    can only be read forward: each band is decompressed whole, once per
    :meth:`transform` (prefer tile compression, ``fpack``, for large fields).

    Pixel values are physical: integer images with ``BSCALE``/``BZERO`` (2MASS,
    unsigned 16-bit frames) are scaled as astropy scales them, pixels equal to
    ``BLANK`` are NaN, and the stamps equal :class:`astropy.nddata.Cutout2D`
    on astropy's scaled data (``fits.getdata(path, uint=False)``), as float32.
    An integer image whose pixels are all ``BLANK`` is refused in :meth:`fit`.

    Parameters
    ----------
    images : str, path-like, list of path-like, ndarray or dict, default=None
        Where the bands are. A path to a multi-extension FITS file (every HDU
        with 2-D image data is a band, compressed or not) or to a file whose
        first data HDU is a cube ``(n_bands, ny, nx)``; a list of paths, one
        file per band; an in-memory array ``(n_bands, ny, nx)``; or, for a
        catalog spanning several fields, a dict mapping each field id (the
        values of ``field_column``) to one of the above. All bands of a field
        must share one pixel grid (shape and WCS).
    size : int or "fwhm", default=32
        Side of the square stamps, in pixels. ``"fwhm"`` applies the rule of
        Martinazzo (2021, §4.2): the side is ``s = fwhm_factor * FWHM``
        (rounded to the nearest pixel); if ``s <= output_size`` a stamp of
        ``output_size`` pixels is cut, else an ``s×s`` stamp is cut and
        resampled to ``output_size`` pixels with a flux-conserving,
        area-weighted rebinning (:func:`resample_flux_conserving`).
    fwhm_factor : float, default=3.0
        Stamp side in units of the object's FWHM, for ``size="fwhm"``.
    output_size : int, default=32
        Side of the output stamps for ``size="fwhm"``, in pixels.
    coords : {"pixel", "world"}, default="pixel"
        Positions are pixel coordinates (``position_columns`` default
        ``("x", "y")``) or sky coordinates in degrees (default ``("ra",
        "dec")``) converted through the first band's WCS.
    origin : {0, 1}, default=0
        Convention of pixel positions: 0 is numpy's (the centre of the first
        pixel is 0.0, as in :class:`astropy.nddata.Cutout2D`), 1 is FITS'
        (SExtractor's ``X_IMAGE``; the first pixel's centre is 1.0). A stamp
        of side ``s`` starts at pixel ``ceil(x - s / 2)`` as in
        :func:`astropy.nddata.overlap_slices`, with ``x - s / 2`` first
        rounded to 1e-6 pixel.
    off_edge : {"pad", "drop", "raise"}, default="pad"
        Objects whose stamp extends beyond the image: ``"pad"`` fills the
        missing pixels with NaN (objects entirely off the image give all-NaN
        stamps and an :class:`OffImageWarning`); ``"drop"`` leaves them out of
        the output (not for supervised pipelines, where ``y`` would no longer
        match; use :meth:`overlap_mask` to select rows first); ``"raise"``
        raises :class:`~skastro.exceptions.StampOverlapError`.
    position_columns : (str, str), default=None
        Catalog columns of the positions; ``("x", "y")`` for pixel and
        ``("ra", "dec")`` for world coordinates when None.
    field_column : str or None, default="field"
        Catalog column of the field id, used when ``images`` is a dict. When
        ``images`` holds one field and the catalog's column names several
        fields, :meth:`fit` and :meth:`transform` raise
        :class:`~skastro.exceptions.CatalogError` (the objects of the other
        fields are not in these images); None ignores any field column.
    fwhm_column : str, default="fwhm"
        Catalog column of the FWHM, in pixels, used when ``size="fwhm"``.
    zero_point_keyword : str, default=None
        Header keyword of each band's photometric zero point (mag). When set,
        :meth:`transform` returns a :class:`skorch.helper.SliceDict` with keys
        ``"stamps"``, ``"zero_point"`` ``(n_objects, n_bands)``,
        ``"pixel_scale"`` ``(n_objects, n_bands)`` (arcsec/pixel of each
        band's image from its WCS, NaN without one; for stamps resampled by
        ``size="fwhm"`` still the image's scale, as Martinazzo et al. (2021)
        calibrate them) and ``"field"`` ``(n_objects,)``, ready for
        :class:`Calibrator`. For a cube, whose one header serves all planes,
        the per-plane keywords ``ZP1 … ZPn`` (``zero_point_keyword`` followed
        by the 1-based plane number) are read when ``ZP`` itself is absent.
    block_rows : int, default=256
        Image rows read at once (for all bands) from images that are not
        plain float32 (compressed, scaled, integer or in-memory images);
        bounds the memory used beyond the output to about
        ``block_rows × nx × 4 × n_bands`` bytes (113 MB for a 12-band
        9216-pixel-wide S-PLUS field). Plain uncompressed float32 images
        (``BITPIX = -32``, no ``BSCALE``/``BZERO``) are instead read through
        a memory map of the file, straight into the output, with no buffer.
    n_jobs : int, default=None
        Threads cutting bands in parallel, for plain float32 images. None
        means 1 (unless in a :func:`joblib.parallel_config` context), -1 all
        CPU cores; at most one thread per band is used.

    Attributes
    ----------
    n_bands_ : int
        Number of bands found in the images.
    band_names_ : list of str
        Band names from the ``FILTER``/``BAND``/``EXTNAME`` keywords (or file
        names) of the first field.
    fields_ : list
        Field ids (``[None]`` when ``images`` is not a dict).
    image_shapes_ : dict
        ``field -> (ny, nx)``, in pixels.
    band_sources_ : dict
        ``field -> list of BandSource`` (where each band is read from).
    zero_points_ : dict
        ``field -> ndarray (n_bands,)`` of zero points (mag), when
        ``zero_point_keyword`` is set.
    pixel_scales_ : dict
        ``field -> ndarray (n_bands,)`` of pixel scales (arcsec/pixel) from
        the WCS (:func:`astropy.wcs.utils.proj_plane_pixel_scales`, geometric
        mean of the axes), NaN for a band without one; when
        ``zero_point_keyword`` is set.

    See Also
    --------
    astropy.nddata.Cutout2D : one cutout at a time; ``FITSCropper`` gives the
        same pixels (``mode="partial"``, ``fill_value=nan``) for many objects.
    Calibrator : turns the stamps into calibrated fluxes.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skastro.stamps import FITSCropper
    >>> image = np.arange(2 * 64 * 64, dtype=np.float32).reshape(2, 64, 64)
    >>> catalog = pd.DataFrame({"x": [10.0, 40.3], "y": [20.0, 31.8]})
    >>> stamps = FITSCropper(image, size=8).fit_transform(catalog)
    >>> stamps.shape
    (2, 2, 8, 8)
    """

    _parameter_constraints: dict = {
        "images": [str, os.PathLike, list, tuple, dict, np.ndarray, None],
        "size": [Interval(Integral, 1, None, closed="left"), StrOptions({"fwhm"})],
        "fwhm_factor": [Interval(Real, 0, None, closed="neither")],
        "output_size": [Interval(Integral, 1, None, closed="left")],
        "coords": [StrOptions({"pixel", "world"})],
        "origin": [Options(Integral, {0, 1})],
        "off_edge": [StrOptions({"pad", "drop", "raise"})],
        "position_columns": [tuple, list, None],
        "field_column": [str, None],
        "fwhm_column": [str],
        "zero_point_keyword": [str, None],
        "block_rows": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        images=None,
        *,
        size=32,
        fwhm_factor=3.0,
        output_size=32,
        coords="pixel",
        origin=0,
        off_edge="pad",
        position_columns=None,
        field_column="field",
        fwhm_column="fwhm",
        zero_point_keyword=None,
        block_rows=256,
        n_jobs=None,
    ):
        self.images = images
        self.size = size
        self.fwhm_factor = fwhm_factor
        self.output_size = output_size
        self.coords = coords
        self.origin = origin
        self.off_edge = off_edge
        self.position_columns = position_columns
        self.field_column = field_column
        self.fwhm_column = fwhm_column
        self.zero_point_keyword = zero_point_keyword
        self.block_rows = block_rows
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fit
    def fit(self, X=None, y=None):
        """Open the images' headers and check they fit together.

        Parameters
        ----------
        X : catalog, optional
            If given, checked for the needed columns.
        y : ignored

        Returns
        -------
        self : FITSCropper
        """
        validate_estimator_params(self)
        if self.images is None:
            raise ValueError(
                "FITSCropper needs images: a FITS path, a list of paths (one per "
                "band), an array, or a dict {field: ...}; got images=None."
            )
        if isinstance(self.images, Mapping):
            if not self.images:
                raise ValueError("images is an empty dict; map field ids to images.")
            specs = dict(self.images)
        else:
            specs = {None: self.images}
        self.band_sources_ = {}
        self.image_shapes_ = {}
        for fid, spec in specs.items():
            name = "images" if fid is None else f"images[{fid!r}]"
            sources = resolve_image_spec(spec, name=name)
            self.band_sources_[fid] = sources
            self.image_shapes_[fid] = sources[0].shape
        counts = {fid: len(s) for fid, s in self.band_sources_.items()}
        if len(set(counts.values())) > 1:
            raise FITSFormatError(
                f"All fields must have the same number of bands; got {counts}."
            )
        self.fields_ = list(specs)
        first = self.band_sources_[self.fields_[0]]
        self.n_bands_ = len(first)
        self.band_names_ = [s.name for s in first]
        if self.zero_point_keyword is not None:
            self.zero_points_ = {
                fid: header_zero_points(sources, self.zero_point_keyword)
                for fid, sources in self.band_sources_.items()
            }
            self.pixel_scales_ = {
                fid: header_pixel_scales(sources)
                for fid, sources in self.band_sources_.items()
            }
        if X is not None:
            self._positions(as_catalog(X))
        return self

    # ------------------------------------------------------------ positions
    def _position_columns(self) -> tuple[str, str]:
        if self.position_columns is not None:
            if len(self.position_columns) != 2:
                raise ValueError(
                    "position_columns must name two columns (x, y) or (ra, dec); got "
                    f"{self.position_columns!r}."
                )
            return tuple(self.position_columns)  # type: ignore[return-value]
        return ("x", "y") if self.coords == "pixel" else ("ra", "dec")

    def _positions(self, catalog: pd.DataFrame):
        """Field ids, 0-based pixel positions and stamp sides per row."""
        cols = self._position_columns()
        hint = (
            "Set position_columns to the names your catalog uses."
            if self.coords == "pixel"
            else "Set position_columns, or coords='pixel' with x, y columns."
        )
        check_catalog_columns(catalog, cols, hint=hint, finite=cols)
        n = len(catalog)
        if len(self.fields_) > 1 or self.fields_[0] is not None:
            if self.field_column is None:
                raise ValueError(
                    "images is a dict of fields, so each catalog row needs its field "
                    "id; set field_column to the catalog's field column (not None)."
                )
            check_catalog_columns(
                catalog,
                [self.field_column],
                hint="images is a dict of fields, so each row needs its field id; "
                "set field_column.",
            )
            fields = np.asarray(catalog[self.field_column])
            unknown = sorted(
                {_plain(f) for f in pd.unique(fields)} - set(self.band_sources_),
                key=str,
            )
            if unknown:
                raise CatalogError(
                    f"Column {self.field_column!r} has field id(s) {unknown[:10]} with "
                    f"no images; images has fields {self.fields_}."
                )
        else:
            self._check_single_field(catalog)
            fields = np.full(n, None, dtype=object)
        a = np.asarray(catalog[cols[0]], dtype=float)
        b = np.asarray(catalog[cols[1]], dtype=float)
        x = np.empty(n)
        y = np.empty(n)
        for fid in self.fields_:
            rows = np.flatnonzero(fields == fid) if fid is not None else np.arange(n)
            if rows.size == 0:
                continue
            if self.coords == "world":
                src = self.band_sources_[fid][0]
                wcs = src.wcs()
                if wcs is None:
                    raise FITSFormatError(
                        f"Sky positions need a celestial WCS, but {src.describe()} has "
                        "none in its header; use coords='pixel' with x, y columns."
                    )
                px, py = wcs.all_world2pix(a[rows], b[rows], 0)
                x[rows], y[rows] = px, py
            else:
                x[rows] = a[rows] - self.origin
                y[rows] = b[rows] - self.origin
        if self.size == "fwhm":
            check_catalog_columns(
                catalog,
                [self.fwhm_column],
                hint="size='fwhm' needs each object's FWHM in pixels; set fwhm_column.",
                finite=[self.fwhm_column],
            )
            fwhm = np.asarray(catalog[self.fwhm_column], dtype=float)
            if (fwhm <= 0).any():
                row = catalog.index[int(np.flatnonzero(fwhm <= 0)[0])]
                raise CatalogError(
                    f"Column {self.fwhm_column!r} must be positive (pixels); row {row} "
                    f"has {fwhm[fwhm <= 0][0]!r}."
                )
            sides = np.maximum(
                np.rint(self.fwhm_factor * fwhm).astype(np.int64), self.output_size
            )
        else:
            sides = np.full(n, int(self.size), dtype=np.int64)
        return fields, x, y, sides

    def _check_single_field(self, catalog: pd.DataFrame) -> None:
        """Images of one field, catalog of several: refuse, don't cut every
        object from that one field's pixels."""
        column = self.field_column
        if column is None or column not in catalog.columns:
            return
        present = [_plain(f) for f in pd.unique(catalog[column]) if not pd.isna(f)]
        if len(present) <= 1:
            return
        shown = sorted(present, key=str)
        listed = f"{shown[:10]}" + (" ..." if len(shown) > 10 else "")
        example = ", ".join(f"{f!r}: [...]" for f in shown[:2])
        raise CatalogError(
            f"The catalog's {column!r} column holds {len(present)} fields {listed}, "
            "but images gives the images of one field: every object would be cut "
            "from that field's pixels. Map each field id to its images, "
            f"images={{{example}, ...}} (the files of each field), or select the "
            f"rows of this field first (catalog[catalog[{column!r}] == ...]); if "
            f"{column!r} is not a field id, pass field_column=None."
        )

    @staticmethod
    def _starts(pos: np.ndarray, sides: np.ndarray) -> np.ndarray:
        # astropy.nddata.overlap_slices: first index = ceil(pos - size / 2).
        # Positions are first rounded to 1e-6 pixel so that a sky -> pixel
        # round trip landing 1e-9 pixel off a half-pixel boundary does not
        # shift the stamp by a whole pixel.
        return np.ceil(np.round(pos - sides / 2.0, 6)).astype(np.int64)

    def _overlap(self, fields, x, y, sides):
        x0, y0 = self._starts(x, sides), self._starts(y, sides)
        ny = np.empty(len(x), dtype=np.int64)
        nx = np.empty(len(x), dtype=np.int64)
        for fid in self.fields_:
            rows = fields == fid if fid is not None else slice(None)
            ny[rows], nx[rows] = self.image_shapes_[fid]
        inside = (x0 >= 0) & (y0 >= 0) & (x0 + sides <= nx) & (y0 + sides <= ny)
        touches = (x0 + sides > 0) & (y0 + sides > 0) & (x0 < nx) & (y0 < ny)
        return x0, y0, inside, touches

    def overlap_mask(self, X) -> np.ndarray:
        """Whether each object's stamp lies entirely inside its image.

        Parameters
        ----------
        X : catalog

        Returns
        -------
        mask : ndarray of bool, shape (n_objects,)
        """
        check_is_fitted(self)
        fields, x, y, sides = self._positions(as_catalog(X))
        return self._overlap(fields, x, y, sides)[2]

    # ------------------------------------------------------------ transform
    def __sklearn_tags__(self):
        """X is a catalog (positions in named columns) and the output stamps: scikit-learn's checks for 2-D tables do not apply."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True  # field ids and band names in the catalog
        tags.input_tags.allow_nan = True
        return tags

    def transform(self, X):
        """Cut the stamps of the catalog's objects.

        Parameters
        ----------
        X : pandas.DataFrame or astropy.table.Table
            Catalog with positions (see ``coords``, ``origin``) and, as needed,
            the field id and FWHM columns.

        Returns
        -------
        stamps : ndarray of shape (n_objects, n_bands, size, size), float32
            Or a :class:`skorch.helper.SliceDict` with ``"stamps"``,
            ``"zero_point"``, ``"pixel_scale"`` and ``"field"`` when
            ``zero_point_keyword`` is set.
        """
        check_is_fitted(self)
        catalog = as_catalog(X)
        fields, x, y, sides = self._positions(catalog)
        x0, y0, inside, touches = self._overlap(fields, x, y, sides)
        self._apply_off_edge_policy(catalog, fields, x, y, sides, inside, touches)
        keep = inside if self.off_edge == "drop" else np.ones(len(catalog), bool)
        rows = np.flatnonzero(keep)
        out_side = self.output_size if self.size == "fwhm" else int(self.size)
        stamps = np.empty(
            (rows.size, self.n_bands_, out_side, out_side), dtype=np.float32
        )
        stamps[~touches[rows]] = np.nan  # entirely off the image
        for fid in self.fields_:
            in_field = rows if fid is None else rows[fields[rows] == fid]
            for side in np.unique(sides[in_field]):
                sel = in_field[(sides[in_field] == side) & touches[in_field]]
                if sel.size == 0:
                    continue
                dest = np.searchsorted(rows, sel)
                if side == out_side:  # cut straight into the output
                    self._extract(fid, x0[sel], y0[sel], int(side), stamps, dest)
                else:
                    cut = self._extract(fid, x0[sel], y0[sel], int(side))
                    stamps[dest] = resample_flux_conserving(cut, out_side)
        self._warn_resampled_all_nan(catalog, rows, stamps, touches & ~inside)
        if self.zero_point_keyword is None:
            return stamps
        from skorch.helper import SliceDict

        def per_object(table):
            if not rows.size:
                return np.empty((0, self.n_bands_))
            return np.stack([table[f] for f in fields[rows]])

        return SliceDict(
            stamps=stamps,
            zero_point=per_object(self.zero_points_),
            pixel_scale=per_object(self.pixel_scales_),
            field=np.asarray(fields[rows]),
        )

    def _warn_resampled_all_nan(self, catalog, rows, stamps, on_edge) -> None:
        """Warn about edge objects whose resampled stamps came out all NaN."""
        if self.size != "fwhm" or not rows.size:
            return
        empty = np.isnan(stamps).all(axis=(1, 2, 3)) & on_edge[rows]
        if not empty.any():
            return
        bad = rows[empty]
        names = ", ".join(str(catalog.index[i]) for i in bad[:5])
        warnings.warn(
            f"{bad.size} object(s) overlap the image edge but their stamps are all "
            f"NaN after resampling to output_size={self.output_size} (rows {names}"
            f"{'...' if bad.size > 5 else ''}): each output pixel covers input "
            "pixels off the image. Use off_edge='drop', or a larger output_size.",
            OffImageWarning,
            stacklevel=3,
        )

    def _apply_off_edge_policy(self, catalog, fields, x, y, sides, inside, touches):
        if inside.all():
            return
        bad = np.flatnonzero(~inside)
        if self.off_edge == "raise":
            i = int(bad[0])
            fid = fields[i]
            ny, nx = self.image_shapes_[fid]
            src = self.band_sources_[fid][0]
            where = src.describe()
            raise StampOverlapError(
                f"Object {catalog.index[i]} at (x, y)=({x[i]:.1f}, {y[i]:.1f}) with a "
                f"{sides[i]}x{sides[i]} stamp lies (partly) outside the {nx}x{ny} "
                f"image "
                f"{where}"
                + (f" ({len(bad)} objects in all)" if len(bad) > 1 else "")
                + "; check the catalog positions (origin, coords) or use "
                "off_edge='pad' or 'drop'."
            )
        if self.off_edge == "pad":
            off = np.flatnonzero(~touches)
            if off.size:
                rows = ", ".join(str(catalog.index[i]) for i in off[:5])
                warnings.warn(
                    f"{off.size} object(s) do not overlap their image at all (rows "
                    f"{rows}{'...' if off.size > 5 else ''}); their stamps are all "
                    "NaN. Check the positions' convention (origin, coords).",
                    OffImageWarning,
                    stacklevel=3,
                )

    def _extract_mapped(self, sources, x0, y0, side, out, dest) -> np.ndarray:
        """Cut plain big-endian float32 images through memory maps.

        Each band's file is memory-mapped and a compiled kernel copies every
        stamp's pixels from the mapped page-cache pages into ``out[dest]``,
        swapping the byte order on the way (one read and one write per pixel,
        no intermediate buffer). Objects are visited in strips of ``side``
        rows, by column within a strip, so that the image rows in use stay in
        the CPU caches. Bands are spread over ``n_jobs`` threads (the kernel
        releases the GIL).
        """
        from ._gather import NAN_BITS, gather_band_be32

        ny, nx = sources[0].shape
        order = np.lexsort((x0, np.floor_divide(y0, side)))
        ys = np.ascontiguousarray(y0[order], dtype=np.int64)
        xs = np.ascontiguousarray(x0[order], dtype=np.int64)
        ds = np.ascontiguousarray(dest[order], dtype=np.int64)
        words = out.view(np.uint32)

        def cut(band: int) -> None:
            mapped, image = _map_plain_band(sources[band], ny, nx)
            try:
                gather_band_be32(image, ys, xs, ds, band, side, words, NAN_BITS)
            finally:
                del image  # release the buffer before closing the map
                mapped.close()

        n_threads = min(int(effective_n_jobs(self.n_jobs)), len(sources))
        if n_threads <= 1:
            for band in range(len(sources)):
                cut(band)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(cut, range(len(sources))))
        return out

    def _extract(self, fid, x0, y0, side: int, out=None, dest=None) -> np.ndarray:
        """Stamps ``(m, n_bands, side, side)`` with given lower-left corners,
        written into ``out[dest]`` when given (no intermediate copy).

        Plain float32 images go through :meth:`_extract_mapped`. For the
        others (and where a file cannot be memory-mapped), objects are taken in order of ``y``; for each block of image rows all
        bands are read, then the stamps of the block's objects are gathered
        band by band into a small cache-resident buffer and written to the
        output object by object (all bands of an object are contiguous there).
        Objects overlapping an edge take a NaN-padded path of their own.
        """
        sources = self.band_sources_[fid]
        n_bands = len(sources)
        ny, nx = self.image_shapes_[fid]
        m = x0.size
        if out is None:
            out = np.empty((m, n_bands, side, side), dtype=np.float32)
            dest = np.arange(m)
        if all(
            s.path and s.raw_offset is not None and s.raw_dtype == ">f4"
            for s in sources
        ):
            try:
                return self._extract_mapped(sources, x0, y0, side, out, dest)
            except _MapUnavailableError:
                pass  # e.g. a file system without mmap: read rows instead
        order = np.argsort(y0, kind="stable")
        ys = y0[order]
        step = max(int(self.block_rows) - side, 1)
        handles: dict[str, Any] = {}

        raw_buffers: dict[int, np.ndarray] = {}
        whole_bands: dict[int, np.ndarray] = {}

        def read(b, src, r0, r1, c0, c1):
            if src.raw_offset is not None:
                # plain images: rows read straight into a reused buffer (no
                # memory-mapped page faults, no byte swapping here: the
                # gather below converts to float32 while copying)
                handle = handles.get(("raw", src.path))
                if handle is None:
                    handle = handles[("raw", src.path)] = open(src.path, "rb")
                buf = raw_buffers.get(b)
                if buf is None:
                    rows = min(max(int(self.block_rows), side), ny)
                    buf = raw_buffers[b] = np.empty((rows, nx), dtype=src.raw_dtype)
                return src.read_raw_rows(r0, r1, handle, buf)[:, c0:c1]
            hdul = None
            if src.path:
                hdul = handles.get(src.path)
                if hdul is None:
                    hdul = handles[src.path] = open_fits(src.path)
            if src.stream_compressed:
                # a gzip/bzip2 file reads forward only: the band is read whole,
                # once (seeking back would decompress the file again each time)
                whole = whole_bands.get(b)
                if whole is None:
                    whole = whole_bands[b] = src.read_rows(0, ny, hdul=hdul)
                return whole[r0:r1, c0:c1]
            return src.read_rows(r0, r1, c0, c1, hdul=hdul)

        try:
            i = 0
            while i < m:
                j = max(int(np.searchsorted(ys, ys[i] + step, side="left")), i + 1)
                idx = order[i:j]
                i = j
                bx0, by0 = x0[idx], y0[idx]
                r0, r1 = max(int(by0.min()), 0), min(int(by0.max()) + side, ny)
                c0, c1 = max(int(bx0.min()), 0), min(int(bx0.max()) + side, nx)
                blocks = [read(b, src, r0, r1, c0, c1) for b, src in enumerate(sources)]
                inside = (
                    (bx0 >= 0) & (by0 >= 0) & (bx0 + side <= nx) & (by0 + side <= ny)
                )
                inner = np.flatnonzero(inside)
                for b, blk in enumerate(blocks if inner.size else ()):
                    _gather_band(
                        blk,  # file byte order: cast while copying, no extra pass
                        (by0[inner] - r0).astype(np.int64),
                        (bx0[inner] - c0).astype(np.int64),
                        dest[idx[inner]].astype(np.int64),
                        b,
                        side,
                        out,
                    )
                for e in np.flatnonzero(~inside):  # NaN-padded edge objects
                    ya, xa = int(by0[e]), int(bx0[e])
                    ys0, ys1 = max(ya, 0), min(ya + side, ny)
                    xs0, xs1 = max(xa, 0), min(xa + side, nx)
                    stamp = np.full((n_bands, side, side), np.nan, np.float32)
                    for b in range(n_bands):
                        stamp[b, ys0 - ya : ys1 - ya, xs0 - xa : xs1 - xa] = blocks[b][
                            ys0 - r0 : ys1 - r0, xs0 - c0 : xs1 - c0
                        ]
                    out[dest[idx[e]]] = stamp
        finally:
            for handle in handles.values():
                handle.close()
        return out
