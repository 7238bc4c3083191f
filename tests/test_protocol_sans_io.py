"""aiowsman.protocol is sans-IO: no module in it imports an event loop or a network library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aiowsman.protocol

PACKAGE = Path(aiowsman.protocol.__file__).parent
FORBIDDEN = {"asyncio", "aiohttp", "socket", "ssl", "http", "urllib3", "requests", "selectors"}


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_module_imports_no_io_library(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


def test_public_names_are_exported() -> None:
    for name in aiowsman.protocol.__all__:
        assert hasattr(aiowsman.protocol, name), name
