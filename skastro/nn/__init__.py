"""Deep estimators (skorch) and their plain ``torch.nn.Module`` networks.

Networks live in ``_modules`` files apart from their estimators, so they can
be tested and reused alone; ``_base`` holds the lifecycle every estimator
shares and ``_weights`` the reading and loading of starting weights.
"""

from ._backbones import BACKBONES, BackboneNet
from ._embed import ImageEmbedder
from ._gradcam import grad_cam
from ._lsbg import LSBGNet
from ._lsbg_modules import DeepShadowsCNN
from ._pretrain import MagnitudePretrainer, PretrainedStampClassifier
from ._pretrain_modules import (
    VGG16_CONFIG,
    MaskedL1Loss,
    VGG16Backbone,
    VGG16StampNet,
    load_vgg16_features,
)
from ._rcnn import SequenceRCNN, SequenceStream
from ._rcnn_modules import BatchRenorm, MaskedStepCrossEntropy, SequenceRCNNModule
from ._transfer import MaxNorm, TransferCNNClassifier, TransferNet
from ._weights import PretrainedWeights, load_backbone_weights

__all__: list[str] = [
    "BACKBONES",
    "BackboneNet",
    "ImageEmbedder",
    "MaxNorm",
    "TransferCNNClassifier",
    "TransferNet",
    "load_backbone_weights",
    "VGG16_CONFIG",
    "BatchRenorm",
    "DeepShadowsCNN",
    "LSBGNet",
    "MagnitudePretrainer",
    "MaskedL1Loss",
    "MaskedStepCrossEntropy",
    "PretrainedStampClassifier",
    "PretrainedWeights",
    "SequenceRCNN",
    "SequenceRCNNModule",
    "SequenceStream",
    "VGG16Backbone",
    "VGG16StampNet",
    "grad_cam",
    "load_vgg16_features",
]
