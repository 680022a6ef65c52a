"""Issue 11 part 7, fresh results: no functional op returns an array that shares memory with its inputs (or,
for a backward, with ``grad_output``), and none returns a read-only array; huge integers in any size argument
are a ValueError naming the argument, never an OverflowError or a MemoryError.

The ops and their configurations are the proof matrix's (``vanilla_nn.oracles.cases``), so an op that joins
``vanilla-nn verify`` is checked here too; each case runs with strided and with contiguous inputs (a reshape
of a contiguous array is a view, which is where aliasing hides).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import vanilla_nn.functional as F
from vanilla_nn.functional._args import MAX_SIZE
from vanilla_nn.functional._dispatch import TAPE_GRADIENTS
from vanilla_nn.oracles.cases import CASES, OPS, Case, make_arrays

# Windows where the im2col reshape can be a view of the input: kernel 1, or a kernel covering the image.
EXTRA_CASES = [
    Case("unfold", ((2, 3, 4, 5),), {"kernel_size": 1}, "kernel-1"),
    Case("unfold", ((2, 3, 4, 5),), {"kernel_size": (4, 5)}, "kernel-is-image"),
    Case("unfold", ((3, 4, 5),), {"kernel_size": 1}, "kernel-1-unbatched"),
    Case("unfold", ((2, 3, 7),), {"kernel_size": (7,)}, "1d-kernel-is-image"),
    Case("fold", ((2, 3, 20),), {"output_size": (4, 5), "kernel_size": 1}, "kernel-1"),
    Case("fold", ((2, 60, 1),), {"output_size": (4, 5), "kernel_size": (4, 5)}, "kernel-is-image"),
    Case("fold", ((3, 20),), {"output_size": (4, 5), "kernel_size": 1}, "kernel-1-unbatched"),
]


def _leaves(result):
    """Every ndarray in a result (an array, or a tuple of arrays and None)."""
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _leaves(item)]
    return []


def _assert_fresh(results, inputs, what):
    for index, result in enumerate(_leaves(results)):
        assert result.flags.writeable, f"{what}: result {index} is read-only"
        for name, array in inputs.items():
            if isinstance(array, np.ndarray):
                assert not np.shares_memory(result, array), f"{what}: result {index} shares memory with {name}"


# Known views, to fix in the op's own module (then drop the entry: the strict xfail fails once it passes).
KNOWN_VIEWS: dict[str, str] = {}


def _marked(case):
    reason = KNOWN_VIEWS.get(case.op)
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=True)) if reason else case


@pytest.mark.parametrize("layout", ["strided", "contiguous"])
@pytest.mark.parametrize("case", [_marked(c) for c in CASES + EXTRA_CASES], ids=lambda c: c.id)
def test_results_never_alias_inputs(case, layout):
    info = OPS[case.op]
    arrays = make_arrays(case, "float64", seed=1)
    if layout == "contiguous":
        arrays = [None if a is None else np.array(a, order="C") for a in arrays]
    args, kwargs = info.call_args(arrays, case.options)
    inputs = dict(zip(info.arrays, arrays))
    forward = getattr(F, case.op)
    output = forward(*args, **kwargs)
    _assert_fresh(output, inputs, f"{case.id} forward")
    first = _leaves(output)[0]
    grad_output = np.random.default_rng(2).uniform(-1, 1, first.shape).astype(first.dtype)
    if layout == "contiguous":
        grad_output = np.array(grad_output, order="C")
    grads = getattr(F, info.backward_name)(grad_output, *args, **kwargs)
    _assert_fresh(grads, {**inputs, "grad_output": grad_output}, f"{case.id} backward")


def test_every_tape_op_has_a_case():
    """Each op on the tape appears in the matrix above, so the check covers every functional op."""
    covered = {case.op for case in CASES}
    aliases = {"conv_nd", "conv_transpose_nd", "upsample"}  # conv{1,2,3}d's and interpolate's code under another name
    assert not set(TAPE_GRADIENTS) - covered - aliases, set(TAPE_GRADIENTS) - covered


@pytest.mark.parametrize("options", [{"scale_factor": 1}, {"scale_factor": 2}, {"size": (4, 5)},
                                     {"scale_factor": 1, "mode": "bilinear", "align_corners": False},
                                     {"scale_factor": 2, "mode": "bilinear", "align_corners": True}])
def test_upsample_results_are_fresh(options):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4, 5))
    y = F.upsample(x, **options)
    _assert_fresh(y, {"input": x}, f"upsample {options}")
    gy = np.ones_like(y)
    _assert_fresh(F.upsample_backward(gy, x, **options), {"input": x, "grad_output": gy}, f"upsample {options}")


# --- huge integers ----------------------------------------------------------------------------------------

X2 = np.ones((1, 2, 5, 5))
W2 = np.ones((2, 2, 3, 3))
HUGE = [MAX_SIZE + 1, 2**60 - 1, 2**60, 2**63, 2**64 + 3, 10**30]

# (label, call taking the huge value, the argument named in the message)
SIZE_ARGUMENTS = [
    *((f"conv2d-{name}", lambda v, n=name: F.conv2d(X2, W2, **{n: v}), name)
      for name in ("stride", "padding", "dilation")),
    ("conv2d-stride-one-dim", lambda v: F.conv2d(X2, W2, stride=(1, v)), "stride"),
    ("conv2d-padding-pair", lambda v: F.conv2d(X2, W2, padding=((0, v), (0, 0))), "padding"),
    ("conv2d-groups", lambda v: F.conv2d(X2, W2, groups=v), "groups"),
    ("conv1d-stride", lambda v: F.conv1d(np.ones((1, 2, 5)), np.ones((2, 2, 3)), stride=v), "stride"),
    ("conv3d-dilation", lambda v: F.conv3d(np.ones((1, 1, 3, 3, 3)), np.ones((1, 1, 1, 1, 1)), dilation=v),
     "dilation"),
    *((f"conv_transpose2d-{name}", lambda v, n=name: F.conv_transpose2d(X2, W2, **{n: v}), name)
      for name in ("stride", "padding", "dilation", "groups")),
    ("conv_transpose2d-output_padding-alone", lambda v: F.conv_transpose2d(X2, W2, output_padding=(0, v)),
     "output_padding"),
    *((f"unfold-{name}", lambda v, n=name: F.unfold(X2, 3, **{n: v}), name)
      for name in ("stride", "padding", "dilation")),
    ("unfold-kernel_size", lambda v: F.unfold(X2, v), "kernel_size"),
    *((f"fold-{name}", lambda v, n=name: F.fold(np.ones((1, 2, 1)), 1, 1, **{n: v}), name)
      for name in ("stride", "padding", "dilation")),
    ("fold-output_size", lambda v: F.fold(np.ones((1, 2, 1)), v, 1), "output_size"),
    ("fold-kernel_size", lambda v: F.fold(np.ones((1, 2, 1)), 3, v), "kernel_size"),
    ("unfold_backward-stride", lambda v: F.unfold_backward(np.ones((1, 18, 1)), X2, 3, stride=v), "stride"),
    ("conv2d_backward-padding", lambda v: F.conv2d_backward(np.ones((1, 2, 3, 3)), X2, W2, padding=v),
     "padding"),
    *((f"{op}-{name}", lambda v, o=op, n=name: getattr(F, o)(X2, **{"kernel_size": 3, n: v}), name)
      for op in ("max_pool2d", "avg_pool2d") for name in ("kernel_size", "stride", "padding")),
    ("max_pool2d-dilation", lambda v: F.max_pool2d(X2, 3, dilation=v), "dilation"),
    ("max_pool1d-stride", lambda v: F.max_pool1d(np.ones((1, 2, 5)), 2, stride=v), "stride"),
]


@pytest.mark.parametrize("value", HUGE, ids=lambda v: f"2^{v.bit_length() - 1}")
@pytest.mark.parametrize(("label", "call", "name"), SIZE_ARGUMENTS, ids=[a[0] for a in SIZE_ARGUMENTS])
def test_huge_size_arguments_are_value_errors(label, call, name, value):
    with pytest.raises(ValueError, match=rf"{name}=\(?[^=]*{value}"):
        call(value)


def test_the_largest_allowed_value_still_works_where_it_fits():
    """MAX_SIZE itself is accepted: a huge stride just gives one output position."""
    np.testing.assert_array_equal(F.conv2d(X2, W2, stride=MAX_SIZE), F.conv2d(X2, W2, stride=5))
    np.testing.assert_array_equal(F.unfold(X2, 3, stride=MAX_SIZE), F.unfold(X2, 3, stride=3))
    np.testing.assert_array_equal(F.max_pool2d(X2, 3, stride=MAX_SIZE), F.max_pool2d(X2, 3, stride=3))


def test_padding_that_no_array_can_hold_names_padding():
    """Below the per-value cap, but the padded input would exceed what NumPy can address."""
    big = MAX_SIZE
    with pytest.raises(ValueError, match=re.escape(f"padding={big}") + r".*more than NumPy can address"):
        F.conv2d(np.ones((4, 8, 5, 5)), np.ones((2, 8, 1, 1)), padding=big)
