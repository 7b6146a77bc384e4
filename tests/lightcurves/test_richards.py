"""The opt-in Richards et al. (2011, 2012) features of FATSFeatures."""

import warnings

import numpy as np
import pytest

from skastro.datasets import make_light_curves
from skastro.exceptions import LightCurveWarning
from skastro.lightcurves import FATSFeatures
from skastro.lightcurves._features_def import (
    FATS_FEATURES,
    FEATURE_SETS,
    RICHARDS_FEATURES,
)

from .test_realdata import _asas


def _curve(t, shape, period, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    m = 12.0 + shape(2 * np.pi * t / period) + rng.normal(0, noise, t.size)
    return t, m, np.full(t.size, noise)


def _table(curves, features="richards", **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LightCurveWarning)
        fats = FATSFeatures(features=features, **params).fit()
        return fats, fats.transform(curves)


def test_richards_names_and_shapes():
    """'richards' gives the 23 documented columns, 'fats+richards' the 59
    default ones followed by them, and its first 59 columns equal the default
    table; 'all' is still every FATS feature (1,259 columns)."""
    curves = make_light_curves(6, n_points=(80, 120), random_state=1).curves
    fats, rich = _table(curves)
    assert tuple(fats.get_feature_names_out()) == RICHARDS_FEATURES
    assert rich.shape == (6, 23)
    both_fats, both = _table(curves, "fats+richards")
    assert tuple(both_fats.get_feature_names_out()) == FATS_FEATURES + RICHARDS_FEATURES
    _, default = _table(curves, None)
    np.testing.assert_array_equal(both[:, :59], default)
    np.testing.assert_array_equal(both[:, 59:], rich)
    assert len(FEATURE_SETS["all"]) == 61
    assert set(RICHARDS_FEATURES) <= set(FATSFeatures.available_features)


def test_richards_finite_on_simulated_curves():
    """Every feature is finite on the simulated curves of every class."""
    data = make_light_curves(24, n_points=(60, 200), random_state=3)
    _, table = _table(data.curves)
    assert np.isfinite(table).all(), np.argwhere(~np.isfinite(table))


def test_richards_fourier_shape_is_measured_and_origin_free():
    """A two-harmonic curve: R21 is A2/A1 and phi21 = phi2 - 2 phi1 (mod
    2 pi), the same when the star is caught at another phase (FATS's
    relative phases are not); the model's peak-to-peak and the variance
    left are those of the curve."""
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 600, 300))
    a1, a2, p1, p2 = 0.4, 0.16, 0.3, 2.0

    def shape(x):
        return a1 * np.sin(x + p1) + a2 * np.sin(2 * x + p2)

    curves = [_curve(t, shape, 0.61), _curve(t, lambda x: shape(x + 1.3), 0.61)]
    names = [*RICHARDS_FEATURES, "Freq1_harmonics_rel_phase_1"]
    fats, table = _table(curves, names)
    col = {n: table[:, i] for i, n in enumerate(fats.get_feature_names_out())}
    np.testing.assert_allclose(col["R21"], a2 / a1, rtol=0.02)
    np.testing.assert_allclose(col["R31"], 0, atol=0.02)
    np.testing.assert_allclose(col["phi21_sin"], np.sin(p2 - 2 * p1), atol=0.02)
    np.testing.assert_allclose(col["phi21_cos"], np.cos(p2 - 2 * p1), atol=0.02)
    rel = col["Freq1_harmonics_rel_phase_1"]
    assert abs(np.sin(rel[0] - rel[1])) > 0.5  # FATS's: moved by the phase
    grid = np.linspace(0, 2 * np.pi, 2000)
    np.testing.assert_allclose(col["model_amplitude"], np.ptp(shape(grid)), rtol=0.02)
    assert (col["var_ratio"] < 0.01).all()
    assert (col["noise_ratio"] > 10).all()


def test_richards_second_frequency_of_a_double_mode_pulsator():
    """A double-mode RR Lyrae-like curve (periods 0.36 d and 0.483 d, ratio
    0.746): the second frequency is found after removing the first."""
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 900, 500))
    m = (
        12
        + 0.2 * np.sin(2 * np.pi * t / 0.36)
        + 0.12 * np.sin(2 * np.pi * t / 0.483 + 1)
        + rng.normal(0, 0.01, t.size)
    )
    fats, table = _table([(t, m, np.full(t.size, 0.01))])
    col = dict(zip(fats.get_feature_names_out(), table[0]))
    np.testing.assert_allclose(col["f2_over_f1"], 0.36 / 0.483, rtol=1e-3)
    np.testing.assert_allclose(col["A2f_over_A1f"], 0.6, rtol=0.05)
    assert col["var_ratio2"] < 0.05 < col["var_ratio"]
    # the second mode stands out of the residuals' periodogram about as
    # clearly as the first; nothing is left for a third
    assert col["freq_signif"] > 10
    assert col["signif_ratio_21"] > 0.5
    assert col["signif_ratio_31"] < 0.5 * col["signif_ratio_21"]


def test_richards_peak_significance():
    """freq_signif is the periodogram's signal-to-noise at PeriodLS: large
    for a clean sinusoid, falling with the noise; after removing that one
    period no peak of the residuals stands out (signif_ratio_21 small)."""
    rng = np.random.default_rng(6)
    t = np.sort(rng.uniform(0, 700, 250))
    curves = [_curve(t, np.sin, 3.7, noise=s, seed=1) for s in (0.05, 0.5, 2.0)]
    fats, table = _table(curves)
    col = {n: table[:, i] for i, n in enumerate(fats.get_feature_names_out())}
    signif = col["freq_signif"]
    assert signif[0] > signif[1] > signif[2] and signif[0] > 20
    assert col["signif_ratio_21"][0] < 0.3
    assert np.isfinite(col["signif_ratio_31"]).all()


def test_richards_eclipsing_binary_folded_at_twice_the_period():
    """An eclipsing binary with unequal minima, found at half its period by
    the periodogram: the curve folded at twice that period is far more
    ordered than at once (p2p_fold2p_over_fold well below 1)."""
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0, 1500, 600))
    period = 1.7
    phase = np.mod(t / period, 1.0)
    depth = np.where(np.abs(phase - 0.25) < 0.05, 0.8, 0.0) + np.where(
        np.abs(phase - 0.75) < 0.05, 0.4, 0.0
    )
    m = 11 + depth + rng.normal(0, 0.01, t.size)
    fats, table = _table(
        [(t, m, np.full(t.size, 0.01))], ["PeriodLS", *RICHARDS_FEATURES]
    )
    col = dict(zip(fats.get_feature_names_out(), table[0]))
    ratio = col["PeriodLS"] / period
    if abs(ratio - 0.5) < 0.01:  # found at half the period
        assert col["p2p_fold2p_over_fold"] < 0.6
    else:  # found at the period: twice it folds as well
        assert abs(ratio - 1) < 0.01
    assert col["model_skew"] > 0.2  # narrow deep minima in brightness


def test_richards_feets_backend_uses_the_fast_path():
    """feets has no Richards features: with backend='feets' they are the fast
    backend's values; the FATS columns beside them are feets'."""
    curves = make_light_curves(4, n_points=(60, 90), random_state=5).curves
    _, fast = _table(curves, ["Mean", "R21", "p2p_over_mad"])
    _, ref = _table(curves, ["Mean", "R21", "p2p_over_mad"], backend="feets")
    np.testing.assert_allclose(fast, ref, rtol=1e-9)


def test_richards_short_and_constant_curves_give_nan_not_errors():
    """Fewer than 4 points: NaN row; a constant curve: NaN, no exception; a
    curve of 6 points gets values where they are defined."""
    t = np.arange(6.0) * 3.1
    curves = [
        (t[:3], np.array([1.0, 2.0, 1.5]), np.full(3, 0.1)),
        (t, np.full(6, 12.0), np.full(6, 0.1)),
        _curve(t, np.sin, 2.3),
    ]
    with pytest.warns(LightCurveWarning, match="fewer than 4 points"):
        table = FATSFeatures(features="richards").fit_transform(curves)
    assert table.shape == (3, 23)
    assert np.isnan(table[0]).all()
    assert np.isnan(table[1]).all()
    assert np.isfinite(table[2, RICHARDS_FEATURES.index("p2p_over_mad")])


def test_richards_finite_on_real_asas_curves(realdata):
    """Real ASAS curves (Richards et al. 2012 training set) of six classes:
    every feature finite; RR Lyrae (fundamental mode) have the steep rise and
    the harmonic content of their saw-tooth (R21 0.3-0.7, rise fraction
    below 0.35, as in the Fourier decompositions of Simon & Lee 1981)."""
    classes = {"RR_Lyrae_FM", "Mira", "Beta_Persei", "Delta_Scuti", "LSP", "RSG"}
    curves, _ = _asas(realdata, classes)
    _, table = _table(curves[::8])
    assert np.isfinite(table).all()
    rr, _ = _asas(realdata, {"RR_Lyrae_FM"})
    fats, table = _table(rr[:20])
    col = {n: table[:, i] for i, n in enumerate(fats.get_feature_names_out())}
    assert np.median(col["R21"]) == pytest.approx(0.5, abs=0.2)
    assert np.median(col["rise_fraction"]) < 0.35
