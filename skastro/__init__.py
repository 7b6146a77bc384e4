"""skastro: scikit-learn compatible estimators for astronomical images and time series.

Public estimators are importable from the top level (``from skastro import
FITSCropper``). They are loaded lazily, so ``import skastro`` does not import
PyTorch; only touching a deep-learning estimator does.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (add one line per public estimator)
_LAZY: dict[str, str] = {
    # --- stamps: catalog -> stamps -> calibrated stamps (skastro.stamps)
    "FITSCropper": "skastro.stamps",
    "Calibrator": "skastro.stamps",
    # --- light curves (skastro.lightcurves)
    "FATSFeatures": "skastro.lightcurves",
    "LightCurveExtractor": "skastro.lightcurves",
    # --- SExtractor-like source features (skastro.sources)
    "SourceFeatures": "skastro.sources",
    # --- deep estimators (skastro.nn)
    "LSBGNet": "skastro.nn",
    "SequenceRCNN": "skastro.nn",
    "MagnitudePretrainer": "skastro.nn",
    "PretrainedStampClassifier": "skastro.nn",
    "TransferCNNClassifier": "skastro.nn",
    "ImageEmbedder": "skastro.nn",
    # --- similarity search and anomaly ranking (skastro.neighbors)
    "SimilaritySearch": "skastro.neighbors",
}

_SUBMODULES = [
    "datasets",
    "exceptions",
    "lightcurves",
    "metrics",
    "models",
    "neighbors",
    "nn",
    "plotting",
    "recipes",
    "sequences",
    "sources",
    "stamps",
    "utils",
]

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f"skastro.{name}")
    raise AttributeError(f"module 'skastro' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBMODULES))
