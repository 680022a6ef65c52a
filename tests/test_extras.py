"""A missing optional dependency is one line naming the extra to install, never a traceback."""

from __future__ import annotations

import sys

import pytest

from vanilla_nn import cli
from vanilla_nn._extras import MissingExtra, import_optional


def test_import_optional_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(MissingExtra, match=r"the digits dataset needs scikit-learn.*vanilla-nn\[cli\]"):
        import_optional("sklearn.datasets", "cli", "the digits dataset", package="scikit-learn")


@pytest.mark.parametrize("command", [["train", "--epochs", "1", "--no-progress"],
                                     ["predict", "--weights", "missing.npz"]])
def test_cli_reports_a_missing_extra_in_one_line(monkeypatch, capsys, tmp_path, command):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    if command[0] == "predict":  # weights that exist, so the dataset is the first thing missing
        from vanilla_nn.models import lenet
        from vanilla_nn.nn import serialization

        command = ["predict", "--weights", str(serialization.save(lenet().state_dict(), tmp_path / "m.npz"))]
    else:
        command = [*command, "--out", str(tmp_path)]
    assert cli.main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "scikit-learn" in err and "pip install 'vanilla-nn[cli]'" in err and "Traceback" not in err
