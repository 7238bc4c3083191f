"""The test server's cmd.exe and powershell.exe follow their documented rules.

Programs run here without HTTP: a command line goes in, stdout, stderr and
the exit code come out (aiowsman.testing._cmd / _powershell docstrings).
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from aiowsman.testing._cmd import (
    STATUS_CONTROL_C_EXIT,
    Context,
    Environment,
    ProgramIO,
    SimProcess,
    run_command_line,
    split_arguments,
)
from aiowsman.testing._powershell import clixml_string


def _ctx(codepage: int = 65001, **kw: object) -> Context:
    env = Environment({"COMPUTERNAME": "HOST0007", "USERNAME": "alice", "Greeting": "hello"})
    return Context(
        hostname="HOST0007",
        user="alice",
        environment=env,
        cwd="C:\\Users\\alice",
        codepage=codepage,
        ping_interval=0.01,
        services=lambda: [
            ("WinRM", "Running", "Windows Remote Management (WS-Management)"),
            ("Spooler", "Stopped", "Print Spooler"),
        ],
        **kw,  # type: ignore[arg-type]
    )


def _start(
    line: str, *, codepage: int = 65001, limit: int = 256 * 1024, **kw: object
) -> SimProcess:
    """``line`` running in a simulated process (not awaited)."""
    proc = SimProcess(limit=limit)
    ctx = _ctx(codepage, **kw)

    async def main(p: SimProcess) -> int:
        io = ProgramIO(p.source(), p.sink("stdout"), p.sink("stderr"), codepage)
        return await run_command_line(io, ctx, line)

    proc.start(main)
    return proc


async def _run(
    line: str, *, stdin: bytes | None = None, codepage: int = 65001, **kw: object
) -> tuple[bytes, bytes, int | None]:
    proc = _start(line, codepage=codepage, **kw)
    if stdin is not None:
        proc.feed(stdin, end=True)
    assert proc.task is not None
    await asyncio.wait_for(proc.task, 10)
    streams = frozenset({"stdout", "stderr"})
    taken = proc.take(streams, 10_000_000)
    out = b"".join(d for s, d in taken if s == "stdout")
    err = b"".join(d for s, d in taken if s == "stderr")
    return out, err, proc.exit_code


def _ps(script: str) -> str:
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    return f"powershell -NoProfile -NonInteractive -EncodedCommand {encoded}"


# -- cmd.exe -----------------------------------------------------------------------------


async def test_echo_prints_the_rest_of_the_line_as_written() -> None:
    assert await _run('echo "quoted"  text') == (b'"quoted"  text\r\n', b"", 0)


async def test_echo_keeps_the_space_before_an_operator() -> None:
    out, _, _ = await _run("echo one & echo two")
    assert out == b"one \r\ntwo\r\n"


async def test_percent_variables_expand_before_parsing_and_unknown_ones_stay() -> None:
    out, _, _ = await _run("echo %greeting% %NOPE% 100%%")
    assert out == b"hello %NOPE% 100%\r\n"


async def test_exit_sets_the_exit_code_and_stops_the_line() -> None:
    assert await _run("echo before & exit /b 7 & echo after") == (b"before \r\n", b"", 7)


async def test_and_and_or_run_by_the_previous_exit_code() -> None:
    out, _, code = await _run("nosuch && echo skipped || echo fallback")
    assert out == b"fallback\r\n"
    assert code == 0


async def test_redirections_move_stdout_to_stderr_and_back() -> None:
    assert await _run("echo oops 1>&2") == (b"", b"oops \r\n", 0)
    assert (await _run("nosuch 2>&1"))[0:1] == (
        b"'nosuch' is not recognized as an internal or external command,\r\n"
        b"operable program or batch file.\r\n",
    )
    assert await _run("echo gone >nul") == (b"", b"", 0)


async def test_an_unknown_program_exits_9009_with_cmds_message() -> None:
    out, err, code = await _run("frobnicate --now")
    assert (out, code) == (b"", 9009)
    assert err.startswith(b"'frobnicate' is not recognized")


async def test_a_pipe_feeds_one_programs_output_to_the_next() -> None:
    out, _, code = await _run("ping -n 2 localhost | findstr Reply")
    assert out == b"Reply from 127.0.0.1: bytes=32 time<1ms TTL=128\r\n" * 2
    assert code == 0


async def test_a_pipe_reader_that_stops_early_does_not_block_the_writer() -> None:
    out, _, code = await _run("aiowsman-bytes 2000000 | hostname")
    assert (out, code) == (b"HOST0007\r\n", 0)


async def test_output_is_encoded_in_the_console_code_page() -> None:
    assert (await _run("echo é½€", codepage=850))[0] == "é½?\r\n".encode("cp850")
    assert (await _run("echo é½€", codepage=65001))[0] == "é½€\r\n".encode()
    assert (await _run("echo こんにちは", codepage=932))[0] == "こんにちは\r\n".encode("cp932")


async def test_more_copies_stdin_line_by_line() -> None:
    assert await _run("more", stdin=b"a\nb\r\nc") == (b"a\r\nb\r\nc\r\n", b"", 0)


async def test_findstr_filters_stdin_without_case_with_i() -> None:
    out, _, code = await _run("findstr /i ALPHA", stdin=b"alpha one\nbeta\nAlpha two\n")
    assert (out, code) == (b"alpha one\r\nAlpha two\r\n", 0)


async def test_findstr_without_a_match_exits_1() -> None:
    assert (await _run("findstr zzz", stdin=b"a\n"))[2] == 1


async def test_sort_orders_stdin_lines_without_case() -> None:
    assert (await _run("sort", stdin=b"b\nA\nc\n"))[0] == b"A\r\nb\r\nc\r\n"


async def test_set_lists_sets_and_cmd_expands_the_line_first() -> None:
    out, _, _ = await _run("set X=1 & set X & echo %X%")
    # %X% was expanded (to nothing defined, so as written) before set ran.
    assert out == b"X=1 \r\n%X%\r\n"


async def test_ping_writes_replies_and_statistics() -> None:
    out, _, code = await _run("ping -n 3 localhost")
    text = out.decode()
    assert text.count("Reply from 127.0.0.1") == 3
    assert "Packets: Sent = 3, Received = 3, Lost = 0 (0% loss)," in text
    assert code == 0


async def test_ping_t_runs_until_ctrl_c_then_prints_statistics() -> None:
    proc = _start("ping -t localhost")
    await asyncio.sleep(0.05)
    assert not proc.done
    proc.interrupt()
    assert proc.task is not None
    await asyncio.wait_for(proc.task, 5)
    out = b"".join(d for _, d in proc.take(frozenset({"stdout"}), 10**6)).decode()
    assert proc.exit_code == STATUS_CONTROL_C_EXIT
    assert out.endswith("Control-C\r\n^C")
    assert "Ping statistics" in out


async def test_timeout_refuses_a_piped_stdin() -> None:
    _, err, code = await _run("timeout /t 5", console_stdin=False)
    assert code == 1
    assert err.startswith(b"ERROR: Input redirection is not supported")


async def test_waitfor_times_out_with_an_error() -> None:
    out, err, code = await _run("waitfor /t 0 ready")
    assert (out, err, code) == (b"", b"ERROR: Timed out waiting for 'ready'.\r\n", 1)


async def test_a_writer_waits_while_its_output_is_unread() -> None:
    proc = _start("aiowsman-bytes 1000000", limit=4096)
    await asyncio.sleep(0.05)
    assert not proc.done  # blocked on a full "pipe"
    total = 0
    while not proc.done or proc.has_output(frozenset({"stdout"})):
        total += sum(len(d) for _, d in proc.take(frozenset({"stdout"}), 100_000))
        await asyncio.sleep(0)
    assert total == 1_000_000


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ('a "b c" d', ["a", "b c", "d"]),
        ('"a\\"b"', ['a"b']),
        ('"C:\\dir\\\\"', ["C:\\dir\\"]),
        ('a\\\\b ""', ["a\\\\b", ""]),
    ],
)
def test_arguments_split_by_the_c_runtime_rules(line: str, argv: list[str]) -> None:
    assert split_arguments(line) == argv


# -- powershell.exe ------------------------------------------------------------------------


async def test_powershell_writes_output_as_text_in_the_console_code_page() -> None:
    out, err, code = await _run(_ps("Write-Output 'caf\u00e9'; 'bare'"), codepage=437)
    assert (out, err, code) == ("café\r\nbare\r\n".encode("cp437"), b"", 0)


async def test_powershell_output_encoding_can_be_set_to_utf8() -> None:
    script = "[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding\nWrite-Output '☃'"
    assert (await _run(_ps(script), codepage=437))[0] == "☃\r\n".encode()


async def test_powershell_utf8_encoding_with_a_preamble_writes_a_bom() -> None:
    script = "[Console]::OutputEncoding = [Text.Encoding]::UTF8; 'x'"
    assert (await _run(_ps(script)))[0] == b"\xef\xbb\xbfx\r\n"


async def test_powershell_errors_are_clixml_lines_on_stderr() -> None:
    _, err, code = await _run(_ps("Write-Error 'boom'"))
    assert err.startswith(b'#< CLIXML\r\n<Objs Version="1.1.0.1"')
    assert b"<S S=\"Error\">Write-Error 'boom' : boom_x000D__x000A_</S>" in err
    assert b"FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException" in err
    assert err.endswith(b"</Objs>")
    assert code == 1  # the last statement failed


async def test_powershell_exit_sets_the_exit_code() -> None:
    assert (await _run(_ps("Write-Output 1; exit 42; Write-Output 2")))[::2] == (b"1\r\n", 42)


async def test_powershell_lastexitcode_is_a_native_programs_exit_code() -> None:
    out, _, code = await _run(_ps("cmd /c exit 5\n$LASTEXITCODE\nexit $LASTEXITCODE"))
    assert (out, code) == (b"5\r\n", 5)


async def test_powershell_throw_is_terminating_and_exits_1() -> None:
    out, err, code = await _run(_ps("throw 'fatal'; Write-Output 'never'"))
    assert (out, code) == (b"", 1)
    assert b"OperationStopped: (fatal:String) [], RuntimeException" in err


async def test_powershell_env_variables_read_and_write() -> None:
    out, _, _ = await _run(_ps('$env:Extra = "x"; "$env:Greeting $env:EXTRA"'))
    assert out == b"hello x\r\n"


async def test_powershell_warning_verbose_debug_and_information_streams() -> None:
    script = (
        "Write-Warning 'w'; Write-Verbose 'v1'; Write-Verbose 'v2' -Verbose\n"
        "Write-Debug 'd1'; $DebugPreference = 'Continue'; Write-Debug 'd2'\n"
        "Write-Information 'i1'; Write-Information 'i2' -InformationAction Continue"
    )
    _, err, code = await _run(_ps(script))
    text = err.decode()
    assert '<S S="warning">w_x000D__x000A_</S>' in text
    assert '<S S="verbose">v2_x000D__x000A_</S>' in text and "v1" not in text
    assert '<S S="debug">d2_x000D__x000A_</S>' in text and "d1" not in text
    assert "<ToString>i2</ToString>" in text and "i1" not in text
    assert code == 0


async def test_powershell_progress_is_written_unless_silenced() -> None:
    loud = (await _run(_ps("Write-Progress -Activity 'Copying' -PercentComplete 50")))[1]
    quiet = (
        await _run(_ps("$ProgressPreference = 'SilentlyContinue'; Write-Progress -Activity x"))
    )[1]
    assert b'<Obj S="progress"' in loud and b"<AV>Copying</AV>" in loud and b"<PC>50</PC>" in loud
    assert quiet == b""


async def test_powershell_command_dash_runs_stdin_as_a_script() -> None:
    out, _, code = await _run(
        "powershell -NoProfile -Command -", stdin=b"Write-Output 'from stdin'\nexit 3\n"
    )
    assert (out, code) == (b"from stdin\r\n", 3)


async def test_powershell_reads_stdin_with_its_input_encoding() -> None:
    script = (
        "[Console]::InputEncoding = New-Object System.Text.UTF8Encoding\n"
        "[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding\n"
        "$s = [Console]::In.ReadToEnd()\nInvoke-Expression $s"
    )
    out, _, _ = await _run(_ps(script), stdin="Write-Output 'ünï ☃'".encode(), codepage=437)
    assert out == "ünï ☃\r\n".encode()


async def test_powershell_get_service_lists_the_hosts_services_as_a_table() -> None:
    out, _, _ = await _run(_ps("Get-Service WinRM"))
    assert out.decode().splitlines()[1:4] == [
        "Status   Name               DisplayName",
        "------   ----               -----------",
        "Running  WinRM              Windows Remote Management (WS-Management)",
    ]


async def test_powershell_unknown_command_is_not_recognized() -> None:
    _, err, code = await _run(_ps("Get-Frobnicator"))
    assert b"CommandNotFoundException" in err
    assert code == 1


async def test_powershell_bad_encoded_command_is_refused() -> None:
    _, err, code = await _run("powershell -EncodedCommand !!!")
    assert code == 1
    assert b"not properly encoded" in err


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a\r\nb", "a_x000D__x000A_b"),
        ("tab\tx", "tab_x0009_x"),
        ("😀", "_xD83D__xDE00_"),
        ("_x000D_", "_x005F_x000D_"),
        ("<&>", "&lt;&amp;&gt;"),
        ("ünï", "ünï"),
    ],
)
def test_clixml_strings_escape_by_ms_psrp_rules(text: str, escaped: str) -> None:
    assert clixml_string(text) == escaped
