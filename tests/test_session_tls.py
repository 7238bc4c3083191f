"""HTTPS with real certificates (trustme) against the real test server."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from aiowsman import AsyncSession, ConfigurationError, TLSError
from aiowsman.testing import WSManTestServer
from aiowsman.testing.spnego_auth import CertificateServerAuth

SERVICE = "wmicimv2/Win32_Service"


async def test_verified_https_with_a_ca_file_succeeds(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
    ca_file: str,
) -> None:
    async with (
        make_server(tls=make_tls(), allow_unencrypted=False) as server,
        make_session(server, verify=ca_file, allow_unencrypted=False) as session,
    ):
        assert session.endpoint.is_tls
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


async def test_an_unknown_ca_is_a_tls_error_by_default(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
) -> None:
    async with (
        make_server(tls=make_tls()) as server,
        make_session(server, allow_unencrypted=False) as session,
    ):
        with pytest.raises(TLSError) as info:
            await session.identify()
        assert info.value.host == session.host
        assert info.value.operation == "Identify"


async def test_skip_ca_check_accepts_an_unknown_ca(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
) -> None:
    async with (
        make_server(tls=make_tls()) as server,
        make_session(server, skip_ca_check=True, allow_unencrypted=False) as session,
    ):
        assert (await session.identify()).product_vendor


async def test_a_certificate_for_another_name_is_refused(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
    ca_file: str,
) -> None:
    async with (
        make_server(tls=make_tls("other.example")) as server,
        make_session(server, verify=ca_file, allow_unencrypted=False) as session,
    ):
        with pytest.raises(TLSError):
            await session.identify()


async def test_skip_cn_check_accepts_a_certificate_for_another_name(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
    ca_file: str,
) -> None:
    async with (
        make_server(tls=make_tls("other.example")) as server,
        make_session(
            server, verify=ca_file, skip_cn_check=True, allow_unencrypted=False
        ) as session,
    ):
        assert (await session.identify()).product_vendor


async def test_skip_cn_check_still_verifies_the_chain(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
) -> None:
    other_ca = trustme.CA()
    async with (
        make_server(tls=make_tls("other.example", ca=other_ca)) as server,
        make_session(server, skip_cn_check=True, allow_unencrypted=False) as session,
    ):
        with pytest.raises(TLSError):
            await session.identify()


def test_an_unreadable_ca_file_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        AsyncSession("https://127.0.0.1", auth="none", verify="/nonexistent/ca.pem")


def test_a_client_certificate_file_is_loaded(tls_ca: trustme.CA, tmp_path: Path) -> None:
    leaf = tls_ca.issue_cert("client@example")
    pem = tmp_path / "client.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    session = AsyncSession("https://127.0.0.1", auth="none", cert=str(pem))
    assert session.endpoint.is_tls
    with pytest.raises(ConfigurationError):
        AsyncSession("https://127.0.0.1", auth="none", cert=str(tmp_path / "missing.pem"))


async def test_client_certificate_authentication_end_to_end(
    make_session: Callable[..., AsyncSession],
    make_tls: Callable[..., ssl.SSLContext],
    tls_ca: trustme.CA,
    ca_file: str,
    tmp_path: Path,
) -> None:
    server_ctx = make_tls()
    tls_ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_OPTIONAL  # WinRM asks for the certificate
    pem = tmp_path / "alice.pem"
    tls_ca.issue_cert(
        "alice@example.test", common_name="alice"
    ).private_key_and_cert_chain_pem.write_to_path(str(pem))
    handler = CertificateServerAuth({"alice": "CORP\\alice"})
    async with (
        WSManTestServer(tls=server_ctx, auth=(), auth_handlers=[handler]) as server,
        make_session(
            server, auth="certificate", cert=str(pem), verify=ca_file, allow_unencrypted=False
        ) as session,
    ):
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
        assert server.host(0).stats.auth_failures == 0
