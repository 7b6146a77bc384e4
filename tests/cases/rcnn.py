"""Contract-suite cases for SequenceRCNN: ``contract_cases()`` returns
[(estimator with tiny settings, make_data)]."""


def contract_cases():
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
