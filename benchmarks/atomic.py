"""Atomic writes for the benchmark's results, through the project's one writer (:mod:`vanilla_nn._io`).

A reader (or an interrupted run) never sees a half-written ``bench.json``.
"""

from __future__ import annotations

from pathlib import Path

from vanilla_nn import _io


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed into place."""
    _io.write_bytes(path, data)


def write_text(path: Path, text: str) -> None:
    _io.write_text(path, text)
