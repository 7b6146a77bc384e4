"""Contract-suite cases for LSBGNet and SourceFeatures: ``contract_cases()``
returns [(estimator with tiny settings, make_data)]."""


def contract_cases():
    """LSBGNet and SourceFeatures on a dozen DeepShadows-like stamps."""
    from skastro.datasets import make_lsbg_stamps
    from skastro.nn import LSBGNet
    from skastro.sources import SourceFeatures

    def make_data():
        return make_lsbg_stamps(12, random_state=0, return_X_y=True)

    return [
        (LSBGNet(max_epochs=2, batch_size=8, random_state=0), make_data),
        (SourceFeatures(), make_data),
    ]
