"""Every code example in the docs and the README runs, so the docs cannot drift from the code.

- Each ```python block of ``docs/**/*.md`` and ``README.md`` runs, in page order, in one namespace per page
  (a page reads like one interpreter session). A block written as a ``>>>`` session runs as a doctest, so
  its printed output is checked too.
- A block is skipped only when an HTML comment right before it says so:
  ``<!-- docs-test: requires vanilla_nn.gradcheck -->`` skips it while that module cannot be imported (code
  still to land; it runs as soon as the module exists), ``<!-- docs-test: skip REASON -->`` always.
  Shell, text and output blocks (```console, ```bash, ```text ...) are never run.
- A ```text block with ``title="Output"`` right after a python block (nothing but blank lines between) is
  that block's printed output: the block's stdout must match it (doctest's rules: ``...`` matches anything,
  runs of whitespace are equal). On the derivation page every example prints, and shows what it prints.
- The docstring examples of every ``vanilla_nn`` module run as doctests.
- ``docs/figures/make_figures.py`` runs and writes every figure the pages show.
- ``mkdocs build --strict`` succeeds when MkDocs is installed (``pip install -e '.[docs]'``): a renamed
  function that a page links to or renders breaks the build, and so this test.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
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
    info: str = ""
    end: int = 0       # 1-based line of the closing fence

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


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
                            directive, opening["info"], j + 1))
        i = j + 1
    return blocks


def _is_output(block: Block) -> bool:
    return block.language == "text" and re.search(r'title="Output"', block.info) is not None


def with_outputs(path: Path) -> list[tuple[Block, Block | None]]:
    """Each block of ``path`` paired with the Output block that directly follows it, if any."""
    blocks = code_blocks(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = []
    for index, block in enumerate(blocks):
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        adjacent = following is not None and not any(line.strip() for line in lines[block.end:following.line - 1])
        pairs.append((block, following if adjacent and _is_output(following) else None))
    return pairs


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _run_block(block: Block, namespace: dict, output: Block | None = None) -> None:
    if output is not None:
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            _run_block(block, namespace)
        checker = doctest.OutputChecker()
        got = captured.getvalue()
        if not checker.check_output(output.code, got, _DOCTEST_FLAGS):
            pytest.fail(f"{block.where}: the printed output differs from the Output block at {output.where}:\n"
                        f"shown:\n{output.code}\nprinted:\n{got}")
        return
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
    for block, output in with_outputs(path):
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
        _run_block(block, namespace, output)
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
    """The derivation's numerical checks are real code: at least a handful of python blocks, none skipped,
    and every example after the imports shows its output (a doctest, or an Output block under it)."""
    pairs = [(b, out) for b, out in with_outputs(ROOT / "docs" / "derivation.md") if b.language == "python"]
    assert len(pairs) >= 5
    assert not [b.where for b, _ in pairs if b.directive]
    silent = [b.where for b, out in pairs[1:] if out is None and ">>>" not in b.code]
    assert not silent, f"examples without their printed output shown under them: {silent}"


def test_derivation_uses_public_names_only() -> None:
    """No example imports from a private module (a name starting with an underscore)."""
    code = "".join(b.code for b in code_blocks(ROOT / "docs" / "derivation.md") if b.language == "python")
    private = re.findall(r"^\s*(?:>>> )?(?:from|import)\s+([\w.]*\._\w+)", code, flags=re.MULTILINE)
    assert not private, f"private modules imported on the derivation page: {private}"


def test_output_blocks_are_checked(tmp_path) -> None:
    """An Output block that does not match what its example prints fails the page."""
    page = tmp_path / "page.md"
    page.write_text('```python\nprint(1 + 1)\n```\n\n```text title="Output"\n3\n```\n', encoding="utf-8")
    (block, output), _ = with_outputs(page)
    assert output is not None and output.code == "3\n"
    with pytest.raises(pytest.fail.Exception, match="printed output differs"):
        _run_block(block, {}, output)
    page.write_text('```python\nprint(1 + 1)\n```\n\n```text title="Output"\n2\n```\n', encoding="utf-8")
    (block, output), _ = with_outputs(page)
    _run_block(block, {}, output)


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
    used -= {"bench.png", "network.png"}  # the benchmark charts are copied by make_bench_page.py (next test)
    assert used <= written, f"pages show figures the script does not make: {sorted(used - written)}"
    committed = {p.name for p in FIGURES.glob("*.png")}
    assert used <= committed, f"figures not committed (run make docs): {sorted(used - committed)}"
    for name in written:
        assert (tmp_path / name).stat().st_size > 5_000, f"{name} looks empty"


def test_benchmark_page_is_the_latest_run(tmp_path) -> None:
    """docs/benchmarks.md and its chart are what make_bench_page.py makes from benchmarks/results/ now."""
    result = subprocess.run([sys.executable, str(FIGURES / "make_bench_page.py"), "--docs", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    made = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    table = (ROOT / "benchmarks" / "results" / "bench.md").read_text(encoding="utf-8")
    assert "| case |" in made and all(line in made for line in table.splitlines() if line.startswith("|"))
    stale = "stale: run python docs/figures/make_bench_page.py (or make docs) and commit the result"
    assert (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8") == made, f"docs/benchmarks.md is {stale}"
    for chart in ("bench.png", "network.png"):
        assert (FIGURES / chart).read_bytes() == (tmp_path / "figures" / chart).read_bytes(), \
            f"docs/figures/{chart} is {stale}"
    # every part the run wrote is on the page: the one-thread suite, the networks and their profile, MPI, the tape
    results = ROOT / "benchmarks" / "results"
    for part in ("one_thread/bench.md", "network.md", "distributed.md"):
        assert all(line in made for line in (results / part).read_text(encoding="utf-8").splitlines()
                   if line.startswith("|")), part
    assert "figures/network.png" in made and "tape's overhead" in made


def test_site_builds_strict() -> None:
    """The strict build, made once per session and shared with tests/test_site_links.py's crawl."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    build = build_site()
    assert build.returncode == 0, build.log
    assert (build.site / "derivation.html").exists()
