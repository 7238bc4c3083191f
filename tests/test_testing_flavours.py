"""The test server imitates Windows WinRM or OMI (``WSManTestServer(flavour=)``).

Each rule of :mod:`aiowsman.testing._flavour` is checked here with raw HTTP
and lxml (tests/testing_raw.py), never with the aiowsman client: what the OMI
flavour answers must be OMI's shapes whatever the client does with them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from lxml import etree

from aiowsman.testing import HostBehaviour, WSManTestServer
from tests.testing_raw import (
    CIMV2,
    ENUMERATE,
    GET,
    IDENTIFY,
    NS,
    PUT,
    Reply,
    basic,
    call,
    enumerate_body,
    envelope,
    post,
)

DMTF = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
IDENTITY = NS["wsmid"]
OMI_ERROR = f"{{{DMTF}/OMI_Error}}"
IN_CIMV2 = {"__cimnamespace": "root/cimv2"}
#: xs:dateTime as OMI writes it: microseconds and a numeric offset.
OMI_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$")


@pytest_asyncio.fixture
async def omi() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(flavour="omi") as server:
        yield server


@pytest_asyncio.fixture
async def windows() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer() as server:
        yield server


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # One connection, reused: the connection-authentication rules need it.
    # Every exchange is bounded (a host that never answers fails the test).
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=10)
    ) as client:
        yield client


def cim_status(reply: Reply) -> int | None:
    text = reply.root.findtext(f".//{OMI_ERROR}CIMStatusCode")
    return int(text) if text is not None else None


def schedule_put(start: str, every: str) -> str:
    uri = f"{DMTF}/AIOWSMAN_Schedule"
    return (
        f'<p:AIOWSMAN_Schedule xmlns:p="{uri}" xmlns:cim="{NS["cim"]}">'
        f"<p:Name>Backup</p:Name><p:Start>{start}</p:Start><p:Every>{every}</p:Every>"
        "</p:AIOWSMAN_Schedule>"
    )


# -- Identify -----------------------------------------------------------------------


async def test_omi_identify_is_in_the_soap_namespace_with_wsmid_children(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await post(http, omi.endpoints[0], IDENTIFY)
    assert reply.status == 200
    (answer,) = reply.find("s:Body")  # type: ignore[misc]
    assert answer.tag == f"{{{SOAP}}}IdentifyResponse"
    assert answer.findtext(f"{{{IDENTITY}}}ProductVendor") == "Open Management Infrastructure"
    names = [etree.QName(child).localname for child in answer]
    assert "Capability_FaultIncludesCIMError" in names


async def test_omi_has_no_anonymous_identify(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    url = omi.endpoints[0].replace("/wsman", "/wsman-anon/identify")
    reply = await post(http, url, IDENTIFY, headers={"WSMANIDENTIFY": "unauthenticated"})
    assert reply.status == 404


# -- addressing and EPRs -------------------------------------------------------------


async def test_omi_classes_are_addressed_by_dmtf_uri_and_namespace_selector(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await call(
        http,
        omi.endpoints[0],
        GET,
        f"{DMTF}/Win32_Service",
        selectors={**IN_CIMV2, "Name": "WinRM"},
    )
    assert reply.status == 200
    (instance,) = reply.find("s:Body")  # type: ignore[misc]
    assert instance.tag == f"{{{DMTF}/Win32_Service}}Win32_Service"


async def test_omi_request_without_namespace_addresses_interop(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await call(
        http, omi.endpoints[0], GET, f"{DMTF}/Win32_Service", selectors={"Name": "WinRM"}
    )
    assert reply.status == 500
    assert reply.subcode == "wsa:DestinationUnreachable"
    assert cim_status(reply) == 5  # CIM_ERR_INVALID_CLASS: not in interop
    assert "interop" in (reply.text("s:Body/s:Fault/s:Reason/s:Text") or "")


async def test_omi_unknown_namespace_is_invalid_namespace(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    selectors = {"__cimnamespace": "root/nowhere", "Name": "WinRM"}
    reply = await call(http, omi.endpoints[0], GET, f"{DMTF}/Win32_Service", selectors=selectors)
    assert cim_status(reply) == 3  # CIM_ERR_INVALID_NAMESPACE


async def test_omi_eprs_omit_the_namespace_the_request_named(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    body = enumerate_body(mode="EnumerateEPR", max_elements=10)
    reply = await call(
        http,
        omi.endpoints[0],
        ENUMERATE,
        f"{DMTF}/AIOWSMAN_Schedule",
        selectors=IN_CIMV2,
        body=body,
    )
    assert reply.status == 200
    eprs = reply.findall("s:Body/n:EnumerateResponse/w:Items/a:EndpointReference")
    assert len(eprs) == 2
    for epr in eprs:
        assert epr.findtext(".//w:ResourceURI", namespaces=NS) == f"{DMTF}/AIOWSMAN_Schedule"
        names = [s.get("Name") for s in epr.iterfind(".//w:Selector", NS)]
        assert names == ["Name"]


# -- datetimes and intervals ------------------------------------------------------------


async def _schedule(server: WSManTestServer, http: aiohttp.ClientSession, **kw: str) -> Reply:
    uri = (
        f"{DMTF}/AIOWSMAN_Schedule"
        if server.flavour.name == "omi"
        else f"{CIMV2}/AIOWSMAN_Schedule"
    )
    selectors = {**(IN_CIMV2 if server.flavour.name == "omi" else {}), "Name": "Backup"}
    data, _ = envelope(GET, uri, selectors=selectors)
    return await post(http, server.endpoints[0], data, **kw)  # type: ignore[arg-type]


async def test_omi_writes_datetimes_and_intervals_bare(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _schedule(omi, http)
    (instance,) = reply.find("s:Body")  # type: ignore[misc]
    start = instance.find(f"{{{DMTF}/AIOWSMAN_Schedule}}Start")
    every = instance.find(f"{{{DMTF}/AIOWSMAN_Schedule}}Every")
    assert start is not None and every is not None
    assert len(start) == 0 and OMI_DATETIME.match(start.text or "")
    assert len(every) == 0 and every.text == "P1D"


async def test_omi_wraps_datetimes_for_the_windows_client_only(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _schedule(omi, http, headers={"User-Agent": "Microsoft WinRM Client"})
    start = reply.root.find(f".//{{{DMTF}/AIOWSMAN_Schedule}}Start/{{{NS['cim']}}}Datetime")
    assert start is not None


async def test_windows_writes_datetimes_and_intervals_wrapped(
    windows: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _schedule(windows, http)
    every = reply.root.find(f".//{{{CIMV2}/AIOWSMAN_Schedule}}Every/{{{NS['cim']}}}Interval")
    assert every is not None and every.text == "P1D"


async def _put_backup(
    server: WSManTestServer, http: aiohttp.ClientSession, start: str, every: str
) -> Reply:
    omi = server.flavour.name == "omi"
    uri = f"{DMTF if omi else CIMV2}/AIOWSMAN_Schedule"
    selectors = {**(IN_CIMV2 if omi else {}), "Name": "Backup"}
    body = schedule_put(start, every).replace(DMTF, DMTF if omi else CIMV2)
    return await call(http, server.endpoints[0], PUT, uri, selectors=selectors, body=body)


async def test_omi_refuses_a_wrapped_datetime_in_a_body(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _put_backup(
        omi, http, "<cim:Datetime>2030-01-01T00:00:00Z</cim:Datetime>", "PT1H"
    )
    assert reply.status == 500
    assert cim_status(reply) == 13  # CIM_ERR_TYPE_MISMATCH


async def test_omi_applies_bare_datetimes_in_a_body(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _put_backup(omi, http, "2030-01-01T00:00:00.000000+13:50", "P2000D")
    assert reply.status == 200
    assert reply.root.findtext(f".//{{{DMTF}/AIOWSMAN_Schedule}}Every") == "P2000D"
    start = reply.root.findtext(f".//{{{DMTF}/AIOWSMAN_Schedule}}Start")
    assert start == "2030-01-01T00:00:00.000000+13:50"


async def test_windows_refuses_a_bare_datetime_in_a_body(
    windows: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _put_backup(
        windows, http, "2030-01-01T00:00:00Z", "<cim:Interval>PT1H</cim:Interval>"
    )
    assert reply.status == 500
    assert reply.subcode == "w:SchemaValidationError"


async def test_windows_applies_wrapped_datetimes_in_a_body(
    windows: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    reply = await _put_backup(
        windows,
        http,
        "<cim:Datetime>2030-01-01T00:00:00Z</cim:Datetime>",
        "<cim:Interval>PT1H</cim:Interval>",
    )
    assert reply.status == 200
    every = reply.root.find(f".//{{{CIMV2}/AIOWSMAN_Schedule}}Every/{{{NS['cim']}}}Interval")
    assert every is not None and every.text == "PT1H"


# -- faults ---------------------------------------------------------------------------


async def test_omi_fault_carries_omi_error_with_the_cim_status(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    selectors = {**IN_CIMV2, "Name": "NoSuchService"}
    reply = await call(http, omi.endpoints[0], GET, f"{DMTF}/Win32_Service", selectors=selectors)
    assert reply.status == 500
    assert reply.subcode == "wsa:DestinationUnreachable"
    error = reply.root.find(f".//{OMI_ERROR}OMI_Error")
    assert error is not None
    assert error.get(f"{{{NS['b']}}}IsCIM_Error") == "true"
    assert error.findtext(f"{OMI_ERROR}CIMStatusCode") == "6"
    assert error.findtext(f"{OMI_ERROR}MessageID") == "OMI:MI_Result:6"
    assert reply.find("s:Body/s:Fault/s:Detail/f:WSManFault") is None


# -- Basic authenticates the connection ---------------------------------------------------


async def test_omi_serves_an_unauthenticated_request_on_an_authenticated_connection(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    url = omi.endpoints[0]
    assert (await post(http, url, IDENTIFY)).status == 200
    async with http.post(url, data=IDENTIFY, headers={"Content-Type": "application/soap+xml"}) as r:
        assert r.status == 200
    stats = omi.host(0).stats
    assert stats.connections == 1
    assert stats.by_user == {"user": 2}


async def test_omi_never_answers_an_unauthenticated_request_on_a_fresh_connection(
    omi: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    request = http.post(
        omi.endpoints[0], data=IDENTIFY, headers={"Content-Type": "application/soap+xml"}
    )
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            async with request:
                pass
    assert omi.host(0).stats.by_user == {}


async def test_windows_asks_every_request_for_credentials(
    windows: WSManTestServer, http: aiohttp.ClientSession
) -> None:
    url = windows.endpoints[0]
    assert (await post(http, url, IDENTIFY)).status == 200
    async with http.post(url, data=IDENTIFY, headers={"Content-Type": "application/soap+xml"}) as r:
        assert r.status == 401
    assert windows.host(0).stats.by_user == {"user": 1}


# -- cookies (a load balancer's affinity cookie) -------------------------------------------


async def test_a_host_may_set_a_cookie_and_counts_the_ones_it_gets_back(
    http: aiohttp.ClientSession,
) -> None:
    behaviour = HostBehaviour(set_cookie="ARRAffinity=abc; Path=/")
    async with WSManTestServer(behaviours={0: behaviour}) as server:
        url = server.endpoints[0]
        async with http.post(url, data=IDENTIFY, headers=basic()) as first:
            assert first.headers["Set-Cookie"] == "ARRAffinity=abc; Path=/"
        async with http.post(url, data=IDENTIFY, headers={**basic(), "Cookie": "x=1"}):
            pass
        assert server.host(0).stats.cookies_received == {"x=1": 1}


def test_an_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="flavour"):
        WSManTestServer(flavour="openwsman")  # type: ignore[arg-type]
