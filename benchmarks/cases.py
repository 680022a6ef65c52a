"""The benchmark cases of issue 5: ResNet-18's convolutions plus depthwise, 1-d, 3-d and transposed.

Each case is one convolution layer, float32, batch 8 unless noted. ``flops`` counts multiply-adds as two
floating-point operations over the useful (unpadded-by-groups) work: forward ``2 * N * C_out * P * C_in/G * prod(K)``
(``P`` output positions); forward+backward adds the same again for grad_input and for grad_weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One convolution layer to time. ``kind`` is ``conv`` or ``conv_transpose``; ``ndim`` its rank."""

    name: str
    kind: str
    ndim: int
    batch: int
    in_channels: int
    out_channels: int
    size: int  # spatial extent per dim
    kernel_size: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    options: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *([self.size] * self.ndim))

    @property
    def out_size(self) -> int:
        k, s, p = self.kernel_size, self.stride, self.padding
        if self.kind == "conv":
            return (self.size + 2 * p - k) // s + 1
        return (self.size - 1) * s - 2 * p + k

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *([self.out_size] * self.ndim))

    def forward_flops(self) -> int:
        taps = self.kernel_size ** self.ndim
        if self.kind == "conv":
            positions = self.out_size ** self.ndim
            return 2 * self.batch * self.out_channels * positions * (self.in_channels // self.groups) * taps
        # transposed: every input position scatters C_out/G * taps products per input channel
        positions = self.size ** self.ndim
        return 2 * self.batch * self.in_channels * positions * (self.out_channels // self.groups) * taps

    def flops(self, backward: bool) -> int:
        return self.forward_flops() * (3 if backward else 1)

    def describe(self) -> str:
        k = "x".join([str(self.kernel_size)] * self.ndim)
        size = "x".join([str(self.size)] * self.ndim) if self.ndim > 1 else str(self.size)
        op = f"conv{self.ndim}d" if self.kind == "conv" else f"conv_transpose{self.ndim}d"
        extra = "".join(f" {key}{value}" for key, value in (("s", self.stride), ("p", self.padding),
                                                               ("g", self.groups))
                        if value != (1 if key != "p" else 0))
        return f"{op} {self.in_channels}->{self.out_channels} {k}{extra} @{size} N{self.batch}"

    @property
    def elements(self) -> int:
        return math.prod(self.input_shape)


CASES: tuple[Case, ...] = (
    Case("resnet_conv1_7x7", "conv", 2, 8, 3, 64, 224, 7, stride=2, padding=3),
    Case("resnet_l1_3x3", "conv", 2, 8, 64, 64, 56, 3, padding=1),
    Case("resnet_l2_down_3x3", "conv", 2, 8, 64, 128, 56, 3, stride=2, padding=1),
    Case("resnet_l2_3x3", "conv", 2, 8, 128, 128, 28, 3, padding=1),
    Case("resnet_l2_down_1x1", "conv", 2, 8, 64, 128, 56, 1, stride=2),
    Case("resnet_l3_3x3", "conv", 2, 8, 256, 256, 14, 3, padding=1),
    Case("resnet_l4_3x3", "conv", 2, 8, 512, 512, 7, 3, padding=1),
    Case("depthwise_3x3", "conv", 2, 8, 32, 32, 112, 3, padding=1, groups=32),
    Case("conv1d_k3", "conv", 1, 8, 64, 64, 4096, 3, padding=1),
    Case("conv3d_3x3x3", "conv", 3, 4, 16, 32, 16, 3, padding=1),
    Case("conv_transpose2d_4x4", "conv_transpose", 2, 8, 128, 64, 16, 4, stride=2, padding=1),
)


def select(patterns: list[str] | None) -> list[Case]:
    """The cases whose name contains any of ``patterns`` (all when None or empty)."""
    if not patterns:
        return list(CASES)
    chosen = [case for case in CASES if any(p in case.name for p in patterns)]
    if not chosen:
        names = ", ".join(case.name for case in CASES)
        raise ValueError(f"--cases {patterns!r} matches no case; the cases are: {names}")
    return chosen
