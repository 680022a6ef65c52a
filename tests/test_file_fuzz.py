"""Issue 11 part 4, bounded reads: corrupt, truncated, oversized and mismatched files of every format vanilla_nn
reads (.npz, .safetensors, checkpoints = safetensors with metadata, IDX raw and .gz) each give one
CorruptFileError (a ValueError) whose one-line message names the file, within a memory limit.

All files are built here (including a 2 MiB .gz that inflates to 2 GiB and a 3 MiB .npz whose unknown member
inflates to 3 GiB), then loaded in ONE subprocess under ``RLIMIT_AS = 1 GiB`` that imports only NumPy and
vanilla_nn (torch would need more address space): a loader that inflated or allocated what a file claims
would die with MemoryError there, and its peak resident size is checked too.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

resource = pytest.importorskip("resource")  # POSIX only

LIMIT = 1 << 30  # address space of the subprocess
MAX_RSS = 400 << 20  # its peak resident size must stay below this
MIB = 1 << 20

# -- building blocks -----------------------------------------------------------------------------------------


def _deflate_parts() -> tuple[bytes, bytes]:
    """One MiB of zeros as a raw deflate block ended by a full flush (no reference to earlier data, so it
    inflates the same anywhere in a stream), and the stream's final empty block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH), compressor.flush()


def _zeros_deflate(n_mib: int) -> bytes:
    """A raw deflate stream of ``n_mib`` MiB of zeros: the one-MiB block repeated, so a 3 GiB bomb costs
    milliseconds to build."""
    block, tail = _deflate_parts()
    return block * n_mib + tail


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip by hand: ``(name, data, method, declared uncompressed size, crc)`` per member, no zip64."""
    body, directory = io.BytesIO(), io.BytesIO()
    for name, payload, method, size, crc in members:
        offset = body.tell()
        encoded = name.encode()
        fields = (20, 0, method, 0, 0x21, crc, len(payload), size, len(encoded))
        body.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + encoded + payload)
        directory.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, offset)
                        + encoded)
    count, start, size = len(members), body.tell(), directory.tell()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0)
    return body.getvalue() + directory.getvalue() + end


def _npy(array: np.ndarray | None = None, header: dict | None = None, data: bytes | None = None) -> bytes:
    """A .npy file: ``array``'s, or a hand-written ``header`` followed by ``data``."""
    buffer = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + (data or b"")


def _npz(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def _safetensors(header: object, data: bytes = b"", length: int | None = None, raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def _idx(shape: tuple[int, ...], data: bytes | None = None, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + (bytes(int(np.prod(shape))) if data is None else data)


GOOD_STATE = {"conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "conv.bias": np.ones(2)}
EXPECTED = {key: [list(value.shape), None] for key, value in GOOD_STATE.items()}


def _good_npz() -> bytes:
    return _npz({f"{k}.npy": _npy(v) for k, v in GOOD_STATE.items()})


def _good_safetensors(metadata: dict | None = None) -> bytes:
    header: dict = {"__metadata__": metadata} if metadata else {}
    offset, data = 0, b""
    for key, value in GOOD_STATE.items():
        raw = value.astype(value.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": {"float32": "F32", "float64": "F64"}[value.dtype.name], "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        offset, data = offset + len(raw), data + raw
    return _safetensors(header, data)


def _flip(blob: bytes, position: int) -> bytes:
    return blob[:position] + bytes([blob[position] ^ 0xFF]) + blob[position + 1:]


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)) -> dict:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def _bomb_npz() -> bytes:
    """3 MiB: one expected member, then 'evil.npy' whose deflate stream really inflates to 3 GiB of zeros."""
    good = _npy(GOOD_STATE["conv.bias"])
    return _zip([("conv.bias.npy", good, 0, len(good), zlib.crc32(good)),
                 ("evil.npy", _zeros_deflate(3072), 8, 3072 * MIB, 0)])


def _bomb_gz(declared: tuple[int, ...]) -> bytes:
    """2 MiB of gzip members that inflate to an IDX header for ``declared`` and 2 GiB of zeros."""
    member = gzip.compress(bytes(MIB), 9, mtime=0)
    return gzip.compress(_idx(declared, b""), 9, mtime=0) + member * 2048


def _huge_header_npz(declared_size: int) -> bytes:
    """A member whose .npy header claims 800 MB of float64, the zip declaring ``declared_size`` bytes."""
    npy = _npy(header={"descr": "<f8", "fortran_order": False, "shape": (100_000_000,)}, data=bytes(64))
    squeezed = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = squeezed.compress(npy) + squeezed.flush()
    return _zip([("conv.bias.npy", payload, 8, declared_size, zlib.crc32(npy))])


# (id, file name, content, loader, loader options, words the message must contain)
# loaders: "load" nn.load(path, expected=...), "checkpoint" read_safetensors, "idx" read_idx, "mnist" load_mnist
CASES: list[tuple[str, str, bytes | dict[str, bytes], str, dict, str]] = [
    # --- .npz ---------------------------------------------------------------------------------------------
    ("npz-empty", "w.npz", b"", "load", {}, "empty"),
    ("npz-garbage", "w.npz", b"this is not a zip file at all" * 10, "load", {}, "not a readable .npz"),
    ("npz-truncated-half", "w.npz", _good_npz()[:len(_good_npz()) // 2], "load", {}, "not a readable .npz"),
    ("npz-truncated-tail", "w.npz", _good_npz()[:-10], "load", {}, "not a readable .npz"),
    ("npz-crc", "w.npz", _flip(_good_npz(), 140), "load", {}, "Bad CRC-32"),
    ("npz-deflate-corrupt", "w.npz",
     _flip(_npz({f"{k}.npy": _npy(v) for k, v in GOOD_STATE.items()}, zipfile.ZIP_DEFLATED), 60), "load", {},
     "conv.weight.npy"),
    ("npz-unknown-member-3GiB", "w.npz", _bomb_npz(), "load", {"expected": {"conv.bias": [[2], None]}},
     "unexpected key(s) 'evil'"),
    ("npz-unknown-member-3GiB-unexpected-allowed", "w.npz", _bomb_npz(), "load",
     {"expected": {"conv.bias": [[2], None], "evil": [[2], None]}}, "evil.npy"),
    ("npz-unknown-member-3GiB-no-expectation", "w.npz", _bomb_npz(), "load", {}, "evil.npy"),
    ("npz-huge-shape-in-header", "w.npz",
     _npz({"conv.bias.npy": _npy(header={"descr": "<f8", "fortran_order": False, "shape": (2**40,)},
                                 data=bytes(16))}), "load", {}, "header says"),
    ("npz-huge-shape-expected", "w.npz",
     _npz({"conv.bias.npy": _npy(header={"descr": "<f8", "fortran_order": False, "shape": (2**40,)},
                                 data=bytes(16))}), "load", {"expected": {"conv.bias": [[2], None]}},
     "has shape (1099511627776,) in the file, expected (2,)"),
    ("npz-huge-shape-and-zip-size", "w.npz", _huge_header_npz(800_000_128), "load", {}, "claims"),
    ("npz-zip-size-lies-small", "w.npz", _huge_header_npz(200), "load", {}, "header says"),
    ("npz-object-dtype", "w.npz",
     _npz({"conv.bias.npy": _npy(header={"descr": "|O", "fortran_order": False, "shape": (1,)},
                                 data=b"\x80\x04N.")}), "load", {}, "never unpickles"),
    ("npz-structured-dtype", "w.npz", _npz({"a.npy": _npy(np.zeros(2, "f4,i4"))}), "load", {},
     "not a plain numeric array"),
    ("npz-bad-npy-magic", "w.npz", _npz({"conv.bias.npy": b"NOTNPY" + bytes(100)}), "load", {},
     "no valid .npy header"),
    ("npz-npy-header-truncated", "w.npz", _npz({"conv.bias.npy": _npy(GOOD_STATE["conv.bias"])[:20]}), "load",
     {}, "no valid .npy header"),
    ("npz-npy-data-truncated", "w.npz", _npz({"conv.bias.npy": _npy(GOOD_STATE["conv.bias"])[:-3]}), "load",
     {}, "holds"),
    ("npz-not-npy-member", "w.npz", _npz({"conv.bias.npy": _npy(GOOD_STATE["conv.bias"]), "x.txt": b"hi"}),
     "load", {}, "not .npy arrays"),
    ("npz-duplicate-member", "w.npz",
     _zip([("a.npy", _npy(np.ones(1)), 0, len(_npy(np.ones(1))), zlib.crc32(_npy(np.ones(1))))] * 2), "load",
     {}, "appears twice"),
    ("npz-missing-key", "w.npz", _npz({"conv.bias.npy": _npy(GOOD_STATE["conv.bias"])}), "load",
     {"expected": EXPECTED}, "missing key(s) 'conv.weight'"),
    ("npz-wrong-dtype", "w.npz", _good_npz(), "load",
     {"expected": {"conv.weight": [[2, 3, 2, 2], "float64"], "conv.bias": [[2], None]}}, "dtype float32"),
    ("npz-pytorch-checkpoint", "w.npz", _npz({"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3"}),
     "load", {}, "vanilla-nn convert"),
    # --- .safetensors -------------------------------------------------------------------------------------
    ("st-empty", "w.safetensors", b"", "load", {}, "too short"),
    ("st-four-bytes", "w.safetensors", b"\x10\x00\x00\x00", "load", {}, "too short"),
    ("st-huge-header-length", "w.safetensors", _safetensors({}, length=2**63 + 5), "load", {},
     "the header claims 9,223,372,036,854,775,813 bytes"),
    ("st-header-length-past-end", "w.safetensors", _good_safetensors()[:30], "load", {}, "the header claims"),
    ("st-not-json", "w.safetensors", _safetensors(None, raw=b"{not json at all"), "load", {}, "not valid JSON"),
    ("st-not-utf8", "w.safetensors", _safetensors(None, raw=b'{"\xff\xfe": 1}'), "load", {}, "not valid JSON"),
    ("st-deep-json", "w.safetensors", _safetensors(None, raw=b"[" * 200_000 + b"]" * 200_000), "load", {},
     "not valid JSON"),
    ("st-json-array", "w.safetensors", _safetensors([1, 2]), "load", {}, "must be a JSON object"),
    ("st-duplicate-key", "w.safetensors",
     _safetensors(None, raw=b'{"a": ' + json.dumps(_entry()).encode() + b', "a": '
                  + json.dumps(_entry()).encode() + b"}", data=bytes(8)), "load", {}, "duplicate key"),
    ("st-missing-field", "w.safetensors", _safetensors({"a": {"dtype": "F32", "shape": [2]}}, bytes(8)), "load",
     {}, "exactly dtype, shape and data_offsets"),
    ("st-unknown-dtype", "w.safetensors", _safetensors({"a": _entry(dtype="F128")}, bytes(8)), "load", {},
     "dtype 'F128'"),
    ("st-fp8-dtype", "w.safetensors", _safetensors({"a": _entry(dtype="F8_E4M3", offsets=(0, 2))}, bytes(2)),
     "load", {}, "dtype 'F8_E4M3'"),
    ("st-negative-shape", "w.safetensors", _safetensors({"a": _entry(shape=(-2,))}, bytes(8)), "load", {},
     "non-negative ints"),
    ("st-float-shape", "w.safetensors", _safetensors({"a": _entry(shape=(2.0,))}, bytes(8)), "load", {},
     "non-negative ints"),
    ("st-offsets-past-end", "w.safetensors", _safetensors({"a": _entry(offsets=(0, 8))}, bytes(4)), "load", {},
     "data_offsets [0, 8]"),
    ("st-offsets-reversed", "w.safetensors", _safetensors({"a": _entry(offsets=(8, 0))}, bytes(8)), "load", {},
     "data_offsets [8, 0]"),
    ("st-span-mismatch", "w.safetensors", _safetensors({"a": _entry(shape=(3,), offsets=(0, 8))}, bytes(8)),
     "load", {}, "needs 12 bytes"),
    ("st-huge-shape", "w.safetensors", _safetensors({"a": _entry(shape=(2**40, 2**30), offsets=(0, 8))},
                                                    bytes(8)), "load", {}, "needs"),
    ("st-huge-shape-huge-offsets", "w.safetensors",
     _safetensors({"a": _entry(dtype="U8", shape=(2**62,), offsets=(0, 2**62))}, bytes(8)), "load", {},
     "data_offsets"),
    ("st-overlap", "w.safetensors",
     _safetensors({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))}, bytes(12)), "load", {},
     "overlap"),
    ("st-trailing-bytes", "w.safetensors", _good_safetensors() + b"extra", "load", {}, "after the last tensor"),
    ("st-truncated-data", "w.safetensors", _good_safetensors()[:-5], "load", {}, "data_offsets"),
    ("st-bad-metadata", "w.safetensors", _safetensors({"__metadata__": {"epoch": 3}}), "load", {},
     "__metadata__"),
    ("st-unexpected-key", "w.safetensors", _good_safetensors(), "load",
     {"expected": {"conv.bias": [[2], None]}}, "unexpected key(s) 'conv.weight'"),
    ("st-wrong-shape", "w.safetensors", _good_safetensors(), "load",
     {"expected": EXPECTED | {"conv.bias": [[3], None]}}, "'conv.bias' has shape (2,) in the file, expected (3,)"),
    ("st-no-suffix-garbage", "weights", b"\x00" * 64, "load", {}, "neither a .npz"),
    # --- checkpoints: safetensors with metadata -----------------------------------------------------------
    ("ckpt-truncated", "ckpt.safetensors", _good_safetensors({"epoch": "3"})[:-40], "checkpoint", {},
     "data_offsets"),
    ("ckpt-header-cut", "ckpt.safetensors", _good_safetensors({"epoch": "3"})[:60], "checkpoint", {},
     "the header claims"),
    ("ckpt-metadata-nested", "ckpt.safetensors", _safetensors({"__metadata__": {"rng": {"seed": "1"}}}),
     "checkpoint", {}, "__metadata__"),
    ("ckpt-corrupt-json", "ckpt.safetensors", _flip(_good_safetensors({"epoch": "3"}), 8), "checkpoint", {},
     "not valid JSON"),
    # --- IDX, raw ------------------------------------------------------------------------------------------
    ("idx-empty", "train-images-idx3-ubyte", b"", "idx", {}, "too short"),
    ("idx-bad-magic", "train-images-idx3-ubyte", b"\x1f\x8b\x08\x00" + bytes(20), "idx", {}, "magic"),
    ("idx-header-truncated", "train-images-idx3-ubyte", _idx((2, 3, 3))[:9], "idx", {}, "truncated header"),
    ("idx-data-truncated", "train-images-idx3-ubyte", _idx((2, 3, 3))[:-1], "idx", {}, "truncated"),
    ("idx-trailing", "train-images-idx3-ubyte", _idx((2, 3, 3)) + b"\x00", "idx", {}, "trailing"),
    ("idx-huge-shape", "train-images-idx3-ubyte", _idx((2**32 - 1,) * 3, b""), "idx", {}, "truncated"),
    ("idx-wrong-dims", "train-images-idx3-ubyte", _idx((4, 4)), "idx", {"ndim": 3}, "expected 3"),
    # --- IDX, gzip -----------------------------------------------------------------------------------------
    ("gz-empty", "train-images-idx3-ubyte.gz", b"", "idx", {}, "ends early"),
    ("gz-not-gzip", "train-images-idx3-ubyte.gz", _idx((2, 3, 3)), "idx", {}, "not a valid gzip stream"),
    ("gz-truncated-stream", "train-images-idx3-ubyte.gz", gzip.compress(_idx((20, 8, 8)))[:-30], "idx", {},
     "truncated"),
    ("gz-crc", "train-images-idx3-ubyte.gz", _flip(gzip.compress(_idx((2, 3, 3))), -6), "idx", {},
     "not a valid gzip stream"),
    ("gz-garbage-after-member", "train-images-idx3-ubyte.gz", gzip.compress(_idx((2, 3, 3))) + b"junkjunk", "idx",
     {}, "not a valid gzip stream"),
    ("gz-bomb-2GiB-small-header", "train-images-idx3-ubyte.gz", _bomb_gz((10, 28, 28)), "idx", {},
     "trailing data"),
    ("gz-bomb-2GiB-header-declares-it-all", "train-images-idx3-ubyte.gz", _bomb_gz((2739, 28, 28000)), "idx", {},
     "more memory than is available"),
    ("gz-header-claims-more-than-gzip-can-hold", "train-images-idx3-ubyte.gz",
     gzip.compress(_idx((60000, 4000, 4000), b"")), "idx", {}, "more than a"),
    ("gz-data-truncated", "train-images-idx3-ubyte.gz", gzip.compress(_idx((2, 3, 3))[:-4]), "idx", {},
     "truncated"),
    # --- MNIST directories ---------------------------------------------------------------------------------
    ("mnist-empty-split", "mnist-empty", {
        "train-images-idx3-ubyte.gz": gzip.compress(_idx((3, 28, 28))),
        "train-labels-idx1-ubyte.gz": gzip.compress(_idx((3,))),
        "t10k-images-idx3-ubyte.gz": gzip.compress(_idx((0, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(_idx((0,))),
    }, "mnist", {}, "split is empty"),
    ("mnist-tiny-images", "mnist-tiny", {
        "train-images-idx3-ubyte": _idx((3, 2, 2)), "train-labels-idx1-ubyte": _idx((3,)),
        "t10k-images-idx3-ubyte": _idx((1, 2, 2)), "t10k-labels-idx1-ubyte": _idx((1,)),
    }, "mnist", {"min_image_size": 4}, "smaller than the 4 x 4"),
    ("mnist-labels-out-of-range", "mnist-labels", {
        "train-images-idx3-ubyte": _idx((3, 5, 5)), "train-labels-idx1-ubyte": _idx((3,), b"\x01\x02\x0c"),
        "t10k-images-idx3-ubyte": _idx((1, 5, 5)), "t10k-labels-idx1-ubyte": _idx((1,)),
    }, "mnist", {}, "0..9"),
]

RUNNER = r"""
import json, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np
from vanilla_nn import data
from vanilla_nn.nn import serialization

results = {}
for case in json.loads(open(sys.argv[1]).read()):
    options = dict(case["options"])
    if "expected" in options:
        options["expected"] = {k: (tuple(shape), dtype) for k, (shape, dtype) in options["expected"].items()}
    try:
        if case["loader"] == "load":
            serialization.load(case["path"], **options)
        elif case["loader"] == "checkpoint":
            serialization.read_safetensors(case["path"], **options)
        elif case["loader"] == "idx":
            data.read_idx(case["path"], **options)
        else:
            data.load_mnist(case["path"], **options)
        results[case["id"]] = {"error": None}
    except BaseException as error:
        results[case["id"]] = {"error": type(error).__name__, "classes": [c.__name__ for c in type(error).__mro__],
                               "message": str(error)}
# this process image's own peak (VmHWM): ru_maxrss would also count the parent's RSS, kept across fork + exec
with open("/proc/self/status") as status:
    hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
results["__maxrss__"] = int(hwm[0]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
results["__modules__"] = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "tensorflow"))
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    plan = []
    for case_id, name, content, loader, options, _ in CASES:
        folder = root / case_id
        folder.mkdir()
        if isinstance(content, dict):
            for file_name, blob in content.items():
                (folder / file_name).write_bytes(blob)
            path = folder
        else:
            path = folder / name
            path.write_bytes(content)
        plan.append({"id": case_id, "path": str(path), "loader": loader, "options": options})
    (root / "plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", RUNNER, str(root / "plan.json"), str(LIMIT)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("case_id", "name", "words"), [(c[0], c[1], c[5]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_file_gives_one_line_error(outcomes, case_id, name, words):
    outcome = outcomes[case_id]
    assert outcome["error"] is not None, f"{case_id}: loaded without an error"
    assert "CorruptFileError" in outcome["classes"] and "ValueError" in outcome["classes"], outcome
    message = outcome["message"]
    assert "\n" not in message and len(message) < 600, message
    assert name in message, f"{case_id}: the message does not name the file: {message}"
    assert words in message, f"{case_id}: {words!r} not in: {message}"


def test_within_the_memory_limit(outcomes):
    """Nothing was inflated or touched beyond what the checks need; no framework was imported."""
    assert outcomes["__maxrss__"] < MAX_RSS, f"peak RSS {outcomes['__maxrss__'] / MIB:.0f} MiB"
    assert outcomes["__modules__"] == []


def test_the_bombs_are_real():
    """The oversized inputs really inflate to what they claim. Inflating 5 GiB here would take a minute, so
    the proof is by construction: each repeated piece inflates to one MiB on its own, wherever it stands."""
    block, tail = _deflate_parts()
    assert zlib.decompressobj(-15).decompress(block * 4 + tail) == bytes(4 * MIB)
    assert _zeros_deflate(3072) == block * 3072 + tail and len(_bomb_npz()) < 4 * MIB
    member = gzip.compress(bytes(MIB), 9, mtime=0)  # no timestamp: the same bytes every call
    assert gzip.decompress(member * 3) == bytes(3 * MIB)  # gzip members concatenate
    blob = _bomb_gz((10, 28, 28))
    head = gzip.compress(_idx((10, 28, 28), b""), 9, mtime=0)
    assert blob == head + member * 2048 and len(blob) < 3 * MIB
