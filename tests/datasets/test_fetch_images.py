"""Tests for the astropy-data image loaders, files served from 127.0.0.1."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from astropy.io import fits

from skastro.datasets import (
    _fetch_images,
    fetch_2mass_galactic_center,
    fetch_glimpse_field,
)

from .test_fetch import _remote, server  # noqa: F401  (the local-server fixture)

_FOLDER = _fetch_images.FOLDER


def _serve_real(realdata, server, names):  # noqa: F811
    folder = server.root / _FOLDER
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(realdata / "fits" / name, folder / name)


def test_2mass_real_files(realdata, server, tmp_path):  # noqa: F811
    """The real 2MASS files pass their checksums; MAGZP and 5 arcsec pixels read."""
    _serve_real(realdata, server, [f"gc_2mass_{b}.fits" for b in "jhk"])
    tmass = fetch_2mass_galactic_center(data_home=tmp_path)
    assert tmass.bands == ("J", "H", "K")
    np.testing.assert_allclose(tmass.zero_point, [20.9044, 20.4871, 19.9757])
    assert tmass.pixel_scale == pytest.approx(5.0)
    assert [p.rsplit("/", 1)[-1] for p in tmass.filenames] == [
        "gc_2mass_j.fits",
        "gc_2mass_h.fits",
        "gc_2mass_k.fits",
    ]
    with fits.open(tmass.filenames[2]) as hdul:
        assert hdul[0].data.shape == (720, 721)
    assert "Skrutskie" in tmass.citation and "2MASS" in tmass.DESCR
    n = len(server.requests)
    k_only = fetch_2mass_galactic_center(bands=["K"], data_home=tmp_path)
    assert k_only.zero_point.tolist() == [19.9757]
    assert len(server.requests) == n  # cache only


def test_glimpse_real_files(realdata, server, tmp_path):  # noqa: F811
    """The Spitzer image and its 224-source VOTable; 1.2 arcsec pixels."""
    _serve_real(
        realdata, server, ["spitzer_example_image.fits", "spitzer_example_catalog.xml"]
    )
    glimpse = fetch_glimpse_field(data_home=tmp_path)
    assert glimpse.catalog.shape == (224, 16)
    assert {"l", "b", "f4_5", "df4_5"} <= set(glimpse.catalog.columns)
    assert glimpse.pixel_scale == pytest.approx(1.2)
    assert fits.getheader(glimpse.filename)["BUNIT"].strip() == "MJy/sr"


def test_2mass_bad_band(tmp_path):
    """An unknown band is refused before anything is downloaded."""
    with pytest.raises(ValueError, match="'J', 'H', 'K'; got \\['Ks'\\]"):
        fetch_2mass_galactic_center(bands=["Ks"], data_home=tmp_path)
    with pytest.raises(ValueError, match="non-empty"):
        fetch_2mass_galactic_center(bands=[], data_home=tmp_path)


def test_offline_cache_names_the_file(tmp_path):
    """download_if_missing=False on an empty cache names the file and its URL."""
    with pytest.raises(FileNotFoundError, match="gc_2mass_j.fits") as info:
        fetch_2mass_galactic_center(data_home=tmp_path, download_if_missing=False)
    assert "astropy/astropy-data" in str(info.value)
    with pytest.raises(FileNotFoundError, match="spitzer_example_image.fits"):
        fetch_glimpse_field(data_home=tmp_path, download_if_missing=False)


def _fits_bytes(header_cards: dict) -> bytes:
    hdu = fits.PrimaryHDU(np.zeros((4, 4), dtype=np.int16))
    for key, value in header_cards.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def test_2mass_file_without_magzp(server, tmp_path, monkeypatch):  # noqa: F811
    """A served file without MAGZP is an OSError naming it and the fix."""
    content = _fits_bytes({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN"})
    server.add(_FOLDER, "gc_2mass_j.fits", content)
    monkeypatch.setitem(_fetch_images._2MASS, "J", _remote("gc_2mass_j.fits", content))
    with pytest.raises(OSError, match="no MAGZP header keyword; delete it"):
        fetch_2mass_galactic_center(bands=["J"], data_home=tmp_path)


def test_glimpse_bad_catalog(server, tmp_path, monkeypatch):  # noqa: F811
    """A catalogue that is not a VOTable is an OSError naming it."""
    image = _fits_bytes(
        {"CTYPE1": "GLON-CAR", "CTYPE2": "GLAT-CAR", "CDELT1": -1e-3, "CDELT2": 1e-3}
    )
    bad = b"<html>not a votable</html>"
    server.add(_FOLDER, "spitzer_example_image.fits", image)
    server.add(_FOLDER, "spitzer_example_catalog.xml", bad)
    monkeypatch.setattr(
        _fetch_images, "_GLIMPSE_IMAGE", _remote("spitzer_example_image.fits", image)
    )
    monkeypatch.setattr(
        _fetch_images, "_GLIMPSE_CATALOG", _remote("spitzer_example_catalog.xml", bad)
    )
    with pytest.raises(OSError, match="Cannot read the VOTable .*spitzer_example"):
        fetch_glimpse_field(data_home=tmp_path)
