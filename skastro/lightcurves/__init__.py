"""Light curves: from image sequences to light curves to features."""

from ._dask import features_from_files
from ._extract import LightCurveExtractor
from ._fats import FATSFeatures
from ._input import LIGHT_CURVE_KEYS, as_light_curve_list

__all__: list[str] = [
    "FATSFeatures",
    "LIGHT_CURVE_KEYS",
    "LightCurveExtractor",
    "as_light_curve_list",
    "features_from_files",
]
