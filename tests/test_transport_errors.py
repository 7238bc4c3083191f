"""How the transport maps HTTP statuses and connection failures onto aiowsman errors."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from aiowsman._endpoint import parse_endpoint
from aiowsman.auth import BasicAuth, NoAuth
from aiowsman.errors import (
    AuthenticationError,
    ConnectError,
    DNSError,
    EnvelopeTooLargeError,
    HTTPStatusError,
    ResponseTooLargeError,
    ServiceUnavailableError,
)
from aiowsman.transport import Transport, TransportSettings, _ChannelPool, response_size_cap

if TYPE_CHECKING:
    from tests.conftest import MockedHTTP

URL_HTTPS = "https://127.0.0.1:5986/wsman"
FAULT = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>'
    b"<s:Code><s:Value>s:Sender</s:Value></s:Code></s:Fault></s:Body></s:Envelope>"
)


def _transport(**settings: Any) -> Transport:
    return Transport(
        parse_endpoint(URL_HTTPS),
        auth=BasicAuth("alice", "s3cret"),
        settings=TransportSettings(**settings),
    )


async def _exchange(transport: Transport) -> Any:
    try:
        return await transport.exchange(b"<x/>", operation="Get")
    finally:
        await transport.close()


async def test_http_401_is_an_authentication_error_naming_the_scheme(
    mocked_http: MockedHTTP,
) -> None:
    mocked_http.post(URL_HTTPS, status=401, body=b"", headers={"WWW-Authenticate": "Negotiate"})
    with pytest.raises(AuthenticationError) as info:
        await _exchange(_transport())
    assert info.value.scheme == "basic"
    assert "Negotiate" in str(info.value)
    assert "s3cret" not in str(info.value)


async def test_http_413_is_envelope_too_large(mocked_http: MockedHTTP) -> None:
    mocked_http.post(URL_HTTPS, status=413, body=b"", content_type="text/html")
    with pytest.raises(EnvelopeTooLargeError) as info:
        await _exchange(_transport())
    assert info.value.status == 413


async def test_http_503_carries_retry_after_seconds(mocked_http: MockedHTTP) -> None:
    mocked_http.post(
        URL_HTTPS,
        status=503,
        body=b"busy",
        content_type="text/plain",
        headers={"Retry-After": "7"},
    )
    with pytest.raises(ServiceUnavailableError) as info:
        await _exchange(_transport())
    assert info.value.retry_after == 7.0
    assert info.value.host == "127.0.0.1:5986"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 12 ", 12.0), ("²", None), ("-3", None), ("soon", None), ("", None)],
)
async def test_http_503_retry_after_that_is_not_delay_seconds_is_ignored(
    mocked_http: MockedHTTP, header: str, seconds: float | None
) -> None:
    mocked_http.post(
        URL_HTTPS,
        status=503,
        body=b"busy",
        content_type="text/plain",
        headers={"Retry-After": header},
    )
    with pytest.raises(ServiceUnavailableError) as info:
        await _exchange(_transport())
    assert info.value.retry_after == seconds


async def test_other_status_without_soap_is_http_status_error(mocked_http: MockedHTTP) -> None:
    mocked_http.post(URL_HTTPS, status=404, body=b"<html>nope</html>", content_type="text/html")
    with pytest.raises(HTTPStatusError) as info:
        await _exchange(_transport())
    assert info.value.status == 404
    assert type(info.value) is HTTPStatusError


async def test_http_500_with_a_soap_fault_is_returned_for_the_session_to_parse(
    mocked_http: MockedHTTP,
) -> None:
    mocked_http.post(URL_HTTPS, status=500, body=FAULT)
    response = await _exchange(_transport())
    assert response.status == 500
    assert response.body == FAULT


async def test_response_over_the_size_cap_is_refused(mocked_http: MockedHTTP) -> None:
    cap = response_size_cap(10_000)
    mocked_http.post(URL_HTTPS, status=200, body=b"<a>" + b"x" * cap + b"</a>")
    with pytest.raises(ResponseTooLargeError):
        await _exchange(_transport(max_response_size=cap))


def test_size_cap_leaves_room_for_utf16_and_encryption_framing() -> None:
    assert response_size_cap(512000) == 2 * 512000 + 65536


async def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:  # a port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = Transport(parse_endpoint(f"127.0.0.1:{port}"), auth=NoAuth())
    with pytest.raises(ConnectError):
        await _exchange(transport)


class _FailingResolver(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        return None


async def test_unresolvable_name_is_a_dns_error() -> None:
    connector = aiohttp.TCPConnector(resolver=_FailingResolver())
    try:
        transport = Transport(
            parse_endpoint("no-such-host.invalid"), auth=NoAuth(), connector=connector
        )
        with pytest.raises(DNSError):
            await _exchange(transport)
    finally:
        await connector.close()


async def test_server_closing_without_answer_is_a_connect_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport = Transport(parse_endpoint(f"127.0.0.1:{port}"), auth=NoAuth())
        with pytest.raises(ConnectError):
            await _exchange(transport)
    finally:
        server.close()
        await server.wait_closed()


# -- the channel pool of connection-bound schemes ---------------------------------


class _Chan:
    def __init__(self, n: int) -> None:
        self.n = n


def _pool(size: int) -> tuple[_ChannelPool, list[Any]]:
    made: list[Any] = []

    def factory() -> Any:
        made.append(_Chan(len(made)))
        return made[-1]

    return _ChannelPool(factory, size), made


async def test_pool_never_creates_more_channels_than_its_size() -> None:
    pool, made = _pool(2)
    a = await pool.acquire()
    b = await pool.acquire()
    third = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    pool.release(a)
    assert await asyncio.wait_for(third, 5) is a
    assert len(made) == 2
    pool.release(b)


async def test_pool_hands_channels_to_waiters_in_arrival_order() -> None:
    pool, _ = _pool(1)
    only = await pool.acquire()
    order: list[int] = []

    async def borrow(i: int) -> None:
        ch = await pool.acquire()
        order.append(i)
        pool.release(ch)

    tasks = [asyncio.ensure_future(borrow(i)) for i in range(5)]
    await asyncio.sleep(0)
    pool.release(only)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_waiter_does_not_lose_a_channel() -> None:
    pool, made = _pool(1)
    only = await pool.acquire()
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    pool.release(only)  # handed to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    again = await asyncio.wait_for(pool.acquire(), 5)
    assert again is only
    assert len(made) == 1
