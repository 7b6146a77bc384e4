"""Saving and loading models without pickle (see :doc:`/saving_models`).

:func:`save_model` writes an estimator or pipeline to one weights-only file
(a zip of a JSON description, ``.npy`` arrays and skops blobs);
:func:`load_model` rebuilds it without running code from the file.
"""

from ._format import (
    ALLOWED_MODULES,
    DENIED_CLASSES,
    MODEL_SUFFIX,
    is_model_file,
    load_model,
    read_model_info,
    save_model,
)

__all__ = [
    "ALLOWED_MODULES",
    "DENIED_CLASSES",
    "MODEL_SUFFIX",
    "is_model_file",
    "load_model",
    "read_model_info",
    "save_model",
]
