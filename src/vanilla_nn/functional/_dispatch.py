"""Functional ops on the tape: given any Tensor argument, an op records a node that calls its own ``*_backward``.

Given only ndarrays an op is the pure NumPy function it always was (one ``isinstance`` scan of the
arguments is the whole cost). Given a :class:`vanilla_nn.Tensor` anywhere in its arguments, it unwraps
them, runs the same forward, and returns a Tensor whose node calls the op's own ``*_backward`` (or, for
the ops listed in ``SAVING``, the backward from the typed state the forward kept), the same function
``vanilla-nn verify`` proves. The tape derives nothing.

``TAPE_GRADIENTS`` is the one table to extend when an op is added: its key is the op's name in
:mod:`vanilla_nn.functional`, its value the names of the forward's arguments that ``<op>_backward``
returns gradients for, in the order it returns them. The autograd package fills ``tape`` when imported.

A backward may take the keyword ``needs_input_grad``: one bool per entry of that tuple, False for an
argument whose gradient nobody reads (not a Tensor, or one that does not require grad). The tape passes the
node's; the backward then returns None there without computing it (:func:`check_needs_input_grad` reads it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

# op name -> the forward's arguments its *_backward returns gradients for, in the backward's order
TAPE_GRADIENTS: dict[str, tuple[str, ...]] = {
    **{f"conv{n}d": ("input", "weight", "bias") for n in (1, 2, 3)},
    "conv_nd": ("input", "weight", "bias"),
    **{f"conv_transpose{n}d": ("input", "weight", "bias") for n in (1, 2, 3)},
    "conv_transpose_nd": ("input", "weight", "bias"),
    "unfold": ("input",),
    "fold": ("input",),
    **{f"{kind}_pool{n}d": ("input",) for kind in ("max", "avg", "adaptive_avg") for n in (1, 2, 3)},
    # max_pool{n}d / adaptive_max_pool{n}d with return_indices=True return (output, indices): only the output
    # is differentiable; max_unpool's indices (integers) get no gradient
    **{f"adaptive_max_pool{n}d": ("input",) for n in (1, 2, 3)},
    **{f"max_unpool{n}d": ("input",) for n in (1, 2, 3)},
    "interpolate": ("input",),
    "upsample": ("input",),
    "linear": ("input", "weight", "bias"),
    "relu": ("input",),
    "leaky_relu": ("input",),
    "sigmoid": ("input",),
    "tanh": ("input",),
    "relu6": ("input",),
    "hardswish": ("input",),
    "silu": ("input",),
    "gelu": ("input",),
    "flatten": ("input",),
    "softmax": ("input",),
    "log_softmax": ("input",),
    "cross_entropy": ("input",),  # class indices have no gradient; probability targets get none here either
    "nll_loss": ("input",),
    "binary_cross_entropy_with_logits": ("input", "target"),
    "mse_loss": ("input", "target"),
    "batch_norm": ("input", "weight", "bias"),
    "dropout": ("input",),
    "group_norm": ("input", "weight", "bias"),
    "layer_norm": ("input", "weight", "bias"),
    "dropout2d": ("input",),
}


def check_needs_input_grad(op: str, needs_input_grad: Any, count: int) -> tuple[bool, ...]:
    """``needs_input_grad`` as a tuple of ``count`` bools; None means every gradient is needed.

    Raises:
        TypeError, ValueError: not a sequence of ``count`` bools (the message names the op and the value).
    """
    if needs_input_grad is None:
        return (True,) * count
    if not isinstance(needs_input_grad, (tuple, list)) or not all(
            isinstance(n, (bool, np.bool_)) for n in needs_input_grad):
        raise TypeError(f"{op}_backward: needs_input_grad={needs_input_grad!r} must be a tuple of bools, one per "
                        f"differentiable argument")
    if len(needs_input_grad) != count:
        raise ValueError(f"{op}_backward: needs_input_grad={tuple(needs_input_grad)!r} has "
                         f"{len(needs_input_grad)} entries; {op} has {count} differentiable arguments "
                         f"{TAPE_GRADIENTS.get(op, ())}")
    return tuple(bool(n) for n in needs_input_grad)


class _Tape:
    """What the autograd package registers: its Tensor type and the function that records a node."""

    tensor_type: type | None = None
    record: Callable[..., Any] | None = None


tape = _Tape()


def on_tape(name: str, forward: Callable[..., Any], backward: Callable[..., Any]) -> Callable[..., Any]:
    """``forward`` that records a tape node when any argument is a Tensor; itself otherwise."""
    wrt = TAPE_GRADIENTS[name]

    @functools.wraps(forward)
    def op(*args: Any, **kwargs: Any) -> Any:
        tensor_type = tape.tensor_type
        if tensor_type is not None and (any(isinstance(a, tensor_type) for a in args)
                                        or any(isinstance(v, tensor_type) for v in kwargs.values())):
            return tape.record(name, forward, backward, wrt, args, kwargs)
        return forward(*args, **kwargs)

    op.backward = backward  # type: ignore[attr-defined]
    return op


def wrap_namespace(namespace: dict[str, Any]) -> None:
    """Replace every op of ``TAPE_GRADIENTS`` in ``namespace`` (a module's globals) by its tape-aware form."""
    for name in TAPE_GRADIENTS:
        namespace[name] = on_tape(name, namespace[name], namespace[f"{name}_backward"])
