"""The tape: nodes, grad mode, and reverse-mode accumulation in topological order (no recursion).

A :class:`Node` is one recorded op: its name, the tensors it differentiates (``inputs``, in the order its
backward returns their gradients; None where no gradient is wanted), the typed state its forward kept
(``saved``) and the pure function ``backward(grad_output, saved, needs_input_grad) -> tuple of gradients``.
The tape derives nothing: for a functional op that function is the op's own ``*_backward``.

``needs_input_grad`` (PyTorch's ``ctx.needs_input_grad``) is one bool per entry of ``inputs``: whether that
argument is a Tensor that requires grad. It is fixed when the op is recorded and is the only way a backward
learns which gradients anyone will read: a backward may skip the others and return None in their place
(the convolutions skip the input gradient of an image, the biggest saving; see ``functional/conv.py``).

:func:`run_backward` walks the graph once with an explicit stack to count, for each node, how many
recorded uses of its output lie in the graph, then pops nodes whose every use has delivered its gradient
(Kahn's algorithm), so a tensor used many times gets the sum of its gradients before its own backward
runs, and long chains never meet Python's recursion limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

__all__ = ["Node", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "run_backward"]


class _GradMode(threading.local):
    enabled: bool = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether ops on Tensors are being recorded (False inside :class:`no_grad`)."""
    return _mode.enabled


class set_grad_enabled:
    """Context manager (and decorator) setting grad mode on or off for its block."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(mode={mode!r}): mode must be a bool")
        self.mode = mode
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_mode.enabled)
        _mode.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = self._previous.pop()

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        mode = self.mode

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):  # a fresh context per call: safe under recursion and threads
                return function(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """Nothing inside records a node or keeps saved state: ``with vn.no_grad(): y = model(x)``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Recording back on inside a :class:`no_grad` block."""

    def __init__(self) -> None:
        super().__init__(True)


def _freed(grad_output: np.ndarray, saved: Any, needs_input_grad: tuple[bool, ...]) -> tuple:
    raise RuntimeError("trying to backward through the graph a second time: its saved state was freed by the "
                       "first backward; call .backward(retain_graph=True) the first time to keep it")


class Node:
    """One recorded op: ``backward(grad_output, saved, needs_input_grad)`` gives one gradient per entry of
    ``inputs`` (None allowed where ``needs_input_grad`` is False: nobody reads it)."""

    __slots__ = ("name", "inputs", "needs_input_grad", "saved", "backward", "__weakref__")

    def __init__(self, name: str, inputs: Sequence[Tensor | None], saved: Any,
                 backward: Callable[[np.ndarray, Any, tuple[bool, ...]], Sequence[np.ndarray | None]]) -> None:
        self.name = name
        self.inputs = tuple(inputs)
        self.needs_input_grad = tuple([t is not None for t in self.inputs])
        self.saved = saved
        self.backward = backward

    def release(self) -> None:
        """Drop the saved state; a later backward through this node raises a clear error."""
        self.saved = None
        self.backward = _freed

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _accumulate(buffer: dict[int, np.ndarray], key: int, grad: np.ndarray) -> None:
    current = buffer.get(key)
    buffer[key] = grad if current is None else current + grad


def _check_grad(grad: np.ndarray, tensor: Tensor, node: Node) -> np.ndarray:
    grad = np.asarray(grad)
    if grad.shape != tensor.data.shape:
        raise RuntimeError(f"backward of {node.name} returned a gradient of shape {grad.shape} for an input of "
                           f"shape {tensor.data.shape}")
    return grad


def run_backward(roots: Iterable[tuple[Tensor, np.ndarray]], retain_graph: bool = False,
                 capture: Sequence[Tensor] | None = None) -> list[np.ndarray | None] | None:
    """Propagate ``(tensor, gradient)`` pairs back through the graph.

    With ``capture`` None, gradients are added into ``.grad`` of every leaf that requires grad. Otherwise
    nothing's ``.grad`` is touched and the gradients of the ``capture`` tensors (leaves or not) are returned,
    None for a tensor the roots do not depend on.
    """
    roots = list(roots)
    captured: dict[int, np.ndarray] = {}
    capture_ids = {id(t) for t in capture} if capture is not None else None
    node_of_capture = {id(t.grad_fn): t for t in capture or () if t.grad_fn is not None}

    # 1. every node reachable from the roots, and how many recorded uses of its output the graph holds
    uses: dict[int, int] = {}
    nodes: dict[int, Node] = {}
    stack = [t.grad_fn for t, _ in roots if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in nodes:
            continue
        nodes[id(node)] = node
        for t in node.inputs:
            if t is not None and t.grad_fn is not None:
                uses[id(t.grad_fn)] = uses.get(id(t.grad_fn), 0) + 1
                stack.append(t.grad_fn)

    # 2. seed the roots' gradients
    pending: dict[int, np.ndarray] = {}
    leaf_grads: dict[int, tuple[Tensor, np.ndarray]] = {}

    def deliver(t: Tensor, grad: np.ndarray) -> None:
        if t.grad_fn is not None:
            _accumulate(pending, id(t.grad_fn), grad)
        elif t.requires_grad:
            previous = leaf_grads.get(id(t))
            leaf_grads[id(t)] = (t, grad if previous is None else previous[1] + grad)

    for t, grad in roots:
        deliver(t, grad)

    # 3. Kahn's algorithm: a node runs once every use of its output has delivered its gradient
    ready = [node for key, node in nodes.items() if uses.get(key, 0) == 0]
    while ready:
        node = ready.pop()
        grad_output = pending.pop(id(node), None)
        if grad_output is not None and capture_ids is not None and id(node) in node_of_capture:
            captured[id(node_of_capture[id(node)])] = grad_output
        grads: Sequence[np.ndarray | None] = ()
        if grad_output is not None:
            grads = node.backward(grad_output, node.saved, node.needs_input_grad)
            if len(grads) != len(node.inputs):
                raise RuntimeError(f"backward of {node.name} returned {len(grads)} gradients for "
                                   f"{len(node.inputs)} inputs")
        if not retain_graph:
            node.release()
        for index, t in enumerate(node.inputs):
            if t is None:
                continue
            grad = grads[index] if grads else None
            if grad is not None:
                deliver(t, _check_grad(grad, t, node))
            if t.grad_fn is not None:
                key = id(t.grad_fn)
                uses[key] -= 1
                if uses[key] == 0:
                    ready.append(t.grad_fn)

    if capture is not None:
        for t, grad in leaf_grads.values():
            if id(t) in capture_ids:
                captured[id(t)] = grad
        return [None if id(t) not in captured else np.asarray(captured[id(t)]).astype(t.dtype, copy=False)
                for t in capture]
    for t, grad in leaf_grads.values():
        t._accumulate_grad(grad)
    return None
