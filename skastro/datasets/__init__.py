"""Simulated data sets for docs, tests and the demo, and loaders for real data.

Every simulator is deterministic under ``random_state`` and makes its
problem with realistic physics and difficulty (see each function).
"""

from ._hits import HITS_CLASSES, simulate_hits_sequences
from ._lightcurves import load_macho_light_curves, make_light_curves

__all__: list[str] = [
    "HITS_CLASSES",
    "load_macho_light_curves",
    "make_light_curves",
    "simulate_hits_sequences",
]
