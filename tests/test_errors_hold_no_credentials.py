"""No credential is reachable from an error a caller gets, exception chains included.

``str``/``repr`` of errors are checked elsewhere (test_e2e_auth_hygiene). Here
the whole object graph reachable from the caught exception is walked
(:mod:`tests.object_graph`: ``args``, ``__dict__``, ``__cause__``,
``__context__``, attributes, container elements; not traceback frames) for
every authentication scheme and every way an exchange can fail, and no
password, no base64 or UTF-16 form of it, and no ``Authorization`` header
value that went on the wire may appear in it. aiohttp's own errors hold the
request (``RequestInfo`` with its headers) and the connection key (with
proxy credentials), so they must never hang off ours.

The peer is a hand-written HTTP(S) server that records every request's
``Authorization`` header and fails in one chosen way. A request without
credentials is answered with a 401 challenge on the kept-alive connection
(the channel-binding probe of the SPNEGO schemes), so the failure always
hits a request that carries them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.client_reqrep import RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from aiowsman import AsyncSession
from aiowsman.errors import WSManError
from aiowsman.fanout import run
from tests.kdc import E2E_PASSWORD, E2E_USER, Realm, client_certificate, kdc
from tests.object_graph import find_secrets

__all__ = ["kdc"]  # the module's KDC fixture, re-exported for pytest

PROXY_USER = "proxyuser"
PROXY_PASSWORD = "Prx-Secret-never-reachable"

KINDS = [
    "401",
    "500-html",
    "malformed-http",
    "reset",
    "closed",
    "cut-body",
    "silent",
    "refused",
    "untrusted-tls",
]
SCHEMES = ["basic", "ntlm", "negotiate", "credssp", "kerberos", "certificate", "none"]


@dataclass
class HostilePeer:
    """An HTTP(S) listener on 127.0.0.1 failing every credentialed request one way."""

    kind: str
    challenge: str
    port: int = 0
    authorizations: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    answer_unauthenticated: bool = True

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            for _ in range(8):  # requests per connection
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    await asyncio.wait_for(reader.readexactly(length), 10)
                auth = headers.get("authorization")
                if auth:
                    self.authorizations.append(auth)
                elif self.answer_unauthenticated:
                    writer.write(
                        b"HTTP/1.1 401 Unauthorized\r\n"
                        + f"WWW-Authenticate: {self.challenge}\r\n".encode()
                        + b"Content-Length: 0\r\n\r\n"
                    )
                    await writer.drain()
                    continue
                await self.fail(writer)
                return
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def fail(self, writer: asyncio.StreamWriter) -> None:
        kind = self.kind
        if kind == "401":
            writer.write(
                b"HTTP/1.1 401 Unauthorized\r\n"
                + f"WWW-Authenticate: {self.challenge}\r\n".encode()
                + b"Content-Length: 0\r\n\r\n"
            )
        elif kind == "500-html":
            page = b"<html><body>Internal Server Error</body></html>"
            writer.write(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
                + f"Content-Length: {len(page)}\r\n\r\n".encode()
                + page
            )
        elif kind == "malformed-http":
            writer.write(b"HTTP/1.1 two hundred OK\r\nX: y\r\n\r\n")
        elif kind == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        elif kind == "closed":
            return
        elif kind == "cut-body":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
                b"Content-Length: 4000\r\n\r\n<s:Envelope xmlns:s="
            )
        elif kind == "silent":
            await asyncio.sleep(5)
            return
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def start(self, tls: ssl.SSLContext | None) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def secret_forms(user: str, password: str) -> list[str | bytes]:
    """A password as it may sit in memory or on the wire."""
    return [
        password,
        password.encode("utf-16-le"),
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(password.encode("utf-16-le")).decode(),
        base64.b64encode(f"{user}:{password}".encode()).decode(),
    ]


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    # Ask for (not require) a client certificate, as WinRM's HTTPS listener does.
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


CHALLENGES = {
    "basic": 'Basic realm="WSMAN"',
    "ntlm": "Negotiate",
    "negotiate": "Negotiate",
    "credssp": "CredSSP",
    "kerberos": "Kerberos",
    "certificate": "Negotiate",
    "none": "Negotiate",
}


def session_kwargs(
    scheme: str, realm: Realm, ca_file: str, cert_dir: Path, ca: trustme.CA
) -> tuple[dict[str, Any], str, str]:
    """AsyncSession keywords for ``scheme``, and its user and password."""
    kwargs: dict[str, Any] = {"auth": scheme, "verify": ca_file, "timeout": 1.0, "retries": 0}
    user, password = E2E_USER, E2E_PASSWORD
    if scheme == "kerberos":
        user, password = realm.user, realm.password
        kwargs["auth_options"] = {"hostname_override": realm.hostname}
    elif scheme == "credssp":
        kwargs["auth_options"] = {"auth_mechanism": "ntlm"}
    if scheme == "certificate":
        kwargs["cert"] = client_certificate(ca, cert_dir)
    elif scheme != "none":
        kwargs.update(username=user, password=password)
    return kwargs, user, password


@contextlib.asynccontextmanager
async def hostile_endpoint(
    kind: str, scheme: str, ca: trustme.CA
) -> AsyncIterator[tuple[str, HostilePeer]]:
    """An https endpoint failing as ``kind`` for ``scheme``'s credentialed requests."""
    peer = HostilePeer(kind, CHALLENGES[scheme])
    # Requests that carry their credential outside the header (certificate)
    # or none at all are failed at once.
    peer.answer_unauthenticated = scheme not in ("certificate", "none")
    if kind == "refused":
        yield f"https://127.0.0.1:{_free_port()}/wsman", peer
        return
    other = trustme.CA() if kind == "untrusted-tls" else ca
    await peer.start(server_tls(other))
    try:
        yield f"https://127.0.0.1:{peer.port}/wsman", peer
    finally:
        await peer.close()


def assert_nothing_reachable(root: object, secrets: list[str | bytes], what: str) -> None:
    findings = find_secrets(root, secrets)
    assert not findings, f"{what}: a credential is reachable at {findings[0]}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_no_credential_is_reachable_from_a_failed_operation(
    scheme: str, kind: str, kdc: Realm, tls_ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    kwargs, user, password = session_kwargs(scheme, kdc, ca_file, tmp_path, tls_ca)
    async with hostile_endpoint(kind, scheme, tls_ca) as (url, peer):
        async with AsyncSession(url, **kwargs) as session:
            with pytest.raises(WSManError) as info:
                await session.get("wmicimv2/Win32_Service", Name="WinRM")
        error = info.value
    if kind not in ("refused", "untrusted-tls") and scheme not in ("certificate", "none"):
        # The failure hit a request carrying credentials (else this proves nothing).
        assert peer.authorizations, f"{scheme}/{kind}: no credentials reached the peer"
    secrets = secret_forms(user, password) + list(peer.authorizations)
    assert_nothing_reachable(error, secrets, f"{scheme}/{kind}")


@pytest.mark.parametrize("kind", ["malformed-http", "refused"])
async def test_no_credential_is_reachable_through_a_proxy_failure(kind: str) -> None:
    # aiohttp keeps proxy credentials in the request (Proxy-Authorization) and
    # the connection key it puts in its errors.
    peer = HostilePeer(kind, CHALLENGES["basic"])
    if kind == "refused":
        port = _free_port()
    else:
        await peer.start(None)
        port = peer.port
    try:
        async with AsyncSession(
            "http://192.0.2.1:5985",  # reached only through the proxy
            auth="basic",
            username=E2E_USER,
            password=E2E_PASSWORD,
            allow_unencrypted=True,
            proxy=f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}",
            timeout=2.0,
            retries=0,
        ) as session:
            with pytest.raises(WSManError) as info:
                await session.get("wmicimv2/Win32_Service", Name="WinRM")
    finally:
        await peer.close()
    if kind != "refused":
        assert peer.authorizations  # the failure answered a request with credentials
    secrets = secret_forms(E2E_USER, E2E_PASSWORD) + secret_forms(PROXY_USER, PROXY_PASSWORD)
    assert_nothing_reachable(info.value, secrets, f"proxy {kind}")


@pytest.mark.parametrize("kind", ["malformed-http", "silent", "closed"])
async def test_no_credential_is_reachable_from_a_fan_out_result(
    kind: str, tls_ca: trustme.CA, ca_file: str
) -> None:
    async def get(session: AsyncSession) -> object:
        return await session.get("wmicimv2/Win32_Service", Name="WinRM")

    async with hostile_endpoint(kind, "basic", tls_ca) as (url, peer):
        results = await run(
            [url],
            get,
            deadline=3.0,
            retries=0,
            auth="basic",
            username=E2E_USER,
            password=E2E_PASSWORD,
            verify=ca_file,
            timeout=1.0,
        ).collect()
    (result,) = results
    assert not result.ok
    secrets = secret_forms(E2E_USER, E2E_PASSWORD) + list(peer.authorizations)
    assert_nothing_reachable(result, secrets, f"fan-out {kind}")


def test_the_graph_walk_finds_a_header_held_by_an_aiohttp_error() -> None:
    # The check above can fail: aiohttp's own error holds the header it sent.
    header = "Basic " + base64.b64encode(f"{E2E_USER}:{E2E_PASSWORD}".encode()).decode()
    info = RequestInfo(
        URL("https://127.0.0.1:5986/wsman"),
        "POST",
        CIMultiDictProxy(CIMultiDict({"Authorization": header})),
    )
    aiohttp_error = aiohttp.ClientResponseError(info, (), status=400, message="bad")
    try:
        try:
            raise aiohttp_error
        except aiohttp.ClientError as exc:
            raise WSManError("wrapped") from exc
    except WSManError as exc:
        chained: WSManError = exc
    findings = find_secrets(chained, secret_forms(E2E_USER, E2E_PASSWORD))
    assert findings and "__cause__" in findings[0].path
