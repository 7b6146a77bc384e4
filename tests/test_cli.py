"""The skastro command line: help, exit codes, one-line errors."""

import subprocess
import sys

import pytest

from skastro.cli import main


def test_no_command_prints_help_and_exits_2(capsys):
    """``skastro`` alone prints the help and exits with 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_unknown_subcommand_exits_2(capsys):
    """An unknown subcommand is refused by argparse with exit code 2."""
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_unknown_section_one_line_error(tmp_path, capsys):
    """A bad demo section gives a one-line error, exit code 2, no traceback."""
    code = main(["demo", "--out", str(tmp_path), "--sections", "nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown demo section" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_python_dash_m_runs():
    """``python -m skastro --help`` works."""
    out = subprocess.run(
        [sys.executable, "-m", "skastro", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "demo" in out.stdout


@pytest.fixture
def field_data():
    """Three bands of 64x80 random pixels."""
    import numpy as np

    return np.random.default_rng(0).normal(size=(3, 64, 80)).astype(np.float32)


def test_crop_writes_stamps_file(tmp_path, field_data):
    """``skastro crop`` reads a CSV catalog and a MEF file, writes .npy and .fits."""
    import numpy as np
    import pandas as pd

    from skastro._io import read_stamps
    from skastro.stamps import FITSCropper

    from .stamps.conftest import write_field

    mef = write_field(tmp_path, "mef", field_data)
    cat = pd.DataFrame({"x": [20.0, 40.5], "y": [30.0, 12.2]})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    for name in ("stamps.npy", "stamps.fits"):
        out = tmp_path / name
        code = main(
            ["crop", str(tmp_path / "cat.csv"), mef, "--out", str(out), "--size", "8"]
        )
        assert code == 0
        np.testing.assert_array_equal(
            read_stamps(out), FITSCropper(mef, size=8).fit_transform(cat)
        )


def test_crop_missing_file_one_line_error(tmp_path, capsys):
    """A missing image file is named in a one-line error with exit code 2."""
    (tmp_path / "cat.csv").write_text("x,y\n1,2\n")
    code = main(
        [
            "crop",
            str(tmp_path / "cat.csv"),
            str(tmp_path / "no.fits"),
            "--out",
            str(tmp_path / "s.npy"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no.fits" in err and len(err.strip().splitlines()) == 1


def test_predict_with_saved_pipeline(tmp_path, capsys):
    """``skastro predict`` applies a joblib pipeline to a stamps file; a file of
    the wrong shape gives a one-line error with exit code 2."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3, 4, 4)).astype(np.float32)
    y = (X[:, 0, 2, 2] > 0).astype(int)
    model = make_pipeline(
        FunctionTransformer(np.reshape, kw_args={"shape": (-1, 48)}),
        LogisticRegression(),
    ).fit(X, y)
    joblib.dump(model, tmp_path / "m.joblib")
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                str(tmp_path / "m.joblib"),
                str(tmp_path / "x.npy"),
                "--out",
                str(out),
                "--proba",
            ]
        )
        == 0
    )
    got = pd.read_csv(out)
    np.testing.assert_array_equal(got["prediction"], model.predict(X))
    assert {"p_0", "p_1"} <= set(got.columns)
    np.save(tmp_path / "bad.npy", X[:, :, :3, :3])
    code = main(
        [
            "predict",
            str(tmp_path / "m.joblib"),
            str(tmp_path / "bad.npy"),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot predict" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "features, n_columns",
    [(None, 59), (["carrasco-davis2019"], 47), (["Mean", "Std"], 2), (["Mean"], 1)],
)
def test_features_named_sets_and_lists(tmp_path, capsys, features, n_columns):
    """``skastro features``: the default set, a named set, or feature names."""
    import pandas as pd

    from skastro.datasets import make_light_curves

    curves = make_light_curves(2, n_points=60, random_state=0).curves
    table = tmp_path / "lc.csv"
    pd.concat(
        pd.DataFrame({"id": i, "time": t, "mag": m, "err": e})
        for i, (t, m, e) in enumerate(curves)
    ).to_csv(table, index=False)
    out = tmp_path / "features.csv"
    args = ["features", str(table), "--out", str(out)]
    assert main(args + (["--features", *features] if features else [])) == 0
    assert pd.read_csv(out).shape == (2, n_columns + 1)  # + the id column
