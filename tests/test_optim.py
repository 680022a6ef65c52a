"""SGD, Adam and AdamW against torch.optim: same parameters, same gradients, several steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vanilla_nn import optim
from vanilla_nn.nn import Parameter

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 6


def _gradients(rng: np.random.Generator, params: list[np.ndarray], step: int) -> list[np.ndarray]:
    """A gradient that depends on the current parameters (so a wrong update shows) plus noise."""
    return [np.sin(p * (step + 1)) + rng.standard_normal(p.shape) for p in params]


def _run_both(make_ours, make_torch, dtype=np.float64, skip_first=False):
    rng = np.random.default_rng(7)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [Parameter(a.copy()) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt, topt = make_ours(ours), make_torch(theirs)
    grad_rng = np.random.default_rng(11)
    for step in range(STEPS):
        grads = _gradients(grad_rng, [p.data for p in ours], step)
        for index, (p, tp, g) in enumerate(zip(ours, theirs, grads)):
            if skip_first and index == 0 and step % 2:
                p.grad, tp.grad = None, None  # skipped this step by both
            else:
                p.grad, tp.grad = g.astype(dtype), torch.from_numpy(g.astype(dtype))
        opt.step()
        topt.step()
        for p, tp in zip(ours, theirs):
            assert p.data.dtype == dtype
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10 if dtype == np.float64 else 1e-5,
                                       atol=1e-12 if dtype == np.float64 else 1e-6)
        opt.zero_grad()
        topt.zero_grad()
        assert all(p.grad is None for p in ours)


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.5, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_matches_torch(kwargs, dtype):
    _run_both(lambda ps: optim.SGD(ps, **kwargs), lambda ps: torch.optim.SGD(ps, **kwargs), dtype)


ADAM_CASES = [dict(lr=lr, betas=b, weight_decay=wd, amsgrad=ams, eps=eps) for lr, b, wd, ams, eps in [
    (1e-2, (0.9, 0.999), 0.0, False, 1e-8),
    (1e-2, (0.9, 0.999), 0.0, True, 1e-8),
    (3e-2, (0.8, 0.9), 0.1, False, 1e-6),
    (3e-2, (0.5, 0.99), 0.05, True, 1e-3),
    (1e-2, (0.0, 0.5), 0.0, False, 0.0),
]]


@pytest.mark.parametrize(("kind", "kwargs"), list(itertools.product(["Adam", "AdamW"], ADAM_CASES)), ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_matches_torch(kind, kwargs, dtype):
    _run_both(lambda ps: getattr(optim, kind)(ps, **kwargs),
              lambda ps: getattr(torch.optim, kind)(ps, foreach=False, **kwargs), dtype)


def test_adamw_default_weight_decay_matches_torch():
    _run_both(lambda ps: optim.AdamW(ps, lr=1e-2), lambda ps: torch.optim.AdamW(ps, lr=1e-2))


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_parameters_without_grad_are_skipped_like_torch(kind):
    kwargs = dict(lr=0.1, momentum=0.9) if kind == "SGD" else dict(lr=0.1)
    _run_both(lambda ps: getattr(optim, kind)(ps, **kwargs), lambda ps: getattr(torch.optim, kind)(ps, **kwargs),
              skip_first=True)


def test_param_groups_match_torch():
    def groups(ps):
        return [{"params": ps[:1], "lr": 0.5}, {"params": ps[1:], "momentum": 0.9}]

    _run_both(lambda ps: optim.SGD(groups(ps), lr=0.1), lambda ps: torch.optim.SGD(groups(ps), lr=0.1))


def test_zero_grad_to_zeros():
    p = Parameter(np.ones(3))
    p.grad = np.ones(3)
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))


P = [Parameter(np.zeros(2))]


@pytest.mark.parametrize(("make", "exc", "word"), [
    (lambda: optim.SGD(P, lr=-1.0), ValueError, "lr"),
    (lambda: optim.SGD(P, lr=0.1, momentum=-0.5), ValueError, "momentum"),
    (lambda: optim.SGD(P, lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
    (lambda: optim.SGD(P, lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: optim.SGD(P, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening"),
    (lambda: optim.SGD(P, lr="fast"), TypeError, "lr"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda: optim.SGD([np.zeros(2)], lr=0.1), TypeError, "params[0]"),
    (lambda: optim.SGD(P[0], lr=0.1), TypeError, "params"),
    (lambda: optim.SGD(P + P, lr=0.1), ValueError, "more than one"),
    (lambda: optim.SGD([{"params": P, "lr": -2.0}], lr=0.1), ValueError, "lr"),
    (lambda: optim.SGD([{"params": P, "betas": (0.9, 0.9)}], lr=0.1), ValueError, "betas"),
    (lambda: optim.Adam(P, lr=-1e-3), ValueError, "lr"),
    (lambda: optim.Adam(P, betas=(1.0, 0.999)), ValueError, "betas"),
    (lambda: optim.Adam(P, betas=(0.9, -0.1)), ValueError, "index 1"),
    (lambda: optim.Adam(P, betas=0.9), TypeError, "betas"),
    (lambda: optim.Adam(P, eps=-1.0), ValueError, "eps"),
    (lambda: optim.AdamW(P, weight_decay=-0.1), ValueError, "weight_decay"),
])
def test_bad_arguments(make, exc, word):
    with pytest.raises(exc, match=None) as info:
        make()
    assert word in str(info.value)
