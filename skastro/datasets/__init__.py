"""Simulated data sets for docs, tests and the demo, and loaders for real data.

Every simulator is deterministic under ``random_state`` and makes its
problem with realistic physics and difficulty (see each function).
"""

from ._alerts import read_alerts
from ._artifacts import ARTIFACT_KINDS, inject_stamp_artifacts
from ._asas import fetch_asas_variables
from ._fetch_base import clear_data_home, get_data_home
from ._fetch_images import fetch_2mass_galactic_center, fetch_glimpse_field
from ._first import FIRST_CLASSES, fetch_first_radio_galaxies
from ._hits import HITS_CLASSES, simulate_hits_sequences
from ._lightcurves import load_macho_light_curves, make_light_curves
from ._lsbg import LSBG_ARTIFACT_TYPES, LSBG_BANDS, LSBG_SURVEYS, make_lsbg_stamps
from ._macho import MACHO_CLASSES, fetch_macho_variables
from ._splus import SPLUS_BANDS, make_splus_field, make_splus_survey
from ._splus_stamps import (
    SPLUS_BROAD_BANDS,
    SPLUS_RGB_GROUPS,
    load_splus_stamps,
    splus_rgb_composite,
)

__all__: list[str] = [
    "ARTIFACT_KINDS",
    "inject_stamp_artifacts",
    "HITS_CLASSES",
    "LSBG_ARTIFACT_TYPES",
    "LSBG_BANDS",
    "LSBG_SURVEYS",
    "SPLUS_BANDS",
    "load_macho_light_curves",
    "make_light_curves",
    "SPLUS_BROAD_BANDS",
    "SPLUS_RGB_GROUPS",
    "make_lsbg_stamps",
    "make_splus_field",
    "make_splus_survey",
    "load_splus_stamps",
    "splus_rgb_composite",
    "simulate_hits_sequences",
    "clear_data_home",
    "get_data_home",
    "fetch_asas_variables",
    "fetch_macho_variables",
    "fetch_first_radio_galaxies",
    "fetch_2mass_galactic_center",
    "fetch_glimpse_field",
    "FIRST_CLASSES",
    "MACHO_CLASSES",
    "read_alerts",
]
