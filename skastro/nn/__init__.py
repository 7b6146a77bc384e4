"""Deep estimators (skorch) and their plain ``torch.nn.Module`` networks.

Networks live in ``_modules`` files apart from their estimators, so they can
be tested and reused alone.
"""

from ._rcnn import SequenceRCNN, SequenceStream
from ._rcnn_modules import BatchRenorm, MaskedStepCrossEntropy, SequenceRCNNModule

__all__: list[str] = [
    "BatchRenorm",
    "MaskedStepCrossEntropy",
    "SequenceRCNN",
    "SequenceRCNNModule",
    "SequenceStream",
]
