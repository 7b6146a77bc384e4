"""Property-based tests (hypothesis) over the transformers' inputs.

For random catalogs, light curves and stamp arrays, every call must end in
one of three ways: a result of the documented shape; a clear error (a
:mod:`skastro.exceptions` class, scikit-learn's parameter validation, or a
``ValueError``/``TypeError`` raised by skastro's own code with a message),
never a raw error from numpy, torch or pandas internals; and never a row of
NaN without a warning saying so. Each test is bounded (few examples, a
deadline per example, no example database written to disk), and the module
runs in well under a minute once numba's kernels are cached.
"""

from __future__ import annotations

import os
import traceback
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import skastro
from skastro import exceptions as skex
from skastro.utils._params import InvalidParameterError

FUZZ = settings(
    max_examples=25,
    deadline=timedelta(seconds=20),  # a hang, not a slow shared machine
    derandomize=True,  # the same examples on every run (CI)
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SKASTRO_ERRORS = tuple(
    obj
    for obj in vars(skex).values()
    if isinstance(obj, type)
    and issubclass(obj, Exception)
    and obj.__module__ == "skastro.exceptions"
)
SKASTRO_DIR = str(Path(skastro.__file__).parent)


def assert_clear_error(exc: BaseException) -> None:
    """``exc`` is one of skastro's errors with a message, not a raw numpy one."""
    message = str(exc).strip()
    assert message, f"{type(exc).__name__} without a message"
    if isinstance(exc, (*SKASTRO_ERRORS, InvalidParameterError)):
        return
    frames = traceback.extract_tb(exc.__traceback__)
    raised_by_us = bool(frames) and frames[-1].filename.startswith(SKASTRO_DIR)
    assert isinstance(exc, (ValueError, TypeError)) and raised_by_us, (
        f"raw {type(exc).__name__} from {frames[-1].filename if frames else '?'}: "
        f"{message[:300]}"
    )


def run(call):
    """``(result, warnings, exception)`` of ``call()``; warnings recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(), caught, None
        except Exception as exc:  # noqa: BLE001 - classified by the caller
            result = None, caught, exc
    if os.environ.get("SKASTRO_FUZZ_LOG"):  # what the examples did, for humans
        with open(os.environ["SKASTRO_FUZZ_LOG"], "a") as log:
            exc = result[2]
            what = "ok" if exc is None else f"{type(exc).__name__}: {str(exc)[:150]}"
            kinds = sorted({w.category.__name__ for w in caught})
            log.write(
                f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}\t{what}\t{kinds}\n"
            )
    return result


def nan_rows(table: np.ndarray) -> np.ndarray:
    """Rows (first axis) that are entirely NaN."""
    table = np.asarray(table, dtype=float)
    if table.size == 0:
        return np.empty(0, dtype=int)
    return np.flatnonzero(np.isnan(table.reshape(len(table), -1)).all(axis=1))


# --------------------------------------------------------------- FITSCropper
@pytest.fixture(scope="module")
def small_fits(tmp_path_factory):
    """A 2-band 40x50 FITS cube with a TAN WCS and zero points."""
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [30.0, -1.0]
    wcs.wcs.crpix = [25.5, 20.5]
    wcs.wcs.cdelt = [-0.55 / 3600, 0.55 / 3600]
    header = wcs.to_header()
    header["ZP1"], header["ZP2"] = 20.0, 21.0
    data = np.random.default_rng(0).normal(size=(2, 40, 50)).astype(np.float32)
    path = tmp_path_factory.mktemp("fuzz") / "cube.fits"
    fits.PrimaryHDU(data, header=header).writeto(path)
    return str(path)


SPECIAL = [np.nan, np.inf, -np.inf, 1e12, -1e12, -0.5, 0.4999999, 0.0, -1.0]


@st.composite
def catalogs(draw):
    """Random positions around a 50x40 image (and far off it), random FWHM;
    in a third of them one cell is replaced by NaN, inf, a huge value..."""
    n = draw(st.integers(0, 6))
    frame = pd.DataFrame(
        {
            "x": draw(st.lists(st.floats(-80, 130), min_size=n, max_size=n)),
            "y": draw(st.lists(st.floats(-80, 130), min_size=n, max_size=n)),
            "fwhm": draw(st.lists(st.floats(0.1, 40), min_size=n, max_size=n)),
        },
        dtype=float,
    )
    if n and draw(st.integers(0, 2)) == 0:
        row = draw(st.integers(0, n - 1))
        frame.loc[row, draw(st.sampled_from(["x", "y", "fwhm"]))] = draw(
            st.sampled_from(SPECIAL)
        )
    return frame


@FUZZ
@given(
    catalog=catalogs(),
    size=st.one_of(st.integers(-2, 48), st.just("fwhm")),
    output_size=st.integers(1, 20),
    off_edge=st.sampled_from(["pad", "drop", "raise"]),
    origin=st.sampled_from([0, 1]),
    zp=st.booleans(),
)
def test_fuzz_fits_cropper(
    small_fits, catalog, size, output_size, off_edge, origin, zp
):
    """FITSCropper: stamps of the documented shape, or a clear error; all-NaN
    stamps only with an OffImageWarning."""
    from skastro.stamps import FITSCropper

    cropper = FITSCropper(
        small_fits,
        size=size,
        output_size=output_size,
        off_edge=off_edge,
        origin=origin,
        zero_point_keyword="ZP" if zp else None,
    )
    out, caught, exc = run(lambda: cropper.fit(catalog).transform(catalog))
    if exc is not None:
        assert_clear_error(exc)
        return
    stamps = out["stamps"] if zp else out
    side = output_size if size == "fwhm" else size
    n = len(catalog) if off_edge != "drop" else int(cropper.overlap_mask(catalog).sum())
    assert stamps.shape == (n, 2, side, side) and stamps.dtype == np.float32
    if len(nan_rows(stamps)):
        assert any(
            "do not overlap" in str(w.message) or "after resampling" in str(w.message)
            for w in caught
        )
    if zp:
        assert out["zero_point"].shape == (n, 2)


def test_fits_cropper_resampled_edge_stamp_all_nan_warns(small_fits):
    """Found by test_fuzz_fits_cropper: x=-0.5, FWHM 1, output_size=1 gives an
    all-NaN stamp (every output pixel covers pixels off the image): warned."""
    from skastro.stamps import FITSCropper

    catalog = pd.DataFrame({"x": [-0.5], "y": [0.0], "fwhm": [1.0]})
    cropper = FITSCropper(small_fits, size="fwhm", output_size=1).fit(catalog)
    stamps, caught, exc = run(lambda: cropper.transform(catalog))
    assert exc is None
    assert len(nan_rows(stamps)) == 1
    assert any("after resampling" in str(w.message) for w in caught)


# -------------------------------------------------------------- FATSFeatures
FATS_FEATURES = ["Mean", "Std", "Skew", "StetsonK", "Con", "Autocor_length", "Q31"]

point_values = st.one_of(
    st.floats(-5, 5, allow_nan=False), st.sampled_from([np.nan, np.inf, 0.0])
)


@st.composite
def light_curves(draw, *, allow_duplicates=True, allow_bad_errors=True):
    """A list of (time, mag, err) curves: random lengths, gaps, NaN, duplicate
    times and zero or negative errors."""
    curves = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 40))
        steps = draw(
            hnp.arrays(
                np.float64, n, elements=st.floats(0.0 if allow_duplicates else 0.01, 50)
            )
        )
        time = 50000.0 + np.cumsum(steps)
        if n and draw(st.booleans()):
            time[draw(st.integers(0, n - 1))] += 1000.0  # a gap (and unsorted)
        mag = 18.0 + draw(hnp.arrays(np.float64, n, elements=point_values))
        err_elements = (
            st.one_of(st.floats(0.001, 1.0), st.sampled_from([0.0, -0.1, np.nan]))
            if allow_bad_errors
            else st.floats(0.001, 1.0)
        )
        err = draw(hnp.arrays(np.float64, n, elements=err_elements))
        curves.append((time, mag, err))
    return curves


def _check_fats(curves):
    from skastro.lightcurves import FATSFeatures

    fats = FATSFeatures(FATS_FEATURES, backend="fast")
    out, caught, exc = run(lambda: fats.fit_transform(curves))
    if exc is not None:
        assert_clear_error(exc)
        return
    assert out.shape == (len(curves), len(FATS_FEATURES))
    if np.isnan(out).any():
        assert any(issubclass(w.category, skex.LightCurveWarning) for w in caught), (
            "NaN features without a LightCurveWarning"
        )


@FUZZ
@given(curves=light_curves())
def test_fuzz_fats_features(curves):
    """FATSFeatures (fast): a (n_curves, n_features) table, or a clear error;
    NaN features only with a LightCurveWarning."""
    _check_fats(curves)


@FUZZ
@given(curves=light_curves(allow_duplicates=False, allow_bad_errors=False))
def test_fuzz_fats_features_clean_errors(curves):
    """Curves without duplicate times or bad errors always give a table."""
    from skastro.lightcurves import FATSFeatures

    out, caught, exc = run(
        lambda: FATSFeatures(FATS_FEATURES, backend="fast").fit_transform(curves)
    )
    assert exc is None, f"{type(exc).__name__}: {exc}"
    assert out.shape == (len(curves), len(FATS_FEATURES))


@FUZZ
@given(curves=light_curves())
def test_fuzz_fats_long_dataframe(curves):
    """The same curves as a long DataFrame (the command line's form)."""
    frame = pd.DataFrame(
        [
            {"id": f"c{i}", "time": t, "mag": m, "err": e}
            for i, (ts, ms, es) in enumerate(curves)
            for t, m, e in zip(ts, ms, es, strict=True)
        ],
        columns=["id", "time", "mag", "err"],
    )
    from skastro.lightcurves import FATSFeatures

    out, caught, exc = run(
        lambda: FATSFeatures(FATS_FEATURES, backend="fast").fit_transform(frame)
    )
    if exc is not None:
        assert_clear_error(exc)
        return
    assert out.shape == (frame["id"].nunique(), len(FATS_FEATURES))


# ------------------------------------------------------------ stamp arrays
DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int16,
    np.uint8,
    np.bool_,
    np.complex64,
]


@st.composite
def stamp_arrays(draw, *, bands: int, sides=(1, 2, 7, 8, 33)):
    """Stamp arrays: mostly of the expected layout (``bands`` bands) with
    random sizes, dtypes, NaN and inf; a quarter of random rank and shape."""
    dtype = draw(st.sampled_from(DTYPES))
    if draw(st.integers(0, 3)):
        shape = [draw(st.integers(1, 3)), bands] + draw(
            st.lists(st.sampled_from(sides), min_size=2, max_size=2)
        )
    else:
        ndim = draw(st.sampled_from([2, 3, 4, 5]))
        shape = [draw(st.integers(0, 3))] + draw(
            st.lists(
                st.sampled_from((1, 2, 3, 4, *sides)),
                min_size=ndim - 1,
                max_size=ndim - 1,
            )
        )
    arr = np.random.default_rng(draw(st.integers(0, 2**16))).normal(10, 5, shape)
    if np.dtype(dtype).kind in "fc" and arr.size:
        flat = arr.reshape(-1)
        kind = draw(st.sampled_from(["clean", "clean", "nan", "inf", "all_nan"]))
        if kind == "nan":
            flat[:: max(1, flat.size // 3)] = np.nan
        elif kind == "inf":
            flat[0] = np.inf
        elif kind == "all_nan":
            arr[0] = np.nan
    with np.errstate(invalid="ignore"):
        return arr.astype(dtype)


@pytest.fixture(scope="module")
def fitted_calibrator():
    from skastro.stamps import Calibrator

    X = np.random.default_rng(0).normal(10, 2, size=(6, 3, 8, 8)).astype(np.float32)
    return Calibrator(
        zero_point=[20.0, 21.0, 22.0],
        pixel_scale=0.55,
        stretch="asinh",
        clip_percentiles=(1, 99),
    ).fit(X)


@FUZZ
@given(X=stamp_arrays(bands=3))
def test_fuzz_calibrator(fitted_calibrator, X):
    """Calibrator: same-shape float32 stamps, or a clear error; NaN output
    pixels only where the input had NaN."""
    out, caught, exc = run(lambda: fitted_calibrator.transform(X))
    if exc is not None:
        assert_clear_error(exc)
        return
    assert out.shape == X.shape and out.dtype == np.float32
    new_nan = np.isnan(out) & ~np.isnan(X.astype(np.float64))
    assert not new_nan.any(), "Calibrator made NaN pixels from finite ones"


@FUZZ
@given(X=stamp_arrays(bands=3, sides=(1, 7, 8, 16, 33)))
def test_fuzz_source_features(X):
    """SourceFeatures: an (n, n_features) table or a clear error; rows of NaN
    only with a warning."""
    from skastro.sources import SourceFeatures

    out, caught, exc = run(lambda: SourceFeatures().fit_transform(X))
    if exc is not None:
        assert_clear_error(exc)
        return
    assert out.ndim == 2 and out.shape[0] == len(X)
    if len(nan_rows(out)):
        assert caught, "rows of NaN features without a warning"


@pytest.fixture(scope="module")
def tiny_net():
    """A tiny MagnitudePretrainer on 3-band 32x32 stamps."""
    import torch

    from skastro.nn import MagnitudePretrainer

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3, 32, 32)).astype(np.float32)
    y = rng.uniform(15, 20, size=(8, 3))
    return MagnitudePretrainer(
        module__width=0.0625,
        module__n_hidden=8,
        max_epochs=1,
        batch_size=8,
        train_split=None,
        random_state=0,
        verbose=0,
    ).fit(X, y)


@FUZZ
@given(X=stamp_arrays(bands=3, sides=(8, 32, 33, 40)))
def test_fuzz_network_predict(tiny_net, X):
    """A fitted network: (n, n_outputs) predictions, or a clear error."""
    out, caught, exc = run(lambda: tiny_net.predict(X))
    if exc is not None:
        assert_clear_error(exc)
        return
    assert out.shape == (len(X), 3)


def test_network_all_nan_stamp_is_not_silent(tiny_net):
    """An all-NaN stamp: an error, or NaN predictions with a warning."""
    X = np.full((2, 3, 32, 32), np.nan, dtype=np.float32)
    out, caught, exc = run(lambda: tiny_net.predict(X))
    if exc is not None:
        assert_clear_error(exc)
        return
    assert np.isnan(out).all() and caught


@pytest.mark.parametrize("estimator", ["calibrator", "source_features"])
def test_complex_stamps_are_refused(fitted_calibrator, estimator):
    """Found by the stamp fuzzers: complex stamps are refused, not cast to real."""
    from skastro.sources import SourceFeatures

    X = np.random.default_rng(0).normal(10, 2, size=(2, 3, 8, 8)).astype(np.complex64)
    call = {
        "calibrator": lambda: fitted_calibrator.transform(X),
        "source_features": lambda: SourceFeatures().fit_transform(X),
    }[estimator]
    out, caught, exc = run(call)
    assert exc is not None, "complex stamps accepted"
    assert_clear_error(exc)


# ------------------------------------------------------------ command line
def _cli(args, capsys):
    from skastro.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, err


def _assert_cli_outcome(code, err, out_path):
    """Exit 0 with the output written, or exit 2 with one clear error line."""
    assert "Traceback" not in err and "unexpected" not in err, err
    errors = [line for line in err.splitlines() if ": error: " in line]
    if code == 0:
        assert not errors and Path(out_path).exists(), err
    else:
        assert code == 2 and len(errors) == 1 and len(err.strip().splitlines()) >= 1


column_names = st.sampled_from(
    ["x", "y", "X_IMAGE", "Y_IMAGE", "ra", "dec", "ALPHA_J2000", "DELTA_J2000",
     "fwhm", "FWHM_IMAGE", "id", "NUMBER", "field", "junk"]
)  # fmt: skip
cell = st.one_of(
    st.floats(-100, 150, allow_nan=False).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["nan", "", "inf", "abc", "1e400", "-0"]),
)


@FUZZ
@given(
    columns=st.lists(column_names, min_size=1, max_size=4, unique=True),
    rows=st.lists(st.lists(cell, min_size=4, max_size=4), max_size=5),
    options=st.lists(
        st.sampled_from(
            [["--coords", "world"], ["--size", "fwhm"], ["--off-edge", "drop"],
             ["--off-edge", "raise"], ["--origin", "1"], ["--zp-keyword", "ZP1"],
             ["--size", "5"], ["--calibrate"], ["--out", "s.npy"]]
        ),
        max_size=3,
    ),
)  # fmt: skip
def test_fuzz_cli_crop(small_fits, tmp_path_factory, capsys, columns, rows, options):
    """``skastro crop`` on random catalogs and options: stamps, or one line."""
    folder = tmp_path_factory.mktemp("crop")
    lines = [",".join(columns)] + [",".join(r[: len(columns)]) for r in rows]
    (folder / "cat.csv").write_text("\n".join(lines) + "\n")
    out = folder / "s.fits"
    args = ["crop", folder / "cat.csv", small_fits, "--out", out]
    for option in options:
        args += [str(folder / o) if o.endswith(".npy") else o for o in option]
        if option[-1].endswith(".npy"):
            out = folder / option[-1]
    code, err = _cli(args, capsys)
    _assert_cli_outcome(code, err, out)


@FUZZ
@given(
    curves=light_curves(),
    id_name=st.sampled_from(["id", "OBJECT_ID", "oid", "name"]),
    band=st.booleans(),
)
def test_fuzz_cli_features(tmp_path_factory, capsys, curves, id_name, band):
    """``skastro features`` on random long tables: a table, or one line."""
    folder = tmp_path_factory.mktemp("features")
    frame = pd.DataFrame(
        [
            {id_name: f"c{i}", "time": t, "mag": m, "err": e, "band": "gr"[j % 2]}
            for i, (ts, ms, es) in enumerate(curves)
            for j, (t, m, e) in enumerate(zip(ts, ms, es, strict=True))
        ],
        columns=[id_name, "time", "mag", "err", "band"],
    )
    if not band:
        frame = frame.drop(columns="band")
    frame.to_csv(folder / "lc.csv", index=False)
    out = folder / "f.csv"
    code, err = _cli(
        ["features", folder / "lc.csv", "--out", out, "--features", *FATS_FEATURES],
        capsys,
    )
    _assert_cli_outcome(code, err, out)


# ------------------------------------------------------------ model files
@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    """A saved pipeline (scaler, forest): its bytes, its input and output."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skastro.models import save_model

    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.where(X[:, 0] > 0, "a", "b")
    model = make_pipeline(StandardScaler(), RandomForestClassifier(3, random_state=0))
    path = save_model(model.fit(X, y), tmp_path_factory.mktemp("m") / "m.skastro")
    return path.read_bytes(), X, model.predict(X)


@FUZZ
@given(
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4),
)
def test_fuzz_corrupt_model_files(model_bytes, tmp_path_factory, cut, flips):
    """Truncated or bit-flipped model files: the same predictions, or a
    ModelFileError with a message; nothing else."""
    from skastro.models import load_model

    data, X, expected = model_bytes
    data = bytearray(data if cut is None else data[: cut % len(data)])
    for position, value in flips:
        if data:
            data[position % len(data)] ^= value
    path = tmp_path_factory.mktemp("bad") / "m.skastro"
    path.write_bytes(bytes(data))
    model, caught, exc = run(lambda: load_model(path))
    if exc is not None:
        assert isinstance(exc, skex.ModelFileError) and str(exc), repr(exc)
        return
    np.testing.assert_array_equal(model.predict(X), expected)
