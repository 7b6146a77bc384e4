"""Image sequences: the one definition every sequence tool of skastro shares.

An *image sequence set* is a mapping, usually a
:class:`skorch.helper.SliceDict` (so scikit-learn can index and split it),
of arrays whose first two axes are ``(n_sequences, n_epochs)``; sequences of
different lengths are padded and the padding masked. It is what
:func:`~skastro.datasets.make_hits_sequences` and
:func:`~skastro.datasets.read_alerts` return and what
:class:`~skastro.stamps.Calibrator` (``method="reference"``),
:class:`~skastro.lightcurves.LightCurveExtractor`,
:class:`~skastro.nn.SequenceRCNN` and its
:class:`~skastro.nn.SequenceStream` take. Its keys (:data:`KEYS`):

========================  ============  ======================================
key                       shape         meaning
========================  ============  ======================================
``"stamps"``              (n, T, h, w)  pixels in ADU (DN), sky *not*
                                        subtracted
``"mjd"``                 (n, T)        observation time, days (MJD)
``"mask"`` (optional)     (n, T)        bool, True at valid epochs; without
                                        it the epochs with a finite ``mjd``
``"sky"``                 (n, T)        sky level, ADU/pixel
``"zero_point"``          (n, T)        mag of 1 ADU/s
``"fwhm"``                (n, T)        PSF FWHM, pixels
``"gain"``                (n, T)        e⁻/ADU
``"read_noise"``          (n, T)        e⁻
``"exptime"``             (n, T)        exposure time, s
``"limiting_mag"``        (n, T)        5σ limiting magnitude, mag
========================  ============  ======================================

Each tool names the keys it needs (:func:`check_sequences` says which are
missing); other keys travel along untouched.

**Epoch order** (one rule for every tool). Epochs may be stored in any order
and masked epochs may sit anywhere: a sequence's valid epochs are read *in
time order* (increasing ``mjd``, a stable sort; array order when there is no
``"mjd"``). "The first epoch" -- the reference of
``Calibrator(method="reference")``, the first window of ``SequenceRCNN``,
the epochs kept by :func:`truncate_sequences` -- is therefore the earliest
valid one. Two valid epochs at the same time are an error.
:class:`~skastro.nn.SequenceStream`, which cannot reorder what has already
arrived, refuses an image that is not later than the previous one.

Every problem with a sequence set raises :class:`~skastro.exceptions.SequenceError`
(a ``ValueError``), naming the key, the shape or the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .exceptions import InputLayoutError, SequenceError
from .utils._validation import check_stamps, format_rows

__all__ = [
    "EXPTIME",
    "FWHM",
    "GAIN",
    "KEYS",
    "LIMITING_MAG",
    "MASK",
    "METADATA_KEYS",
    "MJD",
    "READ_NOISE",
    "SKY",
    "STAMPS",
    "ZERO_POINT",
    "CheckedSequences",
    "check_sequences",
    "epoch_order",
    "epoch_values",
    "sequence_mask",
    "truncate_sequences",
]

STAMPS = "stamps"
MJD = "mjd"
MASK = "mask"
SKY = "sky"
ZERO_POINT = "zero_point"
FWHM = "fwhm"
GAIN = "gain"
READ_NOISE = "read_noise"
EXPTIME = "exptime"
LIMITING_MAG = "limiting_mag"

#: Per-epoch metadata keys, ``(n, T)`` float arrays, in the order
#: :func:`~skastro.datasets.make_hits_sequences` writes them.
METADATA_KEYS: tuple[str, ...] = (
    MJD,
    ZERO_POINT,
    SKY,
    FWHM,
    GAIN,
    READ_NOISE,
    EXPTIME,
    LIMITING_MAG,
)

#: Every key of the definition with its shape and unit.
KEYS: dict[str, str] = {
    STAMPS: "(n, T, h, w) pixels, ADU, sky not subtracted",
    MJD: "(n, T) observation time, days (MJD)",
    MASK: "(n, T) bool, True at valid epochs (default: finite mjd)",
    SKY: "(n, T) sky level, ADU/pixel",
    ZERO_POINT: "(n, T) zero point, mag of 1 ADU/s",
    FWHM: "(n, T) PSF FWHM, pixels",
    GAIN: "(n, T) gain, e-/ADU",
    READ_NOISE: "(n, T) read noise, e-",
    EXPTIME: "(n, T) exposure time, s",
    LIMITING_MAG: "(n, T) 5-sigma limiting magnitude, mag",
}


@dataclass
class CheckedSequences:
    """A checked sequence set (see :func:`check_sequences`).

    Attributes
    ----------
    stamps : ndarray of shape (n, T, h, w), float32, or None
        Without a ``"stamps"`` key, None.
    mjd : ndarray of shape (n, T), float64, or None
        Without a ``"mjd"`` key, None.
    mask : ndarray of shape (n, T), bool
        Valid epochs.
    order : ndarray of shape (n, T), int
        ``order[i, k]`` is the epoch (axis-1 index) of the ``k``-th valid
        epoch of sequence ``i`` in time order; the masked epochs follow in
        array order (:func:`epoch_order`).
    n_valid : ndarray of shape (n,), int
        Valid epochs per sequence.
    """

    stamps: np.ndarray | None
    mjd: np.ndarray | None
    mask: np.ndarray
    order: np.ndarray
    n_valid: np.ndarray

    def sorted(self, values: np.ndarray) -> np.ndarray:
        """``values`` (n, T, ...) with each sequence's epochs in :attr:`order`."""
        return np.take_along_axis(
            values, self.order.reshape(self.order.shape + (1,) * (values.ndim - 2)), 1
        )


def _require_mapping(X: Any, caller: str) -> None:
    if not isinstance(X, Mapping):
        raise SequenceError(
            f"{caller} expects X as a mapping of sequence arrays "
            f"(skorch.helper.SliceDict) with keys such as {STAMPS!r} (n, T, h, w), "
            f"{MJD!r} (n, T) and {MASK!r} (n, T); got {type(X).__name__}. "
            "make_hits_sequences(...).data and read_alerts(...).sequences have this "
            "layout (see skastro.sequences)."
        )


def sequence_mask(X: Mapping[str, Any], *, caller: str = "X") -> np.ndarray:
    """The (n, T) valid-epoch mask of a sequence set, checked.

    ``X["mask"]`` when present, else the epochs with a finite ``X["mjd"]``.

    Raises
    ------
    SequenceError
        ``X`` is not a mapping, has neither key, or the mask is not 2-D.
    """
    _require_mapping(X, caller)
    if MASK in X:
        mask, name = np.asarray(X[MASK]), MASK
    elif MJD in X:
        mask, name = np.isfinite(np.asarray(X[MJD], dtype=float)), MJD
    else:
        raise SequenceError(
            f"{caller}: X has neither {MASK!r} nor {MJD!r} to tell the valid epochs; "
            f"it has {sorted(X)}."
        )
    if mask.ndim != 2:
        raise SequenceError(
            f"{caller}: X[{name!r}] must have shape (n_sequences, n_epochs); got "
            f"{mask.shape}."
        )
    return mask.astype(bool)


def epoch_order(mask: np.ndarray, mjd: np.ndarray | None = None) -> np.ndarray:
    """Each sequence's valid epochs in time order, then its masked epochs.

    Parameters
    ----------
    mask : bool ndarray of shape (n, T)
        Valid epochs.
    mjd : ndarray of shape (n, T), optional
        Times; None keeps the array order of the valid epochs.

    Returns
    -------
    order : ndarray of shape (n, T), int
        Axis-1 indices (a stable sort: ties and masked epochs keep their
        array order).
    """
    mask = np.asarray(mask, dtype=bool)
    if mjd is None:
        return np.argsort(~mask, axis=1, kind="stable")
    key = np.where(mask, np.asarray(mjd, dtype=np.float64), np.inf)
    return np.argsort(key, axis=1, kind="stable")


def epoch_values(
    X: Mapping[str, Any],
    key: str,
    shape: tuple[int, int],
    *,
    per_sequence: bool = False,
    dtype: Any = np.float64,
) -> np.ndarray:
    """``X[key]`` as an (n, T) array, checked.

    Parameters
    ----------
    X : mapping
        The sequence set.
    key : str
        A per-epoch key.
    shape : (int, int)
        ``(n_sequences, n_epochs)`` of the stamps.
    per_sequence : bool, default=False
        Also accept one value per sequence ``(n,)`` or a scalar, repeated
        over the epochs.
    dtype : numpy dtype, default=float64

    Raises
    ------
    SequenceError
        The array has another shape (the message names the key).
    """
    n, t = shape
    try:
        arr = np.asarray(X[key], dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise SequenceError(
            f"X[{key!r}] could not be read as {np.dtype(dtype).name}: {exc}"
        ) from None
    if per_sequence and arr.ndim == 1 and arr.shape[0] == n:
        arr = np.repeat(arr[:, None], t, axis=1)
    elif per_sequence and arr.ndim == 0:
        arr = np.full((n, t), arr)
    if arr.shape != (n, t):
        also = ", one value per sequence (n,), or a scalar" if per_sequence else ""
        raise SequenceError(
            f"X[{key!r}] has shape {arr.shape}; per-epoch values must be "
            f"(n_sequences, n_epochs) = {(n, t)}{also}."
        )
    return arr


def _duplicate_times(mjd: np.ndarray, mask: np.ndarray, order: np.ndarray) -> None:
    t = np.take_along_axis(np.where(mask, mjd, np.inf), order, axis=1)
    v = np.take_along_axis(mask, order, axis=1)
    with np.errstate(invalid="ignore"):
        dup = (np.diff(t, axis=1) == 0) & v[:, 1:] & v[:, :-1]
    if dup.any():
        raise SequenceError(
            f"Sequence(s) {format_rows(np.flatnonzero(dup.any(axis=1)))} have two "
            f"valid epochs with the same time in X[{MJD!r}]; remove or mask the "
            f"duplicate exposures (X[{MASK!r}] = False) or combine them."
        )


def _check_stamps(X: Mapping, stamp_size: int | None) -> np.ndarray:
    try:
        return check_stamps(X[STAMPS], ndim=4, size=stamp_size, name=f"X[{STAMPS!r}]")
    except SequenceError:
        raise
    except InputLayoutError as exc:
        raise SequenceError(str(exc)) from None


def _check_finite(
    X: Mapping, keys: Iterable[str], mask: np.ndarray, needed_by: str
) -> None:
    for key in keys:
        bad = mask & ~np.isfinite(epoch_values(X, key, mask.shape))
        if bad.any():
            raise SequenceError(
                f"X[{key!r}] is NaN or infinite at valid epochs of row(s) "
                f"{format_rows(np.flatnonzero(bad.any(axis=1)))}; {needed_by} needs "
                f"it at every valid epoch: give it, or mask the epoch "
                f"(X[{MASK!r}] = False)."
            )


def check_sequences(
    X: Any,
    *,
    required: Iterable[str] = (STAMPS,),
    finite: Iterable[str] = (),
    stamp_size: int | None = None,
    caller: str = "this estimator",
    hint: str = "",
) -> CheckedSequences:
    """Check a sequence set against the definition of :mod:`skastro.sequences`.

    Parameters
    ----------
    X : mapping
        The sequence set.
    required : iterable of str, default=("stamps",)
        Keys ``X`` must have.
    finite : iterable of str, default=()
        Per-epoch keys that must be finite at every valid epoch (``"mjd"``
        always must, when present).
    stamp_size : int, optional
        Expected side of the stamps in pixels.
    caller : str, default="this estimator"
        Named in the errors.
    hint : str, default=""
        Appended to the error about missing keys (how to do without them).

    Returns
    -------
    CheckedSequences
        The stamps (when ``X`` has them), times, mask and the time order of
        the valid epochs.

    Raises
    ------
    SequenceError
        ``X`` is not a mapping, lacks a required key, a per-epoch array is
        not (n, T), the stamps are not (n, T, h, w) (or not
        ``stamp_size``), a valid epoch has a NaN time or a NaN ``finite``
        value, or two valid epochs share a time.

    Examples
    --------
    >>> from skastro.datasets import make_hits_sequences
    >>> from skastro.sequences import check_sequences
    >>> X, _ = make_hits_sequences(1, n_epochs=(3, 5), return_X_y=True,
    ...                            random_state=0)
    >>> checked = check_sequences(X, required=("stamps", "mjd"))
    >>> checked.mask.shape, checked.n_valid.min() >= 3
    ((7, 5), np.True_)
    """
    _require_mapping(X, caller)
    missing = [k for k in required if k not in X]
    if missing:
        raise SequenceError(
            f"X lacks the key(s) {missing} that {caller} needs; it has "
            f"{sorted(X.keys())}.{hint}"
        )
    stamps = _check_stamps(X, stamp_size) if STAMPS in X else None
    if stamps is not None:
        shape = stamps.shape[:2]
    else:
        shape = sequence_mask(X, caller=caller).shape
    mjd = epoch_values(X, MJD, shape) if MJD in X else None
    if MASK in X:
        mask = epoch_values(X, MASK, shape, dtype=bool)
    elif mjd is not None:
        mask = np.isfinite(mjd)
    else:
        mask = np.ones(shape, dtype=bool)
    if mjd is not None:
        _check_finite(X, (MJD,), mask, "the time order")
    _check_finite(X, [k for k in finite if k != MJD], mask, caller)
    order = epoch_order(mask, mjd)
    if mjd is not None:
        _duplicate_times(mjd, mask, order)
    return CheckedSequences(
        stamps=stamps, mjd=mjd, mask=mask, order=order, n_valid=mask.sum(axis=1)
    )


def truncate_sequences(X: Mapping[str, Any], n_epochs: int) -> Any:
    """The sequences as a classifier sees them after their first ``n_epochs`` epochs.

    Every valid epoch after the ``n_epochs``-th valid one (in time order,
    see the module docstring) is masked (``mask=False``); the arrays
    themselves are unchanged, so any sequence classifier
    (:class:`~skastro.nn.SequenceRCNN`, a
    ``LightCurveExtractor -> FATSFeatures -> forest`` pipeline) sees only
    the first ``n_epochs`` images. Sequences with fewer valid epochs are
    kept whole.

    Parameters
    ----------
    X : mapping
        A sequence set, e.g. the :class:`skorch.helper.SliceDict` of
        :func:`~skastro.datasets.make_hits_sequences`; ``"mask"`` (n, T)
        bool marks the valid epochs (without it, the epochs with a finite
        ``"mjd"``).
    n_epochs : int
        Number of valid epochs to keep, >= 1.

    Returns
    -------
    X_seen : skorch.helper.SliceDict
        The same arrays (not copied) with the new ``"mask"``.

    Raises
    ------
    ValueError
        ``n_epochs`` is not an int >= 1.
    SequenceError
        ``X`` is not a sequence set.

    Examples
    --------
    >>> from skastro.datasets import make_hits_sequences
    >>> from skastro.sequences import truncate_sequences
    >>> X, y = make_hits_sequences(1, n_epochs=10, return_X_y=True,
    ...                            random_state=0)
    >>> truncate_sequences(X, 4)["mask"].sum(axis=1)
    array([4, 4, 4, 4, 4, 4, 4])
    """
    from skorch.helper import SliceDict

    if (
        not isinstance(n_epochs, Integral | np.integer)
        or isinstance(n_epochs, bool)
        or n_epochs < 1
    ):
        raise ValueError(f"n_epochs must be an int >= 1; got {n_epochs!r}.")
    mask = sequence_mask(X, caller="truncate_sequences")
    mjd = epoch_values(X, MJD, mask.shape) if MJD in X else None
    order = epoch_order(mask, mjd)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(mask.shape[1])[None, :], axis=1)
    out = SliceDict(**{k: np.asarray(v) for k, v in X.items()})
    out[MASK] = mask & (rank < n_epochs)
    return out
