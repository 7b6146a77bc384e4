"""
FIRST radio galaxies: a CNN against source features on the published split
==========================================================================

The FIRST radio-galaxy data set of Griese et al. (2023): 300 x 300 images of
FRI, FRII, compact and bent radio galaxies with a published train / valid /
test split. One :class:`~sklearn.model_selection.GridSearchCV` holds the
DeepShadows network (:class:`~skastro.nn.LSBGNet`, Tanoglidis et al. 2021) on
one band and :class:`~skastro.sources.SourceFeatures` into a random forest;
the published validation set chooses, the test set measures.

:class:`~skastro.nn.LSBGNet` is a binary classifier, so the four classes are
learnt one-vs-rest (:class:`~sklearn.multiclass.OneVsRestClassifier`, four
networks). To run in a few minutes on a CPU this example trains on 100
images per class, cut to the central 150 pixels (4.5 arcmin) and
area-averaged to 32 x 32 pixels; ``skastro demo --sections real --size
paper`` runs the full comparison (1,758 training images, 64 x 64 pixels,
an EfficientNet-B0 and an SVM as well), whose figures are in the user guide
(:doc:`/user_guide/real_data`). The first run downloads the data (14 MB, 201
MB once extracted) into skastro's cache.
"""

# %%
# Images and labels
# -----------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from skastro.datasets import FIRST_CLASSES, fetch_first_radio_galaxies
from skastro.nn import LSBGNet
from skastro.plotting import plot_grad_cam
from skastro.sources import SourceFeatures
from skastro.stamps import resample_flux_conserving

torch.set_num_threads(1)
SIZE, CROP = 32, 150


def stamps(images):
    """Central CROP pixels, area-averaged to SIZE pixels (values stay in [0, 1])."""
    lo = (images.shape[-1] - CROP) // 2
    cut = images[..., lo : lo + CROP, lo : lo + CROP]
    return resample_flux_conserving(cut, SIZE) / np.float32((CROP / SIZE) ** 2)


data = {}
for subset in ("train", "valid", "test"):
    bunch = fetch_first_radio_galaxies(subset=subset)
    data[subset] = (stamps(bunch.data), np.asarray(FIRST_CLASSES)[bunch.target])
rng = np.random.RandomState(0)
X_tr, y_tr = data["train"]
keep = np.sort(
    np.concatenate(
        [rng.permutation(np.flatnonzero(y_tr == c))[:100] for c in FIRST_CLASSES]
    )
)
X_tr, y_tr = X_tr[keep], y_tr[keep]
(X_va, y_va), (X_te, y_te) = data["valid"], data["test"]
print({k: v[0].shape for k, v in data.items()})

# %%
# One search, two kinds of model
# ------------------------------
# ``SourceFeatures`` on one band: ellipticity, MAG_AUTO, three surface
# brightnesses and the half-light radius of the central source (the images
# are 8-bit, so its "magnitudes" are on an arbitrary scale).
cnn = OneVsRestClassifier(
    LSBGNet(
        module__in_channels=1,
        module__image_size=SIZE,
        module__bn_momentum=0.1,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        l2_conv=1e-4,
        l2_dense=1e-4,
        batch_size=32,
        max_epochs=8,
        random_state=0,
    )
)
features = SourceFeatures(
    bands=("radio",), pixel_scale=1.8 * CROP / SIZE, zero_point=0.0, include_radius=True
)
pipe = Pipeline([("features", "passthrough"), ("clf", cnn)])
grid = [
    {"clf": [cnn]},
    {
        "features": [features],
        "clf": [
            RandomForestClassifier(
                n_estimators=300, class_weight="balanced", random_state=0
            )
        ],
        "clf__min_samples_leaf": [1, 3],
    },
]
split = PredefinedSplit(np.r_[np.full(len(y_tr), -1), np.zeros(len(y_va), int)])
search = GridSearchCV(pipe, grid, cv=split, refit=False).fit(
    np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va])
)
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"]
):
    print(
        f"valid accuracy {score:.3f}: {type(params['clf']).__name__} "
        f"{ {k: v for k, v in params.items() if k != 'clf' and k != 'features'} }"
    )

# %%
# Test accuracy of each kind, trained on the training set
# -------------------------------------------------------
from sklearn.base import clone
from sklearn.metrics import accuracy_score, recall_score

scores = search.cv_results_["mean_test_score"]
best_forest = max(range(1, len(scores)), key=lambda i: scores[i])
models = {
    "LSBGNet (one-vs-rest)": clone(pipe).set_params(**search.cv_results_["params"][0]),
    "SourceFeatures -> forest": clone(pipe).set_params(
        **search.cv_results_["params"][best_forest]
    ),
}
for name, model in models.items():
    pred = model.fit(X_tr, y_tr).predict(X_te)
    recall = recall_score(y_te, pred, labels=list(FIRST_CLASSES), average=None)
    print(
        f"{name:25s} test accuracy {accuracy_score(y_te, pred):.3f}; recall "
        + ", ".join(f"{c} {r:.2f}" for c, r in zip(FIRST_CLASSES, recall))
    )

# %%
# Where the network looks
# -----------------------
# Grad-CAM (Selvaraju et al. 2017) of the one-vs-rest network of the
# predicted class, on two test images of each class.
ovr = models["LSBGNet (one-vs-rest)"][-1]
pred = ovr.predict(X_te)
picks = [i for c in FIRST_CLASSES for i in np.flatnonzero(y_te == c)[:2]]
cams = np.stack(
    [
        ovr.estimators_[int(np.flatnonzero(ovr.classes_ == pred[i])[0])].grad_cam(
            X_te[i : i + 1]
        )[0]
        for i in picks
    ]
)
fig = plot_grad_cam(
    np.repeat(X_te[picks], 3, axis=1),  # one band, shown in grey
    cams,
    titles=[f"{y_te[i]} -> {pred[i]}" for i in picks],
    ncols=4,
)
plt.show()
