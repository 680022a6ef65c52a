"""`vanilla-nn train --workers 2`: data parallel on MPI through the command line.

- Equivalence: two ranks end with the weights (and history) of one process on the same global batches:
  LeNet to 1e-9 relative in float64 and 1e-4 in float32; ResNet-18 (batch norm, SyncBatchNorm by default when
  distributed) against one process's plain BatchNorm in float64 (tolerance explained at TOLERANCE).
- Only rank 0 prints and writes: the run directory holds exactly one run's files, no temporary files, each
  progress line and the summary appear once.
- A failure (divergence) ends both ranks promptly with one line and a non-zero exit; Ctrl-C in both ranks
  exits 130 keeping the last epoch, and --resume under MPI then ends with one uninterrupted process's weights.
- Ctrl-C of `--workers`' own process is passed on to the ranks: exit 130, one line, the last epoch kept.
- --workers and --dtype usage errors exit 2 with a line naming the option.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_launch import mpi_missing, needs_mpi
from run_helpers import cli_command, cli_env, run_cli, tiny_mnist

from vanilla_nn import cli

pytest.importorskip("safetensors")


# 44 images in global batches of 9: four batches split 5 + 4 between the ranks and a last one of 8 (4 + 4), so
# the unequal shards' loss scaling is exercised
OPTIONS = ("--epochs", "2", "--batch-size", "9", "--no-plots", "--seed", "3")
# Float64 LeNet agrees to ~1e-14. In ResNet-18 some batch-norm biases have gradients near Adam's eps (1e-8), where
# Adam's update lr * g / (|g| + eps) multiplies a gradient's rounding difference (the ranks sum in another
# order) by up to lr / eps = 2e5: those biases differ by ~1e-9 of their size (measured 1.1e-9 against one process,
# 3.7e-10 against one process with SyncBatchNorm), every other tensor by < 1e-12.
TOLERANCE = {("lenet", "float64"): 1e-9, ("lenet", "float32"): 1e-4, ("resnet18", "float64"): 1e-8}
RUN_FILES = {"model.safetensors", "model.npz", "checkpoint.safetensors", "history.json", "manifest.json",
             ".vanilla-nn-train.lock"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> list[str]:
    return tiny_mnist(tmp_path_factory.mktemp("mnist"), n_train=44, n_test=8)


def _relative(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual.astype(np.float64) - expected)) / max(np.max(np.abs(expected)), 1e-3))


def _weights(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "model.npz", allow_pickle=False) as archive:
        return dict(archive)


@needs_mpi
@pytest.mark.parametrize(("model", "dtype"), list(TOLERANCE))
def test_two_workers_end_with_the_weights_of_one_process(tmp_path, capsys, data, model, dtype):
    args = [*data, *OPTIONS, "--model", model, "--dtype", dtype]
    assert cli.main(["train", *args, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    result = run_cli("train", *args, "--workers", "2", "--out", str(tmp_path / "two"), timeout=120)
    assert result.returncode == 0, result.stderr
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for key, expected in one.items():
        assert two[key].dtype == expected.dtype == np.dtype(dtype if expected.dtype.kind == "f" else np.int64), key
        error = _relative(two[key], expected)
        assert error <= TOLERANCE[model, dtype], f"{key}: relative error {error:.1e}"
    history = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("one", "two")]
    for name in ("loss", "train_accuracy", "test_accuracy"):  # the epoch totals are summed over the ranks
        np.testing.assert_allclose(history[1][name], history[0][name], rtol=TOLERANCE[model, dtype])
    # rank 0 alone wrote (no stray or temporary files) and printed: each line once
    assert {p.name for p in (tmp_path / "two").iterdir()} == RUN_FILES
    assert result.stdout.count("test accuracy") == 1 and result.stdout.count("wrote ") == 1, result.stdout
    for epoch in (1, 2):
        assert result.stderr.count(f"epoch {epoch}/2:") == 1, result.stderr


@needs_mpi
def test_a_divergence_ends_both_workers_with_one_line(tmp_path, data):
    start = time.monotonic()
    result = run_cli("train", *data, *OPTIONS, "--lr", "1e30", "--workers", "2", "--no-progress",
                     "--out", str(tmp_path / "run"), timeout=60)
    assert time.monotonic() - start < 30
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "rank 0/2" in lines[0] and "training diverged in epoch 1" in lines[0], lines
    assert "=" not in result.stdout and "FAQ" not in result.stdout, result.stdout  # no MPICH banner
    assert not any(p.name.endswith(".tmp") or ".tmp." in p.name for p in (tmp_path / "run").iterdir())


@needs_mpi
def test_ctrl_c_under_mpi_then_resume_ends_as_one_uninterrupted_process(tmp_path, capsys, data):
    args = [*data, *OPTIONS, "--dtype", "float64", "--no-progress"]
    assert cli.main(["train", *args, "--out", str(tmp_path / "whole")]) == 0
    args.extend(["--workers", "2"])
    # both ranks get SIGINT at their 7th step (epoch 2), as a terminal's Ctrl-C reaches every rank
    result = run_cli("train", *args, "--out", str(tmp_path / "cut"), VANILLA_NN_FAULT_POINTS="step#7")
    assert result.returncode == 130, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted in epoch 2" in lines[0] and "holds epoch 1" in lines[0], lines
    resumed = run_cli("train", *args, "--out", str(tmp_path / "cut"), "--resume", str(tmp_path / "cut"))
    assert resumed.returncode == 0, resumed.stderr
    whole, cut = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    for key in whole:
        assert _relative(cut[key], whole[key]) <= TOLERANCE["lenet", "float64"], key


@needs_mpi
def test_ctrl_c_of_the_launcher_reaches_the_workers(tmp_path, data):
    out = tmp_path / "run"
    launcher = subprocess.Popen(cli_command("train", *data, *OPTIONS[2:], "--epochs", "500", "--workers", "2",
                                            "--no-progress", "--out", str(out)),
                                env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "history.json").exists() and time.monotonic() < deadline and launcher.poll() is None:
        time.sleep(0.1)
    launcher.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, err = launcher.communicate(timeout=30)
    assert time.monotonic() - start < 15
    assert launcher.returncode == 130, err
    ours = err.strip().splitlines()  # the launcher leaves out MPICH's own notices
    assert len(ours) == 1 and "rank 0/2: interrupted in epoch" in ours[0] and "--resume" in ours[0], err
    assert json.loads((out / "history.json").read_text())["loss"]  # the last completed epoch is kept


def test_the_launcher_relays_output_without_mpichs_own_lines():
    from vanilla_nn.commands.train import _relay

    hydra = ("\n" + "=" * 83 + "\n=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\n=   PID 7 RUNNING AT vm\n"
             "=   EXIT CODE: 9\n" + "=" * 83 + "\nYOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)\n"
             "This typically refers to a problem with your application.\n"
             "Please see the FAQ page for debugging suggestions\n")
    ours = "epoch 1/2: loss 0.5\n\ntest accuracy 97.00%\n"
    target = io.StringIO()
    _relay(io.BytesIO((ours + hydra + "[mpiexec@vm] Sending Ctrl-C to processes as requested\nlast\n").encode()),
           target)
    assert target.getvalue() == ours + "last\n"


def test_workers_and_dtype_usage_errors(tmp_path, capsys, data, monkeypatch):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--workers", "0"])
    assert exit_.value.code == 2 and "--workers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--dtype", "float16"])
    assert exit_.value.code == 2 and "--dtype" in capsys.readouterr().err
    # a checkpoint made in float32 does not resume in float64
    out = str(tmp_path / "run")
    assert cli.main(["train", *data, "--epochs", "2", "--no-progress", "--no-plots", "--out", out]) == 0
    capsys.readouterr()
    assert cli.main(["train", *data, "--epochs", "2", "--no-progress", "--no-plots", "--out", out, "--resume", out,
                     "--dtype", "float64"]) == 2
    err = capsys.readouterr().err
    assert "--dtype float32" in err and "float64" in err
    # nor with the other batch-norm statistics (--sync-bn changes what a distributed run computes)
    assert cli.main(["train", *data, "--epochs", "2", "--no-progress", "--no-plots", "--out", out, "--resume", out,
                     "--sync-bn", "off"]) == 2
    err = capsys.readouterr().err
    assert "--sync-bn on" in err and "off" in err
    # no mpiexec beside this Python: one line naming it, before anything runs
    if mpi_missing() is None:
        monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
        assert cli.main(["train", *data, "--workers", "2", "--out", str(tmp_path / "other")]) == 2
        err = capsys.readouterr().err
        assert "mpiexec" in err and "dist" in err and "Traceback" not in err
