"""Optimizers with PyTorch's exact update rules: ``SGD``, ``Adam``, ``AdamW``.

An optimizer holds parameter groups (a list of dicts with ``"params"`` and hyper-parameters, as in
``torch.optim``), updates ``Parameter.data`` in place in ``step()`` from ``Parameter.grad`` (parameters whose
``grad`` is None are skipped) and clears gradients in ``zero_grad()``. Per-parameter state (momentum buffers,
moment estimates) lives in ``optimizer.state[param]``.

Notation per step ``t`` (from 1): parameter ``p``, gradient ``g``, learning rate ``lr``, weight decay ``wd``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .nn.module import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _number(value: Any, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be a number")
    return float(value)


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start + weight * (end - start)``, evaluated as PyTorch's CPU ``lerp`` does (in place on ``start``)."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
    return start


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``; subclasses implement ``_validate`` and ``step``."""

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict[str, Any]) -> None:
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError("params must be an iterable of Parameters (e.g. model.parameters()) or of dicts, "
                            f"got a single {type(params).__name__}")
        self.defaults = defaults
        self._validate(defaults)
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _validate(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], **overrides}``; missing hyper-parameters come from the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"param_group must have a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for index, param in enumerate(params):
            if not isinstance(param, Parameter):
                raise TypeError(f"params[{index}] is a {type(param).__name__}; an optimizer can only optimize "
                                f"vanilla_nn.nn.Parameter objects (e.g. model.parameters())")
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) != len(params) or existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group (or twice in one)")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}, "params": params}
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"param_group has unknown option(s) {sorted(unknown)}; "
                             f"{type(self).__name__} takes {sorted(self.defaults)}")
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None, PyTorch 2's default, or to zeros)."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad[...] = 0

    def _params_with_grad(self, group: dict[str, Any]) -> Iterable[tuple[Parameter, np.ndarray]]:
        for param in group["params"]:
            if param.grad is None:
                continue
            if param.grad.shape != param.data.shape:
                raise ValueError(f"{param!r} has a gradient of shape {param.grad.shape}")
            yield param, param.grad.astype(param.data.dtype, copy=False)

    def step(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``::

        g = g + wd * p                                     (if wd)
        b = g  (t = 1),  b = momentum * b + (1 - dampening) * g  (t > 1)   (if momentum)
        g = g + momentum * b  (nesterov)  or  g = b
        p = p - lr * g
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _validate(self, group: dict[str, Any]) -> None:
        lr = _number(group["lr"], "lr")
        momentum = _number(group["momentum"], "momentum")
        dampening = _number(group["dampening"], "dampening")
        weight_decay = _number(group["weight_decay"], "weight_decay")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: lr={lr} must be >= 0")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: momentum={momentum} must be >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: weight_decay={weight_decay} must be >= 0")
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov=True requires momentum > 0 and dampening = 0, got momentum={momentum}, "
                             f"dampening={dampening}")

    def step(self) -> None:
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


class Adam(Optimizer):
    """Adam, ``torch.optim.Adam`` (and AdamW's rule when ``decoupled_weight_decay``)::

        p = p * (1 - lr * wd)  (AdamW)    or    g = g + wd * p  (Adam)
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)  and use v_max for v  (amsgrad)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad})

    def _validate(self, group: dict[str, Any]) -> None:
        lr = _number(group["lr"], "lr")
        eps = _number(group["eps"], "eps")
        weight_decay = _number(group["weight_decay"], "weight_decay")
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
        for group in self.param_groups:
            lr, eps, weight_decay, amsgrad = group["lr"], group["eps"], group["weight_decay"], group["amsgrad"]
            beta1, beta2 = group["betas"]
            for param, grad in self._params_with_grad(group):
                state = self.state.setdefault(param, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param.data)
                    state["exp_avg_sq"] = np.zeros_like(param.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(param.data)
                state["step"] += 1
                step = state["step"]
                if weight_decay != 0:
                    if self.decoupled_weight_decay:
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
    """AdamW, ``torch.optim.AdamW``: Adam with decoupled weight decay ``p = p * (1 - lr * wd)``."""

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
