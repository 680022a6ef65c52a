"""MkDocs hook: drop Sphinx roles (``:func:`x```, ``:mod:`x```...) that docstrings use, keeping the code.

mkdocstrings renders Google-style docstrings as Markdown, where ``:func:`conv2d``` would otherwise show the
role's name in front of the code span.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:func|mod|class|meth|attr|data|exc|obj):(?=<code>)")


def on_page_content(content: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs hook signature)
    return _ROLE.sub("", content)
