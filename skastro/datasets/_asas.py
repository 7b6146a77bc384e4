"""The ASAS variable-star training set of Richards et al. (2012)."""

from __future__ import annotations

import io
import os
import tarfile
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._params import Interval, validate_params
from ._docs import fill_doc
from ._fetch_base import FETCH_CONSTRAINTS, RemoteFile, fetch_files
from ._lightcurves import light_curves_output

__all__ = ["fetch_asas_variables"]

_COMMIT = "2ad85e77b6c1fea00124e055cedbc45181e9f6ba"
_BASE = (
    f"https://raw.githubusercontent.com/cesium-ml/cesium-data/{_COMMIT}/asas_training"
)
_CURVES = RemoteFile(
    "asas_training_set.tar.gz",
    f"{_BASE}/asas_training_set.tar.gz",
    "6c66c4435b03576a3b20416fac9b7b9453d2a9189e1af745733816a0715e08fd",
    3_993_057,
)
_CLASSES = RemoteFile(
    "asas_training_set_classes.dat",
    f"{_BASE}/asas_training_set_classes.dat",
    "572f628cccf3ce529326c085034ed310c79503fba3a9ac2447e2959ae540d85f",
    14_151,
)
FOLDER = "asas_variables"
CITATION = (
    "J. W. Richards et al., 'Construction of a Calibrated Probabilistic "
    "Classification Catalog: Application to 50k Variable Sources in the All-Sky "
    "Automated Survey', ApJS 203, 32 (2012); ASAS: G. Pojmanski, Acta Astron. 52, "
    "397 (2002). Files: cesium-ml/cesium-data, folder asas_training/."
)
DESCR = f"""\
ASAS variable stars (Richards et al. 2012 training set)
-------------------------------------------------------

810 V-band light curves of the All-Sky Automated Survey (ASAS), each the
training light curve of a star of known variability class in the
classifier of Richards et al. (2012), 28 classes (Mira 91, classical
Cepheid 89, RR Lyrae FM 86, W UMa 68, semiregular 68, ...; 22 classes have at
least 5 members, 797 curves). 50 to 1,772 points per curve; times are
HJD - 2450000 (days), magnitudes and errors in mag, as published (no
duplicate times, no missing-value markers in these files). The public copy
is the one the cesium project distributes (cesium-ml/cesium-data, folder
asas_training/, commit {_COMMIT[:7]}).

Reference: {CITATION}
"""


def _read_curves(path) -> dict[str, np.ndarray]:
    curves = {}
    with tarfile.open(path, "r:gz") as tf:
        for member in tf.getmembers():
            if not (member.isfile() and member.name.endswith(".dat")):
                continue
            star = os.path.basename(member.name)[: -len(".dat")]
            raw = tf.extractfile(member).read()
            try:
                table = np.loadtxt(io.BytesIO(raw), delimiter=",", ndmin=2)
            except ValueError as exc:
                raise OSError(
                    f"Cannot read the light curve {member.name!r} in '{path}' "
                    f"({exc}); delete the file to download it again."
                ) from exc
            if table.shape[1] != 3:
                raise OSError(
                    f"The light curve {member.name!r} in '{path}' has "
                    f"{table.shape[1]} columns, expected 3 (t, mag, err); delete "
                    "the file to download it again."
                )
            curves[star] = table
    return curves


@validate_params(
    {
        **FETCH_CONSTRAINTS,
        "as_frame": ["boolean"],
        "min_class_size": [Interval(Integral, 1, None, closed="left")],
    }
)
@fill_doc(folder=FOLDER)
def fetch_asas_variables(
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    return_X_y: bool = False,
    as_frame: bool = False,
    min_class_size: int = 1,
    n_retries: int = 3,
    delay: float = 1.0,
) -> Bunch | tuple:
    """Load the ASAS variable-star training set of Richards et al. (2012).

    Downloads (4 MB, once) from the cesium project's public copy on GitHub
    into ``data_home``, checks the SHA-256 checksums, and reads the 810
    V-band light curves with their variability classes.

    =================   ==========================================
    Curves              810 (797 in the 22 classes with >= 5)
    Classes             28 (names as published, e.g. ``"Mira"``)
    Points per curve    50 - 1,772
    Time                HJD - 2450000, days
    Magnitude, error    V, mag
    =================   ==========================================

    Parameters
    ----------
    %(data_home)s
    %(download_if_missing)s
    %(return_X_y)s
    as_frame : bool, default=False
        If True, ``data`` is one long :class:`pandas.DataFrame` (columns
        ``id, time, mag, err``) and ``target`` a :class:`pandas.Series`
        indexed by curve id; if False, ``data`` is a list of
        ``(time, mag, err)`` arrays and ``target`` an array. Both go
        straight into :class:`~skastro.lightcurves.FATSFeatures`.
    min_class_size : int, default=1
        Keep only the classes with at least this many curves (5 gives the 22
        classes, 797 curves, that the comparisons in the docs use).
    %(retries)s

    %(bunch_returns)s

        data : list of tuple of ndarray, or pandas.DataFrame
            The light curves: ``(time, mag, err)`` float64 arrays sorted by
            time (HJD - 2450000 days, V mag, mag), or the long DataFrame.
        target : ndarray of str of shape (n_curves,), or pandas.Series
            Variability class of each curve.
        target_names : ndarray of str
            The classes kept, sorted.
        ids : ndarray of str of shape (n_curves,)
            Identifier of each curve in the published files.
        %(descr_citation)s

    %(X_y_tuple)s

    %(fetch_raises)s

    See Also
    --------
    fetch_macho_variables : MACHO variable stars with catalogue periods.

    References
    ----------
    J. W. Richards et al., ApJS 203, 32 (2012).

    Examples
    --------
    >>> from skastro.datasets import fetch_asas_variables
    >>> X, y = fetch_asas_variables(min_class_size=5,
    ...                             return_X_y=True)  # doctest: +SKIP
    >>> len(X), len(set(y))  # doctest: +SKIP
    (797, 22)
    """
    classes_path, curves_path = fetch_files(
        [_CLASSES, _CURVES], data_home, FOLDER, download_if_missing, n_retries, delay
    )

    labels, curves = _read_files(classes_path, curves_path, min_class_size)
    ids = labels["filename"].to_numpy(dtype=str)
    frame, lengths = _long_table(curves, ids)
    data, target = light_curves_output(
        frame, lengths, ids, labels["class"].to_numpy(dtype=str), as_frame
    )
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        target_names=np.unique(labels["class"].to_numpy(dtype=str)),
        ids=ids,
        DESCR=DESCR,
        citation=CITATION,
    )


def _read_files(
    classes_path, curves_path, min_class_size: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The ``filename, class`` table (small classes left out) and the curves."""
    labels = pd.read_csv(classes_path, dtype={"filename": str, "class": str})
    if list(labels.columns) != ["filename", "class"]:
        raise OSError(
            f"'{classes_path}' has columns {list(labels.columns)}, expected "
            "['filename', 'class']; delete it to download it again."
        )
    curves = _read_curves(curves_path)
    missing = sorted(set(labels["filename"]) - set(curves))
    if missing:
        raise OSError(
            f"{len(missing)} star(s) of '{classes_path.name}' have no light curve in "
            f"'{curves_path}' (e.g. {missing[:3]}); delete both files to download "
            "them again."
        )
    counts = labels["class"].value_counts()
    keep = labels["class"].map(counts) >= min_class_size
    return labels[keep].reset_index(drop=True), curves


def _long_table(curves: dict[str, np.ndarray], ids) -> tuple[pd.DataFrame, list]:
    """The curves ``ids`` sorted by time, as one long table, and their lengths."""
    tables = [curves[i] for i in ids]
    for table in tables:
        table[:] = table[np.argsort(table[:, 0], kind="stable")]
    frame = pd.DataFrame(
        {
            "id": np.repeat(ids, [len(t) for t in tables]),
            "time": np.concatenate([t[:, 0] for t in tables]),
            "mag": np.concatenate([t[:, 1] for t in tables]),
            "err": np.concatenate([t[:, 2] for t in tables]),
        }
    )
    return frame, [len(t) for t in tables]
