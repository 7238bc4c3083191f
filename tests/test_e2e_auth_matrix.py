"""Every authentication scheme, end to end, over HTTP (sealed) and HTTPS.

Each case runs the real stack: ``AsyncSession`` -> transport -> auth flow ->
aiohttp -> the test server's real acceptor (pyspnego NTLM, an MIT KDC via
k5test for Kerberos, CredSSP's inner TLS, trustme certificates) -> the
simulated host. On plain HTTP the server refuses unencrypted SOAP (WinRM's
default ``AllowUnencrypted=false``), so every HTTP success below was sealed
with MS-WSMV 2.2.9.1 message encryption; Basic is the exception (it cannot
seal) and runs over HTTP only with ``allow_unencrypted`` on both sides.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
import yarl

from aiowsman.protocol.locator import ResourceLocator
from aiowsman.testing.spnego_auth import ContextUse, SpnegoServerAuth
from tests.kdc import CONNECTION_BOUND, Realm, Stack, auth_stack, kdc

__all__ = ["kdc"]  # the module's KDC fixture, re-exported for pytest

SERVICE = "wmicimv2/Win32_Service"
ENVIRONMENT = "wmicimv2/Win32_Environment"
SERVICES = 200  # Win32_Service instances of simulated host 0 (seed 0)
CONCURRENT = 20
#: Bigger than CredSSP's 16 KiB sealing unit and than one TLS record.
LARGE = 20 * 1024

HTTP_VARIANTS = [
    "ntlm",
    "negotiate-ntlm",
    "negotiate-kerberos",
    "kerberos",
    "credssp",
    "credssp-kerberos",
    "basic",  # plain HTTP with allow_unencrypted on both sides (Basic cannot seal)
]
HTTPS_VARIANTS = [*HTTP_VARIANTS, "certificate"]
CASES = [pytest.param((v, "http"), id=f"{v}-http") for v in HTTP_VARIANTS] + [
    pytest.param((v, "https"), id=f"{v}-https") for v in HTTPS_VARIANTS
]


@pytest.fixture(params=CASES)
async def stack(
    request: pytest.FixtureRequest,
    kdc: Realm,
    tls_ca: trustme.CA,
    ca_file: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    variant, transport = request.param
    async with auth_stack(
        variant,
        tls=transport == "https",
        ca=tls_ca,
        ca_file=ca_file,
        cert_dir=tmp_path,
        realm=kdc,
        allow_unencrypted=variant == "basic" and transport == "http",
    ) as st:
        yield st


def expected_user(stack: Stack, kdc: Realm) -> str:
    """The principal the server's acceptor should report."""
    if stack.variant in ("negotiate-kerberos", "kerberos", "credssp-kerberos"):
        return kdc.user
    return "carol"


def contexts(stack: Stack) -> list[ContextUse]:
    handler = stack.handler
    assert isinstance(handler, SpnegoServerAuth)
    return handler.contexts


async def test_single_operation_logs_on_with_the_scheme(stack: Stack, kdc: Realm) -> None:
    async with stack.session() as session:
        identity = await session.identify()
        service = await session.get(SERVICE, Name="WinRM")
    assert identity.product_vendor == "Microsoft Corporation"
    assert service["Name"] == "WinRM"
    stats = stack.server.host(0).stats
    assert stats.by_operation["Get"] == 1
    assert stats.auth_failures == 0
    if stack.scheme in CONNECTION_BOUND:
        handler = stack.handler
        assert isinstance(handler, SpnegoServerAuth)
        # One handshake served both operations (the context is kept per connection).
        assert len(handler.logons) == 1
        assert handler.logons[0].endswith(expected_user(stack, kdc))


async def test_concurrent_operations_share_the_session_without_interleaving(
    stack: Stack,
) -> None:
    host = stack.server.host(0)
    host.behaviour.latency = 0.02  # keep requests in flight together
    async with stack.session() as session:
        results = await asyncio.gather(
            *(session.get(SERVICE, Name="WinRM") for _ in range(CONCURRENT))
        )
    assert [r["Name"] for r in results] == ["WinRM"] * CONCURRENT
    assert host.stats.max_in_flight > 1
    assert host.stats.connections > 1
    if stack.scheme in CONNECTION_BOUND:
        used = contexts(stack)
        assert len(used) > 1  # several authenticated connections
        assert sum(u.requests for u in used) == CONCURRENT
        for use in used:
            assert len(use.connections) == 1  # a context never leaves its connection
            assert use.max_busy == 1  # ...and serves one request at a time


async def test_enumeration_across_several_pulls(stack: Stack) -> None:
    async with stack.session() as session:
        names = [item["Name"] async for item in session.enumerate(SERVICE, batch_items=7)]
    assert len(names) == len(set(names)) == SERVICES
    assert stack.server.host(0).stats.by_operation["Pull"] == math.ceil(SERVICES / 7) - 1


async def test_messages_larger_than_16_kib_both_ways(stack: Stack) -> None:
    big = "".join(chr(ord("a") + i % 26) for i in range(LARGE))
    locator = ResourceLocator(ENVIRONMENT, Name="OS", UserName="<SYSTEM>")
    async with stack.session() as session:
        await session.put(locator, {"VariableValue": big})
        assert (await session.get(locator))["VariableValue"] == big
        created = await session.create(
            ENVIRONMENT, {"Name": "AIOWSMAN_BIG", "UserName": "<SYSTEM>", "VariableValue": big}
        )
        assert (await session.get(created))["VariableValue"] == big
        batch = await session.enumerate(SERVICE, batch_items=40).to_list()
    assert len(batch) == SERVICES
    # The first EnumerateResponse alone carried 40 instances, well over 16 KiB.
    assert sum(len(item.xml) for item in batch[:40]) > 16 * 1024


async def test_every_request_of_the_flow_reaches_aiohttp_as_one_parsed_url(
    stack: Stack, aiohttp_urls: list[object]
) -> None:
    # Handshake legs and sealed messages alike: aiohttp is handed the URL the
    # transport made once, never text to parse per request (a fan-out's
    # endpoints overflow yarl's cache of parsed URLs).
    given = aiohttp_urls
    async with stack.session() as session:
        await session.identify()
        service = await session.get(SERVICE, Name="WinRM")
    assert service["Name"] == "WinRM"
    assert len(given) >= 2
    assert all(isinstance(url, yarl.URL) for url in given)
    assert all(url is given[0] for url in given)
    assert str(given[0]) == stack.server.endpoints[0]
