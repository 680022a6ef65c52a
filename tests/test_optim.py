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


# -- state dicts: PyTorch's layout, round trips both ways, identical subsequent steps -----------------------

def _to_numpy(obj):
    """A torch state dict with every tensor replaced by an ndarray (what a file written by torch holds)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().numpy().copy()
    if isinstance(obj, dict):
        return {key: _to_numpy(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(value) for value in obj)
    return obj


def _to_torch(obj):
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, dict):
        return {key: _to_torch(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch(value) for value in obj)
    return obj


ROUND_TRIP_CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.2, maximize=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("AdamW", dict(lr=1e-2, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=1e-2, amsgrad=True)),
]


def _groups(params):
    """Two parameter groups with their own hyper-parameters (the second overrides lr and weight_decay)."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.02, "weight_decay": 0.05}]


def _step_both(ours, theirs, opt, topt, grad_rng, steps, skip=()):
    for step in range(steps):
        grads = _gradients(grad_rng, [p.data for p in ours], step)
        for index, (p, tp, g) in enumerate(zip(ours, theirs, grads)):
            if index in skip:
                p.grad, tp.grad = None, None
            else:
                p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def _assert_same_state(ours: dict, theirs: dict) -> None:
    """Our state dict equals a torch state dict converted to arrays: same indices, names, values."""
    assert list(ours["state"]) == list(theirs["state"])
    for index, values in theirs["state"].items():
        assert sorted(ours["state"][index]) == sorted(values)
        for key, value in values.items():
            np.testing.assert_allclose(ours["state"][index][key], value, rtol=1e-12, atol=1e-14, err_msg=key)
            if key == "step":
                assert ours["state"][index][key].dtype == np.float32 and ours["state"][index][key].shape == ()
    assert len(ours["param_groups"]) == len(theirs["param_groups"])
    for mine, their in zip(ours["param_groups"], theirs["param_groups"]):
        for key, value in mine.items():  # every key we write is torch's, with torch's value
            assert key in their, key
            assert (tuple(value) if key == "betas" else value) == (tuple(their[key]) if key == "betas" else
                                                                   their[key]), key


@pytest.mark.parametrize(("kind", "kwargs"), ROUND_TRIP_CASES, ids=str)
def test_state_dict_from_torch_gives_identical_steps(kind, kwargs):
    """torch runs 3 steps, its state dict (as arrays) loads into ours, then both run 4 more steps."""
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(s) for s in SHAPES + [(2, 2)]]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    topt = getattr(torch.optim, kind)(_groups(theirs), foreach=False, **kwargs)
    grad_rng = np.random.default_rng(5)
    for step in range(3):
        for index, (tp, g) in enumerate(zip(theirs, _gradients(grad_rng, [p.detach().numpy() for p in theirs],
                                                                step))):
            tp.grad = None if (index == 3 and step == 1) else torch.from_numpy(g)
        topt.step()
    saved = _to_numpy(topt.state_dict())
    ours = [Parameter(tp.detach().numpy().copy()) for tp in theirs]
    opt = getattr(optim, kind)(_groups(ours), lr=123.0)  # hyper-parameters come from the state dict
    opt.load_state_dict(saved)
    _assert_same_state(opt.state_dict(), saved)
    assert opt.param_groups[1]["lr"] == 0.02 and opt.param_groups[0]["params"] == ours[:2]
    _step_both(ours, theirs, opt, topt, np.random.default_rng(9), 4, skip=(1,))


@pytest.mark.parametrize(("kind", "kwargs"), ROUND_TRIP_CASES, ids=str)
def test_state_dict_to_torch_gives_identical_steps(kind, kwargs):
    """ours runs 3 steps, our state dict (arrays turned to tensors) loads into torch, then both run 4 more."""
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(s) for s in SHAPES + [(2, 2)]]
    ours = [Parameter(a.copy()) for a in start]
    opt = getattr(optim, kind)(_groups(ours), **kwargs)
    grad_rng = np.random.default_rng(6)
    for step in range(3):
        for index, (p, g) in enumerate(zip(ours, _gradients(grad_rng, [p.data for p in ours], step))):
            p.grad = None if (index == 0 and step == 0) else g
        opt.step()
    saved = opt.state_dict()
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    topt = getattr(torch.optim, kind)(_groups(theirs), lr=123.0, foreach=False)
    topt.load_state_dict(_to_torch(saved))
    _assert_same_state(saved, _to_numpy(topt.state_dict()))
    _step_both(ours, theirs, opt, topt, np.random.default_rng(8), 4)


def test_state_dict_is_a_copy_and_float32_state_stays_float32():
    p = Parameter(np.ones(3, dtype=np.float32))
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(3, dtype=np.float32)
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"][...] = 99
    assert opt.state[p]["exp_avg"][0] != 99
    other = Parameter(np.ones(3, dtype=np.float32))
    opt2 = optim.Adam([other], lr=0.1)
    opt2.load_state_dict({**saved, "state": {0: {k: np.asarray(v, np.float64) for k, v in
                                                 opt.state_dict()["state"][0].items()}}})
    assert opt2.state[other]["exp_avg"].dtype == np.float32 and opt2.state[other]["step"] == 1


def test_add_param_group_matches_torch():
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s) for s in SHAPES]
    ours = [Parameter(a.copy()) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    opt = optim.SGD(ours[:1], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs[:1], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": ours[1:], "lr": 0.3, "nesterov": True})
    topt.add_param_group({"params": theirs[1:], "lr": 0.3, "nesterov": True})
    _step_both(ours, theirs, opt, topt, np.random.default_rng(1), 5)


S = [Parameter(np.zeros(2)), Parameter(np.zeros(3))]


def _sgd_state(**changes):
    base = {"state": {0: {"momentum_buffer": np.zeros(2)}},
            "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False,
                              "maximize": False, "params": [0, 1]}]}
    base.update(changes)
    return base


@pytest.mark.parametrize(("state", "exc", "word"), [
    ([1, 2], TypeError, "state_dict"),
    ({"state": {}}, ValueError, "param_groups"),
    (_sgd_state(param_groups=[]), ValueError, "0 parameter group"),
    (_sgd_state(param_groups=[{"lr": 0.1, "params": [0]}]), ValueError, "1 parameter"),
    (_sgd_state(state={5: {"momentum_buffer": np.zeros(2)}}), ValueError, "5"),
    (_sgd_state(state={0: {"momentum_buffer": np.zeros(3)}}), ValueError, "shape (3,)"),
    (_sgd_state(state={0: {"exp_avg": np.zeros(2)}}), ValueError, "exp_avg"),
    (_sgd_state(state={0: {"momentum_buffer": np.array(["a", "b"])}}), TypeError, "dtype"),
    (_sgd_state(param_groups=[{"lr": -1.0, "params": [0, 1]}]), ValueError, "lr"),
    (_sgd_state(param_groups=[{"lr": 0.1, "nesterov": "yes", "params": [0, 1]}]), TypeError, "nesterov"),
])
def test_load_state_dict_bad_input_changes_nothing(state, exc, word):
    opt = optim.SGD(S, lr=0.5, momentum=0.1)
    before = opt.state_dict()
    with pytest.raises(exc) as info:
        opt.load_state_dict(state)
    assert word in str(info.value)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"] and not after["state"]


def test_adam_step_must_be_a_whole_number():
    p = Parameter(np.zeros(2))
    opt = optim.Adam([p])
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict({"state": {0: {"step": np.float32(1.5), "exp_avg": np.zeros(2),
                                           "exp_avg_sq": np.zeros(2)}},
                             "param_groups": opt.state_dict()["param_groups"]})


def test_state_is_keyed_by_identity():
    """Parameters that compare equal (or whose == is elementwise) still get their own state."""
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.ones(2), 2 * np.ones(2)
    opt.step()
    assert len(opt.state) == 2 and a in opt.state and list(opt.state) == [a, b]
    np.testing.assert_array_equal(opt.state[b]["momentum_buffer"], [2.0, 2.0])


def test_tensor_leaves_and_the_tape():
    """A plain Tensor leaf that requires grad is optimized like a Parameter; gradients from loss.backward()."""
    import vanilla_nn as vn

    start = np.array([1.0, -2.0, 3.0])
    ours = vn.tensor(start.copy(), requires_grad=True)
    theirs = torch.tensor(start.copy(), requires_grad=True)
    opt = optim.Adam([ours], lr=0.1, amsgrad=True)
    topt = torch.optim.Adam([theirs], lr=0.1, amsgrad=True, foreach=False)
    for _ in range(4):
        opt.zero_grad()
        topt.zero_grad()
        ((ours * ours).sum()).backward()
        ((theirs * theirs).sum()).backward()
        opt.step()
        topt.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match="params"):
        optim.SGD([vn.tensor(start)], lr=0.1)  # no requires_grad: not something to optimize


def test_state_dict_through_json_string_indices():
    import json

    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2)
    opt.step()
    saved = opt.state_dict()
    text = json.dumps({"state": {i: {k: v.tolist() for k, v in s.items()} for i, s in saved["state"].items()},
                       "param_groups": saved["param_groups"]})
    other = optim.SGD([q], lr=0.5)
    other.load_state_dict(json.loads(text))
    np.testing.assert_array_equal(other.state[q]["momentum_buffer"], [1.0, 1.0])
    assert other.param_groups[0]["momentum"] == 0.9
