"""vanilla_nn: neural-network operations in plain NumPy, proven against PyTorch and TensorFlow.

``vanilla_nn.tensor`` / ``Tensor`` put arrays on the tape (``loss.backward()``), and every op of
``vanilla_nn.functional`` accepts them. ``vanilla_nn.gradcheck`` is the finite-difference checker function
(the module of the same name, ``vanilla_nn/gradcheck.py``, also holds its report types: ``from
vanilla_nn.gradcheck import GradcheckReport``).
"""

from vanilla_nn import autograd
from vanilla_nn.autograd import Tensor, cat, enable_grad, is_grad_enabled, no_grad, set_grad_enabled, stack, tensor
from vanilla_nn.gradcheck import gradcheck

__all__ = ["autograd", "Tensor", "tensor", "cat", "stack", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "gradcheck"]
