"""FITSCropper: layouts, conventions, Cutout2D equality, policies and bad input."""

import os

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.utils.data import get_pkg_data_filename

from skastro.exceptions import (
    CatalogError,
    FITSFormatError,
    StampOverlapError,
)
from skastro.stamps import FITSCropper, OffImageWarning, resample_flux_conserving

from .conftest import make_wcs, write_field

LAYOUTS = ["files", "mef", "cube", "compressed"]


def cutout_reference(data, x, y, size, mode="partial"):
    """Stamps (n, n_bands, size, size) made one at a time with Cutout2D."""
    out = np.empty((len(x), data.shape[0], size, size), np.float32)
    for i in range(len(x)):
        for b in range(data.shape[0]):
            out[i, b] = Cutout2D(
                data[b], (x[i], y[i]), (size, size), mode=mode, fill_value=np.nan
            ).data
    return out


def interior_catalog(rng, n, shape, size):
    margin = size / 2 + 1
    return pd.DataFrame(
        {
            "x": rng.uniform(margin, shape[1] - margin - 1, n),
            "y": rng.uniform(margin, shape[0] - margin - 1, n),
        }
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [7, 8])
def test_crop_matches_cutout2d_interior(tmp_path, field_data, layout, size):
    """Interior stamps equal Cutout2D's, for every layout and odd/even sizes."""
    images = write_field(tmp_path, layout, field_data)
    catalog = interior_catalog(np.random.default_rng(1), 40, field_data.shape[1:], size)
    catalog.loc[0, ["x", "y"]] = [20.5, 30.5]  # exact half-pixel positions
    stamps = FITSCropper(images, size=size).fit_transform(catalog)
    expected = cutout_reference(field_data, catalog.x, catalog.y, size)
    assert stamps.dtype == np.float32
    np.testing.assert_array_equal(stamps, expected)


def test_crop_in_memory_array_and_blocks(field_data):
    """Small read blocks and in-memory arrays give the same stamps."""
    catalog = interior_catalog(np.random.default_rng(2), 60, field_data.shape[1:], 9)
    a = FITSCropper(field_data, size=9).fit_transform(catalog)
    b = FITSCropper(field_data, size=9, block_rows=10).fit_transform(catalog)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        a, cutout_reference(field_data, catalog.x, catalog.y, 9)
    )


def test_crop_origin_one_is_fits_convention(field_data):
    """origin=1 positions (SExtractor X_IMAGE) are shifted by one pixel."""
    cat0 = pd.DataFrame({"x": [30.2, 41.0], "y": [22.7, 33.0]})
    cat1 = cat0 + 1.0
    a = FITSCropper(field_data, size=8).fit_transform(cat0)
    b = FITSCropper(field_data, size=8, origin=1).fit_transform(cat1)
    np.testing.assert_array_equal(a, b)


def test_crop_world_coordinates_through_wcs(tmp_path, field_data):
    """ra/dec positions go through the file's WCS to the same pixels."""
    images = write_field(tmp_path, "mef", field_data)
    wcs = make_wcs(field_data.shape[1:])
    x, y = np.array([25.3, 50.0]), np.array([20.0, 40.6])
    ra, dec = wcs.all_pix2world(x, y, 0)
    pix = FITSCropper(images, size=8).fit_transform(pd.DataFrame({"x": x, "y": y}))
    sky = FITSCropper(images, size=8, coords="world").fit_transform(
        pd.DataFrame({"ra": ra, "dec": dec})
    )
    np.testing.assert_array_equal(pix, sky)


def test_crop_off_edge_pad_matches_cutout2d_partial(field_data):
    """Off-edge stamps are NaN-padded exactly like Cutout2D(mode='partial')."""
    catalog = pd.DataFrame({"x": [1.0, 78.6, 40.0, 0.2], "y": [2.0, 62.9, 0.0, 63.5]})
    stamps = FITSCropper(field_data, size=10).fit_transform(catalog)
    expected = cutout_reference(field_data, catalog.x, catalog.y, 10)
    np.testing.assert_array_equal(stamps, expected)
    assert np.isnan(stamps[0]).any() and not np.isnan(stamps[0]).all()


def test_crop_off_edge_drop_and_mask(field_data):
    """off_edge='drop' leaves out exactly the rows overlap_mask marks False."""
    catalog = pd.DataFrame({"x": [1.0, 40.0, 70.0], "y": [2.0, 30.0, 30.0]})
    cropper = FITSCropper(field_data, size=10, off_edge="drop").fit(catalog)
    mask = cropper.overlap_mask(catalog)
    np.testing.assert_array_equal(mask, [False, True, True])
    stamps = cropper.transform(catalog)
    assert stamps.shape == (2, 3, 10, 10)
    assert not np.isnan(stamps).any()


def test_crop_off_edge_raise_names_object_and_image(tmp_path, field_data):
    """off_edge='raise' says which object, where, which image, and the fix."""
    images = write_field(tmp_path, "mef", field_data)
    catalog = pd.DataFrame({"x": [40.0, 79.0], "y": [30.0, -4.0]}, index=[16, 17])
    with pytest.raises(
        StampOverlapError, match=r"Object 17 at \(x, y\)=\(79.0, -4.0\)"
    ):
        FITSCropper(images, size=32, off_edge="raise").fit_transform(catalog)
    with pytest.raises(StampOverlapError, match="f_mef.fits.*off_edge='pad'"):
        FITSCropper(images, size=32, off_edge="raise").fit_transform(catalog)


def test_crop_entirely_off_image_warns(field_data):
    """Objects with no overlap give all-NaN stamps and an OffImageWarning."""
    catalog = pd.DataFrame({"x": [40.0, 500.0], "y": [30.0, 30.0]})
    with pytest.warns(OffImageWarning, match="1 object"):
        stamps = FITSCropper(field_data, size=8).fit_transform(catalog)
    assert np.isnan(stamps[1]).all() and not np.isnan(stamps[0]).any()


def test_crop_fwhm_rule_small_objects_cut_output_size(field_data):
    """3*FWHM <= 32 gives plain 32x32 cuts (no resampling)."""
    data = np.random.default_rng(3).normal(size=(2, 120, 120)).astype(np.float32)
    catalog = pd.DataFrame({"x": [60.0, 50.5], "y": [60.0, 70.2], "fwhm": [4.0, 10.6]})
    stamps = FITSCropper(data, size="fwhm").fit_transform(catalog)
    np.testing.assert_array_equal(
        stamps, cutout_reference(data, catalog.x, catalog.y, 32)
    )


def test_crop_fwhm_rule_large_objects_resampled_conserving_flux():
    """3*FWHM > 32: an s x s cut resampled to 32x32 with its flux conserved."""
    data = np.random.default_rng(4).uniform(size=(1, 200, 200)).astype(np.float32)
    catalog = pd.DataFrame({"x": [100.0], "y": [99.5], "fwhm": [15.0]})  # side 45
    stamps = FITSCropper(data, size="fwhm").fit_transform(catalog)
    big = cutout_reference(data, catalog.x, catalog.y, 45)
    assert stamps.shape == (1, 1, 32, 32)
    np.testing.assert_allclose(stamps.sum(), big.sum(), rtol=1e-5)


def test_resample_flux_conserving_identity_and_integer_factor():
    """Resampling by an integer factor is block summing; same size is identity."""
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_array_equal(resample_flux_conserving(x, 4), x)
    down = resample_flux_conserving(x, 2)
    np.testing.assert_allclose(down[0], [[10, 18], [42, 50]])


def test_crop_several_fields_and_zero_points(tmp_path, field_data):
    """A catalog over two fields takes each row's stamps and zero points
    from its own field's files."""
    other = field_data[:, ::-1, :].copy()
    images = {
        "A": write_field(tmp_path, "files", field_data, prefix="A"),
        "B": write_field(
            tmp_path, "mef", other, prefix="B", zero_points=[25.0, 26.0, 27.0]
        ),
    }
    catalog = pd.DataFrame(
        {"x": [30.0, 30.0, 50.0], "y": [30.0, 30.0, 20.0], "field": ["A", "B", "A"]}
    )
    out = FITSCropper(images, size=6, zero_point_keyword="ZP").fit_transform(catalog)
    np.testing.assert_array_equal(
        out["stamps"][0], cutout_reference(field_data, [30.0], [30.0], 6)[0]
    )
    np.testing.assert_array_equal(
        out["stamps"][1], cutout_reference(other, [30.0], [30.0], 6)[0]
    )
    np.testing.assert_array_equal(out["zero_point"][1], [25.0, 26.0, 27.0])
    np.testing.assert_array_equal(out["zero_point"][2], [20.0, 21.0, 22.0])
    np.testing.assert_array_equal(out["field"], ["A", "B", "A"])


def test_bad_catalog_of_several_fields_with_one_field_of_images(tmp_path, field_data):
    """Images of one field and a catalog whose field column holds several
    fields: an error naming the fields and the dict to pass, not stamps cut
    from the wrong field's pixels (issue: 77 of 120 stamps were)."""
    paths = write_field(tmp_path, "files", field_data, prefix="A")
    rng = np.random.default_rng(0)
    catalog = interior_catalog(rng, 120, field_data.shape[1:], 6)
    catalog["field"] = rng.choice(["A", "B", "C"], 120, p=[0.36, 0.32, 0.32])
    with pytest.raises(
        CatalogError, match=r"3 fields \['A', 'B', 'C'\].*images=\{"
    ) as e:
        FITSCropper(paths, size=6).fit_transform(catalog)
    assert "field_column=None" in str(e.value)
    # one field in the column, or the check switched off: stamps as before
    one = catalog.assign(field="A")
    FITSCropper(paths, size=6).fit_transform(one)
    FITSCropper(paths, size=6, field_column=None).fit_transform(catalog)
    with pytest.raises(CatalogError, match="3 fields"):
        FITSCropper(paths, size=6).fit(catalog)


def test_crop_band_names_from_headers(tmp_path, field_data):
    """band_names_ come from the FILTER keywords."""
    cropper = FITSCropper(write_field(tmp_path, "mef", field_data)).fit()
    assert cropper.band_names_ == ["B0", "B1", "B2"]
    assert cropper.n_bands_ == 3


def test_crop_table_input_astropy(field_data):
    """An astropy Table works as the catalog."""
    from astropy.table import Table

    catalog = Table({"x": [40.0], "y": [30.0]})
    assert FITSCropper(field_data, size=4).fit_transform(catalog).shape == (1, 3, 4, 4)


# --------------------------------------------------------------- real files
def _astropy_file(name, package):
    try:
        return get_pkg_data_filename(name, package=package)
    except (OSError, ValueError):  # pragma: no cover - test data not installed
        pytest.skip(f"astropy test file {name} not installed")


@pytest.mark.parametrize(
    "name, package",
    [
        ("data/m13.fits", "astropy.io.fits.hdu.compressed.tests"),
        ("data/m13_rice.fits", "astropy.io.fits.hdu.compressed.tests"),
        ("data/comp.fits", "astropy.io.fits.tests"),
        ("data/test0.fits", "astropy.io.fits.tests"),
        ("data/arange.fits", "astropy.io.fits.tests"),
        ("data/1904-66_AZP.fits", "astropy.modeling.tests"),
    ],
)
def test_crop_real_astropy_files_match_cutout2d(name, package):
    """On FITS files astropy ships (plain, tile-compressed, MEF, cube) the
    stamps equal Cutout2D's."""
    path = _astropy_file(name, package)
    cropper = FITSCropper(path, size=6).fit()
    with fits.open(path) as hdul:
        planes = []
        for hdu in hdul:
            if hdu.data is not None and hdu.data.ndim >= 2:
                planes.extend(hdu.data if hdu.data.ndim == 3 else [hdu.data])
        data = np.stack([np.asarray(p, dtype=np.float32) for p in planes])
    assert cropper.n_bands_ == data.shape[0]
    rng = np.random.default_rng(0)
    ny, nx = data.shape[1:]
    catalog = pd.DataFrame(
        {"x": rng.uniform(4, nx - 5, 10), "y": rng.uniform(4, ny - 5, 10)}
    )
    stamps = cropper.transform(catalog)
    np.testing.assert_array_equal(
        stamps, cutout_reference(data, catalog.x, catalog.y, 6)
    )


def test_crop_real_file_world_coordinates():
    """Sky positions through the WCS of a real file give the WCS's pixels."""
    path = _astropy_file("data/1904-66_AZP.fits", "astropy.modeling.tests")
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        wcs = WCS(hdul[0].header)
    ra, dec = wcs.all_pix2world([50.0, 80.2], [60.0, 90.7], 0)
    a = FITSCropper(path, size=6, coords="world").fit_transform(
        pd.DataFrame({"ra": ra, "dec": dec})
    )
    b = FITSCropper(path, size=6).fit_transform(
        pd.DataFrame({"x": [50.0, 80.2], "y": [60.0, 90.7]})
    )
    np.testing.assert_allclose(a, b)


# ---------------------------------------------------------------- bad input
def test_bad_missing_file_named(tmp_path):
    """A missing file is named in a FileNotFoundError."""
    with pytest.raises(FileNotFoundError, match="nope.fits"):
        FITSCropper([str(tmp_path / "nope.fits")]).fit()


def test_bad_corrupt_file_named(tmp_path):
    """A file that is not FITS gives a FITSFormatError naming it."""
    p = tmp_path / "garbage.fits"
    p.write_bytes(b"this is not a FITS file at all" * 100)
    with pytest.raises(FITSFormatError, match="garbage.fits"):
        FITSCropper(str(p)).fit()


def test_bad_truncated_file_named(tmp_path, field_data):
    """A truncated file is detected at fit, naming the file and sizes."""
    p = write_field(tmp_path, "mef", field_data)
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.truncate(size - 5000)
    with pytest.raises(FITSFormatError, match="truncated"):
        FITSCropper(p).fit()


def test_bad_shape_mismatch_between_band_files(tmp_path, field_data):
    """Band files of different shapes are refused with both shapes listed."""
    paths = write_field(tmp_path, "files", field_data)
    fits.PrimaryHDU(np.zeros((10, 10), np.float32)).writeto(paths[1], overwrite=True)
    with pytest.raises(FITSFormatError, match="share one image shape.*10x10"):
        FITSCropper(paths).fit()


def test_bad_band_count_mismatch_between_fields(tmp_path, field_data):
    """Fields with different band counts are refused."""
    images = {"A": field_data, "B": field_data[:2]}
    with pytest.raises(FITSFormatError, match="same number of bands"):
        FITSCropper(images).fit()


def test_bad_multiband_file_in_list(tmp_path, field_data):
    """A list of files means one band per file."""
    mef = write_field(tmp_path, "mef", field_data)
    with pytest.raises(FITSFormatError, match="one band per file"):
        FITSCropper([mef, mef]).fit()


def test_bad_hdu_without_data(tmp_path):
    """A file with only an empty primary HDU or tables has no image data."""
    p = tmp_path / "empty.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns(
                [fits.Column(name="a", format="E", array=np.zeros(3))]
            ),
        ]
    ).writeto(p)
    with pytest.raises(FITSFormatError, match="no HDU with image data"):
        FITSCropper(str(p)).fit()


@pytest.mark.parametrize(
    "catalog, match",
    [
        (pd.DataFrame({"x": [1.0]}), r"lacks the column\(s\) \['y'\]"),
        (pd.DataFrame({"x": [1.0, np.nan], "y": [2.0, 3.0]}), "non-finite"),
        (pd.DataFrame({"x": [1.0], "y": [np.inf]}), "non-finite"),
    ],
)
def test_bad_catalog_columns_and_values(field_data, catalog, match):
    """Missing position columns and NaN/inf positions are named."""
    with pytest.raises(CatalogError, match=match):
        FITSCropper(field_data, size=4).fit_transform(catalog)


def test_bad_fwhm_column(field_data):
    """size='fwhm' needs a positive fwhm column."""
    cat = pd.DataFrame({"x": [30.0], "y": [30.0]})
    with pytest.raises(CatalogError, match="fwhm"):
        FITSCropper(field_data, size="fwhm").fit_transform(cat)
    cat["fwhm"] = -1.0
    with pytest.raises(CatalogError, match="positive"):
        FITSCropper(field_data, size="fwhm").fit_transform(cat)


def test_bad_world_positions_without_wcs(tmp_path, field_data):
    """Sky positions with a file that has no WCS say so and suggest pixels."""
    images = write_field(tmp_path, "mef", field_data, wcs=False)
    cat = pd.DataFrame({"ra": [30.0], "dec": [-1.0]})
    with pytest.raises(FITSFormatError, match="no.*celestial WCS|has none"):
        FITSCropper(images, coords="world").fit_transform(cat)


def test_bad_unknown_field(field_data):
    """A field id without images is named with the known ones."""
    cat = pd.DataFrame({"x": [30.0], "y": [30.0], "field": ["C"]})
    with pytest.raises(CatalogError, match=r"\['C'\].*\['A', 'B'\]"):
        FITSCropper({"A": field_data, "B": field_data}).fit_transform(cat)


def test_bad_missing_zero_point_keyword(tmp_path, field_data):
    """A zero-point keyword absent from a header is named with the file."""
    images = write_field(tmp_path, "mef", field_data)
    with pytest.raises(FITSFormatError, match="no header keyword 'MAGZP'"):
        FITSCropper(images, zero_point_keyword="MAGZP").fit()


def test_bad_params():
    """Invalid parameters are refused by fit with the allowed values."""
    with pytest.raises(ValueError, match="off_edge"):
        FITSCropper(np.zeros((1, 5, 5)), off_edge="clip").fit()
    with pytest.raises(ValueError, match="needs images"):
        FITSCropper().fit()


def test_crop_cube_per_plane_zero_points(tmp_path, field_data):
    """A cube's one header gives per-plane zero points as ZP1..ZPn."""
    p = tmp_path / "cube.fits"
    hdu = fits.PrimaryHDU(field_data)
    for k in range(3):
        hdu.header[f"ZP{k + 1}"] = 20.0 + k
    hdu.writeto(p)
    out = FITSCropper(str(p), size=4, zero_point_keyword="ZP").fit_transform(
        pd.DataFrame({"x": [30.0], "y": [30.0]})
    )
    np.testing.assert_array_equal(out["zero_point"][0], [20.0, 21.0, 22.0])


# ------------------------------------------- memory-mapped float32 fast path
def _edge_catalog():
    """Interior, edge, corner and entirely-off objects (64x80 image)."""
    return pd.DataFrame(
        {
            "x": [40.2, 1.0, 78.6, 40.0, 0.2, 79.4, 33.3, 300.0, 61.7],
            "y": [30.7, 2.0, 62.9, 0.0, 63.5, 1.2, 20.5, 30.0, 44.1],
        }
    )


def _reference_with_off_image(data, catalog, size):
    """Cutout2D stamps; all NaN for objects without overlap (Cutout2D raises)."""
    ny, nx = data.shape[1:]
    out = np.full((len(catalog), data.shape[0], size, size), np.nan, np.float32)
    for i, (x, y) in enumerate(zip(catalog.x, catalog.y, strict=True)):
        if -size / 2 < x < nx - 1 + size / 2 and -size / 2 < y < ny - 1 + size / 2:
            out[i] = cutout_reference(data, [x], [y], size)[0]
    return out


@pytest.mark.parametrize("layout", ["files", "mef", "cube"])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_crop_plain_float32_mapped_matches_cutout2d(
    tmp_path, field_data, layout, n_jobs, monkeypatch
):
    """Plain float32 files go through the memory-mapped kernel (interior,
    edge and off-image objects, one or two threads) and match Cutout2D."""
    calls = []
    mapped = FITSCropper._extract_mapped
    monkeypatch.setattr(
        FITSCropper,
        "_extract_mapped",
        lambda self, *a: calls.append(1) or mapped(self, *a),
    )
    images = write_field(tmp_path, layout, field_data)
    catalog = _edge_catalog()
    with pytest.warns(OffImageWarning, match="1 object"):
        stamps = FITSCropper(images, size=10, n_jobs=n_jobs).fit_transform(catalog)
    assert calls, "plain float32 images should use the memory-mapped path"
    np.testing.assert_array_equal(
        stamps, _reference_with_off_image(field_data, catalog, 10)
    )


def test_crop_other_dtypes_and_no_mmap_read_rows(tmp_path, field_data, monkeypatch):
    """float64 files, and float32 files where mmap fails, are read in row
    blocks and give the same stamps."""
    catalog = _edge_catalog()
    expected = _reference_with_off_image(field_data, catalog, 9)
    p64 = tmp_path / "f64.fits"
    fits.PrimaryHDU(field_data.astype(np.float64)).writeto(p64)
    with pytest.warns(OffImageWarning):
        stamps = FITSCropper(str(p64), size=9).fit_transform(catalog)
    np.testing.assert_array_equal(stamps, expected)

    import skastro.stamps._crop as crop_module

    def no_mmap(*args, **kwargs):
        raise OSError("mmap not supported on this file system")

    monkeypatch.setattr(crop_module.mmap, "mmap", no_mmap)
    images = write_field(tmp_path, "mef", field_data)
    with pytest.warns(OffImageWarning):
        stamps = FITSCropper(images, size=9).fit_transform(catalog)
    np.testing.assert_array_equal(stamps, expected)


def test_bad_file_truncated_after_fit_named(tmp_path, field_data):
    """A file truncated between fit and transform is named (no crash)."""
    paths = write_field(tmp_path, "files", field_data)
    cropper = FITSCropper(paths, size=8).fit()
    size = os.path.getsize(paths[1])
    with open(paths[1], "r+b") as f:
        f.truncate(size - 5000)
    with pytest.raises(FITSFormatError, match=r"f_band1.fits.*truncated"):
        cropper.transform(pd.DataFrame({"x": [40.0], "y": [30.0]}))
