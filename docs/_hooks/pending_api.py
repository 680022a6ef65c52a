"""MkDocs hook: leave out the API pages of modules that have not landed yet, and say so.

``extra.pending_api`` in mkdocs.yml maps an API page to the module it documents. While the module's source
is missing under ``src/``, the page is dropped from the build and the nav (mkdocstrings would fail the strict
build otherwise) and an INFO line names it. Once every module has landed, delete the mapping: from then on a
missing module fails the build as it should.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.pending_api")


def _module_exists(root: Path, module: str) -> bool:
    path = root / "src" / Path(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _missing_pages(config) -> set[str]:  # noqa: ANN001
    root = Path(config.config_file_path).parent
    pending = (config.extra or {}).get("pending_api", {}) or {}
    missing = set()
    for page, modules in pending.items():
        modules = [modules] if isinstance(modules, str) else list(modules)
        absent = [m for m in modules if not _module_exists(root, m)]
        if absent:
            log.info("API page %s left out: %s not in src/ yet", page, ", ".join(absent))
            missing.add(page)
    return missing


def _prune(nav, missing: set[str]):  # noqa: ANN001, ANN202
    if isinstance(nav, list):
        pruned = [_prune(item, missing) for item in nav]
        return [item for item in pruned if item is not None]
    if isinstance(nav, dict):
        pruned = {key: _prune(value, missing) for key, value in nav.items()}
        pruned = {key: value for key, value in pruned.items() if value not in (None, [])}
        return pruned or None
    return None if nav in missing else nav


def on_config(config):  # noqa: ANN001, ANN201
    missing = _missing_pages(config)
    config["extra"]["_missing_api_pages"] = sorted(missing)
    if missing and config["nav"]:
        config["nav"] = _prune(config["nav"], missing)
    return config


def on_files(files, config):  # noqa: ANN001, ANN201
    for page in config["extra"].get("_missing_api_pages", []):
        found = files.get_file_from_path(page)
        if found is not None:
            files.remove(found)
    return files
