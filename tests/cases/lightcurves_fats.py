"""Contract-suite case for FATSFeatures: ``contract_cases()`` returns
[(estimator with tiny settings, make_data)].

FATSFeatures takes light curves (lists of (time, mag, err), padded mappings or
long DataFrames), not a 2-D table, so it runs the contract suite rather than
scikit-learn's ``parametrize_with_checks``.
"""


def contract_cases():
    """FATSFeatures on six simulated curves, one feature of each fast group."""
    from skastro.datasets import make_light_curves
    from skastro.lightcurves import FATSFeatures

    curves = make_light_curves(6, n_points=(60, 80), random_state=0).curves
    features = [
        "Mean",
        "Con",
        "Autocor_length",
        "CAR_tau",
        "PeriodLS",
        "Freq1_harmonics_amplitude_0",
        "StetsonK_AC",
    ]
    return [(FATSFeatures(features=features), lambda: (curves, None))]
