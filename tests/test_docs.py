"""The documentation is tested: every Python example on the site runs.

Each ```` ```python ```` block of the pages in :data:`RUN` (and README.md) is
executed, in page order, against a real :class:`aiowsman.testing.WSManTestServer`
on 127.0.0.1 (HTTPS with a trustme CA, Basic authentication). Blocks of one
page share one namespace, as in a notebook, and may use top-level ``await``
(compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``). The names a page may use
without defining them (the documented convention, see docs/quickstart.md):

* ``endpoint`` -- the URL of a host (``https://127.0.0.1:PORT/wsman``);
* ``username``, ``password`` -- credentials it accepts;
* ``ca_file`` -- the CA bundle (PEM) its certificate chains to;
* ``session`` -- an open :class:`aiowsman.AsyncSession` to it.

A ```` ```text ```` block right after a Python block is that block's expected
standard output, compared as doctest does with ELLIPSIS and
NORMALIZE_WHITESPACE; a block that prints without one fails, so an example
cannot silently print nonsense. A block preceded by
``<!-- not-tested: reason -->`` is not run; there must be few of them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import doctest
import inspect
import io
import os
import re
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from aiowsman import AsyncSession
from aiowsman.testing import ServerThread, WSManTestServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Pages whose Python blocks are run. Every page of docs/ is in RUN or in
#: SYNTAX_ONLY / NOT_CODE, so a new page cannot escape by accident.
RUN = [
    "README.md",
    "docs/index.md",
    "docs/quickstart.md",
    "docs/sessions.md",
    "docs/operations.md",
    "docs/enumeration.md",
    "docs/items.md",
    "docs/errors.md",
    "docs/scripting-api.md",
    "docs/testing.md",
    "docs/authentication.md",
    "docs/commands.md",
    "docs/psrp.md",
    "docs/coming-from.md",
    "docs/troubleshooting.md",
    "docs/events.md",
]
#: Pages written against hosts files or real fleets: their blocks must compile.
SYNTAX_ONLY = ["docs/fanout.md", "docs/cli.md", "docs/devices.md"]
#: Interface sketches (signatures without bodies), the generated API
#: reference, and a page of Windows-side (PowerShell) steps: no Python to run.
NOT_CODE = ["docs/internals.md", "docs/reference.md", "docs/windows-host.md"]

#: Pages that define ``test_*`` functions for the plugin's fixtures: how many.
DEFINED_TESTS = {"docs/testing.md": 3}

#: The most blocks the site may leave unrun (each with its reason).
MAX_NOT_TESTED = 6

#: Wall-clock bound of one block (it talks to loopback only).
BLOCK_DEADLINE = 60.0

USERNAME = "user"
PASSWORD = "pass"
NTLM_USER = "CORP\\alice"
NTLM_PASSWORD = "S3cret-Pa55"

_FENCE = re.compile(r"^```([\w+-]*)\s*$")
_NOT_TESTED = re.compile(r"^<!--\s*not-tested:\s*(\S.*?)\s*-->$")
_CHECKER = doctest.OutputChecker()
_CHECK_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    page: str
    line: int
    source: str
    expected: str | None = None
    not_tested: str | None = None


def blocks_of(page: str) -> list[Block]:
    """The python blocks of a page, with expected output and not-tested reasons."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous = ""  # last non-blank line outside a fence
    last_python: Block | None = None
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                previous = lines[i].strip()
                last_python = None
            i += 1
            continue
        lang, start = m.group(1), i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        text = "\n".join(body) + "\n"
        if lang == "python":
            reason = _NOT_TESTED.match(previous)
            block = Block(page, start + 1, text, not_tested=reason.group(1) if reason else None)
            blocks.append(block)
            last_python = block
        elif lang == "text" and last_python is not None and last_python.expected is None:
            last_python.expected = text
            last_python = None
        else:
            last_python = None
        previous = ""
    return blocks


# -- the servers pages run against ----------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    path = tmp_path_factory.mktemp("docs-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ctx, str(path)


@contextlib.asynccontextmanager
async def basic_tls_host(tls: ssl.SSLContext, ca_file: str) -> AsyncIterator[dict[str, Any]]:
    async with (
        WSManTestServer(tls=tls, users={USERNAME: PASSWORD}) as server,
        AsyncSession(
            server.endpoints[0],
            auth="basic",
            username=USERNAME,
            password=PASSWORD,
            verify=ca_file,
        ) as session,
    ):
        yield {
            "endpoint": server.endpoints[0],
            "username": USERNAME,
            "password": PASSWORD,
            "ca_file": ca_file,
            "session": session,
            "_server": server,
        }


@contextlib.asynccontextmanager
async def ntlm_http_host(tls: ssl.SSLContext, ca_file: str) -> AsyncIterator[dict[str, Any]]:
    """A plain-HTTP host that, like a default WinRM listener, takes only
    Negotiate (NTLM here) and CredSSP, with message encryption."""
    from aiowsman.testing.spnego_auth import CredSSPServerAuth, NegotiateServerAuth, NTLMUserFile

    with NTLMUserFile({"alice": NTLM_PASSWORD}, domain="CORP"):
        async with WSManTestServer(
            auth=(),
            auth_handlers=[
                NegotiateServerAuth(require_encryption=True),
                CredSSPServerAuth(require_encryption=True),
            ],
            allow_unencrypted=False,
        ) as server:
            yield {
                "endpoint": server.endpoints[0],
                "username": NTLM_USER,
                "password": NTLM_PASSWORD,
                "ca_file": ca_file,
                "_server": server,
            }


HostFactory = Callable[
    [ssl.SSLContext, str], contextlib.AbstractAsyncContextManager[dict[str, Any]]
]
HOSTS: dict[str, HostFactory] = {"docs/authentication.md": ntlm_http_host}


# -- running a page --------------------------------------------------------------


def _plugin_fixtures(thread: ServerThread) -> dict[str, Callable[[], Any]]:
    """The pytest plugin's fixtures, for the test functions a page defines."""

    def factory() -> Callable[..., WSManTestServer]:
        return lambda **kwargs: thread.start(WSManTestServer(**kwargs))

    return {
        "wsman_server": lambda: thread.start(WSManTestServer(users={USERNAME: PASSWORD})),
        "wsman_server_factory": factory,
        "wsman_credentials": lambda: (USERNAME, PASSWORD),
    }


async def _run_defined_tests(namespace: dict[str, Any], page: str) -> int:
    """Call the ``test_*`` coroutine functions a page defines, with plugin fixtures."""
    ran = 0
    for name, func in list(namespace.items()):
        if not (name.startswith("test_") and inspect.iscoroutinefunction(func)):
            continue
        with ServerThread() as thread:
            builders = _plugin_fixtures(thread)
            kwargs: dict[str, Any] = {}
            for param in inspect.signature(func).parameters:
                if param == "wsman_endpoint":
                    kwargs[param] = builders["wsman_server"]().endpoints[0]
                else:
                    assert param in builders, f"{page}: {name} uses unknown fixture {param}"
                    kwargs[param] = builders[param]()
            await asyncio.wait_for(func(**kwargs), BLOCK_DEADLINE)
        ran += 1
    return ran


def _run_block(runner: asyncio.Runner, block: Block, namespace: dict[str, Any]) -> str:
    code = compile(
        block.source,
        f"{block.page}:{block.line}",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = eval(code, namespace)  # our own documentation
        if inspect.iscoroutine(result):
            runner.run(asyncio.wait_for(result, BLOCK_DEADLINE))
    return out.getvalue()


def run_page(page: str, tls: ssl.SSLContext, ca_file: str) -> int:
    """Run every testable block of ``page``; returns how many ran."""
    blocks = [b for b in blocks_of(page) if b.not_tested is None]
    factory = HOSTS.get(page, basic_tls_host)
    with asyncio.Runner() as runner:
        host = factory(tls, ca_file)
        injected = runner.run(host.__aenter__())
        try:
            namespace: dict[str, Any] = {"__name__": "__docs__"}
            namespace.update({k: v for k, v in injected.items() if not k.startswith("_")})
            for block in blocks:
                printed = _run_block(runner, block, namespace)
                where = f"{page}:{block.line}"
                if block.expected is None:
                    assert printed == "", (
                        f"{where} prints but has no ```text block to check it:\n{printed}"
                    )
                else:
                    assert _CHECKER.check_output(block.expected, printed, _CHECK_FLAGS), (
                        f"{where} printed\n{printed}\nexpected\n{block.expected}"
                    )
            defined = runner.run(_run_defined_tests(namespace, page))
            assert defined == DEFINED_TESTS.get(page, 0), f"{page}: ran {defined} test functions"
        finally:
            runner.run(host.__aexit__(None, None, None))
    return len(blocks)


# -- the tests -------------------------------------------------------------------


@pytest.mark.parametrize("page", RUN)
def test_page_examples_run_and_print_what_the_page_says(
    page: str, tls_files: tuple[ssl.SSLContext, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Examples may start ``python -m aiowsman.testing``: let it import this tree.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    tls, ca_file = tls_files
    assert run_page(page, tls, ca_file) >= 1


def test_every_docs_page_is_run_or_accounted_for() -> None:
    pages = {str(p.relative_to(ROOT)) for p in DOCS.glob("*.md")}
    assert pages == set(RUN + SYNTAX_ONLY + NOT_CODE) - {"README.md"}


def test_examples_of_pages_written_for_real_fleets_compile() -> None:
    blocks = [b for page in SYNTAX_ONLY for b in blocks_of(page)]
    assert blocks
    for block in blocks:
        compile(
            block.source,
            f"{block.page}:{block.line}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )


def test_unrun_examples_are_few_and_each_gives_its_reason() -> None:
    skipped = [b for page in RUN for b in blocks_of(page) if b.not_tested is not None]
    assert len(skipped) <= MAX_NOT_TESTED, [f"{b.page}:{b.line}" for b in skipped]
    assert all(len(b.not_tested or "") >= 10 for b in skipped)
    # and they still compile
    for b in skipped:
        compile(b.source, f"{b.page}:{b.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_block_parser_pairs_a_text_block_with_the_python_block_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "<!-- not-tested: needs a real Windows host -->\n\n```python\nx = 1\n```\n\n"
        "```python\nprint(2)\n```\n\n```text\n2\n```\n\ntext\n\n```text\nloose\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    first, second = blocks_of("p.md")
    assert (first.not_tested, first.expected) == ("needs a real Windows host", None)
    assert (second.not_tested, second.expected) == (None, "2\n")


def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    # mkdocs is in the [test] extra: a missing mkdocs is a failure, not a skip.
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "sessions" / "index.html").is_file()
    # The API reference is generated from the docstrings (mkdocstrings).
    reference = (tmp_path / "reference" / "index.html").read_text(encoding="utf-8")
    assert "get_typed" in reference and "current_host" in reference


def test_mkdocs_nav_lists_every_page() -> None:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"([\w-]+\.(?:md|ipynb))", text))
    assert {p.name for p in DOCS.glob("*.md")} <= listed
