"""Turn a PyTorch checkpoint (.pth/.pt) into a .safetensors state dict that vanilla_nn (and PyTorch) can load.

The checkpoint is read with torch.load(weights_only=True, map_location="cpu"): PyTorch's restricted
unpickler, which rebuilds tensors and plain containers and refuses anything else (no code runs). The file
must hold a state dict (name -> tensor), or a dict with one under "state_dict" or "model" (or under --key);
every entry must be a tensor. bfloat16 tensors are widened to float32 (exactly). The output is written
atomically and needs nothing but NumPy to read: vanilla_nn.nn.load(OUT) or Module.load_state_dict.

Needs PyTorch (pip install 'vanilla-nn[torch]'); reading the result does not.

Examples:
  vanilla-nn convert resnet18-f37072fd.pth resnet18.safetensors
  vanilla-nn convert checkpoint.pt weights.safetensors --key ema_state_dict
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vanilla_nn._extras import import_optional

CONTAINER_KEYS = ("state_dict", "model")


class ConvertError(ValueError):
    """A checkpoint that cannot be converted; the message is one line naming the file."""


def _output(text: str) -> Path:
    path = Path(text)
    if path.suffix != ".safetensors":
        raise argparse.ArgumentTypeError(f"{text!r} must end in .safetensors")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("checkpoint", metavar="FILE.pth", help="a PyTorch checkpoint saved with torch.save")
    parser.add_argument("out", metavar="OUT.safetensors", type=_output, help="where to write the state dict")
    parser.add_argument("--key", default=None,
                        help="take the state dict from this entry of the checkpoint's dict (default: the whole "
                             "file when it is a state dict, else its 'state_dict' or 'model' entry)")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _state_dict(checkpoint: Any, path: str, key: str | None, torch: Any) -> Mapping[str, Any]:
    """The name -> tensor mapping inside ``checkpoint``."""
    if not isinstance(checkpoint, Mapping):
        raise ConvertError(f"{path}: holds a {type(checkpoint).__name__} object, not a state dict (a dict of tensors)")
    if key is not None:
        if key not in checkpoint:
            raise ConvertError(f"{path}: no entry {key!r}; the checkpoint's keys are "
                               f"{', '.join(map(repr, list(checkpoint)[:10]))}")
        checkpoint = checkpoint[key]
        if not isinstance(checkpoint, Mapping):
            raise ConvertError(f"{path}: entry {key!r} is a {type(checkpoint).__name__}, not a state dict")
    elif not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        found = [name for name in CONTAINER_KEYS if isinstance(checkpoint.get(name), Mapping)]
        if found:
            checkpoint = checkpoint[found[0]]
    if not checkpoint:
        raise ConvertError(f"{path}: the state dict is empty")
    for name, value in checkpoint.items():
        if not isinstance(name, str):
            raise ConvertError(f"{path}: key {name!r} is a {type(name).__name__}, not a str")
        if not isinstance(value, torch.Tensor):
            raise ConvertError(f"{path}: {name!r} is of type {type(value).__name__}, not a tensor; only tensors are "
                               f"converted (use --key to pick the state dict inside a training checkpoint)")
    return checkpoint


def _to_numpy(name: str, tensor: Any, path: str, torch: Any) -> np.ndarray:
    if tensor.layout != torch.strided or tensor.is_quantized:
        raise ConvertError(f"{path}: {name!r} is a {tensor.layout} {'quantized ' if tensor.is_quantized else ''}"
                           f"tensor; only dense tensors are converted")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    try:
        return np.array(tensor.contiguous().numpy(), copy=True)
    except (TypeError, RuntimeError) as error:
        raise ConvertError(f"{path}: {name!r} has dtype {tensor.dtype}, which NumPy cannot hold "
                           f"({_first_line(error)})") from error


def convert(checkpoint: str | Path, out: str | Path, key: str | None = None) -> OrderedDict[str, np.ndarray]:
    """Read ``checkpoint`` with ``torch.load(weights_only=True)`` and write its state dict to ``out``."""
    from vanilla_nn.nn.serialization import write_safetensors

    torch = import_optional("torch", "torch", "vanilla-nn convert")
    path = str(checkpoint)
    if not Path(path).is_file():
        raise ConvertError(f"{path}: no such file")
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - torch raises many types; each becomes one line
        text = _first_line(error)
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise ConvertError(f"{path}: holds more than tensors (torch.load(weights_only=True) refused it: "
                               f"{text})") from error
        raise ConvertError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {text})") from error
    state = _state_dict(loaded, path, key, torch)
    arrays = OrderedDict((name, _to_numpy(name, tensor, path, torch)) for name, tensor in state.items())
    try:
        write_safetensors(out, arrays, {"format": "pt", "converted_from": Path(path).name})
    except TypeError as error:
        raise ConvertError(f"{path}: {error}") from error
    return arrays


def run(args: argparse.Namespace) -> int:
    try:
        arrays = convert(args.checkpoint, args.out, args.key)
    except ConvertError as error:
        raise SystemExit(f"vanilla-nn convert: {error}") from error
    except OSError as error:  # e.g. the output's directory does not exist or is not writable
        raise SystemExit(f"vanilla-nn convert: {args.out}: cannot write ({error.strerror or error})") from error
    count = sum(int(a.size) for a in arrays.values())
    print(f"wrote {args.out}: {len(arrays)} tensors, {count:,} values, from {args.checkpoint}")
    return 0
