"""HiTS-like image sequences: seven classes of variable and constant sources.

A vectorised re-implementation of the simulation recipe of Carrasco-Davis et
al. (2019), Carrasco-Davis et al. (2019, §3.1): per-epoch observing conditions of a DECam g-band
survey with the cadence of the High cadence Transient Survey (HiTS), light
curves of seven classes, Sérsic bulge + disk host galaxies, a PSF per epoch,
and Poisson + read-out noise in electrons, giving 21×21-pixel stamps per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy.special import erf
from sklearn.utils import Bunch, check_random_state

from ..sequences import MASK, METADATA_KEYS, STAMPS, ZERO_POINT
from ..utils._physics import (
    elliptical_radius,
    flux_to_mag,
    gaussian_psf,
    mag_to_flux,
    moffat_psf,
    sersic_enclosed,
    sersic_profile,
)

__all__ = ["HITS_CLASSES", "make_hits_sequences"]

HITS_CLASSES = ("SN", "RRL", "CEP", "EB", "NV", "GAL", "AST")

PIXEL_SCALE = 0.263  # arcsec / pixel (DECam)

# Survey parameters per domain (see the docstring of make_hits_sequences).
_DOMAINS: dict[str, dict[str, Any]] = {
    "simulated": {
        "psf": "gaussian",
        "seeing_median": 1.15,  # arcsec, night median at airmass 1
        "seeing_scatter": 0.15,  # log-normal sigma (natural log)
        "seeing_range": (0.8, 2.0),  # arcsec; epochs above 2" are not used (seed)
        "zp0": 25.05,  # mag for 1 ADU/s at airmass 1
        "zp_night_scatter": 0.05,
        "extinction": 0.20,  # mag / airmass (g band)
        "sky_range": (21.6, 22.3),  # mag / arcsec^2 (dark g sky)
        "gain": (3.8, 4.3),  # e- / ADU, per CCD
        "read_noise": (6.0, 8.0),  # e-, per CCD
        "exptime": 87.0,  # s
        "visits_per_night": ((3, 4, 5), (0.25, 0.5, 0.25)),
        "night_gaps": ((1, 2, 3), (0.1, 0.55, 0.35)),  # days between nights
        # populations and artefacts (see the docstring)
        "cepheid_period": (2.0, 40.0),  # days, log-uniform
        "eb_contact_fraction": 0.3,
        "contact_period": (0.25, 0.6),  # days
        "contact_depth": (0.1, 0.5),  # flux fraction
        "zp_calibration_error": 0.0,  # mag, reported minus true zero point
        "sn_detected_at_first_epoch": False,
        "cosmic_ray_rate": 0.0,  # hits per stamp
    },
    "real": {
        "psf": "moffat",
        "moffat_beta": (2.5, 4.0),
        "ellipticity": (0.0, 0.12),
        "seeing_median": 1.45,
        "seeing_scatter": 0.2,
        "seeing_range": (0.9, 2.4),
        "zp0": 24.75,
        "zp_night_scatter": 0.12,
        "extinction": 0.22,
        "sky_range": (21.2, 22.0),
        "gain": (4.0, 4.5),
        "read_noise": (7.0, 9.0),
        "exptime": 87.0,
        "visits_per_night": ((2, 3, 4, 5), (0.15, 0.3, 0.35, 0.2)),
        "night_gaps": ((1, 2, 3, 4), (0.15, 0.45, 0.3, 0.1)),
        "cepheid_period": (2.0, 40.0),
        "eb_contact_fraction": 0.7,
        "contact_period": (0.22, 0.42),
        "contact_depth": (0.05, 0.3),
        "zp_calibration_error": 0.02,
        "sn_detected_at_first_epoch": True,
        "cosmic_ray_rate": 0.02,
    },
}

# Magnitude law (Carrasco-Davis et al. 2019, §3.1.2): p(m) ∝ exp(slope * m) * (1 - erf(m - m_cut)) / 2.
_MAG_SLOPE = 0.6  # 1/mag, exponential rise of star counts with magnitude
_MAG_RANGE = (15.0, 26.0)
_MAG_CUTOFF = {"default": 22.8, "RRL": 21.5, "GAL": 21.5}

# With the pre-detection rule, each field has this many epochs more than a
# sequence, and every sequence is a window of its field's cadence (for
# supernovae the window that puts their first detection at
# ``pre_detection_epochs``, for the other classes a random one).
_EXTRA_EPOCHS = 8


def _sample_magnitudes(rng: np.random.Generator, n: int, m_cut: float) -> np.ndarray:
    """Draw ``n`` magnitudes from the exponential law with an erf cut-off."""
    grid = np.linspace(*_MAG_RANGE, 4001)
    pdf = np.exp(_MAG_SLOPE * (grid - m_cut)) * (1.0 - erf(grid - m_cut)) / 2.0
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]))])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


# --------------------------------------------------------------------------
# Observing conditions
# --------------------------------------------------------------------------
def _simulate_fields(
    rng: np.random.Generator, n_fields: int, n_epochs: int, params: dict
) -> dict[str, np.ndarray]:
    """Observing conditions of ``n_fields`` CCDs, each with ``n_epochs`` epochs.

    Returns arrays of shape (n_fields, n_epochs) (per epoch) or (n_fields,)
    (per CCD).
    """
    visits, p_visits = params["visits_per_night"]
    gaps, p_gaps = params["night_gaps"]
    max_nights = n_epochs  # at least one visit per night
    n_visits = rng.choice(visits, size=(n_fields, max_nights), p=p_visits)
    gap = rng.choice(gaps, size=(n_fields, max_nights), p=p_gaps)
    gap[:, 0] = 0
    start = 57070.0 + rng.uniform(0.0, 3.0, n_fields)  # HiTS 2015 (February)
    night_start = (
        start[:, None]
        + np.cumsum(gap, axis=1)
        + rng.uniform(0.03, 0.12, (n_fields, max_nights))
    )
    # epoch -> night index: repeat each night n_visits times, keep the first n_epochs
    night_of_epoch = np.empty((n_fields, n_epochs), dtype=int)
    visit_in_night = np.empty((n_fields, n_epochs), dtype=int)
    for f in range(n_fields):
        idx = np.repeat(np.arange(max_nights), n_visits[f])[:n_epochs]
        night_of_epoch[f] = idx
        first = np.searchsorted(idx, idx)  # position of the first visit of that night
        visit_in_night[f] = np.arange(n_epochs) - first
    rows = np.arange(n_fields)[:, None]
    spacing = rng.uniform(0.06, 0.09, (n_fields, max_nights))  # ~1.5-2 h
    mjd = (
        night_start[rows, night_of_epoch]
        + visit_in_night * spacing[rows, night_of_epoch]
    )
    mjd = mjd + rng.uniform(0.0, 0.004, mjd.shape)  # scheduling jitter (< spacing)

    # airmass rises through the night from the meridian
    airmass = 1.05 + 0.12 * visit_in_night + rng.uniform(0.0, 0.25, mjd.shape)
    # seeing: night median (log-normal), airmass^0.6 and per-visit jitter
    night_seeing = params["seeing_median"] * np.exp(
        params["seeing_scatter"] * rng.standard_normal((n_fields, max_nights))
    )
    seeing = night_seeing[rows, night_of_epoch] * airmass**0.6
    seeing *= np.exp(0.05 * rng.standard_normal(mjd.shape))
    seeing = np.clip(seeing, *params["seeing_range"])
    fwhm = seeing / PIXEL_SCALE

    night_zp = params["zp_night_scatter"] * rng.standard_normal((n_fields, max_nights))
    zero_point = (
        params["zp0"]
        - params["extinction"] * (airmass - 1.0)
        + night_zp[rows, night_of_epoch]
        + 0.02 * rng.standard_normal(mjd.shape)
    )
    night_sky = rng.uniform(*params["sky_range"], (n_fields, max_nights))
    sky_mag = night_sky[rows, night_of_epoch] - 0.1 * (airmass - 1.0)
    exptime = np.full(mjd.shape, params["exptime"])
    sky = exptime * mag_to_flux(sky_mag, zero_point) * PIXEL_SCALE**2  # ADU/px
    gain = rng.uniform(*params["gain"], n_fields)
    read_noise = rng.uniform(*params["read_noise"], n_fields)
    out = {
        "mjd": mjd,
        "zero_point": zero_point,
        "sky": sky,
        "fwhm": fwhm,
        "exptime": exptime,
        "gain": np.repeat(gain[:, None], n_epochs, axis=1),
        "read_noise": np.repeat(read_noise[:, None], n_epochs, axis=1),
    }
    if params["psf"] == "moffat":
        out["beta"] = rng.uniform(*params["moffat_beta"], n_fields)[:, None].repeat(
            n_epochs, axis=1
        ) + 0.1 * rng.standard_normal(mjd.shape)
        out["ellipticity"] = rng.uniform(*params["ellipticity"], mjd.shape)
        out["psf_angle"] = rng.uniform(0.0, np.pi, mjd.shape)
    return out


# --------------------------------------------------------------------------
# PSF rendering
# --------------------------------------------------------------------------
def _render_psf(
    size: int,
    fwhm: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    kind: str,
    beta: np.ndarray | None = None,
    ellipticity: np.ndarray | None = None,
    angle: np.ndarray | None = None,
    subsample: int = 4,
) -> np.ndarray:
    """Pixel-integrated PSFs of unit total flux, shape ``fwhm.shape + (size, size)``.

    Centred at ``((size - 1) / 2 + dx, (size - 1) / 2 + dy)`` (0-based pixels).
    """
    if kind == "gaussian":
        return gaussian_psf(size, fwhm, dx, dy)
    return moffat_psf(size, fwhm, dx, dy, beta, ellipticity, angle, subsample)


def _psf_extra(cond: dict) -> list:
    """Moffat shape arrays of ``cond`` (None for Gaussian PSFs)."""
    return [cond.get(a) for a in ("beta", "ellipticity", "psf_angle")]


def _noise_equivalent_area(fields: dict, kind: str) -> np.ndarray:
    """1 / sum(P^2) of a centred PSF per epoch (pixels), shape (n_fields, T)."""
    out = np.empty_like(fields["fwhm"])
    for s in range(0, out.shape[0], 16):
        sub = {k: v[s : s + 16] for k, v in fields.items()}
        zeros = np.zeros_like(sub["fwhm"])
        psf = _render_psf(31, sub["fwhm"], zeros, zeros, kind, *_psf_extra(sub))
        out[s : s + 16] = 1.0 / np.sum(psf**2, axis=(-2, -1))
    return out


def _flux_sigma(flux: np.ndarray, cond: dict) -> np.ndarray:
    """Error (ADU) of optimal PSF photometry of a source of ``flux`` ADU."""
    bkg = cond["sky"] / cond["gain"] + (cond["read_noise"] / cond["gain"]) ** 2
    return np.sqrt(np.maximum(flux, 0.0) / cond["gain"] + cond["nea"] * bkg)


def _limiting_flux(cond: dict, n_sigma: float = 5.0) -> np.ndarray:
    """Flux (ADU) detected at ``n_sigma`` by optimal PSF photometry."""
    g = cond["gain"]
    bkg = cond["sky"] / g + (cond["read_noise"] / g) ** 2
    k2 = n_sigma**2
    return 0.5 * (k2 / g + np.sqrt(k2**2 / g**2 + 4.0 * k2 * cond["nea"] * bkg))


def _mag_to_adu(mag: np.ndarray, zp: np.ndarray, exptime: np.ndarray) -> np.ndarray:
    """Eq. 3.1 of Carrasco-Davis et al. (2019): counts (ADU) in an exposure of a source of ``mag``."""
    return exptime * mag_to_flux(mag, zp)


# --------------------------------------------------------------------------
# Light curves (magnitude offsets or fluxes relative to a base magnitude)
# --------------------------------------------------------------------------
def _fourier_shape(phase: np.ndarray, amps: np.ndarray, phis: np.ndarray) -> np.ndarray:
    """Σ_k a_k cos(2π k φ + φ_k) rescaled to [-1, 0] (maximum of the series -> 0).

    Used as a magnitude offset: -1 is the brightest phase, 0 the faintest.
    """
    k = np.arange(1, amps.shape[-1] + 1)
    grid = np.linspace(0.0, 1.0, 200, endpoint=False)
    wave = np.sum(
        amps[:, None, :]
        * np.cos(2 * np.pi * k * grid[None, :, None] + phis[:, None, :]),
        axis=-1,
    )
    lo, hi = wave.min(axis=1), wave.max(axis=1)
    vals = np.sum(
        amps[:, None, :] * np.cos(2 * np.pi * k * phase[..., None] + phis[:, None, :]),
        axis=-1,
    )
    return (vals - hi[:, None]) / (hi - lo)[:, None]  # in [-1, 0]


def _pulsator(
    rng: np.random.Generator, t: np.ndarray, kind: str, params: dict
) -> tuple[np.ndarray, dict]:
    """Magnitude offsets (n, T) of RR Lyrae or Cepheids (0 = middle of the range).

    Light-curve shapes are Fourier series with amplitude ratios and phase
    differences typical of the class (Simon & Lee 1981 style parametrisation):
    a steep rise and slow decline for RRab and Cepheids, near-sinusoidal RRc.
    """
    n = t.shape[0]
    if kind == "RRL":
        rrc = rng.random(n) < 0.3
        period = np.where(rrc, rng.uniform(0.24, 0.42, n), rng.uniform(0.45, 0.85, n))
        amp = np.where(rrc, rng.uniform(0.3, 0.6, n), rng.uniform(0.6, 1.3, n))  # g mag
        r21 = np.where(rrc, rng.uniform(0.05, 0.2, n), rng.uniform(0.4, 0.55, n))
        r31 = np.where(rrc, rng.uniform(0.02, 0.1, n), rng.uniform(0.25, 0.4, n))
        r41 = np.where(rrc, 0.0, rng.uniform(0.12, 0.25, n))
    else:  # Cepheids
        period = np.exp(rng.uniform(*np.log(params["cepheid_period"]), n))
        amp = rng.uniform(0.35, 1.1, n)
        r21 = rng.uniform(0.25, 0.5, n)
        r31 = rng.uniform(0.08, 0.25, n)
        r41 = rng.uniform(0.0, 0.1, n)
    amps = np.stack([np.ones(n), r21, r31, r41], axis=1)
    # cos(x + pi/2) = -sin(x): minus a sawtooth in brightness, i.e. a steep
    # rise and slow decline of the flux, plus scatter in the harmonic phases
    phis = np.pi / 2 + np.concatenate(
        [np.zeros((n, 1)), rng.normal(0.0, 0.3, (n, 3))], axis=1
    )
    phase = (t / period[:, None] + rng.random(n)[:, None]) % 1.0
    shape = _fourier_shape(phase, amps, phis)  # brightest -1, faintest 0
    dm = amp[:, None] * (shape + 0.5)
    return dm, {"period": period, "amplitude": amp}


def _eclipsing(
    rng: np.random.Generator, t: np.ndarray, params: dict
) -> tuple[np.ndarray, dict]:
    """Flux ratios (n, T) of eclipsing binaries relative to the out-of-eclipse flux.

    Detached systems: two Gaussian dips in phase (primary depth 0.15-0.9 in
    flux, secondary 0-0.8 of it, widths 0.02-0.08 in phase), periods
    log-uniform in 0.5-10 d; contact systems (a fraction
    ``params["eb_contact_fraction"]``): ``1 - d (1 - cos 4πφ) / 2`` with an
    unequal minimum, period and depth ``d`` uniform in
    ``params["contact_period"]`` (days) and ``params["contact_depth"]``.
    """
    n = t.shape[0]
    contact = rng.random(n) < params["eb_contact_fraction"]
    period = np.where(
        contact,
        rng.uniform(*params["contact_period"], n),
        np.exp(rng.uniform(np.log(0.5), np.log(10.0), n)),
    )
    phase = (t / period[:, None] + rng.random(n)[:, None]) % 1.0
    depth = rng.uniform(0.15, 0.9, n)
    second = rng.uniform(0.0, 0.8, n) * depth
    width = rng.uniform(0.02, 0.08, n)
    d1 = np.minimum(phase, 1.0 - phase)
    d2 = np.abs(phase - 0.5)
    w = width[:, None]
    detached = (
        1.0
        - depth[:, None] * np.exp(-0.5 * (d1 / w) ** 2)
        - second[:, None] * np.exp(-0.5 * (d2 / w) ** 2)
    )
    cdepth = rng.uniform(*params["contact_depth"], n)[:, None]
    # unequal minima: the secondary minimum (cos 2πφ < 0) is up to 15 % shallower
    asym = np.where(
        np.cos(2 * np.pi * phase) < 0, 1.0 - 0.15 * rng.random(n)[:, None], 1.0
    )
    contact_flux = 1.0 - cdepth * asym * (1.0 - np.cos(4 * np.pi * phase)) / 2.0
    flux = np.where(contact[:, None], contact_flux, detached)
    return flux, {"period": period, "contact": contact}


def _bazin_draw(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` supernova time scales (days): see :func:`_bazin`."""
    z = rng.uniform(0.02, 0.5, n)
    type_ii = rng.random(n) < 0.3
    tau_r = rng.uniform(1.0, 5.0, n) * (1 + z)
    tau_f = np.where(type_ii, rng.uniform(40.0, 120.0, n), rng.uniform(10.0, 35.0, n))
    tau_f = tau_f * (1 + z)
    return {"redshift": z, "type_ii": type_ii, "tau_rise": tau_r, "tau_fall": tau_f}


def _bazin_log_shape(
    dt: np.ndarray, tau_r: np.ndarray, tau_f: np.ndarray
) -> np.ndarray:
    """log of the Bazin flux relative to its peak at ``dt = t - t_peak`` (days).

    ``tau_r`` and ``tau_f`` broadcast against ``dt``.
    """
    s_peak = tau_r * np.log(tau_f / tau_r - 1.0)  # t_peak - t0
    s = dt + s_peak

    def log_f(x: np.ndarray) -> np.ndarray:
        return -x / tau_f - np.logaddexp(0.0, -x / tau_r)

    return log_f(s) - log_f(s_peak)


def _bazin_flux(
    t: np.ndarray, t_peak: np.ndarray, sn: dict[str, np.ndarray]
) -> np.ndarray:
    """Bazin flux (n, T) relative to the peak for peaks at ``t_peak`` (n,)."""
    with np.errstate(over="ignore"):
        out = np.exp(
            _bazin_log_shape(
                t - t_peak[:, None], sn["tau_rise"][:, None], sn["tau_fall"][:, None]
            )
        )
    return np.nan_to_num(out, nan=0.0, posinf=0.0)


def _bazin_rise_time(level: np.ndarray, sn: dict[str, np.ndarray]) -> np.ndarray:
    """Days before the peak at which the Bazin flux is ``level`` (0-1) of it.

    Bisection on the rising branch, which is monotonic.
    """
    tau_r, tau_f = sn["tau_rise"], sn["tau_fall"]
    log_level = np.log(np.clip(level, 1e-12, 1.0))
    lo = np.zeros_like(log_level)
    hi = 80.0 * tau_r
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = _bazin_log_shape(-mid, tau_r, tau_f) > log_level
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def _bazin(
    rng: np.random.Generator, t: np.ndarray, t_first: np.ndarray, t_last: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Supernova flux (n, T) relative to peak, Bazin et al. (2009) shape.

    ``f(t) = exp(-(t - t0)/τ_fall) / (1 + exp(-(t - t0)/τ_rise))``, normalised
    to a maximum of 1; type-Ia-like (70 %, τ_fall 10-35 d) and type-II-like
    (30 %, τ_fall 40-120 d) decline, τ_rise 1-5 d, both dilated by (1 + z)
    with z uniform in 0.02-0.5. The peak falls uniformly in
    [``t_first``, ``t_last`` + 20 d]; with the first and last epochs, most
    supernovae are caught rising, as HiTS was designed to. (Used with
    ``pre_detection_epochs=None``; otherwise the first detection fixes the
    peak, see :func:`make_hits_sequences`.)
    """
    sn = _bazin_draw(rng, t.shape[0])
    t_peak = rng.uniform(t_first, t_last + 20.0)
    return _bazin_flux(t, t_peak, sn), {"t_peak": t_peak, **sn}


# --------------------------------------------------------------------------
# Galaxies
# --------------------------------------------------------------------------
def _render_sersic(
    size: int,
    x0: np.ndarray,
    y0: np.ndarray,
    r_e: np.ndarray,
    q: np.ndarray,
    angle: np.ndarray,
    n: float,
    oversample: int = 4,
) -> np.ndarray:
    """Sérsic profiles of unit total flux, shape (len(x0), size, size).

    ``x0, y0``: centre offsets from the stamp centre (pixels); ``r_e``:
    half-light semi-major axis (pixels); ``q``: axis ratio; ``angle``:
    position angle (radians). Each pixel averages ``oversample``² samples, which
    spreads the central cusp of the bulge as Carrasco-Davis et al. (2019) does with 20 random
    positions in the central pixel; flux beyond the grid is lost.
    """
    c = (size - 1) / 2.0
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    coords = (np.arange(size)[:, None] + sub[None, :]).ravel() - c
    x = coords[None, None, :] - x0[:, None, None]
    y = coords[None, :, None] - y0[:, None, None]
    r = elliptical_radius(x, y, q[:, None, None], angle[:, None, None])
    img = sersic_profile(r, r_e[:, None, None], n)
    # Normalise to unit total flux: the samples inside the largest ellipse that
    # fits in the grid get the analytic enclosed fraction of the Sérsic profile
    # (incomplete gamma function), which also corrects the sampling of the cusp.
    r_max = c - np.maximum(np.abs(x0), np.abs(y0)) - 0.5
    inside = r <= r_max[:, None, None]
    frac = sersic_enclosed(r_max, r_e, n)
    norm = frac / np.maximum(np.sum(img * inside, axis=(1, 2)), 1e-300)
    img = img * norm[:, None, None]
    m = x0.shape[0]
    return img.reshape(m, size, oversample, size, oversample).sum(axis=(2, 4))


def _galaxy_params(rng: np.random.Generator, mag: np.ndarray) -> dict[str, np.ndarray]:
    """Bulge + disk parameters (pixels) of galaxies of total g magnitude ``mag``.

    Disk half-light radius: log-normal around 1.2'' × 10^(-0.12 (m - 19)),
    scatter 0.35 dex (natural log), clipped to 0.3-4''; bulge radius 0.2-0.6
    of the disk's; bulge-to-total flux ratio uniform in 0-0.7; axis ratios
    0.25-1 (disk) and 0.6-1 (bulge); a common position angle. Ranges follow
    SDSS g-band bulge+disk decompositions (Simard et al. 2011) loosely.
    """
    n = mag.shape[0]
    r_disk = 1.2 * 10 ** (-0.12 * (mag - 19.0)) * np.exp(0.35 * rng.standard_normal(n))
    r_disk = np.clip(r_disk, 0.3, 4.0) / PIXEL_SCALE
    return {
        "r_disk": r_disk,
        "r_bulge": r_disk * rng.uniform(0.2, 0.6, n),
        "bt": rng.uniform(0.0, 0.7, n),
        "q_disk": rng.uniform(0.25, 1.0, n),
        "q_bulge": rng.uniform(0.6, 1.0, n),
        "angle": rng.uniform(0.0, np.pi, n),
    }


def _offset_in_disk(rng: np.random.Generator, gp: dict) -> tuple[np.ndarray, ...]:
    """Position of a transient drawn from the exponential disk (pixels)."""
    n = gp["r_disk"].shape[0]
    h = gp["r_disk"] / 1.678  # exponential scale length
    r = rng.gamma(2.0, h)  # surface density ∝ exp(-r/h)  ->  p(r) ∝ r exp(-r/h)
    theta = rng.uniform(0.0, 2 * np.pi, n)
    u, v = r * np.cos(theta), r * np.sin(theta) * gp["q_disk"]
    ca, sa = np.cos(gp["angle"]), np.sin(gp["angle"])
    return ca * u - sa * v, sa * u + ca * v


def _render_galaxies(
    stamp_size: int,
    gp: dict,
    gx: np.ndarray,
    gy: np.ndarray,
    mag: np.ndarray,
    cond: dict,
    dx: np.ndarray,
    dy: np.ndarray,
    kind: str,
) -> np.ndarray:
    """Noise-free bulge + disk galaxies convolved with each epoch's PSF (ADU).

    The galaxy (centre ``(gx, gy)`` pixels from the stamp centre) is rendered
    once on a grid with a 10-pixel margin, then convolved by FFT with each
    epoch's PSF centred at ``(dx, dy)``, which also applies that epoch's
    sub-pixel shift. Returns shape (m, T, stamp_size, stamp_size).
    """
    big = stamp_size + 20
    nfft = int(2 ** np.ceil(np.log2(big + stamp_size)))
    off = (nfft - big) // 2
    cut = slice((nfft - stamp_size) // 2, (nfft - stamp_size) // 2 + stamp_size)
    disk = _render_sersic(big, gx, gy, gp["r_disk"], gp["q_disk"], gp["angle"], 1.0)
    bulge = _render_sersic(big, gx, gy, gp["r_bulge"], gp["q_bulge"], gp["angle"], 4.0)
    bt = gp["bt"][:, None, None]
    gal = np.zeros((gx.size, nfft, nfft))
    gal[:, off : off + big, off : off + big] = (1.0 - bt) * disk + bt * bulge
    # kernel centred on pixel nfft // 2 (+ shift), which ifftshift moves to 0
    kern = _render_psf(
        nfft, cond["fwhm"], dx + 0.5, dy + 0.5, kind, *_psf_extra(cond), subsample=2
    )
    kern = np.fft.ifftshift(kern, axes=(-2, -1)).astype(np.float32)
    spec = sfft.rfft2(gal.astype(np.float32))[:, None] * sfft.rfft2(kern)
    conv = sfft.irfft2(spec, s=(nfft, nfft))
    adu = _mag_to_adu(mag[:, None], cond["zero_point"], cond["exptime"])
    return adu[:, :, None, None] * conv[..., cut, cut]


def _add_cosmic_rays(
    rng: np.random.Generator,
    stamps: np.ndarray,
    mask: np.ndarray,
    gain: np.ndarray,
    rate: float,
) -> None:
    """Add cosmic-ray hits to ``stamps`` (ADU) in place.

    Each valid epoch of each stamp is hit with probability ``rate``; a hit is
    a straight track of 1-3 pixels (horizontal, vertical or diagonal) from a
    uniform random pixel, each pixel receiving a charge log-uniform in
    200-3,000 e⁻.
    """
    n, T, size, _ = stamps.shape
    hit = (rng.random((n, T)) < rate) & mask
    ii, tt = np.nonzero(hit)
    if ii.size == 0:
        return
    length = rng.integers(1, 4, ii.size)
    direction = np.array([(0, 1), (1, 0), (1, 1), (1, -1)])[rng.integers(0, 4, ii.size)]
    y0 = rng.integers(0, size, ii.size)
    x0 = rng.integers(0, size, ii.size)
    for k in range(3):
        on = length > k
        y = y0 + k * direction[:, 0]
        x = x0 + k * direction[:, 1]
        on &= (y >= 0) & (y < size) & (x >= 0) & (x < size)
        charge = np.exp(rng.uniform(np.log(200.0), np.log(3000.0), ii.size))
        np.add.at(
            stamps,
            (ii[on], tt[on], y[on], x[on]),
            (charge / gain[ii, tt])[on].astype(np.float32),
        )


def _legacy_supernovae(
    rng, idx, t, n_valid, mask, lim_flux, flux, base_mag, base_adu, first_only
) -> None:
    """Supernovae without the pre-detection rule (``pre_detection_epochs=None``).

    The peak falls anywhere from the first epoch to 20 days after the last
    (or, with ``first_only``, within 20 days of the first epoch, which must
    then be a detection); redrawn until at least one valid epoch (or the
    first) is brighter than its 5σ limit. Fills ``flux`` and ``base_mag`` in
    place.
    """
    todo = idx
    for attempt in range(30):
        if todo.size == 0:
            break
        t_first = t[todo, 0]
        t_last = t_first if first_only else t[todo, n_valid[todo] - 1]
        shape, _ = _bazin(rng, t[todo], t_first, t_last)
        if attempt > 0:
            base_mag[todo] = _sample_magnitudes(rng, todo.size, _MAG_CUTOFF["default"])
        flux[todo] = base_adu(todo) * shape
        detected = (flux[todo] > lim_flux[todo]) & mask[todo]
        ok = detected[:, 0] if first_only else np.any(detected, axis=1)
        todo = todo[~ok]
    if todo.size:  # last resort: brighten to 0.5 mag above the (first) limit
        ratio = np.where(mask[todo], flux[todo] / lim_flux[todo], 0)
        ratio = ratio[:, 0] if first_only else np.max(ratio, axis=1)
        flux[todo] *= 10**0.2 / np.maximum(ratio, 1e-6)


def _supernovae_first_detected(
    rng: np.random.Generator,
    full: dict[str, np.ndarray],
    base_mag: np.ndarray,
    pre: np.ndarray,
    extra: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Supernovae on their field's whole cadence, and where their window starts.

    Carrasco-Davis et al. (2019, §3.2.1): the first detection ("first
    alert") is the first epoch at which the noise-free flux exceeds the 5σ
    limit, and a supernova's sequence starts ``pre`` epochs before it.
    ``full`` holds the observing conditions of the ``m`` supernovae over
    their field's ``T + extra`` epochs. For each, the time scales and peak
    magnitude (``base_mag``, redrawn in place on failure) are drawn, the time
    at which the rising light curve crosses the detection limit is drawn
    uniformly between epochs ``pre - 1`` and ``pre + extra`` (a uniform
    explosion time), and the peak is placed where the Bazin rise reaches the
    limit of the next epoch at that time. The first detection is then
    measured; draws whose first detection is outside epochs
    ``pre .. pre + extra`` (an earlier, deeper epoch saw it, or the peak is
    fainter than the limit) are redrawn.

    Returns
    -------
    flux : ndarray of shape (m, T + extra)
        Counts (ADU) at every epoch of the field.
    offset : ndarray of int, shape (m,)
        First epoch of each supernova's sequence (its first detection minus
        ``pre``).
    """
    t = full["mjd"]
    lim = _limiting_flux(full)
    m, total = t.shape
    flux = np.zeros((m, total))
    offset = np.zeros(m, dtype=int)
    todo = np.arange(m)
    for attempt in range(50):
        if todo.size == 0:
            break
        r = np.arange(todo.size)
        tt, ll, pp = t[todo], lim[todo], pre[todo]
        sn = _bazin_draw(rng, todo.size)
        if attempt > 0:
            base_mag[todo] = _sample_magnitudes(rng, todo.size, _MAG_CUTOFF["default"])
        peak = _mag_to_adu(
            base_mag[todo, None], full["zero_point"][todo], full["exptime"][todo]
        )
        t_lo = np.where(pp > 0, tt[r, np.maximum(pp - 1, 0)], tt[:, 0] - 2.0)
        t_cross = rng.uniform(t_lo, tt[r, pp + extra])
        k = np.argmax(tt >= t_cross[:, None], axis=1)  # next epoch
        level = ll[r, k] / peak[r, k]
        t_peak = t_cross + _bazin_rise_time(level, sn)
        f = peak * _bazin_flux(tt, t_peak, sn)
        detected = f > ll
        first = np.argmax(detected, axis=1)
        ok = (
            (level < 1.0) & detected.any(axis=1) & (first >= pp) & (first <= pp + extra)
        )
        flux[todo[ok]] = f[ok]
        offset[todo[ok]] = first[ok] - pp[ok]
        if attempt == 49 and not ok.all():  # last resort (not seen in practice):
            # the last draw, scaled to 0.2 mag above the limit at epoch pre
            bad = ~ok
            ratio = f[bad, pp[bad]] / ll[bad, pp[bad]]
            flux[todo[bad]] = f[bad] * (10**0.08 / np.maximum(ratio, 1e-6))[:, None]
        todo = todo[~ok]
    return flux, offset


# --------------------------------------------------------------------------
# Public function
# --------------------------------------------------------------------------
def _check_n_per_class(n_per_class: Any) -> np.ndarray:
    if isinstance(n_per_class, Integral) and not isinstance(n_per_class, bool):
        counts = np.full(len(HITS_CLASSES), int(n_per_class))
    elif isinstance(n_per_class, dict):
        unknown = sorted(set(n_per_class) - set(HITS_CLASSES))
        if unknown:
            raise ValueError(
                f"n_per_class has unknown class name(s) {unknown}; the classes are "
                f"{HITS_CLASSES}."
            )
        counts = np.array([int(n_per_class.get(c, 0)) for c in HITS_CLASSES])
    else:
        try:
            counts = np.asarray(n_per_class, dtype=int).ravel()
        except (TypeError, ValueError):
            counts = np.array([])
        if counts.shape != (len(HITS_CLASSES),):
            raise ValueError(
                "n_per_class must be an int, a dict {class name: count} or a sequence "
                f"of {len(HITS_CLASSES)} counts in the order {HITS_CLASSES}; got "
                f"{n_per_class!r}."
            )
    if np.any(counts < 0) or counts.sum() == 0:
        raise ValueError(
            f"n_per_class must give non-negative counts, not all zero; got "
            f"{n_per_class!r}."
        )
    return counts


def _check_n_epochs(n_epochs: Any) -> tuple[int, int]:
    if isinstance(n_epochs, Integral) and not isinstance(n_epochs, bool):
        lo = hi = int(n_epochs)
    else:
        try:
            lo, hi = (int(v) for v in n_epochs)
        except (TypeError, ValueError):
            lo, hi = -1, -1
    if lo < 1 or hi < lo:
        raise ValueError(
            "n_epochs must be a positive int or a pair (min, max) with "
            f"1 <= min <= max; got {n_epochs!r}."
        )
    return lo, hi


def make_hits_sequences(
    n_per_class: int | dict | Any = 100,
    *,
    n_epochs: int | tuple[int, int] = (5, 22),
    stamp_size: int = 21,
    domain: str = "simulated",
    pre_detection_epochs: int | None = 5,
    eclipse_min_epochs: int = 2,
    return_X_y: bool = False,
    return_host_images: bool = False,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch | tuple[Any, np.ndarray]:
    """Simulate HiTS-like g-band image sequences of seven classes of sources.

    The recipe of Carrasco-Davis et al. (2019, §3.1), with analytic
    light curves where the seed used templates: per-CCD observing conditions
    with a HiTS 2015-like cadence; light curves of the seven classes
    :data:`HITS_CLASSES`; stamps of the source spread by each epoch's PSF,
    Sérsic host galaxies, the sky, Poisson and read noise. ``domain="real"``
    simulates the shifted survey the seed found its real data to be (§4.2-4.4:
    Moffat PSF, worse seeing, brighter sky, zero-point errors, more contact
    binaries, cosmic rays). :doc:`/user_guide/hits_simulator` gives every
    formula and range.

    Parameters
    ----------
    n_per_class : int, dict or sequence of 7 ints, default=100
        Number of sequences per class; a dict maps class names of
        :data:`HITS_CLASSES` to counts, a sequence gives them in that order.
    n_epochs : int or (int, int), default=(5, 22)
        Number of valid epochs per sequence: fixed, or uniform in
        ``[min, max]``. Arrays have ``T = max`` epochs; shorter sequences are
        padded at the end.
    stamp_size : int, default=21
        Side of the square stamps, in pixels (0.263 arcsec/pixel); odd, >= 7.
    domain : {"simulated", "real"}, default="simulated"
        Survey whose conditions are simulated (see above).
    pre_detection_epochs : int or None, default=5
        Supernovae and asteroids are first detected at epoch
        ``min(pre_detection_epochs, n_valid - 1)`` (0-based), as the seed's
        sequences start five images before the alert (§3.2.1). None: the
        rule of earlier versions, whose output it gives exactly.
    eclipse_min_epochs : int, default=2
        Eclipsing binaries are redrawn until at least this many valid epochs
        are 5σ below the out-of-eclipse flux (the seed's "eclipse detected at
        5 sigma"); 1: the rule of earlier versions.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    return_host_images : bool, default=False
        Add ``host_images`` (n, T, h, w; only with this option): each point
        source's noise-free host galaxy at each epoch (ADU). As
        ``"background"``, ``sky + host_images`` lets LightCurveExtractor
        subtract the host (``S_ij`` of Carrasco-Davis et al. 2019, eq. 2.8). Doubles the memory.
    random_state : int, RandomState instance or None, default=None
        Seed; the output is identical for the same seed.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        With ``n`` sequences (shuffled classes) and ``T`` epochs:

        data : skorch.helper.SliceDict
            A sequence set (:mod:`skastro.sequences`): ``"stamps"`` float32
            (n, T, stamp_size, stamp_size) ADU, 0 at padding; ``"mask"``
            (valid epochs first, in time order); float64 (n, T) metadata
            :data:`~skastro.sequences.METADATA_KEYS`, NaN at padding
            (``zero_point`` as reported: with ``domain="real"``'s error).
        target : ndarray of int, shape (n,)
            Index into ``target_names`` (:data:`HITS_CLASSES`).
        true_mag, true_flux : ndarray of shape (n, T)
            Noise-free magnitude (for ``GAL`` of the whole galaxy) from the
            true zero point, ``inf`` without flux; total counts in ADU (host
            excluded). NaN at padded epochs.
        center : ndarray of shape (n, T, 2)
            ``(x, y)`` of the source in the stamp, 0-based pixels.
        host, host_mag : ndarray of shape (n,)
            Whether a galaxy is in the stamp; its g magnitude (NaN if none).
        host_images : ndarray of float32, shape (n, T, stamp_size, stamp_size)
            Each point source's noise-free host galaxy at each epoch, ADU
            (only with ``return_host_images=True``).
        psf, DESCR : str
            ``"gaussian"`` or ``"moffat"``; a short description.

    (data, target) : tuple
        When ``return_X_y=True``.

    References
    ----------
    R. Carrasco-Davis et al., PASP 131, 108006 (2019). F. Förster et al.,
    ApJ 832, 155 (2016). A. Bazin et al., A&A 499, 653 (2009).

    Examples
    --------
    >>> from skastro.datasets import make_hits_sequences
    >>> bunch = make_hits_sequences(2, n_epochs=(5, 8), random_state=0)
    >>> bunch.data["stamps"].shape
    (14, 8, 21, 21)
    >>> [bunch.target_names[i] for i in bunch.target[:3]]
    ['NV', 'EB', 'GAL']
    """
    counts, lo, hi = _check_hits_arguments(
        n_per_class, n_epochs, stamp_size, domain, pre_detection_epochs,
        eclipse_min_epochs,
    )  # fmt: skip
    params = _DOMAINS[domain]
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    pop = _draw_population(rng, counts, lo, hi, params, pre_detection_epochs)
    flux = _light_curves(rng, pop, params, pre_detection_epochs, eclipse_min_epochs)
    hosts = _draw_hosts(rng, pop, stamp_size)
    stamps, host_images, dx, dy = _render_stamps(
        rng, pop, flux, hosts, stamp_size, params, return_host_images
    )
    data = _sequence_set(stamps, pop.cond, pop.mask)
    if return_X_y:
        return data, pop.target
    return _hits_bunch(
        data, pop, flux, hosts, (dx, dy), host_images, stamp_size, domain, (lo, hi)
    )


def _check_hits_arguments(
    n_per_class: Any,
    n_epochs: Any,
    stamp_size: Any,
    domain: Any,
    pre_detection_epochs: Any,
    eclipse_min_epochs: Any,
) -> tuple[np.ndarray, int, int]:
    """Counts per class and the (min, max) epochs; a ValueError for bad values."""
    counts = _check_n_per_class(n_per_class)
    lo, hi = _check_n_epochs(n_epochs)
    if (
        not isinstance(stamp_size, Integral)
        or isinstance(stamp_size, bool)
        or stamp_size < 7
        or stamp_size % 2 == 0
    ):
        raise ValueError(f"stamp_size must be an odd int >= 7; got {stamp_size!r}.")
    if domain not in _DOMAINS:
        raise ValueError(f"domain must be one of {sorted(_DOMAINS)}; got {domain!r}.")
    if (
        not isinstance(eclipse_min_epochs, Integral)
        or isinstance(eclipse_min_epochs, bool)
        or eclipse_min_epochs < 1
    ):
        raise ValueError(
            f"eclipse_min_epochs must be an int >= 1; got {eclipse_min_epochs!r}."
        )
    if pre_detection_epochs is not None and (
        not isinstance(pre_detection_epochs, Integral)
        or isinstance(pre_detection_epochs, bool)
        or pre_detection_epochs < 0
    ):
        raise ValueError(
            "pre_detection_epochs must be None or an int >= 0 (the seed's 5); got "
            f"{pre_detection_epochs!r}."
        )
    return counts, lo, hi


@dataclass
class _Population:
    """The objects of one simulation and the conditions of their epochs."""

    target: np.ndarray  # (n,) class index
    names: np.ndarray  # (n,) class name
    n_valid: np.ndarray  # (n,) valid epochs
    mask: np.ndarray  # (n, T) valid epochs first
    base_mag: np.ndarray  # (n,) mag (changed by the light-curve draws)
    cond: dict  # (n, T) observing conditions of each object's epochs
    kind: str  # "gaussian" or "moffat"
    detect_epoch: np.ndarray | None  # (n,) first detection (pre-detection rule)
    sn_flux: np.ndarray | None  # (n_SN, T + extra) ADU over the field cadence
    window: np.ndarray  # (n, T) the field epochs of each sequence

    @property
    def n(self) -> int:
        return len(self.target)


def _draw_population(
    rng: np.random.Generator,
    counts: np.ndarray,
    lo: int,
    hi: int,
    params: dict,
    pre_detection_epochs: int | None,
) -> _Population:
    """Classes, lengths, fields and base magnitudes (step 1 of the recipe);
    with the pre-detection rule also the supernovae's windows."""
    n, T = int(counts.sum()), hi
    target = rng.permutation(np.repeat(np.arange(len(HITS_CLASSES)), counts))
    n_valid = rng.integers(lo, hi + 1, n)
    mask = np.arange(T)[None, :] < n_valid[:, None]
    n_fields = int(np.clip(n // 10, 4, 3000))
    # With the pre-detection rule each object's sequence is a window of its
    # field's cadence, which has `extra` more epochs than a sequence.
    extra = 0 if pre_detection_epochs is None else _EXTRA_EPOCHS
    fields = _simulate_fields(rng, n_fields, T + extra, params)
    fields["nea"] = _noise_equivalent_area(fields, params["psf"])
    if params["zp_calibration_error"] > 0:
        # the zero point the pipeline reports differs from the true one by a
        # per-image calibration error
        fields["zero_point_reported"] = fields["zero_point"] + params[
            "zp_calibration_error"
        ] * rng.standard_normal(fields["zero_point"].shape)
    field_of = rng.integers(0, n_fields, n)
    offset = rng.integers(0, extra + 1, n) if extra else np.zeros(n, dtype=int)
    names = np.asarray(HITS_CLASSES)[target]
    base_mag = np.empty(n)
    for c in HITS_CLASSES:
        sel = names == c
        base_mag[sel] = _sample_magnitudes(
            rng, int(sel.sum()), _MAG_CUTOFF.get(c, _MAG_CUTOFF["default"])
        )
    # epoch of the first detection ("first alert") of supernovae and
    # asteroids within their sequences
    detect_epoch = (
        np.minimum(pre_detection_epochs, n_valid - 1)
        if pre_detection_epochs is not None
        else None
    )
    idx_sn = np.flatnonzero(names == "SN")
    sn_flux = None
    if pre_detection_epochs is not None and idx_sn.size:
        full = {k: v[field_of[idx_sn]] for k, v in fields.items()}
        sn_mag = base_mag[idx_sn]
        sn_flux, offset[idx_sn] = _supernovae_first_detected(
            rng, full, sn_mag, detect_epoch[idx_sn], extra
        )
        base_mag[idx_sn] = sn_mag
    window = offset[:, None] + np.arange(T)[None, :]
    cond = {k: v[field_of[:, None], window] for k, v in fields.items()}
    cond["limiting_mag"] = cond["zero_point"] - 2.5 * np.log10(
        _limiting_flux(cond) / cond["exptime"]
    )
    return _Population(
        target,
        names,
        n_valid,
        mask,
        base_mag,
        cond,
        params["psf"],
        detect_epoch,
        sn_flux,
        window,
    )


def _base_adu(pop: _Population, idx: np.ndarray, mags: np.ndarray | None = None):
    """Counts (ADU) of constant sources ``idx`` at every epoch."""
    m = pop.base_mag[idx] if mags is None else mags
    return _mag_to_adu(
        m[:, None], pop.cond["zero_point"][idx], pop.cond["exptime"][idx]
    )


def _light_curves(
    rng: np.random.Generator,
    pop: _Population,
    params: dict,
    pre_detection_epochs: int | None,
    eclipse_min_epochs: int,
) -> np.ndarray:
    """Point-source counts (ADU) per epoch, (n, T) (step 2 of the recipe)."""
    t, cond = pop.cond["mjd"], pop.cond
    flux = np.zeros((pop.n, t.shape[1]))
    idx_sn = np.flatnonzero(pop.names == "SN")
    if pre_detection_epochs is None:
        _legacy_supernovae(
            rng,
            idx_sn,
            t,
            pop.n_valid,
            pop.mask,
            _limiting_flux(cond),
            flux,
            pop.base_mag,
            lambda idx, mags=None: _base_adu(pop, idx, mags),
            params["sn_detected_at_first_epoch"],
        )
    elif idx_sn.size:
        flux[idx_sn] = np.take_along_axis(pop.sn_flux, pop.window[idx_sn], axis=1)
    for c in ("RRL", "CEP"):
        idx = np.flatnonzero(pop.names == c)
        if idx.size:
            dm, _ = _pulsator(rng, t[idx], c, params)
            flux[idx] = _mag_to_adu(
                pop.base_mag[idx, None] + dm,
                cond["zero_point"][idx],
                cond["exptime"][idx],
            )
    _eclipsing_binaries(rng, pop, flux, params, eclipse_min_epochs)
    idx = np.flatnonzero(pop.names == "NV")
    flux[idx] = _base_adu(pop, idx)
    idx = np.flatnonzero(pop.names == "AST")
    if idx.size:
        _asteroids(rng, pop, flux, idx, pre_detection_epochs)
    idx = np.flatnonzero(pop.names == "GAL")
    flux[idx] = _base_adu(pop, idx)
    return flux


def _eclipsing_binaries(
    rng: np.random.Generator,
    pop: _Population,
    flux: np.ndarray,
    params: dict,
    eclipse_min_epochs: int,
) -> None:
    """Eclipsing binaries, redrawn until the eclipse is detected at 5σ."""
    t = pop.cond["mjd"]
    todo = np.flatnonzero(pop.names == "EB")
    for attempt in range(30):
        if todo.size == 0:
            break
        ratio, _ = _eclipsing(rng, t[todo], params)
        if attempt > 0:
            pop.base_mag[todo] = _sample_magnitudes(
                rng, todo.size, _MAG_CUTOFF["default"]
            )
        f0 = _base_adu(pop, todo)
        flux[todo] = f0 * ratio
        sig = _flux_sigma(flux[todo], {k: v[todo] for k, v in pop.cond.items()})
        seen = ((f0 - flux[todo]) > 5.0 * sig) & pop.mask[todo]
        ok = seen.sum(axis=1) >= np.minimum(eclipse_min_epochs, pop.n_valid[todo])
        todo = todo[~ok]
    if todo.size:  # keep the last draw but make the source bright enough
        pop.base_mag[todo] -= 1.5
        flux[todo] *= 10**0.6


def _asteroids(
    rng: np.random.Generator,
    pop: _Population,
    flux: np.ndarray,
    idx: np.ndarray,
    pre_detection_epochs: int | None,
) -> None:
    """Asteroids: one epoch, brighter than its limiting magnitude."""
    if pre_detection_epochs is None:
        epoch = (rng.random(idx.size) * pop.n_valid[idx]).astype(int)
    else:
        epoch = pop.detect_epoch[idx]
    lim = pop.cond["limiting_mag"][idx, epoch]
    mags = pop.base_mag[idx]
    for _ in range(50):
        bad = mags > lim - 0.1
        if not bad.any():
            break
        mags[bad] = _sample_magnitudes(rng, int(bad.sum()), _MAG_CUTOFF["default"])
    mags = np.minimum(mags, lim - 0.1)
    pop.base_mag[idx] = mags
    flux[idx, epoch] = _mag_to_adu(
        mags, pop.cond["zero_point"][idx, epoch], pop.cond["exptime"][idx, epoch]
    )


@dataclass
class _Hosts:
    """Host galaxies (and the galaxies of ``GAL``)."""

    host: np.ndarray  # (n,) bool
    host_mag: np.ndarray  # (n,) mag, NaN without a host
    index: np.ndarray  # objects with a galaxy
    params: dict  # Sérsic parameters of those galaxies
    gx: np.ndarray  # galaxy centre relative to the source, pixels
    gy: np.ndarray


def _draw_hosts(rng: np.random.Generator, pop: _Population, stamp_size: int) -> _Hosts:
    """Which objects have a galaxy, its magnitude, shape and position."""
    names, n = pop.names, pop.n
    is_gal = names == "GAL"
    p_host = np.where(names == "SN", 0.5, 0.05)
    host = is_gal | ((rng.random(n) < p_host) & ~is_gal)
    host_mag = np.full(n, np.nan)
    host_mag[is_gal] = pop.base_mag[is_gal]
    hosted = host & ~is_gal
    host_mag[hosted] = _sample_magnitudes(rng, int(hosted.sum()), _MAG_CUTOFF["GAL"])
    g_idx = np.flatnonzero(host)
    gp = _galaxy_params(rng, host_mag[g_idx])
    gx, gy = np.zeros(g_idx.size), np.zeros(g_idx.size)
    ox, oy = _offset_in_disk(rng, gp)
    src = ~is_gal[g_idx]
    gx[src], gy[src] = -ox[src], -oy[src]  # galaxy centre relative to the source
    # keep the galaxy centre within the stamp
    lim_off = (stamp_size - 1) / 2.0 - 2.0
    gx, gy = np.clip(gx, -lim_off, lim_off), np.clip(gy, -lim_off, lim_off)
    return _Hosts(host, host_mag, g_idx, gp, gx, gy)


def _render_stamps(
    rng: np.random.Generator,
    pop: _Population,
    flux: np.ndarray,
    hosts: _Hosts,
    stamp_size: int,
    params: dict,
    return_host_images: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Noisy stamps (ADU), host images and the sub-pixel offsets (step 3)."""
    n, T = pop.mask.shape
    is_gal = pop.names == "GAL"
    dx = rng.uniform(-0.5, 0.5, (n, T))
    dy = rng.uniform(-0.5, 0.5, (n, T))
    gal_pos = np.full(n, -1)
    gal_pos[hosts.index] = np.arange(hosts.index.size)
    stamps = np.empty((n, T, stamp_size, stamp_size), dtype=np.float32)
    host_images = (
        np.zeros((n, T, stamp_size, stamp_size), dtype=np.float32)
        if return_host_images
        else None
    )
    chunk = 256 if pop.kind == "gaussian" else 32
    for s in range(0, n, chunk):
        ii = np.arange(s, min(s + chunk, n))
        sub = {k: v[ii] for k, v in pop.cond.items()}
        img = _render_psf(
            stamp_size, sub["fwhm"], dx[ii], dy[ii], pop.kind, *_psf_extra(sub)
        )
        img *= np.where(is_gal[ii, None], 0.0, flux[ii])[:, :, None, None]
        hosted = np.flatnonzero(hosts.host[ii])
        for h in range(0, hosted.size, 16):
            loc = hosted[h : h + 16]
            j = gal_pos[ii[loc]]
            gal = _render_galaxies(
                stamp_size,
                {k: v[j] for k, v in hosts.params.items()},
                hosts.gx[j],
                hosts.gy[j],
                hosts.host_mag[ii[loc]],
                {k: v[loc] for k, v in sub.items()},
                dx[ii[loc]],
                dy[ii[loc]],
                pop.kind,
            )
            img[loc] += gal
            if host_images is not None:
                # hosts of point sources are "known extra sources"; a GAL is the
                # source itself
                is_host = ~is_gal[ii[loc]]
                host_images[ii[loc][is_host]] = gal[is_host]
        stamps[ii] = _add_noise(rng, img, sub)
    if params["cosmic_ray_rate"] > 0:
        _add_cosmic_rays(
            rng, stamps, pop.mask, pop.cond["gain"], params["cosmic_ray_rate"]
        )
    stamps[~pop.mask] = 0.0
    if host_images is not None:
        host_images[~pop.mask] = 0.0
    return stamps, host_images, dx, dy


def _add_noise(rng: np.random.Generator, img: np.ndarray, cond: dict) -> np.ndarray:
    """Sky, electrons, Poisson + read noise, back to ADU."""
    gain = cond["gain"][:, :, None, None]
    electrons = (img + cond["sky"][:, :, None, None]) * gain
    noisy = rng.poisson(np.maximum(electrons, 0.0)).astype(np.float64)
    noisy += cond["read_noise"][:, :, None, None] * rng.standard_normal(noisy.shape)
    return noisy / gain


def _sequence_set(stamps: np.ndarray, cond: dict, mask: np.ndarray) -> Any:
    """The sequence set (:mod:`skastro.sequences`): stamps, metadata, mask."""
    from skorch.helper import SliceDict

    data = {STAMPS: stamps}
    for key in METADATA_KEYS:
        if key == ZERO_POINT:
            arr = np.array(cond.get("zero_point_reported", cond[key]), dtype=np.float64)
        else:
            arr = np.array(cond[key], dtype=np.float64)
        arr[~mask] = np.nan
        data[key] = arr
    data[MASK] = mask
    return SliceDict(**data)


def _hits_bunch(
    data: Any,
    pop: _Population,
    flux: np.ndarray,
    hosts: _Hosts,
    offsets: tuple[np.ndarray, np.ndarray],
    host_images: np.ndarray | None,
    stamp_size: int,
    domain: str,
    epochs: tuple[int, int],
) -> Bunch:
    """The Bunch of :func:`make_hits_sequences`, with the truths."""
    mask, cond = pop.mask, pop.cond
    true_flux = np.where(mask, flux, np.nan)
    with np.errstate(divide="ignore"):
        true_mag = flux_to_mag(flux / cond["exptime"], cond["zero_point"])
    true_mag = np.where(mask, true_mag, np.nan)
    c = (stamp_size - 1) / 2.0
    center = np.stack([c + offsets[0], c + offsets[1]], axis=-1)
    center[~mask] = np.nan
    descr = (
        f"{pop.n} HiTS-like g-band image sequences ({domain!r} domain, {pop.kind} "
        f"PSF) of {len(HITS_CLASSES)} classes {HITS_CLASSES}, {epochs[0]}-"
        f"{epochs[1]} epochs of {stamp_size}x{stamp_size} pixels at "
        f"{PIXEL_SCALE} arcsec/pixel; see skastro.datasets.make_hits_sequences."
    )
    return Bunch(
        data=data,
        target=pop.target,
        target_names=HITS_CLASSES,
        true_mag=true_mag,
        true_flux=true_flux,
        center=center,
        host=hosts.host,
        host_mag=hosts.host_mag,
        psf=pop.kind,
        DESCR=descr,
        **({"host_images": host_images} if host_images is not None else {}),
    )
