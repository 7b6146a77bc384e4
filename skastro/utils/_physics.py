"""The physics skastro's simulators and estimators share: one definition each.

- magnitudes and fluxes: :func:`mag_to_flux`, :func:`flux_to_mag`;
- surface-brightness profiles: Sérsic (:func:`sersic_b`,
  :func:`sersic_profile`, :func:`sersic_enclosed`, :func:`sersic_total_flux`,
  :func:`elliptical_radius`) and Moffat (:func:`moffat_alpha`,
  :func:`moffat_shape`, :func:`moffat_sb`, :func:`moffat_enclosed`);
- point-spread functions integrated over pixels: :func:`gaussian_psf`,
  :func:`gaussian_kernel`, :func:`moffat_psf`;
- the asinh stretch of Lupton et al. (1999): :func:`asinh_stretch`
  (public as :func:`skastro.stamps.asinh_stretch`).

Used by the image simulators (:mod:`skastro.datasets`), the photometry of
:class:`~skastro.lightcurves.LightCurveExtractor`, the detection filter of
:class:`~skastro.sources.SourceFeatures` and :class:`~skastro.stamps.Calibrator`.

Conventions: stamps are ``(..., height, width)`` arrays indexed ``[y, x]``;
pixel centres are at integer 0-based coordinates; the stamp centre is
``((size - 1) / 2, (size - 1) / 2)``; offsets ``dx, dy`` are in pixels;
position angles are in radians from +x towards +y. Radii and FWHMs share one
unit (pixels or arcsec) within a call. The formulas are written so that the
simulators' outputs do not depend on which caller evaluates them (the same
floating-point operations in the same order).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf, gammainc, gammaincinv
from scipy.special import gamma as gamma_fn

__all__ = [
    "FWHM_PER_SIGMA",
    "asinh_stretch",
    "elliptical_radius",
    "flux_to_mag",
    "gaussian_kernel",
    "gaussian_psf",
    "mag_to_flux",
    "moffat_alpha",
    "moffat_enclosed",
    "moffat_psf",
    "moffat_sb",
    "moffat_shape",
    "sersic_b",
    "sersic_enclosed",
    "sersic_profile",
    "sersic_total_flux",
]

#: FWHM of a Gaussian in units of its standard deviation, ``2 sqrt(2 ln 2)``.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


# --------------------------------------------------------------------------
# magnitudes and fluxes
# --------------------------------------------------------------------------
def mag_to_flux(mag, zero_point=0.0) -> np.ndarray:
    """Flux of magnitude ``mag``: ``10 ** (-0.4 (mag - zero_point))``.

    In the units whose magnitude is ``zero_point`` for a flux of 1 (ADU/s for
    a survey zero point, nanomaggies for 22.5); ``zero_point=0`` gives the
    flux ratio of a magnitude difference.
    """
    return 10 ** (-0.4 * (np.asarray(mag, dtype=float) - zero_point))


def flux_to_mag(flux, zero_point=0.0) -> np.ndarray:
    """Magnitude of ``flux`` (> 0): ``zero_point - 2.5 log10(flux)``.

    The inverse of :func:`mag_to_flux`; ``flux / area`` gives a surface
    brightness (mag per unit area).
    """
    return zero_point - 2.5 * np.log10(flux)


# --------------------------------------------------------------------------
# Sérsic profiles
# --------------------------------------------------------------------------
def sersic_b(n, exact=False):
    """Sérsic ``b_n``, the root of ``γ(2n, b_n) = Γ(2n)/2``.

    With it the half-light radius ``r_e`` holds half the flux. ``exact=False``:
    the Ciotti & Bertin (1999) asymptotic expansion
    ``b_n = 2n - 1/3 + 4/(405 n) + 46/(25515 n²)`` (relative error 7e-4 at
    n = 0.5, below 1e-4 for n ≥ 0.7, below 1e-6 for n ≥ 1), which the LSBG
    and HiTS simulators use; ``exact=True``: the root itself
    (``scipy.special.gammaincinv``), which the S-PLUS simulator uses. Each
    simulator keeps its choice so that its output under a given
    ``random_state`` does not change (a change of the profile in the last
    bits moves the noise realisation of a whole image).
    """
    if exact:
        return gammaincinv(2.0 * n, 0.5)
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def elliptical_radius(x, y, q, angle):
    """Elliptical radius ``sqrt(u² + (v/q)²)`` of offsets ``(x, y)``.

    ``u, v`` are the offsets along the major and minor axes of an ellipse of
    axis ratio ``q = b/a`` whose major axis is at position ``angle``
    (radians, from +x towards +y): the radius is the semi-major axis of the
    ellipse through the point. Arguments broadcast.
    """
    c, s = np.cos(angle), np.sin(angle)
    u = c * x + s * y
    v = -s * x + c * y
    return np.sqrt(u**2 + (v / q) ** 2)


def sersic_profile(r, r_e, n, *, exact_b=False):
    """Sérsic (1963) surface brightness over its value at ``r_e``.

    ``I(r) / I_e = exp(-b_n ((r / r_e)^(1/n) - 1))`` with ``b_n`` from
    :func:`sersic_b` (``exact=exact_b``); ``r`` (e.g.
    :func:`elliptical_radius`) and the half-light radius ``r_e`` in one
    unit. Arguments broadcast.
    """
    b = sersic_b(n, exact_b)
    return np.exp(-b * ((r / r_e) ** (1.0 / n) - 1.0))


def sersic_enclosed(r, r_e, n):
    """Fraction of a Sérsic profile's total flux within (elliptical) radius ``r``.

    ``γ(2n, b_n (r / r_e)^(1/n)) / Γ(2n)`` (Graham & Driver 2005).
    """
    return gammainc(2.0 * n, sersic_b(n) * (r / r_e) ** (1.0 / n))


def sersic_total_flux(r_e, n, q=1.0):
    """Total flux of a Sérsic profile with ``I_e = 1`` and semi-major axis ``r_e``.

    ``2π n q r_e² e^(b_n) Γ(2n) / b_n^(2n)`` (Graham & Driver 2005, for
    an ellipse of axis ratio ``q``), in units of ``I_e`` times area.
    """
    b = sersic_b(n)
    return 2 * np.pi * n * q * r_e**2 * np.exp(b) * gamma_fn(2 * n) / b ** (2 * n)


# --------------------------------------------------------------------------
# Moffat profiles
# --------------------------------------------------------------------------
def moffat_alpha(fwhm, beta):
    """Moffat (1969) core width ``α = FWHM / (2 sqrt(2^(1/β) - 1))``."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_shape(r2_scaled, beta):
    """Unnormalised Moffat profile ``(1 + (r/α)²)^-β`` of ``r2_scaled = (r/α)²``."""
    return (1 + r2_scaled) ** (-beta)


def moffat_sb(r2, fwhm, beta, flux=1.0):
    """Surface brightness of a circular Moffat (1969) profile of total ``flux``.

    ``I(r) = flux (β - 1) / (π α²) (1 + r²/α²)^-β`` at squared radius ``r2``,
    with ``α`` from :func:`moffat_alpha` (``r2`` in the squared unit of
    ``fwhm``; ``β > 1``). Arguments broadcast.
    """
    alpha = moffat_alpha(fwhm, beta)
    return flux * (beta - 1) / (np.pi * alpha**2) * moffat_shape(r2 / alpha**2, beta)


def moffat_enclosed(radius, fwhm, beta):
    """Fraction of a Moffat profile's flux within ``radius`` (unit of ``fwhm``).

    ``1 - (1 + (r/α)²)^(1 - β)``.
    """
    a = moffat_alpha(fwhm, beta)
    return 1.0 - (1.0 + (np.asarray(radius) / a) ** 2) ** (1.0 - beta)


# --------------------------------------------------------------------------
# PSFs on pixel grids
# --------------------------------------------------------------------------
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


def gaussian_kernel(fwhm: float, truncate: float = 2.5) -> np.ndarray:
    """Centred, pixel-integrated Gaussian kernel normalised to unit sum.

    Side ``2 h + 1`` pixels with ``h = max(1, ceil(truncate σ))`` and
    ``σ = fwhm / 2 sqrt(2 ln 2)`` (``fwhm`` in pixels): a convolution (e.g.
    detection) filter built from :func:`gaussian_psf`.
    """
    half = max(1, int(np.ceil(truncate * fwhm / FWHM_PER_SIGMA)))
    k = gaussian_psf(2 * half + 1, fwhm, 0.0, 0.0)
    return k / k.sum()


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

    :func:`moffat_sb` with ``FWHM = 2 α sqrt(2^(1/β) - 1)`` along the
    geometric mean of the axes; ``ellipticity`` ``e = 1 - b/a`` and position
    ``angle`` (radians, from +x towards +y) make it elliptical keeping the
    area. Arguments broadcast to a shape ``S``; returns ``S + (size, size)``,
    unit total flux over the infinite plane.
    """
    fwhm, dx, dy, beta, ellipticity, angle = np.broadcast_arrays(
        *(np.asarray(a, float) for a in (fwhm, dx, dy, beta, ellipticity, angle))
    )
    k = int(subsample)
    c = (size - 1) / 2.0
    sub = (np.arange(k) + 0.5) / k - 0.5
    coords = (np.arange(size)[:, None] + sub[None, :]).ravel() - c
    x = coords[None, :] - dx[..., None, None]
    y = coords[:, None] - dy[..., None, None]
    ca, sa = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    u = ca * x + sa * y
    v = -sa * x + ca * y
    q = 1.0 - ellipticity[..., None, None]
    r2 = u**2 * q + v**2 / q
    img = moffat_sb(r2, fwhm[..., None, None], beta[..., None, None]) / k**2
    return img.reshape(img.shape[:-2] + (size, k, size, k)).sum(axis=(-3, -1))


# --------------------------------------------------------------------------
# stretches
# --------------------------------------------------------------------------
def asinh_stretch(x: np.ndarray, softening: float) -> np.ndarray:
    """Lupton et al. (1999) asinh stretch, ``asinh(x / (2 b))``, as float32.

    Linear for ``|x| << b`` and logarithmic (magnitude-like) for ``|x| >> b``;
    ``b`` (``softening``) is in the units of ``x`` and broadcasts against it.
    """
    return np.arcsinh(x / (2.0 * softening)).astype(np.float32)
