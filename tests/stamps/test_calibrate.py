"""Calibrator: S-PLUS zero-point calibration, sequence normalisation, stretches."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from skorch.helper import SliceDict

from skastro.exceptions import CatalogError, InputLayoutError, SequenceError
from skastro.stamps import Calibrator, FITSCropper, asinh_stretch, scale_to_reference

from .conftest import write_field


def test_splus_formula_per_band():
    """x * 10**(5 - 0.4 zp) / ps**2, Martinazzo et al. (2021) eq. 3.2, one zp per band."""
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
    out = Calibrator(zero_point=zp, pixel_scale=0.55).fit_transform(x)
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
    cal = Calibrator(zero_point=table, pixel_scale=0.55, band_names=["g", "r"])
    out = cal.fit_transform(X)
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


def test_reference_epoch_is_the_earliest_in_time():
    """With 'mjd', the reference is the earliest valid epoch wherever it is
    stored (skastro.sequences' time-order rule); the output keeps the input's
    epoch order."""
    rng = np.random.default_rng(0)
    stamps = rng.uniform(100, 200, size=(1, 3, 2, 2)).astype(np.float32)
    sky = np.array([[10.0, 20.0, 30.0]])
    zp = np.array([[25.0, 25.5, 24.0]])
    mjd = np.array([[3.0, 1.0, 2.0]])  # epoch 1 is the earliest
    X = SliceDict(stamps=stamps, sky=sky, zero_point=zp, mjd=mjd)
    out = Calibrator(method="reference").fit_transform(X)
    np.testing.assert_allclose(out[0, 1], stamps[0, 1] - 20.0, rtol=1e-6)
    np.testing.assert_allclose(
        out[0, 0], (stamps[0, 0] - 10.0) * 10 ** ((25.5 - 25.0) / 2.5), rtol=1e-5
    )
    np.testing.assert_allclose(
        out, scale_to_reference(stamps, sky, zp, 25.5), rtol=1e-6
    )


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda X: X["zero_point"].__setitem__((0, 1), np.nan), "NaN or infinite"),
        (lambda X: X["mjd"].__setitem__((0, 2), 1.0), "same time"),
        (lambda X: X["mask"].__setitem__(0, False), "reference epoch"),
        (lambda X: X.__setitem__("sky", np.ones((1, 2))), r"shape \(1, 2\)"),
    ],
    ids=["nan-zero-point", "same-time", "no-valid-epoch", "sky-shape"],
)
def test_reference_bad_sequences_raise_sequence_error(change, match):
    """Every malformed sequence set raises SequenceError naming what is wrong."""
    X = {
        "stamps": np.ones((1, 3, 2, 2)),
        "sky": np.ones((1, 3)),
        "zero_point": np.full((1, 3), 25.0),
        "mjd": np.array([[1.0, 2.0, 3.0]]),
        "mask": np.ones((1, 3), bool),
    }
    change(X)
    with pytest.raises(SequenceError, match=match):
        Calibrator(method="reference").fit(SliceDict(**X))


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
    out = Calibrator(zero_point=20.0, pixel_scale=0.55).fit_transform(x)
    assert np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[0, 0, 1:]).all()


@pytest.mark.parametrize(
    "calibrator, X, error, match",
    [
        (Calibrator(), np.ones((1, 2, 3, 3)), InputLayoutError, "zero_point='header'"),
        (
            Calibrator(zero_point=20.0),
            np.ones((1, 2, 3, 3)),
            InputLayoutError,
            "will not guess it.*pixel_scale=0.55",
        ),
        (
            Calibrator(zero_point=20.0),
            SliceDict(
                stamps=np.ones((1, 2, 3, 3)), pixel_scale=np.full((1, 2), np.nan)
            ),
            InputLayoutError,
            "no celestial WCS",
        ),
        (
            Calibrator(zero_point=20.0, pixel_scale=[0.5, 0.5, 0.5]),
            np.ones((1, 2, 3, 3)),
            InputLayoutError,
            "one per band",
        ),
        (
            Calibrator(zero_point=[1.0, 2.0, 3.0], pixel_scale=1.0),
            np.ones((1, 2, 3, 3)),
            InputLayoutError,
            "2 band",
        ),
        (
            Calibrator(zero_point=20.0, pixel_scale=1.0),
            np.ones((2, 3, 3)),
            InputLayoutError,
            "4 dimensions",
        ),
        (
            Calibrator(method="reference"),
            SliceDict(stamps=np.ones((1, 2, 3, 3)), sky=np.ones((1, 2))),
            SequenceError,  # the message of skastro.sequences, shared by every tool
            r"lacks the key\(s\) \['zero_point'\]",
        ),
        (
            Calibrator(zero_point=pd.DataFrame({"field": [1]})),
            SliceDict(stamps=np.ones((1, 2, 3, 3)), field=np.array([1])),
            CatalogError,
            "lacks column",
        ),
        (
            Calibrator(zero_point=[np.nan, 1.0], pixel_scale=1.0),
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
    cal = Calibrator(zero_point=20.0, pixel_scale=0.55).fit(np.ones((1, 2, 3, 3)))
    with pytest.raises(InputLayoutError, match="fitted on 2"):
        cal.transform(np.ones((1, 3, 3, 3)))


def test_header_pixel_scale_from_the_wcs_in_the_pipeline(tmp_path, field_data):
    """The cropper passes each band's WCS pixel scale: a 0.3"/pixel field is
    calibrated with 0.3, not S-PLUS's 0.55."""
    from astropy.io import fits

    from .conftest import make_wcs

    paths = write_field(tmp_path, "files", field_data)
    for p in paths:  # re-grid to 0.3 arcsec/pixel
        with fits.open(p, mode="update") as h:
            h[0].header.update(
                make_wcs(field_data.shape[1:], pixel_scale=0.3).to_header()
            )
    cat = pd.DataFrame({"x": [30.0], "y": [30.0]})
    cropped = FITSCropper(paths, size=4, zero_point_keyword="ZP").fit_transform(cat)
    np.testing.assert_array_equal(cropped["pixel_scale"], [[0.3, 0.3, 0.3]])
    out = Calibrator().fit_transform(cropped)
    np.testing.assert_allclose(
        out[0, 1], cropped["stamps"][0, 1] * 10 ** (5 - 0.4 * 21.0) / 0.3**2, rtol=1e-6
    )


def test_images_give_zero_points_and_pixel_scale_to_plain_stamps(tmp_path, field_data):
    """Plain stamps plus the files they came from: zero points from the header
    keyword, pixel scale from the WCS, per field through the 'field' key."""
    images = {
        "A": write_field(
            tmp_path, "mef", field_data, prefix="A", zero_points=[20.0, 21.0, 22.0]
        ),  # fmt: skip
        "B": write_field(
            tmp_path, "mef", field_data, prefix="B", zero_points=[23.0] * 3
        ),  # fmt: skip
    }
    cat = pd.DataFrame({"x": [30.0, 30.0], "y": [30.0, 30.0], "field": ["A", "B"]})
    cropped = FITSCropper(images, size=4, zero_point_keyword="ZP").fit_transform(cat)
    expected = Calibrator().fit_transform(cropped)
    stamps_a = cropped["stamps"][:1]
    single = Calibrator(images=images["A"], zero_point_keyword="ZP")
    np.testing.assert_array_equal(single.fit_transform(stamps_a), expected[:1])
    by_field = Calibrator(images=images, zero_point_keyword="ZP")
    X = SliceDict(stamps=cropped["stamps"], field=cropped["field"])
    np.testing.assert_array_equal(by_field.fit_transform(X), expected)
    assert by_field.image_pixel_scales_["A"].tolist() == [0.55] * 3


def test_images_errors(tmp_path, field_data):
    """images without zero_point_keyword, without a WCS, or of unknown fields."""
    paths = write_field(tmp_path, "files", field_data, wcs=False)
    x = np.ones((1, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="set zero_point_keyword"):
        Calibrator(images=paths).fit(x)
    with pytest.raises(InputLayoutError, match="no celestial WCS"):
        Calibrator(images=paths, zero_point_keyword="ZP").fit(x)
    with pytest.raises(Exception, match="no header keyword 'MAGZP'"):
        Calibrator(images=paths, zero_point_keyword="MAGZP").fit(x)
    out = Calibrator(images=paths, zero_point_keyword="ZP", pixel_scale=0.55).fit_transform(x)  # fmt: skip
    np.testing.assert_allclose(out[0, 2, 0, 0], 10 ** (5 - 0.4 * 22.0) / 0.55**2, rtol=1e-6)  # fmt: skip
    cal = Calibrator(images={"A": paths}, zero_point_keyword="ZP", pixel_scale=1.0)
    with pytest.raises(CatalogError, match=r"\['B'\]"):
        cal.fit(SliceDict(stamps=x, field=np.array(["B"])))
    with pytest.raises(InputLayoutError, match="'field' key"):
        cal.fit(x)


def test_2mass_zero_points_and_pixel_scale_from_headers(realdata):
    """Real 2MASS J/H/K images: MAGZP and the 1"/pixel... (5"/pixel mosaic)
    scale are read from the headers, by the cropper or from the files."""
    from astropy.io import fits

    paths = [str(realdata / "fits" / f"gc_2mass_{b}.fits") for b in "jhk"]
    cat = pd.DataFrame({"x": [100.0, 400.5], "y": [200.0, 300.2]})
    cropped = FITSCropper(paths, size=11, zero_point_keyword="MAGZP").fit_transform(cat)
    out = Calibrator().fit_transform(cropped)
    zp = np.array([fits.getheader(p)["MAGZP"] for p in paths])
    ps = abs(fits.getheader(paths[0])["CDELT1"]) * 3600
    factor = 10 ** (5 - 0.4 * zp) / ps**2
    np.testing.assert_allclose(out, cropped["stamps"] * factor[None, :, None, None], rtol=1e-5)  # fmt: skip
    files = Calibrator(images=paths, zero_point_keyword="MAGZP")
    np.testing.assert_array_equal(files.fit_transform(cropped["stamps"]), out)
