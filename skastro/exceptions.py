"""Exceptions raised by skastro.

Each is a subclass of a built-in exception, so ``except ValueError`` keeps
working in user code, while tests and pipelines can catch the precise case.
"""

from sklearn.exceptions import NotFittedError

__all__ = [
    "CatalogError",
    "FITSFormatError",
    "InputLayoutError",
    "LightCurveError",
    "LightCurveWarning",
    "ModelFileError",
    "NotFittedError",
    "SequenceError",
    "StampOverlapError",
    "UnsafeLoadWarning",
]


class CatalogError(ValueError):
    """A catalog lacks a needed column or holds unusable values (NaN positions)."""


class FITSFormatError(ValueError):
    """A FITS file is corrupt, truncated, has no image data, or does not match
    the other files it is used with (band count, image shape)."""


class StampOverlapError(ValueError):
    """A stamp lies (partly) outside its image and ``off_edge='raise'``."""


class InputLayoutError(ValueError):
    """An array has the wrong layout: channels last instead of first, wrong
    stamp size or band count, wrong number of dimensions."""


class LightCurveError(ValueError):
    """A light curve holds values no feature can use: a NaN, zero or negative
    error, duplicate times, or unsorted times when sorting is switched off."""


class LightCurveWarning(UserWarning):
    """Some light curves were too short or degenerate for some features, whose
    values were set to NaN (the message says which features and how many curves)."""


class SequenceError(InputLayoutError):
    """An image sequence set breaks its definition (:mod:`skastro.sequences`)
    or cannot be used as given: not a mapping, a missing key, a per-epoch
    array that is not (n_sequences, n_epochs), two valid epochs at the same
    time, NaN times, pixels or metadata at a valid epoch where the tool
    needs them, all epochs masked, or fewer valid epochs than a network's
    window. One type for every sequence tool; a subclass of
    :class:`InputLayoutError` (and so of ``ValueError``)."""


class ModelFileError(ValueError):
    """A model file is corrupt, not a skastro model, a pickle loaded without
    ``trust_pickle=True``, or names a class outside the loading allowlist."""


class UnsafeLoadWarning(UserWarning):
    """A model is being loaded from a pickle, which can run any code it holds."""
