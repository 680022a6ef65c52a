"""The built site works opened from disk: every link, image, script and stylesheet of every HTML page names a
file that exists (never a folder: from disk a folder shows a directory listing), and every #anchor names an id
in its target page. External links (http, https, mailto, data) are not followed."""

from __future__ import annotations

import html.parser
import urllib.parse
from pathlib import Path

import pytest
from _site import build_site

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")

_LINK_ATTRIBUTES = {"href", "src"}
_EXTERNAL = ("http", "https", "mailto", "data", "javascript", "tel", "ftp")


class _Page(html.parser.HTMLParser):
    """Every href/src (with its tag) and every id/name of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in _LINK_ATTRIBUTES:
                self.links.append((tag, value))
            elif name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def broken_links(site: Path) -> list[str]:
    """One line per link of ``site``'s HTML that does not resolve to a file (and anchor) on disk.

    ``404.html`` is skipped: a web server shows it for any missing URL, so its links are root-absolute.
    """
    pages: dict[Path, _Page] = {}

    def page(path: Path) -> _Page:
        if path not in pages:
            pages[path] = _parse(path)
        return pages[path]

    problems = []
    for source in sorted(site.rglob("*.html")):
        if source.relative_to(site) == Path("404.html"):
            continue  # served by a web server for any missing URL at any depth, hence root-absolute links
        for tag, link in page(source).links:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme in _EXTERNAL or parts.netloc:
                continue
            where = f"{source.relative_to(site)}: <{tag}> {link!r}"
            if parts.scheme:
                problems.append(f"{where}: unexpected scheme {parts.scheme!r}")
                continue
            if parts.path.startswith("/"):
                problems.append(f"{where}: absolute path (from disk it points at the file system's root)")
                continue
            target = (source.parent / urllib.parse.unquote(parts.path)).resolve() if parts.path else source
            if not target.is_relative_to(site.resolve()):
                problems.append(f"{where}: points outside the site")
            elif not target.is_file():
                kind = "a folder (a directory listing from disk)" if target.is_dir() else "missing"
                problems.append(f"{where}: {kind}")
            elif parts.fragment and target.suffix == ".html":
                anchor = urllib.parse.unquote(parts.fragment)
                if anchor not in page(target).ids:
                    problems.append(f"{where}: no id {anchor!r} in {target.relative_to(site.resolve())}")
    return problems


@pytest.fixture(scope="module")
def site() -> Path:
    build = build_site()
    assert build.returncode == 0, build.log
    return build.site


def test_every_link_resolves_to_a_file_and_anchor(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 10, "the build has too few pages"
    problems = broken_links(site)
    assert not problems, f"{len(problems)} broken link(s):\n" + "\n".join(problems[:60])


def test_site_is_made_for_disk(site):
    """Pages are files (derivation.html), figures are on the derivation page, search needs no server."""
    assert (site / "derivation.html").is_file() and not (site / "derivation").exists()
    derivation = _parse(site / "derivation.html")
    images = [link for tag, link in derivation.links if tag == "img"]
    assert any("figures/" in link for link in images)
    assert (site / "search" / "search_index.js").is_file()  # the offline plugin's inlined index
    scripts = [link for tag, link in _parse(site / "index.html").links if tag == "script"]
    assert not [s for s in scripts if urllib.parse.urlsplit(s).netloc], f"scripts from the network: {scripts}"


def test_the_crawler_finds_broken_links(tmp_path):
    """The check itself can fail: a folder link, a missing image, a missing anchor and an absolute path."""
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "a.html").write_text('<h2 id="there">x</h2>', encoding="utf-8")
    (tmp_path / "index.html").write_text(
        '<a href="guides/">folder</a><img src="figures/missing.png"><a href="guides/a.html#nowhere">x</a>'
        '<a href="guides/a.html#there">ok</a><a href="#top">self</a><p id="top"></p><a href="/abs.html">abs</a>'
        '<a href="https://example.org/">external</a>', encoding="utf-8")
    problems = broken_links(tmp_path)
    assert len(problems) == 4, problems
    assert any("'guides/'" in p and "folder" in p for p in problems)
    assert any("missing.png" in p and "missing" in p for p in problems)
    assert any("'nowhere'" in p for p in problems)
    assert any("absolute path" in p for p in problems)
