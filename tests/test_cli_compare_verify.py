"""`vanilla-nn compare` and `vanilla-nn verify`: output, exit codes, --json, missing frameworks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vanilla_nn.functional as F
from vanilla_nn import cli
from vanilla_nn.oracles import OracleUnavailable
from vanilla_nn.oracles.cases import select_cases

pytest.importorskip("torch")
pytest.importorskip("tensorflow")


def _broken_conv2d_backward(grad_output, *args, **kwargs):
    grad_input, grad_weight, grad_bias = _REAL["conv2d_backward"](grad_output, *args, **kwargs)
    return grad_input, grad_weight * (1 + 1e-6), grad_bias  # off by one part in a million


_REAL = {"conv2d_backward": F.conv2d_backward}


def test_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "compare" in out and "verify" in out


@pytest.mark.parametrize("oracle, framework", [("torch", "PyTorch"), ("tensorflow", "TensorFlow")])
def test_compare_matches(capsys, oracle, framework):
    code = cli.main(["compare", "conv2d", "--input-shape", "2,3,5,7", "--out-channels", "4", "--kernel-size",
                     "3", "--stride", "2", "--seed", "123", "--oracle", oracle])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("output", "grad_input", "grad_weight", "grad_bias"):
        assert f"=== {name}" in out
    assert out.count("vanilla_nn:") == 4 and out.count(f"{framework}:") == 4
    assert f"All 4 results agree with {framework}" in out


def test_compare_uses_the_classic_procedure(capsys):
    # seed NumPy, input = np.random.random(shape), weights from torch.nn.Conv1d after torch.manual_seed
    import torch

    code = cli.main(["compare", "conv1d", "--input-shape", "1,2,5", "--out-channels", "1", "--kernel-size", "2",
                     "--seed", "5", "--no-bias", "--full"])
    out = capsys.readouterr().out
    np.random.seed(5)
    x = np.random.random((1, 2, 5))
    torch.manual_seed(5)
    weight = torch.nn.Conv1d(2, 1, 2, bias=False).weight.detach().double().numpy()
    expected = F.conv1d(x, weight)
    with np.printoptions(precision=8, suppress=True, linewidth=110):
        assert str(expected) in out
    assert code == 0


def test_compare_mismatch_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(F, "conv2d_backward", _broken_conv2d_backward)
    code = cli.main(["compare", "conv2d", "--input-shape", "1,2,5,5", "--kernel-size", "3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISMATCH in grad_weight" in out


def test_compare_tolerance_override(capsys, monkeypatch):
    monkeypatch.setattr(F, "conv2d_backward", _broken_conv2d_backward)
    code = cli.main(["compare", "conv2d", "--input-shape", "1,2,5,5", "--tolerance", "1e-4"])
    assert code == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv, message", [
    (["conv2d", "--oracle", "tensorflow", "--padding", "1", "--padding-mode", "circular"],
     "not supported by TensorFlow"),
    (["conv2d", "--groups", "2"], "--groups=2"),
    (["conv3d", "--dilation", "2"], "dilated kernel"),
])
def test_compare_bad_or_unsupported_options_exit_2(capsys, argv, message):
    assert cli.main(["compare", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("op, extra", [
    ("conv_transpose2d", ["--stride", "2", "--padding", "1:0,0:1", "--output-padding", "1"]),
    ("conv3d", ["--padding", "same", "--dtype", "float32"]),
    ("unfold", ["--kernel-size", "2,3", "--stride", "2"]),
    ("fold", ["--input-shape", "1,2,4,6", "--kernel-size", "2", "--stride", "2"]),
])
def test_compare_other_ops(capsys, op, extra):
    assert cli.main(["compare", op, *extra]) == 0
    capsys.readouterr()


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_verify_json(capsys):
    code = cli.main(["verify", "--quick", "--json", "--op", "conv2d", "--op", "fold"])
    out = capsys.readouterr().out
    totals = _json_line(out)
    assert code == 0
    assert set(totals) == {"checks", "failed", "skipped", "oracles", "worst_rel_err"}
    assert totals["oracles"] == ["torch", "tensorflow"]
    assert totals["failed"] == 0
    assert totals["skipped"] > 0  # TensorFlow has no replicate padding and no fold
    assert totals["checks"] > totals["skipped"]
    assert 0 <= totals["worst_rel_err"]["float64"] < 1e-10
    assert 0 <= totals["worst_rel_err"]["float32"] < 1e-5


def test_verify_counts(capsys):
    cases = select_cases(quick=True, ops=["conv1d"])
    assert cli.main(["verify", "--quick", "--json", "--op", "conv1d", "--oracle", "torch"]) == 0
    totals = _json_line(capsys.readouterr().out)
    # each case: torch in two dtypes + one float64 gradcheck
    assert totals["checks"] == 3 * len(cases) and totals["skipped"] == 0


def test_verify_fails_on_a_broken_backward(capsys, monkeypatch):
    monkeypatch.setattr(F, "conv2d_backward", _broken_conv2d_backward)
    code = cli.main(["verify", "--quick", "--json", "--op", "conv2d", "--oracle", "torch"])
    out = capsys.readouterr().out
    totals = _json_line(out)
    assert code == 1
    # every float64 oracle check fails (1e-6 > 1e-10); float32 (1e-5) and finite differences may not notice
    assert totals["failed"] >= len(select_cases(quick=True, ops=["conv2d"]))
    assert "grad_weight differs" in out


def test_verify_missing_framework_is_one_line(capsys, monkeypatch):
    def unavailable(name):
        raise OracleUnavailable(f"the {name} oracle needs {name}, which is not installed: "
                                f"pip install 'vanilla-nn[{name}]'")

    monkeypatch.setattr("vanilla_nn.oracles.get_oracle", unavailable)
    assert cli.main(["verify", "--quick", "--oracle", "tensorflow"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pip install 'vanilla-nn[tensorflow]'" in err


def test_verify_unknown_op(capsys):
    assert cli.main(["verify", "--op", "conv9d"]) == 2
    assert "conv9d" in capsys.readouterr().err
