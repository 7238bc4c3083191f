"""Remote commands over many hosts: fanout.Commands / run_commands against the test server.

One record per host; one shell per host for all its commands; no shell left
open on any host, whatever happens to the host (checked on the server).
"""

from __future__ import annotations

from typing import Any

from aiowsman.errors import OperationQuotaExceededFault
from aiowsman.fanout import Commands, HostResult, run, run_commands
from aiowsman.shell import CommandResult, PowerShellResult
from aiowsman.testing import (
    HostBehaviour,
    Injection,
    InjectionKind,
    RequestInfo,
    ShellFamily,
    WSManTestServer,
)
from tests.conftest import PASSWORD, USER

OPTIONS: dict[str, Any] = {
    "auth": "basic",
    "username": USER,
    "password": PASSWORD,
    "allow_unencrypted": True,
}


def _open_shells(server: WSManTestServer) -> int:
    return sum(len(h.family(ShellFamily).open_shells()) for h in server.hosts)


async def test_one_record_per_host_with_exit_code_and_output() -> None:
    async with WSManTestServer(hosts=4, users={USER: PASSWORD}) as srv:
        results = await run_commands(srv.endpoints, "hostname", **OPTIONS).collect()
        assert _open_shells(srv) == 0
    by_host = {r.host: r for r in results}
    assert len(by_host) == 4
    for i, url in enumerate(srv.endpoints):
        value = by_host[url].value
        assert isinstance(value, CommandResult)
        assert (value.exit_code, value.stdout_text) == (0, f"HOST{i:04d}\r\n")


async def test_several_commands_share_one_shell_per_host() -> None:
    async with WSManTestServer(hosts=3, users={USER: PASSWORD}) as srv:
        results = await run_commands(
            srv.endpoints, "hostname", "echo two", "exit /b 4", **OPTIONS
        ).collect()
        created = [len(h.family(ShellFamily).created) for h in srv.hosts]
        assert _open_shells(srv) == 0
    assert created == [1, 1, 1]
    for result in results:
        assert [r.exit_code for r in result.value] == [0, 0, 4]  # type: ignore[union-attr]


async def test_stop_on_failure_skips_the_rest() -> None:
    async with WSManTestServer(users={USER: PASSWORD}) as srv:
        (result,) = await run(
            srv.endpoints, Commands(("exit /b 1", "hostname"), stop_on_failure=True), **OPTIONS
        ).collect()
    assert [r.exit_code for r in result.value] == [1]  # type: ignore[union-attr]


async def test_powershell_scripts_on_many_hosts() -> None:
    async with WSManTestServer(hosts=2, users={USER: PASSWORD}) as srv:
        results = await run_commands(
            srv.endpoints, "Get-Service WinRM; Write-Warning 'w'", powershell=True, **OPTIONS
        ).collect()
    for result in results:
        assert isinstance(result.value, PowerShellResult)
        assert "WinRM" in result.value.stdout_text
        assert result.value.warnings == ["w"]


async def test_output_lines_stream_with_their_host_as_they_arrive() -> None:
    lines: list[tuple[str, str, str]] = []
    async with WSManTestServer(hosts=2, users={USER: PASSWORD}) as srv:
        results = await run_commands(
            srv.endpoints,
            "aiowsman-lines 3 20 row & echo oops 1>&2",
            on_line=lambda host, stream, line: lines.append((host, stream, line)),
            **OPTIONS,
        ).collect()
    for result in results:
        mine = [(s, text) for h, s, text in lines if h == result.host]
        assert mine == [
            ("stdout", "row 1"),
            ("stdout", "row 2"),
            ("stdout", "row 3"),
            ("stderr", "oops "),
        ]
        assert result.value.stdout_text == "row 1\r\nrow 2\r\nrow 3\r\n"  # type: ignore[union-attr]


async def test_a_deadline_cutting_hosts_off_leaves_no_shell_open() -> None:
    async with WSManTestServer(hosts=6, users={USER: PASSWORD}) as srv:
        hung = set(srv.endpoints[::2])

        async def operation(session: Any) -> Any:
            command = "waitfor never" if session.endpoint.url in hung else "hostname"
            return await Commands((command,))(session)

        results: list[HostResult[Any]] = await run(
            srv.endpoints, operation, deadline=1.0, **OPTIONS
        ).collect()
        assert _open_shells(srv) == 0
        assert sum(h.family(ShellFamily).live_commands() for h in srv.hosts) == 0
        deleted = sum(len(h.family(ShellFamily).deleted) for h in srv.hosts)
    failed = {r.host for r in results if not r.ok}
    assert failed == hung
    assert {r.error_class for r in results if not r.ok} == {"timeout"}
    assert deleted == 6


async def test_a_host_whose_shell_quota_refuses_is_retried_and_succeeds() -> None:
    refused: list[int] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation == "Create" and not refused:
            refused.append(info.number)
            return Injection(InjectionKind.QUOTA)
        return None

    async with WSManTestServer(
        users={USER: PASSWORD}, behaviours={0: HostBehaviour(inject=inject)}
    ) as srv:
        (result,) = await run_commands(srv.endpoints, "hostname", backoff=0.01, **OPTIONS).collect()
        assert _open_shells(srv) == 0
    assert result.ok and result.attempts == 2
    assert refused == [1]


async def test_a_quota_fault_after_a_command_ran_is_not_retried() -> None:
    commands: list[int] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation == "Command":
            commands.append(info.number)
            if len(commands) == 2:
                return Injection(InjectionKind.QUOTA)
        return None

    async with WSManTestServer(
        users={USER: PASSWORD}, behaviours={0: HostBehaviour(inject=inject)}
    ) as srv:
        (result,) = await run_commands(
            srv.endpoints, "hostname", "hostname", backoff=0.01, **OPTIONS
        ).collect()
        assert _open_shells(srv) == 0
    assert not result.ok
    assert result.attempts == 1  # the first command ran: not repeated
    assert (result.error_class, result.fault_code) == ("fault", 2150859174)
    assert isinstance(result.error, OperationQuotaExceededFault)
    assert len(commands) == 2
