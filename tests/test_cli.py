"""The skastro command line: options, outputs, exit codes, one-line errors."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from skastro._io import read_stamp_objects, read_stamps, stamp_wcs
from skastro.cli import main
from skastro.models import save_model

from .stamps.conftest import write_field

REPO = Path(__file__).resolve().parents[1]


def _run(args, capsys):
    """main(args) -> (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("skastro"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------------- generic
def test_no_command_prints_help_and_exits_2(capsys):
    """``skastro`` alone prints the help and exits with 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_unknown_subcommand_one_line(capsys):
    """An unknown subcommand: one line naming it, exit code 2."""
    code, _, err = _run(["frobnicate"], capsys)
    _assert_one_line_error(code, err, "invalid choice", "frobnicate")


def test_version_and_defaults_in_help(capsys):
    """``--version`` prints the version; ``--help`` shows the defaults."""
    import skastro

    code, out, _ = _run(["--version"], capsys)
    assert code == 0 and out.strip() == f"skastro {skastro.__version__}"
    code, out, _ = _run(["crop", "--help"], capsys)
    assert code == 0
    assert "(default: 32)" in " ".join(out.split())
    assert "(default: pad)" in " ".join(out.split())


def test_demo_unknown_section_one_line_error(tmp_path, capsys):
    """A bad demo section gives a one-line error, exit code 2, no traceback."""
    code, _, err = _run(["demo", "--out", tmp_path, "--sections", "nope"], capsys)
    _assert_one_line_error(code, err, "unknown demo section")


def test_python_dash_m_runs():
    """``python -m skastro --help`` works."""
    out = subprocess.run(
        [sys.executable, "-m", "skastro", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "demo" in out.stdout


# ---------------------------------------------------------------------- crop
@pytest.fixture
def field_data():
    """Three bands of 64x80 random pixels."""
    return np.random.default_rng(0).normal(size=(3, 64, 80)).astype(np.float32)


def test_crop_writes_stamps_file(tmp_path, field_data, capsys):
    """``skastro crop`` reads a CSV catalog and a MEF file, writes .npy and .fits."""
    from skastro.stamps import FITSCropper

    mef = write_field(tmp_path, "mef", field_data)
    cat = pd.DataFrame({"x": [20.0, 40.5], "y": [30.0, 12.2]})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    for name in ("stamps.npy", "stamps.fits"):
        out = tmp_path / name
        code, _, err = _run(
            ["crop", tmp_path / "cat.csv", mef, "--out", out, "--size", "8"], capsys
        )
        assert code == 0, err
        np.testing.assert_array_equal(
            read_stamps(out), FITSCropper(mef, size=8).fit_transform(cat)
        )


def test_crop_fits_output_is_reusable(tmp_path, field_data, capsys):
    """The FITS output carries ids, positions, band names, zero points, BUNIT
    and each stamp's WCS (the stamp centre maps back to the object)."""
    paths = write_field(tmp_path, "files", field_data)
    with fits.open(paths[0], mode="update") as hdul:
        hdul[0].header["BUNIT"] = "nanomaggy"
    cat = pd.DataFrame(
        {"OBJID": [7, 9, 11], "x": [20.0, 40.5, 60.0], "y": [30.0, 12.2, 40.0]}
    )
    cat.to_csv(tmp_path / "cat.csv", index=False)
    out = tmp_path / "s.fits"
    code, _, err = _run(
        ["crop", tmp_path / "cat.csv", *paths, "--out", out, "--size", "9",
         "--zp-keyword", "ZP"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    with fits.open(out) as hdul:
        assert hdul[0].header["BUNIT"] == "nanomaggy"
        assert [hdul[0].header[f"BAND{i}"] for i in range(3)] == ["B0", "B1", "B2"]
        assert "WCS" in hdul
    objects = read_stamp_objects(out)
    assert objects["OBJID"].tolist() == [7, 9, 11]
    np.testing.assert_allclose(objects["x"], cat["x"])
    assert objects["zp_B2"].tolist() == [22.0] * 3
    for i in range(3):
        wcs = stamp_wcs(out, i)
        x0, y0 = objects.loc[i, ["x0", "y0"]]
        ra, dec = wcs.all_pix2world(cat.x[i] - x0, cat.y[i] - y0, 0)
        np.testing.assert_allclose([ra, dec], objects.loc[i, ["ra", "dec"]], atol=1e-9)


def test_crop_fwhm_stamps_have_scaled_wcs(tmp_path, field_data, capsys):
    """--size fwhm: resampled stamps get a WCS whose pixels are larger."""
    mef = write_field(tmp_path, "mef", field_data)
    pd.DataFrame({"x": [40.0], "y": [30.0], "FWHM_IMAGE": [8.0]}).to_csv(
        tmp_path / "cat.csv", index=False
    )
    out = tmp_path / "s.fits"
    code, _, err = _run(
        ["crop", tmp_path / "cat.csv", mef, "--out", out, "--size", "fwhm",
         "--output-size", "12"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    objects = read_stamp_objects(out)
    assert objects.loc[0, "side"] == 24 and objects.loc[0, "scale"] == 2.0
    wcs = stamp_wcs(out, 0)
    # the object at field pixel x lies at stamp pixel (x - x0 + 0.5) / scale - 0.5
    row = objects.loc[0]
    qx, qy = ((row[c] - row[f"{c}0"] + 0.5) / 2.0 - 0.5 for c in ("x", "y"))
    ra, dec = wcs.all_pix2world(qx, qy, 0)
    np.testing.assert_allclose([ra, dec], objects.loc[0, ["ra", "dec"]], atol=1e-9)


def test_crop_sextractor_columns_are_one_based(tmp_path, field_data, capsys):
    """X_IMAGE/Y_IMAGE (any case) are found and read as FITS 1-based pixels."""
    mef = write_field(tmp_path, "mef", field_data)
    pd.DataFrame({"x": [20.0], "y": [30.0]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"X_IMAGE": [21.0], "y_image": [31.0]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    for name in ("a", "b"):
        code, _, err = _run(
            ["crop", tmp_path / f"{name}.csv", mef, "--out", tmp_path / f"{name}.npy",
             "--size", "8"],
            capsys,
        )  # fmt: skip
        assert code == 0, err
    np.testing.assert_array_equal(
        np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    )


def test_crop_world_positions_and_aliases(tmp_path, field_data, capsys):
    """ALPHA_J2000/DELTA_J2000 with --coords world; without it, a hint."""
    mef = write_field(tmp_path, "mef", field_data)
    pd.DataFrame({"ALPHA_J2000": [30.0], "DELTA_J2000": [-1.0]}).to_csv(
        tmp_path / "cat.csv", index=False
    )
    args = ["crop", tmp_path / "cat.csv", mef, "--out", tmp_path / "s.npy"]
    code, _, err = _run(args, capsys)
    _assert_one_line_error(code, err, "--coords world")
    code, _, err = _run([*args, "--coords", "world"], capsys)
    assert code == 0, err


def test_crop_explicit_columns(tmp_path, field_data, capsys):
    """--position-columns and --fwhm-column name the columns (any case)."""
    mef = write_field(tmp_path, "mef", field_data)
    pd.DataFrame({"px": [40.0], "py": [30.0], "seeing": [3.0]}).to_csv(
        tmp_path / "cat.csv", index=False
    )
    base = ["crop", tmp_path / "cat.csv", mef, "--size", "fwhm", "--output-size", "8"]
    code, _, err = _run([*base, "--out", tmp_path / "a.npy"], capsys)
    _assert_one_line_error(code, err, "--position-columns")
    code, _, err = _run(
        [*base, "--out", tmp_path / "a.npy", "--position-columns", "PX", "PY"], capsys
    )
    _assert_one_line_error(code, err, "FWHM", "--fwhm-column")
    code, _, err = _run(
        [*base, "--out", tmp_path / "a.npy", "--position-columns", "PX", "PY",
         "--fwhm-column", "SEEING"],
        capsys,
    )  # fmt: skip
    assert code == 0, err


def test_crop_several_fields(tmp_path, field_data, capsys):
    """A catalog of several fields with one field's images is refused; --field
    selects that field's rows; FIELD=PATH pairs crop each from its own images."""
    a = write_field(tmp_path, "mef", field_data, prefix="a")
    b = write_field(tmp_path, "mef", field_data[:, ::-1].copy(), prefix="b")
    cat = pd.DataFrame({"x": [20.0, 20.0], "y": [30.0, 30.0], "Field": ["A", "B"]})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    base = ["crop", tmp_path / "cat.csv", "--size", "8"]
    code, _, err = _run([*base, a, "--out", tmp_path / "s.npy"], capsys)
    _assert_one_line_error(code, err, "2 fields", "--field")
    code, _, err = _run([*base, a, "--out", tmp_path / "s.npy", "--field", "A"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (1, 3, 8, 8)
    code, _, err = _run(
        [*base, f"A={a}", f"B={b}", "--out", tmp_path / "ab.fits"], capsys
    )
    assert code == 0, err
    stamps = read_stamps(tmp_path / "ab.fits")
    assert not np.array_equal(stamps[0], stamps[1])
    assert read_stamp_objects(tmp_path / "ab.fits")["field"].tolist() == ["A", "B"]


def test_crop_calibrate(tmp_path, field_data, capsys):
    """--calibrate applies the S-PLUS calibration with the WCS pixel scale."""
    from skastro.stamps import Calibrator, FITSCropper

    mef = write_field(tmp_path, "mef", field_data)
    pd.DataFrame({"x": [40.0], "y": [30.0]}).to_csv(tmp_path / "cat.csv", index=False)
    base = ["crop", tmp_path / "cat.csv", mef, "--size", "8"]
    code, _, err = _run([*base, "--out", tmp_path / "c.fits", "--calibrate"], capsys)
    _assert_one_line_error(code, err, "--zp-keyword")
    code, _, err = _run(
        [*base, "--out", tmp_path / "c.fits", "--calibrate", "--zp-keyword", "ZP"],
        capsys,
    )
    assert code == 0, err
    cropper = FITSCropper(mef, size=8, zero_point_keyword="ZP").fit()
    expected = Calibrator(pixel_scale=0.55).fit_transform(
        cropper.transform(pd.read_csv(tmp_path / "cat.csv"))
    )
    np.testing.assert_allclose(read_stamps(tmp_path / "c.fits"), expected, rtol=1e-5)
    assert fits.getheader(tmp_path / "c.fits")["BUNIT"] == "1e-5 maggy/arcsec2"


def test_crop_output_checks_come_first(tmp_path, field_data, capsys):
    """An unsupported extension is refused before the catalog is even read; an
    existing output is kept unless --overwrite."""
    mef = write_field(tmp_path, "mef", field_data)
    code, _, err = _run(
        ["crop", tmp_path / "absent.csv", mef, "--out", tmp_path / "s.png"], capsys
    )
    _assert_one_line_error(code, err, "unsupported extension '.png'")
    pd.DataFrame({"x": [40.0], "y": [30.0]}).to_csv(tmp_path / "cat.csv", index=False)
    (tmp_path / "s.npy").write_bytes(b"keep me")
    args = ["crop", tmp_path / "cat.csv", mef, "--out", tmp_path / "s.npy"]
    code, _, err = _run(args, capsys)
    _assert_one_line_error(code, err, "exists", "--overwrite")
    assert (tmp_path / "s.npy").read_bytes() == b"keep me"
    code, _, err = _run([*args, "--overwrite"], capsys)
    assert code == 0, err


def test_crop_missing_file_one_line_error(tmp_path, capsys):
    """A missing image file is named in a one-line error with exit code 2."""
    (tmp_path / "cat.csv").write_text("x,y\n1,2\n")
    code, _, err = _run(
        [
            "crop",
            tmp_path / "cat.csv",
            tmp_path / "no.fits",
            "--out",
            tmp_path / "s.npy",
        ],
        capsys,
    )
    _assert_one_line_error(code, err, "no.fits")


# ------------------------------------------------------------------ features
def _long_table(n_curves=2, n_points=60, id_name="id", bands=None, seed=0):
    from skastro.datasets import make_light_curves

    curves = make_light_curves(n_curves, n_points=n_points, random_state=seed).curves
    frames = []
    for band in bands or [None]:
        for i, (t, m, e) in enumerate(curves):
            frame = pd.DataFrame({id_name: f"star{i}", "time": t, "mag": m, "err": e})
            if band is not None:
                frame["band"] = band
                frame["mag"] += 0.5 if band == "r" else 0.0
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(
    "features, n_columns",
    [(None, 59), (["carrasco-davis2019"], 47), (["Mean", "Std"], 2), (["Mean"], 1)],
)
def test_features_named_sets_and_lists(tmp_path, capsys, features, n_columns):
    """``skastro features``: the default set, a named set, or feature names."""
    _long_table().to_csv(tmp_path / "lc.csv", index=False)
    out = tmp_path / "features.csv"
    args = ["features", tmp_path / "lc.csv", "--out", out]
    code, _, err = _run(args + (["--features", *features] if features else []), capsys)
    assert code == 0, err
    assert pd.read_csv(out).shape == (2, n_columns + 1)  # + the id column


@pytest.mark.parametrize("id_name", ["id", "OBJECT_ID", "Oid", "NUMBER"])
def test_features_keep_the_id_column_under_its_alias(tmp_path, capsys, id_name):
    """Any accepted id alias (any case) is found and kept under its name."""
    _long_table(id_name=id_name).to_csv(tmp_path / "lc.csv", index=False)
    out = tmp_path / "f.csv"
    code, _, err = _run(
        ["features", tmp_path / "lc.csv", "--out", out, "--features", "Mean"], capsys
    )
    assert code == 0, err
    got = pd.read_csv(out)
    assert got.columns.tolist() == [id_name, "Mean"]
    assert got[id_name].tolist() == ["star0", "star1"]


def test_features_band_column(tmp_path, capsys):
    """A band column gives one row per (id, band), or <feature>_<band> columns."""
    table = _long_table(bands=["g", "r"])
    table.to_csv(tmp_path / "lc.csv", index=False)
    base = ["features", tmp_path / "lc.csv", "--features", "Mean", "Std"]
    code, _, err = _run([*base, "--out", tmp_path / "rows.csv"], capsys)
    assert code == 0, err
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert rows.columns.tolist() == ["id", "band", "Mean", "Std"]
    assert len(rows) == 4
    g = table[(table.id == "star0") & (table.band == "g")]
    assert rows.loc[0, "Mean"] == pytest.approx(g.mag.mean())
    code, _, err = _run(
        [*base, "--out", tmp_path / "cols.csv", "--bands", "columns"], capsys
    )
    assert code == 0, err
    cols = pd.read_csv(tmp_path / "cols.csv")
    assert cols.columns.tolist() == ["id", "Mean_g", "Mean_r", "Std_g", "Std_r"]
    assert cols.loc[0, "Mean_r"] - cols.loc[0, "Mean_g"] == pytest.approx(0.5)
    # ignoring the band puts g and r points at the same times in one curve:
    # averaged (the default policy) with a warning naming the curves ...
    code, _, err = _run(
        [*base, "--out", tmp_path / "one.csv", "--bands", "ignore"], capsys
    )
    assert code == 0, err
    assert "Duplicate times" in err and "id='star0'" in err
    assert len(pd.read_csv(tmp_path / "one.csv")) == 2
    # ... or refused with --duplicates raise
    code, _, err = _run(
        [*base, "--out", tmp_path / "one_r.csv", "--bands", "ignore",
         "--duplicates", "raise"],
        capsys,
    )  # fmt: skip
    _assert_one_line_error(code, err, "duplicate time")


def test_features_explicit_columns(tmp_path, capsys):
    """--time/--mag/--err-column name odd columns; a wrong name is reported."""
    table = _long_table().rename(
        columns={"time": "HJD_obs", "mag": "Vmag", "err": "e_V"}
    )
    table.to_csv(tmp_path / "lc.csv", index=False)
    base = ["features", tmp_path / "lc.csv", "--out", tmp_path / "f.csv"]
    code, _, err = _run([*base, "--features", "Mean"], capsys)
    _assert_one_line_error(code, err, "no time column", "--time-column")
    code, _, err = _run(
        [*base, "--features", "Mean", "--time-column", "hjd_obs", "--mag-column",
         "VMAG", "--err-column", "e_v"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = _run(
        [*base, "--overwrite", "--time-column", "nope", "--features", "Mean"], capsys
    )
    _assert_one_line_error(code, err, "'nope'", "--time-column")


def test_features_short_curves_warn_by_id_cause_first(tmp_path, capsys):
    """A 3-point curve: one warning line naming its id, cause first."""
    table = _long_table()
    short = pd.DataFrame(
        {"id": "tiny", "time": [1.0, 2.0, 3.0], "mag": 20.0, "err": 0.1}
    )
    pd.concat([table, short]).to_csv(tmp_path / "lc.csv", index=False)
    code, _, err = _run(
        ["features", tmp_path / "lc.csv", "--out", tmp_path / "f.csv"], capsys
    )
    assert code == 0, err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert any(
        "1 light curve(s) have fewer than 4 points" in line and "'tiny'" in line
        for line in lines
    ), err
    assert "Traceback" not in err


def test_features_bad_point_named_by_id(tmp_path, capsys):
    """A zero error: the point is dropped and the warning names the curve's id,
    not its index."""
    table = _long_table()
    table.loc[table.index[-1], "err"] = 0.0
    table.to_csv(tmp_path / "lc.csv", index=False)
    code, _, err = _run(
        ["features", tmp_path / "lc.csv", "--out", tmp_path / "f.csv"], capsys
    )
    assert code == 0, err
    assert "Dropped missing points" in err
    assert "id='star1' (1)" in err and "star0" not in err


def test_features_unknown_feature_before_reading(tmp_path, capsys):
    """A misspelt feature is reported (with a suggestion) before any reading."""
    code, _, err = _run(
        ["features", tmp_path / "absent.csv", "--out", tmp_path / "f.csv",
         "--features", "mean", "Stdd"],
        capsys,
    )  # fmt: skip
    _assert_one_line_error(code, err, "did you mean")


# ------------------------------------------------------------------- predict
def _toy_model():
    """A pipeline on 3x4x4 stamps with string class names."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3, 4, 4)).astype(np.float32)
    y = np.where(X[:, 0, 2, 2] > 0, "LSBG", "artifact")
    model = make_pipeline(
        FunctionTransformer(np.reshape, kw_args={"shape": (-1, 48)}),
        LogisticRegression(),
    ).fit(X, y)
    return model, X


def test_predict_safe_model_on_stamps(tmp_path, capsys):
    """``skastro predict`` applies a safe-format model to a .npy stamps file:
    class names and probabilities per class; a wrong shape is one line."""
    model, X = _toy_model()
    save_model(model, tmp_path / "m.skastro")
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "pred.csv"
    code, _, err = _run(
        [
            "predict",
            tmp_path / "m.skastro",
            tmp_path / "x.npy",
            "--out",
            out,
            "--proba",
        ],
        capsys,
    )
    assert code == 0, err
    got = pd.read_csv(out)
    np.testing.assert_array_equal(got["prediction"], model.predict(X))
    assert {"p_LSBG", "p_artifact"} <= set(got.columns)
    np.save(tmp_path / "bad.npy", X[:, :, :3, :3])
    code, _, err = _run(
        ["predict", tmp_path / "m.skastro", tmp_path / "bad.npy", "--out", out,
         "--overwrite"],
        capsys,
    )  # fmt: skip
    _assert_one_line_error(code, err, "cannot predict")


def test_predict_keeps_ids_of_a_crop_file(tmp_path, field_data, capsys):
    """Stamps from ``skastro crop`` keep their ids; without --stamps, a hint."""
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    mef = write_field(tmp_path, "mef", field_data)
    pd.DataFrame({"ID": [5, 6], "x": [20.0, 40.0], "y": [30.0, 30.0]}).to_csv(
        tmp_path / "cat.csv", index=False
    )
    assert main(["crop", str(tmp_path / "cat.csv"), mef, "--out",
                 str(tmp_path / "s.fits"), "--size", "4"]) == 0  # fmt: skip
    model = make_pipeline(
        FunctionTransformer(np.reshape, kw_args={"shape": (-1, 48)}),
        DummyClassifier(strategy="constant", constant="star"),
    ).fit(np.zeros((2, 3, 4, 4)), ["star", "galaxy"])
    save_model(model, tmp_path / "m.skastro")
    base = ["predict", tmp_path / "m.skastro", tmp_path / "s.fits"]
    code, _, err = _run([*base, "--out", tmp_path / "p.csv"], capsys)
    _assert_one_line_error(code, err, "--stamps")
    code, _, err = _run([*base, "--out", tmp_path / "p.csv", "--stamps"], capsys)
    assert code == 0, err
    got = pd.read_csv(tmp_path / "p.csv")
    assert got.columns.tolist() == ["ID", "prediction"]
    assert got["ID"].tolist() == [5, 6] and got["prediction"].tolist() == ["star"] * 2


def test_predict_table_keeps_id_and_refuses_proba_without_it(tmp_path, capsys):
    """A catalog's id column (any alias) is kept; --proba on a model without
    predict_proba is refused before predicting."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    cat = pd.DataFrame({"Source_ID": range(20), "a": rng.normal(size=20)})
    cat["b"] = rng.normal(size=20)
    y = np.where(cat.a > 0, "bright", "faint")
    save_model(SVC().fit(cat[["a", "b"]].to_numpy(), y), tmp_path / "svc.skastro")
    cat[["Source_ID", "a", "b"]].to_csv(tmp_path / "cat.csv", index=False)
    cat[["a", "b"]].to_csv(tmp_path / "ab.csv", index=False)
    code, _, err = _run(
        ["predict", tmp_path / "svc.skastro", tmp_path / "cat.csv", "--out",
         tmp_path / "p.csv", "--proba"],
        capsys,
    )  # fmt: skip
    _assert_one_line_error(code, err, "no predict_proba")
    assert not (tmp_path / "p.csv").exists()
    code, _, err = _run(
        ["predict", tmp_path / "svc.skastro", tmp_path / "ab.csv", "--out",
         tmp_path / "p.csv"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert set(pd.read_csv(tmp_path / "p.csv")["prediction"]) <= {"bright", "faint"}


class _Evil:
    """Unpickling this creates a file: the proof that pickles run code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_predict_refuses_pickles_without_trust(tmp_path, capsys):
    """A pickle is refused (nothing runs) unless --trust-pickle is given."""
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.joblib", "wb") as handle:
        pickle.dump(_Evil(marker), handle)
    model, X = _toy_model()
    np.save(tmp_path / "x.npy", X)
    base = [tmp_path / "x.npy", "--out", tmp_path / "p.csv"]
    code, _, err = _run(["predict", tmp_path / "evil.joblib", *base], capsys)
    _assert_one_line_error(code, err, "pickle", "--trust-pickle")
    assert not marker.exists()
    import joblib

    joblib.dump(model, tmp_path / "m.joblib")
    code, _, err = _run(
        ["predict", tmp_path / "m.joblib", *base, "--trust-pickle"], capsys
    )
    assert code == 0, err


@pytest.mark.parametrize(
    "content, fragment",
    [
        (os.urandom(64), "not a skastro model file"),
        (b"PK\x03\x04" + os.urandom(60), "corrupt"),
        (b"\x80\x04\x95" + os.urandom(40), "pickle"),
        (b"", "not a skastro model file"),
    ],
    ids=["random", "bad-zip", "pickle", "empty"],
)
def test_predict_corrupt_models(tmp_path, capsys, content, fragment):
    """Corrupt or foreign model files: one line, exit code 2."""
    (tmp_path / "m.skastro").write_bytes(content)
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 4, 4), np.float32))
    code, _, err = _run(
        [
            "predict",
            tmp_path / "m.skastro",
            tmp_path / "x.npy",
            "--out",
            tmp_path / "p.csv",
        ],
        capsys,
    )
    _assert_one_line_error(code, err, fragment)


def test_predict_corrupt_pickle_with_trust(tmp_path, capsys):
    """A truncated joblib file with --trust-pickle: one line, not a traceback."""
    import joblib

    model, X = _toy_model()
    joblib.dump(model, tmp_path / "m.joblib")
    data = (tmp_path / "m.joblib").read_bytes()
    (tmp_path / "m.joblib").write_bytes(data[:200])
    np.save(tmp_path / "x.npy", X)
    code, _, err = _run(
        ["predict", tmp_path / "m.joblib", tmp_path / "x.npy", "--out",
         tmp_path / "p.csv", "--trust-pickle"],
        capsys,
    )  # fmt: skip
    _assert_one_line_error(code, err, "not a loadable pickle")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["crop", "{d}/c.csv", "{d}/i.fits", "--out", "{d}/o.fits", "--size", "0"], "--size"),
        (["crop", "{d}/c.csv", "{d}/i.fits", "--out", "{d}/nofolder/o.fits"], "does not exist"),
        (["crop", "{d}/c.csv", "{d}/i.fits", "--out", "{d}"], "unsupported extension"),
        (["crop", "{d}/empty.csv", "{d}/i.fits", "--out", "{d}/o.fits"], "empty"),
        (["crop", "{d}/c.csv", "{d}/junk.fits", "--out", "{d}/o.fits"], "junk.fits"),
        (["crop", "{d}/c.csv", "A={d}/i.fits", "{d}/i.fits", "--out", "{d}/o.fits"], "FIELD=PATH"),
        (["crop", "{d}/nan.csv", "{d}/i.fits", "--out", "{d}/o.fits"], "non-finite"),
        (["features", "{d}/c.csv", "--out", "{d}/f.csv"], "id column"),
        (["features", "{d}/i.fits", "--out", "{d}/f.csv"], "no FITS table"),
        (["features", "{d}/c.txt", "--out", "{d}/f.csv"], "table format"),
        (["predict", "{d}/absent", "{d}/c.csv", "--out", "{d}/p.csv"], "absent"),
        (["predict", "{d}", "{d}/c.csv", "--out", "{d}/p.csv"], "folder"),
        (["predict", "{d}/c.csv", "{d}/c.csv", "--out", "{d}/p.csv"], "not a skastro model"),
        (["predict", "{d}/m.skastro", "{d}/c.csv", "--out", "{d}/p.xlsx"], "'.xlsx'"),
        (["predict", "{d}/m.skastro", "{d}/c.csv", "--out", "{d}/p.csv", "--stamps"], "--stamps"),
        (["predict", "{d}/m.skastro", "{d}/c.csv", "--out", "{d}/p.csv"], "cannot predict"),
    ],
)  # fmt: skip
def test_every_failure_is_one_line(tmp_path, capsys, args, fragment):
    """Bad invocations end in one line on stderr and exit code 2."""
    model, _ = _toy_model()
    save_model(model, tmp_path / "m.skastro")
    (tmp_path / "c.csv").write_text("x,y\n10,10\n")
    (tmp_path / "c.txt").write_text("x,y\n10,10\n")
    (tmp_path / "empty.csv").write_text("x,y\n")
    (tmp_path / "nan.csv").write_text("x,y\nnan,10\n")
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE  = junk")
    fits.PrimaryHDU(np.zeros((20, 20), np.float32)).writeto(tmp_path / "i.fits")
    code, _, err = _run([a.format(d=tmp_path) for a in args], capsys)
    _assert_one_line_error(code, err, fragment)


def test_subprocess_errors_are_one_line(tmp_path):
    """Through the console entry point: exit code 2 and one stderr line for a
    corrupt model; --version works."""
    (tmp_path / "m.skastro").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "c.csv").write_text("x,y\n1,2\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "skastro", "predict", str(tmp_path / "m.skastro"),
         str(tmp_path / "c.csv"), "--out", str(tmp_path / "p.csv")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "corrupt" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "skastro", "--version"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("skastro ")


def test_non_numeric_columns_are_named(tmp_path, field_data, capsys):
    """A text value in a position or magnitude column: the column and row."""
    mef = write_field(tmp_path, "mef", field_data)
    (tmp_path / "cat.csv").write_text("x,y\n10,12\nabc,3\n")
    code, _, err = _run(
        ["crop", tmp_path / "cat.csv", mef, "--out", tmp_path / "s.npy"], capsys
    )
    _assert_one_line_error(code, err, "column 'x'", "'abc' at row 1")
    (tmp_path / "lc.csv").write_text("id,time,mag,err\na,1,20,0.1\na,2,bright,0.1\n")
    code, _, err = _run(
        ["features", tmp_path / "lc.csv", "--out", tmp_path / "f.csv"], capsys
    )
    _assert_one_line_error(code, err, "column 'mag'", "'bright' at row 1")
