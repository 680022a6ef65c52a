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
  has no rates).
"""

from __future__ import annotations

import contextlib
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


_LAYERS = {
    "conv1d": "Conv1D", "conv2d": "Conv2D", "conv3d": "Conv3D",
    "conv_transpose1d": "Conv1DTranspose", "conv_transpose2d": "Conv2DTranspose",
    "conv_transpose3d": "Conv3DTranspose",
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
        present = [t for t in tensors if t is not None]
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
        result = tuple(None if t is None else np.asarray(next(found)) for t in tensors)
        return OracleResult(output.numpy(), result)

    def init_params(self, op: str, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                    groups: int, bias: bool, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Keras's defaults for the layer (kernel ``GlorotUniform`` seeded with ``seed``, bias zeros)."""
        if op not in _LAYERS:
            raise _not_supported(f"no Keras layer initialiser for {op!r}")
        import keras

        n = spatial_rank(op)
        options: dict[str, Any] = {"use_bias": bias,
                                   "kernel_initializer": keras.initializers.GlorotUniform(seed=seed)}
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
