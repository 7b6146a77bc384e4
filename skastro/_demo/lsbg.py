"""Demo section: DeepShadows (Tanoglidis et al. 2021) — LSBGs versus artifacts.

One GridSearchCV over a Pipeline whose final step is LSBGNet, or
SourceFeatures → StandardScaler → SVC, or SourceFeatures → RandomForest,
on the same stamps and folds; bootstrap intervals on a test set; transfer to
the deeper HSC-like survey before/after fine-tuning; label noise.
"""

from __future__ import annotations

import tempfile
import time
import warnings

import numpy as np

from . import DemoContext, SectionResult, save_model_for_reload

TITLE = "LSBGs versus artifacts (DeepShadows, Tanoglidis et al. 2021)"
STEPS = 6

#: Sample sizes: (train, test, HSC fine-tune, HSC test, CV folds, CNN epochs,
#: label-noise levels).
SIZES = {
    "small": {
        "n_train": 600,
        "n_test": 400,
        "n_ft": 320,
        "n_hsc_test": 480,
        "cv": 2,
        "epochs": 8,
        "ft_epochs": 10,
        "noise": (0.0, 0.1, 0.33),
    },
    "paper": {
        "n_train": 30000,
        "n_test": 5000,
        "n_ft": 320,
        "n_hsc_test": 960,
        "cv": 5,
        "epochs": 100,
        "ft_epochs": 30,
        "noise": (0.0, 0.01, 0.05, 0.1, 0.33),
    },
}

#: The paper's figures (Tanoglidis et al. 2021, Tables 2, 6 and §5).
PAPER = {
    "CNN": {
        "accuracy": 0.920,
        "completeness": 0.944,
        "purity": 0.903,
        "roc_auc": 0.974,
    },
    "SVM": {
        "accuracy": 0.819,
        "completeness": 0.867,
        "purity": 0.796,
        "roc_auc": 0.894,
    },
    "RF": {"accuracy": 0.797, "completeness": 0.804, "purity": 0.797, "roc_auc": 0.872},
    "transfer": {"before": 0.821, "after": 0.876},
    "noise": {0.0: 0.920, 0.01: 0.918, 0.05: 0.914, 0.1: 0.909, 0.33: 0.883},
}


def cnn_recipe(size: str, epochs: int) -> dict:
    """LSBGNet settings: the paper's at ``size="paper"``; at ``"small"`` a
    short-schedule recipe (Adam 1e-3, light L2, BatchNorm momentum 0.1) because
    Adadelta(0.1) with the paper's L2 needs ~50,000 steps (100 epochs of 30,000
    stamps) to leave its start-up phase."""
    if size == "paper":
        return {"max_epochs": epochs}
    import torch

    return {
        "optimizer": torch.optim.Adam,
        "lr": 1e-3,
        "l2_conv": 1e-4,
        "l2_dense": 1e-4,
        "module__bn_momentum": 0.1,
        "batch_size": 32,
        "max_epochs": epochs,
    }


def build_search(cnn_params: dict, *, cv, memory, random_state: int):
    """The comparison: one GridSearchCV, three kinds of final step."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from ..metrics import lsbg_scoring
    from ..nn import LSBGNet
    from ..sources import SourceFeatures

    pipe = Pipeline(
        [
            ("features", "passthrough"),
            ("scale", "passthrough"),
            ("clf", LSBGNet(random_state=random_state)),
        ],
        memory=memory,
    )
    grid = [
        {"clf": [LSBGNet(random_state=random_state, **cnn_params)]},
        {
            "features": [SourceFeatures()],
            "scale": [StandardScaler()],
            "clf": [SVC(kernel="rbf")],
            "clf__C": [1e2, 1e3, 1e4],
            "clf__gamma": [1e-3, 1e-2, 1e-1],
        },
        {
            "features": [SourceFeatures()],
            "clf": [RandomForestClassifier(random_state=random_state, n_jobs=1)],
            "clf__n_estimators": [100],
            "clf__min_samples_split": [2, 10],
        },
    ]
    return GridSearchCV(pipe, grid, cv=cv, scoring=lsbg_scoring(), refit="accuracy")


def _family(params: dict) -> str:
    return {"LSBGNet": "CNN", "SVC": "SVM", "RandomForestClassifier": "RF"}[
        type(params["clf"]).__name__
    ]


def _score(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1], 0.5
    return model.decision_function(X), 0.0


def run(ctx: DemoContext) -> SectionResult:
    import pickle

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import torch
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from ..datasets import make_lsbg_stamps
    from ..metrics import bootstrap_classification_metrics
    from ..nn import LSBGNet
    from ..plotting import plot_grad_cam, plot_roc_curves

    torch.set_num_threads(min(2, torch.get_num_threads()))
    cfg = SIZES[ctx.size]
    rs = ctx.random_state
    ctx.step("simulating stamps")
    t0 = time.perf_counter()
    train = make_lsbg_stamps(cfg["n_train"], random_state=rs)
    test = make_lsbg_stamps(cfg["n_test"], random_state=rs + 1)
    hsc_ft = make_lsbg_stamps(cfg["n_ft"], survey="hsc", random_state=rs + 2)
    hsc_test = make_lsbg_stamps(cfg["n_hsc_test"], survey="hsc", random_state=rs + 3)
    ctx.log(f"simulated stamps in {time.perf_counter() - t0:.0f} s")

    cnn_params = cnn_recipe(ctx.size, cfg["epochs"])
    if ctx.net_callbacks():
        cnn_params["callbacks"] = ctx.net_callbacks()
    cv = StratifiedKFold(cfg["cv"], shuffle=True, random_state=rs)
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        # joblib.Memory reports how long hashing the stamps took; harmless
        warnings.filterwarnings("ignore", "Persisting input arguments")
        search = build_search(cnn_params, cv=cv, memory=cache, random_state=rs)
        ctx.step("grid search: CNN, SVM, RF")
        t1 = time.perf_counter()
        search.fit(train.data, train.target)
        ctx.log(f"grid search in {time.perf_counter() - t1:.0f} s")
        cvres = pd.DataFrame(search.cv_results_)
        cvres["family"] = [_family(p) for p in cvres["params"]]
        # best candidate of each family, refitted on the whole training set
        ctx.step("refitting each family, test metrics")
        models, rows, roc = {}, {}, {}
        for fam, grp in cvres.groupby("family"):
            params = grp.loc[grp["mean_test_accuracy"].idxmax(), "params"]
            model = (
                search.best_estimator_
                if params == search.best_params_
                else clone(search.estimator)
                .set_params(**params)
                .fit(train.data, train.target)
            )
            models[fam] = model
            score, thr = _score(model, test.data)
            roc[fam] = (test.target, score)
            table = bootstrap_classification_metrics(
                test.target, score, threshold=thr, random_state=rs
            )
            rows[fam] = table
            rows[fam]["cv_accuracy"] = grp["mean_test_accuracy"].max()
    best_family = _family(search.best_params_)

    # transfer to the HSC-like survey (Tanoglidis et al. 2021, §5)
    ctx.step("transfer to the HSC-like survey")
    cnn_pipe = models["CNN"]
    net: LSBGNet = cnn_pipe[-1]
    before = bootstrap_classification_metrics(
        hsc_test.target, net.predict_proba(hsc_test.data)[:, 1], random_state=rs
    )
    tuned = pickle.loads(pickle.dumps(net))  # keep the DES model unchanged
    ft_lr = 0.005 if ctx.size == "paper" else 5e-5  # 1/20 of the training lr
    tuned.fine_tune(
        hsc_ft.data, hsc_ft.target, lr=ft_lr, max_epochs=cfg["ft_epochs"], batch_size=16
    )
    after = bootstrap_classification_metrics(
        hsc_test.target, tuned.predict_proba(hsc_test.data)[:, 1], random_state=rs
    )

    # label noise (Tanoglidis et al. 2021, §6.3): flip a fraction of the training labels
    ctx.step("label noise")
    noise_acc = {}
    rng = np.random.RandomState(rs)
    for level in cfg["noise"]:
        if level == 0.0:
            noisy_net = net
        else:
            y = train.target.copy()
            flip = rng.permutation(len(y))[: int(round(level * len(y)))]
            y[flip] = 1 - y[flip]
            noisy_net = LSBGNet(random_state=rs, **cnn_params).fit(train.data, y)
        pred = noisy_net.predict(test.data)
        noise_acc[level] = float((pred == test.target).mean())

    # figures: ROC curves and Grad-CAM
    ctx.step("figures")
    figures = []
    ax = plot_roc_curves(roc)
    ax.set_title("DES-like test set")
    ax.figure.savefig(ctx.out / "lsbg_roc.png", dpi=100, bbox_inches="tight")
    figures.append("lsbg_roc.png")
    plt.close(ax.figure)
    proba = net.predict_proba(test.data)[:, 1]
    pred = (proba > 0.5).astype(int)
    picks, titles = [], []
    for name, (t, p) in {
        "TN": (0, 0),
        "FN": (1, 0),
        "TP": (1, 1),
        "FP": (0, 1),
    }.items():
        idx = np.flatnonzero((test.target == t) & (pred == p))[:2]
        picks += idx.tolist()
        titles += [f"{name} P={proba[i]:.2f} {test.kind[i]}" for i in idx]
    if picks:
        fig = plot_grad_cam(
            test.data[picks], net.grad_cam(test.data[picks]), titles=titles, ncols=4
        )
        fig.savefig(ctx.out / "lsbg_gradcam.png", dpi=100, bbox_inches="tight")
        figures.append("lsbg_gradcam.png")
        plt.close(fig)

    models_saved = {
        "lsbg_best_pipeline": save_model_for_reload(
            ctx,
            "lsbg_best_pipeline",
            search.best_estimator_.set_params(memory=None),  # cache is gone
            test.data[:32],
        )
    }

    # report
    def fmt(t, m):
        r = t.loc[m]
        return f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"

    lines = [
        f"{cfg['n_train']} DES-like training stamps, {cfg['n_test']} test stamps, "
        f"{cfg['cv']}-fold GridSearchCV (same folds for all candidates); best "
        f"pipeline: **{best_family}**. Test metrics with 95% bootstrap intervals "
        "(1000 resamples); paper (Tanoglidis et al. 2021, Table 2) in the last column.",
        "",
        "| model | CV acc. | accuracy | completeness | purity | AUC "
        "| paper acc. / AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for fam in ("CNN", "SVM", "RF"):
        t = rows[fam]
        lines.append(
            f"| {fam} | {t['cv_accuracy'].iloc[0]:.3f} | {fmt(t, 'accuracy')} | "
            f"{fmt(t, 'completeness')} | {fmt(t, 'purity')} | {fmt(t, 'roc_auc')} | "
            f"{PAPER[fam]['accuracy']:.3f} / {PAPER[fam]['roc_auc']:.3f} |"
        )
    lines += [
        "",
        f"Transfer to the HSC-like survey ({cfg['n_hsc_test']} test stamps; "
        f"fine-tuning on {cfg['n_ft']}, {cfg['ft_epochs']} epochs, batch 16):",
        "",
        "| | accuracy | completeness | purity | AUC |",
        "|---|---|---|---|---|",
        f"| before | {fmt(before, 'accuracy')} | {fmt(before, 'completeness')} | "
        f"{fmt(before, 'purity')} | {fmt(before, 'roc_auc')} |",
        f"| after | {fmt(after, 'accuracy')} | {fmt(after, 'completeness')} | "
        f"{fmt(after, 'purity')} | {fmt(after, 'roc_auc')} |",
        f"| paper | {PAPER['transfer']['before']:.3f} → "
        f"{PAPER['transfer']['after']:.3f} | | | |",
        "",
        "CNN test accuracy against training label noise:",
        "",
        "| noise | " + " | ".join(f"{lv:.0%}" for lv in noise_acc) + " |",
        "|---" * (len(noise_acc) + 1) + "|",
        "| ours | " + " | ".join(f"{a:.3f}" for a in noise_acc.values()) + " |",
        "| paper | "
        + " | ".join(f"{PAPER['noise'].get(lv, float('nan')):.3f}" for lv in noise_acc)
        + " |",
    ]
    metrics = {
        "test": {fam: rows[fam].to_dict(orient="index") for fam in rows},
        "best_family": best_family,
        "transfer": {
            "before": before.to_dict(orient="index"),
            "after": after.to_dict(orient="index"),
        },
        "label_noise_accuracy": {str(k): v for k, v in noise_acc.items()},
    }
    comparisons = [
        (f"{fam} test {m}", float(rows[fam].loc[m, "value"]), PAPER[fam][m])
        for fam in ("CNN", "SVM", "RF")
        for m in ("accuracy", "roc_auc")
    ]
    comparisons += [
        (
            f"HSC-like accuracy {when} fine-tuning",
            float(table.loc["accuracy", "value"]),
            PAPER["transfer"][when],
        )
        for when, table in (("before", before), ("after", after))
    ]
    worst = max(noise_acc)
    comparisons.append(
        (
            f"CNN accuracy, {worst:.0%} label noise",
            noise_acc[worst],
            PAPER["noise"].get(worst),
        )
    )
    return SectionResult(
        summary="\n".join(lines),
        metrics=metrics,
        figures=figures,
        models=models_saved,
        comparisons=comparisons,
    )
