"""Define-by-run reverse mode over the hand-derived backwards: ``Tensor``, the tape, ``grad``, ``graph``.

The tape derives nothing: each node holds the typed state its op's forward kept and calls that op's
backward — for every :mod:`vanilla_nn.functional` op, the same ``*_backward`` that ``vanilla-nn verify``
proves against PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import function as _function  # noqa: F401  (registers the tape with vanilla_nn.functional)
from .engine import Node, enable_grad, is_grad_enabled, no_grad, run_backward, set_grad_enabled
from .graph import graph
from .tensor import Tensor, cat, stack, tensor

__all__ = ["Tensor", "tensor", "cat", "stack", "Node", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "grad", "backward", "graph"]


def _as_list(value: Any, name: str) -> list[Any]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return items


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False) -> None:
    """``sum(t.backward(g))`` over several outputs at once, in one pass over the graph."""
    outputs = _as_list(tensors, "tensors")
    grads = _as_list(grad_tensors, "grad_tensors") if grad_tensors is not None else [None] * len(outputs)
    run_backward(_roots(outputs, grads, "backward"), retain_graph=retain_graph)


def _roots(outputs: list[Any], grads: list[Any], caller: str) -> list[tuple[Tensor, np.ndarray]]:
    if len(grads) != len(outputs):
        raise ValueError(f"{caller}: {len(outputs)} outputs but {len(grads)} gradients")
    roots = []
    for index, (out, g) in enumerate(zip(outputs, grads)):
        if not isinstance(out, Tensor):
            raise TypeError(f"{caller}: outputs[{index}] is a {type(out).__name__}, not a Tensor")
        if not out.requires_grad:
            raise RuntimeError(f"{caller}: outputs[{index}] does not require grad (no input of the ops that "
                               f"made it requires grad)")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(f"{caller}: outputs[{index}] has shape {out.shape}; pass its gradient")
            g = np.ones(out.shape, dtype=out.dtype)
        g = np.asarray(g.data if isinstance(g, Tensor) else g)
        if g.shape != out.shape:
            raise ValueError(f"{caller}: grad_outputs[{index}].shape={g.shape} must equal outputs[{index}].shape="
                             f"{out.shape}")
        roots.append((out, g.astype(out.dtype, copy=False)))
    return roots


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool = False,
         allow_unused: bool = False) -> tuple[np.ndarray | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs`` (ndarrays), without touching any ``.grad``.

    ``grad_outputs`` defaults to 1 for single-element outputs. An input the outputs do not depend on is
    an error unless ``allow_unused`` (then its gradient is None).

    Examples:
        >>> import vanilla_nn as vn
        >>> x = vn.tensor([1.0, 2.0], requires_grad=True)
        >>> vn.autograd.grad((x ** 3).sum(), x)
        (array([ 3., 12.]),)
        >>> x.grad is None
        True
    """
    outs = _as_list(outputs, "outputs")
    ins: Sequence[Any] = _as_list(inputs, "inputs")
    for index, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: inputs[{index}] must be a Tensor that requires grad")
    grads = _as_list(grad_outputs, "grad_outputs") if grad_outputs is not None else [None] * len(outs)
    result = run_backward(_roots(outs, grads, "grad"), retain_graph=retain_graph, capture=list(ins))
    assert result is not None
    for index, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: inputs[{index}] is not used to compute the outputs (allow_unused=True "
                               f"returns None for it)")
    return tuple(result)
