"""The data sets of Martinazzo et al. (2021): an unlabelled pool and a labelled set of S-PLUS stamps.

Martinazzo et al. (2021, §4.2) pretrains on ~100k unlabelled S-PLUS objects with
precise magnitudes (``X_u``, mean r = 15.9) and classifies a fainter labelled
set (``X``, mean r = 18.7; 43.7 % stars, 41.9 % galaxies, 14.4 % quasars).
:func:`make_splus_stamps` makes both from simulated fields
(:func:`make_splus_field`), cut with :class:`~skastro.stamps.FITSCropper`'s
3·FWHM rule and calibrated with :class:`~skastro.stamps.Calibrator`
(eq. 3.2), in the three input types of the seed: 12 bands, the 5 broad bands
and a 3-channel RGB composite.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ..utils._deprecation import renamed_params
from ..utils._params import Interval, StrOptions, validate_params
from ._splus import SPLUS_BANDS, make_splus_field

__all__ = [
    "SPLUS_BROAD_BANDS",
    "SPLUS_RGB_GROUPS",
    "make_splus_stamps",
    "splus_rgb_composite",
]

#: The five broad bands (the ugriz system), in :data:`SPLUS_BANDS` order.
SPLUS_BROAD_BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")

#: Bands summed into the blue, green and red channels of the RGB composite,
#: by wavelength as the S-PLUS Trilogy images combine all twelve (Martinazzo et al. (2021)
#: §3.3): blue below 4800 Å, green 5000–6700 Å, red above 7000 Å.
SPLUS_RGB_GROUPS: dict[str, tuple[str, ...]] = {
    "R": ("i", "F861", "z"),
    "G": ("F515", "r", "F660"),
    "B": ("u", "F378", "F395", "F410", "F430", "g"),
}


def splus_rgb_composite(
    stamps: np.ndarray,
    *,
    softening: np.ndarray | None = None,
    limits: np.ndarray | None = None,
    band_names: tuple[str, ...] = SPLUS_BANDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make 3-channel asinh RGB composites from calibrated 12-band stamps.

    Each channel is the sum of the calibrated fluxes of its bands
    (:data:`SPLUS_RGB_GROUPS`), stretched with ``asinh(x / (2 b))`` (Lupton et
    al. 1999) and scaled to [0, 1] between the 0.5th and 99.5th percentiles,
    as Trilogy does for the survey's colour images (Martinazzo et al. 2021, §3.3).

    Parameters
    ----------
    stamps : ndarray of shape (n_objects, 12, height, width)
        Calibrated stamps, bands in ``band_names`` order; NaN pixels are read
        as 0.
    softening : ndarray of shape (3,), optional
        asinh softening ``b`` per channel (calibrated flux units); by default
        the robust sky noise (1.4826 MAD) of each channel of ``stamps``.
    limits : ndarray of shape (3, 2), optional
        Stretched values mapped to 0 and 1 per channel; by default the 0.5th
        and 99.5th percentiles of ``stamps``. Pass the ``softening`` and
        ``limits`` returned for one set (the pool) to composite another set
        on the same scale.
    band_names : tuple of str, default=SPLUS_BANDS
        Names of the bands on axis 1.

    Returns
    -------
    rgb : ndarray of shape (n_objects, 3, height, width)
        float32 in [0, 1], channels (R, G, B).
    softening : ndarray of shape (3,)
    limits : ndarray of shape (3, 2)
    """
    from ..stamps import Calibrator

    stamps = np.asarray(stamps, dtype=np.float32)
    index = {b: i for i, b in enumerate(band_names)}
    summed = np.stack(
        [
            np.nansum(stamps[:, [index[b] for b in group]], axis=1)
            for group in SPLUS_RGB_GROUPS.values()
        ],
        axis=1,
    ).astype(np.float32)
    if softening is None:
        stretch = Calibrator(method="none", stretch="asinh").fit(summed)
        softening = stretch.softening_
    else:
        softening = np.asarray(softening, dtype=float)
        stretch = Calibrator(method="none", stretch="asinh").fit(summed[:1])
        stretch.softening_ = softening
    stretched = stretch.transform(summed)
    if limits is None:
        flat = stretched.transpose(1, 0, 2, 3).reshape(3, -1)
        limits = np.percentile(flat, [0.5, 99.5], axis=1).T
    lo = limits[:, 0][None, :, None, None]
    span = np.maximum(limits[:, 1] - limits[:, 0], 1e-12)[None, :, None, None]
    rgb = np.clip((stretched - lo) / span, 0.0, 1.0).astype(np.float32)
    return rgb, np.asarray(softening), np.asarray(limits)


def _cut_and_calibrate(
    catalog: pd.DataFrame, images: dict, asinh_softening: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (network stamps, linear calibrated stamps) for ``catalog``."""
    from ..stamps import Calibrator, FITSCropper

    cropper = FITSCropper(images, size="fwhm", zero_point_keyword="ZP")
    raw = cropper.fit_transform(catalog)
    linear = Calibrator(zero_point="header", pixel_scale=0.55).fit_transform(raw)
    if asinh_softening is None:
        return linear, linear
    stretched = Calibrator(
        zero_point="header",
        pixel_scale=0.55,
        stretch="asinh",
        asinh_softening=asinh_softening,
    ).fit_transform(raw)
    return stretched, linear


def _views(stamps: np.ndarray, linear: np.ndarray, rgb_scale=None):
    broad = stamps[:, [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]]
    if rgb_scale is None:
        rgb, soft, lim = splus_rgb_composite(linear)
    else:
        rgb, soft, lim = splus_rgb_composite(
            linear, softening=rgb_scale[0], limits=rgb_scale[1]
        )
    return {"stamps": stamps, "broad": broad, "rgb": rgb}, (soft, lim)


@renamed_params(objects_per_field="n_per_field")
@validate_params(
    {
        "directory": [str, os.PathLike, None],
        "n_pool": [Interval(Integral, 1, None, closed="left")],
        "n_labelled": [Interval(Integral, 1, None, closed="left")],
        "n_per_field": [Interval(Integral, 10, None, closed="left")],
        "field_shape": [tuple],
        "pool_max_err": [Interval(Real, 0, None, closed="neither")],
        "pool_cut": [StrOptions({"r", "all"})],
        "labelled_class_fractions": [tuple, list],
        "asinh_softening": [Interval(Real, 0, None, closed="neither"), None],
        "max_fields": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
)
def make_splus_stamps(
    directory: str | os.PathLike | None = None,
    *,
    n_pool: int = 2000,
    n_labelled: int = 1000,
    n_per_field: int = 1000,
    field_shape: tuple[int, int] = (1024, 1024),
    pool_max_err: float = 0.05,
    pool_cut: str = "r",
    labelled_class_fractions: tuple[float, float, float] = (0.44, 0.42, 0.14),
    asinh_softening: float | None = 1e-4,
    max_fields: int = 200,
    random_state: int | np.random.RandomState | None = 0,
    verbose: int = 0,
) -> Bunch:
    """Simulate S-PLUS fields; return the pool and labelled stamps of Martinazzo et al. (2021).

    The recipe of Martinazzo et al. (2021, §4.2) on simulated data:

    1. Fields are simulated with :func:`make_splus_field` (12 FITS files each,
       ``n_per_field`` stars, galaxies and quasars, 44/42/14 %), until
       both sets are full.
    2. Objects flagged by the photometry (``photoflag != 0``: neighbours,
       blends, saturation, image edge) or undetected in r are dropped, as the
       survey's warning flags are (§4.2).
    3. The *labelled set* (``X``, the spectroscopic objects) is a random
       subset of ``n_labelled`` of them with ``labelled_class_fractions`` of
       stars, galaxies and quasars (Martinazzo et al. 2021, Table 4.2: 43.7/41.9/14.4 %).
    4. The *unlabelled pool* (``X_u``) is ``n_pool`` of the others with
       precise magnitudes (``pool_cut``, ``pool_max_err``), which makes it
       brighter than the labelled set (Martinazzo et al. 2021: mean r 15.9 vs
       18.7). Magnitudes of bands not cut may be NaN (undetected), masked by
       :class:`~skastro.nn.MagnitudePretrainer`.
    5. Stamps are cut by :class:`~skastro.stamps.FITSCropper` with the 3·FWHM
       rule (``size="fwhm"``: 32×32 pixels, or 3·FWHM resampled to 32×32) and
       calibrated by :class:`~skastro.stamps.Calibrator` with each field's
       header zero points (eq. 3.2, 0.55″/pixel), then stretched with
       ``asinh(x / (2 b))``, ``b = asinh_softening`` (see below).

    The stretch is our one departure from the paper, which feeds calibrated
    fluxes as they are: our images hold count *rates* (ADU/s), so eq. 3.2
    gives fluxes about a hundred times smaller than the paper's (sky noise
    ~1e-4; the paper's pixels span [-0.79, 13.63]). A fixed asinh stretch
    (Lupton et al. 1999) with a softening of about the sky noise keeps faint
    pixels linear and brings bright ones to ~8;
    ``Calibrator(stretch="asinh", asinh_softening=1e-4)`` repeats it on new
    fields.

    Parameters
    ----------
    directory : str or path-like, optional
        Folder for the FITS files (kept: the images feed FITS → class
        pipelines). When None, a temporary folder deleted before returning
        (``images`` and ``directory`` are then None).
    n_pool : int, default=2000
        Objects in the unlabelled pool.
    n_labelled : int, default=1000
        Objects in the labelled set.
    n_per_field : int, default=1000
        Objects simulated per field (``n_samples`` of
        :func:`make_splus_field`; formerly ``objects_per_field``).
    field_shape : (int, int), default=(1024, 1024)
        Field size ``(ny, nx)`` in pixels (0.55″ pixels).
    pool_max_err : float, default=0.05
        Magnitude errors (mag) admitted to the pool are below this.
    pool_cut : {"r", "all"}, default="r"
        Bands whose error is cut for the pool: ``"r"`` alone (the pool the
        shipped pretrainers were trained on), or ``"all"``, every one of the
        12 bands, none undetected: the selection of Martinazzo et al. (2021,
        §4.2), which keeps about a third of the r-cut objects, brighter and
        mostly stars (u and the blue narrow bands are the noisiest).
    labelled_class_fractions : (float, float, float), default=(0.44, 0.42, 0.14)
        Fractions of stars, galaxies and quasars in the labelled set.
    asinh_softening : float or None, default=1e-4
        Softening ``b`` of the asinh stretch of the 12- and 5-band views, in
        calibrated flux units; None for linear calibrated fluxes.
    max_fields : int, default=200
        Give up (``ValueError``) if this many fields do not fill both sets.
    random_state : int, RandomState instance or None, default=0
        Seeds the simulation and the selection.
    verbose : int, default=0
        Print progress when > 0.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``pool`` and ``labelled``, each a Bunch with ``stamps`` (n, 12, 32,
        32) float32 calibrated, stretched fluxes (channels in
        :data:`SPLUS_BANDS` order; NaN pixels off the image edge), ``broad``
        (n, 5, 32, 32), ``rgb`` (n, 3, 32, 32) in [0, 1], ``magnitudes``
        (DataFrame, 12 AB magnitudes, NaN = undetected) and ``catalog`` (the
        simulator's rows, incl. ``x``, ``y``, ``fwhm``, ``field``);
        ``labelled`` also has ``target`` (``"STAR"``, ``"GALAXY"``,
        ``"QSO"``). Also ``images`` (``{field_id: list of 12 FITS paths}``,
        or None without ``directory``), ``directory``, ``band_names``,
        ``broad_bands`` and ``rgb_groups``.

    Examples
    --------
    >>> from skastro.datasets import make_splus_stamps
    >>> data = make_splus_stamps(n_pool=40, n_labelled=20, n_per_field=80,
    ...                          field_shape=(256, 256), random_state=0)
    >>> data.pool.stamps.shape, data.labelled.rgb.shape
    ((40, 12, 32, 32), (20, 3, 32, 32))
    >>> bool(data.pool.catalog.r.mean() < data.labelled.catalog.r.mean())
    True
    """
    rng = check_random_state(random_state)
    with _fits_folder(directory) as folder:
        catalog, images = _simulate_fields(
            folder, rng, n_pool, n_labelled, n_per_field, field_shape, pool_max_err,
            pool_cut, labelled_class_fractions, max_fields, verbose,
        )  # fmt: skip
        labelled, pool = _draw_sets(
            catalog, rng, n_pool, n_labelled, pool_max_err, pool_cut,
            labelled_class_fractions,
        )  # fmt: skip
        return _stamp_sets(
            catalog, images, directory, pool, labelled, asinh_softening, verbose
        )


@contextlib.contextmanager
def _fits_folder(directory):
    """``directory`` (created if missing), or a temporary folder deleted after."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="skastro_splus_") as tmp:
            yield tmp
    else:
        os.makedirs(directory, exist_ok=True)
        yield directory


def _clean(catalog: pd.DataFrame) -> pd.DataFrame:
    """Rows without photometry flags and detected in r (Martinazzo et al. 2021, §4.2)."""
    return catalog[(catalog["photoflag"] == 0) & np.isfinite(catalog["r"])]


def _precise(catalog: pd.DataFrame, pool_max_err: float, pool_cut: str) -> pd.Series:
    """Rows whose magnitude errors admit them to the pool (see ``pool_cut``).

    An undetected band has a NaN error, which fails the comparison: with
    ``pool_cut="all"`` objects missing a magnitude are left out.
    """
    bands = ("r",) if pool_cut == "r" else SPLUS_BANDS
    errors = catalog[[f"{band}_err" for band in bands]]
    return (errors < pool_max_err).all(axis=1)


def _simulate_fields(
    directory, rng, n_pool, n_labelled, n_per_field, field_shape, pool_max_err,
    pool_cut, fractions, max_fields, verbose,
) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """Simulate fields until the clean objects can fill the pool and labelled set.

    Returns the stacked catalog (``id`` running over all fields) and
    ``{field_id: 12 FITS paths}``.
    """
    catalogs, images = [], {}
    for k in range(1, max_fields + 1):
        field_id = f"SPLUS-{k:04d}"
        cat, paths = make_splus_field(
            directory,
            n_samples=n_per_field,
            field_shape=tuple(field_shape),
            layout="files",
            field_id=field_id,
            random_state=int(rng.randint(0, 2**31 - 1)),
        )
        catalogs.append(cat)
        images[field_id] = paths
        catalog = pd.concat(catalogs, ignore_index=True)
        clean = _clean(catalog)
        n_precise = int(_precise(clean, pool_max_err, pool_cut).sum())
        share = n_labelled / max(len(clean), 1)
        if verbose:
            print(
                f"field {field_id}: {len(clean)} clean objects, {n_precise} with "
                f"{'r_err' if pool_cut == 'r' else 'every error'} < {pool_max_err}",
                flush=True,
            )
        # expected precise objects left after the labelled draw
        n_qso = int((clean["class"] == "QSO").sum())
        if (
            len(clean) >= n_labelled + n_pool
            and n_precise * (1 - share) >= 1.05 * n_pool
            and n_qso >= 1.2 * fractions[2] * n_labelled
        ):
            catalog["id"] = np.arange(len(catalog), dtype=np.int64)
            return catalog, images
    raise ValueError(
        f"{max_fields} simulated fields did not give n_pool={n_pool} pool "
        f"and n_labelled={n_labelled} labelled objects; raise max_fields or "
        "n_per_field, or raise pool_max_err (or use pool_cut='r')."
    )


def _draw_sets(
    catalog, rng, n_pool, n_labelled, pool_max_err, pool_cut, fractions
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the labelled set and of the pool.

    Labelled: random clean objects of each class in the proportions
    ``fractions``; pool: random other clean objects with errors below
    ``pool_max_err`` in the bands of ``pool_cut``.
    """
    clean = _clean(catalog)
    fractions = np.asarray(fractions, dtype=float)
    counts = np.floor(fractions / fractions.sum() * n_labelled).astype(int)
    counts[np.argmax(fractions)] += n_labelled - counts.sum()
    labelled_idx = []
    for label, count in zip(("STAR", "GALAXY", "QSO"), counts):
        members = clean.index.to_numpy()[clean["class"].to_numpy() == label]
        if len(members) < count:
            raise ValueError(
                f"only {len(members)} clean {label} objects for {count} labelled "
                "ones; raise n_per_field or max_fields."
            )
        labelled_idx.append(rng.choice(members, size=count, replace=False))
    labelled_idx = np.sort(np.concatenate(labelled_idx))
    rest = clean.drop(index=labelled_idx)
    precise = rest[_precise(rest, pool_max_err, pool_cut)]
    pool_idx = np.sort(rng.choice(precise.index.to_numpy(), size=n_pool, replace=False))
    return labelled_idx, pool_idx


def _stamp_sets(
    catalog, images, directory, pool_idx, labelled_idx, asinh_softening, verbose
):
    """The Bunch of :func:`make_splus_stamps`: stamps, views and tables of each set.

    Without a ``directory`` the FITS files live only while the stamps are cut:
    ``images`` and ``directory`` are then None.
    """
    out = Bunch(
        images=None if directory is None else images,
        directory=None if directory is None else str(directory),
        band_names=SPLUS_BANDS,
        broad_bands=SPLUS_BROAD_BANDS,
        rgb_groups=SPLUS_RGB_GROUPS,
    )
    rgb_scale = None
    for name, idx in (("pool", pool_idx), ("labelled", labelled_idx)):
        sub = catalog.loc[idx].reset_index(drop=True)
        if verbose:
            print(f"cutting {len(sub)} {name} stamps", flush=True)
        stamps, linear = _cut_and_calibrate(sub, images, asinh_softening)
        views, rgb_scale = _views(stamps, linear, rgb_scale)
        out[name] = Bunch(
            **views,
            magnitudes=sub[list(SPLUS_BANDS)].copy(),
            catalog=sub,
        )
    out.labelled["target"] = out.labelled.catalog["class"].to_numpy()
    return out
