"""`make demo` installs only what the demo runs: the `demo` extra is NumPy + the `cli` extra + PyTorch (no
TensorFlow, no MkDocs), the demo target installs that extra, and its compare step prints a summary table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _extras() -> dict[str, list[str]]:
    """pyproject.toml's optional-dependencies, read without a TOML parser (Python 3.10 has none)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras: dict[str, list[str]] = {}
    for name, body in re.findall(r"^([\w-]+)\s*=\s*\[(.*?)\]\s*$", section, flags=re.MULTILINE | re.DOTALL):
        extras[name] = re.findall(r'"([^"]+)"', body)
    return extras


def _resolve(extras: dict[str, list[str]], name: str) -> set[str]:
    """The requirement names an extra installs, following vanilla-nn[...] self-references."""
    found: set[str] = set()
    for requirement in extras[name]:
        self_reference = re.fullmatch(r"vanilla-nn\[([\w,-]+)\]", requirement)
        if self_reference:
            for inner in self_reference[1].split(","):
                found |= _resolve(extras, inner)
        else:
            found.add(re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower())
    return found


def test_demo_extra_is_cli_and_torch_only():
    extras = _extras()
    demo = _resolve(extras, "demo")
    assert demo == _resolve(extras, "cli") | {"torch"}
    assert not demo & {"tensorflow-cpu", "tensorflow", "mkdocs", "mkdocs-material", "pytest"}
    assert _resolve(extras, "test") > demo  # make test still installs everything the demo has, and more


def _recipe(makefile: str, target: str) -> str:
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n?)*)", makefile, flags=re.MULTILINE)
    assert found, f"no {target} target"
    return found[0]


def test_make_demo_installs_the_demo_extra():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = _recipe(makefile, "demo")
    assert "$(VENV)/.installed-demo" in demo.splitlines()[0]
    assert "pip install -e '.[demo]'" in _recipe(makefile, "$(VENV)/.installed-demo")
    assert "pip install -e '.[test]'" in _recipe(makefile, "$(VENV)/.installed-test")
    assert "$(VENV)/.installed-test" in _recipe(makefile, "test").splitlines()[0]
    compare = next(line for line in demo.splitlines() if "vanilla-nn compare" in line)
    assert "--show-arrays" not in compare and "--full" not in compare  # the compact table, not the arrays
    assert demo.rstrip().splitlines()[-1].lstrip("\t@").startswith("echo")  # ends with the closing note
    assert "du -sh $(VENV)" in demo  # which reports the .venv size
