"""Every invalid argument gets a ValueError/TypeError naming the argument, its value and the shapes.

The same checks serve the fast path and the loop reference, so each case runs against both.
"""

from __future__ import annotations

import numpy as np
import pytest

import vanilla_nn.functional as F
import vanilla_nn.reference as R

X = np.zeros((2, 4, 6, 6))
W = np.zeros((8, 2, 3, 3))  # conv: (C_out, C_in / groups, KH, KW) with groups=2
WT = np.zeros((4, 3, 3, 3))  # transposed: (C_in, C_out / groups, KH, KW)
B = np.zeros(8)

# (name, call kwargs, exception, fragments the message must contain)
CONV_CASES = [
    ("input rank", dict(input=np.zeros((2, 4, 6))), ValueError, ["input", "(2, 4, 6)"]),
    ("weight rank", dict(weight=np.zeros((8, 2, 3))), ValueError, ["weight", "(8, 2, 3)"]),
    ("channels", dict(input=np.zeros((2, 5, 6, 6))), ValueError, ["5 channels", "weight.shape", "(8, 2, 3, 3)"]),
    ("groups divide out", dict(groups=3, weight=np.zeros((8, 4, 3, 3)), input=np.zeros((2, 12, 6, 6))),
     ValueError, ["groups=3", "(8, 4, 3, 3)"]),
    ("groups zero", dict(groups=0), ValueError, ["groups=0"]),
    ("groups float", dict(groups=2.0), TypeError, ["groups=2.0"]),
    ("stride zero", dict(stride=0), ValueError, ["stride=0"]),
    ("stride negative", dict(stride=(1, -2)), ValueError, ["stride=(1, -2)"]),
    ("dilation zero", dict(dilation=0), ValueError, ["dilation=0"]),
    ("stride wrong length", dict(stride=(1, 1, 1)), ValueError, ["stride=(1, 1, 1)", "2 entries"]),
    ("dilation wrong length", dict(dilation=(2,)), ValueError, ["dilation=(2,)"]),
    ("stride bool", dict(stride=True), TypeError, ["stride=True"]),
    ("padding negative", dict(padding=-1), ValueError, ["padding=-1"]),
    ("padding negative pair", dict(padding=((0, 1), (-1, 0))), ValueError, ["padding=((0, 1), (-1, 0))"]),
    ("padding wrong length", dict(padding=(1, 1, 1)), ValueError, ["padding=(1, 1, 1)"]),
    ("padding pairs wrong length", dict(padding=((1, 1),)), ValueError, ["padding=((1, 1),)"]),
    ("padding bad pair", dict(padding=((1, 1, 1), (0, 0))), TypeError, ["padding="]),
    ("padding string", dict(padding="full"), ValueError, ["padding='full'"]),
    ("padding float", dict(padding=1.5), TypeError, ["padding=1.5"]),
    ("padding mode", dict(padding_mode="mirror"), ValueError, ["padding_mode='mirror'"]),
    ("reflect too wide", dict(padding=6, padding_mode="reflect"), ValueError,
     ["padding=6", "reflect", "(2, 4, 6, 6)"]),
    ("circular too wide", dict(padding=7, padding_mode="circular"), ValueError, ["padding=7", "circular"]),
    ("kernel larger", dict(weight=np.zeros((8, 2, 7, 3))), ValueError, ["kernel", "(2, 4, 6, 6)", "(8, 2, 7, 3)"]),
    ("dilated kernel larger", dict(dilation=3), ValueError, ["dilation", "(2, 4, 6, 6)"]),
    ("bias shape", dict(bias=np.zeros(4)), ValueError, ["bias.shape=(4,)", "(8,)"]),
    ("bias rank", dict(bias=np.zeros((8, 1))), ValueError, ["bias.shape=(8, 1)"]),
    ("integer input", dict(input=np.zeros((2, 4, 6, 6), dtype=np.int64)), TypeError, ["input", "int64", "astype"]),
    ("integer weight", dict(weight=np.zeros((8, 2, 3, 3), dtype=np.int32)), TypeError, ["weight", "int32"]),
    ("float16 bias", dict(bias=np.zeros(8, dtype=np.float16)), TypeError, ["bias", "float16"]),
    ("complex input", dict(input=np.zeros((2, 4, 6, 6), dtype=complex)), TypeError, ["input", "complex"]),
]

TRANSPOSE_CASES = [
    ("channels", dict(input=np.zeros((2, 5, 6, 6))), ValueError, ["5 channels", "weight.shape[0] = 4"]),
    ("groups divide", dict(groups=3), ValueError, ["groups=3", "(2, 4, 6, 6)"]),
    ("output_padding vs stride", dict(output_padding=1), ValueError, ["output_padding=(1, 1)", "stride"]),
    ("output_padding vs both", dict(stride=2, dilation=(2, 3), output_padding=(1, 3)), ValueError,
     ["output_padding=(1, 3)", "dilation=(2, 3)"]),
    ("output_padding negative", dict(output_padding=-1), ValueError, ["output_padding=-1"]),
    ("padding string", dict(padding="same"), ValueError, ["padding='same'"]),
    ("padding empties output", dict(padding=4), ValueError, ["padding=4", "empty output"]),
    ("bias shape", dict(bias=np.zeros(3)), ValueError, ["bias.shape=(3,)", "(6,)"]),
    ("stride zero", dict(stride=0), ValueError, ["stride=0"]),
]


def check(call, kwargs, exception, fragments):
    with pytest.raises(exception) as info:
        call(**kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"


@pytest.mark.parametrize("module", [F, R], ids=["fast", "reference"])
@pytest.mark.parametrize("name, change, exception, fragments", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv2d_bad_argument(module, name, change, exception, fragments):
    kwargs = dict(input=X, weight=W, bias=B, groups=2) | change
    check(module.conv2d, kwargs, exception, fragments)
    gy = np.zeros((2, 8, 4, 4))
    check(module.conv2d_backward, dict(grad_output=gy) | kwargs, exception, fragments)


@pytest.mark.parametrize("module", [F, R], ids=["fast", "reference"])
@pytest.mark.parametrize("name, change, exception, fragments", TRANSPOSE_CASES,
                         ids=[c[0] for c in TRANSPOSE_CASES])
def test_conv_transpose2d_bad_argument(module, name, change, exception, fragments):
    kwargs = dict(input=X, weight=WT, bias=np.zeros(6), groups=2) | change
    check(module.conv_transpose2d, kwargs, exception, fragments)


@pytest.mark.parametrize("module", [F, R], ids=["fast", "reference"])
@pytest.mark.parametrize("op, weight, out_shape", [
    ("conv2d", W, (2, 8, 4, 4)), ("conv_transpose2d", np.zeros((4, 4, 3, 3)), (2, 8, 8, 8))])
def test_grad_output_shape_must_match(module, op, weight, out_shape):
    backward = getattr(module, op + "_backward")
    assert getattr(module, op)(X, weight, groups=2).shape == out_shape
    wrong = np.zeros(out_shape[:-1] + (out_shape[-1] + 1,))
    check(backward, dict(grad_output=wrong, input=X, weight=weight, groups=2), ValueError,
          ["grad_output.shape=" + str(wrong.shape), str(out_shape)])
    check(backward, dict(grad_output=np.zeros(out_shape, dtype=np.int64), input=X, weight=weight, groups=2),
          TypeError, ["grad_output", "int64"])


@pytest.mark.parametrize("module", [F, R], ids=["fast", "reference"])
def test_rank_specific_functions_check_the_rank(module):
    check(module.conv1d, dict(input=X, weight=W), ValueError, ["conv1d", "weight", "(8, 2, 3, 3)"])
    check(module.conv3d, dict(input=X, weight=W), ValueError, ["conv3d", "weight"])
    check(module.conv_transpose1d, dict(input=X, weight=WT), ValueError, ["conv_transpose1d", "weight"])


@pytest.mark.parametrize("module", [F, R], ids=["fast", "reference"])
@pytest.mark.parametrize("call, kwargs, exception, fragments", [
    ("unfold", dict(input=np.zeros((1, 2, 5, 5)), kernel_size=0), ValueError, ["kernel_size=0"]),
    ("unfold", dict(input=np.zeros((1, 2, 5, 5)), kernel_size=6), ValueError, ["kernel", "(1, 2, 5, 5)"]),
    ("unfold", dict(input=np.zeros((1, 2, 5, 5)), kernel_size=2, padding="same"), TypeError, ["padding='same'"]),
    ("unfold", dict(input=np.zeros((1, 2, 5, 5), dtype=np.int8), kernel_size=2), TypeError, ["input", "int8"]),
    ("fold", dict(input=np.zeros((1, 8, 16)), output_size=(5, 5), kernel_size=3), ValueError,
     ["(1, 8, 16)", "prod(kernel_size"]),
    ("fold", dict(input=np.zeros((1, 8, 15)), output_size=(5, 5), kernel_size=2), ValueError,
     ["(1, 8, 15)", "16 blocks"]),
    ("fold", dict(input=np.zeros((1, 8, 16)), output_size=(5, 5, 5), kernel_size=2), ValueError, ["blocks"]),
    ("fold", dict(input=np.zeros((1, 8, 16)), output_size=(5, 5), kernel_size=2, stride=(1, 0)), ValueError,
     ["stride=(1, 0)"]),
])
def test_unfold_fold_bad_argument(module, call, kwargs, exception, fragments):
    check(getattr(module, call), kwargs, exception, fragments)


def test_errors_come_before_any_work(monkeypatch):
    """A bad grad_output is reported before the im2col buffer is built."""
    import vanilla_nn.functional.conv as conv_module

    def fail(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    for name in ("plan_conv", "pad_for", "correlate_cl", "correlate_input_grad_cl", "correlate_weight_grad_cl"):
        monkeypatch.setattr(conv_module, name, fail)
    with pytest.raises(ValueError, match="grad_output"):
        F.conv2d_backward(np.zeros((1, 1)), X, W, groups=2)
    with pytest.raises(ValueError, match="padding"):
        F.conv2d(X, W, groups=2, padding=-3)
