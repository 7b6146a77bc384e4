"""Measure trained models on freshly simulated test sets, for their model cards."""

from __future__ import annotations

import contextlib
import copy
import warnings
from numbers import Real
from typing import Any

import numpy as np

from ..recipes import HITS_REAL_CLASSES, hits_forest, hits_protocol_set

__all__ = [
    "evaluate_lsbgnet",
    "evaluate_pretrainer",
    "evaluate_sequence_rcnn",
    "evaluate_splus_classification",
    "hits_forest_calibration",
    "hits_shifted_domain",
    "masked_mae_ci",
]


def _table(df) -> dict[str, dict[str, float]]:
    return {
        name: {k: round(float(row[k]), 4) for k in ("value", "low", "high")}
        for name, row in df.iterrows()
    }


def _lsbg_sets(test_size: int, transfer_size: int, rs: int):
    from ..datasets import make_lsbg_stamps

    test = make_lsbg_stamps(test_size, random_state=rs, return_X_y=True)
    hsc = make_lsbg_stamps(
        test_size, survey="hsc", random_state=rs + 2, return_X_y=True
    )
    ft = make_lsbg_stamps(
        transfer_size, survey="hsc", random_state=rs + 3, return_X_y=True
    )
    return test, hsc, ft


def _lsbg_baselines(X_test, y_test, train_size: int, rs: int, n_resamples: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from ..datasets import make_lsbg_stamps
    from ..metrics import bootstrap_classification_metrics
    from ..sources import SourceFeatures

    X_train, y_train = make_lsbg_stamps(
        train_size, return_X_y=True, random_state=rs + 1
    )
    features = SourceFeatures().fit(X_train)
    F_train, F_test = features.transform(X_train), features.transform(X_test)
    boot = {"n_resamples": n_resamples, "random_state": rs}
    svm = make_pipeline(StandardScaler(), SVC(C=1e4, gamma=1e-3)).fit(F_train, y_train)
    rf = RandomForestClassifier(100, min_samples_split=10, random_state=rs)
    rf.fit(F_train, y_train)
    return {
        "svm": _table(
            bootstrap_classification_metrics(
                y_test, svm.decision_function(F_test), threshold=0.0, **boot
            )
        ),
        "rf": _table(
            bootstrap_classification_metrics(
                y_test, rf.predict_proba(F_test)[:, 1], **boot
            )
        ),
    }


def evaluate_lsbgnet(
    net,
    *,
    test_size: int = 2000,
    train_size: int = 2000,
    transfer_size: int = 320,
    random_state: int = 2024,
    baselines: bool = True,
    transfer: bool = True,
    n_resamples: int = 1000,
    memory=None,
) -> dict[str, Any]:
    """DeepShadows protocol on fresh stamps: the CNN, the baselines, transfer.

    Tanoglidis et al. (2021): accuracy, completeness, purity and ROC AUC
    with 95% bootstrap intervals (1000 resamples) on a DES-like test set
    (:func:`~skastro.datasets.make_lsbg_stamps`, ``random_state``); the
    SVM (SourceFeatures → StandardScaler → SVC(C=1e4, γ=1e-3)) and random
    forest (100 trees, min_samples_split=10) fitted on ``train_size`` other
    DES-like stamps; HSC-like transfer: accuracy on HSC-like stamps before
    and after :meth:`~skastro.nn.LSBGNet.fine_tune` (the paper's η=0.005,
    30 epochs, batches of 16) on ``transfer_size`` HSC-like stamps (a copy
    of ``net`` is fine-tuned).

    Parameters
    ----------
    net : fitted LSBGNet
    test_size, train_size, transfer_size : int
        Stamps of the test sets, of the baselines' training set and of the
        fine-tuning set.
    random_state : int, default=2024
        Seeds the sets: DES test ``random_state``, baselines' training set
        ``random_state + 1``, HSC test ``+ 2``, HSC fine-tuning ``+ 3``.
    baselines, transfer : bool, default=True
        Whether to measure them.
    n_resamples : int, default=1000
    memory : str, joblib.Memory or None, default=None
        Cache of the simulated sets and of the baselines' scores (which do
        not depend on ``net``), for evaluating several checkpoints.

    Returns
    -------
    metrics : dict
        ``{"cnn": {metric: {"value", "low", "high"}}, "svm": ..., "rf": ...,
        "transfer": {"before": ..., "after": ...}, "sets": ...}``.
    """
    from joblib import Memory

    from ..metrics import bootstrap_classification_metrics

    memory = memory if isinstance(memory, Memory) else Memory(memory, verbose=0)
    rs = int(random_state)
    boot = {"n_resamples": n_resamples, "random_state": rs}
    (X_test, y_test), hsc, ft = memory.cache(_lsbg_sets)(test_size, transfer_size, rs)
    out: dict[str, Any] = {
        "sets": {
            "test": f"make_lsbg_stamps({test_size}, survey='des', random_state={rs})"
        }
    }
    p = net.predict_proba(X_test)[:, 1]
    out["cnn"] = _table(bootstrap_classification_metrics(y_test, p, **boot))
    if baselines:
        out.update(
            memory.cache(_lsbg_baselines)(X_test, y_test, train_size, rs, n_resamples)
        )
        out["sets"]["baseline_train"] = (
            f"make_lsbg_stamps({train_size}, survey='des', random_state={rs + 1})"
        )
    if transfer:
        out["sets"]["hsc_test"] = (
            f"make_lsbg_stamps({test_size}, survey='hsc', random_state={rs + 2})"
        )
        out["sets"]["hsc_fine_tune"] = (
            f"make_lsbg_stamps({transfer_size}, survey='hsc', random_state={rs + 3})"
        )
        before = net.predict_proba(hsc[0])[:, 1]
        tuned = copy.deepcopy(net)
        tuned.set_params(random_state=rs)
        tuned.fine_tune(*ft)
        after = tuned.predict_proba(hsc[0])[:, 1]
        out["transfer"] = {
            "before": _table(bootstrap_classification_metrics(hsc[1], before, **boot)),
            "after": _table(bootstrap_classification_metrics(hsc[1], after, **boot)),
            "fine_tune": {
                "n_stamps": transfer_size,
                "optimizer": type(tuned.optimizer_).__name__,
                "lr": 0.005,
                "max_epochs": 30,
                "batch_size": 16,
            },
        }
    return out


def masked_mae_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_resamples: int = 1000,
    random_state: int = 0,
) -> dict[str, float]:
    """Mean absolute error over the finite entries of ``y_true`` (mag), with a
    95% bootstrap interval over objects (rows)."""
    from ..metrics import bootstrap_ci

    err = np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))
    err = np.where(np.isfinite(err), err, np.nan)
    rows = np.arange(len(err))

    def mae(idx, _):
        return float(np.nanmean(err[idx]))

    ci = bootstrap_ci(
        mae, rows, rows, n_resamples=n_resamples, random_state=random_state
    )
    return {k: round(ci[k], 4) for k in ("value", "low", "high")}


def evaluate_pretrainer(
    net,
    *,
    bands: str = "12",
    test_size: int = 2000,
    random_state: int = 2024,
    n_resamples: int = 1000,
    test_set: tuple[np.ndarray, np.ndarray] | None = None,
    classification: bool | dict = False,
    memory=None,
    pool_cut: str = "r",
) -> dict[str, Any]:
    """Magnitude MAE of a pretrainer on fresh S-PLUS-like pool objects.

    Parameters
    ----------
    net : fitted MagnitudePretrainer
    bands : {"12", "5"}, default="12"
        The bands the network reads (and predicts).
    test_size : int, default=2000
        Pool objects (:func:`~skastro.training.simulate_splus_pool`).
    random_state : int, default=2024
    n_resamples : int, default=1000
    test_set : (X, y), optional
        12-band pool stamps and their 12 magnitudes, to reuse one test set
        for several networks (else simulated).
    classification : bool or dict, default=False
        Also run :func:`evaluate_splus_classification` (a dict: its
        parameters), under ``"classification"``.
    memory : str, joblib.Memory or None, default=None
        Cache of the simulated test and labelled sets, which do not depend
        on ``net`` (to measure several networks on the same sets).
    pool_cut : {"r", "all"}, default="r"
        Selection of the simulated test objects: r-band error below 0.05
        mag (the training pool's), or every band's, the selection of
        Martinazzo et al. (2021, §4.2) (:func:`simulate_splus_pool`); with
        ``test_set``, only recorded in the set's name.

    Returns
    -------
    metrics : dict
        ``mae`` (mag, over every measured magnitude the network predicts,
        95% bootstrap interval over objects), ``mae_broad`` (the five broad
        bands only, comparable between 12- and 5-band networks),
        ``mae_per_band`` (each with its interval; objects undetected in a
        band are left out of it) and ``sets``.
    """
    from joblib import Memory

    from ..datasets import SPLUS_BANDS, SPLUS_BROAD_BANDS
    from ._recipes import simulate_splus_pool, splus_view

    memory = memory if isinstance(memory, Memory) else Memory(memory, verbose=0)
    if test_set is None:
        X, y = memory.cache(simulate_splus_pool)(
            test_size, random_state, pool_cut=pool_cut
        )
    else:
        X, y = test_set
    Xv, yv = splus_view(X, y, bands=bands, target_scale=1.0)
    pred = net.predict(Xv)
    names = list(SPLUS_BANDS) if bands == "12" else list(SPLUS_BROAD_BANDS)
    broad = [names.index(b) for b in SPLUS_BROAD_BANDS]
    boot = {"n_resamples": n_resamples, "random_state": int(random_state)}
    cut = "" if pool_cut == "r" else f", pool_cut={pool_cut!r}"
    out = {
        "sets": {
            "test": f"simulate_splus_pool({len(X)}, random_state={random_state}{cut})"
        },
        "mae": masked_mae_ci(yv, pred, **boot),
        "mae_broad": masked_mae_ci(yv[:, broad], pred[:, broad], **boot),
        "mae_per_band": {
            b: masked_mae_ci(yv[:, j : j + 1], pred[:, j : j + 1], **boot)
            for j, b in enumerate(names)
        },
    }
    if classification:
        params = dict(classification) if isinstance(classification, dict) else {}
        params.setdefault("random_state", random_state)
        n = params.get("n_test", 500) + max(params.get("n_labels", (100, 200, 500)))
        params.setdefault(
            "labelled", memory.cache(_splus_labelled)(n, params["random_state"])
        )
        out["classification"] = evaluate_splus_classification(
            net, bands=bands, n_resamples=n_resamples, **params
        )
    return out


def _accuracy_ci(y_true, y_pred, *, n_resamples: int, random_state: int) -> dict:
    from sklearn.metrics import accuracy_score

    from ..metrics import bootstrap_ci

    ci = bootstrap_ci(
        accuracy_score,
        np.asarray(y_true),
        np.asarray(y_pred),
        n_resamples=n_resamples,
        random_state=random_state,
    )
    return {k: round(ci[k], 4) for k in ("value", "low", "high")}


def _splus_labelled(n: int, random_state: int):
    """The labelled set of a fresh simulated survey (stamps and classes)."""
    from sklearn.utils import Bunch

    from ..datasets import make_splus_stamps

    data = make_splus_stamps(n_pool=1, n_labelled=n, random_state=random_state)
    labelled = data.labelled
    return Bunch(stamps=labelled.stamps, target=np.asarray(labelled.target))


def evaluate_splus_classification(
    pretrainer,
    *,
    bands: str = "12",
    n_labels: tuple[int, ...] = (100, 200, 500),
    n_test: int = 500,
    seeds: tuple[int, ...] = (0,),
    max_epochs: int = 30,
    warmup_epochs: int = 10,
    random_state: int = 2024,
    n_resamples: int = 1000,
    labelled=None,
) -> dict[str, Any]:
    """Star/galaxy/quasar classification from a pretrainer, with few labels.

    The downstream task of Martinazzo et al. (2021, §5.2) on a fresh
    simulated labelled set (:func:`~skastro.datasets.make_splus_stamps`,
    ``random_state``): the first ``n_test`` objects are the test set, nested
    subsets of the others (ordered by each seed) train

    - ``fine_tuned``: the pretrained network, top layers for
      ``warmup_epochs`` at lr 1e-3, then every layer at 1e-4;
    - ``frozen``: the pretrained backbone kept frozen, top layers trained;
    - ``scratch``: the same network from torchvision's VGG initialisation,
      every layer trained at 1e-3 (the baseline that trains, see the
      pretraining guide);

    all for ``max_epochs`` epochs, batches of 16, balanced class weights.

    Parameters
    ----------
    pretrainer : fitted MagnitudePretrainer
    bands : {"12", "5"}, default="12"
    n_labels : tuple of int, default=(100, 200, 500)
    n_test : int, default=500
    seeds : tuple of int, default=(0,)
    max_epochs, warmup_epochs : int
    random_state : int, default=2024
    n_resamples : int, default=1000
    labelled : Bunch, optional
        ``make_splus_stamps(...).labelled`` to reuse (else simulated).

    Returns
    -------
    metrics : dict
        ``{"n_labels": {n: {"fine_tuned": [acc per seed], ...}}, "mean": ...,
        "test_accuracy_ci": {...}}`` (test accuracies; the interval is the
        bootstrap of the first seed's run).
    """
    from ..datasets import SPLUS_BANDS, SPLUS_BROAD_BANDS
    from ..nn import PretrainedStampClassifier

    if labelled is None:
        labelled = _splus_labelled(n_test + max(n_labels), random_state)
    X = np.nan_to_num(labelled.stamps, nan=0.0)  # off-edge pixels, as splus_view
    if bands == "5":
        X = X[:, [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]]
    y = np.asarray(labelled.target)
    order = np.random.default_rng(random_state).permutation(len(y))
    test, rest = order[:n_test], order[n_test:]
    common = dict(
        max_epochs=max_epochs,
        batch_size=16,
        train_split=None,
        verbose=0,
    )
    arch = pretrainer.get_params()
    width, n_hidden = arch["module__width"], arch.get("module__n_hidden", 1024)
    results: dict[int, dict[str, list[float]]] = {}
    first_ci: dict[str, Any] = {}
    for n in n_labels:
        results[n] = {"fine_tuned": [], "frozen": [], "scratch": []}
        for seed in seeds:
            idx = rest[np.random.default_rng(seed).permutation(len(rest))[:n]]
            models = {
                "fine_tuned": PretrainedStampClassifier.from_pretrainer(
                    pretrainer,
                    freeze="two_phase",
                    warmup_epochs=warmup_epochs,
                    lr=1e-3,
                    finetune_lr=1e-4,
                    random_state=seed,
                    **common,
                ),
                "frozen": PretrainedStampClassifier.from_pretrainer(
                    pretrainer, freeze="head", lr=1e-3, random_state=seed, **common
                ),
                "scratch": PretrainedStampClassifier(
                    freeze="none",
                    lr=1e-3,
                    module__width=width,
                    module__n_hidden=n_hidden,
                    module__init="vgg",
                    random_state=seed,
                    **common,
                ),
            }
            for name, model in models.items():
                pred = model.fit(X[idx], y[idx]).predict(X[test])
                results[n][name].append(round(float((pred == y[test]).mean()), 4))
                if seed == seeds[0]:
                    first_ci.setdefault(str(n), {})[name] = _accuracy_ci(
                        y[test], pred, n_resamples=n_resamples, random_state=seed
                    )
    return {
        "protocol": (
            f"make_splus_stamps(n_labelled={n_test + max(n_labels)}, "
            f"random_state={random_state}); {n_test} test objects; "
            f"{max_epochs} epochs, batches of 16, seeds {list(seeds)}"
        ),
        "accuracy": {str(n): v for n, v in results.items()},
        "mean": {
            str(n): {k: round(float(np.mean(v)), 4) for k, v in r.items()}
            for n, r in results.items()
        },
        "test_accuracy_ci": first_ci,
    }


# ------------------------------------------------------------------- HiTS
#: Observation epochs seen at which the RCNN and the forest are compared by
#: default (Carrasco-Davis et al. 2019, Fig. 4.1; the RCNN's first
#: prediction needs a full window of 3).
HITS_EPOCHS_SEEN = (3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22)


def _hits_forest_fitted(n_per_class: int, random_state: int):
    X, y = hits_protocol_set(n_per_class, random_state=random_state)
    with _quiet_nan_features():
        return hits_forest(random_state=random_state).fit(X, y)


def _hits_forest_predictions(forest_n: int, X_test, rs: int, epochs: tuple):
    from ..metrics import predict_by_epochs_seen

    forest = _hits_forest_fitted(forest_n, rs + 1)
    with _quiet_nan_features():
        return predict_by_epochs_seen(forest, X_test, epochs)


@contextlib.contextmanager
def _quiet_nan_features():
    """Silence FATSFeatures' NaN-feature warning: light curves of a few
    epochs give NaN features, which the forest handles."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="FATS features are NaN")
        yield


def _recalls(y_true, y_pred, *, n_resamples: int, random_state: int) -> dict:
    from ..datasets import HITS_CLASSES
    from ..metrics import bootstrap_ci

    out = {}
    for c, name in enumerate(HITS_CLASSES):

        def recall(yt, yp, c=c):
            sel = yt == c
            return float(np.mean(yp[sel] == c)) if sel.any() else 0.0

        ci = bootstrap_ci(
            recall, y_true, y_pred, n_resamples=n_resamples, random_state=random_state
        )
        out[name] = {k: round(ci[k], 4) for k in ("value", "low", "high")}
    return out


def _paired_difference(y, pred_a, pred_b, *, n_resamples: int, random_state: int):
    """Bootstrap interval of accuracy(a) - accuracy(b) on the same sequences."""
    from ..metrics import bootstrap_ci

    def diff(yt, both):
        return float(np.mean(both[:, 0] == yt) - np.mean(both[:, 1] == yt))

    ci = bootstrap_ci(
        diff,
        np.asarray(y),
        np.stack([pred_a, pred_b], axis=1),
        n_resamples=n_resamples,
        random_state=random_state,
    )
    return {k: round(ci[k], 4) for k in ("value", "low", "high")}


def evaluate_sequence_rcnn(
    net,
    *,
    test_per_class: int = 300,
    forest_per_class: int = 1000,
    epochs: tuple[int, ...] = HITS_EPOCHS_SEEN,
    random_state: int = 2024,
    n_resamples: int = 1000,
    forest: bool = True,
    memory=None,
) -> dict[str, Any]:
    """HiTS protocol on fresh sequences: the RCNN beside the light-curve forest.

    Carrasco-Davis et al. (2019, §4.1, Fig. 4.1) on a fresh simulated test
    set of ``test_per_class`` sequences of each class, 22 epochs
    (:func:`~skastro.recipes.hits_protocol_set`, ``random_state``): accuracy after 22
    epochs and per-class recalls of the RCNN and of the forest
    (:func:`~skastro.recipes.hits_forest`, trained on ``forest_per_class`` other sequences
    per class, ``random_state + 1``), with 95% bootstrap intervals over the
    test sequences; the paired interval of the difference; and both
    accuracies against the number of observation epochs seen, on the same
    test sequences.

    Parameters
    ----------
    net : fitted SequenceRCNN
    test_per_class, forest_per_class : int
    epochs : tuple of int
        Observation epochs seen at which both are measured.
    random_state : int, default=2024
    n_resamples : int, default=1000
    forest : bool, default=True
        Whether to measure the forest (its FATS features cost most of the
        evaluation's CPU time).
    memory : str, joblib.Memory or None, default=None
        Cache of the test set and of the forest's predictions (which do not
        depend on ``net``), for evaluating several checkpoints.

    Returns
    -------
    metrics : dict
        ``{"rcnn": {"accuracy", "recall"}, "forest": ..., "rcnn_minus_forest",
        "accuracy_by_epochs_seen": {"rcnn": {k: {...}}, "forest": ...},
        "rcnn_minus_forest_by_epochs_seen", "sets"}``.
    """
    from joblib import Memory

    from ..metrics import bootstrap_ci, predict_by_epochs_seen

    memory = memory if isinstance(memory, Memory) else Memory(memory, verbose=0)
    rs = int(random_state)
    epochs = tuple(int(k) for k in epochs)
    X_test, y_test = memory.cache(hits_protocol_set)(test_per_class, random_state=rs)
    boot = {"n_resamples": n_resamples, "random_state": rs}

    def accuracy(yt, yp):
        return float(np.mean(yt == yp))

    def summary(pred):
        ci = bootstrap_ci(accuracy, y_test, pred, **boot)
        return {
            "accuracy": {k: round(ci[k], 4) for k in ("value", "low", "high")},
            "recall": _recalls(y_test, pred, **boot),
        }

    by_k = {"rcnn": predict_by_epochs_seen(net, X_test, epochs)}
    out: dict[str, Any] = {
        "sets": {
            "test": f"make_hits_sequences({test_per_class}, n_epochs=22, "
            f"random_state={rs}) with the known background",
        },
        "rcnn": summary(by_k["rcnn"][22]),
    }
    if forest:
        by_k["forest"] = memory.cache(_hits_forest_predictions)(
            forest_per_class, X_test, rs, epochs
        )
        out["sets"]["forest_train"] = (
            f"make_hits_sequences({forest_per_class}, n_epochs=22, "
            f"random_state={rs + 1}) with the known background"
        )
        out["forest"] = summary(by_k["forest"][22])
        out["rcnn_minus_forest"] = _paired_difference(
            y_test, by_k["rcnn"][22], by_k["forest"][22], **boot
        )
    curves: dict[str, dict] = {}
    for name, preds in by_k.items():
        curves[name] = {}
        for k, pred in preds.items():
            if pred is None:
                continue
            ci = bootstrap_ci(accuracy, y_test, pred, **boot)
            curves[name][str(k)] = {
                key: round(ci[key], 4) for key in ("value", "low", "high")
            }
    out["accuracy_by_epochs_seen"] = curves
    if forest:
        out["rcnn_minus_forest_by_epochs_seen"] = {
            str(k): _paired_difference(
                y_test, by_k["rcnn"][k], by_k["forest"][k], **boot
            )
            for k in epochs
            if by_k["rcnn"][k] is not None
        }
    return out


def _class_recalls(y_true, y_pred, labels) -> list[float]:
    """Recall of each class in ``labels``, in that order."""
    return [float(np.mean(y_pred[y_true == c] == c)) for c in labels]


def _average_recall(y_true, y_pred, labels) -> float:
    return float(np.mean(_class_recalls(y_true, y_pred, labels)))


def _average_recall_draws(y_true, y_pred, labels, rng, n_resamples: int):
    """Bootstrap draws of the average recall over ``labels``: the sequences
    are resampled with replacement within each class (the class sizes stay
    fixed, so every resample has every class)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    hits = [y_pred[y_true == c] == c for c in labels]
    return np.mean(
        [rng.choice(h, size=(n_resamples, len(h))).mean(axis=1) for h in hits],
        axis=0,
    )


def _average_recall_ci(
    y_true, y_pred, labels, *, n_resamples: int, random_state: Any
) -> dict[str, float]:
    """Average recall over ``labels`` with a 95% bootstrap interval."""
    rng = np.random.default_rng(random_state)
    draws = _average_recall_draws(y_true, y_pred, labels, rng, n_resamples)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {
        "value": round(
            _average_recall(np.asarray(y_true), np.asarray(y_pred), labels), 4
        ),
        "low": round(float(low), 4),
        "high": round(float(high), 4),
    }


def _gap_interval(
    in_domain, shifted, labels, *, n_resamples: int, random_state: Any
) -> dict[str, float]:
    """95% bootstrap interval of in-domain minus shifted average recall,
    ``in_domain`` and ``shifted`` each ``(y_true, y_pred)``, the two sets
    resampled independently."""
    rng = np.random.default_rng([random_state, 1])
    diff = _average_recall_draws(
        *in_domain, labels, rng, n_resamples
    ) - _average_recall_draws(*shifted, labels, rng, n_resamples)
    low, high = np.percentile(diff, [2.5, 97.5])
    return {"low": round(float(low), 4), "high": round(float(high), 4)}


def _over_trials(values) -> dict[str, Any]:
    """Mean, sample standard deviation and 95% Student-t interval of the
    mean of per-trial values (no interval from a single trial)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    mean = float(np.mean(v))
    out: dict[str, Any] = {"mean": round(mean, 4), "sd": 0.0, "low": None, "high": None}
    if len(v) > 1:
        sd = float(np.std(v, ddof=1))
        half = float(stats.t.ppf(0.975, len(v) - 1)) * sd / np.sqrt(len(v))
        out.update(
            sd=round(sd, 4), low=round(mean - half, 4), high=round(mean + half, 4)
        )
    out["trials"] = [round(float(x), 4) for x in v]
    return out


#: ``fine_tune_params`` that :func:`hits_shifted_domain` passes on to
#: :meth:`~skastro.nn.SequenceRCNN.fine_tune`.
_FINE_TUNE_OPTIONS = ("lr", "freeze", "replay_fraction", "renorm_statistics")


def _shifted_domain_sets(n_per_class, forest_per_class, n_fine_tune, rs):
    """The forest and the three sets of :func:`hits_shifted_domain`, with features.

    Returns the fitted forest and ``(X, y, F)`` of the simulated set, the
    shifted set and the in-domain set of the five classes.
    """
    if not 0 < n_fine_tune < n_per_class:
        raise ValueError(
            f"n_fine_tune must be in [1, n_per_class - 1] = [1, {n_per_class - 1}] "
            f"so that every class keeps test sequences; got {n_fine_tune!r}."
        )
    X_rf, y_rf = hits_protocol_set(forest_per_class, random_state=rs + 1)
    Xr, yr = hits_protocol_set(
        dict.fromkeys(HITS_REAL_CLASSES, n_per_class),
        random_state=rs + 2,
        domain="real",
    )
    Xs, ys = hits_protocol_set(
        dict.fromkeys(HITS_REAL_CLASSES, n_per_class - n_fine_tune), random_state=rs + 3
    )
    with _quiet_nan_features():
        forest = hits_forest(random_state=rs).fit(X_rf, y_rf)
        features = forest[:-1]
        sets = [
            (X, y, features.transform(X)) for X, y in ((X_rf, y_rf), (Xr, yr), (Xs, ys))
        ]
    return (forest, *sets)


def _shifted_domain_protocol(
    n_per_class, forest_per_class, n_fine_tune, n_trials, rs, settings
) -> dict[str, Any]:
    """The ``protocol``, ``definition`` and ``fine_tune`` entries of the study."""
    options = {
        k: v
        for k, v in settings.items()
        if k not in ("n_iterations", "batch_size", "replay")
    }
    protocol = (
        f"hits_protocol_set({n_per_class} of {list(HITS_REAL_CLASSES)}, "
        f"domain='real', random_state={rs + 2}); in-domain "
        f"hits_protocol_set({n_per_class - n_fine_tune} of the same classes, "
        f"random_state={rs + 3}); forest"
        + (" and replay" if settings["replay"] != "none" else "")
        + f" hits_protocol_set({forest_per_class}, random_state={rs + 1}); "
        f"{n_fine_tune} per class to fine-tune, {settings['n_iterations']} "
        f"batches of {settings['batch_size']}"
        + ("" if settings["replay"] != "none" else " without replay")
        + (f" ({options})" if options else "")
        + f"; {n_trials} trials"
    )
    definition = (
        "average recall over SN, RRL, EB, NV, AST after 22 epochs; gap = "
        "in-domain - shifted before adaptation; recovered_fraction = "
        "(after - before) / gap, per trial"
    )
    return {"protocol": protocol, "definition": definition, "fine_tune": settings}


def _shifted_domain_trial(
    net,
    forest,
    sim,
    real,
    before,
    labels,
    *,
    rng,
    n_fine_tune,
    fit_params,
    net_params,
    replay=True,
) -> dict[str, list[float]]:
    """One trial of :func:`hits_shifted_domain`: adapt both models, score the
    rest; the recall of each class in ``labels`` per model."""
    from sklearn.base import clone

    X_rf, y_rf, F_rf = sim
    Xr, yr, F_real = real
    ft = np.concatenate(
        [
            rng.choice(np.flatnonzero(yr == c), n_fine_tune, replace=False)
            for c in labels
        ]
    )
    rest = np.setdiff1d(np.arange(len(yr)), ft)
    tuned = copy.deepcopy(net).set_params(**net_params)
    tuned.fine_tune(
        Xr[ft], yr[ft], replay=(X_rf, y_rf) if replay else None, **fit_params
    )
    augmented = clone(forest[-1]).fit(
        np.vstack([F_rf, np.repeat(F_real[ft], 100, axis=0)]),
        np.concatenate([y_rf, np.repeat(yr[ft], 100)]),
    )
    preds = {
        "rcnn": before["rcnn"][rest],
        "forest": before["forest"][rest],
        "rcnn_fine_tuned": tuned.predict(Xr[rest]),
        "forest_augmented": augmented.predict(F_real[rest]),
    }
    return {k: _class_recalls(yr[rest], p, labels) for k, p in preds.items()}


def _class_recall_table(runs, in_domain) -> dict[str, Any]:
    """``class_recall`` of :func:`hits_shifted_domain`: ``{model: {class:
    recall}}`` (rounded), each model's per-trial recalls (``runs``)
    averaged, and ``in_domain`` (``{model: recalls}``) under ``"in_domain"``."""

    def named(recalls):
        values = np.round(np.asarray(recalls, dtype=float), 4).tolist()
        return dict(zip(HITS_REAL_CLASSES, values, strict=True))

    return {
        "in_domain": {model: named(r) for model, r in in_domain.items()},
        **{k: named(np.mean([run[k] for run in runs], axis=0)) for k in runs[0]},
    }


def _shifted_domain_recovery(trials, sim, real, labels, boot) -> dict[str, Any]:
    """In-domain and shifted recall, gap and recovered fraction of each model."""
    (ys, in_pred), (yr, before) = sim, real
    in_domain = {
        k: _average_recall_ci(ys, p, labels, **boot) for k, p in in_pred.items()
    }
    shifted = {k: _average_recall_ci(yr, p, labels, **boot) for k, p in before.items()}
    gap, recovered = {}, {}
    for model, after in (("rcnn", "rcnn_fine_tuned"), ("forest", "forest_augmented")):
        per_trial = [in_domain[model]["value"] - b for b in trials[model]]
        gap[model] = {
            "value": round(in_domain[model]["value"] - shifted[model]["value"], 4),
            **_gap_interval((ys, in_pred[model]), (yr, before[model]), labels, **boot),
            "trials": [round(g, 4) for g in per_trial],
        }
        recovered[model] = _over_trials(
            [
                (a - b) / g if g > 0 else float("nan")
                for a, b, g in zip(trials[after], trials[model], per_trial, strict=True)
            ]
        )
    return {
        "in_domain": in_domain,
        "shifted": shifted,
        "gap": gap,
        "recovered_fraction": recovered,
    }


def _fine_tune_options(fine_tune_params: dict | None) -> tuple[dict, bool]:
    """Checked ``fine_tune_params`` of :func:`hits_shifted_domain` and whether
    the forest's training set is replayed (``replay_fraction > 0``)."""
    options = dict(fine_tune_params or {})
    unknown = sorted(set(options) - set(_FINE_TUNE_OPTIONS))
    if unknown:
        raise ValueError(
            f"fine_tune_params takes {list(_FINE_TUNE_OPTIONS)}; got {unknown}."
        )
    fraction = options.get("replay_fraction", 0.75)
    if not isinstance(fraction, Real) or not 0.0 <= float(fraction) < 1.0:
        raise ValueError(
            "fine_tune_params['replay_fraction'] must be a float in [0, 1) (0: no "
            f"replay); got {fraction!r}."
        )
    replay = float(fraction) > 0.0
    if not replay:
        del options["replay_fraction"]
    return options, replay


def hits_shifted_domain(
    net,
    *,
    n_per_class: int = 110,
    forest_per_class: int = 1000,
    n_trials: int = 5,
    n_fine_tune: int = 10,
    fine_tune_iterations: int = 1000,
    fine_tune_batch: int = 32,
    fine_tune_params: dict[str, Any] | None = None,
    random_state: int = 2024,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Shifted-domain study of Carrasco-Davis et al. (2019, §4.2, Fig. 4.2).

    The paper's average recall (mean of the per-class recalls) over the
    five classes of its real HiTS set (SN, RRL, EB, NV, AST) after 22
    observation epochs: RCNN 0.85 before and 0.94 after fine-tuning on 10
    real sequences per class, the forest 0.88 before and 0.94 when trained
    with those sequences copied 100 times (5 draws). Here the real set is
    ``make_hits_sequences(domain="real")``, a shifted domain (see
    :doc:`/user_guide/hits_simulator`); the sets are
    :func:`~skastro.recipes.hits_protocol_set` of 22 epochs: shifted,
    ``n_per_class`` per class, ``random_state + 2``; in-domain, ``n_per_class
    - n_fine_tune`` per class of the same classes, ``random_state + 3``;
    the forest's training set, also replayed while fine-tuning,
    ``forest_per_class`` per class of the seven classes, ``random_state + 1``.

    Each of ``n_trials`` trials draws ``n_fine_tune`` shifted sequences per
    class (``numpy.random.default_rng([random_state, trial])``) to adapt on
    and tests on the others: the RCNN fine-tuned on them
    (:meth:`~skastro.nn.SequenceRCNN.fine_tune`, ``random_state=trial``),
    the forest refitted with them copied 100 times. Per model: ``in_domain``
    and ``before``/``after`` average recall; ``gap = in_domain - before``
    (what the shift costs); ``recovered_fraction = (after - before) / gap``
    per trial (1: back to the in-domain level; NaN where the gap is not
    positive). The paper gives no in-domain five-class recall; its
    seven-class accuracy (0.953) puts its gap near 0.10 and its recovered
    fraction near 0.9.

    Parameters
    ----------
    net : fitted SequenceRCNN
        Left unchanged (each trial fine-tunes a copy).
    n_per_class : int, default=110
        Shifted sequences per class.
    forest_per_class : int, default=1000
        Simulated sequences per class of the forest's training set and of
        the replayed set.
    n_trials : int, default=5
        Draws of the fine-tuning sequences (the paper's 5).
    n_fine_tune : int, default=10
        Shifted sequences per class to adapt on (the paper's 10).
    fine_tune_iterations : int, default=1000
        Optimiser steps of the fine-tuning (the paper's 1000).
    fine_tune_batch : int, default=32
        Sequences per fine-tuning batch.
    fine_tune_params : dict, optional
        Further arguments of :meth:`~skastro.nn.SequenceRCNN.fine_tune`:
        ``lr``, ``freeze``, ``replay_fraction``, ``renorm_statistics``.
        ``replay_fraction=0`` fine-tunes on the shifted sequences alone,
        without replay (the paper's protocol); otherwise the forest's
        training set is replayed.
    random_state : int, default=2024
    n_resamples : int, default=1000
        Bootstrap resamples of the intervals over sequences.

    Returns
    -------
    metrics : dict
        ``average_recall`` per model (``"rcnn"``, ``"forest"``, ``"rcnn_fine_tuned"``,
        ``"forest_augmented"``): ``mean``, ``sd``, 95% Student-t ``low``/``high``
        over trials and the ``trials``; ``in_domain``, ``shifted`` (before
        adaptation, all shifted sequences) and ``gap`` per model (``"rcnn"``,
        ``"forest"``) with 95% bootstrap intervals (resampled within classes),
        ``gap`` also per trial; ``recovered_fraction`` per model as
        ``average_recall``; ``class_recall``: each of the five classes' recall per
        model, averaged over the trials (each on its test sequences), and under
        ``"in_domain"`` per model on the in-domain set; ``protocol``,
        ``definition`` and ``fine_tune`` (the settings).

    Examples
    --------
    >>> from skastro.models import load_pretrained  # doctest: +SKIP
    >>> hits_shifted_domain(load_pretrained("sequence-rcnn-hits-sim"))  # doctest: +SKIP
    """
    from ..datasets import HITS_CLASSES

    options, replay = _fine_tune_options(fine_tune_params)
    rs = int(random_state)
    forest, sim, real, (Xs, ys, F_sim) = _shifted_domain_sets(
        n_per_class, forest_per_class, n_fine_tune, rs
    )
    (Xr, yr, F_real), labels = real, [HITS_CLASSES.index(c) for c in HITS_REAL_CLASSES]
    before = {"rcnn": net.predict(Xr), "forest": forest[-1].predict(F_real)}
    in_pred = {"rcnn": net.predict(Xs), "forest": forest[-1].predict(F_sim)}
    fit_params = {"n_iterations": fine_tune_iterations, **options}
    runs = [
        _shifted_domain_trial(
            net, forest, sim, real, before, labels,
            rng=np.random.default_rng([rs, t]), n_fine_tune=n_fine_tune,
            fit_params=fit_params, replay=replay,
            net_params={"batch_size": fine_tune_batch, "random_state": t},
        )
        for t in range(n_trials)
    ]  # fmt: skip
    trials = {k: [float(np.mean(run[k])) for run in runs] for k in runs[0]}
    in_recalls = {k: _class_recalls(ys, p, labels) for k, p in in_pred.items()}
    boot = {"n_resamples": n_resamples, "random_state": rs}
    return {
        **_shifted_domain_protocol(
            n_per_class, forest_per_class, n_fine_tune, n_trials, rs,
            {**fit_params, "batch_size": fine_tune_batch,
             "replay": f"{forest_per_class} simulated sequences per class"
             if replay else "none"},
        ),
        "average_recall": {k: _over_trials(v) for k, v in trials.items()},
        "class_recall": _class_recall_table(runs, in_recalls),
        **_shifted_domain_recovery(trials, (ys, in_pred), (yr, before), labels, boot),
    }  # fmt: skip


def hits_forest_calibration(
    n_per_class: int = 1000,
    *,
    test_size: float = 0.3,
    random_state: int = 0,
    n_resamples: int = 1000,
    **simulator_kwargs: Any,
) -> dict[str, Any]:
    """The light-curve forest on the HiTS simulator: its calibration check.

    The simulator's difficulty is set so that the paper's light-curve forest
    (:func:`~skastro.recipes.hits_forest`) reaches the paper's accuracy on
    it: Carrasco-Davis et al. (2019, Fig. 4.1) report 0.923 ± 0.002 test
    accuracy after 22 observation epochs on their simulated sequences.
    This simulates ``n_per_class`` sequences of each of the seven classes
    (:func:`~skastro.recipes.hits_protocol_set`, 22 epochs, the known sky
    and host as background), splits off a stratified ``test_size``, fits the
    forest on the rest and measures it on the held-out sequences.

    Parameters
    ----------
    n_per_class : int, default=1000
        Sequences per class (7,000 in all by default).
    test_size : float, default=0.3
        Fraction of the sequences held out for the test, stratified by class.
    random_state : int, default=0
        Seeds the simulation, the split and the forest.
    n_resamples : int, default=1000
        Bootstrap resamples of the 95% intervals, over test sequences.
    **simulator_kwargs
        Further parameters of :func:`~skastro.datasets.make_hits_sequences`.

    Returns
    -------
    metrics : dict
        ``n_train``, ``n_test``; ``accuracy`` ``{"value", "low", "high"}``;
        ``recall`` per class name (:data:`~skastro.datasets.HITS_CLASSES`),
        each with its interval; ``confusion`` (7 x 7, rows true class,
        columns predicted, in the order of ``HITS_CLASSES``); and
        ``cpu_seconds`` of the forest's fit and prediction.

    Examples
    --------
    >>> from skastro.training import hits_forest_calibration
    >>> out = hits_forest_calibration(3, n_resamples=20)
    >>> out["n_train"], out["n_test"], len(out["recall"])
    (14, 7, 7)
    """
    import time

    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    from ..datasets import HITS_CLASSES

    X, y = hits_protocol_set(n_per_class, random_state=random_state, **simulator_kwargs)
    train, test = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y, random_state=random_state
    )
    t0 = time.process_time()
    with _quiet_nan_features():
        forest = hits_forest(random_state=random_state).fit(X[train], y[train])
        pred = forest.predict(X[test])
    boot = {"n_resamples": n_resamples, "random_state": int(random_state)}
    return {
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": _accuracy_ci(y[test], pred, **boot),
        "recall": _recalls(y[test], pred, **boot),
        "confusion": confusion_matrix(
            y[test], pred, labels=range(len(HITS_CLASSES))
        ).tolist(),
        "cpu_seconds": time.process_time() - t0,
    }
