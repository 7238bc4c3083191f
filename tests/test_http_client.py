"""The library's aiohttp clients (``aiowsman._http``): credential keys and settings.

Found missing by mutation testing (``benchmarks/results/mutation-core.md``):
the credential tag of a header that is not a ``CredentialHeader`` (an auth
flow's), and what ``new_client`` sets on every client -- no aiohttp timeout,
no transparent decompression, the caller's tracing kept.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aiowsman import AsyncSession
from aiowsman._http import (
    _TAG_KEY,
    CredentialHeader,
    _CredentialKeyedRequest,
    credential_tag,
    is_library_client,
    new_client,
)
from aiowsman.errors import ProtocolError
from aiowsman.testing import WSManTestServer
from tests.conftest import BASIC_OVER_HTTP

URL_A = URL("http://192.0.2.1:5985/wsman")


def _key(authorization: str | None, url: URL = URL_A) -> object:
    headers = {} if authorization is None else {"Authorization": authorization}
    loop = asyncio.get_running_loop()
    return _CredentialKeyedRequest("POST", url, headers=headers, loop=loop).connection_key


def _aiohttp_key(authorization: str | None, url: URL = URL_A) -> object:
    headers = {} if authorization is None else {"Authorization": authorization}
    loop = asyncio.get_running_loop()
    return aiohttp.ClientRequest("POST", url, headers=headers, loop=loop).connection_key


# -- the credential tag ---------------------------------------------------------


def test_the_credential_tag_is_a_keyed_64_bit_digest() -> None:
    value = "Basic dXNlcjpwYXNz"
    tag = credential_tag(value)
    assert 0 <= tag < 2**64
    assert tag == credential_tag(value)
    assert tag != credential_tag("Basic b3RoZXI6cGFzcw==")
    # Keyed with the process's secret: a tag seen in a ConnectionKey (or a
    # log of one) cannot be checked offline against a guessed password.
    unkeyed = hashlib.blake2b(value.encode(), digest_size=8).digest()
    assert tag != int.from_bytes(unkeyed, "big")
    keyed = hashlib.blake2b(value.encode(), key=_TAG_KEY, digest_size=8).digest()
    assert tag == int.from_bytes(keyed, "big")


def test_any_header_text_has_a_tag_even_one_no_encoding_can_send() -> None:
    # A lone surrogate cannot go on the wire (aiohttp refuses it later, with
    # its own error); computing the pool key must not be what fails first.
    assert credential_tag("Basic \ud800") != credential_tag("Basic \ud801")


def test_a_credential_header_carries_the_tag_of_its_value() -> None:
    header = CredentialHeader("Basic dXNlcjpwYXNz")
    assert header == "Basic dXNlcjpwYXNz"
    assert header.tag == credential_tag("Basic dXNlcjpwYXNz")


# -- connection keys ----------------------------------------------------------


async def test_plain_text_authorization_headers_are_keyed_by_their_credentials() -> None:
    # An auth flow's headers are plain strings (not CredentialHeader): they
    # must still keep two users' connections apart, and one user's together.
    alice, bob = "Basic YWxpY2U6cHc=", "Basic Ym9iOnB3"
    assert _key(alice) != _key(bob)
    assert _key(alice) == _key(alice)
    assert _key(alice) != _key(None)


async def test_a_credential_header_and_the_same_plain_text_share_connections() -> None:
    value = "Basic YWxpY2U6cHc="
    assert _key(CredentialHeader(value)) == _key(value)
    assert _key(CredentialHeader(value)) != _key(CredentialHeader("Basic Ym9iOnB3"))


async def test_without_credentials_the_key_is_aiohttps_own() -> None:
    assert _key(None) == _aiohttp_key(None)
    # ... and with them, only the slot the tag is folded into differs.
    keyed, plain = _key("Basic YWxpY2U6cHc="), _aiohttp_key("Basic YWxpY2U6cHc=")
    differing = [name for name in plain._fields if getattr(keyed, name) != getattr(plain, name)]  # type: ignore[attr-defined]
    assert differing == ["proxy_headers_hash"]


async def test_a_requests_key_is_the_same_each_time_it_is_asked() -> None:
    loop = asyncio.get_running_loop()
    request = _CredentialKeyedRequest(
        "POST", URL_A, headers={"Authorization": "Basic YWxpY2U6cHc="}, loop=loop
    )
    assert request.connection_key == request.connection_key


# -- what every client of the library is ----------------------------------------


async def test_library_clients_are_known_as_such_and_only_when_keyed() -> None:
    keyed = new_client(aiohttp.TCPConnector(), connector_owner=True)
    channel = new_client(aiohttp.TCPConnector(), connector_owner=True, keyed=False)
    users = aiohttp.ClientSession()
    try:
        assert is_library_client(keyed)
        assert not is_library_client(channel)
        assert not is_library_client(users)
        assert keyed._request_class is _CredentialKeyedRequest
        assert channel._request_class is aiohttp.ClientRequest
    finally:
        for client in (keyed, channel, users):
            await client.close()


async def test_library_clients_set_no_aiohttp_timeout() -> None:
    # Every operation has its own deadline (session.timeout); aiohttp's
    # default 300 s total would cut a longer one (a Receive waiting on a
    # long-running command, a big enumeration's Pull) short.
    client = new_client(aiohttp.TCPConnector(), connector_owner=True)
    try:
        assert client.timeout.total is None
        assert client.timeout.sock_read is None
    finally:
        await client.close()


@pytest.fixture
async def gzip_server() -> AsyncIterator[str]:
    """A peer answering every POST with a valid Identify answer, gzip-compressed."""
    envelope = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        b"<s:Header/><s:Body><wsmid:IdentifyResponse "
        b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
        b"<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
        b"</wsmid:ProtocolVersion></wsmid:IdentifyResponse></s:Body></s:Envelope>"
    )
    requests: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        requests.append(request.headers.get("Accept-Encoding", ""))
        return web.Response(
            body=gzip.compress(envelope),
            headers={
                "Content-Type": "application/soap+xml;charset=UTF-8",
                "Content-Encoding": "gzip",
            },
        )

    app = web.Application()
    app.router.add_post("/wsman", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/wsman"
    finally:
        await runner.cleanup()
    assert requests, "the client never reached the server"


async def test_a_compressed_answer_is_never_inflated(gzip_server: str) -> None:
    # WinRM does not compress; inflating would let a small hostile answer
    # expand past the response size cap, which counts the bytes received.
    async with AsyncSession(gzip_server, **BASIC_OVER_HTTP) as session:
        with pytest.raises(ProtocolError) as caught:
            await session.identify()
    assert caught.value.host == gzip_server.split("/")[2]
    assert caught.value.operation == "Identify"


async def test_the_callers_tracing_is_kept_on_its_client_session(
    basic_server: WSManTestServer,
) -> None:
    started: list[str] = []

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        started.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as mine,
        AsyncSession(basic_server.endpoints[0], client_session=mine, **BASIC_OVER_HTTP) as session,
    ):
        await session.identify()
        await session.identify()
    assert started == ["POST", "POST"]
