"""``Parameter``, ``Module`` and ``Sequential``: the stateful shell around the pure functions.

A ``Module`` registers its ``Parameter``s, buffers (e.g. running statistics) and child modules in the order
they are assigned, exactly as ``torch.nn.Module`` does, so ``parameters()`` comes out in PyTorch's order and
``state_dict()`` uses PyTorch's keys (``"0.weight"``, ``"bn.running_mean"``, ``"bn.num_batches_tracked"``).

Calling a module runs ``forward`` and caches what its backward needs; ``module.backward(grad_output)``
returns the gradient with respect to the input and *adds* the parameter gradients into ``Parameter.grad``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..autograd.engine import is_grad_enabled
from ..autograd.function import FunctionalCall
from ..autograd.tensor import Tensor
from ..functional._args import FLOAT_DTYPES

__all__ = ["Parameter", "Module", "Sequential", "IncompatibleKeys"]


def check_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """A layer's parameter dtype: float32 (the default, as PyTorch) or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"{name}={dtype!r} is not a NumPy dtype; use np.float32 or np.float64") from error
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"{name}={dtype!r}: parameters must be float32 or float64")
    return resolved


class Parameter(Tensor):
    """A trainable leaf Tensor: ``data`` (updated in place by optimizers), ``grad`` (None until a backward).

    ``requires_grad`` is True: passed to a functional op or a layer on the tape, its gradient is added into
    ``grad`` by ``loss.backward()``; on the explicit path the layers add into it themselves.
    """

    __slots__ = ()
    is_parameter = True

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        array = data.data if isinstance(data, Tensor) else np.asarray(data)
        if array.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Parameter data has dtype {array.dtype}; use float32 or float64")
        super().__init__(array, requires_grad=requires_grad)

    def accumulate_grad(self, grad: np.ndarray) -> None:
        """``self.grad += grad`` (a fresh copy in the parameter's dtype when there is no gradient yet)."""
        self._accumulate_grad(np.asarray(grad))

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


@dataclass
class ExplicitState:
    """A layer's explicit-path state: what its last forward kept for ``backward``, and how it is being used.

    ``replaced_unused``: this forward replaced a state no backward had used (the module was called twice in a
    row); ``backward_calls``: backwards served so far.
    """

    state: Any
    replaced_unused: bool
    backward_calls: int = 0


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer: registration, traversal, train/eval, gradients and state dicts."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        if name == "_cache":  # a layer's explicit-path state: kept (and guarded) by _save
            self._save(value)
            return
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r} "
                                f"(a Parameter or None is required)")
            params[name] = None
        elif name in buffers:
            buffers[name] = None if value is None else np.asarray(value)
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to child module {name!r}")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails.
        for store in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(store)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """A non-trainable array that belongs in the state dict (e.g. BatchNorm's running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if value is None else np.asarray(value)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        self._modules[name] = module

    # -- traversal --------------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module then its descendants, depth first, each once."""
        seen: set[int] = set()

        def walk(module: Module, path: str) -> Iterator[tuple[str, Module]]:
            if id(module) in seen:
                return
            seen.add(id(module))
            yield path, module
            for name, child in module.named_children():
                yield from walk(child, f"{path}.{name}" if path else name)

        yield from walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for path, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{path}.{name}" if path else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` in PyTorch's order: each module's own parameters, then its children's."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # -- modes and gradients ----------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode={mode!r}): mode must be a bool")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, as PyTorch 2 does, or to zeros)."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    # -- state dicts ------------------------------------------------------------------------------------
    def _state_items(self) -> Iterator[tuple[str, np.ndarray, Module, str, bool]]:
        """``(key, array, owner, attribute, is_parameter)`` in PyTorch's state-dict order."""
        for path, module in self.named_modules():
            for name, param in module._parameters.items():
                if param is not None:
                    yield (f"{path}.{name}" if path else name), param.data, module, name, True
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{path}.{name}" if path else name), buffer, module, name, False

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer under PyTorch's key names."""
        return OrderedDict((key, array.copy()) for key, array, *_ in self._state_items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers (cast to their dtypes); torch tensors work too.

        With ``strict`` (the default) missing or unexpected keys are an error. A shape mismatch is always an
        error. All problems are collected and reported in one ``ValueError`` before anything is changed.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
        items = list(self._state_items())
        expected = [key for key, *_ in items]
        missing = [key for key in expected if key not in state_dict]
        unexpected = [key for key in state_dict if key not in set(expected)]
        problems: list[str] = []
        if strict and missing:
            problems.append(f"missing key(s): {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected key(s): {', '.join(map(str, unexpected))}")
        values: dict[str, np.ndarray] = {}
        for key, array, *_ in items:
            if key not in state_dict:
                continue
            try:
                value = np.asarray(state_dict[key])
            except Exception as error:  # e.g. a torch tensor that requires grad
                problems.append(f"{key}: cannot convert {type(state_dict[key]).__name__} to an array ({error})")
                continue
            if value.dtype.kind not in "fiub":
                problems.append(f"{key}: dtype {value.dtype} is not numeric")
            elif value.shape != array.shape:
                problems.append(f"{key}: shape {value.shape} in the state dict, {array.shape} in the model")
            else:
                values[key] = value
        if problems:
            raise ValueError(f"error(s) loading state_dict into {type(self).__name__}: " + "; ".join(problems))
        for key, array, module, name, is_param in items:
            if key not in values:
                continue
            new = np.array(values[key], dtype=array.dtype, copy=True)
            if is_param:
                module._parameters[name].data = new
            else:
                module._buffers[name] = new
        return IncompatibleKeys(missing, unexpected)

    # -- running ----------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def _save(self, state: Any) -> None:
        """Keep what this call's explicit ``backward`` needs. Nothing is kept under ``no_grad()``, nor for a
        call on the tape (a Tensor input: there the functional op keeps its own state in its node)."""
        if state is None:
            object.__setattr__(self, "_cache", None)
            return
        first = state.args[0] if isinstance(state, FunctionalCall) else state
        first = first[0] if isinstance(first, tuple) and first else first
        previous = self.__dict__.get("_cache")
        discarded = previous is not None and previous.backward_calls == 0
        keep = is_grad_enabled() and not isinstance(first, Tensor)
        object.__setattr__(self, "_cache", ExplicitState(state, discarded) if keep else None)

    def _saved(self) -> Any:
        """What the last forward kept, for this backward; a clear error when it cannot be the right state.

        The explicit path keeps one call's state. A module called again before the previous call's state
        was used (the same ReLU twice in one pass) keeps only the last call's: its first backward is right,
        and a second one raises instead of returning the gradient of the wrong call.
        """
        cache: ExplicitState | None = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a forward pass (or after a forward "
                               f"under no_grad(), which keeps no state)")
        if cache.backward_calls and cache.replaced_unused:
            raise RuntimeError(
                f"{type(self).__name__}.backward: this module was called more than once before its backward, and "
                f"the explicit path keeps only the last call's state, already used by a backward; the gradient "
                f"of the earlier call cannot be computed by hand. Call the model with a vanilla_nn.tensor input "
                f"and use loss.backward() (the tape keeps every call's state), or use one module per call.")
        cache.backward_calls += 1
        return cache.state

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; ``backward`` runs their backwards in reverse. Keys are ``"0"``, ``"1"``, ...

    Pass the modules, or one ``OrderedDict`` of named modules.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=1))
        >>> list(model.state_dict())                     # PyTorch's keys: the ReLU has no parameters
        ['0.weight', '0.bias', '2.weight', '2.bias']
        >>> y = model(np.ones((5, 4), dtype=np.float32))
        >>> y.shape, model.backward(np.ones_like(y)).shape
        ((5, 2), (5, 4))
        >>> model.zero_grad(); model[0].weight.grad is None
        True
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Module:
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(modules[index]))
        return modules[index][1]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input: np.ndarray) -> np.ndarray:
        """The modules in order. Without gradients, a conv -> eval-mode batch norm (-> ReLU/ReLU6) runs as one
        convolution with the batch norm folded in (:mod:`vanilla_nn.nn.fusion`)."""
        if not is_grad_enabled():
            from .fusion import sequential_forward  # fusion imports the layers, which import this module

            return sequential_forward(list(self), input)
        for module in self:
            input = module(input)
        return input

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for module in reversed(list(self)):
            grad_output = module.backward(grad_output)
        return grad_output
