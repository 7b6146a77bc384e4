"""Contract-suite cases for the transfer-learning estimators: ``contract_cases()``
returns [(estimator with tiny settings, make_data)]."""


def contract_cases():
    """TransferCNNClassifier (two-phase freezing) and ImageEmbedder, EfficientNet-B0."""
    import numpy as np

    from skastro.nn import ImageEmbedder, TransferCNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4, 32, 32)).astype(np.float32)
    labels = np.array(["LSBG", "artifact"] * 4)
    return [
        (
            TransferCNNClassifier(
                backbone="efficientnet_b0",
                freeze="two_phase",
                warmup_epochs=1,
                unfreeze_last=3,
                module__n_hidden=16,
                max_epochs=2,
                batch_size=4,
                train_split=None,
                verbose=0,
            ),
            lambda: (X, labels),
        ),
        (ImageEmbedder(batch_size=4), lambda: (X, None)),
    ]
