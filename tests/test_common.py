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


# (estimator with small settings, make_data) -- make_data() returns (X, y).
# Each component adds its cases in a function above and lists it here.
CONTRACT_CASE_FACTORIES: list = [_stamps_cases]


def _rcnn_cases():
    """SequenceRCNN on 14 random HiTS-shaped sequences, a reduced network."""
    import numpy as np
    from skorch.helper import SliceDict

    from skastro.nn import SequenceRCNN

    def make_data():
        rng = np.random.default_rng(0)
        n, t = 14, 6
        mask = np.arange(t)[None] < rng.integers(3, t + 1, n)[:, None]
        mjd = np.where(
            mask, 57000.0 + np.cumsum(rng.uniform(0.5, 2, (n, t)), 1), np.nan
        )
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

    est = SequenceRCNN(
        module__n_filters=4,
        module__n_hidden=16,
        module__n_lstm=8,
        max_epochs=2,
        batch_size=8,
        train_split=None,
        verbose=0,
        random_state=0,
    )
    return [(est, make_data)]


CONTRACT_CASE_FACTORIES.append(_rcnn_cases)

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
