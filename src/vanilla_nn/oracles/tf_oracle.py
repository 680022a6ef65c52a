"""The TensorFlow oracle: forward through ``tf.nn``, gradients through ``tf.GradientTape``.

vanilla_nn speaks PyTorch's layouts; TensorFlow's CPU kernels want channels last. The builders here
translate and translate back, so gradients flow through the transposes and come out in PyTorch's layout:

- input ``(N, C, *S)`` <-> ``(N, *S, C)``; conv weight ``(C_out, C_in/g, *K)`` -> ``(*K, C_in/g, C_out)``
  (HWIO / DHWIO); transposed-conv weight ``(C_in, C_out, *K)`` -> ``(*K, C_out, C_in)``;
- ``'same'`` and ``'valid'`` (zeros mode) go to TensorFlow's own ``SAME`` / ``VALID``, so its SAME rule
  is checked against ours at every stride; numeric padding is ``tf.pad`` + ``VALID`` (conv2d's explicit
  padding would leave the oneDNN kernels); ``padding_mode='reflect'`` is ``tf.pad(mode='REFLECT')``;
- a transposed convolution is ``tf.nn.conv_transpose`` with the explicit, uncropped output shape
  ``(S - 1) s + d (K - 1) + 1 + output_padding``, then a crop of ``(before, after)`` padding;
- ``unfold`` is ``tf.image.extract_patches`` (1-d as 2-d with a unit dim), its patch order
  ``(kh, kw, C)`` reordered to PyTorch's ``(C, kh, kw)``.

What TensorFlow cannot do raises :class:`NotSupportedByOracle`. Found on the CPU build of TF 2.21
(``tensorflow-cpu``; float32 runs through oneDNN kernels, float64 through the Eigen ones):

- ``padding_mode`` ``'replicate'`` and ``'circular'``: ``tf.pad`` has no such modes;
- dilation > 1 in float64: the gradient kernels (``Conv2DBackpropInput``, ``Conv3DBackpropInputV2``)
  refuse it, and ``Conv3D`` refuses it even forward;
- ``groups`` > 1 in float64 for 1-d/2-d (no grouped ``Conv2DBackpropInput``); in 3-d at any dtype;
- ``groups`` > 1 in transposed convolutions at any dtype;
- ``fold`` (TensorFlow has no col2im), and 3-d ``unfold`` with dilation > 1 (``extract_volume_patches``
  has no rates);
- pooling with dilation > 1 or ``ceil_mode=True``; 3-d pooling in float64 (``MaxPool3D``/``AvgPool3D`` are
  float32 only on CPU); average pooling that leaves pads out of the divisor (``count_include_pad=False``)
  unless TensorFlow's SAME, which does exactly that, produces the same pads; adaptive average pooling unless
  every output size divides the input size (then it is ``tf.nn.avg_pool`` with kernel = stride);
- ``leaky_relu`` in float64 with a slope that is not a float32 (``LeakyRelu``'s ``alpha`` is a 32-bit attr);
- dropout with a given mask or a random one: only evaluation and ``p = 0`` are deterministic;
- adaptive max pooling unless every output size divides the input size (then ``tf.nn.max_pool``); max
  unpooling (no such op); ``interpolate`` in 3-d, (bi)linear in float64 (``ResizeBilinear`` is float32), and
  a scale factor used as given unless ``1 / scale_factor`` equals TensorFlow's ``S / O`` in float32.

Pooling, linear, activations, softmax, the losses and batch norm map onto ``tf.nn``: max pooling pads with
-inf (``tf.pad``) so a pad never wins; cross-entropy is ``sparse_softmax_cross_entropy_with_logits`` with the
class axis last, and with label smoothing Keras's ``categorical_crossentropy(label_smoothing=...)``; batch norm
is ``tf.nn.batch_normalization`` with ``tf.nn.moments`` (training) or the running statistics held constant;
group and layer norm the same with the moments of each sample's group (or last dims).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from vanilla_nn.oracles.base import (
    Builder,
    NotSupportedByOracle,
    Oracle,
    OracleResult,
    OracleUnavailable,
    check_grad_output,
    conv_pad_pairs,
    ints,
    make_register,
    pad_pairs,
    spatial_rank,
    tensorflow_same_pairs,
    to_numpy_input,
)

EXTRA = "pip install 'vanilla-nn[tensorflow]'"



@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ start-up lines (oneDNN, absl) ignore
    TF_CPP_MIN_LOG_LEVEL. Python exceptions still propagate; VANILLA_NN_TF_LOGS=1 keeps the lines."""
    if os.environ.get("VANILLA_NN_TF_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's run-time chatter off the terminal
try:
    with _native_stderr_silenced():
        import tensorflow as tf
except ImportError as error:  # pragma: no cover - depends on the environment
    raise OracleUnavailable(f"the TensorFlow oracle needs TensorFlow: {EXTRA}") from error

BUILDERS: dict[str, Builder] = {}
register = make_register(BUILDERS)

# Fragments of TensorFlow's own error messages that mean "this kernel lacks the feature" (a safety net
# behind the explicit checks below, e.g. for builds without oneDNN where float32 behaves like float64).
_UNSUPPORTED_PHRASES = ("not supported", "only supports", "do not yet support", "does not yet support",
                        "currently only supports")


def _not_supported(what: str) -> NotSupportedByOracle:
    return NotSupportedByOracle(f"not supported by TensorFlow: {what}")


def _channels_last(x: Any, n: int) -> Any:
    return tf.transpose(x, [0, *range(2, n + 2), 1])


def _channels_first(x: Any, n: int) -> Any:
    return tf.transpose(x, [0, n + 1, *range(1, n + 1)])


def _kernel_last(weight: Any, n: int) -> Any:
    """PyTorch ``(A, B, *K)`` -> TensorFlow ``(*K, B, A)``: HWIO for a conv, HW-out-in when transposed."""
    return tf.transpose(weight, [*range(2, n + 2), 1, 0])


def _crop(x: Any, pairs: Sequence[tuple[int, int]]) -> Any:
    """Crop ``pairs`` from the spatial dims of a channels-last tensor."""
    index = [slice(None)] + [slice(lo, x.shape[1 + axis] - hi) for axis, (lo, hi) in enumerate(pairs)]
    return x[tuple(index + [slice(None)])]


def _is_float64(tensor: Any) -> bool:
    return tensor.dtype == tf.float64


def _check_conv_features(op: str, x: Any, n: int, dilation: tuple[int, ...], groups: int,
                         transposed: bool) -> None:
    if groups > 1 and transposed:
        raise _not_supported(f"{op} with groups > 1 (tf.nn.conv_transpose has no groups)")
    if groups > 1 and n == 3:
        raise _not_supported(f"{op} with groups > 1 (the CPU Conv3D kernel has no groups)")
    if groups > 1 and _is_float64(x):
        raise _not_supported(f"{op} with groups > 1 in float64 on CPU (no grouped Conv2DBackpropInput)")
    if max(dilation) > 1 and _is_float64(x):
        raise _not_supported(f"{op} with dilation > 1 in float64 on CPU (the gradient kernels support "
                             f"only dilation 1)")


@register("conv1d", "conv2d", "conv3d")
def conv(op: str, input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros") -> Any:
    n = spatial_rank(op)
    stride, dilation = ints(stride, n), ints(dilation, n)
    if padding_mode in ("replicate", "circular"):
        raise _not_supported(f"padding_mode={padding_mode!r} (tf.pad has only CONSTANT, REFLECT, SYMMETRIC)")
    _check_conv_features(op, input, n, dilation, groups, transposed=False)
    unbatched = len(input.shape) == n + 1
    x = _channels_last(input[None] if unbatched else input, n)
    w = _kernel_last(weight, n)
    if padding_mode == "zeros" and padding in ("same", "valid"):
        tf_padding: Any = padding.upper()
    else:
        pairs = conv_pad_pairs(padding, tuple(x.shape[1:-1]), tuple(weight.shape[2:]), stride, dilation)
        # tf.pad + VALID rather than conv2d's explicit padding: explicit padding leaves the oneDNN kernels
        # for the Eigen ones, which lack grouped and dilated gradients even in float32.
        x = tf.pad(x, [[0, 0], *map(list, pairs), [0, 0]], mode="CONSTANT" if padding_mode == "zeros"
                   else "REFLECT")
        tf_padding = "VALID"
    if n == 1:
        y = tf.nn.conv1d(x, w, stride=list(stride), padding=tf_padding, dilations=list(dilation))
    elif n == 2:
        y = tf.nn.conv2d(x, w, strides=list(stride), padding=tf_padding, dilations=list(dilation))
    else:
        y = tf.nn.conv3d(x, w, strides=[1, *stride, 1], padding=tf_padding, dilations=[1, *dilation, 1])
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    y = _channels_first(y, n)
    return y[0] if unbatched else y


@register("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def conv_transpose(op: str, input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                   output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Any:
    n = spatial_rank(op)
    stride, dilation, extra = ints(stride, n), ints(dilation, n), ints(output_padding, n)
    _check_conv_features(op, input, n, dilation, groups, transposed=True)
    unbatched = len(input.shape) == n + 1
    x = _channels_last(input[None] if unbatched else input, n)
    w = _kernel_last(weight, n)
    kernel = tuple(weight.shape[2:])
    # TensorFlow accepts an output shape only if a VALID conv of it gives back the input: output_padding
    # below the stride is fine; output_padding >= stride (allowed when dilation is larger) adds positions no
    # tap reaches, which are zero before the bias, so they are appended as zeros.
    natural = [(size - 1) * s + d * (k - 1) + 1 + (e if e < s else 0)
               for size, s, d, k, e in zip(x.shape[1:-1], stride, dilation, kernel, extra, strict=True)]
    y = tf.nn.conv_transpose(x, w, [x.shape[0], *natural, weight.shape[1]], strides=list(stride),
                             padding="VALID", dilations=list(dilation))
    appended = [e if e >= s else 0 for s, e in zip(stride, extra, strict=True)]
    if any(appended):
        y = tf.pad(y, [[0, 0], *[[0, a] for a in appended], [0, 0]])
    y = _crop(y, pad_pairs(padding, n))
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    y = _channels_first(y, n)
    return y[0] if unbatched else y


@register("unfold")
def unfold(op: str, input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Any:
    n = len(input.shape) - 2
    kernel, dilation, stride = ints(kernel_size, n), ints(dilation, n), ints(stride, n)
    x = tf.pad(_channels_last(input, n), [[0, 0], *map(list, pad_pairs(padding, n)), [0, 0]])
    channels = input.shape[1]
    if n == 3:
        if max(dilation) > 1:
            raise _not_supported("unfold over 3 dims with dilation > 1 (extract_volume_patches has no "
                                 "rates)")
        patches = tf.extract_volume_patches(x, [1, *kernel, 1], [1, *stride, 1], "VALID")
    else:
        if n == 1:
            x, kernel, dilation, stride = x[:, None], (1, *kernel), (1, *dilation), (1, *stride)
        elif n != 2:
            raise _not_supported(f"unfold over {n} spatial dims")
        patches = tf.image.extract_patches(x, [1, *kernel, 1], [1, *stride, 1], [1, *dilation, 1], "VALID")
    # (N, *O, prod(K) * C) in (k..., C) order -> (N, C * prod(K), prod(O)) in PyTorch's (C, k...) order
    batch, positions = patches.shape[0], int(np.prod(patches.shape[1:-1]))
    taps = int(np.prod(kernel))
    columns = tf.reshape(patches, [batch, positions, taps, channels])
    return tf.reshape(tf.transpose(columns, [0, 3, 2, 1]), [batch, channels * taps, positions])


@register("fold")
def fold(op: str, *args: Any, **kwargs: Any) -> Any:
    raise _not_supported("fold (TensorFlow has no col2im op)")


# --- pooling ---------------------------------------------------------------------------------------------

def _pool_layout(op: str, input: Any, n: int) -> tuple[Any, bool]:
    """Channels-last, batched input of a pooling; whether it was unbatched."""
    unbatched = len(input.shape) == n + 1
    return _channels_last(input[None] if unbatched else input, n), unbatched


def _pool_back(y: Any, n: int, unbatched: bool) -> Any:
    y = _channels_first(y, n)
    return y[0] if unbatched else y


def _tf_pool(kind: str, n: int, x: Any, kernel: Sequence[int], stride: Sequence[int], padding: str) -> Any:
    function = getattr(tf.nn, f"{kind}_pool{n}d")
    return function(x, list(kernel), list(stride), padding)


def _check_pool_features(op: str, input: Any, n: int, ceil_mode: bool, dilation: Sequence[int] = (1,)) -> None:
    if max(dilation) > 1:
        raise _not_supported(f"{op} with dilation > 1 (TensorFlow's CPU pooling has no dilation)")
    if ceil_mode:
        raise _not_supported(f"{op} with ceil_mode=True (TensorFlow's pooling has no ceil_mode)")
    if n == 3 and _is_float64(input):
        raise _not_supported(f"{op} with float64 input (the CPU MaxPool3D/AvgPool3D kernels are float32 only)")


@register("max_pool1d", "max_pool2d", "max_pool3d")
def max_pool(op: str, input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
             ceil_mode: bool = False) -> Any:
    """``tf.nn.max_pool{n}d`` with VALID windows on the input padded with -inf (a pad never wins)."""
    n = spatial_rank(op)
    kernel = ints(kernel_size, n)
    stride = kernel if stride is None else ints(stride, n)
    _check_pool_features(op, input, n, ceil_mode, ints(dilation, n))
    x, unbatched = _pool_layout(op, input, n)
    pairs = pad_pairs(padding, n)
    if any(lo or hi for lo, hi in pairs):
        x = tf.pad(x, [[0, 0], *map(list, pairs), [0, 0]], constant_values=-np.inf)
    return _pool_back(_tf_pool("max", n, x, kernel, stride, "VALID"), n, unbatched)


@register("avg_pool1d", "avg_pool2d", "avg_pool3d")
def avg_pool(op: str, input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
             ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Any = None) -> Any:
    """``tf.nn.avg_pool{n}d``. Padding counted in the divisor (``count_include_pad=True``): zeros padded by
    ``tf.pad``, then VALID. Padding left out of it: TensorFlow's own SAME, which averages only input cells --
    possible only where SAME's pads are exactly the symmetric ``padding``. ``divisor_override``: the
    zero-padded VALID average times the window size (the window's sum), divided by the override."""
    n = spatial_rank(op)
    kernel = ints(kernel_size, n)
    stride = kernel if stride is None else ints(stride, n)
    _check_pool_features(op, input, n, ceil_mode)
    x, unbatched = _pool_layout(op, input, n)
    pairs = pad_pairs(padding, n)
    if divisor_override is not None:
        x = tf.pad(x, [[0, 0], *map(list, pairs), [0, 0]])
        window_sum = _tf_pool("avg", n, x, kernel, stride, "VALID") * float(np.prod(kernel))
        return _pool_back(window_sum / float(divisor_override), n, unbatched)
    if not any(lo or hi for lo, hi in pairs):
        tf_padding = "VALID"
    elif count_include_pad:
        x = tf.pad(x, [[0, 0], *map(list, pairs), [0, 0]])
        tf_padding = "VALID"
    else:
        same = tensorflow_same_pairs(tuple(x.shape[1:-1]), kernel, stride, (1,) * n)
        if tuple(same) != tuple(pairs):
            raise _not_supported(f"{op} with count_include_pad=False and padding that SAME does not produce "
                                 f"(padding={padding!r} for input {tuple(x.shape[1:-1])}: TensorFlow leaves pads "
                                 f"out of the average only with SAME, whose pads here would be {same})")
        tf_padding = "SAME"
    return _pool_back(_tf_pool("avg", n, x, kernel, stride, tf_padding), n, unbatched)


def _adaptive_pool(kind: str, op: str, input: Any, output_size: Any) -> Any:
    """TensorFlow has no adaptive pooling; where each output size divides the input size, adaptive pooling is
    exactly ``tf.nn.{kind}_pool`` with kernel = stride = input / output (the pooled values; no indices)."""
    n = spatial_rank(op)
    sizes = (output_size,) * n if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    _check_pool_features(op, input, n, False)
    x, unbatched = _pool_layout(op, input, n)
    spatial = tuple(x.shape[1:-1])
    out = tuple(size if o is None else int(o) for size, o in zip(spatial, sizes, strict=True))
    if any(size % o for size, o in zip(spatial, out, strict=True)):
        raise _not_supported(f"{op} with output sizes that do not divide the input sizes ({spatial} -> {out}: "
                             f"TensorFlow has no adaptive pooling; divisible sizes map onto tf.nn.{kind}_pool)")
    kernel = tuple(size // o for size, o in zip(spatial, out, strict=True))
    return _pool_back(_tf_pool(kind, n, x, kernel, kernel, "VALID"), n, unbatched)


@register("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def adaptive_avg_pool(op: str, input: Any, output_size: Any) -> Any:
    return _adaptive_pool("avg", op, input, output_size)


@register("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_max_pool(op: str, input: Any, output_size: Any, return_indices: bool = False) -> Any:
    return _adaptive_pool("max", op, input, output_size)


@register("max_unpool1d", "max_unpool2d", "max_unpool3d")
def max_unpool(op: str, *args: Any, **kwargs: Any) -> Any:
    raise _not_supported(f"{op} (TensorFlow has no unpooling op)")


@register("interpolate")
def interpolate(op: str, input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: Any = None, recompute_scale_factor: Any = None, antialias: bool = False) -> Any:
    """``tf.compat.v1.image.resize_nearest_neighbor`` (legacy: ``floor(o * S / O)``, PyTorch's nearest) and
    ``resize_bilinear`` (``half_pixel_centers`` for ``align_corners=False``) in 2-d; 1-d as 2-d with a unit
    first dim. TensorFlow scales by ``S / O`` always: a scale factor used as given must be ``O / S`` exactly."""
    n = len(input.shape) - 2
    if n not in (1, 2):
        raise _not_supported(f"{op} of {n}-d input (tf.image resizes 2-d images only)")
    if mode not in ("nearest", "linear", "bilinear"):
        raise _not_supported(f"{op} with mode={mode!r}")
    if mode != "nearest" and _is_float64(input):
        raise _not_supported(f"{op} with mode={mode!r} in float64 (tf.image's ResizeBilinear computes in float32)")
    spatial = tuple(int(v) for v in input.shape[2:])
    if size is not None:
        out = ints(size, n)
    else:
        factors = (float(scale_factor),) * n if np.isscalar(scale_factor) else tuple(map(float, scale_factor))
        out = tuple(int(s * f) for s, f in zip(spatial, factors, strict=True))
        if not recompute_scale_factor and any(np.float32(1 / f) != np.float32(s) / np.float32(o) for s, o, f in
                                              zip(spatial, out, factors, strict=True)):
            raise _not_supported(f"{op} with scale_factor={scale_factor!r} used as given (TensorFlow resizes by "
                                 f"input/output size, PyTorch by 1/scale_factor)")
    x = _channels_last(input, n)
    if n == 1:
        x, out = x[:, None], (1, *out)
    if mode == "nearest":
        y = tf.compat.v1.image.resize_nearest_neighbor(x, out, align_corners=False, half_pixel_centers=False)
    else:
        corners = bool(align_corners)
        y = tf.compat.v1.image.resize_bilinear(x, out, align_corners=corners, half_pixel_centers=not corners)
    return _channels_first(y[:, 0] if n == 1 else y, n)


# --- linear, activations, flatten, softmax -----------------------------------------------------------------

@register("linear")
def linear(op: str, input: Any, weight: Any, bias: Any = None) -> Any:
    y = tf.tensordot(input, weight, [[len(input.shape) - 1], [1]])
    return y if bias is None else y + bias


@register("relu", "sigmoid", "tanh")
def activation(op: str, input: Any) -> Any:
    return {"relu": tf.nn.relu, "sigmoid": tf.math.sigmoid, "tanh": tf.math.tanh}[op](input)


@register("leaky_relu")
def leaky_relu(op: str, input: Any, negative_slope: float = 0.01) -> Any:
    """``tf.nn.leaky_relu``, whose ``alpha`` is a 32-bit attribute of the op even for float64 input."""
    if _is_float64(input) and float(np.float32(negative_slope)) != negative_slope:
        raise _not_supported(f"{op} with float64 input and a negative_slope that is not a float32 "
                             f"(negative_slope={negative_slope!r}: the LeakyRelu op stores alpha as a 32-bit "
                             f"float, so it computes with {float(np.float32(negative_slope))!r})")
    return tf.nn.leaky_relu(input, alpha=negative_slope)


@register("relu6", "hardswish", "silu")
def activation_nn(op: str, input: Any) -> Any:
    """``tf.nn.relu6``, ``tf.nn.silu``; hard swish spelled with TensorFlow's ops as ``x * relu6(x + 3) / 6``."""
    if op == "hardswish":
        return input * tf.nn.relu6(input + 3.0) / 6.0
    return {"relu6": tf.nn.relu6, "silu": tf.nn.silu}[op](input)


@register("gelu")
def gelu(op: str, input: Any, approximate: str = "none") -> Any:
    """Spelled with ``tf.math.erfc``/``tanh`` and full-precision constants: ``tf.nn.gelu``'s float64 gradient
    is off by ~1e-9 (rounded constants)."""
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + tf.math.tanh(inner))
    return 0.5 * input * tf.math.erfc(-input * math.sqrt(0.5))


@register("flatten")
def flatten(op: str, input: Any, start_dim: int = 1, end_dim: int = -1) -> Any:
    shape = list(input.shape)
    start, end = start_dim % len(shape), end_dim % len(shape)
    merged = int(np.prod(shape[start:end + 1]))
    return tf.reshape(input, shape[:start] + [merged] + shape[end + 1:])


@register("softmax", "log_softmax")
def softmax(op: str, input: Any, dim: int = 1) -> Any:
    return getattr(tf.nn, op)(input, axis=dim)


# --- losses ----------------------------------------------------------------------------------------------

def _reduce(loss: Any, reduction: str) -> Any:
    return {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "none": lambda t: t}[reduction](loss)


@register("cross_entropy")
def cross_entropy(op: str, input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Any:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits`` on the logits with the class axis moved last; with
    label smoothing, Keras's ``categorical_crossentropy(one_hot, logits, from_logits=True,
    label_smoothing=e)``, whose smoothed target ``(1 - e) * onehot + e / C`` is PyTorch's. Class-probability
    targets: ``tf.nn.softmax_cross_entropy_with_logits`` on the smoothed probabilities. Class weights and
    ``ignore_index`` have no TensorFlow counterpart here."""
    if weight is not None:
        raise _not_supported(f"{op} with class weights (PyTorch's weighted mean has no TensorFlow op)")
    rank = len(input.shape)
    classes = input.shape[0 if rank == 1 else 1]
    logits = input if rank == 1 else tf.transpose(input, [0, *range(2, rank), 1])
    if target.dtype.is_floating:
        labels = target if rank == 1 else tf.transpose(target, [0, *range(2, rank), 1])
        labels = labels * (1.0 - label_smoothing) + label_smoothing / classes
        return _reduce(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits), reduction)
    if bool(tf.reduce_any(target == ignore_index)):
        raise _not_supported(f"{op} with targets equal to ignore_index={ignore_index}")
    if label_smoothing:
        import keras

        one_hot = tf.one_hot(target, classes, dtype=input.dtype)
        loss = keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True,
                                                     label_smoothing=label_smoothing)
    else:
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
    return _reduce(loss, reduction)


@register("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(op: str, input: Any, target: Any, weight: Any = None, pos_weight: Any = None,
                                     reduction: str = "mean") -> Any:
    """``tf.nn.sigmoid_cross_entropy_with_logits``, or ``tf.nn.weighted_cross_entropy_with_logits`` with
    ``pos_weight`` (the same formula as PyTorch's), times the element weights held constant."""
    if pos_weight is None:
        loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=input)
    else:
        loss = tf.nn.weighted_cross_entropy_with_logits(labels=target, logits=input,
                                                        pos_weight=tf.stop_gradient(pos_weight))
    if weight is not None:
        loss = loss * tf.stop_gradient(weight)
    return _reduce(loss, reduction)


@register("mse_loss")
def mse_loss(op: str, input: Any, target: Any, reduction: str = "mean") -> Any:
    return _reduce(tf.math.squared_difference(input, target), reduction)


# --- batch norm, dropout ---------------------------------------------------------------------------------

@register("batch_norm")
def batch_norm(op: str, input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """``tf.nn.batch_normalization`` with the batch's ``tf.nn.moments`` (biased variance, differentiated
    through) in training, else the running statistics (held constant: ``tf.stop_gradient``)."""
    rank = len(input.shape)
    shape = [1, input.shape[1]] + [1] * (rank - 2)
    if training:
        mean, variance = tf.nn.moments(input, axes=[0, *range(2, rank)], keepdims=True)
    else:
        mean = tf.reshape(tf.stop_gradient(running_mean), shape)
        variance = tf.reshape(tf.stop_gradient(running_var), shape)
    offset = None if bias is None else tf.reshape(bias, shape)
    scale = None if weight is None else tf.reshape(weight, shape)
    return tf.nn.batch_normalization(input, mean, variance, offset, scale, eps)


@register("dropout")
def dropout(op: str, input: Any, mask: Any = None, p: float = 0.5, training: bool = True) -> Any:
    """Only the deterministic cases: Keras's ``Dropout(p)(x, training=False)`` (the identity) and
    ``tf.nn.dropout`` with rate 0. TensorFlow's dropout draws its own mask and takes none."""
    if training and mask is not None:
        raise _not_supported("dropout with a given mask (tf.nn.dropout draws its own mask and takes none)")
    if training and p > 0:
        raise _not_supported(f"dropout in training with p={p} and no mask (both sides would draw different "
                             f"random masks)")
    if training:
        return tf.nn.dropout(input, rate=0.0)
    import keras

    return keras.layers.Dropout(p, dtype=input.dtype.name)(input, training=False)


@register("group_norm")
def group_norm(op: str, input: Any, weight: Any = None, bias: Any = None, num_groups: int = 1,
               eps: float = 1e-5) -> Any:
    """``tf.nn.moments`` of each sample's group (``input`` reshaped to ``(N, G, -1)``), then
    ``tf.nn.batch_normalization`` and the per-channel affine map."""
    shape = tf.shape(input)
    grouped = tf.reshape(input, [shape[0], num_groups, -1])
    mean, variance = tf.nn.moments(grouped, axes=[2], keepdims=True)
    y = tf.reshape(tf.nn.batch_normalization(grouped, mean, variance, None, None, eps), shape)
    channel = [1, input.shape[1]] + [1] * (len(input.shape) - 2)
    if weight is not None:
        y = y * tf.reshape(weight, channel)
    if bias is not None:
        y = y + tf.reshape(bias, channel)
    return y


@register("layer_norm")
def layer_norm(op: str, input: Any, weight: Any = None, bias: Any = None, normalized_shape: Any = (),
               eps: float = 1e-5) -> Any:
    """``tf.nn.moments`` over the last ``len(normalized_shape)`` axes, then ``tf.nn.batch_normalization``."""
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    rank = len(input.shape)
    mean, variance = tf.nn.moments(input, axes=list(range(rank - k, rank)), keepdims=True)
    return tf.nn.batch_normalization(input, mean, variance, bias, weight, eps)


@register("dropout2d")
def dropout2d(op: str, input: Any, mask: Any = None, p: float = 0.5, training: bool = True) -> Any:
    """As :func:`dropout`: only evaluation and ``p = 0`` are deterministic (the identity)."""
    if training and mask is not None:
        raise _not_supported("dropout2d with a given mask (TensorFlow's spatial dropout draws its own mask)")
    if training and p > 0:
        raise _not_supported(f"dropout2d in training with p={p} and no mask (both sides would draw different "
                             f"random masks)")
    return tf.identity(input)


_LAYERS = {
    "conv1d": "Conv1D", "conv2d": "Conv2D", "conv3d": "Conv3D",
    "conv_transpose1d": "Conv1DTranspose", "conv_transpose2d": "Conv2DTranspose",
    "conv_transpose3d": "Conv3DTranspose", "linear": "Dense",
}


class TensorFlowOracle(Oracle):
    """TensorFlow (CPU) as the oracle: ``tf.nn`` forward, translated layouts, ``GradientTape`` backward."""

    name = "tensorflow"
    framework = "TensorFlow"
    extra = EXTRA
    builders = BUILDERS

    @property
    def version(self) -> str:
        return tf.__version__

    def run(self, op: str, arrays: Sequence[np.ndarray | None], options: dict[str, Any] | None = None,
            grad_output: np.ndarray | None = None) -> OracleResult:
        build = self.builder(op)
        tensors = [None if a is None else tf.constant(to_numpy_input(a)) for a in arrays]
        present = [t for t in tensors if t is not None and t.dtype.is_floating]  # class targets: no gradient
        try:
            with tf.GradientTape() as tape:
                for tensor in present:
                    tape.watch(tensor)
                output = build(op, *tensors, **(options or {}))
            if grad_output is None:
                return OracleResult(output.numpy())
            check_grad_output(op, grad_output, tuple(output.shape))
            upstream = tf.constant(to_numpy_input(grad_output), dtype=output.dtype)
            grads = tape.gradient(output, present, output_gradients=upstream,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError,
                tf.errors.AbortedError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if any(phrase in message for phrase in _UNSUPPORTED_PHRASES):
                raise _not_supported(f"{op}: {message}") from error
            raise
        found = iter(grads)
        result = tuple(None if t is None or not t.dtype.is_floating else np.asarray(next(found)) for t in tensors)
        return OracleResult(output.numpy(), result)

    def init_params(self, op: str, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                    groups: int, bias: bool, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Keras's defaults for the layer (kernel ``GlorotUniform`` seeded with ``seed``, bias zeros); for
        ``linear``, ``keras.layers.Dense(out)`` whose ``(in, out)`` kernel becomes PyTorch's ``(out, in)``."""
        if op not in _LAYERS:
            raise _not_supported(f"no Keras layer initialiser for {op!r}")
        import keras

        options: dict[str, Any] = {"use_bias": bias,
                                   "kernel_initializer": keras.initializers.GlorotUniform(seed=seed)}
        if op == "linear":
            dense = keras.layers.Dense(out_channels, **options)
            dense.build((None, in_channels))
            weight = np.ascontiguousarray(np.asarray(dense.kernel.numpy(), dtype=np.float64).T)
            return weight, None if not bias else np.asarray(dense.bias.numpy(), dtype=np.float64)
        n = spatial_rank(op)
        if groups > 1:
            if "transpose" in op:
                raise _not_supported(f"{op} with groups={groups} (Keras transposed layers have no groups)")
            options["groups"] = groups
        layer = getattr(keras.layers, _LAYERS[op])(out_channels, kernel_size, **options)
        layer.build((None,) * (n + 1) + (in_channels,))
        # Keras kernels are (*K, C_in/g, C_out) for a conv and (*K, C_out, C_in) for a transposed conv;
        # both become PyTorch's layout with the same permutation.
        kernel = np.asarray(layer.kernel.numpy(), dtype=np.float64)
        weight = np.ascontiguousarray(np.transpose(kernel, (n + 1, n, *range(n))))
        return weight, None if not bias else np.asarray(layer.bias.numpy(), dtype=np.float64)
