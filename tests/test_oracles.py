"""The framework adapters in vanilla_nn.oracles, checked against hand-computed cases and each other.

Nothing here uses vanilla_nn.functional: the expected numbers are worked out by hand in the comments, so
a broken layout translation, crop or padding rule in an adapter fails these tests on its own.
"""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn.oracles as oracles
from vanilla_nn.oracles import NotSupportedByOracle, OracleUnavailable, available_oracles, get_oracle
from vanilla_nn.oracles.cases import CASES, OPS, Case, difference, make_arrays

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
    ("max_pool2d", [(1, 2, 6, 6)], {"kernel_size": 2, "dilation": 2}, "float32", "dilation > 1"),
    ("max_pool1d", [(1, 2, 7)], {"kernel_size": 2, "ceil_mode": True}, "float32", "ceil_mode=True"),
    ("avg_pool2d", [(1, 2, 7, 7)], {"kernel_size": 3, "stride": 2, "ceil_mode": True}, "float64", "ceil_mode"),
    ("max_pool3d", [(1, 2, 4, 4, 4)], {"kernel_size": 2}, "float64", "float64 input"),
    ("avg_pool3d", [(1, 2, 4, 4, 4)], {"kernel_size": 2}, "float64", "float64 input"),
    # SAME would pad (0, 1) here, so TensorFlow cannot leave PyTorch's (1, 1) pads out of the average
    ("avg_pool1d", [(1, 2, 8)], {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
     "float32", "count_include_pad=False"),
    ("adaptive_avg_pool2d", [(1, 2, 7, 6)], {"output_size": (3, 3)}, "float32", "do not divide"),
    ("leaky_relu", [(2, 3)], {"negative_slope": 0.1}, "float64", "not a float32"),
    ("dropout", [(2, 3), (2, 3)], {"p": 0.5, "training": True}, "float32", "a given mask"),
    ("dropout", [(2, 3), None], {"p": 0.5, "training": True}, "float32", "random masks"),
])
def test_tensorflow_reports_what_it_lacks(op, arrays, options, dtype, phrase):
    data = [None if s is None else np.ones(s, dtype) for s in arrays]
    with pytest.raises(NotSupportedByOracle, match="not supported by TensorFlow") as info:
        get_oracle("tensorflow").run(op, data, options, None)
    assert phrase in str(info.value)


def test_torch_unfold_and_fold_3d_by_hand():
    # PyTorch has no 3-d unfold/fold; the adapter uses one-hot grouped (transposed) convolutions.
    # x[d, h, w] = 4d + 2h + w on a 2x2x2 cube, kernel (2, 1, 1): two windows per (h, w), stacked over d.
    x = np.arange(8.0).reshape(1, 1, 2, 2, 2)
    gy = np.arange(8.0).reshape(1, 2, 4)
    result = get_oracle("torch").run("unfold", [x], {"kernel_size": (2, 1, 1)}, gy)
    # row = tap (d offset), column = window (h, w): tap 0 reads d = 0, tap 1 reads d = 1
    np.testing.assert_allclose(result.output, [[[0, 1, 2, 3], [4, 5, 6, 7]]])
    # each pixel is in exactly one window, at the tap of its d: grad = gy at (tap d, column 2h + w)
    np.testing.assert_allclose(result.grads[0], gy.reshape(1, 1, 2, 2, 2))
    # fold is the adjoint: the columns above fold back to x; padding (1, 0) in d drops the first plane
    folded = get_oracle("torch").run("fold", [result.output], {"output_size": (2, 2, 2), "kernel_size": (2, 1, 1)})
    np.testing.assert_allclose(folded.output, x)
    padding = ((1, 0), (0, 0), (0, 0))
    cropped = get_oracle("torch").run("fold", [np.ones((1, 2, 8))],
                                      {"output_size": (2, 2, 2), "kernel_size": (2, 1, 1), "padding": padding})
    # padded depth 3: the windows cover depths {0, 1} and {1, 2}; after the crop of depth 0, plane d = 0
    # (padded depth 1) is covered by both windows, plane d = 1 (padded depth 2) by one
    np.testing.assert_allclose(cropped.output[0, 0, :, 0, 0], [2, 1])


@pytest.mark.parametrize("arrays, options, phrase", [
    ([(2, 3), (2, 3)], {"p": 0.5, "training": True}, "a given mask"),
    ([(2, 3), None], {"p": 0.2, "training": True}, "random masks"),
])
def test_torch_dropout_reports_what_it_cannot_check(arrays, options, phrase):
    data = [None if s is None else np.ones(s) for s in arrays]
    with pytest.raises(NotSupportedByOracle, match="not supported by PyTorch") as info:
        get_oracle("torch").run("dropout", data, options)
    assert phrase in str(info.value)


# --- pooling, losses, batch norm, dropout by hand ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_pads_with_minus_infinity_by_hand(oracle, dtype):
    # all-negative input, kernel 2, stride 2, padding 1: padded [-inf, -3, -1, -2, -5, -inf], windows
    # {-inf, -3}, {-1, -2}, {-5, -inf}. Zero padding would give 0 in the first and last window.
    x = [[[-3.0, -1.0, -2.0, -5.0]]]
    result = _run(oracle, "max_pool1d", [x], {"kernel_size": 2, "stride": 2, "padding": 1}, [[[1, 10, 100]]],
                  dtype)
    np.testing.assert_array_equal(result.output, [[[-3, -1, -5]]])
    np.testing.assert_array_equal(result.grads[0], [[[1, 10, 0, 100]]])  # each window's gy to its argmax
    assert result.output.dtype == result.grads[0].dtype == dtype


@pytest.mark.parametrize("count_include_pad, output, grad", [
    # padded [0, 1, 2, 3, 4, 5, 0], kernel 3, stride 2: windows {0, 1, 2}, {2, 3, 4}, {4, 5, 0}
    (True, [1, 3, 3], [1 / 3, 2 / 3, 1 / 3, 2 / 3, 1 / 3]),  # divide by 3 always
    (False, [1.5, 3, 4.5], [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2]),  # by the 2, 3, 2 input cells
])
def test_avg_pool_count_include_pad_by_hand(oracle, count_include_pad, output, grad):
    x = [[[1.0, 2.0, 3.0, 4.0, 5.0]]]
    options = {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": count_include_pad}
    result = _run(oracle, "avg_pool1d", [x], options, [[[1, 1, 1]]])
    np.testing.assert_allclose(result.output, [[output]], rtol=1e-15)
    np.testing.assert_allclose(result.grads[0], [[grad]], rtol=1e-15)


def test_adaptive_avg_pool_by_hand(oracle):
    # 4 -> 2: windows {1, 2} and {3, 4}
    result = _run(oracle, "adaptive_avg_pool1d", [[[[1.0, 2.0, 3.0, 4.0]]]], {"output_size": 2}, [[[2, 4]]])
    np.testing.assert_allclose(result.output, [[[1.5, 3.5]]])
    np.testing.assert_allclose(result.grads[0], [[[1, 1, 2, 2]]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_with_label_smoothing_by_hand(oracle, dtype):
    # C = 3, e = 0.3, q = 0.7 * onehot + 0.1.
    # row 0: logits [0, 0, ln 2] -> softmax [1/4, 1/4, 1/2], log-softmax [-ln 4, -ln 4, -ln 2], target 2:
    #        loss = 0.7 ln 2 + 0.1 (ln 4 + ln 4 + ln 2) = 1.2 ln 2; grad = softmax - q = [0.15, 0.15, -0.3]
    # row 1: logits [0, 0, 0] -> softmax 1/3 each, target 0: loss = 0.7 ln 3 + 0.1 * 3 ln 3 = ln 3;
    #        grad = [1/3 - 0.8, 1/3 - 0.1, 1/3 - 0.1]
    # mean over the 2 rows, scaled by gy = 2: the grads are the rows as they are
    x = np.array([[0.0, 0.0, np.log(2.0)], [0.0, 0.0, 0.0]], dtype)
    target = np.array([2, 0])
    result = oracle.run("cross_entropy", [x, target], {"label_smoothing": 0.3}, np.asarray(2.0, dtype))
    tolerance = 1e-14 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(result.output, (1.2 * np.log(2) + np.log(3)) / 2, rtol=tolerance)
    np.testing.assert_allclose(result.grads[0], [[0.15, 0.15, -0.3], [1 / 3 - 0.8, 1 / 3 - 0.1, 1 / 3 - 0.1]],
                               rtol=tolerance, atol=tolerance)
    assert result.grads[1] is None  # class indices get no gradient
    assert result.output.dtype == result.grads[0].dtype == dtype


def test_cross_entropy_reductions_by_hand(oracle):
    # logits [0, ln 3] -> log-softmax [-ln 4, -ln(4/3)]; targets 0 and 1 on two rows
    x = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    target = np.array([0, 1])
    per_row = [np.log(4.0), np.log(4.0 / 3.0)]
    none = oracle.run("cross_entropy", [x, target], {"reduction": "none"}, np.array([1.0, 1.0]))
    np.testing.assert_allclose(none.output, per_row, rtol=1e-14)
    # grad = softmax - onehot with softmax [1/4, 3/4]
    np.testing.assert_allclose(none.grads[0], [[-0.75, 0.75], [0.25, -0.25]], rtol=1e-14)
    total = oracle.run("cross_entropy", [x, target], {"reduction": "sum"})
    np.testing.assert_allclose(total.output, sum(per_row), rtol=1e-14)
    single = oracle.run("cross_entropy", [x[0], np.array(1)], {}, np.array(1.0))  # unbatched: (C,), ()
    np.testing.assert_allclose(single.output, np.log(4.0 / 3.0), rtol=1e-14)


def test_mse_loss_by_hand(oracle):
    # (input - target) = [1, -2, 3]: mean 14/3; grads +-2 (input - target) / 3
    result = oracle.run("mse_loss", [np.array([1.0, 0.0, 3.0]), np.array([0.0, 2.0, 0.0])], {}, np.array(1.5))
    np.testing.assert_allclose(result.output, 14 / 3)
    np.testing.assert_allclose(result.grads[0], [1.0, -2.0, 3.0])  # 2 * diff / 3 * 1.5
    np.testing.assert_allclose(result.grads[1], [-1.0, 2.0, -3.0])


def test_batch_norm_eval_by_hand(oracle):
    # running mean 1, running var 4, eps 0, weight 2, bias 1: y = 2 (x - 1) / 2 + 1 = x; grad_x = gy * 2 / 2;
    # grad_w = sum(gy * (x - 1) / 2) = (0 + 1 + 2 + 3) / 2; grad_b = sum(gy) = 4; running stats: buffers, 0
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    arrays = [x, np.array([1.0]), np.array([4.0]), np.array([2.0]), np.array([1.0])]
    result = oracle.run("batch_norm", arrays, {"training": False, "eps": 0.0}, np.ones((4, 1)))
    np.testing.assert_allclose(result.output, x)
    grad_x, grad_mean, grad_var, grad_w, grad_b = result.grads
    np.testing.assert_allclose(grad_x, np.ones((4, 1)))
    np.testing.assert_allclose(grad_w, [3.0])
    np.testing.assert_allclose(grad_b, [4.0])
    np.testing.assert_array_equal(grad_mean, [0.0])
    np.testing.assert_array_equal(grad_var, [0.0])


def test_batch_norm_train_by_hand(oracle):
    # one channel [0, 0, 3]: batch mean 1, biased var 2 (the running stats [5], [7] are not used); eps 2
    # (PyTorch wants eps > 0 in training), so r = 1 / sqrt(2 + 2) = 1/2 and x_hat = (x - 1) / 2.
    # grad_x = r (g - mean(g) - x_hat mean(g x_hat)).
    x = np.array([[0.0], [0.0], [3.0]])
    arrays = [x, np.array([5.0]), np.array([7.0]), None, None]
    options = {"training": True, "eps": 2.0}
    x_hat = np.array([[-0.5], [-0.5], [1.0]])
    # gy = x_hat: mean(gy) = 0, mean(gy x_hat) = 1/2 -> grad = x_hat / 4
    result = oracle.run("batch_norm", arrays, options, x_hat)
    np.testing.assert_allclose(result.output, x_hat, rtol=1e-14)
    np.testing.assert_allclose(result.grads[0], x_hat / 4, rtol=1e-14)
    # gy = [1, 0, 0]: g - mean(g) = [2/3, -1/3, -1/3], mean(g x_hat) = -1/6 -> r [7/12, -5/12, -1/6]
    result = oracle.run("batch_norm", arrays, options, np.array([[1.0], [0.0], [0.0]]))
    np.testing.assert_allclose(result.grads[0], [[7 / 24], [-5 / 24], [-1 / 12]], rtol=1e-14)


def test_dropout_eval_and_p0_are_the_identity(oracle):
    x = np.array([[1.0, -2.0, 3.0]])
    for options in ({"p": 0.5, "training": False}, {"p": 0.0, "training": True}):
        result = oracle.run("dropout", [x, None], options, np.array([[4.0, 5.0, 6.0]]))
        np.testing.assert_array_equal(result.output, x)
        np.testing.assert_array_equal(result.grads[0], [[4.0, 5.0, 6.0]])


def test_linear_and_activations_by_hand(oracle):
    # y = x w^T + b: [1, 2] . [[1, 0], [1, -1]]^T + [0, 1] = [1, 0]
    result = oracle.run("linear", [np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, -1.0]]), np.array([0.0, 1.0])],
                        {}, np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(result.output, [[1.0, 0.0]])
    np.testing.assert_allclose(result.grads[0], [[3.0, -2.0]])  # gy w
    np.testing.assert_allclose(result.grads[1], [[1.0, 2.0], [2.0, 4.0]])  # gy^T x
    np.testing.assert_allclose(result.grads[2], [1.0, 2.0])
    x, gy = np.array([-2.0, 0.5]), np.array([1.0, 1.0])
    np.testing.assert_allclose(oracle.run("leaky_relu", [x], {"negative_slope": 0.25}, gy).grads[0], [0.25, 1.0])
    np.testing.assert_allclose(oracle.run("relu", [x], {}).output, [0.0, 0.5])
    np.testing.assert_allclose(oracle.run("sigmoid", [np.zeros(1)], {}, np.ones(1)).grads[0], [0.25])
    np.testing.assert_allclose(oracle.run("flatten", [np.ones((2, 3, 4))], {"start_dim": 0, "end_dim": 1}).output,
                               np.ones((6, 4)))
    np.testing.assert_allclose(oracle.run("log_softmax", [np.zeros((1, 4))], {}).output, np.full((1, 4), -np.log(4)))


# --- how the matrix draws its arrays ----------------------------------------------------------------------

def test_make_arrays_draws_valid_class_indices_variances_and_masks():
    ce = make_arrays(Case("cross_entropy", ((6, 4, 3), (6, 3), None)), "float32", seed=1)
    assert ce[0].dtype == np.float32 and not ce[0].flags.c_contiguous
    assert ce[1].dtype == np.int64 and ce[1].shape == (6, 3) and not ce[1].flags.c_contiguous
    assert ce[1].min() >= 0 and ce[1].max() < 4  # classes along dim 1 of the logits
    unbatched = make_arrays(Case("cross_entropy", ((5,), (), (5,))), "float64")
    assert unbatched[1].shape == () and 0 <= unbatched[1] < 5 and unbatched[2].min() >= 0.5  # weights > 0
    # a target shaped like the logits holds class probabilities: positive, summing to 1 over the classes
    probabilities = make_arrays(Case("cross_entropy", ((6, 4, 3), (6, 4, 3), None)), "float64")[1]
    assert probabilities.dtype == np.float64 and probabilities.min() > 0
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    bn = make_arrays(Case("batch_norm", ((4, 3), (3,), (3,), None, (3,))), "float64")
    assert bn[2].min() >= 0.5 and bn[3] is None  # running_var is a variance
    mask = make_arrays(Case("dropout", ((50, 40), (50, 40)), {"p": 0.25, "training": True}), "float32")[1]
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.75)}


def test_op_info_names_what_gets_a_gradient():
    assert OPS["cross_entropy"].results == ("output", "grad_input")
    assert OPS["batch_norm"].grad_indices == (0, 3, 4)
    args, kwargs = OPS["dropout"].call_args(["x", "m"], {"p": 0.1})
    assert args == ["x"] and kwargs == {"p": 0.1, "mask": "m"}


def test_oracles_never_import_the_code_they_check():
    """Running every oracle on a case of every op loads no module of vanilla_nn.functional or reference."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import numpy as np\n"
        "from vanilla_nn.oracles import get_oracle, NotSupportedByOracle\n"
        "from vanilla_nn.oracles.cases import CASES, make_arrays\n"
        "seen = set()\n"
        "for case in CASES:\n"
        "    if case.op in seen: continue\n"
        "    seen.add(case.op)\n"
        "    for name in ('torch', 'tensorflow'):\n"
        "        try: get_oracle(name).run(case.op, make_arrays(case, 'float32'), case.options)\n"
        "        except NotSupportedByOracle: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('vanilla_nn.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    loaded = out.strip().splitlines()[-1]
    assert "vanilla_nn.oracles.torch_oracle" in loaded and "vanilla_nn.oracles.tf_oracle" in loaded
    assert "vanilla_nn.functional" not in loaded and "vanilla_nn.reference" not in loaded


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
    ("linear", 5, 3, 1, (3, 5)),  # torch.nn.Linear(5, 3) / keras.layers.Dense(3): PyTorch's (out, in)
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


# --- issue 10: adaptive max pooling, max unpooling, interpolate, divisor_override by hand ----------------------

def test_adaptive_max_pool_by_hand(oracle):
    # windows [0, 2) and [2, 4) of [1, 4, 2, 3]: maxima 4 and 3; each gradient goes to its maximum
    result = _run(oracle, "adaptive_max_pool1d", [[[[1.0, 4.0, 2.0, 3.0]]]], {"output_size": 2}, [[[10, 20]]])
    np.testing.assert_allclose(result.output, [[[4, 3]]])
    np.testing.assert_allclose(result.grads[0], [[[0, 10, 0, 20]]])


def test_avg_pool_divisor_override_by_hand(oracle):
    # 2x2 windows of ones sum to 4; divided by 3 instead of 4; each cell is in one window: grad = gy / 3
    result = _run(oracle, "avg_pool2d", [np.ones((1, 1, 2, 4))], {"kernel_size": 2, "divisor_override": 3},
                  [[[[3.0, 6.0]]]])
    np.testing.assert_allclose(result.output, [[[[4 / 3, 4 / 3]]]])
    np.testing.assert_allclose(result.grads[0], [[[[1, 1, 2, 2], [1, 1, 2, 2]]]])


def test_interpolate_nearest_by_hand(oracle):
    # size 4 from 2: cells 0, 0, 1, 1; the gradient of a cell sums its two copies
    result = _run(oracle, "interpolate", [[[[1.0, 2.0]]]], {"size": 4}, [[[1, 2, 3, 4]]])
    np.testing.assert_allclose(result.output, [[[1, 1, 2, 2]]])
    np.testing.assert_allclose(result.grads[0], [[[3, 7]]])


def test_interpolate_bilinear_align_corners_by_hand(oracle):
    # a 1x2 row [0, 3] to 1x4 with the corners aligned: 0, 1, 2, 3 (weights 1, 2/3, 1/3, 0 on the first cell)
    result = _run(oracle, "interpolate", [[[[[0.0, 3.0]]]]], {"size": (1, 4), "mode": "bilinear",
                                                               "align_corners": True}, [[[[3, 3, 3, 3]]]],
                  np.float32)
    np.testing.assert_allclose(result.output, [[[[0, 1, 2, 3]]]], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.grads[0], [[[[6, 6]]]], rtol=1e-6)


def test_torch_max_unpool_by_hand():
    # values 5, 7 to positions 3 and 0 of a length-4 output; the gradient reads those positions back
    result = get_oracle("torch").run("max_unpool1d", [np.array([[[5.0, 7.0]]]), np.array([[[3, 0]]])],
                                     {"kernel_size": 2}, np.array([[[1.0, 2.0, 3.0, 4.0]]]))
    np.testing.assert_allclose(result.output, [[[7, 0, 0, 5]]])
    np.testing.assert_allclose(result.grads[0], [[[4, 1]]])
    assert result.grads[1] is None  # integer indices get no gradient


@pytest.mark.parametrize("op, arrays, options, dtype, phrase", [
    ("adaptive_max_pool2d", [(1, 2, 7, 6)], {"output_size": (3, 3)}, "float32", "do not divide"),
    ("max_unpool2d", [(1, 2, 2, 2), (1, 2, 2, 2)], {"kernel_size": 2}, "float32", "no unpooling op"),
    ("interpolate", [(1, 2, 2, 2, 2)], {"scale_factor": 2}, "float32", "3-d input"),
    ("interpolate", [(1, 2, 4, 4)], {"size": 5, "mode": "bilinear"}, "float64", "computes in float32"),
    ("interpolate", [(1, 2, 5, 5)], {"scale_factor": 1.7}, "float32", "used as given"),
])
def test_tensorflow_reports_what_it_lacks_for_issue_10_ops(op, arrays, options, dtype, phrase):
    data = [np.ones(s, dtype) if i == 0 else np.zeros(s, np.int64) for i, s in enumerate(arrays)]
    with pytest.raises(NotSupportedByOracle, match="not supported by TensorFlow") as info:
        get_oracle("tensorflow").run(op, data, options, None)
    assert phrase in str(info.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.op.startswith("max_unpool")], ids=lambda c: c.id)
def test_unpool_indices_are_distinct_positions_of_the_output_plane(case):
    x, indices = make_arrays(case, "float64")
    n = int(case.op[-2])
    plane = int(np.prod(get_oracle("torch").run(case.op, [x, indices], case.options).output.shape[-n:]))
    rows = indices.reshape(-1, int(np.prod(indices.shape[-n:])))
    assert indices.dtype == np.int64 and not indices.flags.c_contiguous
    assert rows.min() >= 0 and rows.max() < plane
    assert all(len(set(row.tolist())) == row.size for row in rows)
