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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]

TOLERANCES: dict[str, float] = {"float64": 1e-10, "float32": 1e-5}
DTYPES: tuple[str, ...] = ("float64", "float32")


ARRAY_KINDS = ("uniform", "positive", "probability", "class_index", "dropout_mask", "unpool_indices")


@dataclass(frozen=True)
class OpInfo:
    """How to call one op and what to compare.

    ``arrays``: the op's array arguments in order (the rest are options). ``keyword``: those of them that
    vanilla_nn takes by keyword (``dropout``'s ``mask``); oracles get every array positionally, in order.
    ``differentiable``: the arrays the backward returns gradients for, in its order (default: all). The
    others are held fixed: integer class targets, and batch norm's running statistics, which PyTorch
    treats as buffers with no gradient. ``kinds``: how :func:`make_arrays` draws an array when it is not
    ``"uniform"`` (in [-1, 1)): ``"positive"`` (in [0.5, 1.5), a variance), ``"probability"`` (in [0, 1)),
    ``"class_index"`` (int64 class indices for the logits in the first array, classes along its dim 1, or
    dim 0 when it is 1-d; when the case gives the target the logits' own shape, class probabilities
    instead: positive, summing to 1 along the class dim) or
    ``"dropout_mask"`` (``1 / (1 - p)`` with probability ``1 - p``, else 0, ``p`` from the options) or
    ``"unpool_indices"`` (int64 positions in a max unpooling's output plane, distinct per ``(n, c)``).
    """

    name: str
    arrays: tuple[str, ...]
    backward: str = ""
    result_names: tuple[str, ...] = ()
    differentiable: tuple[str, ...] | None = None
    kinds: Mapping[str, str] = field(default_factory=dict)
    keyword: tuple[str, ...] = ()

    @property
    def backward_name(self) -> str:
        return self.backward or f"{self.name}_backward"

    @property
    def grads(self) -> tuple[str, ...]:
        """The arrays that get a gradient, in the backward's order."""
        return self.arrays if self.differentiable is None else self.differentiable

    @property
    def grad_indices(self) -> tuple[int, ...]:
        """Positions in ``arrays`` of :attr:`grads`."""
        return tuple(self.arrays.index(name) for name in self.grads)

    @property
    def results(self) -> tuple[str, ...]:
        """Names of what is compared: the output, then one gradient per differentiable array."""
        return self.result_names or ("output", *(f"grad_{name}" for name in self.grads))

    def call_args(self, arrays: Sequence[Any], options: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """vanilla_nn's ``(positional, keyword)`` arguments: arrays in order, then options and keyword arrays."""
        positional = [a for name, a in zip(self.arrays, arrays, strict=True) if name not in self.keyword]
        keywords = {name: a for name, a in zip(self.arrays, arrays, strict=True) if name in self.keyword}
        return positional, {**options, **keywords}


def _pool_infos() -> dict[str, OpInfo]:
    infos = {f"{kind}_pool{n}d": OpInfo(f"{kind}_pool{n}d", ("input",))
             for kind in ("max", "avg", "adaptive_avg", "adaptive_max") for n in (1, 2, 3)}
    infos.update({f"max_unpool{n}d": OpInfo(f"max_unpool{n}d", ("input", "indices"), differentiable=("input",),
                                             kinds={"indices": "unpool_indices"}) for n in (1, 2, 3)})
    infos["interpolate"] = OpInfo("interpolate", ("input",))
    return infos


_CONV_ARRAYS = ("input", "weight", "bias")
OPS: dict[str, OpInfo] = {
    **{f"conv{n}d": OpInfo(f"conv{n}d", _CONV_ARRAYS) for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": OpInfo(f"conv_transpose{n}d", _CONV_ARRAYS) for n in (1, 2, 3)},
    "unfold": OpInfo("unfold", ("input",)),
    "fold": OpInfo("fold", ("input",)),
    **_pool_infos(),
    "linear": OpInfo("linear", _CONV_ARRAYS),
    **{name: OpInfo(name, ("input",)) for name in ("relu", "leaky_relu", "sigmoid", "tanh", "flatten",
                                                    "softmax", "log_softmax")},
    **{name: OpInfo(name, ("input",)) for name in ("relu6", "hardswish", "silu", "gelu")},
    "cross_entropy": OpInfo("cross_entropy", ("input", "target", "weight"), differentiable=("input",),
                            kinds={"target": "class_index", "weight": "positive"}),
    "nll_loss": OpInfo("nll_loss", ("input", "target", "weight"), differentiable=("input",),
                       kinds={"target": "class_index", "weight": "positive"}),
    "binary_cross_entropy_with_logits": OpInfo(
        "binary_cross_entropy_with_logits", ("input", "target", "weight", "pos_weight"),
        differentiable=("input", "target"),
        kinds={"target": "probability", "weight": "positive", "pos_weight": "positive"}, keyword=("pos_weight",)),
    "mse_loss": OpInfo("mse_loss", ("input", "target")),
    "batch_norm": OpInfo("batch_norm", ("input", "running_mean", "running_var", "weight", "bias"),
                         differentiable=("input", "weight", "bias"), kinds={"running_var": "positive"}),
    "dropout": OpInfo("dropout", ("input", "mask"), differentiable=("input",), kinds={"mask": "dropout_mask"},
                      keyword=("mask",)),
    # weight and bias follow an option (num_groups, normalized_shape) in the signature: passed by keyword
    "group_norm": OpInfo("group_norm", _CONV_ARRAYS, keyword=("weight", "bias")),
    "layer_norm": OpInfo("layer_norm", _CONV_ARRAYS, keyword=("weight", "bias")),
    "dropout2d": OpInfo("dropout2d", ("input", "mask"), differentiable=("input",), kinds={"mask": "dropout_mask"},
                        keyword=("mask",)),
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
    """Random arrays for ``case`` in ``dtype``, each a non-contiguous strided view, drawn as the op's
    :class:`OpInfo` ``kinds`` say (float arrays uniform in [-1, 1) unless told otherwise)."""
    rng = np.random.default_rng(seed)
    info = OPS[case.op]
    arrays: list[np.ndarray | None] = []
    for name, shape in zip(info.arrays, case.shapes, strict=True):
        if shape is None:
            arrays.append(None)
            continue
        wide_shape = (*shape[:-1], 2 * shape[-1]) if shape else (2,)
        kind = info.kinds.get(name, "uniform")
        if kind == "uniform":
            wide = rng.uniform(-1.0, 1.0, wide_shape).astype(dtype)
        elif kind == "positive":
            wide = rng.uniform(0.5, 1.5, wide_shape).astype(dtype)
        elif kind == "probability":
            wide = rng.uniform(0.0, 1.0, wide_shape).astype(dtype)
        elif kind == "class_index" and shape == case.shapes[0]:  # class probabilities shaped like the logits
            axis = 1 if len(shape) > 1 else 0
            wide = np.zeros(wide_shape, dtype)
            dense = rng.uniform(0.1, 1.0, shape)
            wide[..., ::2] = dense / dense.sum(axis=axis, keepdims=True)
        elif kind == "class_index":
            logits = case.shapes[0]
            classes = logits[1] if len(logits) > 1 else logits[0]
            wide = rng.integers(0, classes, wide_shape, dtype=np.int64)
        elif kind == "dropout_mask":
            p = float(case.options["p"])
            wide = ((rng.random(wide_shape) >= p) / (1.0 - p)).astype(dtype)
        elif kind == "unpool_indices":
            wide = np.zeros(wide_shape, dtype=np.int64)
            wide[..., ::2] = _unpool_indices(case, shape, rng)
        else:
            raise ValueError(f"{case.id}: array {name!r} has unknown kind {kind!r} (known: {ARRAY_KINDS})")
        arrays.append(wide[..., ::2] if shape else wide[0, ...])
    return arrays


def _unpool_indices(case: Case, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """Distinct positions per ``(n, c)`` in the output plane of ``case`` (a ``max_unpool{n}d``), as a max
    pooling without overlapping windows would return them; the output size is PyTorch's default
    ``(S - 1) * s + K - 2p`` unless ``output_size`` says otherwise."""
    n = int(case.op[-2])
    options = case.options
    kernel = _ints(options["kernel_size"], n)
    stride = kernel if options.get("stride") is None else _ints(options["stride"], n)
    padding = _ints(options.get("padding", 0), n)
    if options.get("output_size") is not None:
        out = tuple(options["output_size"])[-n:]
    else:
        out = tuple((size - 1) * st + k - 2 * p for size, st, k, p in zip(shape[-n:], stride, kernel, padding))
    rows, cells = int(np.prod(shape[:-n])), int(np.prod(shape[-n:]))
    picks = [rng.permutation(int(np.prod(out)))[:cells] for _ in range(rows)]
    return np.array(picks, dtype=np.int64).reshape(shape)


def _ints(value: Any, n: int) -> tuple[int, ...]:
    return (int(value),) * n if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)


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


def _pool_cases(n: int) -> list[Case]:
    spatial, two = _SPATIAL[n], n == 2
    x = (2, 3, *spatial)
    max_op, avg_op, adaptive_op = f"max_pool{n}d", f"avg_pool{n}d", f"adaptive_avg_pool{n}d"
    cases = [
        Case(max_op, (x,), {"kernel_size": 2}, "default", quick=two),
        Case(max_op, (x,), {"kernel_size": 3, "stride": 2, "padding": 1}, "stride-padding", quick=n == 1),
        Case(max_op, (x,), {"kernel_size": _per_dim(n, 3, 2, 2), "stride": 1}, "overlapping"),
        Case(max_op, (x,), {"kernel_size": 2, "stride": 1, "dilation": 2}, "dilation"),
        Case(max_op, (x,), {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, "ceil-mode"),
        Case(avg_op, (x,), {"kernel_size": 2}, "default", quick=two),
        Case(avg_op, (x,), {"kernel_size": 3, "stride": 2, "padding": 1}, "count-include-pad", quick=n == 1),
        # strides chosen so that TensorFlow's SAME pads are exactly (1, 1): it can check this case too
        Case(avg_op, (x,), {"kernel_size": 3, "stride": {1: 2, 2: (2, 1), 3: (1, 2, 2)}[n], "padding": 1,
                            "count_include_pad": False}, "exclude-pad", quick=two),
        Case(avg_op, (x,), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, "ceil-mode"),
        Case(adaptive_op, (x,), {"output_size": {1: 1, 2: (3, 4), 3: (3, 1, 7)}[n]}, "divisible", quick=two),
        Case(adaptive_op, (x,), {"output_size": _per_dim(n, 4, 3, 2)}, "uneven", quick=n == 1),
    ]
    if two:
        cases += [
            Case(max_op, ((3, *spatial),), {"kernel_size": 3, "stride": 2, "padding": 1}, "unbatched"),
            Case(adaptive_op, (x,), {"output_size": (None, 3)}, "none-keeps-size"),
        ]
    # issue 10: divisor_override (avg_pool2d/3d only, as in PyTorch), adaptive max pooling, max unpooling
    adaptive_max, unpool = f"adaptive_max_pool{n}d", f"max_unpool{n}d"
    pooled = (2, 3, *_per_dim(n, 4, 3, 3))
    cases += [
        Case(adaptive_max, (x,), {"output_size": {1: 1, 2: (3, 4), 3: (3, 1, 7)}[n]}, "divisible", quick=two),
        Case(adaptive_max, (x,), {"output_size": _per_dim(n, 4, 3, 2)}, "uneven", quick=n == 1),
        Case(unpool, (pooled, pooled), {"kernel_size": 2}, "default", quick=two),
        Case(unpool, (pooled, pooled), {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "output_size": _per_dim(n, 8, 6, 5)}, "stride-padding-output-size",
             quick=n == 1),
    ]
    if n > 1:
        cases.append(Case(avg_op, (x,), {"kernel_size": 3, "stride": 2, "padding": 1, "divisor_override": 5},
                          "divisor-override", quick=two))
    if two:
        cases += [
            Case(adaptive_max, ((3, *spatial),), {"output_size": (None, 3)}, "unbatched-none-keeps-size"),
            Case(unpool, ((3, 4, 3), (3, 4, 3)), {"kernel_size": (2, 3)}, "unbatched"),
        ]
    return cases


def _interpolate_cases() -> list[Case]:
    """Nearest in 1-d/2-d/3-d and (bi/tri)linear: sizes, scale factors used as given or recomputed."""
    return [Case("interpolate", (shape,), options, label, quick) for shape, options, label, quick in [
        ((2, 3, 5), {"scale_factor": 2}, "nearest-1d-scale-2", True),
        ((2, 3, 9, 8), {"size": (5, 12)}, "nearest-2d-size", True),
        ((2, 3, 9, 8), {"scale_factor": (1.7, 0.6)}, "nearest-2d-scale", False),
        ((2, 3, 9, 8), {"scale_factor": 1.7, "recompute_scale_factor": True}, "nearest-2d-recompute", False),
        ((1, 2, 3, 5, 4), {"scale_factor": (1.5, 2, 0.7)}, "nearest-3d-scale", False),
        ((2, 3, 6), {"size": 11, "mode": "linear", "align_corners": True}, "linear-align-corners", False),
        ((2, 3, 9, 8), {"size": (13, 5), "mode": "bilinear"}, "bilinear-size", True),
        ((2, 3, 9, 8), {"scale_factor": 2, "mode": "bilinear", "align_corners": True}, "bilinear-align-corners",
         True),
        ((2, 3, 9, 8), {"scale_factor": 1.37, "mode": "bilinear"}, "bilinear-scale", False),
        ((1, 2, 3, 5, 4), {"size": (4, 6, 2), "mode": "trilinear"}, "trilinear-size", False),
    ]]


def _layer_cases() -> list[Case]:
    image = (2, 3, 5, 4)
    cases = [
        Case("linear", ((5, 4), (3, 4), (3,)), {}, "default", quick=True),
        Case("linear", ((5, 4), (3, 4), None), {}, "no-bias"),
        Case("linear", ((2, 5, 4), (6, 4), (6,)), {}, "leading-dims"),
        Case("linear", ((4,), (3, 4), (3,)), {}, "unbatched"),
        *(Case(op, (image,), {}, "default", quick=True) for op in ("relu", "sigmoid", "tanh")),
        Case("leaky_relu", (image,), {}, "default"),
        Case("leaky_relu", (image,), {"negative_slope": 0.25}, "slope", quick=True),
        # inputs in [-1, 1): the kinks of relu6 at 6 and of hardswish at +-3 are in the unit tests
        *(Case(op, (image,), {}, "default", quick=True) for op in ("relu6", "hardswish", "silu", "gelu")),
        Case("gelu", (image,), {"approximate": "tanh"}, "tanh", quick=True),
        Case("flatten", (image,), {}, "default", quick=True),
        Case("flatten", (image,), {"start_dim": 0, "end_dim": 2}, "start-end"),
        Case("flatten", (image,), {"start_dim": -3, "end_dim": -2}, "negative-dims"),
    ]
    for op in ("softmax", "log_softmax"):
        cases += [
            Case(op, ((4, 6),), {"dim": 1}, "default", quick=True),
            Case(op, (image,), {"dim": 1}, "channels"),
            Case(op, (image,), {"dim": -1}, "last-dim"),
            Case(op, (image,), {"dim": 0}, "batch-dim"),
        ]
    logits, target, weight = (8, 5), (8,), (5,)
    spatial_logits, spatial_target = (2, 5, 3, 4), (2, 3, 4)
    cases += [
        Case("cross_entropy", (logits, target, None), {}, "mean", quick=True),
        Case("cross_entropy", (logits, target, None), {"reduction": "sum"}, "sum"),
        Case("cross_entropy", (logits, target, None), {"reduction": "none"}, "none"),
        Case("cross_entropy", (logits, target, None), {"label_smoothing": 0.1}, "label-smoothing", quick=True),
        Case("cross_entropy", (spatial_logits, spatial_target, None), {}, "spatial"),
        Case("cross_entropy", (spatial_logits, spatial_target, None),
             {"reduction": "none", "label_smoothing": 0.2}, "spatial-smoothing-none"),
        Case("cross_entropy", ((5,), (), None), {"reduction": "sum"}, "unbatched"),
        # ignore_index names a real class (1), so some targets are ignored
        Case("cross_entropy", (logits, target, weight), {"ignore_index": 1}, "weight-ignore", quick=True),
        Case("cross_entropy", (spatial_logits, spatial_target, weight), {"ignore_index": 1, "label_smoothing": 0.3},
             "spatial-weight-ignore-smoothing"),
        Case("cross_entropy", (logits, logits, None), {}, "probabilities", quick=True),
        Case("cross_entropy", (spatial_logits, spatial_logits, weight), {"label_smoothing": 0.1,
                                                                          "reduction": "sum"},
             "probabilities-weight-smoothing"),
        Case("nll_loss", (logits, target, None), {}, "mean", quick=True),
        Case("nll_loss", (logits, target, weight), {"ignore_index": 1}, "weight-ignore", quick=True),
        Case("nll_loss", (spatial_logits, spatial_target, weight), {"reduction": "none"}, "spatial-none"),
        Case("binary_cross_entropy_with_logits", ((4, 5), (4, 5), None, None), {}, "mean", quick=True),
        Case("binary_cross_entropy_with_logits", ((4, 5), (4, 5), (5,), (5,)), {"reduction": "sum"},
             "weight-pos-weight", quick=True),
        Case("binary_cross_entropy_with_logits", ((2, 3, 4), (2, 3, 4), None, (4,)), {"reduction": "none"},
             "pos-weight-none"),
        Case("mse_loss", ((4, 5), (4, 5)), {}, "mean", quick=True),
        Case("mse_loss", ((4, 5), (4, 5)), {"reduction": "sum"}, "sum"),
        Case("mse_loss", ((2, 3, 4), (2, 3, 4)), {"reduction": "none"}, "none"),
    ]
    channels = (3,)
    stats = (channels, channels)
    cases += [
        Case("batch_norm", ((8, 3), *stats, channels, channels), {"training": True}, "train", quick=True),
        Case("batch_norm", ((8, 3), *stats, channels, channels), {"training": False}, "eval", quick=True),
        Case("batch_norm", ((4, 3, 5, 4), *stats, channels, channels), {"training": True, "eps": 1e-3},
             "train-2d"),
        Case("batch_norm", ((4, 3, 5, 4), *stats, channels, channels), {"training": False}, "eval-2d"),
        Case("batch_norm", ((4, 3, 5), None, None, None, None), {"training": True}, "train-no-stats-no-affine"),
        Case("batch_norm", ((2, 3, 2, 3, 4), *stats, channels, None), {"training": False, "eps": 1e-3},
             "eval-3d-weight-only"),
        # dropout: only what is deterministic can be checked against a framework; a given mask is checked
        # by finite differences alone (the frameworks draw their own masks and report the check skipped)
        Case("dropout", ((4, 6), None), {"p": 0.5, "training": False}, "eval", quick=True),
        Case("dropout", ((4, 6), None), {"p": 0.0, "training": True}, "train-p0"),
        Case("dropout", ((4, 6), (4, 6)), {"p": 0.3, "training": True}, "train-mask", quick=True),
    ]
    six = (6,)
    cases += [
        Case("group_norm", ((4, 6, 5, 3), six, six), {"num_groups": 3}, "affine", quick=True),
        Case("group_norm", ((4, 6), six, six), {"num_groups": 2, "eps": 1e-3}, "2d-input"),
        Case("group_norm", ((2, 6, 7), None, None), {"num_groups": 6}, "per-channel-no-affine"),
        Case("group_norm", ((2, 6, 3, 2, 4), six, None), {"num_groups": 1}, "one-group-3d-weight-only"),
        Case("group_norm", ((0, 6, 3), six, six), {"num_groups": 2}, "empty-batch"),
        Case("layer_norm", ((4, 5, 6), six, six), {"normalized_shape": 6}, "last-dim", quick=True),
        Case("layer_norm", ((2, 3, 5, 4), (5, 4), (5, 4)), {"normalized_shape": (5, 4), "eps": 1e-3}, "two-dims"),
        Case("layer_norm", ((3, 7), None, None), {"normalized_shape": (7,)}, "no-affine"),
        Case("layer_norm", ((2, 3, 4), (3, 4), None), {"normalized_shape": (3, 4)}, "weight-only"),
        Case("layer_norm", ((0, 6), six, six), {"normalized_shape": 6}, "empty-batch"),
        # dropout2d: as dropout, a given channel mask is checked by finite differences alone
        Case("dropout2d", ((2, 3, 4, 5), None), {"p": 0.5, "training": False}, "eval", quick=True),
        Case("dropout2d", ((2, 3, 4, 5), None), {"p": 0.0, "training": True}, "train-p0"),
        Case("dropout2d", ((2, 3, 4, 5), (2, 3, 1, 1)), {"p": 0.4, "training": True}, "train-mask", quick=True),
        Case("dropout2d", ((3, 4, 5), (3, 1, 1)), {"p": 0.4, "training": True}, "unbatched-mask"),
    ]
    return cases


CASES: list[Case] = [
    *(c for n in (1, 2, 3) for c in _conv_cases(n)),
    *(c for n in (1, 2, 3) for c in _conv_transpose_cases(n)),
    *_window_cases(),
    *(c for n in (1, 2, 3) for c in _pool_cases(n)),
    *_interpolate_cases(),
    *_layer_cases(),
]


def select_cases(quick: bool = False, ops: Sequence[str] | None = None) -> list[Case]:
    """The matrix, or its ``--quick`` subset, optionally only for some ops."""
    return [c for c in CASES if (c.quick or not quick) and (ops is None or c.op in ops)]
