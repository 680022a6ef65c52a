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


def _idx_header(shape, type_code=0x08) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize("gz", [False, True])
def test_empty_split_tiny_images_and_bad_labels_name_the_file(tmp_path, gz):
    _write_mnist(tmp_path, n_test=0, gz=gz)
    with pytest.raises(data.IDXError, match=r"t10k-images-idx3-ubyte(\.gz)?: the test split is empty"):
        data.load_mnist(tmp_path)
    _write_mnist(tmp_path, size=3, gz=gz)
    with pytest.raises(data.IDXError, match=r"train-images-idx3-ubyte(\.gz)?: images are 3 x 3, smaller than the "
                                            r"4 x 4 needed"):
        data.load_mnist(tmp_path, min_image_size=4)
    assert data.load_mnist(tmp_path, min_image_size=3).x_train.shape == (12, 1, 3, 3)
    _write_mnist(tmp_path, size=0, gz=gz)
    with pytest.raises(data.IDXError, match="images are 0 x 0"):
        data.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="min_image_size=0"):
        data.load_mnist(tmp_path, min_image_size=0)


def test_float_labels_are_refused(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.full(12, 0.5, np.float32), 0x0D))
    with pytest.raises(data.IDXError, match=r"train-labels-idx1-ubyte: labels have type float32"):
        data.load_mnist(tmp_path)


def test_gzip_members_and_zero_padding_read_as_gzip_does(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    payload = _idx_bytes(array)
    blob = gzip.compress(payload[:7]) + gzip.compress(payload[7:30]) + gzip.compress(payload[30:]) + b"\0" * 9
    assert gzip.decompress(blob) == payload  # what the gzip module makes of it
    (tmp_path / "f.gz").write_bytes(blob)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.gz", ndim=3), array)
    (tmp_path / "g.gz").write_bytes(blob + b"junk")
    with pytest.raises(data.IDXError, match=r"g\.gz: not a valid gzip stream"):
        data.read_idx(tmp_path / "g.gz")


def test_gzip_is_inflated_only_as_far_as_the_header_declares(tmp_path, monkeypatch):
    import zlib

    from vanilla_nn import _files

    inflated = []

    class Counting:
        def __init__(self, *args, **kwargs):
            self._inner = zlib.decompressobj(*args, **kwargs)

        def decompress(self, data, max_length=0):
            out = self._inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(_files, "zlib", type("Z", (), {"decompressobj": Counting, "error": zlib.error}))
    header = _idx_header((2, 3, 3))
    squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = squeezer.compress(header + bytes(range(18)) + bytes(8 << 20)) + squeezer.flush()  # 8 MiB of trailing zeros
    (tmp_path / "bomb.gz").write_bytes(blob)
    with pytest.raises(data.IDXError, match=r"bomb\.gz: has trailing data"):
        data.read_idx(tmp_path / "bomb.gz")
    assert sum(inflated) == len(header) + 18 + 1


def test_gzip_header_claiming_more_than_the_file_can_hold(tmp_path):
    (tmp_path / "f.gz").write_bytes(gzip.compress(_idx_header((60000, 4000, 4000))))
    with pytest.raises(data.IDXError, match=r"f\.gz: the header \(shape \(60000, 4000, 4000\), uint8\) declares "
                                            r"960,000,000,000 bytes of data, more than a \d+-byte gzip file"):
        data.read_idx(tmp_path / "f.gz")
