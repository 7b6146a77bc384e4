"""Tests for the shared physics (profiles, PSFs, magnitudes, stretch)."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import gammaincinv

from skastro.utils._physics import (
    FWHM_PER_SIGMA,
    asinh_stretch,
    elliptical_radius,
    flux_to_mag,
    gaussian_kernel,
    gaussian_psf,
    mag_to_flux,
    moffat_enclosed,
    moffat_psf,
    moffat_sb,
    sersic_b,
    sersic_enclosed,
    sersic_profile,
    sersic_total_flux,
)


def test_mag_flux_round_trip():
    """flux_to_mag inverts mag_to_flux; 5 mag is a factor 100 in flux."""
    mag = np.array([15.0, 20.0, 22.5])
    flux = mag_to_flux(mag, 22.5)
    np.testing.assert_allclose(flux[1] / flux[0], 0.01)
    assert flux[2] == pytest.approx(1.0)
    np.testing.assert_allclose(flux_to_mag(flux, 22.5), mag)


@pytest.mark.parametrize("n", [0.5, 0.7, 1.0, 2.5, 4.0])
def test_sersic_b_expansion_close_to_exact_root(n):
    """The Ciotti & Bertin expansion is within its stated error of the root."""
    exact = sersic_b(n, exact=True)
    assert exact == pytest.approx(gammaincinv(2 * n, 0.5))
    tol = 7.5e-4 if n < 0.7 else 1e-4
    assert sersic_b(n) == pytest.approx(exact, rel=tol)


@pytest.mark.parametrize("n", [0.7, 1.0, 4.0])
def test_sersic_half_light_and_total_flux(n):
    """Half the flux lies within r_e, and the profile integrates to its total."""
    r_e = 2.0
    assert sersic_enclosed(r_e, r_e, n) == pytest.approx(0.5, abs=1e-4)
    total, _ = integrate.quad(
        lambda r: 2 * np.pi * r * sersic_profile(r, r_e, n), 0, np.inf, limit=200
    )
    assert sersic_total_flux(r_e, n) == pytest.approx(total, rel=1e-6)
    assert sersic_profile(r_e, r_e, n) == pytest.approx(1.0)


def test_elliptical_radius_axes():
    """Along the major axis the radius is the distance; along the minor, it is / q."""
    angle = np.pi / 6
    major = np.array([np.cos(angle), np.sin(angle)])
    minor = np.array([-np.sin(angle), np.cos(angle)])
    assert elliptical_radius(*(3 * major), 0.5, angle) == pytest.approx(3.0)
    assert elliptical_radius(*(3 * minor), 0.5, angle) == pytest.approx(6.0)


@pytest.mark.parametrize("beta", [1.4, 2.5, 4.0])
def test_moffat_fwhm_flux_and_enclosed(beta):
    """Half maximum at FWHM/2, unit flux, and the enclosed fraction integrates it."""
    fwhm = 3.0
    peak = moffat_sb(0.0, fwhm, beta)
    assert moffat_sb((fwhm / 2) ** 2, fwhm, beta) == pytest.approx(peak / 2)
    inside, _ = integrate.quad(
        lambda r: 2 * np.pi * r * moffat_sb(r * r, fwhm, beta), 0, 5
    )
    assert moffat_enclosed(5.0, fwhm, beta) == pytest.approx(inside, rel=1e-8)
    assert moffat_enclosed(1e8, fwhm, beta) == pytest.approx(1.0, abs=1e-6)
    assert moffat_sb(0.0, fwhm, beta, flux=7.0) == pytest.approx(7 * peak)


def test_psf_grids_sum_to_enclosed_flux():
    """Pixel-integrated PSFs hold the flux that falls on the grid."""
    g = gaussian_psf(41, 3.0, 0.3, -0.2)
    assert g.shape == (41, 41) and g.sum() == pytest.approx(1.0, abs=1e-9)
    m = moffat_psf(41, np.array([3.0, 4.0]), 0.0, 0.0, 3.0, subsample=6)
    assert m.shape == (2, 41, 41)
    # a 41x41 square holds a little more than the inscribed circle of radius 20.5
    assert (
        m.sum(axis=(1, 2)) >= moffat_enclosed(20.5, np.array([3.0, 4.0]), 3.0)
    ).all()
    assert (m.sum(axis=(1, 2)) < 1.0).all()


def test_gaussian_kernel_normalised_and_sized():
    """The detection kernel sums to 1, is centred and spans 2.5 sigma."""
    k = gaussian_kernel(3.0)
    half = int(np.ceil(2.5 * 3.0 / FWHM_PER_SIGMA))
    assert k.shape == (2 * half + 1, 2 * half + 1)
    assert k.sum() == pytest.approx(1.0)
    assert np.unravel_index(k.argmax(), k.shape) == (half, half)
    np.testing.assert_allclose(k, k.T)


def test_asinh_stretch_linear_then_logarithmic():
    """asinh(x / 2b): x / 2b for small x, log(x / b) for large x; float32."""
    x = np.array([1e-4, 1e4])
    out = asinh_stretch(x, 1.0)
    assert out.dtype == np.float32
    assert out[0] == pytest.approx(5e-5, rel=1e-4)
    assert out[1] == pytest.approx(np.log(1e4), rel=1e-4)


def test_asinh_stretch_public_path():
    """skastro.stamps.asinh_stretch is the shared function."""
    from skastro.stamps import asinh_stretch as public

    assert public is asinh_stretch
