"""Calibrator: S-PLUS zero-point calibration, sequence normalisation, stretches."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from skorch.helper import SliceDict

from skastro.exceptions import CatalogError, InputLayoutError
from skastro.stamps import Calibrator, FITSCropper, asinh_stretch

from .conftest import write_field


def test_splus_formula_per_band():
    """x * 10**(5 - 0.4 zp) / ps**2, seed 000 eq. 3.2, one zp per band."""
    x = np.full((2, 2, 3, 3), 7.0, np.float32)
    zp = np.array([20.5, 22.0])
    out = Calibrator(zero_point=zp, pixel_scale=0.55).fit_transform(x)
    expected = 7.0 * 10 ** (5 - 0.4 * zp) / 0.55**2
    np.testing.assert_allclose(out[0, :, 1, 1], expected, rtol=1e-6)
    assert out.dtype == np.float32


def test_splus_scalar_zero_point_and_magnitude_consistency():
    """A source of magnitude m calibrates to a total of 10**(5 - 0.4 m) / ps**2."""
    zp, m = 21.0, 18.0
    counts = 10 ** (-0.4 * (m - zp))  # total ADU/s of the source
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, 2, 2] = counts
    out = Calibrator(zero_point=zp).fit_transform(x)
    np.testing.assert_allclose(out.sum(), 10 ** (5 - 0.4 * m) / 0.55**2, rtol=1e-5)


def test_header_zero_points_in_pipeline_over_fields(tmp_path, field_data):
    """FITSCropper -> Calibrator over a catalog spanning two fields uses each
    field's header zero points."""
    images = {
        "A": write_field(
            tmp_path, "mef", field_data, prefix="A", zero_points=[20.0, 21.0, 22.0]
        ),
        "B": write_field(
            tmp_path, "mef", field_data, prefix="B", zero_points=[23.0, 24.0, 25.0]
        ),
    }
    cat = pd.DataFrame({"x": [30.0, 30.0], "y": [30.0, 30.0], "field": ["A", "B"]})
    pipe = make_pipeline(
        FITSCropper(images, size=4, zero_point_keyword="ZP"), Calibrator()
    )
    out = pipe.fit_transform(cat)
    raw = FITSCropper(images, size=4).fit_transform(cat)
    np.testing.assert_allclose(
        out[0, 0], raw[0, 0] * 10 ** (5 - 8.0) / 0.55**2, rtol=1e-6
    )
    np.testing.assert_allclose(
        out[1, 2], raw[1, 2] * 10 ** (5 - 10.0) / 0.55**2, rtol=1e-6
    )


def test_zero_point_table_by_field_and_band_name():
    """A (field, band, zero_point) table is looked up per row and band name."""
    X = SliceDict(
        stamps=np.ones((2, 2, 2, 2), np.float32), field=np.array(["f1", "f2"])
    )
    table = pd.DataFrame(
        {
            "field": ["f1", "f1", "f2", "f2"],
            "band": ["g", "r", "g", "r"],
            "zero_point": [20.0, 21.0, 22.0, 23.0],
        }
    )
    out = Calibrator(zero_point=table, band_names=["g", "r"]).fit_transform(X)
    np.testing.assert_allclose(
        out[1, 1, 0, 0], 10 ** (5 - 0.4 * 23) / 0.55**2, rtol=1e-6
    )


def test_reference_epoch_normalisation():
    """(x - sky) * 10**((zp_ref - zp_t)/2.5), reference = first valid epoch."""
    rng = np.random.default_rng(0)
    stamps = rng.uniform(100, 200, size=(2, 3, 4, 4)).astype(np.float32)
    sky = np.array([[10.0, 20.0, 30.0], [5.0, 5.0, 5.0]])
    zp = np.array([[25.0, 25.5, 24.0], [26.0, 26.0, 27.0]])
    mask = np.array([[True, True, True], [True, True, False]])
    X = SliceDict(stamps=stamps, sky=sky, zero_point=zp, mask=mask)
    out = Calibrator(method="reference").fit_transform(X)
    np.testing.assert_allclose(
        out[0, 1], (stamps[0, 1] - 20.0) * 10 ** ((25.0 - 25.5) / 2.5), rtol=1e-5
    )
    np.testing.assert_allclose(out[0, 0], stamps[0, 0] - 10.0, rtol=1e-6)
    assert (out[1, 2] == 0).all()  # padded epoch


def test_reference_epoch_constant_source_is_flat():
    """A constant source seen through changing zero points normalises flat."""
    flux_ref = 1000.0
    zp = np.array([[25.0, 24.2, 25.9]])
    counts = flux_ref * 10 ** ((zp - 25.0) / 2.5)  # same star, other zp
    stamps = (counts[:, :, None, None] * np.ones((1, 3, 2, 2)) + 50.0).astype(
        np.float32
    )
    X = SliceDict(stamps=stamps, sky=np.full((1, 3), 50.0), zero_point=zp)
    out = Calibrator(method="reference").fit_transform(X)
    np.testing.assert_allclose(out[0, :, 0, 0], flux_ref, rtol=1e-4)


def test_asinh_stretch_and_clipping():
    """The asinh stretch is Lupton's; clipping uses fitted percentiles."""
    x = np.random.default_rng(1).normal(size=(20, 2, 6, 6)).astype(np.float32)
    cal = Calibrator(
        method="none", stretch="asinh", asinh_softening=0.5, clip_percentiles=(1, 99)
    ).fit(x)
    out = cal.transform(x)
    stretched = asinh_stretch(x, 0.5)
    lo, hi = np.percentile(stretched[:, 0], [1, 99])
    np.testing.assert_allclose(cal.clip_limits_[0], [lo, hi], rtol=1e-5)
    assert out[:, 0].min() >= lo - 1e-6 and out[:, 0].max() <= hi + 1e-6
    auto = Calibrator(method="none", stretch="asinh").fit(x)
    assert auto.softening_.shape == (2,) and (auto.softening_ > 0).all()


def test_nan_pixels_stay_nan():
    """Off-image NaN pixels stay NaN (never turned into numbers)."""
    x = np.ones((1, 1, 3, 3), np.float32)
    x[0, 0, 0, 0] = np.nan
    out = Calibrator(zero_point=20.0).fit_transform(x)
    assert np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[0, 0, 1:]).all()


@pytest.mark.parametrize(
    "calibrator, X, error, match",
    [
        (Calibrator(), np.ones((1, 2, 3, 3)), InputLayoutError, "zero_point='header'"),
        (
            Calibrator(zero_point=[1.0, 2.0, 3.0]),
            np.ones((1, 2, 3, 3)),
            InputLayoutError,
            "2 band",
        ),
        (
            Calibrator(zero_point=20.0),
            np.ones((2, 3, 3)),
            InputLayoutError,
            "4 dimensions",
        ),
        (
            Calibrator(method="reference"),
            SliceDict(stamps=np.ones((1, 2, 3, 3)), sky=np.ones((1, 2))),
            InputLayoutError,
            "'zero_point' is missing",
        ),
        (
            Calibrator(zero_point=pd.DataFrame({"field": [1]})),
            SliceDict(stamps=np.ones((1, 2, 3, 3)), field=np.array([1])),
            CatalogError,
            "lacks column",
        ),
        (
            Calibrator(zero_point=[np.nan, 1.0]),
            np.ones((1, 2, 3, 3)),
            InputLayoutError,
            "NaN",
        ),
    ],
)
def test_bad_input(calibrator, X, error, match):
    """Missing zero points, band mismatches and wrong layouts are explained."""
    with pytest.raises(error, match=match):
        calibrator.fit_transform(X)


def test_transform_band_count_mismatch():
    """transform refuses stamps with another band count than fit."""
    cal = Calibrator(zero_point=20.0).fit(np.ones((1, 2, 3, 3)))
    with pytest.raises(InputLayoutError, match="fitted on 2"):
        cal.transform(np.ones((1, 3, 3, 3)))
