"""The test server's big synthetic class AIOWSMAN_BulkItem (raw HTTP + lxml)."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from aiowsman.testing import WSManTestServer
from aiowsman.testing._bulk import BULK_CLASS, BulkTable
from aiowsman.testing._cim import render_instance
from aiowsman.testing._faults import CODE_RESOURCE_NOT_FOUND
from tests.testing_raw import (
    CIMV2,
    ENUMERATE,
    GET,
    NS,
    PULL,
    SELECTOR_FILTER,
    call,
    children,
    enumerate_all,
    enumerate_body,
    pull_body,
    wql,
)

BULK = f"{CIMV2}/{BULK_CLASS}"
P = f"{{{BULK}}}"
ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=2, bulk_instances=5000) as srv:
        yield srv


def ids(items: list[object]) -> list[int]:
    return [int(item.findtext(P + "Id") or "0") for item in items]  # type: ignore[attr-defined]


async def test_server_names_the_bulk_resource_uri(server: WSManTestServer) -> None:
    assert server.bulk_uri == BULK


async def test_without_bulk_instances_the_class_does_not_exist(
    http: aiohttp.ClientSession,
) -> None:
    async with WSManTestServer(hosts=1) as srv:
        assert srv.bulk_uri is None
        reply = await call(http, srv.endpoints[0], ENUMERATE, BULK, body=enumerate_body())
    assert reply.status == 500
    assert reply.subcode == "w:DestinationUnreachable"


async def test_enumerate_5000_items_across_pulls_yields_every_id_once_in_order(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    items, trips = await enumerate_all(http, server.endpoints[0], BULK, batch=200)
    assert ids(items) == list(range(1, 5001))
    assert trips == 25
    assert server.host(0).contexts_open == 0


async def test_non_optimized_enumerate_returns_only_a_context_then_pulls_everything(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    url = server.endpoints[0]
    reply = await call(http, url, ENUMERATE, BULK, body=enumerate_body(optimize=False))
    assert reply.find("s:Body/n:EnumerateResponse/w:Items") is None
    context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
    got: list[int] = []
    done = False
    for _ in range(10):
        reply = await call(
            http, url, PULL, BULK, body=pull_body(context, 1000), max_envelope=4_000_000
        )
        got += ids(children(reply.find("s:Body/n:PullResponse/n:Items")))
        context = reply.text("s:Body/n:PullResponse/n:EnumerationContext") or ""
        if reply.find("s:Body/n:PullResponse/n:EndOfSequence") is not None:
            done = True
            break
    assert done
    assert got == list(range(1, 5001))


async def test_max_elements_1000_fills_a_pull_when_the_envelope_allows_it(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(
        http,
        server.endpoints[0],
        ENUMERATE,
        BULK,
        body=enumerate_body(max_elements=1000),
        max_envelope=4_000_000,
    )
    assert len(children(reply.find("s:Body/n:EnumerateResponse/w:Items"))) == 1000


async def test_max_envelope_size_caps_a_bulk_batch(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(
        http,
        server.endpoints[0],
        ENUMERATE,
        BULK,
        body=enumerate_body(max_elements=1000),
        max_envelope=51200,
    )
    assert reply.status == 200
    items = children(reply.find("s:Body/n:EnumerateResponse/w:Items"))
    assert 5 < len(items) < 1000
    assert len(reply.body) <= 51200


async def test_get_by_id_returns_that_instance(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(http, server.endpoints[1], GET, BULK, selectors={"Id": "4321"})
    assert reply.status == 200
    inst = reply.find(f"s:Body/{{{BULK}}}{BULK_CLASS}")
    assert inst is not None
    assert inst.findtext(P + "Id") == "4321"
    assert inst.findtext(P + "SystemName") == "HOST0001"
    assert len(inst) >= 30


async def test_get_of_an_id_out_of_range_faults_like_a_missing_wmi_instance(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await call(http, server.endpoints[0], GET, BULK, selectors={"Id": "5001"})
    assert reply.status == 500
    # Windows' WMI plugin: w:InvalidSelectors with ERROR_WSMAN_... "resource not found".
    assert reply.subcode == "w:InvalidSelectors"
    assert reply.wsman_code == str(CODE_RESOURCE_NOT_FOUND)


async def test_the_same_id_on_two_hosts_differs_but_repeats_on_one_host(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    async def checksum(url: str) -> str | None:
        reply = await call(http, url, GET, BULK, selectors={"Id": "77"})
        return reply.text(f"s:Body/{{{BULK}}}{BULK_CLASS}/{P}Checksum")

    first = await checksum(server.endpoints[0])
    assert first is not None
    assert await checksum(server.endpoints[0]) == first
    assert await checksum(server.endpoints[1]) != first


async def test_selector_filter_on_id_returns_that_one_item(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    filt = f'<w:Filter Dialect="{SELECTOR_FILTER}"><w:SelectorSet><w:Selector Name="Id">2500'
    filt += "</w:Selector></w:SelectorSet></w:Filter>"
    items, _ = await enumerate_all(http, server.endpoints[0], BULK, filter_xml=filt)
    assert ids(items) == [2500]


async def test_wql_where_on_id_selects_a_range(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    query = wql(f"SELECT * FROM {BULK_CLASS} WHERE Id > 4990")
    items, _ = await enumerate_all(http, server.endpoints[0], BULK, filter_xml=query)
    assert ids(items) == list(range(4991, 5001))


async def test_wql_projection_returns_fragments_of_the_named_properties(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    query = wql(f"SELECT Id, Name FROM {BULK_CLASS} WHERE Id &lt;= 3")
    items, _ = await enumerate_all(http, server.endpoints[0], BULK, filter_xml=query)
    assert [item.tag for item in items] == [f"{{{NS['w']}}}XmlFragment"] * 3
    assert [item.findtext("Id") for item in items] == ["1", "2", "3"]


async def test_enumeration_mode_epr_gives_id_selectors(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    body = enumerate_body(max_elements=3, mode="EnumerateEPR")
    reply = await call(http, server.endpoints[0], ENUMERATE, BULK, body=body)
    eprs = children(reply.find("s:Body/n:EnumerateResponse/w:Items"))
    selectors = [
        epr.findtext("a:ReferenceParameters/w:SelectorSet/w:Selector", namespaces=NS)
        for epr in eprs
    ]
    assert selectors == ["1", "2", "3"]


def test_fast_rendering_equals_the_generic_windows_rendering() -> None:
    # 2000 positions cover every branch (start modes, states, null Version).
    table = BulkTable(seed=3, index=7, hostname="HOST0007", count=200_000)
    for position in range(0, 200_000, 100):
        expected = render_instance(BULK_CLASS, table.values(position))
        assert table.xml(position) == expected
        assert table.instance(position).xml() == expected


def test_an_instance_renders_about_the_size_of_a_win32_service() -> None:
    table = BulkTable(seed=0, index=0, hostname="HOST0000", count=100)
    sizes = [len(table.instance(i).xml()) for i in range(100)]
    assert 1800 < sum(sizes) / len(sizes) < 3000


async def test_enumerating_20000_items_never_holds_them_all_in_memory(
    http: aiohttp.ClientSession,
) -> None:
    # 20,000 rendered items are about 44 MB of text; the server may hold one
    # batch of them (plus the HTTP buffers) at a time, never the whole set.
    async with WSManTestServer(hosts=1, bulk_instances=20_000) as srv:
        url = srv.endpoints[0]
        tracemalloc.start()
        try:
            reply = await call(http, url, ENUMERATE, BULK, body=enumerate_body(optimize=False))
            context = reply.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
            count = 0
            for _ in range(100):
                reply = await call(http, url, PULL, BULK, body=pull_body(context, 500))
                root = reply.root
                count += len(children(root.find("s:Body/n:PullResponse/n:Items", NS)))
                context = root.findtext("s:Body/n:PullResponse/n:EnumerationContext", "", NS)
                del root, reply
                if not context:
                    break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 20_000
    assert peak < 12_000_000, peak


def test_command_line_bulk_class_writes_bulk_uri_to_the_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiowsman.testing",
            "--bulk-class",
            "200000",
            "--ready-file",
            str(ready),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["bulk_uri"] == BULK
        assert json.loads(ready.read_text())["bulk_uri"] == BULK
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_prewarm_of_the_bulk_class_keeps_nothing_in_memory() -> None:
    async with WSManTestServer(hosts=1, bulk_instances=200_000) as srv:
        srv.prewarm([BULK_CLASS, "Win32_BIOS"])
        store = srv.host(0).store
        assert store.count(BULK_CLASS) == 200_000
        assert BULK_CLASS not in store._instances
        assert "Win32_BIOS" in store._instances
