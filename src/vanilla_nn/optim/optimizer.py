"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and PyTorch-layout state dicts.

An optimizer holds parameter groups (a list of dicts with ``"params"`` and hyper-parameters, as in
``torch.optim``), updates ``Parameter.data`` in place in ``step()`` from ``Parameter.grad`` (parameters whose
``grad`` is None are skipped) and clears gradients in ``zero_grad()``. Per-parameter state (momentum buffers,
moment estimates) lives in ``optimizer.state[param]``. Only ``.data`` and ``.grad`` of a parameter are used.

``state_dict()`` has ``torch.optim.Optimizer.state_dict``'s layout::

    {"state": {index: {"momentum_buffer" | "step" | "exp_avg" | "exp_avg_sq" | "max_exp_avg_sq": array}},
     "param_groups": [{"lr": ..., <hyper-parameters>..., "params": [index, ...]}, ...]}

with parameters numbered in group order from 0, so a PyTorch optimizer's state dict (its tensors converted
with ``np.asarray``, or given as they are) loads into the matching vanilla_nn optimizer and back.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..nn.module import Parameter

__all__ = ["Optimizer"]

# PyTorch group keys that choose a kernel (not the math); accepted in a loaded state dict and dropped.
_TORCH_IMPLEMENTATION_KEYS = ("foreach", "fused", "capturable", "differentiable")


def _number(value: Any, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be a number")
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be a bool")
    return bool(value)


def _is_parameter(value: Any) -> bool:
    """A ``Parameter``, or any leaf with an ndarray ``.data`` that requires a gradient (a Tensor leaf)."""
    if isinstance(value, Parameter):
        return True
    return (isinstance(getattr(value, "data", None), np.ndarray) and getattr(value, "requires_grad", False) is True
            and getattr(value, "grad_fn", None) is None)


class ParamState(MutableMapping):
    """``optimizer.state``: a dict keyed by parameter identity (works whatever ``==`` means for parameters)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, dict[str, Any]]] = {}

    def __getitem__(self, param: Any) -> dict[str, Any]:
        return self._entries[id(param)][1]

    def __setitem__(self, param: Any, value: dict[str, Any]) -> None:
        self._entries[id(param)] = (param, value)

    def __delitem__(self, param: Any) -> None:
        del self._entries[id(param)]

    def __contains__(self, param: object) -> bool:
        return id(param) in self._entries

    def __iter__(self) -> Iterator[Any]:
        return (param for param, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{param!r}: {sorted(value)}" for param, value in self._entries.values()) + "}"


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``, ``state_dict``/``load_state_dict``.

    Subclasses set ``state_keys`` (the names their per-parameter state may hold) and implement
    ``_validate(group)`` (check and raise on bad hyper-parameters) and ``step()``.
    """

    state_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict[str, Any]) -> None:
        if isinstance(params, (Parameter, np.ndarray)) or _is_parameter(params):
            raise TypeError("params must be an iterable of Parameters (e.g. model.parameters()) or of dicts, "
                            f"got a single {type(params).__name__}")
        self.defaults = defaults
        self._validate(defaults)
        self.state: ParamState = ParamState()
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
        """Add a group ``{"params": [...], **overrides}``; missing hyper-parameters come from the defaults.

        Raises:
            TypeError: ``param_group`` is not a dict or holds something other than parameters.
            ValueError: no ``"params"``, a parameter already in a group, an unknown or invalid option.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"param_group must have a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError("param_group['params'] is a set; use a list so that the parameter order is fixed")
        params = [params] if _is_parameter(params) else list(params)
        for index, param in enumerate(params):
            if not _is_parameter(param):
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
            grad = np.asarray(param.grad)
            if grad.shape != param.data.shape:
                raise ValueError(f"{param!r} has a gradient of shape {grad.shape}")
            grad = grad.astype(param.data.dtype, copy=False)
            yield param, (-grad if group.get("maximize", False) else grad)

    def step(self) -> None:
        raise NotImplementedError

    # -- state dicts ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout (see the module docstring): copies of the state arrays, ``"step"`` as a float32
        0-d array (PyTorch's ``tensor(step)``), groups with ``"params"`` as indices numbered from 0."""
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            indices = []
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
                indices.append(index_of[id(param)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
        state = {}
        for param, values in self.state.items():
            if id(param) in index_of:
                state[index_of[id(param)]] = {key: self._export_state_value(key, value)
                                              for key, value in values.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    @staticmethod
    def _export_state_value(key: str, value: Any) -> Any:
        if key == "step":
            return np.array(value, dtype=np.float32)
        return value.copy() if isinstance(value, np.ndarray) else value

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state dict of this layout (ours, or PyTorch's with tensors or arrays) into this optimizer.

        Parameters are matched by position: the i-th parameter of the saved groups is this optimizer's i-th.
        Hyper-parameters come from the saved groups (as PyTorch); state arrays are copied and cast to their
        parameter's dtype. PyTorch's kernel switches (``foreach``, ``fused``, ``capturable``,
        ``differentiable``) are dropped. Everything is checked before anything changes.

        Raises:
            TypeError: ``state_dict`` or one of its parts has the wrong type, or a hyper-parameter is invalid.
            ValueError: group counts or sizes differ, an index names no parameter, a state array's shape is
                not its parameter's, an unknown state name, or an invalid hyper-parameter.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping with 'state' and 'param_groups', got "
                            f"{type(state_dict).__name__}")
        missing = [key for key in ("state", "param_groups") if key not in state_dict]
        if missing:
            raise ValueError(f"state_dict is missing {missing}; got keys {sorted(map(str, state_dict))}")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in saved_groups):
            raise TypeError("state_dict['param_groups'] must be a list of dicts")
        if not isinstance(saved_state, Mapping):
            raise TypeError(f"state_dict['state'] must be a dict, got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"state_dict has {len(saved_groups)} parameter group(s), the optimizer has "
                             f"{len(self.param_groups)}")
        param_of: dict[Any, Any] = {}
        new_groups = []
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            indices = saved.get("params")
            if not isinstance(indices, (list, tuple)):
                raise ValueError(f"state_dict['param_groups'][{number}] has no 'params' list of indices")
            if len(indices) != len(group["params"]):
                raise ValueError(f"state_dict['param_groups'][{number}] has {len(indices)} parameter(s), the "
                                 f"optimizer's group {number} has {len(group['params'])}")
            param_of.update(zip(indices, group["params"]))
            new_group = {key: value for key, value in saved.items()
                         if key != "params" and key not in _TORCH_IMPLEMENTATION_KEYS}
            new_group = {**self.defaults, **new_group}
            for key, value in new_group.items():
                if isinstance(value, list) and key == "betas":
                    new_group[key] = tuple(value)
            self._validate(new_group)
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        new_state: list[tuple[Any, dict[str, Any]]] = []
        for index, values in saved_state.items():
            if isinstance(index, str) and index.isdigit() and index not in param_of:
                index = int(index)  # the state dict went through JSON, whose keys are strings
            if index not in param_of:
                raise ValueError(f"state_dict['state'] has an entry for parameter {index!r}, which is in no "
                                 f"parameter group (indices {sorted(param_of)})")
            if not isinstance(values, Mapping):
                raise TypeError(f"state_dict['state'][{index!r}] must be a dict, got {type(values).__name__}")
            param = param_of[index]
            new_state.append((param, {key: self._import_state_value(key, value, param, index)
                                      for key, value in values.items() if value is not None}))
        self.param_groups[:] = new_groups
        self.state = ParamState()
        for param, values in new_state:
            self.state[param] = values

    def _import_state_value(self, key: str, value: Any, param: Any, index: Any) -> Any:
        where = f"state_dict['state'][{index!r}][{key!r}]"
        if key not in self.state_keys:
            raise ValueError(f"{where}: {type(self).__name__} keeps no state named {key!r} "
                             f"(it keeps {list(self.state_keys)})")
        try:
            array = np.asarray(value)
        except Exception as error:  # e.g. a tensor that requires grad
            raise TypeError(f"{where}: cannot convert {type(value).__name__} to an array ({error})") from error
        if key == "step":
            if (array.shape != () or array.dtype.kind not in "iuf" or not np.isfinite(array) or array < 0
                    or float(array) != int(array)):
                raise ValueError(f"{where} must be a non-negative whole number, got {value!r}")
            return int(array)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{where} has dtype {array.dtype}; expected a floating-point array")
        if array.shape != param.data.shape:
            raise ValueError(f"{where} has shape {array.shape}, its parameter has shape {param.data.shape}")
        return np.array(array, dtype=param.data.dtype, copy=True)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])
