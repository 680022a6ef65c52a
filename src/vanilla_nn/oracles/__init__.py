"""Framework oracles: what PyTorch and TensorFlow compute for vanilla_nn's ops, forward and backward.

>>> from vanilla_nn.oracles import get_oracle
>>> torch_oracle = get_oracle("torch")                       # doctest: +SKIP
>>> result = torch_oracle.run("conv2d", [x, w, b], {"stride": 2}, grad_output=gy)  # doctest: +SKIP
>>> result.output, result.grads  # y and (grad_x, grad_w, grad_b)                # doctest: +SKIP

The frameworks are optional extras, imported only when an oracle is asked for: a missing one raises
:class:`OracleUnavailable` whose message names the extra to install. Options a framework lacks raise
:class:`NotSupportedByOracle` ("not supported by TensorFlow: ..."); callers report that check as skipped.
Used by the CLI (``vanilla-nn compare`` / ``verify``) and the tests, never by the library itself.
"""

from __future__ import annotations

import importlib
import importlib.util

from vanilla_nn.oracles.base import NotSupportedByOracle, Oracle, OracleResult, OracleUnavailable

__all__ = ["ORACLES", "NotSupportedByOracle", "Oracle", "OracleResult", "OracleUnavailable",
           "available_oracles", "get_oracle"]

# name -> (module, class, the package it needs, the extra that installs it)
ORACLES: dict[str, tuple[str, str, str, str]] = {
    "torch": ("vanilla_nn.oracles.torch_oracle", "TorchOracle", "torch", "torch"),
    "tensorflow": ("vanilla_nn.oracles.tf_oracle", "TensorFlowOracle", "tensorflow", "tensorflow"),
}
ALIASES = {"pytorch": "torch", "tf": "tensorflow"}

_instances: dict[str, Oracle] = {}


def get_oracle(name: str) -> Oracle:
    """The oracle called ``name`` ('torch' or 'tensorflow'), importing its framework on first use."""
    key = ALIASES.get(name, name)
    if key not in ORACLES:
        raise ValueError(f"oracle name={name!r} must be one of {sorted(ORACLES)}")
    if key not in _instances:
        module_name, class_name, package, extra = ORACLES[key]
        if importlib.util.find_spec(package) is None:
            raise OracleUnavailable(f"the {key} oracle needs {package}, which is not installed: "
                                    f"pip install 'vanilla-nn[{extra}]'")
        module = importlib.import_module(module_name)
        _instances[key] = getattr(module, class_name)()
    return _instances[key]


def available_oracles() -> list[str]:
    """Names of the oracles whose framework is installed (checked without importing it)."""
    return [name for name, (_, _, package, _) in ORACLES.items() if importlib.util.find_spec(package)]
