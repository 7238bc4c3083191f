"""The test server's event log family: its documented rules, spoken to with raw HTTP + lxml.

These tests hold ``aiowsman.testing.families.eventing`` and
``aiowsman.testing._eventlog`` to their docstrings (how events are made,
which queries are understood, how Subscribe/Pull/Renew/Unsubscribe answer
and fault) without using the aiowsman client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from lxml import etree

from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from aiowsman.testing._eventlog import (
    TEMPLATES,
    ChannelLog,
    EventLogSettings,
    QueryError,
    compile_xpath,
    event_fields,
)
from aiowsman.testing.families import EventingFamily
from tests.testing_raw import (
    EVENTLOG,
    NS,
    PULL,
    RENEW,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Reply,
    call,
    event_pull_body,
    identifier_header,
    options_header,
    subscribe_body,
)
from tests.waiting import until


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=2) as srv:
        for host in srv.hosts:
            host.family(EventingFamily).settings = EventLogSettings(backlog=10, rate=0)
        yield srv


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def family(server: WSManTestServer, index: int = 0) -> EventingFamily:
    return server.host(index).family(EventingFamily)


async def subscribe(
    http: aiohttp.ClientSession, server: WSManTestServer, body: str | None = None, **kw: object
) -> Reply:
    return await call(
        http, server.endpoints[0], SUBSCRIBE, EVENTLOG, body=body or subscribe_body(), **kw
    )


def context_of(reply: Reply) -> str:
    return reply.text("s:Body/e:SubscribeResponse/n:EnumerationContext") or ""


def identifier_of(reply: Reply) -> str:
    return (
        reply.text(
            "s:Body/e:SubscribeResponse/e:SubscriptionManager/a:ReferenceParameters/e:Identifier"
        )
        or ""
    )


async def pull(
    http: aiohttp.ClientSession, server: WSManTestServer, context: str, **kw: object
) -> Reply:
    return await call(
        http,
        server.endpoints[0],
        PULL,
        EVENTLOG,
        body=event_pull_body(context, **kw),  # type: ignore[arg-type]
    )


def record_ids(reply: Reply) -> list[int]:
    return [
        int(e.findtext("ev:System/ev:EventRecordID", namespaces=NS) or 0)
        for e in reply.findall("s:Body/n:PullResponse/n:Items/w:Event/ev:Event")
    ]


# -- the event log's rules ----------------------------------------------------------------


def test_an_event_is_a_pure_function_of_host_channel_and_record() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    a = event_fields(7, 3, "System", 12, when)
    assert a == event_fields(7, 3, "System", 12, when)
    assert a.template == TEMPLATES["System"][(12 - 1) % len(TEMPLATES["System"])]


def test_the_backlog_ends_one_second_before_the_reference_time() -> None:
    log = ChannelLog("System", backlog=5, rate=0, now=0.0)
    assert log.count(100.0) == 5
    assert log.time_of(5) - log.time_of(4) == dt.timedelta(seconds=1)


def test_events_arrive_at_the_configured_rate() -> None:
    log = ChannelLog("System", backlog=0, rate=10.0, now=100.0)
    assert log.count(100.05) == 0
    assert log.count(101.0) == 10
    assert log.next_arrival(101.0) == pytest.approx(101.1)


def test_emitted_events_follow_the_ones_already_there() -> None:
    log = ChannelLog("System", backlog=3, rate=0, now=time.monotonic())
    assert log.emit(2) == (4, 5)
    assert log.count() == 5


@pytest.mark.parametrize(
    ("xpath", "level", "expected"),
    [
        ("*", 4, True),
        ("*[System[(Level<=3)]]", 3, True),
        ("*[System[(Level<=3)]]", 4, False),
        ("*[System[Level=1 or Level=2]]", 2, True),
        ("*[System[(Level=4) and (EventID=7036)]]", 4, True),
        ("*[System[Provider[@Name='Service Control Manager']]]", 4, True),
        ("*[System[TimeCreated[timediff(@SystemTime) <= 86400000]]]", 4, True),
    ],
)
def test_the_supported_xpath_subset(xpath: str, level: int, expected: bool) -> None:
    template = TEMPLATES["System"][0]._replace(level=level)
    fields = event_fields(0, 0, "System", 1, dt.datetime.now(dt.UTC))._replace(template=template)
    assert compile_xpath(xpath)(fields) is expected


@pytest.mark.parametrize(
    "xpath",
    [
        "*[EventData[Data[@Name='x']='y']]",
        "*[System[Level]]",
        "Event/System",
        "*[System[(Level<=3)]",
        "*[System[Level<=three]]",
    ],
)
def test_xpaths_outside_the_subset_are_refused(xpath: str) -> None:
    with pytest.raises(QueryError):
        compile_xpath(xpath)


# -- Subscribe -----------------------------------------------------------------------------


async def test_subscribe_answers_a_manager_reference_and_a_pull_context(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server)
    assert reply.status == 200
    assert reply.text("s:Header/a:Action") == (
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse"
    )
    manager = reply.find("s:Body/e:SubscribeResponse/e:SubscriptionManager/a:ReferenceParameters")
    assert manager is not None and manager.findtext("w:ResourceURI", namespaces=NS) == EVENTLOG
    assert list(family(server).subscriptions) == [identifier_of(reply)]
    assert context_of(reply)


async def test_only_pull_delivery_is_offered(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    body = subscribe_body(mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Events")
    reply = await subscribe(http, server, body)
    assert reply.subcode == "e:DeliveryModeRequestedUnavailable"
    assert family(server).subscriptions == {}


async def test_only_the_event_query_dialect_is_understood(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server, subscribe_body(dialect="http://example.invalid/xpath"))
    assert reply.subcode == "e:FilteringRequestedUnavailable"
    assert reply.wsman_code == "2150858786"


async def test_an_unknown_channel_is_error_15007(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server, subscribe_body(channel="Nope"))
    assert reply.subcode == "e:EventSourceUnableToProcess"
    assert reply.wsman_code == "15007"


async def test_a_query_outside_the_subset_is_error_15001(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server, subscribe_body(select="*[UserData]"))
    assert reply.wsman_code == "15001"


@pytest.mark.parametrize("expires", ["PT0S", "-PT5S", "2001-01-01T00:00:00Z", "soon"])
async def test_a_lifetime_that_is_not_in_the_future_is_refused(
    http: aiohttp.ClientSession, server: WSManTestServer, expires: str
) -> None:
    reply = await subscribe(http, server, subscribe_body(extra=f"<e:Expires>{expires}</e:Expires>"))
    assert reply.subcode == "e:InvalidExpirationTime"


async def test_the_granted_lifetime_is_capped_by_max_expires(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    family(server).settings = EventLogSettings(backlog=0, rate=0, max_expires=30.0)
    reply = await subscribe(
        http, server, subscribe_body(extra="<e:Expires>PT3600.000S</e:Expires>")
    )
    assert reply.text("s:Body/e:SubscribeResponse/e:Expires") == "PT30.000S"


async def test_connection_retry_count_and_interval_must_agree(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    retry = '<w:ConnectionRetry Total="3">PT0S</w:ConnectionRetry>'
    reply = await subscribe(http, server, subscribe_body(delivery_extra=retry))
    assert reply.subcode == "w:InternalError"


async def test_a_heartbeat_too_short_is_an_unsupported_feature(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    body = subscribe_body(delivery_extra="<w:Heartbeats>PT0.001S</w:Heartbeats>")
    reply = await subscribe(http, server, body)
    assert reply.subcode == "w:UnsupportedFeature"


# -- Pull ---------------------------------------------------------------------------------


async def test_read_existing_events_starts_at_the_backlog(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server, extra_headers=options_header(ReadExistingEvents=None))
    batch = await pull(http, server, context_of(reply), max_elements=4)
    assert record_ids(batch) == [1, 2, 3, 4]


async def test_a_pull_with_no_event_times_out_after_max_time(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server)
    batch = await pull(http, server, context_of(reply), max_time="PT0.2S")
    assert batch.subcode == "w:TimedOut"


async def test_a_waiting_pull_answers_as_soon_as_an_event_is_emitted(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server)
    waiting = asyncio.create_task(pull(http, server, context_of(reply), max_time="PT30S"))
    await until(lambda: server.host(0).stats.by_operation["Pull"] == 1)  # the Pull waits
    family(server).log.emit(1, "System")
    batch = await asyncio.wait_for(waiting, 5)
    assert record_ids(batch) == [11]


async def test_a_heartbeat_is_due_before_max_time(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    body = subscribe_body(delivery_extra="<w:Heartbeats>PT0.2S</w:Heartbeats>")
    reply = await subscribe(http, server, body)
    beat = await pull(http, server, context_of(reply), max_time="PT10S")
    assert beat.status == 200
    assert beat.text("s:Header/a:Action") == "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat"
    assert beat.find("s:Body/n:PullResponse/n:Items") is None


async def test_bookmarks_name_every_channel_and_mark_the_current_one(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    query = (
        '<QueryList><Query Id="0"><Select Path="System">*</Select>'
        '<Select Path="Application">*</Select></Query></QueryList>'
    )
    reply = await subscribe(
        http,
        server,
        subscribe_body(query=query, extra="<w:SendBookmarks/>"),
        extra_headers=options_header(ReadExistingEvents="true"),
    )
    batch = await pull(http, server, context_of(reply), max_elements=3)
    marks = {
        b.get("Channel"): (b.get("RecordId"), b.get("IsCurrent"))
        for b in batch.findall("s:Header/w:Bookmark/BookmarkList/Bookmark")
    }
    # Channels in turn: System 1, Application 1, System 2.
    assert marks == {"System": ("2", "true"), "Application": ("1", None)}


async def test_a_bookmark_resumes_after_the_event_it_names(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    mark = (
        '<w:Bookmark><BookmarkList><Bookmark Channel="System" RecordId="7"/></BookmarkList>'
        "</w:Bookmark>"
    )
    reply = await subscribe(http, server, subscribe_body(extra=mark))
    assert record_ids(await pull(http, server, context_of(reply))) == [8, 9, 10]


@pytest.mark.parametrize("record", ["²", "x", ""])
async def test_a_bookmark_position_that_is_not_a_record_number_is_invalid(
    http: aiohttp.ClientSession, server: WSManTestServer, record: str
) -> None:
    mark = (
        f'<w:Bookmark><BookmarkList><Bookmark Channel="System" RecordId="{record}"/>'
        "</BookmarkList></w:Bookmark>"
    )
    reply = await subscribe(http, server, subscribe_body(extra=mark))
    assert reply.subcode == "w:InvalidBookmark"


async def test_the_cdata_option_sends_events_as_text(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(
        http, server, extra_headers=options_header(CDATA=None, ReadExistingEvents=None)
    )
    batch = await pull(http, server, context_of(reply), max_elements=1)
    wrapper = batch.find("s:Body/n:PullResponse/n:Items/w:Event")
    assert wrapper is not None and len(wrapper) == 0
    assert etree.fromstring((wrapper.text or "").encode()).tag.endswith("}Event")


async def test_rendered_text_adds_rendering_info(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(
        http,
        server,
        extra_headers=options_header(ContentFormat="RenderedText", ReadExistingEvents=None),
    )
    batch = await pull(http, server, context_of(reply), max_elements=1)
    assert batch.text("s:Body/n:PullResponse/n:Items/w:Event/ev:Event/ev:RenderingInfo/ev:Message")


# -- Renew, Unsubscribe, expiry --------------------------------------------------------------


async def test_renew_extends_the_lifetime(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server, subscribe_body(extra="<e:Expires>PT0.5S</e:Expires>"))
    ident = identifier_of(reply)
    renewed = await call(
        http,
        server.endpoints[0],
        RENEW,
        EVENTLOG,
        body=f'<e:Renew xmlns:e="{NS["e"]}"><e:Expires>PT60S</e:Expires></e:Renew>',
        extra_headers=identifier_header(ident),
    )
    assert renewed.text("s:Body/e:RenewResponse/e:Expires") == "PT60.000S"
    await asyncio.sleep(0.7)
    assert list(family(server).subscriptions) == [ident]


async def test_a_source_set_like_windows_will_not_renew(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    family(server).settings = EventLogSettings(backlog=0, rate=0, renew=False)
    reply = await subscribe(http, server)
    renewed = await call(
        http,
        server.endpoints[0],
        RENEW,
        EVENTLOG,
        body=f'<e:Renew xmlns:e="{NS["e"]}"><e:Expires>PT60S</e:Expires></e:Renew>',
        extra_headers=identifier_header(identifier_of(reply)),
    )
    assert renewed.subcode == "e:UnableToRenew"


async def test_an_expired_subscription_is_gone(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server, subscribe_body(extra="<e:Expires>PT0.2S</e:Expires>"))
    await asyncio.sleep(0.3)
    assert family(server).subscriptions == {}
    assert (await pull(http, server, context_of(reply))).subcode == "n:InvalidEnumerationContext"


async def test_unsubscribe_ends_the_subscription_and_is_recorded(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server)
    ident = identifier_of(reply)
    gone = await call(
        http, server.endpoints[0], UNSUBSCRIBE, EVENTLOG, extra_headers=identifier_header(ident)
    )
    assert gone.status == 200
    assert family(server).subscriptions == {}
    assert family(server).unsubscribed == [ident]
    again = await call(
        http, server.endpoints[0], UNSUBSCRIBE, EVENTLOG, extra_headers=identifier_header(ident)
    )
    assert again.subcode == "a:DestinationUnreachable"


async def test_ending_a_subscription_sends_subscription_end_once(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    reply = await subscribe(http, server)
    family(server).end(identifier_of(reply), "SourceShuttingDown", "bye")
    end = await pull(http, server, context_of(reply))
    assert end.text("s:Header/a:Action") == (
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"
    )
    assert end.text("s:Body/e:SubscriptionEnd/e:Status") == "e:SourceShuttingDown"
    assert (await pull(http, server, context_of(reply))).subcode == "n:InvalidEnumerationContext"


async def test_each_host_has_its_own_log_and_subscriptions(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    await subscribe(http, server)
    assert len(family(server, 0).subscriptions) == 1
    assert family(server, 1).subscriptions == {}
    family(server, 1).log.emit(5)
    assert family(server, 0).log.channels["System"].count() == 10


async def test_fault_injection_sees_subscribe_as_its_own_operation(
    http: aiohttp.ClientSession, server: WSManTestServer
) -> None:
    seen: list[str] = []

    def inject(info: RequestInfo) -> Injection | None:
        seen.append(info.operation)
        return Injection(InjectionKind.HTTP_503) if info.operation == "Subscribe" else None

    server.host(0).behaviour = HostBehaviour(inject=inject)
    reply = await subscribe(http, server)
    assert reply.status == 503 and seen == ["Subscribe"]
    assert family(server).subscriptions == {}
