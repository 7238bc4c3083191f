"""A pooled connection is only reused by requests carrying the credentials it carried.

Servers that authenticate the connection rather than the request (OMI with
Basic: the test server's ``flavour="omi"``) serve a request without
``Authorization`` on a connection that once carried credentials as that
user. So sessions sharing a pool (a ``client_session``, a ``connector``, the
fan-out runner's client) with other credentials or none, and an
unauthenticated Identify, must never get such a connection -- while one set
of credentials across many sessions keeps sharing connections as before.
Such a server does not answer an unauthenticated request on a fresh
connection at all: the error then says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import trustme
from aiohttp import web

from aiowsman import AsyncSession
from aiowsman._http import CredentialHeader, credential_tag
from aiowsman.errors import ConnectError, TimeoutError
from aiowsman.fanout import run
from aiowsman.protocol import ResourceLocator
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.conftest import BASIC_OVER_HTTP, PASSWORD, USER
from tests.kdc import client_certificate, server_context

SERVICE = ResourceLocator(
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Win32_Service",
    __cimnamespace="root/cimv2",
    Name="WinRM",
)
OTHER, OTHER_PASSWORD = "other", "Other-Pa55"
HINT = "may require authentication on the connection"


@pytest_asyncio.fixture
async def omi(make_server: Callable[..., WSManTestServer]) -> AsyncIterator[WSManTestServer]:
    users = {USER: PASSWORD, OTHER: OTHER_PASSWORD}
    async with make_server(flavour="omi", users=users) as server:
        yield server


@pytest_asyncio.fixture
async def shared() -> AsyncIterator[aiohttp.ClientSession]:
    # One connection per host at most: any reuse across credentials would show.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        yield http


async def test_sessions_with_other_credentials_are_served_as_their_own_user(
    omi: WSManTestServer,
    make_session: Callable[..., AsyncSession],
    shared: aiohttp.ClientSession,
) -> None:
    async with (
        make_session(omi, client_session=shared) as first,
        make_session(omi, client_session=shared, username=OTHER, password=OTHER_PASSWORD) as other,
    ):
        for _ in range(3):
            await first.get(SERVICE)
            await other.get(SERVICE)
    assert omi.host(0).stats.by_user == {USER: 3, OTHER: 3}


async def test_a_session_without_credentials_is_not_served_as_another_user(
    omi: WSManTestServer,
    make_session: Callable[..., AsyncSession],
    shared: aiohttp.ClientSession,
) -> None:
    async with make_session(omi, client_session=shared) as first:
        await first.get(SERVICE)
        async with make_session(omi, client_session=shared, auth="none", timeout=0.5) as anon:
            with pytest.raises(TimeoutError, match=HINT):
                await anon.get(SERVICE)
        await first.get(SERVICE)  # the authenticated connection is still usable
    assert omi.host(0).stats.by_user == {USER: 2}


async def test_a_shared_connector_keeps_credentials_apart_too(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    try:
        async with make_session(omi, connector=connector) as first:
            await first.get(SERVICE)
            async with make_session(omi, connector=connector, auth="none", timeout=0.5) as anon:
                with pytest.raises(TimeoutError, match=HINT):
                    await anon.identify()
    finally:
        await connector.close()
    assert omi.host(0).stats.by_user == {USER: 1}


async def test_an_unauthenticated_identify_never_rides_an_authenticated_connection(
    omi: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(omi, timeout=0.5, max_channels=1) as session:
        await session.get(SERVICE)
        with pytest.raises(TimeoutError, match=HINT):
            await session.identify(unauthenticated=True)
    assert omi.host(0).stats.by_user == {USER: 1}
    assert omi.host(0).stats.by_operation["Identify"] == 0


async def test_the_fan_out_runner_keeps_credentials_apart(omi: WSManTestServer) -> None:
    async def get_then_identify_anonymously(session: AsyncSession) -> str:
        await session.get(SERVICE)
        try:
            await session.identify(unauthenticated=True)
        except TimeoutError as exc:
            return str(exc)
        return "answered"

    results = await run(
        omi.endpoints,
        get_then_identify_anonymously,
        deadline=5.0,
        timeout=0.5,
        **BASIC_OVER_HTTP,
    ).collect()
    (result,) = results
    assert result.ok and HINT in result.value
    assert omi.host(0).stats.by_user == {USER: 1}


async def test_one_set_of_credentials_keeps_sharing_connections(
    make_server: Callable[..., WSManTestServer],
) -> None:
    async def three_gets(session: AsyncSession) -> None:
        for _ in range(3):
            await session.get(SERVICE)

    async with make_server(hosts=4, flavour="omi") as server:
        results = await run(
            server.endpoints,
            three_gets,
            concurrency=4,
            **BASIC_OVER_HTTP,
        ).collect()
        assert all(r.ok for r in results)
        # Twelve requests, one connection per host: the common case is unchanged.
        assert server.summary()["requests"] == 12
        assert server.summary()["connections"] == 4


IDENTIFY_RESPONSE = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>'
    b'<wsmid:IdentifyResponse xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/'
    b'wsmanidentity.xsd"><wsmid:ProtocolVersion>v</wsmid:ProtocolVersion>'
    b"</wsmid:IdentifyResponse></s:Body></s:Envelope>"
)


async def test_a_certificate_sessions_unauthenticated_identify_presents_no_certificate(
    tls_ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    # The credential of certificate authentication lives in the TLS layer:
    # the unauthenticated Identify uses a TLS context without it. An HTTPS
    # endpoint that asks for (not requires) a client certificate records
    # which requests came with one.
    presented: dict[str, list[bool]] = {"/wsman": [], "/wsman-anon/identify": []}

    async def identify(request: web.Request) -> web.Response:
        await request.read()
        assert request.transport is not None
        presented[request.path].append(bool(request.transport.get_extra_info("peercert")))
        return web.Response(body=IDENTIFY_RESPONSE, content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/wsman", identify)
    app.router.add_post("/wsman-anon/identify", identify)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=server_context(tls_ca, client_certs=True)
    )
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with AsyncSession(
            f"https://127.0.0.1:{port}/wsman",
            auth="certificate",
            cert=client_certificate(tls_ca, tmp_path),
            verify=ca_file,
            timeout=10.0,
        ) as session:
            await session.identify()
            await session.identify(unauthenticated=True)
    finally:
        await runner.cleanup()
    assert presented == {"/wsman": [True], "/wsman-anon/identify": [False]}


@pytest.mark.parametrize(("auth", "hinted"), [("none", True), ("basic", False)])
async def test_a_dropped_unauthenticated_request_says_why_it_may_have_been(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    auth: str,
    hinted: bool,
) -> None:
    reset = HostBehaviour(always=Injection(InjectionKind.RESET_BEFORE_RESPONSE))
    async with (
        make_server(auth=("basic", "none"), behaviours={0: reset}) as server,
        make_session(server, auth=auth, retries=0) as session,
    ):
        with pytest.raises(ConnectError) as info:
            await session.get("wmicimv2/Win32_Service", Name="WinRM")
    assert (HINT in str(info.value)) is hinted


def test_a_header_tagged_in_advance_carries_the_tag_of_its_text() -> None:
    # Sessions tag their Authorization header once (CredentialHeader); the
    # pool must key it exactly as a header tagged per request, and the text
    # sent is unchanged.
    first, second = "Basic dXNlcjpwYXNz", "Basic b3RoZXI6cGFzcw=="
    assert CredentialHeader(first) == first
    assert CredentialHeader(first).tag == credential_tag(first)
    assert CredentialHeader(first).tag != CredentialHeader(second).tag
