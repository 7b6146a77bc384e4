"""Simulated S-PLUS-like 12-band fields written as FITS files, with their catalog.

The physics (filters, depths, zero points, PSF, spectral energy distributions)
follows Mendes de Oliveira et al. (2019) and Martinazzo et al. (2021, §3.2,
§4.2); every choice is listed in ``docs/user_guide/datasets.rst``.

Pixel values are sky-subtracted count rates in ADU/s, so that the magnitude of
an object is ``mag = ZP - 2.5 log10(sum of its pixel values)`` with ``ZP`` the
zero point written in the band's FITS header (Martinazzo et al. 2021, footnote 5: the zero
point is the magnitude that yields one count per second).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS
from scipy import fft as sp_fft
from sklearn.utils import check_random_state

from ..utils._deprecation import renamed_params
from ..utils._physics import (
    elliptical_radius,
    flux_to_mag,
    mag_to_flux,
    moffat_alpha,
    moffat_enclosed,
    moffat_sb,
    moffat_shape,
    sersic_profile,
)

__all__ = ["SPLUS_BANDS", "make_splus_field", "make_splus_survey"]

#: The 12 S-PLUS filters in wavelength order (Martinazzo et al. (2021) names the narrow bands
#: F378 ... F861; Mendes de Oliveira et al. 2019 call them J0378 ... J0861).
SPLUS_BANDS: tuple[str, ...] = (
    "u",
    "F378",
    "F395",
    "F410",
    "F430",
    "g",
    "F515",
    "r",
    "F660",
    "i",
    "F861",
    "z",
)

#: Central wavelength and FWHM width of each filter, Angstrom (SPEC §3).
_FILTER_CENTRE = np.array(
    [3536, 3770, 3940, 4094, 4292, 4751, 5133, 6258, 6614, 7690, 8611, 8831],
    dtype=float,
)
_FILTER_WIDTH = np.array(
    [352, 151, 103, 201, 201, 1545, 207, 1465, 147, 1503, 410, 1232], dtype=float
)
#: Total exposure time of a field per band, seconds (S-PLUS DR1 main survey).
_EXPTIME = np.array(
    [681, 660, 354, 177, 171, 99, 183, 120, 870, 138, 240, 168], dtype=float
)
#: Number of dithered exposures per band (saturation is per exposure).
_N_EXPOSURES = 3
#: Point-source depth, AB mag at S/N = 3 in a 3-arcsec-diameter aperture.
_DEPTH = np.array(
    [20.9, 20.8, 20.6, 20.8, 20.8, 21.3, 20.9, 21.3, 21.0, 20.9, 20.2, 19.9]
)
#: Total system throughput (atmosphere, mirrors, filter, CCD QE) per band.
_THROUGHPUT = np.array(
    [0.16, 0.22, 0.30, 0.38, 0.40, 0.50, 0.50, 0.52, 0.52, 0.42, 0.32, 0.30]
)
_GAIN = 0.95  # e-/ADU
_DETECTION_SNR = 1.0  # magnitudes below this S/N are NaN (undetected)
_PIXEL_SCALE = 0.55  # arcsec/pixel
_COLLECTING_AREA = 0.40  # m^2, T80 (0.83 m primary minus obstruction)
_SATURATION_ADU = 65535.0  # per single exposure
_FULL_SHAPE = (9216, 9232)  # (ny, nx) of a real S-PLUS field
_R_INDEX = SPLUS_BANDS.index("r")

_LAYOUTS = ("files", "mef", "cube", "compressed")
_CLASSES = ("STAR", "GALAXY", "QSO")
_FIELD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

# photoflag bits (SExtractor FLAGS convention, Martinazzo et al. (2021, §4.2) footnote 2)
FLAG_NEIGHBOURS = 1  # >10 % of the aperture flux comes from neighbours
FLAG_BLENDED = 2  # another object's centre lies inside the aperture
FLAG_SATURATED = 4  # at least one pixel reaches the saturation level
FLAG_TRUNCATED = 8  # the aperture crosses the image border

# observed-frame wavelength grid for the SEDs, Angstrom
_LAM_STEP = 4.0
_LAM = np.arange(3000.0, 10500.0, _LAM_STEP)
_C_KMS = 299792.458


# --------------------------------------------------------------------------
# filters and magnitudes
# --------------------------------------------------------------------------
def _filter_curves(lam: np.ndarray) -> np.ndarray:
    """Idealised flat-topped transmissions, shape (12, n_lambda), peak 1.

    ``T = exp(-ln 2 |(lam - centre) / (width / 2)|**6)``: 50 % at
    ``centre ± width/2``, steep edges like interference filters.
    """
    u = (lam[None, :] - _FILTER_CENTRE[:, None]) / (_FILTER_WIDTH[:, None] / 2)
    return np.exp(-np.log(2.0) * np.abs(u) ** 6)


_TRANS = _filter_curves(_LAM)
# weights so that <f_nu>_b = sum_l f_nu(l) W[l, b]  (photon-counting AB mean)
_W = (_TRANS / _LAM[None, :]).T
_W = _W / _W.sum(axis=0, keepdims=True)


def _zero_points() -> np.ndarray:
    """Zero points (AB mag giving 1 ADU/s), from collecting area and throughput.

    Photon rate of an AB = 0 source: 3631 Jy * 1.51e7 photons/s/m^2/Jy per
    unit d(lambda)/lambda.
    """
    photons = 3631.0 * 1.51e7 * _COLLECTING_AREA * _THROUGHPUT
    photons = photons * _FILTER_WIDTH / _FILTER_CENTRE  # photons/s at mag 0
    return 2.5 * np.log10(photons / _GAIN)


_ZP0 = _zero_points()


def _band_magnitudes(flam: np.ndarray, lam: np.ndarray = _LAM) -> np.ndarray:
    """AB colours relative to r of SEDs ``flam`` (n, n_lambda): (n, 12) mags."""
    fnu = np.clip(flam, 0.0, None) * lam[None, :] ** 2
    mean_fnu = fnu @ _W
    mean_fnu = np.clip(mean_fnu, 1e-30 * mean_fnu.max(axis=1, keepdims=True), None)
    mags = flux_to_mag(mean_fnu)
    return mags - mags[:, [_R_INDEX]]


def _extinction(lam: np.ndarray) -> np.ndarray:
    """A_lambda / E(B-V): power law matching SDSS u, g, r (Schlafly & Finkbeiner)."""
    return 2.285 * (6258.0 / lam) ** 1.1


# --------------------------------------------------------------------------
# spectral energy distributions (f_lambda, arbitrary units, observed frame)
# --------------------------------------------------------------------------
def _gauss(lam: np.ndarray, centre, sigma) -> np.ndarray:
    """Unit-area Gaussian line profiles; broadcasting (n, L) with (n, 1).

    Widths below the grid step are raised to it: that keeps each line's
    integrated flux exact and does not change filter-integrated magnitudes.
    """
    sigma = np.maximum(sigma, _LAM_STEP)
    z = (lam - centre) / sigma
    return np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * sigma)


def _add_line(flux, lam_rest, cont_at_line, centre, ew, sigma):
    """Add a line of rest equivalent width ``ew`` (Å, <0 = absorption)."""
    return flux + (ew * cont_at_line)[:, None] * _gauss(
        lam_rest, centre, np.asarray(sigma, dtype=float).reshape(-1, 1)
    )


def _planck(lam: np.ndarray, temp) -> np.ndarray:
    """Planck B_lambda shape (arbitrary units), lam in Å, temp in K."""
    x = 1.4388e8 / (lam * temp)  # hc / (lambda k T), lambda in Å
    return lam**-5.0 / np.expm1(np.clip(x, 1e-6, 700.0))


def _star_seds(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict]:
    """Stellar SEDs: black body + Balmer jump + metal/Balmer/molecular absorption."""
    comp = rng.choice(4, size=n, p=[0.08, 0.55, 0.25, 0.12])  # A/F-G/K/M
    logt = np.select(
        [comp == 0, comp == 1, comp == 2],
        [
            rng.normal(np.log10(8500), 0.05, n),
            rng.normal(np.log10(6000), 0.05, n),
            rng.normal(np.log10(4500), 0.04, n),
        ],
        rng.normal(np.log10(3500), 0.03, n),
    )
    temp = np.clip(10**logt, 2900.0, 20000.0)
    feh = np.clip(rng.normal(-0.7, 0.5, n), -2.5, 0.4)  # [Fe/H], dex
    lam = _LAM[None, :]
    cont = _planck(lam, temp[:, None])
    # UV line blanketing (metal lines), stronger for cool and metal-rich stars
    cool = np.clip((7500.0 - temp) / 3500.0, 0.0, 1.0)
    k_uv = (0.15 + 0.9 * cool) * 10 ** (0.35 * feh)
    cont = cont * np.exp(-k_uv[:, None] * np.clip((4300.0 - lam) / 1000.0, 0, None))
    # Balmer jump at 3646 Å, strongest in A stars
    jump = 0.55 * np.exp(-0.5 * ((logt - 3.95) / 0.07) ** 2)
    cont = cont * (1.0 - jump[:, None] / (1.0 + np.exp((lam - 3646.0) / 15.0)))
    flux = cont / _planck(np.array([5500.0]), temp)[:, None]
    # local continuum (after blanketing and Balmer jump) at each line centre
    cont_at = {
        lc: flux[:, np.searchsorted(_LAM, lc)]
        for lc in (3934, 3969, 4102, 4300, 4341, 4861, 5175, 5893, 6563, 8542)
    }
    balmer_ew = 1.5 + 11.0 * np.exp(-0.5 * ((logt - 3.96) / 0.08) ** 2)
    for lc, scale in ((4102, 1.0), (4341, 1.0), (4861, 0.9), (6563, 0.8)):
        flux = _add_line(flux, lam, cont_at[lc], lc, -balmer_ew * scale, 12.0)
    metal = 10 ** (0.4 * feh)
    hk = (1.5 + 16.0 * cool) * metal
    flux = _add_line(flux, lam, cont_at[3934], 3934.0, -hk, 7.0)
    flux = _add_line(flux, lam, cont_at[3969], 3969.0, -0.8 * hk, 7.0)
    flux = _add_line(flux, lam, cont_at[4300], 4300.0, -7.0 * cool * metal, 14.0)
    flux = _add_line(flux, lam, cont_at[5175], 5175.0, -8.0 * cool * metal, 15.0)
    flux = _add_line(flux, lam, cont_at[5893], 5893.0, -4.0 * cool * metal, 6.0)
    cat = 1.0 + 3.0 * cool * metal  # Ca II triplet, three lines 8498-8662
    for lc in (8498.0, 8542.0, 8662.0):
        flux = _add_line(flux, lam, cont_at[8542], lc, -cat, 3.0)
    # TiO bands of M dwarfs
    tio = 0.6 * np.clip((4000.0 - temp) / 700.0, 0.0, 1.0)
    for lo, hi in (
        (4950, 5200),
        (5450, 5800),
        (6150, 6300),
        (7050, 7600),
        (8430, 8700),
    ):
        band = (
            1.0 / (1.0 + np.exp(-(lam - lo) / 8.0)) / (1.0 + np.exp((lam - hi) / 8.0))
        )
        flux = flux * (1.0 - tio[:, None] * band)
    info = {"redshift": np.zeros(n)}
    return np.clip(flux, 0.0, None), info


def _value_at(flux, lam_rest, centre):
    """Each row's value of ``flux`` at rest wavelength ``centre`` (nearest sample)."""
    n = flux.shape[0]
    idx = np.empty(n, dtype=np.intp)
    for i in range(n):  # rows have different rest-frame grids
        idx[i] = np.searchsorted(lam_rest[i], centre)
    idx = np.clip(idx, 0, flux.shape[1] - 1)
    return flux[np.arange(n), idx]


def _old_continuum(lam_rest):
    """Passive population continuum: cool black body, D4000 ~ 2, UV blanketing."""
    old = _planck(lam_rest, 4300.0) / _planck(np.array([5500.0]), 4300.0)
    old = old * (1.0 - 0.55 / (1.0 + np.exp((lam_rest - 4000.0) / 25.0)))
    return old * np.exp(-0.6 * np.clip((3700.0 - lam_rest) / 1000.0, 0.0, None))


def _galaxy_rest_template(lam_rest, young, rng, n):
    """Rest-frame galaxy SED: old (4000 Å break) + young (blue, emission lines)."""
    old = _old_continuum(lam_rest)
    for lc, ew, sig in (
        (3934.0, -9.0, 8.0),
        (3969.0, -8.0, 8.0),
        (4300.0, -5.5, 14.0),
        (5175.0, -6.0, 15.0),
        (5893.0, -3.5, 6.0),
        (8542.0, -3.0, 5.0),
    ):
        cont = _old_continuum(np.array([lc]))[0]
        old = old + ew * cont * _gauss(lam_rest, lc, sig)
    # young population: blue power law, small Balmer jump, Balmer absorption
    yng = (lam_rest / 5500.0) ** -1.9
    yng = yng * (1.0 - 0.25 / (1.0 + np.exp((lam_rest - 3646.0) / 20.0)))
    for lc in (4102.0, 4341.0, 4861.0):
        yng = yng - 5.0 * (lc / 5500.0) ** -1.9 * _gauss(lam_rest, lc, 10.0)
    f = young[:, None]
    flux = (1.0 - f) * old + f * yng
    # internal dust of star-forming galaxies
    ebv_int = young * rng.uniform(0.0, 0.3, n)
    flux = flux * 10 ** (-0.4 * ebv_int[:, None] * _extinction(lam_rest))
    # nebular emission lines, rest equivalent widths in Å
    sf = np.clip((young - 0.2) / 0.8, 0.0, 1.0)
    ew_ha = sf**1.5 * rng.lognormal(np.log(90.0), 0.5, n)
    sigma_v = rng.uniform(60.0, 200.0, n)  # km/s
    o3_ratio = rng.lognormal(np.log(0.5), 0.6, n) * (0.5 + young)  # [OIII]/Hbeta
    lines = (
        (6563.0, ew_ha),
        (6584.0, 0.35 * ew_ha),
        (6548.0, 0.12 * ew_ha),
        (6724.0, 0.25 * ew_ha),
        (4861.0, ew_ha / 4.0),
        (5007.0, o3_ratio * ew_ha / 4.0),
        (4959.0, o3_ratio * ew_ha / 12.0),
        (4341.0, ew_ha / 9.0),
        (3727.0, rng.lognormal(np.log(0.9), 0.3, n) * ew_ha),
    )
    for lc, ew in lines:
        cont = np.clip(_value_at(flux, lam_rest, lc), 0.0, None)
        flux = _add_line(flux, lam_rest, cont, lc, ew, lc * sigma_v / _C_KMS)
    return flux


def _galaxy_seds(rng: np.random.Generator, n: int, rmag: np.ndarray):
    """Galaxy SEDs: red (passive) and blue (star-forming) populations, z by r."""
    red = rng.random(n) < 0.45
    young = np.where(red, rng.uniform(0.0, 0.12, n), rng.uniform(0.3, 1.0, n))
    z0 = 0.02 * np.exp(0.45 * (rmag - 14.0))
    z = np.clip(z0 * rng.lognormal(0.0, 0.35, n), 0.005, 0.8)
    lam_rest = _LAM[None, :] / (1.0 + z[:, None])
    flux = _galaxy_rest_template(lam_rest, young, rng, n)
    return np.clip(flux, 0.0, None), {"redshift": z, "young": young, "red": red}


def _qso_rest(lam_rest, z, rng, n):
    """Rest-frame quasar SED: power law, Fe II + Balmer continuum, broad lines."""
    alpha_nu = rng.normal(-0.5, 0.35, n)  # f_nu ∝ nu**alpha
    cont = (lam_rest / 3000.0) ** (-(2.0 + alpha_nu[:, None]))
    # small blue bump: Fe II pseudo-continuum 2200-3000 Å, Balmer continuum
    bump = rng.uniform(0.1, 0.35, n)[:, None]
    feii = 1.0 / (1.0 + np.exp(-(lam_rest - 2200.0) / 40.0))
    feii = feii / (1.0 + np.exp((lam_rest - 3000.0) / 40.0))
    balc = (
        0.6
        / (1.0 + np.exp((lam_rest - 3646.0) / 30.0))
        * np.clip(lam_rest / 3646.0, 0, None) ** 3
    )
    flux = cont * (1.0 + bump * (feii + balc))
    fwhm_kms = rng.lognormal(np.log(4500.0), 0.3, n)
    scale = rng.lognormal(0.0, 0.35, n)  # line strength scatter (Baldwin effect)
    lines = (  # centre (Å), rest EW (Å), broad?
        (1216.0, 75.0, True),
        (1240.0, 15.0, True),
        (1400.0, 9.0, True),
        (1549.0, 35.0, True),
        (1909.0, 20.0, True),
        (2798.0, 35.0, True),
        (3727.0, 3.0, False),
        (4102.0, 6.0, True),
        (4341.0, 15.0, True),
        (4861.0, 60.0, True),
        (4959.0, 5.0, False),
        (5007.0, 15.0, False),
        (6563.0, 250.0, True),
    )
    cont_at = lambda lc: ((lc / 3000.0) ** (-(2.0 + alpha_nu))).clip(1e-12)  # noqa: E731
    for lc, ew, broad in lines:
        width = fwhm_kms if broad else rng.uniform(300.0, 600.0, n)
        sigma = lc * width / _C_KMS / 2.3548
        ew_i = ew * scale * (rng.lognormal(0.0, 0.25, n) if not broad else 1.0)
        flux = _add_line(flux, lam_rest, cont_at(lc), lc, ew_i, sigma)
    # host galaxy light for low-redshift quasars
    host = np.where(z < 0.8, rng.uniform(0.0, 0.4, n) * (0.8 - z) / 0.5, 0.0)
    if np.any(host > 0):
        gal = _galaxy_rest_template(lam_rest, rng.uniform(0.0, 0.8, n), rng, n)
        norm_q = _value_at(flux, lam_rest, 5500.0)
        norm_g = _value_at(gal, lam_rest, 5500.0)
        flux = flux + (host * norm_q / np.clip(norm_g, 1e-12, None))[:, None] * gal
    return flux


def _qso_seds(rng: np.random.Generator, n: int):
    """Quasar SEDs at z in [0.3, 3] with Lyman-alpha forest absorption."""
    z = 0.3 + 2.9 * rng.beta(1.9, 2.3, n)
    lam_rest = _LAM[None, :] / (1.0 + z[:, None])
    flux = _qso_rest(lam_rest, z, rng, n)
    # Lyman-alpha forest: effective optical depth in the observed frame
    lam = _LAM[None, :]
    tau = 0.0036 * (lam / 1216.0) ** 3.46
    flux = np.where(lam_rest < 1216.0, flux * np.exp(-tau), flux)
    flux = np.where(lam_rest < 912.0, flux * 0.05, flux)
    return np.clip(flux, 0.0, None), {"redshift": z}


# --------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------
def _grid(half: int, dx: float, dy: float, oversample: int):
    """Sub-pixel sample offsets (relative to the object) for a (2h+1)^2 patch."""
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    pix = np.arange(-half, half + 1, dtype=float)
    xs = (pix[:, None] + sub[None, :]).ravel() - dx
    ys = (pix[:, None] + sub[None, :]).ravel() - dy
    return xs, ys


def _bin(img: np.ndarray, oversample: int) -> np.ndarray:
    n = img.shape[0] // oversample
    return img.reshape(n, oversample, n, oversample).mean(axis=(1, 3))


def _moffat_patch(half: int, dx: float, dy: float, fwhm: float, beta: float):
    """Pixel-integrated Moffat PSF on a (2h+1)^2 patch, normalised to sum 1."""
    os_ = 3
    xs, ys = _grid(half, dx, dy, os_)
    a = moffat_alpha(fwhm, beta)
    img = _bin(moffat_shape((xs[None, :] ** 2 + ys[:, None] ** 2) / a**2, beta), os_)
    return img / img.sum()


def _sersic_patch(half, dx, dy, r_e, n, q, pa, r_trunc):
    """Pixel-integrated elliptical Sérsic profile, truncated at the patch edge.

    ``r_e`` is the semi-major half-light radius in pixels, ``q`` the axis ratio,
    ``pa`` the position angle in radians (from +x towards +y); the profile is
    zero beyond the elliptical radius ``r_trunc`` (pixels).
    """
    os_ = 5 if r_e < 4 else 3
    xs, ys = _grid(half, dx, dy, os_)
    r = elliptical_radius(xs[None, :], ys[:, None], q, pa)
    img = sersic_profile(r, r_e, n, exact_b=True)
    img[r > r_trunc] = 0.0
    img = _bin(img, os_)
    return img / img.sum()


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------
def _check_shape(shape) -> tuple[int, int]:
    ok = (
        isinstance(shape, Sequence)
        and not isinstance(shape, str)
        and len(shape) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) for s in shape)
    )
    if not ok or not (32 <= shape[0] <= 20000 and 32 <= shape[1] <= 20000):
        raise ValueError(
            f"field_shape must be a pair of integers (ny, nx) between 32 and 20000 "
            f"pixels, e.g. (1024, 1024) or the full S-PLUS field {_FULL_SHAPE}; "
            f"got {shape!r}."
        )
    return int(shape[0]), int(shape[1])


def _check_params(
    n_samples, layout, field_id, class_fractions, r_mag_range
) -> tuple[np.ndarray, tuple[float, float]]:
    if (
        not isinstance(n_samples, Integral)
        or isinstance(n_samples, bool)
        or (n_samples < 1)
    ):
        raise ValueError(
            f"n_samples must be a positive integer (number of sources in the "
            f"field); got {n_samples!r}."
        )
    if layout not in _LAYOUTS:
        raise ValueError(
            f"layout must be one of {_LAYOUTS}; got {layout!r}. 'files' writes one "
            f"FITS file per band, 'mef' one multi-extension file, 'cube' one "
            f"(12, ny, nx) primary HDU, 'compressed' one MEF of CompImageHDUs."
        )
    if not isinstance(field_id, str) or not _FIELD_ID_RE.match(field_id):
        raise ValueError(
            f"field_id must be a non-empty string usable in a file name (letters, "
            f"digits, '_', '.', '+', '-'), e.g. 'SPLUS-0001'; got {field_id!r}."
        )
    try:
        frac = np.asarray(class_fractions, dtype=float)
    except (TypeError, ValueError):
        frac = np.array([np.nan])
    if frac.shape != (3,) or not np.all(np.isfinite(frac)) or np.any(frac < 0):
        raise ValueError(
            f"class_fractions must be three non-negative numbers (STAR, GALAXY, "
            f"QSO) summing to 1, e.g. (0.44, 0.42, 0.14); got {class_fractions!r}."
        )
    if not np.isclose(frac.sum(), 1.0, atol=1e-6):
        raise ValueError(
            f"class_fractions must sum to 1 (STAR, GALAXY, QSO); got "
            f"{class_fractions!r}, which sums to {frac.sum():.6g}."
        )
    ok = (
        isinstance(r_mag_range, Sequence)
        and not isinstance(r_mag_range, str)
        and len(r_mag_range) == 2
        and all(isinstance(m, Real) and np.isfinite(m) for m in r_mag_range)
    )
    if not ok or not (8.0 <= r_mag_range[0] < r_mag_range[1] <= 26.0):
        raise ValueError(
            f"r_mag_range must be (bright, faint) AB magnitudes in the r band with "
            f"8 <= bright < faint <= 26, e.g. (14.0, 21.0); got {r_mag_range!r}."
        )
    return frac, (float(r_mag_range[0]), float(r_mag_range[1]))


# --------------------------------------------------------------------------
# the field
# --------------------------------------------------------------------------
def _truncated_exp(rng, n, lo, hi, slope_dex):
    """Magnitudes with density ∝ 10**(slope * m) on [lo, hi] (number counts)."""
    k = slope_dex * np.log(10.0)
    u = rng.random(n)
    if abs(k) < 1e-9:
        return lo + (hi - lo) * u
    return lo + np.log1p(u * np.expm1(k * (hi - lo))) / k


def _make_wcs(ny: int, nx: int, ra0: float, dec0: float) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra0, dec0]
    w.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    w.wcs.cd = np.array([[-_PIXEL_SCALE / 3600.0, 0.0], [0.0, _PIXEL_SCALE / 3600.0]])
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    return w


def _simulate_sources(rng, n, shape, frac, r_range):
    """Draw classes, positions, magnitudes (12 bands) and shapes of n objects."""
    ny, nx = shape
    counts = rng.multinomial(n, frac)
    cls = np.repeat(np.arange(3), counts)
    rng.shuffle(cls)
    lo, hi = r_range
    slopes = (0.05, 0.22, 0.35)  # dex/mag: faint quasars and galaxies dominate
    rmag = np.empty(n)
    for c in range(3):
        m = cls == c
        rmag[m] = _truncated_exp(rng, m.sum(), lo, hi, slopes[c])
    colours = np.zeros((n, 12))
    redshift = np.zeros(n)
    red = np.zeros(n, dtype=bool)  # passive galaxies
    for c, idx in enumerate([np.flatnonzero(cls == c) for c in range(3)]):
        for start in range(0, idx.size, 2000):
            sel = idx[start : start + 2000]
            if c == 0:
                flam, info = _star_seds(rng, sel.size)
            elif c == 1:
                flam, info = _galaxy_seds(rng, sel.size, rmag[sel])
            else:
                flam, info = _qso_seds(rng, sel.size)
            colours[sel] = _band_magnitudes(flam)
            redshift[sel] = info["redshift"]
            if c == 1:
                red[sel] = info["red"]
    # positions: uniform over the image, pixel centres at integers (0-based)
    x = rng.uniform(-0.5, nx - 0.5, n)
    y = rng.uniform(-0.5, ny - 0.5, n)
    # galaxy morphology: Sérsic index, half-light radius (arcsec), axis ratio
    is_gal = cls == 1
    r_eff = np.full(n, np.nan)
    sersic = np.full(n, np.nan)
    q = np.full(n, np.nan)
    pa = np.full(n, np.nan)
    ng = int(is_gal.sum())
    # passive (red) galaxies get de Vaucouleurs-like profiles, star-forming
    # (blue) ones exponential discs
    late = ~red[is_gal]
    sersic[is_gal] = np.where(
        late, rng.uniform(0.7, 1.5, ng), rng.uniform(2.5, 5.0, ng)
    )
    r_eff[is_gal] = np.clip(
        10 ** (0.25 - 0.17 * (rmag[is_gal] - 18.0) + rng.normal(0, 0.2, ng)),
        0.3,
        15.0,
    )
    q[is_gal] = np.where(late, rng.uniform(0.2, 1.0, ng), rng.uniform(0.5, 1.0, ng))
    pa[is_gal] = rng.uniform(0.0, np.pi, ng)
    return {
        "cls": cls,
        "x": x,
        "y": y,
        "rmag": rmag,
        "mags": rmag[:, None] + colours,
        "redshift": redshift,
        "r_eff": r_eff,
        "sersic": sersic,
        "q": q,
        "pa": pa,
    }


def _field_conditions(rng):
    """Per-band seeing (arcsec), Moffat beta, zero points, extinction, pointing."""
    base = rng.uniform(1.0, 1.6)
    fwhm = base * (_FILTER_CENTRE / 6258.0) ** -0.2 * rng.lognormal(0.0, 0.08, 12)
    fwhm = np.clip(fwhm, 1.0, 2.0)
    beta = rng.uniform(2.5, 4.0, 12)
    zp = _ZP0 + rng.normal(0.0, 0.05, 12)  # atmosphere/throughput per field
    depth = _DEPTH + rng.normal(0.0, 0.1, 12)
    ebv = rng.uniform(0.02, 0.08)
    ra0 = (rng.uniform(-55.0, 55.0)) % 360.0  # Stripe 82: RA 300..60 deg
    dec0 = rng.uniform(-0.55, 0.55)
    return {
        "fwhm": fwhm,
        "beta": beta,
        "zp": zp,
        "depth": depth,
        "ebv": ebv,
        "ra0": ra0,
        "dec0": dec0,
    }


def _sky_sigma(cond, b):
    """Sky noise per pixel (ADU/s) of band ``b``: S/N = 3 at its depth in a 3" aperture."""
    zp, depth, beta = cond["zp"][b], cond["depth"][b], cond["beta"][b]
    fwhm_px, exptime = cond["fwhm"][b] / _PIXEL_SCALE, _EXPTIME[b]
    r_ap = 1.5 / _PIXEL_SCALE
    npix = np.pi * r_ap**2
    flux = mag_to_flux(depth, zp) * moffat_enclosed(r_ap, fwhm_px, beta)
    var = (flux / 3.0) ** 2 - flux / (_GAIN * exptime)
    return np.sqrt(np.clip(var, 1e-30, None) / npix)


_GAL_HALVES = (12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160)


def _galaxy_patches(src, kern_half):
    """Intrinsic (unconvolved) galaxy patches, grouped by patch half-size.

    Each profile is truncated at ``5 r_e`` (at most 100 pixels) and sits in a
    patch wide enough that convolving with a PSF kernel of half-size
    ``kern_half`` never wraps around (so a circular FFT convolution is exact).
    Returns ``{half: (indices, float32 array (m, 2 half + 1, 2 half + 1))}``.
    """
    groups: dict[int, tuple[list, list]] = {}
    for i in np.flatnonzero(src["cls"] == 1):
        ix = int(np.floor(src["x"][i] + 0.5))
        iy = int(np.floor(src["y"][i] + 0.5))
        dx, dy = src["x"][i] - ix, src["y"][i] - iy
        r_e = src["r_eff"][i] / _PIXEL_SCALE
        ghalf = int(np.clip(np.ceil(5.0 * r_e), 3, 100))
        half = next(h for h in _GAL_HALVES if h >= ghalf + kern_half)
        img = _sersic_patch(
            half, dx, dy, r_e, src["sersic"][i], src["q"][i], src["pa"][i], ghalf
        )
        idx, imgs = groups.setdefault(half, ([], []))
        idx.append(i)
        imgs.append(img.astype(np.float32))
    return {h: (np.array(v[0]), np.stack(v[1])) for h, v in groups.items()}


def _render_band(b, src, cond, shape, sigma_sky, galaxies, kern_half, want_r50):
    """Noiseless model of band b (float32 (ny, nx)) and each object's patch.

    Point sources are pixel-integrated Moffat profiles; galaxies are their
    intrinsic Sérsic patches convolved (batched FFT) with the band's Moffat
    PSF truncated at ``kern_half`` pixels. Every patch is normalised to the
    object's total count rate, so the image holds ``10**(-0.4 (m - ZP))``
    ADU/s per object (less what falls off the image).
    """
    ny, nx = shape
    model = np.zeros(shape, dtype=np.float32)
    fwhm_px = cond["fwhm"][b] / _PIXEL_SCALE
    beta = cond["beta"][b]
    flux = mag_to_flux(src["mags"][:, b], cond["zp"][b])  # ADU/s
    a = moffat_alpha(fwhm_px, beta)
    n = flux.size
    patches: list = [None] * n
    for half, (idx, stack) in galaxies.items():
        kernel = np.zeros((2 * half + 1, 2 * half + 1))
        k = _moffat_patch(kern_half, 0.0, 0.0, fwhm_px, beta)
        kernel[
            half - kern_half : half + kern_half + 1,
            half - kern_half : half + kern_half + 1,
        ] = k
        kf = sp_fft.rfft2(np.fft.ifftshift(kernel).astype(np.float32))
        conv = sp_fft.irfft2(sp_fft.rfft2(stack) * kf, s=stack.shape[1:])
        for j, i in enumerate(idx):
            img = np.clip(conv[j], 0.0, None)
            patches[i] = (img / img.sum(), half)
    r50 = np.full(n, np.nan)
    boxes = []
    for i in range(n):
        ix = int(np.floor(src["x"][i] + 0.5))
        iy = int(np.floor(src["y"][i] + 0.5))
        dx, dy = src["x"][i] - ix, src["y"][i] - iy
        if patches[i] is None:
            # patch radius: where the PSF wings fall below 0.2 sigma_sky
            i0 = moffat_sb(0.0, fwhm_px, beta, flux[i])  # peak, ADU/s/pixel
            r_wing = a * np.sqrt(
                max((i0 / (0.2 * sigma_sky)) ** (1.0 / beta) - 1.0, 0.0)
            )
            half = int(np.clip(np.ceil(r_wing), np.ceil(3 * fwhm_px), 60))
            # the wings beyond the patch are below the noise and not drawn
            img = _moffat_patch(half, dx, dy, fwhm_px, beta)
            img = img * moffat_enclosed((2 * half + 1) / np.sqrt(np.pi), fwhm_px, beta)
        else:
            img, half = patches[i]
        if want_r50:  # size relative to the PSF's, same centring
            if patches[i] is None:
                r50[i] = 1.0
            else:
                hp = int(np.ceil(4.0 * fwhm_px))
                psf = _moffat_patch(hp, dx, dy, fwhm_px, beta)
                r50[i] = _half_light_radius(img, dx, dy) / _half_light_radius(
                    psf, dx, dy
                )
        img = (img * flux[i]).astype(np.float32)
        y0, y1 = iy - half, iy + half + 1
        x0, x1 = ix - half, ix + half + 1
        cy0, cy1 = max(y0, 0), min(y1, ny)
        cx0, cx1 = max(x0, 0), min(x1, nx)
        if cy0 < cy1 and cx0 < cx1:
            model[cy0:cy1, cx0:cx1] += img[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        boxes.append((img, half))
    return model, r50, boxes


def _psf_aperture_fraction(fwhm_px, beta, radii):
    """Fraction of a point source's total flux inside apertures of ``radii`` px.

    Measured on the pixel-integrated Moffat PSF (pixelisation broadens it) for
    radii up to ``4 FWHM``; the analytic Moffat curve of growth beyond.
    """
    radii = np.asarray(radii, dtype=float)
    h = int(np.ceil(4.0 * fwhm_px)) + 1
    psf = _moffat_patch(h, 0.0, 0.0, fwhm_px, beta)
    psf = psf * moffat_enclosed((2 * h + 1) / np.sqrt(np.pi), fwhm_px, beta)
    out = moffat_enclosed(radii, fwhm_px, beta)
    small = radii <= h - 1
    if np.any(small):
        knots = np.unique(np.concatenate([[0.5], radii[small], [h - 1.0]]))
        if knots.size > 16:  # curve of growth on a grid, then interpolate
            knots = np.unique(
                np.concatenate([np.linspace(0.5, h - 1.0, 16), [fwhm_px]])
            )
        cog = [float((psf * _circle_weights(h, 0.0, 0.0, r)).sum()) for r in knots]
        out[small] = np.interp(radii[small], knots, cog)
    return out


def _half_light_radius(img, dx, dy):
    """Radius (pixels) holding half the patch's flux, about (dx, dy) from its centre."""
    half = img.shape[0] // 2
    pix = np.arange(-half, half + 1, dtype=float)
    rr = np.sqrt((pix[None, :] - dx) ** 2 + (pix[:, None] - dy) ** 2).ravel()
    order = np.argsort(rr)
    cum = np.cumsum(img.ravel()[order])
    k = int(np.searchsorted(cum, 0.5 * cum[-1]))
    if k == 0:
        return float(rr[order][0])
    r0, r1 = rr[order][k - 1], rr[order][k]
    c0, c1 = cum[k - 1], cum[k]
    return float(r0 + (0.5 * cum[-1] - c0) / max(c1 - c0, 1e-30) * (r1 - r0))


def _circle_weights(h, dx, dy, radius):
    """Fraction of each pixel of a (2h+1)^2 grid inside a circle.

    The circle of ``radius`` pixels is centred at offset (dx, dy) from the
    grid's central pixel; a pixel's weight is ``clip(radius + 0.5 - d, 0, 1)``
    with ``d`` the distance of its centre (anti-aliased edge, area within
    about 1 % of the exact overlap for radii above 1 pixel).
    """
    pix = np.arange(-h, h + 1, dtype=float)
    d = np.sqrt((pix[None, :] - dx) ** 2 + (pix[:, None] - dy) ** 2)
    return np.clip(radius + 0.5 - d, 0.0, 1.0)


def _add_noise(model, sigma_sky, gain, exptime, rng, saturate):
    """Sky noise plus source shot noise (Gaussian approximation), float32.

    ``image = model + sigma_sky N1 + sqrt(model / (gain exptime)) N2`` with
    N1, N2 independent standard normal fields (the second only where the
    model is positive), i.e. per-pixel variance ``sigma_sky**2 + model /
    (gain exptime)`` in (ADU/s)**2. Pixels are clipped at ``saturate``.
    """
    image = np.empty_like(model)
    step = max(1, 4_000_000 // model.shape[1])
    for r0 in range(0, model.shape[0], step):
        noise = rng.standard_normal(image[r0 : r0 + step].shape, dtype=np.float32)
        noise *= np.float32(sigma_sky)
        image[r0 : r0 + step] = noise
    image += model
    pos = np.flatnonzero(model > 0)
    shot = rng.standard_normal(pos.size, dtype=np.float32)
    shot *= np.sqrt(model.ravel()[pos] / np.float32(gain * exptime))
    image.ravel()[pos] += shot
    np.minimum(image, np.float32(saturate), out=image)
    return image


def _aperture_photometry(image, model, box, x, y, radius):
    """Circular-aperture sums around (x, y) on the noisy and model images.

    Returns the noisy sum, the model sum, the object's own model sum (from its
    noiseless patch ``box``), the aperture area inside the image (pixels) and
    whether the aperture crosses the image border.
    """
    ny, nx = image.shape
    h = int(np.ceil(radius)) + 1
    ix = int(np.floor(x + 0.5))
    iy = int(np.floor(y + 0.5))
    dx, dy = x - ix, y - iy
    w = _circle_weights(h, dx, dy, radius)
    # the object's own noiseless patch is centred on the same pixel (ix, iy)
    img, half = box
    k = min(h, half)
    own = float(
        (
            img[half - k : half + k + 1, half - k : half + k + 1]
            * w[h - k : h + k + 1, h - k : h + k + 1]
        ).sum()
    )
    y0, x0 = iy - h, ix - h
    cy0, cy1 = max(y0, 0), min(iy + h + 1, ny)
    cx0, cx1 = max(x0, 0), min(ix + h + 1, nx)
    if cy0 >= cy1 or cx0 >= cx1:
        return 0.0, 0.0, own, 0.0, True
    wi = w[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    inside = float(wi.sum())
    f_img = float((image[cy0:cy1, cx0:cx1] * wi).sum())
    f_mod = float((model[cy0:cy1, cx0:cx1] * wi).sum())
    return f_img, f_mod, own, inside, inside < float(w.sum()) - 1e-6


def _header(band_index, cond, sigma_sky, wcs, field_id, shape):
    b = band_index
    h = fits.Header()
    h.update(wcs.to_header())
    h["FILTER"] = (SPLUS_BANDS[b], "S-PLUS filter")
    h["WAVELEN"] = (float(_FILTER_CENTRE[b]), "[Angstrom] filter central wavelength")
    h["BANDWID"] = (float(_FILTER_WIDTH[b]), "[Angstrom] filter FWHM width")
    h["ZP"] = (round(float(cond["zp"][b]), 5), "[mag] mag = ZP - 2.5 log10(ADU/s)")
    h["PIXSCALE"] = (_PIXEL_SCALE, "[arcsec/pixel] pixel scale")
    h["FWHM"] = (round(float(cond["fwhm"][b]), 5), "[arcsec] seeing FWHM (Moffat)")
    h["PSFBETA"] = (round(float(cond["beta"][b]), 5), "Moffat beta of the PSF")
    h["GAIN"] = (_GAIN, "[e-/ADU] gain")
    h["EXPTIME"] = (float(_EXPTIME[b]), "[s] total exposure time")
    h["NCOMBINE"] = (_N_EXPOSURES, "number of combined exposures")
    h["BUNIT"] = ("ADU/s", "sky-subtracted count rate")
    h["SKYRMS"] = (float(np.float32(sigma_sky)), "[ADU/s] sky noise per pixel")
    h["MAGLIM"] = (
        round(float(cond["depth"][b]), 4),
        "[mag] S/N=3 depth, 3 arcsec aperture",
    )
    h["SATURATE"] = (
        float(np.float32(_SATURATION_ADU * _N_EXPOSURES / _EXPTIME[b])),
        "[ADU/s] saturation level",
    )
    h["EBV"] = (round(float(cond["ebv"]), 5), "[mag] foreground E(B-V)")
    h["FIELD"] = (field_id, "field identifier")
    h["TELESCOP"] = ("T80-South (simulated)", "skastro.datasets.make_splus_field")
    return h


def _write_cube(path, headers, bands_iter, shape):
    """Write a (12, ny, nx) float32 primary HDU band by band (no 12-band copy)."""
    ny, nx = shape
    hdr = fits.Header()
    hdr["SIMPLE"] = True
    hdr["BITPIX"] = -32
    hdr["NAXIS"] = 3
    hdr["NAXIS1"] = nx
    hdr["NAXIS2"] = ny
    hdr["NAXIS3"] = 12
    hdr["EXTEND"] = True
    h0 = headers[0]
    for key in h0:
        if key in ("FILTER", "WAVELEN", "BANDWID", "ZP", "FWHM", "PSFBETA"):
            continue
        if key in ("EXPTIME", "SKYRMS", "MAGLIM", "SATURATE"):
            continue
        hdr[key] = (h0[key], h0.comments[key])
    hdr["WCSAXES"] = 2
    for k, h in enumerate(headers, start=1):
        for key in ("FILTER", "ZP", "FWHM", "EXPTIME", "SKYRMS", "MAGLIM"):
            short = {"EXPTIME": "EXPT", "SKYRMS": "SKYR", "MAGLIM": "MLIM"}.get(
                key, key
            )
            hdr[f"{short}{k}"] = (h[key], f"band {k} ({h['FILTER']}): {key}")
    with open(path, "wb") as fh:
        fh.write(hdr.tostring().encode("ascii"))
        nbytes = 0
        for data in bands_iter:
            buf = np.ascontiguousarray(data, dtype=">f4").tobytes()
            fh.write(buf)
            nbytes += len(buf)
        pad = (-nbytes) % 2880
        fh.write(b"\0" * pad)


@renamed_params(n_objects="n_samples", shape="field_shape")
def make_splus_field(
    directory: str | os.PathLike,
    *,
    n_samples: int = 300,
    field_shape: tuple[int, int] = (1024, 1024),
    layout: str = "files",
    field_id: str = "SPLUS-0001",
    class_fractions: Sequence[float] = (0.44, 0.42, 0.14),
    r_mag_range: tuple[float, float] = (14.0, 21.0),
    random_state: int | np.random.RandomState | None = None,
) -> tuple[pd.DataFrame, Any]:
    """Write a simulated S-PLUS-like 12-band field as FITS files; return its catalog.

    Stars, galaxies and quasars get spectral energy distributions (SEDs) that
    are integrated through the 12 S-PLUS filters to AB magnitudes; each object
    is rendered with its band's seeing (Moffat PSF) into a float32 image of
    sky-subtracted count rates (ADU/s) with sky and source noise. The catalog
    is measured on those images (forced circular-aperture photometry at the
    true positions), so magnitudes, errors and missing bands follow from the
    pixels. See the user guide (``datasets.rst``) for every physical value.

    Parameters
    ----------
    directory : str or path-like
        Folder for the FITS files (created if missing; files of the same name
        are overwritten).
    n_samples : int, default=300
        Number of objects in the field (formerly ``n_objects``). A real
        9232×9216 S-PLUS field holds some 30,000 detections.
    field_shape : tuple of int, default=(1024, 1024)
        Image shape ``(ny, nx)`` in pixels (formerly ``shape``), 32 to 20000
        per axis; the full S-PLUS field is ``(9216, 9232)``. Images are rendered and written one
        band at a time (about 2 GB of memory and 2 minutes for a full field
        with 5,000 objects; 340 MB on disk per band).
    layout : {"files", "mef", "cube", "compressed"}, default="files"
        ``"files"``: one FITS file per band, ``<field_id>_<band>.fits``;
        ``"mef"``: one file ``<field_id>.fits`` with an empty primary HDU and
        one image extension per band (``EXTNAME`` = band); ``"cube"``: one file
        ``<field_id>_cube.fits`` whose primary HDU is ``(12, ny, nx)`` with
        per-band keywords ``FILTERk``, ``ZPk``, ``FWHMk``, ``EXPTk``, ``SKYRk``,
        ``MLIMk`` (k = 1..12); ``"compressed"``: like ``"mef"`` with RICE
        tile-compressed ``CompImageHDU`` extensions, ``<field_id>.fits.fz``
        (lossy float quantisation at 1/16 of the sky noise, fixed dither seed).
    field_id : str, default="SPLUS-0001"
        Field name, written in the headers (``FIELD``), the file names and the
        catalog's ``field`` column.
    class_fractions : sequence of 3 float, default=(0.44, 0.42, 0.14)
        Expected fractions of stars, galaxies and quasars (Martinazzo et al. 2021, Table 4.2);
        the counts are drawn from a multinomial distribution.
    r_mag_range : tuple of float, default=(14.0, 21.0)
        Range of true (total) r-band AB magnitudes. Within it the number counts
        rise towards faint magnitudes as ``10**(s m)`` with ``s`` = 0.05
        (stars), 0.22 (galaxies) and 0.35 (quasars) dex/mag.
    random_state : int, RandomState instance or None, default=None
        Seeds everything; the same value gives byte-identical files and an
        identical catalog.

    Returns
    -------
    catalog : pandas.DataFrame
        One row per object: ``id`` (int), ``field``, ``ra``, ``dec`` (deg,
        ICRS, from the files' TAN WCS), ``x``, ``y`` (0-based pixel
        coordinates, numpy convention: pixel centres at integers; FITS
        1-based = these + 1), ``fwhm`` (r band, pixels; extended sources get
        the PSF FWHM scaled by their half-light radius over the PSF's), one
        AB-magnitude column per band in :data:`SPLUS_BANDS` order and the
        ``<band>_err`` columns (mag; NaN where the aperture flux is below
        1 sigma: undetected, as SExtractor's 99 for non-positive fluxes;
        magnitudes use an aperture of radius ``sqrt(FWHM**2 + (2.5 r_e)**2)``
        with the point-source aperture correction), ``photoflag``
        (bit flags: 1 neighbours contribute >10 % of the aperture flux,
        2 blended, 4 saturated, 8 aperture truncated by the image edge),
        ``class`` (``"STAR"``, ``"GALAXY"``, ``"QSO"``), ``redshift``, and the
        truth columns ``r_true`` (total r mag), ``r_eff`` (arcsec, semi-major
        half-light radius), ``sersic_n``, ``axis_ratio`` (NaN for point
        sources).
    images : list of str or str
        For ``layout="files"`` the 12 paths in :data:`SPLUS_BANDS` order,
        otherwise the path of the single file.

    See Also
    --------
    make_splus_survey : several fields and one catalog.

    Examples
    --------
    >>> import tempfile
    >>> from astropy.io import fits
    >>> from skastro.datasets import make_splus_field, SPLUS_BANDS
    >>> tmp = tempfile.mkdtemp()
    >>> cat, paths = make_splus_field(tmp, n_samples=20, field_shape=(128, 128),
    ...                               random_state=0)
    >>> len(paths), len(cat)
    (12, 20)
    >>> fits.getheader(paths[7])["FILTER"]
    'r'
    """
    frac, r_range = _check_params(
        n_samples, layout, field_id, class_fractions, r_mag_range
    )
    shape = _check_shape(field_shape)
    directory = _check_directory(directory)
    seed = int(check_random_state(random_state).randint(0, 2**31 - 1))
    s_src, s_cond, *s_bands = np.random.SeedSequence(seed).spawn(2 + 12)
    cond = _field_conditions(np.random.default_rng(s_cond))
    src = _simulate_sources(
        np.random.default_rng(s_src), n_samples, shape, frac, r_range
    )
    # foreground (Milky Way) extinction applies to every object
    src["mags"] = src["mags"] + cond["ebv"] * _extinction(_FILTER_CENTRE)[None, :]
    wcs = _make_wcs(*shape, cond["ra0"], cond["dec0"])
    sky = [_sky_sigma(cond, b) for b in range(12)]
    headers = [_header(b, cond, sky[b], wcs, field_id, shape) for b in range(12)]
    phot = _empty_photometry(n_samples)
    _flag_blends(src, cond, phot["flags"])
    bands = _band_images(src, cond, shape, sky, headers, s_bands, phot)
    images = _write_layout(directory, field_id, layout, headers, bands, shape, cond)
    return _field_catalog(src, phot, wcs, field_id), images


def _check_directory(directory) -> Path:
    """``directory`` as a Path, created if missing; an error if it is a file."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(
            f"directory {str(directory)!r} exists and is not a folder; pass a "
            f"folder for the FITS files."
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _r_eff_px(src) -> np.ndarray:
    """Circularised half-light radius of each object, pixels (0 for points)."""
    return np.nan_to_num(src["r_eff"] / _PIXEL_SCALE) * np.sqrt(
        np.nan_to_num(src["q"], nan=1.0)
    )


def _empty_photometry(n: int) -> dict[str, np.ndarray]:
    """The catalog's measured columns, filled band by band by :func:`_band_images`."""
    return {
        "mags": np.full((n, 12), np.nan),
        "errs": np.full((n, 12), np.nan),
        "flags": np.zeros(n, dtype=np.int64),
        "fwhm": np.full(n, np.nan),
    }


def _flag_blends(src, cond, flags) -> None:
    """Set FLAG_BLENDED where another object's centre is inside the r aperture."""
    x, y = src["x"], src["y"]
    if x.size < 2:
        return
    from scipy.spatial import cKDTree

    fwhm_r = cond["fwhm"][_R_INDEX] / _PIXEL_SCALE
    rad_r = np.sqrt(fwhm_r**2 + (2.5 * _r_eff_px(src)) ** 2)
    tree = cKDTree(np.column_stack([x, y]))
    for i, j in tree.query_pairs(float(rad_r.max())):
        d = np.hypot(x[i] - x[j], y[i] - y[j])
        if d < rad_r[i]:
            flags[i] |= FLAG_BLENDED
        if d < rad_r[j]:
            flags[j] |= FLAG_BLENDED


def _band_images(src, cond, shape, sky, headers, band_seeds, phot):
    """Yield the 12 noisy band images; measure each into ``phot`` on the way.

    Band by band (one image in memory at a time): the noiseless model
    (:func:`_render_band`), sky and shot noise, then forced aperture
    photometry at the true positions; after the r band, the catalog FWHM.
    """
    kern_half = int(np.ceil(4.0 * cond["fwhm"].max() / _PIXEL_SCALE))
    galaxies = _galaxy_patches(src, kern_half)
    for b in range(12):
        brng = np.random.default_rng(band_seeds[b])
        want_r50 = b == _R_INDEX
        model, r50, boxes = _render_band(
            b, src, cond, shape, sky[b], galaxies, kern_half, want_r50
        )
        saturate = headers[b]["SATURATE"]
        image = _add_noise(model, sky[b], _GAIN, _EXPTIME[b], brng, saturate)
        _measure_band(b, image, model, boxes, src, cond, sky[b], saturate, phot)
        if want_r50:
            # catalog FWHM: r-band seeing scaled by the object's half-light
            # radius over the PSF's, with a measurement scatter ~ 1/SNR
            errs = phot["errs"][:, b]
            snr = np.where(np.isfinite(errs), 1.0857 / errs, 1.0)
            scatter = brng.normal(0.0, 1.0, errs.size) * (0.03 + 0.5 / snr)
            fwhm_px = cond["fwhm"][b] / _PIXEL_SCALE
            phot["fwhm"][:] = fwhm_px * np.maximum(r50, 1.0) * np.exp(scatter)
        del model
        yield image


def _measure_band(b, image, model, boxes, src, cond, sky_b, saturate, phot):
    """Forced aperture photometry of every object in band ``b`` into ``phot``.

    Aperture radius ``sqrt(FWHM² + (2.5 r_e)²)`` (at most 60 pixels) with the
    point-source aperture correction; magnitudes where the flux exceeds
    ``_DETECTION_SNR`` times its error; flags for truncation by the edge,
    neighbours and saturation.
    """
    x, y = src["x"], src["y"]
    fwhm_px = cond["fwhm"][b] / _PIXEL_SCALE
    radius = np.minimum(np.sqrt(fwhm_px**2 + (2.5 * _r_eff_px(src)) ** 2), 60.0)
    apcorr = _psf_aperture_fraction(fwhm_px, cond["beta"][b], radius)
    flags = phot["flags"]
    for i in range(x.size):
        f_ap, f_mod, own, npix, trunc = _aperture_photometry(
            image, model, boxes[i], x[i], y[i], radius[i]
        )
        var = npix * sky_b**2 + max(f_mod, 0.0) / (_GAIN * _EXPTIME[b])
        sig = np.sqrt(var)
        if trunc:
            flags[i] |= FLAG_TRUNCATED
        if f_mod - own > 0.1 * max(own, 1e-30):
            flags[i] |= FLAG_NEIGHBOURS
        ix, iy = int(np.floor(x[i] + 0.5)), int(np.floor(y[i] + 0.5))
        core = model[max(iy - 1, 0) : iy + 2, max(ix - 1, 0) : ix + 2]
        if core.size and float(core.max()) >= saturate:
            flags[i] |= FLAG_SATURATED
        if npix > 0 and f_ap > _DETECTION_SNR * sig:
            phot["mags"][i, b] = flux_to_mag(f_ap / apcorr[i], cond["zp"][b])
            phot["errs"][i, b] = 2.5 / np.log(10.0) * sig / f_ap


def _field_catalog(src, phot, wcs, field_id) -> pd.DataFrame:
    """The catalog of :func:`make_splus_field` from the truth and the photometry."""
    n = src["x"].size
    ra, dec = wcs.pixel_to_world_values(src["x"], src["y"])
    data: dict[str, Any] = {
        "id": np.arange(n, dtype=np.int64),
        "field": np.full(n, field_id, dtype=object),
        "ra": np.asarray(ra) % 360.0,
        "dec": np.asarray(dec),
        "x": src["x"],
        "y": src["y"],
        "fwhm": phot["fwhm"],
    }
    for b, band in enumerate(SPLUS_BANDS):
        data[band] = phot["mags"][:, b]
    for b, band in enumerate(SPLUS_BANDS):
        data[f"{band}_err"] = phot["errs"][:, b]
    data["photoflag"] = phot["flags"]
    data["class"] = np.array(_CLASSES, dtype=object)[src["cls"]]
    data["redshift"] = src["redshift"]
    data["r_true"] = src["mags"][:, _R_INDEX]
    data["r_eff"] = src["r_eff"]
    data["sersic_n"] = src["sersic"]
    data["axis_ratio"] = src["q"]
    return pd.DataFrame(data)


def _write_layout(directory, field_id, layout, headers, band_iter, shape, cond):
    """Write the 12 band images in ``layout``; returns the path(s)."""
    if layout == "files":
        paths = []
        for b, image in enumerate(band_iter):
            p = directory / f"{field_id}_{SPLUS_BANDS[b]}.fits"
            fits.PrimaryHDU(image, header=headers[b]).writeto(p, overwrite=True)
            paths.append(str(p))
        return paths
    if layout == "cube":
        p = directory / f"{field_id}_cube.fits"
        _write_cube(p, headers, band_iter, shape)
        return str(p)
    name = f"{field_id}.fits" if layout == "mef" else f"{field_id}.fits.fz"
    p = directory / name
    primary = fits.PrimaryHDU()
    primary.header["FIELD"] = (field_id, "field identifier")
    primary.header["NBANDS"] = (12, "one extension per S-PLUS band")
    primary.header["PIXSCALE"] = (_PIXEL_SCALE, "[arcsec/pixel] pixel scale")
    primary.header["EXTEND"] = True
    primary.writeto(p, overwrite=True)
    for b, image in enumerate(band_iter):
        h = headers[b].copy()
        h["EXTNAME"] = SPLUS_BANDS[b]
        if layout == "mef":
            hdu = fits.ImageHDU(image, header=h)
        else:
            hdu = fits.CompImageHDU(
                image,
                header=h,
                compression_type="RICE_1",
                quantize_level=16.0,
                quantize_method=1,
                dither_seed=b + 1,
            )
        with open(p, "ab") as fh:
            fh.write(_extension_bytes(hdu))
    return str(p)


def _extension_bytes(hdu) -> bytes:
    """The bytes of one extension HDU as it would appear in a multi-HDU file.

    Appending these to a FITS file whose primary header has ``EXTEND = T``
    adds the extension without re-reading the file (astropy's append mode
    re-parses every earlier header, which is quadratic in the band count).
    """
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    raw = buf.getvalue()
    buf.seek(0)
    with fits.open(buf) as hdul:
        start = hdul.fileinfo(1)["hdrLoc"]
    return raw[start:]


@renamed_params(n_objects="n_samples", shape="field_shape")
def make_splus_survey(
    directory: str | os.PathLike,
    *,
    n_fields: int = 2,
    **field_kwargs: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Write several simulated S-PLUS fields and return one catalog.

    Each field has its own pointing, seeing, zero points and depth (drawn as
    in :func:`make_splus_field`).

    Parameters
    ----------
    directory : str or path-like
        Folder for all fields' files.
    n_fields : int, default=2
        Number of fields, named ``SPLUS-0001``, ``SPLUS-0002``, ... (or
        ``<field_id>-01``, ... when ``field_id`` is given).
    **field_kwargs
        Passed to :func:`make_splus_field` (``n_samples`` is per field).
        ``random_state`` seeds the whole survey: each field gets a seed drawn
        from it.

    Returns
    -------
    catalog : pandas.DataFrame
        The fields' catalogs stacked; ``id`` runs over the whole survey and
        ``field`` names each row's field.
    images : dict
        ``{field_id: images}`` with ``images`` as returned by
        :func:`make_splus_field` for that field.

    Examples
    --------
    >>> import tempfile
    >>> from skastro.datasets import make_splus_survey
    >>> cat, images = make_splus_survey(tempfile.mkdtemp(), n_fields=2,
    ...                                 n_samples=10, field_shape=(96, 96),
    ...                                 layout="mef", random_state=0)
    >>> sorted(images), cat["field"].value_counts().to_dict()
    (['SPLUS-0001', 'SPLUS-0002'], {'SPLUS-0001': 10, 'SPLUS-0002': 10})
    """
    if not isinstance(n_fields, Integral) or isinstance(n_fields, bool) or n_fields < 1:
        raise ValueError(
            f"n_fields must be a positive integer (number of fields); got {n_fields!r}."
        )
    rs = check_random_state(field_kwargs.pop("random_state", None))
    base = field_kwargs.pop("field_id", None)
    catalogs = []
    images = {}
    for k in range(n_fields):
        fid = f"SPLUS-{k + 1:04d}" if base is None else f"{base}-{k + 1:02d}"
        cat, img = make_splus_field(
            directory,
            field_id=fid,
            random_state=int(rs.randint(0, 2**31 - 1)),
            **field_kwargs,
        )
        catalogs.append(cat)
        images[fid] = img
    catalog = pd.concat(catalogs, ignore_index=True)
    catalog["id"] = np.arange(len(catalog), dtype=np.int64)
    return catalog, images
