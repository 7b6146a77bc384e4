"""Tests for LightCurveExtractor (optimal and aperture photometry)."""

from __future__ import annotations

import numpy as np
import pytest
from photutils.aperture import CircularAperture, aperture_photometry
from skorch.helper import SliceDict

from skastro.datasets import make_hits_sequences
from skastro.exceptions import SequenceError
from skastro.lightcurves import LightCurveExtractor
from skastro.utils._physics import gaussian_psf


def _synthetic(n=300, T=4, flux=400.0, sky=100.0, fwhm=4.5, seed=0, size=21):
    """Gaussian stars of known flux (ADU) on a flat sky with Poisson + read noise."""
    rng = np.random.default_rng(seed)
    gain, rn = 4.0, 7.0
    psf = gaussian_psf(size, np.full((n, T), fwhm), np.zeros((n, T)), np.zeros((n, T)))
    model = sky + flux * psf
    e = rng.poisson(model * gain) + rn * rng.standard_normal(model.shape)
    full = lambda v: np.full((n, T), v, dtype=float)  # noqa: E731
    X = SliceDict(
        stamps=(e / gain).astype(np.float32),
        mjd=57000.0 + np.arange(T)[None, :] * 0.1 + np.zeros((n, 1)),
        mask=np.ones((n, T), dtype=bool),
        sky=full(sky),
        fwhm=full(fwhm),
        gain=full(gain),
        read_noise=full(rn),
        exptime=full(87.0),
        zero_point=full(25.0),
    )
    return X, flux


@pytest.fixture(scope="module")
def hits():
    return make_hits_sequences(3, n_epochs=(5, 10), random_state=0)


def test_extract_output_layout(hits):
    """Keys time/mag/err, shape (n, T), left-aligned NaN padding, times increasing."""
    X = hits.data
    lc = LightCurveExtractor().fit_transform(X)
    assert isinstance(lc, SliceDict)
    assert sorted(lc.keys()) == ["err", "mag", "time"]
    n, T = X["mask"].shape
    for key in ("time", "mag", "err"):
        assert lc[key].shape == (n, T) and lc[key].dtype == np.float64
    ok = np.isfinite(lc["mag"])
    np.testing.assert_array_equal(ok, np.isfinite(lc["time"]))
    np.testing.assert_array_equal(ok, np.isfinite(lc["err"]))
    # left-aligned: no valid point after a NaN
    assert not np.any(~ok[:, :-1] & ok[:, 1:])
    assert np.all(np.diff(lc["time"], axis=1)[ok[:, 1:]] > 0)
    assert np.all(lc["err"][ok] > 0)
    assert ok.sum(axis=1).max() <= X["mask"].sum(axis=1).max()
    flux = LightCurveExtractor(output="flux").fit_transform(X)
    assert sorted(flux.keys()) == ["flux", "flux_err", "time"]
    # in flux every valid epoch has a value (negative fluxes included)
    np.testing.assert_array_equal(
        np.isfinite(flux["flux"]).sum(axis=1), X["mask"].sum(axis=1)
    )


def test_extract_unbiased_on_simulated_sequences():
    """Fluxes of simulated isolated stars match the true flux with honest errors."""
    b = make_hits_sequences({"NV": 40}, n_epochs=8, random_state=4)
    keep = ~b.host
    X = SliceDict(**{k: v[keep] for k, v in b.data.items()}, center=b.center[keep])
    true = b.true_flux[keep]
    for method in ("optimal", "aperture"):
        lc = LightCurveExtractor(
            method=method, output="flux", flux_unit="adu"
        ).fit_transform(X)
        pull = (lc["flux"] - true) / lc["flux_err"]
        assert abs(np.mean(pull)) < 0.15, method
        assert 0.85 < np.std(pull) < 1.15, method
        bright = true / lc["flux_err"] > 30
        assert abs(np.median(lc["flux"][bright] / true[bright]) - 1) < 0.005, method


def test_extract_optimal_beats_aperture_at_low_snr():
    """At S/N ~ 5-10 optimal photometry scatters less than aperture photometry."""
    X, flux = _synthetic(n=500, flux=400.0)
    out = {}
    for method in ("optimal", "aperture"):
        lc = LightCurveExtractor(
            method=method, output="flux", flux_unit="adu"
        ).fit_transform(X)
        f = lc["flux"].ravel()
        se = f.std() / np.sqrt(f.size)
        assert abs(f.mean() - flux) < 4 * se, method  # unbiased
        # the reported error matches the scatter
        assert abs(np.median(lc["flux_err"]) / f.std() - 1) < 0.1, method
        out[method] = f.std()
    assert 5 < flux / out["optimal"] < 12
    assert out["optimal"] < 0.95 * out["aperture"]


def test_extract_aperture_matches_photutils():
    """Aperture fluxes equal photutils' exact aperture sums, sky-subtracted and
    aperture-corrected, on the same stamps."""
    X, _ = _synthetic(n=3, T=3, flux=5000.0, fwhm=5.0, seed=1)
    centers = np.array([[[10.2, 9.7], [10.0, 10.0], [9.6, 10.4]]] * 3)
    X["center"] = centers
    ext = LightCurveExtractor(
        method="aperture", output="flux", flux_unit="adu", aperture_radius=0.9
    ).fit(X)
    lc = ext.transform(X)
    r = 0.9 * 5.0
    for i in range(3):
        for j in range(3):
            ap = CircularAperture(centers[i, j], r=r)
            data = X["stamps"][i, j].astype(float) - X["sky"][i, j]
            dx, dy = centers[i, j] - 10.0
            psf = gaussian_psf(21, 5.0, dx, dy)
            raw = aperture_photometry(data, ap, method="exact")["aperture_sum"][0]
            frac = aperture_photometry(psf, ap, method="exact")["aperture_sum"][0]
            np.testing.assert_allclose(lc["flux"][i, j], raw / frac, rtol=1e-9)


def test_extract_units_are_consistent(hits):
    """mag = zp - 2.5 log10(C / t); ADU/s, e-/s and uJy follow from C."""
    X = hits.data
    kw = {"output": "flux"}
    adu = LightCurveExtractor(flux_unit="adu", **kw).fit_transform(X)
    adu_s = LightCurveExtractor(flux_unit="adu/s", **kw).fit_transform(X)
    e_s = LightCurveExtractor(flux_unit="e-/s", **kw).fit_transform(X)
    ujy = LightCurveExtractor(flux_unit="uJy", **kw).fit_transform(X)
    mag = LightCurveExtractor().fit_transform(X)
    m = X["mask"]  # valid epochs are already left-aligned and sorted here
    np.testing.assert_allclose(adu_s["flux"][m] * 87.0, adu["flux"][m])
    np.testing.assert_allclose(e_s["flux"][m], adu_s["flux"][m] * X["gain"][m])
    # magnitudes drop non-positive fluxes (non-detections) and are left-aligned
    for i in range(m.shape[0]):
        det = adu["flux"][i] > 0
        zp = X["zero_point"][i][det]
        expect_mag = zp - 2.5 * np.log10(adu_s["flux"][i][det])
        expect_err = 1.0857362 * adu["flux_err"][i][det] / adu["flux"][i][det]
        got = np.isfinite(mag["mag"][i])
        np.testing.assert_allclose(mag["mag"][i][got], expect_mag)
        np.testing.assert_allclose(mag["err"][i][got], expect_err, rtol=1e-6)
        np.testing.assert_allclose(
            mag["mag"][i][got], 23.9 - 2.5 * np.log10(ujy["flux"][i][det])
        )


def test_extract_given_psf_equals_gaussian(hits):
    """A PSF passed under 'psf' gives the same result as the Gaussian it equals."""
    X = hits.data
    n, T = X["mask"].shape
    fwhm = np.where(X["mask"], X["fwhm"], 4.0)
    psf = gaussian_psf(21, fwhm, np.zeros((n, T)), np.zeros((n, T)))
    a = LightCurveExtractor(output="flux").fit_transform(X)
    b = LightCurveExtractor(output="flux").fit_transform(
        SliceDict(**dict(X.items()), psf=psf)
    )
    np.testing.assert_allclose(a["flux"], b["flux"], equal_nan=True)


def test_extract_sorts_unsorted_times(hits):
    """Epochs given out of time order give the same, time-sorted, light curve."""
    X = SliceDict(**{k: v[:4] for k, v in hits.data.items()})
    perm = np.random.default_rng(0).permutation(X["mask"].shape[1])
    Xp = SliceDict(**{k: (v[:, perm] if v.ndim >= 2 else v) for k, v in X.items()})
    a = LightCurveExtractor().fit_transform(X)
    b = LightCurveExtractor().fit_transform(Xp)
    for key in a.keys():
        np.testing.assert_allclose(a[key], b[key], equal_nan=True)


def test_extract_nan_pixels():
    """NaN pixels: optimal photometry skips them, apertures touching them give NaN."""
    X, flux = _synthetic(n=2, T=3, flux=3000.0)
    X["stamps"][0, 0, 10, 10] = np.nan  # in the aperture
    X["stamps"][0, 1, 0, 0] = np.nan  # far from the source
    X["stamps"][1, 2] = np.nan  # whole stamp
    opt = LightCurveExtractor(output="flux", flux_unit="adu").fit_transform(X)
    ap = LightCurveExtractor(
        method="aperture", output="flux", flux_unit="adu"
    ).fit_transform(X)
    assert np.isfinite(opt["flux"][0]).all()
    assert abs(opt["flux"][0, 0] / flux - 1) < 0.1
    # the first epoch is dropped, the other two are left-aligned
    assert np.isfinite(ap["flux"][0]).sum() == 2 and np.isnan(ap["flux"][0, 2])
    np.testing.assert_allclose(ap["time"][0, :2], X["mjd"][0, 1:])
    # an all-NaN stamp is a missing epoch: 2 points, left-aligned
    assert np.isfinite(opt["flux"][1]).sum() == 2 and np.isnan(opt["flux"][1, 2])


def test_extract_duplicate_times_raise(hits):
    """Two valid epochs with the same time are an error naming the sequence."""
    X = SliceDict(**{k: v[:3].copy() for k, v in hits.data.items()})
    X["mjd"][1, 1] = X["mjd"][1, 0]
    with pytest.raises(SequenceError, match=r"Sequence\(s\) 1 have two valid"):
        LightCurveExtractor().fit(X)
    X["mask"][1, 1] = False  # masking the duplicate fixes it
    LightCurveExtractor().fit(X)


def test_extract_all_masked_and_short_sequences(hits):
    """All-masked or too-short sequences raise, or give NaN rows with on_short='nan'."""
    X = SliceDict(**{k: v[:3].copy() for k, v in hits.data.items()})
    X["mask"][2] = False
    with pytest.raises(SequenceError, match="fewer than min_epochs=1"):
        LightCurveExtractor().fit(X)
    lc = LightCurveExtractor(on_short="nan").fit_transform(X)
    assert np.isnan(lc["mag"][2]).all() and np.isfinite(lc["mag"][0]).any()
    X["mask"][2] = hits.data["mask"][2]
    with pytest.raises(SequenceError, match="fewer than min_epochs=50"):
        LightCurveExtractor(min_epochs=50).fit(X)


def test_extract_bad_layouts(hits):
    """Wrong containers, missing keys and arrays of differing length raise clearly."""
    X = hits.data
    with pytest.raises(SequenceError, match="expects X as a mapping"):
        LightCurveExtractor().fit(X["stamps"])
    no_zp = SliceDict(**{k: v for k, v in X.items() if k != "zero_point"})
    with pytest.raises(SequenceError, match=r"lacks the key\(s\) \['zero_point'\]"):
        LightCurveExtractor().fit(no_zp)
    # flux in ADU needs no zero point
    LightCurveExtractor(output="flux", flux_unit="adu").fit(no_zp)
    short = dict(X.items())
    short["mjd"] = X["mjd"][:, :-1]
    with pytest.raises(SequenceError, match=r"X\['mjd'\] has shape"):
        LightCurveExtractor().fit(short)
    with pytest.raises(SequenceError, match="4 dimensions"):
        LightCurveExtractor().fit({**dict(X.items()), "stamps": X["stamps"][0]})
    with pytest.raises(SequenceError, match="psf='given' but X has no 'psf'"):
        LightCurveExtractor(psf="given").fit(X)
    bad_time = dict(X.items())
    bad_time["mjd"] = X["mjd"].copy()
    bad_time["mjd"][0, 0] = np.nan
    with pytest.raises(
        SequenceError, match=r"X\['mjd'\] is NaN or infinite at valid epochs"
    ):
        LightCurveExtractor().fit(bad_time)
    ext = LightCurveExtractor().fit(X)
    small = {**dict(X.items()), "stamps": X["stamps"][..., 1:-1, 1:-1]}
    with pytest.raises(SequenceError, match="fitted on 21x21"):
        ext.transform(small)


def test_extract_scalar_and_per_sequence_metadata(hits):
    """Scalars and (n,) arrays broadcast to every epoch."""
    X = SliceDict(**{k: v[:3] for k, v in hits.data.items()})
    Y = dict(X.items())
    Y["exptime"] = 87.0
    Y["gain"] = np.nanmean(X["gain"], axis=1)
    a = LightCurveExtractor().fit_transform(X)
    b = LightCurveExtractor().fit_transform(Y)
    np.testing.assert_allclose(a["mag"], b["mag"], equal_nan=True)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"method": "psf"}, "method"),
        ({"output": "counts"}, "output"),
        ({"flux_unit": "Jy"}, "flux_unit"),
        ({"aperture_radius": 0}, "aperture_radius"),
    ],
)
def test_extract_bad_params(hits, params, match):
    """Bad parameters are reported by scikit-learn's parameter validation."""
    with pytest.raises(ValueError, match=match):
        LightCurveExtractor(**params).fit(hits.data)


def test_extract_background_subtracts_known_hosts():
    """A 'background' image (sky + host) removes the host: hosted stars come out
    unbiased, while subtracting the sky alone overestimates them."""
    b = make_hits_sequences(
        {"NV": 400}, n_epochs=4, return_host_images=True, random_state=5
    )
    keep = b.host
    assert keep.sum() >= 8
    X = SliceDict(**{k: v[keep] for k, v in b.data.items()}, center=b.center[keep])
    true = b.true_flux[keep]
    ext = LightCurveExtractor(output="flux", flux_unit="adu")
    sky_only = ext.fit_transform(X)
    X["background"] = X["sky"][..., None, None] + b.host_images[keep]
    with_host = ext.fit_transform(X)
    pull = (with_host["flux"] - true) / with_host["flux_err"]
    assert abs(np.mean(pull)) < 0.3 and 0.7 < np.std(pull) < 1.3
    assert np.mean(sky_only["flux"] - true) > 3 * np.mean(sky_only["flux_err"])
    X["background"] = X["background"][:, :2]
    with pytest.raises(SequenceError, match=r"X\['background'\] has shape"):
        ext.fit(X)


def test_extract_set_output_is_accepted(hits):
    """Pipeline.set_output(transform='pandas') passes through; output unchanged."""
    from sklearn.pipeline import make_pipeline

    ext = LightCurveExtractor()
    assert ext.set_output(transform="pandas") is ext
    pipe = make_pipeline(LightCurveExtractor()).set_output(transform="pandas")
    out = pipe.fit_transform(hits.data)
    assert isinstance(out, SliceDict) and sorted(out.keys()) == ["err", "mag", "time"]
