"""``Adam`` and ``AdamW`` (``torch.optim.Adam`` / ``AdamW``), with AMSGrad and decoupled weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer, _flag, _number

__all__ = ["Adam", "AdamW"]


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start + weight * (end - start)``, evaluated as PyTorch's CPU ``lerp`` does (in place on ``start``)."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
    return start


class Adam(Optimizer):
    """Adam, ``torch.optim.Adam`` (AdamW's rule with ``decoupled_weight_decay=True``); per step ``t`` from 1::

        g = -g                                                       (if maximize)
        p = p * (1 - lr * wd)  (decoupled)    or    g = g + wd * p   (otherwise)
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)  and use v_max for v                   (amsgrad)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    State per parameter (PyTorch's names): ``"step"`` (t), ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v) and
    ``"max_exp_avg_sq"`` (v_max, with amsgrad).

    Raises:
        TypeError: as :class:`SGD`, or ``betas`` is not a pair.
        ValueError: an empty ``params``, a negative ``lr``, ``eps`` or ``weight_decay``, or a beta outside
            ``[0, 1)``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.nn import Parameter
        >>> from vanilla_nn.optim import Adam
        >>> p = Parameter(np.array([1.0, 2.0]))
        >>> p.grad = np.array([0.5, -1.0])
        >>> opt = Adam([p], lr=0.1)
        >>> opt.step(); p.data                            # the first step moves each entry by lr * sign(g)
        array([0.9, 2.1])
        >>> sorted(opt.state_dict()["state"][0])
        ['exp_avg', 'exp_avg_sq', 'step']
    """

    state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _validate(self, group: dict[str, Any]) -> None:
        lr = _number(group["lr"], "lr")
        eps = _number(group["eps"], "eps")
        weight_decay = _number(group["weight_decay"], "weight_decay")
        for flag in ("amsgrad", "maximize", "decoupled_weight_decay"):
            _flag(group[flag], flag)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas={betas!r} must be a pair (beta1, beta2)")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: lr={lr} must be >= 0")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: eps={eps} must be >= 0")
        for index, beta in enumerate(betas):
            if not 0.0 <= _number(beta, f"betas[{index}]") < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: betas={tuple(betas)} must lie in "
                                 f"[0, 1)")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: weight_decay={weight_decay} must be >= 0")

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            lr, eps, weight_decay, amsgrad = group["lr"], group["eps"], group["weight_decay"], group["amsgrad"]
            beta1, beta2 = group["betas"]
            for param, grad in self._params_with_grad(group):
                state = self.state.setdefault(param, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param.data)
                    state["exp_avg_sq"] = np.zeros_like(param.data)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = np.zeros_like(param.data)
                state["step"] += 1
                step = state["step"]
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        param.data *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * param.data
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                _lerp(exp_avg, grad, 1 - beta1)
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * grad * grad
                step_size = lr / (1 - beta1**step)
                bias_correction2_sqrt = math.sqrt(1 - beta2**step)
                if amsgrad:
                    np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    denom = np.sqrt(state["max_exp_avg_sq"]) / bias_correction2_sqrt + eps
                else:
                    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
                param.data -= step_size * (exp_avg / denom)


class AdamW(Adam):
    """AdamW, ``torch.optim.AdamW``: Adam with decoupled weight decay ``p = p * (1 - lr * wd)``, wd 0.01."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
