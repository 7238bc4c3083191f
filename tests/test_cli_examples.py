"""Every command shown in ``aiowsman --help`` and in the docs runs, as written.

The commands are read from the help text and from the ``console`` blocks of
the docs (``$ aiowsman ...``), split as a POSIX shell splits them, and run
in a subprocess. Only the names of things that do not exist here change:
``server1`` becomes a simulated host that, like a default WinRM listener,
takes Negotiate (NTLM) with message encryption over HTTP, and ``hosts.txt``
a file naming two such hosts; ``admin``'s password is in
``AIOWSMAN_PASSWORD``. Commands of one page run in page order, in one
directory (``create`` before ``delete``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from aiowsman.testing import WSManTestServer
from aiowsman.testing.spnego_auth import NegotiateServerAuth, NTLMUserFile
from tests.cli_run import REPO, aiowsman

PASSWORD = "Adm1n-Pa55"
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]


def help_commands(help_text: str) -> list[str]:
    return [line.strip() for line in help_text.splitlines() if line.startswith("  aiowsman ")]


def page_commands(page: Path) -> list[str]:
    commands, in_console = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_console = line.strip() == "```console"
        elif in_console and line.startswith("$ aiowsman "):
            commands.append(line[2:])
    return commands


def argv_for(command: str, endpoint: str) -> list[str]:
    """The command's arguments (without ``aiowsman``), pointed at the test host."""
    words = shlex.split(command, comments=True)
    assert words[0] == "aiowsman", command
    out = []
    for word in words[1:]:
        if word == "server1":
            word = endpoint
        elif word.endswith(":server1"):
            word = word[: -len("server1")] + endpoint
        out.append(word)
    return out


@pytest_asyncio.fixture
async def windows_like() -> AsyncIterator[WSManTestServer]:
    with NTLMUserFile({"admin": PASSWORD}, domain="CORP"):
        async with WSManTestServer(
            hosts=2,
            auth=(),
            auth_handlers=[NegotiateServerAuth(require_encryption=True)],
            allow_unencrypted=False,
        ) as server:
            yield server


async def run_all(commands: list[str], server: WSManTestServer, where: Path) -> None:
    (where / "hosts.txt").write_text("\n".join(server.endpoints) + "\n")
    for command in commands:
        if argv_for(command, "")[:1] == ["demo"]:
            continue  # its own test below: it starts its own fleet
        code, out, err = await aiowsman(
            *argv_for(command, server.endpoints[0]), password=PASSWORD, cwd=where
        )
        assert code == 0, f"{command}\n{err}"
        assert "Traceback" not in err
        assert out or "-o" in command, command  # it printed its result somewhere


def test_the_help_and_the_docs_show_commands() -> None:
    documented = [c for page in PAGES for c in page_commands(page)]
    assert len(documented) >= 12
    assert any(page_commands(REPO / "docs" / "cli.md"))


async def test_every_command_of_the_help_runs(
    windows_like: WSManTestServer, tmp_path: Path
) -> None:
    code, help_text, _ = await aiowsman("--help")
    assert code == 0
    commands = help_commands(help_text)
    assert len(commands) >= 8
    await run_all(commands, windows_like, tmp_path)


@pytest.mark.parametrize("page", [p for p in PAGES if page_commands(p)], ids=lambda p: p.name)
async def test_every_command_of_the_docs_runs(
    page: Path, windows_like: WSManTestServer, tmp_path: Path
) -> None:
    await run_all(page_commands(page), windows_like, tmp_path)


async def test_the_documented_demo_runs_as_written(tmp_path: Path) -> None:
    demos = {c for page in PAGES for c in page_commands(page) if re.match(r"aiowsman demo\b", c)}
    assert "aiowsman demo" in {shlex.join(shlex.split(c, comments=True)) for c in demos}
    for command in sorted(demos):
        code, out, err = await aiowsman(*argv_for(command, ""), cwd=tmp_path, timeout=300)
        assert code == 0, f"{command}\n{err}"
        assert "simulated hosts, inventoried in" in out
