"""Credentials and resources: refusals, logs, reprs, shared clients, unclosed sessions."""

from __future__ import annotations

import base64
import gc
import logging
import warnings
from collections.abc import Callable

import aiohttp
import pytest

from aiowsman import (
    AsyncSession,
    AuthenticationError,
    ConfigurationError,
    InsecureTransportError,
    WSManFault,
)
from aiowsman.auth import resolve_auth
from aiowsman.testing import WSManTestServer

SERVICE = "wmicimv2/Win32_Service"
SECRET = "Pa55-w0rd-never-logged"  # tests/conftest.py PASSWORD


def test_basic_over_plain_http_is_refused_naming_the_host() -> None:
    with pytest.raises(InsecureTransportError) as info:
        AsyncSession("127.0.0.1", auth="basic", username="user", password=SECRET)
    assert info.value.host == "127.0.0.1:5985"
    assert SECRET not in str(info.value)


def test_basic_over_https_needs_no_opt_in() -> None:
    session = AsyncSession("https://127.0.0.1", auth="basic", username="u", password=SECRET)
    assert session.auth.scheme == "basic"


async def test_wrong_password_is_an_authentication_error_without_the_password(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(basic_server, password="wrong-" + SECRET) as session:
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    err = info.value
    assert err.scheme == "basic"
    assert err.operation == "Identify" and err.host == session.host
    assert SECRET not in str(err) and SECRET not in repr(err)


async def test_debug_log_shows_exchanges_but_never_credentials(
    basic_server: WSManTestServer,
    make_session: Callable[..., AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiowsman")
    async with make_session(basic_server) as session:
        await session.get(SERVICE, Name="WinRM")
        with pytest.raises(WSManFault):
            await session.get(SERVICE, Name="NoSuchService")
        await session.enumerate(SERVICE, batch_items=100).to_list()
    async with make_session(basic_server, password="bad-" + SECRET) as bad:
        with pytest.raises(AuthenticationError):
            await bad.identify()
    text = "\n".join(r.getMessage() for r in caplog.records)
    token = base64.b64encode(f"user:{SECRET}".encode()).decode()
    assert "Get" in text and "Pull" in text and "status=200" in text
    assert SECRET not in text
    assert token not in text
    assert "Authorization" not in text


def test_session_repr_shows_endpoint_and_scheme_but_no_password() -> None:
    session = AsyncSession("https://127.0.0.1", auth="basic", username="u", password=SECRET)
    text = repr(session)
    assert "https://127.0.0.1:5986/wsman" in text and "basic" in text
    assert SECRET not in text
    assert SECRET not in repr(session.auth)


async def test_caller_supplied_client_session_is_shared_and_left_open(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with aiohttp.ClientSession() as shared:
        for _ in range(2):
            async with make_session(basic_server, client_session=shared) as session:
                await session.identify()
        assert not shared.closed
    # Both sessions reused the shared pool's kept-alive connection.
    assert basic_server.host(0).stats.connections == 1


async def test_caller_supplied_connector_is_left_open(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    connector = aiohttp.TCPConnector()
    try:
        async with make_session(basic_server, connector=connector) as session:
            await session.identify()
        assert not connector.closed
    finally:
        await connector.close()


async def test_an_unclosed_session_warns_when_collected(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    session = make_session(basic_server)
    await session.identify()
    transport = session._transport
    assert transport is not None
    with pytest.warns(ResourceWarning, match="unclosed <AsyncSession"):
        del session
        gc.collect()
    await transport.close()  # what the caller forgot, so nothing else leaks


async def test_a_closed_session_does_not_warn(
    basic_server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    session = make_session(basic_server)
    await session.identify()
    await session.aclose()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del session
        gc.collect()


def test_auth_defaults_to_none_without_credentials() -> None:
    assert AsyncSession("127.0.0.1").auth.scheme == "none"


def test_auth_defaults_to_negotiate_with_credentials() -> None:
    try:
        auth = resolve_auth(None, username="CORP\\alice", password=SECRET)
    except ConfigurationError as exc:  # pyspnego missing: reported, not guessed
        assert "negotiate" in str(exc)
    else:
        assert auth.scheme == "negotiate"


def test_an_unknown_auth_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncSession("https://127.0.0.1", auth="digest", username="u", password=SECRET)
    assert "digest" in str(info.value)
    assert SECRET not in str(info.value)
