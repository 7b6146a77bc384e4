"""SExtractor-like per-object features measured on stamps with ``sep``.

The baselines of Tanoglidis et al. (2021, §2.3, §4.2) are an SVM
and a random forest trained on 16 ``SourceExtractor`` parameters of each
candidate: its ellipticity, ``MAG_AUTO`` in three bands, the three colours
and the mean, central and effective surface brightness in three bands.
:class:`SourceFeatures` measures the same quantities on stamps with
``sep`` (Barbary 2016), the Python library of SExtractor's algorithms.
"""

from __future__ import annotations

from itertools import combinations
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..exceptions import InputLayoutError
from ..utils._params import Interval, validate_estimator_params
from ..utils._physics import flux_to_mag, gaussian_kernel
from ..utils._validation import check_stamps, split_stamps_input

__all__ = ["SourceFeatures"]


def _a(*values):
    """Values as 1-element float arrays (sep's aperture functions need arrays)."""
    return [np.array([v], dtype=float) for v in values]


def _robust_sigma(img: np.ndarray) -> float:
    """Pixel noise from the MAD of neighbour differences (ignores smooth light)."""
    d = np.diff(img, axis=1)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return 1.0
    mad = np.median(np.abs(d - np.median(d)))
    sigma = 1.4826 * mad / np.sqrt(2.0)
    if not sigma > 0:
        sigma = float(np.std(d)) / np.sqrt(2.0) or 1.0
    return float(sigma)


class SourceFeatures(TransformerMixin, BaseEstimator):
    """SExtractor-like features of the central object of each stamp (``sep``).

    For each stamp, the bands are combined into an inverse-variance-weighted
    detection image, which is filtered with a Gaussian of ``filter_fwhm``
    pixels and thresholded at ``detect_thresh`` times its noise
    (``sep.extract``, with SExtractor's deblending). The object whose
    footprint covers the stamp centre (else the detection nearest to it,
    within 5″) is the candidate; other objects' pixels are masked, as
    SExtractor does for ``MAG_AUTO``. Then, per band b:

    - ``mag_auto_b``: flux in the Kron ellipse of 2.5 Kron radii (at least
      3.5; Kron 1980, SExtractor ``PHOT_AUTOPARAMS 2.5, 3.5``),
      ``mag = zero_point − 2.5 log10 flux``;
    - ``mu_mean_b``: mean surface brightness over the isophotal footprint,
      ``MAG_ISO + 2.5 log10(area)`` (mag/arcsec²);
    - ``mu_central_b``: mean surface brightness within ``central_radius``
      of the centroid (a noise-robust ``MU_MAX``; mag/arcsec²);
    - ``mu_eff_b``: mean surface brightness within the half-light radius,
      ``mag_auto_b + 2.5 log10(2π r½_b²)`` with r½ from ``sep.flux_radius``
      in arcsec — the quantity of the seed's μ̄_eff(g) > 24.3 cut;

    plus the ``ellipticity`` 1 − b/a of the detection and the colours of
    every band pair from ``MAG_AUTO``. With the default three bands this is
    the 16 features of Tanoglidis et al. (2021, §2.3) (its g, r, i are our g, r, z).

    Fluxes below their 1σ error are replaced by the 1σ error (the
    magnitudes are then 1σ upper limits), so that every feature is finite
    and an SVM can use it. A stamp with no detection near the centre is
    measured in a circle of 3″ radius at the centre (``ellipticity`` 0).

    Parameters
    ----------
    bands : tuple of str, default=("g", "r", "z")
        Band names, in channel order; used in the feature names.
    pixel_scale : float, default=0.46875
        Stamp pixel scale in arcsec/pixel (30″ on 64 pixels, the cutouts of
        Tanoglidis et al. (2021) and :func:`~skastro.datasets.make_lsbg_stamps`).
    zero_point : float or array-like of shape (n_bands,), default=22.5
        AB zero point(s): ``mag = zero_point − 2.5 log10(sum of pixels)``
        (22.5 for pixels in nanomaggies).
    detect_thresh : float, default=1.5
        Detection threshold in units of the filtered detection image noise.
    minarea : int, default=10
        Minimum number of pixels of a detection.
    deblend_cont : float, default=0.005
        SExtractor's ``DEBLEND_MINCONT``.
    filter_fwhm : float, default=3.0
        FWHM (pixels) of the Gaussian detection filter.
    central_radius : float, default=1.0
        Radius (arcsec) of the aperture of ``mu_central``.
    include_radius : bool, default=False
        Append the half-light radius (arcsec, detection image) as a 17th
        feature ``r_half``; the seed's baselines do not use it.

    Attributes
    ----------
    n_bands_ : int
        Number of bands seen in ``fit``.
    stamp_shape_ : tuple of int
        ``(height, width)`` of the stamps seen in ``fit``.

    See Also
    --------
    skastro.nn.LSBGNet : The CNN these features are compared with.
    skastro.datasets.make_lsbg_stamps : Stamps to measure.

    Notes
    -----
    ``X`` is an array (n_objects, n_bands, height, width), channels first,
    or a mapping (e.g. :class:`skorch.helper.SliceDict`) holding it under
    ``"stamps"``. NaN pixels (off the image) are masked, not measured.

    Examples
    --------
    >>> from skastro.datasets import make_lsbg_stamps
    >>> from skastro.sources import SourceFeatures
    >>> X, y = make_lsbg_stamps(4, return_X_y=True, random_state=0)
    >>> SourceFeatures().fit_transform(X).shape
    (4, 16)
    """

    _parameter_constraints: dict = {
        "bands": [tuple, list],
        "pixel_scale": [Interval(Real, 0, None, closed="neither")],
        "zero_point": [Real, "array-like"],
        "detect_thresh": [Interval(Real, 0, None, closed="neither")],
        "minarea": [Interval(Integral, 1, None, closed="left")],
        "deblend_cont": [Interval(Real, 0, 1, closed="both")],
        "filter_fwhm": [Interval(Real, 0, None, closed="neither")],
        "central_radius": [Interval(Real, 0, None, closed="neither")],
        "include_radius": ["boolean"],
    }

    def __init__(
        self,
        bands=("g", "r", "z"),
        *,
        pixel_scale=30.0 / 64,
        zero_point=22.5,
        detect_thresh=1.5,
        minarea=10,
        deblend_cont=0.005,
        filter_fwhm=3.0,
        central_radius=1.0,
        include_radius=False,
    ):
        self.bands = bands
        self.pixel_scale = pixel_scale
        self.zero_point = zero_point
        self.detect_thresh = detect_thresh
        self.minarea = minarea
        self.deblend_cont = deblend_cont
        self.filter_fwhm = filter_fwhm
        self.central_radius = central_radius
        self.include_radius = include_radius

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        stamps, _ = split_stamps_input(X)
        n_bands = len(self.bands)
        stamps = check_stamps(stamps, n_bands=n_bands, allow_nan=True)
        if not reset and tuple(stamps.shape[-2:]) != self.stamp_shape_:
            raise InputLayoutError(
                f"X stamps are {stamps.shape[-2]}x{stamps.shape[-1]} pixels but "
                f"SourceFeatures was fitted on {self.stamp_shape_[0]}x"
                f"{self.stamp_shape_[1]} stamps."
            )
        all_nan = np.isnan(stamps).reshape(stamps.shape[0], -1).all(axis=1)
        if all_nan.any():
            raise InputLayoutError(
                f"X stamp(s) {np.flatnonzero(all_nan)[:5].tolist()} are entirely "
                "NaN (off the image); drop them before measuring features."
            )
        return stamps

    def fit(self, X, y=None):
        """Check the stamps and the parameters.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width)
            Stamps, channels first, in the flux units of ``zero_point``.
        y : ignored

        Returns
        -------
        self : SourceFeatures
        """
        validate_estimator_params(self)
        zp = np.broadcast_to(
            np.asarray(self.zero_point, dtype=float), (len(self.bands),)
        )
        if not np.all(np.isfinite(zp)):
            raise ValueError(f"zero_point must be finite; got {self.zero_point!r}.")
        stamps = self._check_X(X, reset=True)
        self.n_bands_ = stamps.shape[1]
        self.stamp_shape_ = tuple(stamps.shape[-2:])
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output features.

        Returns
        -------
        names : ndarray of str
            ``ellipticity``, ``mag_auto_<b>``, ``color_<b1>_<b2>``,
            ``mu_mean_<b>``, ``mu_central_<b>``, ``mu_eff_<b>`` (and ``r_half``).
        """
        check_is_fitted(self, "n_bands_")
        b = list(self.bands)
        names = ["ellipticity"]
        names += [f"mag_auto_{x}" for x in b]
        names += [f"color_{x}_{z}" for x, z in combinations(b, 2)]
        for kind in ("mu_mean", "mu_central", "mu_eff"):
            names += [f"{kind}_{x}" for x in b]
        if self.include_radius:
            names.append("r_half")
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        """X is stamps (n_objects, n_bands, h, w): scikit-learn's checks for 2-D tables do not apply."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.allow_nan = True
        return tags

    def transform(self, X) -> np.ndarray:
        """Measure the features of the central object of each stamp.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_bands, height, width)
            Stamps, channels first, in the flux units of ``zero_point``.

        Returns
        -------
        features : ndarray of shape (n_objects, n_features)
            Columns as :meth:`get_feature_names_out`; magnitudes in mag,
            surface brightnesses in mag/arcsec², ``r_half`` in arcsec.
        """
        check_is_fitted(self, "n_bands_")
        stamps = self._check_X(X, reset=False)
        zp = np.broadcast_to(np.asarray(self.zero_point, dtype=float), (self.n_bands_,))
        kernel = gaussian_kernel(self.filter_fwhm)
        out = np.empty((stamps.shape[0], len(self.get_feature_names_out())))
        for i in range(stamps.shape[0]):
            out[i] = self._measure(stamps[i], zp, kernel)
        return out

    # ------------------------------------------------------------------
    def _measure(self, stamp: np.ndarray, zp: np.ndarray, kernel) -> np.ndarray:
        """The feature row of one stamp (n_bands, ny, nx)."""
        import sep

        nan = ~np.isfinite(stamp)
        mask = nan.any(axis=0)
        data = np.where(nan, 0.0, stamp).astype(np.float64)
        sig = np.array([_robust_sigma(np.where(mask, np.nan, band)) for band in data])
        w = 1.0 / sig**2
        det = np.ascontiguousarray(
            np.tensordot(w, data, axes=1) / np.sqrt(w.sum())
        )  # unit noise
        src = self._candidate(det, mask, kernel)
        mags, mu_mean, mu_c, mu_eff = self._photometry(data, sig, zp, src)
        n_b = stamp.shape[0]
        colours = [mags[i] - mags[j] for i, j in combinations(range(n_b), 2)]
        row = [src["ell"], *mags, *colours, *mu_mean, *mu_c, *mu_eff]
        if self.include_radius:
            x, y, a, r_auto, kw = (src[k] for k in ("x", "y", "a", "r_auto", "kw"))
            flux_det, _, _ = sep.sum_ellipse(
                det, *src["ellipse"], r_auto, subpix=1, **kw
            )
            rh, _ = sep.flux_radius(
                det,
                *_a(x, y, max(r_auto * a, 2.0)),
                0.5,
                normflux=_a(max(float(flux_det[0]), 1e-12))[0],
                subpix=1,
                **kw,
            )
            rh = float(rh[0])
            row.append(
                float(np.clip(rh if np.isfinite(rh) else 1.0, 0.5, None))
                * self.pixel_scale
            )
        return np.asarray(row, dtype=float)

    def _candidate(self, det: np.ndarray, mask: np.ndarray, kernel) -> dict:
        """Detect on ``det`` (unit noise) and describe the central object.

        The object whose segment covers the stamp centre, else the detection
        nearest to it within 5″; without one, a circle of 3″ at the centre.
        Returns its centre ``x, y``, ellipse (``a``, ``b``, ``theta`` and the
        sep arguments ``ellipse``), ``ell``ipticity, Kron aperture ``r_auto``
        (in units of the ellipse), isophotal ``footprint`` and the sep
        segmentation keywords ``kw`` that mask the other objects.
        """
        import sep

        ny, nx = det.shape
        scale = self.pixel_scale
        cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
        try:
            objs, seg = sep.extract(
                det,
                self.detect_thresh,
                err=1.0,
                mask=mask if mask.any() else None,
                minarea=self.minarea,
                filter_kernel=kernel,
                deblend_cont=self.deblend_cont,
                segmentation_map=True,
            )
        except Exception:  # pragma: no cover - sep buffer overflows on odd stamps
            objs, seg = np.zeros(0), np.zeros((ny, nx), dtype=np.int32)
        idx = None
        if len(objs):
            sid = int(seg[int(round(cy)), int(round(cx))])
            if sid > 0:
                idx = sid - 1
            else:
                d = np.hypot(objs["x"] - cx, objs["y"] - cy)
                if d.min() * scale < 5.0:
                    idx = int(np.argmin(d))
        if idx is not None:
            o = objs[idx]
            x, y = float(o["x"]), float(o["y"])
            a, b_, th = (
                max(float(o["a"]), 0.5),
                max(float(o["b"]), 0.5),
                float(o["theta"]),
            )
            ell = 1.0 - b_ / a
            seg_id = idx + 1
            kron, _ = sep.kron_radius(
                det, *_a(x, y, a, b_, th), 6.0, seg_id=_a(seg_id)[0], segmap=seg
            )
            kron = float(kron[0]) if np.isfinite(kron[0]) and kron[0] > 0 else 1.0
            r_auto = max(2.5 * kron, 3.5)
            footprint = seg == seg_id
            kw = {"seg_id": np.array([seg_id], dtype=np.int32), "segmap": seg}
        else:
            x, y, th, ell = cx, cy, 0.0, 0.0
            r0 = 3.0 / scale
            a = b_ = r0 / 3.5
            r_auto = 3.5
            footprint = (
                np.hypot(*np.meshgrid(np.arange(nx) - x, np.arange(ny) - y)) < r0
            )
            kw = {}
        return {
            "x": x,
            "y": y,
            "a": a,
            "ell": ell,
            "ellipse": _a(x, y, a, b_, th),
            "r_auto": r_auto,
            "footprint": footprint,
            "kw": kw,
        }

    def _photometry(self, data, sig, zp, src) -> tuple[np.ndarray, ...]:
        """MAG_AUTO and mean, central and effective surface brightness per band."""
        import sep

        n_b = data.shape[0]
        scale = self.pixel_scale
        x, y, a, r_auto, kw = (src[k] for k in ("x", "y", "a", "r_auto", "kw"))
        footprint = src["footprint"]
        npix = max(int(footprint.sum()), 1)
        area_iso = npix * scale**2
        r_c = self.central_radius / scale
        mags = np.empty(n_b)
        mu_mean = np.empty(n_b)
        mu_c = np.empty(n_b)
        mu_eff = np.empty(n_b)
        for b in range(n_b):
            img = np.ascontiguousarray(data[b])
            flux, ferr, _ = sep.sum_ellipse(
                img, *src["ellipse"], r_auto, err=sig[b], subpix=1, **kw
            )
            flux = max(float(flux[0]), float(ferr[0]), 1e-12)
            mags[b] = flux_to_mag(flux, zp[b])
            rmax = max(r_auto * a, 2.0)
            rh, _ = sep.flux_radius(
                img, *_a(x, y, rmax), 0.5, normflux=_a(flux)[0], subpix=1, **kw
            )
            rh = float(rh[0])
            rh = float(np.clip(rh if np.isfinite(rh) else rmax, 0.5, rmax)) * scale
            mu_eff[b] = mags[b] + 2.5 * np.log10(2 * np.pi * rh**2)
            f_iso = float(img[footprint].sum())
            f_iso = max(f_iso, sig[b] * np.sqrt(npix))
            mu_mean[b] = flux_to_mag(f_iso / area_iso, zp[b])
            fc, fcerr, _ = sep.sum_circle(img, *_a(x, y), r_c, err=sig[b], subpix=5)
            fc = max(float(fc[0]), float(fcerr[0]), 1e-12)
            mu_c[b] = flux_to_mag(fc / (np.pi * self.central_radius**2), zp[b])
        return mags, mu_mean, mu_c, mu_eff
