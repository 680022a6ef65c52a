"""``python -m benchmarks``: time vanilla_nn's convolutions against PyTorch's, side by side.

For every case: median milliseconds of forward and of forward+backward for both, the ratio
vanilla/PyTorch, vanilla's GFLOP/s and percent of the SGEMM peak measured in the same run, its peak extra
memory against the workspace cap, and the largest relative difference from PyTorch's results. Writes
``bench.json``, ``bench.md`` and ``bench.png`` into ``--out`` (default ``benchmarks/results``).

OpenBLAS settings such as OPENBLAS_CORETYPE slow a current NumPy; ``make bench`` unsets them for this
command only. The BLAS kernel that ran is recorded in the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import sys
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke test, not a measurement")
    parser.add_argument("--cases", nargs="*", metavar="PATTERN", help="only cases whose name contains a PATTERN")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per side (default 15; quick 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both NumPy's BLAS and PyTorch (default: NumPy's BLAS threads)")
    parser.add_argument("--api", choices=("auto", "layer", "functional"), default="auto",
                        help="vanilla side: layers when available (auto), or the functional API")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall (default) or process CPU time (steadier on a busy machine; use with --threads 1)")
    parser.add_argument("--no-textbook", dest="textbook", action="store_false",
                        help="skip the textbook NumPy baseline (im2col + tensordot)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per case and mode before repeats stop early (default 8; quick 2)")


def _workspace_limit() -> int | None:
    F = importlib.import_module("vanilla_nn.functional")
    getter = getattr(F, "get_workspace_limit", None)
    return None if getter is None else int(getter())


def _algorithm(case) -> str | None:
    try:
        algorithms = importlib.import_module("vanilla_nn.functional._algorithms")
    except ImportError:
        return None
    describe = getattr(algorithms, "describe_case", None)
    return None if describe is None else describe(case.kind, case.input_shape, case.out_channels,
                                                  (case.kernel_size,) * case.ndim, case.stride, case.padding,
                                                  case.groups)


def run(args: argparse.Namespace) -> int:
    import torch

    from . import harness, report
    from .atomic import write_bytes, write_text
    from .cases import select
    from .runners import make_data, max_relative_error, textbook_runner, torch_runner, vanilla_runner

    cases = select(args.cases)
    repeats = args.repeats or (3 if args.quick else 15)
    warmup = 1 if args.quick else 2
    budget = args.budget or (2.0 if args.quick else 8.0)

    threads = args.threads or int(harness.blas_info().get("num_threads") or 1)
    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(limits=threads, user_api="blas")
    torch.set_num_threads(threads)
    harness.set_clock(args.clock)

    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
        "machine": harness.machine_info(threads),
        "repeats": repeats,
        "warmup": warmup,
        "dtype": "float32",
        "clock": args.clock,
        "protocol": "each side timed in blocks A B C C B A (vanilla, PyTorch, textbook; the opening side rotates per "
                    "case) after an idle wait, never call-by-call interleaved",
    }
    meta["sgemm_peak"] = harness.sgemm_peak(threads, repeats=3 if args.quick else 5)
    peak = meta["sgemm_peak"]["numpy_gflops"]
    cap = _workspace_limit()

    rows = []
    apis = set()
    for index, case in enumerate(cases):
        data = make_data(case)
        ours = vanilla_runner(case, data, args.api)
        theirs = torch_runner(case, data)
        book = textbook_runner(case, data) if args.textbook else None
        apis.add(ours.api)
        reference = theirs.forward_backward()
        error = max_relative_error(ours.forward_backward(), reference)
        row = {"name": case.name, "description": case.describe(), "kernel_size": case.kernel_size,
               "max_rel_error": error, "algorithm": _algorithm(case), "api": ours.api}
        if book is not None:
            row["textbook_max_rel_error"] = max_relative_error(book.forward_backward(), reference)
        del reference
        for mode, backward in (("forward", False), ("forward_backward", True)):
            sides = [ours, theirs] + ([book] if book is not None else [])
            fns = [side.forward_backward if backward else side.forward for side in sides]
            timings = harness.time_sides(fns, repeats, warmup, budget * len(fns) / 2, rotate=index)
            t_ours, t_theirs = timings[0], timings[1]
            ms_ours, ms_theirs = harness.median_ms(t_ours), harness.median_ms(t_theirs)
            gflops = case.flops(backward) / (ms_ours * 1e-3) / 1e9
            row[mode] = {"vanilla_ms": ms_ours, "torch_ms": ms_theirs, "ratio": ms_ours / ms_theirs,
                         "vanilla_gflops": gflops, "percent_of_peak": 100.0 * gflops / peak,
                         "torch_gflops": case.flops(backward) / (ms_theirs * 1e-3) / 1e9,
                         "repeats": len(t_ours), "torch_repeats": len(t_theirs),
                         "vanilla_spread": harness.spread(t_ours), "torch_spread": harness.spread(t_theirs)}
            if book is not None:
                ms_book = harness.median_ms(timings[2])
                row[mode].update(textbook_ms=ms_book, textbook_speedup=ms_book / ms_ours,
                                 textbook_ratio=ms_book / ms_theirs, textbook_spread=harness.spread(timings[2]))
        extra, result = harness.peak_extra_bytes(ours.forward_backward)
        returned = harness.nbytes(result)
        row["memory"] = {"peak_extra_bytes": extra, "returned_bytes": returned, "cap_bytes": cap,
                         "within_cap": None if cap is None else extra <= cap + returned}
        rows.append(row)
        print(f"{case.name:24s} fwd {row['forward']['ratio']:5.2f}x  fwd+bwd {row['forward_backward']['ratio']:5.2f}x"
              f"  ({row['forward_backward']['vanilla_ms']:.1f} vs {row['forward_backward']['torch_ms']:.1f} ms)",
              flush=True)
        del data, ours, theirs, book, result
    meta["api"] = ", ".join(sorted(apis))
    if limiter is not None:
        limiter.restore_original_limits()

    summ = report.summary(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "bench.json", meta, rows, summ)
    write_text(args.out / "bench.md", report.markdown(meta, rows, summ))
    write_bytes(args.out / "bench.png", report.chart_png(meta, rows))
    report.print_table(meta, rows, summ)
    print(f"wrote {args.out / 'bench.json'}, bench.md, bench.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
