"""Tests for the HiTS-like image-sequence simulator."""

from __future__ import annotations

import numpy as np
import pytest
from skorch.helper import SliceDict

from skastro.datasets import HITS_CLASSES, make_hits_sequences

META = (
    "mjd",
    "zero_point",
    "sky",
    "fwhm",
    "gain",
    "read_noise",
    "exptime",
    "limiting_mag",
)


@pytest.fixture(scope="module")
def bunch():
    return make_hits_sequences(6, n_epochs=(5, 12), random_state=0)


def test_hits_layout_matches_contract(bunch):
    """Keys, shapes, dtypes and padding follow CONTRACTS.md."""
    data = bunch.data
    n = 6 * len(HITS_CLASSES)
    assert isinstance(data, SliceDict)
    assert data["stamps"].shape == (n, 12, 21, 21)
    assert data["stamps"].dtype == np.float32
    assert data["mask"].dtype == bool
    assert bunch.target.shape == (n,)
    assert bunch.target_names == HITS_CLASSES
    np.testing.assert_array_equal(np.bincount(bunch.target), [6] * 7)
    mask = data["mask"]
    n_valid = mask.sum(axis=1)
    assert n_valid.min() >= 5 and n_valid.max() <= 12
    # valid epochs first (left-aligned)
    np.testing.assert_array_equal(mask, np.arange(12)[None, :] < n_valid[:, None])
    for key in META:
        assert data[key].shape == (n, 12) and data[key].dtype == np.float64
        assert np.all(np.isfinite(data[key][mask])), key
        assert np.all(np.isnan(data[key][~mask])), key
    assert np.all(data["stamps"][~mask] == 0)
    assert np.all(np.diff(data["mjd"], axis=1)[mask[:, 1:]] > 0)
    assert bunch.true_mag.shape == bunch.true_flux.shape == (n, 12)
    assert bunch.center.shape == (n, 12, 2)


def test_hits_physical_ranges(bunch):
    """Observing conditions lie in the documented DECam/HiTS ranges."""
    d, m = bunch.data, bunch.data["mask"]
    fwhm_arcsec = d["fwhm"][m] * 0.263
    assert fwhm_arcsec.min() >= 0.8 - 1e-9 and fwhm_arcsec.max() <= 2.0 + 1e-9
    assert np.all((d["gain"][m] > 3.7) & (d["gain"][m] < 4.4))
    assert np.all((d["read_noise"][m] >= 6) & (d["read_noise"][m] <= 8))
    assert np.allclose(d["exptime"][m], 87.0)
    assert 23.5 < np.median(d["limiting_mag"][m]) < 24.5
    # the stamp median is the sky level (sky not subtracted)
    med = np.median(d["stamps"][m], axis=(1, 2))
    assert np.median(np.abs(med / d["sky"][m] - 1)) < 0.1


def test_hits_flux_is_conserved():
    """Sky-subtracted stamps sum to the true counts for isolated bright stars."""
    b = make_hits_sequences({"NV": 30}, n_epochs=10, random_state=1)
    d = b.data
    resid = (d["stamps"] - d["sky"][..., None, None]).sum(axis=(2, 3))
    sel = ~b.host[:, None] & (b.true_flux > 5000)
    assert sel.sum() > 10
    ratio = resid[sel] / b.true_flux[sel]
    assert abs(np.median(ratio) - 1) < 0.01


def test_hits_true_mag_and_flux_consistent(bunch):
    """true_mag follows Carrasco-Davis et al. (2019) eq. 3.1 from true_flux and the zero point."""
    d, m = bunch.data, bunch.data["mask"]
    ok = m & (bunch.true_flux > 0)
    flux = np.where(ok, bunch.true_flux, 1.0)
    mag = d["zero_point"] - 2.5 * np.log10(flux / d["exptime"])
    np.testing.assert_allclose(bunch.true_mag[ok], mag[ok])


def test_hits_class_signatures():
    """Asteroids appear once; supernovae are detected; galaxies always have a host."""
    b = make_hits_sequences(20, n_epochs=(8, 15), random_state=3)
    names = np.asarray(HITS_CLASSES)[b.target]
    m = b.data["mask"]
    ast = names == "AST"
    assert np.all(np.sum((b.true_flux[ast] > 0) & m[ast], axis=1) == 1)
    sn = names == "SN"
    bright = b.true_mag[sn] < b.data["limiting_mag"][sn]
    assert np.all(np.any(bright & m[sn], axis=1))
    assert np.all(b.host[names == "GAL"])
    nv = names == "NV"
    flux_ratio = b.true_flux[nv] / np.nanmax(b.true_flux[nv], axis=1, keepdims=True)
    # constant magnitude: counts vary only through zero points (< ~0.3 mag)
    assert np.nanmin(flux_ratio) > 0.7
    hosted = make_hits_sequences({"SN": 200}, n_epochs=6, random_state=3).host
    assert 0.4 < hosted.mean() < 0.6


def test_hits_deterministic():
    """The same random_state gives identical sequences; another seed differs."""
    a = make_hits_sequences(2, n_epochs=(5, 8), random_state=7)
    b = make_hits_sequences(2, n_epochs=(5, 8), random_state=7)
    c = make_hits_sequences(2, n_epochs=(5, 8), random_state=8)
    for key in a.data.keys():
        np.testing.assert_array_equal(a.data[key], b.data[key])
    assert not np.array_equal(a.data["stamps"], c.data["stamps"])


def test_hits_real_domain_is_shifted():
    """domain='real' changes the PSF shape, sky and zero points."""
    s = make_hits_sequences(3, n_epochs=10, random_state=0)
    r = make_hits_sequences(3, n_epochs=10, domain="real", random_state=0)
    assert s.psf == "gaussian" and r.psf == "moffat"
    assert np.median(r.data["zero_point"]) < np.median(s.data["zero_point"]) - 0.1
    assert np.median(r.data["limiting_mag"]) < np.median(s.data["limiting_mag"])


def test_hits_real_domain_calibration_and_supernovae():
    """'real' zero points carry a 0.02 mag calibration error; SNe start detected."""
    r = make_hits_sequences(40, n_epochs=(6, 12), domain="real", random_state=2)
    d, m = r.data, r.data["mask"]
    ok = m & (r.true_flux > 0)
    flux = np.where(ok, r.true_flux, 1.0)
    # magnitudes from the reported zero point minus the true ones
    err = (d["zero_point"] - 2.5 * np.log10(flux / d["exptime"]) - r.true_mag)[ok]
    assert 0.015 < np.std(err) < 0.025 and abs(np.mean(err)) < 0.005
    s = make_hits_sequences(5, n_epochs=(6, 12), random_state=2)
    ok = s.data["mask"] & (s.true_flux > 0)
    flux = np.where(ok, s.true_flux, 1.0)
    mag = s.data["zero_point"] - 2.5 * np.log10(flux / s.data["exptime"])
    np.testing.assert_allclose(mag[ok], s.true_mag[ok])
    # without the pre-detection rule, 'real' supernova sequences start at the
    # first detection; with it (the default), five epochs before it
    legacy = make_hits_sequences(
        {"SN": 40},
        n_epochs=(6, 12),
        domain="real",
        pre_detection_epochs=None,
        random_state=2,
    )
    assert np.all(legacy.true_mag[:, 0] < legacy.data["limiting_mag"][:, 0])
    sn = np.asarray(HITS_CLASSES)[r.target] == "SN"
    detected = (r.true_mag < d["limiting_mag"]) & m
    assert np.all(np.argmax(detected[sn], axis=1) == 5)


def test_hits_real_domain_eclipsing_population():
    """'real' eclipsing binaries are mostly short-period, shallow contact systems."""
    from skastro.datasets._hits import _DOMAINS, _eclipsing

    t = np.sort(np.random.default_rng(0).uniform(0, 20, (3000, 15)), axis=1)
    for domain, (lo, hi) in (("simulated", (0.25, 0.35)), ("real", (0.65, 0.75))):
        params = _DOMAINS[domain]
        flux, info = _eclipsing(np.random.default_rng(1), t, params)
        assert lo < info["contact"].mean() < hi
        periods = info["period"][info["contact"]]
        assert periods.min() >= params["contact_period"][0]
        assert periods.max() <= params["contact_period"][1]
        depth = 1 - flux[info["contact"]].min(axis=1)
        assert depth.max() <= params["contact_depth"][1] + 1e-9
        assert np.all(flux <= 1 + 1e-12) and np.all(flux > 0)


def test_hits_cosmic_rays():
    """Cosmic rays hit valid epochs at the given rate with 1-3 charged pixels."""
    from skastro.datasets._hits import _add_cosmic_rays

    n, T, size = 400, 10, 21
    stamps = np.zeros((n, T, size, size), dtype=np.float32)
    mask = np.arange(T)[None, :] < np.repeat([5, 10], n // 2)[:, None]
    gain = np.full((n, T), 4.0)
    _add_cosmic_rays(np.random.default_rng(0), stamps, mask, gain, 0.3)
    hit = stamps.reshape(n, T, -1).max(axis=-1) > 0
    assert not hit[~mask].any()
    assert 0.25 < hit[mask].mean() < 0.35
    n_pix = (stamps > 0).reshape(n, T, -1).sum(axis=-1)[hit]
    assert n_pix.min() >= 1 and n_pix.max() <= 3
    charge = stamps[stamps > 0] * 4.0  # electrons
    assert charge.min() >= 200 * 0.999 and charge.max() <= 3 * 3000 * 1.001
    # in 'real' stamps, pixels far above the noise appear away from the source
    # (in ~2 % of the epochs); the simulated domain has none
    for domain, expect in (("real", True), ("simulated", False)):
        b = make_hits_sequences({"NV": 60}, n_epochs=10, domain=domain, random_state=4)
        # isolated sources faint enough that their wings stay in the noise
        d, keep = b.data, ~b.host & (np.nanmin(b.true_mag, axis=1) > 19)
        sky = d["sky"][keep][..., None, None]
        sigma = np.sqrt(sky / d["gain"][keep][..., None, None] + 3.0)
        z = (d["stamps"][keep] - sky) / sigma
        z[..., 5:16, 5:16] = 0.0  # the source
        assert (z.max() > 20) == expect, domain


def test_hits_return_X_y():
    """return_X_y gives the SliceDict and the targets."""
    X, y = make_hits_sequences(1, n_epochs=6, return_X_y=True, random_state=0)
    assert isinstance(X, SliceDict) and y.shape == (7,)
    assert X["stamps"].shape == (7, 6, 21, 21)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_per_class": 0}, "not all zero"),
        ({"n_per_class": [1, 2]}, "sequence of 7 counts"),
        ({"n_per_class": {"QSO": 3}}, "unknown class"),
        ({"n_epochs": (10, 5)}, "1 <= min <= max"),
        ({"n_epochs": 0}, "n_epochs must be"),
        ({"stamp_size": 20}, "odd int"),
        ({"domain": "hsc"}, "domain must be one of"),
        ({"pre_detection_epochs": -1}, "pre_detection_epochs must be None"),
        ({"pre_detection_epochs": 2.0}, "pre_detection_epochs must be None"),
        ({"pre_detection_epochs": True}, "pre_detection_epochs must be None"),
        ({"eclipse_min_epochs": 0}, "eclipse_min_epochs must be an int >= 1"),
        ({"eclipse_min_epochs": "2"}, "eclipse_min_epochs must be an int >= 1"),
    ],
)
def test_hits_bad_parameters(kwargs, match):
    """Bad parameters raise a ValueError that names them."""
    kwargs = {"n_per_class": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_hits_sequences(**kwargs)


def test_hits_stamp_size_and_fixed_epochs():
    """Other odd stamp sizes and a fixed epoch count work."""
    b = make_hits_sequences(1, n_epochs=7, stamp_size=15, random_state=0)
    assert b.data["stamps"].shape == (7, 7, 15, 15)
    assert b.data["mask"].all()


def test_hits_host_images():
    """host_images hold the noise-free hosts of point sources (not of GAL)."""
    b = make_hits_sequences(
        {"SN": 12, "NV": 4, "GAL": 3},
        n_epochs=6,
        return_host_images=True,
        random_state=2,
    )
    hosts = b.host_images
    assert hosts.shape == b.data["stamps"].shape and hosts.dtype == np.float32
    names = np.asarray(HITS_CLASSES)[b.target]
    has = hosts.sum(axis=(1, 2, 3)) > 0
    np.testing.assert_array_equal(has, b.host & (names != "GAL"))
    # stamp - sky - host leaves the point source: sums match its true counts
    d = b.data
    resid = (d["stamps"] - d["sky"][..., None, None] - hosts).sum(axis=(2, 3))
    sel = has[:, None] & (b.true_flux > 3000)
    if sel.any():
        assert abs(np.median(resid[sel] / b.true_flux[sel]) - 1) < 0.05
    assert "host_images" not in make_hits_sequences(1, n_epochs=5, random_state=0)


@pytest.mark.parametrize("pre", [5, 2, 0])
def test_hits_pre_detection_epochs(pre):
    """Supernovae and asteroids are first detected at epoch min(pre, n_valid - 1)
    (Carrasco-Davis et al. 2019, §3.2.1: five images before the first alert)."""
    b = make_hits_sequences(
        {"SN": 60, "AST": 20, "NV": 5},
        n_epochs=(4, 14),
        pre_detection_epochs=pre,
        random_state=6,
    )
    names = np.asarray(HITS_CLASSES)[b.target]
    m = b.data["mask"]
    detected = (b.true_mag < b.data["limiting_mag"]) & m
    expected = np.minimum(pre, m.sum(axis=1) - 1)
    for c in ("SN", "AST"):
        sel = names == c
        assert np.all(detected[sel].any(axis=1)), c
        np.testing.assert_array_equal(np.argmax(detected[sel], axis=1), expected[sel])
    # supernovae keep rising or shining after the first alert
    sn = names == "SN"
    rows = np.flatnonzero(sn)
    after = b.true_flux[rows, expected[sn]]
    assert np.all(after > 0)


def test_hits_windows_share_field_cadence():
    """With the pre-detection rule every sequence is a window of its field's
    cadence: epochs still increase, with HiTS-like nightly visits."""
    b = make_hits_sequences(10, n_epochs=22, random_state=8)
    dt = np.diff(b.data["mjd"], axis=1)
    assert np.all(dt > 0)
    span = b.data["mjd"][:, -1] - b.data["mjd"][:, 0]
    assert 5 < np.median(span) < 16


def test_hits_eclipse_min_epochs():
    """More required in-eclipse epochs give eclipsing binaries with more
    epochs in eclipse."""

    def deep_epochs(k):
        b = make_hits_sequences(
            {"EB": 300}, n_epochs=10, eclipse_min_epochs=k, random_state=9
        )
        ratio = b.true_flux / np.nanmax(b.true_flux, axis=1, keepdims=True)
        return np.mean(np.sum(ratio < 0.85, axis=1))

    assert deep_epochs(3) > deep_epochs(1) + 0.3
