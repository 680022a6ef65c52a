"""Save and load state dicts as ``.npz`` (NumPy, read with ``allow_pickle=False``) or ``.safetensors``.

Keys are PyTorch's (``"0.weight"``, ``"bn.running_mean"``...), so a ``.safetensors`` file written here loads
into the same architecture in PyTorch (``safetensors.torch.load_file``) and the other way round.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vanilla_nn._extras import import_optional

__all__ = ["save", "load"]

SUFFIXES = (".npz", ".safetensors")


def _suffix(path: Path) -> str:
    if path.suffix not in SUFFIXES:
        raise ValueError(f"weights file {path} must end in .npz or .safetensors")
    return path.suffix


def _safetensors_numpy() -> Any:
    return import_optional("safetensors.numpy", "cli", "reading or writing .safetensors")


def save(state_dict: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Write ``state_dict`` (name -> array) to ``path``; the format follows the suffix."""
    path = Path(path)
    # np.ascontiguousarray would turn 0-d arrays (num_batches_tracked) into 1-d ones.
    arrays = {str(key): np.array(value, order="C") for key, value in state_dict.items()}
    if _suffix(path) == ".npz":
        np.savez(path, **arrays)
    else:
        _safetensors_numpy().save_file(arrays, str(path))
    return path


def load(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """Read a state dict written by :func:`save` (or by PyTorch + safetensors); never unpickles."""
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return OrderedDict((key, archive[key]) for key in archive.files)
        except ValueError as error:
            raise ValueError(f"{path}: cannot read as a NumPy .npz of arrays ({error})") from error
    try:
        return OrderedDict(_safetensors_numpy().load_file(str(path)))
    except Exception as error:  # safetensors raises its own SafetensorError
        raise ValueError(f"{path}: cannot read as safetensors ({error})") from error
