"""Pure functions on NumPy arrays: every forward op and its ``*_backward``, with PyTorch's signatures."""

from .activation import (
    flatten,
    flatten_backward,
    gelu,
    gelu_backward,
    hardswish,
    hardswish_backward,
    leaky_relu,
    leaky_relu_backward,
    relu,
    relu6,
    relu6_backward,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    silu,
    silu_backward,
    tanh,
    tanh_backward,
)
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
from .dropout import dropout, dropout2d, dropout2d_backward, dropout2d_mask_shape, dropout_backward, dropout_mask
from .linear import linear, linear_backward
from .loss import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    log_softmax_backward,
    mse_loss,
    mse_loss_backward,
    nll_loss,
    nll_loss_backward,
    softmax,
    softmax_backward,
)
from .norm import (
    batch_norm,
    batch_norm_backward,
    batch_norm_running_stats,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
)
from .pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool1d_backward,
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool3d,
    adaptive_avg_pool3d_backward,
    adaptive_max_pool1d,
    adaptive_max_pool1d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    adaptive_max_pool3d,
    adaptive_max_pool3d_backward,
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool3d,
    avg_pool3d_backward,
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool3d,
    max_pool3d_backward,
    max_unpool1d,
    max_unpool1d_backward,
    max_unpool2d,
    max_unpool2d_backward,
    max_unpool3d,
    max_unpool3d_backward,
)
from .resample import interpolate, interpolate_backward, upsample, upsample_backward
from .windows import fold, fold_backward, unfold, unfold_backward
from .workspace import get_workspace_limit, set_workspace_limit, workspace_limit

__all__ = [
    "get_workspace_limit", "set_workspace_limit", "workspace_limit",
    "unfold", "unfold_backward", "fold", "fold_backward",
    "conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv3d", "conv3d_backward",
    "conv_nd", "conv_nd_backward",
    "conv_transpose1d", "conv_transpose1d_backward", "conv_transpose2d", "conv_transpose2d_backward",
    "conv_transpose3d", "conv_transpose3d_backward", "conv_transpose_nd", "conv_transpose_nd_backward",
    # pooling
    "max_pool1d", "max_pool1d_backward", "max_pool2d", "max_pool2d_backward", "max_pool3d", "max_pool3d_backward",
    "avg_pool1d", "avg_pool1d_backward", "avg_pool2d", "avg_pool2d_backward", "avg_pool3d", "avg_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool1d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d", "adaptive_max_pool3d_backward",
    "max_unpool1d", "max_unpool1d_backward", "max_unpool2d", "max_unpool2d_backward", "max_unpool3d",
    "max_unpool3d_backward",
    # upsampling
    "interpolate", "interpolate_backward", "upsample", "upsample_backward",
    # linear, activations, flatten
    "linear", "linear_backward",
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "sigmoid", "sigmoid_backward",
    "tanh", "tanh_backward", "flatten", "flatten_backward",
    "relu6", "relu6_backward", "hardswish", "hardswish_backward", "silu", "silu_backward", "gelu", "gelu_backward",
    # losses
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward", "mse_loss", "mse_loss_backward",
    "nll_loss", "nll_loss_backward", "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    # normalisation, dropout
    "batch_norm", "batch_norm_backward", "batch_norm_running_stats",
    "dropout", "dropout_backward", "dropout_mask",
    "group_norm", "group_norm_backward", "layer_norm", "layer_norm_backward",
    "dropout2d", "dropout2d_backward", "dropout2d_mask_shape",
]

# Every op of _dispatch.TAPE_GRADIENTS accepts Tensors (records a node calling its *_backward); pure otherwise.
from ._dispatch import wrap_namespace  # noqa: E402

wrap_namespace(globals())
del wrap_namespace
