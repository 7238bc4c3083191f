"""The benchmark suite measures aiowsman as installed: its modules byte-compiled first.

The every-core contender's workers import aiowsman inside the timed part; an
installed package has bytecode (pip compiles it), a source checkout on a
machine with ``PYTHONDONTWRITEBYTECODE`` has none unless the suite makes it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmarks import _suite
from benchmarks._config import SMOKE


def test_preflight_byte_compiles_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "aiowsman"
    (package / "protocol").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "protocol" / "envelope.py").write_text("X = 1\n")
    monkeypatch.setattr(_suite, "ROOT", tmp_path)
    monkeypatch.setattr(_suite._machine, "describe", lambda: {})
    suite = _suite.Suite(SMOKE, [], tmp_path / "out")
    suite.preflight()
    for source in (package / "__init__.py", package / "protocol" / "envelope.py"):
        assert Path(importlib.util.cache_from_source(str(source))).is_file(), source
