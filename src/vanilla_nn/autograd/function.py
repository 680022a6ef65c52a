"""Recording a :mod:`vanilla_nn.functional` op on the tape.

:func:`record` is what every functional op calls when one of its arguments is a Tensor (see
``functional/_dispatch.py``): it unwraps the Tensors, runs the op's own forward on the ndarrays, and
returns a Tensor whose node calls the op's own backward. The node's saved state is typed:

- for the ops in :data:`SAVING`, the state the op's saving forward returns (the convolution's padded
  input and im2col matrix, the transposed one's input, max pooling's argmax, dropout's and dropout2d's masks), and the
  backward from that state;
- for every other op, :class:`FunctionalCall`: the bound ndarray arguments, given back to
  ``<op>_backward(grad_output, *args, **kwargs)``, the function ``vanilla-nn verify`` proves.

Under :func:`~vanilla_nn.no_grad`, or when no differentiated argument requires grad, the op runs and
nothing is kept.

The node's ``needs_input_grad`` (one bool per differentiated argument: is it a Tensor that requires grad?)
reaches every backward that takes a ``needs_input_grad`` keyword (the convolutions, ``linear``, the
normalisations): the gradients nobody reads (an input image's, a frozen parameter's) are then not computed.
A backward without that keyword computes them all, and the engine drops the unneeded ones.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..functional import _dispatch, pool
from ..functional.conv import (
    conv_backward_saved,
    conv_forward_saving,
    conv_transpose_backward_saved,
    conv_transpose_forward_saving,
)
from ..functional.dropout import (
    dropout,
    dropout2d,
    dropout2d_backward,
    dropout2d_mask_shape,
    dropout_backward,
    dropout_mask,
)
from .engine import Node, is_grad_enabled
from .tensor import Tensor

__all__ = ["FunctionalCall", "DropoutSaved", "SAVING", "record"]


@dataclass(frozen=True)
class FunctionalCall:
    """The ndarray arguments of one call, as bound to the forward's signature."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class DropoutSaved:
    """Dropout's call with the mask its forward drew (so backward uses the same one)."""

    call: FunctionalCall


def _dropout_saving(input: Any, p: float = 0.5, training: bool = True, *, mask: Any = None,
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, DropoutSaved]:
    x = np.asarray(input)
    if training and mask is None and x.dtype.kind == "f":
        mask = dropout_mask(x.shape, p, rng if rng is not None else np.random.default_rng(), x.dtype)
    y = dropout(input, p, training, mask=mask)
    return y, DropoutSaved(FunctionalCall((input, p, training), {"mask": mask}))


def _dropout_backward_saved(grad_output: np.ndarray, saved: DropoutSaved) -> tuple:
    return dropout_backward(grad_output, *saved.call.args, **saved.call.kwargs)


def _dropout2d_saving(input: Any, p: float = 0.5, training: bool = True, *, mask: Any = None,
                      rng: np.random.Generator | None = None) -> tuple[np.ndarray, DropoutSaved]:
    """dropout2d keeping its channel mask ``(N, C, 1, 1)`` / ``(C, 1, 1)`` for backward."""
    x = np.asarray(input)
    if training and mask is None and x.dtype.kind == "f" and x.ndim in (3, 4):
        mask = dropout_mask(dropout2d_mask_shape(x.shape), p, rng if rng is not None else np.random.default_rng(),
                            x.dtype)
    y = dropout2d(input, p, training, mask=mask, rng=rng)
    return y, DropoutSaved(FunctionalCall((input, p, training), {"mask": mask}))


def _dropout2d_backward_saved(grad_output: np.ndarray, saved: DropoutSaved) -> tuple:
    return dropout2d_backward(grad_output, *saved.call.args, **saved.call.kwargs)


def _max_pool_saving(ndim: int) -> Callable[..., tuple[Any, Any]]:
    """Max pooling that keeps its argmax (the backward scatters to it instead of searching the windows)."""
    forward = getattr(pool, f"max_pool{ndim}d")

    def saving(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> tuple[Any, Any]:
        output, saved = pool.max_pool_forward_saving(input, kernel_size, stride, padding, dilation, ceil_mode,
                                                     ndim=ndim)
        if return_indices:  # the flat indices are PyTorch's, a second output
            output = forward(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
        return output, saved

    return saving


def _adaptive_max_pool_saving(ndim: int) -> Callable[..., tuple[Any, Any]]:
    forward = getattr(pool, f"adaptive_max_pool{ndim}d")

    def saving(input: Any, output_size: Any, return_indices: bool = False) -> tuple[Any, Any]:
        output, saved = pool.adaptive_max_pool_forward_saving(input, output_size, ndim=ndim)
        if return_indices:
            output = forward(input, output_size, return_indices=True)
        return output, saved

    return saving


# op name -> (forward returning (output, typed saved state), backward(grad_output, saved) -> gradients)
SAVING: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    **{name: (conv_forward_saving, conv_backward_saved) for name in ("conv1d", "conv2d", "conv3d", "conv_nd")},
    **{name: (conv_transpose_forward_saving, conv_transpose_backward_saved)
       for name in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_transpose_nd")},
    "dropout": (_dropout_saving, _dropout_backward_saved),
    "dropout2d": (_dropout2d_saving, _dropout2d_backward_saved),
    **{f"max_pool{n}d": (_max_pool_saving(n), pool.max_pool_backward_saved) for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": (_adaptive_max_pool_saving(n), pool.adaptive_max_pool_backward_saved)
       for n in (1, 2, 3)},
}

_signatures: dict[Callable[..., Any], inspect.Signature] = {}


def _takes_needs(backward: Callable[..., Any]) -> bool:
    """Whether ``backward`` accepts the ``needs_input_grad`` keyword (then it may skip unneeded gradients)."""
    try:
        return "needs_input_grad" in inspect.signature(backward).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


@functools.cache  # one adapter per op, not one per recorded call
def _saved_backward(backward: Callable[..., Any]) -> Callable[[np.ndarray, Any, tuple[bool, ...]], Any]:
    """``backward(grad_output, saved)`` of a :data:`SAVING` op as the node's ``(grad_output, saved, needs)``."""
    if _takes_needs(backward):
        def call(grad_output: np.ndarray, saved: Any, needs: tuple[bool, ...]) -> Any:
            return backward(grad_output, saved, needs_input_grad=needs)
    else:
        def call(grad_output: np.ndarray, saved: Any, needs: tuple[bool, ...]) -> Any:
            return backward(grad_output, saved)

    call.__name__ = getattr(backward, "__name__", "backward")
    return call


def _signature(forward: Callable[..., Any]) -> inspect.Signature:
    signature = _signatures.get(forward)
    if signature is None:
        signature = _signatures[forward] = inspect.signature(forward)
    return signature


def _unwrap(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return type(value)(_unwrap(v) for v in value)
    return value


def _wrap_outputs(output: Any, node: Node | None) -> Any:
    """The op's output as a Tensor carrying ``node``; a tuple's later items (indices) as plain Tensors."""
    if isinstance(output, tuple):
        return (_wrap_outputs(output[0], node), *(Tensor(o) for o in output[1:]))
    result = Tensor(output)
    if node is not None:
        result.requires_grad = True
        result.grad_fn = node
    return result


def record(name: str, forward: Callable[..., Any], backward: Callable[..., Any], wrt: tuple[str, ...],
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``forward`` on the unwrapped arguments; record a node for the Tensors named in ``wrt``."""
    try:
        bound = _signature(forward).bind(*args, **kwargs)
    except TypeError:  # let the op report its own argument error
        return forward(*(_unwrap(a) for a in args), **{k: _unwrap(v) for k, v in kwargs.items()})
    differentiated = [bound.arguments.get(argument) for argument in wrt]
    inputs = [t if isinstance(t, Tensor) and t.requires_grad else None for t in differentiated]
    for key, value in bound.arguments.items():
        bound.arguments[key] = _unwrap(value)
    call_args, call_kwargs = bound.args, bound.kwargs
    if not is_grad_enabled() or all(t is None for t in inputs):
        return _wrap_outputs(forward(*call_args, **call_kwargs), None)
    if name in SAVING:
        saving_forward, saved_backward = SAVING[name]
        output, saved = saving_forward(*call_args, **call_kwargs)
        node = Node(name, inputs, saved, _saved_backward(saved_backward))
    else:
        output = forward(*call_args, **call_kwargs)
        node = Node(name, inputs, FunctionalCall(call_args, call_kwargs), _functional_backward(backward))
    return _wrap_outputs(output, node)


@functools.cache  # one adapter per op, not one per recorded call
def _functional_backward(backward: Callable[..., Any]
                         ) -> Callable[[np.ndarray, FunctionalCall, tuple[bool, ...]], Any]:
    """``<op>_backward(grad_output, *args, **kwargs)`` as the node's ``(grad_output, saved, needs)``."""
    if _takes_needs(backward):
        def call(grad_output: np.ndarray, saved: FunctionalCall, needs: tuple[bool, ...]) -> Any:
            return backward(grad_output, *saved.args, needs_input_grad=needs, **saved.kwargs)
    else:
        def call(grad_output: np.ndarray, saved: FunctionalCall, needs: tuple[bool, ...]) -> Any:
            return backward(grad_output, *saved.args, **saved.kwargs)

    call.__name__ = backward.__name__
    return call


_dispatch.tape.tensor_type = Tensor
_dispatch.tape.record = record
