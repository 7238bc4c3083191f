"""Each resource family of the test server is its own handler, routed by the host.

A toy family (defined here, registered through ``WSManTestServer(families=)``)
shows the contract every family module follows: it is reached by its resource
URIs and actions, keeps its own state per host, may answer after a wait, and
gets the Pulls of the enumerations it opened. Spoken to with raw HTTP + lxml.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import aiohttp
import pytest
import pytest_asyncio
from lxml import etree

from aiowsman.testing import WSManTestServer
from aiowsman.testing._enumeration import EnumerationState, Items
from aiowsman.testing._request import ParsedRequest
from aiowsman.testing.families import CimFamily, ConfigFamily, Host, Reply, ResourceFamily
from tests.testing_raw import (
    CIMV2,
    ENUMERATE,
    GET,
    PULL,
    call,
    enumerate_body,
    pull_body,
)

TOY = "http://example.invalid/toy"
PING = "http://example.invalid/actions/Ping"
SLOW = f"{TOY}/Slow"


class ToyFamily(ResourceFamily):
    """Serves ``TOY`` and everything below it, and the ``PING`` action anywhere."""

    name = "toy"
    resource_uris = (TOY,)
    actions = frozenset({PING})

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.gets = 0
        self.pulls = 0

    def get(self, req: ParsedRequest) -> str:
        self.gets += 1
        return f"<t:Toy xmlns:t='{TOY}'><t:Host>{self.host.hostname}</t:Host></t:Toy>"

    def handle(self, req: ParsedRequest, user: str | None) -> Reply | Awaitable[Reply]:
        if req.action == PING:
            return Reply(PING + "Response", f"<t:Pong xmlns:t='{TOY}'>{user}</t:Pong>")
        if req.action == SLOW:
            return self._slow()
        return super().handle(req, user)

    async def _slow(self) -> Reply:
        await asyncio.sleep(0.05)
        return Reply(SLOW + "Response", f"<t:Done xmlns:t='{TOY}'/>")

    def enumeration_items(
        self, req: ParsedRequest, enum: etree._Element, user: str | None
    ) -> Items:
        return [f"<t:Item xmlns:t='{TOY}'>{i}</t:Item>" for i in range(3)]

    def pull(
        self, req: ParsedRequest, context: str, state: EnumerationState
    ) -> Reply | Awaitable[Reply]:
        self.pulls += 1
        return super().pull(req, context, state)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=2, families=[ToyFamily]) as srv:
        yield srv


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_request_for_a_familys_resource_uri_reaches_that_family(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(http, server.endpoints[1], GET, f"{TOY}/below")
    assert reply.status == 200
    assert reply.text("s:Body/{*}Toy/{*}Host") == "HOST0001"
    assert server.host(1).family(ToyFamily).gets == 1


async def test_uris_no_family_claims_still_reach_the_cim_classes(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(http, server.endpoints[0], GET, f"{CIMV2}/Win32_OperatingSystem")
    assert reply.text("s:Body/*/{*}CSName") == "HOST0000"
    assert server.host(0).family(ToyFamily).gets == 0


async def test_an_action_a_family_declares_reaches_it_whatever_the_resource_uri(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(http, server.endpoints[0], PING, f"{CIMV2}/Win32_Service")
    assert reply.status == 200
    assert reply.text("s:Header/a:Action") == PING + "Response"
    assert reply.text("s:Body/{*}Pong") == "user"  # the authenticated user is passed on


async def test_a_family_may_answer_after_waiting(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(http, server.endpoints[0], SLOW, TOY)
    assert reply.status == 200
    assert reply.find("s:Body/{*}Done") is not None


async def test_a_pull_goes_to_the_family_that_opened_the_enumeration(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    url = server.endpoints[0]
    reply = await call(http, url, ENUMERATE, TOY, body=enumerate_body(optimize=False))
    context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
    reply = await call(http, url, PULL, TOY, body=pull_body(context, max_elements=5))
    assert [i.text for i in reply.findall("s:Body/n:PullResponse/n:Items/*")] == ["0", "1", "2"]
    assert reply.find("s:Body/n:PullResponse/n:EndOfSequence") is not None
    assert server.host(0).family(ToyFamily).pulls == 1
    assert server.host(0).contexts == {}


async def test_each_host_has_its_own_family_state(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    await call(http, server.endpoints[0], GET, TOY)
    await call(http, server.endpoints[0], GET, TOY)
    assert [h.family(ToyFamily).gets for h in server.hosts] == [2, 0]


def test_every_host_serves_the_cim_and_config_families() -> None:
    srv = WSManTestServer(hosts=1)
    host = srv.host(0)
    assert isinstance(host.family(CimFamily), CimFamily)
    assert isinstance(host.family(ConfigFamily), ConfigFamily)
    with pytest.raises(LookupError, match="HOST0000 has no ToyFamily"):
        host.family(ToyFamily)
