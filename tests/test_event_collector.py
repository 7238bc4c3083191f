"""Collecting events from many hosts into one stream (aiowsman.collect_events).

Against a multi-host test server: events come tagged with their host; a
host that fails is resumed from its last bookmark (checked by EventRecordIDs:
no gap, no duplicate); a slow consumer holds memory flat (the hosts stop
pulling); shutting down leaves no subscription on any host.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aiowsman import Event, EventCollector, collect_events
from aiowsman.errors import ConfigurationError
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from aiowsman.testing._eventlog import EventLogSettings
from aiowsman.testing.families import EventingFamily
from tests.conftest import PASSWORD, USER
from tests.waiting import until

HOSTS = 4
BACKLOG = 6


def family(server: WSManTestServer, index: int) -> EventingFamily:
    return server.host(index).family(EventingFamily)


@pytest.fixture
async def server(make_server: Callable[..., WSManTestServer]) -> AsyncIterator[WSManTestServer]:
    async with make_server(hosts=HOSTS) as srv:
        for i in range(HOSTS):
            family(srv, i).settings = EventLogSettings(backlog=BACKLOG, rate=0)
        yield srv


def collector(server: WSManTestServer, **kwargs: Any) -> EventCollector:
    kwargs.setdefault("read_existing", True)
    kwargs.setdefault("max_time", 1.0)
    kwargs.setdefault("backoff", 0.05)
    kwargs.setdefault("backoff_max", 0.2)
    return collect_events(
        server.endpoints,
        query="*",
        channel="System",
        auth="basic",
        username=USER,
        password=PASSWORD,
        allow_unencrypted=True,
        timeout=10.0,
        **kwargs,
    )


async def gather(stream: EventCollector, n: int, within: float = 20.0) -> list[Event]:
    out: list[Event] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(await anext(stream))
    return out


def by_host(events: list[Event]) -> dict[str | None, list[int | None]]:
    grouped: dict[str | None, list[int | None]] = defaultdict(list)
    for event in events:
        grouped[event.host].append(event.record_id)
    return dict(grouped)


def no_subscriptions_left(server: WSManTestServer) -> bool:
    return all(not family(server, i).subscriptions for i in range(HOSTS))


async def test_events_from_every_host_come_in_one_stream_tagged_with_their_host(
    server: WSManTestServer,
) -> None:
    async with collector(server) as stream:
        events = await gather(stream, HOSTS * BACKLOG)
    assert by_host(events) == {url: list(range(1, BACKLOG + 1)) for url in server.endpoints}


async def test_a_failed_host_is_resumed_from_its_bookmark_without_gap_or_duplicate(
    server: WSManTestServer,
) -> None:
    pulls: list[int] = []

    def reset_second_pull(info: RequestInfo) -> Injection | None:
        if info.operation != "Pull":
            return None
        pulls.append(info.number)
        return Injection(InjectionKind.RESET_MID_RESPONSE) if len(pulls) == 2 else None

    server.host(1).behaviour = HostBehaviour(inject=reset_second_pull)
    errors: list[tuple[str, bool]] = []
    async with collector(
        server, batch_items=2, on_error=lambda h, e, retry: errors.append((h, retry))
    ) as stream:
        events = await gather(stream, HOSTS * BACKLOG)
        family(server, 1).log.emit(3, "System")
        events += await gather(stream, 3)
        status = stream.status[server.endpoints[1]]
    assert by_host(events)[server.endpoints[1]] == list(range(1, BACKLOG + 4))
    assert errors == [(server.endpoints[1], True)]
    assert status.connects == 2 and status.failures == 1


async def test_a_slow_consumer_holds_the_hosts_back(server: WSManTestServer) -> None:
    for i in range(HOSTS):
        family(server, i).settings = EventLogSettings(backlog=200, rate=0)
    async with collector(server, queue_size=5, batch_items=4) as stream:
        await gather(stream, 1)
        await asyncio.sleep(0.5)
        delivered = sum(
            s.delivered for i in range(HOSTS) for s in family(server, i).subscriptions.values()
        )
    # The queue, the event taken, and at most one batch per host being handed over.
    assert delivered <= 5 + 1 + HOSTS * 4 + HOSTS
    assert delivered < HOSTS * 200


async def test_the_bookmarks_let_a_restart_resume_every_host(server: WSManTestServer) -> None:
    async with collector(server) as stream:
        first = await gather(stream, HOSTS * BACKLOG - HOSTS)  # some events of each host
        saved = {host: str(mark) for host, mark in stream.bookmarks.items()}
    for i in range(HOSTS):
        family(server, i).log.emit(2, "System")
    async with collector(server, bookmarks=saved) as stream:
        rest = await gather(stream, HOSTS * (BACKLOG + 2) - len(first))
    grouped = by_host(first + rest)
    assert {h: sorted(ids, key=lambda r: r or 0) for h, ids in grouped.items()} == {
        url: list(range(1, BACKLOG + 3)) for url in server.endpoints
    }
    assert all(len(ids) == len(set(ids)) for ids in grouped.values())


async def test_leaving_the_stream_unsubscribes_on_every_host(server: WSManTestServer) -> None:
    async with collector(server) as stream:
        await gather(stream, 3)
        assert sum(len(family(server, i).subscriptions) for i in range(HOSTS)) == HOSTS
    assert no_subscriptions_left(server)
    assert all(s.state == "closed" for s in stream.status.values())


async def test_cancelling_the_consumer_unsubscribes_on_every_host(
    server: WSManTestServer,
) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async with collector(server, read_existing=False) as stream:
            started.set()
            async for _event in stream:
                pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert no_subscriptions_left(server)


async def test_a_host_that_refuses_the_query_is_given_up_and_the_others_go_on(
    server: WSManTestServer,
) -> None:
    family(server, 2).settings = EventLogSettings(backlog=BACKLOG, rate=0, channels=("Other",))
    errors: list[tuple[str, bool]] = []
    async with collector(server, on_error=lambda h, e, retry: errors.append((h, retry))) as stream:
        events = await gather(stream, (HOSTS - 1) * BACKLOG)
        await until(lambda: bool(stream.failed))
        assert stream.failed == [server.endpoints[2]]
    assert server.endpoints[2] not in by_host(events)
    assert errors == [(server.endpoints[2], False)]


async def test_the_stream_ends_when_every_host_has_failed(server: WSManTestServer) -> None:
    for i in range(HOSTS):
        family(server, i).settings = EventLogSettings(backlog=BACKLOG, rate=0, channels=("X",))
    async with collector(server) as stream:
        async with asyncio.timeout(20):
            assert [e async for e in stream] == []
        assert sorted(stream.failed) == sorted(server.endpoints)


def test_bad_arguments_are_refused_at_once() -> None:
    with pytest.raises(ConfigurationError):
        collect_events("host01", query="*", channel="System")
    with pytest.raises(ConfigurationError):
        collect_events(["host01"], query="*", channel="System", queue_size=0)
    with pytest.raises(ConfigurationError):
        collect_events(["host01"], query="*[System[Level=1]]")  # an XPath needs its channel
    with pytest.raises(ConfigurationError):
        collect_events(["host01"], query="*", channel="System", bookmarks={"host01": "<x"})
