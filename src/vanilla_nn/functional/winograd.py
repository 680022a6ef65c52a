"""Winograd's minimal filtering F(2x2, 3x3) for 2-d, stride-1, undilated 3x3 correlations, channels-last.

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
"""

from __future__ import annotations

import math

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
