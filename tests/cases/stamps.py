"""Contract-suite cases for FITSCropper and Calibrator: ``contract_cases()`` returns
[(estimator with tiny settings, make_data)]."""


def contract_cases():
    import numpy as np
    import pandas as pd

    from skastro.stamps import Calibrator, FITSCropper

    rng = np.random.default_rng(0)
    field = rng.normal(size=(3, 40, 50)).astype(np.float32)

    def catalog():
        return pd.DataFrame(
            {
                # partly off the edges, but no stamp wider than the image (that
                # would be all NaN after resampling, with an OffImageWarning)
                "x": rng.uniform(-2, 52, 12),
                "y": rng.uniform(-2, 42, 12),
                "fwhm": rng.uniform(1, 4, 12),
            }
        ), None

    def stamps():
        return rng.normal(size=(6, 3, 8, 8)).astype(np.float32), None

    return [
        (FITSCropper(field, size=8), catalog),
        (FITSCropper(field, size="fwhm", output_size=16), catalog),
        (
            Calibrator(
                zero_point=[20.0, 21.0, 22.0],
                pixel_scale=0.55,
                stretch="asinh",
                clip_percentiles=(1, 99),
            ),
            stamps,
        ),
    ]
