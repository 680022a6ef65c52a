"""The fast path and the loop reference agree with each other, special values included."""

from __future__ import annotations

import numpy as np
import pytest
from checks import assert_close

import vanilla_nn.functional as F
import vanilla_nn.reference as R

CASES = [
    ("conv1d", (2, 4, 9), (6, 2, 3), dict(stride=2, padding=((2, 1),), dilation=2, groups=2,
                                          padding_mode="reflect")),
    ("conv2d", (2, 3, 6, 5), (4, 3, 3, 2), dict(stride=(2, 1), padding="same", padding_mode="circular")),
    ("conv3d", (1, 2, 4, 5, 3), (2, 1, 2, 3, 2), dict(padding=(1, 0, 1), groups=2, padding_mode="replicate")),
    # depthwise on channel planes: the flat loops (stride 1) and the stride-phase split (stride 2)
    ("conv2d", (2, 3, 7, 6), (3, 1, 3, 3), dict(padding=1, groups=3)),
    ("conv2d", (2, 3, 8, 6), (3, 1, 3, 3), dict(stride=2, padding=1, groups=3)),
    ("conv_transpose1d", (2, 4, 5), (4, 3, 3), dict(stride=3, padding=1, output_padding=2, groups=2)),
    ("conv_transpose2d", (2, 2, 4, 3), (2, 3, 3, 2), dict(stride=2, dilation=(1, 3), output_padding=(1, 2))),
    ("conv_transpose3d", (1, 2, 3, 2, 3), (2, 2, 2, 2, 2), dict(padding=((1, 0), (0, 1), (1, 1)))),
]


@pytest.mark.parametrize("op, x_shape, w_shape, options", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan_inf"])
def test_fast_path_equals_reference(op, x_shape, w_shape, options, special):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * options.get("groups", 1) if "transpose" in op else w_shape[0])
    if special:  # an inf weight meets zero padding (0 * inf = NaN), a NaN input spreads
        x[(0, 0) + (1,) * (x.ndim - 2)] = np.nan
        w[(0, 0) + (0,) * (w.ndim - 2)] = np.inf
    y = getattr(F, op)(x, w, b, **options)
    assert_close(y, getattr(R, op)(x, w, b, **options), name="output")
    gy = rng.standard_normal(y.shape)
    fast = getattr(F, op + "_backward")(gy, x, w, b, **options)
    slow = getattr(R, op + "_backward")(gy, x, w, b, **options)
    for name, a, e in zip(("grad_input", "grad_weight", "grad_bias"), fast, slow):
        assert_close(a, e, name=name)
