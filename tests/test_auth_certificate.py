"""Client-certificate authentication over real TLS on 127.0.0.1 (trustme certificates)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from aiowsman.auth.base import HttpRequest, HttpResponse
from aiowsman.auth.certificate import MUTUAL_PROFILE, CertificateAuth
from aiowsman.errors import AuthenticationError, ConfigurationError, InsecureTransportError
from aiowsman.testing.server_auth import ConnectionState
from aiowsman.testing.spnego_auth import CertificateServerAuth
from tests.kdc import SOAP


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_certs(ca: trustme.CA, tmp_path: Path) -> Iterator[dict[str, Path]]:
    paths = {}
    for name in ("alice", "eve"):
        cert = ca.issue_cert(f"{name}@example.test", common_name=name)
        path = tmp_path / f"{name}.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(path))
        paths[name] = path
    yield paths


@pytest.fixture
async def server(ca: trustme.CA) -> AsyncIterator[tuple[str, CertificateServerAuth]]:
    """A minimal HTTPS endpoint that asks the certificate handler about each request."""
    handler = CertificateServerAuth({"alice": "CORP\\alice"})

    async def wsman(request: web.Request) -> web.Response:
        body = await request.read()
        outcome = await handler.authenticate(request, body, ConnectionState())
        if outcome.kind != "ok":
            return web.Response(status=401)
        return web.Response(body=f"user={outcome.user}".encode() + outcome.plaintext)

    app = web.Application()
    app.router.add_post("/wsman", wsman)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}/wsman", handler
    finally:
        await runner.cleanup()


async def send(url: str, ca: trustme.CA, auth: CertificateAuth | None) -> HttpResponse:
    """Drive the certificate flow over a real TLS connection."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    if auth is None:
        flow = None
        request = HttpRequest(
            url=url, body=SOAP, headers=dict(headers, Authorization=MUTUAL_PROFILE)
        )
    else:
        auth.configure_ssl_context(ctx)
        flow = auth.new_context(url=url, host="127.0.0.1").flow(
            HttpRequest(url=url, body=SOAP, headers=headers)
        )
        request = next(flow)
    async with (
        aiohttp.ClientSession() as session,
        session.post(request.url, data=request.body, headers=request.headers, ssl=ctx) as r,
    ):
        response = HttpResponse(
            r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()
        )
    if flow is None:
        return response
    try:
        flow.send(response)
    except StopIteration as stop:
        result: HttpResponse = stop.value
        return result
    raise AssertionError("certificate flow sent a second request")


async def test_mapped_certificate_logs_on_as_the_mapped_user(
    server: tuple[str, CertificateServerAuth], ca: trustme.CA, client_certs: dict[str, Path]
) -> None:
    url, _ = server
    response = await send(url, ca, CertificateAuth(str(client_certs["alice"])))
    assert response.status == 200
    assert response.body == b"user=CORP\\alice" + SOAP


async def test_unmapped_certificate_is_an_authentication_error(
    server: tuple[str, CertificateServerAuth], ca: trustme.CA, client_certs: dict[str, Path]
) -> None:
    url, _ = server
    with pytest.raises(AuthenticationError) as info:
        await send(url, ca, CertificateAuth(str(client_certs["eve"])))
    assert info.value.scheme == "certificate"


async def test_request_without_a_certificate_is_refused(
    server: tuple[str, CertificateServerAuth], ca: trustme.CA
) -> None:
    url, _ = server
    assert (await send(url, ca, None)).status == 401


def test_flow_adds_the_https_mutual_profile_header() -> None:
    flow = (
        CertificateAuth("c.pem")
        .new_context(url="https://h/wsman", host="h")
        .flow(HttpRequest(url="https://h/wsman", body=SOAP))
    )
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert request.headers["Authorization"] == MUTUAL_PROFILE
    assert request.body == SOAP


def test_certificate_auth_refuses_plain_http() -> None:
    with pytest.raises(InsecureTransportError):
        CertificateAuth("c.pem").new_context(url="http://h:5985/wsman", host="h")


def test_certificate_auth_cannot_encrypt_messages() -> None:
    with pytest.raises(ConfigurationError):
        CertificateAuth("c.pem").new_context(url="https://h/wsman", host="h", encrypt=True)


def test_configure_ssl_context_enables_post_handshake_auth(client_certs: dict[str, Path]) -> None:
    ctx = ssl.create_default_context()
    CertificateAuth(str(client_certs["alice"])).configure_ssl_context(ctx)
    assert ctx.post_handshake_auth is True


def test_unloadable_certificate_error_hides_the_passphrase(tmp_path: Path) -> None:
    auth = CertificateAuth(str(tmp_path / "missing.pem"), key_password="hunter2-secret")
    with pytest.raises(ConfigurationError) as info:
        auth.configure_ssl_context(ssl.create_default_context())
    assert "missing.pem" in str(info.value)
    assert "hunter2-secret" not in str(info.value) + repr(auth) + repr(vars(auth))


def test_client_cert_gives_the_transport_the_files() -> None:
    assert CertificateAuth("c.pem", "k.pem").client_cert == ("c.pem", "k.pem")
