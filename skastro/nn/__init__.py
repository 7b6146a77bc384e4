"""Deep estimators (skorch) and their plain ``torch.nn.Module`` networks.

Networks live in ``_modules`` files apart from their estimators, so they can
be tested and reused alone.
"""

from ._gradcam import grad_cam
from ._lsbg import LSBGNet
from ._lsbg_modules import DeepShadowsCNN

__all__: list[str] = ["DeepShadowsCNN", "LSBGNet", "grad_cam"]
