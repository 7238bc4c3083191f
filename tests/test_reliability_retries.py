"""What is resent and what never is.

Put, Create, Delete and Invoke change state and a Pull advances the server's
cursor: once such a request may have reached the server, it is never sent
again. Identify, Get and Enumerate are retried a bounded number of times,
with jittered backoff, within the deadline; a 503's Retry-After is honoured
when it fits. The server's own request counters are the witness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aiowsman import (
    AsyncSession,
    ConnectError,
    QuotaExceededFault,
    ResourceLocator,
    ServiceUnavailableError,
    WSManError,
)
from aiowsman.fanout import run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.test_hygiene_probe import ResourceProbe

K = InjectionKind
SERVICE = "wmicimv2/Win32_Service"
ENVIRONMENT = "wmicimv2/Win32_Environment"

Op = Callable[[AsyncSession], Awaitable[Any]]
STATE_CHANGING: dict[str, Op] = {
    "Put": lambda s: s.put(
        ResourceLocator(ENVIRONMENT, Name="OS", UserName="<SYSTEM>"), {"VariableValue": "v2"}
    ),
    "Create": lambda s: s.create(
        ENVIRONMENT, {"Name": "AIOWSMAN_R", "UserName": "<SYSTEM>", "VariableValue": "1"}
    ),
    "Delete": lambda s: s.delete(ENVIRONMENT, Name="OS", UserName="<SYSTEM>"),
    "Invoke": lambda s: s.invoke("StopService", f"{SERVICE}?Name=WinRM"),
}
#: Failures after which the request may have reached (and run on) the server.
AFTER_SENDING = [
    Injection(K.RESET_BEFORE_RESPONSE),
    Injection(K.RESET_MID_RESPONSE),
    Injection(K.TRUNCATED_BODY),
    Injection(K.HTTP_503, retry_after=0),
]


def every(operation: str, injection: Injection) -> HostBehaviour:
    def inject(info: RequestInfo) -> Injection | None:
        return injection if info.operation == operation else None

    return HostBehaviour(inject=inject)


def first(operation: str, injection: Injection) -> HostBehaviour:
    """Inject into the first request of ``operation`` only."""
    seen: list[int] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation != operation:
            return None
        seen.append(info.number)
        return injection if len(seen) == 1 else None

    return HostBehaviour(inject=inject)


@pytest.mark.parametrize("injection", AFTER_SENDING, ids=lambda i: i.kind.value)
@pytest.mark.parametrize("operation", sorted(STATE_CHANGING))
async def test_state_changing_operation_is_sent_exactly_once(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    operation: str,
    injection: Injection,
) -> None:
    async with (
        make_server(behaviours={0: every(operation, injection)}) as server,
        make_session(server, timeout=3.0, retries=5) as session,
    ):
        with pytest.raises(WSManError) as info:
            await STATE_CHANGING[operation](session)
        assert isinstance(info.value, ConnectError | ServiceUnavailableError)
        assert (info.value.host, info.value.operation) == (session.host, operation)
        assert server.host(0).stats.by_operation[operation] == 1


async def test_a_create_cut_off_mid_answer_ran_once_and_is_not_repeated(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = every("Create", Injection(K.RESET_MID_RESPONSE))
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        with pytest.raises(ConnectError):
            await STATE_CHANGING["Create"](session)
        keys = {"Name": "AIOWSMAN_R", "UserName": "<SYSTEM>"}
        # The server did create it: a resend would have answered AlreadyExists
        # (or, for Invoke, run the method twice).
        assert server.host(0).store.find("Win32_Environment", keys) is not None
        assert server.host(0).stats.faults["w:AlreadyExists"] == 0


async def test_a_get_whose_connection_is_reset_once_succeeds_on_a_retry(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = first("Get", Injection(K.RESET_BEFORE_RESPONSE))
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
        assert server.host(0).stats.by_operation["Get"] == 2


@pytest.mark.parametrize("retries", [0, 2])
async def test_retries_of_a_safe_operation_are_bounded(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    retries: int,
) -> None:
    behaviour = every("Get", Injection(K.RESET_BEFORE_RESPONSE))
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, timeout=5.0, retries=retries) as session,
    ):
        with pytest.raises(ConnectError):
            await session.get(SERVICE, Name="WinRM")
        sent = server.host(0).stats.by_operation["Get"]
    # Each attempt may resend once on a dropped keep-alive connection.
    assert retries + 1 <= sent <= 2 * (retries + 1)


async def test_retry_after_is_honoured_for_a_safe_operation(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    arrivals: list[float] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation != "Get":
            return None
        arrivals.append(asyncio.get_running_loop().time())
        return Injection(K.HTTP_503, retry_after=1) if len(arrivals) == 1 else None

    behaviour = HostBehaviour(inject=inject)
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, timeout=5.0) as session,
    ):
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 1.0  # not before Retry-After


async def test_retry_after_beyond_the_deadline_is_reported_at_once(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = every("Get", Injection(K.HTTP_503, retry_after=120))
    async with (
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, timeout=2.0) as session,
    ):
        with pytest.raises(ServiceUnavailableError) as info:
            await session.get(SERVICE, Name="WinRM")
        assert info.value.retry_after == 120
        assert server.host(0).stats.by_operation["Get"] == 1


async def test_a_pull_is_never_resent_and_its_context_is_released(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = every("Pull", Injection(K.RESET_MID_RESPONSE))
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, batch_items=20) as session,
    ):
        with pytest.raises(ConnectError) as info:
            async with session.enumerate(SERVICE) as e:
                async for _ in e:
                    pass
        assert info.value.operation == "Pull"
        stats = server.host(0).stats
        # A resent Pull could silently skip the batch the server already sent.
        assert stats.by_operation["Pull"] == 1
        assert len(stats.releases) == 1
        assert server.host(0).contexts_open == 0


async def test_a_quota_fault_is_surfaced_not_retried_by_the_session(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = every("Get", Injection(K.QUOTA))
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        with pytest.raises(QuotaExceededFault) as info:
            await session.get(SERVICE, Name="WinRM")
        assert info.value.subcode == "QuotaLimit"
        assert server.host(0).stats.by_operation["Get"] == 1


async def test_the_fan_out_backs_off_a_quota_host_and_reports_the_quota_fault(
    make_server: Callable[..., WSManTestServer],
) -> None:
    behaviour = every("Get", Injection(K.QUOTA))

    async def get(session: AsyncSession) -> object:
        return await session.get(SERVICE, Name="WinRM")

    async with make_server(hosts=2, behaviours={0: behaviour}) as server:
        results = {
            r.host: r
            async for r in run(
                server.endpoints,
                get,
                retries=2,
                backoff=0.01,
                deadline=10,
                auth="basic",
                username="user",
                password="Pa55-w0rd-never-logged",
                allow_unencrypted=True,
            )
        }
        quota = results[server.endpoints[0]]
        assert isinstance(quota.error, QuotaExceededFault)
        assert (quota.error_class, quota.attempts) == ("fault", 3)
        assert server.host(0).stats.by_operation["Get"] == 3
        assert results[server.endpoints[1]].ok


async def test_fan_out_sessions_do_not_retry_underneath_the_runner(
    make_server: Callable[..., WSManTestServer],
) -> None:
    behaviour = every("Get", Injection(K.RESET_BEFORE_RESPONSE))

    async def get(session: AsyncSession) -> object:
        return await session.get(SERVICE, Name="WinRM")

    async with make_server(behaviours={0: behaviour}) as server:
        [result] = [
            r
            async for r in run(
                server.endpoints,
                get,
                retries=0,
                deadline=10,
                auth="basic",
                username="user",
                password="Pa55-w0rd-never-logged",
                allow_unencrypted=True,
            )
        ]
        assert result.error_class == "connect"
        # One runner attempt: at most the transport's one resend of a dropped
        # keep-alive connection, never the session's own retries on top.
        assert server.host(0).stats.by_operation["Get"] <= 2


def test_backoff_is_jittered_and_capped() -> None:
    session = AsyncSession("http://127.0.0.1:9/wsman", auth="none", retries=5)
    err = ConnectError("reset")

    async def delays(attempt: int) -> list[float | None]:
        return [session._retry_delay(err, "Get", attempt, None) for _ in range(200)]

    first_delays = asyncio.run(delays(0))
    later_delays = asyncio.run(delays(4))
    assert all(d is not None and 0 <= d <= 0.1 for d in first_delays)
    assert all(d is not None and 0 <= d <= 2.0 for d in later_delays)
    assert len(set(first_delays)) > 100  # jittered, not a fixed schedule
    assert max(d for d in later_delays if d is not None) > 0.1  # and growing


@pytest.mark.parametrize("operation", ["Put", "Create", "Delete", "Invoke", "Pull", "Release"])
def test_no_retry_delay_is_offered_for_unsafe_operations(operation: str) -> None:
    session = AsyncSession("http://127.0.0.1:9/wsman", auth="none", retries=5)

    async def delay() -> float | None:
        return session._retry_delay(ConnectError("reset"), operation, 0, None)

    assert asyncio.run(delay()) is None
