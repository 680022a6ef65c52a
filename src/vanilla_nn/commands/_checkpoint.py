"""``train``'s checkpoint: one safetensors file holding everything a run needs to continue bit-identically.

Tensors: the model's state dict under ``model.<key>`` and every array of the optimizer's state dict
(PyTorch's layout) under ``optimizer.<path>``. Metadata (safetensors' ``__metadata__``, strings only): a
``format`` tag and one JSON document, ``checkpoint``, with the completed ``epoch``, the command's ``args``,
the ``model`` name and constructor ``config``, the optimizer state's non-array parts (arrays replaced by
``{"__tensor__": name}``), the ``scheduler`` state, the ``rng`` states (NumPy bit-generator states) and the
``history`` so far. Floats in JSON round-trip exactly (Python writes the shortest repr that reads back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._common import InputError

FORMAT = "vanilla-nn-checkpoint/1"
NAME = "checkpoint.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint (see the module docstring)."""

    epoch: int
    args: dict[str, Any]
    model: str
    config: dict[str, Any]
    model_state: dict[str, np.ndarray]
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    rng: dict[str, Any]
    history: dict[str, list[float]]


def pack(value: Any, prefix: str, tensors: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON with every ndarray (and NumPy scalar) moved into ``tensors`` under a dotted name.

    Dicts with non-string keys, tuples and arrays are tagged so :func:`unpack` restores them exactly.
    """
    if isinstance(value, np.ndarray | np.generic):
        tensors[prefix] = np.array(value, order="C")
        return {"__tensor__": prefix, "scalar": isinstance(value, np.generic)}
    if isinstance(value, dict):
        items = [[key, pack(item, f"{prefix}.{key}", tensors)] for key, item in value.items()]
        if all(isinstance(key, str) for key in value):
            return dict(items)
        return {"__items__": items}
    if isinstance(value, tuple):
        return {"__tuple__": [pack(item, f"{prefix}.{i}", tensors) for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [pack(item, f"{prefix}.{i}", tensors) for i, item in enumerate(value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint ({prefix})")


def unpack(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`pack`."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            array = tensors[value["__tensor__"]]
            return array[()] if value.get("scalar") else array
        if "__items__" in value:
            return {key: unpack(item, tensors) for key, item in value["__items__"]}
        if "__tuple__" in value:
            return tuple(unpack(item, tensors) for item in value["__tuple__"])
        return {key: unpack(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [unpack(item, tensors) for item in value]
    return value


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """``tensors`` and string ``metadata`` as a safetensors file at ``path``."""
    from ..nn import serialization

    serialization.write_safetensors(path, tensors, metadata)


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of a safetensors file (bounded reads; a bad file is a ``ValueError``)."""
    from ..nn import serialization

    tensors, metadata = serialization.read_safetensors(path)
    return dict(tensors), dict(metadata or {})


def write(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` (a staged temporary path: the caller renames it into place)."""
    tensors = {f"model.{key}": np.array(value, order="C") for key, value in checkpoint.model_state.items()}
    document = {
        "epoch": checkpoint.epoch, "args": checkpoint.args, "model": checkpoint.model, "config": checkpoint.config,
        "optimizer": pack(checkpoint.optimizer_state, "optimizer", tensors),
        "scheduler": pack(checkpoint.scheduler_state, "scheduler", tensors),
        "rng": checkpoint.rng, "history": checkpoint.history,
    }
    write_safetensors(path, tensors, {"format": FORMAT, "checkpoint": json.dumps(document, allow_nan=False)})


def read(path: Path) -> Checkpoint:
    """Load a checkpoint written by :func:`write`; any problem is an :class:`InputError` naming ``path``."""
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint here (train writes {NAME} after each completed epoch)")
    try:
        tensors, metadata = read_safetensors(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable checkpoint ({error})") from None
    if metadata.get("format") != FORMAT:
        raise InputError(f"{path}: not a vanilla-nn checkpoint (format {metadata.get('format')!r}, "
                         f"expected {FORMAT!r})")
    try:
        document = json.loads(metadata["checkpoint"])
        model_state = {key[len("model."):]: value for key, value in tensors.items() if key.startswith("model.")}
        return Checkpoint(
            epoch=int(document["epoch"]), args=dict(document["args"]), model=str(document["model"]),
            config=dict(document["config"]), model_state=model_state,
            optimizer_state=unpack(document["optimizer"], tensors),
            scheduler_state=unpack(document["scheduler"], tensors),
            rng=dict(document["rng"]), history={k: list(v) for k, v in document["history"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(f"{path}: damaged checkpoint metadata ({type(error).__name__}: {error})") from None
