"""`vanilla-nn convert`: PyTorch checkpoints to safetensors with torch.load(weights_only=True), then into a
vanilla_nn module with identical values; anything but tensors refused in one line; no code ever runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

from vanilla_nn import cli, nn

torch = pytest.importorskip("torch")


class _TorchNet(torch.nn.Module):
    """torchvision's naming in miniature: conv1, bn1 (with num_batches_tracked), layer1.0.conv1, fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.layer1 = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1))
        self.fc = torch.nn.Linear(4, 5)


class _OurNet(nn.Module):
    def __init__(self, dtype=np.float32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(4, dtype=dtype)
        self.layer1 = nn.Sequential(nn.Conv2d(4, 4, 1, dtype=dtype))
        self.fc = nn.Linear(4, 5, dtype=dtype)


def _torch_state():
    torch.manual_seed(0)
    model = _TorchNet()
    with torch.no_grad():  # non-trivial running statistics and counter
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
        model.bn1.num_batches_tracked.fill_(17)
    return model.state_dict()


def _convert(capsys, *argv):
    """Run the command in-process: (exit status, stdout, stderr)."""
    try:
        status = cli.main(["convert", *map(str, argv)])
        message = ""
    except SystemExit as exit_:
        status, message = (1, str(exit_.code)) if isinstance(exit_.code, str) else (exit_.code, "")
    out, err = capsys.readouterr()
    return status, out, err + message


@pytest.mark.parametrize("wrap", [None, "state_dict", "model"])
def test_a_torchvision_like_checkpoint_converts_and_loads(tmp_path, capsys, wrap):
    state = _torch_state()
    saved = state if wrap is None else {wrap: state, "epoch": 3, "optimizer": {"lr": 0.1}}
    torch.save(saved, tmp_path / "model.pth")
    status, out, err = _convert(capsys, tmp_path / "model.pth", tmp_path / "model.safetensors")
    assert status == 0, err
    assert "wrote" in out and f"{len(state)} tensors" in out
    loaded = nn.load(tmp_path / "model.safetensors")
    assert list(loaded) == list(state)  # PyTorch's order kept
    ours = _OurNet()
    ours.load_state_dict(loaded)
    for key, value in state.items():
        mine = ours.state_dict()[key]
        assert mine.shape == tuple(value.shape) and mine.dtype == value.numpy().dtype, key
        np.testing.assert_array_equal(mine, value.numpy(), err_msg=key)
    # and PyTorch reads the converted file back to the same tensors
    from safetensors.torch import load_file

    back = load_file(str(tmp_path / "model.safetensors"))
    for key, value in state.items():
        assert torch.equal(back[key], value), key


def test_key_option_and_bfloat16(tmp_path, capsys):
    weights = torch.randn(3, 2, dtype=torch.float64).to(torch.bfloat16)
    torch.save({"ema": {"w": weights}, "other": {"w": torch.zeros(1)}}, tmp_path / "c.pt")
    status, _, err = _convert(capsys, tmp_path / "c.pt", tmp_path / "o.safetensors", "--key", "ema")
    assert status == 0, err
    got = nn.load(tmp_path / "o.safetensors")["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, weights.float().numpy())
    status, _, err = _convert(capsys, tmp_path / "c.pt", tmp_path / "o.safetensors", "--key", "nope")
    assert status == 1 and "c.pt: no entry 'nope'" in err


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize(("content", "words"), [
    (lambda: {"w": torch.ones(2), "epoch": 3}, "'epoch' is of type int, not a tensor"),
    (lambda: [torch.ones(2)], "holds a list object, not a state dict"),
    (lambda: {}, "the state dict is empty"),
    (lambda: {"w": _Evil()}, "holds more than tensors"),
    (lambda: {"w": torch.ones(2, dtype=torch.complex64)}, "dtype complex64"),
    (lambda: {"w": torch.ones(2).to_sparse()}, "only dense tensors"),
])
def test_anything_but_tensors_is_one_line(tmp_path, capsys, monkeypatch, content, words):
    monkeypatch.chdir(tmp_path)
    torch.save(content(), tmp_path / "bad.pth")
    status, out, err = _convert(capsys, tmp_path / "bad.pth", tmp_path / "o.safetensors")
    assert status == 1
    assert words in err and "bad.pth" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.safetensors").exists()
    assert not (tmp_path / "pwned").exists()  # the pickle's payload never ran


@pytest.mark.parametrize(("payload", "words"), [
    (b"", "not a readable PyTorch checkpoint"),
    (b"PK\x03\x04 truncated zip", "not a readable PyTorch checkpoint"),
    (None, "no such file"),
])
def test_unreadable_checkpoints(tmp_path, capsys, payload, words):
    path = tmp_path / "x.pth"
    if payload is not None:
        path.write_bytes(payload)
    status, _, err = _convert(capsys, path, tmp_path / "o.safetensors")
    assert status == 1 and words in err and "x.pth" in err and len(err.strip().splitlines()) == 1, err


def test_output_must_be_safetensors_and_writable(tmp_path, capsys):
    torch.save(OrderedDict(w=torch.ones(1)), tmp_path / "m.pth")
    with pytest.raises(SystemExit) as info:
        cli.main(["convert", str(tmp_path / "m.pth"), str(tmp_path / "m.npz")])
    assert info.value.code == 2 and "must end in .safetensors" in capsys.readouterr().err
    status, _, err = _convert(capsys, tmp_path / "m.pth", tmp_path / "no" / "dir" / "m.safetensors")
    assert status == 1 and "cannot write" in err


def test_without_torch_one_line(tmp_path):
    """A Python where `import torch` fails: one line naming the extra, no traceback."""
    (tmp_path / "m.pth").write_bytes(b"x")
    code = ("import sys; sys.modules['torch'] = None; from vanilla_nn import cli; "
            f"sys.exit(cli.main(['convert', {str(tmp_path / 'm.pth')!r}, {str(tmp_path / 'o.safetensors')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "needs torch" in result.stderr and "vanilla-nn[torch]" in result.stderr
