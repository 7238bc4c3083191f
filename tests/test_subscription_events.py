"""Event subscriptions end to end: AsyncSession.subscribe against the test server's event log.

Each test subscribes to a real simulated host (``aiowsman.testing``, the
``EventingFamily`` on ``.../windows/EventLog``) and checks what the caller
sees -- events, bookmarks, waits -- and, for everything that must be cleaned
up, what the *server* holds afterwards. Logs are made with ``rate=0`` so
that tests add events themselves (``log.emit``) and know their record ids.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aiowsman import AsyncSession, Bookmark, Subscription
from aiowsman.errors import (
    ConfigurationError,
    ConnectError,
    SubscriptionEndedError,
    WSManError,
    WSManFault,
)
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from aiowsman.testing._eventlog import EventLogSettings
from aiowsman.testing.families import EventingFamily
from tests.waiting import until

LEVEL_3_OR_WORSE = (
    '<QueryList><Query Id="0"><Select Path="System">*[System[(Level&lt;=3)]]</Select>'
    "</Query></QueryList>"
)


def family(server: WSManTestServer, index: int = 0) -> EventingFamily:
    return server.host(index).family(EventingFamily)


def requests(server: WSManTestServer, operation: str) -> int:
    """How many ``operation`` requests host 0 has received (counted before it answers)."""
    return server.host(0).stats.by_operation[operation]


@pytest.fixture
async def server(make_server: Callable[..., WSManTestServer]) -> AsyncIterator[WSManTestServer]:
    async with make_server() as srv:
        family(srv).settings = EventLogSettings(backlog=20, rate=0)
        yield srv


@pytest.fixture
async def session(
    server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> AsyncIterator[AsyncSession]:
    async with make_session(server) as s:
        yield s


def system(session: AsyncSession, **kwargs: Any) -> Subscription:
    kwargs.setdefault("max_time", 2.0)
    return session.subscribe(query="*", channel="System", **kwargs)


async def take(sub: Subscription, n: int, within: float = 10.0) -> list[int]:
    """Record ids of the next ``n`` events."""
    out: list[int] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            event = await anext(sub)
            assert event.record_id is not None
            out.append(event.record_id)
    return out


def inject_on(operation: str, injection: Injection, *, nth: int) -> HostBehaviour:
    seen: list[int] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation != operation:
            return None
        seen.append(info.number)
        return injection if len(seen) == nth else None

    return HostBehaviour(inject=inject)


# -- events -------------------------------------------------------------------------------


async def test_read_existing_delivers_the_backlog_in_record_order(
    session: AsyncSession,
) -> None:
    async with system(session, read_existing=True, batch_items=7) as sub:
        assert await take(sub, 20) == list(range(1, 21))


async def test_events_are_tagged_with_their_host(session: AsyncSession) -> None:
    async with system(session, read_existing=True) as sub:
        event = await anext(sub)
    assert event.host == session.host


async def test_without_read_existing_only_new_events_arrive(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session) as sub:
        family(server).log.emit(3, "System")
        assert await take(sub, 3) == [21, 22, 23]


async def test_the_query_filter_selects_the_matching_events(
    server: WSManTestServer, session: AsyncSession
) -> None:
    log = family(server).log
    expected = [r for r in range(1, 21) if log.event("System", r).template.level <= 3]
    async with session.subscribe(query=LEVEL_3_OR_WORSE, read_existing=True) as sub:
        events = [await anext(sub) for _ in expected]
    assert [e.record_id for e in events] == expected
    assert all(e.level is not None and e.level <= 3 for e in events)


async def test_rendered_text_events_carry_their_message(session: AsyncSession) -> None:
    async with system(session, read_existing=True, content_format="RenderedText") as sub:
        event = await anext(sub)
    assert event.message and event.level_name
    async with system(session, read_existing=True) as sub:
        assert (await anext(sub)).message is None


async def test_events_received_can_be_pickled(session: AsyncSession) -> None:
    async with system(session, read_existing=True) as sub:
        event = await anext(sub)
    assert pickle.loads(pickle.dumps(event)) == event


# -- waiting -------------------------------------------------------------------------------


async def test_no_events_yet_is_a_bounded_wait_not_a_busy_loop(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, max_time=0.4) as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(sub), 2.0)
        # Each Pull waited on the server for MaxTime and ended w:TimedOut.
        assert sub.timeouts >= 2
        assert sub.pulls <= 2.0 / 0.4 + 2
        # (the last Pull may still be on its way to the server)
        on_server = sum(s.pulls for s in family(server).subscriptions.values())
        assert sub.pulls - 1 <= on_server <= sub.pulls


async def test_heartbeats_keep_the_subscription_waiting_for_events(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, heartbeat=0.3, max_time=5.0) as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(sub), 1.5)
        assert sub.heartbeats >= 2
        assert sub.timeouts == 0
        family(server).log.emit(1, "System")
        assert await take(sub, 1) == [21]


async def test_a_cancelled_wait_loses_no_event(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, max_time=5.0) as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(sub), 0.3)  # cancels the caller mid-Pull
        family(server).log.emit(2, "System")
        assert await take(sub, 2) == [21, 22]


# -- renewal -----------------------------------------------------------------------------


async def test_the_subscription_is_renewed_before_it_expires(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, expires=2.0, heartbeat=0.3) as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(sub), 4.5)  # over twice the granted lifetime
        live = family(server).subscriptions
        assert list(live) == [sub.identifier]
        assert live[sub.identifier].renewals >= 1
        assert sub.renewals >= 1 and sub.resubscriptions == 0
        family(server).log.emit(1, "System")
        assert await take(sub, 1) == [21]


async def test_a_source_that_will_not_renew_is_subscribed_again_from_the_bookmark(
    server: WSManTestServer, session: AsyncSession
) -> None:
    # Windows: MS-WSMV 3.1.4.1.30.4, wse:UnableToRenew.
    family(server).settings = EventLogSettings(backlog=20, rate=0, renew=False)
    log = family(server).log
    received: list[int] = []
    async with system(session, expires=1.0, batch_items=3) as sub:
        for _ in range(4):
            log.emit(5, "System")
            received += await take(sub, 5)
            await asyncio.sleep(0.4)
        assert sub.resubscriptions >= 1
        assert list(family(server).subscriptions) == [sub.identifier]
    assert received == list(range(21, 41))


# -- resuming ------------------------------------------------------------------------------


async def test_the_bookmark_follows_the_events_received_not_the_batch(
    session: AsyncSession,
) -> None:
    async with system(session, read_existing=True, batch_items=10) as sub:
        await take(sub, 3)
        assert sub.bookmark is not None
        assert sub.bookmark.positions == {"System": 3}
        await take(sub, 7)
        assert sub.bookmark.positions == {"System": 10}


async def test_the_bookmark_read_after_every_event_names_that_event(
    session: AsyncSession,
) -> None:
    async with system(session, read_existing=True, batch_items=10) as sub:
        for expected in range(1, 21):
            event = await anext(sub)
            assert event.record_id == expected
            assert sub.bookmark is not None
            assert sub.bookmark.positions == {"System": expected}


async def test_a_saved_bookmark_resumes_with_no_loss_and_no_duplicate(
    server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    async with make_session(server) as first, system(first, read_existing=True) as sub:
        before = await take(sub, 5)
        saved = str(sub.bookmark)
    family(server).log.emit(5, "System")
    async with make_session(server) as second, system(second, bookmark=saved) as sub:
        after = await take(sub, 20)
    assert before + after == list(range(1, 26))


async def test_resume_after_a_dropped_connection_has_no_gap_and_no_duplicate(
    server: WSManTestServer, session: AsyncSession
) -> None:
    server.host(0).behaviour = inject_on("Pull", Injection(InjectionKind.RESET_MID_RESPONSE), nth=3)
    received: list[int] = []
    async with system(session, read_existing=True, batch_items=4) as sub:
        with pytest.raises(ConnectError):
            while True:
                received += await take(sub, 1)
        mark = sub.bookmark
    assert received == list(range(1, 9))  # two batches; the third was lost on the wire
    async with system(session, bookmark=mark) as sub:
        received += await take(sub, 12)
    assert received == list(range(1, 21))
    assert family(server).subscriptions == {}


async def test_a_forgotten_subscription_is_resumed_without_gap_or_duplicate(
    server: WSManTestServer, session: AsyncSession
) -> None:
    server.host(0).behaviour = inject_on("Pull", Injection(InjectionKind.EXPIRE_CONTEXTS), nth=2)
    async with system(session, read_existing=True, batch_items=5) as sub:
        assert await take(sub, 20) == list(range(1, 21))
        assert sub.resubscriptions == 1
        assert list(family(server).subscriptions) == [sub.identifier]


async def test_a_subscription_ended_by_the_source_is_resumed(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, read_existing=True, batch_items=5) as sub:
        first = await take(sub, 5)
        family(server).end(sub.identifier or "")
        rest = await take(sub, 15)
        assert sub.resubscriptions == 1
    assert first + rest == list(range(1, 21))


async def test_a_subscription_ended_by_the_source_raises_without_resubscribe(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, read_existing=True, batch_items=5, resubscribe=False) as sub:
        await take(sub, 5)
        family(server).end(sub.identifier or "", "SourceCancelling", "maintenance")
        with pytest.raises(SubscriptionEndedError) as info:
            await take(sub, 1)
    assert info.value.status == "e:SourceCancelling"
    assert info.value.host == session.host


# -- nothing left on the server -------------------------------------------------------------


async def test_leaving_async_with_unsubscribes(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session) as sub:
        identifier = sub.identifier
        assert list(family(server).subscriptions) == [identifier]
    assert family(server).subscriptions == {}
    assert family(server).unsubscribed == [identifier]


async def test_breaking_out_of_the_loop_unsubscribes(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async with system(session, read_existing=True) as sub:
        async for event in sub:
            if event.record_id == 3:
                break
    assert family(server).subscriptions == {}


async def test_an_error_in_the_loop_body_unsubscribes(
    server: WSManTestServer, session: AsyncSession
) -> None:
    with pytest.raises(KeyError):
        async with system(session, read_existing=True) as sub:
            async for _event in sub:
                raise KeyError("handler failed")
    assert family(server).subscriptions == {}


async def test_cancelling_the_consumer_unsubscribes(
    server: WSManTestServer, session: AsyncSession
) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async with system(session, max_time=10.0) as sub:
            started.set()
            async for _event in sub:
                pass

    task = asyncio.create_task(consume())
    await started.wait()
    await until(lambda: requests(server, "Pull") >= 1)  # the Pull is waiting on the server
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert family(server).subscriptions == {}


async def test_unsubscribe_completes_even_if_cancelled_meanwhile(
    server: WSManTestServer, session: AsyncSession
) -> None:
    server.host(0).behaviour = inject_on(
        "Unsubscribe", Injection(InjectionKind.LATENCY, delay=2.0), nth=1
    )
    sub = await system(session)
    closing = asyncio.create_task(sub.aclose())
    await until(lambda: requests(server, "Unsubscribe") == 1)  # on the wire, not answered
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert family(server).subscriptions == {}
    assert family(server).unsubscribed == [sub.identifier]


async def test_a_cancelled_subscribe_leaves_nothing_on_the_server(
    server: WSManTestServer, session: AsyncSession
) -> None:
    server.host(0).behaviour = inject_on(
        "Subscribe", Injection(InjectionKind.LATENCY, delay=2.0), nth=1
    )
    task = asyncio.create_task(system(session).start())
    await until(lambda: requests(server, "Subscribe") == 1)  # on the wire, not answered
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert family(server).subscriptions == {}
    assert len(family(server).unsubscribed) == 1


async def test_closing_the_session_unsubscribes_what_is_open(
    server: WSManTestServer, make_session: Callable[..., AsyncSession]
) -> None:
    session = make_session(server)
    subs = [await system(session), await system(session)]
    assert len(family(server).subscriptions) == 2
    await session.aclose()
    assert family(server).subscriptions == {}
    assert all(s.closed for s in subs)


async def test_an_abandoned_subscription_is_unsubscribed_when_collected(
    server: WSManTestServer, session: AsyncSession
) -> None:
    async for event in system(session, read_existing=True):
        if event.record_id == 2:
            break
    gc.collect()
    await until(lambda: not family(server).subscriptions)


# -- refusals ------------------------------------------------------------------------------


async def test_an_unknown_filter_dialect_is_refused_by_the_source(session: AsyncSession) -> None:
    with pytest.raises(WSManFault) as info:
        await system(session, dialect="http://example.com/other-dialect")
    assert info.value.subcode == "FilteringRequestedUnavailable"
    assert info.value.operation == "Subscribe" and info.value.host == session.host


async def test_a_query_outside_what_the_source_understands_is_refused(
    session: AsyncSession,
) -> None:
    with pytest.raises(WSManFault) as info:
        await session.subscribe(query="*[EventData[Data='x']]", channel="System")
    assert info.value.wsman_code == 15001  # ERROR_EVT_INVALID_QUERY


async def test_an_unknown_channel_is_refused_unless_channel_errors_are_ignored(
    server: WSManTestServer, session: AsyncSession
) -> None:
    query = (
        '<QueryList><Query Id="0"><Select Path="System">*</Select>'
        '<Select Path="NoSuchLog">*</Select></Query></QueryList>'
    )
    with pytest.raises(WSManFault) as info:
        await session.subscribe(query=query)
    assert info.value.wsman_code == 15007  # ERROR_EVT_CHANNEL_NOT_FOUND
    async with session.subscribe(query=query, ignore_channel_error=True) as sub:
        family(server).log.emit(1)
        assert await take(sub, 1) == [21]


async def test_a_bookmark_ahead_of_the_log_is_refused(session: AsyncSession) -> None:
    mark = Bookmark.from_positions({"System": 999})
    with pytest.raises(WSManFault) as info:
        await system(session, bookmark=mark)
    assert info.value.subcode == "InvalidBookmark"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": "*"},  # an XPath without a channel
        {"query": "*", "channel": "System", "batch_items": 0},
        {"query": "*", "channel": "System", "max_time": 0},
        {"query": "*", "channel": "System", "content_format": "Html"},
        {"query": "*", "channel": "System", "bookmark": "<Broken"},
    ],
)
def test_bad_arguments_are_refused_at_once(session: AsyncSession, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        session.subscribe(**kwargs)
    assert info.value.operation == "Subscribe"


async def test_a_failed_subscription_keeps_raising_the_same_error(
    server: WSManTestServer, session: AsyncSession
) -> None:
    server.host(0).behaviour = inject_on("Pull", Injection(InjectionKind.HTTP_500), nth=1)
    async with system(session, read_existing=True) as sub:
        with pytest.raises(WSManError) as first:
            await anext(sub)
        with pytest.raises(WSManError) as again:
            await anext(sub)
        assert again.value is first.value
    assert family(server).subscriptions == {}
