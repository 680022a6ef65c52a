"""See the tape: a text listing of the graph behind a tensor, and the same graph drawn as a PNG.

One line per tensor, inputs first, in the form of an SSA listing::

    %0 = input x                       (2, 3, 8, 8)  float64
    %1 = parameter conv.weight         (4, 3, 3, 3)  float64
    %2 = conv2d(%0, %1)                (2, 4, 8, 8)  float64

Only the differentiable dataflow is shown: constants (targets, masks, ndarrays) are not tensors on the tape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tensor import Tensor

__all__ = ["graph"]


def _order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from ``root`` through recorded nodes, each after its inputs (iterative DFS)."""
    order: list[Tensor] = []
    done: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if id(t) in done:
            continue
        if expanded or t.grad_fn is None:
            done.add(id(t))
            order.append(t)
            continue
        stack.append((t, True))
        for child in reversed([c for c in t.grad_fn.inputs if c is not None]):
            if id(child) not in done:
                stack.append((child, False))
    return order


def _leaf_label(t: Tensor, names: Mapping[int, str]) -> str:
    name = names.get(id(t))
    kind = "parameter" if getattr(t, "is_parameter", False) else "input"
    return f"{kind} {name}" if name else kind


def graph(tensor: Tensor, names: Mapping[str, Any] | None = None, png: str | None = None) -> str:
    """The graph that computed ``tensor``, as text (and drawn into ``png`` with matplotlib when given).

    Args:
        tensor: a Tensor on the tape (usually a loss).
        names: optional ``{name: tensor}`` labels, e.g. ``dict(model.named_parameters())``.
        png: path of a PNG file to draw the same graph into (written atomically).

    Examples:
        >>> import numpy as np, vanilla_nn as vn
        >>> x = vn.tensor(np.ones((2, 3)), requires_grad=True)
        >>> print(vn.autograd.graph((x * x).sum(), names={"x": x}))
        %0 = input x  (2, 3)  float64
        %1 = mul(%0, %0)  (2, 3)  float64
        %2 = sum(%1)  ()  float64
    """
    labels = {id(t): name for name, t in (names or {}).items()}
    order = _order(tensor)
    index = {id(t): i for i, t in enumerate(order)}
    lines = []
    for i, t in enumerate(order):
        if t.grad_fn is None:
            what = _leaf_label(t, labels)
        else:
            args = ", ".join(f"%{index[id(c)]}" for c in t.grad_fn.inputs if c is not None)
            what = f"{t.grad_fn.name}({args})"
        lines.append(f"%{i} = {what}  {tuple(t.shape)}  {t.dtype}")
    text = "\n".join(lines)
    if png is not None:
        _draw(order, index, labels, png)
    return text


def _draw(order: list[Tensor], index: dict[int, int], labels: Mapping[int, str], path: str) -> None:
    """Boxes in layers by depth (longest path from a leaf), arrows from inputs to the op that uses them."""

    from .._extras import import_optional

    matplotlib = import_optional("matplotlib", "cli", "drawing the graph")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # ops one level below their deepest op input; a leaf just above its first consumer
    depth: dict[int, int] = {}
    consumers: dict[int, list[Tensor]] = {}
    for t in order:
        if t.grad_fn is None:
            continue
        inputs = [c for c in t.grad_fn.inputs if c is not None]
        depth[id(t)] = 1 + max((depth[id(c)] for c in inputs if c.grad_fn is not None), default=0)
        for c in inputs:
            consumers.setdefault(id(c), []).append(t)
    for t in order:
        if t.grad_fn is None:
            depth[id(t)] = min((depth[id(u)] for u in consumers.get(id(t), [])), default=1) - 1
    layers: dict[int, list[Tensor]] = {}
    for t in order:
        layers.setdefault(depth[id(t)], []).append(t)
    width = max(len(v) for v in layers.values())
    fig, ax = plt.subplots(figsize=(max(6.0, 3.4 * width), 1.1 * (len(layers) + 1)))
    position = {}
    for level, items in layers.items():
        for k, t in enumerate(items):
            position[id(t)] = ((k + 1) / (len(items) + 1), 1 - (level + 0.5) / len(layers))
    for t in order:
        if t.grad_fn is None:
            continue
        for c in t.grad_fn.inputs:
            if c is not None:
                ax.annotate("", xy=position[id(t)], xytext=position[id(c)],
                            arrowprops={"arrowstyle": "->", "color": "0.4", "shrinkA": 14, "shrinkB": 14})
    for t in order:
        leaf = t.grad_fn is None
        head = _leaf_label(t, labels) if leaf else t.grad_fn.name
        colour = "#cfe8cf" if getattr(t, "is_parameter", False) else ("#e4e4f4" if leaf else "#fbe3c8")
        ax.text(*position[id(t)], f"%{index[id(t)]} {head}\n{tuple(t.shape)} {t.dtype}", ha="center", va="center",
                fontsize=8, bbox={"boxstyle": "round", "facecolor": colour, "edgecolor": "0.5"})
    ax.set_axis_off()
    ax.set_title("autograd graph: inputs (blue), parameters (green), ops (orange)", fontsize=9)
    from .._io import atomic_open

    try:
        with atomic_open(path, "wb") as stream:  # a temporary file beside path, renamed into place
            fig.savefig(stream, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)

