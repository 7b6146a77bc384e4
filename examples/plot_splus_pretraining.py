"""
=====================================================================
Self-supervised magnitude pretraining for star/galaxy/quasar stamps
=====================================================================

Martinazzo et al. (2021) pretrains a VGG16 network to predict the 12
S-PLUS magnitudes of *unlabelled* objects from their 32×32 stamps, then
classifies stars, galaxies and quasars from a few labelled ones. This example
runs that study end to end on simulated fields, at a size that fits a laptop
CPU in a few minutes:

1. the data sets: an unlabelled pool and a fainter labelled set, cut from FITS
   files by :class:`~skastro.stamps.FITSCropper` (3·FWHM rule) and calibrated
   by :class:`~skastro.stamps.Calibrator`, in 12 bands, 5 broad bands and RGB;
2. pretraining (:class:`~skastro.nn.MagnitudePretrainer`): MAE per band for
   12, 5 and 3 input channels;
3. classification (:class:`~skastro.nn.PretrainedStampClassifier`): frozen
   against fine-tuned backbones, and 12 bands against 5 and RGB;
4. a learning curve over nested labelled subsets: pretrained, the same
   network from scratch, and a random forest on catalog magnitudes;
5. accuracy against r magnitude and FWHM (slices of equal size, §5.2);
6. a t-SNE map of the learned representation coloured by r magnitude.

The network is VGG16 with a filter multiplier ``module__width`` (1.0 is the
paper's network; 1/8 here, so that a CPU trains it in seconds) and fewer
epochs with larger learning rates than the paper's 100–300 epochs at 1e-4.
Set the environment variable ``SKASTRO_EXAMPLE_SIZE=large`` for a bigger run
whose learning curve averages 3 seeds (the numbers in the user guide,
:doc:`/user_guide/pretraining`; a pool of 20,000 stamps, about 35 minutes
on one CPU core).
"""

# %%
# The data sets
# -------------
# :func:`~skastro.datasets.make_splus_stamps` simulates 12-band fields
# (FITS files), drops flagged objects, draws the labelled set (44/42/14 %
# stars, galaxies, quasars) and an unlabelled pool of objects with r-band
# errors below 0.05 mag, which makes the pool brighter (Martinazzo et al. 2021, §4.2).
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.manifold import TSNE
from sklearn.model_selection import train_test_split

from skastro import recipes
from skastro.datasets import SPLUS_BANDS, SPLUS_BROAD_BANDS, make_splus_stamps

torch.set_num_threads(1)
LARGE = os.environ.get("SKASTRO_EXAMPLE_SIZE", "small") == "large"
N_POOL, N_LABELLED = (20000, 1200) if LARGE else (600, 450)
PRE_EPOCHS = 5 if LARGE else 6
CLF_EPOCHS, TOP_EPOCHS = (30, 10) if LARGE else (16, 6)
SUBSETS = (100, 200, 400) if LARGE else (100, 200)
# the networks: the "short" schedules of skastro.recipes, 1/8 of VGG16's filters
WIDTH = 0.125
t_start = time.perf_counter()

data = make_splus_stamps(
    n_pool=N_POOL, n_labelled=N_LABELLED, n_per_field=1000, random_state=0
)
pool, lab = data.pool, data.labelled
# Objects near a field's edge have NaN (off-image) pixels in some stamps; the
# networks refuse NaN (``nan_policy="raise"``), so those pixels are read as 0
# here, once, as ``nan_policy="fill"`` would at every fit.
n_nan = sum(
    int(np.isnan(part.stamps).any(axis=(1, 2, 3)).sum()) for part in (pool, lab)
)
for part in (pool, lab):
    for key in ("stamps", "broad", "rgb"):
        part[key] = np.nan_to_num(part[key])
print(
    f"pool: {len(pool.catalog)} objects, mean r = {pool.catalog.r.mean():.2f}; "
    f"labelled: {len(lab.catalog)}, mean r = {lab.catalog.r.mean():.2f}; "
    f"{100 * pool.magnitudes.isna().any(axis=1).mean():.0f} % of the pool miss a band; "
    f"{n_nan} stamps with NaN pixels"
)

fig, ax = plt.subplots(figsize=(5, 3))
bins = np.linspace(13, 22, 30)
ax.hist(pool.catalog.r, bins, density=True, alpha=0.6, label="pool $X_u$")
ax.hist(lab.catalog.r, bins, density=True, alpha=0.6, label="labelled $X$")
ax.set_xlabel("r (AB mag)")
ax.legend()
ax.set_title("r-magnitude distributions (cf. Martinazzo et al. 2021, Fig. 4.1)")
fig.tight_layout()

# %%
# Pretraining on magnitudes: 12, 5 and 3 channels
# -----------------------------------------------
# 12-band and RGB stamps predict all 12 magnitudes, the 5 broad bands their
# own 5 (§5.1). Missing magnitudes (NaN) are masked in the loss. The MAE is
# measured on a held-out tenth of the pool, per band, in magnitudes. The
# pretrainer is :func:`~skastro.recipes.splus_pretrainer` with its short
# schedule (dense layer of 256, Adam η = 1e-3, batches of 16).
views = {"12 bands": "stamps", "5 bands": "broad", "RGB": "rgb"}
broad_idx = [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]
pool_tr, pool_te = train_test_split(np.arange(N_POOL), test_size=0.1, random_state=0)
mags = pool.magnitudes.to_numpy()
pretrainers, mae = {}, {}
for name, key in views.items():
    X = pool[key]
    y = mags[:, broad_idx] if name == "5 bands" else mags
    pre = recipes.splus_pretrainer(
        width=WIDTH, schedule="short", max_epochs=PRE_EPOCHS, verbose=0, random_state=0
    )
    pre.fit(X[pool_tr], y[pool_tr])
    err = np.abs(pre.predict(X[pool_te]) - y[pool_te])
    mae[name] = np.nanmean(err, axis=0)
    pretrainers[name] = pre
    on_broad = err if name == "5 bands" else err[:, broad_idx]
    print(
        f"{name:9s} pretraining MAE {np.nanmean(err):.3f} mag "
        f"(on the 5 broad bands: {np.nanmean(on_broad):.3f})"
    )

# %%
# The catalog magnitudes the network learns are measurements with their own
# errors, so no network can bring the MAE against them to zero. The simulated
# catalog also keeps each object's true total r magnitude (``r_true``): the
# MAE of the catalog's r against it, on the same held-out objects, is the
# noise floor of the pretext task in r.
r_idx = SPLUS_BANDS.index("r")
held_out = pool.catalog.iloc[pool_te]
floor = np.nanmean(np.abs(held_out.r - held_out.r_true))
print(
    f"noise floor in r: catalog r against true r, MAE {floor:.3f} mag "
    f"(12-band network's r MAE against catalog r: {mae['12 bands'][r_idx]:.3f})"
)

fig, ax = plt.subplots(figsize=(7, 3))
x = np.arange(12)
for k, name in enumerate(views):
    pos = np.array(broad_idx) if name == "5 bands" else x
    ax.bar(pos + 0.27 * (k - 1), mae[name], width=0.27, label=name)
ax.plot(r_idx, floor, "k_", markersize=18, mew=2, label="catalog r vs true r")
ax.set_xticks(x, SPLUS_BANDS, rotation=45)
ax.set_ylabel("MAE (mag)")
ax.set_title("Pretraining error per band (cf. Martinazzo et al. 2021, Tables 5.1-5.2)")
ax.legend()
fig.tight_layout()

# %%
# Frozen against fine-tuned classifiers
# -------------------------------------
# The classifier keeps the pretrained backbone and dense layer and adds an
# output layer, with class weights inversely proportional to class frequency.
# ``"frozen"`` trains the top only; ``"finetune"`` trains the top with the
# backbone frozen, then every layer at a tenth of the learning rate (skorch's
# ``Freezer``, ``Unfreezer`` and ``LRScheduler`` callbacks). The classifier is
# :func:`~skastro.recipes.splus_classifier` with its short schedule (η = 1e-3,
# then 1e-4 for the whole network; batches of 16); the baseline is
# :func:`~skastro.recipes.splus_magnitude_forest`, 300 trees on the catalog
# magnitudes.
y_lab = lab.target
tr, te = train_test_split(
    np.arange(N_LABELLED), test_size=0.3, stratify=y_lab, random_state=0
)
CLF = dict(schedule="short", warmup_epochs=TOP_EPOCHS, max_epochs=CLF_EPOCHS, verbose=0)
accuracy, classifiers = {}, {}
for name, key in views.items():
    for strategy in ("frozen", "finetune"):
        if strategy == "frozen" and name != "12 bands" and not LARGE:
            continue
        clf = recipes.splus_classifier(
            pretrainers[name],
            freeze={"frozen": "head", "finetune": "two_phase"}[strategy],
            random_state=0,
            **CLF,
        ).fit(lab[key][tr], y_lab[tr])
        accuracy[name, strategy] = clf.score(lab[key][te], y_lab[te])
        classifiers[name, strategy] = clf
        print(f"{name:9s} {strategy:9s} accuracy {accuracy[name, strategy]:.3f}")

rf_features = lab.magnitudes.to_numpy()
rf = recipes.splus_magnitude_forest(random_state=0)
rf.fit(rf_features[tr], y_lab[tr])
print(
    f"random forest on the 12 catalog magnitudes: {rf.score(rf_features[te], y_lab[te]):.3f}"
)

# %%
# Per-class recall of the fine-tuned 12-band classifier: quasars are the
# hardest class in the paper (recall 0.89 against 0.93–0.95).
from sklearn.metrics import classification_report  # noqa: E402

best = classifiers["12 bands", "finetune"]
print(
    classification_report(
        y_lab[te], best.predict(lab.stamps[te]), digits=3, zero_division=0
    )
)

# %%
# A learning curve over nested labelled subsets
# ---------------------------------------------
# Nested subsets of the labelled training set (each contains the previous),
# for the pretrained and fine-tuned network, the same network trained from
# scratch, and a random forest on catalog magnitudes (§5.2). A single run at
# these sizes scatters by about ±0.05, so, as the seed does (three runs per
# scenario), each scenario is repeated with several seeds: the seed sets the
# order of the training objects (hence the subsets) and the ``random_state``
# of the networks and the forest. The curve shows mean ± standard deviation.
#
# The network from scratch starts from torchvision's VGG initialisation
# (``module__init="vgg"``): with PyTorch's default one, the signal shrinks
# through the 13 plain convolutions and a network trained from scratch on a
# few hundred labels often never leaves the chance loss, which would flatter
# the pretrained network. (The pretrainer keeps the default, under which it
# reached a lower MAE.)
SEEDS = (0, 1, 2) if LARGE else (0,)
sizes = [s for s in SUBSETS if s < len(tr)] + [len(tr)]


def learning_curve_run(seed):
    """Test accuracy of the three models on nested subsets for one seed."""
    order = np.random.default_rng(seed).permutation(tr)
    run = {"pretrained, fine-tuned": [], "from scratch": [], "RF on magnitudes": []}
    for n in sizes:
        sub = order[:n]
        pre_clf = recipes.splus_classifier(
            pretrainers["12 bands"], freeze="two_phase", random_state=seed, **CLF
        ).fit(lab.stamps[sub], y_lab[sub])
        scratch = recipes.splus_classifier(  # no pretrainer: VGG initialisation
            freeze="none",
            module__width=WIDTH,
            module__n_hidden=256,
            random_state=seed,
            **CLF,
        ).fit(lab.stamps[sub], y_lab[sub])
        forest = recipes.splus_magnitude_forest(random_state=seed)
        forest.fit(rf_features[sub], y_lab[sub])
        run["pretrained, fine-tuned"].append(pre_clf.score(lab.stamps[te], y_lab[te]))
        run["from scratch"].append(scratch.score(lab.stamps[te], y_lab[te]))
        run["RF on magnitudes"].append(forest.score(rf_features[te], y_lab[te]))
        print(f"seed {seed}, {n} labels:", {k: round(v[-1], 3) for k, v in run.items()})
    return run


runs = [learning_curve_run(seed) for seed in SEEDS]
curve = {label: np.array([run[label] for run in runs]) for label in runs[0]}
spread = len(SEEDS) > 1  # a standard deviation needs two seeds or more
print(f"test accuracy, mean{' ± sd' if spread else ''} over {len(SEEDS)} seed(s):")
for i, n in enumerate(sizes):
    cells = [
        f"{label} {acc[:, i].mean():.3f}"
        + (f" ± {acc[:, i].std(ddof=1):.3f}" if spread else "")
        for label, acc in curve.items()
    ]
    print(f"{n:5d} labels: " + "; ".join(cells))

fig, ax = plt.subplots(figsize=(5, 3))
for label, acc in curve.items():
    ax.errorbar(
        sizes,
        acc.mean(axis=0),
        yerr=acc.std(axis=0, ddof=1) if spread else None,
        fmt="o-",
        capsize=3,
        label=label,
    )
ax.set_xlabel("labelled training objects")
ax.set_ylabel("test accuracy" + (f" (mean ± sd, {len(SEEDS)} seeds)" if spread else ""))
ax.set_title("Learning curve (cf. Martinazzo et al. 2021, Fig. 5.6)")
ax.legend()
fig.tight_layout()

# %%
# Accuracy against brightness and size
# ------------------------------------
# The test set sorted by r magnitude (or FWHM) and cut into slices of equal
# size; accuracy per slice (Martinazzo et al. 2021, Figs. 5.8–5.9).
slice_size = 50 if not LARGE else 100


def sliced_accuracy(values, correct, size):
    order = np.argsort(values)
    chunks = [order[i : i + size] for i in range(0, len(order) - size + 1, size)]
    return (
        np.array([np.median(values[c]) for c in chunks]),
        np.array([correct[c].mean() for c in chunks]),
    )


fig, axes = plt.subplots(1, 2, figsize=(8, 3))
test_cat = lab.catalog.iloc[te]
for name, key in views.items():
    correct = classifiers[name, "finetune"].predict(lab[key][te]) == y_lab[te]
    for ax, column in zip(axes, ("r", "fwhm")):
        centre, acc = sliced_accuracy(test_cat[column].to_numpy(), correct, slice_size)
        ax.plot(centre, acc, "o-", label=name)
axes[0].set_xlabel("r (AB mag)")
axes[1].set_xlabel("FWHM (pixels)")
axes[0].set_ylabel("accuracy")
axes[0].legend()
fig.suptitle("Fine-tuned accuracy against r magnitude and FWHM")
fig.tight_layout()

# %%
# The learned representation
# --------------------------
# :meth:`~skastro.nn.MagnitudePretrainer.transform` returns the dense-layer
# activations; a t-SNE map of the pool's held-out objects, coloured by r
# magnitude (Martinazzo et al. 2021, Fig. 5.2).
features = pretrainers["12 bands"].transform(pool.stamps[pool_te])
embedding = TSNE(
    perplexity=min(30, len(pool_te) - 1), init="pca", random_state=0
).fit_transform(features)
fig, ax = plt.subplots(figsize=(4.5, 3.8))
sc = ax.scatter(*embedding.T, c=pool.catalog.r.to_numpy()[pool_te], s=8, cmap="viridis")
fig.colorbar(sc, label="r (AB mag)")
ax.set_title("t-SNE of the 12-band representation")
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()
print(f"total time {time.perf_counter() - t_start:.0f} s")
if os.environ.get("SKASTRO_EXAMPLE_FIGDIR"):  # keep the figures (docs)
    for num in plt.get_fignums():
        plt.figure(num).savefig(
            os.path.join(
                os.environ["SKASTRO_EXAMPLE_FIGDIR"], f"pretraining_{num}.png"
            ),
            dpi=90,
        )
