"""The whole loop: the same LeNet in torch and vanilla_nn, same initial weights and batches, float64.

SGD with momentum for 25 steps, then Adam for 25: the losses agree to 1e-9 relative at every step.
"""

from __future__ import annotations

import numpy as np
import pytest

from vanilla_nn import nn, optim
from vanilla_nn.data import batches
from vanilla_nn.models import lenet

torch = pytest.importorskip("torch")


def torch_lenet(in_channels=1, num_classes=10, image_size=8, channels=(16, 32), hidden=64, kernel_size=3):
    c1, c2 = channels
    pad = kernel_size // 2
    return torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, c1, kernel_size, padding=pad), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c1, c2, kernel_size, padding=pad), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(c2 * (image_size // 4) ** 2, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, num_classes))


STEPS = 50


def test_training_loop_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.random((96, 1, 8, 8))
    y = rng.integers(0, 10, 96).astype(np.int64)
    ours = lenet(image_size=8, channels=(6, 8), hidden=16, dtype=np.float64, rng=1)
    theirs = torch_lenet(image_size=8, channels=(6, 8), hidden=16).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    opt = optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    stream = iter(())
    losses = []
    for step in range(STEPS):
        if step == STEPS // 2:
            opt = optim.Adam(ours.parameters(), lr=3e-3, amsgrad=True)
            topt = torch.optim.Adam(theirs.parameters(), lr=3e-3, amsgrad=True, foreach=False)
        xb_yb = next(stream, None)
        if xb_yb is None:
            stream = batches(x, y, 16, rng=np.random.default_rng(step))
            xb_yb = next(stream)
        xb, yb = xb_yb
        loss = loss_fn(ours(xb), yb)
        opt.zero_grad()
        ours.backward(loss_fn.backward())
        opt.step()
        tloss = tloss_fn(theirs(torch.from_numpy(xb)), torch.from_numpy(yb))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        losses.append(loss)
        assert abs(loss - tloss.item()) <= 1e-9 * abs(tloss.item()), f"step {step}: {loss} vs {tloss.item()}"
    assert len(set(losses)) == STEPS  # the weights moved at every step
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-8, atol=1e-10, err_msg=key)
