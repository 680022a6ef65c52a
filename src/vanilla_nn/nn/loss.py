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

__all__ = ["CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "MSELoss"]

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


def _optional_array(value: Any, name: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise TypeError(f"{name} has dtype {array.dtype}; it must be a float array (or None)")
    return array.copy()


class _WeightedLoss(_Loss):
    """A loss with optional class weights, kept as the buffer ``weight`` (in the state dict, as PyTorch)."""

    def __init__(self, weight: Any, reduction: str) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_array(weight, "weight"))


class CrossEntropyLoss(_WeightedLoss):
    """``torch.nn.CrossEntropyLoss`` from logits ``(N, C)`` (or ``(N, C, *d)``, or ``(C,)``) and class indices
    ``(N, *d)`` or class probabilities shaped like the logits.

    ``loss_n = -sum_c w_c q_nc * log_softmax(x_n)_c`` with ``q = (1 - e) * target + e / C``
    (``e = label_smoothing``, ``target`` one-hot for class indices); class-index targets equal to
    ``ignore_index`` count for nothing, and ``"mean"`` divides by the summed weights of the others (see
    :func:`vanilla_nn.functional.cross_entropy`). The mean/sum is returned as a float.

    Raises:
        ValueError: an unknown ``reduction``, or ``label_smoothing`` outside ``[0, 1]``.
        TypeError: ``weight`` is not a float array, or ``ignore_index`` is not an int. Bad logits or targets
            raise as :func:`vanilla_nn.functional.cross_entropy` does.

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

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be a number between 0 and 1")
        if not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool):
            raise TypeError(f"ignore_index={ignore_index!r} must be an int")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def _options(self) -> dict[str, Any]:
        return dict(weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                    label_smoothing=self.label_smoothing)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        output = F.cross_entropy(input, target, **self._options())
        self._save((input, target, output))
        return self._result(output)

    def backward(self, grad_output: Any = None) -> np.ndarray:
        input, target, output = self._saved()
        return F.cross_entropy_backward(self._upstream(grad_output, output), input, target, **self._options())[0]

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}")


class NLLLoss(_WeightedLoss):
    """``torch.nn.NLLLoss``: ``-w[t] * input[t]`` from log-probabilities ``(N, C, *d)`` and class indices.

    Targets equal to ``ignore_index`` count for nothing; ``"mean"`` divides by the summed weights of the others.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> loss_fn = nn.NLLLoss(reduction="sum")
        >>> loss_fn(np.log([[0.5, 0.5], [0.25, 0.75]]), np.array([0, -100]))    # the second is ignored
        0.6931471805599453
        >>> loss_fn.backward()
        array([[-1.,  0.],
               [ 0.,  0.]])
    """

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        if not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool):
            raise TypeError(f"ignore_index={ignore_index!r} must be an int")
        self.ignore_index = int(ignore_index)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        output = F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)
        self._save((input, target, output))
        return self._result(output)

    def backward(self, grad_output: Any = None) -> np.ndarray:
        input, target, output = self._saved()
        return F.nll_loss_backward(self._upstream(grad_output, output), input, target, self.weight,
                                   self.ignore_index, self.reduction)[0]

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class BCEWithLogitsLoss(_Loss):
    """``torch.nn.BCEWithLogitsLoss``: ``w * ((1 - y) softplus(x) + p y softplus(-x))`` per element, reduced.

    ``weight`` (broadcast to the input) and ``pos_weight`` (``p``, broadcast to the input, usually one per
    class along the last dim) are buffers, as in PyTorch. ``backward`` returns the gradient for the logits.

    Examples:
        >>> import numpy as np
        >>> from vanilla_nn import nn
        >>> loss_fn = nn.BCEWithLogitsLoss(pos_weight=np.array([3.0]))
        >>> round(loss_fn(np.zeros((2, 1)), np.array([[1.0], [0.0]])), 6)          # (3 log 2 + log 2) / 2
        1.386294
        >>> loss_fn.backward()                                                     # (-3/2, 1/2) / 2
        array([[-0.75],
               [ 0.25]])
    """

    def __init__(self, weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_array(weight, "weight"))
        self.register_buffer("pos_weight", _optional_array(pos_weight, "pos_weight"))

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        output = F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)
        self._save((input, target, output))
        return self._result(output)

    def backward(self, grad_output: Any = None) -> np.ndarray:
        input, target, output = self._saved()
        return F.binary_cross_entropy_with_logits_backward(self._upstream(grad_output, output), input, target,
                                                           self.weight, self.reduction, self.pos_weight)[0]

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


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
