"""Deep estimators (skorch) and their plain ``torch.nn.Module`` networks.

Networks live in ``_modules`` files apart from their estimators, so they can
be tested and reused alone.
"""

from ._backbones import BACKBONES, BackboneNet, load_backbone_weights
from ._embed import ImageEmbedder
from ._gradcam import grad_cam
from ._lsbg import LSBGNet
from ._lsbg_modules import DeepShadowsCNN
from ._pretrain import MagnitudePretrainer, PretrainedStampClassifier, PretrainedWeights
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
