"""Demo section: HiTS-like image sequences, SequenceRCNN vs a light-curve forest.

Carrasco-Davis et al. (2019), on their protocol: sequences of 22
observation epochs with the five images before the first detection of
supernovae and asteroids (:func:`skastro.recipes.hits_protocol_set`); the shipped RCNN
(``load_pretrained("sequence-rcnn-hits-sim")``, where this installation has
it) beside a short live training: one
:class:`~sklearn.model_selection.GridSearchCV` whose candidates are
:func:`skastro.recipes.hits_rcnn` and :func:`skastro.recipes.hits_forest`
(photometry with the known sky and host, §3.2.3) on the same sequences and
folds; accuracy and per-class recall on a fresh test set with bootstrap
intervals; accuracy against the number of observation epochs seen on the
same test objects (:func:`skastro.metrics.accuracy_by_epochs_seen`, Fig.
4.1); and the shifted-domain study over the paper's five real classes (no
adaptation, RCNN fine-tuned on 10 sequences per class, forest trained with
those 10 per class copied 100 times).
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from typing import Any

import numpy as np

from .. import recipes
from . import DemoContext, SectionResult, load_shipped, save_model_for_reload
from ._report import format_ci, verdict

TITLE = "HiTS sequences: SequenceRCNN vs LightCurveExtractor -> FATS -> RandomForest"
STEPS = 6

#: The shipped model this section evaluates.
SHIPPED = "sequence-rcnn-hits-sim"

#: Settings per demo size. ``network`` is :func:`skastro.recipes.hits_rcnn`'s;
#: ``n_test_per_class`` sequences per class make the fresh test set. "small"
#: runs in a few minutes on 2 CPU cores; "paper" uses the paper's network and
#: training (GPU hours).
SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "n_per_class": 24,
        "n_test_per_class": 30,
        "n_real_per_class": 20,
        "network": "small",
        "max_epochs": 8,
        "batch_size": 32,
        "lr": 1e-3,
        "cv": 2,
        "fine_tune_iterations": 40,
        "n_trials": 1,
        "rf_epochs": (3, 5, 10, 22),
    },
    "medium": {  # the figures in the user guide: ~8 min on one thread
        "n_per_class": 100,
        "n_test_per_class": 34,
        "n_real_per_class": 30,
        "network": "reduced",
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
        "n_test_per_class": 334,
        "n_real_per_class": 110,
        "network": "reduced",
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
        "n_test_per_class": 1000,
        "n_real_per_class": 110,
        "network": "paper",
        "max_epochs": 10,
        "batch_size": 256,
        "lr": 5e-4,
        "cv": 3,
        "fine_tune_iterations": 1000,
        "n_trials": 5,
        "rf_epochs": tuple(range(3, 23)),
    },
}

#: The paper's figures (Carrasco-Davis et al. 2019, Figs. 4.1-4.2).
SEED = {
    "sim_test_accuracy": {"RCNN": 0.953, "RF": 0.923},
    "real_average_recall": {
        "RCNN": 0.85,
        "RF": 0.88,
        "RCNN fine-tuned": 0.94,
        "RF augmented": 0.94,
    },
}


#: The paper's per-class recall of the RCNN on real HiTS data without
#: fine-tuning (§4.2, Fig. 4.5a); its simulated per-class recalls appear only
#: as confusion-matrix figures (Fig. 4.4).
SEED_REAL_RECALL_RCNN = {"SN": 0.74, "RRL": 0.95, "EB": 0.66, "NV": 1.00, "AST": 0.98}


def _named_recalls(y_true, y_pred, *, random_state: int, n_resamples: int = 1000):
    """Per-class recall with intervals, keyed by the HiTS class names."""
    from ..datasets import HITS_CLASSES
    from ..metrics import recall_by_class_ci

    recalls = recall_by_class_ci(
        y_true,
        y_pred,
        labels=range(len(HITS_CLASSES)),
        n_resamples=n_resamples,
        random_state=random_state,
    )
    return {HITS_CLASSES[c]: ci for c, ci in recalls.items()}


def forest_calibration(
    n_per_class: int = 1000,
    *,
    random_state: int = 0,
    test_size: float = 0.3,
    n_resamples: int = 1000,
    **simulator_kwargs,
) -> dict[str, Any]:
    """The light-curve forest on the simulator at 22 epochs (the calibration check).

    Simulates ``n_per_class`` sequences per class (:func:`skastro.recipes.hits_protocol_set`,
    extra ``simulator_kwargs`` go to ``make_hits_sequences``), splits off
    a stratified ``test_size``, fits :func:`skastro.recipes.hits_forest` and
    returns the test
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
        forest = recipes.hits_forest(random_state=random_state)
        forest.fit(X[idx_train], y[idx_train])
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
        "recall": _named_recalls(
            y_test, pred, n_resamples=n_resamples, random_state=random_state
        ),
        "confusion": confusion_matrix(y_test, pred, labels=range(7)).tolist(),
        "cpu_seconds": time.process_time() - t0,
    }


@contextlib.contextmanager
def _quiet_nan_features():
    """Ignore :class:`~skastro.exceptions.LightCurveWarning` in the block.

    Short light curves (few observation epochs seen) give NaN FATS features,
    which the forest handles; FATSFeatures' warning about them would repeat
    for every fit and prediction. Only that category is ignored.
    """
    from ..exceptions import LightCurveWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LightCurveWarning)
        yield


def run_comparison(
    size: str = "small",
    *,
    random_state: int = 0,
    log=print,
    step=None,
    callbacks=None,
    shipped: Any = None,
) -> dict[str, Any]:
    """Run the whole comparison of Carrasco-Davis et al. (2019).

    Returns fitted models, test metrics and the curves. ``step(description)``
    is called at the start of each phase (progress bars), ``callbacks`` are
    given to the live RCNN, and ``shipped`` (a fitted SequenceRCNN, e.g.
    ``load_pretrained("sequence-rcnn-hits-sim")``) is measured on the same
    test set and carries the shifted-domain study when given.
    """
    with _quiet_nan_features():
        return _run_comparison(
            size,
            random_state=random_state,
            log=log,
            step=step or (lambda description: None),
            callbacks=callbacks,
            shipped=shipped,
        )


def _live_search(s: dict, X_train, y_train, random_state: int, callbacks):
    """One GridSearchCV over the RCNN and the forest; both refitted."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    rcnn = recipes.hits_rcnn(
        network=s["network"],
        max_epochs=s["max_epochs"],
        batch_size=s["batch_size"],
        lr=s["lr"],
        asinh_softening=s.get("asinh_softening"),
        train_split=None,
        random_state=random_state,
        verbose=0,
        **({"callbacks": list(callbacks)} if callbacks else {}),
    )
    forest = recipes.hits_forest(random_state=random_state)
    search = GridSearchCV(
        Pipeline([("model", rcnn)]),
        param_grid=[{"model": [rcnn]}, {"model": [forest]}],
        cv=StratifiedKFold(s["cv"], shuffle=True, random_state=random_state),
        scoring="accuracy",
        refit=True,
    )
    search.fit(X_train, y_train)
    names = ["SequenceRCNN", "LightCurve+FATS+RF"]
    best = search.best_params_["model"]
    fitted = {}
    for name, est in zip(names, (rcnn, forest), strict=True):
        if type(est) is type(best):
            fitted[name] = search.best_estimator_.named_steps["model"]
        else:
            fitted[name] = clone(est).fit(X_train, y_train)
    cv = {
        name: (float(m), float(sd))
        for name, m, sd in zip(
            names,
            search.cv_results_["mean_test_score"],
            search.cv_results_["std_test_score"],
            strict=True,
        )
    }
    return fitted, cv


def _run_comparison(
    size: str, *, random_state: int, log, step, callbacks, shipped
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score

    from ..metrics import accuracy_by_epochs_seen, bootstrap_ci

    s = SIZES[size]
    step("simulating sequences")
    t0 = time.perf_counter()
    X_train, y_train = recipes.hits_protocol_set(
        s["n_per_class"], random_state=random_state
    )
    X_test, y_test = recipes.hits_protocol_set(
        s["n_test_per_class"], random_state=random_state + 500
    )
    log(
        f"simulated {len(y_train)} training and {len(y_test)} fresh test "
        f"sequences in {time.perf_counter() - t0:.1f} s"
    )

    step("live grid search: RCNN, light-curve forest")
    t0 = time.perf_counter()
    fitted, cv = _live_search(s, X_train, y_train, random_state, callbacks)
    t_search = time.perf_counter() - t0
    log(f"GridSearchCV over both candidates and refits: {t_search:.1f} s; {cv}")
    model_rcnn, model_rf = fitted["SequenceRCNN"], fitted["LightCurve+FATS+RF"]
    models = {"RCNN (live)": model_rcnn, "RF (live)": model_rf}
    if shipped is not None:
        models = {"RCNN (shipped)": shipped, **models}

    step("fresh test set")
    test = {}
    for name, model in models.items():
        pred = model.predict(X_test)
        test[name] = {
            "accuracy": bootstrap_ci(
                accuracy_score, y_test, pred, random_state=random_state
            ),
            "recall": {
                k: v["value"]
                for k, v in _named_recalls(
                    y_test, pred, random_state=random_state
                ).items()
            },
        }
    log(f"test accuracy: { {k: v['accuracy']['value'] for k, v in test.items()} }")

    # accuracy against the number of observation epochs seen, same test objects
    step("accuracy against observation epochs seen")
    curves = {
        name: accuracy_by_epochs_seen(
            model,
            X_test,
            y_test,
            epochs=None if name.startswith("RCNN") else s["rf_epochs"],
            random_state=random_state,
        )
        for name, model in models.items()
    }

    step("shifted domain, fine-tuning")
    shift = shifted_domain_study(
        shipped if shipped is not None else model_rcnn,
        model_rf,
        X_train,
        y_train,
        size,
        random_state=random_state,
        log=log,
    )
    return {
        "cv_accuracy": {k: v[0] for k, v in cv.items()},
        "cv_accuracy_std": {k: v[1] for k, v in cv.items()},
        "test": test,
        "chance": float(np.bincount(y_test).max() / len(y_test)),
        "n_test": int(len(y_test)),
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
        "shifted_rcnn": "shipped" if shipped is not None else "live",
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
        labels = [HITS_CLASSES.index(c) for c in recipes.HITS_REAL_CLASSES]
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
    classes (:data:`recipes.HITS_REAL_CLASSES`: SN, RRL, EB, NV, AST) with
    ``make_hits_sequences(domain="real")`` (:func:`skastro.recipes.hits_protocol_set`);
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
    Xr, yr = recipes.hits_protocol_set(
        dict.fromkeys(recipes.HITS_REAL_CLASSES, s["n_real_per_class"]),
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
    real_labels = [HITS_CLASSES.index(c) for c in recipes.HITS_REAL_CLASSES]
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
    """Accuracy vs observation epochs (simulated test) and average recall
    (shifted domain)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = ("o-", "^-", "s--")
    for (name, curve), style in zip(result["accuracy_vs_epochs"].items(), styles):
        ks = sorted(curve)
        ax1.plot(ks, [curve[k] for k in ks], style, label=name)
    for name, value in SEED["sim_test_accuracy"].items():
        ax1.axhline(value, ls=":", color="grey", lw=0.8)
        ax1.text(1, value + 0.01, f"paper {name}, 22 epochs", fontsize=6)
    ax1.axhline(result["chance"], ls="-.", color="k", lw=0.6)
    ax1.text(1, result["chance"] + 0.01, "chance", fontsize=6)
    ax1.set_xlabel("observation epochs seen")
    ax1.set_ylabel("accuracy (fresh simulated test set)")
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
        label="paper (real HiTS)",
    )
    ax2.set_xticks(x, names, rotation=15, fontsize=8)
    ax2.set_ylabel("average recall, 5 classes (shifted domain)")
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _verdict(result: dict, size: str) -> str:
    """Who wins at 22 observation epochs, by how much, and why."""
    test = result["test"]
    scores = {name: t["accuracy"] for name, t in test.items()}
    rcnn = "RCNN (shipped)" if "RCNN (shipped)" in scores else "RCNN (live)"
    why = None
    if scores[rcnn]["value"] < scores["RF (live)"]["value"]:
        s = SIZES[size]
        why = (
            f"unlike the paper, the forest leads: the {rcnn} is a "
            f"{s['network']} network trained for {s['max_epochs']} passes over "
            f"{7 * s['n_per_class']} sequences, where the paper's saw "
            f"{7 * SIZES['paper']['n_per_class']:,}; the forest's 47 FATS "
            "features need far fewer examples"
            if rcnn == "RCNN (live)"
            else "unlike the paper, the forest leads on this test set"
        )
    return verdict(
        scores,
        metric="accuracy at 22 observation epochs",
        chance=result["chance"],
        paper="Carrasco-Davis et al. (2019): RCNN 0.953, RF 0.923",
        why=why,
    )


def run(ctx: DemoContext) -> SectionResult:
    shipped = load_shipped(ctx, SHIPPED)
    result = run_comparison(
        ctx.size,
        random_state=ctx.random_state,
        log=ctx.log,
        step=ctx.step,
        callbacks=ctx.net_callbacks(),
        shipped=shipped,
    )
    ctx.step("figure, saving models")
    fig = "hits_comparison.png"
    plot_comparison(result, ctx.out / fig)
    X_small = result["X_test"][:40]
    with _quiet_nan_features():
        models = {
            name: save_model_for_reload(ctx, name, result["models"][key], X_small)
            for name, key in (("hits_rcnn", "rcnn"), ("hits_rf", "rf"))
        }
    test = result["test"]
    names = list(test)
    rows = [
        f"Fresh test set: {result['n_test']} sequences of 22 observation epochs "
        f"(chance {result['chance']:.3f}); "
        + (
            f"`load_pretrained({SHIPPED!r})` beside the live training."
            if shipped is not None
            else f"`{SHIPPED}` is not shipped in this installation: the live "
            "training only."
        ),
        "",
        "| | " + " | ".join(names) + " | paper RCNN | paper RF |",
        "|---" * (len(names) + 3) + "|",
        "| test accuracy | "
        + " | ".join(format_ci(test[n]["accuracy"]) for n in names)
        + " | 0.953 | 0.923 |",
    ]
    for cls in test[names[0]]["recall"]:
        rows.append(
            f"| recall {cls} | "
            + " | ".join(f"{test[n]['recall'][cls]:.2f}" for n in names)
            + " | | |"
        )
    cv = result["cv_accuracy"]
    rows += [
        "",
        "Live training (the pipeline trains): one GridSearchCV, same folds, CV "
        "accuracy "
        + ", ".join(
            f"{k} {v:.3f} ± {result['cv_accuracy_std'][k]:.3f}" for k, v in cv.items()
        )
        + ".",
        "",
        "Accuracy against observation epochs seen (same test objects):",
        "",
    ]
    curves = result["accuracy_vs_epochs"]
    ks = sorted(set().union(*[set(c) for c in curves.values()]) & {3, 5, 8, 10, 22})
    rows += [
        "| epochs | " + " | ".join(str(k) for k in ks) + " |",
        "|---" * (len(ks) + 1) + "|",
    ]
    rows += [
        f"| {name} | " + " | ".join(f"{c[k]:.3f}" if k in c else "—" for k in ks) + " |"
        for name, c in curves.items()
    ]
    sh = result["shifted_average_recall"]
    sd = result.get("shifted_average_recall_std", {})
    rows += [
        "",
        f"| shifted domain ({result['shifted_rcnn']} RCNN), average recall | ours "
        "| paper (real HiTS) |",
        "|---|---|---|",
    ]
    rows += [
        f"| {k} | {v:.3f} ± {sd.get(k, 0.0):.3f} | "
        f"{SEED['real_average_recall'][k]:.2f} |"
        for k, v in sh.items()
    ]
    rows += ["", _verdict(result, ctx.size)]
    metrics = {
        k: v for k, v in result.items() if k not in ("models", "X_test", "X_real_test")
    }
    comparisons = [
        (
            f"{name} test accuracy (simulated)",
            test[name]["accuracy"]["value"],
            SEED["sim_test_accuracy"]["RCNN" if name.startswith("RCNN") else "RF"],
        )
        for name in names
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
