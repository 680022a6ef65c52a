"""One planner for every convolution call: algorithm, input-gradient strategy and chunk schedule.

:func:`plan_conv` looks at shapes, dtype, memory layout and the workspace cap only (never at the data) and
returns a :class:`ConvPlan`, a frozen object you can print. The forward, both backwards, the layers (through
their saved state), the tape and the benchmark's algorithm column all read the same plan; every threshold and
the measurement behind it is in this module.

Notation as in :mod:`.conv`: batch ``N``; ``C_in``, ``C_out``; ``G`` groups; kernel ``K`` with ``T = prod(K)``
taps; padded input ``Sp``; output ``O`` with ``P = prod(O)`` positions.

**Chunks.** Every buffer that grows with the work (im2col blocks, col2im blocks, the depthwise loop's
products, Winograd's transformed tiles) is filled one *box* of the output grid ``(N, *O)`` at a time. A
:class:`Chunking` splits that grid row-major: whole images when one fits, else runs of first-dim output rows
of one image, else runs along the next output dim inside one row, down to a single output position. So the
scratch of a box is at most the budget whatever the shape, except when one output position's window alone
(``T * C_in / G`` elements) is larger: that is the smallest unit of work.

    >>> import numpy as np
    >>> from vanilla_nn.functional.plan import ConvGeometry, plan_conv
    >>> g = ConvGeometry.of((8, 58, 58, 64), (64, 64, 3, 3), (1, 1), (1, 1), 1)  # ResNet layer 1, padded
    >>> p = plan_conv(g, np.float32)
    >>> p.algorithm.value, p.input_grad.value, p.input_grad_plan.algorithm.value
    ('gemm', 'correlation', 'gemm')
    >>> plan_conv(g, np.float64).algorithm.value  # float32 too with WINOGRAD_F4_FLOAT32
    'winograd_f4'
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import winograd
from .workspace import get_workspace_limit

# ----------------------------------------------------------------------------------------------------------
# Thresholds, each with the measurement behind it (float32, batch 8, 2-core Xeon, NumPy 2.4 / OpenBLAS 0.3.31;
# benchmarks/README.md has the protocol and the full tables).
# ----------------------------------------------------------------------------------------------------------

# One chunk's scratch is at most this many bytes (and never above the workspace cap): about the size where
# the im2col block of a chunk is still in the last-level cache when the GEMM reads it. Measured 2-32 MiB on
# ResNet layer 1's forward: 29 ms unchunked, 16 ms at 8 MiB, flat from 4 to 16 MiB.
CHUNK_BYTES = 8 * 2**20

# The depthwise tap loop works on blocks of about this many output elements (operands stay in L2):
# forward 22 ms unblocked, 9.7-13 ms blocked at 2^16-2^20.
DEPTHWISE_BLOCK_ELEMENTS = 1 << 18
# The flat (stride-1, contiguous planes) depthwise loop: smaller blocks, all operands contiguous runs (6.4 ms).
FLAT_BLOCK_ELEMENTS = 1 << 16
# The flat depthwise weight gradient copies grad_output into the input's frame (zero tails) this many elements
# of it at a time, then reads each plane once per tap with one einsum (dot products of contiguous runs).
# Measured on the benchmark's 8x32x112x112 3x3 layer (one thread, shared machine under load, CPU ms, best of 9):
# one einsum per tap over strided (N, C, H, W) views 41; flat: 12.5 with blocks of 2^14-2^20 elements (one or
# two images here), 14.8 with the whole batch in one block (2^24).
WEIGHT_GRAD_BLOCK_ELEMENTS = 1 << 18
# Stride > 1 on channel planes (no threshold; see ``_algorithms._phases_fit``, within the cap): the input split by
# stride phase and the flat loops, against the boxed tap loops over stride-s views. Measured (MobileNetV2's
# stride-2 3x3 layers, batch 8, one thread, shared machine, CPU ms, forward / backward, PyTorch in brackets):
# 96 ch @112: boxes 117 / 215 [78 / 163], phases 58 / 122 [58 / 142]; 144 ch @56: 27 / 100 [11 / 69],
# 33 / 63 [7 / 62].

# Winograd F(2x2, 3x3) pays for its NumPy transform passes only for wide layers with even output sizes.
# Measured single-threaded (ms, im2col GEMM vs Winograd): 64 ch @56: 21 vs 44; 128 ch @28: 16 vs 25;
# 256 ch @14: 15 vs 12; 512 ch @7 (odd: tiles overhang): 15 vs 17.
WINOGRAD_MIN_CHANNELS = 256
WINOGRAD_ODD_OUTPUT = False

# Winograd F(4x4, 3x3) (:mod:`.winograd`: 36 GEMMs on 6x6 tiles, 2.25 multiplies per output and channel pair
# instead of 9 (F(2x2): 4), its transforms single GEMMs with Kronecker-product matrices). Measured with
# ``python -m benchmarks.winograd --threads 1 --clock cpu`` (each algorithm forced on every 3x3 stride-1
# correlation of the call, so in fwd+bwd also on the input gradient's flipped correlation where the plan takes
# it: l1, l2, 32 ch), batch 8, ms of process CPU time (ratio to PyTorch in the same run), a busy shared machine
# (load average 4-6 on 2 cores: every side ~2-3x slower than on the quiet machine; a first float32 run gave the
# same ranking everywhere, times within 20%):
#
#   float32          pass     im2col GEMM    F(2x2)         F(4x4)         PyTorch
#   l1  64 ch @56    fwd       75.7 (2.35)   100.2 (3.11)    44.4 (1.38)    32.2
#                    fwd+bwd  211.9 (1.76)   265.4 (2.21)   156.6 (1.30)   120.3
#   l2 128 ch @28    fwd       50.3 (1.43)    46.0 (1.30)    28.4 (0.81)    35.3
#                    fwd+bwd  147.0 (1.29)   166.0 (1.46)   112.3 (0.99)   113.6
#   l3 256 ch @14    fwd       36.7 (1.10)    26.9 (0.81)    26.9 (0.81)    33.2
#                    fwd+bwd  118.8 (1.09)   106.0 (0.98)   111.3 (1.02)   108.7
#   l4 512 ch @7     fwd       41.9 (0.82)    38.6 (0.75)    47.1 (0.92)    51.2
#                    fwd+bwd  118.9 (0.74)   125.1 (0.78)   133.3 (0.83)   160.9
#   32 ch @56        fwd       27.8 (2.89)    33.9 (3.53)    21.9 (2.28)     9.6
#                    fwd+bwd   79.1 (2.00)   105.1 (2.65)    78.7 (1.99)    39.6
#   float64
#   l1  64 ch @56    fwd      150.8 (0.64)   227.7 (0.97)    91.1 (0.39)   234.3
#                    fwd+bwd  419.5 (0.70)   653.6 (1.08)   368.9 (0.61)   602.9
#   l2 128 ch @28    fwd       93.3 (0.60)   104.6 (0.68)    52.4 (0.34)   154.6
#                    fwd+bwd  291.3 (0.76)   332.3 (0.86)   229.3 (0.60)   384.3
#
# Decision: F(4x4) from WINOGRAD_F4_MIN_CHANNELS (32, the narrowest measured; below it unmeasured) to below
# WINOGRAD_MIN_CHANNELS, where it beats both others forward by 1.3-1.8x (l1, l2, 32 ch; float64 too) and pays in
# the input gradient at l1 and l2 (at 32 ch the fwd+bwd is a tie). Not at l3: a tie with F(2x2), whose scratch and
# transformed kernel are 16/36 the size (and 14x14 leaves 4x4 tiles overhanging by 31%). Not at l4: 7x7 overhangs
# by 31% and the 36 transformed 512x512 kernels (38 MB) cost more than the GEMMs save; the im2col GEMM stays.
# WINOGRAD_F4_MAX_WASTE keeps it off outputs its tiles overhang by more than 15% of the area (l1's input-gradient
# correlation, 58x58 in 60x60, overhangs by 7%, l2's, 30x30 in 32x32, by 14%). A chunk holds about
# WINOGRAD_F4_TILE_ROWS tiles in whole images: l1 forward (ms, images per chunk) 37 (1), 35 (2), 54 (8); l2 28
# (1), 25 (2), 19 (8): the 36 GEMMs need rows, their operands the cache. Accuracy: :mod:`.winograd`, and
# WINOGRAD_F4_FLOAT32 below.
WINOGRAD_F4_MIN_CHANNELS = 32
WINOGRAD_F4_MAX_WASTE = 0.15
WINOGRAD_F4_TILE_ROWS = 512
# float32: F(4x4)'s rounding error is ~3x the direct sum's (measured per layer in :mod:`.winograd`: 3e-6 against
# 1e-6; its 36 products accumulate over C_in in float32 and the output transform, entries up to 8, cancels). Per
# layer that is within the tests' 1e-5, but through a network it adds up: ResNet-50's float32 train-mode forward
# (tests/models, 2 x 3 x 128 x 128, against torchvision in float64, tolerance 1e-4) has its largest error, in
# layer4.2.bn1.running_var, at 6.3e-5 with the im2col GEMM and 1.03e-4 with F(4x4) (PyTorch's own float32
# forward: 4.3e-5). So float32 keeps the im2col GEMM until that trade is decided; True adopts F(4x4) for
# float32 as for float64 (whose error stays ~1e-14). What True buys (ResNet-18, batch 8, 3x224x224, 1 thread,
# process CPU time, busy machine): inference 1240 -> 1162 ms (1.85x -> 1.73x PyTorch), training step 4025 ->
# 3670 ms (1.80x -> 1.65x).
WINOGRAD_F4_FLOAT32 = False

# Stride-1 input gradient of an im2col layer: the correlation of the zero-padded grad_output with the
# flipped, transposed kernel (one im2col GEMM with inner dimension T*C_out) against the GEMM ``gy @ W``
# (inner dimension C_out) followed by T strided adds (col2im). The correlation pays when the GEMM has many
# rows per input channel: N*P / C_in >= 16. Measured here (ms, one thread, shared machine, correlation vs
# scatter): ResNet l1 (N*P/C_in = 392) 64 vs 67; l2 (49) 51 vs 50; l3 (6.1) 51 vs 38; l4 (0.77) 72 vs 51.
# Earlier, quiet machine: l1 19 vs 25.
CORRELATION_MIN_ROWS_PER_CHANNEL = 16

# 1-d, undilated, one group (GEMM_VIEW): a window is one contiguous run of K * C_in channels-last values, so the
# output positions o = G*q + r (G = ceil(K / s)) split into G phases whose windows do not overlap: each phase's
# im2col matrix is a strided view of the padded input that BLAS reads in place. G GEMMs, no im2col copy, no
# scratch. Measured on the benchmark's conv1d (8 x 64 x 4096, k3, pad 1, one thread, shared machine under load,
# CPU ms, PyTorch in the same run in brackets): forward im2col GEMM 56 [39], views 44 [43]; backward 105 [72], 96 [76].
# 1x1 weight gradient at stride 1, one group (no threshold): one GEMM per image, gy_n (C_out, P) @ x_n^T, each
# operand read in place in whichever memory order it has (BLAS takes either orientation), instead of copying
# grad_output's rows box by box. Measured (one thread, shared machine, CPU ms, whole backward): 8x16->96 @112,
# planes: 36 -> 22; 8x64->128 @56, planes: 47 -> 19; channels-last unchanged (28 -> 25). Keeping the forward's
# and the input gradient's outputs in planes as well (batched GEMMs on planes) was faster per layer but turned
# MobileNetV2's small-plane depthwise layers (14x14, 960 channels) onto the flat loop, slower there than the
# channels-last tap loop, and sent planar gradients into its channels-last backward: the one-thread training
# step took 3.4-3.8 s with plane outputs against 3.0 s without, so those outputs stay channels-last rows.
# Few input channels (the 7x7 stride-2 first layer with 3 channels): a channels-last im2col copies runs of
# C_in floats (12 bytes), far too short for a streaming copy, while a channels-first im2col copies runs of
# whole output rows. Below this many input channels per group the channels-first GEMM is used.
CHANNELS_FIRST_MAX_CHANNELS = 4


class Algorithm(enum.Enum):
    """How the forward correlation is computed."""

    GEMM = "gemm"                      # channels-last im2col of a box + one GEMM per group
    GEMM1X1 = "gemm1x1"                # every kernel size 1: the (subsampled) input is the im2col matrix
    DEPTHWISE = "depthwise"            # one input channel per group: a tap loop of multiply-adds
    WINOGRAD = "winograd"              # F(2x2, 3x3): 16 GEMMs on transformed tiles
    WINOGRAD_F4 = "winograd_f4"        # F(4x4, 3x3): 36 GEMMs on transformed 6x6 tiles, GEMM transforms
    GEMM_CHANNELS_FIRST = "gemm_cf"    # few input channels: channels-first im2col, per image W @ cols
    GEMM_VIEW = "gemm_view"            # 1-d, undilated, one group: the im2col matrix is a view, one GEMM per phase


class InputGrad(enum.Enum):
    """How the gradient with respect to the padded input is computed."""

    CORRELATION = "correlation"        # stride 1: correlation of the padded grad_output, adjoint kernel
    SCATTER = "scatter"                # GEMM gy @ W per box, then col2im (T strided adds)
    GEMM1X1 = "gemm1x1"                # one GEMM, written into every s-th cell
    DEPTHWISE_CORRELATION = "depthwise_correlation"  # stride 1, multiplier 1: the flat loop, flipped kernel
    DEPTHWISE_SCATTER = "depthwise_scatter"          # tap loop of strided adds
    CHANNELS_FIRST_SCATTER = "scatter_cf"            # per image W^T @ gy, col2im on contiguous planes


class WeightGrad(enum.Enum):
    """How the gradient with respect to the weight is computed."""

    GEMM = "gemm"                      # the algorithm's own GEMM (im2col boxes, 1x1 rows, channels-first cols)
    DEPTHWISE_FLAT = "depthwise_flat"  # multiplier 1, planes (split by stride phase): einsums over flat runs
    DEPTHWISE_TAPS = "depthwise_taps"  # one einsum per tap over strided views


class Layout(enum.Enum):
    """Memory order of an ``(N, C, *S)`` array as the core sees it."""

    CHANNELS_LAST = "channels_last"    # channel axis innermost (what the GEMM paths want)
    CHANNELS_FIRST = "channels_first"  # channel axis outermost after N (not necessarily contiguous)
    PLANAR = "planar"                  # contiguous (N, C, *S) planes


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one correlation of an already padded input: ``frame`` is ``Sp``, ``out_spatial`` is ``O``."""

    batch: int
    c_in: int
    c_out: int
    groups: int
    frame: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    out_spatial: tuple[int, ...]

    @classmethod
    def of(cls, xp_shape_cl: tuple[int, ...], w_shape: tuple[int, ...], stride, dilation, groups: int,
           out_spatial: tuple[int, ...] | None = None) -> ConvGeometry:
        """From a channels-last padded input shape ``(N, *Sp, C_in)`` and a weight shape ``(C_out, Cg, *K)``."""
        frame, kernel = tuple(xp_shape_cl[1:-1]), tuple(w_shape[2:])
        stride, dilation = tuple(stride), tuple(dilation)
        if out_spatial is None:
            out_spatial = tuple((f - d * (k - 1) - 1) // s + 1 for f, k, s, d in zip(frame, kernel, stride, dilation))
        return cls(xp_shape_cl[0], xp_shape_cl[-1], w_shape[0], groups, frame, kernel, stride, dilation,
                   tuple(out_spatial))

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    @property
    def positions(self) -> int:
        return math.prod(self.out_spatial)

    @property
    def weight_elements(self) -> int:
        return self.c_out * (self.c_in // self.groups) * self.taps

    def adjoint(self) -> ConvGeometry:
        """The stride-1 input gradient as a correlation: grad_output padded by ``d*(K-1)``, adjoint kernel."""
        # padded by d*(K-1) before and by Sp - O after (more than d*(K-1) when a transposed conv's
        # output_padding leaves frame cells no tap reaches): the adjoint's output is the frame Sp
        frame = tuple(f + d * (k - 1) for f, d, k in zip(self.frame, self.dilation, self.kernel))
        return ConvGeometry(self.batch, self.c_out, self.c_in, self.groups, frame, self.kernel, self.stride,
                            self.dilation, self.frame)


@dataclass(frozen=True)
class Box:
    """A row-major block of the output grid ``(N, *O)``: ``start`` and ``size`` per axis."""

    start: tuple[int, ...]
    size: tuple[int, ...]

    @property
    def rows(self) -> int:
        return math.prod(self.size)

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, a + n) for a, n in zip(self.start, self.size))


@dataclass(frozen=True)
class Chunking:
    """Split the grid ``shape = (N, *O)`` at ``axis`` into runs of ``step``; outer axes one index at a time.

    ``axis = 0`` means whole images (``step`` of them); ``axis = a > 0`` means runs along output dim ``a - 1``
    inside one image (and one index of every dim before it). ``unit_bytes`` is the scratch of one step unit.
    """

    shape: tuple[int, ...]
    axis: int
    step: int
    unit_bytes: int

    @classmethod
    def fit(cls, shape: tuple[int, ...], position_bytes: int, budget: int) -> Chunking:
        """The coarsest split whose boxes cost at most ``budget`` bytes (``position_bytes`` per output position)."""
        for axis in range(len(shape)):
            unit = math.prod(shape[axis + 1:]) * position_bytes
            if unit <= budget:
                return cls(tuple(shape), axis, max(1, min(shape[axis], budget // max(unit, 1))), unit)
        return cls(tuple(shape), len(shape) - 1, 1, position_bytes)  # one position: the smallest unit

    @property
    def box_bytes(self) -> int:
        """The scratch of the largest box."""
        return self.step * self.unit_bytes

    @property
    def max_rows(self) -> int:
        return self.step * math.prod(self.shape[self.axis + 1:])

    @property
    def whole(self) -> bool:
        """Whether one box covers the whole grid."""
        return self.axis == 0 and self.step >= self.shape[0]

    def boxes(self) -> Iterator[Box]:
        shape, axis = self.shape, self.axis
        rest = shape[axis + 1:]
        for prefix in itertools.product(*(range(n) for n in shape[:axis])):
            for a0 in range(0, shape[axis], self.step):
                a1 = min(shape[axis], a0 + self.step)
                yield Box((*prefix, a0, *(0,) * len(rest)), ((1,) * axis + (a1 - a0,) + rest))

    def __len__(self) -> int:
        return math.prod(self.shape[:self.axis]) * -(-self.shape[self.axis] // self.step) if self.shape else 0


@dataclass(frozen=True)
class ConvPlan:
    """Everything decided once per call. Print it, or read ``algorithm.value`` for the benchmark's column."""

    geometry: ConvGeometry
    dtype: np.dtype
    layout: Layout
    workspace: int
    algorithm: Algorithm
    input_grad: InputGrad
    forward_chunks: Chunking      # im2col (or depthwise, Winograd) boxes of the forward
    weight_chunks: Chunking       # im2col boxes of the weight gradient
    input_chunks: Chunking        # col2im boxes of the scatter input gradient
    input_grad_plan: ConvPlan | None = None  # the correlation's own plan when input_grad is a correlation
    weight_grad: WeightGrad = WeightGrad.GEMM

    @property
    def keeps_cols(self) -> bool:
        """Whether the forward builds the whole im2col matrix in one box (then a layer may keep it)."""
        return self.algorithm == Algorithm.GEMM and self.forward_chunks.whole

    def describe(self) -> str:
        """One line: ``gemm, grad_input correlation (gemm), 3 boxes``."""
        inner = f" ({self.input_grad_plan.algorithm.value})" if self.input_grad_plan is not None else ""
        return (f"{self.algorithm.value}, grad_input {self.input_grad.value}{inner}, "
                f"{len(self.forward_chunks)} boxes")


def _depthwise(g: ConvGeometry) -> bool:
    return g.groups > 1 and g.groups == g.c_in


def _winograd_bytes_per_image(g: ConvGeometry, itemsize: int) -> int:
    """Bytes one image needs in :mod:`.winograd`: transformed tiles, their products and the partial sums."""
    tiles = math.ceil((g.frame[0] - 2) / 2) * math.ceil((g.frame[1] - 2) / 2)
    return tiles * (16 * g.c_in + 16 * g.c_in + 16 * g.c_out + 8 * g.c_out + 4 * g.c_out) * itemsize


def winograd_fits(g: ConvGeometry, itemsize: int, workspace: int) -> bool:
    """2-d, 3x3, stride 1, undilated, one group, wide enough, even output, one image within the cap."""
    return (len(g.kernel) == 2 and g.kernel == (3, 3) and g.stride == (1, 1) and g.dilation == (1, 1)
            and g.groups == 1 and min(g.c_in, g.c_out) >= WINOGRAD_MIN_CHANNELS
            and (WINOGRAD_ODD_OUTPUT or all(o % 2 == 0 for o in g.out_spatial))
            and _winograd_bytes_per_image(g, itemsize) + 16 * g.c_in * g.c_out * itemsize <= workspace)


def winograd_f4_tiles(g: ConvGeometry) -> int:
    """Tiles of one image in F(4x4, 3x3): ``ceil(OH / 4) * ceil(OW / 4)``."""
    return math.prod(-(-o // 4) for o in g.out_spatial)


def winograd_f4_fits(g: ConvGeometry, itemsize: int, workspace: int) -> bool:
    """2-d, 3x3, stride 1, undilated, one group, ``WINOGRAD_F4_MIN_CHANNELS <= C < WINOGRAD_MIN_CHANNELS`` in and
    out, tiles overhanging the output by at most ``WINOGRAD_F4_MAX_WASTE``, one image within the cap; float32
    (``itemsize`` 4) only when ``WINOGRAD_F4_FLOAT32``."""
    if not ((itemsize != 4 or WINOGRAD_F4_FLOAT32) and len(g.kernel) == 2 and g.kernel == (3, 3)
            and g.stride == (1, 1) and g.dilation == (1, 1)
            and g.groups == 1 and min(g.c_in, g.c_out) >= WINOGRAD_F4_MIN_CHANNELS
            and max(g.c_in, g.c_out) < WINOGRAD_MIN_CHANNELS and g.positions > 0):
        return False
    waste = 16 * winograd_f4_tiles(g) / g.positions - 1
    per_image = winograd.workspace_per_image_f4(g.frame, g.c_in, g.c_out, itemsize)
    return waste <= WINOGRAD_F4_MAX_WASTE and per_image + winograd.kernel_bytes_f4(g.c_in, g.c_out, itemsize) \
        <= workspace


def choose_algorithm(g: ConvGeometry, itemsize: int, workspace: int) -> Algorithm:
    if _depthwise(g):
        return Algorithm.DEPTHWISE
    if all(k == 1 for k in g.kernel):
        return Algorithm.GEMM1X1
    if winograd_fits(g, itemsize, workspace):
        return Algorithm.WINOGRAD
    if winograd_f4_fits(g, itemsize, workspace):
        return Algorithm.WINOGRAD_F4
    if g.groups == 1 and g.c_in <= CHANNELS_FIRST_MAX_CHANNELS:
        return Algorithm.GEMM_CHANNELS_FIRST
    if len(g.kernel) == 1 and g.dilation == (1,) and g.groups == 1:
        return Algorithm.GEMM_VIEW
    return Algorithm.GEMM


def _budget(workspace: int, fixed_bytes: int) -> int:
    """Bytes a box may use: the chunk size, within what the cap leaves after ``fixed_bytes`` of other scratch."""
    return max(1, min(CHUNK_BYTES, workspace - fixed_bytes))


def plan_conv(geometry: ConvGeometry, dtype, layout: Layout = Layout.CHANNELS_LAST,
              workspace: int | None = None, _adjoint: bool = True) -> ConvPlan:
    """The plan for one correlation (and its two adjoints) of this geometry, dtype, layout and workspace cap.

    Args:
        geometry: shapes of the correlation of the padded input (:class:`ConvGeometry`).
        dtype: float32 or float64, the computation's dtype.
        layout: memory order of the caller's input (only the depthwise path reads it).
        workspace: the cap in bytes (default: the current :func:`.get_workspace_limit`).
    """
    g = geometry
    dtype = np.dtype(dtype)
    item = dtype.itemsize
    workspace = get_workspace_limit() if workspace is None else workspace
    grid = (g.batch, *g.out_spatial)
    algorithm = choose_algorithm(g, item, workspace)
    weight_bytes = g.weight_elements * item  # a rearranged copy of the weight counts against the cap
    window = g.taps * g.c_in * item          # one output position's im2col row
    # the grouped GEMM writes its (G, rows, C_out/G) product before interleaving it into the output
    group_out = g.c_out * item if g.groups > 1 else 0
    if algorithm == Algorithm.DEPTHWISE:
        block = DEPTHWISE_BLOCK_ELEMENTS * item
        forward = Chunking.fit(grid, g.c_out * item, min(block, workspace))
        weight = forward
        inputs = Chunking.fit(grid, 2 * g.c_out * item, min(block, workspace))
    elif algorithm == Algorithm.GEMM_CHANNELS_FIRST:
        # the im2col block (C*T, rows) plus a copy of grad_output's rows when they are not contiguous planes;
        # image by image, so one image's block at most
        position = window + g.c_out * item
        per_image = position * g.positions
        budget = _budget(workspace, 2 * weight_bytes)
        forward = Chunking(grid, 0, 1, per_image) if per_image <= budget else Chunking.fit(grid, position, budget)
        weight = forward
        inputs = forward
    else:
        forward = Chunking.fit(grid, window + group_out, _budget(workspace, weight_bytes))
        # weight gradient: im2col rows plus a copy of grad_output's rows; two weight-sized accumulators
        weight = Chunking.fit(grid, window + g.c_out * item, _budget(workspace, 2 * weight_bytes))
        inputs = Chunking.fit(grid, window + g.c_out * item, _budget(workspace, weight_bytes))
    if algorithm == Algorithm.WINOGRAD_F4:  # whole images, about WINOGRAD_F4_TILE_ROWS tiles, within the cap
        per_image = winograd.workspace_per_image_f4(g.frame, g.c_in, g.c_out, item)
        fit = (workspace - winograd.kernel_bytes_f4(g.c_in, g.c_out, item)) // per_image
        images = max(1, min(g.batch, fit, WINOGRAD_F4_TILE_ROWS // winograd_f4_tiles(g)))
        forward = Chunking(grid, 0, images, per_image)
    input_grad, inner = _input_grad(g, dtype, algorithm, workspace, _adjoint)
    if algorithm == Algorithm.GEMM_CHANNELS_FIRST and input_grad == InputGrad.SCATTER:
        input_grad = InputGrad.CHANNELS_FIRST_SCATTER
    return ConvPlan(g, dtype, layout, workspace, algorithm, input_grad, forward, weight, inputs, inner,
                    _weight_grad(g, algorithm, layout, item, workspace))


def depthwise_flat_image_elements(g: ConvGeometry) -> int:
    """Elements of one image's ``grad_output`` in the frame's strides (the flat weight gradient's unit)."""
    return g.c_out * g.out_spatial[0] * math.prod(g.frame[1:])


def _weight_grad(g: ConvGeometry, algorithm: Algorithm, layout: Layout, item: int, workspace: int) -> WeightGrad:
    """The flat depthwise weight gradient reads the padded input as contiguous planes (what the forward pads
    a stride-1 depthwise input into unless the input is channels-last, see ``_algorithms.pad_for``) and needs
    one image's ``grad_output`` in the frame's strides within the cap."""
    if algorithm != Algorithm.DEPTHWISE:
        return WeightGrad.GEMM
    if (g.c_out == g.groups and layout != Layout.CHANNELS_LAST
            and depthwise_flat_image_elements(g) * item <= workspace):
        return WeightGrad.DEPTHWISE_FLAT
    return WeightGrad.DEPTHWISE_TAPS


def _input_grad(g: ConvGeometry, dtype: np.dtype, algorithm: Algorithm, workspace: int, adjoint: bool
                ) -> tuple[InputGrad, ConvPlan | None]:
    item = dtype.itemsize
    stride1 = all(s == 1 for s in g.stride)
    if algorithm == Algorithm.GEMM1X1:
        return InputGrad.GEMM1X1, None
    adj = g.adjoint()
    padded_gy = g.batch * math.prod(adj.frame) * g.c_out * item  # the correlation's padded grad_output
    if algorithm == Algorithm.DEPTHWISE:
        if stride1 and g.c_out == g.groups and adjoint and padded_gy + FLAT_BLOCK_ELEMENTS * item <= workspace:
            return InputGrad.DEPTHWISE_CORRELATION, None
        return InputGrad.DEPTHWISE_SCATTER, None
    if (stride1 and adjoint and g.batch * g.positions >= CORRELATION_MIN_ROWS_PER_CHANNEL * g.c_in):
        inner = plan_conv(adj, dtype, Layout.CHANNELS_LAST, max(1, workspace - padded_gy), _adjoint=False)
        if padded_gy + inner.forward_chunks.box_bytes + inner.geometry.weight_elements * item <= workspace:
            return InputGrad.CORRELATION, inner
    return InputGrad.SCATTER, None


def layout_of(a: np.ndarray) -> Layout:
    """The :class:`Layout` of an ``(N, C, *S)`` array."""
    if a.ndim > 2 and a.flags.c_contiguous:
        return Layout.PLANAR
    spatial = [abs(st) for st in a.strides[2:]]
    if a.ndim > 2 and a.shape[1] > 1 and abs(a.strides[1]) < min(spatial, default=0):
        return Layout.CHANNELS_LAST
    return Layout.CHANNELS_FIRST
