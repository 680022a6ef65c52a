"""``torchvision`` on the CPU build of torch, for the network benchmark and the tests (tests/conftest.py).

The torchvision wheel matching torch 2.13 is built against the CUDA torch; on the CPU build its compiled ops do
not load and ``import torchvision`` stops with "operator torchvision::nms does not exist". The model
definitions are pure Python and need none of those ops, so the missing operator schemas are declared (no
kernels) with ``torch.library`` and the import is retried. Benchmarks and tests only: the library never imports
torchvision.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
)
_library: list = []  # keeps the torch.library.Library alive (its definitions vanish with it)


def import_torchvision() -> ModuleType:
    """The ``torchvision`` module, declaring its missing operator schemas first when the plain import fails."""
    import torch

    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if "torchvision::" not in str(error) or _library:
            raise
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _library.append(library)
    return importlib.import_module("torchvision")
