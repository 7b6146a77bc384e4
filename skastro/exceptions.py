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


class SequenceError(ValueError):
    """An image sequence cannot be classified as given: all epochs masked, fewer
    valid epochs than the network's window, NaN pixels or times at a valid
    epoch, or times that do not increase."""


class ModelFileError(ValueError):
    """A model file is corrupt, not a skastro model, a pickle loaded without
    ``trust_pickle=True``, or names a class outside the loading allowlist."""


class UnsafeLoadWarning(UserWarning):
    """A model is being loaded from a pickle, which can run any code it holds."""
