"""Real survey images with WCS from the astropy-data repository.

2MASS J/H/K images of the Galactic centre (integer pixels with
``BSCALE``/``BZERO`` and a zero point ``MAGZP`` in the header) and a Spitzer
GLIMPSE image with its point-source catalogue: the files astropy's own
documentation uses, downloaded once into the cache and checked against
their SHA-256 checksums.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.utils import Bunch

from ..utils._params import validate_params
from ._docs import fill_doc
from ._fetch_base import FETCH_CONSTRAINTS, RemoteFile, fetch_files

__all__ = ["fetch_2mass_galactic_center", "fetch_glimpse_field"]

_COMMIT = "1ec3f59aeb914092f48f32eea4d75ea92c707fe3"
_BASE = f"https://raw.githubusercontent.com/astropy/astropy-data/{_COMMIT}"

_2MASS = {
    "J": RemoteFile(
        "gc_2mass_j.fits",
        f"{_BASE}/galactic_center/gc_2mass_j.fits",
        "ff0c98cdfa450caad4f1a6819c18652414b47bd8ebd77de0d45846059830a5b6",
        1_045_440,
    ),
    "H": RemoteFile(
        "gc_2mass_h.fits",
        f"{_BASE}/galactic_center/gc_2mass_h.fits",
        "73ce70037ca12f9b35ecbee76f684065aef6baf4dc586980105481aa84ea7f2e",
        1_045_440,
    ),
    "K": RemoteFile(
        "gc_2mass_k.fits",
        f"{_BASE}/galactic_center/gc_2mass_k.fits",
        "763ef344df3ac8fa80ff46f00ca1ec59946ca3f99502562d6fcfb73320b1cec3",
        1_045_440,
    ),
}
_GLIMPSE_IMAGE = RemoteFile(
    "spitzer_example_image.fits",
    f"{_BASE}/photometry/spitzer_example_image.fits",
    "4b9cf15419de311fc683a9c378327a0b28bfee29d01e4fdbb9dc5780417f7ebc",
    2_113_920,
)
_GLIMPSE_CATALOG = RemoteFile(
    "spitzer_example_catalog.xml",
    f"{_BASE}/photometry/spitzer_example_catalog.xml",
    "e903f3cb62375eb182c7387808f6cf7e0d5add40d45f31dbaa365c4044befe3b",
    118_210,
)
#: Cache subfolder of both loaders (the files come from one repository).
FOLDER = "astropy_images"

CITATION_2MASS = (
    "M. F. Skrutskie et al., 'The Two Micron All Sky Survey (2MASS)', AJ 131, "
    "1163 (2006); mosaics made with Montage (IRSA). Files: astropy/astropy-data, "
    "folder galactic_center/."
)
CITATION_GLIMPSE = (
    "R. A. Benjamin et al., 'GLIMPSE. I. An SIRTF Legacy Project to Map the "
    "Inner Galaxy', PASP 115, 953 (2003); E. Churchwell et al., PASP 121, 213 "
    "(2009); IRAC: G. G. Fazio et al., ApJS 154, 10 (2004). Files: "
    "astropy/astropy-data, folder photometry/."
)

DESCR_2MASS = f"""\
2MASS J, H, K images of the Galactic centre
-------------------------------------------

Three 2MASS mosaics (Montage) of the same 1 x 1 degree field centred on
RA 266.4, Dec -28.93 (the Galactic centre): 721 x 720 pixels of 5 arcsec
(the survey's 1 arcsec pixels resampled), TAN projection with WCS, 16-bit
integers with BSCALE/BZERO (pixel values in data numbers, DN, after
scaling). Each header gives the photometric zero point MAGZP (mag of 1 DN),
J 20.9044, H 20.4871, K 19.9757. A crowded, highly extincted field. The
files are those of astropy's documentation (astropy/astropy-data, commit
{_COMMIT[:7]}).

Reference: {CITATION_2MASS}
"""

DESCR_GLIMPSE = f"""\
Spitzer GLIMPSE field with its point-source catalogue
-----------------------------------------------------

A Spitzer/IRAC 4.5 micron (channel 2) mosaic of the GLIMPSE survey near
l = 18.2, b = 0 (1025 x 513 pixels of 1.2 arcsec, Galactic CAR projection,
MJy/sr), and a VOTable of 224 point sources of the GLIMPSE catalogue in
and around it: Galactic coordinates ``l``, ``b`` (deg), the 4.5 micron flux
``f4_5`` and its error ``df4_5`` (mJy), IRAC magnitudes in the four
channels, and colours. The files are those of astropy's documentation
(astropy/astropy-data, commit {_COMMIT[:7]}, folder photometry/).

Reference: {CITATION_GLIMPSE}
"""

#: :data:`FETCH_CONSTRAINTS` of the loaders without ``return_X_y``.
_COMMON_PARAMS = {k: v for k, v in FETCH_CONSTRAINTS.items() if k != "return_X_y"}


def _pixel_scale(header, path) -> float:
    """Pixel side in arcsec from the header's WCS (square pixels)."""
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(WCS(header).celestial) * 3600.0
    if scales.size != 2 or not np.all(np.isfinite(scales) & (scales > 0)):
        raise OSError(
            f"'{path}' has no usable celestial WCS; delete it to download it again."
        )
    return round(float(np.sqrt(scales[0] * scales[1])), 6)


@validate_params({"bands": [list, tuple], **_COMMON_PARAMS})
@fill_doc(folder=FOLDER)
def fetch_2mass_galactic_center(
    *,
    bands: tuple[str, ...] | list[str] = ("J", "H", "K"),
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    n_retries: int = 3,
    delay: float = 1.0,
) -> Bunch:
    """Load 2MASS J, H and K images of the Galactic centre (FITS files).

    Downloads (3 MB, once) the three 2MASS mosaics that astropy's
    documentation uses from the astropy-data repository on GitHub into
    ``data_home``, checks their SHA-256 checksums, and returns their paths
    (what :class:`~skastro.stamps.FITSCropper` reads) with the zero points
    of their headers.

    =================   ==========================================
    Images              3 (J, H, K), one FITS file each
    Size                721 x 720 pixels, 5 arcsec/pixel, TAN WCS
    Pixels              int16 with BSCALE/BZERO; DN after scaling
    Zero points         header ``MAGZP``: mag of 1 DN
    =================   ==========================================

    Parameters
    ----------
    bands : tuple of str, default=("J", "H", "K")
        The bands to load, in the order wanted (any of ``"J"``, ``"H"``,
        ``"K"``).
    %(data_home)s
    %(download_if_missing)s
    %(retries)s

    %(bunch_returns)s

        filenames : list of str
            Path of the cached FITS file of each band, in ``bands`` order.
        bands : tuple of str
            The bands.
        zero_point : ndarray of shape (n_bands,)
            ``MAGZP`` of each file's header (mag of 1 DN):
            ``mag = zero_point - 2.5 log10(flux in DN)``.
        pixel_scale : float
            Pixel side, arcsec (5.0; from the WCS ``CDELT``).
        %(descr_citation)s

    %(fetch_raises)s
    ValueError
        A band other than J, H, K.

    See Also
    --------
    fetch_glimpse_field : a Spitzer image with its source catalogue.

    References
    ----------
    M. F. Skrutskie et al., AJ 131, 1163 (2006).

    Examples
    --------
    >>> from skastro.datasets import fetch_2mass_galactic_center
    >>> tmass = fetch_2mass_galactic_center()  # doctest: +SKIP
    >>> tmass.bands, tmass.zero_point  # doctest: +SKIP
    (('J', 'H', 'K'), array([20.9044, 20.4871, 19.9757]))
    """
    from astropy.io import fits

    bands = tuple(bands)
    unknown = [b for b in bands if b not in _2MASS]
    if unknown or not bands:
        raise ValueError(
            f"bands must be a non-empty list of 'J', 'H', 'K'; got {list(bands)!r}."
        )
    remotes = [_2MASS[b] for b in bands]
    paths = fetch_files(
        remotes, data_home, FOLDER, download_if_missing, n_retries, delay
    )
    zero_point = []
    for path in paths:
        header = fits.getheader(path)
        if "MAGZP" not in header:
            raise OSError(
                f"'{path}' has no MAGZP header keyword; delete it to download it again."
            )
        zero_point.append(float(header["MAGZP"]))
    return Bunch(
        filenames=[str(p) for p in paths],
        bands=bands,
        zero_point=np.array(zero_point),
        pixel_scale=_pixel_scale(header, paths[-1]),
        DESCR=DESCR_2MASS,
        citation=CITATION_2MASS,
    )


@validate_params(_COMMON_PARAMS)
@fill_doc(folder=FOLDER)
def fetch_glimpse_field(
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    n_retries: int = 3,
    delay: float = 1.0,
) -> Bunch:
    """Load a Spitzer GLIMPSE 4.5 micron image and its point-source catalogue.

    Downloads (2.2 MB, once) the Spitzer/IRAC image and the GLIMPSE
    catalogue extract that astropy's documentation uses from the astropy-data
    repository on GitHub into ``data_home`` and checks their SHA-256
    checksums.

    =================   ============================================
    Image               1025 x 513 pixels, 1.2 arcsec, Galactic CAR
    Pixels              float32, MJy/sr (IRAC channel 2, 4.5 micron)
    Catalogue           224 sources: l, b (deg), f4_5, df4_5 (mJy), ...
    =================   ============================================

    Parameters
    ----------
    %(data_home)s
    %(download_if_missing)s
    %(retries)s

    %(bunch_returns)s

        filename : str
            Path of the cached FITS image.
        catalog : pandas.DataFrame
            The GLIMPSE sources (224 rows; columns as published: ``l``,
            ``b`` in deg, ``f4_5``, ``df4_5`` in mJy, ``mag3_6`` ...
            ``mag8_0`` in mag, ``dist`` in arcsec, ``angle`` in deg, and six
            colours).
        pixel_scale : float
            Pixel side, arcsec (1.2).
        %(descr_citation)s

    %(fetch_raises)s

    See Also
    --------
    fetch_2mass_galactic_center : 2MASS images with header zero points.

    References
    ----------
    R. A. Benjamin et al., PASP 115, 953 (2003).

    Examples
    --------
    >>> from skastro.datasets import fetch_glimpse_field
    >>> glimpse = fetch_glimpse_field()  # doctest: +SKIP
    >>> glimpse.catalog.shape  # doctest: +SKIP
    (224, 16)
    """
    from astropy.io import fits
    from astropy.table import Table

    remotes = [_GLIMPSE_IMAGE, _GLIMPSE_CATALOG]
    image, catalog_path = fetch_files(
        remotes, data_home, FOLDER, download_if_missing, n_retries, delay
    )
    try:
        catalog = Table.read(catalog_path, format="votable").to_pandas()
    except Exception as exc:  # astropy raises several kinds on a bad VOTable
        raise OSError(
            f"Cannot read the VOTable '{catalog_path}' ({exc}); delete it to "
            "download it again."
        ) from exc
    needed = {"l", "b", "f4_5", "df4_5"}
    if not needed <= set(catalog.columns):
        raise OSError(
            f"'{catalog_path}' lacks the column(s) "
            f"{sorted(needed - set(catalog.columns))}; delete it to download it "
            "again."
        )
    return Bunch(
        filename=str(image),
        catalog=catalog,
        pixel_scale=_pixel_scale(fits.getheader(image), image),
        DESCR=DESCR_GLIMPSE,
        citation=CITATION_GLIMPSE,
    )
