"""as_light_curve_list: the single converter of light-curve inputs."""

import numpy as np
import pandas as pd
import pytest
from skorch.helper import SliceDict

from skastro.exceptions import InputLayoutError, LightCurveError, LightCurveWarning
from skastro.lightcurves import as_light_curve_list


def _curves():
    rng = np.random.default_rng(0)
    out = []
    for n in (5, 8, 3):
        t = np.sort(rng.uniform(0, 100, n))
        out.append((t, rng.normal(20, 0.3, n), rng.uniform(0.05, 0.1, n)))
    return out


def _padded(curves, width=10):
    arr = {k: np.full((len(curves), width), np.nan) for k in ("time", "mag", "err")}
    for i, (t, m, e) in enumerate(curves):
        arr["time"][i, : t.size] = t
        arr["mag"][i, : t.size] = m
        arr["err"][i, : t.size] = e
    return arr


def _long(curves, ids=("a", "b", "c")):
    return pd.DataFrame(
        {
            "id": np.concatenate([[i] * t.size for i, (t, _, _) in zip(ids, curves)]),
            "time": np.concatenate([c[0] for c in curves]),
            "mag": np.concatenate([c[1] for c in curves]),
            "err": np.concatenate([c[2] for c in curves]),
        }
    )


def _assert_same(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        for a, b in zip(g, e):
            assert a.dtype == np.float64
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c,
        lambda c: [np.column_stack(x) for x in c],
        lambda c: _padded(c),
        lambda c: SliceDict(**_padded(c)),
        lambda c: _long(c),
        lambda c: _long(c).sample(frac=1.0, random_state=0),
        lambda c: [dict(time=t, mag=m, err=e) for t, m, e in c],
    ],
    ids=["tuples", "n_by_3", "padded", "slicedict", "long", "long_shuffled", "dicts"],
)
def test_input_all_forms_agree(make):
    """Every accepted form gives the same curves, in the same order."""
    curves = _curves()
    _assert_same(as_light_curve_list(make(curves)), curves)


def test_input_long_frame_keeps_first_appearance_order():
    """Curves of a long DataFrame come out in the order their ids first appear."""
    curves = _curves()
    df = _long(curves, ids=(30, 10, 20))
    _assert_same(as_light_curve_list(df), curves)


def test_input_mask_key_drops_epochs():
    """An optional boolean 'mask' removes the epochs it marks invalid."""
    curves = _curves()
    X = _padded(curves)
    X["mask"] = np.isfinite(X["time"])
    X["mask"][0, 0] = False
    got = as_light_curve_list(X)
    np.testing.assert_array_equal(got[0][0], curves[0][0][1:])


def test_input_unsorted_sorted_or_raises():
    """Unsorted times are sorted (stably) by default and raise with sort=False."""
    t, m, e = _curves()[1]
    perm = np.random.default_rng(1).permutation(t.size)
    got = as_light_curve_list([(t[perm], m[perm], e[perm])])
    _assert_same(got, [(t, m, e)])
    with pytest.raises(LightCurveError, match="unsorted times.*sort=True"):
        as_light_curve_list([(t[perm], m[perm], e[perm])], sort=False)


def _warnings_of(rec):
    return [r.message for r in rec if isinstance(r.message, LightCurveWarning)]


def test_input_duplicate_times_weighted_mean_by_default():
    """Points at one time become their inverse-variance weighted mean, with
    one warning naming the curve id and the count."""
    t = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    m = np.array([20.0, 19.0, 21.0, 20.0, 18.0, 18.0, 18.6])
    e = np.array([0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])
    X = pd.DataFrame({"id": ["ok"] * 3 + ["star_b"] * 7, "time": [0, 1, 2, *t],
                      "mag": [1, 2, 3, *m], "err": [0.1] * 3 + list(e)})  # fmt: skip
    with pytest.warns(
        LightCurveWarning, match=r"weighted mean.*'star_b' \(3 removed\)"
    ) as rec:
        _, (tt, mm, ee) = as_light_curve_list(X)
    (w,) = _warnings_of(rec)
    assert w.counts == {"star_b": 3}
    np.testing.assert_array_equal(tt, [0.0, 1.0, 2.0, 3.0])
    w1 = np.array([1 / 0.01, 1 / 0.04])
    np.testing.assert_allclose(mm[1], (w1 @ [19.0, 21.0]) / w1.sum())
    np.testing.assert_allclose(ee[1], w1.sum() ** -0.5)
    np.testing.assert_allclose(mm[3], 18.2)
    np.testing.assert_allclose(ee[3], 0.1 / np.sqrt(3))
    assert mm[0] == 20.0 and ee[0] == 0.1  # single points untouched


def test_input_duplicate_times_first_or_raise():
    """duplicates='first' keeps the first point in input order; 'raise' raises,
    naming the curve."""
    t = np.array([0.0, 2.0, 1.0, 1.0, 3.0])
    m = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.warns(LightCurveWarning, match=r"first point.* #0 \(1 removed\)"):
        ((tt, mm, _),) = as_light_curve_list([(t, m, np.ones(5))], duplicates="first")
    np.testing.assert_array_equal(tt, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(mm, [1.0, 3.0, 2.0, 5.0])
    X = pd.DataFrame({"id": "v1", "time": t, "mag": m, "err": 1.0})
    with pytest.raises(LightCurveError, match=r"'v1' .*1 duplicate time.*1\.0"):
        as_light_curve_list(X, duplicates="raise")


@pytest.mark.parametrize("bad", [0.0, -0.1, np.nan, np.inf])
def test_input_bad_errors_are_dropped_with_a_warning(bad):
    """A zero, negative, NaN or infinite error makes the point missing: it is
    dropped and the warning names the curve; the other curves are untouched."""
    e = np.full(5, 0.1)
    e[2] = bad
    with pytest.warns(LightCurveWarning, match=r"error <= 0.* #1 \(1 dropped\)"):
        got = as_light_curve_list([_curves()[0], (np.arange(5.0), np.ones(5), e)])
    _assert_same(got[:1], _curves()[:1])
    np.testing.assert_array_equal(got[1][0], [0.0, 1.0, 3.0, 4.0])


def test_input_nan_values_are_dropped_with_a_warning():
    """Points with a NaN magnitude or time are missing and dropped, with a
    warning; a NaN time in a padded form is padding, dropped silently."""
    t, m, e = np.arange(6.0), np.arange(6.0) + 20, np.full(6, 0.1)
    m[1] = np.nan
    t[4] = np.nan
    e[1] = np.nan  # the error of a missing point does not matter
    with pytest.warns(LightCurveWarning, match=r" #0 \(2 dropped\)"):
        (got,) = as_light_curve_list([(t, m, e)])
    np.testing.assert_array_equal(got[0], [0.0, 2.0, 3.0, 5.0])
    padded = {"time": t[None], "mag": np.where(np.isnan(t), np.nan, 20.0)[None],
              "err": np.full((1, 6), 0.1)}  # fmt: skip
    (got,) = as_light_curve_list(padded)  # warnings are errors here
    assert got[0].size == 5


def test_input_missing_value_markers():
    """-99 and 99.999 (and -999) mark missing values by default; the list is
    configurable, and None keeps every finite value."""
    t = np.arange(6.0)
    m = np.array([20.0, -99.0, 20.1, 99.999, 20.2, 20.3])
    e = np.array([0.1, 0.1, 0.1, 0.1, -99.0, 0.1])
    X = pd.DataFrame({"id": "lc_7", "time": t, "mag": m, "err": e})
    with pytest.warns(
        LightCurveWarning, match=r"marker: -99, -999, 99.999.*'lc_7' \(3"
    ):
        ((tt, _, _),) = as_light_curve_list(X)
    np.testing.assert_array_equal(tt, [0.0, 2.0, 5.0])
    X.loc[5, "mag"] = 30.0
    with pytest.warns(LightCurveWarning, match=r"marker: 30.*'lc_7' \(2"):
        ((tt, _, _),) = as_light_curve_list(X, missing_values=[30.0])
    np.testing.assert_array_equal(tt, [0.0, 1.0, 2.0, 3.0])
    X.loc[4, "err"] = 0.1
    ((tt, mm, _),) = as_light_curve_list(X, missing_values=None)  # no warning
    assert tt.size == 6 and mm[1] == -99.0
    f32 = X.astype({"mag": np.float32})
    f32.loc[5, "mag"] = 20.0
    with pytest.warns(LightCurveWarning, match=r"'lc_7' \(2 dropped"):
        as_light_curve_list(f32)  # float32 99.999 is still the marker


def test_input_many_bad_curves_are_summarised_in_one_warning():
    """Hundreds of curves with duplicates give one warning listing the first
    ten ids, the rest counted, and every count in ``counts``."""
    n = 25
    X = pd.DataFrame({"id": np.repeat([f"s{i}" for i in range(n)], 3),
                      "time": np.tile([0.0, 0.0, 1.0], n), "mag": 20.0,
                      "err": 0.1})  # fmt: skip
    with pytest.warns(LightCurveWarning, match="and 15 more") as rec:
        as_light_curve_list(X)
    (w,) = _warnings_of(rec)
    assert len(w.counts) == n and set(w.counts.values()) == {1}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"duplicates": "median"}, "duplicates must be one of"),
        ({"missing_values": ["x"]}, "missing_values must be a sequence of numbers"),
        ({"missing_values": 5.0}, "missing_values must be a sequence of numbers"),
    ],
)
def test_input_bad_policy_values(kwargs, match):
    """Unknown policies are refused, saying what is allowed."""
    with pytest.raises(ValueError, match=match):
        as_light_curve_list(_curves(), **kwargs)


def test_input_short_and_empty_curves_are_kept():
    """Curves with fewer than 4 points, or none, are returned as they are."""
    X = [(np.array([]), np.array([]), np.array([])), (np.arange(2.0), [1, 2], [1, 1])]
    got = as_light_curve_list(X)
    assert [c[0].size for c in got] == [0, 2]
    assert as_light_curve_list(_long(_curves()).iloc[:0]) == []


def test_input_different_lengths_raise():
    """A curve whose time, mag and err differ in length raises with the lengths."""
    with pytest.raises(InputLayoutError, match="time 5, mag 4, err 5"):
        as_light_curve_list([(np.arange(5.0), np.ones(4), np.ones(5))])


def test_input_padded_shapes_must_match():
    """2-D arrays of a mapping must share one shape."""
    X = _padded(_curves())
    X["err"] = X["err"][:, :5]
    with pytest.raises(InputLayoutError, match="one shape"):
        as_light_curve_list(X)


@pytest.mark.parametrize(
    "X, match",
    [
        ({"time": [[0.0]], "mag": [[1.0]]}, "no 'err' key"),
        ({"time": [[0.0]], "flux": [[1.0]], "flux_err": [[1.0]]}, "holds fluxes"),
        (pd.DataFrame({"time": [0.0], "mag": [1.0], "err": [1.0]}), "without an id"),
        ([(np.arange(3.0), np.ones(3))], r"\(time, mag, err\) tuple"),
        ([np.ones((4, 2))], r"expected \(n_points, 3\)"),
        (np.ones((4, 3)), "shape"),
        ("curves.csv", "not a light-curve input"),
        ({"time": np.ones((2, 2, 2)), "mag": 1, "err": 1}, "must be 2-D"),
    ],
)
def test_input_layout_errors(X, match):
    """Inputs of the wrong form raise InputLayoutError saying what to pass."""
    with pytest.raises(InputLayoutError, match=match):
        as_light_curve_list(X)
