"""The test server's remote shells answer as WinRS does (raw HTTP + lxml).

Spoken to with hand-written envelopes (tests/testing_raw.py), never the
aiowsman client: these pin the server's side of the protocol down on its own
(aiowsman/testing/families/shell.py docstring).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from aiowsman.testing import ShellFamily, WSManTestServer
from tests.testing_raw import (
    CREATE,
    DELETE,
    ENUMERATE,
    GET,
    PUT,
    Reply,
    enumerate_body,
    envelope,
    post,
)

SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD = f"{SHELL}/cmd"
RSP = {"rsp": SHELL}
X_RSP = f'xmlns:rsp="{SHELL}"'
DONE = f"{SHELL}/CommandState/Done"
RUNNING = f"{SHELL}/CommandState/Running"
CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"


def _options(**values: str) -> str:
    if not values:
        return ""
    opts = "".join(f'<w:Option Name="{k}">{v}</w:Option>' for k, v in values.items())
    return f'<w:OptionSet s:mustUnderstand="true">{opts}</w:OptionSet>'


class Raw:
    """A hand-written WinRS client for one host."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    async def call(
        self,
        action: str,
        uri: str = CMD,
        *,
        shell: str | None = None,
        body: str = "",
        operation_timeout: str = "PT20S",
        options: dict[str, str] | None = None,
        max_envelope: int = 512000,
    ) -> Reply:
        data, _ = envelope(
            action,
            uri,
            selectors={"ShellId": shell} if shell else None,
            body=body,
            timeout=operation_timeout,
            extra_headers=_options(**(options or {})),
            max_envelope=max_envelope,
        )
        return await post(self.http, self.url, data)

    async def create(self, inner: str = "", **options: str) -> str:
        reply = await self.call(
            CREATE,
            body=f"<rsp:Shell {X_RSP}><rsp:InputStreams>stdin</rsp:InputStreams>"
            f"<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>{inner}</rsp:Shell>",
            options=options,
        )
        assert reply.status == 200, reply.body
        shell_id = reply.text("s:Body/x:ResourceCreated//w:Selector[@Name='ShellId']")
        assert shell_id
        return shell_id

    async def command(self, shell: str, line: str, **options: str) -> Reply:
        escaped = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return await self.call(
            f"{SHELL}/Command",
            shell=shell,
            body=f"<rsp:CommandLine {X_RSP}><rsp:Command>{escaped}</rsp:Command></rsp:CommandLine>",
            options=options,
        )

    async def start(self, shell: str, line: str, **options: str) -> str:
        reply = await self.command(shell, line, **options)
        assert reply.status == 200, reply.body
        command_id = reply.root.findtext(".//rsp:CommandId", namespaces=RSP)
        assert command_id
        return command_id

    async def receive(
        self,
        shell: str,
        command: str | None,
        *,
        operation_timeout: str = "PT5S",
        streams: str = "stdout stderr",
        max_envelope: int = 512000,
    ) -> Reply:
        cid = f' CommandId="{command}"' if command else ""
        return await self.call(
            f"{SHELL}/Receive",
            shell=shell,
            body=f"<rsp:Receive {X_RSP}><rsp:DesiredStream{cid}>{streams}</rsp:DesiredStream>"
            "</rsp:Receive>",
            operation_timeout=operation_timeout,
            max_envelope=max_envelope,
        )

    async def send(self, shell: str, command: str, data: bytes, *, end: bool) -> Reply:
        end_attr = ' End="true"' if end else ""
        payload = base64.b64encode(data).decode()
        return await self.call(
            f"{SHELL}/Send",
            shell=shell,
            body=f'<rsp:Send {X_RSP}><rsp:Stream Name="stdin" CommandId="{command}"{end_attr}>'
            f"{payload}</rsp:Stream></rsp:Send>",
        )

    async def signal(self, shell: str, command: str, code: str) -> Reply:
        return await self.call(
            f"{SHELL}/Signal",
            shell=shell,
            body=f'<rsp:Signal {X_RSP} CommandId="{command}"><rsp:Code>{SHELL}/signal/{code}'
            "</rsp:Code></rsp:Signal>",
        )

    async def output(self, shell: str, command: str) -> tuple[bytes, bytes, int, int]:
        """Receive until Done: (stdout, stderr, exit code, Receives)."""
        out = err = b""
        for n in range(1, 200):
            reply = await self.receive(shell, command)
            if reply.subcode == "w:TimedOut":
                continue
            assert reply.status == 200, reply.body
            for stream in reply.root.iterfind(".//rsp:Stream", RSP):
                data = base64.b64decode(stream.text or "")
                if stream.get("Name") == "stdout":
                    out += data
                else:
                    err += data
            state = reply.root.find(".//rsp:CommandState", RSP)
            assert state is not None
            if state.get("State") == DONE:
                return out, err, int(state.findtext("rsp:ExitCode", namespaces=RSP) or -1), n
        raise AssertionError("the command never finished")


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=1) as srv:
        srv.host(0).family(ShellFamily).ping_interval = 0.05
        yield srv


@pytest_asyncio.fixture
async def raw(server: WSManTestServer) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as http:
        yield Raw(http, server.endpoints[0])


def _family(server: WSManTestServer) -> ShellFamily:
    return server.host(0).family(ShellFamily)


# -- Create / Delete ---------------------------------------------------------------------


async def test_create_answers_resource_created_and_the_shell(raw: Raw) -> None:
    reply = await raw.call(
        CREATE,
        body=f"<rsp:Shell {X_RSP}><rsp:Environment><rsp:Variable Name='A'>1</rsp:Variable>"
        "</rsp:Environment><rsp:WorkingDirectory>C:\\temp</rsp:WorkingDirectory>"
        "<rsp:IdleTimeOut>PT60S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
    )
    assert reply.status == 200
    assert (
        reply.text("s:Header/a:Action")
        == "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
    )
    shell = reply.root.find(
        "s:Body/rsp:Shell", {**RSP, "s": "http://www.w3.org/2003/05/soap-envelope"}
    )
    assert shell is not None
    assert shell.findtext("rsp:Owner", namespaces=RSP) == "user"
    assert shell.findtext("rsp:IdleTimeOut", namespaces=RSP) == "PT60.000S"
    assert shell.findtext("rsp:WorkingDirectory", namespaces=RSP) == "C:\\temp"
    assert shell.findtext("rsp:Environment/rsp:Variable[@Name='A']", namespaces=RSP) == "1"
    assert reply.text("s:Body/x:ResourceCreated/a:ReferenceParameters/w:ResourceURI") == CMD


async def test_the_idle_timeout_is_capped_by_the_winrs_setting(
    raw: Raw, server: WSManTestServer
) -> None:
    reply = await raw.call(
        PUT,
        CONFIG,
        body='<cfg:Config xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
        "<cfg:Winrs><cfg:IdleTimeout>30000</cfg:IdleTimeout></cfg:Winrs></cfg:Config>",
    )
    assert reply.status == 200
    shell = await raw.create("<rsp:IdleTimeOut>PT600S</rsp:IdleTimeOut>")
    assert _family(server).shells[shell].idle_timeout == 30.0


async def test_delete_forgets_the_shell_and_stops_its_programs(
    raw: Raw, server: WSManTestServer
) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "waitfor never")
    process = _family(server).shells[shell].commands[command].process
    reply = await raw.call(DELETE, shell=shell)
    assert reply.status == 200
    assert _family(server).open_shells() == []
    await asyncio.sleep(0)
    assert process.done


async def test_a_request_for_an_unknown_shell_faults_with_http_400(raw: Raw) -> None:
    reply = await raw.call(DELETE, shell="0C6A1E10-0000-4000-8000-000000000000")
    assert reply.status == 400
    assert (reply.subcode, reply.wsman_code) == ("w:InvalidSelectors", "2150858843")
    assert "shell was not found" in (reply.text(".//f:Message") or "")


async def test_max_shells_per_user_is_a_quota_fault(raw: Raw) -> None:
    await raw.call(
        PUT,
        CONFIG,
        body='<cfg:Config xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
        "<cfg:Winrs><cfg:MaxShellsPerUser>2</cfg:MaxShellsPerUser></cfg:Winrs></cfg:Config>",
    )
    await raw.create()
    await raw.create()
    reply = await raw.call(
        CREATE,
        body=f"<rsp:Shell {X_RSP}><rsp:InputStreams>stdin</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>",
    )
    assert reply.subcode == "w:QuotaLimit"
    assert reply.text(".//{*}error_Code") == "2150859173"
    assert "maximum number of 2 concurrent shells" in (reply.text(".//{*}Message") or "")


async def test_an_unknown_code_page_is_refused_by_the_cmd_plugin(raw: Raw) -> None:
    reply = await raw.call(
        CREATE,
        body=f"<rsp:Shell {X_RSP}><rsp:InputStreams>stdin</rsp:InputStreams></rsp:Shell>",
        options={"WINRS_CODEPAGE": "4"},
    )
    assert (reply.subcode, reply.wsman_code) == ("w:InvalidParameter", "87")


async def test_an_idle_shell_is_deleted_after_its_idle_timeout(
    raw: Raw, server: WSManTestServer
) -> None:
    shell = await raw.create("<rsp:IdleTimeOut>PT0.2S</rsp:IdleTimeOut>")
    await asyncio.sleep(0.3)
    reply = await raw.command(shell, "hostname")
    assert reply.status == 400
    assert _family(server).expired == [shell]


# -- Command / Receive / Signal ------------------------------------------------------------


async def test_a_command_runs_and_receive_gives_output_end_and_exit_code(raw: Raw) -> None:
    shell = await raw.create(WINRS_CODEPAGE="65001")
    command = await raw.start(shell, "hostname")
    reply = await raw.receive(shell, command)
    streams = [
        (s.get("Name"), s.get("End"), base64.b64decode(s.text or ""))
        for s in reply.root.iterfind(".//rsp:Stream", RSP)
    ]
    assert streams == [
        ("stdout", None, b"HOST0000\r\n"),
        ("stdout", "true", b""),
        ("stderr", "true", b""),
    ]
    state = reply.root.find(".//rsp:CommandState", RSP)
    assert state is not None
    assert (state.get("State"), state.findtext("rsp:ExitCode", namespaces=RSP)) == (DONE, "0")


async def test_arguments_are_joined_to_the_command_with_spaces(raw: Raw) -> None:
    shell = await raw.create()
    reply = await raw.call(
        f"{SHELL}/Command",
        shell=shell,
        body=f"<rsp:CommandLine {X_RSP}><rsp:Command>echo</rsp:Command>"
        '<rsp:Arguments>"a b"</rsp:Arguments><rsp:Arguments>c</rsp:Arguments></rsp:CommandLine>',
    )
    command = reply.root.findtext(".//rsp:CommandId", namespaces=RSP) or ""
    assert (await raw.output(shell, command))[0] == b'"a b" c\r\n'


async def test_receive_without_output_before_operation_timeout_is_timed_out(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "waitfor /t 5 never")
    reply = await raw.receive(shell, command, operation_timeout="PT0.2S")
    assert reply.status == 500
    assert (reply.subcode, reply.wsman_code) == ("w:TimedOut", "2150858793")


async def test_receive_returns_output_as_soon_as_there_is_some(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "aiowsman-lines 3 200 tick")
    reply = await raw.receive(shell, command, operation_timeout="PT10S")
    state = reply.root.find(".//rsp:CommandState", RSP)
    assert state is not None and state.get("State") == RUNNING
    first = b"".join(
        base64.b64decode(s.text or "") for s in reply.root.iterfind(".//rsp:Stream", RSP)
    )
    assert first == b"tick 1\r\n"


async def test_receive_fits_the_output_into_max_envelope_size(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "aiowsman-bytes 100000")
    sizes = []
    total = 0
    while True:
        reply = await raw.receive(shell, command, max_envelope=16384)
        sizes.append(len(reply.body))
        total += sum(
            len(base64.b64decode(s.text or "")) for s in reply.root.iterfind(".//rsp:Stream", RSP)
        )
        state = reply.root.find(".//rsp:CommandState", RSP)
        if state is not None and state.get("State") == DONE:
            break
    assert total == 100000
    assert max(sizes) <= 16384


async def test_receive_returns_only_the_desired_streams(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "echo out & echo err 1>&2")
    await asyncio.sleep(0.05)
    reply = await raw.receive(shell, command, streams="stderr")
    names = {s.get("Name") for s in reply.root.iterfind(".//rsp:Stream", RSP)}
    assert names == {"stderr"}
    out, _, _, _ = await raw.output(shell, command)
    assert out == b"out \r\n"


async def test_stdin_reaches_a_program_reading_a_pipe(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "sort", WINRS_CONSOLEMODE_STDIN="FALSE")
    await raw.send(shell, command, b"b\r\n", end=False)
    await raw.send(shell, command, b"a\r\n", end=True)
    assert (await raw.output(shell, command))[0:3] == (b"a\r\nb\r\n", b"", 0)


async def test_a_console_stdin_never_ends(raw: Raw, server: WSManTestServer) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "sort")  # WINRS_CONSOLEMODE_STDIN defaults to TRUE
    await raw.send(shell, command, b"b\r\na\r\n", end=True)
    reply = await raw.receive(shell, command, operation_timeout="PT0.3S")
    assert reply.subcode == "w:TimedOut"  # sort is still waiting for the end of its input
    process = _family(server).shells[shell].commands[command].process
    assert process.stdin_bytes == 6 and not process.done


async def test_ctrl_c_ends_a_program_with_status_control_c_exit(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "ping -t localhost")
    await asyncio.sleep(0.1)
    assert (await raw.signal(shell, command, "ctrl_c")).status == 200
    out, _, code, _ = await raw.output(shell, command)
    assert code == 0xC000013A
    assert out.endswith(b"Control-C\r\n^C")


async def test_terminate_forgets_the_command(raw: Raw, server: WSManTestServer) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "hostname")
    await raw.output(shell, command)
    assert (await raw.signal(shell, command, "terminate")).status == 200
    reply = await raw.receive(shell, command)
    assert (reply.subcode, reply.wsman_code) == ("w:InvalidSelectors", "2150858843")
    assert "command identifier that does not exist" in (reply.text(".//f:Message") or "")
    assert _family(server).signals[-1][2] == f"{SHELL}/signal/terminate"


async def test_commands_left_unterminated_run_into_the_commands_per_shell_quota(
    raw: Raw, server: WSManTestServer
) -> None:
    _family(server).max_commands_per_shell = 2
    shell = await raw.create()
    for _ in range(2):
        await raw.output(shell, await raw.start(shell, "hostname"))
    reply = await raw.command(shell, "hostname")
    # Windows' own shape (pypsrp#148): w:InternalError, the PPQ code.
    assert (reply.subcode, reply.wsman_code) == ("w:InternalError", "2150859241")
    assert "maximum number of concurrent commands per shell" in (reply.text(".//{*}Text") or "")


async def test_live_commands_count_against_max_concurrent_operations_per_user(
    raw: Raw,
) -> None:
    await raw.call(
        PUT,
        CONFIG,
        body='<cfg:Config xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
        "<cfg:Service><cfg:MaxConcurrentOperationsPerUser>1</cfg:MaxConcurrentOperationsPerUser>"
        "</cfg:Service></cfg:Config>",
    )
    shell = await raw.create()
    await raw.start(shell, "waitfor never")
    reply = await raw.command(await raw.create(), "hostname")
    assert reply.subcode == "w:QuotaLimit"
    assert reply.text(".//{*}error_Code") == "2150859174"


async def test_skip_cmd_shell_starts_programs_but_not_cmd_built_ins(raw: Raw) -> None:
    shell = await raw.create()
    command = await raw.start(shell, "hostname", WINRS_SKIP_CMD_SHELL="TRUE")
    assert (await raw.output(shell, command))[0] == b"HOST0000\r\n"
    reply = await raw.command(shell, "echo hi", WINRS_SKIP_CMD_SHELL="TRUE")
    assert (reply.subcode, reply.wsman_code) == ("w:InternalError", "2147942402")


async def test_the_shell_environment_and_working_directory_reach_programs(raw: Raw) -> None:
    shell = await raw.create(
        "<rsp:Environment><rsp:Variable Name='STAGE'>blue</rsp:Variable></rsp:Environment>"
        "<rsp:WorkingDirectory>D:\\work</rsp:WorkingDirectory>"
    )
    command = await raw.start(shell, "echo %STAGE% & cd")
    assert (await raw.output(shell, command))[0] == b"blue \r\nD:\\work\r\n"


# -- Get / Enumerate -----------------------------------------------------------------------


async def test_get_on_windows_shell_describes_a_shell(raw: Raw) -> None:
    shell = await raw.create()
    reply = await raw.call(GET, SHELL, shell=shell)
    assert reply.root.findtext(".//rsp:ShellId", namespaces=RSP) == shell


async def test_enumerate_windows_shell_lists_the_users_shells(raw: Raw) -> None:
    first = await raw.create()
    second = await raw.create()
    reply = await raw.call(ENUMERATE, SHELL, body=enumerate_body(max_elements=10))
    ids = [
        s.findtext("rsp:ShellId", namespaces=RSP) for s in reply.root.iterfind(".//rsp:Shell", RSP)
    ]
    assert ids == [first, second]
    assert reply.find("s:Body/n:EnumerateResponse/w:EndOfSequence") is not None


# -- injections and shutdown ----------------------------------------------------------------


async def test_injections_see_shell_operations_by_name() -> None:
    from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo

    seen: list[str] = []

    def inject(info: RequestInfo) -> Injection | None:
        seen.append(info.operation)
        return Injection(InjectionKind.HTTP_503) if info.operation == "Signal" else None

    async with (
        WSManTestServer(behaviours={0: HostBehaviour(inject=inject)}) as srv,
        aiohttp.ClientSession() as http,
    ):
        raw = Raw(http, srv.endpoints[0])
        shell = await raw.create()
        command = await raw.start(shell, "hostname")
        await raw.output(shell, command)
        assert (await raw.signal(shell, command, "terminate")).status == 503
    assert seen[:4] == ["Create", "Command", "Receive", "Signal"]


async def test_closing_the_server_stops_running_programs() -> None:
    srv = WSManTestServer()
    await srv.start()
    async with aiohttp.ClientSession() as http:
        raw = Raw(http, srv.endpoints[0])
        shell = await raw.create()
        command = await raw.start(shell, "waitfor never")
        process = srv.host(0).family(ShellFamily).shells[shell].commands[command].process
    await srv.close()
    assert process.done
