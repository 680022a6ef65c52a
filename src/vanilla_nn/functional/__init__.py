"""Pure functions on NumPy arrays: every forward op and its ``*_backward``, with PyTorch's signatures."""

from .conv import (
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
)
from .windows import fold, fold_backward, unfold, unfold_backward
from .workspace import get_workspace_limit, set_workspace_limit, workspace_limit

__all__ = [
    "get_workspace_limit", "set_workspace_limit", "workspace_limit",
    "unfold", "unfold_backward", "fold", "fold_backward",
    "conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv3d", "conv3d_backward",
    "conv_nd", "conv_nd_backward",
    "conv_transpose1d", "conv_transpose1d_backward", "conv_transpose2d", "conv_transpose2d_backward",
    "conv_transpose3d", "conv_transpose3d_backward", "conv_transpose_nd", "conv_transpose_nd_backward",
]
