"""Layers mirroring ``torch.nn``: thin stateful wrappers over :mod:`vanilla_nn.functional`.

``y = layer(x)`` runs forward and caches what backward needs; ``layer.backward(grad_output)`` returns the
gradient with respect to the input and accumulates parameter gradients into ``Parameter.grad``.
"""

from . import fusion, init, utils
from .activation import GELU, Hardswish, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Tanh
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .dropout import Dropout, Dropout2d
from .init import manual_seed
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
from .serialization import load, save
from .upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "init", "utils", "fusion", "manual_seed", "Module", "Parameter", "Sequential", "IncompatibleKeys",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool2d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "Linear", "Flatten", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout",
    "ReLU6", "Hardswish", "SiLU", "GELU", "Softmax", "LogSoftmax", "NLLLoss", "BCEWithLogitsLoss",
    "BatchNorm1d", "BatchNorm2d", "CrossEntropyLoss", "MSELoss",
    "load", "save",
    "BatchNorm3d", "GroupNorm", "LayerNorm", "Dropout2d",
]
