"""vanilla_nn: neural-network operations in plain NumPy, proven against PyTorch and TensorFlow.

``vanilla_nn.tensor`` / ``Tensor`` put arrays on the tape (``loss.backward()``), and every op of
``vanilla_nn.functional`` accepts them. ``vanilla_nn.gradcheck`` is the finite-difference checker function
(the module of the same name, ``vanilla_nn/gradcheck.py``, also holds its report types: ``from
vanilla_nn.gradcheck import GradcheckReport``).

The autograd names are imported on first use, so ``import vanilla_nn.oracles`` (the independent oracles)
loads none of the code they check.
"""

from importlib import metadata as _metadata
from typing import Any

from vanilla_nn.gradcheck import gradcheck

try:  # one source of truth: the version pip installed from pyproject.toml
    __version__: str = _metadata.version("vanilla-nn")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

_AUTOGRAD = ("Tensor", "tensor", "cat", "stack", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled")

__all__ = ["__version__", "autograd", *_AUTOGRAD, "gradcheck"]


def __getattr__(name: str) -> Any:
    if name == "autograd" or name in _AUTOGRAD:
        import importlib

        autograd = importlib.import_module("vanilla_nn.autograd")
        value = autograd if name == "autograd" else getattr(autograd, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vanilla_nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
