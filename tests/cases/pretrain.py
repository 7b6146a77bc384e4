"""Contract-suite cases for the pretraining estimators: ``contract_cases()`` returns
[(estimator with tiny settings, make_data)]."""


def contract_cases():
    """MagnitudePretrainer and PretrainedStampClassifier (frozen, fine-tuned)."""
    import numpy as np

    from skastro.nn import MagnitudePretrainer, PretrainedStampClassifier

    tiny = dict(
        module__width=0.0625,
        module__n_hidden=8,
        batch_size=8,
        train_split=None,
        verbose=0,
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 5, 32, 32)).astype(np.float32)
    mags = rng.uniform(15.0, 21.0, size=(12, 5))
    mags[::3, 0] = np.nan  # missing magnitudes are masked
    labels = np.array(["STAR", "GALAXY", "QSO"] * 4)
    pre = MagnitudePretrainer(max_epochs=1, random_state=0, **tiny).fit(X, mags)
    return [
        (MagnitudePretrainer(max_epochs=2, **tiny), lambda: (X, mags)),
        (
            PretrainedStampClassifier.from_pretrainer(
                pre, strategy="finetune", n_top_epochs=1, max_epochs=2, **tiny
            ),
            lambda: (X, labels),
        ),
    ]
