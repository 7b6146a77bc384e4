"""Tests of SourceFeatures, the SExtractor-like features of Tanoglidis et al. (2021)."""

import numpy as np
import pandas as pd
import pytest

from skastro.datasets import make_lsbg_stamps
from skastro.exceptions import InputLayoutError
from skastro.sources import SourceFeatures


@pytest.fixture(scope="module")
def stamps():
    return make_lsbg_stamps(8, random_state=0, return_X_y=True)


def _gaussian_stamp(mag=19.0, sigma_pix=4.0, noise=1e-4, colours=(0.0, 0.0)):
    """A round Gaussian source of known magnitude, three bands, tiny noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64] - 31.5
    prof = np.exp(-(xx**2 + yy**2) / (2 * sigma_pix**2))
    prof /= prof.sum()
    mags = [mag, mag - colours[0], mag - colours[0] - colours[1]]
    bands = [10 ** (-0.4 * (m - 22.5)) * prof for m in mags]
    return (np.array(bands) + rng.normal(0, noise, (3, 64, 64)))[None].astype("f4")


def test_source_features_sixteen_named_features(stamps):
    """Default output: the 16 features of Tanoglidis et al. (2021) §2.3, finite, named."""
    X, _ = stamps
    sf = SourceFeatures().fit(X)
    out = sf.transform(X)
    names = sf.get_feature_names_out()
    assert out.shape == (8, 16) and len(names) == 16
    assert np.isfinite(out).all()
    assert names[0] == "ellipticity"
    assert {"mag_auto_g", "color_g_z", "mu_mean_r", "mu_central_z", "mu_eff_g"} <= set(
        names
    )


def test_source_features_recovers_known_source():
    """MAG_AUTO, colours and the effective SB of a Gaussian match the truth."""
    X = _gaussian_stamp(mag=19.0, sigma_pix=4.0, colours=(0.5, 0.3))
    sf = SourceFeatures().fit(X)
    row = pd.Series(sf.transform(X)[0], index=sf.get_feature_names_out())
    # Kron apertures (2.5 R_K) hold ~94-96% of a Gaussian's light
    assert row["mag_auto_g"] == pytest.approx(19.0, abs=0.1)
    assert row["color_g_r"] == pytest.approx(0.5, abs=0.02)
    assert row["color_r_z"] == pytest.approx(0.3, abs=0.02)
    assert row["ellipticity"] < 0.05
    # half-light radius of a Gaussian: 1.1774 sigma
    r_half = 1.1774 * 4.0 * 30 / 64
    expected = 19.0 + 2.5 * np.log10(2 * np.pi * r_half**2)
    assert row["mu_eff_g"] == pytest.approx(expected, abs=0.15)
    assert row["mu_central_g"] < row["mu_eff_g"] < row["mu_mean_g"] + 1.0


def test_source_features_pandas_output(stamps):
    """set_output(transform='pandas') gives a DataFrame with the feature names."""
    X, _ = stamps
    df = SourceFeatures().set_output(transform="pandas").fit_transform(X)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(SourceFeatures().fit(X).get_feature_names_out())


def test_source_features_include_radius(stamps):
    """include_radius adds r_half (arcsec) as a 17th column."""
    X, _ = stamps
    sf = SourceFeatures(include_radius=True).fit(X)
    out = sf.transform(X)
    assert out.shape[1] == 17 and sf.get_feature_names_out()[-1] == "r_half"
    assert (out[:, -1] > 0).all()


def test_source_features_nan_pixels_are_masked(stamps):
    """NaN pixels (off the image) are masked, not propagated."""
    X = stamps[0][:2].copy()
    X[:, :, :, :5] = np.nan
    out = SourceFeatures().fit_transform(X)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    "transform, match",
    [
        (lambda X: np.moveaxis(X, 1, -1), "channels-last|channels first"),
        (lambda X: X[:, :2], "band"),
        (lambda X: X[:0], "no stamps"),
        (lambda X: X[:, 0], "4 dimensions"),
        (lambda X: np.full_like(X, np.nan), "entirely NaN"),
    ],
    ids=["channels_last", "two_bands", "empty", "3d", "all_nan"],
)
def test_source_features_bad_input(stamps, transform, match):
    """Bad stamp layouts raise InputLayoutError saying what to fix."""
    X = stamps[0][:2]
    with pytest.raises(InputLayoutError, match=match):
        SourceFeatures().fit(transform(X))


def test_source_features_size_mismatch_after_fit(stamps):
    """transform refuses stamps of another size than in fit."""
    X = stamps[0][:2]
    sf = SourceFeatures().fit(X)
    with pytest.raises(InputLayoutError, match="fitted on 64x64"):
        sf.transform(X[:, :, :32, :32])
