"""
Transfer backbones, similarity search and anomaly ranking
=========================================================

Martinazzo, Espadoto & Hirata (2020) compares five ImageNet architectures as feature extractors under a
new head, trained from scratch or from pretrained weights; Cavuoti et al. (ULISSE)
uses a frozen network's features for query-by-example searches and for
ranking unusual images. No weights can be downloaded here, so the
"pretrained" weights are our own: a :class:`~skastro.nn.MagnitudePretrainer`
(VGG16) trained on unlabelled simulated S-PLUS stamps (Martinazzo et al. 2021), handed to
the transfer classifier and to the embedder.

On the simulated star/galaxy/quasar stamps this example

1. compares the five backbones from scratch, and VGG16 from the pretrained
   weights (two-phase fine-tuning), in **one** ``GridSearchCV``;
2. measures precision@k of a similarity search for the rare class (quasars)
   in the feature spaces of the pretrained VGG16 and of a randomly
   initialised EfficientNet-B0;
3. injects instrumental artifacts into 3 % of the stamps and checks how many
   an anomaly ranking puts first.

The sizes here keep the run to a few minutes on a laptop CPU; the networks
are far from converged, so read the numbers as a demonstration of the
pipeline, not of the architectures' merit.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

from skastro import recipes
from skastro.datasets import inject_stamp_artifacts, make_splus_stamps
from skastro.neighbors import SimilaritySearch, precision_at_k, rank_anomalies
from skastro.nn import ImageEmbedder
from skastro.plotting import plot_stamp_gallery

torch.set_num_threads(2)
t_start = time.perf_counter()
data = make_splus_stamps(n_pool=400, n_labelled=360, random_state=0)
pool, lab = data.pool, data.labelled
# Objects near a field's edge have NaN (off-image) pixels in some stamps; the
# networks refuse NaN (``nan_policy="raise"``), so those pixels are read as 0
# here, once, as ``nan_policy="fill"`` would at every fit.
n_nan = sum(
    int(np.isnan(part.stamps).any(axis=(1, 2, 3)).sum()) for part in (pool, lab)
)
for part in (pool, lab):
    part["stamps"] = np.nan_to_num(part.stamps)
print(
    pool.stamps.shape,
    lab.stamps.shape,
    dict(zip(*np.unique(lab.target, return_counts=True))),
    f"{n_nan} stamps with NaN pixels",
)

# %%
# Astronomy-pretrained weights
# ----------------------------
# The pretext task of Martinazzo et al. (2021): predict the 12 magnitudes of unlabelled
# objects from their stamps (:func:`~skastro.recipes.splus_pretrainer`, short
# schedule, with the paper's dense layer of 1024). Only full-width VGG16
# weights fit torchvision's VGG16, so the pretrainer keeps ``width=1.0``.
pre = recipes.splus_pretrainer(
    schedule="short",
    module__n_hidden=1024,
    max_epochs=4,
    train_split=None,
    verbose=0,
    random_state=0,
).fit(pool.stamps, pool.magnitudes.to_numpy())
weights = pre.pretrained_weights()  # what a grid search can clone safely
print(f"pretraining MAE (scaled): {pre.history[-1, 'train_loss']:.4f}")

# %%
# Five backbones and the pretrained VGG16 in one grid search
# -----------------------------------------------------------
# The candidates are :func:`~skastro.recipes.transfer_classifier` (the
# paper's head and Adam, balanced class weights) with a smaller head (256
# units) and 6 epochs. From scratch every layer trains; from the pretrained
# weights the head trains alone for two epochs, then the last 7 backbone
# layers join (Martinazzo, Espadoto & Hirata's (2020) two-phase
# fine-tuning). Same folds for every candidate. The recipe resizes every
# backbone's input to :data:`~skastro.recipes.TRANSFER_INPUT_SIZE` (75 pixels,
# InceptionV3's smallest) so that the five see equal inputs; that costs about
# five times the compute of 32×32 stamps, so here each backbone takes the
# stamps at its own smallest input instead (``input_size="auto"``: 32 pixels,
# 75 for InceptionV3), which keeps the run to a few minutes.
y = np.asarray(lab.target)
train, test = train_test_split(
    np.arange(len(y)), test_size=0.33, stratify=y, random_state=0
)
base = recipes.transfer_classifier(
    input_size="auto",
    max_epochs=6,
    batch_size=16,
    module__n_hidden=256,
    train_split=None,
    verbose=0,
    random_state=0,
)
grid = GridSearchCV(
    base,
    [
        {"backbone": list(recipes.TRANSFER_BACKBONES), "weights": [None]},
        {
            "backbone": ["vgg16"],
            "weights": [weights],
            "freeze": ["two_phase"],
            "warmup_epochs": [2],
        },
    ],
    cv=StratifiedKFold(2, shuffle=True, random_state=0),
    scoring="balanced_accuracy",
)
t0 = time.perf_counter()
grid.fit(lab.stamps[train], y[train])
res = pd.DataFrame(grid.cv_results_)
table = pd.DataFrame(
    {
        "backbone": res.param_backbone,
        "start": np.where(res.param_weights.isna(), "scratch", "pretrained (ours)"),
        "balanced accuracy (CV)": res.mean_test_score.round(3),
        "fit time (s)": res.mean_fit_time.round(1),
    }
)
print(table.to_string(index=False))
print(
    f"best: {grid.best_params_['backbone']}, test balanced accuracy "
    f"{grid.score(lab.stamps[test], y[test]):.3f}  ({time.perf_counter() - t0:.0f} s)"
)

# %%
# Query by example: the rare class
# --------------------------------
# Each quasar of the labelled set queries the rest; precision@10 is the
# fraction of its 10 nearest neighbours that are quasars too (chance: the
# quasar fraction). Feature spaces: the pretrained VGG16 (no label was used
# to make it), a randomly initialised EfficientNet-B0 (1280 features, the
# architecture of Cavuoti et al. (ULISSE)), the hidden layer of the grid search's best
# classifier (which did see labels), and the catalog colours as a non-image
# reference. The magnitude pretext task teaches brightness more than colour,
# so its neighbours share a magnitude more than a class.
k = 10
qso = np.flatnonzero(y == "QSO")
spaces = {
    "VGG16, our pretrained weights": ImageEmbedder("vgg16", weights=weights),
    "EfficientNet-B0, random weights": ImageEmbedder("efficientnet_b0", random_state=0),
}
rows = []
for name, embedder in spaces.items():
    search = SimilaritySearch(embedder, n_neighbors=k + 1).fit(lab.stamps, y)
    _, idx = search.kneighbors(lab.stamps[qso])
    rows.append((name, precision_at_k(y[qso], y[idx[:, 1:]])))  # drop the query
# the best grid-search model's hidden layer (trained with the labels of the
# training part; the quasars queried here include test objects)
search = SimilaritySearch(grid.best_estimator_, n_neighbors=k + 1, prefit=True)
_, idx = search.fit(lab.stamps, y).kneighbors(lab.stamps[qso])
rows.append(
    (
        "best classifier's hidden layer (supervised)",
        precision_at_k(y[qso], y[idx[:, 1:]]),
    )
)
mags = lab.magnitudes.fillna(lab.magnitudes.max()).to_numpy()
colours = np.diff(mags, axis=1)
search = SimilaritySearch(n_neighbors=k + 1, metric="euclidean").fit(colours, y)
_, idx = search.kneighbors(colours[qso])
rows.append(("catalog colours (11 differences)", precision_at_k(y[qso], y[idx[:, 1:]])))
rows.append(("chance", float(np.mean(y == "QSO"))))
print(
    pd.DataFrame(rows, columns=["feature space", f"QSO precision@{k}"])
    .round(3)
    .to_string(index=False)
)

# %%
# Anomaly ranking finds injected artifacts
# ----------------------------------------
# Cosmic rays, satellite trails, bad columns and saturation bleeds are
# added to 3 % of the stamps; the local outlier factor ranks all stamps in
# a feature space, and the injected ones should come first. Two feature
# spaces: EfficientNet-B0 with random weights (random convolutions keep the
# local structure a defect changes) and the magnitude-pretrained VGG16
# (which learned brightness, not defects).
spoiled = inject_stamp_artifacts(lab.stamps, fraction=0.03, random_state=1)
n_bad = int(spoiled.is_artifact.sum())
rankings = {}
for name, embedder in (
    (
        "EfficientNet-B0, random weights",
        ImageEmbedder("efficientnet_b0", random_state=0),
    ),
    ("VGG16, our pretrained weights", ImageEmbedder("vgg16", weights=weights)),
):
    order, scores = rank_anomalies(
        embedder.fit_transform(spoiled.stamps), n_neighbors=20
    )
    rankings[name] = order
    print(
        f"{name}: {spoiled.is_artifact[order[:n_bad]].mean():.0%} of the top {n_bad} "
        f"are artifacts; ROC AUC {roc_auc_score(spoiled.is_artifact, scores):.3f}"
    )

top = rankings["EfficientNet-B0, random weights"][:16]
fig = plot_stamp_gallery(
    np.nan_to_num(spoiled.stamps[top]).max(axis=1),
    titles=[spoiled.kind[i] or y[i] for i in top],
    highlight=spoiled.is_artifact[top],
)
fig.suptitle(
    "most unusual stamps (EfficientNet-B0 features, maximum over bands); red: injected",
    fontsize=9,
)
plt.show()
print(f"total {time.perf_counter() - t_start:.0f} s")
