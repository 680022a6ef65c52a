"""Check every functional op against PyTorch, TensorFlow and finite differences, in one command.

Runs the matrix in ``vanilla_nn.oracles.cases`` (ops x options x float64/float32): convolutions, transposed
convolutions, unfold/fold, max/avg/adaptive-avg/adaptive-max pooling, max unpooling, interpolate, linear,
activations, flatten, softmax/log-softmax, cross-entropy, MSE, batch/group/layer norm, dropout and dropout2d.
Each case's output and the gradient of every differentiable array are compared with each oracle's (normwise
relative error, tolerance 1e-10 in float64 and 1e-5 in float32), and each case's backward is checked against
central finite differences (``vanilla_nn.gradcheck``, float64).
Arrays without a gradient (integer class targets, batch norm's running statistics, a dropout mask) are inputs
only. Options an oracle lacks are reported as skipped with the reason, never as passed. Exit status 0 only if
nothing failed. With --json the last line of output is one JSON object:
{"checks": N, "failed": K, "skipped": S, "oracles": [...], "worst_rel_err": {"float64": x, "float32": y},
"tolerance": {"float64": 1e-10, "float32": 1e-05}} (worst_rel_err: the largest oracle disagreement per dtype;
tolerance: what each dtype's oracle checks must stay within).

The summary table has one row per op and oracle, with the worst relative error and the tolerance of each dtype
in their own columns: a float32 error of 1e-6 passes under 1e-5, a float64 one would fail under 1e-10.
Finite differences run in float64 only; their tolerance is gradcheck's, atol + rtol * |gradient|.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GRADCHECK = "gradcheck"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--oracle", choices=["torch", "tensorflow", "all"], default="all",
                        help="framework(s) to check against (default: all; each needs its extra installed)")
    parser.add_argument("--quick", action="store_true", help="the quick subset of the matrix (seconds)")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON totals")
    parser.add_argument("--op", action="append", metavar="OP",
                        help="only this op (repeatable), e.g. --op conv2d --op conv_transpose2d (default: every op)")
    parser.add_argument("--no-gradcheck", action="store_true", help="skip the finite-difference checks")
    parser.add_argument("--verbose", "-v", action="store_true", help="one table row per case and dtype")
    from ._common import seed

    parser.add_argument("--seed", type=seed, default=0, help="seed of the random arrays, 0 <= seed < 2**128 "
                        "(default 0)")


@dataclass
class Check:
    """One verdict: a case in one dtype against one oracle (or against finite differences)."""

    case_id: str
    op: str
    dtype: str
    against: str
    status: str  # "pass", "fail" or "skip"
    rel_err: float | None = None
    abs_err: float | None = None
    detail: str = ""
    tolerance: str = ""  # what rel_err was held to, as shown in the table


def _oracle_names(choice: str) -> list[str]:
    from vanilla_nn.oracles import ORACLES

    return list(ORACLES) if choice == "all" else [choice]


def load_oracles(choice: str) -> tuple[list[Any], list[str]]:
    """The oracles asked for, and one message per framework that is missing."""
    from vanilla_nn.oracles import OracleUnavailable, get_oracle

    oracles, missing = [], []
    for name in _oracle_names(choice):
        try:
            oracles.append(get_oracle(name))
        except OracleUnavailable as error:
            missing.append(str(error))
    return oracles, missing


def run_case(case: Any, dtype: str, oracles: Sequence[Any], *, gradcheck: bool, seed: int) -> list[Check]:
    """All checks of one case in one dtype.

    The output and the gradient of every differentiable array (``OpInfo.grads``) are compared; arrays held
    fixed (class targets, running statistics, a dropout mask) are inputs only.
    """
    from vanilla_nn.commands._ours import vanilla_callables, vanilla_functions
    from vanilla_nn.gradcheck import gradcheck as finite_difference_check
    from vanilla_nn.oracles import NotSupportedByOracle
    from vanilla_nn.oracles.cases import OPS, TOLERANCES, difference, make_arrays

    info = OPS[case.op]
    tolerance = TOLERANCES[dtype]
    arrays = make_arrays(case, dtype, seed)
    against = [o.name for o in oracles] + ([GRADCHECK] if gradcheck and dtype == "float64" else [])
    try:
        forward, backward = vanilla_functions(case.op)
        args, kwargs = info.call_args(arrays, case.options)
        output = forward(*args, **kwargs)
        rng = np.random.default_rng(seed + 1)
        grad_output = np.asarray(rng.uniform(-1.0, 1.0, np.shape(output)), dtype=dtype)
        grads = tuple(backward(grad_output, *args, **kwargs))
    except Exception as error:  # vanilla_nn failing on a valid case is a failure of every check
        detail = f"vanilla_nn raised {type(error).__name__}: {error}"
        return [Check(case.id, case.op, dtype, name, "fail", detail=detail,
                      tolerance=_short(tolerance) if name != GRADCHECK else "") for name in against]

    checks = []
    for oracle in oracles:
        try:
            theirs = oracle.run(case.op, arrays, case.options, grad_output)
        except NotSupportedByOracle as error:
            checks.append(Check(case.id, case.op, dtype, oracle.name, "skip", detail=str(error),
                                tolerance=_short(tolerance)))
            continue
        except Exception as error:
            checks.append(Check(case.id, case.op, dtype, oracle.name, "fail",
                                detail=f"{oracle.framework} raised {type(error).__name__}: {error}",
                                tolerance=_short(tolerance)))
            continue
        their_grads = tuple(theirs.grads[i] for i in info.grad_indices)
        worst_name, worst_abs, worst_rel = "", 0.0, -1.0
        for name, ours, ref in zip(info.results, (output, *grads), (theirs.output, *their_grads),
                                   strict=True):
            abs_err, rel_err = difference(ours, ref)
            if rel_err > worst_rel:
                worst_name, worst_abs, worst_rel = name, abs_err, rel_err
        status = "pass" if worst_rel <= tolerance else "fail"
        detail = "" if status == "pass" else f"{worst_name} differs: rel err {worst_rel:.3e} > {tolerance:g}"
        checks.append(Check(case.id, case.op, dtype, oracle.name, status, worst_rel, worst_abs, detail,
                            _short(tolerance)))

    if GRADCHECK in against:
        forward, backward = vanilla_callables(case.op, arrays, case.options)
        report = finite_difference_check(forward, [arrays[i] for i in info.grad_indices], backward,
                                          grad_output, names=info.grads, seed=seed)
        detail = "" if report.ok else "; ".join(c.describe() for c in report.failed)
        checks.append(Check(case.id, case.op, dtype, GRADCHECK, "pass" if report.ok else "fail",
                            report.max_rel_err, report.max_abs_err, detail,
                            f"{_short(report.atol)}+{_short(report.rtol)}|g|"))
    return checks


def summarize(checks: Sequence[Check], oracle_names: Sequence[str]) -> dict[str, Any]:
    """The totals printed by --json."""
    from vanilla_nn.oracles.cases import DTYPES, TOLERANCES

    worst: dict[str, float | None] = {}
    for dtype in DTYPES:
        errs = [c.rel_err for c in checks
                if c.dtype == dtype and c.against != GRADCHECK and c.status != "skip" and c.rel_err is not None]
        worst[dtype] = max(errs) if errs else None
    return {
        "checks": len(checks),
        "failed": sum(c.status == "fail" for c in checks),
        "skipped": sum(c.status == "skip" for c in checks),
        "oracles": list(oracle_names),
        "worst_rel_err": worst,
        "tolerance": {dtype: TOLERANCES[dtype] for dtype in DTYPES},
    }


def _short(value: float) -> str:
    """1e-06 -> '1e-6': a tolerance as short as the table can show it."""
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m[1] == '-' else ''}{m[2]}", f"{value:g}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _worst_and_tolerance(checks: Sequence[Check]) -> list[str]:
    """[worst rel err, tolerance] of one op's checks in one dtype against one oracle ("-" where none ran)."""
    run = [c for c in checks if c.status != "skip" and c.rel_err is not None]
    if not run:
        return ["-", "-" if not checks else checks[0].tolerance or "-"]
    worst = max(run, key=lambda c: c.rel_err)
    return [f"FAIL {_fmt(worst.rel_err)}" if worst.status == "fail" else _fmt(worst.rel_err), worst.tolerance or "-"]


def _tables(checks: Sequence[Check], columns: Sequence[str], verbose: bool) -> list[tuple[str, list[str],
                                                                                       list[list[str]]]]:
    """(title, header, rows) of the per-op summary, the failures, the skips and, if verbose, every case."""
    tables = []
    rows = []
    dtypes = list(dict.fromkeys(c.dtype for c in checks))
    for op in dict.fromkeys(c.op for c in checks):
        for against in columns:
            mine = [c for c in checks if c.op == op and c.against == against]
            if not mine:
                continue
            row = [op, against, str(len(mine)), str(sum(c.status == "pass" for c in mine)),
                   str(sum(c.status == "fail" for c in mine)), str(sum(c.status == "skip" for c in mine))]
            for dtype in dtypes:  # worst error and tolerance per dtype, never one mixed column
                row += _worst_and_tolerance([c for c in mine if c.dtype == dtype])
            rows.append(row)
    per_dtype = [name for dtype in dtypes for name in (f"{dtype} worst", "tol")]
    tables.append(("Summary (worst relative error and its tolerance per dtype)",
                   ["op", "against", "n", "pass", "fail", "skip", *per_dtype], rows))
    if verbose:
        cells: dict[tuple[str, str], dict[str, str]] = {}
        for c in checks:
            text = {"pass": _fmt(c.rel_err), "skip": "skip", "fail": f"FAIL {_fmt(c.rel_err)}"}[c.status]
            cells.setdefault((c.case_id, c.dtype), {})[c.against] = text
        rows = [[case_id, dtype, *(row.get(a, "") for a in columns)] for (case_id, dtype), row in cells.items()]
        tables.append(("Cases", ["case", "dtype", *columns], rows))
    failures = [[c.case_id, c.dtype, c.against, c.detail] for c in checks if c.status == "fail"]
    if failures:
        tables.append(("Failures", ["case", "dtype", "against", "why"], failures))
    reasons: dict[str, tuple[dict[str, None], list[int]]] = {}
    for c in checks:
        if c.status == "skip":  # group "conv2d with groups > 1 ..." and "conv1d with groups > 1 ..."
            reason = re.sub(rf"\b{re.escape(c.op)} with ", "", c.detail.split(" (")[0]).strip()
            ops, count = reasons.setdefault(reason, ({}, [0]))
            ops[c.op] = None
            count[0] += 1
    if reasons:
        tables.append(("Skipped (the framework lacks the feature)", ["reason", "ops", "checks"],
                       [[reason, ", ".join(ops), str(count[0])] for reason, (ops, count) in reasons.items()]))
    return tables


def _print_tables(tables: Sequence[tuple[str, list[str], list[list[str]]]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for title, header, rows in tables:
            print(f"\n{title}")
            widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
            for row in [header, *rows]:
                print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
        return
    from rich.text import Text

    console = Console() if sys.stdout.isatty() else Console(width=120)  # logs and pipes: no 80-col wrap
    styles = {"FAIL": "bold red", "skip": "yellow"}
    for title, header, rows in tables:
        table = Table(title=title, title_justify="left")
        for name in header:
            wide = name in ("why", "reason", "ops")
            table.add_column(name, overflow="fold" if wide else "ellipsis", no_wrap=not wide)
        for row in rows:  # Text, not markup: case ids such as conv2d[default] contain brackets
            table.add_row(*[Text(x, style=styles.get(x.split()[0], "") if x else "") for x in row])
        console.print(table)


def _progress(total: int, enabled: bool) -> tuple[Callable[[str], None], Callable[[], None]]:
    """(advance(label), close()) of a rich progress bar on stderr; no-ops when rich is missing or disabled."""
    if not enabled:
        return (lambda label: None), (lambda: None)
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:
        return (lambda label: None), (lambda: None)
    progress = Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    progress.start()
    task = progress.add_task("verifying", total=total)

    def advance(label: str) -> None:
        progress.update(task, advance=1, description=label)

    return advance, progress.stop


def run(args: argparse.Namespace) -> int:
    from vanilla_nn.oracles.cases import DTYPES, OPS, select_cases

    if args.op:
        unknown = [op for op in args.op if op not in OPS]
        if unknown:
            print(f"vanilla-nn verify: unknown --op {', '.join(unknown)}; known: {', '.join(OPS)}",
                  file=sys.stderr)
            return 2
    oracles, missing = load_oracles(args.oracle)
    if missing:
        hint = " (or choose an installed one with --oracle)" if args.oracle == "all" else ""
        for message in missing:
            print(f"vanilla-nn verify: {message}{hint}", file=sys.stderr)
        return 2
    cases = select_cases(quick=args.quick, ops=args.op)
    if not cases:
        print("vanilla-nn verify: no cases selected", file=sys.stderr)
        return 2
    names = [o.name for o in oracles]
    versions = ", ".join(f"{o.framework} {o.version}" for o in oracles)
    print(f"vanilla-nn verify: {len(cases)} cases x {len(DTYPES)} dtypes against {versions}"
          f"{'' if args.no_gradcheck else ' and finite differences'}{' (quick)' if args.quick else ''}")

    advance, close = _progress(len(cases) * len(DTYPES), sys.stderr.isatty())
    checks: list[Check] = []
    try:
        for case in cases:
            for dtype in DTYPES:
                advance(f"{case.id} {dtype}")
                checks += run_case(case, dtype, oracles, gradcheck=not args.no_gradcheck, seed=args.seed)
    finally:
        close()

    columns = names + ([] if args.no_gradcheck else [GRADCHECK])
    _print_tables(_tables(checks, columns, args.verbose))
    totals = summarize(checks, names)
    worst = ", ".join(f"{k} {_fmt(v)} (tolerance {totals['tolerance'][k]:g})"
                      for k, v in totals["worst_rel_err"].items())
    verdict = "PASSED" if totals["failed"] == 0 else "FAILED"
    print(f"{verdict}: {totals['checks']} checks, {totals['failed']} failed, {totals['skipped']} skipped "
          f"(not supported by the framework); worst oracle rel err: {worst}")
    if args.json:
        from .._io import strict_json

        print(strict_json(totals))  # strict JSON: a NaN error shows as null
    return 0 if totals["failed"] == 0 else 1
