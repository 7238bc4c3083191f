"""The test server over HTTPS (certificates from trustme)."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
import trustme

from aiowsman.testing import WSManTestServer
from tests.testing_raw import IDENTIFY, post


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def test_https_endpoints_answer_a_client_that_trusts_the_ca(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with WSManTestServer(hosts=2, tls=server_tls) as srv, aiohttp.ClientSession() as http:
        assert all(e.startswith("https://127.0.0.1:") for e in srv.endpoints)
        reply = await post(http, srv.endpoints[1], IDENTIFY, ssl=client_tls)
    assert reply.status == 200
    assert reply.text(
        "s:Body/wsmid:IdentifyResponse/wsmid:SecurityProfiles/wsmid:SecurityProfileName"
    ).endswith("/secprofile/https/basic")


async def test_https_refuses_a_client_that_does_not_trust_the_ca(
    server_tls: ssl.SSLContext,
) -> None:
    async with WSManTestServer(tls=server_tls) as srv, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await post(http, srv.endpoints[0], IDENTIFY, ssl=ssl.create_default_context())


async def test_basic_is_accepted_over_https_even_when_unencrypted_http_is_not(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with (
        WSManTestServer(tls=server_tls, allow_unencrypted=False) as srv,
        aiohttp.ClientSession() as http,
    ):
        reply = await post(http, srv.endpoints[0], IDENTIFY, ssl=client_tls)
    assert reply.status == 200


async def test_addresses_mode_over_https(ca: trustme.CA, client_tls: ssl.SSLContext) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "127.0.0.2", "127.0.0.3").configure_cert(ctx)
    async with (
        WSManTestServer(hosts=2, tls=ctx, address_mode="addresses") as srv,
        aiohttp.ClientSession() as http,
    ):
        reply = await post(http, srv.endpoints[1], IDENTIFY, ssl=client_tls)
    assert reply.status == 200
