"""Classification metrics of the astronomy papers, as scikit-learn scorers.

Tanoglidis et al. (2021, §4.1, §6.1) reports accuracy,
*completeness* (recall of the positive class, eq. 8), *purity* (precision,
eq. 9) and the ROC AUC, with 95% bootstrap confidence intervals from 1000
resamples of the test set. This module provides the two named metrics as
functions and scorers usable in ``GridSearchCV(scoring=...)``, and
bootstrap intervals for any metric.

Carrasco-Davis et al. (2019, Fig. 4.1) reports the accuracy of a sequence
classifier against the number of observation epochs it has seen, on the
same test objects for every model: :func:`truncate_sequences` shows a
classifier the first ``k`` epochs of each sequence and
:func:`accuracy_by_epochs_seen` gives the curve with bootstrap intervals;
:func:`recall_by_class_ci` gives per-class recalls with intervals.

:func:`chance_level` is the score to compare a result with before reading
anything into it (majority class, 1/k, random neighbours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    make_scorer,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.utils import check_random_state

from .sequences import epoch_order, sequence_mask, truncate_sequences
from .utils._params import Interval, validate_params

__all__ = [
    "accuracy_by_epochs_seen",
    "bootstrap_ci",
    "bootstrap_classification_metrics",
    "chance_level",
    "completeness_score",
    "completeness_scorer",
    "lsbg_scoring",
    "predict_by_epochs_seen",
    "purity_score",
    "purity_scorer",
    "recall_by_class_ci",
    "truncate_sequences",
]


def completeness_score(y_true, y_pred, *, pos_label=1, sample_weight=None) -> float:
    """Completeness TP / (TP + FN): the fraction of true positives recovered.

    Tanoglidis et al. (2021, eq. 8); the same as :func:`sklearn.metrics.recall_score`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    pos_label : int or str, default=1
        The class whose completeness is measured (LSBG = 1).
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    completeness : float in [0, 1]; 0 when there is no positive in ``y_true``.

    Examples
    --------
    >>> from skastro.metrics import completeness_score
    >>> completeness_score([1, 1, 0, 0], [1, 0, 0, 1])
    0.5
    """
    return float(
        recall_score(
            y_true,
            y_pred,
            pos_label=pos_label,
            sample_weight=sample_weight,
            zero_division=0.0,
        )
    )


def purity_score(y_true, y_pred, *, pos_label=1, sample_weight=None) -> float:
    """Purity TP / (TP + FP): the fraction of selected objects that are positive.

    Tanoglidis et al. (2021, eq. 9); the same as :func:`sklearn.metrics.precision_score`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    pos_label : int or str, default=1
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    purity : float in [0, 1]; 0 when nothing is predicted positive.

    Examples
    --------
    >>> from skastro.metrics import purity_score
    >>> purity_score([1, 1, 0, 0], [1, 1, 1, 0])
    0.6666666666666666
    """
    return float(
        precision_score(
            y_true,
            y_pred,
            pos_label=pos_label,
            sample_weight=sample_weight,
            zero_division=0.0,
        )
    )


#: Scorer of :func:`completeness_score` (greater is better).
completeness_scorer = make_scorer(completeness_score)
#: Scorer of :func:`purity_score` (greater is better).
purity_scorer = make_scorer(purity_score)


def lsbg_scoring() -> dict[str, Any]:
    """The four metrics of Tanoglidis et al. (2021, Table 2) as a ``scoring=`` dict.

    Returns
    -------
    scoring : dict
        ``{"accuracy", "completeness", "purity", "roc_auc"}`` for
        :class:`~sklearn.model_selection.GridSearchCV` or
        :func:`~sklearn.model_selection.cross_validate`.
    """
    return {
        "accuracy": "accuracy",
        "completeness": completeness_scorer,
        "purity": purity_scorer,
        "roc_auc": "roc_auc",
    }


@validate_params(
    {
        "metric": [callable],
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "n_resamples": [Interval(Integral, 1, None, closed="left")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }
)
def bootstrap_ci(
    metric: Callable[..., float],
    y_true,
    y_pred,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state=None,
) -> dict[str, float]:
    """Bootstrap confidence interval of a metric on a test set.

    The test set is resampled with replacement ``n_resamples`` times, the
    metric computed on each resample, and the interval given by the
    percentiles (1 ± confidence)/2 of those values (Tanoglidis et al. 2021, §6.1: 1000
    resamples, 95%). Resamples on which the metric is undefined (e.g. a
    single class for the ROC AUC) are redrawn.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred) -> float``, e.g. :func:`completeness_score`
        or :func:`sklearn.metrics.roc_auc_score` (with scores as ``y_pred``).
    y_true : array-like of shape (n_samples,)
    y_pred : array-like of shape (n_samples,)
        Predicted labels, or scores/probabilities for a ranking metric.
    n_resamples : int, default=1000
    confidence : float, default=0.95
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    result : dict
        ``value`` (the metric on the full test set), ``low``, ``high``
        (the interval), ``std`` (standard deviation over the resamples).

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.metrics import bootstrap_ci
    >>> from sklearn.metrics import accuracy_score
    >>> y = np.array([0, 1] * 50)
    >>> ci = bootstrap_ci(accuracy_score, y, y, random_state=0)
    >>> ci["low"], ci["high"]
    (1.0, 1.0)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}."
        )
    if len(y_true) == 0:
        raise ValueError("bootstrap_ci needs a non-empty test set.")
    value = float(metric(y_true, y_pred))
    rng = check_random_state(random_state)
    n = len(y_true)
    values = np.empty(n_resamples)
    k = 0
    tries = 0
    while k < n_resamples:
        idx = rng.randint(0, n, size=n)
        tries += 1
        try:
            values[k] = metric(y_true[idx], y_pred[idx])
        except ValueError:
            if tries > 10 * n_resamples:
                raise ValueError(
                    f"{getattr(metric, '__name__', metric)!s} is undefined on most "
                    "bootstrap resamples (e.g. a single class); use a larger test set."
                ) from None
            continue
        k += 1
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return {
        "value": value,
        "low": float(low),
        "high": float(high),
        "std": float(values.std(ddof=1)) if n_resamples > 1 else 0.0,
    }


def bootstrap_classification_metrics(
    y_true,
    y_score,
    *,
    threshold: float = 0.5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state=None,
    metrics: Mapping[str, tuple[Callable[..., float], str]] | None = None,
) -> pd.DataFrame:
    """Accuracy, completeness, purity and AUC with bootstrap intervals.

    One row per metric, as Tanoglidis et al. (2021, Tables 2–4): predictions are
    ``y_score > threshold`` for the label metrics and ``y_score`` itself
    for the AUC, and every metric is bootstrapped on the *same* resamples
    (the same ``random_state``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    y_score : array-like of shape (n_samples,)
        P(positive) (``predict_proba(X)[:, 1]``) or a decision function
        (then set ``threshold=0``).
    threshold : float, default=0.5
    n_resamples : int, default=1000
    confidence : float, default=0.95
    random_state : int or None, default=None
    metrics : dict, optional
        ``name -> (metric, "label" | "score")``; default the four above.

    Returns
    -------
    table : pandas.DataFrame
        Index: metric names; columns ``value``, ``low``, ``high``, ``std``.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    y_pred = (y_score > threshold).astype(int)
    if metrics is None:
        metrics = {
            "accuracy": (accuracy_score, "label"),
            "completeness": (completeness_score, "label"),
            "purity": (purity_score, "label"),
            "roc_auc": (roc_auc_score, "score"),
        }
    seed = check_random_state(random_state).randint(0, 2**31 - 1)
    rows = {}
    for name, (metric, kind) in metrics.items():
        if kind not in ("label", "score"):
            raise ValueError(
                f"metrics[{name!r}] kind must be 'label' or 'score'; got {kind!r}."
            )
        rows[name] = bootstrap_ci(
            metric,
            y_true,
            y_pred if kind == "label" else y_score,
            n_resamples=n_resamples,
            confidence=confidence,
            random_state=seed,
        )
    return pd.DataFrame.from_dict(rows, orient="index")


def recall_by_class_ci(
    y_true,
    y_pred,
    labels=None,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state=None,
) -> dict[Any, dict[str, float]]:
    """Recall of each class with a bootstrap interval.

    The per-class recalls Carrasco-Davis et al. (2019, Figs. 4.4-4.5) show
    as confusion-matrix diagonals, with percentile bootstrap intervals over
    the test set (:func:`bootstrap_ci`); every class is bootstrapped on the
    same resamples. A resample without a class scores 0 for it.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : array-like, optional
        Classes to measure; default those of ``y_true``, sorted.
    n_resamples : int, default=1000
    confidence : float, default=0.95
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    recalls : dict
        ``label -> {"value", "low", "high", "std"}``.

    Examples
    --------
    >>> from skastro.metrics import recall_by_class_ci
    >>> r = recall_by_class_ci([0, 0, 1, 1], [0, 1, 1, 1], n_resamples=10,
    ...                        random_state=0)
    >>> r[0]["value"], r[1]["value"]
    (0.5, 1.0)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = np.unique(y_true) if labels is None else np.asarray(labels)
    seed = check_random_state(random_state).randint(0, 2**31 - 1)
    out = {}
    for c in labels.tolist():

        def recall_c(yt, yp, c=c):
            sel = yt == c
            return float(np.mean(yp[sel] == c)) if sel.any() else 0.0

        out[c] = bootstrap_ci(
            recall_c,
            y_true,
            y_pred,
            n_resamples=n_resamples,
            confidence=confidence,
            random_state=seed,
        )
    return out


_CHANCE_METRICS = ("accuracy", "balanced_accuracy", "precision_at_k")


def chance_level(y, *, metric: str = "accuracy", queries=None) -> float:
    """The score a classifier or search reaches without looking at the data.

    Compare a result with it before reading anything into it: a score whose
    bootstrap interval reaches the chance level is not evidence that the
    model learned anything.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The labels of the test set (``"accuracy"``, ``"balanced_accuracy"``)
        or of the gallery searched (``"precision_at_k"``).
    metric : {"accuracy", "balanced_accuracy", "precision_at_k"}, default="accuracy"
        ``"accuracy"``: the fraction of the most frequent class (always
        predicting it). ``"balanced_accuracy"`` (the mean recall over
        classes): 1 / number of classes. ``"precision_at_k"``: the expected
        fraction of a query's class among neighbours drawn at random from
        the gallery without the query itself, averaged over ``queries``
        (:func:`skastro.neighbors.precision_at_k`).
    queries : array-like, optional
        For ``"precision_at_k"``: the labels of the queries, themselves in
        the gallery ``y`` (default: every gallery object).

    Returns
    -------
    chance : float in [0, 1]

    Examples
    --------
    >>> from skastro.metrics import chance_level
    >>> chance_level(["STAR"] * 6 + ["QSO"] * 2 + ["GALAXY"] * 2)
    0.6
    >>> chance_level(["STAR"] * 6 + ["QSO"] * 2, metric="balanced_accuracy")
    0.5
    >>> round(chance_level(["STAR"] * 6 + ["QSO"] * 2, metric="precision_at_k",
    ...                    queries=["QSO"]), 3)
    0.143
    """
    if metric not in _CHANCE_METRICS:
        raise ValueError(
            f"metric must be one of {list(_CHANCE_METRICS)}; got {metric!r}."
        )
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(
            f"y must be a non-empty 1-D array of labels; got shape {y.shape}."
        )
    classes, counts = np.unique(y, return_counts=True)
    if metric == "accuracy":
        return float(counts.max() / len(y))
    if metric == "balanced_accuracy":
        return float(1.0 / len(classes))
    if len(y) < 2:
        raise ValueError("precision_at_k needs a gallery of at least 2 objects.")
    queries = y if queries is None else np.asarray(queries)
    count = dict(zip(classes.tolist(), counts.tolist()))
    missing = sorted({q for q in queries.tolist() if q not in count}, key=str)
    if missing:
        raise ValueError(
            f"queries hold labels {missing} that are not in the gallery y; a "
            "query must be one of the gallery objects."
        )
    return float(np.mean([(count[q] - 1) / (len(y) - 1) for q in queries.tolist()]))


# --------------------------------------------------------------------------
# Accuracy against the number of observation epochs seen
# --------------------------------------------------------------------------
def _sequence_mask(X: Any, caller: str) -> np.ndarray:
    """The (n, T) validity mask of a sequence set (:mod:`skastro.sequences`)."""
    return sequence_mask(X, caller=caller)


def _check_epochs(epochs: Any, n_max: int) -> list[int]:
    if epochs is None:
        return list(range(1, n_max + 1))
    if isinstance(epochs, Integral | np.integer) and not isinstance(epochs, bool):
        epochs = [epochs]
    try:
        values = [int(k) for k in epochs]
        ok = all(float(k) == int(k) and not isinstance(k, bool) for k in epochs)
    except (TypeError, ValueError):
        values, ok = [], False
    if not values or not ok or min(values) < 1:
        raise ValueError(
            "epochs must be None (1 .. the longest sequence) or positive ints; got "
            f"{epochs!r}."
        )
    return sorted(set(values))


def predict_by_epochs_seen(
    estimator: Any, X: Mapping[str, Any], epochs: Iterable[int] | None = None
) -> dict[int, np.ndarray | None]:
    """A fitted sequence classifier's predictions after 1, 2, ... epochs seen.

    For an estimator with ``predict_proba_steps`` (such as
    :class:`~skastro.nn.SequenceRCNN`, whose recurrent state depends only on
    the images so far) the probabilities after every epoch come from one
    pass; for any other classifier (a light-curve forest pipeline) ``predict``
    runs on :func:`truncate_sequences` ``(X, k)`` for each ``k``. A sequence
    with fewer than ``k`` valid epochs is predicted from all of them.

    Parameters
    ----------
    estimator : fitted classifier
        ``predict(X)`` on sequence mappings, and optionally
        ``predict_proba_steps(X)`` of shape (n, T, n_classes) with
        ``classes_``.
    X : mapping
        Test sequences (see :func:`truncate_sequences`).
    epochs : iterable of int, optional
        Numbers of epochs seen; default ``1 .. T`` (the longest sequence).

    Returns
    -------
    predictions : dict
        ``{k: y_pred}`` with ``y_pred`` of shape (n_sequences,), or None
        where the estimator has no prediction yet for some sequence (the
        RCNN before its first full window of ``n_window`` images).
    """
    mask = _sequence_mask(X, "predict_by_epochs_seen")
    n_valid = mask.sum(axis=1)
    ks = _check_epochs(epochs, int(n_valid.max()) if n_valid.size else 0)
    out: dict[int, np.ndarray | None] = {}
    if hasattr(estimator, "predict_proba_steps"):
        steps = np.asarray(estimator.predict_proba_steps(X))
        classes = np.asarray(getattr(estimator, "classes_", np.arange(steps.shape[-1])))
        # position of the j-th valid epoch of each sequence, in time order
        mjd = np.asarray(X["mjd"], dtype=float) if "mjd" in X else None
        order = epoch_order(mask, mjd)
        rows = np.arange(len(mask))
        for k in ks:
            j = np.minimum(k, n_valid) - 1
            p = steps[rows, order[rows, np.maximum(j, 0)]]
            if (j < 0).any() or not np.isfinite(p).all():
                out[k] = None
            else:
                out[k] = classes[np.argmax(p, axis=1)]
        return out
    for k in ks:
        out[k] = np.asarray(estimator.predict(truncate_sequences(X, k)))
    return out


def accuracy_by_epochs_seen(
    estimator: Any,
    X: Mapping[str, Any],
    y: Any,
    *,
    epochs: Iterable[int] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state=None,
) -> pd.DataFrame:
    """Test accuracy against the number of observation epochs seen.

    Carrasco-Davis et al. (2019, Fig. 4.1): the accuracy of a sequence
    classifier after it has seen the first ``k`` images (or light-curve
    points) of each test sequence, for ``k = 1 .. 22``, on the same test
    objects for every model. The intervals are percentile bootstrap
    intervals over the test sequences (:func:`bootstrap_ci`); with the same
    ``random_state`` and test set, two models' intervals come from the same
    resamples.

    Parameters
    ----------
    estimator : fitted classifier
        See :func:`predict_by_epochs_seen`.
    X : mapping
        Test sequences (``"mask"`` (n, T) marks the valid epochs).
    y : array-like of shape (n_sequences,)
        True labels.
    epochs : iterable of int, optional
        Numbers of epochs seen; default ``1 .. T``.
    n_resamples : int, default=1000
        Bootstrap resamples (0: no interval, NaN ``low``/``high``/``std``).
    confidence : float, default=0.95
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    table : pandas.DataFrame
        Index ``epochs_seen``; columns ``accuracy``, ``low``, ``high``,
        ``std``. NaN where the estimator has no prediction yet (the RCNN
        before ``n_window`` images).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skastro.datasets import make_hits_sequences
    >>> from skastro.metrics import accuracy_by_epochs_seen
    >>> X, y = make_hits_sequences(3, n_epochs=6, return_X_y=True,
    ...                                random_state=0)
    >>> class Constant:  # a "classifier" that always answers SN
    ...     def predict(self, X):
    ...         return np.zeros(len(X["mask"]), dtype=int)
    >>> table = accuracy_by_epochs_seen(Constant(), X, y, epochs=[3, 6],
    ...                                 n_resamples=0)
    >>> table["accuracy"].round(3).tolist()
    [0.143, 0.143]
    """
    y = np.asarray(y)
    mask = _sequence_mask(X, "accuracy_by_epochs_seen")
    if y.ndim != 1 or len(y) != len(mask):
        raise ValueError(
            f"y must hold one label per sequence: shape ({len(mask)},); got {y.shape}."
        )
    if (
        not isinstance(n_resamples, Integral | np.integer)
        or isinstance(n_resamples, bool)
        or n_resamples < 0
    ):
        raise ValueError(f"n_resamples must be an int >= 0; got {n_resamples!r}.")
    seed = check_random_state(random_state).randint(0, 2**31 - 1)
    rows = {}
    for k, pred in predict_by_epochs_seen(estimator, X, epochs).items():
        if pred is None:
            rows[k] = dict.fromkeys(("accuracy", "low", "high", "std"), np.nan)
        elif n_resamples == 0:
            rows[k] = {
                "accuracy": float(accuracy_score(y, pred)),
                "low": np.nan,
                "high": np.nan,
                "std": np.nan,
            }
        else:
            ci = bootstrap_ci(
                accuracy_score,
                y,
                pred,
                n_resamples=n_resamples,
                confidence=confidence,
                random_state=seed,
            )
            rows[k] = {
                "accuracy": ci["value"],
                "low": ci["low"],
                "high": ci["high"],
                "std": ci["std"],
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "epochs_seen"
    return table
