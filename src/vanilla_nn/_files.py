"""Reading files that may be hostile.

- :class:`CorruptFileError`: a file that is empty, truncated, corrupt, oversized, or not what the caller
  expects; a ``ValueError`` whose one-line message names the file and the problem. The command line maps it
  to exit status 1.
- :func:`allocate`: ``np.empty`` that turns a failed allocation into a :class:`CorruptFileError`.
- :func:`read_exact`: fill an array from a stream, checking that the stream has exactly that many bytes.
- :class:`BoundedGzip`: a gzip stream inflated only as far as asked (never more than the bytes requested),
  multi-member files and trailing zero padding allowed as in :mod:`gzip`.

Writing goes through :mod:`vanilla_nn._io` (the project's one atomic writer).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["CorruptFileError", "allocate", "read_exact", "BoundedGzip"]

_CHUNK = 1 << 16  # compressed bytes read from disk at a time


class CorruptFileError(ValueError):
    """A file that cannot be what the caller needs: empty, truncated, corrupt, oversized or mismatched.

    The message is one line that starts with the file's name.
    """


def allocate(path: Path | str, shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    """``np.empty(shape, dtype)``, or a :class:`CorruptFileError` naming ``path`` when memory runs out."""
    try:
        return np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError) as error:  # ValueError: "array is too big" past the address space
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        raise CorruptFileError(f"{path}: {what} declares shape {tuple(shape)} ({nbytes:,} bytes), more memory "
                               f"than is available") from error


def read_exact(path: Path | str, read_into: Callable[[memoryview], int], array: np.ndarray, what: str) -> None:
    """Fill ``array`` (C-contiguous) from ``read_into`` (a ``readinto``); a short read is truncation."""
    view = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
    done, total = 0, len(view)
    while done < total:
        count = read_into(view[done:])
        if not count:
            raise CorruptFileError(f"{path}: truncated: {what} needs {total:,} bytes, the file holds only {done:,}")
        done += count


class BoundedGzip:
    """Inflate a gzip file on demand: :meth:`readinto` produces at most ``len(buffer)`` bytes.

    Unlike :class:`gzip.GzipFile` (which reads ahead into a buffer), nothing is inflated beyond what is asked
    for, so a small file that inflates to gigabytes costs only what the caller reads. Several gzip members
    are one stream, as in :mod:`gzip`; zero bytes after the last member are ignored. Corruption and
    truncation raise :class:`CorruptFileError` naming the file.
    """

    def __init__(self, handle: IO[bytes], path: Path | str) -> None:
        self._handle, self._path = handle, path
        self._inflater = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed input not yet given to the inflater
        self._done = False

    def _error(self, problem: str) -> CorruptFileError:
        return CorruptFileError(f"{self._path}: {problem}; the file may be truncated or corrupt")

    def readinto(self, buffer: memoryview) -> int:
        """Inflate up to ``len(buffer)`` bytes into ``buffer``; 0 at the end of the last member."""
        wanted = len(buffer)
        while wanted and not self._done:
            if self._inflater.eof:
                rest = self._inflater.unused_data + self._pending
                self._pending = b""
                if not rest:
                    rest = self._handle.read(_CHUNK)
                if not rest.strip(b"\x00"):  # end of file, or only zero padding up to here
                    tail = self._handle.read(_CHUNK)
                    while tail and not tail.strip(b"\x00"):
                        tail = self._handle.read(_CHUNK)
                    if not tail:
                        self._done = True
                        break
                    rest = tail
                self._inflater = zlib.decompressobj(wbits=31)
                self._pending = rest
            data = self._inflater.unconsumed_tail or self._pending
            self._pending = b""
            if not data:
                data = self._handle.read(_CHUNK)
                if not data:
                    raise self._error("the gzip stream ends early")
            try:
                out = self._inflater.decompress(data, wanted)
            except zlib.error as error:
                raise self._error(f"not a valid gzip stream ({error})") from error
            if out:
                buffer[:len(out)] = out
                return len(out)
        return 0

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (fewer only at the end of the stream)."""
        out = bytearray(size)
        view, done = memoryview(out), 0
        while done < size:
            count = self.readinto(view[done:])
            if not count:
                break
            done += count
        return bytes(out[:done])


def describe(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about untrusted content."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
