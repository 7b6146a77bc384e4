"""Nothing is written outside the folders the user chose (or the platform's
cache folder): temporary data and numba's compiled kernels."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_KERNEL = """
import numpy as np
from skastro.stamps._gather import _swap32
_swap32(np.uint32(1))
"""


def _nbi_files(folder):
    return sorted(p.name for p in Path(folder).rglob("*.nbi"))


def _run_kernel(env):
    proc = subprocess.run(
        [sys.executable, "-c", _KERNEL],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )
    assert proc.returncode == 0, proc.stderr


def test_numba_cache_goes_to_the_platform_cache_folder(tmp_path):
    """skastro's kernels are cached under the user cache folder, not in the
    package's __pycache__."""
    package = REPO / "skastro" / "stamps" / "__pycache__"
    before = _nbi_files(package) if package.exists() else []
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "NUMBA_CACHE_DIR": ""}
    _run_kernel(env)
    assert any("_swap32" in n for n in _nbi_files(tmp_path / "cache" / "numba"))
    after = _nbi_files(package) if package.exists() else []
    assert [n for n in after if n not in before] == []


def test_numba_cache_dir_set_by_the_user_is_respected(tmp_path):
    """NUMBA_CACHE_DIR keeps numba's own behaviour."""
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NUMBA_CACHE_DIR": str(tmp_path / "mine"),
    }
    _run_kernel(env)
    assert any("_swap32" in n for n in _nbi_files(tmp_path / "mine"))
    assert not (tmp_path / "cache" / "numba").exists()


def test_make_splus_stamps_leaves_no_temporary_files(tmp_path, monkeypatch):
    """make_splus_stamps(directory=None) deletes its temporary FITS files."""
    from skastro.datasets import make_splus_stamps

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = make_splus_stamps(
        n_pool=10,
        n_labelled=10,
        n_per_field=80,
        field_shape=(256, 256),
        random_state=0,
    )
    assert data.pool.stamps.shape == (10, 12, 32, 32)
    assert data.images is None and data.directory is None
    assert list(tmp_path.iterdir()) == []
