"""Run one op in vanilla_nn and in PyTorch or TensorFlow on the same data; print both, one under the other.

The procedure is the classic one, so published runs can be reproduced: seed NumPy's legacy generator with
--seed; draw the input with np.random.random(input_shape); take the weight and bias from the framework's
default layer initialiser (torch.nn.Conv2d(...) after torch.manual_seed(seed); for TensorFlow, Keras's
defaults: GlorotUniform(seed) kernel, zero bias), cast to float64 and then to --dtype; run forward; draw the
upstream gradient with np.random.random(output.shape); run backward. Prints one table row per result (output,
grad_input, grad_weight, grad_bias): its shape and the max abs and relative difference between vanilla_nn and the
framework (relative: max|diff| / max|framework|); --show-arrays prints each array from both first. Exit
status 1 if any exceeds the tolerance (1e-10 for float64, 1e-5 for float32, or --tolerance); 2 for bad options
or a feature the framework lacks.

Ops: the convolutions and transposed convolutions (1-d to 3-d), linear (weights from torch.nn.Linear(in, out)
or keras.layers.Dense(out); --out-features, input (*, in_features)), unfold and fold, and max / avg /
adaptive-avg pooling (1-d to 3-d; no weights: the input and upstream gradient follow the same procedure,
--stride defaults to --kernel-size as in PyTorch). The other functional ops (activations, losses, batch norm,
dropout) are checked by `vanilla-nn verify`.

Examples:
  vanilla-nn compare conv2d --input-shape 2,3,5,7 --out-channels 4 --kernel-size 3 --stride 2 --seed 123
  vanilla-nn compare max_pool2d --kernel-size 3 --stride 2 --padding 1 --oracle tensorflow
  vanilla-nn compare linear --input-shape 8,20 --out-features 10
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

CONV_OPS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
WEIGHTED_OPS = (*CONV_OPS, "linear")
POOL_OPS = tuple(f"{kind}_pool{n}d" for kind in ("max", "avg", "adaptive_avg") for n in (1, 2, 3))
OPS = (*WEIGHTED_OPS, "unfold", "fold", *POOL_OPS)
DEFAULT_SHAPES = {1: "2,3,7", 2: "2,3,5,7", 3: "2,3,4,5,6"}
LINEAR_DEFAULT_SHAPE = (2, 5)


MAX_ELEMENTS = 2**22  # the largest array (input, weight, output) compare makes: 4,194,304 elements, 32 MiB in float64
SEED_LIMIT = 2**32  # np.random.seed's range


def _int_list(text: str, minimum: int = 0, what: str = "") -> int | tuple[int, ...]:
    """'3' -> 3, '3,2' -> (3, 2); every value >= ``minimum``."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int or a comma-separated list of ints") from None
    if min(values) < minimum:
        raise argparse.ArgumentTypeError(f"{text!r}: {what or 'each value'} must be >= {minimum}")
    return values[0] if len(values) == 1 else values


def _positive_list(text: str) -> int | tuple[int, ...]:
    return _int_list(text, 1, "each value")


def _non_negative_list(text: str) -> int | tuple[int, ...]:
    return _int_list(text, 0, "each value")


def _shape(text: str) -> int | tuple[int, ...]:
    shape = _int_list(text, 1, "each size")
    elements = math.prod(shape) if isinstance(shape, tuple) else shape
    if elements > MAX_ELEMENTS:
        raise argparse.ArgumentTypeError(f"{text!r} has {elements} elements; compare's limit is {MAX_ELEMENTS} "
                                         f"(2**22)")
    return shape


def _padding(text: str) -> Any:
    """'same', 'valid', '1', '1,2' or (before:after pairs) '1:0,0:2'; every value >= 0."""
    if text in ("same", "valid"):
        return text
    if ":" in text:
        try:
            pairs = tuple(tuple(int(v) for v in pair.split(":")) for pair in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"padding {text!r}: write before:after pairs, e.g. 1:0,0:2") from None
        if any(v < 0 for pair in pairs for v in pair):
            raise argparse.ArgumentTypeError(f"padding {text!r}: each value must be >= 0")
        return pairs
    return _non_negative_list(text)


def _positive(text: str) -> int:
    value = _int_list(text, 1, "the value")
    if isinstance(value, tuple):
        raise argparse.ArgumentTypeError(f"{text!r} must be one integer")
    return value


def _seed(text: str) -> int:
    value = _int_list(text, 0, "the seed")
    if isinstance(value, tuple) or value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} must be one integer with 0 <= seed < 2**32 (np.random.seed)")
    return value


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("op", choices=OPS, help="the functional op")
    parser.add_argument("--input-shape", type=_shape, metavar="N,C,...",
                        help="input shape (default: 2,3,5,7 in 2-d, 2,3,7 in 1-d, 2,3,4,5,6 in 3-d; 2,5 for "
                             "linear: (*, in_features)); for fold, the shape of the folded image "
                             "(N, C, *output_size); at most 2**22 elements")
    parser.add_argument("--out-channels", "--out-features", type=_positive, default=4, dest="out_channels",
                        help="output channels of a convolution, or out_features of linear (default: %(default)s)")
    parser.add_argument("--kernel-size", type=_positive_list, default=3, metavar="K[,K...]",
                        help="kernel size, one int or one per spatial dim (default: %(default)s)")
    parser.add_argument("--stride", type=_positive_list, default=None, metavar="S[,S...]",
                        help="stride (default: 1; for pooling, kernel_size, PyTorch's default)")
    parser.add_argument("--padding", type=_padding, default=0,
                        help="int, comma list, before:after pairs (1:0,0:2), 'same' or 'valid' (default: "
                             "%(default)s)")
    parser.add_argument("--dilation", type=_positive_list, default=1, metavar="D[,D...]",
                        help="spacing of the kernel taps (convolutions, unfold/fold, max pooling; default: "
                             "%(default)s)")
    parser.add_argument("--groups", type=_positive, default=1,
                        help="channel groups of a convolution; divides the input and output channels (default: "
                             "%(default)s)")
    parser.add_argument("--output-padding", type=_non_negative_list, default=0, metavar="P[,P...]",
                        help="transposed convolutions only (default: %(default)s)")
    parser.add_argument("--padding-mode", default="zeros", choices=["zeros", "reflect", "replicate", "circular"],
                        help="convolutions only (default: %(default)s)")
    parser.add_argument("--ceil-mode", action="store_true", help="max/avg pooling only (default: off)")
    parser.add_argument("--no-count-include-pad", action="store_true",
                        help="avg pooling: divide by the input cells of a window only (count_include_pad=False; "
                             "default: off)")
    parser.add_argument("--output-size", type=_positive_list, default=2, metavar="O[,O...]",
                        help="adaptive pooling only (default: %(default)s)")
    parser.add_argument("--no-bias", action="store_true", help="no bias (convolutions and linear; default: off)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="dtype of every array (default: %(default)s)")
    parser.add_argument("--seed", type=_seed, default=0,
                        help="seeds NumPy and the framework, 0 <= seed < 2**32 (default: %(default)s)")
    parser.add_argument("--oracle", choices=["torch", "tensorflow"], default="torch",
                        help="the framework to compare with (default: %(default)s)")
    parser.add_argument("--tolerance", type=_tolerance,
                        help="relative tolerance (default: 1e-10 for float64, 1e-5 for float32)")
    parser.add_argument("--show-arrays", action="store_true",
                        help="print every result from vanilla_nn and from the framework before the table "
                             "(default: off, the table only)")
    parser.add_argument("--full", action="store_true",
                        help="with the arrays, print them whole, not a summary of large ones (implies --show-arrays; "
                             "default: off)")


def _rank(op: str, shape: tuple[int, ...] | None, kernel: Any) -> int:
    if op[-1] == "d" and op[-2].isdigit():
        return int(op[-2])
    if isinstance(kernel, tuple):
        return len(kernel)
    return len(shape) - 2 if shape else 2


def _options(args: argparse.Namespace, op: str) -> dict[str, Any]:
    stride = 1 if args.stride is None else args.stride
    if op.startswith("conv_transpose"):
        return {"stride": stride, "padding": args.padding, "output_padding": args.output_padding,
                "groups": args.groups, "dilation": args.dilation}
    if op.startswith("conv"):
        return {"stride": stride, "padding": args.padding, "dilation": args.dilation,
                "groups": args.groups, "padding_mode": args.padding_mode}
    if op == "linear":
        return {}
    if op.startswith("max_pool"):
        return {"kernel_size": args.kernel_size, "stride": args.stride, "padding": args.padding,
                "dilation": args.dilation, "ceil_mode": args.ceil_mode}
    if op.startswith("avg_pool"):
        return {"kernel_size": args.kernel_size, "stride": args.stride, "padding": args.padding,
                "ceil_mode": args.ceil_mode, "count_include_pad": not args.no_count_include_pad}
    if op.startswith("adaptive_avg_pool"):
        return {"output_size": args.output_size}
    return {"kernel_size": args.kernel_size, "dilation": args.dilation, "padding": args.padding,
            "stride": stride}


def _fold_columns_shape(image_shape: tuple[int, ...], options: dict[str, Any]) -> tuple[int, ...]:
    """Shape (N, C * prod(K), L) of the columns that fold into ``image_shape``."""
    from vanilla_nn.functional._args import unfold_spec

    spec, _ = unfold_spec("fold", np.empty(image_shape), options["kernel_size"], options["dilation"],
                          options["padding"], options["stride"])
    return spec.columns_shape(image_shape[0])


def _per_dim(value: Any, n: int) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * n


def _pad_total(padding: Any, n: int, reach: tuple[int, ...]) -> tuple[int, ...]:
    """Padding added per spatial dim (``reach = dilation * (kernel - 1)`` for 'same'; 0 for 'valid')."""
    if padding == "valid":
        return (0,) * n
    if padding == "same":
        return reach
    return tuple(sum(p) if isinstance(p, tuple) else 2 * p for p in _per_dim(padding, n))


def _check_sizes(args: argparse.Namespace, op: str, shape: tuple[int, ...], n: int) -> None:
    """Refuse (ValueError) a weight or an output larger than :data:`MAX_ELEMENTS`, before anything is made."""
    def check(what: str, count: int) -> None:
        if count > MAX_ELEMENTS:
            raise ValueError(f"the {what} would have about {count} elements; compare's limit is {MAX_ELEMENTS} "
                             f"(2**22): use smaller sizes")

    check("input", math.prod(shape))
    if op == "linear":
        check("weight", shape[-1] * args.out_channels)
        check("output", math.prod(shape[:-1]) * args.out_channels)
        return
    if len(shape) != n + 2 or op.startswith("adaptive") or op == "fold":
        if op.startswith("adaptive"):
            check("output", math.prod(shape[:2]) * math.prod(_per_dim(args.output_size, n)))
        return  # a wrong rank or fold's columns: the op itself reports it
    batch, channels, spatial = shape[0], shape[1], shape[2:]
    kernel = _per_dim(args.kernel_size, n)
    stride = _per_dim(1 if args.stride is None else args.stride, n)
    dilation = _per_dim(args.dilation, n)
    if len(kernel) != n or len(stride) != n or len(dilation) != n:
        return  # the op reports the mismatch
    reach = tuple(d * (k - 1) for d, k in zip(dilation, kernel, strict=True))
    padded = [size + pad for size, pad in zip(spatial, _pad_total(args.padding, n, reach), strict=True)]
    windows = [max(size - r, 1) for size, r in zip(padded, reach, strict=True)]  # window positions at stride 1
    if op in CONV_OPS:
        check("weight", channels * args.out_channels // args.groups * math.prod(kernel))
    if op.startswith("conv_transpose"):
        extra = _per_dim(args.output_padding, n)
        out = [(size - 1) * s + d * (k - 1) + (e if isinstance(e, int) else 0) + 1
               for size, s, d, k, e in zip(spatial, stride, dilation, kernel, extra * (n if len(extra) == 1 else 1),
                                           strict=False)]
        check("output", batch * args.out_channels * math.prod(out))
    elif op.startswith("conv"):
        check("output", batch * args.out_channels * math.prod(windows))
    elif op == "unfold":
        check("output", batch * channels * math.prod(kernel) * math.prod(windows))
    else:  # pooling
        check("output", batch * channels * math.prod(p + 1 for p in padded))


def prepare(args: argparse.Namespace, oracle: Any) -> tuple[list[np.ndarray | None], dict[str, Any], str]:
    """The classic procedure up to the forward: seeded input, framework-initialised weights, options."""
    op = args.op
    if op == "linear":
        n = 0
        shape = args.input_shape if args.input_shape is not None else LINEAR_DEFAULT_SHAPE
    else:
        n = _rank(op, args.input_shape if isinstance(args.input_shape, tuple) else None, args.kernel_size)
        shape = args.input_shape if args.input_shape is not None else _int_list(DEFAULT_SHAPES.get(n, "2,3,5,7"))
    shape = shape if isinstance(shape, tuple) else (shape,)
    options = _options(args, op)
    _check_sizes(args, op, shape, n)
    np.random.seed(args.seed)
    if op == "fold":
        options = {"output_size": tuple(shape[2:]), **options}
        source = f"columns folding into {'x'.join(map(str, shape))}"
        shape = _fold_columns_shape(shape, options)
        if math.prod(shape) > MAX_ELEMENTS:
            raise ValueError(f"the columns folding into {source[21:]} would have {math.prod(shape)} elements; "
                             f"compare's limit is {MAX_ELEMENTS} (2**22): use smaller sizes")
    x = np.random.random(shape)
    arrays: list[np.ndarray | None] = [x]
    described = f"input {'x'.join(map(str, shape))}"
    if op == "fold":
        described += f" ({source})"
    if op in WEIGHTED_OPS:
        if op == "linear":  # torch.nn.Linear(in_features, out_features) / keras.layers.Dense(out_features)
            weight, bias = oracle.init_params(op, shape[-1], args.out_channels, (), 1, not args.no_bias, args.seed)
        else:
            if len(shape) < 2:
                raise ValueError(f"--input-shape={shape} must be (N, C, *spatial)")
            if shape[1] % args.groups or args.out_channels % args.groups:
                raise ValueError(f"--groups={args.groups} must divide the input channels ({shape[1]}, from "
                                 f"--input-shape) and --out-channels={args.out_channels}")
            kernel = args.kernel_size if isinstance(args.kernel_size, tuple) else (args.kernel_size,) * n
            weight, bias = oracle.init_params(op, shape[1], args.out_channels, kernel, args.groups,
                                              not args.no_bias, args.seed)
        arrays += [weight, bias]
        described += f", weight {'x'.join(map(str, weight.shape))}" + ("" if bias is None else " and bias")
        described += f" from the {oracle.framework} layer initialiser"
    arrays = [None if a is None else a.astype(args.dtype) for a in arrays]
    return arrays, options, described


def _print_pair(name: str, ours: np.ndarray | None, theirs: np.ndarray | None, framework: str) -> None:
    shape = "" if ours is None else f" {tuple(np.shape(ours))}"
    print(f"\n=== {name}{shape} ===")
    print("vanilla_nn:")
    print(ours)
    print(f"{framework}:")
    print(theirs)


def run(args: argparse.Namespace) -> int:
    from vanilla_nn.commands._ours import run_vanilla
    from vanilla_nn.oracles import NotSupportedByOracle, OracleUnavailable, get_oracle
    from vanilla_nn.oracles.cases import OPS as OP_INFO
    from vanilla_nn.oracles.cases import TOLERANCES, difference

    try:
        oracle = get_oracle(args.oracle)
    except OracleUnavailable as error:
        print(f"vanilla-nn compare: {error}", file=sys.stderr)
        return 2
    tolerance = args.tolerance if args.tolerance is not None else TOLERANCES[args.dtype]
    info = OP_INFO[args.op]
    try:
        arrays, options, described = prepare(args, oracle)
        output, _ = run_vanilla(args.op, arrays, options)
        grad_output = np.random.random(np.shape(output)).astype(args.dtype)
        output, grads = run_vanilla(args.op, arrays, options, grad_output)
        theirs = oracle.run(args.op, arrays, options, grad_output)
    except NotSupportedByOracle as error:
        print(f"vanilla-nn compare: skipped, {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as error:  # options the op refuses: a usage error (argparse's style, exit 2)
        from ._common import UsageError

        raise UsageError(str(error)) from None

    settings = ", ".join(f"{k}={v!r}" for k, v in options.items())
    print(f"vanilla-nn compare {args.op}: {described}; {args.dtype}, seed {args.seed}")
    print(f"options: {settings or '(none)'}")
    print(f"oracle: {oracle.framework} {oracle.version}; grad_output = np.random.random(output.shape)")

    ours_all = (output, *grads)
    theirs_all = (theirs.output, *(theirs.grads[i] for i in info.grad_indices))
    present = [(name, a, b) for name, a, b in zip(info.results, ours_all, theirs_all, strict=True)
               if not (a is None and b is None)]
    if args.show_arrays or args.full:
        threshold = sys.maxsize if args.full else 240
        precision = 8 if args.dtype == "float64" else 6
        with np.printoptions(precision=precision, threshold=threshold, edgeitems=3, linewidth=110, suppress=True):
            for name, ours, ref in present:
                _print_pair(name, ours, ref, oracle.framework)

    print(f"\n{'result':<14}{'shape':<22}{'max abs diff':>14}{'max rel diff':>14}   tolerance {tolerance:g}")
    failed = []
    for name, ours, ref in present:
        abs_err, rel_err = difference(ours, ref)
        ok = rel_err <= tolerance
        if not ok:
            failed.append(name)
        shape = str(tuple(np.shape(ours))) if ours is not None else "None"
        print(f"{name:<14}{shape:<22}{abs_err:>14.3e}{rel_err:>14.3e}   {'ok' if ok else 'MISMATCH'}")
    if failed:
        print(f"\nMISMATCH in {', '.join(failed)}: vanilla_nn and {oracle.framework} differ by more than "
              f"{tolerance:g} (relative)")
        return 1
    hint = "" if args.show_arrays or args.full else " (--show-arrays prints them)"
    print(f"\nAll {len(present)} results agree with {oracle.framework} within {tolerance:g} (relative){hint}.")
    return 0
