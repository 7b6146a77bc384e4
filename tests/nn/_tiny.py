"""Tiny, fast settings of every network estimator, with data to fit them on.

Each builder returns ``(estimator, X, y)``: an unfitted estimator (seconds to
fit on one CPU thread) and data it fits on; ``y`` holds string labels for the
classifiers. Shared by ``tests/nn/test_base.py`` and the contract cases.
"""

from __future__ import annotations

import numpy as np
from skorch.helper import SliceDict

HITS_CLASSES = np.array(["SN", "RRL", "CEP", "EB", "NV", "GAL", "AST"])


def stamps(n=12, bands=5, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, bands, size, size)).astype(np.float32)


def sequences(n=14, t=6, seed=0):
    """Random HiTS-shaped sequences whose class shows as a central bump."""
    rng = np.random.default_rng(seed)
    mask = np.arange(t)[None] < rng.integers(3, t + 1, n)[:, None]
    mjd = np.where(mask, 57000.0 + np.cumsum(rng.uniform(0.5, 2, (n, t)), 1), np.nan)
    y = np.arange(n) % 7
    data = rng.normal(100, 10, (n, t, 21, 21)).astype(np.float32)
    data[:, :, 10, 10] += 30 * y[:, None]
    X = SliceDict(
        stamps=data,
        mjd=mjd,
        mask=mask,
        sky=np.full((n, t), 100.0),
        zero_point=rng.normal(25, 0.1, (n, t)),
    )
    return X, HITS_CLASSES[y]


def lsbg(**params):
    from skastro.datasets import make_lsbg_stamps
    from skastro.nn import LSBGNet

    X, y = make_lsbg_stamps(12, random_state=0, return_X_y=True)
    kw = dict(max_epochs=1, batch_size=6, module__n_hidden=16, random_state=0)
    kw.update(params)
    return LSBGNet(**kw), X, np.where(y == 1, "LSBG", "artifact")


def pretrainer(**params):
    from skastro.nn import MagnitudePretrainer

    mags = np.random.default_rng(1).uniform(15.0, 21.0, size=(12, 5))
    mags[::3, 0] = np.nan
    kw = dict(
        module__width=0.0625,
        module__n_hidden=8,
        max_epochs=1,
        batch_size=6,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    kw.update(params)
    return MagnitudePretrainer(**kw), stamps(), mags


def stamp_classifier(**params):
    from skastro.nn import PretrainedStampClassifier

    kw = dict(
        module__width=0.0625,
        module__n_hidden=8,
        freeze="none",
        max_epochs=1,
        batch_size=6,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    kw.update(params)
    y = np.array(["STAR", "GALAXY", "QSO"] * 4)
    return PretrainedStampClassifier(**kw), stamps(), y


def transfer(**params):
    from skastro.nn import TransferCNNClassifier

    kw = dict(
        backbone="efficientnet_b0",
        module__n_hidden=8,
        max_epochs=1,
        batch_size=4,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    kw.update(params)
    return TransferCNNClassifier(**kw), stamps(8, 4), np.array(["LSBG", "artifact"] * 4)


def rcnn(**params):
    from skastro.nn import SequenceRCNN

    kw = dict(
        module__n_filters=4,
        module__n_hidden=16,
        module__n_lstm=8,
        max_epochs=1,
        batch_size=8,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    kw.update(params)
    X, y = sequences()
    return SequenceRCNN(**kw), X, y


def embedder(**params):
    from skastro.nn import ImageEmbedder

    kw = dict(batch_size=4, random_state=0)
    kw.update(params)
    return ImageEmbedder(**kw), stamps(4, 3), None


#: The network estimators (skorch), by name.
NETWORKS = {
    "LSBGNet": lsbg,
    "MagnitudePretrainer": pretrainer,
    "PretrainedStampClassifier": stamp_classifier,
    "TransferCNNClassifier": transfer,
    "SequenceRCNN": rcnn,
}
#: The network classifiers.
CLASSIFIERS = {k: v for k, v in NETWORKS.items() if k != "MagnitudePretrainer"}
#: Every estimator that takes stamps (one NaN policy for all).
STAMP_ESTIMATORS = {k: v for k, v in NETWORKS.items() if k != "SequenceRCNN"} | {
    "ImageEmbedder": embedder
}
