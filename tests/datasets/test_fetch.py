"""Tests for the real-data loaders: files served from a local HTTP server on 127.0.0.1.

Nothing is downloaded from the internet: ``SKASTRO_DATA_MIRROR`` points the
loaders at a server in a thread that serves either the real files (copied
from ``../shared/realdata``) or small files of the same format.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skastro.datasets import (
    FIRST_CLASSES,
    MACHO_CLASSES,
    _asas,
    _first,
    clear_data_home,
    fetch_asas_variables,
    fetch_first_radio_galaxies,
    fetch_macho_variables,
    get_data_home,
)
from skastro.datasets._fetch_base import RemoteFile


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder, records every request, can cut a transfer short."""

    requests: list[str]
    truncate: set[str]

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        if self.path in self.truncate:
            body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


class LocalServer:
    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        self.truncate: set[str] = set()
        handler = type(
            "Handler",
            (_Handler,),
            {"requests": self.requests, "truncate": self.truncate},
        )
        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )

    def add(self, folder: str, name: str, content: bytes) -> Path:
        path = self.root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server the loaders download from (SKASTRO_DATA_MIRROR)."""
    srv = LocalServer(tmp_path / "served")
    srv.root.mkdir()
    srv.thread.start()
    monkeypatch.setenv("SKASTRO_DATA_MIRROR", srv.url)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join()


def _remote(name: str, content: bytes) -> RemoteFile:
    return RemoteFile(
        name,
        f"https://example.org/{name}",
        hashlib.sha256(content).hexdigest(),
        len(content),
    )


# ---------------------------------------------------------------------------
# small files in the published formats


def _asas_files(curves: dict[str, tuple[str, np.ndarray]]) -> tuple[bytes, bytes]:
    """A classes table and a tarball of ``<id>.dat`` CSV files (t, mag, err)."""
    import tarfile

    classes = "filename,class\n" + "".join(f"{i},{c}\n" for i, (c, _) in curves.items())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for star, (_, table) in curves.items():
            text = "\n".join(",".join(f"{v:.5f}" for v in row) for row in table)
            data = text.encode()
            info = tarfile.TarInfo(f"asas_training_set/{star}.dat")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return classes.encode(), buf.getvalue()


@pytest.fixture
def small_asas(server, monkeypatch):
    """Five small ASAS-format curves (3 Mira, 2 RRab) served by the local server."""
    rng = np.random.default_rng(0)
    curves = {}
    for k, cls in enumerate(["Mira", "RR_Lyrae_FM", "Mira", "RR_Lyrae_FM", "Mira"]):
        t = np.sort(rng.uniform(1800, 3000, 30 + k))[::-1]  # unsorted on purpose
        curves[str(1000 + k)] = (
            cls,
            np.c_[t, rng.normal(12, 0.3, t.size), np.full(t.size, 0.05)],
        )
    classes, tarball = _asas_files(curves)
    files = {
        "_CLASSES": ("asas_training_set_classes.dat", classes),
        "_CURVES": ("asas_training_set.tar.gz", tarball),
    }
    for attr, (name, content) in files.items():
        server.add("asas_variables", name, content)
        monkeypatch.setattr(_asas, attr, _remote(name, content))
    return curves


def _first_wheel(
    n_per_split: dict[str, list[int]], size: int = 6
) -> tuple[bytes, dict]:
    """A wheel holding firstgalaxydata/galaxy_data_h5.zip in the published layout."""
    import h5py

    rng = np.random.default_rng(1)
    h5_buf = io.BytesIO()
    truth = {"img": [], "label": [], "split": []}
    with h5py.File(h5_buf, "w") as f:
        i = 0
        for split, labels in n_per_split.items():
            for label in labels:
                img = rng.integers(0, 256, (size, size), dtype=np.uint8)
                g = f.create_group(f"data_{i}")
                d = g.create_dataset("Img", data=img)
                d.attrs["RA"] = 100.0 + i
                d.attrs["DEC"] = -5.0 + i
                d.attrs["Source"] = "MiraBest"
                g.create_dataset("Label_literature", data=float(label))
                g.create_dataset("Split_literature", data=split)
                truth["img"].append(img)
                truth["label"].append(label)
                truth["split"].append(split)
                i += 1
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("galaxy_data_h5.h5", h5_buf.getvalue())
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("firstgalaxydata/__init__.py", "")
        z.writestr("firstgalaxydata/galaxy_data_h5.zip", inner.getvalue())
    return wheel.getvalue(), truth


# ---------------------------------------------------------------------------
# the cache folder


def test_get_data_home_precedence(tmp_path, monkeypatch):
    """data_home beats SKASTRO_DATA, which beats the platform cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SKASTRO_DATA", raising=False)
    if sys.platform.startswith("linux"):
        assert get_data_home() == tmp_path / "xdg" / "skastro"
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert not (tmp_path / "arg").exists()  # not created until a download


def test_clear_data_home(tmp_path):
    """clear_data_home removes the cache folder."""
    (tmp_path / "cache" / "asas_variables").mkdir(parents=True)
    clear_data_home(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------------------
# ASAS


def test_asas_download_then_cache_reuse(small_asas, server, tmp_path):
    """First call downloads both files; the second makes no request."""
    bunch = fetch_asas_variables(data_home=tmp_path / "cache")
    assert sorted(server.requests) == [
        "/asas_variables/asas_training_set.tar.gz",
        "/asas_variables/asas_training_set_classes.dat",
    ]
    assert list(bunch.ids) == list(small_asas)
    assert list(bunch.target) == [c for c, _ in small_asas.values()]
    assert list(bunch.target_names) == ["Mira", "RR_Lyrae_FM"]
    t, mag, err = bunch.data[0]
    assert np.all(np.diff(t) > 0)  # sorted by time
    ref = small_asas["1000"][1]
    np.testing.assert_allclose(np.sort(ref[:, 0]), t, atol=1e-5)
    assert "Richards" in bunch.citation and "Richards" in bunch.DESCR
    n = len(server.requests)
    fetch_asas_variables(data_home=tmp_path / "cache")
    assert len(server.requests) == n
    cached = sorted(p.name for p in (tmp_path / "cache" / "asas_variables").iterdir())
    assert cached == ["asas_training_set.tar.gz", "asas_training_set_classes.dat"]


def test_asas_min_class_size_and_frame(small_asas, server, tmp_path):
    """min_class_size drops small classes; as_frame gives the long table."""
    X, y = fetch_asas_variables(data_home=tmp_path, min_class_size=3, return_X_y=True)
    assert len(X) == 3 and set(y) == {"Mira"}
    frame, target = fetch_asas_variables(
        data_home=tmp_path, as_frame=True, return_X_y=True
    )
    assert list(frame.columns) == ["id", "time", "mag", "err"]
    assert frame["id"].nunique() == 5
    assert target.index.tolist() == list(small_asas)


def test_asas_real_files(realdata, server, tmp_path):
    """The real files pass the recorded checksums: 810 curves, 28 classes; 797/22 with >= 5."""
    (server.root / "asas_variables").mkdir()
    for name in ("asas_training_set.tar.gz", "asas_training_set_classes.dat"):
        shutil.copy(realdata / "asas" / name, server.root / "asas_variables" / name)
    bunch = fetch_asas_variables(data_home=tmp_path)
    assert len(bunch.data) == 810 and bunch.target_names.size == 28
    assert (bunch.target == "Mira").sum() == 91
    X, y = fetch_asas_variables(data_home=tmp_path, min_class_size=5, return_X_y=True)
    assert len(X) == 797 and len(set(y)) == 22
    sizes = [t.size for t, _, _ in X]
    assert min(sizes) >= 50 and max(sizes) == 1772


# ---------------------------------------------------------------------------
# MACHO


def test_macho_real_files(realdata, server, tmp_path):
    """Catalogue + 15 two-band curves; -99 and non-positive errors dropped, periods attached."""
    folder = server.root / "macho_variables"
    folder.mkdir()
    for path in (realdata / "macho").iterdir():
        shutil.copy(path, folder / path.name)
    bunch = fetch_macho_variables(data_home=tmp_path)
    assert len(server.requests) == 16
    assert bunch.catalog.shape[0] == 21474
    assert bunch.ids.size == 30 and set(bunch.bands) == {"R", "B"}
    data = bunch.data
    assert (data["mag"] != -99).all() and (data["err"] > 0).all()
    assert data.groupby("id")["time"].apply(lambda t: t.is_monotonic_increasing).all()
    assert set(bunch.target) <= set(MACHO_CLASSES.values())
    # the catalogue row of star 1.3441.15 (a fundamental-mode Cepheid)
    i = list(bunch.ids).index("1.3441.15.R")
    assert bunch.target.iloc[i] == "Cepheid_Fund"
    assert bunch.period[i] == pytest.approx(10.413375)
    # the published table keeps the missing-value markers
    assert (bunch.photometry["rmag"] == -99).sum() > 0
    assert len(bunch.photometry) == sum(
        len(pd.read_csv(p)) for p in (realdata / "macho").glob("LC_*.csv")
    )
    X, y = fetch_macho_variables(data_home=tmp_path, as_frame=False, return_X_y=True)
    assert len(X) == 30 and y.shape == (30,)
    assert len(server.requests) == 16  # second call: cache only


# ---------------------------------------------------------------------------
# FIRST


@pytest.fixture
def small_first(server, monkeypatch):
    splits = {"train": [0, 1, 1, 2, 3, 3], "valid": [0, 1, 2, 3], "test": [3, 2, 1, 0]}
    wheel, truth = _first_wheel(splits)
    name = _first._WHEEL.filename
    server.add("first_radio_galaxies", name, wheel)
    monkeypatch.setattr(_first, "_WHEEL", _remote(name, wheel))
    return truth


def test_first_subsets(small_first, server, tmp_path):
    """Images (n, 1, h, w) float32 in [0, 1], labels and positions of the split."""
    bunch = fetch_first_radio_galaxies(data_home=tmp_path, subset="train")
    assert bunch.data.shape == (6, 1, 6, 6) and bunch.data.dtype == np.float32
    np.testing.assert_array_equal(bunch.target, [0, 1, 1, 2, 3, 3])
    np.testing.assert_allclose(bunch.data[0, 0] * 255, small_first["img"][0], atol=1e-3)
    assert bunch.target_names == FIRST_CLASSES
    np.testing.assert_allclose(bunch.ra, 100.0 + np.arange(6))
    assert set(bunch.catalog) == {"MiraBest"} and set(bunch.split) == {"train"}
    X, y = fetch_first_radio_galaxies(
        data_home=tmp_path, subset="test", return_X_y=True
    )
    np.testing.assert_array_equal(y, [3, 2, 1, 0])
    everything = fetch_first_radio_galaxies(data_home=tmp_path, subset="all")
    assert everything.data.shape[0] == 14
    assert len(server.requests) == 1  # one download, then the extracted HDF5
    names = sorted(p.name for p in (tmp_path / "first_radio_galaxies").iterdir())
    assert names == ["firstgalaxydata-0.2.1-py3-none-any.whl", "galaxy_data_h5.h5"]


def test_first_bad_subset(tmp_path):
    """An unknown subset is refused before anything is downloaded."""
    with pytest.raises(ValueError, match="subset"):
        fetch_first_radio_galaxies(data_home=tmp_path, subset="validation")
    assert not any(tmp_path.iterdir())


def test_first_wheel_without_data(server, monkeypatch, tmp_path):
    """A wheel that lacks the HDF5 archive is an error naming it; nothing extracted."""
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("firstgalaxydata/__init__.py", "")
    content = wheel.getvalue()
    name = _first._WHEEL.filename
    server.add("first_radio_galaxies", name, content)
    monkeypatch.setattr(_first, "_WHEEL", _remote(name, content))
    with pytest.raises(OSError, match="galaxy_data_h5.zip"):
        fetch_first_radio_galaxies(data_home=tmp_path)
    assert not (tmp_path / "first_radio_galaxies" / "galaxy_data_h5.h5").exists()
    assert not list((tmp_path / "first_radio_galaxies").glob(".*"))


# ---------------------------------------------------------------------------
# what goes wrong


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_corrupt_download_leaves_nothing(small_asas, server, tmp_path):
    """A file that does not match its checksum is an error; no file is left."""
    path = server.root / "asas_variables" / "asas_training_set.tar.gz"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(OSError, match=r"asas_training_set\.tar\.gz.*is corrupt"):
        fetch_asas_variables(data_home=tmp_path)
    # the classes table came first and is intact; the tarball is not there,
    # nor any temporary file
    assert _leftovers(tmp_path / "asas_variables") == ["asas_training_set_classes.dat"]


def test_truncated_transfer_leaves_nothing(small_asas, server, tmp_path):
    """A transfer cut short is retried, then reported; no partial file is left."""
    server.truncate.add("/asas_variables/asas_training_set.tar.gz")
    with pytest.raises(
        OSError, match=r"Could not download 'asas_training_set\.tar\.gz'"
    ):
        fetch_asas_variables(data_home=tmp_path, n_retries=1, delay=0.0)
    assert server.requests.count("/asas_variables/asas_training_set.tar.gz") == 2
    assert _leftovers(tmp_path / "asas_variables") == ["asas_training_set_classes.dat"]


def test_missing_on_server_not_retried(small_asas, server, tmp_path):
    """HTTP 404 is reported at once with the URL, without retries."""
    (server.root / "asas_variables" / "asas_training_set_classes.dat").unlink()
    with pytest.raises(OSError, match=r"HTTP 404.*after 1 attempt") as info:
        fetch_asas_variables(data_home=tmp_path, n_retries=3, delay=0.0)
    assert f"{server.url}/asas_variables/asas_training_set_classes.dat" in str(
        info.value
    )
    assert len(server.requests) == 1


def test_offline_without_network(tmp_path, monkeypatch):
    """No server at the address: a clear error naming the file and the remedies."""
    monkeypatch.setenv("SKASTRO_DATA_MIRROR", "http://127.0.0.1:9")  # discard port
    with pytest.raises(OSError, match="Could not download") as info:
        fetch_asas_variables(data_home=tmp_path, n_retries=0)
    message = str(info.value)
    assert "asas_training_set_classes.dat" in message
    assert "raw.githubusercontent.com/cesium-ml/cesium-data" in message
    assert "SKASTRO_DATA_MIRROR" in message
    assert _leftovers(tmp_path / "asas_variables") == []


def test_offline_cache(small_asas, server, tmp_path, monkeypatch):
    """download_if_missing=False: works from a filled cache, else names file and URL."""
    with pytest.raises(FileNotFoundError, match="download_if_missing=False") as info:
        fetch_asas_variables(data_home=tmp_path, download_if_missing=False)
    assert "asas_training_set_classes.dat" in str(info.value)
    assert "https://example.org/asas_training_set_classes.dat" in str(info.value)
    assert server.requests == []
    fetch_asas_variables(data_home=tmp_path)
    monkeypatch.setenv("SKASTRO_DATA_MIRROR", "http://127.0.0.1:9")  # offline now
    n = len(server.requests)
    bunch = fetch_asas_variables(data_home=tmp_path, download_if_missing=False)
    assert len(bunch.data) == 5 and len(server.requests) == n


def test_cache_folder_not_writable(small_asas, tmp_path):
    """A cache path that cannot be created is a PermissionError naming it and the fix."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="not writable") as info:
        fetch_asas_variables(data_home=blocker / "cache")
    assert str(blocker / "cache" / "asas_variables") in str(info.value)
    assert "SKASTRO_DATA" in str(info.value)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into read-only folders",
)
def test_read_only_cache_folder(small_asas, server, tmp_path):
    """A read-only cache: downloading is refused clearly, reading a filled one works."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            fetch_asas_variables(data_home=ro)
    finally:
        ro.chmod(0o755)
    fetch_asas_variables(data_home=ro)
    (ro / "asas_variables").chmod(0o555)
    ro.chmod(0o555)
    try:
        assert len(fetch_asas_variables(data_home=ro).data) == 5
    finally:
        ro.chmod(0o755)
        (ro / "asas_variables").chmod(0o755)


def test_downloaded_files_are_group_readable(small_asas, server, tmp_path):
    """Cached files get the usual permissions, not mkstemp's owner-only ones."""
    fetch_asas_variables(data_home=tmp_path)
    mode = (tmp_path / "asas_variables" / "asas_training_set.tar.gz").stat().st_mode
    umask = os.umask(0)
    os.umask(umask)
    assert mode & 0o777 == 0o666 & ~umask
