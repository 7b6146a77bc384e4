"""Demo section: HiTS-like image sequences, SequenceRCNN vs a light-curve forest.

Carrasco-Davis et al. (2019), on their protocol: sequences of 22 epochs
with the five images before the first detection of supernovae and
asteroids (:func:`simulate_protocol`); one
:class:`~sklearn.model_selection.GridSearchCV` whose candidates are
:class:`~skastro.nn.SequenceRCNN` and ``LightCurveExtractor -> FATSFeatures
-> RandomForest(25 trees, depth 15)`` (:func:`make_forest`, photometry with
the known sky and host, §3.2.3) on the same sequences and folds; accuracy
and per-class recall on a held-out test set with bootstrap intervals;
accuracy against the number of observation epochs seen on the same test
objects (:func:`skastro.metrics.accuracy_by_epochs_seen`, Fig. 4.1); and the
shifted-domain study over the paper's five real classes (no adaptation,
RCNN fine-tuned on 10 sequences per class, forest trained with those 10
per class copied 100 times).
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from typing import Any

import numpy as np

from . import DemoContext, SectionResult, save_model_for_reload

TITLE = "HiTS sequences: SequenceRCNN vs LightCurveExtractor -> FATS -> RandomForest"
STEPS = 6

#: The reduced network of the "medium" and "large" CPU runs.
_REDUCED_NET: dict[str, Any] = {
    "n_filters": 16,
    "n_hidden": 256,
    "n_lstm": 128,
    "dropout": 0.3,
    "renorm_momentum": 0.05,
    # no warm-up: the renormalisation is active from the first step, since
    # runs of a few hundred steps never leave a 5000-step warm-up
    "renorm_schedule": (0, 0, 0),
}

#: Settings per demo size. "small" runs in a few minutes on 2 CPU cores with a
#: reduced network; "paper" uses the seed's network and training (GPU hours).
SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "n_per_class": 24,
        "n_real_per_class": 20,
        "module": {
            "n_filters": 8,
            "n_hidden": 64,
            "n_lstm": 32,
            "dropout": 0.3,
            "renorm_momentum": 0.05,
            # no warm-up: runs of ~100 steps never leave a 5000-step one
            "renorm_schedule": (0, 0, 0),
        },
        "max_epochs": 8,
        "batch_size": 32,
        "lr": 1e-3,
        "cv": 3,
        "fine_tune_iterations": 40,
        "n_trials": 1,
        "rf_epochs": (3, 6, 10, 15, 22),
    },
    "medium": {  # the figures in the user guide: ~8 min on one thread
        "n_per_class": 100,
        "n_real_per_class": 30,
        "module": _REDUCED_NET,
        "max_epochs": 12,
        "batch_size": 64,
        "lr": 1e-3,
        "cv": 3,
        "fine_tune_iterations": 150,
        "n_trials": 1,
        "rf_epochs": (3, 5, 8, 12, 16, 22),
    },
    "large": {  # the CPU run of the user guide: ~75 min on one busy core
        "n_per_class": 1000,
        "n_real_per_class": 110,
        "module": _REDUCED_NET,
        "asinh_softening": 2.5,
        "max_epochs": 20,
        "batch_size": 32,
        "lr": 1e-3,
        "cv": 2,
        "fine_tune_iterations": 1000,
        "n_trials": 3,
        "rf_epochs": (3, 5, 8, 12, 16, 22),
    },
    "paper": {
        "n_per_class": 2000,
        "n_real_per_class": 110,
        "module": {},
        "max_epochs": 10,
        "batch_size": 256,
        "lr": 5e-4,
        "cv": 3,
        "fine_tune_iterations": 1000,
        "n_trials": 5,
        "rf_epochs": tuple(range(3, 23)),
    },
}

#: The seed's figures (Carrasco-Davis et al. 2019, Figs. 4.1-4.2).
SEED = {
    "sim_test_accuracy": {"RCNN": 0.953, "RF": 0.923},
    "real_average_recall": {
        "RCNN": 0.85,
        "RF": 0.88,
        "RCNN fine-tuned": 0.94,
        "RF augmented": 0.94,
    },
}


#: The five classes of the paper's real HiTS test set (§4.1, Fig. 4.2): its
#: shifted-domain average recall is over these.
REAL_CLASSES = ("SN", "RRL", "EB", "NV", "AST")

#: The paper's per-class recall of the RCNN on real HiTS data without
#: fine-tuning (§4.2, Fig. 4.5a); its simulated per-class recalls appear only
#: as confusion-matrix figures (Fig. 4.4).
SEED_REAL_RECALL_RCNN = {"SN": 0.74, "RRL": 0.95, "EB": 0.66, "NV": 1.00, "AST": 0.98}


def simulate_protocol(
    n_per_class, *, random_state, domain: str = "simulated", n_epochs=22
):
    """Sequences for the paper's comparison, with the forest's known background.

    ``make_hits_sequences`` with the paper's five pre-detection epochs
    for supernovae and asteroids (its default), 22 epochs (the paper's
    ``N_d``), and ``X["background"] = sky + host`` (float32 ADU per pixel):
    the light-curve forest's photometry subtracts the known sky and host
    galaxy, as the paper's §3.2.3 does ("the light curves are almost
    perfectly derived from the images"); the RCNN ignores that key.

    Returns
    -------
    X : SliceDict
    y : ndarray of int
    """
    from ..datasets import make_hits_sequences

    b = make_hits_sequences(
        n_per_class,
        n_epochs=n_epochs,
        domain=domain,
        return_host_images=True,
        random_state=random_state,
    )
    X = b.data
    X["background"] = (X["sky"][..., None, None] + b.host_images).astype(np.float32)
    return X, b.target


def make_forest(random_state: int):
    """The paper's light-curve forest: optimal photometry -> 47 FATS -> RF(25, 15)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from ..lightcurves import FATSFeatures, LightCurveExtractor

    return make_pipeline(
        LightCurveExtractor(),
        # Carrasco-Davis et al.'s (2019) appendix list (47 features) with
        # feets' period grid, as the paper used FATS
        FATSFeatures(features="carrasco-davis2019", period_grid="fats"),
        RandomForestClassifier(
            n_estimators=25, max_depth=15, random_state=random_state, n_jobs=1
        ),
    )


def recall_intervals(
    y_true, y_pred, labels, *, n_resamples: int = 1000, random_state: int = 0
) -> dict[str, dict[str, float]]:
    """Per-class recall with a bootstrap interval, keyed by class name."""
    from ..datasets import HITS_CLASSES
    from ..metrics import bootstrap_ci

    out = {}
    for c in labels:

        def recall_c(yt, yp, c=c):
            sel = yt == c
            return float(np.mean(yp[sel] == c)) if sel.any() else 0.0

        out[HITS_CLASSES[c]] = bootstrap_ci(
            recall_c, y_true, y_pred, n_resamples=n_resamples, random_state=random_state
        )
    return out


def forest_calibration(
    n_per_class: int = 1000,
    *,
    random_state: int = 0,
    test_size: float = 0.3,
    n_resamples: int = 1000,
    **simulator_kwargs,
) -> dict[str, Any]:
    """The light-curve forest on the simulator at 22 epochs (the calibration check).

    Simulates ``n_per_class`` sequences per class (:func:`simulate_protocol`,
    extra ``simulator_kwargs`` go to ``make_hits_sequences``), splits off
    a stratified ``test_size``, fits :func:`make_forest` and returns the test
    accuracy and per-class recalls with bootstrap intervals and the
    confusion matrix. Carrasco-Davis et al. (2019): 0.923 ± 0.002.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix
    from sklearn.model_selection import train_test_split

    from ..datasets import make_hits_sequences
    from ..metrics import bootstrap_ci

    b = make_hits_sequences(
        n_per_class,
        n_epochs=22,
        return_host_images=True,
        random_state=random_state,
        **simulator_kwargs,
    )
    X, y = b.data, b.target
    X["background"] = (X["sky"][..., None, None] + b.host_images).astype(np.float32)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y, random_state=random_state
    )
    t0 = time.process_time()
    with _quiet_nan_features():
        forest = make_forest(random_state).fit(X[idx_train], y[idx_train])
        pred = forest.predict(X[idx_test])
    y_test = y[idx_test]
    return {
        "n_train": len(idx_train),
        "n_test": len(idx_test),
        "accuracy": bootstrap_ci(
            accuracy_score,
            y_test,
            pred,
            n_resamples=n_resamples,
            random_state=random_state,
        ),
        "recall": recall_intervals(
            y_test,
            pred,
            range(7),
            n_resamples=n_resamples,
            random_state=random_state,
        ),
        "confusion": confusion_matrix(y_test, pred, labels=range(7)).tolist(),
        "cpu_seconds": time.process_time() - t0,
    }


def make_estimators(settings: dict, random_state: int, *, callbacks=None):
    """The two candidates: the RCNN and the light-curve forest.

    ``callbacks`` (e.g. skorch's ``ProgressBar``) are given to the RCNN.
    """
    from ..nn import SequenceRCNN

    rcnn = SequenceRCNN(
        **{f"module__{k}": v for k, v in settings["module"].items()},
        max_epochs=settings["max_epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        asinh_softening=settings.get("asinh_softening"),
        train_split=None,
        random_state=random_state,
        verbose=0,
        **({"callbacks": list(callbacks)} if callbacks else {}),
    )
    forest = make_forest(random_state)
    return rcnn, forest


@contextlib.contextmanager
def _quiet_nan_features():
    """Silence the NaN-feature warning of FATSFeatures.

    Short light curves (few epochs seen) give NaN FATS features, which the
    forest handles; the warning would repeat for every fit and prediction.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="FATS features are NaN")
        yield


def run_comparison(
    size: str = "small",
    *,
    random_state: int = 0,
    log=print,
    step=None,
    callbacks=None,
) -> dict[str, Any]:
    """Run the whole seed-001 comparison; return fitted models and figures.

    ``step(description)`` is called at the start of each phase (progress
    bars) and ``callbacks`` are given to the RCNN.
    """
    with _quiet_nan_features():
        return _run_comparison(
            size,
            random_state=random_state,
            log=log,
            step=step or (lambda description: None),
            callbacks=callbacks,
        )


def _run_comparison(
    size: str, *, random_state: int, log, step, callbacks
) -> dict[str, Any]:
    import torch
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline

    from ..metrics import accuracy_by_epochs_seen, bootstrap_ci

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    s = SIZES[size]
    step("simulating sequences")
    t0 = time.perf_counter()
    X, y = simulate_protocol(s["n_per_class"], random_state=random_state)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=0.25, stratify=y, random_state=random_state
    )
    X_train, y_train = X[idx_train], y[idx_train]
    X_test, y_test = X[idx_test], y[idx_test]
    log(f"simulated {len(y)} sequences in {time.perf_counter() - t0:.1f} s")

    rcnn, forest = make_estimators(s, random_state, callbacks=callbacks)
    step("grid search: RCNN, light-curve forest")
    search = GridSearchCV(
        Pipeline([("model", rcnn)]),
        param_grid=[{"model": [rcnn]}, {"model": [forest]}],
        cv=StratifiedKFold(s["cv"], shuffle=True, random_state=random_state),
        scoring="accuracy",
        refit=True,
    )
    t0 = time.perf_counter()
    search.fit(X_train, y_train)
    t_search = time.perf_counter() - t0
    names = ["SequenceRCNN", "LightCurve+FATS+RF"]
    cv_scores = dict(zip(names, search.cv_results_["mean_test_score"]))
    cv_std = dict(zip(names, search.cv_results_["std_test_score"]))
    log(f"GridSearchCV over both candidates: {t_search:.1f} s; {cv_scores}")

    # both candidates refitted on the whole training set
    step("refitting, held-out test")
    best = search.best_params_["model"]
    fitted = {}
    for name, est in zip(names, (rcnn, forest)):
        if type(est) is type(best):
            fitted[name] = search.best_estimator_.named_steps["model"]
        else:
            fitted[name] = clone(est).fit(X_train, y_train)
    model_rcnn, model_rf = fitted["SequenceRCNN"], fitted["LightCurve+FATS+RF"]

    test = {}
    for name, model in fitted.items():
        pred = model.predict(X_test)
        ci = bootstrap_ci(accuracy_score, y_test, pred, random_state=random_state)
        test[name] = {
            "accuracy": ci["value"],
            "accuracy_ci": (ci["low"], ci["high"]),
            "recall": {
                k: v["value"]
                for k, v in recall_intervals(
                    y_test, pred, range(7), random_state=random_state
                ).items()
            },
        }
    log(f"held-out test accuracy: { {k: v['accuracy'] for k, v in test.items()} }")

    # accuracy against the number of observation epochs seen, same test objects
    step("accuracy against epochs seen")
    curves = {
        "RCNN": accuracy_by_epochs_seen(
            model_rcnn, X_test, y_test, random_state=random_state
        ),
        "RF": accuracy_by_epochs_seen(
            model_rf, X_test, y_test, epochs=s["rf_epochs"], random_state=random_state
        ),
    }

    # shifted domain
    step("shifted domain, fine-tuning")
    shift = shifted_domain_study(
        model_rcnn,
        model_rf,
        X_train,
        y_train,
        size,
        random_state=random_state,
        log=log,
    )

    return {
        "cv_accuracy": {k: float(v) for k, v in cv_scores.items()},
        "cv_accuracy_std": {k: float(v) for k, v in cv_std.items()},
        "test": test,
        "accuracy_vs_epochs": {
            name: {
                int(k): float(a) for k, a in table["accuracy"].items() if np.isfinite(a)
            }
            for name, table in curves.items()
        },
        "accuracy_vs_epochs_ci": {
            name: {
                int(k): (float(r["low"]), float(r["high"]))
                for k, r in table.iterrows()
                if np.isfinite(r["accuracy"])
            }
            for name, table in curves.items()
        },
        "shifted_average_recall": shift["average_recall"],
        "shifted_average_recall_std": shift["average_recall_std"],
        "search_seconds": t_search,
        "models": {
            "rcnn": model_rcnn,
            "rcnn_fine_tuned": shift["rcnn_fine_tuned"],
            "rf": model_rf,
        },
        "X_test": X_test,
        "X_real_test": shift["X_real_test"],
    }


def average_recall(y_true, y_pred, labels=None) -> float:
    """Recall averaged over ``labels`` (default: the paper's five real classes).

    Carrasco-Davis et al. (2019, Fig. 4.2) weight every class of the real
    HiTS test set equally; a prediction outside ``labels`` counts as a miss.
    """
    from sklearn.metrics import recall_score

    from ..datasets import HITS_CLASSES

    if labels is None:
        labels = [HITS_CLASSES.index(c) for c in REAL_CLASSES]
    return float(
        recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )


def shifted_domain_study(
    model_rcnn,
    model_rf,
    X_train,
    y_train,
    size: str = "small",
    *,
    random_state: int = 0,
    log=print,
) -> dict[str, Any]:
    """Carrasco-Davis et al.'s (2019) adaptation study on the shifted domain.

    Simulates ``n_real_per_class`` sequences of each of the paper's five real
    classes (:data:`REAL_CLASSES`: SN, RRL, EB, NV, AST) with
    ``make_hits_sequences(domain="real")`` (:func:`simulate_protocol`);
    in each of ``n_trials`` trials draws 10 per class for adaptation and
    tests on the rest with the average recall over the five classes
    (:func:`average_recall`): the two models as trained on the simulated
    set; the RCNN fine-tuned for ``fine_tune_iterations`` batches that mix
    the 50 sequences with the simulated training set (``replay``, a quarter
    of each batch from the 50); the forest refitted on the simulated
    training set plus the 50 sequences copied 100 times (Carrasco-Davis et
    al. 2019, §3.2.4). Returns the mean and standard deviation over trials,
    the last fine-tuned RCNN and the last trial's test sequences.
    """
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from ..datasets import HITS_CLASSES

    s = SIZES[size]
    Xr, yr = simulate_protocol(
        dict.fromkeys(REAL_CLASSES, s["n_real_per_class"]),
        domain="real",
        random_state=random_state + 1000,
    )
    # Light-curve extraction and FATS features are computed per sequence, so
    # copying the feature rows equals copying the sequences, at 1/100 of the
    # cost.
    features = model_rf[:-1]
    F_train, F_real = features.transform(X_train), features.transform(Xr)
    # the unadapted forest's and RCNN's predictions, computed once
    pred = {"RCNN": model_rcnn.predict(Xr), "RF": model_rf[-1].predict(F_real)}
    scores: dict[str, list[float]] = {
        k: [] for k in ("RCNN", "RF", "RCNN fine-tuned", "RF augmented")
    }
    tuned = None
    real_labels = [HITS_CLASSES.index(c) for c in REAL_CLASSES]
    for trial in range(s.get("n_trials", 1)):
        rng = np.random.default_rng(random_state + trial)
        ft_idx = np.concatenate(
            [
                rng.choice(np.flatnonzero(yr == c), 10, replace=False)
                for c in real_labels
            ]
        )
        rest = np.setdiff1d(np.arange(len(yr)), ft_idx)
        y_rt = yr[rest]
        for name in ("RCNN", "RF"):
            scores[name].append(average_recall(y_rt, pred[name][rest]))
        tuned = copy.deepcopy(model_rcnn)
        t0 = time.perf_counter()
        tuned.fine_tune(
            Xr[ft_idx],
            yr[ft_idx],
            n_iterations=s["fine_tune_iterations"],
            replay=(X_train, y_train),
        )
        t_ft = time.perf_counter() - t0
        scores["RCNN fine-tuned"].append(average_recall(y_rt, tuned.predict(Xr[rest])))
        F_aug = np.vstack([F_train, np.repeat(F_real[ft_idx], 100, 0)])
        y_aug = np.concatenate([y_train, np.repeat(yr[ft_idx], 100)])
        forest_aug = clone(model_rf[-1]).fit(F_aug, y_aug)
        scores["RF augmented"].append(
            average_recall(y_rt, forest_aug.predict(F_real[rest]))
        )
        log(
            f"shifted domain, trial {trial}: "
            f"{ {k: round(v[-1], 3) for k, v in scores.items()} } "
            f"(fine-tuning {t_ft:.1f} s)"
        )
    rf_aug = Pipeline(list(features.steps) + [("forest", forest_aug)])
    return {
        "average_recall": {k: float(np.mean(v)) for k, v in scores.items()},
        "average_recall_std": {k: float(np.std(v)) for k, v in scores.items()},
        "trials": {k: [float(x) for x in v] for k, v in scores.items()},
        "rcnn_fine_tuned": tuned,
        "rf_augmented": rf_aug,
        "X_real_test": Xr[rest],
    }


def plot_comparison(result: dict, path) -> None:
    """Accuracy vs epochs (simulated test) and average recall (shifted domain)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, style in (("RCNN", "o-"), ("RF", "s--")):
        curve = result["accuracy_vs_epochs"][name]
        ks = sorted(curve)
        ax1.plot(ks, [curve[k] for k in ks], style, label=f"{name} (ours)")
        ax1.axhline(
            SEED["sim_test_accuracy"][name],
            ls=":",
            color=ax1.lines[-1].get_color(),
            label=f"{name} seed, 22 epochs",
        )
    ax1.set_xlabel("observation epochs seen")
    ax1.set_ylabel("accuracy (simulated test set)")
    ax1.set_ylim(0, 1)
    ax1.legend(fontsize=7, loc="lower right")
    names = list(result["shifted_average_recall"])
    x = np.arange(len(names))
    std = result.get("shifted_average_recall_std", {})
    ax2.bar(
        x - 0.2,
        [result["shifted_average_recall"][n] for n in names],
        0.4,
        yerr=[std.get(n, 0.0) for n in names],
        label="ours",
    )
    ax2.bar(
        x + 0.2,
        [SEED["real_average_recall"][n] for n in names],
        0.4,
        label="seed (real HiTS)",
    )
    ax2.set_xticks(x, names, rotation=15, fontsize=8)
    ax2.set_ylabel("average recall, 5 classes (shifted domain)")
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(ctx: DemoContext) -> SectionResult:
    result = run_comparison(
        ctx.size,
        random_state=ctx.random_state,
        log=ctx.log,
        step=ctx.step,
        callbacks=ctx.net_callbacks(),
    )
    ctx.step("figure, saving models")
    fig = "hits_comparison.png"
    plot_comparison(result, ctx.out / fig)
    with _quiet_nan_features():
        models = {
            "hits_rcnn": save_model_for_reload(
                ctx, "hits_rcnn", result["models"]["rcnn"], result["X_test"]
            ),
            "hits_rf": save_model_for_reload(
                ctx, "hits_rf", result["models"]["rf"], result["X_test"]
            ),
        }
    test = result["test"]
    rows = [
        "| | SequenceRCNN | LightCurve+FATS+RF | seed RCNN | seed RF |",
        "|---|---|---|---|---|",
        "| CV accuracy (same folds) | {:.3f} | {:.3f} | | |".format(
            result["cv_accuracy"]["SequenceRCNN"],
            result["cv_accuracy"]["LightCurve+FATS+RF"],
        ),
        "| test accuracy (simulated) | {:.3f} | {:.3f} | 0.953 | 0.923 |".format(
            test["SequenceRCNN"]["accuracy"], test["LightCurve+FATS+RF"]["accuracy"]
        ),
    ]
    for cls in test["SequenceRCNN"]["recall"]:
        rows.append(
            f"| recall {cls} | {test['SequenceRCNN']['recall'][cls]:.2f} | "
            f"{test['LightCurve+FATS+RF']['recall'][cls]:.2f} | | |"
        )
    sh = result["shifted_average_recall"]
    rows += [
        "",
        "| shifted domain, average recall | ours | seed (real HiTS) |",
        "|---|---|---|",
    ]
    sd = result.get("shifted_average_recall_std", {})
    rows += [
        f"| {k} | {v:.3f} ± {sd.get(k, 0.0):.3f} | "
        f"{SEED['real_average_recall'][k]:.2f} |"
        for k, v in sh.items()
    ]
    metrics = {
        k: v for k, v in result.items() if k not in ("models", "X_test", "X_real_test")
    }
    comparisons = [
        (
            "SequenceRCNN test accuracy (simulated)",
            test["SequenceRCNN"]["accuracy"],
            SEED["sim_test_accuracy"]["RCNN"],
        ),
        (
            "LightCurve+FATS+RF test accuracy (simulated)",
            test["LightCurve+FATS+RF"]["accuracy"],
            SEED["sim_test_accuracy"]["RF"],
        ),
    ]
    comparisons += [
        (f"shifted domain average recall, {k}", v, SEED["real_average_recall"][k])
        for k, v in sh.items()
    ]
    return SectionResult(
        summary="\n".join(rows),
        metrics=metrics,
        figures=[fig],
        models=models,
        comparisons=comparisons,
    )
