"""Downloading public data sets into a local cache, in scikit-learn's ``fetch_*`` way.

Every loader names the files it needs as :class:`RemoteFile` records (file
name, public URL, SHA-256 checksum). :func:`fetch_file` returns the cached
copy, or downloads it: the bytes go to a temporary file in the cache folder,
are checked against the checksum, and only then renamed to their final name
(``os.replace``, atomic on one file system), so an interrupted or corrupt
download never leaves a file that a later call would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

from ..utils._params import Interval

__all__ = ["clear_data_home", "get_data_home"]

#: Environment variable naming the cache folder (like ``SCIKIT_LEARN_DATA``).
DATA_HOME_ENV = "SKASTRO_DATA"
#: Environment variable naming a mirror that replaces the public URLs: a file
#: ``name`` of data set folder ``folder`` is then fetched from
#: ``<mirror>/<folder>/<name>`` (a local copy of the sources for machines
#: without internet access, and the tests' local server).
MIRROR_ENV = "SKASTRO_DATA_MIRROR"

_CHUNK = 1 << 20  # bytes read per step while downloading

#: Parameter constraints (``validate_params``) of every ``fetch_*`` loader.
FETCH_CONSTRAINTS: dict[str, list] = {
    "data_home": [str, os.PathLike, None],
    "download_if_missing": ["boolean"],
    "return_X_y": ["boolean"],
    "n_retries": [Interval(Integral, 0, None, closed="left")],
    "delay": [Interval(Real, 0.0, None, closed="left")],
}


class _ChecksumError(OSError):
    """A downloaded file does not hash to its recorded checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """A file of a public data set: where it is and what it must hash to.

    Parameters
    ----------
    filename : str
        Name of the file in the cache folder (and on a mirror).
    url : str
        Public URL of the original file.
    sha256 : str
        SHA-256 checksum (hex) of the original file.
    size : int
        Size in bytes (shown in messages only).
    """

    filename: str
    url: str
    sha256: str
    size: int


def _default_cache_dir() -> Path:
    """The platform's per-user cache folder (as ``platformdirs.user_cache_dir``)."""
    home = Path.home()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "skastro" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "skastro"
    base = os.environ.get("XDG_CACHE_HOME") or str(home / ".cache")
    return Path(base) / "skastro"


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder where skastro's loaders cache downloaded data.

    The folder is, in order of precedence: ``data_home`` when given; the
    environment variable ``SKASTRO_DATA``; the platform's per-user cache
    folder (``$XDG_CACHE_HOME/skastro`` or ``~/.cache/skastro`` on Linux,
    ``~/Library/Caches/skastro`` on macOS, ``%LOCALAPPDATA%\\skastro\\Cache``
    on Windows). A leading ``~`` is expanded. The folder is not created here:
    the loaders create it when they first download into it, so a read-only
    cache that already holds the files can be used.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use; None follows the order above.

    Returns
    -------
    data_home : pathlib.Path
        The cache folder (absolute).

    See Also
    --------
    clear_data_home : delete the cache.

    Examples
    --------
    >>> from skastro.datasets import get_data_home
    >>> str(get_data_home("/tmp/skastro_cache"))
    '/tmp/skastro_cache'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or _default_cache_dir()
    return Path(os.path.expanduser(os.fspath(data_home))).absolute()


def clear_data_home(data_home: str | os.PathLike | None = None) -> None:
    """Delete the cache folder and everything the loaders downloaded into it.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder (see :func:`get_data_home`).
    """
    shutil.rmtree(get_data_home(data_home), ignore_errors=True)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


def _source_url(remote: RemoteFile, folder_name: str) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{folder_name}/{remote.filename}"
    return remote.url


def check_writable_folder(folder: Path, what: str) -> None:
    """Create ``folder`` and check that a file can be written in it."""
    fix = (
        f"pass data_home= a writable folder, or set the environment variable "
        f"{DATA_HOME_ENV}."
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise PermissionError(
            f"Cannot download {what}: the cache folder '{folder}' is not writable "
            f"({exc.strerror or exc}); {fix}"
        ) from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(tmp: Path, target: Path) -> None:
    """Give a finished temporary file the usual permissions and rename it.

    ``tempfile.mkstemp`` creates files readable by their owner only; a cache
    shared by a group should not depend on who downloaded first.
    """
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)


def _download(url: str, target: Path, remote: RemoteFile) -> None:
    """Stream ``url`` into a temporary file beside ``target``, check, rename."""
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=60) as response:
                announced = response.headers.get("Content-Length")
                received = 0
                for block in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(block)
                    out.write(block)
                    received += len(block)
        if announced is not None and announced.isdigit() and received != int(announced):
            # the connection closed early: a network failure, worth a retry
            raise http.client.IncompleteRead(b"", int(announced) - received)
        got = digest.hexdigest()
        if got != remote.sha256:
            raise _ChecksumError(
                f"The file '{remote.filename}' downloaded from {url} is corrupt: its "
                f"SHA-256 is {got}, expected {remote.sha256}. Nothing was kept; "
                "run the loader again (a broken transfer), or check that the URL "
                "still serves the original file."
            )
        publish(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch_file(
    remote: RemoteFile,
    folder: Path,
    *,
    download_if_missing: bool = True,
    n_retries: int = 3,
    delay: float = 1.0,
) -> Path:
    """Return the path of ``remote`` in ``folder``, downloading it if needed.

    Parameters
    ----------
    remote : RemoteFile
        The file.
    folder : pathlib.Path
        The data set's folder in the cache (``data_home / <data set>``).
    download_if_missing : bool, default=True
        Download a file that is not in the cache; with False, a missing file
        is an error.
    n_retries : int, default=3
        Further attempts after a network error (not after a checksum
        mismatch).
    delay : float, default=1.0
        Seconds to wait between attempts.

    Returns
    -------
    path : pathlib.Path
        The cached file (its checksum was verified when it was downloaded).

    Raises
    ------
    FileNotFoundError
        The file is not cached and ``download_if_missing=False``.
    PermissionError
        The cache folder cannot be created or written.
    OSError
        The download failed after all attempts, or the downloaded file does
        not match its checksum (nothing is kept).
    """
    target = folder / remote.filename
    if target.is_file():
        return target
    url = _source_url(remote, folder.name)
    if not download_if_missing:
        raise FileNotFoundError(
            f"'{remote.filename}' is not in the cache folder '{folder}' and "
            f"download_if_missing=False. Call the loader with "
            f"download_if_missing=True on a machine with internet access, or copy "
            f"the file from {remote.url} into that folder."
        )
    check_writable_folder(folder, f"'{remote.filename}'")
    for attempt in range(n_retries + 1):
        try:
            _download(url, target, remote)
            return target
        except _ChecksumError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            # URLError, HTTPError, timeouts, refused or reset connections,
            # transfers cut short (IncompleteRead)
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # it holds the open connection
            client_error = (
                isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500
            )
            if attempt < n_retries and not client_error:
                time.sleep(delay)
                continue
            reason = getattr(exc, "reason", None) or exc
            if isinstance(exc, http.client.IncompleteRead):
                reason = f"the transfer stopped {exc.expected} bytes short"
            if isinstance(exc, urllib.error.HTTPError):
                reason = f"HTTP {exc.code} {exc.reason}"
            source = "that URL" if url == remote.url else remote.url
            raise OSError(
                f"Could not download '{remote.filename}' ({_size(remote.size)}) "
                f"from {url}: {reason} (after {attempt + 1} attempt(s)). Check the "
                f"internet connection; on a machine without one, copy the file "
                f"from {source} into '{folder}', or point {MIRROR_ENV} at a "
                "mirror of the data."
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_files(
    remotes: list[RemoteFile],
    data_home: str | os.PathLike | None,
    folder_name: str,
    download_if_missing: bool = True,
    n_retries: int = 3,
    delay: float = 1.0,
) -> list[Path]:
    """:func:`fetch_file` for each of ``remotes``, in ``data_home / folder_name``.

    Parameters
    ----------
    remotes : list of RemoteFile
        The data set's files.
    data_home : str, path-like or None
        The cache folder (see :func:`get_data_home`).
    folder_name : str
        The data set's subfolder of the cache.
    download_if_missing, n_retries, delay
        As in :func:`fetch_file`.

    Returns
    -------
    paths : list of pathlib.Path
        The cached files, in the order of ``remotes``.
    """
    folder = get_data_home(data_home) / folder_name
    return [
        fetch_file(
            remote,
            folder,
            download_if_missing=download_if_missing,
            n_retries=n_retries,
            delay=delay,
        )
        for remote in remotes
    ]
