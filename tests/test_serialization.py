"""State dicts on disk: our safetensors and .npz readers/writers, checked against the safetensors package,
NumPy's own .npz and PyTorch; expectations checked before reading; atomic writes.

Corrupt, truncated and oversized files are in tests/test_file_fuzz.py.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from vanilla_nn import nn
from vanilla_nn.nn import serialization
from vanilla_nn.nn.serialization import CorruptFileError


def _state() -> OrderedDict[str, np.ndarray]:
    """Every dtype both formats store, 0-d, empty, Fortran-ordered, big-endian and strided arrays."""
    rng = np.random.default_rng(0)
    return OrderedDict([
        ("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("conv.bias", rng.standard_normal(4)),
        ("bn.num_batches_tracked", np.array(7, np.int64)),
        ("empty", np.zeros((0, 3), np.float32)),
        ("half", rng.standard_normal(5).astype(np.float16)),
        ("fortran", np.asfortranarray(rng.standard_normal((3, 4)))),
        ("big_endian", np.arange(6, dtype=">i4").reshape(2, 3)),
        ("strided", rng.standard_normal((4, 6))[:, ::2]),
        ("mask", np.array([True, False, True])),
        ("bytes", np.arange(5, dtype=np.uint8)),
        ("i16", np.arange(-3, 3, dtype=np.int16)),
        ("u64", np.array([2**63 + 5], dtype=np.uint64)),
    ])


def _assert_same(got, want):
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].shape == value.shape, key
        assert got[key].dtype == value.dtype.newbyteorder("="), key
        assert got[key].flags.writeable and got[key].flags.c_contiguous, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_round_trip_keeps_order_values_dtypes(tmp_path, suffix):
    state = _state()
    path = nn.save(state, tmp_path / f"w{suffix}")
    _assert_same(nn.load(path), state)
    assert [p.name for p in tmp_path.iterdir()] == [f"w{suffix}"]  # no temporary file left behind


@pytest.mark.parametrize("direction", ["ours_to_package", "package_to_ours"])
def test_safetensors_interoperates_with_the_package(tmp_path, direction):
    st = pytest.importorskip("safetensors.numpy")
    state = OrderedDict((k, np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("=")))
                        for k, v in _state().items())
    path = tmp_path / "w.safetensors"
    if direction == "ours_to_package":
        serialization.write_safetensors(path, state, {"epoch": "3"})
        theirs = st.load_file(str(path))
        _assert_same(OrderedDict((k, theirs[k]) for k in state), state)
        from safetensors import safe_open

        with safe_open(str(path), "np") as handle:
            assert handle.metadata() == {"epoch": "3"}
    else:
        st.save_file(dict(state), str(path), metadata={"epoch": "3"})
        tensors, metadata = serialization.read_safetensors(path)
        assert metadata == {"epoch": "3"}
        _assert_same(OrderedDict((k, tensors[k]) for k in state), state)


def test_npz_from_numpy_savez_and_savez_compressed(tmp_path):
    state = _state()
    for name, writer in [("a.npz", np.savez), ("b.npz", np.savez_compressed)]:
        writer(tmp_path / name, **state)
        _assert_same(nn.load(tmp_path / name), state)
    # and NumPy reads ours
    nn.save(state, tmp_path / "ours.npz")
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as archive:
        _assert_same(OrderedDict((k, archive[k]) for k in archive.files), state)


def test_pytorch_reads_our_safetensors_and_bf16_is_widened(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file, save_file

    state = {"w": np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)}
    nn.save(state, tmp_path / "w.safetensors")
    np.testing.assert_array_equal(load_file(str(tmp_path / "w.safetensors"))["w"].numpy(), state["w"])
    bf16 = torch.tensor(state["w"]).to(torch.bfloat16)
    save_file({"w": bf16}, str(tmp_path / "bf16.safetensors"))
    got = nn.load(tmp_path / "bf16.safetensors")["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, bf16.float().numpy())


def test_metadata_only_in_safetensors(tmp_path):
    path = nn.save({"a": np.ones(2)}, tmp_path / "c.safetensors", metadata={"epoch": "4", "step": "10"})
    assert serialization.read_safetensors(path)[1] == {"epoch": "4", "step": "10"}
    with pytest.raises(ValueError, match="metadata"):
        nn.save({"a": np.ones(2)}, tmp_path / "c.npz", metadata={"epoch": "4"})
    with pytest.raises(TypeError, match="metadata"):
        nn.save({"a": np.ones(2)}, tmp_path / "d.safetensors", metadata={"epoch": 4})


@pytest.mark.parametrize(("state", "exc", "words"), [
    ({"a": np.array(["x"])}, TypeError, "dtype"),
    ({"a": np.array([1 + 2j])}, TypeError, "dtype"),
    ({1: np.ones(2)}, TypeError, "key 1"),
    ([("a", np.ones(2))], TypeError, "mapping"),
])
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_rejects_what_it_cannot_store(tmp_path, state, exc, words, suffix):
    with pytest.raises(exc, match=words):
        nn.save(state, tmp_path / f"w{suffix}")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_expected_is_checked_before_reading(tmp_path, suffix, monkeypatch):
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.BatchNorm1d(2))
    path = nn.save(model.state_dict(), tmp_path / f"w{suffix}")
    state = nn.load(path, expected=model)
    assert list(state) == list(model.state_dict())
    nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).load_state_dict(state)
    other = nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2))
    # nothing is read when the expectation fails: make every data read an error
    monkeypatch.setattr(serialization, "read_exact", lambda *a: pytest.fail("data read before checks"))
    with pytest.raises(CorruptFileError, match=rf"w\{suffix}: '0\.weight' has shape \(2, 3\) in the file, "
                                               r"expected \(2, 4\)"):
        nn.load(path, expected=other)
    with pytest.raises(CorruptFileError, match=r"unexpected key\(s\) '1\.weight'"):
        nn.load(path, expected={"0.weight": ((2, 3), None), "0.bias": ((2,), None)} | {
            k: v for k, v in model.state_dict().items() if k.startswith("1.") and k != "1.weight"})
    with pytest.raises(CorruptFileError, match=r"missing key\(s\) 'extra'"):
        nn.load(path, expected={**model.state_dict(), "extra": np.zeros(1)})
    with pytest.raises(CorruptFileError, match=r"'0\.weight' has dtype float32 in the file, expected float64"):
        nn.load(path, expected={"0.weight": ((2, 3), np.float64)}, strict=False)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_only_expected_tensors_are_read(tmp_path, suffix, monkeypatch):
    path = nn.save(OrderedDict([("a", np.ones(3)), ("b", np.arange(4.0))]), tmp_path / f"w{suffix}")
    reads = []
    original = serialization.read_exact
    monkeypatch.setattr(serialization, "read_exact", lambda p, f, array, what: (reads.append(what),
                                                                                original(p, f, array, what)))
    got = nn.load(path, expected={"b": ((4,), None)}, strict=False)
    assert list(got) == ["b"] and len(reads) == 1 and ("'b'" in reads[0] or "'b.npy'" in reads[0])
    np.testing.assert_array_equal(got["b"], np.arange(4.0))


def test_torch_checkpoint_is_pointed_to_convert(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pth")
    with pytest.raises(CorruptFileError, match=r"model\.pth: this is a PyTorch checkpoint .*vanilla-nn convert"):
        nn.load(tmp_path / "model.pth")
    (tmp_path / "model.pth").rename(tmp_path / "model.npz")
    with pytest.raises(CorruptFileError, match="PyTorch checkpoint"):
        nn.load(tmp_path / "model.npz")


def test_format_by_content_when_the_suffix_says_nothing(tmp_path):
    state = OrderedDict([("a", np.ones(2, np.float32))])
    nn.save(state, tmp_path / "w.safetensors").rename(tmp_path / "weights.bin")
    nn.save(state, tmp_path / "w.npz").rename(tmp_path / "weights.dat")
    _assert_same(nn.load(tmp_path / "weights.bin"), state)
    _assert_same(nn.load(tmp_path / "weights.dat"), state)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors: no such file"):
        nn.load(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="not a file"):
        nn.load(tmp_path)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_a_failed_write_leaves_the_old_file(tmp_path, suffix, monkeypatch):
    path = nn.save({"a": np.ones(2)}, tmp_path / f"w{suffix}")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    monkeypatch.setattr(np, "ascontiguousarray", boom)  # inside the safetensors write
    with pytest.raises(KeyboardInterrupt):
        nn.save({"a": np.zeros(2)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = nn.save({"a": np.ones(2)}, tmp_path / "w.safetensors")
        plain = tmp_path / "plain"
        plain.write_bytes(b"")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o640


def test_header_is_padded_and_data_little_endian(tmp_path):
    path = serialization.write_safetensors(tmp_path / "w.safetensors", {"x": np.array([1.5], ">f8")})
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert (8 + length) % 8 == 0
    assert json.loads(raw[8:8 + length]) == {"x": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}
    assert raw[8 + length:] == struct.pack("<d", 1.5)


def test_npz_never_unpickles_even_when_expected(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"w": np.array([object()], dtype=object)})
    with pytest.raises(CorruptFileError, match=r"evil\.npz: member 'w\.npy' holds Python objects"):
        nn.load(path, expected={"w": ((1,), None)})


def test_npz_members_must_be_npy(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", b"")
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(CorruptFileError, match=r"w\.npz: member\(s\) 'notes\.txt' are not \.npy arrays"):
        nn.load(path)
