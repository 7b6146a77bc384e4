"""Tests for make_splus_stamps and splus_rgb_composite (the data sets of Martinazzo et al. 2021)."""

import numpy as np
import pytest

from skastro.datasets import (
    SPLUS_BANDS,
    SPLUS_BROAD_BANDS,
    make_splus_stamps,
    splus_rgb_composite,
)

SMALL = dict(n_per_field=120, field_shape=(256, 256), random_state=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_splus_stamps(
        tmp_path_factory.mktemp("splus"), n_pool=30, n_labelled=20, **SMALL
    )


def test_views_shapes_and_types(data):
    """12-band, 5-band and RGB views of each set: float32, channels first."""
    for name, n in (("pool", 30), ("labelled", 20)):
        part = data[name]
        assert part.stamps.shape == (n, 12, 32, 32)
        assert part.broad.shape == (n, 5, 32, 32)
        assert part.rgb.shape == (n, 3, 32, 32)
        assert part.stamps.dtype == part.rgb.dtype == np.float32
        idx = [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]
        np.testing.assert_array_equal(part.broad, part.stamps[:, idx])
        assert 0.0 <= part.rgb.min() and part.rgb.max() <= 1.0
        assert list(part.magnitudes.columns) == list(SPLUS_BANDS)


@pytest.mark.parametrize("bands", ["12", "5"])
def test_stamp_channels_match_magnitude_columns(data, bands):
    """Each target column of the pretrainer's view is the magnitude of the
    stamp channel at the same index: colours (band minus r) measured in a
    6-pixel aperture on each channel agree best with the catalog colour of
    that same band, for every band (a permuted channel or column fails)."""
    from skastro.training import splus_view

    point = data.pool.catalog["class"].to_numpy() != "GALAXY"
    X, y = splus_view(
        data.pool.stamps[point],
        data.pool.magnitudes.to_numpy()[point],
        bands=bands,
        target_scale=1.0,
    )
    names = SPLUS_BANDS if bands == "12" else SPLUS_BROAD_BANDS
    ref = names.index("r")
    linear = 2e-4 * np.sinh(X.astype(np.float64))  # the stretch's softening 1e-4
    yy, xx = np.mgrid[:32, :32]
    flux = (linear * (np.hypot(yy - 15.5, xx - 15.5) < 6)).sum(axis=(2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        stamp_mag = -2.5 * np.log10(flux)
    stamp_colour = stamp_mag - stamp_mag[:, [ref]]
    catalog_colour = y - y[:, [ref]]
    mismatch = np.array(
        [
            [
                np.nanmedian(np.abs(catalog_colour[:, b] - stamp_colour[:, k]))
                for k in range(len(names))
            ]
            for b in range(len(names))
        ]
    )
    assert mismatch.argmin(axis=1).tolist() == list(range(len(names)))
    assert np.diag(mismatch).max() < 0.2  # mag: aperture loss and noise


def test_pool_is_brighter_and_precise(data):
    """The pool holds precise (r_err < 0.05), brighter objects than the labelled set."""
    assert (data.pool.catalog["r_err"] < 0.05).all()
    assert data.pool.catalog["r"].mean() < data.labelled.catalog["r"].mean()
    for part in (data.pool, data.labelled):
        assert (part.catalog["photoflag"] == 0).all()
    assert not set(data.pool.catalog["id"]) & set(data.labelled.catalog["id"])


def test_labelled_class_fractions(data):
    """Labelled classes follow 44/42/14 % (stars, galaxies, quasars)."""
    labels, counts = np.unique(data.labelled.target, return_counts=True)
    # floor(20 * f) = 8, 8, 2; the remainder goes to the largest class
    assert dict(zip(labels.tolist(), counts.tolist())) == {
        "GALAXY": 8,
        "QSO": 2,
        "STAR": 10,
    }


def test_images_feed_a_fits_pipeline(data):
    """The returned FITS paths and catalog reproduce the stamps with the same steps."""
    from skastro.stamps import Calibrator, FITSCropper

    raw = FITSCropper(data.images, size="fwhm", zero_point_keyword="ZP").fit_transform(
        data.labelled.catalog
    )
    again = Calibrator(stretch="asinh", asinh_softening=1e-4).fit_transform(raw)
    np.testing.assert_allclose(again, data.labelled.stamps, equal_nan=True)


def test_rgb_composite_reuses_scale(data):
    """Softening and limits returned for one set composite another identically."""
    rgb, soft, lim = splus_rgb_composite(np.nan_to_num(data.pool.stamps))
    assert soft.shape == (3,) and lim.shape == (3, 2)
    again, _, _ = splus_rgb_composite(
        np.nan_to_num(data.pool.stamps), softening=soft, limits=lim
    )
    np.testing.assert_allclose(rgb, again, rtol=1e-5, atol=1e-6)


def test_not_enough_fields_is_clear(tmp_path):
    """Asking for more objects than max_fields can give raises naming the remedy."""
    with pytest.raises(ValueError, match="raise max_fields"):
        make_splus_stamps(tmp_path, n_pool=500, n_labelled=20, max_fields=1, **SMALL)


def test_pool_cut_all_keeps_precise_magnitudes_in_every_band(tmp_path):
    """pool_cut="all" (the selection of Martinazzo et al. 2021): every band
    detected with an error below pool_max_err; the default cuts r only."""
    kw = dict(n_pool=10, n_labelled=5, **SMALL)
    strict = make_splus_stamps(tmp_path / "all", pool_cut="all", **kw)
    errors = strict.pool.catalog[[f"{b}_err" for b in SPLUS_BANDS]]
    assert (errors < 0.05).all(axis=None)
    assert np.isfinite(strict.pool.magnitudes.to_numpy()).all()
    # the same fields hold r-cut objects that the all-band cut leaves out
    loose = make_splus_stamps(tmp_path / "r", **kw)
    loose_errors = loose.pool.catalog[[f"{b}_err" for b in SPLUS_BANDS]]
    assert (loose.pool.catalog["r_err"] < 0.05).all()
    assert not (loose_errors < 0.05).all(axis=None)


def test_pool_cut_is_validated(tmp_path):
    """An unknown pool_cut is refused, naming the parameter."""
    with pytest.raises(ValueError, match="pool_cut"):
        make_splus_stamps(tmp_path, n_pool=5, n_labelled=5, pool_cut="u", **SMALL)
