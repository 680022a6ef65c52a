"""The documentation site, built once per test session (MkDocs, strict) and shared by the tests that need it.

``VANILLA_NN_SITE_DIR`` names an existing build to use instead (e.g. ``site/`` after ``make docs``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SiteBuild:
    site: Path
    returncode: int
    log: str


@functools.lru_cache(maxsize=1)
def build_site() -> SiteBuild:
    """``mkdocs build --strict`` into a temporary directory (kept until the process ends), once per session."""
    existing = os.environ.get("VANILLA_NN_SITE_DIR")
    if existing:
        return SiteBuild(Path(existing), 0, f"using the existing build in {existing}")
    site = Path(tempfile.mkdtemp(prefix="vanilla-nn-site-")) / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                             "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return SiteBuild(site, result.returncode, result.stdout + result.stderr)
