"""Shared test helpers. ``tests/`` is on sys.path, so tests import ``oracle_torch`` and ``layouts`` directly."""
