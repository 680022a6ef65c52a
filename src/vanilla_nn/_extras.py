"""Optional dependencies: import them on first use, or fail with the extra to install.

The library needs only NumPy. Plots, progress bars, datasets, safetensors and the oracles come with
extras (``pip install 'vanilla-nn[cli]'`` ...); a missing one raises :class:`MissingExtra`, whose message
names it, and the ``vanilla-nn`` command prints that message as one line instead of a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def import_optional(module: str, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``, or :class:`MissingExtra` saying what needs it and what to install.

    ``package``: the distribution's name where it differs from the module's (``scikit-learn`` for ``sklearn``).
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        package = package or module.split(".")[0]
        raise MissingExtra(f"{purpose} needs {package}, which is not installed: "
                           f"pip install 'vanilla-nn[{extra}]'", name=package) from error
