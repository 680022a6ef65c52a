"""``Dropout`` and ``Dropout2d`` (whole channels), each with its own seedable generator."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.function import FunctionalCall
from ..autograd.tensor import Tensor
from . import init
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class Dropout(Module):
    """``torch.nn.Dropout``: in training, zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``; in eval mode the identity.

    ``rng`` (a ``numpy.random.Generator`` or an int seed) draws the masks; None uses the global generator of
    :mod:`vanilla_nn.nn.init`. The mask of the last forward is kept for backward. ``inplace`` is ignored.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: Any = None) -> None:
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p={p!r} must be a number between 0 and 1")
        self.p = float(p)
        self.inplace = inplace
        self.rng = None if rng is None else init.as_generator(rng)

    def forward(self, input: np.ndarray) -> np.ndarray:
        training = self.training
        mask = None
        if training and self.p > 0.0:
            array = input.data if isinstance(input, Tensor) else np.asarray(input)
            dtype = array.dtype if array.dtype.kind == "f" else np.float64
            rng = self.rng if self.rng is not None else init.default_generator()
            mask = F.dropout_mask(array.shape, self.p, rng, dtype)
            output = F.dropout(input, self.p, True, mask=mask)
        else:
            output = F.dropout(input, self.p, training and self.p > 0.0)
            training = training and self.p > 0.0
        self._save((input, training, mask))
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        input, training, mask = self._saved()
        return F.dropout_backward(grad_output, input, self.p, training, mask=mask)[0]

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Module):
    """``torch.nn.Dropout2d``: in training, zero whole channels of ``(N, C, H, W)`` (or unbatched
    ``(C, H, W)``) with probability ``p`` and scale the rest by ``1 / (1 - p)``; in eval mode the identity.

    The mask has one value per channel, ``(N, C, 1, 1)`` or ``(C, 1, 1)`` (PyTorch documents ``(C, H, W)`` as
    unbatched; its current runtime still reads a 3-d input as ``(N, C, L)`` with a warning). ``rng`` (a
    ``numpy.random.Generator`` or an int seed) draws the masks; None uses the global generator of
    :mod:`vanilla_nn.nn.init`. The mask of the last forward is kept for backward; on the tape, in the node.
    ``inplace`` is ignored.

    Raises:
        ValueError: ``p`` outside ``[0, 1]``; in ``forward``, an input that is not 3-d or 4-d.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: Any = None) -> None:
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: dropout probability p={p!r} must be a number between 0 and 1")
        self.p = float(p)
        self.inplace = inplace
        self.rng = None if rng is None else init.as_generator(rng)

    def forward(self, input: np.ndarray) -> np.ndarray:
        training = self.training and self.p > 0.0
        if not training:
            output = F.dropout2d(input, self.p, False)
            self._save(FunctionalCall((input, self.p, False), {"mask": None}))
            return output
        array = input.data if isinstance(input, Tensor) else np.asarray(input)
        dtype = array.dtype if array.dtype.kind == "f" else np.float64
        rng = self.rng if self.rng is not None else init.default_generator()
        mask = F.dropout_mask(F.dropout2d_mask_shape(array.shape), self.p, rng, dtype)
        output = F.dropout2d(input, self.p, True, mask=mask)
        self._save(FunctionalCall((input, self.p, True), {"mask": mask}))  # the call the tape keeps
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        call = self._saved()
        return F.dropout2d_backward(grad_output, *call.args, **call.kwargs)[0]

    def extra_repr(self) -> str:
        return f"p={self.p}"
