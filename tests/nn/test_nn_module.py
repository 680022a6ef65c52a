"""Module machinery: PyTorch's parameter order and state-dict keys, loading, round trips, modes."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import vanilla_nn.nn as nn
from vanilla_nn.nn import serialization

torch = pytest.importorskip("torch")


class OurNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, dtype=np.float64), nn.BatchNorm2d(4, dtype=np.float64),
                                      nn.ReLU())
        self.bn = nn.BatchNorm1d(8, dtype=np.float64)
        self.head = nn.Linear(16, 8, dtype=np.float64)
        self.plain = nn.Linear(8, 2, bias=False, dtype=np.float64)
        self.scale = nn.Parameter(np.ones(3))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
        self.bn = torch.nn.BatchNorm1d(8)
        self.head = torch.nn.Linear(16, 8)
        self.plain = torch.nn.Linear(8, 2, bias=False)
        self.scale = torch.nn.Parameter(torch.ones(3))


def _to_torch(state):
    return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def _from_torch(state):
    return OrderedDict((k, v.detach().numpy().copy()) for k, v in state.items())


def test_parameter_and_state_dict_order_match_torch():
    ours, theirs = OurNet(), TorchNet().double()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    for key, value in ours.state_dict().items():
        assert value.shape == tuple(theirs.state_dict()[key].shape), key
    assert ours.state_dict()["bn.num_batches_tracked"].dtype == np.int64
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


def test_state_dict_returns_copies():
    net = OurNet()
    state = net.state_dict()
    state["head.weight"][...] = 7
    assert not np.any(net.head.weight.data == 7)


def test_torch_round_trip():
    ours = OurNet()
    theirs = TorchNet().double()
    theirs.load_state_dict(_to_torch(ours.state_dict()))
    back = OurNet()
    back.load_state_dict(_from_torch(theirs.state_dict()))
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)
    # torch's own weights into ours (torch tensors are accepted directly, cast to our dtype)
    torch.manual_seed(1)
    fresh = TorchNet()
    ours.load_state_dict(fresh.state_dict())
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy().astype(ours.state_dict()[key].dtype))


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_file_round_trip(tmp_path, suffix):
    pytest.importorskip("safetensors")
    ours = OurNet()
    ours.bn.num_batches_tracked = np.array(5, np.int64)
    path = serialization.save(ours.state_dict(), tmp_path / f"w{suffix}")
    loaded = serialization.load(path)
    assert sorted(loaded) == sorted(ours.state_dict())  # safetensors stores keys sorted
    other = OurNet()
    other.load_state_dict(loaded)
    for key, value in ours.state_dict().items():
        got = other.state_dict()[key]
        assert got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)
    if suffix == ".safetensors":  # PyTorch reads the same file under the same names
        from safetensors.torch import load_file

        theirs = TorchNet().double()
        theirs.load_state_dict(load_file(str(path)))
        np.testing.assert_array_equal(theirs.head.weight.detach().numpy(), ours.head.weight.data)


def test_npz_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"head.weight": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="evil.npz"):
        serialization.load(path)


def test_bad_weight_file_names(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"\x80\x02garbage")  # another suffix: judged by content
    with pytest.raises(ValueError, match=r"w\.pt: neither a \.npz .* nor a \.safetensors"):
        serialization.load(tmp_path / "w.pt")
    with pytest.raises(ValueError, match=r"\.npz or \.safetensors"):
        serialization.save({}, tmp_path / "w.pt")
    with pytest.raises(FileNotFoundError, match="w.npz"):
        serialization.load(tmp_path / "w.npz")
    (tmp_path / "w.safetensors").write_bytes(b"\x01\x02garbage")
    pytest.importorskip("safetensors")
    with pytest.raises(ValueError, match="w.safetensors"):
        serialization.load(tmp_path / "w.safetensors")


def test_load_state_dict_errors_name_the_problem():
    net = OurNet()
    state = net.state_dict()
    missing = OrderedDict((k, v) for k, v in state.items() if k != "bn.running_var")
    with pytest.raises(ValueError, match=r"missing key\(s\): bn\.running_var"):
        net.load_state_dict(missing)
    extra = OrderedDict(state, **{"tail.weight": np.zeros(2)})
    with pytest.raises(ValueError, match=r"unexpected key\(s\): tail\.weight"):
        net.load_state_dict(extra)
    wrong = OrderedDict(state, **{"head.weight": np.zeros((8, 15))})
    with pytest.raises(ValueError, match=r"head\.weight: shape \(8, 15\) in the state dict, \(8, 16\) in the model"):
        net.load_state_dict(wrong)
    with pytest.raises(ValueError, match="not numeric"):
        net.load_state_dict(OrderedDict(state, **{"scale": np.array(["a", "b", "c"])}))
    with pytest.raises(TypeError, match="mapping"):
        net.load_state_dict([1, 2])
    # nothing changed by the failed loads
    for key, value in state.items():
        np.testing.assert_array_equal(net.state_dict()[key], value)
    # strict=False reports instead of raising (shapes are still checked)
    result = net.load_state_dict(extra, strict=False)
    assert result.unexpected_keys == ["tail.weight"] and result.missing_keys == []


def test_train_eval_propagate():
    net = OurNet()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert net.features[1].training
    with pytest.raises(TypeError, match="mode"):
        net.train("no")


def test_sequential_container():
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    seq.append(nn.Sigmoid())
    assert len(seq) == 3 and isinstance(seq[-1], nn.Sigmoid) and isinstance(seq[1:][0], nn.Tanh)
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 1, 1)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    assert "Conv2d(1, 1" in repr(named)


def test_registration_errors():
    net = OurNet()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        net.scale = np.ones(3)
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Parameter(np.arange(3))
    net.plain = None
    assert "plain.weight" not in net.state_dict()

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Forgetful()
