"""PowerShell over WinRS end to end: AsyncSession.run_ps against the test server.

The script goes as ``powershell -NoProfile -NonInteractive -EncodedCommand``
(or on stdin when too long for cmd.exe), its exit code is kept, stdout is
UTF-8 whatever the shell's code page, and the CLIXML on stderr comes back as
readable text and typed records.
"""

from __future__ import annotations

import base64

import pytest

from aiowsman import AsyncSession
from aiowsman.shell import CMD_LINE_LIMIT, powershell_command
from aiowsman.testing import ShellFamily, WSManTestServer


@pytest.fixture
def server(basic_server: WSManTestServer) -> WSManTestServer:
    return basic_server


@pytest.fixture
def session(basic_session: AsyncSession) -> AsyncSession:
    return basic_session


async def test_output_and_exit_code(session: AsyncSession) -> None:
    r = await session.run_ps("Write-Output 'one'\n'two'\nexit 3")
    assert (r.exit_code, r.stdout_text, r.errors) == (3, "one\r\ntwo\r\n", [])


async def test_a_native_programs_exit_code_is_the_scripts(session: AsyncSession) -> None:
    r = await session.run_ps("hostname\ncmd /c exit 7")
    assert r.exit_code == 7
    assert r.stdout_text == "HOST0000\r\n"


async def test_a_script_without_exit_exits_0(session: AsyncSession) -> None:
    assert (await session.run_ps("'fine'")).exit_code == 0


async def test_errors_come_back_as_records_and_readable_text(session: AsyncSession) -> None:
    r = await session.run_ps("Write-Output 'before'\nWrite-Error 'disk full'\n'after'")
    assert r.stdout_text == "before\r\nafter\r\n"
    assert [e.message for e in r.errors] == ["Write-Error 'disk full' : disk full"]
    assert r.errors[0].category_info == "NotSpecified: (:) [Write-Error], WriteErrorException"
    assert r.stderr_text.startswith("Write-Error 'disk full' : disk full\n    + CategoryInfo")
    assert r.stderr.startswith(b"#< CLIXML\r\n")  # the raw bytes are kept


async def test_a_terminating_error_exits_1(session: AsyncSession) -> None:
    r = await session.run_ps("throw 'stop here'\n'never'")
    assert r.exit_code == 1
    assert r.stdout == b""
    assert r.errors[0].fully_qualified_error_id == "stop here"


async def test_every_stream_is_kept_apart(session: AsyncSession) -> None:
    script = "\n".join(
        [
            "$VerbosePreference = 'Continue'",
            "$DebugPreference = 'Continue'",
            "$ProgressPreference = 'Continue'",
            "Write-Warning 'low disk'",
            "Write-Verbose 'checking'",
            "Write-Debug 'x=1'",
            "Write-Information 'note' -InformationAction Continue",
            "Write-Progress -Activity 'Copying' -Status 'half' -PercentComplete 50",
            "Write-Error 'bad'",
        ]
    )
    r = await session.run_ps(script)
    assert r.warnings == ["low disk"]
    assert r.verbose == ["checking"]
    assert r.debug == ["x=1"]
    assert r.information == ["note"]
    assert [(p.activity, p.status, p.percent_complete) for p in r.progress] == [
        ("Copying", "half", 50)
    ]
    assert [e.message for e in r.errors] == ["Write-Error 'bad' : bad"]
    assert r.stderr_text.splitlines()[:4] == [
        "WARNING: low disk",
        "VERBOSE: checking",
        "DEBUG: x=1",
        "note",
    ]


async def test_progress_is_silenced_by_the_prologue(session: AsyncSession) -> None:
    r = await session.run_ps("Write-Progress -Activity 'Copying'\n'done'")
    assert r.progress == [] and r.stderr == b""


async def test_non_ascii_and_surrogate_pairs_survive_both_streams(session: AsyncSession) -> None:
    text = "Grüße — こんにちは 😀𝄞"
    r = await session.run_ps(f"Write-Output '{text}'\nWrite-Warning '{text}'\nWrite-Error '{text}'")
    assert r.stdout_text == f"{text}\r\n"
    assert r.warnings == [text]
    assert r.errors[0].message.endswith(f": {text}")
    assert b"_xD83D__xDE00_" in r.stderr  # on the wire: UTF-16 code units


async def test_text_is_utf8_even_in_a_shell_with_another_code_page(
    session: AsyncSession,
) -> None:
    r = await session.run_ps("'naïve ☃'", codepage=437)
    assert r.stdout_text == "naïve ☃\r\n"
    assert r.codepage == 65001


async def test_environment_variables_reach_the_script(session: AsyncSession) -> None:
    r = await session.run_ps('"$env:STAGE on $env:COMPUTERNAME"', environment={"STAGE": "blue"})
    assert r.stdout_text == "blue on HOST0000\r\n"


async def test_a_long_script_goes_on_stdin(session: AsyncSession, server: WSManTestServer) -> None:
    script = "\n".join(f"Write-Output 'line {i:04d} é'" for i in range(600))
    line, stdin = powershell_command(script)
    assert stdin is not None and len(line) < CMD_LINE_LIMIT
    r = await session.run_ps(script)
    assert r.exit_code == 0
    assert r.stdout_text.splitlines()[-1] == "line 0599 é"
    assert server.host(0).stats.by_operation["Send"] >= 1


async def test_a_short_script_goes_in_the_command_line_as_utf16_base64() -> None:
    line, stdin = powershell_command("exit 4")
    assert stdin is None
    prefix = "powershell -NoProfile -NonInteractive -EncodedCommand "
    assert line.startswith(prefix)
    script = base64.b64decode(line[len(prefix) :]).decode("utf-16-le")
    assert script.startswith("$ProgressPreference = 'SilentlyContinue'\n")
    assert "exit 4\nexit $LASTEXITCODE" in script


async def test_run_ps_in_a_reused_shell(session: AsyncSession, server: WSManTestServer) -> None:
    async with session.shell() as sh:
        a = await sh.run_ps("'a'")
        b = await sh.run_ps("exit 2")
    assert (a.stdout_text, b.exit_code) == ("a\r\n", 2)
    assert len(server.host(0).family(ShellFamily).created) == 1


async def test_get_service_runs_as_powershell_writes_it(session: AsyncSession) -> None:
    r = await session.run_ps("Get-Service WinRM")
    assert "Running  WinRM              Windows Remote Management" in r.stdout_text
    r = await session.run_ps("Get-Service NoSuchService")
    assert "Cannot find any service with service name 'NoSuchService'" in r.errors[0].message
