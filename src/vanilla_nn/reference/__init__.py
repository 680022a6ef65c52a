"""Loop reference of vanilla_nn's convolution ops: the teaching code and an oracle independent of PyTorch.

Same functions and signatures as :mod:`vanilla_nn.functional`, written one output element and one kernel tap
at a time. Depends only on NumPy and :mod:`vanilla_nn.functional._args` (the shared argument checks).
"""

from vanilla_nn.reference.conv import (
    conv1d,
    conv1d_backward,
    conv2d,
    conv2d_backward,
    conv3d,
    conv3d_backward,
    conv_nd,
    conv_nd_backward,
    conv_transpose1d,
    conv_transpose1d_backward,
    conv_transpose2d,
    conv_transpose2d_backward,
    conv_transpose3d,
    conv_transpose3d_backward,
    conv_transpose_nd,
    conv_transpose_nd_backward,
    source_index,
)
from vanilla_nn.reference.windows import fold, fold_backward, unfold, unfold_backward

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_nd",
    "conv1d_backward", "conv2d_backward", "conv3d_backward", "conv_nd_backward",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_transpose_nd",
    "conv_transpose1d_backward", "conv_transpose2d_backward", "conv_transpose3d_backward",
    "conv_transpose_nd_backward",
    "unfold", "fold", "unfold_backward", "fold_backward",
    "source_index",
]
