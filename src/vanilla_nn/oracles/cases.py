"""The proof matrix: which ops ``vanilla-nn verify`` checks, with which options, and how results compare.

Two tables, both plain data:

- :data:`OPS` says, per functional op, which positional arguments are arrays (the rest are options) and the
  name of its backward. A new op joins with one :class:`OpInfo` entry.
- :data:`CASES` lists the configurations: op, array shapes (``None`` for an absent array such as
  ``bias=None``), options exactly as ``vanilla_nn.functional`` takes them, and whether the case belongs to
  the ``--quick`` subset. A new op joins with one or a few :class:`Case` entries (and, for the frameworks, one
  builder in each oracle module).

Each case runs in float64 and float32 against every oracle, and once (float64) against finite differences.
Arrays are drawn non-contiguous (every other element of a larger array) so memory layout is exercised too.

Agreement is measured as a *normwise relative error*: ``max|ours - oracle| / max|oracle|`` per result
(output and each gradient), the worst over the results. It passes under :data:`TOLERANCES` for the dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]

TOLERANCES: dict[str, float] = {"float64": 1e-10, "float32": 1e-5}
DTYPES: tuple[str, ...] = ("float64", "float32")


@dataclass(frozen=True)
class OpInfo:
    """How to call one op: its array arguments in order (the rest are options) and its backward's name."""

    name: str
    arrays: tuple[str, ...]
    backward: str = ""
    result_names: tuple[str, ...] = ()

    @property
    def backward_name(self) -> str:
        return self.backward or f"{self.name}_backward"

    @property
    def results(self) -> tuple[str, ...]:
        """Names of what is compared: the output, then one gradient per array argument."""
        return self.result_names or ("output", *(f"grad_{name}" for name in self.arrays))


_CONV_ARRAYS = ("input", "weight", "bias")
OPS: dict[str, OpInfo] = {
    **{f"conv{n}d": OpInfo(f"conv{n}d", _CONV_ARRAYS) for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": OpInfo(f"conv_transpose{n}d", _CONV_ARRAYS) for n in (1, 2, 3)},
    "unfold": OpInfo("unfold", ("input",)),
    "fold": OpInfo("fold", ("input",)),
}


@dataclass(frozen=True)
class Case:
    """One configuration of one op: array shapes (None = absent) and options as vanilla_nn takes them."""

    op: str
    shapes: tuple[Shape | None, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    quick: bool = False

    @property
    def id(self) -> str:
        return f"{self.op}[{self.label}]" if self.label else self.op

    def describe(self) -> str:
        shapes = ", ".join("None" if s is None else "x".join(map(str, s)) for s in self.shapes)
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.op}({shapes}{', ' + options if options else ''})"


def make_arrays(case: Case, dtype: str | np.dtype, seed: int = 0) -> list[np.ndarray | None]:
    """Random arrays for ``case`` in ``dtype``, uniform in [-1, 1), each a non-contiguous strided view."""
    rng = np.random.default_rng(seed)
    arrays: list[np.ndarray | None] = []
    for shape in case.shapes:
        if shape is None:
            arrays.append(None)
            continue
        wide = rng.uniform(-1.0, 1.0, (*shape[:-1], 2 * shape[-1])).astype(dtype)
        arrays.append(wide[..., ::2])
    return arrays


def difference(ours: np.ndarray | None, theirs: np.ndarray | None) -> tuple[float, float]:
    """``(max |ours - theirs|, max |ours - theirs| / max |theirs|)``; inf if one is missing or shapes differ."""
    if ours is None and theirs is None:
        return 0.0, 0.0
    if ours is None or theirs is None or np.shape(ours) != np.shape(theirs):
        return float("inf"), float("inf")
    if np.size(theirs) == 0:
        return 0.0, 0.0
    ours64, theirs64 = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    abs_err = float(np.max(np.abs(ours64 - theirs64)))
    scale = float(np.max(np.abs(theirs64)))
    rel_err = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
    if np.isnan(abs_err):
        return float("inf"), float("inf")
    return abs_err, rel_err


def vanilla_functions(op: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``vanilla_nn.functional``'s forward and backward for ``op``."""
    import vanilla_nn.functional as F

    info = OPS[op]
    return getattr(F, info.name), getattr(F, info.backward_name)


def run_vanilla(op: str, arrays: Sequence[np.ndarray | None], options: Mapping[str, Any],
                grad_output: np.ndarray | None = None) -> tuple[np.ndarray, tuple[np.ndarray | None, ...]]:
    """vanilla_nn's output and, if ``grad_output`` is given, its gradients (else an empty tuple)."""
    forward, backward = vanilla_functions(op)
    output = forward(*arrays, **options)
    if grad_output is None:
        return output, ()
    grads = backward(grad_output, *arrays, **options)
    return output, tuple(grads)


# --- the matrix -----------------------------------------------------------------------------------------

_SPATIAL = {1: (11,), 2: (9, 8), 3: (6, 5, 7)}
_KERNEL = {1: (3,), 2: (3, 2), 3: (3, 2, 2)}
_T_SPATIAL = {1: (5,), 2: (4, 5), 3: (3, 4, 3)}


def _per_dim(n: int, *values: Any) -> tuple[Any, ...]:
    """The first ``n`` of ``values``: one option value per spatial dim."""
    return tuple(values[:n])


def _conv_cases(n: int) -> list[Case]:
    op, spatial, kernel = f"conv{n}d", _SPATIAL[n], _KERNEL[n]

    def case(label: str, c_in: int = 4, c_out: int = 6, groups: int = 1, bias: bool = True,
             quick: bool = False, batch: int | None = 2, **options: Any) -> Case:
        x = ((batch,) if batch else ()) + (c_in, *spatial)
        w = (c_out, c_in // groups, *kernel)
        if groups != 1:
            options["groups"] = groups
        return Case(op, (x, w, (c_out,) if bias else None), options, label, quick)

    two = n == 2
    return [
        case("default", quick=True),
        case("stride", stride=_per_dim(n, 2, 1, 3)),
        case("padding", padding=1, quick=n == 1),
        case("asym-pads", stride=2, padding=_per_dim(n, (1, 0), (0, 2), (2, 1)), quick=two),
        case("same", padding="same", quick=n == 3),
        case("same-stride", stride=_per_dim(n, 2, 3, 2), padding="same", quick=two),
        case("valid", stride=2, padding="valid"),
        case("dilation", dilation=2, padding=1, quick=two),
        case("dilation-stride", dilation=_per_dim(n, 2, 1, 2), stride=2),
        case("groups", groups=2, quick=two),
        case("depthwise", c_in=4, c_out=8, groups=4),
        case("no-bias", bias=False, stride=2, quick=n == 1),
        case("reflect", padding=_per_dim(n, 2, 1, 1), padding_mode="reflect", quick=two),
        case("replicate", padding=_per_dim(n, 1, 2, 1), padding_mode="replicate", quick=two),
        case("circular", padding=1, padding_mode="circular", stride=2),
        case("same-reflect", padding="same", padding_mode="reflect", stride=2),
        case("unbatched", batch=None, padding=1),
    ]


def _conv_transpose_cases(n: int) -> list[Case]:
    op, spatial, kernel = f"conv_transpose{n}d", _T_SPATIAL[n], _KERNEL[n]

    def case(label: str, c_in: int = 4, c_out: int = 6, groups: int = 1, bias: bool = True,
             quick: bool = False, **options: Any) -> Case:
        w = (c_in, c_out // groups, *kernel)
        if groups != 1:
            options["groups"] = groups
        return Case(op, ((2, c_in, *spatial), w, (c_out,) if bias else None), options, label, quick)

    two = n == 2
    return [
        case("default", quick=True),
        case("stride", stride=_per_dim(n, 2, 3, 2), quick=two),
        case("padding-output-padding", stride=2, padding=1, output_padding=1, quick=True),
        case("asym-pads", stride=2, padding=_per_dim(n, (1, 0), (0, 2), (1, 1)), quick=two),
        case("dilation", dilation=2, padding=1, quick=two),
        case("output-padding-from-dilation", stride=2, dilation=3, output_padding=2),
        case("groups", groups=2, quick=two),
        case("no-bias", bias=False, stride=2),
    ]


def _window_cases() -> list[Case]:
    cases = []
    for n in (1, 2, 3):
        spatial = _SPATIAL[n]
        kernel = _KERNEL[n]
        cases += [
            Case("unfold", ((2, 3, *spatial),), {"kernel_size": kernel}, f"{n}d", quick=n == 2),
            Case("unfold", ((2, 3, *spatial),), {"kernel_size": kernel, "stride": 2, "padding": 1,
                                                  "dilation": _per_dim(n, 2, 1, 1)}, f"{n}d-options",
                 quick=n == 1),
        ]
    # fold: output_size (image) -> columns of shape (N, C * prod(K), L)
    for n, size, kernel, options, quick in [
        (1, (10,), (3,), {"stride": 2, "padding": 1}, False),
        (2, (7, 6), (3, 2), {"stride": (2, 1), "padding": 1, "dilation": (1, 2)}, True),
        (2, (5, 5), (2, 2), {"padding": ((1, 0), (0, 1))}, False),
        (3, (5, 4, 4), (2, 2, 2), {"stride": 2}, False),
    ]:
        pads = options.get("padding", 0)
        pairs = [(pads, pads)] * n if isinstance(pads, int) else list(pads)
        stride = options.get("stride", 1)
        strides = (stride,) * n if isinstance(stride, int) else stride
        dilation = options.get("dilation", 1)
        dilations = (dilation,) * n if isinstance(dilation, int) else dilation
        blocks = [(s + lo + hi - d * (k - 1) - 1) // st + 1
                  for s, (lo, hi), d, k, st in zip(size, pairs, dilations, kernel, strides, strict=True)]
        columns = (2, 3 * int(np.prod(kernel)), int(np.prod(blocks)))
        label = f"{n}d" + ("-asym" if isinstance(pads, tuple) else "")
        cases.append(Case("fold", (columns,), {"output_size": size, "kernel_size": kernel, **options}, label,
                          quick))
    return cases


CASES: list[Case] = [
    *(c for n in (1, 2, 3) for c in _conv_cases(n)),
    *(c for n in (1, 2, 3) for c in _conv_transpose_cases(n)),
    *_window_cases(),
]


def select_cases(quick: bool = False, ops: Sequence[str] | None = None) -> list[Case]:
    """The matrix, or its ``--quick`` subset, optionally only for some ops."""
    return [c for c in CASES if (c.quick or not quick) and (ops is None or c.op in ops)]
