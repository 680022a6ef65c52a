"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay (``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .optimizer import Optimizer, _flag, _number

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``; per step, gradient ``g`` of parameter ``p``::

        g = -g                                             (if maximize)
        g = g + wd * p                                     (if wd)
        b = g  (first step),  b = momentum * b + (1 - dampening) * g   (if momentum; state "momentum_buffer")
        g = g + momentum * b  (nesterov)  or  g = b
        p = p - lr * g

    Raises:
        TypeError: ``params`` is a single array or holds something other than ``Parameter``s, or a
            hyper-parameter is not a number (a flag not a bool).
        ValueError: an empty ``params``, a negative ``lr``, ``momentum`` or ``weight_decay``, or ``nesterov``
            without momentum (or with dampening).

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.nn import Parameter
        >>> from vanilla_nn.optim import SGD
        >>> p = Parameter(np.array([1.0, 2.0]))
        >>> p.grad = np.array([0.5, -1.0])
        >>> opt = SGD([p], lr=0.1)
        >>> opt.step(); p.data                            # p - lr * g
        array([0.95, 2.1 ])
        >>> opt.zero_grad(); p.grad is None
        True
        >>> opt.state_dict()["param_groups"][0]["params"]  # PyTorch's layout: parameters by index
        [0]
    """

    state_keys = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize})

    def _validate(self, group: dict[str, Any]) -> None:
        lr = _number(group["lr"], "lr")
        momentum = _number(group["momentum"], "momentum")
        dampening = _number(group["dampening"], "dampening")
        weight_decay = _number(group["weight_decay"], "weight_decay")
        nesterov = _flag(group["nesterov"], "nesterov")
        _flag(group["maximize"], "maximize")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: lr={lr} must be >= 0")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: momentum={momentum} must be >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: weight_decay={weight_decay} must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov=True requires momentum > 0 and dampening = 0, got momentum={momentum}, "
                             f"dampening={dampening}")

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for param, grad in self._params_with_grad(group):
                if weight_decay != 0:
                    grad = grad + weight_decay * param.data
                if momentum != 0:
                    state = self.state.setdefault(param, {})
                    buffer = state.get("momentum_buffer")
                    if buffer is None:
                        buffer = state["momentum_buffer"] = grad.copy()
                    else:
                        buffer *= momentum
                        buffer += (1 - dampening) * grad
                    grad = grad + momentum * buffer if nesterov else buffer
                param.data -= lr * grad
