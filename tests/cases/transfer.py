"""Contract-suite cases for the transfer-learning estimators: ``contract_cases()``
returns [(estimator with tiny settings, make_data)]."""


def contract_cases():
    """TransferCNNClassifier (two-phase freezing) and ImageEmbedder, EfficientNet-B0."""
    from tests.nn._tiny import embedder, transfer

    clf, X, y = transfer(
        freeze="two_phase", warmup_epochs=1, unfreeze_last=3, max_epochs=2
    )
    emb, X_emb, _ = embedder()
    return [(clf, lambda: (X, y)), (emb, lambda: (X_emb, None))]
