"""Shared helpers for the nn tests: non-contiguous copies, tolerance checks, running a layer next to torch."""

from __future__ import annotations

import numpy as np

TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


def noncontiguous(array: np.ndarray) -> np.ndarray:
    """The same values in a strided (non-contiguous) view, so layers never rely on C order."""
    array = np.asarray(array)
    if array.ndim == 0:
        return array.copy()
    holder = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    holder[..., ::2] = array
    view = holder[..., ::2]
    assert not view.flags.c_contiguous or array.shape[-1] <= 1
    return view


def assert_close(actual, expected, dtype, what: str = "") -> None:
    """Relative agreement at the dtype's tolerance (absolute floor relative to the largest magnitude)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype} != {np.dtype(dtype)}"
    tol = TOL[np.dtype(dtype)]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * max(scale, 1e-30), err_msg=what)


def run_against_torch(torch, ours, theirs, x: np.ndarray, seed: int = 0, check_buffers: bool = True) -> None:
    """Copy our state into ``theirs``, run forward and backward in both, compare everything."""
    dtype = x.dtype
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    tx = torch.tensor(np.array(x), requires_grad=True)
    ty = theirs(tx)
    y = ours(noncontiguous(x))
    assert_close(y, ty.detach().numpy(), dtype, "output")
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(gy))
    gx = ours.backward(noncontiguous(gy))
    assert_close(gx, tx.grad.numpy(), dtype, "grad_input")
    torch_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert_close(param.grad, torch_params[name].grad.numpy(), dtype, f"grad of {name}")
    if check_buffers:
        torch_state = theirs.state_dict()
        for name, buffer in ours.named_buffers():
            np.testing.assert_allclose(buffer, torch_state[name].numpy(), rtol=TOL[np.dtype(dtype)],
                                       err_msg=f"buffer {name}")
