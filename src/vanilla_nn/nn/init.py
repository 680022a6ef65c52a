"""Weight initialisation with PyTorch's rules, drawn from a seedable NumPy ``Generator``.

Every layer draws its default weights from ``rng`` when given one, else from this module's global generator
(reseed it with :func:`manual_seed`). The functions fill a ``Parameter`` or ndarray in place and return it.

PyTorch's default for ``Conv*`` and ``Linear`` weights is ``kaiming_uniform_(w, a=sqrt(5))``: with
``gain = sqrt(2 / (1 + a^2))`` and ``bound = gain * sqrt(3 / fan_in)`` that is ``U(-1/sqrt(fan_in),
1/sqrt(fan_in))``; the bias is ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` too. ``fan_in = shape[1] * prod(shape[2:])``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["manual_seed", "default_generator", "as_generator", "calculate_fan_in_and_fan_out", "calculate_gain",
           "uniform_", "normal_", "constant_", "zeros_", "ones_", "kaiming_uniform_", "kaiming_normal_"]

_default_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator that layers draw their default weights from; returns it."""
    global _default_generator
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed={seed!r} must be an int")
    _default_generator = np.random.default_rng(int(seed))
    return _default_generator


def default_generator() -> np.random.Generator:
    """The global generator used when a layer or init function gets ``rng=None``."""
    return _default_generator


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """``None`` -> the global generator; an int seed -> a fresh ``Generator``; a ``Generator`` as is."""
    if rng is None:
        return _default_generator
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name}={rng!r} must be None, an int seed or a numpy.random.Generator")


def _array(tensor: Any) -> np.ndarray:
    array = getattr(tensor, "data", tensor)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected a Parameter or ndarray to initialise, got {type(tensor).__name__}")
    return array


def calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """``(shape[1] * receptive, shape[0] * receptive)`` with ``receptive = prod(shape[2:])``, as PyTorch."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dims, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gains: 1 for linear/conv/sigmoid, 5/3 tanh, sqrt(2) relu, leaky_relu by slope."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity={nonlinearity!r} is not supported")


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, rng: Any = None) -> Any:
    """Fill with ``U(a, b)`` drawn in float64 and cast to the tensor's dtype."""
    array = _array(tensor)
    array[...] = as_generator(rng).uniform(a, b, size=array.shape)
    return tensor


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, rng: Any = None) -> Any:
    """Fill with ``N(mean, std^2)`` drawn in float64 and cast to the tensor's dtype."""
    array = _array(tensor)
    array[...] = as_generator(rng).normal(mean, std, size=array.shape)
    return tensor


def constant_(tensor: Any, val: float) -> Any:
    _array(tensor)[...] = val
    return tensor


def zeros_(tensor: Any) -> Any:
    _array(tensor)[...] = 0
    return tensor


def ones_(tensor: Any) -> Any:
    _array(tensor)[...] = 1
    return tensor


def kaiming_uniform_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     rng: Any = None) -> Any:
    """He-uniform ``U(-bound, bound)``: ``bound = gain * sqrt(3 / fan)``, ``gain = calculate_gain(nonlinearity, a)``.
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode={mode!r} must be 'fan_in' or 'fan_out'")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    rng: Any = None) -> Any:
    """He-normal ``N(0, std^2)``: ``std = gain / sqrt(fan)``, ``gain = calculate_gain(nonlinearity, a)``
    (torchvision's ResNet and MobileNetV2 use ``mode="fan_out"``, ``fan_out = shape[0] * prod(shape[2:])``).
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode={mode!r} must be 'fan_in' or 'fan_out'")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)


def default_weight_and_bias_(weight: Any, bias: Any, rng: Any = None) -> None:
    """PyTorch's default for Linear and Conv*: kaiming_uniform(a=sqrt(5)) weight, ``U(+-1/sqrt(fan_in))`` bias.

    ``bias`` may be None. The weight is drawn first, then the bias, from the same generator (PyTorch's order).
    """
    rng = as_generator(rng)
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = calculate_fan_in_and_fan_out(weight)
        if fan_in:
            bound = 1 / math.sqrt(fan_in)
            uniform_(bias, -bound, bound, rng=rng)
