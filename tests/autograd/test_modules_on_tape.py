"""Layers on the tape: a module called with a Tensor records its op; reuse of a module adds up; the
explicit path raises where a hand-written backward would be wrong; a residual CNN trains like PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vanilla_nn as vn
from vanilla_nn import nn
from vanilla_nn.optim import SGD


class ResidualCNN(nn.Module):
    """A shared ReLU instance (torchvision's BasicBlock idiom) and one conv applied twice."""

    def __init__(self, dtype=np.float64) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, padding=1, dtype=dtype, rng=0)
        self.bn = nn.BatchNorm2d(4, dtype=dtype)
        self.relu = nn.ReLU()
        self.shared = nn.Conv2d(4, 4, 3, padding=1, dtype=dtype, rng=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4, 3, dtype=dtype, rng=2)

    def forward(self, x):
        out = self.relu(self.bn(self.stem(x)))
        identity = out
        out = self.relu(self.shared(out))
        out = self.shared(out)
        out = self.relu(out + identity)
        return self.head(self.pool(out).flatten(1))


class TorchResidualCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.relu = torch.nn.ReLU()
        self.shared = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x):
        out = self.relu(self.bn(self.stem(x)))
        identity = out
        out = self.relu(self.shared(out))
        out = self.shared(out)
        out = self.relu(out + identity)
        return self.head(self.pool(out).flatten(1))


def _twins():
    ours = ResidualCNN()
    theirs = TorchResidualCNN().double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def test_residual_cnn_trains_like_pytorch_for_20_momentum_steps() -> None:
    ours, theirs = _twins()
    opt = SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    for step in range(20):
        x = rng.standard_normal((4, 2, 6, 6))
        target = rng.integers(0, 3, 4)
        opt.zero_grad()
        loss = loss_fn(ours(vn.tensor(x)), target)
        assert isinstance(loss, vn.Tensor) and loss.shape == ()
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(theirs(torch.tensor(x)), torch.tensor(target))
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) <= 1e-9 * max(1.0, abs(tloss.item())), step
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        expected = theirs_state[key].numpy()
        scale = max(np.abs(expected).max(), 1e-300)
        assert np.abs(value - expected).max() / scale <= 1e-8, key


def test_module_reused_on_the_tape_adds_its_gradients() -> None:
    ours, theirs = _twins()
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    ours(vn.tensor(x)).sum().backward()
    theirs(torch.tensor(x)).sum().backward()
    for name, param in ours.named_parameters():
        expected = dict(theirs.named_parameters())[name].grad.numpy()
        np.testing.assert_allclose(param.grad, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def test_module_returns_a_tensor_for_a_tensor_and_an_array_for_an_array() -> None:
    conv = nn.Conv2d(1, 2, 3, dtype=np.float64, rng=0)
    x = np.ones((1, 1, 4, 4))
    y_array = conv(x)
    y_tensor = conv(vn.tensor(x))
    assert type(y_array) is np.ndarray and isinstance(y_tensor, vn.Tensor)
    np.testing.assert_array_equal(y_array, y_tensor.data)
    assert y_tensor.grad_fn is not None  # the weight requires grad even when the input does not
    with vn.no_grad():
        assert conv(vn.tensor(x)).grad_fn is None


def test_explicit_path_refuses_the_backward_of_an_earlier_call() -> None:
    relu = nn.ReLU()
    x = np.random.default_rng(0).standard_normal((3, 4))
    first = relu(x)
    second = relu(first - 0.5)
    grad = relu.backward(np.ones_like(second))          # the last call's state: right
    np.testing.assert_array_equal(grad, (first - 0.5 > 0).astype(float))
    with pytest.raises(RuntimeError, match="called more than once"):
        relu.backward(grad)                            # the first call's state is gone: an error, not a wrong answer


def test_explicit_path_still_accumulates_repeated_backwards_of_one_call() -> None:
    linear = nn.Linear(3, 2, dtype=np.float64, rng=0)
    y = linear(np.ones((4, 3)))
    linear.backward(np.ones_like(y))
    once = linear.weight.grad.copy()
    linear.backward(np.ones_like(y))
    np.testing.assert_allclose(linear.weight.grad, 2 * once)


def test_parameter_is_a_leaf_tensor_whose_data_optimizers_update() -> None:
    layer = nn.Linear(2, 1, dtype=np.float64, rng=0)
    assert isinstance(layer.weight, vn.Tensor) and layer.weight.is_leaf and layer.weight.requires_grad
    data = layer.weight.data
    loss = layer(vn.tensor(np.ones((1, 2)))).sum()
    loss.backward()
    SGD(layer.parameters(), lr=0.5).step()
    assert layer.weight.data is data or np.shares_memory(layer.weight.data, data)
    assert type(layer.weight.grad) is np.ndarray


def test_model_forward_under_no_grad_keeps_no_state() -> None:
    import tracemalloc

    from vanilla_nn.models import lenet

    x = np.random.default_rng(0).standard_normal((8, 2, 32, 32))
    sequential = lenet(in_channels=2, image_size=32, dtype=np.float64, rng=0)   # runs on ndarrays too
    model = ResidualCNN()
    for net, data in ((model, vn.tensor(x)), (sequential, vn.tensor(x)), (sequential, x)):
        net(data)  # warm up (lazy imports)
        tracemalloc.start()
        with vn.no_grad():
            y = net(data)
        kept, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert kept < 0.25 * x.nbytes, (type(net).__name__, type(data).__name__, kept)   # the logits, no activations
        assert all(m.__dict__.get("_cache") is None for m in net.modules())
        del y
    tracemalloc.start()
    y = model(vn.tensor(x))
    kept_with_grad, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert y.grad_fn is not None and kept_with_grad > 2 * x.nbytes   # the tape keeps what backward needs


def test_graph_draws_a_png(tmp_path) -> None:
    model = ResidualCNN()
    loss = model(vn.tensor(np.ones((1, 2, 4, 4)))).sum()
    text = vn.autograd.graph(loss, names=dict(model.named_parameters()), png=str(tmp_path / "g.png"))
    data = (tmp_path / "g.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "parameter shared.weight" in text and text.count("conv2d(") == 3
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]      # no temporary file left behind
