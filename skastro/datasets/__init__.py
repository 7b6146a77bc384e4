"""Simulated data sets for docs, tests and the demo, and loaders for real data.

Every simulator is deterministic under ``random_state`` and makes its
problem with realistic physics and difficulty (see each function).
"""

from ._splus import SPLUS_BANDS, make_splus_field, make_splus_survey

__all__: list[str] = ["SPLUS_BANDS", "make_splus_field", "make_splus_survey"]
