"""Optimizers with PyTorch's exact update rules and state layout, and learning-rate schedulers.

``from vanilla_nn.optim import SGD, Adam, AdamW``; schedulers live in :mod:`vanilla_nn.optim.lr_scheduler`.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
