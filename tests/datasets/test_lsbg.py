"""Tests of the DeepShadows-like simulator make_lsbg_stamps."""

import numpy as np
import pytest

from skastro.datasets import LSBG_ARTIFACT_TYPES, make_lsbg_stamps


@pytest.fixture(scope="module")
def bunch():
    return make_lsbg_stamps(24, random_state=3)


def test_make_lsbg_stamps_shapes_and_units(bunch):
    """Stamps are float32 (n, 3, 64, 64), labels 0/1, balanced classes."""
    assert bunch.data.shape == (24, 3, 64, 64)
    assert bunch.data.dtype == np.float32
    assert np.isfinite(bunch.data).all()
    assert set(np.unique(bunch.target)) == {0, 1}
    assert bunch.target.sum() == 12
    assert bunch.bands == ("g", "r", "z")
    assert bunch.pixel_scale == pytest.approx(30 / 64)
    assert list(bunch.target_names) == ["artifact", "LSBG"]


def test_make_lsbg_stamps_kinds_match_labels(bunch):
    """Positives are 'lsbg'; negatives are one of the seed's artifact types."""
    assert (bunch.kind[bunch.target == 1] == "lsbg").all()
    assert set(bunch.kind[bunch.target == 0]) <= set(LSBG_ARTIFACT_TYPES)


def test_make_lsbg_stamps_positive_params_pass_selection(bunch):
    """True LSBG parameters obey the Tanoglidis et al. (2021) cuts and ranges."""
    p = bunch.params[bunch.target == 1]
    assert (p["mu_eff_g"] > 24.3).all()
    assert (p["r_half"] > 2.5).all()
    assert p["sersic_n"].between(0.5, 1.5).all()
    # mean SB within r_half: mu_eff = m + 2.5 log10(2 pi r_half^2)
    mu = p["mag_g"] + 2.5 * np.log10(2 * np.pi * p["r_half"] ** 2)
    np.testing.assert_allclose(mu, p["mu_eff_g"])
    assert bunch.params.loc[bunch.target == 0, "r_half"].isna().all()


def test_make_lsbg_stamps_deterministic():
    """The same random_state gives identical stamps; another one does not."""
    a = make_lsbg_stamps(4, random_state=7, return_X_y=True)
    b = make_lsbg_stamps(4, random_state=7, return_X_y=True)
    c = make_lsbg_stamps(4, random_state=8, return_X_y=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_make_lsbg_stamps_label_noise_flips_exact_fraction():
    """label_noise flips round(fraction * n) labels and keeps the truth."""
    b = make_lsbg_stamps(20, label_noise=0.25, random_state=0)
    assert (b.target != b.true_target).sum() == 5
    clean = make_lsbg_stamps(20, random_state=0)
    np.testing.assert_array_equal(clean.data, b.data)
    np.testing.assert_array_equal(clean.target, b.true_target)


def test_make_lsbg_stamps_hsc_is_deeper():
    """The HSC-like survey has lower pixel noise than the DES-like one."""

    def noise(X):
        d = np.diff(X, axis=-1)
        return np.median(np.abs(d - np.median(d, axis=(-1, -2), keepdims=True)))

    des = make_lsbg_stamps(6, survey="des", random_state=1).data
    hsc = make_lsbg_stamps(6, survey="hsc", random_state=1).data
    assert noise(hsc) < 0.5 * noise(des)


def test_make_lsbg_stamps_bad_survey():
    """An unknown survey name is refused with the allowed values."""
    with pytest.raises(ValueError, match="survey"):
        make_lsbg_stamps(2, survey="lsst")
