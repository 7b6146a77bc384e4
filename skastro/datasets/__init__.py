"""Simulated data sets for docs, tests and the demo, and loaders for real data.

Every simulator is deterministic under ``random_state`` and makes its
problem with realistic physics and difficulty (see each function).
"""

from ._hits import HITS_CLASSES, simulate_hits_sequences
from ._lsbg import LSBG_ARTIFACT_TYPES, LSBG_BANDS, LSBG_SURVEYS, make_lsbg_stamps
from ._splus import SPLUS_BANDS, make_splus_field, make_splus_survey

__all__: list[str] = [
    "HITS_CLASSES",
    "LSBG_ARTIFACT_TYPES",
    "LSBG_BANDS",
    "LSBG_SURVEYS",
    "SPLUS_BANDS",
    "make_lsbg_stamps",
    "make_splus_field",
    "make_splus_survey",
    "simulate_hits_sequences",
]
