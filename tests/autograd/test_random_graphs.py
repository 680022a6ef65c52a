"""Random graphs drawn by hypothesis, run on the tape and in torch.autograd: every leaf gradient agrees.

A graph is 3 to 10 ops over a pool of tensors shaped ``(2, 3, 4, 4)``; each op takes its operands from the
pool (so tensors are reused and subexpressions shared) and adds its result to it. The ops mix arithmetic
with broadcasting, reductions, reshapes, indexing with repeated indices, ``cat``, a conv module applied as
often as drawn, pooling, batch norm, activations; a loss ends the graph.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import vanilla_nn as vn
import vanilla_nn.functional as F
from vanilla_nn import nn
from vanilla_nn.oracles.cases import difference

SHAPE = (2, 3, 4, 4)
REPEATED = [0, 0, 2]


def _ops(lib):
    """name -> (arity, function(operands, context)); ``lib`` is "vn" or "torch"."""
    v = lib == "vn"
    cat = vn.cat if v else torch.cat
    return {
        "add": (2, lambda a, b, c: a + b),
        "mul": (2, lambda a, b, c: a * b),
        "sub_broadcast": (1, lambda a, c: a - c["bias"]),
        "div": (2, lambda a, b, c: a / (b * b + 1.0)),
        "sum_keepdims": (1, lambda a, c: a + 0.1 * (a.sum(axis=(2, 3), keepdims=True) if v
                                                     else a.sum(dim=(2, 3), keepdim=True))),
        "mean_axis": (1, lambda a, c: a * (a.mean(axis=1, keepdims=True) if v else a.mean(dim=1, keepdim=True))),
        "reshape_matmul": (1, lambda a, c: (a.reshape(2, 3, 16) @ c["m16"]).reshape(*SHAPE)),
        "transpose": (1, lambda a, c: a.transpose(2, 3) * 1.5),
        "index_repeated": (1, lambda a, c: a[:, np.array(REPEATED)] if v else a[:, torch.tensor(REPEATED)]),
        "cat": (2, lambda a, b, c: cat([a[:, :1], b[:, 1:]], dim=1)),
        "conv_module": (1, lambda a, c: c["conv"](a)),
        "relu": (1, lambda a, c: F.relu(a) if v else torch.relu(a)),
        "tanh": (1, lambda a, c: F.tanh(a) if v else torch.tanh(a)),
        "sigmoid": (1, lambda a, c: F.sigmoid(a) if v else torch.sigmoid(a)),
        "exp_bounded": (1, lambda a, c: (F.tanh(a) if v else torch.tanh(a)).exp()),
        "max_pool": (1, lambda a, c: F.max_pool2d(a, 3, 1, 1) if v else TF.max_pool2d(a, 3, 1, 1)),
        "avg_pool": (1, lambda a, c: F.avg_pool2d(a, 3, 1, 1) if v else TF.avg_pool2d(a, 3, 1, 1)),
        "batch_norm": (1, lambda a, c: (F.batch_norm(a, None, None, c["gamma"], c["beta"], training=True) if v
                                        else TF.batch_norm(a, None, None, c["gamma"], c["beta"], training=True))),
        "abs_sqrt": (1, lambda a, c: (a * a + 0.25).sqrt() - a.abs()),
    }


OP_NAMES = sorted(_ops("vn"))
LOSSES = ["square_mean", "cross_entropy", "mse", "log_softmax_nll"]


def _loss(kind, out, c, v):
    if kind == "square_mean":
        return (out * out).mean()
    if kind == "mse":
        return F.mse_loss(out, c["target_map"]) if v else TF.mse_loss(out, c["target_map"])
    logits = c["head"](out.flatten(1)) if v else TF.linear(out.flatten(1), c["head_w"], c["head_b"])
    if kind == "cross_entropy":
        return F.cross_entropy(logits, c["labels"]) if v else TF.cross_entropy(logits, c["labels"])
    if v:  # the negative log-likelihood by integer-array indexing
        return -F.log_softmax(logits, 1)[np.arange(2), c["labels"]].mean()
    return -TF.log_softmax(logits, 1)[torch.arange(2), c["labels"]].mean()


def _build(dtype, seed):
    rng = np.random.default_rng(seed)
    conv = nn.Conv2d(3, 3, 3, padding=1, dtype=dtype, rng=seed)
    head = nn.Linear(48, 5, dtype=dtype, rng=seed + 1)
    leaves = {
        "x": rng.uniform(-1, 1, SHAPE), "y": rng.uniform(-1, 1, SHAPE), "bias": rng.uniform(-1, 1, (1, 3, 1, 1)),
        "m16": rng.uniform(-0.5, 0.5, (16, 16)), "gamma": rng.uniform(0.5, 1.5, 3), "beta": rng.uniform(-1, 1, 3),
    }
    leaves = {k: a.astype(dtype) for k, a in leaves.items()}
    target_map = rng.uniform(-1, 1, SHAPE).astype(dtype)
    labels = rng.integers(0, 5, 2)
    ours = {k: vn.tensor(a, requires_grad=True) for k, a in leaves.items()}
    ours.update(conv=conv, head=head, target_map=target_map, labels=labels)
    ref = torch.float64
    theirs = {k: torch.tensor(a, dtype=ref, requires_grad=True) for k, a in leaves.items()}
    params = {"conv_w": conv.weight.data, "conv_b": conv.bias.data, "head_w": head.weight.data,
              "head_b": head.bias.data}
    theirs.update({k: torch.tensor(a, dtype=ref, requires_grad=True) for k, a in params.items()})
    theirs["conv"] = lambda a: TF.conv2d(a, theirs["conv_w"], theirs["conv_b"], padding=1)
    theirs.update(target_map=torch.tensor(target_map, dtype=ref), labels=torch.tensor(labels))
    pairs = [(ours[k], theirs[k]) for k in leaves]
    pairs += [(conv.weight, theirs["conv_w"]), (conv.bias, theirs["conv_b"]), (head.weight, theirs["head_w"]),
              (head.bias, theirs["head_b"])]
    return ours, theirs, pairs


def _run(program, loss_kind, context, lib):
    ops = _ops(lib)
    pool = [context["x"], context["y"]]
    for name, picks in program:
        arity, function = ops[name]
        operands = [pool[p % len(pool)] for p in picks[:arity]]
        pool.append(function(*operands, context))
    return _loss(loss_kind, pool[-1], context, lib == "vn")


programs = st.lists(st.tuples(st.sampled_from(OP_NAMES), st.lists(st.integers(0, 30), min_size=2, max_size=2)),
                    min_size=3, max_size=10)


def _check(program, loss_kind, dtype, tolerance, seed):
    ours, theirs, pairs = _build(dtype, seed)
    loss = _run(program, loss_kind, ours, "vn")
    tloss = _run(program, loss_kind, theirs, "torch")
    loss.backward()
    tloss.backward()
    assert difference(loss.data, tloss.detach().numpy())[1] <= tolerance
    for index, (mine, reference) in enumerate(pairs):
        if reference.grad is None:
            assert mine.grad is None or not np.any(mine.grad), index
            continue
        assert mine.grad is not None and mine.grad.dtype == dtype, index
        rel = difference(mine.grad, reference.grad.numpy())[1]
        assert rel <= tolerance, f"leaf {index}: {rel:.2e}"


@settings(max_examples=40, deadline=None)
@given(program=programs, loss_kind=st.sampled_from(LOSSES), seed=st.integers(0, 2**16))
def test_random_graph_float64(program, loss_kind, seed) -> None:
    _check(program, loss_kind, np.float64, 1e-10, seed)


@settings(max_examples=20, deadline=None)
@given(program=programs, loss_kind=st.sampled_from(LOSSES), seed=st.integers(0, 2**16))
def test_random_graph_float32(program, loss_kind, seed) -> None:
    # judged against PyTorch in float64 from the same float32 inputs: the error of our float32 arithmetic
    _check(program, loss_kind, np.float32, 1e-5, seed)
