"""Where the MPI tests find ``mpiexec``, and why they skip when they cannot run (shared by the MPI tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

MPIEXEC = Path(sys.executable).parent / "mpiexec"


def mpi_missing() -> str | None:
    """Why the MPI tests cannot run here, or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "the dist extra (mpi4py, mpich) is not installed: pip install 'vanilla-nn[dist]'"
    if not MPIEXEC.exists():
        return f"mpi4py is installed but {MPIEXEC} is not (the mpich wheel provides it)"
    return None


needs_mpi = pytest.mark.skipif(mpi_missing() is not None, reason=str(mpi_missing()))
