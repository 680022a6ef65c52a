"""Pooling, activation, flatten, batch-norm, dropout layers and the losses against torch.nn."""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn.nn as nn

from .nn_helpers import DTYPES, assert_close, noncontiguous, run_against_torch, torch_dtype
from .nn_helpers import random_input as _input

torch = pytest.importorskip("torch")



def _torch_dtype(dtype):
    return torch_dtype(torch, dtype)


POOL_CASES = [
    ("MaxPool1d", dict(kernel_size=3), (2, 3, 9)),
    ("MaxPool1d", dict(kernel_size=2, stride=1, padding=1, dilation=2, ceil_mode=True), (2, 3, 8)),
    ("MaxPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 6)),
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1)), (1, 2, 7, 7)),
    ("MaxPool3d", dict(kernel_size=2, stride=(1, 2, 2), padding=1), (1, 2, 4, 5, 4)),
    ("AvgPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 9)),
    ("AvgPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 7, 6)),
    ("AvgPool3d", dict(kernel_size=2, padding=1, count_include_pad=True), (1, 2, 4, 5, 4)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2)), (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (2, 3, 4, 4)),
]


@pytest.mark.parametrize(("name", "options", "shape"), POOL_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_matches_torch(name, options, shape, dtype):
    run_against_torch(torch, getattr(nn, name)(**options), getattr(torch.nn, name)(**options),
                      _input(shape, dtype))


ELEMENTWISE_CASES = [
    ("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", dict(negative_slope=0.2)), ("Sigmoid", {}), ("Tanh", {}),
    ("Flatten", {}), ("Flatten", dict(start_dim=0, end_dim=2)), ("Flatten", dict(start_dim=2)),
    ("ReLU6", {}), ("Hardswish", {}), ("SiLU", {}), ("GELU", {}), ("GELU", dict(approximate="tanh")),
    ("Identity", {}), ("Identity", dict(unused=3)),
]


@pytest.mark.parametrize(("name", "options"), ELEMENTWISE_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_and_flatten_match_torch(name, options, dtype):
    x = _input((3, 4, 5, 2), dtype) * 3
    run_against_torch(torch, getattr(nn, name)(**options), getattr(torch.nn, name)(**options), x)


BN_CASES = [
    ("BatchNorm1d", dict(), (6, 4)),
    ("BatchNorm1d", dict(momentum=0.3), (5, 4, 3)),
    ("BatchNorm1d", dict(affine=False), (6, 4)),
    ("BatchNorm2d", dict(), (3, 4, 5, 2)),
    ("BatchNorm2d", dict(momentum=None, eps=1e-3), (3, 4, 5, 2)),
    ("BatchNorm2d", dict(track_running_stats=False), (3, 4, 3, 3)),
]


@pytest.mark.parametrize(("name", "options", "shape"), BN_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_matches_torch_in_train_then_eval(name, options, shape, dtype):
    ours = getattr(nn, name)(shape[1], dtype=dtype, **options)
    theirs = getattr(torch.nn, name)(shape[1], **options).to(_torch_dtype(dtype))
    if ours.weight is not None:  # non-trivial affine parameters
        ours.weight.data[...] = _input(shape[1], dtype, seed=5)
        ours.bias.data[...] = _input(shape[1], dtype, seed=6)
    # Three training steps: running statistics and num_batches_tracked must follow torch's.
    for step in range(3):
        state = {k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}
        theirs.load_state_dict(state)
        run_against_torch(torch, ours, theirs, _input(shape, dtype, seed=10 + step) * 2 + step, seed=step)
        ours.zero_grad()
        theirs.zero_grad()
    ours.eval()
    theirs.eval()
    run_against_torch(torch, ours, theirs, _input(shape, dtype, seed=20))
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked) == 3


def test_batch_norm_bad_input():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"input\.shape=\(2, 3, 4\)"):
        bn(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="num_features=3"):
        bn(np.zeros((2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match="eps"):
        nn.BatchNorm1d(3, eps=0)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout(p, dtype):
    x = noncontiguous(_input((40, 50), dtype) + 5.0)  # no zeros in x
    layer = nn.Dropout(p, rng=3)
    y = layer(x)
    assert y.dtype == dtype
    kept = y != 0
    if 0 < p < 1:
        assert abs((~kept).mean() - p) < 0.05
    assert_close(y[kept], x[kept] / (1 - p) if p < 1 else x[kept], dtype, "kept values scaled by 1/(1-p)")
    gy = _input(y.shape, dtype, seed=2)
    gx = layer.backward(gy)
    # The same mask in backward: torch's dropout backward is gy * mask, mask = y / x.
    assert_close(gx, gy * (y / x), dtype, "grad_input")
    # Seeded: a second layer with the same seed draws the same mask; eval is the identity.
    np.testing.assert_array_equal(nn.Dropout(p, rng=3)(x), y)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(gy), gy)


def test_dropout_bad_p():
    with pytest.raises(ValueError, match="p=1.5"):
        nn.Dropout(1.5)


W5 = np.array([0.5, 2.0, 1.0, 0.0, 1.5])  # class weights, one of them 0
LOSS_CASES = [
    ("CrossEntropyLoss", dict(), (6, 5), "class"),
    ("CrossEntropyLoss", dict(reduction="sum"), (6, 5), "class"),
    ("CrossEntropyLoss", dict(reduction="none"), (6, 5), "class"),
    ("CrossEntropyLoss", dict(label_smoothing=0.1), (6, 5), "class"),
    ("CrossEntropyLoss", dict(reduction="sum", label_smoothing=0.3), (4, 3, 2, 2), "class"),
    ("CrossEntropyLoss", dict(weight=W5, ignore_index=2, label_smoothing=0.2), (6, 5), "class"),
    ("CrossEntropyLoss", dict(weight=W5, ignore_index=1, reduction="none"), (3, 5, 2), "class"),
    ("CrossEntropyLoss", dict(weight=W5, label_smoothing=0.1), (6, 5), "probability"),
    ("CrossEntropyLoss", dict(reduction="none"), (3, 5, 2), "probability"),
    ("NLLLoss", dict(), (6, 5), "class"),
    ("NLLLoss", dict(weight=W5, ignore_index=0), (6, 5), "class"),
    ("NLLLoss", dict(weight=W5, reduction="none"), (3, 5, 2), "class"),
    ("BCEWithLogitsLoss", dict(), (6, 5), "binary"),
    ("BCEWithLogitsLoss", dict(weight=np.arange(1.0, 6.0), pos_weight=W5 + 1, reduction="sum"), (6, 5), "binary"),
    ("BCEWithLogitsLoss", dict(pos_weight=np.array([2.0]), reduction="none"), (3, 4, 1), "binary"),
    ("MSELoss", dict(), (6, 5), "value"),
    ("MSELoss", dict(reduction="sum"), (3, 4, 2), "value"),
    ("MSELoss", dict(reduction="none"), (6, 5), "value"),
]


@pytest.mark.parametrize(("name", "options", "shape", "target_kind"), LOSS_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_match_torch(name, options, shape, target_kind, dtype):
    x = _input(shape, dtype) * 3
    rng = np.random.default_rng(4)
    if target_kind == "class":
        target = rng.integers(0, shape[1], (shape[0], *shape[2:])).astype(np.int64)
    elif target_kind == "probability":
        target = rng.uniform(0, 1, shape)
        target = (target / target.sum(axis=1, keepdims=True)).astype(dtype)
    elif target_kind == "binary":
        target = rng.integers(0, 2, shape).astype(dtype)
    else:
        target = rng.standard_normal(shape).astype(dtype)
    arrays = {k: v.astype(dtype) for k, v in options.items() if isinstance(v, np.ndarray)}
    ours = getattr(nn, name)(**{**options, **arrays})
    theirs = getattr(torch.nn, name)(**{**options, **{k: torch.from_numpy(v) for k, v in arrays.items()}})
    assert list(ours.state_dict()) == list(theirs.state_dict())  # weight / pos_weight are buffers
    tx = torch.tensor(x, requires_grad=True)
    tloss = theirs(tx, torch.from_numpy(target))
    loss = ours(noncontiguous(x), noncontiguous(target))
    if options.get("reduction", "mean") == "none":
        assert_close(loss, tloss.detach().numpy(), dtype, "loss")
        upstream = _input(loss.shape, dtype, seed=7)
        tloss.backward(torch.from_numpy(upstream))
        grad = ours.backward(upstream)
    else:
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, tloss.item(), rtol=1e-10 if dtype == np.float64 else 1e-5)
        tloss.backward()
        grad = ours.backward()
    assert_close(grad, tx.grad.numpy(), dtype, "grad wrt prediction")


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_layers_match_torch(name, dim, dtype):
    run_against_torch(torch, getattr(nn, name)(dim=dim), getattr(torch.nn, name)(dim=dim),
                      _input((3, 4, 5), dtype) * 4)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 4), (2, 3, 4, 2)])
def test_softmax_layers_implicit_dim_is_pytorchs(name, shape):
    x = _input(shape, np.float64)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = getattr(nn, name)()(x)
    with pytest.warns(UserWarning):
        y_ref = getattr(torch.nn, name)()(torch.from_numpy(x)).numpy()
    assert_close(y, y_ref, np.float64, "output")
    with pytest.raises(TypeError, match="dim=1.5"):
        getattr(nn, name)(1.5)


@pytest.mark.parametrize(("target", "exc", "word"), [
    (np.zeros((5,), np.int64), ValueError, "target"),        # wrong batch size
    (np.zeros((6, 5), np.int64), ValueError, "target"),      # wrong rank
    (np.zeros((6,), np.float64), TypeError, "target"),       # float class indices
    (np.full((6,), 5, np.int64), ValueError, "target"),      # class out of range
])
def test_cross_entropy_bad_targets(target, exc, word):
    with pytest.raises(exc) as info:
        nn.CrossEntropyLoss()(np.zeros((6, 5)), target)
    assert word in str(info.value)


def test_loss_bad_arguments():
    with pytest.raises(ValueError, match="reduction='avg'"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="target"):
        nn.MSELoss()(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(RuntimeError, match="before a forward"):
        nn.MSELoss().backward()
    with pytest.raises(TypeError, match="ignore_index"):
        nn.CrossEntropyLoss(ignore_index=1.0)
    with pytest.raises(TypeError, match="weight"):
        nn.NLLLoss(weight=np.array([1, 2]))
    with pytest.raises(TypeError, match="pos_weight"):
        nn.BCEWithLogitsLoss(pos_weight=[1, 2])
    with pytest.raises(ValueError, match="weight.shape"):
        nn.CrossEntropyLoss(weight=np.ones(3))(np.zeros((2, 4)), np.zeros(2, np.int64))
