"""MkDocs hook: turn the LaTeX that ``pymdownx.arithmatex`` (generic mode) leaves in the HTML into MathML.

Browsers render MathML natively, so the built site shows its math with no JavaScript and no network.
A formula that ``latex2mathml`` cannot convert fails the build (with the page and the formula), so a typo
never ships as raw TeX.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.DOTALL)
_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.DOTALL)


def _mathml(tex: str, display: str, where: str) -> str:
    source = html.unescape(tex).strip()
    try:
        return convert(source, display=display)
    except Exception as error:  # latex2mathml raises several exception types
        raise PluginError(f"{where}: cannot convert math {source!r}: {error}") from error


def on_page_content(content: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs hook signature)
    where = page.file.src_uri
    content = _BLOCK.sub(lambda m: f'<div class="math-block">{_mathml(m.group(1), "block", where)}</div>',
                         content)
    return _INLINE.sub(lambda m: _mathml(m.group(1), "inline", where), content)
