"""vanilla_nn.gradcheck: passes right backwards, catches wrong ones and says which input is off."""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn
import vanilla_nn.functional as F
from vanilla_nn.gradcheck import GradcheckReport, gradcheck


def _conv2d_arrays(bias=True, dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 7, 6)).astype(dtype)[:, :, ::-1]  # non-contiguous, negatively strided
    w = rng.random((4, 3, 3, 2)).astype(dtype)
    b = rng.random(4).astype(dtype) if bias else None
    return [x, w, b]


OPTIONS = {"stride": 2, "padding": ((1, 0), (0, 1)), "dilation": (1, 2)}


def _forward(x, w, b):
    return F.conv2d(x, w, b, **OPTIONS)


def _backward(gy, x, w, b):
    return F.conv2d_backward(gy, x, w, b, **OPTIONS)


def test_exported_at_package_level():
    assert vanilla_nn.gradcheck is gradcheck
    assert callable(vanilla_nn.gradcheck)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_right_backward_passes(bias, dtype):
    report = gradcheck(_forward, _conv2d_arrays(bias, dtype), _backward, names=["input", "weight", "bias"])
    assert isinstance(report, GradcheckReport)
    assert report.ok and bool(report)
    assert [c.name for c in report.inputs] == ["input", "weight", "bias"][: 3 if bias else 2]
    assert report.max_rel_err < 1e-6
    report.raise_if_failed()  # no exception


def test_wrong_weight_gradient_is_caught_and_named():
    def scaled_weight_grad(gy, x, w, b):
        gx, gw, gb = _backward(gy, x, w, b)
        return gx, gw * 1.001, gb

    report = gradcheck(_forward, _conv2d_arrays(), scaled_weight_grad, names=["input", "weight", "bias"])
    assert not report.ok
    assert [c.name for c in report.failed] == ["weight"]
    assert report.inputs[1].rel_err == pytest.approx(1e-3, rel=0.05)
    with pytest.raises(AssertionError, match="gradient check failed for weight") as info:
        report.raise_if_failed()
    assert "rel err" in str(info.value)
    with pytest.raises(AssertionError, match="weight"):
        gradcheck(_forward, _conv2d_arrays(), scaled_weight_grad, names=["input", "weight", "bias"],
                  raise_on_failure=True)


def test_off_by_one_tap_is_caught():
    # grad_input computed as if the kernel were flipped: a plausible bug, same shapes and magnitudes
    def flipped_kernel(gy, x, w, b):
        gx, gw, gb = _backward(gy, x, w[:, :, ::-1, ::-1], b)
        return gx, gw, gb

    report = gradcheck(_forward, _conv2d_arrays(), flipped_kernel)
    assert [c.name for c in report.failed] == ["input0"]


def test_elementwise_function():
    x = np.linspace(-1, 1, 7)
    assert gradcheck(lambda x: x ** 3, [x], lambda gy, x: 3 * x ** 2 * gy).ok
    wrong = gradcheck(lambda x: x ** 3, [x], lambda gy, x: 3 * x ** 2)  # forgets grad_output
    assert not wrong.ok and wrong.failed[0].name == "input0"


def test_explicit_grad_output_and_float64_evaluation():
    seen = []

    def forward(x):
        seen.append(x.dtype)
        return 2 * x

    gy = np.arange(5.0)
    report = gradcheck(forward, [np.ones(5, np.float32)], lambda g, x: (2 * g,), grad_output=gy)
    assert report.ok
    assert set(seen) == {np.dtype(np.float64)}


def test_missing_and_misshapen_gradients_fail_with_a_reason():
    x = np.ones((2, 3))
    missing = gradcheck(lambda x, y: x * y, [x, x], lambda g, x, y: (g * y, None))
    assert missing.failed[0].name == "input1" and "None" in missing.failed[0].message
    misshapen = gradcheck(lambda x: x * 2, [x], lambda g, x: (2 * g.ravel(),))
    assert "shape" in misshapen.failed[0].message
    assert "FAIL" in str(misshapen)


def test_nan_gradient_fails():
    report = gradcheck(lambda x: x * 2, [np.ones(3)], lambda g, x: (np.full(3, np.nan),))
    assert not report.ok


@pytest.mark.parametrize("kwargs, error, name", [
    ({"n_directions": 0}, ValueError, "n_directions"),
    ({"eps": 0.0}, ValueError, "eps"),
    ({"grad_output": np.ones(4)}, ValueError, "grad_output"),
    ({"names": ["a", "b"]}, ValueError, "names"),
])
def test_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        gradcheck(lambda x: x * 2, [np.ones(3)], lambda g, x: (2 * g,), **kwargs)


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="input0"):
        gradcheck(lambda x: x * 2, [np.ones(3, dtype=int)], lambda g, x: (2 * g,))
