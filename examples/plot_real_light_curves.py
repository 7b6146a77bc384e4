"""
Variable stars of real surveys: ASAS classes and MACHO periods
==============================================================

Two public data sets of survey light curves that skastro did not simulate:
the ASAS training set of Richards et al. (2012) and the MACHO example curves
of Jamal & Bloom (2020). On ASAS, :class:`~skastro.lightcurves.FATSFeatures`
and the features of the ``light-curve`` package go into the *same* random
forest, tuned by a :class:`~sklearn.model_selection.GridSearchCV` inside
each training part of the *same* stratified folds; on MACHO, the period
``FATSFeatures`` finds is compared with the catalogue's.

This example uses the eight largest ASAS classes and 30 curves of each so
that it runs in a minute or two; ``skastro demo --sections real --size
paper`` runs the full comparison (797 curves, 22 classes), whose figures are
in the user guide (:doc:`/user_guide/real_data`). The first run downloads
the data (12 MB) into skastro's cache.
"""

# %%
# ASAS light curves
# -----------------
# :func:`~skastro.datasets.fetch_asas_variables` returns ``(time, mag, err)``
# arrays (HJD - 2450000 days, V mag) and the class names.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from skastro.datasets import fetch_asas_variables, fetch_macho_variables
from skastro.lightcurves import FATSFeatures

asas = fetch_asas_variables(min_class_size=5)
y_all = np.asarray(asas.target)
largest = [
    c
    for c, _ in sorted(
        ((c, (y_all == c).sum()) for c in asas.target_names), key=lambda t: -t[1]
    )[:8]
]
rng = np.random.RandomState(0)
keep = np.sort(
    np.concatenate([rng.permutation(np.flatnonzero(y_all == c))[:30] for c in largest])
)
curves = [asas.data[i] for i in keep]
y = y_all[keep]
print(f"{len(curves)} curves, classes: {', '.join(largest)}")

# %%
# Two feature sets
# ----------------
# FATSFeatures' default set is 59 columns. The ``light-curve`` baseline is 23
# statistics and the best Lomb-Scargle period; its periodogram gets an
# explicit grid up to 20 cycles/day, because the package's default stops at
# the curve's *average* Nyquist frequency (no period below ~13 days on a
# 500-point curve spread over 9 years).
import light_curve

fats = FATSFeatures()
table_fats = fats.fit_transform(curves)

extractor = light_curve.Extractor(
    light_curve.Amplitude(),
    light_curve.AndersonDarlingNormal(),
    light_curve.BeyondNStd(1.0),
    light_curve.Cusum(),
    light_curve.Eta(),
    light_curve.EtaE(),
    light_curve.ExcessVariance(),
    light_curve.InterPercentileRange(0.25),
    light_curve.Kurtosis(),
    light_curve.LinearTrend(),
    light_curve.MagnitudePercentageRatio(0.4, 0.05),
    light_curve.MaximumSlope(),
    light_curve.Mean(),
    light_curve.Median(),
    light_curve.MedianAbsoluteDeviation(),
    light_curve.MedianBufferRangePercentage(0.1),
    light_curve.PercentAmplitude(),
    light_curve.PercentDifferenceMagnitudePercentile(0.05),
    light_curve.ReducedChi2(),
    light_curve.Skew(),
    light_curve.StandardDeviation(),
    light_curve.StetsonK(),
    light_curve.WeightedMean(),
    light_curve.Periodogram(
        peaks=1, freqs=np.linspace(0, 2 * np.pi * 20.0, 2**18 + 1), fast=True
    ),
)
table_lc = extractor.many(
    [(t, m, 1 / e**2) for t, m, e in curves],
    sorted=True,
    n_jobs=1,
    fill_value=np.nan,
)
print(f"FATSFeatures: {table_fats.shape[1]} columns, light-curve: {table_lc.shape[1]}")

# %%
# The same forest, tuned inside the same folds
# --------------------------------------------
cv = StratifiedKFold(5, shuffle=True, random_state=0)
forest = Pipeline(
    [
        ("impute", SimpleImputer(strategy="median")),
        ("forest", RandomForestClassifier(n_estimators=300, random_state=0)),
    ]
)
grid = {
    "forest__max_features": ["sqrt", 0.3],
    "forest__class_weight": [None, "balanced_subsample"],
}
# The grid search runs inside each training part of the outer folds (nested
# cross-validation), so the out-of-fold accuracy is not selected on the
# folds that measure it.
inner = StratifiedKFold(3, shuffle=True, random_state=0)
predictions = {}
for name, table in (("FATSFeatures", table_fats), ("light-curve", table_lc)):
    search = GridSearchCV(forest, grid, cv=inner)
    predictions[name] = cross_val_predict(search, table, y, cv=cv)
    print(f"{name:13s} nested 5-fold accuracy {np.mean(predictions[name] == y):.3f}")

# %%
# Which classes are confused
# --------------------------
fig, ax = plt.subplots(figsize=(6.5, 6))
ConfusionMatrixDisplay.from_predictions(
    y,
    predictions["FATSFeatures"],
    normalize="true",
    values_format=".1f",
    xticks_rotation="vertical",
    colorbar=False,
    ax=ax,
)
ax.set_title("ASAS, FATSFeatures -> tuned forest (out-of-fold)")
fig.tight_layout()

# %%
# MACHO periods against the catalogue
# -----------------------------------
# 15 stars in two bands; ``-99`` marks missing values in the published files
# (the loader drops them). Eclipsing binaries are found at half their period,
# as by every Lomb-Scargle search: two eclipses per orbit.
macho = fetch_macho_variables()
period = FATSFeatures(features=["PeriodLS"]).fit_transform(macho.data)[:, 0]
ratio = period / macho.period
print(f"within 1% of the catalogue: {np.mean(np.abs(ratio - 1) < 0.01):.0%}")
for i in np.flatnonzero(np.abs(ratio - 1) >= 0.01):
    print(
        f"  {macho.ids[i]} ({macho.target.iloc[i]}): {period[i]:.4f} d, "
        f"catalogue {macho.period[i]:.4f} d"
    )

curve = macho.data[macho.data["id"] == "1.3442.1051.R"]
phase = (curve["time"] / period[list(macho.ids).index("1.3442.1051.R")]) % 1
fig, ax = plt.subplots(figsize=(5, 3))
ax.errorbar(phase, curve["mag"], curve["err"], fmt=".", ms=2, lw=0.5)
ax.invert_yaxis()
ax.set(
    xlabel="phase",
    ylabel="MACHO R (instrumental mag)",
    title="RR Lyrae 1.3442.1051, folded at PeriodLS",
)
fig.tight_layout()
plt.show()
