"""What the torchvision models share: how their explicit (ndarray) path runs, and torchvision's ``weights=``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd import Tensor, no_grad


def _inference_on_arrays(forward: Callable[[Any], Any], x: Any) -> Any:
    """``forward(x)``: on the tape for a Tensor; under ``no_grad()`` for an ndarray.

    A composite model has no hand-written backward, so its explicit path is inference: under ``no_grad()``
    its layers keep no per-call state for a backward that cannot come (a ResNet-18 forward on 8 x 3 x 128 x 128
    would otherwise hold every layer's input). Batch norms in training mode still update their running
    statistics, as in PyTorch.
    """
    if isinstance(x, Tensor):
        return forward(x)
    with no_grad():
        return forward(x)


def _no_weights(weights: Any) -> None:
    """torchvision's ``weights=`` downloads; here weights come from a file the user converted."""
    if weights is not None:
        raise ValueError(f"weights={weights!r}: vanilla_nn never downloads weights; convert torchvision's checkpoint "
                         f"once with `vanilla-nn convert FILE.pth OUT.safetensors`, then "
                         f"model.load_state_dict(vanilla_nn.nn.load(OUT))")
