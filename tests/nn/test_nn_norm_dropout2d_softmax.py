"""BatchNorm3d, GroupNorm, LayerNorm, Dropout2d, Softmax and LogSoftmax against torch.nn, on the explicit path
(``layer(x)`` then ``layer.backward(gy)``) and on the tape (a Tensor input, ``loss.backward()``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import vanilla_nn as vn
import vanilla_nn.nn as nn

from .nn_helpers import DTYPES, assert_close, noncontiguous, run_against_torch, torch_dtype
from .nn_helpers import random_input as _input

torch = pytest.importorskip("torch")



def _torch_dtype(dtype):
    return torch_dtype(torch, dtype)


def _randomise_parameters(layer, dtype):
    for seed, param in enumerate(layer.parameters()):
        param.data[...] = _input(param.data.shape, dtype, seed=30 + seed)


# (class name, constructor args, input shape): one table for the explicit path, the tape and zero-size inputs
LAYER_CASES = [
    ("GroupNorm", (3, 6), {}, (2, 6, 4, 5)),
    ("GroupNorm", (2, 8), {"eps": 1e-3}, (5, 8)),
    ("GroupNorm", (4, 4), {"affine": False}, (2, 4, 7)),
    ("GroupNorm", (1, 6), {}, (2, 6, 2, 3, 2)),
    ("LayerNorm", (6,), {}, (3, 5, 6)),
    ("LayerNorm", ((5, 6),), {"eps": 1e-3}, (2, 3, 5, 6)),
    ("LayerNorm", ([4],), {"elementwise_affine": False}, (3, 4)),
    ("LayerNorm", (4,), {"bias": False}, (2, 3, 4)),
    ("Softmax", (), {"dim": 1}, (3, 5)),
    ("Softmax", (), {"dim": -1}, (2, 3, 4)),
    ("Softmax", (), {}, (5,)),            # implicit dim 0
    ("Softmax", (), {}, (3, 4)),          # implicit dim 1
    ("Softmax", (), {}, (2, 3, 4)),       # implicit dim 0
    ("Softmax", (), {}, (2, 3, 4, 2)),    # implicit dim 1
    ("LogSoftmax", (), {}, (3, 4)),
    ("LogSoftmax", (), {}, (2, 3, 4)),
    ("LogSoftmax", (), {"dim": 2}, (2, 3, 4, 2)),
]
PARAMETRISED = ("GroupNorm", "LayerNorm")


def _twins(name, args, kwargs, dtype):
    ours = getattr(nn, name)(*args, **kwargs, **({"dtype": dtype} if name in PARAMETRISED else {}))
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(_torch_dtype(dtype))
    _randomise_parameters(ours, dtype)
    return ours, theirs


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), LAYER_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_matches_torch_on_the_explicit_path(name, args, kwargs, shape, dtype):
    ours, theirs = _twins(name, args, kwargs, dtype)
    x = _input(shape, dtype) * 3 + 1
    before = x.copy()
    with warnings.catch_warnings():  # torch's implicit-dim deprecation warning
        warnings.simplefilter("ignore")
        run_against_torch(torch, ours, theirs, x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), LAYER_CASES, ids=str)
def test_layer_on_the_tape_matches_torch_and_keeps_no_layer_state(name, args, kwargs, shape):
    ours, theirs = _twins(name, args, kwargs, np.float64)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = _input(shape, np.float64) * 2 - 1
    gy = _input(shape, np.float64, seed=9)
    xt = vn.tensor(noncontiguous(x), requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():  # both frameworks' implicit-dim deprecation warning
        warnings.simplefilter("ignore")
        y = ours(xt)
        ty = theirs(tx)
    assert isinstance(y, vn.Tensor) and ours.__dict__.get("_cache") is None
    (y * vn.tensor(gy)).sum().backward()
    ty.backward(torch.from_numpy(gy))
    assert_close(y.data, ty.detach().numpy(), np.float64, "output")
    assert_close(xt.grad, tx.grad.numpy(), np.float64, "grad_input")
    torch_params = dict(theirs.named_parameters())
    for pname, param in ours.named_parameters():
        assert_close(param.grad, torch_params[pname].grad.numpy(), np.float64, f"grad of {pname}")


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"),
                         [c for c in LAYER_CASES if c[0] in PARAMETRISED] + [("Softmax", (), {"dim": 1}, (0, 4))],
                         ids=str)
def test_empty_batch_gives_empty_results_like_torch(name, args, kwargs, shape):
    if shape[0] != 0:
        shape = (0, *shape[1:])
    ours, theirs = _twins(name, args, kwargs, np.float64)
    run_against_torch(torch, ours, theirs, np.zeros(shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"momentum": None, "eps": 1e-3}, {"affine": False},
                                     {"track_running_stats": False}], ids=str)
def test_batch_norm_3d_matches_torch_in_train_then_eval(options, dtype):
    shape = (3, 4, 3, 2, 3)
    ours = nn.BatchNorm3d(4, dtype=dtype, **options)
    theirs = torch.nn.BatchNorm3d(4, **options).to(_torch_dtype(dtype))
    _randomise_parameters(ours, dtype)
    for step in range(3):  # running statistics and num_batches_tracked follow torch's
        theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
        run_against_torch(torch, ours, theirs, _input(shape, dtype, seed=10 + step) * 2 + step, seed=step)
        ours.zero_grad()
        theirs.zero_grad()
    ours.eval()
    theirs.eval()
    run_against_torch(torch, ours, theirs, _input(shape, dtype, seed=20))
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked) == 3


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
@pytest.mark.parametrize("shape", [(30, 20, 3, 2), (400, 2, 3)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout2d_drops_whole_channels(p, shape, dtype):
    x = noncontiguous(_input(shape, dtype) + 5.0)  # no zeros in x
    layer = nn.Dropout2d(p, rng=3)
    y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape
    kept = y != 0
    per_channel = kept.reshape(*shape[:-2], -1)
    assert (per_channel.all(axis=-1) | ~per_channel.any(axis=-1)).all(), "a channel partly dropped"
    if 0 < p < 1:
        assert abs((~kept).mean() - p) < 0.06
    assert_close(y[kept], x[kept] / (1 - p) if p < 1 else x[kept], dtype, "kept values scaled by 1/(1-p)")
    gy = _input(shape, dtype, seed=2)
    gx = layer.backward(gy)
    assert_close(gx, gy * (y / x), dtype, "grad_input")  # the forward's mask
    np.testing.assert_array_equal(nn.Dropout2d(p, rng=3)(x), y)  # seeded
    xt = vn.tensor(x, requires_grad=True)  # on the tape the node keeps the mask
    on_tape = nn.Dropout2d(p, rng=3)
    yt = on_tape(xt)
    assert on_tape.__dict__.get("_cache") is None  # the node keeps the mask, not the layer
    np.testing.assert_array_equal(yt.data, y)
    (yt * vn.tensor(gy)).sum().backward()
    np.testing.assert_array_equal(xt.grad, gx)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(gy), gy)


def test_dropout2d_eval_matches_torch_and_empty_batch():
    ours, theirs = nn.Dropout2d(0.5).eval(), torch.nn.Dropout2d(0.5).eval()
    run_against_torch(torch, ours, theirs, _input((2, 3, 4, 4), np.float32))
    y = nn.Dropout2d(0.5, rng=0)(np.zeros((0, 3, 2, 2)))
    assert y.shape == (0, 3, 2, 2)


@pytest.mark.parametrize("make,x,error,words", [
    (lambda: nn.GroupNorm(4, 6), None, ValueError, "num_groups=4"),
    (lambda: nn.GroupNorm(2.0, 4), None, TypeError, "num_groups"),
    (lambda: nn.GroupNorm(2, 0), None, ValueError, "num_channels"),
    (lambda: nn.GroupNorm(2, 4, eps=0.0), None, ValueError, "eps"),
    (lambda: nn.GroupNorm(2, 4), np.zeros((2, 6, 3), np.float32), ValueError, r"input\.shape=\(2, 6, 3\)"),
    (lambda: nn.LayerNorm("4"), None, TypeError, "normalized_shape"),
    (lambda: nn.LayerNorm(()), None, ValueError, "normalized_shape"),
    (lambda: nn.LayerNorm((3, 0)), None, ValueError, "normalized_shape"),
    (lambda: nn.LayerNorm(4, eps="1e-5"), None, TypeError, "eps"),
    (lambda: nn.LayerNorm((3, 4)), np.zeros((3, 5), np.float32), ValueError, r"normalized_shape=\(3, 4\)"),
    (lambda: nn.LayerNorm(4, dtype=np.int32), None, TypeError, "dtype"),
    (lambda: nn.BatchNorm3d(4), np.zeros((2, 4, 3, 3), np.float32), ValueError, r"input\.shape=\(2, 4, 3, 3\)"),
    (lambda: nn.BatchNorm3d(4), np.zeros((2, 3, 2, 2, 2), np.float32), ValueError, "num_features=4"),
    (lambda: nn.Dropout2d(1.5), None, ValueError, "p=1.5"),
    (lambda: nn.Dropout2d(0.5), np.zeros((4, 5), np.float32), ValueError, r"input\.shape=\(4, 5\)"),
    (lambda: nn.Softmax(dim="1"), None, TypeError, "dim='1'"),
    (lambda: nn.LogSoftmax(dim=1.0), None, TypeError, "dim=1.0"),
    (lambda: nn.Softmax(dim=2), np.zeros((3, 4)), ValueError, "dim=2"),
])
def test_bad_arguments_are_named(make, x, error, words):
    with pytest.raises(error, match=words):
        layer = make()
        layer(x)
