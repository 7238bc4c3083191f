"""The native benchmark responder answers in real WS-Man shapes that aiowsman parses.

The benchmark suite measures clients against it (``benchmarks/native_server``),
so its answers must be the messages a Windows host sends: correlated to the
request (RelatesTo), Windows-shaped faults, enumerations that end and release.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from aiowsman import AsyncSession, ResourceLocator
from aiowsman.errors import AuthenticationError, WSManFault
from aiowsman.fanout import run
from benchmarks._server import PASSWORD, USERNAME, TestServer

OS = "wmicimv2/Win32_OperatingSystem"


@pytest.fixture(scope="module")
def native() -> Iterator[TestServer]:
    with TestServer(kind="native", hosts=300, latency=0.01, enum_items=250) as server:
        yield server


def _session(endpoint: str, **kwargs: Any) -> AsyncSession:
    options: dict[str, Any] = {
        "username": USERNAME,
        "password": PASSWORD,
        "auth": "basic",
        "allow_unencrypted": True,
    }
    options.update(kwargs)
    return AsyncSession(endpoint, **options)


async def _post(endpoint: str, body: str) -> tuple[int, str]:
    """POST an envelope as it is (Basic credentials); the status and the text."""
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    headers = {
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Authorization": f"Basic {token}",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(endpoint, data=body, headers=headers) as response,
    ):
        assert response.headers["Server"] == "Microsoft-HTTPAPI/2.0"
        return response.status, await response.text()


def test_every_host_has_its_own_loopback_address(native: TestServer) -> None:
    hosts = {re.match(r"http://([\d.]+):\d+/wsman", e).group(1) for e in native.endpoints}  # type: ignore[union-attr]
    assert len(hosts) == 300
    assert all(h.startswith("127.") for h in hosts)


async def test_identify_and_get_parse_as_windows_answers(native: TestServer) -> None:
    async with _session(native.endpoints[7]) as session:
        identity = await session.identify()
        system = await session.get(OS)
        service = await session.get(ResourceLocator("wmicimv2/Win32_Service", Name="WinRM"))
    assert identity.product_vendor == "Microsoft Corporation"
    assert system["CSName"] == "HOST00007"  # each address is its own host
    assert system["CSDVersion"] is None  # xsi:nil
    assert system.to_dict()["InstallDate"].year == 2023  # cim:Datetime
    assert (service["Name"], service["State"]) == ("WinRM", "Running")


async def test_answers_relate_to_the_request_message_id(native: TestServer) -> None:
    message_id = "uuid:0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"
    body = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
        f"<a:To>{native.endpoints[0]}</a:To>"
        "<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
        "Win32_OperatingSystem</w:ResourceURI>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>"
        f"<a:MessageID>{message_id}</a:MessageID></s:Header><s:Body/></s:Envelope>"
    )
    status, text = await _post(native.endpoints[0], body)
    assert status == 200
    assert f"<a:RelatesTo>{message_id}</a:RelatesTo>" in text


@pytest.mark.parametrize("batch", [1, 100, 1000])
async def test_enumeration_returns_every_item_once(native: TestServer, batch: int) -> None:
    async with _session(native.endpoints[1], batch_items=batch) as session:
        ids = [int(item["ProcessId"]) async for item in session.enumerate(native.info["bulk_uri"])]
    assert ids == [4 * i + 4 for i in range(250)]


async def test_a_batch_holds_what_fits_in_the_envelope(native: TestServer) -> None:
    # 250 items of ~2.3 KB are ~580 KB, past what a 64 KiB envelope allows (the
    # client refuses answers over twice that): WinRM sends what fits in
    # MaxEnvelopeSize and the rest in later Pulls.
    async with _session(native.endpoints[4], batch_items=1000, max_envelope_size=65536) as session:
        ids = [int(item["ProcessId"]) async for item in session.enumerate(native.info["bulk_uri"])]
    assert ids == [4 * i + 4 for i in range(250)]


async def test_an_envelope_too_small_for_one_item_is_an_encoding_limit_fault(
    native: TestServer,
) -> None:
    body = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
        f"<w:ResourceURI>{native.info['bulk_uri']}</w:ResourceURI>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action>"
        "<a:MessageID>uuid:1</a:MessageID><w:MaxEnvelopeSize>1000</w:MaxEnvelopeSize>"
        "</s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/>"
        "<w:MaxElements>5</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"
    )
    status, text = await _post(native.endpoints[4], body)
    assert status == 500
    assert "<s:Value>w:EncodingLimit</s:Value>" in text and 'Code="2150858824"' in text


async def test_unknown_classes_and_missing_selectors_are_windows_faults(native: TestServer) -> None:
    async with _session(native.endpoints[2]) as session:
        with pytest.raises(WSManFault) as unknown:
            await session.get("wmicimv2/Win32_NoSuchClass")
        with pytest.raises(WSManFault) as no_selector:
            await session.get("wmicimv2/Win32_Service")
    assert (unknown.value.subcode, unknown.value.wsman_code) == (
        "DestinationUnreachable",
        2150858752,
    )
    assert (no_selector.value.subcode, no_selector.value.wsman_code) == (
        "InvalidSelectors",
        2150858843,
    )


async def test_wrong_credentials_are_refused(native: TestServer) -> None:
    async with _session(native.endpoints[3], password="wrong") as session:
        with pytest.raises(AuthenticationError):
            await session.identify()


async def test_a_fan_out_over_every_host_gets_every_answer(native: TestServer) -> None:
    async def operation(session: AsyncSession) -> str:
        await session.identify()
        return str((await session.get(OS))["CSName"])

    async with run(
        native.endpoints,
        operation,
        concurrency=100,
        username=USERNAME,
        password=PASSWORD,
        auth="basic",
        allow_unencrypted=True,
    ) as results:
        names = {r.host: r.value async for r in results}
    assert names == {e: f"HOST{i:05d}" for i, e in enumerate(native.endpoints)}


async def test_an_enumeration_left_early_is_released() -> None:
    with TestServer(kind="native", hosts=1, enum_items=50) as server:
        async with _session(server.endpoints[0], batch_items=1) as session:
            async for _ in session.enumerate(server.info["bulk_uri"]):
                break
        server.stop()
    assert server.proc is not None and server.proc.returncode == 0
    assert "0 enumeration contexts open" in server.last_words
