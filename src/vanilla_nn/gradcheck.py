"""Finite-difference check of any backward function, in float64.

``gradcheck(fn, inputs, backward)`` asks one question of a hand-written backward: is it the derivative of
the forward? With ``L(x) = <fn(*x), grad_output>`` (the scalar whose gradient a backward computes), for each
input ``x_i`` and a few random unit directions ``v`` it compares

    analytic  = <backward(grad_output, *x)[i], v>
    numerical = (L(x_i + eps v) - L(x_i - eps v)) / (2 eps)           (central difference, error O(eps^2))

and passes input ``i`` when ``|analytic - numerical| <= atol + rtol * max(|analytic|, |numerical|) + floor``
along every direction, where ``floor = 64 * 2**-52 * sum(|fn(*x) * grad_output|) / eps`` bounds the
rounding error of the difference quotient itself (so large outputs do not fail a correct backward).
Directional derivatives (as in Chainer's ``check_backward``) cost two forward calls per direction whatever
the input's size, instead of two per element. Everything runs in float64 so that the
difference quotient is accurate; the functions must accept float64 arrays.

Example, pointing it at vanilla_nn's own conv2d::

    import numpy as np
    import vanilla_nn.functional as F
    from vanilla_nn import gradcheck

    rng = np.random.default_rng(0)
    x, w, b = rng.random((2, 3, 7, 6)), rng.random((4, 3, 3, 3)), rng.random(4)
    report = gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
        [x, w, b],
        lambda gy, x, w, b: F.conv2d_backward(gy, x, w, b, stride=2, padding=1),
    )
    print(report)            # one line per input: ok, abs err, rel err
    report.raise_if_failed()  # AssertionError naming the input whose gradient is off, and by how much

``gradcheck(..., raise_on_failure=True)`` does both in one call (handy in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GradcheckReport", "InputCheck", "gradcheck"]


@dataclass
class InputCheck:
    """The verdict on one input's gradient.

    ``abs_err`` is the largest ``|analytic - numerical|`` over the directions; ``rel_err`` the largest
    ``|analytic - numerical| / max(|analytic|, |numerical|)`` (0 where both are 0). ``message`` explains a
    failure that is not a number (a missing gradient, a wrong shape).
    """

    index: int
    name: str
    ok: bool
    abs_err: float
    rel_err: float
    analytic: list[float] = field(default_factory=list)
    numerical: list[float] = field(default_factory=list)
    message: str = ""

    def describe(self) -> str:
        verdict = "ok  " if self.ok else "FAIL"
        detail = f" - {self.message}" if self.message else ""
        return (f"{verdict} {self.name}: abs err {self.abs_err:.3e}, rel err {self.rel_err:.3e}"
                f"{detail}")


@dataclass
class GradcheckReport:
    """Per-input results of :func:`gradcheck`; truthy when every checked input passed."""

    inputs: list[InputCheck]
    eps: float
    atol: float
    rtol: float
    n_directions: int

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.inputs)

    @property
    def failed(self) -> list[InputCheck]:
        return [check for check in self.inputs if not check.ok]

    @property
    def max_abs_err(self) -> float:
        return max((c.abs_err for c in self.inputs), default=0.0)

    @property
    def max_rel_err(self) -> float:
        return max((c.rel_err for c in self.inputs), default=0.0)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = (f"gradcheck ({self.n_directions} directions, eps={self.eps:g}, atol={self.atol:g}, "
                f"rtol={self.rtol:g}): {'passed' if self.ok else 'FAILED'}")
        return "\n".join([head] + ["  " + check.describe() for check in self.inputs])

    def raise_if_failed(self) -> None:
        """Raise ``AssertionError`` naming each input whose gradient is off and by how much."""
        if self.ok:
            return
        lines = []
        for check in self.failed:
            pairs = ", ".join(f"{a:.6g} vs {n:.6g}" for a, n in zip(check.analytic, check.numerical,
                                                                    strict=True))
            numbers = f" (backward vs finite differences along random directions: {pairs})" if pairs else ""
            lines.append(check.describe() + numbers)
        raise AssertionError("gradient check failed for " + ", ".join(c.name for c in self.failed) + ":\n"
                             + "\n".join(lines) + f"\n(tolerance: atol={self.atol:g} + rtol={self.rtol:g} "
                             f"* magnitude + rounding floor)")


def _as_float64(value: Any, name: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"gradcheck: {name} has dtype {array.dtype}; pass float arrays (they are checked in "
                        f"float64), e.g. {name}.astype(np.float64)")
    return array.astype(np.float64)


def _unit_direction(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    direction = rng.standard_normal(shape)
    norm = np.linalg.norm(direction)
    return direction / norm if norm > 0 else direction


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], backward: Callable[..., Any],
              grad_output: Any = None, *, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5,
              n_directions: int = 3, seed: int = 0, names: Sequence[str] | None = None,
              raise_on_failure: bool = False) -> GradcheckReport:
    """Check ``backward`` against central finite differences of ``fn``, input by input, in float64.

    Args:
        fn: the forward, ``fn(*inputs) -> output`` (one array).
        inputs: the arrays to differentiate with respect to, in ``fn``'s order. ``None`` entries (an absent
            bias) are passed through and must get a ``None`` gradient. Options (stride, padding...) belong
            in ``fn`` and ``backward`` themselves, e.g. with a lambda.
        backward: ``backward(grad_output, *inputs) -> gradients``, one per input (a tuple, or a single array
            when there is one input), each shaped like its input.
        grad_output: the upstream gradient, shaped like the output; random (from ``seed``) when omitted.
        eps: the step along each unit direction. The error of a central difference is O(eps^2) in the
            function's curvature plus O(float64 rounding / eps); 1e-6 suits float64.
        atol, rtol: an input passes when ``|analytic - numerical| <= atol + rtol * max(|analytic|,
            |numerical|) + floor`` along every direction (``floor``: the rounding bound above).
        n_directions: random unit directions per input.
        seed: seeds the directions (and ``grad_output`` when it is drawn).
        names: labels for the inputs in the report (default ``input0``, ``input1``...).
        raise_on_failure: raise ``AssertionError`` instead of returning a failing report.

    Returns:
        a :class:`GradcheckReport` with one :class:`InputCheck` per non-None input.
    """
    if n_directions < 1:
        raise ValueError(f"gradcheck: n_directions={n_directions!r} must be >= 1")
    if not eps > 0:
        raise ValueError(f"gradcheck: eps={eps!r} must be > 0")
    labels = list(names) if names is not None else [f"input{i}" for i in range(len(inputs))]
    if len(labels) != len(inputs):
        raise ValueError(f"gradcheck: names has {len(labels)} entries but inputs has {len(inputs)}")
    xs = [_as_float64(x, label) for x, label in zip(inputs, labels, strict=True)]
    rng = np.random.default_rng(seed)

    output = np.asarray(fn(*xs), dtype=np.float64)
    if grad_output is None:
        gy = rng.standard_normal(output.shape)
    else:
        gy = _as_float64(grad_output, "grad_output")
        if gy.shape != output.shape:
            raise ValueError(f"gradcheck: grad_output.shape={gy.shape} must equal the output's shape "
                             f"{output.shape}")

    floor = 64 * np.finfo(np.float64).eps * float(np.sum(np.abs(output * gy))) / eps
    grads = backward(gy, *xs)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(xs):
        raise ValueError(f"gradcheck: backward returned {len(grads)} gradients for {len(xs)} inputs")

    def objective(arrays: list[np.ndarray | None]) -> float:
        return float(np.sum(np.asarray(fn(*arrays), dtype=np.float64) * gy))

    checks = []
    for index, (x, grad, label) in enumerate(zip(xs, grads, labels, strict=True)):
        if x is None:
            if grad is not None:
                checks.append(InputCheck(index, label, False, np.inf, np.inf,
                                         message="input is None but backward returned a gradient"))
            continue
        if grad is None:
            checks.append(InputCheck(index, label, False, np.inf, np.inf,
                                     message="backward returned None for this input"))
            continue
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != x.shape:
            checks.append(InputCheck(index, label, False, np.inf, np.inf,
                                     message=f"gradient shape {grad.shape} != input shape {x.shape}"))
            continue
        analytic, numerical = [], []
        ok, abs_err, rel_err = True, 0.0, 0.0
        for _ in range(n_directions):
            direction = _unit_direction(rng, x.shape)
            plus, minus = list(xs), list(xs)
            plus[index], minus[index] = x + eps * direction, x - eps * direction
            num = (objective(plus) - objective(minus)) / (2 * eps)
            ana = float(np.sum(grad * direction))
            diff = abs(ana - num)
            magnitude = max(abs(ana), abs(num))
            ok = ok and bool(diff <= atol + rtol * magnitude + floor)  # NaN compares False: a NaN fails
            if np.isfinite(diff):
                abs_err = max(abs_err, diff)
                rel_err = max(rel_err, diff / magnitude if magnitude > 0 else 0.0)
            else:
                abs_err = rel_err = np.inf
            analytic.append(ana)
            numerical.append(num)
        checks.append(InputCheck(index, label, ok, abs_err, rel_err, analytic, numerical))

    report = GradcheckReport(checks, eps, atol, rtol, n_directions)
    if raise_on_failure:
        report.raise_if_failed()
    return report
