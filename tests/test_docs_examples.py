"""Every code example in the docs and the README runs, so the docs cannot drift from the code.

- Each ```python block of ``docs/**/*.md`` and ``README.md`` runs, in page order, in one namespace per page
  (a page reads like one interpreter session). A block written as a ``>>>`` session runs as a doctest, so
  its printed output is checked too.
- A block is skipped only when an HTML comment right before it says so:
  ``<!-- docs-test: requires vanilla_nn.gradcheck -->`` skips it while that module cannot be imported (code
  still to land; it runs as soon as the module exists), ``<!-- docs-test: skip REASON -->`` always.
  Shell, text and output blocks (```console, ```bash, ```text ...) are never run.
- The docstring examples of every ``vanilla_nn`` module run as doctests.
- ``docs/figures/make_figures.py`` runs and writes every figure the pages show.
- ``mkdocs build --strict`` succeeds when MkDocs is installed (``pip install -e '.[docs]'``): a renamed
  function that a page links to or renders breaks the build, and so this test.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from _site import build_site

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FIGURES = ROOT / "docs" / "figures"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<verb>requires|skip)\b\s*(?P<arg>.*?)\s*-->")
_DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    language: str
    code: str
    directive: tuple[str, str] | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _language(info: str) -> str:
    """The language of a fence's info string: ``python``, ``{.python title="x"}`` and ``py`` all read python."""
    word = info.strip().lstrip("{").lstrip(".").split(" ")[0].split("}")[0].lower()
    return {"py": "python", "python3": "python", "pycon": "python"}.get(word, word)


def code_blocks(path: Path) -> list[Block]:
    """All fenced code blocks of a Markdown file, with the docs-test directive right before each, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^{re.escape(indent)}{fence[0]}{{{len(fence)},}}\s*$", lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        directive = None
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0 and (found := _DIRECTIVE.search(lines[k])):
            directive = (found["verb"], found["arg"])
        blocks.append(Block(path, i + 1, _language(opening["info"]), textwrap.dedent("\n".join(body)) + "\n",
                            directive))
        i = j + 1
    return blocks


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _run_block(block: Block, namespace: dict) -> None:
    if ">>>" in block.code:
        test = doctest.DocTestParser().get_doctest(block.code, namespace, block.where, str(block.path), block.line)
        runner = doctest.DocTestRunner(optionflags=_DOCTEST_FLAGS)
        runner.run(test, clear_globs=False)
        if runner.failures:
            pytest.fail(f"{block.where}: {runner.failures} doctest example(s) failed (output above)")
    else:
        exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102 (running the docs is the point)


def _pages_with_python() -> list[Path]:
    return [p for p in DOC_FILES if p.exists() and any(b.language == "python" for b in code_blocks(p))]


@pytest.mark.parametrize("path", _pages_with_python(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)               # examples that write files write them here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__docs__"}
    skipped = []
    ran = 0
    for block in code_blocks(path):
        if block.language != "python":
            continue
        if block.directive:
            verb, arg = block.directive
            if verb == "skip":
                skipped.append(f"{block.where}: {arg}")
                continue
            missing = [name for name in arg.split() if not _module_available(name)]
            if missing:
                skipped.append(f"{block.where}: requires {', '.join(missing)}")
                continue
        _run_block(block, namespace)
        ran += 1
    if not ran:
        pytest.skip("every python block is waiting on code: " + "; ".join(skipped))
    if skipped:
        print("skipped blocks:", *skipped, sep="\n  ")


def test_every_python_block_is_run_or_says_why() -> None:
    """A directive must be well formed: ``requires`` names modules, ``skip`` gives a reason."""
    for path in DOC_FILES:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for comment in re.findall(r"<!--\s*docs-test.*?-->", text, flags=re.DOTALL):
            found = _DIRECTIVE.fullmatch(comment.strip())
            assert found and found["arg"], f"{path.relative_to(ROOT)}: malformed directive {comment!r}"


def test_derivation_checks_its_math() -> None:
    """The derivation's numerical checks are real code: at least a handful of python blocks, none skipped."""
    blocks = [b for b in code_blocks(ROOT / "docs" / "derivation.md") if b.language == "python"]
    assert len(blocks) >= 5
    assert not [b.where for b in blocks if b.directive]


# --- docstring examples of the package ------------------------------------------------------------------

def _package_modules() -> list[str]:
    import vanilla_nn

    names = ["vanilla_nn"]
    for info in pkgutil.walk_packages(vanilla_nn.__path__, prefix="vanilla_nn."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _package_modules())
def test_docstring_examples(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:  # an optional extra that is not installed
        pytest.skip(f"{module_name} needs an optional package: {error}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=_DOCTEST_FLAGS)
    for test in finder.find(module, module_name):
        if test.filename and Path(test.filename).resolve() != Path(module.__file__).resolve():
            continue  # re-exported objects are tested in the module that defines them
        runner.run(test)
    assert not runner.failures, f"{module_name}: {runner.failures} docstring example(s) failed (output above)"


def test_package_has_docstring_examples() -> None:
    """Guard against the doctest collection silently finding nothing."""
    import vanilla_nn.functional.conv as conv

    examples = sum(len(t.examples) for t in doctest.DocTestFinder().find(conv))
    assert examples > 0


# --- figures and the site ---------------------------------------------------------------------------------

def test_figure_script_writes_every_figure_the_pages_use(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, str(FIGURES / "make_figures.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    written = {p.name for p in tmp_path.glob("*.png")}
    used = set()
    for path in DOC_FILES:
        if path.exists():
            used |= set(re.findall(r"figures/([\w.-]+\.png)", path.read_text(encoding="utf-8")))
    assert used, "no page shows a figure"
    assert used <= written, f"pages show figures the script does not make: {sorted(used - written)}"
    committed = {p.name for p in FIGURES.glob("*.png")}
    assert used <= committed, f"figures not committed (run make docs): {sorted(used - committed)}"
    for name in written:
        assert (tmp_path / name).stat().st_size > 5_000, f"{name} looks empty"


def test_site_builds_strict() -> None:
    """The strict build, made once per session and shared with tests/test_site_links.py's crawl."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    build = build_site()
    assert build.returncode == 0, build.log
    assert (build.site / "derivation.html").exists()
