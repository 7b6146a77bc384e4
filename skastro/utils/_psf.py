"""Pixel-integrated point-spread functions on stamp grids.

Shared by the image simulators (:mod:`skastro.datasets`) and the photometry
of :class:`~skastro.lightcurves.LightCurveExtractor`, so both use one
definition of a PSF, its centre and its normalisation.

Conventions: stamps are ``(..., size, size)`` arrays indexed ``[y, x]``;
pixel centres are at integer 0-based coordinates; the stamp centre is
``((size - 1) / 2, (size - 1) / 2)``; offsets ``dx, dy`` are in pixels.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

__all__ = ["FWHM_PER_SIGMA", "gaussian_psf", "moffat_psf"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def gaussian_psf(
    size: int | tuple[int, int], fwhm: np.ndarray, dx: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """Circular Gaussian PSFs integrated exactly over each pixel.

    Parameters
    ----------
    size : int or (int, int)
        Side of the square grid, or its ``(height, width)``, in pixels.
    fwhm : ndarray
        Full width at half maximum, pixels; any shape ``S``.
    dx, dy : ndarray of shape S
        Offset of the PSF centre from the grid centre, pixels.

    Returns
    -------
    psf : ndarray of shape S + (height, width)
        Fraction of the total flux falling in each pixel (sums to 1 over the
        infinite plane, to less on the grid).
    """
    fwhm, dx, dy = np.broadcast_arrays(
        np.asarray(fwhm, float), np.asarray(dx, float), np.asarray(dy, float)
    )
    h, w = (size, size) if np.isscalar(size) else size
    s2 = (np.sqrt(2.0) * fwhm / FWHM_PER_SIGMA)[..., None]

    def _axis(d: np.ndarray, m: int) -> np.ndarray:
        edges = np.arange(m + 1) - 0.5 - (m - 1) / 2.0
        return np.diff(0.5 * erf((edges - d[..., None]) / s2), axis=-1)

    return _axis(dy, h)[..., :, None] * _axis(dx, w)[..., None, :]


def moffat_psf(
    size: int,
    fwhm: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    beta: np.ndarray,
    ellipticity: np.ndarray | float = 0.0,
    angle: np.ndarray | float = 0.0,
    subsample: int = 4,
) -> np.ndarray:
    """Elliptical Moffat PSFs averaged over ``subsample``² points per pixel.

    ``I(r) = (β - 1) / (π α²) (1 + r²/α²)^-β`` with ``FWHM = 2 α sqrt(2^(1/β) - 1)``
    along the geometric mean of the axes; ``ellipticity`` ``e = 1 - b/a`` and
    position ``angle`` (radians, from +x towards +y) make it elliptical
    keeping the area. Arguments broadcast to a shape ``S``; returns
    ``S + (size, size)``, unit total flux over the infinite plane.
    """
    fwhm, dx, dy, beta, ellipticity, angle = np.broadcast_arrays(
        *(np.asarray(a, float) for a in (fwhm, dx, dy, beta, ellipticity, angle))
    )
    k = int(subsample)
    c = (size - 1) / 2.0
    sub = (np.arange(k) + 0.5) / k - 0.5
    coords = (np.arange(size)[:, None] + sub[None, :]).ravel() - c
    b = beta[..., None, None]
    alpha = (fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0)))[..., None, None]
    x = coords[None, :] - dx[..., None, None]
    y = coords[:, None] - dy[..., None, None]
    ca, sa = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    u = ca * x + sa * y
    v = -sa * x + ca * y
    q = 1.0 - ellipticity[..., None, None]
    r2 = (u**2 * q + v**2 / q) / alpha**2
    img = (b - 1.0) / (np.pi * alpha**2) * (1.0 + r2) ** (-b) / k**2
    return img.reshape(img.shape[:-2] + (size, k, size, k)).sum(axis=(-3, -1))
