"""
Classifying image sequences: SequenceRCNN against a light-curve forest
=======================================================================

Carrasco-Davis et al. (2019) classify HiTS transients and variables
directly from sequences of 21x21 difference-free stamps with a recurrent
convolutional network (RCNN), and compare it with a random forest on FATS
features of light curves measured on the same stamps. This example runs a
reduced version of that comparison on simulated HiTS-like sequences:

1. one :class:`~sklearn.model_selection.GridSearchCV` whose two candidates
   are :class:`~skastro.nn.SequenceRCNN` and
   ``LightCurveExtractor -> FATSFeatures -> RandomForest``, on the same folds;
2. the class probabilities after every new epoch, in batch and streaming;
3. adapting to a shifted survey by fine-tuning on 10 sequences per class.

The network here is smaller than the seed's (8 filters instead of 64) and
trained for seconds instead of GPU hours, so the accuracies are far below the
seed's; ``skastro demo --size paper`` runs the full-size comparison.
"""

# %%
# Simulated sequences
# -------------------
# Seven classes, 5 to 22 epochs each, stamps in ADU with the sky; the
# per-epoch sky and zero point travel in the same SliceDict.
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from skastro import recipes
from skastro.datasets import HITS_CLASSES, make_hits_sequences
from skastro.exceptions import LightCurveWarning

torch.set_num_threads(2)
# light curves of very few points give NaN FATS features (the forest copes)
warnings.simplefilter("ignore", LightCurveWarning)
X, y = make_hits_sequences(20, return_X_y=True, random_state=0)
idx_train, idx_test = train_test_split(
    np.arange(len(y)), test_size=0.25, stratify=y, random_state=0
)
X_train, y_train, X_test, y_test = X[idx_train], y[idx_train], X[idx_test], y[idx_test]

fig, axes = plt.subplots(1, 6, figsize=(9, 1.8))
i = int(np.flatnonzero(y == HITS_CLASSES.index("SN"))[0])
for t, ax in enumerate(axes):
    ax.imshow(X["stamps"][i, t], origin="lower", cmap="gray")
    ax.set_title(f"MJD {X['mjd'][i, t] - X['mjd'][i, 0]:.1f}", fontsize=7)
    ax.axis("off")
fig.suptitle("a simulated supernova, first six epochs")

# %%
# One grid search, two candidates, the same folds
# -----------------------------------------------
# the papers' set-ups (skastro.recipes): the RCNN of Carrasco-Davis et al.
# (2019) at its "small" size (batch renormalisation from the first step), and
# their light-curve forest (optimal photometry -> 47 FATS features -> 25 trees)
rcnn = recipes.hits_rcnn(
    network="small",
    max_epochs=6,
    batch_size=32,
    lr=2e-3,
    train_split=None,
    random_state=0,
    verbose=0,
)
forest = recipes.hits_forest(random_state=0)
search = GridSearchCV(
    Pipeline([("model", rcnn)]),
    param_grid=[{"model": [rcnn]}, {"model": [forest]}],
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    scoring="accuracy",
)
search.fit(X_train, y_train)
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"]
):
    print(f"{type(params['model']).__name__:>14}: CV accuracy {score:.3f}")

model_rcnn = rcnn.fit(X_train, y_train)
model_rf = forest.fit(X_train, y_train)
print(
    f"test accuracy: RCNN {model_rcnn.score(X_test, y_test):.3f}, "
    f"RF {model_rf.score(X_test, y_test):.3f}"
)

# %%
# Probabilities after every new epoch, batch and streaming
# --------------------------------------------------------
# ``predict_proba_steps`` gives the class probabilities after each epoch
# (NaN before the first window of three). A :class:`~skastro.nn.SequenceStream`
# gives the same numbers one image at a time, as an alert broker would.
steps = model_rcnn.predict_proba_steps(X_test[:1])[0]
stream = model_rcnn.stream()
valid = np.flatnonzero(X_test["mask"][0])
streamed = np.array(
    [
        stream.update(
            X_test["stamps"][0, t],
            X_test["mjd"][0, t],
            sky=X_test["sky"][0, t],
            zero_point=X_test["zero_point"][0, t],
        )
        for t in valid
    ]
)
print(
    "stream == batch:", np.allclose(streamed, steps[valid], atol=1e-5, equal_nan=True)
)
fig, ax = plt.subplots(figsize=(6, 3))
for c, name in enumerate(HITS_CLASSES):
    ax.plot(valid + 1, streamed[:, c], marker="o", ms=3, label=name)
ax.set_xlabel("epochs seen")
ax.set_ylabel("probability")
ax.set_title(f"true class: {HITS_CLASSES[y_test[0]]}")
ax.legend(fontsize=7, ncol=4)

# %%
# A shifted survey: fine-tuning on 10 sequences per class
# -------------------------------------------------------
# ``domain="real"`` changes the PSF shape, sky, zero points and cadence, adds
# calibration errors and cosmic rays, and changes the eclipsing-binary and
# supernova populations. The RCNN is fine-tuned on 10 sequences per class,
# each batch mixing them with replayed simulated training sequences
# (``replay``; ``fine_tune`` keeps the estimator clone-able and picklable);
# the forest is retrained with those 10 per class copied 100 times, as in
# the seed.
Xr, yr = make_hits_sequences(14, domain="real", return_X_y=True, random_state=1)
ft = np.concatenate([np.flatnonzero(yr == c)[:10] for c in range(7)])
rest = np.setdiff1d(np.arange(len(yr)), ft)
before = balanced_accuracy_score(yr[rest], model_rcnn.predict(Xr[rest]))
rf_before = balanced_accuracy_score(yr[rest], model_rf.predict(Xr[rest]))
model_rcnn.fine_tune(Xr[ft], yr[ft], n_iterations=15, replay=(X_train, y_train))
after = balanced_accuracy_score(yr[rest], model_rcnn.predict(Xr[rest]))
# Extraction and FATS features are computed per sequence, so copying the
# feature rows 100 times equals copying the sequences, at 1/100 of the cost.
features = model_rf[:-1]
F_aug = np.vstack(
    [features.transform(X_train), np.repeat(features.transform(Xr[ft]), 100, 0)]
)
y_aug = np.concatenate([y_train, np.repeat(yr[ft], 100)])
rf_aug = Pipeline(
    list(features.steps) + [("forest", clone(model_rf[-1]).fit(F_aug, y_aug))]
)
rf_after = balanced_accuracy_score(yr[rest], rf_aug.predict(Xr[rest]))
print(
    f"average recall, shifted domain: RCNN {before:.3f} -> {after:.3f} "
    f"fine-tuned; RF {rf_before:.3f} -> {rf_after:.3f} augmented"
)
