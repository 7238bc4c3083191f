"""Every injected host failure: the right error class, naming host and operation,
raised before the deadline, leaving the session usable and nothing leaked.

Each scenario runs a real test server (aiowsman.testing) on loopback with the
fault injected into every ``Get``; the client is a real :class:`AsyncSession`.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable

import pytest

from aiowsman import (
    AsyncSession,
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    OperationQuotaExceededFault,
    OperationTimedOutFault,
    ProtocolError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    TimeoutError,
    UnsafeXMLError,
    WSManError,
)
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.test_hygiene_probe import ResourceProbe

SERVICE = "wmicimv2/Win32_Service"
#: The session deadline of every scenario (seconds).
DEADLINE = 1.5
#: The bound the error must arrive within: the deadline plus scheduling slack.
BOUND = DEADLINE + 1.5

K = InjectionKind
SCENARIOS: list[tuple[Injection, type[WSManError]]] = [
    # The server gives up first (OperationTimeout < deadline) and says so.
    (Injection(K.LATENCY, delay=30), OperationTimedOutFault),
    (Injection(K.BLACK_HOLE), TimeoutError),
    (Injection(K.RESET_BEFORE_RESPONSE), ConnectError),
    (Injection(K.RESET_MID_RESPONSE), ConnectError),
    (Injection(K.TRUNCATED_BODY), ConnectError),
    (Injection(K.HTTP_500), HTTPStatusError),
    # Retry-After beyond the deadline: reported at once, not waited for.
    (Injection(K.HTTP_503, retry_after=60), ServiceUnavailableError),
    (Injection(K.GARBAGE), ProtocolError),
    (Injection(K.INVALID_UTF8), ProtocolError),
    (Injection(K.WRONG_RELATES_TO), ProtocolError),
    (Injection(K.SLOW_DRIP, delay=0.05), TimeoutError),
    (Injection(K.UNAUTHORIZED), AuthenticationError),
    (Injection(K.TIMED_OUT), OperationTimedOutFault),
    # MaxConcurrentOperationsPerUser: the QuotaExceededFault of that quota.
    (Injection(K.QUOTA), OperationQuotaExceededFault),
    (Injection(K.OVERSIZED, size=3_000_000), ResponseTooLargeError),
    (Injection(K.XXE), UnsafeXMLError),
    (Injection(K.BILLION_LAUGHS), UnsafeXMLError),
    (Injection(K.DOCTYPE), UnsafeXMLError),
]


def on_get(injection: Injection) -> Callable[[RequestInfo], Injection | None]:
    def inject(info: RequestInfo) -> Injection | None:
        return injection if info.operation == "Get" else None

    return inject


@pytest.mark.parametrize(
    ("injection", "error"), SCENARIOS, ids=[i.kind.value for i, _ in SCENARIOS]
)
async def test_failure_is_classified_names_host_and_operation_and_leaks_nothing(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    injection: Injection,
    error: type[WSManError],
) -> None:
    behaviour = HostBehaviour(inject=on_get(injection))
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, timeout=DEADLINE) as session,
    ):
        async with asyncio.timeout(BOUND) as bound:
            with pytest.raises(WSManError) as info:
                await session.get(SERVICE, Name="WinRM")
        assert not bound.expired()
        err = info.value
        assert type(err) is error, f"{type(err).__name__}: {err}"
        assert (err.host, err.operation) == (session.host, "Get")
        assert f"[{session.host}] Get" in str(err)
        # The error, with its cause and context, crosses processes (the Dask
        # runner; tblib pickles the whole chain).
        again = pickle.loads(pickle.dumps((err, err.__cause__, err.__context__)))
        assert str(again[0]) == str(err)
        # The failure did not poison the session: other operations work.
        assert (await session.identify()).product_vendor
        assert server.host(0).stats.injections[injection.kind.value] >= 1


async def test_http_500_without_soap_keeps_its_status_and_body(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = HostBehaviour(inject=on_get(Injection(K.HTTP_500)))
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        with pytest.raises(HTTPStatusError) as info:
            await session.get(SERVICE, Name="WinRM")
    assert info.value.status == 500
    assert b"Internal Server Error" in info.value.body


async def test_401_in_the_middle_of_a_session_is_an_authentication_error(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = HostBehaviour(unauthorized_after=2)
    async with (
        ResourceProbe(),
        make_server(behaviours={0: behaviour}) as server,
        make_session(server, timeout=DEADLINE) as session,
    ):
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
        assert (await session.identify()).product_vendor
        with pytest.raises(AuthenticationError) as info:
            await session.get(SERVICE, Name="WinRM")
        assert (info.value.host, info.value.operation) == (session.host, "Get")
        # Credentials that stopped working are not retried.
        assert server.host(0).stats.auth_failures == 1


async def test_a_slow_drip_on_an_enumeration_ends_by_the_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    def inject(info: RequestInfo) -> Injection | None:
        return Injection(K.SLOW_DRIP, delay=0.02) if info.operation == "Pull" else None

    async with (
        ResourceProbe(),
        make_server(behaviours={0: HostBehaviour(inject=inject)}) as server,
        make_session(server, timeout=DEADLINE, batch_items=20) as session,
    ):
        async with asyncio.timeout(BOUND * 2) as bound:
            with pytest.raises(TimeoutError) as info:
                await session.enumerate(SERVICE).to_list()
        assert not bound.expired()
        assert info.value.operation == "Pull"
        # The abandoned enumeration's context was released.
        assert server.host(0).stats.releases
        assert server.host(0).contexts_open == 0
