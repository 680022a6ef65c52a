"""Learning-rate schedulers against torch.optim.lr_scheduler: the same rates (and momenta) step by step, and
state dicts that move both ways mid-schedule."""

from __future__ import annotations

import numpy as np
import pytest

from vanilla_nn import optim
from vanilla_nn.nn import Parameter
from vanilla_nn.optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 30

# (scheduler name, keyword arguments, optimizer) — one table for every scheduler test.
CASES = [
    ("StepLR", dict(step_size=3), "SGD"),
    ("StepLR", dict(step_size=7, gamma=0.5), "Adam"),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11]), "SGD"),
    ("MultiStepLR", dict(milestones=[10, 3], gamma=0.3), "AdamW"),
    ("CosineAnnealingLR", dict(T_max=10), "SGD"),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001), "Adam"),
    ("CosineAnnealingLR", dict(T_max=30, eta_min=0.01), "SGD"),
    ("LinearLR", dict(), "SGD"),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=12), "Adam"),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=20), "SGD"),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS), "SGD"),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], total_steps=STEPS + 5, pct_start=0.25, anneal_strategy="linear"),
     "SGD"),
    ("OneCycleLR", dict(max_lr=0.3, epochs=5, steps_per_epoch=7, three_phase=True, div_factor=10.0), "Adam"),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, cycle_momentum=False, final_div_factor=100.0), "AdamW"),
]


def _optimizers(kind: str):
    """Ours and torch's, each with two parameter groups of different base rates."""
    ours = [Parameter(np.zeros(2)), Parameter(np.zeros(3))]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    extra = dict(momentum=0.9) if kind == "SGD" else {}

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}]

    return (getattr(optim, kind)(groups(ours), lr=0.1, **extra),
            getattr(torch.optim, kind)(groups(theirs), lr=0.1, **extra))


def _momenta(opt) -> list:
    return [group.get("momentum", group.get("betas")) for group in opt.param_groups]


def _advance(scheduler, tscheduler, opt, topt, steps: int) -> None:
    for step in range(steps):
        opt.step()
        topt.step()
        scheduler.step()
        tscheduler.step()
        ours, theirs = scheduler.get_last_lr(), tscheduler.get_last_lr()
        assert ours == theirs, f"step {step}: {ours} != {theirs}"  # the same float operations, bit for bit
        assert [g["lr"] for g in opt.param_groups] == theirs
        assert _momenta(opt) == [tuple(m) if isinstance(m, tuple) else m for m in _momenta(topt)]


@pytest.mark.parametrize(("name", "kwargs", "kind"), CASES, ids=str)
def test_rates_equal_torch(name, kwargs, kind):
    opt, topt = _optimizers(kind)
    scheduler = getattr(lr_scheduler, name)(opt, **kwargs)
    tscheduler = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert scheduler.get_last_lr() == tscheduler.get_last_lr()
    assert scheduler.last_epoch == tscheduler.last_epoch == 0
    _advance(scheduler, tscheduler, opt, topt, STEPS)
    assert sorted(scheduler.state_dict()) == sorted(tscheduler.state_dict())


@pytest.mark.parametrize(("name", "kwargs", "kind"), CASES, ids=str)
def test_state_dict_round_trips_with_torch(name, kwargs, kind):
    """Torch runs 12 steps; its optimizer and scheduler state load into fresh ours (and ours into a fresh
    torch pair); all three continue identically to the end."""
    opt, topt = _optimizers(kind)
    tscheduler = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(12):
        topt.step()
        tscheduler.step()
    resumed, _ = _optimizers(kind)
    scheduler = getattr(lr_scheduler, name)(resumed, **kwargs)
    resumed.load_state_dict(topt.state_dict())
    scheduler.load_state_dict(tscheduler.state_dict())
    assert scheduler.get_last_lr() == tscheduler.get_last_lr() and scheduler.last_epoch == 12
    _advance(scheduler, tscheduler, resumed, topt, 6)
    _, back = _optimizers(kind)
    tback = getattr(torch.optim.lr_scheduler, name)(back, **kwargs)
    back.load_state_dict(resumed.state_dict())
    tback.load_state_dict(scheduler.state_dict())
    _advance(scheduler, tback, resumed, back, STEPS - 18)


def test_resume_with_last_epoch_matches_torch():
    """last_epoch >= 0 (PyTorch's way to resume without a state dict) needs initial_lr in the groups."""
    opt, topt = _optimizers("SGD")
    for group in opt.param_groups + topt.param_groups:
        group["initial_lr"] = group["lr"]
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=9, last_epoch=4)
    tscheduler = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=9, last_epoch=4)
    assert scheduler.get_last_lr() == tscheduler.get_last_lr()
    _advance(scheduler, tscheduler, opt, topt, 20)
    fresh, _ = _optimizers("SGD")
    with pytest.raises(ValueError, match="initial_lr"):
        lr_scheduler.StepLR(fresh, step_size=2, last_epoch=3)


def test_one_cycle_past_total_steps_raises():
    opt, _ = _optimizers("SGD")
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        scheduler.step()


def _sgd():
    return optim.SGD([Parameter(np.zeros(2))], lr=0.1)


@pytest.mark.parametrize(("make", "exc", "word"), [
    (lambda: lr_scheduler.StepLR("opt", step_size=2), TypeError, "optimizer"),
    (lambda: lr_scheduler.StepLR(_sgd(), step_size=0), ValueError, "step_size"),
    (lambda: lr_scheduler.StepLR(_sgd(), step_size=2.0), TypeError, "step_size"),
    (lambda: lr_scheduler.StepLR(_sgd(), step_size=2, gamma="x"), TypeError, "gamma"),
    (lambda: lr_scheduler.MultiStepLR(_sgd(), milestones=3), TypeError, "milestones"),
    (lambda: lr_scheduler.MultiStepLR(_sgd(), milestones=[2, -1]), ValueError, "milestones"),
    (lambda: lr_scheduler.CosineAnnealingLR(_sgd(), T_max=0), ValueError, "T_max"),
    (lambda: lr_scheduler.LinearLR(_sgd(), start_factor=0.0), ValueError, "start_factor"),
    (lambda: lr_scheduler.LinearLR(_sgd(), end_factor=1.5), ValueError, "end_factor"),
    (lambda: lr_scheduler.LinearLR(_sgd(), total_iters=0), ValueError, "total_iters"),
    (lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=1.0), ValueError, "total_steps"),
    (lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=1.0, total_steps=0), ValueError, "total_steps"),
    (lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=1.0, total_steps=5, pct_start=1), TypeError, "pct_start"),
    (lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=1.0, total_steps=5, pct_start=1.5), ValueError, "pct_start"),
    (lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=[1.0, 2.0], total_steps=5), ValueError, "max_lr"),
    (lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy"),
    (lambda: lr_scheduler.StepLR(_sgd(), step_size=2).load_state_dict({"nonsense": 1}), ValueError, "nonsense"),
    (lambda: lr_scheduler.StepLR(_sgd(), step_size=2).load_state_dict([1]), TypeError, "state_dict"),
])
def test_bad_arguments(make, exc, word):
    with pytest.raises(exc) as info:
        make()
    assert word in str(info.value)


def test_state_dict_through_json():
    """A state dict written as JSON (string keys, lists for tuples) loads back to the same schedule."""
    import json

    opt, topt = _optimizers("SGD")
    scheduler = lr_scheduler.MultiStepLR(opt, milestones=[3, 6, 6])
    tscheduler = torch.optim.lr_scheduler.MultiStepLR(topt, milestones=[3, 6, 6])
    _advance(scheduler, tscheduler, opt, topt, 2)
    saved_opt = json.loads(json.dumps({**opt.state_dict(), "state": {}}))
    saved = json.loads(json.dumps({**scheduler.state_dict(), "milestones": dict(scheduler.milestones)}))
    fresh, _ = _optimizers("SGD")
    resumed = lr_scheduler.MultiStepLR(fresh, milestones=[1])
    fresh.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    assert resumed.milestones == scheduler.milestones
    _advance(resumed, tscheduler, fresh, topt, 8)
