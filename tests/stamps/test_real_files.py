"""FITSCropper on the files real archives publish: scaled integers
(BSCALE/BZERO/BLANK), gzip/bzip2 files, tile compression; 2MASS and SDSS images."""

import bz2
import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.nddata import Cutout2D

from skastro.exceptions import FITSFormatError
from skastro.stamps import FITSCropper

from .conftest import make_wcs


def _reference(path, x, y, size, hdu=0):
    """Cutout2D on astropy's scaled data (float32), one stamp at a time."""
    data = np.asarray(fits.getdata(path, ext=hdu, uint=False), dtype=np.float32)
    return np.stack(
        [
            Cutout2D(data, (xi, yi), size, mode="partial", fill_value=np.nan).data
            for xi, yi in zip(x, y)
        ]
    )[:, None]


def _catalog(rng, n, shape, margin=-1):
    """Positions over the whole image and a little beyond (edge stamps too)."""
    ny, nx = shape
    return pd.DataFrame(
        {
            "x": rng.uniform(margin, nx - 1 - margin, n),
            "y": rng.uniform(margin, ny - 1 - margin, n),
        }  # fmt: skip
    )


def _scaled_int16(tmp_path, name="scaled.fits", blank=True):
    rng = np.random.default_rng(0)
    stored = rng.integers(-3000, 30000, (50, 70)).astype(np.int16)
    if blank:
        stored[10:13, 20:25] = -32768
        stored[0, :] = -32768
    hdu = fits.PrimaryHDU(stored, header=make_wcs((50, 70)).to_header())
    hdu.header["BSCALE"] = 0.045777764213996
    hdu.header["BZERO"] = 1500.0
    if blank:
        hdu.header["BLANK"] = -32768
    path = tmp_path / name
    # write the stored integers as they are (astropy would rescale data)
    hdu.writeto(path, output_verify="silentfix")
    with fits.open(path, do_not_scale_image_data=True) as h:
        assert h[0].data.dtype == np.dtype(">i2")
    return path, stored


def test_scaled_int16_with_blank_equals_astropy_and_cutout2d(tmp_path):
    """int16 with BSCALE/BZERO/BLANK (the 2MASS layout): stamps equal Cutout2D
    on astropy's scaled data; BLANK pixels are NaN."""
    path, stored = _scaled_int16(tmp_path)
    catalog = _catalog(np.random.default_rng(1), 60, stored.shape)
    catalog.loc[0, ["x", "y"]] = [22.0, 11.0]  # on the BLANK patch
    stamps = FITSCropper(str(path), size=7).fit_transform(catalog)
    expected = _reference(path, catalog.x, catalog.y, 7)
    np.testing.assert_array_equal(stamps, expected)
    assert np.isnan(stamps[0, 0, 2:5, 1:6]).all()
    value = np.float32(1500.0) + np.float32(0.045777764213996) * np.float32(
        stored[30, 40]
    )
    small = FITSCropper(str(path), size=1).fit_transform(pd.DataFrame({"x": [40.0], "y": [30.0]}))  # fmt: skip
    np.testing.assert_allclose(small[0, 0, 0, 0], value, rtol=1e-6)


def test_unsigned_16bit_frames_and_blank(tmp_path):
    """uint16 camera frames (BZERO=32768) give their unsigned values; pixels at
    the BLANK value are NaN (astropy's default uint reading keeps them)."""
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 65535, (40, 60)).astype(np.uint16)
    counts[5, 7] = 65535
    hdu = fits.PrimaryHDU(counts)
    hdu.header["BLANK"] = 32767  # stored (signed) value of 65535
    path = tmp_path / "frame.fits"
    hdu.writeto(path)
    catalog = pd.DataFrame({"x": [7.0, 30.2, 58.9], "y": [5.0, 20.7, 38.6]})
    stamps = FITSCropper(str(path), size=5).fit_transform(catalog)
    np.testing.assert_array_equal(stamps, _reference(path, catalog.x, catalog.y, 5))
    assert np.isnan(stamps[0, 0, 2, 2])
    plain = fits.getdata(path)  # uint16, BLANK kept as 65535 by astropy
    assert plain.dtype == np.uint16 and plain[5, 7] == 65535
    np.testing.assert_array_equal(stamps[1, 0], plain[19:24, 28:33].astype(np.float32))


@pytest.mark.parametrize("bitpix", [8, 32])
def test_other_scaled_integer_types(tmp_path, bitpix):
    """uint8 and int32 images with BSCALE/BZERO equal astropy's scaled data."""
    rng = np.random.default_rng(bitpix)
    dtype = {8: np.uint8, 32: np.int32}[bitpix]
    stored = rng.integers(0, 250, (30, 30)).astype(dtype)
    hdu = fits.PrimaryHDU(stored)
    hdu.header["BSCALE"] = 0.25
    hdu.header["BZERO"] = -10.0
    path = tmp_path / f"b{bitpix}.fits"
    hdu.writeto(path, output_verify="silentfix")
    catalog = _catalog(np.random.default_rng(0), 20, stored.shape)
    stamps = FITSCropper(str(path), size=4).fit_transform(catalog)
    np.testing.assert_array_equal(stamps, _reference(path, catalog.x, catalog.y, 4))


@pytest.mark.parametrize("opener", [gzip.open, bz2.open], ids=["gzip", "bzip2"])
def test_gzip_and_bzip2_files(tmp_path, opener):
    """.fits.gz and .fits.bz2 files (one band each, and a multi-band file whose
    bands are read alternately) give the uncompressed file's stamps."""
    path, stored = _scaled_int16(tmp_path)
    rng = np.random.default_rng(3)
    mef = fits.HDUList(
        [fits.PrimaryHDU()]
        + [
            fits.ImageHDU(rng.normal(size=(50, 70)).astype(np.float32))
            for _ in range(3)
        ]
    )
    plain_mef = tmp_path / "mef.fits"
    mef.writeto(plain_mef)
    suffix = ".gz" if opener is gzip.open else ".bz2"
    packed = []
    for src in (path, plain_mef):
        dst = tmp_path / (src.name + suffix)
        with open(src, "rb") as fin, opener(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        packed.append(str(dst))
    catalog = _catalog(np.random.default_rng(4), 50, stored.shape)
    cropper = FITSCropper(packed[0], size=6, block_rows=8)
    np.testing.assert_array_equal(
        cropper.fit_transform(catalog),
        FITSCropper(str(path), size=6).fit_transform(catalog),
    )
    cropper = FITSCropper(packed[1], size=6, block_rows=8)
    np.testing.assert_array_equal(
        cropper.fit_transform(catalog),
        FITSCropper(str(plain_mef), size=6).fit_transform(catalog),
    )


def test_truncated_gzip_file_named(tmp_path):
    """A truncated .fits.gz is reported naming the file (at fit or transform)."""
    path, _ = _scaled_int16(tmp_path, blank=False)
    packed = tmp_path / "cut.fits.gz"
    data = gzip.compress(path.read_bytes())
    packed.write_bytes(data[: len(data) // 2])
    catalog = pd.DataFrame({"x": [35.0], "y": [45.0]})
    with pytest.raises(FITSFormatError, match="cut.fits.gz"):
        FITSCropper(str(packed), size=4).fit_transform(catalog)


def test_tile_compressed_scaled_integers_with_blank(tmp_path):
    """A tile-compressed (fpack-like) int16 HDU with BSCALE/BZERO/BLANK equals
    astropy's scaled data."""
    path, stored = _scaled_int16(tmp_path)
    out = tmp_path / "comp.fits"
    comp = fits.CompImageHDU(stored, compression_type="RICE_1", tile_shape=(16, 16))
    fits.HDUList([fits.PrimaryHDU(), comp]).writeto(out)
    # astropy drops BSCALE/BZERO given with integer data: set the stored
    # image's keywords in the compressed HDU's header, as fpack keeps them
    with fits.open(out, mode="update", disable_image_compression=True) as h:
        for key in ("BSCALE", "BZERO", "BLANK"):
            h[1].header[key] = fits.getheader(path)[key]
    catalog = _catalog(np.random.default_rng(5), 40, stored.shape)
    catalog.loc[0, ["x", "y"]] = [22.0, 11.0]
    stamps = FITSCropper(str(out), size=5).fit_transform(catalog)
    np.testing.assert_array_equal(
        stamps, FITSCropper(str(path), size=5).fit_transform(catalog)
    )
    assert np.isnan(stamps[0, 0, 1:4, 1:4]).all()


def test_all_blank_image_is_refused_naming_the_file(tmp_path):
    """An integer image whose every pixel is BLANK holds no data: fit says so,
    naming the file."""
    hdu = fits.PrimaryHDU(np.full((40, 30), -32768, np.int16))
    hdu.header["BLANK"] = -32768
    path = tmp_path / "empty_tile.fits"
    hdu.writeto(path)
    with pytest.raises(
        FITSFormatError, match=r"Every pixel of 'empty_tile.fits'.*BLANK"
    ):
        FITSCropper(str(path)).fit()
    hdu.data[39, 29] = 7  # one valid pixel, in the last row read
    hdu.writeto(path, overwrite=True)
    FITSCropper(str(path)).fit()


# ------------------------------------------------------------------ real data
def _twomass(realdata):
    return [str(realdata / "fits" / f"gc_2mass_{b}.fits") for b in "jhk"]


def test_2mass_images_equal_cutout2d_and_carry_their_header(realdata):
    """2MASS J/H/K (int16 with BSCALE/BZERO): stamps equal Cutout2D on astropy's
    scaled data at pixel and sky positions; MAGZP zero points, the 1"/pixel
    scale and the band names come from the headers."""
    paths = _twomass(realdata)
    rng = np.random.default_rng(0)
    header = fits.getheader(paths[0])
    assert header["BITPIX"] == 16 and header["BSCALE"] != 1
    ny, nx = header["NAXIS2"], header["NAXIS1"]
    catalog = _catalog(rng, 80, (ny, nx), margin=-3)
    cropper = FITSCropper(paths, size=15, zero_point_keyword="MAGZP")
    out = cropper.fit_transform(catalog)
    stamps = out["stamps"]
    for b, path in enumerate(paths):
        np.testing.assert_array_equal(
            stamps[:, b : b + 1], _reference(path, catalog.x, catalog.y, 15)
        )
    assert cropper.band_names_ == ["J", "H", "K"]
    mag_zp = [fits.getheader(p)["MAGZP"] for p in paths]
    np.testing.assert_array_equal(out["zero_point"][0], mag_zp)
    np.testing.assert_allclose(out["pixel_scale"], 5.0, rtol=1e-6)  # 0.001388889 deg
    from astropy.wcs import WCS

    wcs = WCS(fits.getheader(paths[0]))
    ra, dec = wcs.all_pix2world(catalog.x, catalog.y, 0)
    sky = FITSCropper(paths, size=15, coords="world").fit_transform(
        pd.DataFrame({"ra": ra, "dec": dec})
    )
    np.testing.assert_array_equal(sky, stamps)


def test_sdss_bzip2_images(realdata):
    """The SDSS g/r/i images published as .fits.bz2 read like astropy reads
    them (no "truncated" error), all three bands at once."""
    paths = [str(realdata / "fits" / f"reprojected_sdss_{b}.fits.bz2") for b in "gri"]
    data = np.stack([fits.getdata(p).astype(np.float32) for p in paths])
    rng = np.random.default_rng(1)
    catalog = _catalog(rng, 50, data.shape[1:])
    stamps = FITSCropper(paths, size=9).fit_transform(catalog)
    for b, path in enumerate(paths):
        np.testing.assert_array_equal(
            stamps[:, b : b + 1], _reference(path, catalog.x, catalog.y, 9)
        )
    assert np.isfinite(
        stamps[catalog.x.between(5, 670) & catalog.y.between(5, 480)]
    ).all()
