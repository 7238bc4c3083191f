"""Subscription: a WS-Eventing pull-mode subscription as an async iterator of events.

``session.subscribe(...)`` returns a :class:`Subscription`. Nothing is sent
until it is used (``async with``, ``async for``, ``await``). Then it sends a
pull-mode Subscribe (DSP0226 10.2; MS-WSMV 3.1.4.1.30) and Pulls events in
batches of ``batch_items`` on the context the SubscribeResponse carries. The
messages are built and read in :mod:`aiowsman.protocol.eventing`.

Waiting
    Each Pull carries ``wsen:MaxTime`` (how long the source may hold it
    waiting for events) and has a client deadline of MaxTime plus a network
    margin (MS-WSMV 3.2.4.1: client timeout = OperationTimeout +
    NetworkDelayms, 5 s by default). "No events yet" is normal: a
    ``w:TimedOut`` fault when MaxTime passes, or a heartbeat (DSP0226
    10.2.5); both simply lead to the next Pull. Empty answers are paced (at
    least :data:`MIN_EMPTY_INTERVAL` apart), so a source that answers
    "nothing" at once cannot make the loop spin.

Bookmarks
    With ``send_bookmarks`` (the default) the source sends a bookmark with
    each batch (DSP0226 10.2.6). :attr:`Subscription.bookmark` is the
    bookmark after the last event *the caller received*, not after the last
    batch received: for Windows' ``BookmarkList`` it advances event by event
    (the event's channel and EventRecordID), and becomes the source's own
    bookmark once the batch is used up. A new subscription given it resumes
    with the next event: no loss, no duplicate. (For a bookmark format the
    client cannot read, the bookmark moves at batch boundaries only.)

Expiry and renewal
    ``expires=None`` (the default) asks for a subscription that does not
    expire (WS-Eventing: no ``wse:Expires``). With ``expires=`` seconds, the
    subscription is renewed (DSP0226 10.5) when two thirds of the granted
    lifetime have passed, and no Pull waits past that moment. Windows does
    not renew (MS-WSMV 3.1.4.1.30.4: ``wse:UnableToRenew``); the subscription
    then subscribes again from its bookmark and unsubscribes the old one, and
    does the same if the source forgets the subscription
    (``wsen:InvalidEnumerationContext``) -- so the caller sees one unbroken
    stream (``resubscribe=False`` turns this off).

Closing
    ``aclose()`` -- called by ``async with`` on exit, and by
    ``session.aclose()`` for every subscription still open -- sends
    Unsubscribe (DSP0226 10.4), best effort, within ``min(timeout, 10 s)``.
    It finishes even if the caller is cancelled meanwhile (the cancellation
    is delivered once it has). An abandoned subscription (``break`` out of a
    plain ``async for``) is unsubscribed from the loop when it is
    garbage-collected, as an abandoned enumeration is released.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from aiowsman.errors import (
    ConfigurationError,
    InvalidEnumerationContextFault,
    OperationTimedOutFault,
    SubscriptionEndedError,
    WSManError,
)
from aiowsman.protocol import eventing as ev
from aiowsman.protocol.eventing import Bookmark, EventBatch, SubscriptionManager
from aiowsman.protocol.events import Event
from aiowsman.protocol.locator import ResourceLocator

if TYPE_CHECKING:
    from aiowsman.session import AsyncSession

__all__ = [
    "DEFAULT_MAX_TIME",
    "MIN_EMPTY_INTERVAL",
    "PULL_MARGIN",
    "UNSUBSCRIBE_TIMEOUT",
    "Subscription",
    "content_format_name",
    "finish_despite_cancellation",
    "query_list",
]

log = logging.getLogger("aiowsman.subscription")

#: MaxTime of each event Pull when none is given, seconds: how long the
#: source may hold a Pull waiting for events. Below Windows' MaxTimeoutms
#: (60 s, MS-WSMV 2.2.4.10), and short enough that an idle host costs three
#: round trips a minute.
DEFAULT_MAX_TIME: Final = 20.0
#: Client deadline of a Pull beyond its MaxTime: MS-WSMV 3.2.4.1's
#: NetworkDelayms default (5000 ms).
PULL_MARGIN: Final = 5.0
#: Empty answers (TimedOut, heartbeats) are at least this far apart.
MIN_EMPTY_INTERVAL: Final = 0.25
#: Upper bound (seconds) on the best-effort Unsubscribe.
UNSUBSCRIBE_TIMEOUT: Final = 10.0
#: Renew when this share of the granted lifetime has passed.
_RENEW_AT: Final = 2 / 3
#: Resubscriptions in a row without an event in between before giving up.
_MAX_RESUBSCRIBES: Final = 3

_NEW, _OPEN, _ENDED, _FAILED, _CLOSED = "new", "open", "ended", "failed", "closed"

_CONTENT_FORMATS: Final = {"raw": "Raw", "renderedtext": "RenderedText", "rendered": "RenderedText"}

#: Cleanups still running after their caller was cancelled (kept referenced).
_background: set[asyncio.Task[Any]] = set()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def finish_despite_cancellation(task: asyncio.Task[Any]) -> None:
    """Wait for a (bounded) cleanup task; if the waiter is cancelled, the task
    still runs to its end, and the cancellation is delivered once it has.

    Raises:
        asyncio.CancelledError: the caller was cancelled meanwhile.
    """
    _background.add(task)
    task.add_done_callback(_background.discard)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            # The cleanup bounds itself; wait for it, then honour the cancel.
            await asyncio.wait({task})
        raise


def content_format_name(value: str | None) -> str | None:
    """``"raw"``/``"rendered"``/``"RenderedText"``... as the option value, or None.

    Raises:
        ConfigurationError: an unknown format.
    """
    if value is None:
        return None
    name = _CONTENT_FORMATS.get(value.replace("_", "").replace("-", "").lower())
    if name is None:
        raise ConfigurationError(
            f"content_format must be 'Raw' or 'RenderedText', not {value!r}", operation="Subscribe"
        )
    return name


class Subscription(AsyncIterator[Event]):
    """A pull-mode event subscription on one host, read as ``async for event in sub``.

    Created by :meth:`AsyncSession.subscribe`; see that method for the
    arguments. Also an async context manager (``async with ... as sub``)
    that unsubscribes on exit, and awaitable (``sub = await session.subscribe(...)``
    subscribes at once).

    Attributes:
        host: the host name events are tagged with.
        pulls: Pull requests sent.
        heartbeats: heartbeats received.
        timeouts: Pulls that ended with no event within MaxTime.
        renewals: successful Renew requests.
        resubscriptions: times the subscription was made again from its
            bookmark (renewal refused, or forgotten by the source).
        events_received: events handed to the caller.
    """

    def __init__(
        self,
        session: AsyncSession,
        locator: ResourceLocator,
        *,
        query: str,
        dialect: str,
        read_existing: bool,
        heartbeat: float | None,
        bookmark: Bookmark | None,
        batch_items: int,
        expires: float | None,
        content_format: str | None,
        max_time: float,
        send_bookmarks: bool,
        subscription_name: str | None,
        ignore_channel_error: bool,
        connection_retry: tuple[int, float] | None,
        resubscribe: bool,
        host: str,
    ) -> None:
        self._session = session
        self._locator = locator
        self._query = query
        self._dialect = dialect
        self._read_existing = read_existing
        self._heartbeat = heartbeat
        self._expires = expires
        self._content_format = content_format
        self._send_bookmarks = send_bookmarks
        self._subscription_name = subscription_name
        self._ignore_channel_error = ignore_channel_error
        self._connection_retry = connection_retry
        self._resubscribe_allowed = resubscribe
        self.batch_items = batch_items
        self.max_time = max_time
        self.host = host
        self._state = _NEW
        self._failure: BaseException | None = None
        self._manager: SubscriptionManager | None = None
        self._identifier: str | None = None
        self._context: str | None = None
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[EventBatch] | None = None
        self._renew_at: float | None = None
        self._expires_at: float | None = None
        self._last_empty = 0.0
        self._resubscribes_in_row = 0
        # Events pulled but not handed to the caller yet, and the source's
        # bookmark after the last of them.
        self._buffer: collections.deque[Event] = collections.deque()
        self._batch_bookmark: Bookmark | None = None
        # The caller's position: a Bookmark (opaque or BookmarkList), or, while
        # a batch is being handed out, positions advanced event by event.
        self._bookmark: Bookmark | None = bookmark
        self._positions: dict[str, int] | None = None
        self._current: str | None = None
        self._moved = False  # positions changed since the bookmark was made
        self.pulls = 0
        self.heartbeats = 0
        self.timeouts = 0
        self.renewals = 0
        self.resubscriptions = 0
        self.events_received = 0

    def __repr__(self) -> str:
        return (
            f"<Subscription {self._locator.resource_uri} {self._state} "
            f"buffered={len(self._buffer)} host={self.host}>"
        )

    def __del__(self) -> None:
        # Dropped while subscribed (no aclose(), no ``async with``): the
        # subscription would live on the source until it expires -- forever
        # without Expires. Nothing can be sent from a finaliser: the session
        # is told, and unsubscribes it from the loop (or when closed).
        manager = getattr(self, "_manager", None)
        if manager is not None and getattr(self, "_state", _CLOSED) != _CLOSED:
            self._session._orphan_subscription(self._locator.resource_uri, manager)

    # -- state ----------------------------------------------------------------

    @property
    def bookmark(self) -> Bookmark | None:
        """The bookmark after the last event the caller received (None before
        the source sent one, unless one was given to subscribe with).

        ``str(sub.bookmark)`` is the XML to save; pass it (or the object) as
        ``bookmark=`` to resume after that event.
        """
        if self._positions is not None and self._moved:
            # Made only when asked for (a tuple, no XML until saved); the
            # positions stay, to advance with the next event.
            self._bookmark = Bookmark.from_positions(self._positions, self._current)
            self._moved = False
        return self._bookmark

    @property
    def manager(self) -> SubscriptionManager | None:
        """The source's subscription manager (while subscribed)."""
        return self._manager

    @property
    def identifier(self) -> str | None:
        """The subscription's ``wse:Identifier``, if the source gave one (the
        last one, after the subscription is closed or made again)."""
        return self._identifier

    @property
    def context(self) -> str | None:
        """The enumeration context events are pulled with (while subscribed)."""
        return self._context

    @property
    def expires_in(self) -> float | None:
        """Seconds until the granted lifetime ends (None: it does not expire)."""
        if self._expires_at is None:
            return None
        return self._expires_at - asyncio.get_running_loop().time()

    @property
    def closed(self) -> bool:
        return self._state == _CLOSED

    # -- subscribing ----------------------------------------------------------

    async def start(self) -> Subscription:
        """Send the Subscribe (once); returns self.

        Raises:
            aiowsman.errors.WSManError: the source refused or did not answer.
        """
        async with self._lock:
            if self._state == _NEW:
                await self._subscribe(self.bookmark)
            elif self._state == _FAILED and self._failure is not None:
                raise self._failure
        return self

    def __await__(self) -> Generator[Any, None, Subscription]:
        return self.start().__await__()

    async def __aenter__(self) -> Subscription:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _subscribe_locator(self, bookmark: Bookmark | None) -> ResourceLocator:
        loc = self._locator.copy()
        for option in ev.event_log_options(
            subscription_name=self._subscription_name,
            content_format=self._content_format,
            # A bookmark says where to start; ReadExistingEvents would override it.
            read_existing=self._read_existing and bookmark is None,
            ignore_channel_error=self._ignore_channel_error,
        ):
            loc.options.append(option)
        return loc

    async def _subscribe(self, bookmark: Bookmark | None) -> None:
        s = self._session
        request = ev.subscribe_request(
            s.options,
            self._subscribe_locator(bookmark),
            query=self._query,
            dialect=self._dialect,
            expires=self._expires,
            heartbeat=self._heartbeat,
            send_bookmarks=self._send_bookmarks,
            bookmark=bookmark,
            connection_retry=self._connection_retry,
        )
        call = asyncio.ensure_future(
            s._call(request, ev.parse_subscribe, resource=self._locator.resource_uri)
        )
        try:
            result = await asyncio.shield(call)
        except asyncio.CancelledError:
            # The source may have made the subscription already: wait for the
            # answer (bounded by the session's timeout), unsubscribe what it
            # made, then let the cancellation through.
            await finish_despite_cancellation(asyncio.ensure_future(self._abandon_subscribe(call)))
            raise
        except BaseException as exc:
            self._state = _FAILED
            self._failure = exc
            raise
        self._adopt(result)

    async def _abandon_subscribe(self, call: asyncio.Future[ev.SubscribeResult]) -> None:
        try:
            result = await call
        except BaseException:  # nothing was made, or we cannot know what
            return
        await self._session._unsubscribe(self._locator.resource_uri, result.manager)

    def _adopt(self, result: ev.SubscribeResult) -> None:
        loop = asyncio.get_running_loop()
        self._manager = result.manager
        self._identifier = result.manager.identifier
        self._context = result.context
        self._state = _OPEN
        self._session._subscriptions.add(self)
        granted = result.expires_in()
        if granted is None and self._expires is not None:
            granted = self._expires  # asked for a lifetime, told none: assume it
        if granted is not None and granted > 0:
            now = loop.time()
            self._expires_at = now + granted
            self._renew_at = now + granted * _RENEW_AT
        else:
            self._expires_at = self._renew_at = None

    async def _resubscribe(self, why: str, cause: WSManError | None = None) -> None:
        """Subscribe again from the caller's bookmark; drop what was not handed out.

        Raises:
            SubscriptionEndedError: there is no bookmark to resume from (or
                ``resubscribe=False``: then the source's own SubscriptionEnd,
                if that is what happened), or this keeps happening without
                any event in between.
        """
        bookmark = self.bookmark
        if not self._resubscribe_allowed or bookmark is None:
            if isinstance(cause, SubscriptionEndedError):
                raise cause
            raise SubscriptionEndedError(
                f"{why}; no bookmark to resume from"
                if bookmark is None
                else f"{why} (resubscribe=False)",
                host=self._session.host,
                operation="Pull",
            )
        self._resubscribes_in_row += 1
        if self._resubscribes_in_row > _MAX_RESUBSCRIBES:
            raise SubscriptionEndedError(
                f"{why}, {_MAX_RESUBSCRIBES} times in a row; giving up",
                host=self._session.host,
                operation="Pull",
            )
        log.debug("[%s] %s: subscribing again from the bookmark", self._session.host, why)
        old, self._manager = self._manager, None
        self._context = None
        self._buffer.clear()  # the new subscription delivers them again
        self._batch_bookmark = None
        if old is not None:
            await self._session._unsubscribe(self._locator.resource_uri, old)
        await self._subscribe(bookmark)
        self.resubscriptions += 1

    async def renew(self) -> None:
        """Renew the subscription now for ``expires`` more seconds (DSP0226 10.5).

        A source that does not renew (Windows: ``wse:UnableToRenew``) is
        subscribed to again from the bookmark instead.

        Raises:
            aiowsman.errors.WSManError: the Renew (or the new Subscribe) failed.
        """
        async with self._lock:
            await self._renew()

    async def _renew(self) -> None:
        manager = self._manager
        if manager is None or self._expires is None:
            self._renew_at = None
            return
        s = self._session
        request = ev.renew_request(s.options, manager, self._locator.resource_uri, self._expires)
        try:
            granted_text = await s._call(
                request, ev.parse_renew, resource=self._locator.resource_uri
            )
        except WSManError as exc:
            if ev.is_unable_to_renew(exc):
                await self._resubscribe("the source does not renew subscriptions")
                return
            raise
        self.renewals += 1
        granted = ev.expires_in(granted_text)
        if granted is None:
            granted = self._expires
        now = asyncio.get_running_loop().time()
        self._expires_at = now + granted
        self._renew_at = now + granted * _RENEW_AT

    # -- pulling --------------------------------------------------------------

    def _pull_wait(self) -> float:
        """This Pull's MaxTime: never past the moment to renew."""
        wait = self.max_time
        if self._renew_at is not None:
            left = self._renew_at - asyncio.get_running_loop().time()
            wait = min(wait, max(left, MIN_EMPTY_INTERVAL))
        return wait

    def _spawn_pull(self) -> asyncio.Task[EventBatch]:
        task = asyncio.get_running_loop().create_task(self._pull(self._pull_wait()))
        task.add_done_callback(_retrieve)
        return task

    async def _pull(self, max_time: float) -> EventBatch:
        s = self._session
        assert self._context is not None
        request = ev.event_pull_request(
            s._options_with_timeout(max_time),
            self._locator,
            self._context,
            max_elements=self.batch_items,
            max_time=max_time,
        )
        self.pulls += 1
        return await s._call(
            request,
            functools.partial(ev.parse_event_batch, host=self.host),
            resource=self._locator.resource_uri,
            deadline=max_time + PULL_MARGIN,
        )

    async def _fill(self) -> None:
        """Make the buffer non-empty, unless the subscription has ended (lock held)."""
        if self._state == _NEW:
            await self._subscribe(self.bookmark)
        loop = asyncio.get_running_loop()
        while not self._buffer and self._state == _OPEN:
            if self._renew_at is not None and loop.time() >= self._renew_at:
                await self._guard(self._renew())
                continue
            pending = self._pending
            if pending is None:
                pending = self._pending = self._spawn_pull()
            started = loop.time()
            try:
                # shield: cancelling the caller must not cancel the Pull,
                # whose events would be lost with it (the next call takes them).
                batch = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled() and self._pending is pending:
                    self._pending = None
                raise
            except OperationTimedOutFault:
                # No event within MaxTime: normal (DSP0226 10.2; w:TimedOut).
                self._pending = None
                self.timeouts += 1
                await self._pace(started)
                continue
            except (InvalidEnumerationContextFault, SubscriptionEndedError) as exc:
                self._pending = None
                self._context = None
                exc.with_context(self._session.host, "Pull")
                await self._guard(
                    self._resubscribe(f"the subscription is gone ({exc.message})", exc)
                )
                continue
            except BaseException as exc:
                self._pending = None
                self._fail(exc)
                raise
            self._pending = None
            self._absorb(batch)
            if not batch.events and not batch.end_of_sequence:
                await self._pace(started)

    async def _guard(self, step: Any) -> None:
        """Run a renew/resubscribe step; a failure fails the subscription."""
        try:
            await step
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> None:
        self._state = _FAILED
        self._failure = exc

    async def _pace(self, started: float) -> None:
        # Never a busy loop: an empty answer that came back at once is
        # followed by a short pause before the next Pull.
        wait = MIN_EMPTY_INTERVAL - (asyncio.get_running_loop().time() - started)
        if wait > 0:
            await asyncio.sleep(wait)

    def _absorb(self, batch: EventBatch) -> None:
        if batch.context:
            self._context = batch.context
        if batch.heartbeat and not batch.events:
            self.heartbeats += 1
        if batch.events:
            self._resubscribes_in_row = 0
            self._buffer.extend(batch.events)
            self._batch_bookmark = batch.bookmark
            self._begin_batch(batch)
        elif batch.bookmark is not None:
            # Nothing to hand out: the source's position is the caller's.
            self._bookmark = batch.bookmark
            self._positions = None
        if batch.end_of_sequence:
            self._state = _ENDED

    def _begin_batch(self, batch: EventBatch) -> None:
        """Set up event-by-event bookmarks for a batch, when they can be made.

        The caller's positions start from its last bookmark; a channel it has
        no position for starts just before the batch's first event of that
        channel (events of one channel come in EventRecordID order), else at
        the source's bookmark (no event of it in the batch).
        """
        base = self.bookmark
        known = base.positions if base is not None else None
        source = batch.bookmark.positions if batch.bookmark is not None else None
        if known is None and source is None:
            self._positions = None  # opaque bookmarks: batch boundaries only
            return
        positions: dict[str, int] = dict(source or {})
        positions.update(known or {})
        first: dict[str, int] = {}
        for event in batch.events:
            # Windows numbers records from 1: anything else is no position
            # (and would make a bookmark that does not read back).
            if event.channel and event.record_id is not None and event.record_id > 0:
                first.setdefault(event.channel, event.record_id)
        for channel, record in first.items():
            if channel not in (known or {}):
                positions[channel] = record - 1
        self._positions = positions
        self._current = base.current if base is not None else None
        self._moved = False

    def _take(self) -> Event:
        event = self._buffer.popleft()
        self.events_received += 1
        if not self._buffer and self._batch_bookmark is not None:
            # The batch is used up: the source's bookmark is exact.
            self._bookmark = self._batch_bookmark
            self._batch_bookmark = None
            self._positions = None
        elif (
            self._positions is not None
            and event.channel
            and event.record_id is not None
            and event.record_id > 0  # as in _begin_batch: Windows numbers records from 1
        ):
            self._positions[event.channel] = event.record_id
            self._current = event.channel
            self._moved = True
        return event

    # -- consuming ------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if self._buffer:
            return self._take()
        async with self._lock:
            if self._state == _FAILED and self._failure is not None:
                raise self._failure
            await self._fill()
            if self._buffer:
                return self._take()
        raise StopAsyncIteration

    # -- closing --------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop: cancel the Pull in flight and Unsubscribe (best effort).

        Bounded by ``min(session.timeout, 10 s)``; never raises a WS-Man error
        (a failed Unsubscribe is logged at DEBUG); completes even when the
        caller is cancelled meanwhile.
        """
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self._buffer.clear()
        pending, self._pending = self._pending, None
        manager, self._manager = self._manager, None
        self._context = None
        session = self._session
        session._subscriptions.discard(self)
        cleanup = asyncio.ensure_future(self._close(pending, manager))
        await finish_despite_cancellation(cleanup)

    async def _close(
        self, pending: asyncio.Task[EventBatch] | None, manager: SubscriptionManager | None
    ) -> None:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        if manager is not None and not self._session.closed:
            await self._session._unsubscribe(self._locator.resource_uri, manager)

    unsubscribe = aclose


def query_list(query: str, channel: str | None) -> str:
    """The filter text: a QueryList as given, or an XPath wrapped for ``channel``.

    Raises:
        ConfigurationError: an XPath without a channel.
    """
    if query.lstrip().startswith("<"):
        return query
    if not channel:
        raise ConfigurationError(
            "an XPath query needs channel= (or give a <QueryList> document)",
            operation="Subscribe",
        )
    return ev.event_query(query, channel)
