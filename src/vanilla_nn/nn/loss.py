"""Losses as modules: ``loss = loss_fn(prediction, target)`` then ``grad = loss_fn.backward()``.

``backward`` returns the gradient with respect to the prediction (the logits for cross-entropy) for an
upstream gradient of 1 (of ones for ``reduction="none"``) unless ``grad_output`` is given.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.tensor import Tensor
from .module import Module

__all__ = ["CrossEntropyLoss", "MSELoss"]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} must be one of {REDUCTIONS}")
    return reduction


class _Loss(Module):
    def __init__(self, reduction: str) -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def _result(self, value: Any) -> Any:
        """On the tape the loss Tensor (call ``.backward()`` on it); on the explicit path a float (an array
        for ``reduction="none"``)."""
        if isinstance(value, Tensor):
            return value
        return float(value) if self.reduction != "none" else value

    def _upstream(self, grad_output: Any, output: np.ndarray) -> np.ndarray:
        if grad_output is None:
            return np.ones(np.shape(output), dtype=np.asarray(output).dtype)
        return grad_output


class CrossEntropyLoss(_Loss):
    """``torch.nn.CrossEntropyLoss`` from logits ``(N, C)`` (or ``(N, C, *d)``) and class indices ``(N,)``.

    ``loss_n = -sum_c q_nc * log_softmax(x_n)_c`` with ``q = (1 - eps) * onehot(t_n) + eps / C``
    (``eps = label_smoothing``), then mean, sum or none over the batch. The mean/sum is returned as a float.

    Raises:
        ValueError: an unknown ``reduction``, or ``label_smoothing`` outside ``[0, 1]``. Bad logits or
            targets raise as :func:`vanilla_nn.functional.cross_entropy` does.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> loss_fn = nn.CrossEntropyLoss()
        >>> logits, target = np.zeros((2, 4)), np.array([0, 3])   # uniform guesses over 4 classes
        >>> round(loss_fn(logits, target), 6), round(float(np.log(4)), 6)
        (1.386294, 1.386294)
        >>> loss_fn.backward()                                    # (softmax - onehot) / N
        array([[-0.375,  0.125,  0.125,  0.125],
               [ 0.125,  0.125,  0.125, -0.375]])
    """

    def __init__(self, *, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be a number between 0 and 1")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        output = F.cross_entropy(input, target, self.reduction, self.label_smoothing)
        self._save((input, target, output))
        return self._result(output)

    def backward(self, grad_output: Any = None) -> np.ndarray:
        input, target, output = self._saved()
        return F.cross_entropy_backward(self._upstream(grad_output, output), input, target, self.reduction,
                                        self.label_smoothing)[0]

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class MSELoss(_Loss):
    """``torch.nn.MSELoss``: ``(x - y)^2`` averaged (``"mean"``), summed or kept (``"none"``)."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        output = F.mse_loss(input, target, self.reduction)
        self._save((input, target, output))
        return self._result(output)

    def backward(self, grad_output: Any = None) -> np.ndarray:
        input, target, output = self._saved()
        return F.mse_loss_backward(self._upstream(grad_output, output), input, target, self.reduction)[0]

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
