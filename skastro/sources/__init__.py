"""SExtractor-like per-object features measured on stamps."""

from ._features import SourceFeatures

__all__: list[str] = ["SourceFeatures"]
