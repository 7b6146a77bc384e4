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
