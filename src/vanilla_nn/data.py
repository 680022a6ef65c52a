"""Datasets and batching.

- :func:`load_digits`: the 1,797 real 8x8 handwritten digits that scikit-learn ships (nothing is downloaded),
  as ``(N, 1, 8, 8)`` images in ``[0, 1]`` and int64 labels, split into train and test with a seeded
  stratified split.
- :func:`load_mnist`: MNIST or Fashion-MNIST from the standard IDX files (raw or ``.gz``) in a directory.
- :func:`batches`: a seeded, shuffling mini-batch iterator.
"""

from __future__ import annotations

import math
import numbers
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vanilla_nn._extras import import_optional
from vanilla_nn._files import BoundedGzip, CorruptFileError, allocate, read_exact

__all__ = ["Split", "load_digits", "load_mnist", "read_idx", "stratified_split", "batches", "IDXError"]


class Split(NamedTuple):
    """A train/test split: images ``(N, 1, H, W)`` float, labels ``(N,)`` int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class IDXError(CorruptFileError):
    """A malformed, truncated or oversized IDX file (a ``ValueError``); the message names the file."""


def _check_float_dtype(dtype: Any) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype={dtype!r} must be float32 or float64")
    return resolved


def _check_fraction(test_fraction: Any) -> float:
    if not isinstance(test_fraction, numbers.Real) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} must be a number strictly between 0 and 1")
    return float(test_fraction)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: each class shuffled with ``seed`` and ``round(n_c * test_fraction)`` of
    its ``n_c`` samples sent to test; both index arrays are then shuffled."""
    test_fraction = _check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load_digits(test_fraction: float = 0.2, seed: int = 0, dtype: Any = np.float32) -> Split:
    """scikit-learn's 8x8 digits: images ``(N, 1, 8, 8)`` scaled from 0..16 to ``[0, 1]``, labels 0..9.

    The split is stratified by class and seeded (``seed``); ``test_fraction`` of each class goes to test.
    Needs scikit-learn (``pip install 'vanilla-nn[cli]'``).
    """
    dtype = _check_float_dtype(dtype)
    test_fraction = _check_fraction(test_fraction)
    datasets = import_optional("sklearn.datasets", "cli", "the digits dataset", package="scikit-learn")
    bunch = datasets.load_digits()
    images = (np.asarray(bunch.images, dtype=np.float64) / 16.0).astype(dtype)[:, None]
    labels = np.asarray(bunch.target, dtype=np.int64)
    train, test = stratified_split(labels, test_fraction, seed)
    return Split(images[train], labels[train], images[test], labels[test])


# -- IDX ------------------------------------------------------------------------------------------------------

# IDX type byte -> big-endian dtype (http://yann.lecun.com/exdb/mnist/ "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


_HEADER_MAX = 4 + 4 * 255
_DEFLATE_RATIO = 1100  # deflate inflates at most ~1032:1; a .gz whose header claims more is lying


def _read_up_to(stream: Any, size: int) -> bytes:
    """``size`` bytes from ``stream``, fewer only at its end."""
    parts, got = [], 0
    while got < size:
        part = stream.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzipped): magic ``0 0 type ndim``, ``ndim`` big-endian uint32 sizes, data.

    The header is read and checked first; then exactly the bytes it declares are read (a ``.gz`` file is
    inflated only that far, plus one byte to detect trailing data), into a fresh native-order array.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        IDXError: (a :class:`~vanilla_nn._files.CorruptFileError`, a ``ValueError``) one line naming the file:
            a bad magic number, an unexpected number of dimensions (when ``ndim`` is given), a size that does
            not match the header (truncated or trailing data), a corrupt gzip stream, or a header declaring
            more data than the file can hold or memory can take.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    try:
        with open(path, "rb") as handle:
            return _read_idx_stream(path, handle, ndim)
    except IDXError:
        raise
    except CorruptFileError as error:  # from the gzip stream or the allocation
        raise IDXError(str(error)) from error


def _read_idx_stream(path: Path, handle: Any, ndim: int | None) -> np.ndarray:
    file_size = handle.seek(0, 2)
    handle.seek(0)
    gz = path.suffix == ".gz"
    stream = BoundedGzip(handle, path) if gz else handle
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise IDXError(f"{path}: only {len(magic)} bytes, too short for the 4-byte IDX magic number "
                       f"(empty or truncated?)")
    zero0, zero1, type_code, dims = magic
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_TYPES:
        raise IDXError(f"{path}: bad IDX magic number 0x{magic.hex()}; expected 0x0000 then a type byte in "
                       f"{sorted(hex(t) for t in _IDX_TYPES)} and the number of dims (is this an IDX file?)")
    if ndim is not None and dims != ndim:
        raise IDXError(f"{path}: the header says {dims} dims, expected {ndim}")
    sizes = _read_up_to(stream, 4 * dims)
    header = 4 + 4 * dims
    if len(sizes) < 4 * dims:
        raise IDXError(f"{path}: truncated header, {4 + len(sizes)} bytes for a {header}-byte header of {dims} "
                       f"dims")
    shape = struct.unpack(f">{dims}I", sizes)
    item = np.dtype(_IDX_TYPES[type_code])
    nbytes = math.prod(shape) * item.itemsize
    described = f"the header (shape {shape}, {item.name})"
    if not gz and file_size != header + nbytes:
        what = "truncated" if file_size < header + nbytes else "has trailing data"
        raise IDXError(f"{path}: {what}: {file_size} bytes but {described} needs {header + nbytes}")
    if gz and nbytes > file_size * _DEFLATE_RATIO:
        raise IDXError(f"{path}: {described} declares {nbytes:,} bytes of data, more than a {file_size:,}-byte "
                       f"gzip file can hold (truncated or corrupt)")
    data = allocate(path, shape, item, described)
    read_exact(path, stream.readinto, data, described)
    if gz and stream.read(1):
        raise IDXError(f"{path}: has trailing data: the gzip stream holds more than the {header + nbytes} bytes "
                       f"{described} needs")
    return data.astype(item.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    candidates = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
    for name in candidates:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{directory}: none of {candidates} found; download the four MNIST/Fashion-MNIST "
                            f"IDX files (raw or .gz) into this directory")


def load_mnist(directory: str | Path, kind: str = "mnist", dtype: Any = np.float32, min_image_size: int = 1) -> Split:
    """MNIST (``kind="mnist"``) or Fashion-MNIST (``kind="fashion"``) from the standard IDX files.

    ``directory`` holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``; both datasets use these names). Returns images
    ``(N, 1, H, W)`` (28 x 28 for the real files) scaled to ``[0, 1]`` and int64 labels; the split is the
    files' own train/test split.

    Raises:
        FileNotFoundError: the directory or one of the files is missing.
        IDXError: (a ``ValueError``) naming the file: a malformed, truncated or oversized file (see
            :func:`read_idx`), an empty split, images smaller than ``min_image_size`` (e.g. the model's
            kernel or the 4 x 4 that LeNet needs), non-integer labels or labels outside 0..9, or images and
            labels of different counts.
    """
    if kind not in ("mnist", "fashion"):
        raise ValueError(f"kind={kind!r} must be 'mnist' or 'fashion'")
    dtype = _check_float_dtype(dtype)
    if not isinstance(min_image_size, numbers.Integral) or isinstance(min_image_size, bool) or min_image_size < 1:
        raise ValueError(f"min_image_size={min_image_size!r} must be a positive int")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"data directory {directory} for {kind} does not exist")
    paths = {key: _find(directory, stem) for key, stem in _MNIST_FILES.items()}
    parts = []
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images = read_idx(images_path, ndim=3)
        if len(images) == 0:
            raise IDXError(f"{images_path}: the {split} split is empty (the header says 0 images)")
        if min(images.shape[1:]) < min_image_size:
            raise IDXError(f"{images_path}: images are {images.shape[1]} x {images.shape[2]}, smaller than the "
                           f"{min_image_size} x {min_image_size} needed")
        labels = read_idx(labels_path, ndim=1)
        if labels.dtype.kind not in "iu":
            raise IDXError(f"{labels_path}: labels have type {labels.dtype}; expected integers (type 0x08)")
        if len(images) != len(labels):
            raise IDXError(f"{labels_path}: {len(labels)} labels but {len(images)} images in "
                           f"{images_path.name}; the {split} split has {len(images)} images but {len(labels)} "
                           f"labels")
        if labels.min() < 0 or labels.max() > 9:
            raise IDXError(f"{labels_path}: {split} labels must lie in 0..9, found {labels.min()}..{labels.max()}")
        scale = 255.0 if images.dtype == np.uint8 else 1.0
        parts += [(images.astype(np.float64) / scale).astype(dtype)[:, None], labels.astype(np.int64)]
    return Split(*parts)


# -- batching -------------------------------------------------------------------------------------------------

def batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = True, rng: Any = None,
            drop_last: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An iterator of ``(x[idx], y[idx])`` mini-batches covering the data once (arguments checked at once).

    With ``shuffle`` the order is a permutation drawn from ``rng`` (a ``numpy.random.Generator`` or an int
    seed; None means seed 0, so runs repeat). The last batch is smaller unless ``drop_last``.

    Raises:
        ValueError: ``x`` and ``y`` differ in length, or ``batch_size`` is not a positive int.
        TypeError: ``rng`` is not None, an int or a ``numpy.random.Generator``.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn.data import batches
        >>> x, y = np.zeros((5, 2)), np.arange(5)
        >>> [yb.tolist() for _, yb in batches(x, y, batch_size=2, shuffle=False)]
        [[0, 1], [2, 3], [4]]
        >>> [len(yb) for _, yb in batches(x, y, batch_size=2, drop_last=True, rng=7)]
        [2, 2]
        >>> sorted(np.concatenate([yb for _, yb in batches(x, y, 2, rng=7)]).tolist())   # a permutation
        [0, 1, 2, 3, 4]
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got x.shape={x.shape}, y.shape={y.shape}")
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive int")
    if shuffle:
        if rng is None:
            rng = np.random.default_rng(0)
        elif isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng={rng!r} must be None, an int seed or a numpy.random.Generator")
        order = rng.permutation(len(x))
    else:
        order = np.arange(len(x))
    stop = len(x) - len(x) % batch_size if drop_last else len(x)
    return _iterate(x, y, order, batch_size, stop)


def _iterate(x: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int, stop: int
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]
