"""Datasets and batching: the digits, IDX files written here (raw and gzipped, good and broken), batches."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from vanilla_nn import data


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else ">f4").tobytes()


def _write_mnist(directory, n_train=12, n_test=5, gz=False, size=28, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        payload = _idx_bytes(array)
        if gz:
            with gzip.open(directory / (name + ".gz"), "wb") as handle:
                handle.write(payload)
        else:
            (directory / name).write_bytes(payload)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", ["mnist", "fashion"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_mnist_reads_idx(tmp_path, gz, kind, dtype):
    arrays = _write_mnist(tmp_path, gz=gz)
    split = data.load_mnist(tmp_path, kind=kind, dtype=dtype)
    assert split.x_train.shape == (12, 1, 28, 28) and split.x_train.dtype == dtype
    assert split.y_test.dtype == np.int64
    np.testing.assert_array_equal(split.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"].astype(dtype))
    np.testing.assert_array_equal(split.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(split.x_test[:, 0] * 255, arrays["t10k-images-idx3-ubyte"].astype(dtype))
    np.testing.assert_array_equal(split.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_read_idx_other_types(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "f").write_bytes(_idx_bytes(array, 0x0D))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f"), array)


@pytest.mark.parametrize(("damage", "words"), [
    (lambda raw: raw[:-7], ["truncated", "bytes"]),
    (lambda raw: raw[:10], ["truncated"]),
    (lambda raw: raw[:2], ["too short"]),
    (lambda raw: raw + b"\x00", ["trailing"]),
    (lambda raw: b"\x01\x02" + raw[2:], ["magic"]),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], ["magic"]),
    (lambda raw: raw[:3] + b"\x02" + raw[4:], ["dims", "expected 3"]),
])
@pytest.mark.parametrize("gz", [False, True])
def test_malformed_idx_is_a_clear_error(tmp_path, damage, words, gz):
    _write_mnist(tmp_path)
    target = tmp_path / "train-images-idx3-ubyte"
    broken = damage(target.read_bytes())
    if gz:
        target.unlink()
        target = tmp_path / "train-images-idx3-ubyte.gz"
        target.write_bytes(gzip.compress(broken))
    else:
        target.write_bytes(broken)
    with pytest.raises(ValueError) as info:
        data.load_mnist(tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message
    assert all(word in message for word in words), message


def test_truncated_gzip_stream(tmp_path):
    _write_mnist(tmp_path, gz=True)
    target = tmp_path / "train-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-12])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz.*(truncated|gzip)"):
        data.load_mnist(tmp_path)


def test_missing_files_and_mismatched_counts(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_mnist(tmp_path / "nowhere")
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        data.load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        data.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        data.load_mnist(tmp_path, kind="cifar")


def test_load_digits_split():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    split = data.load_digits(test_fraction=0.25, seed=3)
    assert split.x_train.shape[1:] == (1, 8, 8) and split.x_train.dtype == np.float32
    assert len(split.x_train) + len(split.x_test) == 1797
    assert split.x_train.min() >= 0.0 and split.x_train.max() <= 1.0
    # Every image is one of scikit-learn's, with its own label.
    bunch = load_digits()
    lookup = {img.tobytes(): int(t) for img, t in zip((bunch.images / 16.0).astype(np.float32), bunch.target)}
    for x, y in [(split.x_train, split.y_train), (split.x_test, split.y_test)]:
        assert all(lookup[img[0].tobytes()] == label for img, label in zip(x, y))
    # Stratified: each class has about 25% in test.
    counts_test = np.bincount(split.y_test, minlength=10)
    counts_all = np.bincount(bunch.target, minlength=10)
    assert np.all(np.abs(counts_test - counts_all * 0.25) <= 1)
    again = data.load_digits(test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again.y_train, split.y_train)
    other = data.load_digits(test_fraction=0.25, seed=4)
    assert not np.array_equal(other.y_train, split.y_train)


@pytest.mark.parametrize("batch_size", [1, 4, 7, 30])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_cover_the_data_once(batch_size, drop_last):
    x = np.arange(26 * 2).reshape(26, 2)
    y = np.arange(26)
    seen = []
    for xb, yb in data.batches(x, y, batch_size, rng=5, drop_last=drop_last):
        np.testing.assert_array_equal(xb[:, 0] // 2, yb)
        assert len(yb) <= batch_size and (not drop_last or len(yb) == batch_size)
        seen.extend(yb.tolist())
    full = 26 - 26 % batch_size if drop_last else 26
    assert len(seen) == full and len(set(seen)) == full
    if not drop_last:
        assert sorted(seen) == list(range(26))


def test_batches_seeded_and_unshuffled():
    x, y = np.zeros((10, 1)), np.arange(10)
    first = [b.tolist() for _, b in data.batches(x, y, 3, rng=np.random.default_rng(1))]
    second = [b.tolist() for _, b in data.batches(x, y, 3, rng=np.random.default_rng(1))]
    assert first == second
    assert [b.tolist() for _, b in data.batches(x, y, 4, shuffle=False)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize(("kwargs", "exc", "word"), [
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.5), ValueError, "batch_size"),
    (dict(batch_size=2, rng="seed"), TypeError, "rng"),
])
def test_batches_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        data.batches(np.zeros((4, 1)), np.zeros(4), **kwargs)


def test_batches_length_mismatch():
    with pytest.raises(ValueError, match=r"x\.shape=\(4, 1\), y\.shape=\(3,\)"):
        data.batches(np.zeros((4, 1)), np.zeros(3), 2)
