"""Light curves: from image sequences to light curves to features."""

from ._input import LIGHT_CURVE_KEYS, as_light_curve_list

__all__: list[str] = ["LIGHT_CURVE_KEYS", "as_light_curve_list"]
