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
# detection ops do not load and `import torchvision` stops with "operator torchvision::nms does not exist".
# benchmarks/_torchvision.py (shared with the network benchmark) declares the missing operator schemas (no
# kernels) and imports again. Tests only: the library never imports torchvision.
def import_torchvision():
    """``torchvision``, importable on the CPU build of torch; skips the test when torch or torchvision is not
    installed."""
    import importlib.util

    pytest.importorskip("torch")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (the test extra has it)")
    from benchmarks._torchvision import import_torchvision as shim

    return shim()


@pytest.fixture(scope="session")
def torchvision():
    """The ``torchvision`` module (see :func:`import_torchvision`)."""
    return import_torchvision()
