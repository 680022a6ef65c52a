"""`vanilla-nn --version` and `vanilla_nn.__version__`: one number, from the installed distribution's metadata,
which pip took from pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vanilla_nn
from vanilla_nn import cli

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _pyproject_version() -> str:
    found = re.search(r'^version\s*=\s*"([^"]+)"', PYPROJECT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert found, "pyproject.toml has no version line"
    return found[1]


def test_dunder_version_is_the_installed_distributions():
    assert vanilla_nn.__version__ == importlib.metadata.version("vanilla-nn")
    assert vanilla_nn.__version__ == _pyproject_version()


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"vanilla-nn {vanilla_nn.__version__}"


def test_cli_version_in_a_fresh_process():
    result = subprocess.run([sys.executable, "-m", "vanilla_nn.cli", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"vanilla-nn {_pyproject_version()}"
