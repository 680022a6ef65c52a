"""vanilla_nn's side of a check: call an op of ``vanilla_nn.functional`` as the proof matrix describes it.

Kept out of ``vanilla_nn.oracles`` so that the oracles never import the code they check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def vanilla_functions(op: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``vanilla_nn.functional``'s forward and backward for ``op`` (a name in ``oracles.cases.OPS``)."""
    import vanilla_nn.functional as F
    from vanilla_nn.oracles.cases import OPS

    info = OPS[op]
    return getattr(F, info.name), getattr(F, info.backward_name)


def vanilla_callables(op: str, arrays: Sequence[np.ndarray | None], options: Mapping[str, Any]
                      ) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(forward(*xs), backward(grad_output, *xs))`` of ``op`` in the op's differentiable arrays ``xs``.

    The other arrays (class targets, running statistics, a dropout mask) and the options are fixed to
    ``arrays`` and ``options``; this is the shape ``vanilla_nn.gradcheck`` wants.
    """
    from vanilla_nn.oracles.cases import OPS

    info = OPS[op]
    forward, backward = vanilla_functions(op)
    indices = info.grad_indices

    def full(xs: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
        everything = list(arrays)
        for index, x in zip(indices, xs, strict=True):
            everything[index] = x
        return info.call_args(everything, options)

    def forward_of(*xs: Any) -> Any:
        args, kwargs = full(xs)
        return forward(*args, **kwargs)

    def backward_of(grad_output: Any, *xs: Any) -> Any:
        args, kwargs = full(xs)
        return backward(grad_output, *args, **kwargs)

    return forward_of, backward_of


def run_vanilla(op: str, arrays: Sequence[np.ndarray | None], options: Mapping[str, Any],
                grad_output: np.ndarray | None = None) -> tuple[np.ndarray, tuple[np.ndarray | None, ...]]:
    """vanilla_nn's output and, if ``grad_output`` is given, its gradients (one per differentiable array,
    else an empty tuple)."""
    from vanilla_nn.oracles.cases import OPS

    forward, backward = vanilla_functions(op)
    args, kwargs = OPS[op].call_args(arrays, options)
    output = forward(*args, **kwargs)
    if grad_output is None:
        return output, ()
    return output, tuple(backward(grad_output, *args, **kwargs))
