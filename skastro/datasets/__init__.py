"""Simulated data sets for docs, tests and the demo, and loaders for real data.

The verbs follow scikit-learn's:

- ``make_*`` simulate data (deterministic under ``random_state``, with
  realistic physics and difficulty; see each function);
- ``load_*`` read data that an installed package ships (nothing downloaded);
- ``fetch_*`` download public data once into a cache (:func:`get_data_home`);
- ``read_*`` read the user's own files (ZTF alert packets).

Counts are ``n_samples`` (the total), or ``n_per_<group>`` for a count per
class or per field; ``stamp_size`` is the side of a square stamp and
``field_shape`` the ``(ny, nx)`` of a simulated field, in pixels. Old names
(``simulate_hits_sequences``, ``load_splus_stamps``, ``n_objects``,
``n_curves``, ``objects_per_field``, ``shape``) work until skastro 0.3 with a
:class:`FutureWarning` naming the new one.
"""

from ..utils._deprecation import renamed_function
from ._alerts import read_alerts
from ._artifacts import ARTIFACT_KINDS, inject_stamp_artifacts
from ._asas import fetch_asas_variables
from ._fetch_base import clear_data_home, get_data_home
from ._fetch_images import fetch_2mass_galactic_center, fetch_glimpse_field
from ._first import FIRST_CLASSES, fetch_first_radio_galaxies
from ._hits import HITS_CLASSES, make_hits_sequences
from ._lightcurves import load_macho_light_curves, make_light_curves
from ._lsbg import LSBG_ARTIFACT_TYPES, LSBG_BANDS, LSBG_SURVEYS, make_lsbg_stamps
from ._macho import MACHO_CLASSES, fetch_macho_variables
from ._splus import SPLUS_BANDS, make_splus_field, make_splus_survey
from ._splus_stamps import (
    SPLUS_BROAD_BANDS,
    SPLUS_RGB_GROUPS,
    make_splus_stamps,
    splus_rgb_composite,
)

# renamed in skastro 0.2 (not in __all__; see the module docstring)
simulate_hits_sequences = renamed_function(
    make_hits_sequences, "simulate_hits_sequences", "skastro.datasets"
)
load_splus_stamps = renamed_function(
    make_splus_stamps, "load_splus_stamps", "skastro.datasets"
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
    "make_hits_sequences",
    "make_light_curves",
    "SPLUS_BROAD_BANDS",
    "SPLUS_RGB_GROUPS",
    "make_lsbg_stamps",
    "make_splus_field",
    "make_splus_stamps",
    "make_splus_survey",
    "splus_rgb_composite",
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
