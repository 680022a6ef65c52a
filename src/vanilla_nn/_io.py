"""Atomic file output: every file vanilla_nn writes goes through here.

A file is written to a temporary file in its own directory (``.NAME.XXXX.tmp.SUFFIX``), flushed and fsynced, given
the permissions a plain ``open(path, "w")`` would give (``0o666`` less the umask), and renamed over ``path``
with :func:`os.replace`; the directory is then fsynced. A reader sees the old file or the new one, never a
part. On any error or ``KeyboardInterrupt`` the temporary file is removed and ``path`` is untouched.

- :func:`atomic_path`: a context manager giving a temporary path for writers that want a file name
  (``np.savez``, safetensors, ``matplotlib``'s ``savefig``).
- :func:`atomic_open`: the same as an open file object.
- :func:`write_bytes` / :func:`write_text` / :func:`write_json`: one call each; JSON is strict
  (:func:`strict_json`: non-finite floats become ``null``, never ``NaN``/``Infinity``).
- :class:`FileSet`: several files committed as one set (weights in two formats, a checkpoint, plots): all
  are staged first, then renamed together with Ctrl-C held back, and a manifest listing each file's size and
  SHA-256 is written last; :func:`check_manifest` tells a reader whether the set on disk is complete and
  consistent.
- :func:`sigint_deferred`: hold back Ctrl-C for a short critical section, then deliver it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_open", "write_bytes", "write_text", "write_json", "strict_json",
           "FileSet", "check_manifest", "ManifestError", "sigint_deferred", "MANIFEST"]

MANIFEST = "manifest.json"


def _umask() -> int:
    """The process umask (read by setting and restoring it: POSIX has no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fault_point(label: str) -> None:
    """Test hook: deliver a real SIGINT to this process at the named point when the environment variable
    ``VANILLA_NN_FAULT_POINTS`` (comma-separated ``label`` or ``label#n``, the n-th time, from 1) names it.

    tests/test_interrupt.py uses it to interrupt ``train`` at exact places inside a save; unset, it costs a
    dictionary lookup.
    """
    wanted = os.environ.get("VANILLA_NN_FAULT_POINTS")
    if not wanted:
        return
    count = _FAULT_COUNTS[label] = _FAULT_COUNTS.get(label, 0) + 1
    if label in wanted.split(",") or f"{label}#{count}" in wanted.split(","):
        signal.raise_signal(signal.SIGINT)


_FAULT_COUNTS: dict[str, int] = {}


def _temp_name(path: Path) -> Path:
    """A new empty file ``.NAME.XXXXXXXX.tmp.SUFFIX`` beside ``path`` (the suffix kept for writers that look at
    it: ``np.save``, matplotlib, ``serialization.save``)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def _finish(temp: Path) -> None:
    """fsync ``temp`` and give it a normal file's permissions (mkstemp makes it 0600)."""
    os.chmod(temp, 0o666 & ~_umask())
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends normally it is renamed over ``path``.

    The temporary name keeps ``path``'s suffix, so writers that pick a format by suffix work unchanged.

    Examples:
        >>> import tempfile, pathlib
        >>> from vanilla_nn._io import atomic_path
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
        >>> with atomic_path(target) as temp:
        ...     _ = temp.write_text("hi")
        >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
        ('hi', ['hello.txt'])
    """
    path = Path(path)
    temp = _temp_name(path)
    try:
        yield temp
        _finish(temp)
        _fault_point(f"replace:{path.name}")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_directory(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` on a temporary file renamed over ``path`` when the block ends normally."""
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"mode={mode!r} must be 'w', 'wt' or 'wb' (atomic writes replace the whole file)")
    with atomic_path(path) as temp, open(temp, mode, **kwargs) as handle:
        yield handle


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def strict_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes ``NaN``/``Infinity``: non-finite floats become ``null``.

    NumPy scalars and arrays are converted to Python numbers and lists first.

    Examples:
        >>> from vanilla_nn._io import strict_json
        >>> strict_json({"loss": [0.5, float("nan"), float("inf")]})
        '{"loss": [0.5, null, null]}'
    """
    return json.dumps(_jsonable(value), allow_nan=False, **kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # NumPy scalars and arrays
        return _jsonable(value.tolist())
    return value


def write_json(path: str | os.PathLike[str], value: Any, indent: int | None = 1) -> Path:
    """Write ``value`` as strict JSON (:func:`strict_json`) to ``path`` atomically; returns ``path``."""
    return write_text(path, strict_json(value, indent=indent) + "\n")


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold back SIGINT inside the block and deliver it (as ``KeyboardInterrupt``) when the block ends.

    For short critical sections (renaming a set of staged files) that must not be split by Ctrl-C. Outside the
    main thread (where Python cannot install signal handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, Any]] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and previous != signal.SIG_IGN:
        if callable(previous):
            previous(*received[0])
        else:  # SIG_DFL, or a handler installed outside Python
            raise KeyboardInterrupt


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ManifestError(ValueError):
    """The files in a directory are not the complete, consistent set its manifest describes."""


class FileSet:
    """Write several files into ``directory`` as one consistent set.

    Each writer gets a staged temporary path (``add``); :meth:`commit` then, with Ctrl-C held back, renames every
    staged file into place, removes files of an earlier set that this one does not have (``owned`` names),
    and writes ``manifest.json`` last (name -> size and SHA-256, plus ``info``). Until the commit nothing in
    ``directory`` changes; if the process dies between the renames and the manifest (power loss, SIGKILL),
    :func:`check_manifest` reports the mismatch. Leaving the ``with`` block without a commit (an error, Ctrl-C)
    removes every staged file.

    Examples:
        >>> import tempfile, pathlib
        >>> from vanilla_nn._io import FileSet, check_manifest
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> with FileSet(out, info={"epoch": 1}) as files:
        ...     _ = files.add("a.txt").write_text("first")
        ...     _ = files.add("b.txt").write_text("second")
        ...     files.commit()
        >>> sorted(check_manifest(out)["files"]), check_manifest(out)["info"]
        (['a.txt', 'b.txt'], {'epoch': 1})
    """

    def __init__(self, directory: str | os.PathLike[str], info: Mapping[str, Any] | None = None,
                 owned: tuple[str, ...] = ()) -> None:
        self.directory = Path(directory)
        self.info = dict(info or {})
        self.owned = owned
        self._staged: dict[str, Path] = {}
        self._committed = False

    def __enter__(self) -> FileSet:
        return self

    def add(self, name: str) -> Path:
        """A temporary path to write ``name``'s content to (staged until :meth:`commit`)."""
        if name in self._staged or name == MANIFEST or Path(name).name != name:
            raise ValueError(f"file name {name!r} must be a plain, new name other than {MANIFEST}")
        self._staged[name] = _temp_name(self.directory / name)
        return self._staged[name]

    def write(self, name: str, writer: Callable[[Path], Any]) -> None:
        """``writer(temp_path)`` writes ``name``'s content; staged until :meth:`commit`."""
        writer(self.add(name))
        _fault_point(f"staged:{name}")

    def commit(self) -> None:
        """Rename the staged files into place and write the manifest, as one step Ctrl-C cannot split."""
        entries = {}
        for name, temp in self._staged.items():
            _finish(temp)
            entries[name] = {"bytes": temp.stat().st_size, "sha256": _sha256(temp)}
        manifest = strict_json({"files": entries, "info": self.info}, indent=1) + "\n"
        with sigint_deferred():
            _fault_point("commit")
            for name, temp in self._staged.items():
                os.replace(temp, self.directory / name)
                _fault_point(f"renamed:{name}")
            for name in self.owned:
                if name not in self._staged:
                    with contextlib.suppress(FileNotFoundError):
                        (self.directory / name).unlink()
            write_text(self.directory / MANIFEST, manifest)
            self._committed = True

    def __exit__(self, *exc: Any) -> None:
        if not self._committed:
            for temp in self._staged.values():
                with contextlib.suppress(OSError):
                    temp.unlink()


def check_manifest(directory: str | os.PathLike[str], verify: bool = True) -> dict[str, Any]:
    """The manifest of ``directory`` after checking that every file it lists is present with its recorded
    size (and SHA-256 when ``verify``); raises :class:`ManifestError` naming the first problem."""
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict) or not isinstance(manifest.get("info", {}), dict):
            raise TypeError("bad layout")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest (not a complete vanilla-nn run directory)") from None
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ManifestError(f"{path}: unreadable manifest ({error})") from None
    for name, entry in files.items():
        file = directory / name
        try:
            size = file.stat().st_size
        except OSError:
            raise ManifestError(f"{file}: listed in {MANIFEST} but missing (an interrupted save?)") from None
        if size != entry.get("bytes") or (verify and _sha256(file) != entry.get("sha256")):
            raise ManifestError(f"{file}: does not match {MANIFEST} (a save was interrupted; the set is mixed)")
    return manifest
