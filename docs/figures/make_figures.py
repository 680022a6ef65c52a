"""Draw the figures of the derivation from the library's own rules (``python docs/figures/make_figures.py``).

Every number in a figure comes from vanilla_nn: output sizes from ``conv_output_size`` and ``same_pads``,
windows from ``window_view``, overlap counts from ``col2im``, padded cells from ``pad_spatial``. So a figure
cannot disagree with the code it illustrates. ``make docs`` runs this before building the site; the PNGs are
committed so that the site also builds without it.

Usage: ``python docs/figures/make_figures.py [--out DIR]`` (default: this folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))  # draw from this checkout's code, installed or not

from vanilla_nn.functional._args import conv_output_size, same_pads  # noqa: E402
from vanilla_nn.functional.padding import pad_spatial  # noqa: E402
from vanilla_nn.functional.windows import col2im, im2col, window_view  # noqa: E402

BLUE, ORANGE, GREY, RED = "#1f77b4", "#ff7f0e", "#d9d9d9", "#d62728"
TAP_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e"]
plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "figure.dpi": 100})


def _save(fig: plt.Figure, out: Path, name: str) -> None:
    from vanilla_nn import _io

    with _io.atomic_path(out / name) as temp:  # a temporary file beside it, renamed into place
        fig.savefig(temp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _grid(ax: plt.Axes, rows: int, cols: int, x0: float = 0, y0: float = 0, face: str = "white",
          labels: np.ndarray | None = None, fontsize: int = 9) -> None:
    """Draw a rows x cols grid of unit cells with its top-left corner at (x0, y0) (y grows downwards)."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(Rectangle((x0 + c, y0 + r), 1, 1, facecolor=face, edgecolor="black", lw=0.6))
            if labels is not None:
                ax.text(x0 + c + 0.5, y0 + r + 0.5, str(labels[r, c]), ha="center", va="center",
                        fontsize=fontsize)


def _finish(ax: plt.Axes, width: float, height: float) -> None:
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(height + 0.3, -0.3)
    ax.set_aspect("equal")
    ax.axis("off")


def receptive_fields(out: Path) -> None:
    """Which input cells output (0, 0) and output (0, 1) read, for stride and dilation choices."""
    size = 7
    cases = [(3, 1, 1), (3, 2, 1), (3, 1, 2)]  # (K, s, d)
    fig, axes = plt.subplots(1, len(cases), figsize=(13, 4.8))
    index = np.arange(size * size, dtype=float).reshape(1, 1, size, size)
    for ax, (k, s, d) in zip(axes, cases):
        o = conv_output_size(size, k, s, d, (0, 0))
        view = window_view(index, (k, k), (s, s), (d, d), (o, o))[0, 0]  # (O, O, K, K): input cell ids
        _grid(ax, size, size)
        for colour, (oy, ox) in ((BLUE, (0, 0)), (ORANGE, (0, 1))):
            for cell in view[oy, ox].ravel().astype(int):
                r, c = divmod(cell, size)
                ax.add_patch(Rectangle((c + 0.08, r + 0.08), 0.84, 0.84, facecolor=colour, alpha=0.45,
                                       edgecolor=colour, lw=2))
        ax.set_title(f"K = {k}, stride s = {s}, dilation d = {d}\n"
                     f"input {size}x{size} -> output {o}x{o}")
        _finish(ax, size, size)
    fig.suptitle("Receptive field of output (0, 0) (blue) and its neighbour (0, 1) (orange): "
                 "input cell o*s + k*d", y=0.99)
    _save(fig, out, "receptive_field.png")


def im2col_layout(out: Path) -> None:
    """A 2-channel 4x4 input, a 2x2 kernel: each output position becomes one row of the im2col matrix."""
    channels, size, k = 2, 4, 2
    o = conv_output_size(size, k, 1, 1, (0, 0))
    x = np.arange(channels * size * size, dtype=float).reshape(1, channels, size, size)
    cols = im2col(x, (k, k), (1, 1), (1, 1), (o, o)).reshape(o * o, channels * k * k).astype(int)
    highlight_row = 1 * o + 2  # output position (1, 2)
    fig, (ax_in, ax_cols) = plt.subplots(1, 2, figsize=(13, 6.2), gridspec_kw={"width_ratios": [1.05, 1]})
    channel_faces = ["#deebf7", "#fee6ce"]
    for c in range(channels):
        x0 = c * (size + 1)
        _grid(ax_in, size, size, x0=x0, face=channel_faces[c], labels=x[0, c].astype(int))
        ax_in.text(x0 + size / 2, -0.5, f"channel {c}", ha="center", fontsize=11)
        for cell in cols[highlight_row, c * k * k:(c + 1) * k * k]:
            r, col = divmod(cell - c * size * size, size)
            ax_in.add_patch(Rectangle((x0 + col, r), 1, 1, fill=False, edgecolor=RED, lw=3))
    ax_in.set_title(f"input x[n=0]: C = {channels}, H = W = {size}; kernel {k}x{k}, stride 1\n"
                    f"red: the receptive field of output (1, 2)")
    _finish(ax_in, channels * size + channels - 1, size)
    ax_in.set_ylim(size + 0.3, -1.0)

    rows, ncols = cols.shape
    for r in range(rows):
        for c in range(ncols):
            face = channel_faces[c // (k * k)]
            ax_cols.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="black", lw=0.6))
            ax_cols.text(c + 0.5, r + 0.5, str(cols[r, c]), ha="center", va="center", fontsize=9)
    ax_cols.add_patch(Rectangle((0, highlight_row), ncols, 1, fill=False, edgecolor=RED, lw=3))
    for r in range(rows):
        ax_cols.text(-0.2, r + 0.5, f"o=({r // o},{r % o})", ha="right", va="center", fontsize=9)
    for c in range(ncols):
        tap = divmod(c % (k * k), k)
        ax_cols.text(c + 0.5, -0.15, f"c{c // (k * k)}\nk={tap[0]},{tap[1]}", ha="center", va="bottom",
                     fontsize=8)
    ax_cols.set_title(f"im2col matrix: N*P = {rows} rows (output positions) x C*KH*KW = {ncols} columns\n"
                      f"(channel-major, then taps); y = cols @ w.reshape(C_out, -1).T", pad=34)
    ax_cols.set_xlim(-1.9, ncols + 0.2)
    ax_cols.set_ylim(rows + 0.2, -1.3)
    ax_cols.set_aspect("equal")
    ax_cols.axis("off")
    _save(fig, out, "im2col_layout.png")


def col2im_scatter(out: Path) -> None:
    """1-d: output o and tap k touch frame cell o*s + k*d; col2im adds each product back there."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.25, 1]})
    ax = axes[0]
    frame, k, s, d = 9, 3, 2, 1
    o = conv_output_size(frame, k, s, d, (0, 0))
    for q in range(frame):
        ax.add_patch(Rectangle((q, 0), 1, 1, facecolor="white", edgecolor="black", lw=0.6))
        ax.text(q + 0.5, -0.25, f"q={q}", ha="center", va="bottom", fontsize=9)
    out_x0 = (frame - o * 1.6) / 2
    for i in range(o):
        xo = out_x0 + i * 1.6
        ax.add_patch(Rectangle((xo, 3), 1, 1, facecolor="#eeeeee", edgecolor="black", lw=0.6))
        ax.text(xo + 0.5, 4.25, f"o={i}", ha="center", va="top", fontsize=9)
        for tap in range(k):
            q = i * s + tap * d
            ax.add_patch(FancyArrowPatch((xo + 0.5, 3), (q + 0.5, 1), arrowstyle="-|>", mutation_scale=11,
                                         color=TAP_COLOURS[tap], lw=1.6))
    for tap in range(k):
        ax.plot([], [], color=TAP_COLOURS[tap], lw=2, label=f"tap k={tap}: frame[k*d + s*o] += cols[o, k]")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=1, fontsize=9, frameon=False)
    ax.set_title(f"col2im in 1-d (K = {k}, s = {s}, d = {d}): each output position o\n"
                 f"sends one value per tap back to frame cell q = o*s + k*d")
    ax.set_xlim(-0.3, frame + 0.3)
    ax.set_ylim(4.6, -0.8)
    ax.set_aspect("equal")
    ax.axis("off")

    ax = axes[1]
    size, k2 = 7, 3
    lines = []
    for s2 in (1, 2):
        o2 = conv_output_size(size, k2, s2, 1, (0, 0))
        ones = np.ones((1, o2, o2, 1, k2, k2))
        counts = col2im(ones, (size, size), (s2, s2), (1, 1))[0, 0].astype(int)
        lines.append((s2, counts))
    for panel, (s2, counts) in enumerate(lines):
        x0 = panel * (size + 1)
        shades = plt.cm.Blues(0.15 + 0.8 * counts / counts.max())
        for r in range(size):
            for c in range(size):
                ax.add_patch(Rectangle((x0 + c, r), 1, 1, facecolor=shades[r, c], edgecolor="black", lw=0.5))
                ax.text(x0 + c + 0.5, r + 0.5, str(counts[r, c]), ha="center", va="center", fontsize=9,
                        color="white" if counts[r, c] > counts.max() / 2 else "black")
        ax.text(x0 + size / 2, -0.4, f"3x3 kernel, stride {s2}", ha="center", fontsize=10)
    ax.set_title("col2im of an all-ones im2col matrix = how many\nwindows read each input cell "
                 "(overlaps add up)")
    _finish(ax, 2 * size + 1, size)
    ax.set_ylim(size + 0.3, -1.0)
    _save(fig, out, "col2im_scatter.png")


def output_sizes(out: Path) -> None:
    """Number lines: the input, its padding and every window, for the rules that set the output size."""
    cases = [
        ("padding 0 ('valid')", 7, 3, 2, 1, (0, 0)),
        ("padding 1", 7, 3, 2, 1, (1, 1)),
        ("dilation 2, padding 0", 7, 3, 1, 2, (0, 0)),
        ("'same', stride 1 (PyTorch), even K", 7, 4, 1, 1, same_pads((7,), (4,), (1,), (1,))[0]),
        ("'same', stride 2 (TensorFlow SAME)", 7, 3, 2, 1, same_pads((7,), (3,), (2,), (1,))[0]),
        ("'same', stride 2 (TensorFlow SAME)", 8, 3, 2, 1, same_pads((8,), (3,), (2,), (1,))[0]),
    ]
    fig, ax = plt.subplots(figsize=(13, 11))
    y = 0.0
    for title, size, k, s, d, (lo, hi) in cases:
        o = conv_output_size(size, k, s, d, (lo, hi))
        ax.text(-3.8, y + 0.5, f"{title}\nS={size}, K={k}, s={s}, d={d}, p=({lo}, {hi})\n"
                f"O = floor(({size}+{lo}+{hi} - {d}*({k}-1) - 1)/{s}) + 1 = {o}"
                + (f" = ceil({size}/{s})" if "same" in title else ""),
                ha="left", va="center", fontsize=9.5)
        x0 = 6.5
        for q in range(-lo, size + hi):
            inside = 0 <= q < size
            ax.add_patch(Rectangle((x0 + q + lo, y), 1, 1, facecolor="white" if inside else GREY,
                                   edgecolor="black", lw=0.6, hatch=None if inside else "//"))
            if inside:
                ax.text(x0 + q + lo + 0.5, y + 0.5, str(q), ha="center", va="center", fontsize=8)
        for i in range(o):
            yy = y + 1.25 + 0.32 * i
            start = x0 + i * s
            taps = [start + t * d for t in range(k)]
            ax.plot([taps[0] + 0.5, taps[-1] + 0.5], [yy, yy], color=TAP_COLOURS[i % len(TAP_COLOURS)],
                    lw=1.2)
            ax.scatter([t + 0.5 for t in taps], [yy] * k, s=18, color=TAP_COLOURS[i % len(TAP_COLOURS)],
                       zorder=3)
            ax.text(taps[-1] + 0.9, yy, f"o={i}", va="center", fontsize=8)
        y += 2.0 + 0.32 * o
    ax.set_title("Output size: windows (dots = taps) slide over the padded input (hatched = padding)\n"
                 "'same' at stride > 1: O = ceil(S/s), total pad = max(0, (O-1)*s + d*(K-1) + 1 - S), "
                 "odd pixel at the end", fontsize=11)
    ax.set_xlim(-4, 21)
    ax.set_ylim(y, -0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    _save(fig, out, "output_size.png")


def padding_modes(out: Path) -> None:
    """Which input cell each padded cell copies; the backward adds the pad's gradient back along the arrows."""
    size, pad = 5, 3
    signal = np.arange(size, dtype=float).reshape(1, 1, size)
    modes = ["zeros", "reflect", "replicate", "circular"]
    fig, axes = plt.subplots(len(modes), 1, figsize=(11, 7.5))
    for ax, mode in zip(axes, modes):
        p = pad
        padded = pad_spatial(signal + 1, ((p, p),), mode)[0, 0] - 1  # -1 marks a zero of the padding
        for q, source in enumerate(padded):
            inside = p <= q < p + size
            ax.add_patch(Rectangle((q, 0), 1, 1, facecolor="white" if inside else GREY, edgecolor="black",
                                   lw=0.6))
            label = "0" if source < 0 else f"x{int(source)}"
            ax.text(q + 0.5, 0.5, label, ha="center", va="center", fontsize=10)
            if not inside and source >= 0:
                target = p + int(source)
                ax.add_patch(FancyArrowPatch((q + 0.5, 1.0), (target + 0.5, 1.0),
                                             connectionstyle=f"arc3,rad={0.35 if target > q else -0.35}",
                                             arrowstyle="-|>",
                                             mutation_scale=10, color=BLUE, lw=1.1))
        ax.set_title(f"padding_mode='{mode}', pad {p} each side", fontsize=11, loc="left")
        ax.set_xlim(-0.3, size + 2 * pad + 0.3)
        ax.set_ylim(3.2, -0.3)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle("Padding copies input cells (arrows: where each padded cell's value, and later its "
                 "gradient, comes from / goes to)", y=0.995, fontsize=11)
    fig.tight_layout()
    _save(fig, out, "padding_modes.png")


def _matrix(ax: plt.Axes, matrix: np.ndarray, x0: float, y0: float, title: str, row_label: str,
            col_label: str) -> None:
    """A small integer matrix whose entries 1..K stand for the weights w0..w(K-1) (0: an empty cell)."""
    rows, cols = matrix.shape
    for r in range(rows):
        for c in range(cols):
            k = int(round(matrix[r, c])) - 1
            face = TAP_COLOURS[k] if k >= 0 else "white"
            ax.add_patch(Rectangle((x0 + c, y0 + r), 1, 1, facecolor=face, alpha=0.55 if k >= 0 else 1,
                                   edgecolor="black", lw=0.6))
            if k >= 0:
                ax.text(x0 + c + 0.5, y0 + r + 0.5, f"w{k}", ha="center", va="center", fontsize=10)
        ax.text(x0 - 0.2, y0 + r + 0.5, f"{row_label}{r}", ha="right", va="center", fontsize=9)
    for c in range(cols):
        ax.text(x0 + c + 0.5, y0 - 0.15, f"{col_label}{c}", ha="center", va="bottom", fontsize=9)
    ax.text(x0 + cols / 2, y0 - 1.0, title, ha="center", va="bottom", fontsize=11)


def transposed_convolution(out: Path) -> None:
    """1-d, S = 7, K = 3, s = 2: the convolution as a matrix A, the transposed convolution as A^T, and A^T u
    computed as zero insertion + padding + the flipped kernel. Matrices come from F.conv1d and
    F.conv_transpose1d applied to unit vectors; the zero-insertion identity is checked before drawing."""
    import vanilla_nn.functional as F

    size, k, s = 7, 3, 2
    w = np.arange(1.0, k + 1).reshape(1, 1, k)                      # w0, w1, w2 drawn as 1, 2, 3
    o = F.conv1d(np.zeros((1, 1, size)), w, stride=s).shape[-1]
    A = np.stack([F.conv1d(e.reshape(1, 1, size), w, stride=s)[0, 0] for e in np.eye(size)], axis=1)  # (O, S)
    AT = np.stack([F.conv_transpose1d(e.reshape(1, 1, o), w, stride=s)[0, 0] for e in np.eye(o)], axis=1)
    assert np.array_equal(AT, A.T), "conv_transpose1d is not the transpose of conv1d"
    u = np.random.default_rng(0).standard_normal(o)
    spread = np.zeros(s * (o - 1) + 1)
    spread[::s] = u                                                # s - 1 zeros between the values
    framed = np.pad(spread, k - 1)                                 # d(K-1) - p = 2 zeros on each side
    full = F.conv1d(framed.reshape(1, 1, -1), np.flip(w, -1))[0, 0]
    assert np.allclose(full, F.conv_transpose1d(u.reshape(1, 1, o), w, stride=s)[0, 0])

    fig = plt.figure(figsize=(13, 7.6))
    top = fig.add_axes((0.02, 0.40, 0.96, 0.54))
    _matrix(top, A, 1.5, 1.2, f"convolution y = A x:  A is O x S = {o} x {size}\n(row o holds the kernel at "
            f"columns o*s + k)", "o=", "x")
    _matrix(top, A.T, 13.5, 1.2, f"transposed convolution z = A^T u:  A^T is S x O = {size} x {o}\n"
            "(the same weights, read down the columns)", "z", "u")
    top.annotate("", xy=(12.6, 2.7), xytext=(9.2, 2.7),
                 arrowprops={"arrowstyle": "-|>", "lw": 2, "color": "black"})
    top.text(10.9, 2.45, "transpose\n(adjoint)", ha="center", va="bottom", fontsize=10)
    top.text(13.5 + o + 0.6, 2.2, "z2 = w2*u0 + w0*u1 :\ntwo windows overlap\nat input cell 2,\n"
             "their gradients add", ha="left", va="top", fontsize=9)
    _finish(top, 21, 9)
    top.set_xlim(-0.8, 21.5)
    top.set_ylim(9.3, -0.3)

    bottom = fig.add_axes((0.02, 0.0, 0.96, 0.36))
    n = len(framed)
    labels = ["0"] * (k - 1) + [f"u{i // s}" if i % s == 0 else "0" for i in range(len(spread))] + ["0"] * (k - 1)
    for q in range(n):
        inserted = labels[q] == "0" and k - 1 <= q < n - (k - 1)
        face = "#fee6ce" if inserted else ("#deebf7" if labels[q] != "0" else GREY)
        bottom.add_patch(Rectangle((q + 1.5, 1.5), 1, 1, facecolor=face, edgecolor="black", lw=0.6))
        bottom.text(q + 2.0, 2.0, labels[q], ha="center", va="center", fontsize=10)
    bottom.text(1.3, 2.0, "spread u", ha="right", va="center", fontsize=10)
    j = 2                                                          # output cell z2
    for tap in range(k):
        weight = k - 1 - tap                                       # the flipped kernel: w2 w1 w0
        bottom.add_patch(Rectangle((j + tap + 1.5, 0.2), 1, 1, facecolor=TAP_COLOURS[weight], alpha=0.55,
                                   edgecolor="black", lw=0.6))
        bottom.text(j + tap + 2.0, 0.7, f"w{weight}", ha="center", va="center", fontsize=10)
    bottom.text(1.3, 0.7, "flipped kernel", ha="right", va="center", fontsize=10)
    bottom.add_patch(Rectangle((j + 1.5, 1.5), k, 1, fill=False, edgecolor=RED, lw=2.5))
    for q in range(size):                                          # z_q under the middle of its window
        bottom.add_patch(Rectangle((q + 1.5 + (k - 1) / 2, 4.0), 1, 1, facecolor="white", edgecolor="black",
                                   lw=0.6))
        bottom.text(q + 2.0 + (k - 1) / 2, 4.5, f"z{q}", ha="center", va="center", fontsize=10)
    bottom.text(1.3, 4.5, "z = A^T u", ha="right", va="center", fontsize=10)
    bottom.add_patch(FancyArrowPatch((j + 2.0 + (k - 1) / 2, 2.5), (j + 2.0 + (k - 1) / 2, 4.0), arrowstyle="-|>",
                                     mutation_scale=12, color=RED, lw=1.8))
    bottom.text(n + 2.4, 0.3, f"1. insert s - 1 = {s - 1} zero (orange) between the values of u\n"
                f"2. pad with d(K-1) - p = {k - 1} zeros on each side (grey)\n"
                "3. correlate with the kernel flipped (w2 w1 w0), stride 1\n"
                "   (channels swapped: C_in and C_out trade places)\n"
                f"The result is A^T u, {size} cells (+ output_padding): z2 = w2*u0 + w1*0 + w0*u1.\n"
                "vanilla_nn never builds the zeros: it scatters with col2im,\nthe adjoint of im2col (section 5).",
                ha="left", va="top", fontsize=10)
    _finish(bottom, n + 18, 5)
    bottom.set_xlim(-3.5, n + 19)
    fig.suptitle("The transposed convolution is the adjoint of the convolution (1-d, S = 7, K = 3, stride 2)",
                 y=0.995)
    _save(fig, out, "conv_transpose.png")


def autograd_graph(out: Path) -> None:
    """The tape's graph of a small residual block (the one of docs/guides/own_model.md, smaller)."""
    import vanilla_nn as vn
    from vanilla_nn import nn

    conv1 = nn.Conv2d(2, 2, 3, padding=1, dtype=np.float64, rng=0)
    conv2 = nn.Conv2d(2, 2, 3, padding=1, dtype=np.float64, rng=1)
    relu = nn.ReLU()
    x = vn.tensor(np.ones((1, 2, 4, 4)), requires_grad=True)   # so the skip connection shows
    y = relu(conv2(relu(conv1(x))) + x)
    loss = nn.MSELoss()(y, np.zeros((1, 2, 4, 4)))
    names = {"x": x, "conv1.weight": conv1.weight, "conv1.bias": conv1.bias, "conv2.weight": conv2.weight,
             "conv2.bias": conv2.bias}
    vn.autograd.graph(loss, names=names, png=str(out / "autograd_graph.png"))


FIGURES = [receptive_fields, im2col_layout, col2im_scatter, output_sizes, padding_modes, transposed_convolution,
           autograd_graph]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write the PNGs into (default: docs/figures)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for draw in FIGURES:
        draw(args.out)
    print(f"wrote {len(FIGURES)} figures to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
