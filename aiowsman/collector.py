"""Collect events from many hosts into one stream (an event collector without an agent).

``collect_events(hosts, query=...)`` subscribes to every host (one
:class:`~aiowsman.subscription.Subscription` each, pull mode) and yields
their events, each tagged with its host (``event.host``), as they arrive.
Its promises:

* **Nothing lost, nothing twice.** When a host fails (connection dropped,
  timeout, the subscription gone), it is subscribed to again from the
  bookmark after the last event it put in the stream, after a bounded,
  jittered backoff (``backoff`` doubling up to ``backoff_max``). Events
  already in the stream are not pulled again.
* **Bounded memory.** Events wait in one queue of ``queue_size``; when the
  consumer is slower than the hosts, the queue fills, the hosts stop pulling
  (their events wait on the hosts, covered by bookmarks), and memory stays
  flat: at most ``queue_size`` events plus one batch per host.
* **Bookmarks for restarts.** :attr:`EventCollector.bookmarks` holds, per
  host, the bookmark after the last event *the consumer received*; save it
  and pass it back as ``bookmarks=`` to resume after a restart.
* **Clean shutdown.** Leaving ``async with collect_events(...)`` (or
  ``aclose()``) cancels every host and unsubscribes each subscription (best
  effort, bounded, concurrently), then closes every session and the shared
  connector.

A host whose subscription cannot work at all (a refused query, bad
credentials, a bad argument) is not retried: it is reported through
``on_error`` and :attr:`EventCollector.status`, and the other hosts go on.
The stream ends when every host has failed for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import aiohttp

from aiowsman.errors import (
    AuthenticationError,
    ConfigurationError,
    QuotaExceededFault,
    WSManError,
    WSManFault,
)
from aiowsman.fanout import SessionFactory, default_session_factory, shared_client_session
from aiowsman.protocol.eventing import Bookmark
from aiowsman.protocol.events import Event
from aiowsman.subscription import content_format_name, query_list

__all__ = ["EventCollector", "HostStatus", "collect_events"]

#: Events waiting for the consumer, at most (all hosts together).
DEFAULT_QUEUE_SIZE: Final = 1000

_STOP = object()


@dataclass
class HostStatus:
    """How one host of a collection is doing.

    Attributes:
        host: the host, as given.
        state: ``starting``, ``subscribed``, ``backoff`` (waiting to
            reconnect), ``failed`` (given up: see ``last_error``) or ``closed``.
        events: events this host has put in the stream.
        connects: subscriptions made (1 + reconnections).
        failures: failures so far; ``consecutive`` since the last success.
        last_error: the last failure, if any.
    """

    host: str
    state: str = "starting"
    events: int = 0
    connects: int = 0
    failures: int = 0
    consecutive: int = 0
    last_error: BaseException | None = None


def _permanent(exc: BaseException) -> bool:
    """A failure that would happen again the same way: do not retry the host."""
    if isinstance(exc, ConfigurationError | AuthenticationError):
        return True
    if isinstance(exc, WSManFault) and not isinstance(exc, QuotaExceededFault):
        # The source refused the Subscribe (query, dialect, channel...).
        return exc.operation == "Subscribe"
    return not isinstance(exc, WSManError | OSError | TimeoutError)


class EventCollector(AsyncIterator[Event]):
    """The stream returned by :func:`collect_events`: ``async for event in ...``.

    Also an async context manager: leaving it shuts everything down.
    """

    def __init__(
        self,
        hosts: Iterable[str],
        subscribe_options: dict[str, Any],
        *,
        bookmarks: Mapping[str, str | Bookmark] | None,
        queue_size: int,
        backoff: float,
        backoff_max: float,
        max_failures: int | None,
        on_error: Callable[[str, BaseException, bool], object] | None,
        session_factory: SessionFactory[Any] | None,
        session_options: dict[str, Any],
        per_host: int,
    ) -> None:
        self.hosts = list(dict.fromkeys(hosts))
        self._options = subscribe_options
        self._queue: asyncio.Queue[tuple[str, Event, Bookmark | None]] = asyncio.Queue(queue_size)
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._max_failures = max_failures
        self._on_error = on_error
        self._factory = session_factory
        self._session_options = session_options
        self._per_host = per_host
        #: Per host: the bookmark after the last event the consumer received.
        self.bookmarks: dict[str, Bookmark] = {}
        for host, mark in (bookmarks or {}).items():
            self.bookmarks[host] = mark if isinstance(mark, Bookmark) else Bookmark(mark)
        # Per host: where a reconnection resumes (after the last event queued).
        self._resume: dict[str, Bookmark] = dict(self.bookmarks)
        self.status: dict[str, HostStatus] = {h: HostStatus(h) for h in self.hosts}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._live = 0
        self._all_done: asyncio.Event | None = None
        self._held: tuple[str, Event, Bookmark | None] | None = None
        self._started = False
        self._closed = False

    # -- iteration ----------------------------------------------------------------

    def __aiter__(self) -> EventCollector:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        if not self._started:
            self._start()
        assert self._all_done is not None
        if self._held is not None:
            item, self._held = self._held, None
            return self._deliver(item)
        if not self._queue.empty():
            return self._deliver(self._queue.get_nowait())
        while not self._all_done.is_set():
            getter = asyncio.ensure_future(self._queue.get())
            ended = asyncio.ensure_future(self._all_done.wait())
            try:
                await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
                if not getter.done():
                    getter.cancel()
                elif not getter.cancelled() and getter.exception() is None:
                    # Taken from the queue: keep it even if we are being
                    # cancelled (the next call returns it).
                    self._held = getter.result()
            if self._held is not None:
                item, self._held = self._held, None
                return self._deliver(item)
        if not self._queue.empty():
            return self._deliver(self._queue.get_nowait())
        raise StopAsyncIteration

    def _deliver(self, item: tuple[str, Event, Bookmark | None]) -> Event:
        host, event, mark = item
        if mark is not None:
            self.bookmarks[host] = mark
        return event

    async def __aenter__(self) -> EventCollector:
        if not self._started:
            self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def failed(self) -> list[str]:
        """Hosts given up on."""
        return [h for h, s in self.status.items() if s.state == "failed"]

    # -- machinery ----------------------------------------------------------------

    def _start(self) -> None:
        self._started = True
        self._all_done = asyncio.Event()
        factory = self._factory
        if factory is None:
            self._http = shared_client_session(
                limit=max(1, len(self.hosts)) * self._per_host,
                per_host=self._per_host,
                ttl_dns_cache=300,
                keepalive_timeout=30.0,
            )
            factory = default_session_factory(self._http, self._session_options, self._per_host)
        self._live = len(self.hosts)
        if not self.hosts:
            self._all_done.set()
        self._tasks = [
            asyncio.create_task(self._watch(factory, host), name=f"aiowsman-events-{host}")
            for host in self.hosts
        ]

    async def _watch(self, factory: SessionFactory[Any], host: str) -> None:
        status = self.status[host]
        try:
            while not self._closed:
                try:
                    await self._follow(factory, host, status)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    status.failures += 1
                    status.consecutive += 1
                    status.last_error = exc
                    give_up = _permanent(exc) or (
                        self._max_failures is not None and status.consecutive >= self._max_failures
                    )
                    if self._on_error is not None:
                        self._on_error(host, exc, not give_up)
                    if give_up:
                        status.state = "failed"
                        return
                    status.state = "backoff"
                    ceiling = min(self._backoff_max, self._backoff * 2 ** (status.consecutive - 1))
                    await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
        finally:
            if status.state != "failed":
                status.state = "closed"
            self._live -= 1
            if self._live == 0 and self._all_done is not None:
                self._all_done.set()

    async def _follow(self, factory: SessionFactory[Any], host: str, status: HostStatus) -> None:
        async with factory(host) as session:
            subscription = session.subscribe(
                **self._options, bookmark=self._resume.get(host), host=host
            )
            async with subscription as sub:
                status.connects += 1
                status.state = "subscribed"
                async for event in sub:
                    mark = sub.bookmark
                    # Back-pressure: a full queue stops this host's Pulls.
                    await self._queue.put((host, event, mark))
                    if mark is not None:
                        self._resume[host] = mark
                    status.events += 1
                    status.consecutive = 0

    async def aclose(self) -> None:
        """Stop every host: unsubscribe (bounded, best effort), close sessions."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        if self._all_done is not None:
            self._all_done.set()


def collect_events(
    hosts: Iterable[str],
    *,
    query: str,
    channel: str | None = None,
    bookmarks: Mapping[str, str | Bookmark] | None = None,
    read_existing: bool = False,
    heartbeat: float | None = None,
    batch_items: int | None = None,
    expires: float | None = None,
    content_format: str | None = None,
    max_time: float | None = None,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    backoff: float = 1.0,
    backoff_max: float = 60.0,
    max_failures: int | None = None,
    on_error: Callable[[str, BaseException, bool], object] | None = None,
    session_factory: SessionFactory[Any] | None = None,
    per_host: int = 1,
    **session_options: Any,
) -> EventCollector:
    """Subscribe to every host and stream their events (see the module docstring).

    Args:
        hosts: host names, ``host:port`` or endpoint URLs (duplicates once).
        query: as for :meth:`AsyncSession.subscribe` (so are ``channel``,
            ``read_existing``, ``heartbeat``, ``batch_items``, ``expires``,
            ``content_format`` and ``max_time``).
        bookmarks: host -> bookmark to resume after (``collector.bookmarks``
            saved by an earlier run); hosts without one start as
            ``read_existing`` says.
        queue_size: events waiting for the consumer at most.
        backoff: first reconnection delay, seconds (doubled per consecutive
            failure, jittered).
        backoff_max: longest reconnection delay, seconds.
        max_failures: give a host up after this many consecutive failures
            (None: retry transient failures for ever).
        on_error: called as ``on_error(host, exc, will_retry)`` on each failure.
        session_factory: ``host -> async context manager yielding a session``
            (default: an :class:`~aiowsman.AsyncSession` per host on one
            shared connector). Incompatible with ``session_options``.
        per_host: connections one host may hold.
        **session_options: passed to every ``AsyncSession`` (credentials,
            ``auth``, TLS options, ``timeout``...).

    Returns:
        An :class:`EventCollector`; iterate it with ``async for``.

    Raises:
        aiowsman.errors.ConfigurationError: bad arguments (at once).
    """
    if isinstance(hosts, str):
        raise ConfigurationError("hosts must be an iterable of hosts, not a string")
    if queue_size < 1:
        raise ConfigurationError("queue_size must be at least 1", operation="collect")
    if not backoff > 0 or backoff_max < backoff:
        raise ConfigurationError("backoff must be positive and at most backoff_max")
    if max_failures is not None and max_failures < 1:
        raise ConfigurationError("max_failures must be at least 1", operation="collect")
    if session_factory is not None and session_options:
        names = ", ".join(sorted(session_options))
        raise ConfigurationError(
            f"session options ({names}) cannot be combined with session_factory",
            operation="collect",
        )
    # What every host would refuse the same way is refused here, at once.
    query_list(query, channel)
    content_format_name(content_format)
    subscribe_options: dict[str, Any] = {
        "query": query,
        "channel": channel,
        "read_existing": read_existing,
        "heartbeat": heartbeat,
        "batch_items": batch_items,
        "expires": expires,
        "content_format": content_format,
        "max_time": max_time,
    }
    return EventCollector(
        hosts,
        subscribe_options,
        bookmarks=bookmarks,
        queue_size=queue_size,
        backoff=backoff,
        backoff_max=backoff_max,
        max_failures=max_failures,
        on_error=on_error,
        session_factory=session_factory,
        session_options=dict(session_options),
        per_host=per_host,
    )
