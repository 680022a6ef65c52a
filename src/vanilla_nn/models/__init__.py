"""Model definitions: the small :func:`lenet` that ``vanilla-nn train`` uses, and torchvision's ResNet and
MobileNetV2 with exactly torchvision's architecture and ``state_dict`` keys, shapes and buffers.

``resnet18``, ``resnet34``, ``resnet50`` and ``mobilenet_v2`` take ``num_classes`` and keyword-only extras
whose defaults give torchvision's network: ``in_channels=3``, ``dtype=np.float32``, ``rng=None`` (seed or
Generator for torchvision's initialisation scheme), and for the ResNets ``width=64`` (the stem's channels;
the stages have ``width * (1, 2, 4, 8)``), so a narrow network fits 1-channel 8x8 digits. Called with an
ndarray a model runs inference (no hand-written backward for composite modules); called with a
:class:`vanilla_nn.Tensor` it runs on the tape and ``loss.backward()`` fills every parameter's ``grad``.
Nothing is downloaded (``weights=`` other than None raises): convert torchvision's checkpoint once with
``vanilla-nn convert`` and load it with ``model.load_state_dict(vanilla_nn.nn.load(path))``.
"""

from ._lenet import LENET_KEYS, lenet, lenet_config, lenet_from_state_dict
from .mobilenetv2 import Conv2dNormActivation, InvertedResidual, MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50

__all__ = [
    "lenet", "lenet_config", "lenet_from_state_dict", "LENET_KEYS",
    "ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50",
    "MobileNetV2", "InvertedResidual", "Conv2dNormActivation", "mobilenet_v2",
]
