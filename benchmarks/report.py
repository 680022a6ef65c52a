"""Writing the results: a rich table on the terminal, a Markdown table, a JSON file and a PNG chart."""

from __future__ import annotations

import json
import math
from pathlib import Path

TARGETS = {"fwd_bwd_geomean": 1.5, "fwd_bwd_max": 3.0, "one_by_one": 1.2, "fwd_geomean": 1.2}
# issue 13: faster than the textbook NumPy baseline on every case, and at least 2x in geometric mean
TEXTBOOK_TARGETS = {"textbook_min_speedup": 1.0, "textbook_geomean_speedup": 2.0}


def geomean(values: list[float]) -> float:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def summary(rows: list[dict]) -> dict:
    fwd = [r["forward"]["ratio"] for r in rows]
    both = [r["forward_backward"]["ratio"] for r in rows]
    one_by_one = [r["forward_backward"]["ratio"] for r in rows if r["kernel_size"] == 1]
    result = {
        "fwd_geomean": geomean(fwd),
        "fwd_bwd_geomean": geomean(both),
        "fwd_bwd_max": max(both) if both else float("nan"),
        "one_by_one": max(one_by_one) if one_by_one else None,
        "memory_within_cap": all(r["memory"]["within_cap"] for r in rows if r["memory"]["within_cap"] is not None),
    }
    spreads = [r[mode][key] for r in rows for mode in ("forward", "forward_backward")
               for key in ("vanilla_spread", "torch_spread") if key in r[mode]]
    result["max_spread"] = max(spreads) if spreads else None
    result["targets_met"] = {
        key: (result[key] is None or result[key] <= limit) for key, limit in TARGETS.items()
    }
    speedups = [r[mode]["textbook_speedup"] for r in rows for mode in ("forward", "forward_backward")
                if "textbook_speedup" in r[mode]]
    if speedups:
        fb = [r["forward_backward"]["textbook_speedup"] for r in rows if "textbook_speedup" in r["forward_backward"]]
        result["textbook_min_speedup"] = min(speedups)
        result["textbook_geomean_speedup"] = geomean(fb)
        result["targets_met"].update({key: result[key] >= limit for key, limit in TEXTBOOK_TARGETS.items()})
    return result


def _mib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


COLUMNS = ("case", "fwd ms", "torch", "ratio", "textbook", "x faster", "fwd+bwd ms", "torch", "ratio", "textbook",
           "x faster", "GFLOP/s", "% peak", "peak MiB", "cap MiB", "err", "algorithm")


def _book(mode: dict) -> tuple[str, str]:
    if "textbook_ms" not in mode:
        return "-", "-"
    return f"{mode['textbook_ms']:.2f}", f"{mode['textbook_speedup']:.2f}"


def table_rows(rows: list[dict]) -> list[tuple[str, ...]]:
    out = []
    for r in rows:
        f, fb, m = r["forward"], r["forward_backward"], r["memory"]
        out.append((r["name"], f"{f['vanilla_ms']:.2f}", f"{f['torch_ms']:.2f}", f"{f['ratio']:.2f}", *_book(f),
                    f"{fb['vanilla_ms']:.2f}", f"{fb['torch_ms']:.2f}", f"{fb['ratio']:.2f}", *_book(fb),
                    f"{fb['vanilla_gflops']:.0f}", f"{fb['percent_of_peak']:.0f}",
                    _mib(m["peak_extra_bytes"]), _mib(m["cap_bytes"]), f"{r['max_rel_error']:.0e}",
                    r.get("algorithm") or "-"))
    return out


def summary_lines(meta: dict, summ: dict) -> list[str]:
    t = summ["targets_met"]

    def mark(key):
        return "ok" if t[key] else "MISSED"

    lines = [
        f"forward geomean ratio {summ['fwd_geomean']:.2f} (target <= 1.2: {mark('fwd_geomean')})",
        f"forward+backward geomean ratio {summ['fwd_bwd_geomean']:.2f} (target <= 1.5: {mark('fwd_bwd_geomean')}),"
        f" max {summ['fwd_bwd_max']:.2f} (target <= 3.0: {mark('fwd_bwd_max')})",
    ]
    if summ["one_by_one"] is not None:
        lines.append(f"1x1 forward+backward ratio {summ['one_by_one']:.2f} (target <= 1.2: {mark('one_by_one')})")
    if "textbook_min_speedup" in summ:
        lines.append(f"vs the textbook NumPy im2col + tensordot: {summ['textbook_geomean_speedup']:.2f}x faster in "
                     f"forward+backward geomean (target >= 2: {mark('textbook_geomean_speedup')}), slowest case "
                     f"{summ['textbook_min_speedup']:.2f}x (target > 1 on every case: {mark('textbook_min_speedup')})")
    lines.append(f"peak extra memory within workspace cap + returned arrays: {summ['memory_within_cap']}")
    if summ.get("max_spread") is not None:
        lines.append(f"largest spread of one side's repeats (interquartile range / median): "
                     f"{summ['max_spread']:.0%}")
    peak = meta["sgemm_peak"]
    lines.append(f"SGEMM peak {peak['numpy_gflops']:.0f} GFLOP/s (NumPy), {peak['torch_gflops']:.0f} (PyTorch)")
    return lines


def print_table(meta: dict, rows: list[dict], summ: dict) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text fallback
        print(markdown(meta, rows, summ))
        return
    table = Table(title=f"vanilla_nn vs PyTorch, float32, {meta['machine']['threads']} threads "
                        f"(ratio = vanilla / PyTorch, median ms)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("case", "algorithm") else "right")
    for row in table_rows(rows):
        table.add_row(*row)
    import sys

    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(table)
    for line in summary_lines(meta, summ):
        console.print(line)


def markdown(meta: dict, rows: list[dict], summ: dict) -> str:
    m = meta["machine"]
    blas = m["blas"]
    lines = [
        f"Date: {meta['date']}. Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['threads']} threads; "
        f"NumPy {m['numpy']} with {blas.get('library')} {blas.get('version', '')} "
        f"({blas.get('architecture', '?')} kernels); PyTorch {m['torch']}.",
        f"Command: `{meta['command']}` (API: {meta['api']}, {meta['repeats']} repeats per side, median, "
        f"{meta.get('clock', 'wall')} clock; {meta.get('protocol', 'interleaved calls')}).",
        "",
        "Columns: ratio = vanilla_nn / PyTorch time; textbook = the NumPy im2col + tensordot baseline's ms "
        "(benchmarks/textbook.py); x faster = textbook / vanilla_nn.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if c in ("case", "algorithm") else "---:" for c in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(rows)]
    lines.append("")
    lines += [f"- {line}" for line in summary_lines(meta, summ)]
    return "\n".join(lines) + "\n"


def write_json(path: Path, meta: dict, rows: list[dict], summ: dict) -> None:
    from .atomic import write_text

    write_text(path, json.dumps({"meta": meta, "summary": summ, "cases": rows}, indent=2, allow_nan=False) + "\n")


def chart_png(meta: dict, rows: list[dict]) -> bytes:
    """The ratio chart as PNG bytes (written atomically by the caller)."""
    import io

    buffer = io.BytesIO()
    write_chart(buffer, meta, rows)
    return buffer.getvalue()


def write_chart(path, meta: dict, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows]
    fwd = [r["forward"]["ratio"] for r in rows]
    both = [r["forward_backward"]["ratio"] for r in rows]
    book = [r["forward_backward"].get("textbook_ratio") for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    ys = range(len(rows))
    height = 0.27 if any(book) else 0.4
    ax.barh([y - height for y in ys], fwd, height=height, label="forward")
    ax.barh(list(ys), both, height=height, label="forward + backward")
    if any(book):
        ax.barh([y + height for y in ys], [v or 0 for v in book], height=height,
                label="textbook NumPy, forward + backward")
    for limit, style in ((1.0, "-"), (1.5, "--"), (3.0, ":")):
        ax.axvline(limit, color="black", linestyle=style, linewidth=0.8)
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("time ratio vanilla_nn / PyTorch (lower is better; lines at 1, 1.5, 3)")
    ax.set_title(f"float32, {meta['machine']['threads']} threads, {meta['date']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
