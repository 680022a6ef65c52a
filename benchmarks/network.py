"""``python -m benchmarks.network``: whole-network steps of vanilla_nn against torchvision (issue 13, part 1).

For ResNet-18 and MobileNetV2 (``vanilla_nn.models``, torchvision's same models holding the same weights,
moved across through ``state_dict``), batch 8, 3x224x224, float32:

- **train**: one training step, ``zero_grad``, forward, cross-entropy, ``loss.backward()``, SGD step (lr 0.01);
- **inference**: forward only, eval mode, under ``vn.no_grad()`` / ``torch.no_grad()``;

each with the BLAS threads NumPy has (PyTorch set to the same) and with one thread (threadpoolctl and
``torch.set_num_threads``). Each side is timed in its own blocks A B B A after an idle wait
(:mod:`benchmarks.harness`); the time is the median of each side's calls. Then a **profile** of vanilla_nn's
training step: time inside each op's forward (wrapping the tape's ``record`` and the Tensor methods the
models use) and inside each node's backward during ``loss.backward()`` (a timing ``Node`` subclass), summed
per op family (convolution per planned algorithm, batch norm, pooling, elementwise, linear/loss), plus the
SGD step; the rest of the step is the tape's and Python's own overhead. Instrumentation is benchmark-only.

Writes ``network.json``, ``network.md`` and ``network.png`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import io
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import harness
from .atomic import write_bytes, write_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
MODELS = ("resnet18", "mobilenet_v2")
TARGETS = {("resnet18", "train"): 1.8, ("mobilenet_v2", "train"): 2.5,
           ("resnet18", "inference"): 1.5, ("mobilenet_v2", "inference"): 2.0}
FAMILY_ORDER = ("batch norm", "pooling", "elementwise / activations", "linear / loss / reshape", "other")
TENSOR_METHODS = ("__add__", "__radd__", "__iadd__", "__sub__", "__mul__", "__rmul__", "__truediv__", "__neg__",
                  "reshape", "sum", "mean")


# ----------------------------------------------------------------------------------------------------------
# the two sides
# ----------------------------------------------------------------------------------------------------------

def make_pair(name: str, batch: int, image: int, seed: int = 0):
    """(ours, theirs, x, target): torchvision's model with its initialisation, ours holding its state_dict."""
    import torch

    from vanilla_nn import models

    from ._torchvision import import_torchvision

    torchvision = import_torchvision()
    torch.manual_seed(seed)
    theirs = getattr(torchvision.models, name)()
    ours = getattr(models, name)(rng=seed)
    ours.load_state_dict({key: value.detach().numpy().copy() for key, value in theirs.state_dict().items()})
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, image, image), dtype=np.float32)
    target = rng.integers(0, 1000, batch)
    return ours, theirs, x, target


def steps(ours: Any, theirs: Any, x: np.ndarray, target: np.ndarray) -> dict[str, tuple[Callable, Callable]]:
    """mode -> (vanilla call, PyTorch call) for ``train`` (one SGD step) and ``inference`` (eval forward)."""
    import torch

    import vanilla_nn as vn
    from vanilla_nn import nn, optim

    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(ours.parameters(), lr=0.01)
    tloss_fn = torch.nn.CrossEntropyLoss()
    topt = torch.optim.SGD(theirs.parameters(), lr=0.01)
    tx, ttarget = torch.from_numpy(x), torch.from_numpy(target)

    def train_ours():
        ours.train()
        opt.zero_grad()
        loss = loss_fn(ours(vn.tensor(x)), target)
        loss.backward()
        opt.step()
        return loss

    def train_theirs():
        theirs.train()
        topt.zero_grad()
        loss = tloss_fn(theirs(tx), ttarget)
        loss.backward()
        topt.step()
        return loss

    def infer_ours():
        ours.eval()
        with vn.no_grad():
            return ours(x)

    def infer_theirs():
        theirs.eval()
        with torch.no_grad():
            return theirs(tx)

    return {"train": (train_ours, train_theirs), "inference": (infer_ours, infer_theirs)}


def logits_error(ours: Any, theirs: Any, x: np.ndarray) -> float:
    """Normwise relative difference of the eval-mode logits (same weights): the two run the same network."""
    import torch

    import vanilla_nn as vn

    ours.eval()
    theirs.eval()
    with vn.no_grad():
        a = np.asarray(ours(x), dtype=np.float64)
    with torch.no_grad():
        b = theirs(torch.from_numpy(x)).numpy().astype(np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


# ----------------------------------------------------------------------------------------------------------
# the profile
# ----------------------------------------------------------------------------------------------------------

def family(name: str, saved: Any = None) -> str:
    """The op family of a tape node or op ``name``; convolutions by their plan's algorithm."""
    plan = getattr(saved, "plan", None)
    if name.startswith("conv"):
        algorithm = getattr(getattr(plan, "algorithm", None), "value", None)
        return f"conv: {algorithm}" if algorithm else "conv"
    if name == "batch_norm":
        return "batch norm"
    if "pool" in name:
        return "pooling"
    if name in ("linear", "cross_entropy", "log_softmax", "softmax", "mse_loss", "flatten", "reshape", "sum",
                "mean"):
        return "linear / loss / reshape"
    if name in ("relu", "relu6", "hardswish", "leaky_relu", "sigmoid", "tanh", "silu", "gelu", "dropout", "dropout2d",
                "add", "sub", "mul", "div", "neg", "__add__", "__radd__", "__iadd__", "__sub__", "__mul__", "__rmul__",
                "__truediv__", "__neg__"):
        return "elementwise / activations"
    return "other"


class Profiler:
    """Seconds and calls per (family, pass), timed exclusively (an op timed inside another counts once)."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self._depth = 0

    def timed(self, fn: Callable[..., Any], label: Callable[[Any], str], phase: str) -> Callable[..., Any]:
        """``fn`` timed into ``(label(result), phase)`` when not nested in another timed call."""
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self._depth -= 1
            key = (label(result), phase)
            self.seconds[key] += elapsed
            self.calls[key] += 1
            return result

        call.__wrapped__ = fn  # type: ignore[attr-defined]  # inspect.signature sees the forward's
        return call

    @contextlib.contextmanager
    def installed(self) -> Iterator[Profiler]:
        """Instrument the tape for the duration: the ops' forwards, the nodes' backwards, the Tensor methods."""
        from vanilla_nn.autograd import engine, function
        from vanilla_nn.functional import _dispatch

        tensor_module = importlib.import_module("vanilla_nn.autograd.tensor")  # the package exports a tensor()

        profiler = self
        original_record = _dispatch.tape.record
        original_saving = dict(function.SAVING)
        forwards: dict[Any, Callable[..., Any]] = {}

        class TimedNode(engine.Node):
            __slots__ = ()

            def __init__(self, name: str, inputs: Any, saved: Any, backward: Any) -> None:
                label = family(name, saved)
                super().__init__(name, inputs, saved, profiler.timed(backward, lambda _: label, "backward"))

        def record(name, forward, backward, wrt, args, kwargs):
            if name not in forwards:  # one wrapper per op, so the tape's signature cache stays small
                forwards[name] = profiler.timed(forward, lambda _: family(name), "forward")
            return original_record(name, forwards[name], backward, wrt, args, kwargs)

        for name, (saving_forward, saved_backward) in original_saving.items():
            def label(result: Any, name: str = name) -> str:
                return family(name, result[1] if isinstance(result, tuple) and len(result) == 2 else None)
            function.SAVING[name] = (self.timed(saving_forward, label, "forward"), saved_backward)
        methods = {m: getattr(tensor_module.Tensor, m) for m in TENSOR_METHODS if m in vars(tensor_module.Tensor)}
        for m, method in methods.items():
            setattr(tensor_module.Tensor, m, self.timed(method, lambda _, m=m: family(m), "forward"))
        _dispatch.tape.record = record
        function.Node = TimedNode
        tensor_module.Node = TimedNode
        try:
            yield self
        finally:
            _dispatch.tape.record = original_record
            function.Node = engine.Node
            tensor_module.Node = engine.Node
            function.SAVING.clear()
            function.SAVING.update(original_saving)
            for m, method in methods.items():
                setattr(tensor_module.Tensor, m, method)


def profile_step(ours: Any, x: np.ndarray, target: np.ndarray, repeats: int = 3) -> dict:
    """Mean per-step milliseconds of vanilla_nn's training step, split per op family and pass.

    ``families[f] = {"forward_ms", "backward_ms", "calls"}``, ``optimizer_ms`` (SGD step), ``overhead_ms``
    (the rest of the step: the tape's recording and backward engine, the modules' Python, ``zero_grad``), and
    ``total_ms``; the families, the optimizer and the overhead sum to the total.
    """
    import vanilla_nn as vn
    from vanilla_nn import nn, optim

    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(ours.parameters(), lr=0.01)
    ours.train()
    profiler = Profiler()
    total = optimizer = 0.0

    def step(timed: bool) -> tuple[float, float]:
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(ours(vn.tensor(x)), target)
        loss.backward()
        before_step = time.perf_counter()
        opt.step()
        end = time.perf_counter()
        return end - start, end - before_step

    step(False)  # warm-up, outside the profile
    with profiler.installed():
        for _ in range(repeats):
            t, s = step(True)
            total += t
            optimizer += s
    families: dict[str, dict[str, float]] = {}
    for (name, phase), seconds in profiler.seconds.items():
        entry = families.setdefault(name, {"forward_ms": 0.0, "backward_ms": 0.0, "calls": 0})
        entry[f"{phase}_ms"] += 1e3 * seconds / repeats
        if phase == "forward":
            entry["calls"] += profiler.calls[(name, phase)] // repeats
    ops_ms = sum(e["forward_ms"] + e["backward_ms"] for e in families.values())
    total_ms, optimizer_ms = 1e3 * total / repeats, 1e3 * optimizer / repeats
    order = sorted(families, key=lambda f: (not f.startswith("conv"), FAMILY_ORDER.index(f)
                                            if f in FAMILY_ORDER else -1, f))
    return {"repeats": repeats, "total_ms": total_ms, "optimizer_ms": optimizer_ms,
            "overhead_ms": total_ms - ops_ms - optimizer_ms, "families": {f: families[f] for f in order}}


# ----------------------------------------------------------------------------------------------------------
# the report
# ----------------------------------------------------------------------------------------------------------

def markdown(meta: dict, rows: list[dict], profiles: dict[str, dict]) -> str:
    lines = [f"# Network benchmark: vanilla_nn vs torchvision ({meta['date']})", "",
             f"`{meta['command']}`: batch {meta['batch']}, 3x{meta['image']}x{meta['image']}, float32; "
             f"{meta['machine']['cpu']}, NumPy {meta['machine']['numpy']}, PyTorch {meta['machine']['torch']}; "
             f"{meta['protocol']}; about {meta['repeats']} timed calls per side.", "",
             "| model | mode | threads | vanilla ms | torch ms | ratio | target | vanilla spread | torch spread |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        target = r["target"]
        verdict = "-" if target is None else f"<= {target} ({'ok' if r['ratio'] <= target else 'MISSED'})"
        lines.append(f"| {r['model']} | {r['mode']} | {r['threads']} | {r['vanilla_ms']:.1f} | {r['torch_ms']:.1f} | "
                     f"{r['ratio']:.2f} | {verdict} | {100 * r['vanilla_spread']:.0f}% | "
                     f"{100 * r['torch_spread']:.0f}% |")
    lines += ["", "Targets apply to the default thread count; ratio = vanilla / PyTorch. Logits of the two "
              "(eval mode, same weights), normwise relative difference: "
              + ", ".join(f"{m} {e:.1e}" for m, e in meta["logits_error"].items()) + "."]
    for model, p in profiles.items():
        lines += ["", f"### Where vanilla_nn's training step goes: {model} ({meta['threads']} threads, "
                  f"mean of {p['repeats']} instrumented steps, {p['total_ms']:.0f} ms each)", "",
                  "| family | calls | forward ms | backward ms | total ms | share |", "|---|---:|---:|---:|---:|---:|"]
        for name, e in p["families"].items():
            both = e["forward_ms"] + e["backward_ms"]
            lines.append(f"| {name} | {e['calls']} | {e['forward_ms']:.1f} | {e['backward_ms']:.1f} | {both:.1f} | "
                         f"{100 * both / p['total_ms']:.1f}% |")
        for label, key in (("SGD step", "optimizer_ms"), ("tape + Python overhead (the rest)", "overhead_ms")):
            lines.append(f"| {label} | | | | {p[key]:.1f} | {100 * p[key] / p['total_ms']:.1f}% |")
    return "\n".join(lines) + "\n"


SHORT = {"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"}


def chart_png(meta: dict, rows: list[dict], profiles: dict[str, dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [f"{SHORT.get(r['model'], r['model'])}\n{r['mode']}\n{r['threads']} thread(s)" for r in rows]
    ratios = [r["ratio"] for r in rows]
    colors = ["tab:blue" if r["mode"] == "train" else "tab:orange" for r in rows]
    bars = left.bar(range(len(rows)), ratios, color=colors)
    for i, r in enumerate(rows):
        if r["target"] is not None:
            left.hlines(r["target"], i - 0.4, i + 0.4, colors="k", linestyles="dashed")
    left.bar_label(bars, fmt="%.2f")
    left.axhline(1.0, color="grey", lw=0.8)
    left.set_xticks(range(len(rows)), labels, fontsize=7)
    left.set_ylabel("time ratio vanilla / PyTorch (dashed: target)")
    left.set_title(f"Network steps, batch {meta['batch']}, {meta['image']}x{meta['image']}, float32")
    names = list(profiles)
    families = list(dict.fromkeys(f for p in profiles.values() for f in p["families"]))
    bottom = np.zeros(len(names))
    palette = plt.get_cmap("tab20").colors
    for k, f in enumerate([*families, "SGD step", "tape + Python overhead"]):
        values = []
        for name in names:
            p = profiles[name]
            if f == "SGD step":
                values.append(p["optimizer_ms"])
            elif f == "tape + Python overhead":
                values.append(p["overhead_ms"])
            else:
                e = p["families"].get(f, {"forward_ms": 0.0, "backward_ms": 0.0})
                values.append(e["forward_ms"] + e["backward_ms"])
        right.bar(range(len(names)), values, bottom=bottom, label=f, color=palette[k % len(palette)])
        bottom += np.array(values)
    right.set_xticks(range(len(names)), [SHORT.get(n, n) for n in names])
    right.set_ylabel("ms per training step (vanilla_nn)")
    right.set_title("Where the training step goes")
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------------

def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    import torch
    from threadpoolctl import threadpool_limits

    batch, image = (2, 64) if args.quick else (args.batch, args.image)
    repeats = args.repeats or (2 if args.quick else 6)
    budget = 4.0 if args.quick else 60.0
    threads = args.threads or int(harness.blas_info().get("num_threads") or 1)
    thread_counts = [threads] if threads == 1 or args.no_one_thread else [threads, 1]
    names = [m for m in MODELS if not args.models or m in args.models]
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "command": " ".join(["python -m benchmarks.network", *getattr(args, "argv", [])]),
            "machine": harness.machine_info(threads), "batch": batch, "image": image, "dtype": "float32",
            "threads": threads, "repeats": repeats, "quick": bool(args.quick),
            "protocol": "each side timed in its own blocks A B B A after an idle wait (the opening side alternates), "
                        "median of each side's calls", "logits_error": {}}
    rows, profiles = [], {}
    for index, name in enumerate(names):
        ours, theirs, x, target = make_pair(name, batch, image)
        torch.set_num_threads(threads)
        meta["logits_error"][name] = logits_error(ours, theirs, x)
        calls = steps(ours, theirs, x, target)
        for count in thread_counts:
            with threadpool_limits(limits=count, user_api="blas"):
                torch.set_num_threads(count)
                for mode, (mine, yours) in calls.items():
                    t_ours, t_theirs = harness.time_pair(mine, yours, repeats, 1, budget, first_opens=index % 2 == 0)
                    ms_ours, ms_theirs = harness.median_ms(t_ours), harness.median_ms(t_theirs)
                    row = {"model": name, "mode": mode, "threads": count, "vanilla_ms": ms_ours,
                           "torch_ms": ms_theirs, "ratio": ms_ours / ms_theirs,
                           "target": TARGETS[(name, mode)] if count == threads else None,
                           "vanilla_repeats": len(t_ours), "torch_repeats": len(t_theirs),
                           "vanilla_spread": harness.spread(t_ours), "torch_spread": harness.spread(t_theirs)}
                    rows.append(row)
                    print(f"{name:13s} {mode:9s} {count} thread(s): vanilla {ms_ours:8.1f} ms, torch {ms_theirs:8.1f} "
                          f"ms, ratio {row['ratio']:.2f}", flush=True)
        torch.set_num_threads(threads)
        harness.wait_until_idle()
        profiles[name] = profile_step(ours, x, target, repeats=2 if args.quick else 3)
        p = profiles[name]
        print(f"{name:13s} profile: total {p['total_ms']:.0f} ms, tape overhead {p['overhead_ms']:.0f} ms, "
              + ", ".join(f"{f} {e['forward_ms'] + e['backward_ms']:.0f}" for f, e in p["families"].items()),
              flush=True)
        del ours, theirs, calls
    write_results(args.out, meta, rows, profiles)
    return 0


def write_results(out: Path, meta: dict, rows: list[dict], profiles: dict[str, dict]) -> None:
    """``network.json`` (strict JSON), ``network.md`` and ``network.png`` in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    document = _finite({"meta": meta, "rows": rows, "profiles": profiles})
    write_text(out / "network.json", json.dumps(document, indent=2, allow_nan=False) + "\n")
    write_text(out / "network.md", markdown(meta, rows, profiles))
    write_bytes(out / "network.png", chart_png(meta, rows, profiles))
    print(f"wrote {out / 'network.json'}, network.md, network.png")


def merge(paths: list[Path], out: Path) -> int:
    """One report from the ``network.json`` of runs made separately (e.g. one model per run)."""
    documents = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    meta = dict(documents[0]["meta"])
    meta["command"] = "; ".join(d["meta"]["command"] for d in documents)
    meta["date"] = " / ".join(dict.fromkeys(d["meta"]["date"] for d in documents))
    meta["logits_error"] = {k: v for d in documents for k, v in d["meta"]["logits_error"].items()}
    rows = [row for d in documents for row in d["rows"]]
    profiles = {k: v for d in documents for k, v in d["profiles"].items()}
    write_results(out, meta, rows, profiles)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.network", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 2 at 64x64, 2 repeats: a smoke test")
    parser.add_argument("--models", nargs="*", choices=MODELS, help="default: both")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per side (default 6; quick 2)")
    parser.add_argument("--threads", type=int, default=None, help="default: NumPy's BLAS threads")
    parser.add_argument("--no-one-thread", action="store_true", help="skip the one-thread rows")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="no run: one report from the network.json files of separate runs")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return merge(args.merge, args.out) if args.merge else run(args)


if __name__ == "__main__":
    sys.exit(main())
