"""The command line's error policy, for every subcommand: no traceback, ever; usage errors exit 2 in
argparse's style, bad data or files exit 1 with one line naming the file, and every option has help text that
shows its default. Also --out misuse, divergence and strict JSON of `train`."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pytest
from run_helpers import TINY_TRAIN, run_cli, tiny_mnist

from vanilla_nn import cli
from vanilla_nn.models import lenet
from vanilla_nn.nn import serialization


def _run(capsys, argv):
    """``cli.main(argv)`` as the entry point runs it: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path):
    """Paths of good and bad inputs, made once per test."""
    paths = {"tmp": tmp_path, "data": tiny_mnist(tmp_path / "data")}
    state = lenet(image_size=8, channels=(4, 8), hidden=16, rng=0).state_dict()
    paths["weights"] = serialization.save(state, tmp_path / "w.npz")
    paths["rgb_weights"] = serialization.save(lenet(in_channels=3, channels=(4, 8), hidden=16, rng=0).state_dict(),
                                              tmp_path / "rgb.npz")
    paths["nan_weights"] = serialization.save({k: np.full_like(v, np.nan) for k, v in state.items()},
                                              tmp_path / "nan.safetensors")
    paths["other_weights"] = serialization.save({"fc.weight": np.zeros((2, 2), np.float32)}, tmp_path / "o.npz")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    paths["garbage"] = tmp_path / "garbage.npz"
    for name, array in {"empty": np.zeros((0, 8, 8), np.float32), "sixteen": np.full((2, 8, 8), 16.0),
                        "nan": np.full((2, 8, 8), np.nan), "ok": np.full((2, 8, 8), 0.5)}.items():
        np.save(tmp_path / f"{name}.npy", array)
        paths[f"{name}_images"] = tmp_path / f"{name}.npy"
    (tmp_path / "a_file").write_text("x")
    paths["file"] = tmp_path / "a_file"
    (tmp_path / "tiny_images").mkdir()
    paths["tiny_data"] = tiny_mnist(tmp_path / "tiny_images", size=2)
    paths["empty_data"] = tiny_mnist(tmp_path / "empty_split", n_test=0)
    return paths


# (argv with {placeholders} from the fixture, exit code, words the message must contain)
CASES = [
    # top level
    ([], 2, ["usage"]),
    (["frobnicate"], 2, ["invalid choice"]),
    # train: numbers
    (["train", "--seed", "-1"], 2, ["--seed", "2**128"]),
    (["train", "--seed", str(2**128)], 2, ["--seed"]),
    (["train", "--seed", "1.5"], 2, ["--seed", "integer"]),
    (["train", "--epochs", "0"], 2, ["--epochs", ">= 1"]),
    (["train", "--batch-size", "-4"], 2, ["--batch-size"]),
    (["train", "--limit", "0"], 2, ["--limit"]),
    (["train", "--lr", "inf"], 2, ["--lr", "finite"]),
    (["train", "--lr", "nan"], 2, ["--lr", "finite"]),
    (["train", "--lr", "0"], 2, ["--lr", "> 0"]),
    (["train", "--lr", "fast"], 2, ["--lr", "not a number"]),
    (["train", "--model", "vgg11"], 2, ["--model", "invalid choice"]),
    (["train", "--dataset", "mnist"], 2, ["--data-dir"]),
    # train: --out misuse (before any data is loaded or trained)
    (["train", "--out", "{file}"], 2, ["--out", "is a file"]),
    (["train", "--out", "{file}/sub/run"], 2, ["--out", "a_file is a file"]),
    (["train", "--out", "{tmp}/run_with_dir"], 2, ["model.npz is a directory"]),
    (["train", "--out", ""], 2, ["--out", "empty"]),
    # train: bad data and files
    (["train", "--dataset", "mnist", "--data-dir", "{tmp}/missing", "--out", "{tmp}/run"], 1, ["missing"]),
    (["train", "{tiny_data}", "--out", "{tmp}/run"], 1, ["2, 2", "lenet"]),
    (["train", "{empty_data}", "--out", "{tmp}/run"], 1, ["empty_split", "t10k-images", "empty"]),
    (["train", "--resume", "{tmp}/nowhere", "--out", "{tmp}/run"], 1, ["nowhere", "no checkpoint"]),
    # predict
    (["predict", "--weights", "{tmp}/missing.npz"], 1, ["missing.npz"]),
    (["predict", "--weights", "{garbage}"], 1, ["garbage.npz"]),
    (["predict", "--weights", "{other_weights}"], 1, ["o.npz", "not a vanilla-nn LeNet"]),
    (["predict", "--weights", "{rgb_weights}", "--images", "{ok_images}"], 1, ["3", "channels"]),
    (["predict", "--weights", "{rgb_weights}", "{data}"], 1, ["rgb.npz", "3-channel"]),
    (["predict", "--weights", "{nan_weights}", "{data}"], 1, ["nan.safetensors", "NaN"]),
    (["predict", "--weights", "{weights}", "--images", "{empty_images}"], 1, ["empty.npy", "no images"]),
    (["predict", "--weights", "{weights}", "--images", "{sixteen_images}"], 1, ["sixteen.npy", "0..1"]),
    (["predict", "--weights", "{weights}", "--images", "{nan_images}"], 1, ["nan.npy", "NaN"]),
    (["predict", "--weights", "{weights}", "--images", "{tmp}/none.npy"], 1, ["none.npy"]),
    (["predict", "--weights", "{weights}", "--show", "-1"], 2, ["--show"]),
    (["predict", "--weights", "{weights}", "--seed", "-1"], 2, ["--seed"]),
    (["predict"], 2, ["--weights"]),
    # compare
    (["compare", "conv2d", "--groups", "0"], 2, ["--groups"]),
    (["compare", "conv2d", "--kernel-size", "-3"], 2, ["--kernel-size"]),
    (["compare", "conv2d", "--out-channels", "0"], 2, ["--out-channels"]),
    (["compare", "conv2d", "--stride", "0"], 2, ["--stride"]),
    (["compare", "conv2d", "--padding", "-1"], 2, ["padding"]),
    (["compare", "conv2d", "--input-shape", "100000,100000,3,3"], 2, ["--input-shape", "2**22"]),
    (["compare", "conv2d", "--padding", str(2**60)], 2, ["output", "2**22"]),
    (["compare", "conv2d", "--seed", "-1"], 2, ["--seed"]),
    (["compare", "conv2d", "--tolerance", "nan"], 2, ["--tolerance"]),
    (["compare", "conv2d", "--groups", "2"], 2, ["--groups"]),
    # convert
    (["convert", "{tmp}/missing.pth", "{tmp}/out.safetensors"], 1, ["missing.pth"]),
    (["convert", "{tmp}/missing.pth", "{tmp}/out.txt"], 2, [".safetensors"]),
    # verify
    (["verify", "--seed", "-1"], 2, ["--seed"]),
    (["verify", "--oracle", "caffe"], 2, ["--oracle"]),
]


@pytest.mark.parametrize(("argv", "code", "words"), CASES, ids=[" ".join(c[0])[:60] or "none" for c in CASES])
def test_bad_values_give_one_line_and_the_exit_code(capsys, files, argv, code, words):
    (files["tmp"] / "run_with_dir" / "model.npz").mkdir(parents=True, exist_ok=True)
    expanded = []
    for part in argv:  # "{data}" stands for several options
        value = files.get(part.strip("{}"))
        expanded += value if isinstance(value, list) else [part.format(**{k: str(v) for k, v in files.items()})]
    got, out, err = _run(capsys, expanded)
    assert "Traceback" not in out + err
    assert got == code, err
    lines = err.strip().splitlines()
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("vanilla-nn "), err
    else:
        assert "usage:" in err or "usage:" in out, err
    for word in words:
        assert word in err + out, (word, err)


def test_no_traceback_through_the_real_entry_point(tmp_path):
    """The installed command (a subprocess): argparse usage error, a file error, and an unexpected error."""
    result = run_cli("train", "--seed", "-1")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--seed" in result.stderr
    weights = serialization.save({k: np.full_like(v, np.inf) for k, v in lenet(rng=0).state_dict().items()},
                                 tmp_path / "inf.npz")
    result = run_cli("predict", "--weights", str(weights), "--images", str(tmp_path / "x.npy"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "inf.npz" in result.stderr


def test_an_unexpected_error_is_one_line(capsys, monkeypatch):
    import vanilla_nn.commands.verify as verify

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(verify, "run", broken)
    code, out, err = _run(capsys, ["verify"])
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert "ZeroDivisionError: division by zero" in err
    monkeypatch.setenv("VANILLA_NN_TRACEBACK", "1")  # for debugging, the traceback on request
    with pytest.raises(ZeroDivisionError):
        cli.main(["verify"])


def test_ctrl_c_in_any_command_exits_130_with_one_line(capsys, monkeypatch):
    import vanilla_nn.commands.compare as compare

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run", interrupted)
    code, out, err = _run(capsys, ["compare", "conv2d"])
    assert code == 130 and err.strip() == "vanilla-nn compare: interrupted (Ctrl-C)"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only directories")
def test_train_refuses_an_unwritable_out(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = _run(capsys, ["train", "--out", locked / "run"])
        assert code == 2 and "--out" in err and "cannot create" in err
        code, _, err = _run(capsys, ["train", "--out", locked])
        assert code == 2 and "not writable" in err
    finally:
        locked.chmod(0o700)


def test_out_is_checked_before_loading_data(capsys, tmp_path, monkeypatch):
    import vanilla_nn.commands._common as common

    def no_data(args):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr(common, "load_dataset", no_data)
    (tmp_path / "file").write_text("x")
    code, _, err = _run(capsys, ["train", "--out", tmp_path / "file"])
    assert code == 2 and "is a file" in err


# -- help texts -----------------------------------------------------------------------------------------------

def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_every_option_of_every_subcommand_has_help_showing_its_default():
    parser = cli.build_parser()
    commands = _subparsers(parser)
    assert {"train", "predict", "compare", "verify"} <= set(commands)
    flags = (argparse._HelpAction, argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction)
    for name, sub in commands.items():
        text = sub.format_help()
        for action in sub._actions:
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{label} has no help"
            if isinstance(action, flags) or not action.option_strings or action.required:
                continue
            assert "default" in action.help, f"{label}: the help does not state the default"
            if action.default is not None:
                shown = action.help % {"default": action.default} if "%(default)" in action.help else action.help
                assert str(action.default) in shown, f"{label}: default {action.default!r} not shown"
                assert " ".join(shown.split())[:20] in " ".join(text.split()), label


def test_predict_help_describes_seed_for_prediction(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "whose test images are classified" in text and "training run's --seed" in text


# -- train: divergence, strict JSON ---------------------------------------------------------------------------

def test_divergence_stops_with_one_line_and_keeps_the_previous_files(capsys, tmp_path):
    data = tiny_mnist(tmp_path / "data")
    out = tmp_path / "run"
    assert _run(capsys, ["train", *data, *TINY_TRAIN, "--no-plots", "--out", out])[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = _run(capsys, ["train", *data, *TINY_TRAIN, "--no-plots", "--lr", "1e30", "--out", out])
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "diverged in epoch 1, step" in err and "lower --lr" in err and "1e+30" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_nan_images_are_a_divergence_at_the_first_step(capsys, tmp_path, monkeypatch):
    import vanilla_nn.commands._common as common

    real = common.load_dataset

    def nan_data(args):
        split = real(args)
        return split._replace(x_train=np.full_like(split.x_train, np.nan))

    monkeypatch.setattr(common, "load_dataset", nan_data)
    monkeypatch.setattr("vanilla_nn.commands.train.load_dataset", nan_data)
    out = tmp_path / "run"
    code, _, err = _run(capsys, ["train", *tiny_mnist(tmp_path / "data"), *TINY_TRAIN, "--out", out])
    assert code == 1 and "diverged in epoch 1, step 1: the loss is nan" in err
    assert "nothing was written" in err and [p.name for p in out.iterdir()] == [".vanilla-nn-train.lock"]


def test_history_and_json_output_are_strict_json(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = _run(capsys, ["train", *tiny_mnist(tmp_path / "data"), *TINY_TRAIN, "--no-plots", "--json",
                                    "--out", out])
    assert code == 0

    def reject(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    history = json.loads((out / "history.json").read_text(), parse_constant=reject)
    assert len(history["loss"]) == 3
    result = json.loads(stdout.strip().splitlines()[-1], parse_constant=reject)
    assert result["epochs"] == 3
    json.loads((out / "manifest.json").read_text(), parse_constant=reject)


def test_predict_refuses_weights_that_do_not_match_their_run_manifest(capsys, tmp_path):
    out = tmp_path / "run"
    data = tiny_mnist(tmp_path / "data")
    assert _run(capsys, ["train", *data, *TINY_TRAIN, "--no-plots", "--out", out])[0] == 0
    assert _run(capsys, ["predict", "--weights", out / "model.npz", *data])[0] == 0
    other = lenet(image_size=8, rng=1).state_dict()  # a crash between renames: new weights, old manifest
    serialization.save(other, out / "model.npz")
    code, _, err = _run(capsys, ["predict", "--weights", out / "model.npz", *data])
    assert code == 1 and "does not match" in err and "manifest.json" in err
    (out / "manifest.json").unlink()  # weights outside a run directory are read as they are
    assert _run(capsys, ["predict", "--weights", out / "model.npz", *data])[0] == 0


def test_a_second_train_into_the_same_out_is_refused_and_stale_temporaries_are_removed(capsys, tmp_path):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".model.npz.abcd1234.tmp.npz"  # left by a killed run
    stale.write_bytes(b"half a file")
    with open(out / ".vanilla-nn-train.lock", "a+") as other:  # another run holds the directory
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        code, _, err = _run(capsys, ["train", "--out", out])
        assert code == 1 and "another vanilla-nn train is writing there" in err
        assert stale.exists()
    code, _, _ = _run(capsys, ["train", *tiny_mnist(tmp_path / "data"), *TINY_TRAIN, "--no-plots", "--out", out])
    assert code == 0 and not stale.exists()
