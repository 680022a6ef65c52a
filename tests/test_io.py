"""vanilla_nn._io: atomic writes (rename into place, temp removed on error or Ctrl-C, umask permissions),
strict JSON, and FileSet (a set of files committed together, a manifest that detects a mixed set)."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest

from vanilla_nn import _io


def _names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_atomic_path_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with _io.atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp != target
        temp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # nothing visible until the block ends
    assert target.read_bytes() == b"new"
    assert _names(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("exception", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_path_keeps_the_old_file_on_error_and_ctrl_c(tmp_path, exception):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(type(exception)), _io.atomic_open(target) as handle:
        handle.write(b"half")
        raise exception
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask_like_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain"
        plain.write_bytes(b"x")
        _io.write_bytes(tmp_path / "atomic", b"x")
        with _io.FileSet(tmp_path) as files:
            files.add("staged").write_bytes(b"x")
            files.commit()
    finally:
        os.umask(old)
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("atomic", "staged", _io.MANIFEST):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def test_strict_json_writes_null_for_non_finite(tmp_path):
    import numpy as np

    value = {"loss": [1.5, float("nan"), float("-inf")], "acc": np.float32(0.5), "n": np.int64(3),
             "a": np.array([np.inf, 2.0])}
    text = _io.strict_json(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": [1.5, None, None], "acc": 0.5, "n": 3, "a": [None, 2.0]}
    _io.write_json(tmp_path / "h.json", value)
    assert json.loads((tmp_path / "h.json").read_text(), parse_constant=pytest.fail) == json.loads(text)


def test_file_set_commits_together_removes_stale_siblings_and_records_a_manifest(tmp_path):
    (tmp_path / "stale.png").write_bytes(b"old plot")
    (tmp_path / "other.txt").write_bytes(b"not ours")
    with _io.FileSet(tmp_path, info={"epoch": 3}, owned=("a.npz", "b.safetensors", "stale.png")) as files:
        files.write("a.npz", lambda path: path.write_bytes(b"A"))
        files.add("b.safetensors").write_bytes(b"BB")
        assert [n for n in _names(tmp_path) if not n.startswith(".")] == ["other.txt", "stale.png"]
        files.commit()
    assert _names(tmp_path) == ["a.npz", "b.safetensors", _io.MANIFEST, "other.txt"]
    manifest = _io.check_manifest(tmp_path)
    assert manifest["info"] == {"epoch": 3}
    assert {name: entry["bytes"] for name, entry in manifest["files"].items()} == {"a.npz": 1, "b.safetensors": 2}


def test_file_set_without_commit_changes_nothing(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), _io.FileSet(tmp_path) as files:
        files.add("a.npz").write_bytes(b"new")
        raise KeyboardInterrupt
    assert _names(tmp_path) == ["a.npz"] and (tmp_path / "a.npz").read_bytes() == b"old"


def test_check_manifest_detects_a_mixed_or_incomplete_set(tmp_path):
    with _io.FileSet(tmp_path) as files:
        files.add("a.npz").write_bytes(b"one")
        files.add("b.safetensors").write_bytes(b"two")
        files.commit()
    _io.check_manifest(tmp_path)
    (tmp_path / "a.npz").write_bytes(b"ONE")  # same size, new content: a newer file beside an older one
    with pytest.raises(_io.ManifestError, match="a.npz"):
        _io.check_manifest(tmp_path)
    (tmp_path / "a.npz").unlink()
    with pytest.raises(_io.ManifestError, match="missing"):
        _io.check_manifest(tmp_path)
    (tmp_path / _io.MANIFEST).write_text("{not json")
    with pytest.raises(_io.ManifestError, match="unreadable"):
        _io.check_manifest(tmp_path)
    with pytest.raises(_io.ManifestError, match="no manifest"):
        _io.check_manifest(tmp_path / "nowhere")


def test_sigint_is_held_back_during_a_commit_then_delivered(tmp_path):
    with pytest.raises(KeyboardInterrupt), _io.sigint_deferred():
        signal.raise_signal(signal.SIGINT)
        (tmp_path / "after-signal").write_bytes(b"still runs")  # the block finishes first
    assert (tmp_path / "after-signal").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_inside_the_commit_does_not_split_the_set(tmp_path, monkeypatch):
    with _io.FileSet(tmp_path) as files:
        files.add("a.npz").write_bytes(b"old a")
        files.add("b.safetensors").write_bytes(b"old b")
        files.commit()
    monkeypatch.setenv("VANILLA_NN_FAULT_POINTS", "renamed:a.npz")  # SIGINT right after the first rename
    with pytest.raises(KeyboardInterrupt), _io.FileSet(tmp_path) as files:
        files.add("a.npz").write_bytes(b"new a")
        files.add("b.safetensors").write_bytes(b"new b")
        files.commit()
    assert (tmp_path / "a.npz").read_bytes() == b"new a" and (tmp_path / "b.safetensors").read_bytes() == b"new b"
    _io.check_manifest(tmp_path)
    assert not [n for n in _names(tmp_path) if n.startswith(".")]
