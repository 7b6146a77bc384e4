"""Calibrator: photometric calibration and display/network stretches of stamps."""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..exceptions import CatalogError, InputLayoutError, SequenceError
from ..sequences import (
    SKY,
    STAMPS,
    ZERO_POINT,
    check_sequences,
    epoch_values,
)
from ..utils import check_stamps, split_stamps_input
from ..utils._params import Interval, StrOptions, validate_estimator_params
from ..utils._physics import asinh_stretch
from ..utils._validation import format_rows

__all__ = ["Calibrator", "asinh_stretch", "scale_to_reference"]


def scale_to_reference(
    stamps: Any,
    sky: Any,
    zero_point: Any,
    reference_zero_point: Any,
    *,
    mask: Any = None,
) -> np.ndarray:
    """Put epochs on the photometric scale of a reference epoch.

    Carrasco-Davis et al. (2019, eqs. 3.4-3.5)::

        x_norm = (x - sky_t) * 10 ** ((zp_ref - zp_t) / 2.5)

    computed in float64. This is ``Calibrator(method="reference")``'s
    formula; :class:`~skastro.nn.SequenceStream` calls it for one image.

    Parameters
    ----------
    stamps : array-like of shape (..., h, w)
        Pixels in ADU, sky not subtracted.
    sky : array-like of shape (...)
        Sky level per image, ADU/pixel.
    zero_point : array-like of shape (...)
        Zero point per image, mag.
    reference_zero_point : array-like broadcastable to (...)
        Zero point of the reference epoch, mag.
    mask : bool array-like of shape (...), optional
        Valid images; the others are multiplied by 0 (padding).

    Returns
    -------
    ndarray of shape (..., h, w), float32
        Sky-subtracted pixels in ADU at the reference zero point.
    """
    sky = np.asarray(sky, dtype=np.float64)
    factor = 10.0 ** (
        (
            np.asarray(reference_zero_point, dtype=np.float64)
            - np.asarray(zero_point, dtype=np.float64)
        )
        / 2.5
    )
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        sky = np.where(mask, sky, 0.0)
        factor = np.where(mask, factor, 0.0)
    pixels = np.asarray(stamps, dtype=np.float64)
    out = (pixels - sky[..., None, None]) * factor[..., None, None]
    return out.astype(np.float32)


def _per_object(table: np.ndarray, n: int, n_bands: int, what: str) -> np.ndarray:
    """A per-band ``(n_bands,)`` or per-object ``(n, n_bands)`` table as
    ``(n, n_bands)``; an error naming ``what`` for any other shape."""
    if table.ndim == 1 and table.shape[0] == n_bands:
        table = np.broadcast_to(table, (n, n_bands))
    if table.shape != (n, n_bands):
        raise InputLayoutError(
            f"{what} have shape {table.shape}; expected (n_objects, n_bands) = "
            f"({n}, {n_bands})."
        )
    return table


class Calibrator(TransformerMixin, BaseEstimator):
    """Calibrate stamps photometrically, optionally stretch them.

    Two calibrations are available:

    ``method="splus"`` (Martinazzo 2021, eq. 3.2) turns pixel values ``x``
    (ADU, or ADU/s) into fluxes::

        x_calib = 10 ** (5 - 0.4 zp) / ps ** 2 * x

    with ``zp`` the zero point of the pixel's (field, band) in magnitudes and
    ``ps`` the pixel scale in arcsec/pixel (0.55 for S-PLUS). Both come from
    the images' headers unless given: a :class:`FITSCropper` with
    ``zero_point_keyword`` set passes each band's zero point and WCS pixel
    scale in its :class:`skorch.helper.SliceDict`, and ``images`` (with
    ``zero_point_keyword``) reads them from the files here. Nothing is
    guessed: when neither the input, ``images`` nor the parameters give them,
    ``fit`` raises.

    ``method="reference"`` (Carrasco-Davis et al. 2019, eqs. 3.4–3.5) puts the
    epochs of an image sequence on the photometric scale of a reference epoch
    after subtracting the sky::

        x_norm = (x - sky_t) * 10 ** ((zp_ref - zp_t) / 2.5)

    with the reference the earliest valid epoch of each sequence
    (``reference_epoch=0``; :func:`scale_to_reference`). The input is a
    sequence set (:mod:`skastro.sequences`) with keys ``"stamps"``
    ``(n_objects, n_epochs, h, w)``, ``"sky"`` ``(n_objects, n_epochs)`` in
    ADU/pixel and ``"zero_point"`` ``(n_objects, n_epochs)`` in mag, finite
    at every valid epoch; an optional ``"mask"`` marks valid epochs
    (padded epochs stay 0) and an optional ``"mjd"`` orders them in time.
    A malformed sequence set raises
    :class:`~skastro.exceptions.SequenceError`.

    Parameters
    ----------
    zero_point : "header", float, array-like or pandas.DataFrame, default="header"
        Zero points in magnitudes. ``"header"``: from the ``"zero_point"`` key
        of a SliceDict input (as :class:`FITSCropper` gives with
        ``zero_point_keyword`` set), or else from the headers of ``images``
        under ``zero_point_keyword``; a float for all bands; an array
        ``(n_bands,)`` per band; or a table with columns ``field``, ``band``
        (band index or name, see ``band_names``) and ``zero_point``, looked up
        with the ``"field"`` key of the input. Ignored by
        ``method="reference"``, which reads ``"zero_point"`` per epoch.
    pixel_scale : "header", float or array-like, default="header"
        Pixel scale ``ps`` in arcsec/pixel. ``"header"``: from the
        ``"pixel_scale"`` key of a SliceDict input (FITSCropper reads it from
        the WCS, :func:`astropy.wcs.utils.proj_plane_pixel_scales`), or else
        from the WCS of ``images``; a float for all bands (S-PLUS: 0.55) or
        an array ``(n_bands,)``. Used by ``method="splus"`` only.
    images : str, path-like, list of path-like or dict, default=None
        The FITS images the stamps were cut from (the ``images`` of
        :class:`FITSCropper`: a file, one file per band, or a dict mapping
        field ids to those, looked up with the ``"field"`` key of the
        input), to read ``zero_point="header"`` and ``pixel_scale="header"``
        from when the input is a plain array or lacks those keys.
    zero_point_keyword : str, default=None
        Header keyword of the zero point in ``images`` (e.g. ``"ZP"``,
        ``"MAGZP"``, ``"PHOTZP"``).
    method : {"splus", "reference", "none"}, default="splus"
        The calibration (see above); ``"none"`` only stretches.
    reference_epoch : int, default=0
        Index of the reference among each sequence's valid epochs, in time
        order (array order without ``"mjd"``).
    stretch : {None, "asinh"}, default=None
        Optional stretch applied after calibration (:func:`asinh_stretch`).
    asinh_softening : float, default=None
        Softening ``b`` of the asinh stretch in calibrated units; None uses,
        per band, the median absolute deviation of the stamps' pixels seen in
        ``fit`` (about the sky noise), so faint sky stays linear.
    clip_percentiles : (float, float), default=None
        If set, clip each band to these percentiles of the pixels seen in
        ``fit`` (after calibration and stretch), e.g. ``(0.5, 99.5)``.
    band_names : list of str, default=None
        Band names, to look up a zero-point table by name.

    Attributes
    ----------
    n_bands_ : int
        Number of bands (or epochs) of the stamps seen in ``fit``.
    softening_ : ndarray of shape (n_bands,)
        The asinh softening used per band (``stretch="asinh"``).
    clip_limits_ : ndarray of shape (n_bands, 2)
        Lower and upper clipping limits per band (``clip_percentiles`` set).
    image_zero_points_, image_pixel_scales_ : dict
        ``field -> ndarray (n_bands,)`` read from ``images`` (zero points in
        mag, pixel scales in arcsec/pixel, NaN without a WCS); the field is
        None for a single field. Only when ``images`` is set.

    See Also
    --------
    FITSCropper : cuts the stamps and reads zero points from headers.

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.stamps import Calibrator
    >>> stamps = np.ones((2, 3, 4, 4), dtype=np.float32)
    >>> cal = Calibrator(zero_point=[20.0, 21.0, 22.0], pixel_scale=0.55)
    >>> cal.fit_transform(stamps)[0, :, 0, 0]
    array([0.00330579, 0.00131606, 0.00052393], dtype=float32)
    """

    _parameter_constraints: dict = {
        "zero_point": [StrOptions({"header"}), Real, "array-like", pd.DataFrame],
        "pixel_scale": [StrOptions({"header"}), Real, "array-like"],
        "images": [str, os.PathLike, list, tuple, dict, None],
        "zero_point_keyword": [str, None],
        "method": [StrOptions({"splus", "reference", "none"})],
        "reference_epoch": [Interval(Integral, 0, None, closed="left")],
        "stretch": [StrOptions({"asinh"}), None],
        "asinh_softening": [Interval(Real, 0, None, closed="neither"), None],
        "clip_percentiles": [tuple, list, None],
        "band_names": [list, tuple, None],
    }

    def __init__(
        self,
        *,
        zero_point="header",
        pixel_scale="header",
        images=None,
        zero_point_keyword=None,
        method="splus",
        reference_epoch=0,
        stretch=None,
        asinh_softening=None,
        clip_percentiles=None,
        band_names=None,
    ):
        self.zero_point = zero_point
        self.pixel_scale = pixel_scale
        self.images = images
        self.zero_point_keyword = zero_point_keyword
        self.method = method
        self.reference_epoch = reference_epoch
        self.stretch = stretch
        self.asinh_softening = asinh_softening
        self.clip_percentiles = clip_percentiles
        self.band_names = band_names

    # -------------------------------------------------------------- helpers
    def _zero_points(self, meta: dict, n: int, n_bands: int) -> np.ndarray:
        """Zero points ``(n, n_bands)`` for ``method="splus"``."""
        zp = self.zero_point
        if isinstance(zp, str):  # "header"
            if "zero_point" in meta:
                table = np.asarray(meta["zero_point"], dtype=float)
            elif getattr(self, "image_zero_points_", None) is not None:
                table = self._from_images(
                    self.image_zero_points_, meta, n, "zero_point"
                )
            else:
                raise InputLayoutError(
                    "zero_point='header' needs X to be a SliceDict with a "
                    "'zero_point' key (n_objects, n_bands), as FITSCropper gives with "
                    "zero_point_keyword set, or images= and zero_point_keyword= to "
                    "read them from the files; or pass zero_point= a number, an "
                    "array per band, or a table."
                )
        elif isinstance(zp, pd.DataFrame):
            table = self._zero_points_from_table(zp, meta, n, n_bands)
        else:
            table = np.asarray(zp, dtype=float)
            if table.ndim == 0:
                table = np.full(n_bands, float(table))
            if table.ndim != 1 or table.shape[0] != n_bands:
                raise InputLayoutError(
                    f"zero_point has shape {table.shape}, but the stamps have "
                    f"{n_bands} "
                    "band(s); give one zero point per band."
                )
        table = _per_object(table, n, n_bands, "zero points")
        if not np.isfinite(table).all():
            raise InputLayoutError(
                "zero points contain NaN or inf; every (field, band) needs one."
            )
        return table

    def _pixel_scales(self, meta: dict, n: int, n_bands: int) -> np.ndarray:
        """Pixel scales ``(n, n_bands)`` in arcsec/pixel for ``method="splus"``."""
        ps = self.pixel_scale
        if isinstance(ps, str):  # "header"
            if "pixel_scale" in meta:
                table = np.asarray(meta["pixel_scale"], dtype=float)
                source = "the input's 'pixel_scale' (from the images' WCS)"
            elif getattr(self, "image_pixel_scales_", None) is not None:
                table = self._from_images(self.image_pixel_scales_, meta, n, "pixel")
                source = "the WCS of images"
            else:
                raise InputLayoutError(
                    "Calibrator(method='splus') needs the pixel scale (arcsec/pixel) "
                    "and will not guess it: X carries none (FITSCropper puts each "
                    "band's WCS pixel scale in its SliceDict when zero_point_keyword "
                    "is set) and images= is not set. Pass pixel_scale=0.55 for "
                    "S-PLUS (or your survey's scale), or images= to read the WCS."
                )
            if not (np.isfinite(table) & (table > 0)).all():
                raise InputLayoutError(
                    f"The pixel scale is unknown for some bands: {source} has no "
                    "celestial WCS there. Pass pixel_scale= (arcsec/pixel) per band."
                )
        else:
            table = np.asarray(ps, dtype=float)
            if table.ndim == 0:
                table = np.full(n_bands, float(table))
            if (
                table.shape != (n_bands,)
                or not (np.isfinite(table) & (table > 0)).all()
            ):
                raise InputLayoutError(
                    f"pixel_scale must be positive (arcsec/pixel), one value or one "
                    f"per band ({n_bands}); got {self.pixel_scale!r}."
                )
        table = _per_object(table, n, n_bands, "pixel scales")
        return table

    def _from_images(self, per_field: dict, meta: dict, n: int, what: str):
        """Per-object rows of a ``field -> (n_bands,)`` table read from images."""
        if list(per_field) == [None]:
            return per_field[None]
        if "field" not in meta:
            raise InputLayoutError(
                f"images is a dict of fields, so the {what} is looked up by field: X "
                "must be a SliceDict with a 'field' key (FITSCropper gives one)."
            )
        fields = np.asarray(meta["field"])
        unknown = sorted(
            {f.item() if isinstance(f, np.generic) else f for f in pd.unique(fields)}
            - set(per_field),
            key=str,
        )
        if unknown:
            raise CatalogError(
                f"X['field'] has field id(s) {unknown[:10]} that images does not "
                f"have; images has fields {list(per_field)}."
            )
        if not n:
            return np.empty((0, len(next(iter(per_field.values())))))
        return np.stack([per_field[f] for f in fields])

    def _read_images(self) -> None:
        """Zero points and pixel scales of ``images`` (set in ``fit``)."""
        from ._fits import header_pixel_scales, header_zero_points, resolve_image_spec

        self.image_zero_points_ = self.image_pixel_scales_ = None
        if self.images is None:
            return
        specs = (
            dict(self.images)
            if isinstance(self.images, Mapping)
            else {None: self.images}
        )
        zps, scales = {}, {}
        for fid, spec in specs.items():
            name = "images" if fid is None else f"images[{fid!r}]"
            sources = resolve_image_spec(spec, name=name)
            scales[fid] = header_pixel_scales(sources)
            if self.zero_point_keyword is not None:
                zps[fid] = header_zero_points(sources, self.zero_point_keyword)
        self.image_pixel_scales_ = scales
        if self.zero_point_keyword is not None:
            self.image_zero_points_ = zps
        elif isinstance(self.zero_point, str) and self.method == "splus":
            raise ValueError(
                "images is set and zero_point='header': set zero_point_keyword to "
                "the header keyword of the zero point (e.g. 'ZP', 'MAGZP', "
                "'PHOTZP'), or pass zero_point= yourself."
            )

    def _zero_points_from_table(self, table, meta, n, n_bands) -> np.ndarray:
        needed = ["field", "band", "zero_point"]
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise CatalogError(
                f"The zero-point table lacks column(s) {missing}; it needs {needed}."
            )
        if "field" not in meta:
            raise InputLayoutError(
                "A zero-point table is looked up by field: X must be a SliceDict with "
                "a 'field' key (FITSCropper gives one with zero_point_keyword set)."
            )
        names = list(self.band_names) if self.band_names is not None else None
        lookup: dict = {}
        for f, b, z in zip(table["field"], table["band"], table["zero_point"]):
            if isinstance(b, str):
                if names is None or b not in names:
                    raise CatalogError(
                        f"The zero-point table names band {b!r}; set band_names to "
                        "the bands' names in order to look it up."
                    )
                b = names.index(b)
            lookup[(f, int(b))] = float(z)
        fields = np.asarray(meta["field"])
        out = np.empty((n, n_bands))
        for f in pd.unique(fields):
            rows = fields == f
            for b in range(n_bands):
                if (f, b) not in lookup:
                    raise CatalogError(
                        f"The zero-point table has no entry for field {f!r}, band {b}."
                    )
                out[rows, b] = lookup[(f, b)]
        return out

    def _calibrate(self, X) -> np.ndarray:
        if self.method == "reference":
            return self._reference(X)
        stamps, meta = split_stamps_input(X)
        stamps = check_stamps(stamps, name="stamps")
        n, n_bands = stamps.shape[:2]
        if self.method == "none":
            return stamps.copy()
        zp = self._zero_points(meta, n, n_bands)  # method == "splus"
        ps = self._pixel_scales(meta, n, n_bands)
        factor = 10.0 ** (5.0 - 0.4 * zp) / ps**2
        return (stamps * factor[:, :, None, None]).astype(np.float32)

    def _reference(self, X) -> np.ndarray:
        """``method="reference"`` on a sequence set (:mod:`skastro.sequences`)."""
        checked = check_sequences(
            X,
            required=(STAMPS, SKY, ZERO_POINT),
            finite=(SKY, ZERO_POINT),
            caller="Calibrator(method='reference')",
        )
        short = np.flatnonzero(checked.n_valid <= self.reference_epoch)
        if short.size:
            raise SequenceError(
                f"Sequence(s) {format_rows(short)} have "
                f"{checked.n_valid[short[0]]} valid epoch(s); the reference epoch "
                f"reference_epoch={self.reference_epoch} does not exist there. Drop "
                "them or choose an earlier reference epoch."
            )
        shape = checked.mask.shape
        zp = epoch_values(X, ZERO_POINT, shape)
        rows = np.arange(shape[0])
        zp_ref = zp[rows, checked.order[:, self.reference_epoch]]
        return scale_to_reference(
            checked.stamps,
            epoch_values(X, SKY, shape),
            zp,
            zp_ref[:, None],
            mask=checked.mask,
        )

    # ------------------------------------------------------------- estimator
    def fit(self, X, y=None):
        """Learn the stretch's softening and clipping limits (if any).

        Parameters
        ----------
        X : ndarray (n_objects, n_bands, h, w) or SliceDict
            Stamps, or stamps with metadata (see the class docstring).
        y : ignored

        Returns
        -------
        self : Calibrator
        """
        validate_estimator_params(self)
        self._read_images()
        calibrated = self._calibrate(X)
        self.n_bands_ = calibrated.shape[1]
        if self.stretch == "asinh":
            if self.asinh_softening is not None:
                self.softening_ = np.full(self.n_bands_, float(self.asinh_softening))
            else:
                flat = calibrated.transpose(1, 0, 2, 3).reshape(self.n_bands_, -1)
                med = np.nanmedian(flat, axis=1, keepdims=True)
                mad = 1.4826 * np.nanmedian(np.abs(flat - med), axis=1)
                scale = np.nanmax(np.abs(flat), axis=1)
                fallback = np.where(scale > 0, 1e-3 * scale, 1.0)
                self.softening_ = np.where(np.isfinite(mad) & (mad > 0), mad, fallback)
            calibrated = self._stretch(calibrated)
        if self.clip_percentiles is not None:
            lo, hi = self.clip_percentiles
            if not 0 <= lo < hi <= 100:
                raise ValueError(
                    "clip_percentiles must be (low, high) with 0 <= low < high <= "
                    f"100; got {self.clip_percentiles!r}."
                )
            flat = calibrated.transpose(1, 0, 2, 3).reshape(self.n_bands_, -1)
            self.clip_limits_ = np.nanpercentile(flat, [lo, hi], axis=1).T
        return self

    def _stretch(self, x: np.ndarray) -> np.ndarray:
        b = self.softening_[None, :, None, None]
        return asinh_stretch(x, b)

    def transform(self, X) -> np.ndarray:
        """Calibrate (and stretch, clip) the stamps.

        Parameters
        ----------
        X : ndarray (n_objects, n_bands, h, w) or SliceDict

        Returns
        -------
        stamps : ndarray (n_objects, n_bands, h, w), float32
            Calibrated stamps; NaN pixels stay NaN.
        """
        check_is_fitted(self)
        calibrated = self._calibrate(X)
        if calibrated.shape[1] != self.n_bands_:
            raise InputLayoutError(
                f"X has {calibrated.shape[1]} band(s) but the Calibrator was fitted "
                f"on {self.n_bands_}."
            )
        if self.stretch == "asinh":
            calibrated = self._stretch(calibrated)
        if self.clip_percentiles is not None:
            lo = self.clip_limits_[:, 0][None, :, None, None]
            hi = self.clip_limits_[:, 1][None, :, None, None]
            calibrated = np.clip(calibrated, lo, hi).astype(np.float32)
        return calibrated

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # stamps (n, bands, h, w)
        tags.input_tags.dict = True  # stamps with metadata, sequence sets
        tags.input_tags.allow_nan = True
        return tags
