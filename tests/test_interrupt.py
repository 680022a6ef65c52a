"""Ctrl-C during `vanilla-nn train` (a real SIGINT to a subprocess), during epochs and during saves: exit 130 with
one line saying where the last completed epoch's checkpoint is; --out always holds a complete, loadable,
consistent set; and the run continued with `--resume` ends bit-identical to an uninterrupted run.

Exact points inside a save are reached with the VANILLA_NN_FAULT_POINTS hook of vanilla_nn._io (the process
sends itself SIGINT there); other interrupts arrive at random times from outside."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest
from run_helpers import cli_command, cli_env, run_cli, tiny_mnist

from vanilla_nn import _io
from vanilla_nn.commands import _checkpoint
from vanilla_nn.nn import serialization

EPOCHS = 3
STEPS = 4  # per epoch: 32 images in batches of 8
COMPARED = ("model.npz", "model.safetensors", "checkpoint.safetensors", "history.json", "manifest.json")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_mnist(tmp_path_factory.mktemp("data"), n_train=32, n_test=8)


def _train_args(data, out, *extra):
    return ["train", *data, "--epochs", str(EPOCHS), "--batch-size", "8", "--no-progress", "--no-plots",
            "--out", str(out), *extra]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The files of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = run_cli(*_train_args(data, out))
    assert result.returncode == 0, result.stderr
    return {name: (out / name).read_bytes() for name in COMPARED}


def assert_consistent(out):
    """--out holds a complete set: the manifest matches every file, both weight files and the checkpoint
    load and agree, no temporary file is left."""
    manifest = _io.check_manifest(out)
    assert set(manifest["files"]) == {"model.npz", "model.safetensors", "checkpoint.safetensors", "history.json"}
    npz, st = serialization.load(out / "model.npz"), serialization.load(out / "model.safetensors")
    checkpoint = _checkpoint.read(out / "checkpoint.safetensors")
    assert checkpoint.epoch == manifest["info"]["epoch"] == len(json.loads((out / "history.json").read_text())["loss"])
    for key, value in npz.items():
        assert np.array_equal(value, st[key]) and np.array_equal(value, checkpoint.model_state[key]), key
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".vanilla-nn-train.lock"]
    return checkpoint.epoch


# fault point -> the epoch whose checkpoint --out holds afterwards (None: nothing written yet)
POINTS = {
    "step#2": None,                          # in epoch 1
    "step#6": 1,                             # in epoch 2
    "staged:model.safetensors#1": None,      # the first save, half staged
    "staged:checkpoint.safetensors#2": 1,    # epoch 2's save, staged but not committed
    "renamed:model.npz#2": 2,                # between two renames: held back until the set is complete
    "replace:manifest.json#3": 3,            # while the last manifest is written: the run is complete
}


@pytest.mark.parametrize("point", POINTS)
def test_interrupt_at_a_point_then_resume_is_bit_identical(data, reference, tmp_path, point):
    out = tmp_path / "run"
    result = run_cli(*_train_args(data, out), VANILLA_NN_FAULT_POINTS=point)
    kept = POINTS[point]
    if kept == EPOCHS:  # interrupted after the last commit: the run is complete
        assert result.returncode == 130 and "holds epoch 3" in result.stderr
    else:
        assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("vanilla-nn train: interrupted in epoch")
    if kept is None:
        assert "nothing was written" in result.stderr
        assert [p.name for p in out.iterdir()] == [".vanilla-nn-train.lock"]
        result = run_cli(*_train_args(data, out))  # nothing to resume: start again
    else:
        assert f"{out / 'checkpoint.safetensors'} holds epoch {kept}" in result.stderr
        assert f"--resume {out}" in result.stderr
        assert assert_consistent(out) == kept
        result = run_cli(*_train_args(data, out, "--resume", str(out)))
    assert result.returncode == 0, result.stderr
    assert {name: (out / name).read_bytes() for name in COMPARED} == reference


def test_random_interrupts_leave_a_consistent_set_and_resume_identically(tmp_path):
    """SIGINT from outside at random moments after the first epoch's line, three times in a row, then resume."""
    data = tiny_mnist(tmp_path / "data", n_train=320, n_test=8)  # 40 steps per epoch: time to be interrupted
    out = tmp_path / "run"
    reference = tmp_path / "reference"
    assert run_cli(*_train_args(data, reference)).returncode == 0
    rng = np.random.default_rng(0)
    args = [a for a in _train_args(data, out) if a != "--no-progress"]
    interrupted = 0
    for _ in range(3):
        resume = ["--resume", str(out)] if (out / "checkpoint.safetensors").exists() else []
        process = subprocess.Popen(cli_command(*args, *resume), env=cli_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        first = process.stderr.readline()  # "epoch k/3: ..." once an epoch is done, or "" at the end
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=120)
        stderr = first + rest
        assert "Traceback" not in stderr, stderr
        assert process.returncode in (0, 130), stderr
        if process.returncode == 130:
            interrupted += 1
            assert stderr.strip().splitlines()[-1].startswith("vanilla-nn train: interrupted in epoch")
        if (out / "manifest.json").exists():
            assert_consistent(out)
    assert interrupted, "no attempt was interrupted: the test proved nothing"
    result = run_cli(*args, "--resume", str(out))
    assert result.returncode == 0, result.stderr
    for name in COMPARED:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_resume_refuses_other_arguments_and_damaged_checkpoints(data, tmp_path):
    out = tmp_path / "run"
    assert run_cli(*_train_args(data, out)).returncode == 0
    result = run_cli(*_train_args(data, out, "--resume", str(out), "--lr", "0.01"))
    assert result.returncode == 2 and "--lr" in result.stderr and "same arguments" in result.stderr
    checkpoint = out / "checkpoint.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    result = run_cli(*_train_args(data, out, "--resume", str(out)))
    assert result.returncode == 1 and str(checkpoint) in result.stderr and "Traceback" not in result.stderr
    serialization.save({"x": np.zeros(2, np.float32)}, checkpoint)
    result = run_cli(*_train_args(data, out, "--resume", str(out)))
    assert result.returncode == 1 and "not a vanilla-nn checkpoint" in result.stderr


def test_final_save_with_plots_interrupted_keeps_the_previous_epoch(data, tmp_path, monkeypatch, capsys):
    """In-process (the plots themselves are slow): Ctrl-C after the plots are staged, before the commit."""
    from vanilla_nn import cli
    from vanilla_nn.commands import train

    def quick_plots(model, history, sample, label, paths):
        for path in paths.values():
            path.write_bytes(b"\x89PNG stand-in")

    monkeypatch.setattr(train, "save_plots", quick_plots)
    monkeypatch.setenv("VANILLA_NN_FAULT_POINTS", "plots")
    out = tmp_path / "run"
    args = [a for a in _train_args(data, out) if a != "--no-plots"]
    assert cli.main(args) == 130
    assert "holds epoch 2" in capsys.readouterr().err
    assert assert_consistent(out) == 2 and not (out / "curves.png").exists()
    monkeypatch.delenv("VANILLA_NN_FAULT_POINTS")
    assert cli.main([*args, "--resume", str(out)]) == 0
    assert "curves.png" in capsys.readouterr().out
    assert set(_io.check_manifest(out)["files"]) >= {"curves.png", "filters.png", "feature_maps.png"}


def test_mobilenet_with_dropout_resumes_bit_identically(data, tmp_path):
    """Batch-norm buffers and the dropout generator are part of the checkpoint."""
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert run_cli(*_train_args(data, reference, "--model", "mobilenet_v2")).returncode == 0
    result = run_cli(*_train_args(data, out, "--model", "mobilenet_v2"), VANILLA_NN_FAULT_POINTS="step#7")
    assert result.returncode == 130 and "holds epoch 1" in result.stderr
    assert run_cli(*_train_args(data, out, "--model", "mobilenet_v2", "--resume", str(out))).returncode == 0
    for name in COMPARED:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
