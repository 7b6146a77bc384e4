"""Tests for the S-PLUS-like field simulator (skastro.datasets.make_splus_field)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skastro.datasets import SPLUS_BANDS, make_splus_field, make_splus_survey

SHAPE = (256, 256)


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """One 256x256 field with 120 objects, one file per band."""
    d = tmp_path_factory.mktemp("splus")
    cat, paths = make_splus_field(d, n_samples=120, field_shape=SHAPE, random_state=3)
    return cat, paths


def test_splus_bands_order():
    """The 12 bands are the Martinazzo et al. (2021) names in wavelength order."""
    assert SPLUS_BANDS == (
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


def test_field_catalog_columns(field):
    """The catalog carries the contract's columns with the right types."""
    cat, paths = field
    assert isinstance(cat, pd.DataFrame)
    assert len(cat) == 120
    expected = ["id", "field", "ra", "dec", "x", "y", "fwhm", *SPLUS_BANDS]
    expected += [f"{b}_err" for b in SPLUS_BANDS]
    expected += ["photoflag", "class", "redshift"]
    assert list(cat.columns[: len(expected)]) == expected
    assert cat["id"].tolist() == list(range(120))
    assert set(cat["field"]) == {"SPLUS-0001"}
    assert set(cat["class"]) <= {"STAR", "GALAXY", "QSO"}
    assert cat["photoflag"].dtype.kind == "i"
    assert (cat["fwhm"] > 1.0).all()
    assert (cat.loc[cat["class"] == "STAR", "redshift"] == 0).all()
    qso_z = cat.loc[cat["class"] == "QSO", "redshift"]
    assert ((qso_z >= 0.3) & (qso_z <= 3.2)).all()
    assert len(paths) == 12
    assert [fits.getheader(p)["FILTER"] for p in paths] == list(SPLUS_BANDS)


def test_field_positions_inside_image_and_some_near_edges(field):
    """Positions are 0-based pixel coordinates on the image; a few lie near edges."""
    cat, _ = field
    ny, nx = SHAPE
    assert cat["x"].between(-0.5, nx - 0.5).all()
    assert cat["y"].between(-0.5, ny - 0.5).all()
    near = (
        (cat["x"] < 16) | (cat["y"] < 16) | (cat["x"] > nx - 17) | (cat["y"] > ny - 17)
    )
    assert 0 < near.sum() < len(cat) / 2


def test_field_headers(field):
    """Every band header has the TAN WCS and the photometric keywords."""
    _, paths = field
    for band, path in zip(SPLUS_BANDS, paths):
        with fits.open(path) as hdul:
            assert len(hdul) == 1
            h = hdul[0].header
            data = hdul[0].data
        assert data.dtype == np.dtype(">f4")
        assert data.shape == SHAPE
        assert h["FILTER"] == band
        assert h["PIXSCALE"] == 0.55
        assert 18.0 < h["ZP"] < 25.0
        assert 1.0 <= h["FWHM"] <= 2.0
        assert h["GAIN"] > 0 and h["EXPTIME"] > 0
        assert h["BUNIT"] == "ADU/s"
        assert 19.5 < h["MAGLIM"] < 21.7
        w = WCS(h)
        assert list(w.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
        scale = np.sqrt(abs(np.linalg.det(w.pixel_scale_matrix))) * 3600
        assert scale == pytest.approx(0.55)
        ra0, dec0 = w.wcs.crval
        assert -1.26 <= dec0 <= 1.26  # Stripe 82
        assert ra0 >= 300.0 or ra0 <= 60.0


def test_field_zero_points_differ_between_bands(field):
    """Narrow bands collect fewer photons: lower zero points than broad bands."""
    _, paths = field
    zp = {b: fits.getheader(p)["ZP"] for b, p in zip(SPLUS_BANDS, paths)}
    assert zp["r"] > zp["F660"] + 1.5
    assert zp["g"] > zp["F395"] + 1.5


def test_field_wcs_matches_catalog(field):
    """The catalog's (ra, dec) map to its (x, y) through the file's WCS."""
    cat, paths = field
    w = WCS(fits.getheader(paths[7]))
    x, y = w.world_to_pixel_values(cat["ra"].to_numpy(), cat["dec"].to_numpy())
    np.testing.assert_allclose(x, cat["x"], atol=1e-6)
    np.testing.assert_allclose(y, cat["y"], atol=1e-6)


def _isolated_bright(cat, max_r=18.5, min_sep=12.0, margin=10):
    xy = cat[["x", "y"]].to_numpy()
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    ny, nx = SHAPE
    return cat[
        (cat["r_true"] < max_r)
        & (d.min(axis=1) > min_sep)
        & cat["x"].between(margin, nx - 1 - margin)
        & cat["y"].between(margin, ny - 1 - margin)
        & (cat["photoflag"] == 0)
    ]


def test_field_flux_lies_at_catalog_positions(field):
    """The light centroid around each bright isolated object is at its (x, y)."""
    cat, paths = field
    image = fits.getdata(paths[7]).astype(float)  # r band
    sel = _isolated_bright(cat)
    assert len(sel) >= 5
    for x, y in sel[["x", "y"]].to_numpy():
        ix, iy = int(round(x)), int(round(y))
        cut = image[iy - 4 : iy + 5, ix - 4 : ix + 5]
        yy, xx = np.mgrid[-4:5, -4:5]
        w = np.clip(cut, 0, None)
        cx = ix + (w * xx).sum() / w.sum()
        cy = iy + (w * yy).sum() / w.sum()
        assert abs(cx - x) < 0.35 and abs(cy - y) < 0.35
    # and the image is pure noise far from every object
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    far = np.ones(SHAPE, bool)
    for x, y in cat[["x", "y"]].to_numpy():
        far &= np.hypot(xx - x, yy - y) > 25
    if far.sum() > 100:
        sky = fits.getheader(paths[7])["SKYRMS"]
        assert abs(image[far].mean()) < 0.2 * sky
        assert image[far].std() == pytest.approx(sky, rel=0.15)


def test_field_zero_point_convention(field):
    """mag = ZP - 2.5 log10(sum of pixel values in ADU/s) for isolated stars."""
    cat, paths = field
    image = fits.getdata(paths[7]).astype(float)
    zp = fits.getheader(paths[7])["ZP"]
    stars = _isolated_bright(cat, max_r=17.5)
    stars = stars[stars["class"] == "STAR"]
    assert len(stars) >= 2
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    for _, row in stars.iterrows():
        ap = np.hypot(xx - row["x"], yy - row["y"]) <= 8
        mag = zp - 2.5 * np.log10(image[ap].sum())
        assert mag == pytest.approx(row["r_true"], abs=0.08)
        assert row["r"] == pytest.approx(row["r_true"], abs=0.08)


def test_field_magnitudes_and_missing_bands(field):
    """Errors are positive where magnitudes exist; faint objects miss blue bands."""
    cat, _ = field
    mags = cat[list(SPLUS_BANDS)].to_numpy()
    errs = cat[[f"{b}_err" for b in SPLUS_BANDS]].to_numpy()
    assert np.array_equal(np.isnan(mags), np.isnan(errs))
    assert (errs[~np.isnan(errs)] > 0).all()
    missing = np.isnan(mags).any(axis=1)
    assert 0.1 < missing.mean() < 0.7
    # blue narrow bands go missing far more often than r
    assert np.isnan(mags[:, 1]).mean() > np.isnan(mags[:, 7]).mean()
    # errors grow towards faint magnitudes
    r, r_err = cat["r"], cat["r_err"]
    assert r_err[r > 20].median() > 3 * r_err[r < 18].median()


def test_field_photoflag_marks_edge_objects(field):
    """Objects whose aperture crosses the border carry flag 8."""
    cat, _ = field
    edge = (cat["x"] < 1) | (cat["y"] < 1) | (cat["x"] > 254) | (cat["y"] > 254)
    assert ((cat.loc[edge, "photoflag"] & 8) > 0).all()
    centre = cat["x"].between(40, 215) & cat["y"].between(40, 215)
    assert ((cat.loc[centre, "photoflag"] & 8) == 0).all()


def test_field_galaxies_are_extended(field):
    """Galaxies have larger catalog FWHM than stars, whose FWHM is the seeing."""
    cat, paths = field
    seeing_px = fits.getheader(paths[7])["FWHM"] / 0.55
    stars = cat.loc[cat["class"] == "STAR", "fwhm"]
    gals = cat.loc[cat["class"] == "GALAXY", "fwhm"]
    assert stars.median() == pytest.approx(seeing_px, rel=0.05)
    assert gals.median() > 1.2 * stars.median()


def test_field_is_deterministic(tmp_path):
    """The same random_state gives identical files and catalog; another differs."""
    kw = dict(n_samples=30, field_shape=(96, 128), layout="files")
    cat1, p1 = make_splus_field(tmp_path / "a", random_state=7, **kw)
    cat2, p2 = make_splus_field(tmp_path / "b", random_state=7, **kw)
    cat3, _ = make_splus_field(tmp_path / "c", random_state=8, **kw)
    pd.testing.assert_frame_equal(cat1, cat2)
    for a, b in zip(p1, p2):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert not np.allclose(cat1["x"], cat3["x"])


def test_field_random_state_instance(tmp_path):
    """A RandomState instance is accepted and consumed like scikit-learn's."""
    rs = np.random.RandomState(0)
    cat1, _ = make_splus_field(
        tmp_path, n_samples=5, field_shape=(64, 64), random_state=rs
    )
    cat2, _ = make_splus_field(
        tmp_path, n_samples=5, field_shape=(64, 64), random_state=rs
    )
    assert not np.allclose(cat1["x"], cat2["x"])


@pytest.mark.parametrize("layout", ["mef", "cube", "compressed"])
def test_field_layouts_readable_and_equal(tmp_path, layout):
    """MEF, cube and compressed layouts hold the same pixels as the band files."""
    kw = dict(n_samples=25, field_shape=(80, 96), random_state=11)
    cat_f, paths = make_splus_field(tmp_path / "files", layout="files", **kw)
    cat_l, path = make_splus_field(tmp_path / layout, layout=layout, **kw)
    pd.testing.assert_frame_equal(cat_f, cat_l)
    assert isinstance(path, str)
    with fits.open(path) as hdul:
        if layout == "cube":
            assert len(hdul) == 1
            cube = hdul[0].data
            h = hdul[0].header
            assert cube.shape == (12, 80, 96)
            assert [h[f"FILTER{k}"] for k in range(1, 13)] == list(SPLUS_BANDS)
            for k, p in enumerate(paths):
                np.testing.assert_array_equal(cube[k], fits.getdata(p))
                assert h[f"ZP{k + 1}"] == fits.getheader(p)["ZP"]
            w = WCS(h).celestial  # the third (band) axis has no world coordinate
            assert w.naxis == 2
            x, y = w.world_to_pixel_values(cat_l["ra"], cat_l["dec"])
            np.testing.assert_allclose(x, cat_l["x"], atol=1e-6)
        else:
            assert len(hdul) == 13
            for band, p in zip(SPLUS_BANDS, paths):
                hdu = hdul[band]
                assert hdu.header["FILTER"] == band
                assert hdu.header["ZP"] == fits.getheader(p)["ZP"]
                ref = fits.getdata(p)
                if layout == "mef":
                    assert isinstance(hdu, fits.ImageHDU)
                    np.testing.assert_array_equal(hdu.data, ref)
                else:
                    assert isinstance(hdu, fits.CompImageHDU)
                    sky = hdu.header["SKYRMS"]
                    assert np.abs(hdu.data - ref).max() < 0.2 * sky


def test_field_compressed_is_deterministic(tmp_path):
    """Tile compression uses a fixed dither seed: identical bytes on rerun."""
    kw = dict(n_samples=10, field_shape=(64, 64), layout="compressed", random_state=2)
    _, p1 = make_splus_field(tmp_path / "a", **kw)
    _, p2 = make_splus_field(tmp_path / "b", **kw)
    assert Path(p1).read_bytes() == Path(p2).read_bytes()


def test_field_class_fractions(tmp_path):
    """Class counts follow class_fractions (multinomial) and pure classes work."""
    cat, _ = make_splus_field(
        tmp_path, n_samples=300, field_shape=(64, 64), random_state=0
    )
    frac = cat["class"].value_counts(normalize=True)
    assert frac["STAR"] == pytest.approx(0.44, abs=0.07)
    assert frac["GALAXY"] == pytest.approx(0.42, abs=0.07)
    assert frac["QSO"] == pytest.approx(0.14, abs=0.05)
    cat, _ = make_splus_field(
        tmp_path,
        n_samples=20,
        field_shape=(64, 64),
        class_fractions=(0, 0, 1),
        random_state=0,
    )
    assert set(cat["class"]) == {"QSO"}


def test_field_r_mag_range(tmp_path):
    """True r magnitudes stay inside r_mag_range (plus foreground extinction)."""
    cat, _ = make_splus_field(
        tmp_path,
        n_samples=40,
        field_shape=(96, 96),
        r_mag_range=(15.0, 16.0),
        random_state=0,
    )
    assert cat["r_true"].between(15.0, 16.3).all()
    assert cat[list(SPLUS_BANDS[5:])].notna().all().all()


def test_survey(tmp_path):
    """A survey stacks fields with distinct pointings and survey-wide ids."""
    cat, images = make_splus_survey(
        tmp_path,
        n_fields=2,
        n_samples=8,
        field_shape=(64, 64),
        layout="mef",
        random_state=0,
    )
    assert sorted(images) == ["SPLUS-0001", "SPLUS-0002"]
    assert cat["id"].tolist() == list(range(16))
    assert cat["field"].value_counts().to_dict() == {"SPLUS-0001": 8, "SPLUS-0002": 8}
    crvals = [tuple(WCS(fits.getheader(p, 1)).wcs.crval) for p in images.values()]
    assert crvals[0] != crvals[1]
    cat2, _ = make_splus_survey(
        tmp_path / "again",
        n_fields=2,
        n_samples=8,
        field_shape=(64, 64),
        layout="mef",
        random_state=0,
    )
    pd.testing.assert_frame_equal(cat, cat2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layout="fits"), "layout must be one of"),
        (dict(field_shape=(64, 64, 3)), "field_shape must be a pair"),
        (dict(field_shape=(16, 64)), "field_shape must be a pair"),
        (dict(field_shape=(64.0, 64)), "field_shape must be a pair"),
        (dict(field_shape="64x64"), "field_shape must be a pair"),
        (dict(n_samples=0), "n_samples must be a positive integer"),
        (dict(n_samples=2.5), "n_samples must be a positive integer"),
        (dict(class_fractions=(0.5, 0.5)), "class_fractions must be three"),
        (dict(class_fractions=(0.5, 0.6, -0.1)), "class_fractions must be three"),
        (dict(class_fractions=(0.5, 0.5, 0.5)), "must sum to 1"),
        (dict(r_mag_range=(21.0, 14.0)), "r_mag_range must be"),
        (dict(r_mag_range=(14.0,)), "r_mag_range must be"),
        (dict(field_id="a/b"), "field_id must be"),
        (dict(field_id=""), "field_id must be"),
    ],
)
def test_field_bad_input(tmp_path, kwargs, match):
    """Bad arguments raise ValueError naming the parameter and the remedy."""
    params = dict(n_samples=5, field_shape=(64, 64), random_state=0)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_splus_field(tmp_path, **params)
    assert not list(tmp_path.iterdir())  # nothing written


def test_field_directory_is_a_file(tmp_path):
    """A file given as the output folder is refused."""
    f = tmp_path / "not_a_dir"
    f.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        make_splus_field(f, n_samples=5, field_shape=(64, 64))


def test_survey_bad_n_fields(tmp_path):
    """n_fields must be a positive integer."""
    with pytest.raises(ValueError, match="n_fields must be a positive integer"):
        make_splus_survey(tmp_path, n_fields=0)


@pytest.mark.slow
def test_catalog_random_forest_is_good_not_perfect(tmp_path):
    """A random forest on catalog magnitudes lands near S-PLUS baselines."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_val_score

    cat, _ = make_splus_survey(
        tmp_path, n_fields=2, n_samples=1500, field_shape=(2048, 2048), random_state=0
    )
    X = cat[[*SPLUS_BANDS, "fwhm"]].to_numpy()
    rf = RandomForestClassifier(200, min_samples_leaf=2, random_state=0)
    acc = cross_val_score(rf, X, cat["class"], cv=5).mean()
    assert 0.8 < acc < 0.96


def test_field_feeds_the_cropper(tmp_path):
    """FITSCropper reads every layout to the same stamps, by pixel or by sky."""
    from skastro.stamps import FITSCropper

    kw = dict(n_samples=12, field_shape=(80, 80), random_state=4)
    stamps = {}
    for layout in ("files", "mef", "compressed", "cube"):
        cat, images = make_splus_field(tmp_path / layout, layout=layout, **kw)
        stamps[layout] = FITSCropper(images).fit(cat).transform(cat)
        assert stamps[layout].shape == (12, 12, 32, 32)
        if layout in ("files", "cube"):
            world = FITSCropper(images, coords="world").fit(cat).transform(cat)
            np.testing.assert_allclose(world, stamps[layout], equal_nan=True)
    np.testing.assert_array_equal(stamps["files"], stamps["mef"])
    np.testing.assert_array_equal(stamps["files"], stamps["cube"])
    assert np.nanmax(np.abs(stamps["files"] - stamps["compressed"])) < 0.2
    cat, images = make_splus_field(tmp_path / "files", layout="files", **kw)
    out = FITSCropper(images, zero_point_keyword="ZP").fit(cat).transform(cat)
    zp = out["zero_point"]
    assert zp.shape == (12, 12)
    expected = [fits.getheader(p)["ZP"] for p in images]
    np.testing.assert_allclose(zp, np.tile(expected, (12, 1)))
