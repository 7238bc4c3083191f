"""The test server's winrm/config tree: every container can be read and set, as on Windows."""

from __future__ import annotations

import pytest

from aiowsman import AsyncSession, WSManFault
from aiowsman.testing import WSManTestServer

CREDS = {"username": "user", "password": "pass", "auth": "basic", "allow_unencrypted": True}


async def test_trusted_hosts_set_on_the_client_container_reads_back() -> None:
    async with (
        WSManTestServer() as server,
        AsyncSession(server.endpoints[0], **CREDS) as session,
    ):
        answer = await session.put("winrm/config/client", {"TrustedHosts": "*"})
        assert answer is not None and answer.name == "Client"
        client = await session.get("winrm/config/client")
        whole = await session.get("winrm/config")
    assert client["TrustedHosts"] == "*"
    assert client.namespace == "http://schemas.microsoft.com/wbem/wsman/1/config/client"
    assert whole["Client"]["TrustedHosts"] == "*"
    assert whole["Service"]["AllowUnencrypted"] == "true"  # the other one, untouched


async def test_setting_names_match_case_insensitively_and_keep_their_spelling() -> None:
    async with (
        WSManTestServer() as server,
        AsyncSession(server.endpoints[0], **CREDS) as session,
    ):
        await session.put("winrm/config/client/auth", {"basic": "false"})
        auth = await session.get("winrm/config/Client/Auth")
    assert auth["Basic"] == "false" and "basic" not in list(auth)  # stored as Basic


async def test_an_unknown_setting_is_a_fault_and_changes_nothing() -> None:
    async with (
        WSManTestServer() as server,
        AsyncSession(server.endpoints[0], **CREDS) as session,
    ):
        with pytest.raises(WSManFault) as caught:
            await session.put("winrm/config/client", {"TrustedHosts": "a", "NoSuch": "1"})
        client = await session.get("winrm/config/client")
    assert caught.value.subcode == "SchemaValidationError"
    assert client["TrustedHosts"] == ""


async def test_an_unknown_container_is_unreachable() -> None:
    async with (
        WSManTestServer() as server,
        AsyncSession(server.endpoints[0], **CREDS) as session,
    ):
        with pytest.raises(WSManFault) as caught:
            await session.get("winrm/config/nosuch")
    assert caught.value.subcode == "DestinationUnreachable"
