"""Feature extraction over many light-curve files with Dask.

One task per file: each reads a long table of light curves (``id, time, mag,
err``), computes the FATS features of its curves with
:class:`~skastro.lightcurves.FATSFeatures`, and returns a DataFrame with one
row per ``id``. The tasks run wherever Dask runs them: threads, processes, a
:class:`dask.distributed.LocalCluster`, or an HPC cluster started with
dask-jobqueue.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["features_from_files"]


def _features_of_file(path: str, fats: Any, id_column: str) -> pd.DataFrame:
    from .._io import read_table

    curves = read_table(path)
    if id_column not in curves.columns:
        raise ValueError(
            f"{path!r} has no {id_column!r} column; its columns are "
            f"{list(curves.columns)}. Set id_column to the light-curve id column."
        )
    ids = list(dict.fromkeys(curves[id_column]))
    renamed = curves.rename(columns={id_column: "id"})
    table = fats.transform(renamed)
    frame = pd.DataFrame(table, columns=fats.get_feature_names_out())
    frame.insert(0, id_column, ids)
    frame.insert(1, "file", os.path.basename(path))
    return frame


def features_from_files(
    paths: Sequence[str | os.PathLike],
    fats: Any = None,
    *,
    id_column: str = "id",
    compute: bool = True,
    scheduler: str | None = None,
):
    """FATS features of the light curves in many files, one Dask task per file.

    Parameters
    ----------
    paths : sequence of path-like
        Tables (CSV, FITS or Parquet) of light curves in long form, columns
        ``id, time, mag, err`` (time in days, magnitudes in mag).
    fats : FATSFeatures, default=None
        The (unfitted or fitted) transformer to apply; ``FATSFeatures()`` by
        default. It is fitted here (fitting only fixes the output columns).
    id_column : str, default="id"
        Column of the light-curve ids.
    compute : bool, default=True
        Return a pandas DataFrame (True) or the lazy :class:`dask.dataframe.DataFrame`.
    scheduler : str, default=None
        Dask scheduler for ``compute`` (``"threads"``, ``"processes"``,
        ``"synchronous"``); None uses the active one (a
        :class:`dask.distributed.Client` when one exists).

    Returns
    -------
    features : pandas.DataFrame or dask.dataframe.DataFrame
        One row per light curve: ``id_column``, ``file``, then the features.
    """
    import dask
    import dask.dataframe as dd

    from ._fats import FATSFeatures

    if not paths:
        raise ValueError("paths is empty; give at least one light-curve file.")
    fats = FATSFeatures() if fats is None else fats
    fats.fit()
    meta = pd.DataFrame(
        {id_column: pd.Series(dtype=object), "file": pd.Series(dtype=object)}
        | {name: pd.Series(dtype=float) for name in fats.get_feature_names_out()}
    )
    parts = [
        dask.delayed(_features_of_file)(os.fspath(p), fats, id_column) for p in paths
    ]
    frame = dd.from_delayed(parts, meta=meta, verify_meta=False)
    if not compute:
        return frame
    return frame.compute(scheduler=scheduler).reset_index(drop=True)
