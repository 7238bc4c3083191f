"""The client flows against the real test server (aiohttp on 127.0.0.1) with the acceptors.

A minimal driver sends each request of a flow over one keep-alive
connection (the schemes are connection-bound), so the server's
per-connection contexts are exercised without the transport; the full
stack is in ``tests/test_e2e_auth_*.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from aiowsman.auth.base import Auth, HttpRequest, HttpResponse, Offload
from aiowsman.auth.credssp import CredSSPAuth
from aiowsman.auth.spnego import KerberosAuth, NTLMAuth
from aiowsman.errors import AuthenticationError
from aiowsman.testing.server import WSManTestServer
from aiowsman.testing.server_auth import ServerAuthHandler
from aiowsman.testing.spnego_auth import (
    CredSSPServerAuth,
    KerberosServerAuth,
    NegotiateServerAuth,
    NTLMUserFile,
)
from tests.kdc import MAX_STEPS, Realm, kdc

__all__ = ["kdc"]  # the KDC fixture, re-exported for pytest

IDENTIFY = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)
PASSWORD = "Srv-pa55"


@pytest.fixture
def users() -> Iterator[NTLMUserFile]:
    with NTLMUserFile({"carol": PASSWORD}, domain="CORP") as store:
        yield store


async def exchange(session: aiohttp.ClientSession, request: HttpRequest) -> HttpResponse:
    async with session.post(request.url, data=request.body, headers=request.headers) as r:
        headers: dict[str, str] = {}
        for key, value in r.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return HttpResponse(r.status, headers, await r.read())


async def send(auth: Auth, url: str, *, encrypt: bool, count: int = 2) -> list[HttpResponse]:
    """Send ``count`` Identify requests through one context on one connection."""
    context = auth.new_context(url=url, host="127.0.0.1", encrypt=encrypt)
    loop = asyncio.get_running_loop()
    results = []
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(count):
            headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
            flow = context.flow(HttpRequest(url=url, body=IDENTIFY, headers=headers))
            step = next(flow)
            for _ in range(MAX_STEPS):
                value: Any
                if isinstance(step, Offload):
                    value = await loop.run_in_executor(None, step.func)
                else:
                    value = await exchange(session, step)
                try:
                    step = flow.send(value)
                except StopIteration as stop:
                    results.append(stop.value)
                    break
            else:
                raise AssertionError("flow did not finish")
    return results


@pytest.fixture
async def server_with(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Any]:
    servers: list[WSManTestServer] = []

    async def start(handler: ServerAuthHandler, **options: Any) -> str:
        server = WSManTestServer(auth=(), auth_handlers=[handler], **options)
        await server.__aenter__()
        servers.append(server)
        return server.endpoints[0]

    yield start
    for server in servers:
        await server.__aexit__(None, None, None)


async def test_ntlm_over_http_against_the_test_server(
    users: NTLMUserFile, server_with: Any
) -> None:
    handler = NegotiateServerAuth()
    url = await server_with(handler)
    responses = await send(NTLMAuth("CORP\\carol", PASSWORD), url, encrypt=False)
    assert [r.status for r in responses] == [200, 200]
    assert b"IdentifyResponse" in responses[1].body
    assert handler.logons == ["CORP\\carol"]  # one handshake for the connection


async def test_ntlm_encrypted_against_a_server_refusing_plaintext(
    users: NTLMUserFile, server_with: Any
) -> None:
    handler = NegotiateServerAuth(require_encryption=True)
    url = await server_with(handler, allow_unencrypted=False)
    responses = await send(NTLMAuth("CORP\\carol", PASSWORD), url, encrypt=True)
    assert [r.status for r in responses] == [200, 200]
    assert all(b"IdentifyResponse" in r.body for r in responses)
    assert all(r.content_type.startswith("application/soap+xml") for r in responses)


async def test_unencrypted_ntlm_is_refused_when_allow_unencrypted_is_false(
    users: NTLMUserFile, server_with: Any
) -> None:
    url = await server_with(NegotiateServerAuth(), allow_unencrypted=False)
    with pytest.raises(AuthenticationError, match="AllowUnencrypted"):
        await send(NTLMAuth("CORP\\carol", PASSWORD), url, encrypt=False, count=1)


async def test_ntlm_wrong_password_against_the_test_server(
    users: NTLMUserFile, server_with: Any
) -> None:
    url = await server_with(NegotiateServerAuth())
    with pytest.raises(AuthenticationError) as info:
        await send(NTLMAuth("CORP\\carol", "nope"), url, encrypt=False, count=1)
    assert info.value.scheme == "ntlm"


async def test_credssp_encrypted_against_the_test_server(
    users: NTLMUserFile, server_with: Any
) -> None:
    handler = CredSSPServerAuth(require_encryption=True)
    url = await server_with(handler, allow_unencrypted=False)
    auth = CredSSPAuth("CORP\\carol", PASSWORD, auth_mechanism="ntlm")
    responses = await send(auth, url, encrypt=True)
    assert [r.status for r in responses] == [200, 200]
    assert b"IdentifyResponse" in responses[0].body
    assert handler.delegated_users == ["CORP\\carol"]


async def test_kerberos_encrypted_against_the_test_server(kdc: Realm, server_with: Any) -> None:
    handler = KerberosServerAuth(hostname=kdc.hostname, require_encryption=True)
    url = await server_with(handler, allow_unencrypted=False)
    auth = KerberosAuth(kdc.user, kdc.password, hostname_override=kdc.hostname)
    responses = await send(auth, url, encrypt=True)
    assert [r.status for r in responses] == [200, 200]
    assert all(b"IdentifyResponse" in r.body for r in responses)
    assert handler.logons == [kdc.user]


async def test_encrypted_handshake_leg_is_answered_200_with_an_empty_body(
    users: NTLMUserFile, server_with: Any
) -> None:
    # MS-WSMV 2.2.9.1: the handshake of an encrypted session carries no SOAP;
    # Windows answers its last leg 200 with an empty body, not a SOAP fault.
    url = await server_with(NegotiateServerAuth(require_encryption=True), allow_unencrypted=False)
    context = NTLMAuth("CORP\\carol", PASSWORD).new_context(url=url, host="127.0.0.1", encrypt=True)
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    flow = context.flow(HttpRequest(url=url, body=IDENTIFY, headers=headers))
    seen: list[tuple[int, HttpResponse]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        step = next(flow)
        for _ in range(MAX_STEPS):
            assert isinstance(step, HttpRequest)
            response = await exchange(session, step)
            seen.append((len(step.body), response))
            try:
                step = flow.send(response)
            except StopIteration:
                break
    # Negotiate (401 + challenge), Authenticate with an empty body, then the sealed SOAP.
    assert [(size, r.status) for size, r in seen[:2]] == [(0, 401), (0, 200)]
    assert seen[1][1].body == b""
    assert seen[2][1].status == 200
    assert seen[2][1].content_type.startswith("multipart/encrypted")
