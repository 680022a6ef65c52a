"""The framework adapters in vanilla_nn.oracles, checked against hand-computed cases and each other.

Nothing here uses vanilla_nn.functional: the expected numbers are worked out by hand in the comments, so
a broken layout translation, crop or padding rule in an adapter fails these tests on its own.
"""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn.oracles as oracles
from vanilla_nn.oracles import NotSupportedByOracle, OracleUnavailable, available_oracles, get_oracle
from vanilla_nn.oracles.cases import CASES, difference, make_arrays

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

ORACLE_NAMES = ["torch", "tensorflow"]


@pytest.fixture(scope="module", params=ORACLE_NAMES)
def oracle(request):
    return get_oracle(request.param)


def _run(oracle, op, arrays, options, grad_output, dtype=np.float64):
    arrays = [None if a is None else np.asarray(a, dtype) for a in arrays]
    return oracle.run(op, arrays, options, np.asarray(grad_output, dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv1d_by_hand(oracle, dtype):
    # y[i] = x[i] - x[i+1] + 0.5 = -0.5; with gy = 1: grad_x = [1, 0, 0, -1], grad_w[k] = sum_i x[i+k] = [6, 9],
    # grad_b = number of outputs = 3
    result = _run(oracle, "conv1d", [[[[1, 2, 3, 4]]], [[[1, -1]]], [0.5]], {}, [[[1, 1, 1]]], dtype)
    np.testing.assert_allclose(result.output, [[[-0.5, -0.5, -0.5]]])
    np.testing.assert_allclose(result.grads[0], [[[1, 0, 0, -1]]])
    np.testing.assert_allclose(result.grads[1], [[[6, 9]]])
    np.testing.assert_allclose(result.grads[2], [3])
    assert all(g.dtype == dtype for g in result.grads) and result.output.dtype == dtype


def test_conv2d_same_stride_by_hand(oracle):
    # 1x1x3x3 input 1..9, 2x2 kernel of ones, stride 2, 'same' (TF rule): out 2x2, total pad 1 per dim, at the
    # end -> windows sum {1,2,4,5}=12, {3,6}=9, {7,8}=15, {9}=9.
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    gy = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    result = _run(oracle, "conv2d", [x, np.ones((1, 1, 2, 2)), None], {"stride": 2, "padding": "same"}, gy)
    np.testing.assert_allclose(result.output, [[[[12, 9], [15, 9]]]])
    # each input pixel belongs to exactly one window; its gradient is that window's gy
    np.testing.assert_allclose(result.grads[0], [[[[1, 1, 10], [1, 1, 10], [100, 100, 1000]]]])
    # grad_w[a, b] = sum over windows of gy * x[2i + a, 2j + b] (zero outside):
    # [[1 + 30 + 700 + 9000, 2 + 800], [4 + 60, 5]]
    np.testing.assert_allclose(result.grads[1], [[[[9731, 802], [64, 5]]]])
    assert result.grads[2] is None


def test_conv2d_asymmetric_padding_by_hand(oracle):
    # pad ((1, 0), (0, 2)) of a 1x1x2x2 input [[1, 2], [3, 4]] with a 1x1 kernel of 2: output is the padded
    # image times 2, shape (3, 4)
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    gy = np.arange(12.0).reshape(1, 1, 3, 4)
    result = _run(oracle, "conv2d", [x, np.full((1, 1, 1, 1), 2.0), None], {"padding": ((1, 0), (0, 2))}, gy)
    np.testing.assert_allclose(result.output, [[[[0, 0, 0, 0], [2, 4, 0, 0], [6, 8, 0, 0]]]])
    np.testing.assert_allclose(result.grads[0], [[[[8, 10], [16, 18]]]])  # 2 * gy at the image's positions
    np.testing.assert_allclose(result.grads[1], [[[[1 * 4 + 2 * 5 + 3 * 8 + 4 * 9]]]])


def test_conv_transpose1d_by_hand(oracle):
    # stride 2 scatters x[i] * w into y[2i : 2i + 2]: x = [1, 2], w = [1, 10] -> y = [1, 10, 2, 20] + 1
    # gy = [1, 2, 3, 4]: grad_x[i] = sum_k w[k] gy[2i + k] = [21, 43]; grad_w[k] = sum_i x[i] gy[2i + k] = [7, 10]
    result = _run(oracle, "conv_transpose1d", [[[[1, 2]]], [[[1, 10]]], [1.0]], {"stride": 2}, [[[1, 2, 3, 4]]])
    np.testing.assert_allclose(result.output, [[[2, 11, 3, 21]]])
    np.testing.assert_allclose(result.grads[0], [[[21, 43]]])
    np.testing.assert_allclose(result.grads[1], [[[7, 10]]])
    np.testing.assert_allclose(result.grads[2], [10])


def test_conv_transpose1d_asymmetric_crop_and_output_padding(oracle):
    # full frame (2 - 1) * 2 + 2 + output_padding 1 = 5: [1, 10, 2, 20, 0]; padding (1, 0) crops the first
    result = _run(oracle, "conv_transpose1d", [[[[1, 2]]], [[[1, 10]]], None],
                  {"stride": 2, "padding": ((1, 0),), "output_padding": 1}, [[[1, 1, 1, 1]]])
    np.testing.assert_allclose(result.output, [[[10, 2, 20, 0]]])
    np.testing.assert_allclose(result.grads[0], [[[10, 11]]])  # x[0] reaches only the kept 10; x[1] both


def test_unfold_by_hand(oracle):
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    gy = np.ones((1, 4, 4))
    result = _run(oracle, "unfold", [x], {"kernel_size": (2, 2)}, gy)
    # row = kernel tap (C-order), column = window position (C-order)
    np.testing.assert_allclose(result.output[0], [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    # grad = how many windows cover each pixel
    np.testing.assert_allclose(result.grads[0][0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_unbatched_input(oracle):
    x = np.arange(1.0, 5.0).reshape(1, 4)
    result = _run(oracle, "conv1d", [x, [[[1, -1]]], None], {}, [[1, 1, 1]])
    np.testing.assert_allclose(result.output, [[-1, -1, -1]])
    assert result.grads[0].shape == (1, 4)


# Both frameworks on the matrix's cases, wherever TensorFlow has the feature: they must agree with each other.
AGREEMENT_CASES = [c for c in CASES if c.quick and c.op != "fold"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", AGREEMENT_CASES, ids=lambda c: c.id)
def test_torch_and_tensorflow_agree(case, dtype):
    arrays = make_arrays(case, dtype, seed=3)
    torch_oracle, tf_oracle = get_oracle("torch"), get_oracle("tensorflow")
    try:
        reference = torch_oracle.run(case.op, arrays, case.options)
        grad_output = np.random.default_rng(4).uniform(-1, 1, reference.output.shape).astype(dtype)
        ours = torch_oracle.run(case.op, arrays, case.options, grad_output)
        theirs = tf_oracle.run(case.op, arrays, case.options, grad_output)
    except NotSupportedByOracle as error:
        pytest.skip(str(error))
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    for a, b in zip((ours.output, *ours.grads), (theirs.output, *theirs.grads), strict=True):
        assert difference(a, b)[1] <= tolerance


@pytest.mark.parametrize("op, arrays, options, dtype, phrase", [
    ("conv2d", [(1, 2, 5, 5), (3, 2, 3, 3), None], {"padding": 1, "padding_mode": "replicate"}, "float64",
     "padding_mode='replicate'"),
    ("conv2d", [(1, 2, 5, 5), (3, 2, 3, 3), None], {"padding": 1, "padding_mode": "circular"}, "float32",
     "padding_mode='circular'"),
    ("conv2d", [(1, 2, 7, 7), (3, 2, 3, 3), None], {"dilation": 2}, "float64", "dilation > 1 in float64"),
    ("conv1d", [(1, 4, 7), (2, 2, 3), None], {"groups": 2}, "float64", "groups > 1 in float64"),
    ("conv3d", [(1, 4, 4, 4, 4), (2, 2, 2, 2, 2), None], {"groups": 2}, "float32", "groups > 1"),
    ("conv_transpose2d", [(1, 4, 3, 3), (4, 1, 2, 2), None], {"groups": 2}, "float32", "groups > 1"),
    ("fold", [(1, 4, 4)], {"output_size": (3, 3), "kernel_size": (2, 2)}, "float64", "fold"),
])
def test_tensorflow_reports_what_it_lacks(op, arrays, options, dtype, phrase):
    data = [None if s is None else np.ones(s, dtype) for s in arrays]
    with pytest.raises(NotSupportedByOracle, match="not supported by TensorFlow") as info:
        get_oracle("tensorflow").run(op, data, options, None)
    assert phrase in str(info.value)


def test_torch_reports_3d_unfold_unsupported():
    with pytest.raises(NotSupportedByOracle, match="not supported by PyTorch"):
        get_oracle("torch").run("unfold", [np.ones((1, 1, 3, 3, 3))], {"kernel_size": 2})


def test_unknown_op_is_not_supported(oracle):
    with pytest.raises(NotSupportedByOracle, match="no adapter for op 'max_pool9d'"):
        oracle.run("max_pool9d", [np.ones(3)], {})


def test_grad_output_shape_is_checked(oracle):
    with pytest.raises(ValueError, match="grad_output.shape"):
        oracle.run("conv1d", [np.ones((1, 1, 4)), np.ones((1, 1, 2)), None], {}, np.ones((1, 1, 4)))


@pytest.mark.parametrize("op, in_channels, out_channels, groups, expected", [
    ("conv2d", 4, 6, 2, (6, 2, 3, 2)),
    ("conv_transpose2d", 4, 6, 1, (4, 6, 3, 2)),
    ("conv3d", 3, 5, 1, (5, 3, 3, 2, 2)),
])
def test_init_params_in_pytorch_layout(oracle, op, in_channels, out_channels, groups, expected):
    kernel = expected[2:]
    weight, bias = oracle.init_params(op, in_channels, out_channels, kernel, groups, True, seed=7)
    again, _ = oracle.init_params(op, in_channels, out_channels, kernel, groups, True, seed=7)
    other, _ = oracle.init_params(op, in_channels, out_channels, kernel, groups, True, seed=8)
    assert weight.shape == expected and weight.dtype == np.float64
    assert bias.shape == (out_channels,)
    np.testing.assert_array_equal(weight, again)
    assert not np.array_equal(weight, other)


def test_torch_init_params_are_the_layer_defaults():
    import torch

    torch.manual_seed(11)
    layer = torch.nn.Conv1d(3, 2, 4)
    weight, bias = get_oracle("torch").init_params("conv1d", 3, 2, (4,), 1, True, seed=11)
    np.testing.assert_array_equal(weight, layer.weight.detach().double().numpy())
    np.testing.assert_array_equal(bias, layer.bias.detach().double().numpy())


def test_registry():
    assert set(ORACLE_NAMES) <= set(available_oracles())
    assert get_oracle("pytorch") is get_oracle("torch")
    assert get_oracle("tf").name == "tensorflow"
    with pytest.raises(ValueError, match="name='caffe'"):
        get_oracle("caffe")


def test_missing_framework_names_the_extra(monkeypatch):
    real_find_spec = oracles.importlib.util.find_spec
    monkeypatch.setattr(oracles.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    monkeypatch.setattr(oracles, "_instances", {})
    assert "tensorflow" not in available_oracles()
    with pytest.raises(OracleUnavailable, match=r"pip install 'vanilla-nn\[tensorflow\]'"):
        get_oracle("tensorflow")
