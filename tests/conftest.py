"""Shared test helpers. ``tests/`` is on sys.path, so tests import ``oracle_torch`` and ``layouts`` directly."""

import os

import pytest
from hypothesis import settings

# Reproducible CI: the same drawn configurations on every run (no example database, no randomness).
# HYPOTHESIS_PROFILE=random draws new configurations each run, for hunting bugs locally.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("random", database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


# -- torchvision on the CPU build of torch -----------------------------------------------------------------
# The torchvision wheel that matches torch 2.13 is built against the CUDA torch: on the CPU build its compiled
# detection ops (torchvision/_C.so) do not load, and `import torchvision` stops with "operator torchvision::nms
# does not exist" when it registers fake kernels for them. The model definitions (torchvision.models) are
# pure Python and need none of those ops, so the fixture below declares the missing operator schemas (no
# kernels) with torch.library and imports again. Tests only: the library never imports torchvision.
_TORCHVISION_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align": ("roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
                  "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor"),
}
_torchvision_library = []  # keeps the torch.library.Library alive (its definitions vanish with it)


def import_torchvision():
    """``torchvision``, importable on the CPU build of torch (declaring its missing operator schemas first);
    skips the test when torch or torchvision is not installed."""
    import importlib
    import sys

    import pytest

    torch = pytest.importorskip("torch")
    try:
        return importlib.import_module("torchvision")
    except ImportError:
        pytest.skip("torchvision is not installed (the test extra has it)")
    except RuntimeError as error:
        if "torchvision::" not in str(error) or _torchvision_library:
            raise
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package
    library = torch.library.Library("torchvision", "DEF")
    for schema in _TORCHVISION_SCHEMAS.values():
        library.define(schema)
    _torchvision_library.append(library)
    return importlib.import_module("torchvision")


@pytest.fixture(scope="session")
def torchvision():
    """The ``torchvision`` module (see :func:`import_torchvision`)."""
    return import_torchvision()
