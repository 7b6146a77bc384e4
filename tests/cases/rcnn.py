"""Contract-suite cases for SequenceRCNN: ``contract_cases()`` returns
[(estimator with tiny settings, make_data)]."""


def contract_cases():
    """SequenceRCNN on 14 random HiTS-shaped sequences (string labels), a
    reduced network."""
    from tests.nn._tiny import rcnn

    est, X, y = rcnn(max_epochs=2)
    return [(est, lambda: (X, y))]
