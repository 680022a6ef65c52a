"""The training plots (vanilla_nn.commands._plots): the files exist with a sensible size, and the figures show
what a person needs: a log-scale loss, colour bars, the true and the predicted label, titles."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from vanilla_nn.commands import _plots  # noqa: E402
from vanilla_nn.models import lenet  # noqa: E402

HISTORY = {"loss": [2.3, 0.6, 0.1, 0.02, 0.004], "train_accuracy": [0.3, 0.8, 0.95, 0.99, 1.0],
           "test_accuracy": [0.4, 0.8, 0.93, 0.96, 0.97]}


@pytest.fixture
def model_and_sample():
    model = lenet(channels=(6, 8), hidden=16, rng=0)
    sample = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    return model, sample


def test_plot_files_exist_with_a_sensible_size(tmp_path, model_and_sample):
    import matplotlib.image

    model, sample = model_and_sample
    written = _plots.save_plots(model, HISTORY, sample, 3, tmp_path)
    assert sorted(written) == sorted(_plots.PLOT_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(_plots.PLOT_FILES)  # no temporary files left
    for name in _plots.PLOT_FILES:
        path = tmp_path / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert 10_000 < path.stat().st_size < 2_000_000, (name, path.stat().st_size)
        height, width = matplotlib.image.imread(path).shape[:2]
        assert 300 <= height <= 2000 and 500 <= width <= 2000, (name, height, width)


def test_figures_say_what_they_show(model_and_sample):
    import matplotlib.pyplot as plt

    model, sample = model_and_sample
    model.train()
    figures = _plots.figures(model, HISTORY, sample, 3)
    try:
        loss_axes, accuracy_axes = figures["curves.png"].axes
        assert loss_axes.get_yscale() == "log"
        assert "loss" in loss_axes.get_title() and "log" in loss_axes.get_ylabel()
        assert "97.00%" in accuracy_axes.get_title()  # the final test accuracy
        assert [line.get_label() for line in accuracy_axes.get_lines()] == ["train", "test"]

        for name, label in (("filters.png", "weight value"), ("feature_maps.png", "activation")):
            fig = figures[name]
            assert fig.get_suptitle(), name
            colour_bars = [ax for ax in fig.axes if ax.get_ylabel() == label]
            assert len(colour_bars) == 1, name

        filters = figures["filters.png"]
        images = [ax.get_images()[0] for ax in filters.axes if ax.get_images()]
        assert len(images) == 6
        assert len({image.get_clim() for image in images}) == 1  # one shared scale, centred on 0
        low, high = images[0].get_clim()
        assert low == -high and high > 0

        logits = model(sample[None])
        predicted = int(np.argmax(logits))
        title = figures["feature_maps.png"].axes[0].get_title()
        assert "true 3" in title and f"predicted {predicted}" in title
        assert ("(right)" in title) == (predicted == 3)
        assert model.training  # the plot put the model in eval mode for the prediction, then back
    finally:
        for fig in figures.values():
            plt.close(fig)


def test_loss_with_zero_stays_linear(model_and_sample):
    import matplotlib.pyplot as plt

    fig = _plots.curves_figure(plt, {"loss": [1.0, 0.0], "train_accuracy": [0.5, 1.0], "test_accuracy": []})
    try:
        assert fig.axes[0].get_yscale() == "linear"  # log of 0 would hide the point
    finally:
        plt.close(fig)


def test_a_failed_write_leaves_the_old_file(tmp_path, model_and_sample, monkeypatch):
    from matplotlib.figure import Figure

    model, sample = model_and_sample
    (tmp_path / "curves.png").write_bytes(b"old")

    def broken_savefig(self, fname, *args, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        _plots.save_plots(model, HISTORY, sample, 3, tmp_path)
    assert (tmp_path / "curves.png").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
