"""Shared helpers for the nn tests: non-contiguous copies, tolerance checks, running a layer next to torch."""

from __future__ import annotations

import numpy as np
from checks import TOLERANCE as TOL
from checks import assert_close, with_layout


def noncontiguous(array: np.ndarray) -> np.ndarray:
    """The same values in a strided (non-contiguous) view, so layers never rely on C order."""
    return with_layout(np.asarray(array), "strided")


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


DTYPES = [np.float64, np.float32]


def torch_dtype(torch, dtype):
    """The torch dtype of a NumPy float dtype."""
    return torch.float64 if dtype == np.float64 else torch.float32


def random_input(shape, dtype, seed=1) -> np.ndarray:
    """Standard-normal test input of ``shape`` in ``dtype``."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
