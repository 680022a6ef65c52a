"""The pooling, unpooling and upsampling layers of issue 10 and ConvTranspose's output_size, against torch.nn:
explicit path (forward, backward), indices, the typed state they keep, reprs and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn.nn as nn
from vanilla_nn.functional.pool import AdaptiveMaxPoolSaved, MaxPoolSaved

from .nn_helpers import DTYPES, assert_close, noncontiguous, run_against_torch, torch_dtype
from .nn_helpers import random_input as _input

torch = pytest.importorskip("torch")



def _torch_dtype(dtype):
    return torch_dtype(torch, dtype)


LAYER_CASES = [
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 7, 6)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, divisor_override=4), (2, 3, 7, 6)),
    ("AvgPool3d", dict(kernel_size=2, ceil_mode=True, divisor_override=-3), (1, 2, 5, 4, 3)),
    ("AdaptiveAvgPool1d", dict(output_size=4), (2, 3, 9)),
    ("AdaptiveAvgPool3d", dict(output_size=(2, None, 3)), (1, 2, 5, 4, 7)),
    ("AdaptiveMaxPool1d", dict(output_size=4), (2, 3, 9)),
    ("AdaptiveMaxPool2d", dict(output_size=(3, 2)), (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", dict(output_size=(None, 2)), (3, 7, 5)),
    ("AdaptiveMaxPool3d", dict(output_size=(2, 3, 4)), (1, 2, 5, 4, 7)),
    ("Upsample", dict(scale_factor=2), (2, 3, 5)),
    ("Upsample", dict(size=(7, 3), mode="bilinear"), (2, 3, 5, 4)),
    ("Upsample", dict(scale_factor=(1.5, 0.5), mode="bilinear", align_corners=True), (2, 3, 5, 4)),
    ("Upsample", dict(scale_factor=1.3, mode="nearest", recompute_scale_factor=True), (1, 2, 3, 4, 5)),
    ("Upsample", dict(size=(4, 6, 2), mode="trilinear"), (1, 2, 3, 4, 5)),
    ("UpsamplingNearest2d", dict(scale_factor=3), (2, 3, 2, 3)),
    ("UpsamplingBilinear2d", dict(size=(5, 7)), (2, 3, 2, 3)),
]


@pytest.mark.parametrize(("name", "options", "shape"), LAYER_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_matches_torch(name, options, shape, dtype):
    ours, theirs = getattr(nn, name)(**options), getattr(torch.nn, name)(**options)
    run_against_torch(torch, ours, theirs, _input(shape, dtype))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_and_unpool_layers_match_torch(ndim, dtype):
    """MaxPool(return_indices=True) then MaxUnpool(output_size=input's size), forward and backward of both."""
    shape = (2, 3) + (7, 6, 5)[:ndim]
    x = noncontiguous(np.random.default_rng(2).integers(-2, 3, shape).astype(dtype))   # ties
    pool = getattr(nn, f"MaxPool{ndim}d")(3, stride=2, padding=1, return_indices=True)
    unpool = getattr(nn, f"MaxUnpool{ndim}d")(3, stride=2, padding=1)
    t_pool = getattr(torch.nn, f"MaxPool{ndim}d")(3, stride=2, padding=1, return_indices=True)
    t_unpool = getattr(torch.nn, f"MaxUnpool{ndim}d")(3, stride=2, padding=1)
    y, indices = pool(x)
    assert isinstance(pool._cache.state, MaxPoolSaved)  # the typed state: the argmax, not the input
    z = unpool(y, indices, output_size=shape)
    tx = torch.tensor(np.array(x), requires_grad=True)
    ty, t_indices = t_pool(tx)
    tz = t_unpool(ty, t_indices, output_size=shape)
    assert_close(y, ty.detach().numpy(), dtype, "pooled")
    np.testing.assert_array_equal(indices, t_indices.numpy())
    assert_close(z, tz.detach().numpy(), dtype, "unpooled")
    gz = _input(z.shape, dtype, seed=3)
    tz.backward(torch.from_numpy(gz))
    gx = pool.backward(unpool.backward(noncontiguous(gz)))
    assert_close(gx, tx.grad.numpy(), dtype, "grad_input")
    assert repr(pool) == repr(t_pool) and repr(unpool) == repr(t_unpool)


def test_adaptive_max_pool_layer_returns_indices_and_keeps_its_argmax():
    x = _input((2, 3, 7, 5), np.float64)
    layer = nn.AdaptiveMaxPool2d((3, 2), return_indices=True)
    y, indices = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty, t_indices = torch.nn.AdaptiveMaxPool2d((3, 2), return_indices=True)(tx)
    assert_close(y, ty.detach().numpy())
    np.testing.assert_array_equal(indices, t_indices.numpy())
    assert isinstance(layer._cache.state, AdaptiveMaxPoolSaved)
    indices[...] = 0  # the caller owns what it got: the kept argmax is unchanged
    gy = _input(y.shape, np.float64, seed=5)
    ty.backward(torch.from_numpy(gy))
    assert_close(layer.backward(gy), tx.grad.numpy(), name="grad_input")


# --- ConvTranspose forward(input, output_size) -----------------------------------------------------------------

OUTPUT_SIZE_CASES = [
    # (ndim, kernel, options, input spatial, output_size)
    (1, 3, dict(stride=2), (5,), (11,)),
    (1, 3, dict(stride=3, padding=1), (4,), (11,)),
    (2, 3, dict(stride=2, padding=1), (4, 5), (8, 9)),
    (2, (2, 3), dict(stride=(2, 3), dilation=(1, 2)), (3, 4), (6, 14)),
    (2, 3, dict(stride=2, padding=1), (4, 5), (2, 3, 7, 10)),          # with N and C
    (3, 2, dict(stride=2), (2, 3, 2), (5, 6, 4)),
]


@pytest.mark.parametrize(("ndim", "kernel", "options", "spatial", "output_size"), OUTPUT_SIZE_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose_output_size_matches_torch(ndim, kernel, options, spatial, output_size, dtype):
    ours = getattr(nn, f"ConvTranspose{ndim}d")(2, 3, kernel, dtype=dtype, rng=0, **options)
    theirs = getattr(torch.nn, f"ConvTranspose{ndim}d")(2, 3, kernel, **options).to(_torch_dtype(dtype))
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = _input((2, 2, *spatial), dtype)
    y = ours(noncontiguous(x), output_size=output_size)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx, output_size=output_size)
    assert_close(y, ty.detach().numpy(), dtype, "output")
    assert y.shape[2:] == tuple(output_size)[-ndim:]
    gy = _input(y.shape, dtype, seed=4)
    ty.backward(torch.from_numpy(gy))
    assert_close(ours.backward(gy), tx.grad.numpy(), dtype, "grad_input")
    assert_close(ours.weight.grad, theirs.weight.grad.numpy(), dtype, "grad_weight")
    assert_close(ours.bias.grad, theirs.bias.grad.numpy(), dtype, "grad_bias")


def test_conv_transpose_output_size_unbatched_and_default():
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float64, rng=0)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2).double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = _input((2, 4, 4), np.float64)
    for size in [(10, 9), (3, 9, 10), None]:
        assert_close(ours(x, output_size=size), theirs(torch.tensor(x), output_size=size).detach().numpy())


@pytest.mark.parametrize(("output_size", "error"), [
    ((12,), ValueError), ((9, 10, 11), ValueError), ((8, 9), ValueError), ((11, 9), ValueError),
    (10, TypeError), ((9.0, 9), TypeError),
])
def test_conv_transpose_unreachable_output_size_is_named(output_size, error):
    """Input 4x4, kernel 3, stride 2: sizes 9 and 10 are reachable; anything else is an error, as in PyTorch."""
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float64, rng=0)
    with pytest.raises(error, match="output_size"):
        layer(np.zeros((1, 2, 4, 4)), output_size=output_size)
    if error is ValueError:
        with pytest.raises(ValueError):
            torch.nn.ConvTranspose2d(2, 3, 3, stride=2).double()(torch.zeros(1, 2, 4, 4, dtype=torch.float64),
                                                                 output_size=output_size)


BAD_LAYERS = [
    (lambda: nn.MaxPool2d(2, return_indices="yes"), TypeError, "return_indices"),
    (lambda: nn.AdaptiveMaxPool1d(2, return_indices=None), TypeError, "return_indices"),
    (lambda: nn.AvgPool2d(2, divisor_override=0)(np.zeros((1, 1, 4, 4))), ValueError, "divisor_override"),
    (lambda: nn.AdaptiveMaxPool2d((2, 2, 2))(np.zeros((1, 1, 4, 4))), ValueError, "output_size"),
    (lambda: nn.MaxUnpool2d(2)(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64)), ValueError, "indices"),
    (lambda: nn.MaxUnpool2d(2)(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), (9, 9)), ValueError,
     "output_size"),
    (lambda: nn.Upsample(scale_factor="2"), TypeError, "scale_factor"),
    (lambda: nn.Upsample(scale_factor=2, mode="cubic")(np.zeros((1, 1, 4, 4))), ValueError, "mode"),
    (lambda: nn.Upsample()(np.zeros((1, 1, 4, 4))), ValueError, "size"),
    (lambda: nn.MaxPool2d(2).backward(np.zeros((1, 1, 2, 2))), RuntimeError, "before a forward"),
]


@pytest.mark.parametrize(("make", "error", "name"), BAD_LAYERS)
def test_bad_layer_arguments_are_named(make, error, name):
    with pytest.raises(error, match=name):
        make()


# --- the same layers on the tape -------------------------------------------------------------------------------

def test_layers_on_the_tape_match_torch_autograd():
    """A Tensor through MaxPool2d(return_indices) -> MaxUnpool2d -> Upsample -> ConvTranspose2d(output_size)
    -> AdaptiveMaxPool2d: gradients by loss.backward() equal torch.autograd's; the layers keep no state."""
    import vanilla_nn as vn

    x = _input((2, 2, 6, 5), np.float64)
    conv = nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float64, rng=0)
    t_conv = torch.nn.ConvTranspose2d(2, 3, 3, stride=2).double()
    t_conv.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in conv.state_dict().items()})
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    up, adaptive = nn.Upsample(scale_factor=1.5, mode="bilinear"), nn.AdaptiveMaxPool2d((3, 4))

    tx = vn.tensor(x, requires_grad=True)
    y, indices = pool(tx)
    z = adaptive(conv(up(unpool(y, indices, output_size=x.shape)), output_size=(20, 15)))
    (z * z).sum().backward()

    rx = torch.tensor(x, requires_grad=True)
    ry, r_indices = torch.nn.MaxPool2d(2, return_indices=True)(rx)
    rz = torch.nn.MaxUnpool2d(2)(ry, r_indices, output_size=x.shape)
    rz = torch.nn.AdaptiveMaxPool2d((3, 4))(t_conv(torch.nn.Upsample(scale_factor=1.5, mode="bilinear")(rz),
                                                   output_size=(20, 15)))
    (rz * rz).sum().backward()
    assert_close(z.data, rz.detach().numpy(), name="output")
    assert_close(tx.grad, rx.grad.numpy(), name="grad_input")
    assert_close(conv.weight.grad, t_conv.weight.grad.numpy(), name="grad_weight")
    assert all(layer.__dict__.get("_cache") is None for layer in (pool, unpool, up, conv, adaptive))
