"""Atomic writes for the benchmark's results: a temporary file in the same folder, renamed into place.

A reader (or an interrupted run) never sees a half-written ``bench.json``. Uses ``vanilla_nn._io`` when the
installed vanilla_nn has it, else the same few lines here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (permissions as the umask gives a new file)."""
    try:
        from vanilla_nn._io import atomic_write_bytes  # type: ignore[attr-defined]
    except ImportError:
        atomic_write_bytes = None
    if atomic_write_bytes is not None:
        atomic_write_bytes(path, data)
        return
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))

