"""Save and load state dicts as ``.safetensors`` or ``.npz``, reading hostile files safely; never unpickles.

Keys are PyTorch's (``"0.weight"``, ``"bn.running_mean"``...), so a ``.safetensors`` file written here loads
into the same architecture in PyTorch (``safetensors.torch.load_file``) and the other way round.

Both readers are written here with NumPy and the standard library alone, and they check before they read:

- **safetensors**: an 8-byte little-endian header length ``H``, ``H`` bytes of JSON
  ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``, then the raw
  little-endian data, offsets relative to its start. The header length is checked against the file size,
  the JSON's every entry (known dtype, non-negative shape, ``prod(shape) * itemsize == end - begin``,
  ranges inside the data and not overlapping, the data ending where the file ends) and the expected keys,
  shapes and dtypes, all before any tensor is read; then only the tensors returned are read.
- **npz**: a zip of ``<name>.npy`` members. Member names are checked against the expected keys, then each
  member's ``.npy`` header (dtype, shape, never an object dtype) against the expectations and against the
  member's declared uncompressed size, before its data is inflated - and no more than that size is.

Every problem with a file's content is a :class:`CorruptFileError` (a ``ValueError``) with a one-line message
naming the file.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._files import CorruptFileError, allocate, describe, read_exact
from .._io import atomic_open as atomic_write  # temp file beside the target, fsync, rename

__all__ = ["save", "load", "read_safetensors", "write_safetensors", "read_npz", "CorruptFileError"]

SUFFIXES = (".npz", ".safetensors")

# safetensors dtype name <-> little-endian NumPy dtype. BF16 has no NumPy dtype: it is widened to float32.
_ST_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "BF16": np.dtype("<u2"),
}
_ST_NAMES = {dtype.newbyteorder("="): name for name, dtype in _ST_DTYPES.items() if name != "BF16"}
_MAX_HEADER = 100 << 20  # the safetensors library's own limit on the JSON header (100 MiB)
_DEFLATE_RATIO = 1100  # deflate inflates at most ~1032:1; a member claiming more is lying
_NPY_MAX_HEADER = 1 << 16

Expectation = Mapping[str, Any]


# -- expectations ----------------------------------------------------------------------------------------

def _normalize_expected(expected: Any) -> dict[str, tuple[tuple[int, ...], np.dtype | None]] | None:
    """``{name: (shape, dtype or None)}`` from a Module, a state dict of arrays, or ``(shape, dtype)`` pairs."""
    if expected is None:
        return None
    from .module import Module

    if isinstance(expected, Module):
        expected = OrderedDict((key, array) for key, array, *_ in expected._state_items())
    if not isinstance(expected, Mapping):
        raise TypeError(f"expected={type(expected).__name__} must be a Module or a mapping of names to arrays or "
                        f"(shape, dtype) pairs")
    result: dict[str, tuple[tuple[int, ...], np.dtype | None]] = {}
    for key, value in expected.items():
        if not isinstance(key, str):
            raise TypeError(f"expected: key {key!r} must be a str")
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            result[key] = (tuple(int(n) for n in value.shape), None)  # any numeric dtype: cast on loading
            continue
        try:
            shape, dtype = value
            shape = tuple(int(n) for n in shape)
            dtype = None if dtype is None else np.dtype(dtype)
        except (TypeError, ValueError) as error:
            raise TypeError(f"expected[{key!r}]={value!r} must be an array or a (shape, dtype) pair") from error
        result[key] = (shape, dtype)
    return result


def _check_keys(path: Path, found: list[str], expected: dict | None, strict: bool) -> list[str]:
    """The keys to read, in the file's order; missing (and, with ``strict``, unexpected) keys are an error."""
    if expected is None:
        return found
    present = set(found)
    missing = [key for key in expected if key not in present]
    unexpected = [key for key in found if key not in expected]
    problems = []
    if missing:
        problems.append(f"missing key(s) {_list(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected key(s) {_list(unexpected)}")
    if problems:
        raise CorruptFileError(f"{path}: does not match the expected state dict: {'; '.join(problems)}")
    return [key for key in found if key in expected]


def _list(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(describe(k, 80) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_entry(path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype, expected: dict | None) -> None:
    if expected is None:
        return
    want_shape, want_dtype = expected[key]
    if shape != want_shape:
        raise CorruptFileError(f"{path}: {describe(key, 80)} has shape {shape} in the file, expected {want_shape}")
    if want_dtype is not None and dtype.newbyteorder("=") != want_dtype.newbyteorder("="):
        raise CorruptFileError(f"{path}: {describe(key, 80)} has dtype {dtype} in the file, expected {want_dtype}")
    if want_dtype is None and dtype.kind not in "fiub":
        raise CorruptFileError(f"{path}: {describe(key, 80)} has dtype {dtype}, not a numeric array")


# -- safetensors -----------------------------------------------------------------------------------------

def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {describe(duplicate)}")
    return dict(pairs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_safetensors_header(path: Path, handle: Any, size: int) -> tuple[dict[str, Any], dict[str, str], int]:
    """Read and check the header: ``({name: (dtype_name, shape, begin, end)}, metadata, data_start)``."""
    if size < 8:
        raise CorruptFileError(f"{path}: {size} bytes, too short for safetensors' 8-byte header length "
                               f"(empty or truncated)")
    (length,) = struct.unpack("<Q", handle.read(8))
    if length > size - 8:
        raise CorruptFileError(f"{path}: the header claims {length:,} bytes but the file has only {size - 8:,} "
                               f"after the length (truncated, or not a safetensors file)")
    if length > _MAX_HEADER:
        raise CorruptFileError(f"{path}: the header claims {length:,} bytes, more than safetensors' limit of "
                               f"{_MAX_HEADER:,}")
    raw = handle.read(length)
    if len(raw) != length:
        raise CorruptFileError(f"{path}: truncated header ({len(raw)} of {length} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_json_object)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CorruptFileError(f"{path}: the header is not valid JSON ({problem}); not a safetensors file?") \
            from error
    if not isinstance(header, dict):
        raise CorruptFileError(f"{path}: the header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise CorruptFileError(f"{path}: __metadata__ must map strings to strings, got {describe(metadata)}")
    data_size = size - 8 - length
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for key, info in header.items():
        name = describe(key, 80)
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CorruptFileError(f"{path}: entry {name} must be an object with exactly dtype, shape and "
                                   f"data_offsets, got {describe(info)}")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype_name not in _ST_DTYPES:
            raise CorruptFileError(f"{path}: entry {name} has dtype {describe(dtype_name)}; supported: "
                                   f"{', '.join(_ST_DTYPES)}")
        if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
            raise CorruptFileError(f"{path}: entry {name} has shape {describe(shape)}; expected a list of "
                                   f"non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(v) for v in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise CorruptFileError(f"{path}: entry {name} has data_offsets {describe(offsets)}; expected "
                                   f"[begin, end] with 0 <= begin <= end <= {data_size:,} (the data's size)")
        nbytes = math.prod(shape) * _ST_DTYPES[dtype_name].itemsize
        if nbytes != offsets[1] - offsets[0]:
            raise CorruptFileError(f"{path}: entry {name} ({dtype_name}, shape {tuple(shape)}) needs {nbytes:,} "
                                   f"bytes but data_offsets {offsets} span {offsets[1] - offsets[0]:,}")
        entries[key] = (dtype_name, tuple(shape), offsets[0], offsets[1])
    spans = sorted((begin, end, key) for key, (_, _, begin, end) in entries.items() if end > begin)
    for (_, end0, key0), (begin1, _, key1) in zip(spans, spans[1:]):
        if begin1 < end0:
            raise CorruptFileError(f"{path}: the data of {describe(key0, 80)} and {describe(key1, 80)} overlap")
    end = max((span[1] for span in spans), default=0)
    if end != data_size:
        raise CorruptFileError(f"{path}: {data_size - end:,} bytes after the last tensor's data (the file is "
                               f"padded, or its header is wrong)")
    return entries, metadata, 8 + length


def read_safetensors(path: str | Path, expected: Any = None, *, strict: bool = True
                     ) -> tuple[OrderedDict[str, np.ndarray], dict[str, str]]:
    """Read a ``.safetensors`` file: ``(tensors in the header's order, metadata)``; fresh native-order arrays.

    ``expected``: a Module, a state dict of arrays (shapes checked, any numeric dtype), or a mapping
    ``{name: (shape, dtype or None)}``. With it, missing keys, (with ``strict``) unexpected keys and wrong
    shapes or dtypes are an error before any data is read, and only the expected tensors are read. ``BF16``
    tensors are widened to float32.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CorruptFileError: anything wrong with the content; one line naming the file.
    """
    path = Path(path)
    wanted = _normalize_expected(expected)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        entries, metadata, data_start = _parse_safetensors_header(path, handle, size)
        keys = _check_keys(path, list(entries), wanted, strict)
        for key in keys:
            dtype_name, shape, _, _ = entries[key]
            dtype = np.dtype(np.float32) if dtype_name == "BF16" else _ST_DTYPES[dtype_name]
            _check_entry(path, key, shape, dtype, wanted)
        tensors: OrderedDict[str, np.ndarray] = OrderedDict()
        for key in keys:
            dtype_name, shape, begin, _ = entries[key]
            array = allocate(path, shape, _ST_DTYPES[dtype_name], f"tensor {describe(key, 80)}")
            handle.seek(data_start + begin)
            read_exact(path, handle.readinto, array, f"tensor {describe(key, 80)}")
            if dtype_name == "BF16":  # the top half of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[key] = array.astype(array.dtype.newbyteorder("="), copy=False)
    return tensors, metadata


def write_safetensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None
                      ) -> Path:
    """Write ``tensors`` (name -> array) and ``metadata`` (str -> str) as safetensors, atomically.

    Arrays keep their dtype (float16/32/64, signed and unsigned ints, bool) and are stored little-endian in
    C order, in the mapping's order; the header is padded with spaces to a multiple of 8 bytes.

    Raises:
        TypeError: a name or metadata entry is not a str, or an array's dtype has no safetensors name.
    """
    path = Path(path)
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    for key, value in tensors.items():
        if not isinstance(key, str) or key == "__metadata__":
            raise TypeError(f"tensor name {key!r} must be a str other than '__metadata__'")
        array = np.asarray(value)
        native = array.dtype.newbyteorder("=") if array.dtype.byteorder in "<>" else array.dtype
        if native not in _ST_NAMES:
            raise TypeError(f"tensors[{key!r}] has dtype {array.dtype}; safetensors stores "
                            f"{', '.join(str(d) for d in _ST_NAMES)}")
        arrays[key] = array
    metadata = {} if metadata is None else dict(metadata)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"metadata={describe(metadata)} must map str to str")
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for key, array in arrays.items():
        native = array.dtype.newbyteorder("=") if array.dtype.byteorder in "<>" else array.dtype
        header[key] = {"dtype": _ST_NAMES[native], "shape": list(array.shape),
                       "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with atomic_write(path) as handle:
        handle.write(struct.pack("<Q", len(text)))
        handle.write(text)
        for array in arrays.values():
            little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            handle.write(memoryview(little.reshape(-1)).cast("B") if little.size else b"")
    return path


# -- npz -------------------------------------------------------------------------------------------------

def _npy_header(path: Path, member: zipfile.ZipInfo, stream: Any) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Parse one member's ``.npy`` header: ``(shape, fortran_order, dtype, header_bytes)``; never pickles."""
    name = describe(member.filename, 80)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream, max_header_size=_NPY_MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream, max_header_size=_NPY_MAX_HEADER)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CorruptFileError(f"{path}: member {name} has no valid .npy header ({problem})") from error
    if dtype.hasobject:
        raise CorruptFileError(f"{path}: member {name} holds Python objects (dtype {dtype}); vanilla_nn never "
                               f"unpickles")
    if dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype is not None:
        raise CorruptFileError(f"{path}: member {name} has dtype {dtype}, not a plain numeric array")
    return tuple(shape), fortran, dtype, stream.tell()


def read_npz(path: str | Path, expected: Any = None, *, strict: bool = True) -> OrderedDict[str, np.ndarray]:
    """Read a ``.npz`` of numeric arrays (``np.savez``/``np.savez_compressed``) without ever unpickling.

    Member names are checked first (``<key>.npy`` only, no duplicates; against ``expected`` as in
    :func:`read_safetensors`), then each member's ``.npy`` header against the expectation and against the
    member's declared uncompressed size, before its data is inflated; no member is inflated past that size.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CorruptFileError: anything wrong with the content; one line naming the file.
    """
    path = Path(path)
    wanted = _normalize_expected(expected)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise CorruptFileError(f"{path}: the file is empty")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise CorruptFileError(f"{path}: not a readable .npz (zip) file ({error}); it may be truncated or "
                               f"corrupt") from error
    with archive:
        members = archive.infolist()
        names = [m.filename for m in members]
        if "archive/data.pkl" in names or any(n.endswith("/data.pkl") for n in names):
            raise CorruptFileError(f"{path}: this is a PyTorch checkpoint (pickle), not an .npz; convert it "
                                   f"with `vanilla-nn convert {path.name} OUT.safetensors`")
        bad = [n for n in names if not n.endswith(".npy")]
        if bad:
            raise CorruptFileError(f"{path}: member(s) {_list(bad)} are not .npy arrays")
        keys = [n[:-4] for n in names]
        if len(set(keys)) != len(keys):
            duplicate = next(k for k in keys if keys.count(k) > 1)
            raise CorruptFileError(f"{path}: member {describe(duplicate + '.npy', 80)} appears twice")
        chosen = set(_check_keys(path, keys, wanted, strict))
        result: OrderedDict[str, np.ndarray] = OrderedDict()
        for member, key in zip(members, keys):
            if key in chosen:
                result[key] = _read_member(path, archive, member, key, size, wanted)
    return result


def _read_member(path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo, key: str, size: int,
                 wanted: dict | None) -> np.ndarray:
    name = describe(member.filename, 80)
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CorruptFileError(f"{path}: member {name} uses zip compression method {member.compress_type}; "
                               f"only stored and deflated members are read")
    if member.flag_bits & 0x1:
        raise CorruptFileError(f"{path}: member {name} is encrypted")
    if member.header_offset + member.compress_size > size:
        raise CorruptFileError(f"{path}: member {name} runs past the end of the file (truncated)")
    limit = member.compress_size if member.compress_type == zipfile.ZIP_STORED else \
        member.compress_size * _DEFLATE_RATIO + 1024
    if member.file_size > limit:
        raise CorruptFileError(f"{path}: member {name} claims {member.file_size:,} bytes from "
                               f"{member.compress_size:,} compressed, more than the format can hold")
    try:
        stream = archive.open(member)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise CorruptFileError(f"{path}: member {name} cannot be opened ({error})") from error
    with stream:
        shape, fortran, dtype, header_bytes = _npy_header(path, member, stream)
        _check_entry(path, key, shape, dtype, wanted)
        nbytes = math.prod(shape) * dtype.itemsize
        if header_bytes + nbytes != member.file_size:
            raise CorruptFileError(f"{path}: member {name}'s header says {dtype} {shape} ({nbytes:,} bytes) but "
                                   f"the member holds {member.file_size - header_bytes:,} bytes of data")
        order_shape = shape[::-1] if fortran else shape
        array = allocate(path, order_shape, dtype, f"member {name}")
        try:
            read_exact(path, stream.readinto, array, f"member {name}")
            stream.read(1)  # reach the end of the member: zipfile checks its CRC there
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CorruptFileError(f"{path}: member {name} is corrupt ({problem})") from error
    if fortran:
        array = array.T
    return array.astype(dtype.newbyteorder("="), order="C", copy=False)  # 0-d stays 0-d


# -- the state-dict API ----------------------------------------------------------------------------------

def _format(path: Path) -> str:
    """``"npz"`` or ``"safetensors"``: the suffix when it is one of those, else the file's first bytes."""
    if path.suffix in SUFFIXES:
        return path.suffix[1:]
    with open(path, "rb") as handle:
        head = handle.read(9)
    if head[:2] == b"PK":
        return "npz"
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    raise CorruptFileError(f"{path}: neither a .npz (zip) nor a .safetensors file (by its suffix or its first "
                           f"bytes); a PyTorch .pth/.pt file needs `vanilla-nn convert` first")


def load(path: str | Path, expected: Any = None, *, strict: bool = True) -> OrderedDict[str, np.ndarray]:
    """Read a state dict from ``.safetensors`` or ``.npz`` (by suffix, else by content); never unpickles.

    ``expected`` (a Module, a state dict, or ``{name: (shape, dtype or None)}``) is checked before any data
    is read; see :func:`read_safetensors`. The result goes straight into ``Module.load_state_dict``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CorruptFileError: the file is empty, truncated, corrupt, oversized or does not match ``expected``.

    Examples:
        >>> import numpy as np, tempfile, pathlib
        >>> from vanilla_nn import nn
        >>> model = nn.Linear(3, 2, rng=0)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "linear.safetensors"
        >>> _ = nn.save(model.state_dict(), path)
        >>> state = nn.load(path, expected=model)
        >>> list(state), state["weight"].shape
        (['weight', 'bias'], (2, 3))
        >>> nn.Linear(3, 2).load_state_dict(state)
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if _format(path) == "npz":
        return read_npz(path, expected, strict=strict)
    return read_safetensors(path, expected, strict=strict)[0]


def _check_state_dict(state_dict: Any) -> OrderedDict[str, np.ndarray]:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"state_dict key {key!r} must be a str")
        # np.ascontiguousarray would turn 0-d arrays (num_batches_tracked) into 1-d ones.
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"state_dict[{key!r}] has dtype {array.dtype}; only numeric arrays are saved")
        arrays[key] = np.array(array, dtype=array.dtype.newbyteorder("="), order="C")
    return arrays


def save(state_dict: Mapping[str, Any], path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``state_dict`` (name -> array) to ``path`` atomically; the suffix picks the format.

    ``.safetensors`` keeps ``metadata`` (str -> str) in its header; ``.npz`` has no place for it.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"path={str(path)!r}: a weights file must end in .npz or .safetensors")
    arrays = _check_state_dict(state_dict)
    if path.suffix == ".safetensors":
        return write_safetensors(path, arrays, metadata)
    if metadata:
        raise ValueError(f"path={str(path)!r}: metadata can only be stored in a .safetensors file")
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():  # what np.savez writes, without its keyword-name clashes
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return path
