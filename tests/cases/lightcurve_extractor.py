"""Contract cases for LightCurveExtractor (tiny simulated HiTS sequences)."""

from skastro.datasets import make_hits_sequences
from skastro.lightcurves import LightCurveExtractor


def _make_data():
    return make_hits_sequences(2, n_epochs=(4, 6), random_state=0)["data"], None


def contract_cases():
    return [(LightCurveExtractor(), _make_data)]
