"""Tensor ops and the tape's mechanics against ``torch.autograd`` (float64, 1e-10 relative).

One table of cases: each names input shapes and the same expression written for both libraries.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import vanilla_nn as vn
from vanilla_nn.oracles.cases import difference

# name, input shapes, expression on vanilla_nn Tensors, expression on torch tensors (None: the same)
OP_CASES = [
    ("add_broadcast", [(2, 3), (3,)], lambda a, b: a + b, None),
    ("radd_scalar", [(2, 3)], lambda a: 2.5 + a, None),
    ("sub_broadcast", [(4, 1, 3), (2, 3)], lambda a, b: a - b, None),
    ("rsub_array", [(2, 3)], lambda a: np.ones((2, 3)) - a, lambda a: torch.ones(2, 3, dtype=a.dtype) - a),
    ("mul_broadcast", [(2, 1), (1, 3)], lambda a, b: a * b, None),
    ("div", [(2, 3), (2, 3)], lambda a, b: a / (b * b + 1.0), None),
    ("rdiv_scalar", [(5,)], lambda a: 1.0 / (a * a + 1.0), None),
    ("pow", [(2, 3)], lambda a: (a * a + 1.0) ** 1.5, None),
    ("pow_int", [(2, 3)], lambda a: a ** 3, None),
    ("neg", [(3,)], lambda a: -a, None),
    ("matmul_2d", [(3, 4), (4, 5)], lambda a, b: a @ b, None),
    ("matmul_batched_broadcast", [(2, 1, 3, 4), (5, 4, 2)], lambda a, b: a @ b, None),
    ("matmul_vec_mat", [(4,), (4, 5)], lambda a, b: a @ b, None),
    ("matmul_mat_vec", [(3, 4), (4,)], lambda a, b: a @ b, None),
    ("matmul_dot", [(4,), (4,)], lambda a, b: a @ b, None),
    ("sum_all", [(2, 3)], lambda a: a.sum(), None),
    ("sum_axis", [(2, 3, 4)], lambda a: a.sum(axis=1), lambda a: a.sum(dim=1)),
    ("sum_axes_keepdims", [(2, 3, 4)], lambda a: a.sum(axis=(0, 2), keepdims=True),
     lambda a: a.sum(dim=(0, 2), keepdim=True)),
    ("mean_axis", [(2, 3, 4)], lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1)),
    ("mean_all", [(2, 3)], lambda a: a.mean(), None),
    ("max_all", [(2, 3)], lambda a: a.max(), None),
    ("max_axis", [(2, 3, 4)], lambda a: a.max(axis=1), lambda a: a.max(dim=1).values),
    ("max_axis_keepdims", [(2, 3)], lambda a: a.max(axis=0, keepdims=True),
     lambda a: a.max(dim=0, keepdim=True).values),
    ("exp", [(2, 3)], lambda a: a.exp(), None),
    ("log", [(2, 3)], lambda a: (a * a + 0.5).log(), None),
    ("sqrt", [(2, 3)], lambda a: (a * a + 0.5).sqrt(), None),
    ("abs", [(2, 3)], lambda a: a.abs(), None),
    ("clip", [(4, 5)], lambda a: a.clip(-0.3, 0.4), lambda a: a.clamp(-0.3, 0.4)),
    ("clip_min", [(4, 5)], lambda a: a.clip(min=0.1), lambda a: a.clamp(min=0.1)),
    ("reshape", [(2, 6)], lambda a: a.reshape(3, 4) * np.arange(12.0).reshape(3, 4),
     lambda a: a.reshape(3, 4) * torch.arange(12.0, dtype=a.dtype).reshape(3, 4)),
    ("transpose_swap", [(2, 3, 4)], lambda a: a.transpose(0, 2) * np.arange(24.0).reshape(4, 3, 2),
     lambda a: a.transpose(0, 2) * torch.arange(24.0, dtype=a.dtype).reshape(4, 3, 2)),
    ("permute", [(2, 3, 4)], lambda a: a.permute(1, 2, 0) * np.arange(24.0).reshape(3, 4, 2),
     lambda a: a.permute(1, 2, 0) * torch.arange(24.0, dtype=a.dtype).reshape(3, 4, 2)),
    ("T", [(2, 3)], lambda a: a.T @ np.ones((2, 2)), lambda a: a.T @ torch.ones(2, 2, dtype=a.dtype)),
    ("flatten", [(2, 3, 4)], lambda a: a.flatten(1) * np.arange(12.0),
     lambda a: a.flatten(1) * torch.arange(12.0, dtype=a.dtype)),
    ("flatten_all", [(2, 3)], lambda a: a.flatten() * np.arange(6.0),
     lambda a: a.flatten() * torch.arange(6.0, dtype=a.dtype)),
    ("squeeze_unsqueeze", [(2, 1, 3)], lambda a: a.squeeze(1).unsqueeze(0) * 2.0, None),
    ("index_int_slice", [(4, 5)], lambda a: a[1, 1:4] * 3.0, None),
    ("index_none_ellipsis", [(2, 3, 4)], lambda a: a[None, ..., 1:3] * 2.0, None),
    ("index_negative_step", [(6,)], lambda a: a[::-2] * np.arange(3.0),
     lambda a: a.flip(0)[::2] * torch.arange(3.0, dtype=a.dtype)),
    ("index_bool_mask", [(3, 4)], lambda a: a[np.arange(12).reshape(3, 4) % 3 == 0] * 2.0,
     lambda a: a[torch.arange(12).reshape(3, 4) % 3 == 0] * 2.0),
    ("index_int_array_repeats", [(5, 2)], lambda a: a[np.array([0, 3, 0, 0, 4])] * 2.0,
     lambda a: a[torch.tensor([0, 3, 0, 0, 4])] * 2.0),
    ("index_two_arrays", [(4, 5)], lambda a: a[np.array([1, 1, 2]), np.array([0, 0, 4])],
     lambda a: a[torch.tensor([1, 1, 2]), torch.tensor([0, 0, 4])]),
    ("cat", [(2, 3), (4, 3)], lambda a, b: vn.cat([a, b * 2.0], dim=0) * np.arange(18.0).reshape(6, 3),
     lambda a, b: torch.cat([a, b * 2.0], dim=0) * torch.arange(18.0, dtype=a.dtype).reshape(6, 3)),
    ("stack", [(2, 3), (2, 3)], lambda a, b: vn.stack([a, b, a], dim=1) * np.arange(18.0).reshape(2, 3, 3),
     lambda a, b: torch.stack([a, b, a], dim=1) * torch.arange(18.0, dtype=a.dtype).reshape(2, 3, 3)),
    ("reuse_shared_subexpression", [(3,)], lambda a: (a * a) * (a * a) + a, None),
    ("ndarray_left_operand", [(2, 3)], lambda a: np.full((2, 3), 2.0) * a + np.ones(3),
     lambda a: torch.full((2, 3), 2.0, dtype=a.dtype) * a + torch.ones(3, dtype=a.dtype)),
]


def _run_both(shapes, ours, theirs, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1, 1, s) for s in shapes]
    xs = [vn.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = ours(*xs), (theirs or ours)(*ts)
    gy = rng.uniform(-1, 1, ty.shape)
    y.backward(gy)
    ty.backward(torch.tensor(gy))
    return y, ty, xs, ts


@pytest.mark.parametrize("name, shapes, ours, theirs", OP_CASES, ids=[c[0] for c in OP_CASES])
def test_tensor_op_matches_torch(name, shapes, ours, theirs) -> None:
    y, ty, xs, ts = _run_both(shapes, ours, theirs)
    assert y.shape == tuple(ty.shape)
    assert difference(y.data, ty.detach().numpy())[1] <= 1e-12
    for x, t in zip(xs, ts):
        assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
        assert difference(x.grad, t.grad.numpy())[1] <= 1e-10, name


def test_float32_stays_float32_and_scalars_do_not_promote() -> None:
    x = vn.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    y = (x * np.float64(2.0) + 1 - x / 3.0) ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_comparisons_are_plain_boolean_arrays() -> None:
    x = vn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 1.5, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert type(result) is np.ndarray and result.dtype == bool
    np.testing.assert_array_equal(x > 1.5, [False, True, True])


def test_backward_frees_the_graph_unless_retained() -> None:
    x = vn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))))
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_needs_a_gradient_for_non_scalars_and_a_graph() -> None:
    x = vn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="single-element"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        vn.tensor([1.0]).backward()
    with pytest.raises(TypeError, match="floating"):
        vn.tensor([1, 2], requires_grad=True)


def test_long_chain_has_no_recursion_limit() -> None:
    x = vn.tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(3 * sys.getrecursionlimit()):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** (3 * sys.getrecursionlimit())], rtol=1e-9)
    assert "mul" in vn.autograd.graph(y).splitlines()[-1]


def test_grad_returns_gradients_without_touching_dot_grad() -> None:
    x = vn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = vn.tensor([0.5, -1.0, 2.0], requires_grad=True)
    h = x * w
    loss = (h * h).sum()
    gx, gh = vn.autograd.grad(loss, [x, h], retain_graph=True)
    np.testing.assert_allclose(gx, 2 * (x.data * w.data) * w.data)
    np.testing.assert_allclose(gh, 2 * h.data)
    assert x.grad is None and w.grad is None
    unused = vn.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        vn.autograd.grad(loss, [unused], retain_graph=True)
    assert vn.autograd.grad(loss, [unused], allow_unused=True) == (None,)


def test_grad_with_grad_outputs() -> None:
    x = vn.tensor([1.0, 2.0], requires_grad=True)
    (g,) = vn.autograd.grad(x * x, x, grad_outputs=np.array([1.0, 10.0]))
    np.testing.assert_allclose(g, [2.0, 40.0])


def test_no_grad_enable_grad_and_decorator() -> None:
    x = vn.tensor([1.0], requires_grad=True)
    assert vn.is_grad_enabled()
    with vn.no_grad():
        assert not vn.is_grad_enabled()
        assert (x * 2).grad_fn is None
        with vn.enable_grad():
            assert (x * 2).grad_fn is not None
    assert vn.is_grad_enabled()

    @vn.no_grad()
    def infer(t):
        return t * 3

    assert infer(x).grad_fn is None and vn.is_grad_enabled()


def test_leaf_attributes_detach_item_repr() -> None:
    x = vn.tensor(np.arange(3.0), requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.grad_fn.name == "mul"
    assert (x.shape, x.ndim, x.dtype) == ((3,), 1, np.float64)
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.data, y.data)
    assert y.sum().item() == 6.0
    assert "grad_fn=<mul>" in repr(y) and "requires_grad=True" in repr(x)
    source = np.arange(3.0)
    copy = vn.tensor(source)
    source[0] = 7
    assert copy.data[0] == 0.0
