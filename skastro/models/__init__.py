"""Saving, loading and shipped models.

:func:`save_model` writes an estimator or pipeline to one weights-only file
(a zip of a JSON description, ``.npy`` arrays and skops blobs) and
:func:`load_model` rebuilds it without running code from the file (see
:doc:`/saving_models`). :func:`load_pretrained` returns a network trained by
skastro and shipped with it, with its model card (:func:`model_card`).
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
from ._pretrained import list_pretrained, load_pretrained, model_card, save_pretrained

__all__ = [
    "ALLOWED_MODULES",
    "DENIED_CLASSES",
    "MODEL_SUFFIX",
    "is_model_file",
    "list_pretrained",
    "load_model",
    "load_pretrained",
    "model_card",
    "read_model_info",
    "save_model",
    "save_pretrained",
]
