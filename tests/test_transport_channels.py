"""Connection-bound authentication (NTLM) on channels: one context per TCP connection.

Real NTLM: the client's flow against pyspnego's acceptor inside the test server,
over HTTP with MS-WSMV message encryption (AllowUnencrypted=false).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from aiowsman import AsyncSession, AuthenticationError
from aiowsman.auth.spnego import channel_binding_from_cert
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from aiowsman.testing.spnego_auth import NegotiateServerAuth, NTLMUserFile

SERVICE = "wmicimv2/Win32_Service"
NTLM_PASSWORD = "Ntlm-Pa55-w0rd"


@pytest.fixture
def ntlm_users() -> Iterator[NTLMUserFile]:
    with NTLMUserFile({"alice": NTLM_PASSWORD}, domain="CORP") as users:
        yield users


@pytest.fixture
def ntlm_server(
    ntlm_users: NTLMUserFile,
) -> Callable[..., WSManTestServer]:
    def make(**kwargs: object) -> WSManTestServer:
        return WSManTestServer(
            auth=(),
            auth_handlers=[NegotiateServerAuth(require_encryption=True)],
            allow_unencrypted=False,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


def _session(server: WSManTestServer, **kwargs: object) -> AsyncSession:
    return AsyncSession(
        server.endpoints[0],
        auth="ntlm",
        username="CORP\\alice",
        password=NTLM_PASSWORD,
        timeout=10.0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def slow_ntlm_server(
    ntlm_server: Callable[..., WSManTestServer],
) -> AsyncIterator[WSManTestServer]:
    async with ntlm_server(latency=0.05) as server:
        yield server


async def test_concurrent_operations_use_at_most_max_channels_connections(
    slow_ntlm_server: WSManTestServer,
) -> None:
    async with _session(slow_ntlm_server, max_channels=3) as session:
        items = await asyncio.gather(*(session.get(SERVICE, Name="WinRM") for _ in range(12)))
    assert [i["Name"] for i in items] == ["WinRM"] * 12
    stats = slow_ntlm_server.host(0).stats
    assert stats.connections == 3
    assert 2 <= stats.max_in_flight <= 3
    assert stats.auth_failures == 0


async def test_an_enumeration_runs_on_an_encrypted_channel(
    ntlm_server: Callable[..., WSManTestServer],
) -> None:
    async with ntlm_server() as server, _session(server, max_channels=1) as session:
        items = await session.enumerate(SERVICE, batch_items=40).to_list()
        assert len(items) == 200
        assert server.host(0).stats.connections == 1


async def test_a_replaced_connection_is_authenticated_afresh(
    ntlm_server: Callable[..., WSManTestServer],
) -> None:
    gets = 0

    def reset_second_get(info: RequestInfo) -> Injection | None:
        nonlocal gets
        if info.operation != "Get":
            return None
        gets += 1
        return Injection(InjectionKind.RESET_BEFORE_RESPONSE) if gets == 2 else None

    behaviour = HostBehaviour(inject=reset_second_get)
    async with (
        ntlm_server(behaviours={0: behaviour}) as server,
        _session(server, max_channels=1) as session,
    ):
        await session.get(SERVICE, Name="WinRM")
        # The server resets the connection under the established context; Get is
        # idempotent, so it is sent again on a new connection with a new context.
        item = await session.get(SERVICE, Name="Spooler")
        assert item["Name"] == "Spooler"
        assert server.host(0).stats.connections == 2


async def test_a_cancelled_request_leaves_the_channel_usable(
    ntlm_server: Callable[..., WSManTestServer],
) -> None:
    def hold_invoke(info: RequestInfo) -> Injection | None:
        return Injection(InjectionKind.BLACK_HOLE) if info.operation == "Invoke" else None

    async with (
        ntlm_server(behaviours={0: HostBehaviour(inject=hold_invoke)}) as server,
        _session(server, max_channels=1) as session,
    ):
        stuck = asyncio.ensure_future(session.invoke("StopService", f"{SERVICE}?Name=WinRM"))
        for _ in range(500):  # bounded wait until the server holds the request
            if server.host(0).stats.by_operation["Invoke"]:
                break
            await asyncio.sleep(0.01)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


async def test_ntlm_over_https_sends_the_servers_channel_binding(
    ntlm_users: NTLMUserFile,
    make_tls: Callable[..., ssl.SSLContext],
    tls_ca: trustme.CA,
    ca_file: str,
) -> None:
    leaf = tls_ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER
    )
    # The acceptor insists on this exact tls-server-end-point binding (EPA strict).
    handler = NegotiateServerAuth(channel_binding=channel_binding_from_cert(der))
    async with (
        WSManTestServer(tls=server_ctx, auth=(), auth_handlers=[handler]) as server,
        _session(server, verify=ca_file, max_channels=1) as session,
    ):
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


async def test_ntlm_over_https_with_a_wrong_binding_is_refused(
    ntlm_users: NTLMUserFile, make_tls: Callable[..., ssl.SSLContext], ca_file: str
) -> None:
    handler = NegotiateServerAuth(channel_binding=b"tls-server-end-point:" + b"\0" * 32)
    async with (
        WSManTestServer(tls=make_tls(), auth=(), auth_handlers=[handler]) as server,
        _session(server, verify=ca_file, max_channels=1) as session,
    ):
        with pytest.raises(AuthenticationError):
            await session.get(SERVICE, Name="WinRM")
