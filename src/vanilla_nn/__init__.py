"""vanilla_nn: neural-network operations in plain NumPy, proven against PyTorch and TensorFlow.

``vanilla_nn.gradcheck`` is the finite-difference checker function (the module of the same name,
``vanilla_nn/gradcheck.py``, also holds its report types: ``from vanilla_nn.gradcheck import
GradcheckReport``).
"""

from vanilla_nn.gradcheck import gradcheck

__all__ = ["gradcheck"]
