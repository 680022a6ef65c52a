"""The plots `vanilla-nn train` writes: learning curves, first-layer filters and feature maps (matplotlib, Agg).

- ``curves.png``: training loss per epoch on a log scale (the late epochs are not flat) and train/test accuracy.
- ``filters.png``: the first convolution's kernels for input channel 0, one shared colour scale centred on 0
  (red positive, blue negative) with its colour bar.
- ``feature_maps.png``: a test image with its true and predicted label, then that convolution's output after
  ReLU, one channel per panel, on one shared colour scale with its colour bar.

:func:`figures` builds the three figures (for tests and notebooks); :func:`save_plots` writes them, each
through a temporary file in the target's directory renamed into place (``vanilla_nn._io``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._common import optional

PLOT_FILES = ("curves.png", "filters.png", "feature_maps.png")


def _pyplot() -> Any:
    matplotlib = optional("matplotlib")
    matplotlib.use("Agg")
    return optional("matplotlib.pyplot")


def _first_conv(model: Any) -> Any:
    """The first ``nn.Conv2d`` of ``model`` (the layer whose filters a person can look at)."""
    from .. import nn

    for _, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"model {type(model).__name__} has no Conv2d layer to plot")


def _grid(count: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(count)))
    return -(-count // cols), cols


def curves_figure(plt: Any, history: dict[str, list[float]]) -> Any:
    """Loss per epoch (log scale) and accuracy per epoch, train and test."""
    loss = np.asarray(history["loss"], dtype=float)
    epochs = np.arange(1, len(loss) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, loss, marker="o", markersize=3)
    if loss.size and np.all(loss > 0):
        left.set_yscale("log")
    left.set(xlabel="epoch", ylabel="mean cross-entropy (log scale)", title="training loss per epoch")
    left.grid(True, which="both", alpha=0.3)
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        if history.get(key):
            right.plot(epochs[:len(history[key])], history[key], marker="o", markersize=3, label=label)
    test = history.get("test_accuracy") or []
    title = "accuracy per epoch" + (f" (final test {test[-1]:.2%})" if test else "")
    right.set(xlabel="epoch", ylabel="fraction classified correctly", title=title)
    right.grid(True, alpha=0.3)
    right.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _panels(plt: Any, count: int, extra: int = 0) -> tuple[Any, list[Any]]:
    rows, cols = _grid(count + extra)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols + 1.2, 1.5 * rows + 0.8), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return fig, list(axes.ravel())


def filters_figure(plt: Any, weight: np.ndarray) -> Any:
    """One panel per output channel: its kernel for input channel 0, on one colour scale centred on 0."""
    kernels = np.asarray(weight, dtype=float)[:, 0]
    limit = float(np.max(np.abs(kernels))) or 1.0
    fig, axes = _panels(plt, len(kernels))
    image = None
    for index, kernel in enumerate(kernels):
        image = axes[index].imshow(kernel, cmap="coolwarm", vmin=-limit, vmax=limit)
        axes[index].set_title(f"filter {index}", fontsize=7)
    fig.suptitle(f"first-layer filters: {kernels.shape[0]} kernels of {kernels.shape[1]}x{kernels.shape[2]} "
                 "weights (input channel 0)")
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight value")
    return fig


def feature_maps_figure(plt: Any, sample: np.ndarray, maps: np.ndarray, true_label: int,
                        predicted: int | None) -> Any:
    """The input image (true and predicted label) and one panel per feature map, on one colour scale."""
    maps = np.asarray(maps, dtype=float)
    fig, axes = _panels(plt, len(maps), extra=1)
    axes[0].imshow(np.asarray(sample, dtype=float)[0], cmap="gray_r")
    guess = "?" if predicted is None else str(predicted)
    mark = "" if predicted is None else (" (right)" if predicted == true_label else " (wrong)")
    axes[0].set_title(f"input: true {true_label}\npredicted {guess}{mark}", fontsize=7,
                      color="black" if predicted in (None, true_label) else "red")
    top = float(maps.max()) if maps.size and maps.max() > 0 else 1.0
    image = None
    for index, feature in enumerate(maps):
        image = axes[index + 1].imshow(feature, cmap="viridis", vmin=0.0, vmax=top)
        axes[index + 1].set_title(f"channel {index}", fontsize=7)
    fig.suptitle(f"first-layer feature maps (convolution + ReLU) of one test image: {len(maps)} channels")
    fig.colorbar(image, ax=axes, shrink=0.8, label="activation")
    return fig


def _predict_and_maps(model: Any, sample: np.ndarray) -> tuple[int | None, np.ndarray]:
    """The model's predicted class for ``sample`` (C, H, W) and its first convolution's maps after ReLU."""
    from .. import functional as F

    conv = _first_conv(model)
    weight = np.asarray(conv.weight.data)
    bias = None if conv.bias is None else np.asarray(conv.bias.data)
    batch = np.asarray(sample, dtype=weight.dtype)[None]
    maps = np.maximum(F.conv2d(batch, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups), 0)[0]
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        output = model(batch)
        predicted = int(np.argmax(np.asarray(getattr(output, "data", output)).reshape(-1)))
    finally:
        model.train(was_training)
    return predicted, maps


def figures(model: Any, history: dict[str, list[float]], sample: np.ndarray, sample_label: int) -> dict[str, Any]:
    """{file name: matplotlib Figure} of the three plots (close them with ``plt.close(fig)``)."""
    plt = _pyplot()
    predicted, maps = _predict_and_maps(model, sample)
    return {
        "curves.png": curves_figure(plt, history),
        "filters.png": filters_figure(plt, _first_conv(model).weight.data),
        "feature_maps.png": feature_maps_figure(plt, sample, maps, sample_label, predicted),
    }


def _savefig(fig: Any, path: Path) -> None:
    """``fig.savefig(path)`` through a temporary file in the same directory, renamed into place
    (:func:`vanilla_nn._io.atomic_path`)."""
    from .. import _io

    with _io.atomic_path(path) as temp:
        fig.savefig(temp, dpi=100, format="png")


def save_plots(model: Any, history: dict[str, list[float]], sample: np.ndarray, sample_label: int,
               paths: dict[str, Path] | Path | str) -> dict[str, Path]:
    """Write curves.png, filters.png and feature_maps.png; ``paths`` maps each name to its file, or is a folder.

    Returns the paths written.
    """
    if not isinstance(paths, dict):
        folder = Path(paths)
        paths = {name: folder / name for name in PLOT_FILES}
    plt = _pyplot()
    written = {}
    for name, fig in figures(model, history, sample, sample_label).items():
        try:
            _savefig(fig, Path(paths[name]))
        finally:
            plt.close(fig)
        written[name] = Path(paths[name])
    return written
