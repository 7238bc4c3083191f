"""What ``pip install aiowsman`` gives: a small clean sdist and wheel, and a
pytest plugin that never breaks a test suite.

``python -m build`` makes both distributions once for this module; the
plugin is then tried as a user meets it: the wheel installed in a clean
virtualenv with nothing but plain pytest (and, separately, pytest-asyncio in
its default strict mode). Package installs go through pip as configured
(its cache and the package registry).
"""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP_BOUND = 600  # seconds for one pip install (a cold cache downloads the dependencies)


def _run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the backend (hatchling) is in the test extra, so the
    # build needs no download of its own.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, timeout=300)
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


# -- the distributions ------------------------------------------------------------------


def test_sdist_is_small_and_holds_source_tests_and_docs_only(dist: dict[str, Path]) -> None:
    sdist = dist["sdist"]
    assert sdist.stat().st_size < 1_500_000, f"{sdist.stat().st_size} bytes"
    with tarfile.open(sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
        unpacked = sum(m.size for m in tar.getmembers())
    assert unpacked < 5_000_000, f"{unpacked} bytes unpacked"
    assert "aiowsman/py.typed" in names and "LICENSE" in names and "pyproject.toml" in names
    assert any(n.startswith("tests/corpus/") for n in names)
    assert any(n.startswith("docs/") for n in names)
    assert not [n for n in names if n.startswith("benchmarks/results")]
    assert not [n for n in names if n.endswith((".html", ".pyc", ".png")) or "/.venv" in n]


def test_wheel_is_the_package_with_its_entry_points(dist: dict[str, Path]) -> None:
    wheel = dist["wheel"]
    assert wheel.stat().st_size < 600_000
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(info).decode()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"aiowsman"}
    assert "aiowsman/py.typed" in names
    assert "aiowsman = aiowsman.cli:main" in entry_points
    assert "aiowsman = aiowsman.testing.pytest_plugin" in entry_points


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(info).decode())


def test_metadata_has_project_urls_and_a_description_for_pypi(dist: dict[str, Path]) -> None:
    meta = _metadata(dist["wheel"])
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    # Only addresses that exist: the protocol specifications (the project has
    # no published repository or documentation site yet).
    assert urls and all(u.startswith("https://") for u in urls.values())
    assert not any("aiowsman" in u for u in urls.values()), urls
    description = meta.get_payload()
    assert isinstance(description, str) and "pip install aiowsman" in description
    # No link a PyPI page cannot follow, no command of a development checkout.
    links = re.findall(r"\]\(([^)]+)\)", description)
    assert links and all(link.startswith("https://") for link in links), links
    assert ".venv/bin" not in description and "pip install -e" not in description


# -- the pytest plugin, installed -------------------------------------------------------

UNRELATED_SUITE = """
def test_arithmetic():
    assert 1 + 1 == 2
"""

SYNC_SUITE = """
import asyncio

from aiowsman import AsyncSession


def test_a_synchronous_test_can_use_the_fixtures(wsman_endpoint, wsman_credentials):
    user, password = wsman_credentials

    async def name():
        async with AsyncSession(wsman_endpoint, auth="basic", username=user,
                                password=password, allow_unencrypted=True) as session:
            return (await session.get("wmicimv2/Win32_ComputerSystem"))["Name"]

    assert asyncio.run(name()) == "HOST0000"
"""


def _plugin_examples() -> str:
    """The test functions docs/testing.md shows for the plugin, verbatim."""
    page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    [block] = [b for b in blocks if "@pytest.mark.asyncio" in b]
    return block


@pytest.fixture(scope="module")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", where)
    python = where / "bin" / "python"
    _run(
        python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
        dist["wheel"], "pytest", timeout=PIP_BOUND,
    )  # fmt: skip
    yield python


def _pytest(python: Path, suite: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# The tests below share one virtualenv and run in this order: the last one
# adds pytest-asyncio to it.


def test_clean_virtualenv_has_only_the_wheel_and_plain_pytest(venv: Path) -> None:
    installed = _run(venv, "-m", "pip", "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in installed.split()}
    assert "aiowsman" in names and "pytest" in names
    assert not names & {"pytest-asyncio", "trustme", "anyio", "pytest-timeout"}


def test_an_unrelated_suite_runs_with_the_plugin_installed(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_SUITE)
    result = _pytest(venv, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    # ... and the plugin was loaded, only not in the way.
    trace = _pytest(venv, tmp_path, "--trace-config")
    assert "aiowsman.testing.pytest_plugin" in trace.stdout


def test_fixtures_work_in_a_synchronous_test_without_an_asyncio_plugin(
    venv: Path, tmp_path: Path
) -> None:
    (tmp_path / "test_sync.py").write_text(SYNC_SUITE)
    result = _pytest(venv, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_documented_examples_pass_under_pytest_asyncio_strict_mode(
    venv: Path, tmp_path: Path
) -> None:
    _run(
        venv, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pytest-asyncio",
        timeout=PIP_BOUND,
    )  # fmt: skip
    (tmp_path / "test_docs_examples.py").write_text(_plugin_examples())
    # No ini file: pytest-asyncio's default mode, strict.
    result = _pytest(venv, tmp_path, "-W", "error::pytest.PytestUnraisableExceptionWarning")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    header = subprocess.run(
        [str(venv), "-m", "pytest", "--co", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    ).stdout  # fmt: skip
    assert "mode=strict" in header.lower().replace("mode.strict", "mode=strict"), header
