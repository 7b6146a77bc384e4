"""DeepShadows-like stamps: low-surface-brightness galaxies versus artifacts.

Tanoglidis et al. (2021, §2) classifies 30″×30″ cutouts of DES
candidates that passed the LSBG selection (g-band half-light radius
r½ > 2.5″, mean surface brightness within r½ μ̄_eff(g) > 24.3 mag/arcsec²)
into genuine LSBGs and the four kinds of artifacts its §1 lists. This module
simulates such cutouts, with the physics done in flux units so that the
SExtractor-like baselines (:class:`skastro.sources.SourceFeatures`) and the
CNN (:class:`skastro.nn.LSBGNet`) see the same pixels.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.signal import fftconvolve
from sklearn.utils import Bunch, check_random_state

from ..utils._params import Interval, StrOptions, validate_params
from ..utils._physics import (
    elliptical_radius,
    mag_to_flux,
    moffat_sb,
    sersic_profile,
    sersic_total_flux,
)

__all__ = ["LSBG_BANDS", "LSBG_ARTIFACT_TYPES", "LSBG_SURVEYS", "make_lsbg_stamps"]

#: Bands of the stamps, in channel order (the seed's RGB = g, r, z).
LSBG_BANDS = ("g", "r", "z")

#: Object kinds: the positive class and the four artifact types of Tanoglidis et al. (2021, §1.)
LSBG_ARTIFACT_TYPES = ("star_halo", "cirrus", "spiral_knot", "tidal")

_FIELD_ARCSEC = 30.0
_SIZE = 64
_OVERSAMPLE = 2
#: Output pixel scale (arcsec/pixel): the seed's 30″ cutouts resized to 64 px.
_OUT_SCALE = _FIELD_ARCSEC / _SIZE
#: AB zero point of nanomaggies: mag = 22.5 - 2.5 log10(flux / nmgy).
_ZP = 22.5

# one row a key: its values for (DES, HSC)
_SURVEY_TABLE = {
    "pixel_scale": (0.263, 0.168),
    "depth10": ((24.33, 24.08, 22.69), (26.1, 25.8, 24.6)),
    "sky": ((22.0, 21.2, 18.7), (22.1, 21.1, 18.9)),
    "fwhm": ((1.0, 1.6), (0.6, 0.9)),
    "band_fwhm": ((1.0, 0.93, 0.87), (1.0, 0.95, 0.9)),
    "beta": (3.0, 2.5),
    "mix": ((0.35, 0.2, 0.25, 0.2), (0.25, 0.3, 0.2, 0.25)),
    "gradient": (0.0015, 0.0008),
}

#: Survey set-ups, ``LSBG_SURVEYS[survey][key]``. ``depth10`` is the 10σ
#: point-source depth (mag) in a 1.95″ diameter aperture per band (DES DR1,
#: Abbott et al. 2018; HSC-SSP Wide, Aihara et al. 2018 ≈ 1.7 mag deeper);
#: ``sky`` the dark-sky brightness (mag/arcsec²); ``fwhm`` the range of
#: g-band seeing (arcsec), other bands scaled by ``band_fwhm``; ``beta`` the
#: Moffat index of the PSF; ``mix`` the artifact mix (star_halo, cirrus,
#: spiral_knot, tidal).
LSBG_SURVEYS: dict[str, dict] = {
    survey: {key: values[column] for key, values in _SURVEY_TABLE.items()}
    for column, survey in enumerate(("des", "hsc"))
}

# ---------------------------------------------------------------------------
# profiles (surface brightness in nanomaggies / arcsec^2 at positions x, y
# in arcsec, relative to the stamp centre)
# ---------------------------------------------------------------------------


def _fine_grid() -> tuple[np.ndarray, np.ndarray]:
    n = _SIZE * _OVERSAMPLE
    c = (np.arange(n) - (n - 1) / 2.0) * (_OUT_SCALE / _OVERSAMPLE)
    return np.meshgrid(c, c)  # x along columns, y along rows


_X, _Y = _fine_grid()


def _bin(sb: np.ndarray) -> np.ndarray:
    """Fine-grid surface brightness -> flux per output pixel (nmgy)."""
    s = sb.reshape(_SIZE, _OVERSAMPLE, _SIZE, _OVERSAMPLE).mean(axis=(1, 3))
    return s * _OUT_SCALE**2


def _sersic(flux, r_half, n, q=1.0, theta=0.0, x0=0.0, y0=0.0):
    """Sérsic profile of total ``flux`` (nmgy), circularised ``r_half`` (arcsec)."""
    re = r_half / np.sqrt(q)  # semi-major effective radius
    r = elliptical_radius(_X - x0, _Y - y0, q, theta)
    return flux / sersic_total_flux(re, n, q) * sersic_profile(r, re, n)


def _psf_kernel(fwhm: float, beta: float) -> np.ndarray:
    """Pixel-integrated Moffat PSF on the output grid (31x31, sums to 1)."""
    n = 31 * _OVERSAMPLE
    c = (np.arange(n) - (n - 1) / 2.0) * (_OUT_SCALE / _OVERSAMPLE)
    x, y = np.meshgrid(c, c)
    k = moffat_sb(x**2 + y**2, fwhm, beta)
    k = k.reshape(31, _OVERSAMPLE, 31, _OVERSAMPLE).sum(axis=(1, 3))
    return k / k.sum()


def _mag_to_flux(mag):
    return mag_to_flux(mag, _ZP)


def _colour_fluxes(mag_g, g_r, r_z):
    """Fluxes (nmgy) in g, r, z from a g magnitude and two colours."""
    return _mag_to_flux(np.array([mag_g, mag_g - g_r, mag_g - g_r - r_z]))


# ---------------------------------------------------------------------------
# scene components; each returns (shape, fluxes per band) or adds to a list
# ---------------------------------------------------------------------------


class _Scene:
    """Accumulates extended (to convolve) and point-like (PSF) light per band."""

    def __init__(self):
        self.extended = np.zeros((3, _SIZE, _SIZE))

    def add(self, sb_fine: np.ndarray, band_flux_ratio: np.ndarray):
        img = _bin(sb_fine)
        self.extended += np.asarray(band_flux_ratio)[:, None, None] * img[None]

    def add_star(self, fluxes, x0, y0):
        """A star: a point source (88%, convolved with the PSF) plus an
        extended aureole (12%, a Moffat of FWHM 6″ and β=1.4: power-law wings)."""
        fluxes = np.asarray(fluxes, dtype=float)
        self.add(moffat_sb((_X - x0) ** 2 + (_Y - y0) ** 2, 6.0, 1.4, 0.12), fluxes)
        # bilinear deposit of the point source on the output grid
        px = x0 / _OUT_SCALE + (_SIZE - 1) / 2.0
        py = y0 / _OUT_SCALE + (_SIZE - 1) / 2.0
        ix, iy = int(np.floor(px)), int(np.floor(py))
        fx, fy = px - ix, py - iy
        for dx, dy, w in (
            (0, 0, (1 - fx) * (1 - fy)),
            (1, 0, fx * (1 - fy)),
            (0, 1, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if 0 <= ix + dx < _SIZE and 0 <= iy + dy < _SIZE:
                self.extended[:, iy + dy, ix + dx] += 0.88 * w * fluxes

    def render(self, fwhms, beta) -> np.ndarray:
        out = np.empty_like(self.extended)
        for b in range(3):
            out[b] = fftconvolve(self.extended[b], _psf_kernel(fwhms[b], beta), "same")
        return out


def _random_colour(rng, kind):
    """(g - r, r - z) colours (mag) of a component type."""
    if kind == "lsbg":  # red and blue LSBGs (Tanoglidis et al. 2020), g-i 0.2-1.2
        g_r = np.clip(rng.normal(0.45, 0.13), 0.15, 0.85)
        r_z = np.clip(0.7 * g_r + rng.normal(0.05, 0.08), -0.05, 0.8)
    elif kind == "star":
        g_r = rng.uniform(0.2, 1.4)
        r_z = np.clip(0.55 * g_r + rng.normal(0.0, 0.08), -0.1, 1.2)
    elif kind == "compact":  # faint background galaxies: broad colours
        g_r = rng.uniform(0.1, 1.3)
        r_z = np.clip(0.7 * g_r + rng.normal(0.1, 0.15), -0.1, 1.3)
    elif kind == "cirrus":  # scattered starlight: colours of LSBGs
        g_r = np.clip(rng.normal(0.5, 0.13), 0.15, 0.9)
        r_z = np.clip(0.7 * g_r + rng.normal(0.05, 0.08), -0.05, 0.8)
    elif kind == "knot":  # star-forming knots: blue
        g_r = np.clip(rng.normal(0.38, 0.15), -0.1, 0.8)
        r_z = np.clip(0.7 * g_r + rng.normal(0.0, 0.1), -0.2, 0.7)
    else:  # "host": bright early/late-type host galaxy
        g_r = np.clip(rng.normal(0.7, 0.12), 0.3, 1.0)
        r_z = np.clip(rng.normal(0.45, 0.1), 0.1, 0.8)
    return g_r, r_z


def _ratio(g_r, r_z):
    return _colour_fluxes(0.0, g_r, r_z) / _mag_to_flux(0.0)


def _lsbg_params(rng):
    """Sérsic parameters of an LSBG passing the selection of Tanoglidis et al. (2021)."""
    r_half = float(min(2.5 + np.exp(rng.normal(np.log(1.5), 0.7)), 15.0))
    mu_eff = 24.3 + min(rng.exponential(0.8), 3.2)
    n = float(np.clip(rng.normal(0.9, 0.25), 0.5, 1.5))
    q = float(np.clip(rng.beta(3, 1.8), 0.3, 1.0))
    # mean SB within r_half: mu_eff = m + 2.5 log10(2 pi r_half^2)
    mag_g = mu_eff - 2.5 * np.log10(2 * np.pi * r_half**2)
    return r_half, mu_eff, n, q, mag_g


def _add_galaxy(scene, rng, mag_g, r_half, n, q, x0, y0, colours):
    """A Sérsic galaxy of g magnitude ``mag_g`` at a random position angle.

    ``r_half`` in arcsec, ``colours`` its ``(g - r, r - z)``.
    """
    theta = rng.uniform(0, np.pi)
    scene.add(
        _sersic(_mag_to_flux(mag_g), r_half, n, q, theta, x0, y0), _ratio(*colours)
    )


def _add_random_galaxy(
    scene, rng, mag_range, r_half_range, n, q_range, x0, y0, colours
):
    """:func:`_add_galaxy` with the magnitude, half-light radius (arcsec) and
    axis ratio drawn uniformly, in that order, from ``(low, high)`` ranges."""
    mag_g = rng.uniform(*mag_range)
    r_half = rng.uniform(*r_half_range)
    q = rng.uniform(*q_range)
    _add_galaxy(scene, rng, mag_g, r_half, n, q, x0, y0, colours)


def _add_lsbg(scene, rng, x0=0.0, y0=0.0):
    r_half, mu_eff, n, q, mag_g = _lsbg_params(rng)
    g_r, r_z = _random_colour(rng, "lsbg")
    _add_galaxy(scene, rng, mag_g, r_half, n, q, x0, y0, (g_r, r_z))
    if rng.random() < 0.15:  # nucleated dwarf
        scene.add(
            _sersic(
                _mag_to_flux(mag_g + rng.uniform(3.0, 5.0)), 0.4, 1.0, 1.0, 0, x0, y0
            ),
            _ratio(g_r + 0.1, r_z),
        )
    return {
        "r_half": r_half,
        "mu_eff_g": mu_eff,
        "sersic_n": n,
        "axis_ratio": q,
        "mag_g": mag_g,
        "g_r": g_r,
        "r_z": r_z,
    }


def _add_compact(scene, rng, mag_g, x0, y0, r_half=None):
    colours = _random_colour(rng, "compact")
    r_half = rng.uniform(0.3, 1.2) if r_half is None else r_half
    n, q = rng.uniform(0.7, 2.5), rng.uniform(0.4, 1.0)
    _add_galaxy(scene, rng, mag_g, r_half, n, q, x0, y0, colours)


def _add_field_sources(scene, rng, mean=3.0):
    """Faint field stars and galaxies anywhere in the stamp."""
    for _ in range(rng.poisson(mean)):
        x0, y0 = rng.uniform(-15, 15, size=2)
        if np.hypot(x0, y0) < 3.0:
            continue
        mag = rng.uniform(21.5, 25.0)
        if rng.random() < 0.35:
            g_r, r_z = _random_colour(rng, "star")
            scene.add_star(_colour_fluxes(mag, g_r, r_z), x0, y0)
        else:
            _add_compact(scene, rng, mag, x0, y0)


def _offcentre(rng, rmin, rmax):
    r = rng.uniform(rmin, rmax)
    phi = rng.uniform(0, 2 * np.pi)
    return r * np.cos(phi), r * np.sin(phi), phi


def _positive(scene, rng):
    info = _add_lsbg(scene, rng, *rng.normal(0, 0.4, size=2))
    u = rng.random()
    if u < 0.3:  # an interloper: star or galaxy near the LSBG
        x0, y0, _ = _offcentre(rng, 4.0, 20.0)
        mag = rng.uniform(16.0, 20.5)
        if rng.random() < 0.6:
            g_r, r_z = _random_colour(rng, "star")
            scene.add_star(_colour_fluxes(mag, g_r, r_z), x0, y0)
        else:
            _add_compact(scene, rng, mag, x0, y0, r_half=rng.uniform(0.6, 2.0))
    elif u < 0.45:  # an LSBG near a moderately bright star's halo
        x0, y0, _ = _offcentre(rng, 16.0, 26.0)
        g_r, r_z = _random_colour(rng, "star")
        scene.add_star(_colour_fluxes(rng.uniform(13.0, 16.0), g_r, r_z), x0, y0)
    return info


def _star_halo(scene, rng):
    """Faint compact source(s) in the halo of an off-centre bright star/elliptical."""
    x0, y0, _ = _offcentre(rng, 13.0, 28.0)
    if rng.random() < 0.6:
        g_r, r_z = _random_colour(rng, "star")
        scene.add_star(_colour_fluxes(rng.uniform(11.5, 15.0), g_r, r_z), x0, y0)
    else:  # giant elliptical
        colours = _random_colour(rng, "host")
        _add_random_galaxy(
            scene, rng, (14.0, 16.5), (6.0, 15.0), 4.0, (0.6, 1.0), x0, y0, colours
        )
    for _ in range(rng.integers(1, 4)):  # the blend at the centre
        _add_compact(
            scene,
            rng,
            rng.uniform(21.5, 23.5),
            *rng.normal(0, 1.2, size=2),
            r_half=rng.uniform(1.2, 3.5),
        )


def _cirrus(scene, rng):
    """Galactic-cirrus-like diffuse filaments (anisotropic random field)."""
    n = _SIZE * _OVERSAMPLE
    kx = np.fft.fftfreq(n)[None, :]
    ky = np.fft.fftfreq(n)[:, None]
    ang = rng.uniform(0, np.pi)
    ku = kx * np.cos(ang) + ky * np.sin(ang)
    kv = -kx * np.sin(ang) + ky * np.cos(ang)
    k = np.sqrt((ku * rng.uniform(0.15, 0.4)) ** 2 + kv**2) + 1e-3
    power = k ** (-2.8) * np.exp(-((k / 0.05) ** 2))
    noise = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    field = np.real(np.fft.ifft2(noise * np.sqrt(power)))
    field = (field - field.mean()) / field.std()
    # brighter at the centre, where the candidate was detected
    bump = np.exp(-(_X**2 + _Y**2) / (2 * rng.uniform(3.0, 7.0) ** 2))
    shape = np.exp(1.0 * field) * (0.8 + 0.7 * bump)
    mu = rng.uniform(24.6, 26.6)  # mean SB near the centre (g)
    centre = shape[np.hypot(_X, _Y) < 3.0].mean()
    sb_g = _mag_to_flux(mu) * shape / centre
    g_r, r_z = _random_colour(rng, "cirrus")
    scene.add(sb_g, _ratio(g_r, r_z))


def _spiral_knot(scene, rng):
    """Knots on the arm of a large spiral galaxy whose centre is off the stamp."""
    x0, y0, phi = _offcentre(rng, 14.0, 30.0)
    r_disk = rng.uniform(8.0, 16.0)  # half-light radius of the disc (arcsec)
    q = rng.uniform(0.7, 1.0)
    mag = rng.uniform(14.0, 16.5)
    g_r, r_z = _random_colour(rng, "host")
    disc = _sersic(_mag_to_flux(mag + 0.6), r_disk, 1.0, q, 0.0, x0, y0)
    bulge = _sersic(_mag_to_flux(mag + 1.8), 0.15 * r_disk, 3.0, 0.9, 0.0, x0, y0)
    scene.add(bulge, _ratio(g_r + 0.1, r_z))
    # log-spiral arms passing through the stamp centre
    dx, dy = _X - x0, _Y - y0
    r = np.hypot(dx, dy) + 1e-6
    th = np.arctan2(dy, dx)
    pitch = np.tan(np.radians(rng.uniform(12, 25)))
    d, psi = np.hypot(x0, y0), np.arctan2(-y0, -x0)
    phase = psi - np.log(d) / pitch
    delta = np.angle(np.exp(1j * 2 * (th - np.log(r) / pitch - phase))) / 2
    arms = np.exp(-0.5 * (delta / rng.uniform(0.12, 0.25)) ** 2)
    g2, z2 = _random_colour(rng, "knot")
    scene.add(disc * (0.4 + 1.2 * arms), _ratio(0.5 * (g_r + g2), 0.5 * (r_z + z2)))
    for i in range(rng.integers(1, 4)):  # star-forming knots, one near the centre
        kx, ky = rng.normal(0, 0.7 if i == 0 else 4.0, size=2)
        colours = _random_colour(rng, "knot")
        _add_random_galaxy(
            scene, rng, (21.0, 23.5), (0.8, 2.5), 0.7, (0.5, 1.0), kx, ky, colours
        )


def _tidal(scene, rng):
    """Tidal ejecta from a bright off-centre host passing through the centre."""
    x0, y0, phi = _offcentre(rng, 11.0, 22.0)
    colours = _random_colour(rng, "host")
    host_r = rng.uniform(2.0, 6.0)
    mag, n, q = rng.uniform(16.5, 19.0), rng.uniform(1.0, 4.0), rng.uniform(0.5, 1.0)
    _add_galaxy(scene, rng, mag, host_r, n, q, x0, y0, colours)
    # a curved plume (quadratic Bezier) from the host through the centre
    length = np.hypot(x0, y0)
    end = -np.array([x0, y0]) / length * rng.uniform(2.0, 6.0)
    ctrl = np.array([x0, y0]) / 2 + rng.normal(0, 4.0, size=2)
    width = rng.uniform(2.5, 5.0)
    mu = rng.uniform(24.5, 26.5)
    sb = np.zeros_like(_X)
    ts = np.linspace(0, 1, 40)
    for t in ts:
        p = (1 - t) ** 2 * np.array([x0, y0]) + 2 * (1 - t) * t * ctrl + t**2 * end
        sb += np.exp(-((_X - p[0]) ** 2 + (_Y - p[1]) ** 2) / (2 * width**2))
    centre = sb[np.hypot(_X, _Y) < 2.0].mean()
    gt, zt = _random_colour(rng, "lsbg")  # debris of a disrupted dwarf
    scene.add(_mag_to_flux(mu) * sb / max(centre, 1e-12), _ratio(gt, zt))


_ARTIFACT_MAKERS = {
    "star_halo": _star_halo,
    "cirrus": _cirrus,
    "spiral_knot": _spiral_knot,
    "tidal": _tidal,
}


def _noise_model(survey: dict):
    """Per band: sky flux per output pixel (nmgy) and gain k (e-/nmgy)."""
    scale = survey["pixel_scale"]
    n_ap = np.pi * (1.95 / 2) ** 2 / scale**2  # native pixels in the aperture
    sigma_native = _mag_to_flux(survey["depth10"]) / 10.0 / np.sqrt(n_ap)
    sky_native = _mag_to_flux(survey["sky"]) * scale**2
    gain = sky_native / sigma_native**2  # sky-limited: var = sky / k
    sky_out = _mag_to_flux(survey["sky"]) * _OUT_SCALE**2
    return sky_out, gain


#: Unit coordinates of the output grid, for the residual sky gradient.
_GRADIENT_Y, _GRADIENT_X = np.mgrid[-1 : 1 : _SIZE * 1j, -1 : 1 : _SIZE * 1j]


def _stamp(rng, positive: bool, cfg: dict) -> tuple[np.ndarray, str, dict]:
    """One stamp (3, 64, 64) in nmgy, its kind and its row of ``params``.

    The scene (an LSBG, or an artifact type drawn from the survey's mix)
    plus field sources, convolved with the survey's PSF, Poisson-sampled with
    the sky, sky-subtracted, with a residual sky gradient.
    """
    scene = _Scene()
    row = dict.fromkeys(
        ("r_half", "mu_eff_g", "sersic_n", "axis_ratio", "mag_g", "g_r", "r_z"),
        np.nan,
    )
    if positive:
        kind = "lsbg"
        row.update(_positive(scene, rng))
    else:
        mix = np.asarray(cfg["mix"]) / np.sum(cfg["mix"])
        kind = LSBG_ARTIFACT_TYPES[rng.choice(4, p=mix)]
        _ARTIFACT_MAKERS[kind](scene, rng)
    _add_field_sources(scene, rng)
    fwhm_g = rng.uniform(*cfg["fwhm"])
    fwhms = fwhm_g * np.asarray(cfg["band_fwhm"])
    model = np.clip(scene.render(fwhms, cfg["beta"]), 0.0, None)
    sky_out, gain = _noise_model(cfg)
    out = np.empty((3, _SIZE, _SIZE), dtype=np.float32)
    for b in range(3):
        electrons = rng.poisson(gain[b] * (model[b] + sky_out[b]))
        img = electrons / gain[b] - sky_out[b]
        # imperfect sky subtraction: a small plane, in units of pixel noise
        sigma = np.sqrt(sky_out[b] / gain[b])
        gx, gy = rng.normal(0, cfg["gradient"] / 0.0015 * 0.15, size=2)
        out[b] = img + sigma * (gx * _GRADIENT_X + gy * _GRADIENT_Y)
    row["fwhm_g"] = fwhm_g
    return out, kind, row


def _flip_labels(rng, labels: np.ndarray, fraction: float) -> np.ndarray:
    """Binary labels with ``round(fraction * n)`` of them, at random, flipped."""
    target = labels.copy()
    n_flip = int(round(fraction * labels.size))
    if n_flip:
        flip = rng.permutation(labels.size)[:n_flip]
        target[flip] = 1 - target[flip]
    return target


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "survey": [StrOptions(set(LSBG_SURVEYS))],
        "positive_fraction": [Interval(Real, 0, 1, closed="both")],
        "label_noise": [Interval(Real, 0, 1, closed="both")],
        "return_X_y": ["boolean"],
        "random_state": ["random_state"],
    }
)
def make_lsbg_stamps(
    n_samples: int = 1000,
    *,
    survey: str = "des",
    positive_fraction: float = 0.5,
    label_noise: float = 0.0,
    return_X_y: bool = False,
    random_state=None,
):
    """Simulate DeepShadows-like g, r, z stamps of LSBGs and artifacts.

    Each stamp covers 30″×30″ on 64×64 pixels (0.469″/pixel), like the
    cutouts of Tanoglidis et al. (2021) (256×256 survey pixels resized),
    centred on an LSBG candidate. Positives (label 1) are Sérsic
    low-surface-brightness galaxies with g-band mean surface brightness
    within the half-light radius μ̄_eff(g) in 24.3–27.5 mag/arcsec²,
    circularised half-light radius r½ in 2.5–15″ (2.5″ + a log-normal
    excess, median 4″), Sérsic index n in 0.5–1.5, axis ratio 0.3–1,
    colours g−r ≈ 0.15–0.85 (g−i ≈ 0.2–1.2), 15% nucleated; 30% have an
    interloper (a star or compact galaxy of g = 16–20.5 mag 4–20″ away) and
    15% sit near the halo of a g = 13–16 star 16–26″ away. Negatives
    (label 0) are the artifact types of Tanoglidis et al. (2021, §1):

    - ``"star_halo"``: 1–3 faint small sources (g = 21.5–23.5, r½ 1.2–3.5″)
      blended in the halo of a bright star (g = 11.5–15, with power-law
      wings) or a giant elliptical (de Vaucouleurs, g = 14–16.5) 13–28″
      off-centre;
    - ``"cirrus"``: Galactic-cirrus-like filaments (an anisotropic Gaussian
      random field, exponentiated) of μ(g) ≈ 24.6–26.6 near the centre,
      with the colours of LSBGs;
    - ``"spiral_knot"``: blue star-forming knots on a log-spiral arm of a
      large spiral galaxy (g = 14–16.5) whose centre lies 14–30″ away;
    - ``"tidal"``: a curved low-surface-brightness plume (LSBG colours)
      from a host galaxy (g = 16.5–19) 11–22″ away, through the centre.

    Every stamp also holds a Poisson number (mean 3) of faint field stars
    and galaxies (g = 21.5–25). Extended light is convolved with a Moffat
    PSF (FWHM and index per survey); stars are the PSF plus a 12% aureole.
    Sky photons and source photons are Poisson-sampled with the gain that
    makes the sky noise match the survey depth, the sky is then subtracted,
    and a small residual sky gradient is left, as in survey cutouts.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of stamps.
    survey : {"des", "hsc"}, default="des"
        ``"des"``: DES-like (0.263″ native pixels, g-band seeing 1.0–1.6″,
        Moffat β=3, 10σ depths g, r, z = 24.3, 24.1, 22.7 mag).
        ``"hsc"``: HSC-SSP-Wide-like, the seed's second survey (0.168″
        pixels, seeing 0.6–0.9″, Moffat β=2.5, ≈1.7 mag deeper) with a
        different artifact mix; for the transfer experiment. Stamps are on
        the same 30″, 64×64 grid in both cases (see :data:`LSBG_SURVEYS`).
    positive_fraction : float, default=0.5
        Fraction of LSBGs (rounded to an integer number of stamps).
    label_noise : float, default=0.0
        Fraction of stamps whose label is flipped (chosen at random among
        both classes, as in Tanoglidis et al. (2021, §6.3)). ``true_target`` keeps the truth.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    random_state : int, RandomState instance or None, default=None
        Determines everything; an int gives identical stamps at every call.

    Returns
    -------
    data : Bunch
        With ``data``, float32 array (n_samples, 3, 64, 64): flux per pixel
        in nanomaggies (AB zero point 22.5: mag = 22.5 − 2.5 log10 Σ pixels),
        sky-subtracted, bands in ``LSBG_BANDS`` order (channels first);
        ``target``, int array (n_samples,): 1 = LSBG, 0 = artifact (after
        label noise); ``true_target``; ``kind``, str array: ``"lsbg"`` or an
        artifact type; ``target_names`` = ``["artifact", "LSBG"]``;
        ``params``, a DataFrame of the positives' true ``r_half`` (arcsec),
        ``mu_eff_g`` (mag/arcsec²), ``sersic_n``, ``axis_ratio``,
        ``mag_g``, ``g_r``, ``r_z`` (NaN for artifacts) and every stamp's
        ``fwhm_g`` (arcsec); ``bands``; ``pixel_scale`` (arcsec/pixel of
        the stamps); ``zero_point`` (22.5); ``survey``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Examples
    --------
    >>> from skastro.datasets import make_lsbg_stamps
    >>> bunch = make_lsbg_stamps(8, random_state=0)
    >>> bunch.data.shape, bunch.data.dtype.name
    ((8, 3, 64, 64), 'float32')
    >>> int(bunch.target.sum())
    4
    """
    import pandas as pd

    rng = check_random_state(random_state)
    cfg = LSBG_SURVEYS[survey]
    n_pos = int(round(positive_fraction * n_samples))
    labels = np.zeros(n_samples, dtype=int)
    labels[rng.permutation(n_samples)[:n_pos]] = 1
    data = np.empty((n_samples, 3, _SIZE, _SIZE), dtype=np.float32)
    kinds = np.empty(n_samples, dtype=object)
    rows = []
    for i in range(n_samples):
        # one child generator per stamp: each stamp independent of the others
        srng = np.random.default_rng(rng.randint(0, 2**63 - 1, dtype=np.int64))
        data[i], kinds[i], row = _stamp(srng, labels[i] == 1, cfg)
        rows.append(row)
    target = _flip_labels(rng, labels, label_noise)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        true_target=labels,
        kind=kinds.astype(str),
        target_names=np.array(["artifact", "LSBG"]),
        params=pd.DataFrame(rows),
        bands=LSBG_BANDS,
        pixel_scale=_OUT_SCALE,
        zero_point=_ZP,
        survey=survey,
    )
