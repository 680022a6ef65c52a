"""`vanilla-nn train` and `vanilla-nn predict`: a tiny run writes its files, --json parses, weights from
train and from PyTorch load into predict and give the same answers."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from vanilla_nn import cli
from vanilla_nn.models import lenet, lenet_from_state_dict

pytest.importorskip("matplotlib")
pytest.importorskip("safetensors")
pytest.importorskip("tqdm")

OUTPUTS = ("model.npz", "model.safetensors", "curves.png", "filters.png", "feature_maps.png")


def _last_json(capsys):
    lines = capsys.readouterr().out.strip().splitlines()
    return json.loads(lines[-1]), lines


def test_train_digits_smoke_then_predict(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--limit", "300", "--out", str(out), "--json", "--no-progress"]) == 0
    result, _ = _last_json(capsys)
    assert set(result) == {"test_accuracy", "seconds", "epochs"} and result["epochs"] == 1
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["seconds"] > 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    with np.load(out / "model.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
                                                "9.weight", "9.bias"])
    for weights in ("model.npz", "model.safetensors"):
        assert cli.main(["predict", "--weights", str(out / weights), "--json", "--show", "2"]) == 0
        predicted, lines = _last_json(capsys)
        assert predicted["test_accuracy"] == pytest.approx(result["test_accuracy"])
        assert lines[0].startswith("test[0]: predicted")


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_train_on_tiny_mnist_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    out = tmp_path / "run"
    args = ["--dataset", "fashion-mnist", "--data-dir", str(tmp_path)]
    assert cli.main(["train", *args, "--epochs", "1", "--out", str(out), "--json", "--no-progress"]) == 0
    assert _last_json(capsys)[0]["epochs"] == 1
    assert cli.main(["predict", "--weights", str(out / "model.npz"), *args, "--show", "1"]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_train_and_predict_errors(tmp_path, capsys):
    # usage errors exit 2, file errors 1, each with a message naming the option or file (more in test_cli_errors)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--epochs", "0"])
    assert exit_.value.code == 2 and "--epochs" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", "mnist", "--out", str(tmp_path)]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert "cannot load mnist" in capsys.readouterr().err
    assert cli.main(["predict", "--weights", str(tmp_path / "missing.npz")]) == 1
    assert "missing.npz" in capsys.readouterr().err
    np.savez(tmp_path / "other.npz", **{"fc.weight": np.zeros((2, 2), np.float32)})
    assert cli.main(["predict", "--weights", str(tmp_path / "other.npz")]) == 1
    assert "not a vanilla-nn LeNet" in capsys.readouterr().err


def test_pytorch_trained_weights_give_the_same_logits(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 2 * 2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    images = np.random.default_rng(0).random((12, 1, 8, 8)).astype(np.float32)
    labels = torch.from_numpy(np.arange(12) % 10)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(3):  # a few PyTorch training steps so these are "PyTorch-trained" weights
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(images)), labels).backward()
        optimizer.step()
    path = tmp_path / "torch.safetensors"
    save_file(theirs.state_dict(), str(path))
    from vanilla_nn.nn import serialization

    ours = lenet_from_state_dict(serialization.load(path), image_size=8)
    expected = theirs(torch.from_numpy(images)).detach().numpy()
    ours.eval()
    np.testing.assert_allclose(ours(images), expected, rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "images.npy", images)
    assert cli.main(["predict", "--weights", str(path), "--images", str(tmp_path / "images.npy"), "--json"]) == 0
    result, _ = _last_json(capsys)
    assert result["predictions"][str(tmp_path / "images.npy")] == expected.argmax(axis=1).tolist()


def test_lenet_rejects_mismatched_images():
    state = lenet(image_size=8, rng=0).state_dict()
    with pytest.raises(ValueError, match="28 x 28"):
        lenet_from_state_dict(state, image_size=28)


@pytest.mark.parametrize(("images", "word"), [
    (np.zeros((2, 1, 28, 28), np.float32), "28 x 28"),
    (np.zeros((2, 3, 8, 8), np.float32), "3 channels"),
    (np.zeros((2, 1, 8, 8), np.int32), "dtype int32"),
    (np.zeros((2, 1, 1, 8, 8), np.float32), "shape"),
])
def test_predict_bad_images(tmp_path, capsys, images, word):
    from vanilla_nn.nn import serialization

    weights = serialization.save(lenet(image_size=8, rng=0).state_dict(), tmp_path / "w.npz")
    np.save(tmp_path / "x.npy", images)
    assert cli.main(["predict", "--weights", str(weights), "--images", str(tmp_path / "x.npy")]) == 1
    assert word in capsys.readouterr().err


def test_lenet_trains_the_same_on_the_tape_and_on_the_explicit_path():
    from vanilla_nn.commands.train import train_model

    rng = np.random.default_rng(0)
    x, y = rng.random((40, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 40)
    runs = []
    for tape in (True, False):
        model = lenet(channels=(4, 8), hidden=16, rng=0)
        history = train_model(model, x, y, x[:8], y[:8], epochs=2, batch_size=8, lr=1e-2, seed=0, tape=tape)
        runs.append((model.state_dict(), history))
    (tape_state, tape_history), (explicit_state, explicit_history) = runs
    assert tape_history == explicit_history
    for key, value in tape_state.items():
        assert np.array_equal(value, explicit_state[key]), key
    assert not np.array_equal(tape_state["0.weight"], lenet(channels=(4, 8), hidden=16, rng=0).state_dict()["0.weight"])


@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v2"])
def test_train_another_model_then_predict_reads_it_back(tmp_path, capsys, model):
    from run_helpers import tiny_mnist

    data = tiny_mnist(tmp_path / "data")
    out = tmp_path / "run"
    assert cli.main(["train", "--model", model, *data, "--epochs", "1", "--batch-size", "8", "--no-progress",
                     "--no-plots", "--json", "--out", str(out)]) == 0
    accuracy = _last_json(capsys)[0]["test_accuracy"]
    from vanilla_nn.nn import serialization

    assert "conv1.weight" in serialization.load(out / "model.npz") or "features.0.0.weight" in serialization.load(
        out / "model.npz")
    for weights in ("model.safetensors", "model.npz"):  # the name comes from the metadata, or the manifest beside
        assert cli.main(["predict", "--weights", str(out / weights), *data, "--json", "--show", "0"]) == 0
        assert _last_json(capsys)[0]["test_accuracy"] == accuracy
