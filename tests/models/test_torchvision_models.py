"""vanilla_nn.models against torchvision.models (the oracle): state_dict layout, logits and running statistics
in train and eval mode, parameter gradients through the tape, SGD steps, initialisation scheme, input sizes.

torchvision comes from the ``torchvision`` fixture of tests/conftest.py (it declares the operator schemas
torchvision's compiled ops would on the CPU build of torch). Weights always move from torchvision into
vanilla_nn through ``state_dict``, so every comparison is of the same network.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import vanilla_nn as vn
from vanilla_nn import models, nn, optim

torch = pytest.importorskip("torch")

TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
GRAD_TOL = 1e-9

# One table for the model tests: (name, spatial size S of the 2 x 3 x S x S batch for the forward tests, S for
# the float64 backward, extra keyword arguments given to both constructors). ResNet-50's backward at 64 keeps
# the test time small; MobileNetV2 without dropout so that train-mode logits are deterministic.
MODEL_CASES = [
    ("resnet18", 128, 128, {}),
    ("resnet50", 128, 64, {}),
    ("mobilenet_v2", 128, 128, {"dropout": 0.0}),
]
CASE_IDS = [name for name, *_ in MODEL_CASES]


def _to_torch_dtype(dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


def _pair(torchvision, name, dtype=np.float32, seed=0, **kwargs):
    """(ours, theirs): torchvision's model with its random initialisation, and ours holding its state_dict."""
    torch.manual_seed(seed)
    theirs = getattr(torchvision.models, name)(**kwargs).to(_to_torch_dtype(dtype))
    ours = getattr(models, name)(dtype=dtype, rng=seed, **kwargs)
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    return ours, theirs


def _batch(size, dtype, channels=3, seed=1):
    return np.random.default_rng(seed).standard_normal((2, channels, size, size)).astype(dtype)


def _assert_close(actual, expected, tol, name, scale=1e-3):
    """Normwise relative error ``max|a - e| / max(max|e|, scale)`` within ``tol``; same shape."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), scale)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0)) / scale
    assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


def _assert_buffers_equal(ours, theirs, tol):
    """Every buffer (running_mean, running_var, num_batches_tracked) as torchvision's.

    A running mean can cancel to nearly 0 (the channel mean of batch-normalised data): it is judged against
    the spread of the data it averaged, ``momentum * sqrt(running_var)``, as rounding error is.
    """
    their_buffers = dict(theirs.named_buffers())
    our_buffers = dict(ours.named_buffers())
    assert list(our_buffers) == list(their_buffers)
    for key, value in their_buffers.items():
        if key.endswith("num_batches_tracked"):
            assert our_buffers[key].dtype == np.int64 and int(our_buffers[key]) == int(value), key
        elif key.endswith("running_mean"):
            spread = 0.1 * float(np.sqrt(their_buffers[key[:-4] + "var"].numpy().max()))
            _assert_close(our_buffers[key], value.numpy(), tol, key, scale=spread)
        else:
            _assert_close(our_buffers[key], value.numpy(), tol, key)


# -- layout ----------------------------------------------------------------------------------------------

LAYOUT_CASES = [
    ("resnet18", {}), ("resnet34", {}), ("resnet50", {}), ("mobilenet_v2", {}),
    ("resnet18", {"num_classes": 7}), ("mobilenet_v2", {"num_classes": 10, "width_mult": 0.5}),
    ("mobilenet_v2", {"width_mult": 1.4}), ("mobilenet_v2", {"width_mult": 0.35}),
]


@pytest.mark.parametrize(("name", "kwargs"), LAYOUT_CASES, ids=str)
def test_state_dict_keys_shapes_and_buffers_equal_torchvision(torchvision, name, kwargs):
    theirs = getattr(torchvision.models, name)(**kwargs).state_dict()
    model = getattr(models, name)(rng=0, **kwargs)
    ours = model.state_dict()
    assert list(ours) == list(theirs)
    assert [k for k, _ in model.named_buffers()] == [k for k in theirs if "running" in k or "num_batches" in k]
    for key, value in theirs.items():
        assert ours[key].shape == tuple(value.shape), key
        assert ours[key].dtype == value.numpy().dtype, key  # float32, and int64 for num_batches_tracked


def test_float64_models_keep_float64(torchvision):
    ours = models.resnet18(dtype=np.float64, rng=0)
    assert {v.dtype for k, v in ours.state_dict().items() if "num_batches" not in k} == {np.dtype(np.float64)}


# -- forward: logits in both modes, running statistics ---------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "size", "_", "kwargs"), MODEL_CASES, ids=CASE_IDS)
def test_logits_and_running_statistics_equal_torchvision(torchvision, name, size, _, kwargs, dtype):
    """The reference is torchvision in float64 on the same weights and input (exactly representable in
    float32 too): in train mode a float32 ResNet-50 differs from float64 by ~1e-4 in PyTorch itself, so
    float32 is judged against the exact answer, to 1e-4 relative."""
    ours, theirs = _pair(torchvision, name, dtype, **kwargs)
    theirs.double()
    x = _batch(size, dtype)
    tol = TOL[np.dtype(dtype)]
    with torch.no_grad():
        expected_train = theirs.train()(torch.from_numpy(x.astype(np.float64))).numpy()
        expected_eval = theirs.eval()(torch.from_numpy(x.astype(np.float64))).numpy()
    logits = ours.train()(x)
    assert isinstance(logits, np.ndarray) and logits.dtype == dtype and logits.shape == (2, 1000)
    _assert_close(logits, expected_train, tol, "train-mode logits")
    _assert_buffers_equal(ours, theirs, tol)  # one training-mode forward updated them alike
    _assert_close(ours.eval()(x), expected_eval, tol, "eval-mode logits")


SIZE_CASES = [("resnet18", (1, 1)), ("resnet18", (33, 17)), ("resnet34", (40, 9)), ("resnet50", (7, 30)),
              ("mobilenet_v2", (1, 1)), ("mobilenet_v2", (37, 20))]


@pytest.mark.parametrize(("name", "hw"), SIZE_CASES, ids=str)
def test_any_input_size_the_architecture_accepts(torchvision, name, hw):
    ours, theirs = _pair(torchvision, name, np.float64, num_classes=5)
    x = np.random.default_rng(2).standard_normal((3, 3, *hw))
    with torch.no_grad():
        expected = theirs.eval()(torch.from_numpy(x)).numpy()
    _assert_close(ours.eval()(x), expected, 1e-10, f"{name} on {hw}")


def test_in_channels_replaces_the_stem(torchvision):
    """in_channels=1 is torchvision's network with conv1 taking one channel (as people adapt it)."""
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18(num_classes=10).double()
    theirs.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False).double()
    ours = models.resnet18(num_classes=10, in_channels=1, dtype=np.float64, rng=0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((2, 1, 16, 16))
    with torch.no_grad():
        expected = theirs.eval()(torch.from_numpy(x)).numpy()
    _assert_close(ours.eval()(x), expected, 1e-10, "logits")
    torch.manual_seed(0)
    mobile = torchvision.models.mobilenet_v2(num_classes=10)
    assert models.mobilenet_v2(num_classes=10, in_channels=1, rng=0).state_dict()["features.0.0.weight"].shape == \
        (32, 1, 3, 3) != tuple(mobile.state_dict()["features.0.0.weight"].shape)


@pytest.mark.parametrize(("name", "width"), [("resnet18", 8), ("resnet34", 16), ("resnet50", 4)])
def test_width_scales_every_stage(torchvision, name, width):
    """width=w: every channel count 64*k of torchvision's network becomes w*k (the stem input and the
    classes stay); on the tape a narrow network trains on 1-channel 8x8 images."""
    theirs = getattr(torchvision.models, name)(num_classes=10).state_dict()
    ours = getattr(models, name)(num_classes=10, in_channels=1, width=width, rng=0)
    state = ours.state_dict()
    assert list(state) == list(theirs)
    for key, value in theirs.items():
        shape = list(value.shape)
        if key == "conv1.weight":
            expected = [width, 1, *shape[2:]]
        elif key == "fc.weight":
            expected = [10, shape[1] * width // 64]
        elif key.endswith("num_batches_tracked") or key == "fc.bias":
            expected = shape
        else:
            expected = [d * width // 64 for d in shape[:2]] + shape[2:]
        assert list(state[key].shape) == expected, key
    x = vn.tensor(np.random.default_rng(4).standard_normal((4, 1, 8, 8)).astype(np.float32))
    loss = nn.CrossEntropyLoss()(ours(x), np.array([0, 1, 2, 3]))
    loss.backward()
    assert np.isfinite(float(loss.data)) and all(p.grad is not None and np.isfinite(p.grad).all()
                                                  for p in ours.parameters())


# -- the tape: gradients and SGD steps -------------------------------------------------------------------

@pytest.mark.parametrize(("name", "_", "size", "kwargs"), MODEL_CASES, ids=CASE_IDS)
def test_parameter_gradients_equal_torchvision_float64(torchvision, name, _, size, kwargs):
    ours, theirs = _pair(torchvision, name, np.float64, **kwargs)
    x, target = _batch(size, np.float64), np.array([3, 998])
    loss = nn.CrossEntropyLoss()(ours(vn.tensor(x)), target)
    assert isinstance(loss, vn.Tensor)
    loss.backward()
    torch_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(target))
    torch_loss.backward()
    assert abs(float(loss.data) - torch_loss.item()) <= GRAD_TOL * abs(torch_loss.item())
    their_params = dict(theirs.named_parameters())
    for key, param in ours.named_parameters():
        assert param.grad is not None and param.grad.dtype == np.float64, key
        _assert_close(param.grad, their_params[key].grad.numpy(), GRAD_TOL, f"{key}.grad")
    _assert_buffers_equal(ours, theirs, 1e-10)


def test_float32_gradients_of_resnet18_against_torchvision_float64(torchvision):
    """float32 on the tape keeps float32 gradients, judged against PyTorch's float64 result on the same
    weights and input (train-mode float32 gradients of deep networks are not comparable to float32 PyTorch
    bit for bit): within 1e-3 relative per parameter, where PyTorch's own float32 is about 2e-5 off."""
    ours, theirs = _pair(torchvision, "resnet18", np.float32)
    theirs.double()
    x, target = _batch(64, np.float32), np.array([3, 998])
    nn.CrossEntropyLoss()(ours(vn.tensor(x)), target).backward()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x.astype(np.float64))),
                                      torch.from_numpy(target)).backward()
    their_params = dict(theirs.named_parameters())
    for key, param in ours.named_parameters():
        assert param.grad.dtype == np.float32, key
        _assert_close(param.grad, their_params[key].grad.numpy(), 1e-3, f"{key}.grad")


def test_five_sgd_momentum_steps_of_resnet18_match_torchvision(torchvision):
    """ResNet-18 on a 2 x 3 x 64 x 64 batch in float64: five steps of SGD with momentum and weight decay,
    the losses (and the weights after the last step) as torchvision's to 1e-9."""
    ours, theirs = _pair(torchvision, "resnet18", np.float64, num_classes=10)
    x, target = _batch(64, np.float64, seed=5), np.array([1, 8])
    opt = optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    losses, their_losses = [], []
    for _ in range(5):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(ours(vn.tensor(x)), target)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
        topt.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(target))
        torch_loss.backward()
        topt.step()
        their_losses.append(torch_loss.item())
    np.testing.assert_allclose(losses, their_losses, rtol=1e-9, atol=0)
    assert losses[-1] < losses[0]
    their_params = dict(theirs.named_parameters())
    for key, param in ours.named_parameters():
        _assert_close(param.data, their_params[key].detach().numpy(), 1e-9, key)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_ndarray_path_is_inference_only(name):
    """An ndarray runs as inference: an ndarray out, no layer keeps state for a backward (there is none for
    a composite model), and training mode still updates the running statistics."""
    model = getattr(models, name)(num_classes=3, rng=0)
    y = model(np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32))
    assert isinstance(y, np.ndarray) and y.shape == (2, 3)
    assert all(module.__dict__.get("_cache") is None for module in model.modules())
    assert all(int(bn.num_batches_tracked) == 1 and bn.running_mean.any() for bn in model.modules()
               if isinstance(bn, nn.BatchNorm2d))
    with pytest.raises(NotImplementedError, match="backward"):
        model.backward(np.ones_like(y))


# -- initialisation --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_initialisation_scheme_is_torchvisions(torchvision, name):
    """Each parameter drawn from torchvision's distribution: conv weights N(0, 2 / fan_out) (compared with
    torchvision's own draw), batch norms 1 and 0, the classifier as torchvision's; seeded by rng."""
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().state_dict()
    ours = getattr(models, name)(rng=0).state_dict()
    for key, value in theirs.items():
        value = value.numpy()
        mine = ours[key]
        if key.endswith(("running_var", "num_batches_tracked", "running_mean")) or \
                (mine.ndim == 1 and "fc" not in key and "classifier" not in key):  # BN buffers, weights, biases
            np.testing.assert_array_equal(mine, value, err_msg=key)
            continue
        if mine.ndim >= 2:
            fan_out = mine.shape[0] * math.prod(mine.shape[2:])
            expected_std = math.sqrt(2.0 / fan_out) if mine.ndim == 4 else None
            if mine.size >= 2000:  # enough draws for the sample statistics to be sharp
                assert abs(mine.std() / value.std() - 1) < 0.1, key
                assert abs(mine.mean()) < 0.1 * value.std(), key
                if expected_std is not None:
                    assert abs(mine.std() / expected_std - 1) < 0.1, key
            bound = np.abs(value).max()
            if mine.ndim == 2 and name != "mobilenet_v2":  # fc: uniform, never beyond torchvision's bound
                assert np.abs(mine).max() <= 1 / math.sqrt(mine.shape[1]) + 1e-7 and bound <= \
                    1 / math.sqrt(mine.shape[1]) + 1e-7
        else:  # the classifier's bias: uniform for ResNet's fc, zeros for MobileNetV2
            if name == "mobilenet_v2":
                np.testing.assert_array_equal(mine, value, err_msg=key)
            else:
                assert np.abs(mine).max() <= 1 / math.sqrt(ours["fc.weight"].shape[1]) + 1e-7
                assert mine.std() > 0
    again = getattr(models, name)(rng=0).state_dict()
    other = getattr(models, name)(rng=1).state_dict()
    first = next(iter(ours))
    assert all(np.array_equal(ours[k], again[k]) for k in ours) and not np.array_equal(ours[first], other[first])


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_zero_init_residual_as_torchvision(torchvision, name):
    theirs = getattr(torchvision.models, name)(zero_init_residual=True).state_dict()
    ours = getattr(models, name)(zero_init_residual=True, rng=0).state_dict()
    last = "bn2" if name == "resnet18" else "bn3"
    zeroed = [k for k, v in theirs.items() if k.endswith(f"{last}.weight")]
    assert zeroed and all(not ours[k].any() and not theirs[k].any() for k in zeroed)
    assert ours["bn1.weight"].all()


# -- bad arguments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "exc", "word"), [
    (lambda: models.resnet18(num_classes=0), ValueError, "num_classes"),
    (lambda: models.resnet18(width=0), ValueError, "width"),
    (lambda: models.resnet34(in_channels=1.5), TypeError, "in_channels"),
    (lambda: models.resnet50(dtype=np.int32), TypeError, "dtype"),
    (lambda: models.ResNet(nn.Linear, [2, 2, 2, 2]), TypeError, "block"),
    (lambda: models.ResNet(models.BasicBlock, [2, 2]), ValueError, "layers"),
    (lambda: models.ResNet(models.BasicBlock, [2, 0, 2, 2]), ValueError, "layers[1]"),
    (lambda: models.mobilenet_v2(width_mult=0), ValueError, "width_mult"),
    (lambda: models.mobilenet_v2(dropout=2.0), ValueError, "dropout"),
    (lambda: models.mobilenet_v2(num_classes="ten"), TypeError, "num_classes"),
    (lambda: models.InvertedResidual(8, 8, stride=3, expand_ratio=6), ValueError, "stride"),
    (lambda: models.resnet18(weights="IMAGENET1K_V1"), ValueError, "vanilla-nn convert"),
    (lambda: models.mobilenet_v2(weights="DEFAULT"), ValueError, "weights='DEFAULT'"),
])
def test_bad_arguments(make, exc, word):
    with pytest.raises(exc) as info:
        make()
    assert word in str(info.value)


# -- weights through `vanilla-nn convert` ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_weights_through_convert_give_the_same_logits(torchvision, name, tmp_path, capsys):
    """A torchvision checkpoint as torch.save writes it (the .pth torchvision downloads), converted to
    safetensors by the CLI and read with nn.load, gives torchvision's logits."""
    from vanilla_nn import cli

    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().eval()
    with torch.no_grad():  # non-trivial running statistics, as trained weights have
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    torch.save(theirs.state_dict(), tmp_path / f"{name}.pth")
    out = tmp_path / f"{name}.safetensors"
    assert cli.main(["convert", str(tmp_path / f"{name}.pth"), str(out)]) == 0
    capsys.readouterr()
    ours = getattr(models, name)(rng=0)
    ours.load_state_dict(nn.load(out, expected=ours))
    x = _batch(96, np.float32, seed=7)
    with torch.no_grad():
        expected = theirs.double()(torch.from_numpy(x.astype(np.float64))).numpy()
    _assert_close(ours.eval()(x), expected, 1e-4, "logits")
