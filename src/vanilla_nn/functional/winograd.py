"""Winograd's minimal filtering F(2x2, 3x3) and F(4x4, 3x3) for 2-d, stride-1, undilated 3x3 correlations,
channels-last.

**F(2x2, 3x3)** (:func:`correlate_winograd`).

Each 2x2 block of outputs needs a 4x4 tile ``d`` of the padded input; with the transforms

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

the block is ``Y = A^T [ (G g G^T) * (B^T d B) ] A`` (``*`` elementwise over the 4x4 positions). Summed
over input channels, the elementwise products become 16 GEMMs ``U[p] (T, C_in) @ V[p] (C_in, C_out)``
for the ``T`` tiles: 16 * C_in * C_out multiplies per tile instead of 36 * C_in * C_out for the direct
form, 2.25 times fewer. The transforms are additions and halvings only (exact in binary), so the result
differs from the direct sum by rounding alone: ~1e-16 relative in float64, ~1e-7 in float32.

The transforms are elementwise NumPy passes whose cost grows with ``C`` while the GEMM saving grows with
``C_in * C_out``: it wins for wide layers only. The planner takes it from
:data:`.plan.WINOGRAD_MIN_CHANNELS` (256) channels with even output sizes; the measurement is recorded there.

**F(4x4, 3x3)** (:func:`correlate_winograd_f4`). Each 4x4 block of outputs needs a 6x6 tile; 36 GEMMs ``U[p]
(T, C_in) @ V[p] (C_in, C_out)`` make 36 / 16 = 2.25 multiplies per output and input channel instead of 9 (4x
fewer; F(2x2) makes 4). The matrices come from Toom-Cook (Lavin & Gray 2015, "Fast Algorithms for
Convolutional Neural Networks", arXiv:1509.09308): with ``n = m + r - 1 = 6`` evaluation points ``a_0 .. a_4``
and infinity, a 1-d linear convolution ``s = g * h`` (``g`` of 3 taps, ``h`` of 4) is ``V^-1 [(E_g g) *
(E_h h)]`` with ``E`` the evaluation matrices (the point at infinity reads the leading coefficient) and
``V^-1`` the interpolation; transposing this bilinear algorithm gives the correlation ``y_i = sum_k d_{i+k}
g_k`` as ``y = A^T [(G g) * (B^T d)]`` with ``A^T = E_h^T``, ``G = E_g``, ``B^T = V^-T``. Scaling row ``p`` of
``G`` up and of ``B^T`` down by the same factor changes nothing; :func:`toom_cook` takes row ``p`` of ``B^T`` as
the coefficients of ``prod_{k != p} (x - a_k)`` (for infinity ``prod_k (x - a_k)``) and puts the denominator
``prod_{k != p} (a_p - a_k)`` into ``G``. Lavin & Gray's points ``0, 1, -1, 2, -2`` give their published
matrices (a test checks this). We take ``0, 1, -1, 2, -1/2`` (:data:`F4_POINTS`), the most accurate of the three
sets measured below (on choosing points: Barabasz et al. 2018, "Error analysis and improving the accuracy of
Winograd convolution for deep neural networks"), exact fractions:

    B^T = [[1, 3/2,   -2, -3/2,    1, 0],       G = [[    1,     0,     0],     A^T = [[1, 1,  1, 1,    1, 0],
           [0,  -1, -5/2, -1/2,    1, 0],            [ -1/3,  -1/3,  -1/3],            [0, 1, -1, 2, -1/2, 0],
           [0,   1,  1/2, -5/2,    1, 0],            [  1/3,  -1/3,   1/3],            [0, 1,  1, 4,  1/4, 0],
           [0,-1/2,   -1,  1/2,    1, 0],            [ 1/15,  2/15,  4/15],            [0, 1, -1, 8, -1/8, 1]]
           [0,   2,   -1,   -2,    1, 0],            [-16/15, 8/15, -4/15],
           [0,   1,  3/2,   -2, -3/2, 1]]            [    0,     0,     1]]

and ``Y = A^T [(G g G^T) * (B^T d B)] A`` per tile. The 2-d transforms are single GEMMs with the Kronecker
products: ``kron(B^T, B^T) (36, 36)`` on the gathered tiles ``(36, T * C_in)``, ``kron(A^T, A^T) (16, 36)`` on the
products ``(36, T * C_out)``, ``kron(G, G) (36, 9)`` on the weight; measured faster here than two separable passes
with ``B^T`` (thin GEMMs with inner dimension 6): l1 3.1 vs 3.7 ms, l2 5.7 vs 8.8 ms (elementwise passes were not
tried: the 6x6 matrices have few zeros). The entries are no longer exact in binary (thirds, fifteenths) and grow
to 8, so rounding grows with the tile: measured as ``max |y - y64| / max |y64|`` against PyTorch's float64 direct
sum on ResNet-18's 3x3 layers (batch 2, weights scaled by ``1/sqrt(9 C_in)``): float32 3.0e-6 (64 ch @56), 3.2e-6
(128 @28), 4.6e-6 (256 @14), 4.8e-6 (512 @7); float64 5e-15 to 8e-15. Lavin & Gray's points give 7.5e-6 to 1.2e-5
in float32 (above the tests' 1e-5), ``0, +-1, +-1/2`` 6.4e-6 to 1.4e-5; F(2x2) 4e-7 to 6e-7 and PyTorch's own
float32 direct sum 9e-7 to 2.9e-6. The planner's choice and its measurement:
:data:`.plan.WINOGRAD_F4_MIN_CHANNELS`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import as_strided

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def kernel_transform(w: np.ndarray) -> np.ndarray:
    """``w (C_out, C_in, 3, 3)`` -> ``V (16, C_in, C_out)`` (a transposed view), ``V[4a + b] = (G w G^T)[a, b]``.

    One GEMM: ``(G kron G) (16, 9) @ w^T (9, C_out * C_in)``, stored ``(16, C_out, C_in)``, no transposing copy.
    """
    c_out, c_in = w.shape[:2]
    g = _G.astype(w.dtype)
    v = np.matmul(np.kron(g, g), w.reshape(c_out * c_in, 9).T)  # (16, C_out * C_in)
    return v.reshape(16, c_out, c_in).transpose(0, 2, 1)


def _input_transform(tiles: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    """``tiles (..., 4, 4, C)`` view -> ``out (4, 4, ..., C)`` = ``B^T d B`` per tile."""
    rows = [tiles[..., i, :, :] for i in range(4)]  # (..., 4, C) each
    np.subtract(rows[0], rows[2], out=scratch[0])
    np.add(rows[1], rows[2], out=scratch[1])
    np.subtract(rows[2], rows[1], out=scratch[2])
    np.subtract(rows[1], rows[3], out=scratch[3])
    for a in range(4):
        cols = [scratch[a][..., j, :] for j in range(4)]
        np.subtract(cols[0], cols[2], out=out[a, 0])
        np.add(cols[1], cols[2], out=out[a, 1])
        np.subtract(cols[2], cols[1], out=out[a, 2])
        np.subtract(cols[1], cols[3], out=out[a, 3])


def _output_transform(m: np.ndarray, out: np.ndarray) -> None:
    """``m (4, 4, N, TH, TW, C)`` -> ``out (N, TH, 2, TW, 2, C)`` = ``A^T m A`` per tile."""
    half = np.empty((2, 4, *m.shape[2:]), dtype=m.dtype)
    np.add(m[0], m[1], out=half[0])
    half[0] += m[2]
    np.subtract(m[1], m[2], out=half[1])
    half[1] -= m[3]
    for i in range(2):
        left, right = out[:, :, i, :, 0], out[:, :, i, :, 1]
        np.add(half[i, 0], half[i, 1], out=left)
        left += half[i, 2]
        np.subtract(half[i, 1], half[i, 2], out=right)
        right -= half[i, 3]


def workspace_per_image(frame: tuple[int, int], c_in: int, c_out: int, itemsize: int) -> int:
    """Bytes of scratch one image needs: the transformed tiles, their products and the partial sums."""
    tiles = math.ceil((frame[0] - 2) / 2) * math.ceil((frame[1] - 2) / 2)
    return tiles * (16 * c_in + 16 * c_in + 16 * c_out + 8 * c_out + 4 * c_out) * itemsize


def kernel_bytes(c_in: int, c_out: int, itemsize: int) -> int:
    """Bytes of the transformed kernel ``V (16, C_in, C_out)``."""
    return 16 * c_in * c_out * itemsize


def correlate_winograd(xp: np.ndarray, w: np.ndarray, out_spatial: tuple[int, int], images_per_chunk: int
                       ) -> np.ndarray:
    """``y (N, OH, OW, C_out)`` for a channels-last ``xp (N, OH + 2, OW + 2, C_in)`` and ``w (C_out, C_in, 3, 3)``.

    Works ``images_per_chunk`` images at a time (the caller sizes it to the workspace cap).
    """
    batch, c_in = xp.shape[0], xp.shape[-1]
    c_out = w.shape[0]
    oh, ow = out_spatial
    th, tw = math.ceil(oh / 2), math.ceil(ow / 2)
    if (oh % 2) or (ow % 2):  # odd output: one more zero row/column so that whole tiles fit
        extended = np.zeros((batch, 2 * th + 2, 2 * tw + 2, c_in), dtype=xp.dtype)
        extended[:, : xp.shape[1], : xp.shape[2]] = xp
        xp = extended
    v = kernel_transform(w)
    y = np.empty((batch, th, 2, tw, 2, c_out), dtype=np.result_type(xp, w))
    step = max(1, images_per_chunk)
    nb = min(step, batch)
    u = np.empty((4, 4, nb, th, tw, c_in), dtype=y.dtype)
    scratch = np.empty((4, nb, th, tw, 4, c_in), dtype=y.dtype)
    m = np.empty((16, nb * th * tw, c_out), dtype=y.dtype)
    for n0 in range(0, batch, step):
        n1 = min(batch, n0 + step)
        k = n1 - n0
        block = xp[n0:n1]
        st = block.strides
        tiles = as_strided(block, (k, th, tw, 4, 4, c_in), (st[0], 2 * st[1], 2 * st[2], st[1], st[2], st[3]),
                           writeable=False)
        u_k, m_k = u[:, :, :k], m[:, : k * th * tw]
        _input_transform(tiles, u_k, scratch[:, :k])
        np.matmul(u_k.reshape(16, k * th * tw, c_in), v, out=m_k)
        _output_transform(m_k.reshape(4, 4, k, th, tw, c_out), y[n0:n1])
    return y.reshape(batch, 2 * th, 2 * tw, c_out)[:, :oh, :ow]


# ----------------------------------------------------------------------------------------------------------
# F(4x4, 3x3)
# ----------------------------------------------------------------------------------------------------------

def _poly_mul(p: list[Fraction], q: list[Fraction]) -> list[Fraction]:
    """Product of two polynomials given by ascending coefficients."""
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def toom_cook(points: tuple[Fraction, ...], m: int, r: int
              ) -> tuple[list[list[Fraction]], list[list[Fraction]], list[list[Fraction]]]:
    """Exact ``(A^T (m, n), G (n, r), B^T (n, n))`` of F(m, r) for ``n - 1 = m + r - 2`` finite points and infinity.

    Row ``p`` of ``B^T`` is the ascending coefficients of ``prod_{k != p} (x - a_k)``, row ``p`` of ``G`` is
    ``[a_p^j] / prod_{k != p} (a_p - a_k)``, column ``p`` of ``A^T`` is ``[a_p^i]``; the point at infinity
    contributes ``prod_k (x - a_k)``, ``[0, .., 0, 1]`` and ``[0, .., 0, 1]`` (see the module docstring).
    """
    n = m + r - 1
    if len(points) != n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} finite points, got points={points}")
    at = [[Fraction(0)] * n for _ in range(m)]
    g = [[Fraction(0)] * r for _ in range(n)]
    bt = [[Fraction(0)] * n for _ in range(n)]
    for p, a in enumerate(points):
        numerator, denominator = [Fraction(1)], Fraction(1)
        for k, b in enumerate(points):
            if k != p:
                numerator = _poly_mul(numerator, [-b, Fraction(1)])
                denominator *= a - b
        bt[p][: len(numerator)] = numerator
        g[p] = [a ** j / denominator for j in range(r)]
        for i in range(m):
            at[i][p] = a ** i
    full = [Fraction(1)]
    for b in points:
        full = _poly_mul(full, [-b, Fraction(1)])
    bt[n - 1] = full
    g[n - 1][r - 1] = Fraction(1)
    at[m - 1][n - 1] = Fraction(1)
    return at, g, bt


F4_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-1, 2))
_AT4, _G4, _BT4 = (np.array(mat, dtype=np.float64) for mat in toom_cook(F4_POINTS, 4, 3))
# the 2-d transforms of a flattened 6x6 (or 3x3) tile: (B^T d B)[a, b] = kron(B^T, B^T)[6a + b] @ d.ravel()
_BB4 = np.kron(_BT4, _BT4)  # (36, 36)
_GG4 = np.kron(_G4, _G4)    # (36, 9)
_AA4 = np.kron(_AT4, _AT4)  # (16, 36)


def kernel_transform_f4(w: np.ndarray) -> np.ndarray:
    """``w (C_out, C_in, 3, 3)`` -> ``V (36, C_in, C_out)`` (a transposed view), ``V[6a + b] = (G w G^T)[a, b]``."""
    c_out, c_in = w.shape[:2]
    v = np.matmul(_GG4.astype(w.dtype), w.reshape(c_out * c_in, 9).T)  # (36, C_out * C_in)
    return v.reshape(36, c_out, c_in).transpose(0, 2, 1)


def workspace_per_image_f4(frame: tuple[int, int], c_in: int, c_out: int, itemsize: int) -> int:
    """Bytes of scratch one image needs in F(4x4, 3x3): gathered tiles, transformed tiles, products, outputs."""
    tiles = math.ceil((frame[0] - 2) / 4) * math.ceil((frame[1] - 2) / 4)
    return tiles * (36 * c_in + 36 * c_in + 36 * c_out + 16 * c_out) * itemsize


def kernel_bytes_f4(c_in: int, c_out: int, itemsize: int) -> int:
    """Bytes of the transformed kernel ``V (36, C_in, C_out)``."""
    return 36 * c_in * c_out * itemsize


def correlate_winograd_f4(xp: np.ndarray, w: np.ndarray, out_spatial: tuple[int, int], images_per_chunk: int
                          ) -> np.ndarray:
    """F(4x4, 3x3): ``y (N, OH, OW, C_out)`` for a channels-last ``xp (N, OH + 2, OW + 2, C_in)``, ``w (C_out,
    C_in, 3, 3)``; ``images_per_chunk`` images at a time (the caller sizes it to the workspace cap).

    Per chunk of ``R`` tiles: gather the 6x6 tiles into ``d (36, R * C_in)`` (one strided copy), ``U = kron(B^T,
    B^T) @ d``, 36 GEMMs ``M[p] (R, C_out) = U[p] (R, C_in) @ V[p] (C_in, C_out)``, ``Z = kron(A^T, A^T) @ M``
    ``(16, R * C_out)``, scattered into the output's 4x4 blocks (one strided copy).
    """
    batch, c_in = xp.shape[0], xp.shape[-1]
    c_out = w.shape[0]
    oh, ow = out_spatial
    th, tw = math.ceil(oh / 4), math.ceil(ow / 4)
    if (oh % 4) or (ow % 4):  # zero rows/columns so that whole tiles fit
        extended = np.zeros((batch, 4 * th + 2, 4 * tw + 2, c_in), dtype=xp.dtype)
        extended[:, : xp.shape[1], : xp.shape[2]] = xp
        xp = extended
    dtype = np.result_type(xp, w)
    v = kernel_transform_f4(w)
    bb, aa = _BB4.astype(dtype), _AA4.astype(dtype)
    y = np.empty((batch, th, 4, tw, 4, c_out), dtype=dtype)
    step = max(1, images_per_chunk)
    rows = min(step, batch) * th * tw
    d_buf = np.empty(36 * rows * c_in, dtype=dtype)
    u_buf = np.empty(36 * rows * c_in, dtype=dtype)
    m_buf = np.empty(36 * rows * c_out, dtype=dtype)
    z_buf = np.empty(16 * rows * c_out, dtype=dtype)
    for n0 in range(0, batch, step):
        n1 = min(batch, n0 + step)
        k = n1 - n0
        r = k * th * tw
        block = xp[n0:n1]
        st = block.strides
        tiles = as_strided(block, (k, th, tw, 6, 6, c_in), (st[0], 4 * st[1], 4 * st[2], st[1], st[2], st[3]),
                           writeable=False)
        d = d_buf[: 36 * r * c_in].reshape(6, 6, k, th, tw, c_in)
        np.copyto(d, tiles.transpose(3, 4, 0, 1, 2, 5))
        u = u_buf[: 36 * r * c_in].reshape(36, r * c_in)
        np.matmul(bb, d.reshape(36, r * c_in), out=u)
        m = m_buf[: 36 * r * c_out].reshape(36, r, c_out)
        np.matmul(u.reshape(36, r, c_in), v, out=m)
        z = z_buf[: 16 * r * c_out].reshape(16, r * c_out)
        np.matmul(aa, m.reshape(36, r * c_out), out=z)
        np.copyto(y[n0:n1], z.reshape(4, 4, k, th, tw, c_out).transpose(2, 3, 0, 4, 1, 5))
    return y.reshape(batch, 4 * th, 4 * tw, c_out)[:, :oh, :ow]
