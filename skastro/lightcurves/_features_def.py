"""The FATS feature set: names, feets 1.0.1 equivalents and output columns.

Every feature is named as in FATS (Nun et al. 2015) and Carrasco-Davis et al. (2019). feets 1.0.1
renamed some of them, split others into several columns, and computes the
flux-percentile ratios with a single parametrised extractor; ``FEETS_MAP``
records, for each FATS name, the feets feature, the extractor parameters and
the feets output column it is read from.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ALL_FATS_FEATURES",
    "ALL_FEATURES",
    "DEFAULT_FEATURES",
    "FATS_FEATURES",
    "FEETS_MAP",
    "FEATURE_SETS",
    "MIN_POINTS",
    "OPT_IN_FEATURES",
    "RENAMED_FEATURE_SETS",
    "RICHARDS_FEATURES",
    "CARRASCO_DAVIS_2019_FEATURES",
    "CARRASCO_DAVIS2019_FEATURES",
    "feature_columns",
]

#: Fewest points a curve needs for any feature (fewer: all NaN).
MIN_POINTS = 4

_FLUX_RATIOS = {20: 0.4, 35: 0.325, 50: 0.25, 65: 0.175, 80: 0.1}

#: Carrasco-Davis et al.'s (2019) appendix list (all FATS features but Color, Eta_color,
#: Q31_color, StetsonJ and StetsonL), in its order: 47 names. The appendix
#: names the harmonic amplitudes only, not the relative phases.
CARRASCO_DAVIS_2019_FEATURES: tuple[str, ...] = (
    "Amplitude",
    "AndersonDarling",
    "Autocor_length",
    "Beyond1Std",
    "CAR_mean",
    "CAR_sigma",
    "CAR_tau",
    "Con",
    "Eta_e",
    *(f"FluxPercentileRatioMid{p}" for p in _FLUX_RATIOS),
    *(f"Freq{i}_harmonics_amplitude_{j}" for i in (1, 2, 3) for j in range(4)),
    "LinearTrend",
    "MaxSlope",
    "Mean",
    "Meanvariance",
    "MedianAbsDev",
    "MedianBRP",
    "PairSlopeTrend",
    "PercentAmplitude",
    "PercentDifferenceFluxPercentile",
    "PeriodLS",
    "Period_fit",
    "Psi_CS",
    "Psi_eta",
    "Q31",
    "Rcs",
    "Skew",
    "SlottedA_length",
    "SmallKurtosis",
    "Std",
    "StetsonK",
    "StetsonK_AC",
)

#: Former name of :data:`CARRASCO_DAVIS_2019_FEATURES`.
CARRASCO_DAVIS2019_FEATURES = CARRASCO_DAVIS_2019_FEATURES

_REL_PHASES = tuple(
    f"Freq{i}_harmonics_rel_phase_{j}" for i in (1, 2, 3) for j in range(4)
)

#: Every single-band FATS feature (all FATS features but the five colour
#: ones): Carrasco-Davis et al.'s (2019) appendix list plus the 12 harmonic relative phases
#: (``..._rel_phase_0`` is 0 by definition): 59 columns.
FATS_FEATURES: tuple[str, ...] = CARRASCO_DAVIS_2019_FEATURES + _REL_PHASES

#: The default set of FATSFeatures: every single-band FATS feature.
DEFAULT_FEATURES: tuple[str, ...] = FATS_FEATURES

#: Multi-column features, computed only when named.
OPT_IN_FEATURES: tuple[str, ...] = ("Signature", "DeltamDeltat")

#: Period and folded-curve features of Richards et al. (2011, 2012) that FATS
#: lacks (see :mod:`._richards` for their definitions); opt-in.
RICHARDS_FEATURES: tuple[str, ...] = (
    "R21",
    "R31",
    "phi21_sin",
    "phi21_cos",
    "phi31_sin",
    "phi31_cos",
    "model_amplitude",
    "model_skew",
    "rise_fraction",
    "var_ratio",
    "scatter_res_raw",
    "f2_over_f1",
    "A2f_over_A1f",
    "var_ratio2",
    "p2p_over_mad",
    "p2p_fold_over_mad",
    "p2p_fold2p_over_fold",
    "fold2p_slope_10",
    "fold2p_slope_90",
    "noise_ratio",
    "freq_signif",
    "signif_ratio_21",
    "signif_ratio_31",
)

#: Every FATS feature (the single-band ones and the multi-column opt-ins).
ALL_FATS_FEATURES: tuple[str, ...] = FATS_FEATURES + OPT_IN_FEATURES

#: Every name accepted by ``FATSFeatures(features=[...])``.
ALL_FEATURES: tuple[str, ...] = ALL_FATS_FEATURES + RICHARDS_FEATURES

#: Named feature sets accepted by ``FATSFeatures(features=...)``.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_FEATURES,
    "fats": FATS_FEATURES,
    "carrasco-davis2019": CARRASCO_DAVIS_2019_FEATURES,
    "all": ALL_FATS_FEATURES,
    "richards": RICHARDS_FEATURES,
    "fats+richards": FATS_FEATURES + RICHARDS_FEATURES,
}

#: Former set names -> their readable names (accepted with a FutureWarning).
RENAMED_FEATURE_SETS: dict[str, str] = {"seed001": "carrasco-davis2019"}

# FATS name -> (feets feature, FeatureSpace keyword arguments, feets column).
# The Lomb-Scargle features come as three columns in feets (the three highest
# periodogram values in ascending order); FATS's value is the last one.
FEETS_MAP: dict[str, tuple[str, dict, str]] = {
    "Amplitude": ("Amplitude", {}, "Amplitude"),
    "AndersonDarling": ("AndersonDarling", {}, "AndersonDarling"),
    "Autocor_length": ("Autocor_length", {}, "Autocor_length"),
    "Beyond1Std": ("BeyondNStd", {}, "Beyond1Std"),
    "CAR_mean": ("CAR_mean", {}, "CAR_mean"),
    "CAR_sigma": ("CAR_sigma", {}, "CAR_sigma"),
    "CAR_tau": ("CAR_tau", {}, "CAR_tau"),
    "Con": ("Con", {}, "Con"),
    "Eta_e": ("EtaE", {}, "EtaE"),
    "LinearTrend": ("LinearTrend", {}, "LinearTrend"),
    "MaxSlope": ("MaxSlope", {}, "MaxSlope"),
    "Mean": ("Mean", {}, "Mean"),
    "Meanvariance": ("MeanVariance", {}, "MeanVariance"),
    "MedianAbsDev": ("MedianAbsDev", {}, "MedianAbsDev"),
    "MedianBRP": ("MedianBRP", {}, "MedianBRP_10"),
    "PairSlopeTrend": ("PairSlopeTrend", {}, "PairSlopeTrend"),
    "PercentAmplitude": ("PercentAmplitude", {}, "PercentAmplitude"),
    "PercentDifferenceFluxPercentile": (
        "PercentDiffPercentile",
        {},
        "PercentDiffPercentile_5",
    ),
    "PeriodLS": ("PeriodLS", {}, "PeriodLS_2"),
    "Period_fit": ("Period_fit", {}, "Period_fit_2"),
    "Psi_CS": ("Psi_CS", {}, "Psi_CS_2"),
    "Psi_eta": ("Psi_eta", {}, "Psi_eta_2"),
    "Q31": ("Q31", {}, "Q31"),
    "Rcs": ("Rcs", {}, "Rcs"),
    "Skew": ("Skew", {}, "Skew"),
    "SlottedA_length": ("SlottedALength", {}, "SlottedALength"),
    "SmallKurtosis": ("SmallKurtosis", {}, "SmallKurtosis"),
    "Std": ("Std", {}, "Std"),
    "StetsonK": ("StetsonK", {}, "StetsonK"),
    "StetsonK_AC": ("StetsonK_AC", {}, "StetsonK_AC"),
}


def _percentage_ratio_column(q: float) -> str:
    # feets names the column after light-curve's feature name
    import light_curve

    (name,) = light_curve.MagnitudePercentageRatio(
        quantile_numerator=q, quantile_denominator=0.05
    ).names
    numerator, denominator = name.split("_")[3:5]
    return f"PercentageRatio_{numerator}_{denominator}"


for _p, _q in _FLUX_RATIOS.items():
    FEETS_MAP[f"FluxPercentileRatioMid{_p}"] = (
        "PercentageRatio",
        {"PercentageRatio": {"quantile_numerator": _q, "quantile_denominator": 0.05}},
        _percentage_ratio_column(_q),
    )
for _name in FATS_FEATURES:
    if _name.startswith("Freq"):
        FEETS_MAP[_name] = (_name, {}, _name)

_SIGNATURE_COLUMNS = tuple(
    f"Signature_{k}_ph_{j}_mag_{i}"
    for k in range(3)
    for i in range(12)
    for j in range(18)
)
_DMDT_COLUMNS = tuple(
    f"DeltamDeltat_dt_{j}_dm_{i}" for i in range(24) for j in range(23)
)

#: Bin edges of feets' DeltamDeltat (days, mag).
DMDT_DT_BINS = np.hstack([0.0, np.logspace(-3.0, 3.5, num=23)])
DMDT_DM_BINS = np.hstack(
    [-1.0 * np.logspace(1, -1, num=12), 0, np.logspace(-1, 1, num=12)]
)


def feature_columns(name: str) -> tuple[str, ...]:
    """Output columns of one feature (one, except for the opt-in features)."""
    if name == "Signature":
        return _SIGNATURE_COLUMNS
    if name == "DeltamDeltat":
        return _DMDT_COLUMNS
    return (name,)
