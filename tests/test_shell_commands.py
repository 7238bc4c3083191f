"""Remote commands end to end: AsyncSession.shell / run_cmd against the test server.

Every test checks the observable result on the client and, where a shell or
command could be left behind, the server's own record of what is open.
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from aiowsman import AsyncSession
from aiowsman.errors import (
    CommandTimeoutError,
    ConfigurationError,
    ConnectError,
    OperationQuotaExceededFault,
    QuotaExceededFault,
    ShellNotFoundFault,
    ShellQuotaExceededFault,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.shell import CommandResult
from aiowsman.testing import (
    Injection,
    InjectionKind,
    RequestInfo,
    ShellFamily,
    WSManTestServer,
)
from tests.conftest import _make_session
from tests.waiting import until


@pytest.fixture
def server(basic_server: WSManTestServer) -> WSManTestServer:
    basic_server.host(0).family(ShellFamily).ping_interval = 0.02
    return basic_server


@pytest.fixture
def session(basic_session: AsyncSession) -> AsyncSession:
    return basic_session


def _shells(server: WSManTestServer) -> ShellFamily:
    return server.host(0).family(ShellFamily)


# -- running a command ----------------------------------------------------------------------


async def test_run_cmd_returns_exit_code_and_output(session: AsyncSession) -> None:
    r = await session.run_cmd("ipconfig", "/all")
    assert r.exit_code == 0
    assert "Host Name . . . . . . . . . . . . : HOST0000" in r.stdout_text
    assert r.stderr == b""


async def test_run_cmd_leaves_no_shell_and_terminates_the_command(
    session: AsyncSession, server: WSManTestServer
) -> None:
    await session.run_cmd("hostname")
    shells = _shells(server)
    assert shells.open_shells() == []
    assert len(shells.created) == len(shells.deleted) == 1
    assert [code for _, _, code in shells.signals] == [ns.SIGNAL_TERMINATE]


async def test_a_failing_command_gives_its_exit_code_and_stderr(session: AsyncSession) -> None:
    r = await session.run_cmd("echo partial & nosuch & exit /b 3")
    assert (r.exit_code, r.ok) == (3, False)
    assert r.stdout_text == "partial \r\n"
    assert r.stderr_text.startswith("'nosuch' is not recognized")


async def test_arguments_are_quoted_for_windows(session: AsyncSession) -> None:
    r = await session.run_cmd("echo", "two words", "a&b", "plain")
    assert r.command == 'echo "two words" "a&b" plain'
    assert r.stdout_text == '"two words" "a&b" plain\r\n'


async def test_stdin_is_sent_and_its_end_seen_by_a_filter(session: AsyncSession) -> None:
    r = await session.run_cmd("sort", stdin="pear\r\napple\r\nfig\r\n")
    assert r.stdout_text == "apple\r\nfig\r\npear\r\n"


async def test_many_commands_run_in_one_shell(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell() as sh:
        results = [await sh.run("echo", str(i)) for i in range(5)]
        assert len(_shells(server).open_shells()) == 1
    assert [r.stdout_text for r in results] == [f"{i}\r\n" for i in range(5)]
    assert len(_shells(server).created) == 1
    # Each command was followed by a Terminate (MS-WSMV 3.1.4.14).
    assert [c for _, _, c in _shells(server).signals] == [ns.SIGNAL_TERMINATE] * 5


async def test_terminate_after_each_command_keeps_a_reused_shell_under_its_command_quota(
    session: AsyncSession, server: WSManTestServer
) -> None:
    _shells(server).max_commands_per_shell = 2
    async with session.shell() as sh:
        for _ in range(6):
            assert (await sh.run("hostname")).exit_code == 0


async def test_the_shell_working_directory_and_environment_reach_commands(
    session: AsyncSession,
) -> None:
    async with session.shell(working_directory="C:\\temp", environment={"STAGE": "blue"}) as sh:
        r = await sh.run("echo %STAGE% & cd")
    assert r.stdout_text == "blue \r\nC:\\temp\r\n"


async def test_commands_run_at_once_in_one_shell(session: AsyncSession) -> None:
    async with session.shell() as sh:
        results = await asyncio.gather(
            *(sh.run("aiowsman-lines", "3", "20", f"n{i}") for i in range(4))
        )
    assert [r.stdout_text.splitlines()[0] for r in results] == ["n0 1", "n1 1", "n2 1", "n3 1"]


# -- a running process -----------------------------------------------------------------------


async def test_output_streams_as_it_arrives_in_order(session: AsyncSession) -> None:
    async with session.shell() as sh:
        p = await sh.start("aiowsman-lines", "5", "50", "tick")
        async with asyncio.timeout(30):  # a stream whose end nobody signals would hang
            seen = [line async for line in p.stdout.lines()]
            assert await p.wait() == 0
    assert seen == [f"tick {i}" for i in range(1, 6)]
    assert p.receives >= 5  # one line per Receive: they came as they were written


async def test_stdout_and_stderr_keep_their_own_order(session: AsyncSession) -> None:
    async with session.shell() as sh:
        p = await sh.start("echo 1 & echo 2 1>&2 & echo 3 & echo 4 1>&2")
        out, err = await p.communicate()
    assert (out, err) == (b"1 \r\n3 \r\n", b"2  \r\n4 \r\n")


async def test_write_and_close_stdin_feed_a_running_command(session: AsyncSession) -> None:
    async with session.shell() as sh:
        q = await sh.start("more")
        async with asyncio.timeout(30):  # output nobody signals would leave the reader waiting
            await q.write(b"first\r\n")
            first = await q.stdout.__anext__()
            await q.write("second\r\n")
            await q.close_stdin()
            rest = await q.stdout.read()
            assert await q.wait() == 0
    assert first == b"first\r\n"
    assert rest == b"second\r\n"


async def test_large_stdin_is_sent_in_several_sends_that_fit_max_envelope_size(
    server: WSManTestServer,
) -> None:
    data = bytes(range(256)) * 200  # 51,200 bytes
    sizes: list[int] = []
    async with _make_session(server, max_envelope_size=16384) as s, s.shell() as sh:
        p = await sh.start("findstr /v aiowsman-never-there")
        process = next(iter(_shells(server).shells.values())).commands[p.command_id].process
        await p.write(data)
        sizes.append(process.stdin_bytes)
        await p.close_stdin()
        await p.communicate()
    assert sizes == [len(data)]
    sends = server.host(0).stats.by_operation["Send"]
    assert sends >= 5  # 51,200 bytes at under 12 KB each, then the End


async def test_ctrl_c_stops_a_command_that_runs_until_signalled(session: AsyncSession) -> None:
    async with session.shell() as sh:
        p = await sh.start("ping", "-t", "localhost")
        first = await p.stdout.__anext__()
        await p.signal("ctrl_c")
        rest = await p.stdout.read()
        code = await p.wait()
    assert first.startswith(b"\r\nPinging localhost")
    assert rest.endswith(b"Control-C\r\n^C")
    assert code == 0xC000013A


async def test_terminate_stops_a_command_and_its_exit_code_is_unknown(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell() as sh:
        p = await sh.start("waitfor", "never")
        await p.terminate()
        assert await p.wait() is None
        assert p.finished
        assert next(iter(_shells(server).shells.values())).commands == {}


async def test_an_unknown_signal_name_is_refused(session: AsyncSession) -> None:
    async with session.shell() as sh:
        p = await sh.start("hostname")
        with pytest.raises(ConfigurationError, match="unknown signal 'sigkill'"):
            await p.signal("sigkill")
        await p.communicate()


async def test_writing_after_close_stdin_is_refused(session: AsyncSession) -> None:
    async with session.shell() as sh:
        p = await sh.start("more")
        await p.close_stdin()
        with pytest.raises(ConfigurationError, match="stdin is closed"):
            await p.write(b"late")
        await p.wait()


async def test_a_reader_that_falls_behind_stops_the_receives(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell() as sh:
        p = await sh.start("aiowsman-bytes", "5000000", buffer=64 * 1024)
        await until(lambda: p.stdout.buffered >= 64 * 1024)  # the buffer is full
        receives = p.receives
        held = p.stdout.buffered
        await asyncio.sleep(0.3)
        assert p.receives == receives  # nobody reads: no Receive goes out
        assert held < 64 * 1024 + 512 * 1024  # at most the buffer and one Receive
        async with asyncio.timeout(30):  # reading makes room: the Receives resume
            total = sum([len(c) async for c in p.stdout])
            assert await p.wait() == 0
    assert total == 5_000_000


async def test_two_readers_of_one_stream_share_its_chunks_and_both_see_its_end(
    session: AsyncSession,
) -> None:
    async with session.shell() as sh:
        p = await sh.start("aiowsman-lines", "6", "30", "tick")

        async def read() -> list[bytes]:
            return [chunk async for chunk in p.stdout]

        async with asyncio.timeout(30):  # a reader left waiting would hang here
            first, second = await asyncio.gather(read(), read())
            assert await p.wait() == 0
    # Each chunk went to one of them; every line arrived once.
    text = b"".join(sorted(first + second, key=lambda c: int(c.split()[1]))).decode()
    assert text.split("\r\n")[:-1] == [f"tick {i}" for i in range(1, 7)]


async def test_a_cancelled_reader_or_waiter_leaves_the_command_running(
    session: AsyncSession,
) -> None:
    async with session.shell() as sh:
        p = await sh.start("waitfor", "/t", "1", "aiowsman-test")  # silent for a second
        reader = asyncio.create_task(p.stdout.__anext__())
        waiter = asyncio.create_task(p.wait())
        await asyncio.sleep(0.02)  # both wait: no output yet
        reader.cancel()
        waiter.cancel()
        for task in (reader, waiter):
            with pytest.raises(asyncio.CancelledError):
                await task
        async with asyncio.timeout(30):
            out, err = await p.communicate()
    assert p.exit_code == 1
    assert (out, err) == (b"", b"ERROR: Timed out waiting for 'aiowsman-test'.\r\n")


async def test_polling_a_silent_command_with_timeouts_leaves_nothing_behind(
    session: AsyncSession,
) -> None:
    # A caller that waits with a timeout, again and again (as a monitoring
    # loop does), must not grow what the process and its stream hold.
    async with session.shell() as sh:
        p = await sh.start("waitfor /t 1 aiowsman-test", stdin=False)
        for _ in range(40):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(p.stdout.__anext__(), 0.001)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(p.wait(), 0.001)
        waiting = p.stdout._changed._waiters or []
        assert len(waiting) <= 4, len(waiting)  # cancelled waits are dropped
        assert len(p._pump._callbacks or []) <= 1  # type: ignore[attr-defined]
        async with asyncio.timeout(30):
            assert await p.wait() == 1
            assert await p.stdout.read() == b""


# -- deadlines, cancellation, cleanup --------------------------------------------------------


async def test_no_output_yet_is_polled_again_until_the_command_ends(
    session: AsyncSession,
) -> None:
    async with session.shell(receive_timeout=0.2) as sh:
        p = await sh.start("waitfor /t 1 ready")
        _, err = await p.communicate()
    assert err == b"ERROR: Timed out waiting for 'ready'.\r\n"
    assert p.receives >= 4  # w:TimedOut answered with another Receive


async def test_each_shell_of_a_session_polls_with_its_own_receive_timeout(
    session: AsyncSession,
) -> None:
    # The session keeps the options it made for the last OperationTimeout
    # asked: a shell asking for another must not be sent the first's.
    async with session.shell(receive_timeout=5.0) as slow:
        p = await slow.start("waitfor /t 1 ready")
        await p.communicate()
    assert p.receives <= 2  # the service held each Receive up to 5 s
    async with session.shell(receive_timeout=0.2) as quick:
        q = await quick.start("waitfor /t 1 ready")
        await q.communicate()
    assert q.receives >= 4  # "no output yet" after 0.2 s, asked again


async def test_a_hung_command_is_ended_by_its_deadline(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell(receive_timeout=0.3) as sh:
        with pytest.raises(CommandTimeoutError) as info:
            await sh.run("echo started & waitfor never", timeout=1.0)
        # The shell is still usable, and the hung command is gone from it.
        assert (await sh.run("hostname")).exit_code == 0
        assert next(iter(_shells(server).shells.values())).commands == {}
    err = info.value
    assert err.stdout == b"started \r\n"  # what it wrote before the deadline is kept
    assert err.host == session.host and err.operation == "Receive"
    assert "1s deadline" in str(err)


async def test_cancelling_a_command_deletes_the_shell_on_the_server(
    session: AsyncSession, server: WSManTestServer
) -> None:
    task = asyncio.create_task(session.run_cmd("waitfor", "never"))
    for _ in range(200):
        if _shells(server).live_commands():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _shells(server).open_shells() == []
    assert _shells(server).deleted == _shells(server).created


async def test_an_error_inside_the_shell_block_deletes_the_shell(
    session: AsyncSession, server: WSManTestServer
) -> None:
    with pytest.raises(RuntimeError):
        async with session.shell() as sh:
            await sh.start("waitfor never")
            raise RuntimeError("boom")
    assert _shells(server).open_shells() == []


async def test_closing_the_session_deletes_shells_left_open(server: WSManTestServer) -> None:
    s = _make_session(server)
    sh = session_shell = s.shell()
    await sh.open()
    assert len(_shells(server).open_shells()) == 1
    await s.aclose()
    assert _shells(server).open_shells() == []
    assert session_shell.shell_id in _shells(server).deleted


async def test_a_receive_is_never_sent_twice(server: WSManTestServer) -> None:
    def inject(info: RequestInfo) -> Injection | None:
        if info.operation == "Receive":
            return Injection(InjectionKind.RESET_BEFORE_RESPONSE)
        return None

    server.host(0).behaviour.inject = inject
    async with _make_session(server) as s:
        with pytest.raises(ConnectError):
            await s.run_cmd("hostname")
        assert server.host(0).stats.by_operation["Receive"] == 1
    assert _shells(server).open_shells() == []


# -- shells the server drops, quotas ---------------------------------------------------------


async def test_a_reused_shell_the_server_dropped_is_created_again(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell(idle_timeout=0.2) as sh:
        first = sh.shell_id
        assert (await sh.run("hostname")).exit_code == 0
        await asyncio.sleep(0.3)
        r = await sh.run("hostname")
        assert r.stdout_text == "HOST0000\r\n"
        assert sh.recreated == 1 and sh.shell_id != first
    assert _shells(server).expired == [first]
    assert _shells(server).open_shells() == []


async def test_keepalive_keeps_an_idle_shell(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell(idle_timeout=0.6, keepalive=0.2) as sh:
        first = sh.shell_id
        await asyncio.sleep(1.5)
        await sh.run("hostname")
        assert sh.shell_id == first and sh.recreated == 0
    assert _shells(server).expired == []


async def test_max_shells_per_user_is_a_typed_quota_fault(
    session: AsyncSession, server: WSManTestServer
) -> None:
    await session.put("winrm/config/winrs", {"MaxShellsPerUser": "1"})
    async with session.shell():
        with pytest.raises(ShellQuotaExceededFault) as info:
            await session.run_cmd("hostname")
    assert info.value.wsman_code == 2150859173
    assert isinstance(info.value, QuotaExceededFault)
    assert info.value.host == session.host and info.value.operation == "Create"


async def test_max_concurrent_operations_per_user_is_a_typed_quota_fault(
    session: AsyncSession,
) -> None:
    await session.put("winrm/config/service", {"MaxConcurrentOperationsPerUser": "1"})
    async with session.shell() as sh:
        await sh.start("waitfor never")
        with pytest.raises(OperationQuotaExceededFault) as info:
            await sh.run("hostname")
    assert info.value.wsman_code == 2150859174
    assert info.value.operation == "Command"


async def test_a_command_for_a_deleted_shell_is_shell_not_found(
    session: AsyncSession, server: WSManTestServer
) -> None:
    async with session.shell() as sh:
        p = await sh.start("waitfor never")
        family = _shells(server)
        family._drop(family.shells[sh.shell_id or ""])  # the service reaps it mid-command
        with pytest.raises(ShellNotFoundFault):
            await p.wait()


# -- text and code pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codepage", "text", "shown"),
    [
        (65001, "héllo ☃ 😀", "héllo ☃ 😀"),
        (437, "héllo ☃", "héllo ?"),
        (850, "½ ÿ €", "½ ÿ ?"),
        (932, "こんにちは", "こんにちは"),
    ],
)
async def test_text_is_decoded_with_the_shells_code_page(
    session: AsyncSession, codepage: int, text: str, shown: str
) -> None:
    r = await session.run_cmd(f"echo {text}", codepage=codepage)
    assert r.codepage == codepage
    assert r.stdout_text == f"{shown}\r\n"
    assert r.stdout == f"{shown}\r\n".encode(f"cp{codepage}" if codepage != 65001 else "utf-8")


async def test_streamed_text_decodes_characters_split_across_receives(
    session: AsyncSession,
) -> None:
    # 4-byte characters in output cut into 64 KiB writes and small Receives.
    async with session.shell() as sh:
        p = await sh.start("powershell -Command -", buffer=4096)
        script = "[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding\n" + (
            "Write-Output '" + "😀" * 3001 + "'\n"
        )
        await p.write(script.encode("utf-8"))
        await p.close_stdin()
        text = "".join([t async for t in p.stdout.text()])
        await p.wait()
    assert text == "😀" * 3001 + "\r\n"


def test_an_unknown_code_page_is_refused_before_anything_is_sent() -> None:
    s = AsyncSession("http://127.0.0.1:9/wsman", auth="none", allow_unencrypted=True)
    with pytest.raises(ConfigurationError, match="no text codec for code page 4"):
        s.shell(codepage=4)
    gc.collect()


def test_a_result_is_a_plain_record() -> None:
    r = CommandResult("hostname", 0, b"H\r\n", b"", 65001)
    assert r.to_dict() == {"command": "hostname", "exit_code": 0, "stdout": "H\r\n", "stderr": ""}


async def test_input_given_up_front_is_sent_before_the_first_receive(
    server: WSManTestServer,
) -> None:
    seen: list[str] = []

    def record(info: RequestInfo) -> Injection | None:
        seen.append(info.operation)
        return None

    server.host(0).behaviour.inject = record
    # One channel, as a fan-out session has: a Receive waiting for output
    # must not hold it while the program waits for its input.
    async with _make_session(server, max_channels=1, max_envelope_size=16384) as s:
        r = await s.run_cmd("sort", stdin="b\r\n" * 10000 + "a\r\n")
    assert r.stdout_text.startswith("a\r\nb\r\n")
    sends = [i for i, op in enumerate(seen) if op == "Send"]
    receives = [i for i, op in enumerate(seen) if op == "Receive"]
    assert len(sends) >= 2 and max(sends) < min(receives)


async def test_enumerating_windows_shell_lists_the_open_shells(session: AsyncSession) -> None:
    async with session.shell(name="build") as sh:
        shells = [item async for item in session.enumerate("shell")]
    assert [(s["ShellId"], s["Name"], s["Owner"]) for s in shells] == [
        (sh.shell_id, "build", "user")
    ]


# -- memory ------------------------------------------------------------------------------------


async def test_a_finished_command_and_its_session_are_freed_without_the_collector(
    server: WSManTestServer,
) -> None:
    # A fan-out runs thousands of commands: a finished one must go by reference
    # counting alone, taking its shell, session and connections with it, not
    # wait in a cycle (process <-> its output streams) for the collector.
    gc.collect()
    gc.disable()
    try:
        session = _make_session(server)
        async with session, session.shell() as sh:
            p = await sh.start("echo", "hi")
            assert await p.stdout.read() == b"hi\r\n"
            assert await p.wait() == 0
            stream = p.stdout
            refs = [weakref.ref(o) for o in (p, p.stderr, sh, session)]
        del p, sh, session
        await asyncio.sleep(0)  # the Receive task's last callbacks
        assert [r() is None for r in refs] == [True, True, True, True]
        # A stream kept on its own still reads to its end.
        assert [chunk async for chunk in stream] == []
        del stream
    finally:
        gc.enable()
