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
                     "3", "--stride", "2", "--seed", "123", "--oracle", oracle, "--show-arrays"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("output", "grad_input", "grad_weight", "grad_bias"):
        assert f"=== {name}" in out
    assert out.count("vanilla_nn:") == 4 and out.count(f"{framework}:") == 4
    assert f"All 4 results agree with {framework}" in out


def test_compare_default_is_a_summary_table(capsys):
    # the demo's compare: a few lines, one row per result, no arrays
    code = cli.main(["compare", "conv2d", "--input-shape", "2,3,5,7", "--out-channels", "4", "--kernel-size", "3",
                     "--stride", "2", "--padding", "1", "--seed", "123"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert len(lines) <= 12, lines
    assert not any(line.startswith(("===", "vanilla_nn:", "PyTorch:", "[[")) for line in lines)
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(("output ", "grad_"))}
    assert list(rows) == ["output", "grad_input", "grad_weight", "grad_bias"]
    assert rows["output"][1:5] == ["(2,", "4,", "3,", "4)"] and rows["grad_bias"][1] == "(4,)"
    assert all(float(row[-2]) < 1e-10 and row[-1] == "ok" for row in rows.values())
    assert "--show-arrays" in lines[-1]


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
    assert set(totals) == {"checks", "failed", "skipped", "oracles", "worst_rel_err", "tolerance"}
    assert totals["tolerance"] == {"float64": 1e-10, "float32": 1e-5}
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


def _summary_rows(out: str, op: str) -> dict[str, list[str]]:
    """{against: cells} of the summary table's rows for ``op`` (rich's box characters or plain columns)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")] if "│" in line else line.split()
        if cells and cells[0] == op:
            rows[cells[1]] = cells
    return rows


def test_verify_table_has_a_tolerance_per_dtype(capsys, monkeypatch):
    # off by 1e-6: fails float64 (1e-10) and passes float32 (1e-5); the table must say which and against what
    monkeypatch.setattr(F, "conv2d_backward", _broken_conv2d_backward)
    assert cli.main(["verify", "--quick", "--op", "conv2d", "--oracle", "torch"]) == 1
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "float64 worst" in line)
    assert header.index("float64 worst") < header.index("float32 worst")
    torch_row, fd_row = _summary_rows(out, "conv2d")["torch"], _summary_rows(out, "conv2d")["gradcheck"]
    f64_worst, f64_tol, f32_worst, f32_tol = torch_row[-4:]
    assert f64_worst.startswith("FAIL") and 5e-7 < float(f64_worst.split()[1]) < 2e-6 and f64_tol == "1e-10"
    assert not f32_worst.startswith("FAIL") and float(f32_worst) < 1e-5 and f32_tol == "1e-5"
    assert fd_row[-3] == "1e-6+1e-5|g|" and fd_row[-2:] == ["-", "-"]  # finite differences: float64 only
    assert "float64 1.0e-06 (tolerance 1e-10), float32" in out.splitlines()[-1]


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


def test_verify_counts_layer_ops(capsys):
    ops = ["max_pool2d", "avg_pool1d", "cross_entropy", "batch_norm", "dropout"]
    cases = select_cases(quick=True, ops=ops)
    assert cli.main(["verify", "--quick", "--json", *(a for op in ops for a in ("--op", op))]) == 0
    totals = _json_line(capsys.readouterr().out)
    # each case: 2 oracles x 2 dtypes + one float64 gradcheck
    assert totals["checks"] == 5 * len(cases) and totals["failed"] == 0
    # skipped: a given dropout mask, by both frameworks in both dtypes (it cannot be handed to them), and
    # class weights in cross-entropy by TensorFlow in both dtypes
    masked = [c for c in cases if c.op == "dropout" and "mask" in c.label]
    weighted = [c for c in cases if c.op == "cross_entropy" and c.shapes[2] is not None]
    assert len(masked) == 1 and len(weighted) == 1
    assert totals["skipped"] == 4 * len(masked) + 2 * len(weighted)


def test_verify_gradcheck_catches_batch_norm_backward_without_the_batch_terms(capsys, monkeypatch):
    real = F.batch_norm_backward

    def as_if_eval(grad_output, input, running_mean, running_var, weight=None, bias=None, training=False,
                   momentum=0.1, eps=1e-5):  # forgets that the batch statistics depend on the input
        if training:
            mean, var = input.mean(axis=0), input.var(axis=0)
            return real(grad_output, input, mean, var, weight, bias, False, momentum, eps)
        return real(grad_output, input, running_mean, running_var, weight, bias, training, momentum, eps)

    monkeypatch.setattr(F, "batch_norm_backward", as_if_eval)
    code = cli.main(["verify", "--quick", "--json", "--op", "batch_norm", "--oracle", "torch", "-v"])
    out = capsys.readouterr().out
    assert code == 1
    failed_lines = [line for line in out.splitlines() if "batch_norm[train]" in line and "float64" in line]
    assert failed_lines and "FAIL" in failed_lines[0]
    assert "grad_input differs" in out and "FAIL input" in out  # the oracle and finite differences both see it
    assert "batch_norm[eval]" in out


def test_verify_catches_cross_entropy_ignoring_label_smoothing(capsys, monkeypatch):
    real = F.cross_entropy_backward
    monkeypatch.setattr(F, "cross_entropy_backward",
                        lambda gy, x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0:
                        real(gy, x, t, weight, ignore_index, reduction))
    assert cli.main(["verify", "--quick", "--json", "--op", "cross_entropy", "--oracle", "all"]) == 1
    out = capsys.readouterr().out
    totals = _json_line(out)
    # the label-smoothing case fails against both frameworks in both dtypes and against finite differences
    assert totals["failed"] == 5
    assert "cross_entropy[label-smoothing]" in out


@pytest.mark.parametrize("op, extra", [
    ("max_pool2d", ["--kernel-size", "3", "--stride", "2", "--padding", "1"]),
    ("max_pool3d", ["--kernel-size", "2", "--dtype", "float32", "--oracle", "tensorflow"]),
    ("avg_pool1d", ["--kernel-size", "3", "--stride", "2", "--padding", "1", "--no-count-include-pad",
                    "--ceil-mode"]),
    ("avg_pool2d", ["--kernel-size", "3", "--stride", "2", "--padding", "1", "--oracle", "tensorflow"]),
    ("adaptive_avg_pool2d", ["--output-size", "2,3"]),
    ("linear", ["--input-shape", "2,3,5", "--out-features", "3", "--oracle", "tensorflow"]),
])
def test_compare_pooling_and_linear(capsys, op, extra):
    assert cli.main(["compare", op, *extra, "--show-arrays"]) == 0
    out = capsys.readouterr().out
    assert "=== output" in out and "=== grad_input" in out
    assert ("=== grad_weight" in out) == (op == "linear")


def test_compare_pooling_uses_the_classic_procedure(capsys):
    # input = np.random.random(shape) after np.random.seed; stride defaults to the kernel, as in PyTorch
    code = cli.main(["compare", "max_pool1d", "--input-shape", "1,2,6", "--kernel-size", "2", "--seed", "3",
                     "--full"])
    out = capsys.readouterr().out
    np.random.seed(3)
    x = np.random.random((1, 2, 6))
    expected = x.reshape(1, 2, 3, 2).max(axis=-1)  # windows {0, 1}, {2, 3}, {4, 5}
    with np.printoptions(precision=8, suppress=True, linewidth=110):
        assert str(expected) in out
    assert code == 0


def test_compare_linear_uses_the_torch_layer_initialiser(capsys):
    import torch

    code = cli.main(["compare", "linear", "--input-shape", "3,4", "--out-features", "2", "--seed", "9", "--full"])
    out = capsys.readouterr().out
    np.random.seed(9)
    x = np.random.random((3, 4))
    torch.manual_seed(9)
    layer = torch.nn.Linear(4, 2)
    weight, bias = (p.detach().double().numpy() for p in (layer.weight, layer.bias))
    with np.printoptions(precision=8, suppress=True, linewidth=110):
        assert str(x @ weight.T + bias) in out
    assert code == 0


def test_compare_pooling_mismatch_exits_1(capsys, monkeypatch):
    real = F.avg_pool2d_backward
    monkeypatch.setattr(F, "avg_pool2d_backward", lambda gy, *a, **k: (real(gy, *a, **k)[0] * (1 + 1e-6),))
    assert cli.main(["compare", "avg_pool2d", "--kernel-size", "2"]) == 1
    assert "MISMATCH in grad_input" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["max_pool2d", "--oracle", "tensorflow", "--ceil-mode"], "not supported by TensorFlow"),
    (["max_pool2d", "--padding", "same"], "pooling takes no padding strings"),
    (["avg_pool2d", "--kernel-size", "2", "--padding", "2"], "padding"),
])
def test_compare_pooling_bad_or_unsupported_options_exit_2(capsys, argv, message):
    assert cli.main(["compare", *argv]) == 2
    assert message in capsys.readouterr().err
