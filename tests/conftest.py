"""Shared test helpers. ``tests/`` is on sys.path, so tests import ``oracle_torch`` and ``layouts`` directly."""

import os

from hypothesis import settings

# Reproducible CI: the same drawn configurations on every run (no example database, no randomness).
# HYPOTHESIS_PROFILE=random draws new configurations each run, for hunting bugs locally.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("random", database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
