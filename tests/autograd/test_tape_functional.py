"""Every functional op through the tape: its gradients equal its own ``*_backward`` exactly and PyTorch's.

The cases are the proof matrix's (``vanilla_nn.oracles.cases``), so an op that joins ``verify`` joins
these tests too; the two tables that name an op's differentiable arguments must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn as vn
import vanilla_nn.functional as F
from vanilla_nn.functional._dispatch import TAPE_GRADIENTS
from vanilla_nn.oracles import NotSupportedByOracle, get_oracle
from vanilla_nn.oracles.cases import OPS, TOLERANCES, difference, make_arrays, select_cases

CASES = select_cases(quick=False)


def test_tape_table_agrees_with_the_proof_matrix() -> None:
    for name, info in OPS.items():
        assert TAPE_GRADIENTS.get(name) == info.grads, name
    for name in TAPE_GRADIENTS:
        assert callable(getattr(F, name)) and callable(getattr(F, f"{name}_backward")), name


def _on_tape(info, arrays, target_as_tensor: bool):
    """The case's arrays as Tensors (the same memory, so the same layout and summation order):
    differentiated floats require grad, the others stay constant."""
    tensors = []
    for name, array in zip(info.arrays, arrays, strict=True):
        if array is None or (name in info.keyword and name not in info.grads):
            tensors.append(array)
        elif name in info.grads:
            tensors.append(vn.Tensor(array, requires_grad=True))
        else:
            tensors.append(vn.Tensor(array) if target_as_tensor else array)
    return tensors


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tape_gradients_are_the_ops_backward(case, dtype) -> None:
    info = OPS[case.op]
    arrays = make_arrays(case, dtype, seed=1)
    positional, keywords = info.call_args(arrays, case.options)
    output = getattr(F, case.op)(*positional, **keywords)
    grad_output = np.random.default_rng(2).uniform(-1, 1, np.shape(output)).astype(output.dtype)
    expected = getattr(F, info.backward_name)(grad_output, *positional, **keywords)

    tensors = _on_tape(info, arrays, target_as_tensor=case.quick)
    t_positional, t_keywords = info.call_args(tensors, case.options)
    result = getattr(F, case.op)(*t_positional, **t_keywords)
    assert isinstance(result, vn.Tensor) and result.grad_fn is not None
    np.testing.assert_array_equal(result.data, output)
    result.backward(grad_output)
    for name, want in zip(info.grads, expected, strict=True):
        got = tensors[info.arrays.index(name)]
        if want is None:
            assert got is None
            continue
        assert got.grad.dtype == want.dtype, name
        np.testing.assert_array_equal(got.grad, want, err_msg=f"{case.id} grad_{name}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tape_gradients_match_torch_autograd(case) -> None:
    info = OPS[case.op]
    arrays = make_arrays(case, "float64", seed=3)
    tensors = _on_tape(info, arrays, target_as_tensor=True)
    positional, keywords = info.call_args(tensors, case.options)
    result = getattr(F, case.op)(*positional, **keywords)
    grad_output = np.random.default_rng(4).uniform(-1, 1, result.shape)
    try:
        theirs = get_oracle("torch").run(case.op, arrays, dict(case.options), grad_output=grad_output)
    except NotSupportedByOracle as reason:
        pytest.skip(str(reason))
    result.backward(grad_output)
    assert difference(result.data, theirs.output)[1] <= TOLERANCES["float64"]
    for name in info.grads:
        index = info.arrays.index(name)
        if tensors[index] is None:
            continue
        rel = difference(tensors[index].grad, theirs.grads[index])[1]
        assert rel <= TOLERANCES["float64"], f"{case.id} grad_{name}: {rel:.2e}"


def test_no_grad_records_nothing_and_keeps_no_state() -> None:
    import tracemalloc

    x = vn.tensor(np.random.default_rng(0).standard_normal((8, 16, 32, 32)), requires_grad=True)
    w = vn.tensor(np.random.default_rng(1).standard_normal((16, 16, 3, 3)), requires_grad=True)
    with vn.no_grad():
        y = F.conv2d(x, w, padding=1)
    assert y.grad_fn is None and not y.requires_grad
    tracemalloc.start()
    with vn.no_grad():
        ys = [F.relu(F.conv2d(x, w, padding=1)) for _ in range(3)]
    kept_without, _ = tracemalloc.get_traced_memory()
    del ys
    tracemalloc.stop()
    tracemalloc.start()
    ys = [F.relu(F.conv2d(x, w, padding=1)) for _ in range(3)]
    kept_with, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(y.grad_fn is not None for y in ys)
    output_bytes = 3 * x.data.nbytes
    assert kept_without <= output_bytes * 1.1            # the outputs alone
    assert kept_with > output_bytes * 1.5                # the tape keeps padded inputs and masks


def test_integer_targets_may_be_ndarrays_or_tensors() -> None:
    logits = vn.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    target = np.array([0, 2, 1, 2])
    a = F.cross_entropy(logits, target)
    b = F.cross_entropy(logits, vn.tensor(target))
    assert a.item() == b.item()
    (a + b).backward()
    np.testing.assert_array_equal(logits.grad, 2 * F.cross_entropy_backward(np.array(1.0), logits.data, target)[0])


def test_ndarrays_only_stay_pure_numpy() -> None:
    x = np.ones((1, 1, 4, 4))
    y = F.conv2d(x, np.ones((1, 1, 3, 3)))
    assert type(y) is np.ndarray
    assert type(F.relu(x)) is np.ndarray
