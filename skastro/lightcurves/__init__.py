"""Light curves: from image sequences to light curves to features."""

from ._extract import LightCurveExtractor

__all__: list[str] = ["LightCurveExtractor"]
