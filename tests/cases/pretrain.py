"""Contract-suite cases for the pretraining estimators: ``contract_cases()`` returns
[(estimator with tiny settings, make_data)]."""


def contract_cases():
    """MagnitudePretrainer and PretrainedStampClassifier (two-phase, pretrained)."""
    import numpy as np

    from skastro.nn import PretrainedStampClassifier
    from tests.nn._tiny import pretrainer

    pre, X, mags = pretrainer(max_epochs=2)
    labels = np.array(["STAR", "GALAXY", "QSO"] * 4)
    fitted = pretrainer()[0].fit(X, mags)
    tiny = dict(batch_size=6, train_split=None, verbose=0)
    return [
        (pre, lambda: (X, mags)),
        (
            PretrainedStampClassifier.from_pretrainer(
                fitted, freeze="two_phase", warmup_epochs=1, max_epochs=2, **tiny
            ),
            lambda: (X, labels),
        ),
    ]
