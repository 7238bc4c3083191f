"""Fault injection of the test server: each knob produces the failure it names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from lxml import etree

from aiowsman.testing import (
    HostBehaviour,
    Injection,
    InjectionKind,
    RequestInfo,
    WSManTestServer,
)
from tests.testing_raw import (
    CIMV2,
    ENUMERATE,
    GET,
    IDENTIFY,
    PULL,
    SAFE,
    basic,
    call,
    enumerate_body,
    envelope,
    post,
    pull_body,
)

SERVICE = f"{CIMV2}/Win32_Service"
Inject = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def inject() -> AsyncIterator[Inject]:
    """``await inject(kind, **knobs)`` -> URL of a host that injects ``kind`` always."""
    servers: list[WSManTestServer] = []

    async def start(kind: InjectionKind, **knobs: Any) -> str:
        behaviour = HostBehaviour(always=Injection(kind, **knobs))
        server = WSManTestServer(behaviours={0: behaviour})
        servers.append(server)
        await server.start()
        return server.endpoints[0]

    yield start
    for server in servers:
        await server.close()


async def test_black_hole_never_answers_and_the_server_still_closes(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.BLACK_HOLE)
    with pytest.raises(TimeoutError):
        await post(http, url, IDENTIFY, timeout=aiohttp.ClientTimeout(total=0.2))


async def test_reset_before_response_drops_the_connection(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.RESET_BEFORE_RESPONSE)
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, url, IDENTIFY)


async def test_reset_mid_response_cuts_the_body(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.RESET_MID_RESPONSE)
    with pytest.raises(aiohttp.ClientError):
        await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"})


async def test_truncated_body_is_shorter_than_its_content_length(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.TRUNCATED_BODY)
    with pytest.raises(aiohttp.ClientPayloadError):
        await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"})


async def test_http_500_without_soap_has_an_html_body(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.HTTP_500)
    reply = await post(http, url, IDENTIFY)
    assert reply.status == 500
    assert reply.headers["Content-Type"].startswith("text/html")


async def test_http_503_carries_retry_after(http: aiohttp.ClientSession, inject: Inject) -> None:
    url = await inject(InjectionKind.HTTP_503, retry_after=7)
    reply = await post(http, url, IDENTIFY)
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "7"


async def test_garbage_body_is_not_xml(http: aiohttp.ClientSession, inject: Inject) -> None:
    url = await inject(InjectionKind.GARBAGE)
    reply = await post(http, url, IDENTIFY)
    assert reply.status == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(reply.body, SAFE)


async def test_invalid_utf8_body_does_not_decode(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.INVALID_UTF8)
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"})
    with pytest.raises(UnicodeDecodeError):
        reply.body.decode("utf-8")


async def test_wrong_relates_to_names_another_message(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.WRONG_RELATES_TO)
    data, mid = envelope(GET, SERVICE, selectors={"Name": "WinRM"})
    reply = await post(http, url, data)
    relates = reply.text("s:Header/a:RelatesTo")
    assert relates is not None and relates.startswith("uuid:") and relates != mid


async def test_slow_drip_still_delivers_the_whole_answer(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.SLOW_DRIP, delay=0.0)
    reply = await post(http, url, IDENTIFY)
    assert reply.text("s:Body/wsmid:IdentifyResponse/wsmid:ProductVendor") == (
        "Microsoft Corporation"
    )


async def test_oversized_answer_exceeds_the_requested_size(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.OVERSIZED, size=2_000_000)
    reply = await post(http, url, IDENTIFY)
    assert len(reply.body) > 2_000_000
    assert reply.text("s:Body/wsmid:IdentifyResponse/wsmid:ProductVendor") == (
        "Microsoft Corporation"
    )


async def test_xxe_answer_declares_an_external_entity(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.XXE)
    reply = await post(http, url, IDENTIFY)
    assert b'<!ENTITY xxe SYSTEM "file:///etc/passwd">' in reply.body
    assert b"&xxe;" in reply.body
    assert b"root:" not in etree.tostring(reply.root)  # a safe parser does not resolve it


async def test_billion_laughs_answer_nests_entities(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.BILLION_LAUGHS)
    reply = await post(http, url, IDENTIFY)
    assert b"<!ENTITY lol9" in reply.body and b"&lol9;" in reply.body
    assert len(reply.body) < 10_000


async def test_quota_injection_answers_the_windows_quota_fault(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.QUOTA)
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"})
    assert reply.status == 500
    assert reply.subcode == "w:QuotaLimit"
    assert reply.text("s:Body/s:Fault/s:Detail/*/{*}MessageID") == "HRESULT 0x803381a6"


async def test_unauthorized_after_n_requests(http: aiohttp.ClientSession) -> None:
    async with WSManTestServer(behaviours={0: HostBehaviour(unauthorized_after=2)}) as srv:
        statuses = [(await post(http, srv.endpoints[0], IDENTIFY)).status for _ in range(3)]
    assert statuses == [200, 200, 401]


async def test_injection_callback_sees_the_operation_and_can_time_out_a_pull(
    http: aiohttp.ClientSession,
) -> None:
    seen: list[RequestInfo] = []

    def on_request(info: RequestInfo) -> Injection | None:
        seen.append(info)
        return Injection(InjectionKind.TIMED_OUT) if info.operation == "Pull" else None

    async with WSManTestServer(behaviours={0: HostBehaviour(inject=on_request)}) as srv:
        url = srv.endpoints[0]
        first = await call(http, url, ENUMERATE, SERVICE, body=enumerate_body(max_elements=5))
        context = first.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
        pulled = await call(http, url, PULL, SERVICE, body=pull_body(context, 5))
        assert srv.host(0).contexts  # a timed-out Pull leaves the enumeration open
    assert [(i.operation, i.number) for i in seen] == [("Enumerate", 1), ("Pull", 2)]
    assert seen[0].user == "user" and seen[0].resource_uri == SERVICE
    assert pulled.subcode == "w:TimedOut"
    assert pulled.wsman_code == "2150858793"


async def test_expire_contexts_injection_invalidates_the_next_pull(
    http: aiohttp.ClientSession,
) -> None:
    def on_request(info: RequestInfo) -> Injection | None:
        if info.operation == "Pull":
            return Injection(InjectionKind.EXPIRE_CONTEXTS)
        return None

    async with WSManTestServer(behaviours={0: HostBehaviour(inject=on_request)}) as srv:
        url = srv.endpoints[0]
        first = await call(http, url, ENUMERATE, SERVICE, body=enumerate_body(max_elements=5))
        context = first.text("s:Body/n:EnumerateResponse/n:EnumerationContext") or ""
        pulled = await call(http, url, PULL, SERVICE, body=pull_body(context, 5))
    assert pulled.subcode == "n:InvalidEnumerationContext"


async def test_latency_injection_counts_against_operation_timeout(
    http: aiohttp.ClientSession, inject: Inject
) -> None:
    url = await inject(InjectionKind.LATENCY, delay=10.0)
    reply = await call(http, url, GET, SERVICE, selectors={"Name": "WinRM"}, timeout="PT0.05S")
    assert reply.subcode == "w:TimedOut"


async def test_injections_are_per_host(http: aiohttp.ClientSession) -> None:
    behaviours = {1: HostBehaviour(always=Injection(InjectionKind.HTTP_503))}
    async with WSManTestServer(hosts=2, behaviours=behaviours) as srv:
        ok = await post(http, srv.endpoints[0], IDENTIFY, headers=basic())
        bad = await post(http, srv.endpoints[1], IDENTIFY, headers=basic())
        assert srv.host(1).stats.injections["http_503"] == 1
    assert (ok.status, bad.status) == (200, 503)


async def test_down_host_refuses_connections(http: aiohttp.ClientSession) -> None:
    async with WSManTestServer(hosts=2, behaviours={1: HostBehaviour(down=True)}) as srv:
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(http, srv.endpoints[1], IDENTIFY)
        assert (await post(http, srv.endpoints[0], IDENTIFY)).status == 200
