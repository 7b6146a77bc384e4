"""Common checks over all public estimators.

Tabular estimators (2-D ``X``) run scikit-learn's
:func:`~sklearn.utils.estimator_checks.parametrize_with_checks`; estimators
whose ``X`` is a catalog, stamps or sequences run skastro's contract suite
(:mod:`skastro.utils.estimator_checks`) with the small, fast settings below.
Add one entry per estimator.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from skastro.utils.estimator_checks import parametrize_with_contract_checks


def _stamps_cases():
    import numpy as np
    import pandas as pd

    from skastro.stamps import Calibrator, FITSCropper

    rng = np.random.default_rng(0)
    field = rng.normal(size=(3, 40, 50)).astype(np.float32)

    def catalog():
        return pd.DataFrame(
            {
                "x": rng.uniform(-2, 52, 12),
                "y": rng.uniform(-2, 42, 12),
                "fwhm": rng.uniform(2, 20, 12),
            }
        ), None

    def stamps():
        return rng.normal(size=(6, 3, 8, 8)).astype(np.float32), None

    return [
        (FITSCropper(field, size=8), catalog),
        (FITSCropper(field, size="fwhm", output_size=16), catalog),
        (
            Calibrator(
                zero_point=[20.0, 21.0, 22.0], stretch="asinh", clip_percentiles=(1, 99)
            ),
            stamps,
        ),
    ]


def _pretrain_cases():
    """MagnitudePretrainer and PretrainedStampClassifier (fine-tuned)."""
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


# (estimator with small settings, make_data) -- make_data() returns (X, y).
# Each component adds its cases in a function above and lists it here.
CONTRACT_CASE_FACTORIES: list = [_stamps_cases, _pretrain_cases]

# Estimators whose X is a 2-D numeric table.
TABULAR_ESTIMATORS: list = []


def _contract_cases():
    cases = []
    for factory in CONTRACT_CASE_FACTORIES:
        cases.extend(factory())
    return cases


@parametrize_with_contract_checks(_contract_cases())
def test_contract(estimator, check):
    """Clone, params, NotFittedError, determinism, pickle and fresh-process joblib."""
    check(estimator)


if TABULAR_ESTIMATORS:

    @parametrize_with_checks(TABULAR_ESTIMATORS)
    def test_sklearn_compatible(estimator, check):
        """scikit-learn's own estimator checks."""
        check(estimator)
