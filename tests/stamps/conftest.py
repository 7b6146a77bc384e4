"""Small FITS fields written into tmp_path for the stamp tests."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS


def make_wcs(shape, pixel_scale=0.55, crval=(30.0, -1.0)):
    """A TAN WCS centred on the image, ``pixel_scale`` in arcsec/pixel."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cdelt = [-pixel_scale / 3600, pixel_scale / 3600]
    return w


def write_field(directory, layout, data, *, zero_points=None, wcs=True, prefix="f"):
    """Write ``data`` (n_bands, ny, nx) as one of the supported layouts."""
    n_bands, ny, nx = data.shape
    header = make_wcs((ny, nx)).to_header() if wcs else fits.Header()
    zps = zero_points if zero_points is not None else 20.0 + np.arange(n_bands)

    def band_header(b):
        h = header.copy()
        h["ZP"] = float(zps[b])
        h["FILTER"] = f"B{b}"
        return h

    if layout == "files":
        paths = []
        for b in range(n_bands):
            p = directory / f"{prefix}_band{b}.fits"
            fits.PrimaryHDU(data[b], header=band_header(b)).writeto(p)
            paths.append(str(p))
        return paths
    p = directory / f"{prefix}_{layout}.fits"
    if layout == "mef":
        hdus = [fits.PrimaryHDU()] + [
            fits.ImageHDU(data[b], header=band_header(b), name=f"B{b}")
            for b in range(n_bands)
        ]
    elif layout == "compressed":
        hdus = [fits.PrimaryHDU()] + [
            fits.CompImageHDU(
                data[b],
                header=band_header(b),
                name=f"B{b}",
                compression_type="GZIP_1",
                quantize_level=0.0,
                tile_shape=(16, 16),
            )
            for b in range(n_bands)
        ]
    elif layout == "cube":
        h = header.copy()
        hdus = [fits.PrimaryHDU(data, header=h)]
    else:  # pragma: no cover
        raise ValueError(layout)
    fits.HDUList(hdus).writeto(p)
    return str(p)


@pytest.fixture
def field_data():
    """Three bands of 64x80 pixels of distinct random values."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 64, 80)).astype(np.float32)
