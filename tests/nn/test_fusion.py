"""Batch norm folded into the preceding convolution (``vanilla_nn.nn.fusion``) against PyTorch.

The oracle is always PyTorch running the *unfused* layers in eval mode (``bn(conv(x))``, float64 for the
float32 cases too), or ``torch.nn.utils.fuse_conv_bn_eval``'s weights; never our own unfused path alone.
The automatic path folds afresh at every call, so the tests edit weights and statistics in place, load new
state dicts and switch modes between calls and expect PyTorch's answer for the new state each time.
"""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn as vn
from vanilla_nn import models, nn
from vanilla_nn.nn import fusion

from .nn_helpers import DTYPES, assert_close, noncontiguous, random_input, torch_dtype

torch = pytest.importorskip("torch")

# (conv class, kwargs, input shape): groups, depthwise, stride, dilation, padding modes, ranks, bias or not
CONV_CASES = [
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, bias=False), (2, 4, 7, 6)),
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, groups=2), (2, 4, 9, 8)),
    ("Conv2d", dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6, bias=False), (2, 6, 8, 8)),
    ("Conv2d", dict(in_channels=4, out_channels=8, kernel_size=1, stride=2, bias=False), (2, 4, 7, 7)),
    ("Conv2d", dict(in_channels=3, out_channels=5, kernel_size=(3, 2), dilation=2, padding=2,
                    padding_mode="reflect"), (2, 3, 8, 9)),
    ("Conv1d", dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (2, 3, 10)),
    ("Conv3d", dict(in_channels=2, out_channels=4, kernel_size=3, stride=(1, 2, 1), bias=False), (2, 2, 5, 6, 5)),
]
CASE_IDS = ["3x3", "groups2_stride2", "depthwise", "1x1_stride2", "dilated_reflect", "conv1d", "conv3d"]
BN = {1: "BatchNorm1d", 2: "BatchNorm2d", 3: "BatchNorm3d"}


def _randomise_bn(bn, dtype, seed):
    """Running statistics and affine parameters far from the identity, so a fold that skips a term fails."""
    rng = np.random.default_rng(seed)
    c = bn.num_features
    bn.running_mean = rng.standard_normal(c).astype(dtype)
    bn.running_var = (rng.random(c) + 0.3).astype(dtype)
    if bn.weight is not None:
        bn.weight.data[...] = rng.standard_normal(c)
        bn.bias.data[...] = rng.standard_normal(c)


def _pair(conv_name, kwargs, dtype, seed=0, affine=True):
    """(conv, bn) of ours in eval mode with random state, and torch's copies holding the same state."""
    conv = getattr(nn, conv_name)(**kwargs, dtype=dtype, rng=seed)
    ndim = conv.ndim
    bn = getattr(nn, BN[ndim])(conv.out_channels, eps=1e-3, affine=affine, dtype=dtype)
    _randomise_bn(bn, dtype, seed + 1)
    tconv = getattr(torch.nn, conv_name)(**kwargs).to(torch_dtype(torch, dtype))
    tbn = getattr(torch.nn, BN[ndim])(conv.out_channels, eps=1e-3, affine=affine).to(torch_dtype(torch, dtype))
    tconv.load_state_dict({k: torch.from_numpy(v) for k, v in conv.state_dict().items()})
    tbn.load_state_dict({k: torch.from_numpy(v) for k, v in bn.state_dict().items()})
    return conv.eval(), bn.eval(), tconv.eval(), tbn.eval()


def _torch_eval(modules, x):
    """PyTorch's eval-mode output of ``modules`` in float64 (the reference for float32 too)."""
    with torch.no_grad():
        y = torch.from_numpy(np.array(x, dtype=np.float64))
        for module in modules:
            y = module.double()(y)
    return y.numpy()


def _count_folds(monkeypatch):
    """A list that gets one entry per fold the automatic path computes."""
    calls, original = [], fusion._fold

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fusion, "_fold", counting)
    return calls


def _sync(ours, theirs):
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("conv_name", "kwargs", "shape"), CONV_CASES, ids=CASE_IDS)
def test_fuse_conv_bn_eval_computes_bn_of_conv(conv_name, kwargs, shape, dtype):
    conv, bn, tconv, tbn = _pair(conv_name, kwargs, dtype)
    before = {**conv.state_dict(), **{f"bn.{k}": v for k, v in bn.state_dict().items()}}
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    assert type(fused) is type(conv) and fused.bias is not None and fused.weight is not conv.weight
    x = random_input(shape, dtype)
    with vn.no_grad():
        y = fused(noncontiguous(x))
    assert_close(y, _torch_eval([tconv, tbn], x), dtype, "fused conv")
    after = {**conv.state_dict(), **{f"bn.{k}": v for k, v in bn.state_dict().items()}}
    assert all(np.array_equal(before[k], after[k]) for k in before), "the original modules changed"
    # torch's own fusion of the same modules gives the same weights
    tfused = torch.nn.utils.fuse_conv_bn_eval(tconv.to(torch_dtype(torch, dtype)), tbn.to(torch_dtype(torch, dtype)))
    assert_close(fused.weight.data, tfused.weight.detach().numpy(), dtype, "fused weight")
    assert_close(fused.bias.data, tfused.bias.detach().numpy(), dtype, "fused bias")


@pytest.mark.parametrize("dtype", DTYPES)
def test_fuse_transposed_conv_with_groups(dtype):
    """A transposed convolution's output channels sit in weight dim 1, per group."""
    conv = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, dtype=dtype, rng=0).eval()
    bn = nn.BatchNorm2d(6, dtype=dtype).eval()
    _randomise_bn(bn, dtype, 3)
    tconv = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2).double()
    tbn = torch.nn.BatchNorm2d(6).double()
    _sync(conv, tconv)
    _sync(bn, tbn)
    x = random_input((2, 4, 5, 5), dtype)
    with vn.no_grad():
        y = nn.utils.fuse_conv_bn_eval(conv, bn)(x)
    assert_close(y, _torch_eval([tconv.eval(), tbn.eval()], x), dtype, "fused transposed conv")


def test_fuse_conv_bn_weights_without_affine_or_bias_equals_torch():
    rng = np.random.default_rng(0)
    w, mean, var = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(4), rng.random(4) + 0.5
    ours = nn.utils.fuse_conv_bn_weights(w, None, mean, var, 1e-5, None, None)
    theirs = torch.nn.utils.fusion.fuse_conv_bn_weights(
        torch.from_numpy(w), None, torch.from_numpy(mean), torch.from_numpy(var), 1e-5, None, None)
    for a, b, name in zip(ours, theirs, ("weight", "bias")):
        assert isinstance(a, nn.Parameter)
        assert_close(a.data, b.detach().numpy(), np.float64, name)


@pytest.mark.parametrize("activation", [None, "ReLU", "ReLU6"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("conv_name", "kwargs", "shape"), CONV_CASES, ids=CASE_IDS)
def test_sequential_folds_in_eval_without_gradients(conv_name, kwargs, shape, dtype, activation, monkeypatch):
    conv, bn, tconv, tbn = _pair(conv_name, kwargs, dtype, seed=4)
    extra = [] if activation is None else [getattr(nn, activation)()]
    model = nn.Sequential(conv, bn, *extra).eval()
    theirs = [tconv, tbn] + ([] if activation is None else [getattr(torch.nn, activation)()])
    folds = _count_folds(monkeypatch)
    x = random_input(shape, dtype, seed=5) * 4  # both sides of ReLU6's 6
    x_before = x.copy()
    with vn.no_grad():
        y = model(noncontiguous(x))
    assert folds, "the eval-mode Sequential did not fold"
    assert_close(y, _torch_eval(theirs, x), dtype, "folded Sequential")
    assert np.array_equal(x, x_before)
    assert all(m.__dict__.get("_cache") is None for m in model.modules())
    with pytest.raises(RuntimeError, match="before a forward"):  # as after any forward under no_grad
        model.backward(np.ones_like(y))


def _conv_bn_relu(dtype, seed=0):
    conv, bn, tconv, tbn = _pair("Conv2d", dict(in_channels=3, out_channels=5, kernel_size=3, padding=1), dtype,
                                 seed=seed)
    return nn.Sequential(conv, bn, nn.ReLU()), torch.nn.Sequential(tconv, tbn, torch.nn.ReLU()).double()


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_stale_fold_after_in_place_edits_load_state_dict_and_train(dtype):
    """Every change between two calls shows in the next call's output, as in PyTorch's."""
    ours, theirs = _conv_bn_relu(dtype)
    x = random_input((2, 3, 6, 6), dtype, seed=7)

    def check(name):
        _sync(ours, theirs)
        expected = theirs.double()(torch.from_numpy(x.astype(np.float64))).detach().numpy()
        with vn.no_grad():
            assert_close(ours(x), expected, dtype, name)

    ours.eval()
    theirs.eval()
    check("first call")
    ours[0].weight.data *= 2.0  # what an optimizer step does: the same array, new values
    check("conv weight edited in place")
    ours[0].bias.data[...] = 0.5
    check("conv bias edited in place")
    ours[1].running_var[...] *= 3.0
    ours[1].running_mean += 1.0
    check("running statistics edited in place")
    ours[1].weight.data[0] = -2.0
    ours[1].bias.data -= 1.0
    check("batch norm affine edited in place")
    state = {k: v * 0.5 if "running_var" not in k else v * 2 for k, v in ours.state_dict().items()}
    ours.load_state_dict(state)
    check("after load_state_dict")
    ours.train()
    theirs.train()
    check("train mode: batch statistics, running statistics updated")
    theirs_stats = {k: v.numpy() for k, v in theirs.state_dict().items()}
    for key, value in ours[1].state_dict().items():  # one training forward each, compared in float64
        if key != "num_batches_tracked":
            assert_close(value, theirs_stats[f"1.{key}"], dtype, key)
    ours.eval()
    theirs.eval()
    check("back in eval mode")


@pytest.mark.parametrize("dtype", DTYPES)
def test_training_and_the_tape_do_not_fold(dtype, monkeypatch):
    """With gradients recorded (tape or explicit path) the modules run as written: gradients as PyTorch's."""
    monkeypatch.setattr(fusion, "_fold", lambda *a, **k: pytest.fail("folded with gradients"))
    ours, theirs = _conv_bn_relu(dtype, seed=2)
    theirs.to(torch_dtype(torch, dtype))
    x = random_input((2, 3, 6, 6), dtype, seed=8)
    for mode in ("eval", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        _sync(ours, theirs)
        theirs.zero_grad()
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.sum().backward()
        xt = vn.tensor(x, requires_grad=True)
        ours.zero_grad()
        y = ours(xt)
        y.sum().backward()
        assert_close(y.data, ty.detach().numpy(), dtype, f"{mode} output on the tape")
        assert_close(xt.grad, tx.grad.numpy(), dtype, f"{mode} grad_input on the tape")
        for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            # in training the conv bias's gradient is exactly 0 (batch norm removes any per-channel constant):
            # judged against the size of the gradient of the weight it sits next to, as rounding error is
            scale = np.abs(ours[0].weight.grad) if (mode, name) == ("train", "0.bias") else None
            assert_close(p.grad, tp.grad.numpy(), dtype, f"{mode} grad of {name}", magnitude=scale)
        explicit = ours(x)  # the explicit path with gradients keeps state and does not fold either
        assert_close(explicit, ty.detach().numpy(), dtype, f"{mode} explicit output")
        assert_close(ours.backward(np.ones_like(explicit)), tx.grad.numpy(), dtype, f"{mode} explicit grad")


def test_tensor_input_under_no_grad_folds_and_returns_a_tensor(monkeypatch):
    ours, theirs = _conv_bn_relu(np.float64, seed=3)
    ours.eval()
    x = random_input((2, 3, 5, 5), np.float64, seed=9)
    calls = _count_folds(monkeypatch)
    with vn.no_grad():
        y = ours(vn.tensor(x))
    assert calls and isinstance(y, vn.Tensor) and not y.requires_grad
    _sync(ours, theirs)
    assert_close(y.data, _torch_eval(list(theirs.eval()), x), np.float64, "Tensor under no_grad")


def test_what_is_not_folded_runs_as_written(monkeypatch):
    """Batch statistics in eval mode, subclasses with their own forward, a channel or rank mismatch, mixed
    dtypes, folding switched off."""
    monkeypatch.setattr(fusion, "_fold", lambda *a, **k: pytest.fail("folded"))
    x = random_input((2, 3, 5, 5), np.float32)
    no_stats = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4, track_running_stats=False)).eval()
    mixed = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4, dtype=np.float64)).eval()
    class DoubledConv(nn.Conv2d):
        def forward(self, input):
            return 2 * super().forward(input)

    class ShiftedBatchNorm(nn.BatchNorm2d):
        def forward(self, input):
            return super().forward(input) + 1

    with vn.no_grad():
        no_stats(x)  # normalises with the batch's statistics, as PyTorch in eval mode without running stats
        for model in (nn.Sequential(DoubledConv(3, 4, 3, rng=0), nn.BatchNorm2d(4)),
                      nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), ShiftedBatchNorm(4))):  # their own forwards
            model.eval()(x)
        assert mixed(x).dtype == np.float64
        with nn.utils.fold_batch_norm(False):
            nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4)).eval()(x)
        with pytest.raises(ValueError, match="channels in dim 1"):  # the batch norm's own error, unchanged
            nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(5)).eval()(x)
        with pytest.raises(ValueError, match="input must be 4-d"):  # an unbatched input: BatchNorm2d's error
            nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4)).eval()(x[0])
    assert nn.utils.is_folding_enabled()


def _randomise_model_bns(model, dtype, seed=11):
    for index, module in enumerate(model.modules()):
        if isinstance(module, nn.BatchNorm2d):
            _randomise_bn(module, dtype, seed + index)
            module.running_var = (module.running_var * 0.5 + 0.5).astype(dtype)
            module.weight.data[...] = np.abs(module.weight.data) * 0.5 + 0.5


MODEL_CASES = [("resnet18", 20), ("resnet50", 53), ("mobilenet_v2", 52)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "batch_norms"), MODEL_CASES, ids=[n for n, _ in MODEL_CASES])
def test_folded_models_give_torchvisions_eval_logits(torchvision, name, batch_norms, dtype, monkeypatch):
    """Every batch norm folded; logits as torchvision's eval-mode float64 logits; still so after new weights."""
    kwargs = {"num_classes": 10}
    ours = getattr(models, name)(dtype=dtype, rng=0, **kwargs).eval()
    theirs = getattr(torchvision.models, name)(**kwargs).double().eval()
    _randomise_model_bns(ours, dtype)
    calls = _count_folds(monkeypatch)
    x = random_input((2, 3, 32, 32), dtype, seed=12)
    x_before = x.copy()
    for step in ("first", "reloaded"):
        theirs.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float64 if v.dtype.kind == "f" else None))
                                for k, v in ours.state_dict().items()})
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x.astype(np.float64))).numpy()
        calls.clear()
        logits = ours(x)  # an ndarray: inference under no_grad
        assert len(calls) == batch_norms, f"{step}: {len(calls)} of {batch_norms} batch norms folded"
        assert_close(logits, expected, dtype, f"{step} logits")
        assert np.array_equal(x, x_before), "the model modified its input"
        _randomise_model_bns(ours, dtype, seed=40)  # new statistics in place: the next call must see them
        ours.load_state_dict({k: v * 0.9 if k.endswith("conv1.weight") else v for k, v in ours.state_dict().items()})


def test_bad_arguments():
    conv, bn = nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4)
    with pytest.raises(ValueError, match="eval mode only"):
        nn.utils.fuse_conv_bn_eval(conv, bn)
    with pytest.raises(ValueError, match="num_features=5"):
        nn.utils.fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(5).eval())
    with pytest.raises(ValueError, match="running statistics"):
        nn.utils.fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(4, track_running_stats=False).eval())
    with pytest.raises(TypeError, match="convolution"):
        nn.utils.fuse_conv_bn_eval(nn.Linear(3, 4), bn.eval())
    with pytest.raises(TypeError, match="batch norm"):
        nn.utils.fuse_conv_bn_eval(conv.eval(), nn.ReLU())
    w = np.ones((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"bn_rv.shape=\(3,\)"):
        nn.utils.fuse_conv_bn_weights(w, None, np.zeros(4), np.ones(3), 1e-5, None, None)
    with pytest.raises(ValueError, match="bn_eps=-1"):
        nn.utils.fuse_conv_bn_weights(w, None, np.zeros(4), np.ones(4), -1, None, None)
    with pytest.raises(TypeError, match="conv_w"):
        nn.utils.fuse_conv_bn_weights(np.ones((4, 3), dtype=np.int64), None, np.zeros(4), np.ones(4), 1e-5, None,
                                      None)
    with pytest.raises(TypeError, match="enabled=1"):
        nn.utils.fold_batch_norm(1)


@pytest.mark.parametrize("make", [
    lambda dtype: models.resnet.BasicBlock(4, 4, dtype=dtype, rng=0),
    lambda dtype: models.resnet.Bottleneck(16, 4, dtype=dtype, rng=0),
    lambda dtype: models.mobilenetv2.InvertedResidual(4, 4, 1, 6, dtype=dtype, rng=0),
], ids=["BasicBlock", "Bottleneck", "InvertedResidual"])
def test_residual_blocks_add_in_place_into_their_own_output_only(make, monkeypatch):
    """The in-place shortcut writes into the block's fresh output, never into its input (the identity)."""
    block = make(np.float64).eval()
    _randomise_model_bns(block, np.float64)
    x = random_input((2, block.conv1.in_channels if hasattr(block, "conv1") else 4, 6, 6), np.float64, seed=13)
    x_before = x.copy()
    calls = _count_folds(monkeypatch)
    with vn.no_grad():
        folded = block(x)
        with nn.utils.fold_batch_norm(False):
            plain = block(x)
    assert calls and np.array_equal(x, x_before), "the block modified its input"
    assert_close(folded, plain, np.float64, "folded block")


def test_resnet_on_the_tape_in_eval_mode_does_not_fold(torchvision, monkeypatch):
    """The blocks call the fold directly: with gradients recorded they run the layers as written, and the
    eval-mode gradients are torchvision's."""
    ours = models.resnet18(num_classes=4, dtype=np.float64, rng=0).eval()
    _randomise_model_bns(ours, np.float64)
    theirs = torchvision.models.resnet18(num_classes=4).double().eval()
    _sync(ours, theirs)
    monkeypatch.setattr(fusion, "_fold", lambda *a, **k: pytest.fail("folded on the tape"))
    x = random_input((2, 3, 32, 32), np.float64, seed=14)
    ours(vn.tensor(x)).sum().backward()
    theirs(torch.from_numpy(x)).sum().backward()
    their_params = dict(theirs.named_parameters())
    for name in ("conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.weight"):
        assert_close(dict(ours.named_parameters())[name].grad, their_params[name].grad.numpy(), np.float64, name)


def test_fused_copy_keeps_no_saved_state_and_leaves_the_original_usable():
    conv, bn = nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4)
    x = random_input((1, 3, 5, 5), np.float64).astype(np.float32)
    y = conv(x)  # with gradients: the conv keeps its padded input for its backward
    fused = nn.utils.fuse_conv_bn_eval(conv.eval(), bn.eval())
    assert fused.__dict__.get("_cache") is None
    with pytest.raises(RuntimeError, match="before a forward"):
        fused.backward(np.ones_like(y))
    tconv = torch.nn.Conv2d(3, 4, 3)
    _sync(conv, tconv)
    tx = torch.tensor(x, requires_grad=True)
    tconv(tx).sum().backward()
    assert_close(conv.backward(np.ones_like(y)), tx.grad.numpy(), np.float32, "original's backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_relu_writes_only_into_a_fresh_output(dtype):
    rng = np.random.default_rng(20)
    out, identity = rng.standard_normal((2, 3, 4, 4)).astype(dtype), rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    expected = torch.relu(torch.from_numpy(out) + torch.from_numpy(identity)).numpy()
    out_before, identity_before = out.copy(), identity.copy()
    y = fusion.add_relu(out, identity, nn.ReLU())  # gradients recorded: a new array
    assert_close(y, expected, dtype, "with gradients")
    assert np.array_equal(out, out_before) and np.array_equal(identity, identity_before)
    with vn.no_grad():
        y = fusion.add_relu(out, identity, nn.ReLU(), input=out)  # out is the block's input: not in place
        assert np.array_equal(out, out_before) and y is not out
        y = fusion.add_relu(out, identity, nn.ReLU())  # out is the block's own output: in place
        assert y is out and np.array_equal(identity, identity_before)
    assert_close(y, expected, dtype, "in place")
