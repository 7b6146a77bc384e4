"""Contract-suite cases for LSBGNet and SourceFeatures: ``contract_cases()``
returns [(estimator with tiny settings, make_data)]."""


def contract_cases():
    """LSBGNet (string labels) and SourceFeatures on a dozen DeepShadows-like stamps."""
    from skastro.datasets import make_lsbg_stamps
    from skastro.sources import SourceFeatures
    from tests.nn._tiny import lsbg

    net, X, y = lsbg(max_epochs=2)

    def make_data():
        return make_lsbg_stamps(12, random_state=0, return_X_y=True)

    return [(net, lambda: (X, y)), (SourceFeatures(), make_data)]
