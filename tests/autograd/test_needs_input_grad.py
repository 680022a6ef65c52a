"""Gradients nobody reads are not computed: a node's ``needs_input_grad`` reaches the op's backward.

An op recorded with an argument that is not a Tensor requiring grad (an image, a frozen parameter, a
target) gets False there; the convolutions, transposed convolutions, ``linear`` and the normalisations then
skip that gradient. Checked three ways: every mask of every multi-gradient op gives exactly the gradients of
the op's full backward; small networks with a constant input, frozen parameters and mixtures train like
PyTorch with the same ``requires_grad`` flags; and spies on the kernels prove the skipped ones never run.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import torch

import vanilla_nn as vn
import vanilla_nn.functional as F
from vanilla_nn import nn
from vanilla_nn.autograd.engine import Node
from vanilla_nn.functional import _dispatch
from vanilla_nn.functional import conv as conv_module
from vanilla_nn.oracles.cases import OPS, TOLERANCES, difference, make_arrays, select_cases

MULTI = [c for c in select_cases(quick=True) if len(OPS[c.op].grads) > 1]
HONOURING = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "linear",
             "batch_norm", "group_norm", "layer_norm")


def _masks(info, arrays):
    """Every non-empty choice of the differentiated arguments that are present (not None)."""
    present = [name for name in info.grads if arrays[info.arrays.index(name)] is not None]
    for size in range(1, len(present) + 1):
        for chosen in itertools.combinations(present, size):
            yield tuple(name in chosen for name in info.grads)


@pytest.mark.parametrize("case", MULTI, ids=[c.id for c in MULTI])
def test_every_mask_gives_the_full_backwards_gradients_exactly(case) -> None:
    info = OPS[case.op]
    arrays = make_arrays(case, "float64", seed=5)
    positional, keywords = info.call_args(arrays, case.options)
    output = getattr(F, case.op)(*positional, **keywords)
    grad_output = np.random.default_rng(6).uniform(-1, 1, np.shape(output))
    backward = getattr(F, info.backward_name)
    full = dict(zip(info.grads, backward(grad_output, *positional, **keywords), strict=True))
    honours = "needs_input_grad" in inspect.signature(backward).parameters
    assert honours == (case.op in HONOURING), case.op
    for mask in _masks(info, arrays):
        needs = dict(zip(info.grads, mask, strict=True))
        if honours:  # the functional backward alone: None where not asked, the same array where asked
            partial = backward(grad_output, *positional, needs_input_grad=mask, **keywords)
            for name, got in zip(info.grads, partial, strict=True):
                if needs[name]:
                    np.testing.assert_array_equal(got, full[name], err_msg=f"{case.id} {mask} grad_{name}")
                else:
                    assert got is None, (case.id, mask, name)
        # on the tape: the others are Tensors that do not require grad
        tensors = [a if a is None or name not in info.grads else vn.Tensor(a, requires_grad=needs[name])
                   for name, a in zip(info.arrays, arrays, strict=True)]
        t_positional, t_keywords = info.call_args(tensors, case.options)
        result = getattr(F, case.op)(*t_positional, **t_keywords)
        assert result.grad_fn.needs_input_grad == mask
        result.backward(grad_output)
        for name in info.grads:
            t = tensors[info.arrays.index(name)]
            if not isinstance(t, vn.Tensor):
                continue
            if needs[name]:
                np.testing.assert_array_equal(t.grad, full[name], err_msg=f"{case.id} {mask} tape grad_{name}")
            else:
                assert t.grad is None, (case.id, mask, name)


# ----------------------------------------------------------------------------------------------------------
# networks against PyTorch with the same requires_grad flags
# ----------------------------------------------------------------------------------------------------------

class Net(nn.Module):
    """conv -> batch norm -> relu -> transposed conv -> relu -> pool -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64, rng=0)
        self.bn = nn.BatchNorm2d(4, dtype=np.float64)
        self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, dtype=np.float64, rng=1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(12, 5, dtype=np.float64, rng=2)

    def forward(self, x):
        out = F.relu(self.bn(self.conv(x)))
        out = F.relu(self.up(out))
        return self.fc(self.pool(out).flatten(1))


class TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.up = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(2)
        self.fc = torch.nn.Linear(12, 5)

    def forward(self, x):
        out = torch.relu(self.bn(self.conv(x)))
        out = torch.relu(self.up(out))
        return self.fc(self.pool(out).flatten(1))


SCENARIOS = {  # (does the input require grad, the frozen parameters)
    "constant input": (False, ()),
    "constant input, frozen first conv": (False, ("conv.weight", "conv.bias")),   # batch norm's input constant
    "frozen weights of the middle": (True, ("up.weight", "bn.weight")),
    "frozen biases and head weight": (True, ("conv.bias", "up.bias", "bn.bias", "fc.weight")),
    "only the input": (True, ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "up.weight", "up.bias",
                              "fc.weight", "fc.bias")),
    "only the head": (False, ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "up.weight", "up.bias")),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_network_gradients_match_torch_with_the_same_frozen_parts(scenario) -> None:
    input_grad, frozen = SCENARIOS[scenario]
    ours, theirs = Net(), TorchNet().double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    for name, p in ours.named_parameters():
        p.requires_grad = name not in frozen
    for name, p in theirs.named_parameters():
        p.requires_grad_(name not in frozen)
    rng = np.random.default_rng(7)
    x_data, target = rng.standard_normal((3, 2, 5, 5)), rng.integers(0, 5, 3)
    for step in range(2):  # twice: the second step sees the first one's running statistics and grads
        x = vn.tensor(x_data + step, requires_grad=input_grad)
        tx = torch.tensor(x_data + step, requires_grad=input_grad)
        loss = F.cross_entropy(ours(x), target)
        tloss = torch.nn.functional.cross_entropy(theirs(tx), torch.tensor(target))
        loss.backward()
        tloss.backward()
        assert difference(np.asarray(loss.data), tloss.detach().numpy())[1] <= TOLERANCES["float64"]
        if input_grad:
            assert difference(x.grad, tx.grad.numpy())[1] <= TOLERANCES["float64"], scenario
        else:
            assert x.grad is None
        theirs_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            if name in frozen:
                assert p.grad is None and theirs_params[name].grad is None, name
            else:
                # atol: conv.bias feeds a training batch norm, its gradient is 0 up to rounding
                np.testing.assert_allclose(p.grad, theirs_params[name].grad.numpy(), rtol=TOLERANCES["float64"],
                                           atol=1e-13, err_msg=f"{scenario}, step {step}: {name}")
        for key, value in theirs.state_dict().items():  # running statistics updated alike
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# the unneeded gradient is not computed
# ----------------------------------------------------------------------------------------------------------

def _refuse(*args, **kwargs):
    raise AssertionError("an input-gradient kernel ran for an input that does not require grad")


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_conv_with_a_constant_input_never_runs_the_input_gradient_kernel(ndim, monkeypatch) -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3) + (6,) * ndim).astype(np.float32)
    w, b = rng.standard_normal((4, 3) + (3,) * ndim).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    gy_shape = F.conv_nd(x, w, b, padding=1, stride=2).shape
    gy = rng.standard_normal(gy_shape).astype(np.float32)
    _, want_w, want_b = F.conv_nd_backward(gy, x, w, b, padding=1, stride=2)
    weight, bias = vn.tensor(w, requires_grad=True), vn.tensor(b, requires_grad=True)
    y = F.conv_nd(vn.tensor(x), weight, bias, padding=1, stride=2)   # the image: a Tensor without grad
    assert y.grad_fn.needs_input_grad == (False, True, True)
    monkeypatch.setattr(conv_module, "correlate_input_grad_cl", _refuse)
    y.backward(gy)
    np.testing.assert_array_equal(weight.grad, want_w)
    np.testing.assert_array_equal(bias.grad, want_b)
    # the functional backward with the keyword skips it too; without it, it is asked for and refused
    assert F.conv_nd_backward(gy, x, w, b, padding=1, stride=2, needs_input_grad=(False, True, True))[0] is None
    with pytest.raises(AssertionError, match="input-gradient kernel"):
        F.conv_nd_backward(gy, x, w, b, padding=1, stride=2)


def test_conv_transpose_with_a_constant_input_never_runs_its_input_gradient(monkeypatch) -> None:
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal(F.conv_transpose2d(x, w, stride=2).shape)
    _, want_w, _ = F.conv_transpose2d_backward(gy, x, w, stride=2)
    weight = vn.tensor(w, requires_grad=True)
    y = F.conv_transpose2d(x, weight, stride=2)   # the input: a plain ndarray
    monkeypatch.setattr(conv_module, "correlate_cl", _refuse)   # its input gradient is a forward correlation
    y.backward(gy)
    np.testing.assert_array_equal(weight.grad, want_w)


def test_frozen_conv_weight_never_runs_the_weight_gradient_kernel(monkeypatch) -> None:
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 4, 4))
    want_x = F.conv2d_backward(gy, x, w)[0]
    x_t = vn.tensor(x, requires_grad=True)
    y = F.conv2d(x_t, nn.Parameter(w, requires_grad=False))
    monkeypatch.setattr(conv_module, "correlate_weight_grad_cl", _refuse)
    y.backward(gy)
    np.testing.assert_array_equal(x_t.grad, want_x)


@pytest.mark.parametrize("op, needs", [("linear", (False, True, True)), ("linear", (True, False, False)),
                                       ("batch_norm", (False, True, True)), ("conv2d", (False, True, False))])
def test_the_tape_hands_each_backward_its_nodes_needs(op, needs, monkeypatch) -> None:
    """A spy in place of the op's backward sees the node's mask, and the gradients still arrive."""
    seen = []
    original_record = _dispatch.tape.record

    def record(name, forward, backward, wrt, args, kwargs):
        def spy(grad_output, *a, needs_input_grad=None, **k):
            seen.append(needs_input_grad)
            return backward(grad_output, *a, needs_input_grad=needs_input_grad, **k)
        return original_record(name, forward, spy, wrt, args, kwargs)

    monkeypatch.setattr(_dispatch.tape, "record", record)
    monkeypatch.delitem(vn.autograd.function.SAVING, op, raising=False)   # conv2d: through its *_backward
    rng = np.random.default_rng(11)
    shapes = {"linear": ((3, 4), (5, 4), (5,)), "batch_norm": ((3, 4, 2), (4,), (4,)),
              "conv2d": ((2, 3, 5, 5), (4, 3, 3, 3), (4,))}[op]
    data = [rng.standard_normal(s) for s in shapes]
    args = [vn.tensor(a, requires_grad=n) for a, n in zip(data, needs, strict=True)]
    if op == "batch_norm":
        y = F.batch_norm(args[0], None, None, args[1], args[2], training=True)
    else:
        y = getattr(F, op)(*args)
    y.backward(np.ones(y.shape))
    assert seen == [needs]
    full = getattr(F, f"{op}_backward")(np.ones(y.shape), data[0], *([None, None] if op == "batch_norm" else []),
                                        *data[1:], **({"training": True} if op == "batch_norm" else {}))
    for t, want, n in zip(args, full, needs, strict=True):
        if n:
            np.testing.assert_array_equal(t.grad, want)
        else:
            assert t.grad is None


def test_tensor_ops_skip_the_gradient_of_a_tensor_without_grad() -> None:
    """The small Tensor ops read the mask too: ``a * c`` with a constant Tensor ``c`` computes no ``g * a``."""
    seen = []

    def backward(grad_output, saved, needs):
        seen.append(needs)
        return tuple(grad_output if n else None for n in needs)

    a, c = vn.tensor([1.0, 2.0], requires_grad=True), vn.tensor([3.0, 4.0])
    product = a * c
    assert product.grad_fn.needs_input_grad == (True, False)
    assert product.grad_fn.backward(np.ones(2), product.grad_fn.saved, (True, False))[1] is None
    node_out = vn.Tensor(np.zeros(2))
    node_out.requires_grad, node_out.grad_fn = True, Node("custom", [a, None], None, backward)
    node_out.backward(np.ones(2))
    assert seen == [(True, False)]
    np.testing.assert_array_equal(a.grad, np.ones(2))


@pytest.mark.parametrize("needs, error", [((True, False), ValueError), ("yes", TypeError), ((1, 0, 1), TypeError)])
def test_a_wrong_needs_input_grad_is_refused_naming_it(needs, error) -> None:
    x, w = np.ones((1, 2)), np.ones((3, 2))
    with pytest.raises(error, match="needs_input_grad"):
        F.linear_backward(np.ones((1, 3)), x, w, needs_input_grad=needs)
    with pytest.raises(error, match="needs_input_grad"):
        F.conv1d_backward(np.ones((1, 1, 1)), np.ones((1, 1, 3)), np.ones((1, 1, 3)), needs_input_grad=needs)
