"""torchvision's ResNet (He et al. 2015, "Deep Residual Learning"): ``resnet18``, ``resnet34``, ``resnet50``.

Same modules, attribute names, ``state_dict`` keys, shapes and buffers as ``torchvision.models.resnet``::

    conv1 (7x7, stride 2) -> bn1 -> relu -> maxpool (3x3, stride 2)
    -> layer1 .. layer4 (stages of blocks; the first block of layers 2-4 halves the size)
    -> avgpool (adaptive, 1x1) -> flatten -> fc

A block computes ``relu(F(x) + identity)``: ``identity`` is ``x``, or ``downsample(x)`` (a 1x1 convolution
with the block's stride and a batch norm) where the shape changes. ``BasicBlock`` (ResNet-18/34):
``F = bn2(conv2(relu(bn1(conv1(x)))))`` with 3x3 convolutions; ``Bottleneck`` (ResNet-50, expansion 4):
1x1 reduce, 3x3 (carrying the stride, as torchvision's "ResNet V1.5"), 1x1 expand.

Initialisation as torchvision: convolutions ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, batch
norms weight 1 and bias 0, ``fc`` PyTorch's default for ``Linear``; with ``zero_init_residual`` the last
batch norm of each block starts at weight 0.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from .. import nn
from ..nn.fusion import add_relu, conv_bn_act
from ..nn.module import check_dtype
from ._common import _inference_on_arrays, _no_weights

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, dtype: Any = np.float32, rng: Any = None) -> nn.Conv2d:
    """3x3 convolution with padding 1, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False, dtype=dtype,
                     rng=rng)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, dtype: Any = np.float32, rng: Any = None) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False, dtype=dtype, rng=rng)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norms and a shortcut: ``(N, inplanes, H, W) -> (N, planes, H/s, W/s)``."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, *,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride, dtype, rng)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, 1, dtype, rng)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Any) -> Any:
        """``relu(bn2(conv2(relu(bn1(conv1(x))))) + identity)``; each conv + batch norm folded into one
        convolution in eval mode without gradients (:mod:`vanilla_nn.nn.fusion`)."""
        identity = x
        out = conv_bn_act(x, self.conv1, self.bn1, self.relu)
        out = conv_bn_act(out, self.conv2, self.bn2)
        if self.downsample is not None:
            identity = self.downsample(x)
        return add_relu(out, identity, self.relu, x)


class Bottleneck(nn.Module):
    """1x1 reduce to ``planes``, 3x3 with the stride, 1x1 expand to ``planes * 4``, plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, *,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__()
        width = planes  # torchvision: int(planes * base_width / 64) * groups, with base_width 64, groups 1
        self.conv1 = conv1x1(inplanes, width, 1, dtype, rng)
        self.bn1 = nn.BatchNorm2d(width, dtype=dtype)
        self.conv2 = conv3x3(width, width, stride, dtype, rng)
        self.bn2 = nn.BatchNorm2d(width, dtype=dtype)
        self.conv3 = conv1x1(width, planes * self.expansion, 1, dtype, rng)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Any) -> Any:
        """As :meth:`BasicBlock.forward`, with three convolutions."""
        identity = x
        out = conv_bn_act(x, self.conv1, self.bn1, self.relu)
        out = conv_bn_act(out, self.conv2, self.bn2, self.relu)
        out = conv_bn_act(out, self.conv3, self.bn3)
        if self.downsample is not None:
            identity = self.downsample(x)
        return add_relu(out, identity, self.relu, x)


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be >= 1")
    return int(value)


class ResNet(nn.Module):
    """torchvision's ``ResNet(block, layers, num_classes)``: input ``(N, in_channels, H, W)`` with ``H, W`` at
    least 1 (every stride-2 stage rounds up), output logits ``(N, num_classes)``.

    ``width`` is the stem's channel count (64 in torchvision); stage ``i`` has ``width * 2^i`` planes.

    Raises:
        TypeError: ``block`` is not ``BasicBlock``/``Bottleneck``, a count is not an int, a bad ``dtype``.
        ValueError: ``layers`` is not four counts >= 1, ``num_classes``/``in_channels``/``width`` below 1.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int = 1000,
                 zero_init_residual: bool = False, *, in_channels: int = 3, width: int = 64,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"block={block!r} must be BasicBlock or Bottleneck")
        if not isinstance(layers, (list, tuple)) or len(layers) != 4:
            raise ValueError(f"layers={layers!r} must be four block counts, e.g. [2, 2, 2, 2]")
        layers = [_positive(count, f"layers[{i}]") for i, count in enumerate(layers)]
        num_classes = _positive(num_classes, "num_classes")
        in_channels = _positive(in_channels, "in_channels")
        width = _positive(width, "width")
        dtype = check_dtype(dtype)
        rng = nn.init.as_generator(rng)
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False, dtype=dtype,
                               rng=rng)
        self.bn1 = nn.BatchNorm2d(width, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0], 1, dtype, rng)
        self.layer2 = self._make_layer(block, width * 2, layers[1], 2, dtype, rng)
        self.layer3 = self._make_layer(block, width * 4, layers[2], 2, dtype, rng)
        self.layer4 = self._make_layer(block, width * 8, layers[3], 2, dtype, rng)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes, dtype=dtype, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", rng=rng)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)
                elif isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int,
                    dtype: Any, rng: Any) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride, dtype, rng),
                                       nn.BatchNorm2d(planes * block.expansion, dtype=dtype))
        layers = [block(self.inplanes, planes, stride, downsample, dtype=dtype, rng=rng)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dtype=dtype, rng=rng) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Any) -> Any:
        """Logits ``(N, num_classes)``; an ndarray runs as inference (see :func:`_inference_on_arrays`)."""
        return _inference_on_arrays(self._forward_impl, x)

    def _forward_impl(self, x: Any) -> Any:
        x = self.maxpool(conv_bn_act(x, self.conv1, self.bn1, self.relu))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.fc(x)


def _resnet(block: Any, layers: list[int], num_classes: int, **kwargs: Any) -> ResNet:
    return ResNet(block, layers, num_classes, **kwargs)


def resnet18(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64, dtype: Any = np.float32,
             rng: Any = None, zero_init_residual: bool = False, weights: None = None) -> ResNet:
    """ResNet-18 (``BasicBlock``, ``[2, 2, 2, 2]``), torchvision's ``resnet18()`` with the defaults.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.models import resnet18
        >>> model = resnet18(num_classes=10, in_channels=1, width=4, rng=0).eval()   # narrow, for 8x8 digits
        >>> model(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape
        (2, 10)
        >>> keys = list(resnet18().state_dict())                                     # torchvision's keys
        >>> len(keys), keys[:3], keys[-3:]
        (122, ['conv1.weight', 'bn1.weight', 'bn1.bias'], ['layer4.1.bn2.num_batches_tracked', 'fc.weight', 'fc.bias'])
    """
    _no_weights(weights)
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels=in_channels, width=width, dtype=dtype,
                   rng=rng, zero_init_residual=zero_init_residual)


def resnet34(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64, dtype: Any = np.float32,
             rng: Any = None, zero_init_residual: bool = False, weights: None = None) -> ResNet:
    """ResNet-34 (``BasicBlock``, ``[3, 4, 6, 3]``), torchvision's ``resnet34()`` with the defaults."""
    _no_weights(weights)
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels=in_channels, width=width, dtype=dtype,
                   rng=rng, zero_init_residual=zero_init_residual)


def resnet50(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64, dtype: Any = np.float32,
             rng: Any = None, zero_init_residual: bool = False, weights: None = None) -> ResNet:
    """ResNet-50 (``Bottleneck``, ``[3, 4, 6, 3]``), torchvision's ``resnet50()`` with the defaults."""
    _no_weights(weights)
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels=in_channels, width=width, dtype=dtype,
                   rng=rng, zero_init_residual=zero_init_residual)
