"""The test server's per-request shortcuts never change an answer (raw HTTP + lxml).

A repeated request (same bytes but a new MessageID, or another host's To) is
parsed once; these tests pin down that every answer is still its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from aiowsman.testing import WSManTestServer
from aiowsman.testing._request import parse_request
from aiowsman.testing._xml import new_uuid
from tests.testing_raw import CIMV2, GET, PUT, envelope, post

SERVICE = f"{CIMV2}/Win32_Service"
ENV = f"{CIMV2}/Win32_Environment"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=2) as srv:
        yield srv


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_each_repeated_get_relates_to_its_own_message_id(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    for _ in range(5):
        data, mid = envelope(GET, SERVICE, selectors={"Name": "WinRM"})
        reply = await post(http, server.endpoints[0], data)
        assert reply.status == 200
        assert reply.text("s:Header/a:RelatesTo") == mid


async def test_the_same_request_to_two_hosts_gets_each_hosts_own_answer(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    names = []
    for url in server.endpoints:
        data, _ = envelope(GET, f"{CIMV2}/Win32_OperatingSystem")
        data = data.replace(b"http://127.0.0.1/wsman", url.encode())
        reply = await post(http, url, data)
        names.append(reply.text("s:Body/*/{*}CSName"))
    assert names == ["HOST0000", "HOST0001"]


async def test_a_get_after_a_put_sees_the_new_value(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    keys = {"Name": "Path", "UserName": "&lt;SYSTEM&gt;"}

    async def value() -> str | None:
        data, _ = envelope(GET, ENV, selectors=keys)
        reply = await post(http, server.endpoints[0], data)
        return reply.text(f"s:Body/{{{ENV}}}Win32_Environment/{{{ENV}}}VariableValue")

    before = await value()
    body = (
        f'<p:Win32_Environment xmlns:p="{ENV}"><p:VariableValue>C:\\changed</p:VariableValue>'
        "</p:Win32_Environment>"
    )
    data, _ = envelope(PUT, ENV, selectors=keys, body=body)
    assert (await post(http, server.endpoints[0], data)).status == 200
    assert before != "C:\\changed"
    assert await value() == "C:\\changed"


async def test_a_message_id_with_surrounding_spaces_is_still_related_to(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    mid = f"uuid:{uuid.uuid4()}"
    data, _ = envelope(GET, SERVICE, selectors={"Name": "WinRM"}, message_id=f"  {mid}  ")
    reply = await post(http, server.endpoints[0], data)
    assert reply.text("s:Header/a:RelatesTo") == mid


def test_a_cached_parse_equals_a_fresh_one_but_for_message_id_and_to() -> None:
    first, _ = envelope(GET, SERVICE, selectors={"Name": "WinRM"})
    second, mid = envelope(GET, SERVICE, selectors={"Name": "WinRM"})
    second = second.replace(b"http://127.0.0.1/wsman", b"http://127.0.0.2:5985/wsman")
    parse_request(first)
    cached = parse_request(second)
    assert cached.message_id == mid
    assert cached.to == "http://127.0.0.2:5985/wsman"
    assert cached.selectors == {"Name": "WinRM"}
    assert cached.resource_uri == SERVICE


@pytest.mark.parametrize("header_to", [True, False], ids=["with-a-To", "without-a-To"])
def test_a_same_named_element_in_the_body_is_not_taken_for_the_header(header_to: bool) -> None:
    # <p:To> in a body is not the header's To: each request keeps its own body.
    def request(value: str) -> bytes:
        body = f'<p:Win32_Environment xmlns:p="{ENV}"><p:To>{value}</p:To></p:Win32_Environment>'
        data, _ = envelope(PUT, ENV, body=body, message_id="uuid:1")
        if not header_to:
            data = data.replace(b"<a:To>http://127.0.0.1/wsman</a:To>", b"")
        return data

    one = parse_request(request("first"))
    two = parse_request(request("second"))
    assert one.body is not None and two.body is not None
    assert [el.text for el in one.body] == ["first"]
    assert [el.text for el in two.body] == ["second"]


def test_new_uuid_gives_upper_case_rfc_4122_version_4_uuids() -> None:
    values = {new_uuid() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed).upper() == value
