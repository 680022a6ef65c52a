"""Learning-rate schedulers with ``torch.optim.lr_scheduler``'s exact rules.

A scheduler rewrites ``group["lr"]`` of every parameter group of its optimizer. Construction records
``group["initial_lr"]`` (the base rate ``base_lrs``) and makes the first step, to ``last_epoch = 0``; call
``scheduler.step()`` after each ``optimizer.step()``. Like PyTorch, each ``step()`` computes the next rate
from the current ``group["lr"]`` (the *chainable* form), so schedulers compose and rounding matches
PyTorch's bit for bit. ``get_last_lr()`` is the list of rates last set; ``state_dict()`` holds every
attribute but the optimizer, under PyTorch's names, so ``load_state_dict`` works both ways with PyTorch.

Notation: ``t = last_epoch`` (number of ``step()`` calls since construction), ``lr_t`` the rate after step
``t``, ``base`` the initial rate.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR"]


def _int(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int")
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be >= {minimum}")
    return int(value)


def _real(value: Any, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be a number")
    return value


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[float]:
    """One value per parameter group: a number repeated, or a list/tuple of one number per group."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{name}={value!r} has {len(value)} values, the optimizer has {count} parameter "
                             f"group(s)")
        return [_real(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return [_real(value, name)] * count


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, ``state_dict()``/``load_state_dict()``; subclasses set
    their options and implement ``get_lr()`` (the rates for the ``last_epoch`` just reached).

    ``last_epoch=-1`` starts a schedule; another value resumes one, and then every group must already have
    ``"initial_lr"`` (load the optimizer's state dict first).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a vanilla_nn.optim.Optimizer, got {type(optimizer).__name__}")
        last_epoch = _int(last_epoch, "last_epoch", -1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(f"last_epoch={last_epoch} resumes a schedule, but param_groups[{index}] has "
                                     f"no 'initial_lr'; load the optimizer's state dict first or use "
                                     f"last_epoch=-1")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self._get_lr_called_within_step = False  # PyTorch's key, kept so state dicts match
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for the current ``last_epoch`` (called by ``step`` after it advances the epoch)."""
        raise NotImplementedError

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch (or iteration) and set each group's ``"lr"`` to the scheduled value."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = self._current()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group as last set by this scheduler."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (PyTorch's keys); lists and dicts copied."""
        return {key: (type(value)(value) if isinstance(value, (list, dict)) else value)
                for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore attributes from a ``state_dict()`` of this scheduler type (ours or PyTorch's).

        Raises:
            TypeError: ``state_dict`` is not a mapping.
            ValueError: a key that this scheduler does not have.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        unknown = sorted(str(key) for key in state_dict if key == "optimizer" or key not in self.__dict__)
        if unknown:
            raise ValueError(f"state_dict has key(s) {unknown} that {type(self).__name__} does not have "
                             f"(it has {sorted(k for k in self.__dict__ if k != 'optimizer')})")
        for key, value in state_dict.items():
            if key == "milestones":  # a Counter, a {milestone: count} dict (keys may be strings) or a list
                items = value.items() if isinstance(value, Mapping) else Counter(value).items()
                value = Counter({int(milestone): int(count) for milestone, count in items})
            elif isinstance(value, (list, tuple)) and key in ("base_lrs", "_last_lr"):
                value = [float(v) for v in value]
            self.__dict__[key] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs: ``lr_t = lr_{t-1} * gamma`` when ``t > 0``
    and ``t % step_size == 0``, else ``lr_{t-1}`` (so ``lr_t = base * gamma^(t // step_size)``).

    Raises:
        TypeError: ``step_size`` not an int, ``gamma`` not a number, ``optimizer`` not an Optimizer.
        ValueError: ``step_size < 1``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.nn import Parameter
        >>> from vanilla_nn.optim import SGD
        >>> from vanilla_nn.optim.lr_scheduler import StepLR
        >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
        >>> scheduler = StepLR(opt, step_size=2, gamma=0.5)
        >>> rates = []
        >>> for _ in range(5):
        ...     opt.step(); scheduler.step(); rates += scheduler.get_last_lr()
        >>> rates
        [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = _int(step_size, "step_size", 1)
        self.gamma = _real(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch (by ``gamma^k`` at a milestone listed k times).

    Raises:
        TypeError: a milestone not an int, ``gamma`` not a number.
        ValueError: a negative milestone.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise TypeError(f"milestones={milestones!r} must be a list of ints")
        self.milestones = Counter(_int(m, "milestones[...]", 0) for m in milestones)
        self.gamma = _real(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base`` to ``eta_min`` over ``T_max`` epochs, then back up (period ``2 T_max``)::

        lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max))
        lr_t = lr_{t-1} + (base - eta_min) * (1 - cos(pi / T_max)) / 2    when (t - 1 - T_max) % (2 T_max) == 0

    which follows ``eta_min + (base - eta_min) * (1 + cos(pi t / T_max)) / 2`` (used directly on the first
    step of a resumed schedule), evaluated recursively exactly as PyTorch does.

    Raises:
        TypeError: ``T_max`` not an int, ``eta_min`` not a number.
        ValueError: ``T_max < 1``.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = _int(T_max, "T_max", 1)
        self.eta_min = _real(eta_min, "eta_min")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, period, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and t > 0:
            return [low + (base - low) * (1 + math.cos(t * math.pi / period)) / 2 for base in self.base_lrs]
        if (t - 1 - period) % (2 * period) == 0:
            return [lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                    for lr, base in zip(self._current(), self.base_lrs, strict=True)]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (lr - low) + low for lr in self._current()]


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor * base`` to ``end_factor * base`` over ``total_iters``
    epochs (then constant): ``lr_0 = start_factor * base`` and, for ``0 < t <= total_iters``,
    ``lr_t = lr_{t-1} * (1 + (end - start) / (total_iters * start + (t - 1) * (end - start)))``.

    Raises:
        TypeError: a factor not a number, ``total_iters`` not an int.
        ValueError: ``start_factor`` outside ``(0, 1]``, ``end_factor`` outside ``[0, 1]``, ``total_iters < 1``.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        start_factor, end_factor = _real(start_factor, "start_factor"), _real(end_factor, "end_factor")
        if not 0 < start_factor <= 1.0:
            raise ValueError(f"start_factor={start_factor!r} must be greater than 0 and at most 1")
        if not 0 <= end_factor <= 1.0:
            raise ValueError(f"end_factor={end_factor!r} must be between 0 and 1")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _int(total_iters, "total_iters", 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t == 0:
            return [lr * self.start_factor for lr in self._current()]
        if self._is_initial or t > self.total_iters:
            return self._current()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor + (t - 1) * change)
        return [lr * factor for lr in self._current()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm up from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (or ``epochs * steps_per_epoch``) steps, then anneal to ``initial_lr / final_div_factor``
    (``three_phase``: back to the initial rate first, then down). Momentum (SGD's ``momentum`` or Adam's
    ``beta1``) cycles the other way between ``max_momentum`` and ``base_momentum`` when ``cycle_momentum``.

    Phase ends: ``pct_start * total_steps - 1`` (and ``2 pct_start total_steps - 2`` with three phases),
    ``total_steps - 1``; within a phase ``pct = (t - start) / (end - start)`` and the value is
    ``end + (start - end) / 2 * (1 + cos(pi pct))`` (``"cos"``) or ``start + (end - start) pct`` (``"linear"``).
    Stepping past ``total_steps`` is an error. Groups gain ``initial_lr``, ``max_lr``, ``min_lr`` (and
    ``max_momentum``, ``base_momentum``), as in PyTorch.

    Raises:
        TypeError: an option of the wrong type (``pct_start`` must be a float, as in PyTorch).
        ValueError: no ``total_steps`` nor ``epochs`` and ``steps_per_epoch``, a count below 1, ``pct_start``
            outside ``[0, 1]``, an unknown ``anneal_strategy``, a per-group list of the wrong length, or
            ``cycle_momentum`` with an optimizer that has neither momentum nor betas.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85, max_momentum: float | list[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a vanilla_nn.optim.Optimizer, got {type(optimizer).__name__}")
        if total_steps is not None:
            self.total_steps = _int(total_steps, "total_steps", 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _int(epochs, "epochs", 1) * _int(steps_per_epoch, "steps_per_epoch", 1)
        else:
            raise ValueError(f"give total_steps, or epochs and steps_per_epoch (got total_steps={total_steps}, "
                             f"epochs={epochs}, steps_per_epoch={steps_per_epoch})")
        if not isinstance(pct_start, float):
            raise TypeError(f"pct_start={pct_start!r} must be a float between 0 and 1")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start={pct_start!r} must be between 0 and 1")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy={anneal_strategy!r} must be 'cos' or 'linear'")
        div_factor, final_div_factor = _real(div_factor, "div_factor"), _real(final_div_factor, "final_div_factor")
        phases = [(float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum",
                   "base_momentum")]
        if three_phase:
            phases += [(float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                        "max_momentum"),
                       (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            phases += [(self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        keys = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")
        self._schedule_phases = [dict(zip(keys, phase, strict=True)) for phase in phases]
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"cycle_momentum=True needs an optimizer with momentum or betas, "
                                 f"{type(optimizer).__name__} has neither")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if self.cycle_momentum:
                for group, high, low in zip(optimizer.param_groups, max_momentums, base_momentums, strict=True):
                    if self.use_beta1:
                        group["betas"] = (high, *group["betas"][1:])
                    else:
                        group["momentum"] = high
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"stepped {t} times, but total_steps={self.total_steps}")
        rates = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            begin = 0.0
            for index, phase in enumerate(self._schedule_phases):
                if t <= phase["end_step"] or index == last:
                    pct = (t - begin) / (phase["end_step"] - begin)
                    rates.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]],
                                                pct)
                        if self.use_beta1:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                begin = phase["end_step"]
        return rates
