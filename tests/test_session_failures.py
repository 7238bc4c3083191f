"""Each kind of host failure surfaces as the right error, naming host and operation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiowsman import (
    AsyncSession,
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    QuotaExceededFault,
    ResponseTooLargeError,
    ServiceUnavailableError,
    UnsafeXMLError,
    WSManError,
)
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer

SERVICE = "wmicimv2/Win32_Service"


@pytest.mark.parametrize(
    ("injection", "error"),
    [
        (Injection(InjectionKind.HTTP_500), HTTPStatusError),
        (Injection(InjectionKind.HTTP_503, retry_after=3), ServiceUnavailableError),
        (Injection(InjectionKind.GARBAGE), ProtocolError),
        (Injection(InjectionKind.WRONG_RELATES_TO), ProtocolError),
        (Injection(InjectionKind.TRUNCATED_BODY), ConnectError),
        (Injection(InjectionKind.RESET_MID_RESPONSE), ConnectError),
        (Injection(InjectionKind.OVERSIZED, size=2_000_000), ResponseTooLargeError),
        (Injection(InjectionKind.XXE), UnsafeXMLError),
        (Injection(InjectionKind.BILLION_LAUGHS), UnsafeXMLError),
        (Injection(InjectionKind.UNAUTHORIZED), AuthenticationError),
        (Injection(InjectionKind.QUOTA), QuotaExceededFault),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Injection) else v.__name__,
)
async def test_injected_failure_is_the_right_error_naming_host_and_operation(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    injection: Injection,
    error: type[WSManError],
) -> None:
    def inject(info: RequestInfo) -> Injection | None:
        return injection if info.operation == "Invoke" else None

    async with (
        make_server(behaviours={0: HostBehaviour(inject=inject)}) as server,
        make_session(server) as session,
    ):
        with pytest.raises(error) as info:
            await session.invoke("StopService", f"{SERVICE}?Name=WinRM")
        assert info.value.host == session.host
        assert info.value.operation == "Invoke"
        # The session stays usable after any of them.
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


async def test_service_unavailable_carries_retry_after(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    behaviour = HostBehaviour(always=Injection(InjectionKind.HTTP_503, retry_after=3))
    async with make_server(behaviours={0: behaviour}) as server, make_session(server) as session:
        with pytest.raises(ServiceUnavailableError) as info:
            await session.identify()
    assert info.value.retry_after == 3.0


async def test_a_host_that_is_down_is_a_connect_error(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(hosts=2, behaviours={1: HostBehaviour(down=True)}) as server,
        make_session(server, index=1) as down,
        make_session(server, index=0) as up,
    ):
        with pytest.raises(ConnectError) as info:
            await down.identify()
        assert info.value.host == down.host
        assert (await up.identify()).product_vendor
