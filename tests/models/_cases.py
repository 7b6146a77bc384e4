"""Tiny versions of the models ``skastro demo`` saves, fitted: name -> (model, X)."""

from __future__ import annotations

import warnings

import numpy as np

from skastro.exceptions import LightCurveWarning


def _hits_data(n: int = 14):
    from skorch.helper import SliceDict

    rng = np.random.default_rng(0)
    t = 6
    mask = np.arange(t)[None] < rng.integers(4, t + 1, n)[:, None]
    mjd = np.where(mask, 57000.0 + np.cumsum(rng.uniform(0.5, 2, (n, t)), 1), np.nan)
    y = np.arange(n) % 7
    stamps = rng.normal(100, 10, (n, t, 21, 21)).astype(np.float32)
    stamps[:, :, 10, 10] += 30 * y[:, None]
    X = SliceDict(
        stamps=stamps,
        mjd=mjd,
        mask=mask,
        sky=np.full((n, t), 100.0),
        zero_point=rng.normal(25, 0.1, (n, t)),
    )
    return X, y


def lsbg_pipeline_svc():
    """SourceFeatures -> StandardScaler -> SVC, chosen by a GridSearchCV."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from skastro.datasets import make_lsbg_stamps
    from skastro.sources import SourceFeatures

    X, y = make_lsbg_stamps(24, random_state=0, return_X_y=True)
    pipe = Pipeline(
        [("features", SourceFeatures()), ("scale", StandardScaler()), ("clf", SVC())]
    )
    search = GridSearchCV(pipe, {"clf__C": [1.0, 10.0]}, cv=2).fit(X, y)
    return search, X


def lsbg_net():
    from sklearn.pipeline import Pipeline

    from skastro.datasets import make_lsbg_stamps
    from skastro.nn import LSBGNet

    X, y = make_lsbg_stamps(12, random_state=0, return_X_y=True)
    pipe = Pipeline(
        [
            ("features", "passthrough"),
            ("clf", LSBGNet(max_epochs=1, batch_size=8, random_state=0)),
        ]
    )
    return pipe.fit(X, y), X


def hits_rcnn():
    from skastro.nn import SequenceRCNN

    X, y = _hits_data()
    net = SequenceRCNN(
        module__n_filters=4,
        module__n_hidden=16,
        module__n_lstm=8,
        max_epochs=1,
        batch_size=8,
        train_split=None,
        random_state=0,
        verbose=0,
    )
    return net.fit(X, y), X


def hits_forest():
    """LightCurveExtractor -> FATSFeatures -> RandomForest, on HiTS-like data."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from skastro.datasets import make_hits_sequences
    from skastro.lightcurves import FATSFeatures, LightCurveExtractor

    X, y = make_hits_sequences(1, n_epochs=(8, 10), random_state=0, return_X_y=True)
    pipe = make_pipeline(
        LightCurveExtractor(),
        FATSFeatures(features=["Mean", "Std", "Amplitude", "Skew"]),
        RandomForestClassifier(n_estimators=5, random_state=0),
    )
    with warnings.catch_warnings():
        # a curve of fewer than 4 points gives NaN features, as documented
        warnings.simplefilter("ignore", LightCurveWarning)
        return pipe.fit(X, y), X


def splus_fits_pipeline(directory):
    """FITS catalogue -> FITSCropper -> Calibrator -> PretrainedStampClassifier."""
    import pandas as pd
    from astropy.io import fits
    from sklearn.pipeline import make_pipeline

    from skastro.nn import MagnitudePretrainer, PretrainedStampClassifier
    from skastro.stamps import Calibrator, FITSCropper

    rng = np.random.default_rng(1)
    paths = []
    for band in range(3):
        hdu = fits.PrimaryHDU(rng.normal(10, 1, (80, 90)).astype(np.float32))
        hdu.header["ZP"] = 20.0 + band
        hdu.header["FILTER"] = "gri"[band]
        path = directory / f"field_{band}.fits"
        hdu.writeto(path)
        paths.append(str(path))
    catalog = pd.DataFrame(
        {"x": rng.uniform(16, 74, 12), "y": rng.uniform(16, 64, 12), "id": range(12)}
    )
    cropper = FITSCropper(paths, size=32, zero_point_keyword="ZP").fit(catalog)
    stamps = Calibrator(stretch="asinh", pixel_scale=0.55).fit_transform(
        cropper.transform(catalog)
    )
    tiny = dict(
        module__width=0.0625,
        module__n_hidden=8,
        batch_size=8,
        train_split=None,
        verbose=0,
    )
    pre = MagnitudePretrainer(max_epochs=1, random_state=0, **tiny)
    pre.fit(stamps, rng.uniform(15, 20, (12, 3)))
    clf = PretrainedStampClassifier.from_pretrainer(
        pre, freeze="head", max_epochs=1, random_state=0, **tiny
    )
    labels = np.array(["STAR", "GALAXY", "QSO"] * 4)
    pipe = make_pipeline(
        cropper, Calibrator(stretch="asinh", pixel_scale=0.55), clf
    ).fit(catalog, labels)
    return pipe, catalog


def transfer_classifier():
    from sklearn.model_selection import GridSearchCV

    from skastro.nn import TransferCNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4, 32, 32)).astype(np.float32)
    y = np.array(["LSBG", "artifact"] * 4)
    base = TransferCNNClassifier(
        backbone="efficientnet_b0",
        module__n_hidden=16,
        max_epochs=1,
        batch_size=4,
        train_split=None,
        random_state=0,
        verbose=0,
    )
    search = GridSearchCV(base, {"lr": [1e-3]}, cv=2).fit(X, y)
    return search, X


def demo_models(directory):
    """Every demo-like model, fitted: name -> (model, X)."""
    return {
        "lsbg_svc": lsbg_pipeline_svc(),
        "lsbg_net": lsbg_net(),
        "hits_rcnn": hits_rcnn(),
        "hits_forest": hits_forest(),
        "splus_fits": splus_fits_pipeline(directory),
        "transfer": transfer_classifier(),
    }
