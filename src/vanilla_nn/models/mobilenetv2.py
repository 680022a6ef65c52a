"""torchvision's MobileNetV2 (Sandler et al. 2018, "Inverted Residuals and Linear Bottlenecks").

Same modules, ``state_dict`` keys, shapes and buffers as ``torchvision.models.mobilenet_v2``::

    features.0      Conv2dNormActivation(in_channels, 32*w, 3x3, stride 2)   (conv, batch norm, ReLU6)
    features.1..17  InvertedResidual blocks, settings (t, c, n, s) below
    features.18     Conv2dNormActivation(320*w, 1280*max(1, w), 1x1)
    adaptive average pool to 1x1, flatten, classifier = Dropout(0.2), Linear(1280*max(1, w), num_classes)

An ``InvertedResidual`` expands ``inp`` channels by ``t`` with a 1x1 convolution (skipped when ``t = 1``),
filters each channel with a 3x3 depthwise convolution (carrying the stride), and projects linearly to
``oup`` with a 1x1 convolution and a batch norm; ``x + block(x)`` when stride 1 and ``inp == oup``. Channel
counts are ``c * width_mult`` rounded to a multiple of 8 (never down by more than 10%).

Initialisation as torchvision: convolutions ``kaiming_normal_(mode="fan_out")``, batch norms weight 1 and bias
0, the classifier's ``Linear`` weight ``N(0, 0.01^2)`` and bias 0.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from .. import nn
from ..nn.fusion import add_residual
from ..nn.module import check_dtype
from ._common import _inference_on_arrays, _no_weights

__all__ = ["Conv2dNormActivation", "InvertedResidual", "MobileNetV2", "mobilenet_v2"]

# (expansion t, output channels c, repeats n, first stride s) per stage, as in the paper and torchvision
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                             (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), one more step up when
    rounding lost more than 10% (torchvision's ``_make_divisible``)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class Conv2dNormActivation(nn.Sequential):
    """torchvision's ``Conv2dNormActivation`` with ReLU6: ``Conv2d`` (padding ``(k - 1) // 2``, no bias),
    ``BatchNorm2d``, ``ReLU6``; keys ``0.weight``, ``1.weight``, ``1.running_mean``, ..."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                 *, dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2, groups=groups,
                      bias=False, dtype=dtype, rng=rng),
            nn.BatchNorm2d(out_channels, dtype=dtype),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3 (stride), project (1x1, linear); residual when the shape is kept."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: float, *, dtype: Any = np.float32,
                 rng: Any = None) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride={stride!r} should be 1 or 2")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1, dtype=dtype, rng=rng))
        layers += [
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim, dtype=dtype, rng=rng),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False, dtype=dtype, rng=rng),
            nn.BatchNorm2d(oup, dtype=dtype),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: Any) -> Any:
        if self.use_res_connect:
            return add_residual(self.conv(x), x)  # x + conv(x), in place on conv's output without gradients
        return self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's ``MobileNetV2(num_classes, width_mult, ..., dropout)``: input ``(N, in_channels, H, W)``
    with ``H, W >= 1``, output logits ``(N, num_classes)``.

    Raises:
        TypeError: a count is not an int, ``width_mult``/``dropout`` not a number, a bad ``dtype``.
        ValueError: ``num_classes``/``in_channels``/``round_nearest`` below 1, ``width_mult`` not positive,
            ``dropout`` outside ``[0, 1]``.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, round_nearest: int = 8,
                 dropout: float = 0.2, *, in_channels: int = 3, dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("round_nearest", round_nearest)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"{name}={value!r} must be an int")
            if value < 1:
                raise ValueError(f"{name}={value!r} must be >= 1")
        for name, value in (("width_mult", width_mult), ("dropout", dropout)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(f"{name}={value!r} must be a number")
        if not width_mult > 0:
            raise ValueError(f"width_mult={width_mult!r} must be positive")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout={dropout!r} must be between 0 and 1")
        dtype = check_dtype(dtype)
        rng = nn.init.as_generator(rng)
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [Conv2dNormActivation(in_channels, input_channel, stride=2, dtype=dtype,
                                                          rng=rng)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, expand_ratio=t,
                                                 dtype=dtype, rng=rng))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1, dtype=dtype, rng=rng))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(self.last_channel, num_classes, dtype=dtype, rng=rng))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", rng=rng)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01, rng=rng)
                nn.init.zeros_(module.bias)

    def forward(self, x: Any) -> Any:
        """Logits ``(N, num_classes)``; an ndarray runs as inference (see :func:`_inference_on_arrays`)."""
        return _inference_on_arrays(self._forward_impl, x)

    def _forward_impl(self, x: Any) -> Any:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = F.flatten(x, 1)
        return self.classifier(x)


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, *, in_channels: int = 3, dropout: float = 0.2,
                 dtype: Any = np.float32, rng: Any = None, weights: None = None) -> MobileNetV2:
    """MobileNetV2, torchvision's ``mobilenet_v2()`` with the defaults (``width_mult`` scales every stage).

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.models import mobilenet_v2
        >>> model = mobilenet_v2(num_classes=10, width_mult=0.25, in_channels=1, rng=0).eval()
        >>> model(np.zeros((2, 1, 8, 8), dtype=np.float32)).shape
        (2, 10)
        >>> state = mobilenet_v2().state_dict()                            # torchvision's keys and shapes
        >>> len(state), state["features.1.conv.0.0.weight"].shape, state["classifier.1.weight"].shape
        (314, (32, 1, 3, 3), (1000, 1280))
    """
    _no_weights(weights)
    return MobileNetV2(num_classes, width_mult, dropout=dropout, in_channels=in_channels, dtype=dtype, rng=rng)
