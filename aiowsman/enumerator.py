"""Enumerator: the scripting API's ``Enumerator`` as an async iterator.

``session.enumerate(...)`` returns an :class:`Enumerator`. Nothing is sent
until it is used. Then it sends Enumerate (DSP0226 8.2), optionally asking
for the first batch in the EnumerateResponse (``w:OptimizeEnumeration``),
and Pulls (8.4) batches of ``batch_items`` (``n:MaxElements``) until the
service says ``EndOfSequence``.

Prefetch
    As soon as a batch arrives, the Pull for the next one is started, so the
    round trip overlaps the caller's work on the current batch. At most one
    Pull is in flight; at most two batches are held (the one being consumed
    and the one prefetched). A Pull is never cancelled because its consumer
    was: a cancelled ``read_item()`` leaves the batch to the next call, so no
    item is lost and the session stays usable.

Deadlines
    Each Pull has its own deadline of ``session.timeout``. A ``w:TimedOut``
    fault to a Pull (the service found no items within OperationTimeout; the
    context stays valid, DSP0226 8.4) is retried while that deadline leaves
    time. ``InvalidEnumerationContext`` (expired or unknown context) is raised
    as :class:`~aiowsman.errors.InvalidEnumerationContextFault`.

Bounds
    DSP0226 lets a service return fewer items than ``MaxElements`` but never
    more (8.2.3 for an optimized Enumerate, 8.4 for Pull): a batch with more
    items is a :class:`~aiowsman.errors.ProtocolError`, and no work is spent
    on the rest of it. A service that never says ``EndOfSequence`` is bounded
    by what the caller chooses: ``max_items`` (an
    :class:`~aiowsman.errors.EnumerationTooLargeError` when more arrive) and
    ``deadline`` (seconds for the whole enumeration, an
    :class:`aiowsman.errors.TimeoutError` when it passes), both arguments of
    :meth:`AsyncSession.enumerate`. ``to_list()``, which keeps every item,
    is bounded by default (:data:`DEFAULT_LIST_MAX_ITEMS`). Batches without
    items and without an end are tolerated :data:`MAX_EMPTY_BATCHES` times in
    a row. Whatever ends an enumeration early releases its context first.

Release
    An enumeration abandoned before its end holds a context on the server
    until it expires. The enumerator sends Release (8.6; best effort, within
    ``min(timeout, 10 s)``) from ``aclose()`` -- called by ``async with`` on
    exit, by ``to_list()``, and by ``session.aclose()`` for every enumeration
    still open. Plain ``async for`` cannot call anything on ``break``:
    :meth:`__aiter__` returns the enumerator itself (not an async generator,
    whose finaliser would run at an unpredictable time on the loop). Instead
    an open enumerator that is garbage-collected (at once on CPython, once
    its prefetched Pull has landed) hands its context to the session, which
    schedules the Release on the loop right away (or sends it in
    ``aclose()``). ``async with session.enumerate(...) as e`` releases
    deterministically. At the natural end there is nothing to release.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import sys
from collections.abc import AsyncIterator, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from aiowsman.errors import (
    ConfigurationError,
    EnumerationTooLargeError,
    InvalidEnumerationContextFault,
    OperationTimedOutFault,
    ProtocolError,
    TimeoutError,
    WSManError,
)
from aiowsman.protocol import envelope as env
from aiowsman.protocol import response as resp
from aiowsman.protocol.envelope import AssociationFilter, EnumerationMode, Polymorphism
from aiowsman.protocol.items import Item
from aiowsman.protocol.locator import EndpointReference, ResourceLocator

if TYPE_CHECKING:
    from aiowsman.session import AsyncSession

__all__ = ["DEFAULT_LIST_MAX_ITEMS", "MAX_EMPTY_BATCHES", "RELEASE_TIMEOUT", "Enumerator"]

log = logging.getLogger("aiowsman.enumerator")

#: Upper bound (seconds) on the best-effort Release of an abandoned enumeration.
RELEASE_TIMEOUT = 10.0
#: Do not retry a timed-out Pull with less than this left of its deadline.
_MIN_RETRY_WINDOW = 0.25
#: ... nor more often than this per Pull (a service answering TimedOut
#: instantly would otherwise spin until the deadline).
_MAX_PULL_RETRIES = 16

#: Consecutive empty, non-final batches tolerated before giving up (each one
#: a Pull round trip, so a service that answers nothing forever costs at most
#: this many round trips, each within ``session.timeout``).
MAX_EMPTY_BATCHES = 100
#: The default bound of :meth:`Enumerator.to_list`, which keeps every item in
#: memory: enough for every service, process or disk of a host (hundreds),
#: while a service that never ends (or a class of millions) is stopped with a
#: clear error instead of growing a list without limit. Stream large
#: enumerations with ``async for`` (one or two batches in memory), or pass
#: ``to_list(max_items=...)``.
DEFAULT_LIST_MAX_ITEMS = 10_000

_NEW, _OPEN, _ENDED, _FAILED, _CLOSED = "new", "open", "ended", "failed", "closed"

EnumeratedItem = Item | EndpointReference


def _check_bound(name: str, value: float, host: str) -> None:
    """``max_items`` must be a positive integer, ``deadline`` a positive number."""
    kinds: type | tuple[type, ...] = int if name == "max_items" else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        what = "integer" if name == "max_items" else "number"
        raise ConfigurationError(
            f"{name} must be a positive {what} or None, not {value!r}",
            host=host,
            operation="Enumerate",
        )


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A prefetch whose enumerator was abandoned must not log "exception was
    # never retrieved"; its error is re-raised to a consumer if there is one.
    if not task.cancelled():
        task.exception()


class Enumerator(AsyncIterator[EnumeratedItem]):
    """The results of one enumeration (``IWSManEnumerator``), pulled in batches.

    Use as ``async for item in enumerator``, ``async with ... as e``,
    ``await e.read_item()`` / ``e.at_end_of_stream`` (the WinRM Scripting API's ``ReadItem`` /
    ``AtEndOfStream``), or ``await e.to_list()``. Items are
    :class:`~aiowsman.protocol.items.Item` (with ``.epr`` in
    ``object_and_epr`` mode) or :class:`EndpointReference` (``epr`` mode).

    Created by :meth:`AsyncSession.enumerate`; not meant to be built directly.
    """

    def __init__(
        self,
        session: AsyncSession,
        locator: ResourceLocator,
        *,
        filter: str | Mapping[str, Any] | None,
        dialect: str | None,
        mode: EnumerationMode,
        polymorphism: Polymorphism | None,
        association: AssociationFilter | None,
        batch_items: int,
        optimize: bool,
        max_items: int | None = None,
        deadline: float | None = None,
    ) -> None:
        self._session = session
        self._locator = locator
        self._filter = filter
        self._dialect = dialect
        self._mode = mode
        self._polymorphism = polymorphism
        self._association = association
        self._optimize = optimize
        self.batch_items = batch_items
        self._buffer: collections.deque[EnumeratedItem] = collections.deque()
        self._context: str | None = None
        self._state = _NEW
        self._pending: asyncio.Task[resp.EnumerationBatch] | None = None
        self._failure: BaseException | None = None
        self._lock = asyncio.Lock()
        self._pulls = 0
        self._empty_batches = 0
        #: The caller's bounds (None: unbounded) and the items handed out.
        self.max_items = max_items
        self.deadline = deadline
        self._limit = max_items if max_items is not None else sys.maxsize
        self._delivered = 0
        self._deadline_at: float | None = None
        self._deadline_hit: TimeoutError | None = None
        self._parse = functools.partial(resp.parse_enumeration, max_elements=batch_items)

    def __del__(self) -> None:
        # Dropped while its context is open (no aclose(), no ``async with``):
        # the context would hold server resources until it expires (WinRM:
        # EnumerationTimeoutms, 4 minutes by default). Nothing can be sent
        # from a finaliser, so the session is told, and releases it from the
        # loop right after (or when it is closed) (DSP0226 8.6).
        context = getattr(self, "_context", None)
        if context is not None and getattr(self, "_state", _CLOSED) != _CLOSED:
            self._orphan(context)

    def _orphan(self, context: str) -> None:
        """Hand ``context`` to the session, which releases it from the loop (or when closed)."""
        self._session._orphan_context(self._locator, context)

    def __repr__(self) -> str:
        return (
            f"<Enumerator {self._locator.resource_uri} {self._state} "
            f"buffered={len(self._buffer)} host={self._session.host}>"
        )

    # -- state ----------------------------------------------------------------

    @property
    def at_end_of_stream(self) -> bool:
        """True when no item remains (the WinRM Scripting API's ``AtEndOfStream``).

        Exact after ``await enumerator`` / ``read_item()``: these wait for the
        next batch when the current one is used up. False before the start.
        """
        return not self._buffer and self._state in (_ENDED, _FAILED, _CLOSED)

    @property
    def context(self) -> str | None:
        """The server's enumeration context, while one is open."""
        return self._context

    @property
    def pulls(self) -> int:
        """How many Pull requests were sent."""
        return self._pulls

    # -- starting -------------------------------------------------------------

    async def start(self) -> Enumerator:
        """Send the Enumerate (once) and wait for the first batch; returns self."""
        async with self._lock:
            await self._fill()
        return self

    def __await__(self) -> Generator[Any, None, Enumerator]:
        return self.start().__await__()

    async def __aenter__(self) -> Enumerator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _open(self) -> None:
        s = self._session
        budget = s.timeout
        if self.deadline is not None:
            self._deadline_at = asyncio.get_running_loop().time() + self.deadline
            budget = min(budget, self.deadline)
        request = env.enumerate_request(
            s.options if budget == s.timeout else s._options_for(budget),
            self._locator,
            filter=self._filter,
            dialect=self._dialect,
            mode=self._mode,
            polymorphism=self._polymorphism,
            association=self._association,
            optimize=self._optimize,
            max_elements=self.batch_items if self._optimize else None,
        )
        self._state = _OPEN
        try:
            batch = await s._call(
                request, self._parse, resource=self._locator.resource_uri, deadline=budget
            )
        except asyncio.CancelledError:
            self._state = _NEW  # nothing known was opened: the next use starts over
            raise
        except TimeoutError as exc:
            self._state = _FAILED
            self._failure = self._deadline_error("Enumerate") if budget < s.timeout else exc
            raise self._failure from None
        except BaseException as exc:
            self._state = _FAILED
            self._failure = exc
            raise
        await self._absorb(batch, "Enumerate")

    async def _absorb(self, batch: resp.EnumerationBatch, operation: str) -> None:
        if batch.excess:
            if batch.context and not batch.end_of_sequence:
                self._context = batch.context  # released by _abandon
            await self._abandon(
                ProtocolError(
                    f"the service returned more than the {self.batch_items} items asked for "
                    "(MaxElements; DSP0226 8.2.3, 8.4: it must not); the enumeration was "
                    "released",
                    host=self._session.host,
                    operation=operation,
                )
            )
        self._buffer.extend(batch.items)
        if batch.end_of_sequence or not batch.context:
            # DSP0226 8.4: after EndOfSequence the context is gone; nothing
            # to Release.
            self._context = None
            self._state = _ENDED
            self._session._enumerators.discard(self)
            return
        self._context = batch.context
        self._session._enumerators.add(self)
        # Prefetch: the next round trip overlaps the caller's work.
        self._pending = self._spawn_pull(batch.context)

    # -- pulling --------------------------------------------------------------

    def _spawn_pull(self, context: str) -> asyncio.Task[resp.EnumerationBatch]:
        task = asyncio.get_running_loop().create_task(self._pull(context))
        task.add_done_callback(_retrieve)
        return task

    async def _pull(self, context: str) -> resp.EnumerationBatch:
        s = self._session
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.timeout
        whole = self._deadline_at
        capped = whole is not None and whole < deadline
        if whole is not None and capped:
            deadline = whole
        retries = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 and capped:
                raise self._deadline_error("Pull")
            request = env.pull_request(
                s._options_for(remaining) if retries or capped else s.options,
                self._locator,
                context,
                max_elements=self.batch_items,
            )
            self._pulls += 1
            try:
                return await s._call(
                    request,
                    self._parse,
                    resource=self._locator.resource_uri,
                    deadline=remaining,
                )
            except TimeoutError:
                if capped:
                    raise self._deadline_error("Pull") from None
                raise
            except OperationTimedOutFault:
                retries += 1
                if deadline - loop.time() < _MIN_RETRY_WINDOW or retries > _MAX_PULL_RETRIES:
                    if capped:
                        # The server ran out of the OperationTimeout the whole
                        # enumeration's deadline left it.
                        raise self._deadline_error("Pull") from None
                    raise
                log.debug("[%s] Pull timed out on the server; pulling again", s.host)

    async def _fill(self) -> None:
        """Make the buffer non-empty, unless the stream has ended (lock held)."""
        if self._state == _NEW:
            await self._open()
        while not self._buffer and self._state == _OPEN:
            pending = self._pending
            if pending is None:
                assert self._context is not None
                pending = self._pending = self._spawn_pull(self._context)
            try:
                # shield: cancelling the consumer must not cancel the Pull,
                # whose batch would otherwise be lost with the context.
                batch = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled() and self._pending is pending:
                    self._pending = None  # the Pull itself was cancelled (aclose)
                raise
            except BaseException as exc:
                self._pending = None
                if exc is self._deadline_hit:
                    await self._abandon(exc)
                self._state = _FAILED
                self._failure = exc
                if isinstance(exc, InvalidEnumerationContextFault):
                    self._context = None  # nothing left to release
                    self._session._enumerators.discard(self)
                raise
            self._pending = None
            if batch.items or batch.end_of_sequence:
                self._empty_batches = 0
            else:
                self._empty_batches += 1
                if self._empty_batches > MAX_EMPTY_BATCHES:
                    # A service may answer a Pull with no items (DSP0226 8.4),
                    # but not forever: do not spin on a broken or hostile one.
                    if batch.context:
                        self._context = batch.context
                    await self._abandon(
                        ProtocolError(
                            f"{MAX_EMPTY_BATCHES} empty batches in a row without an end; "
                            "the enumeration was released",
                            host=self._session.host,
                            operation="Pull",
                        )
                    )
            await self._absorb(batch, "Pull")
        if self._state == _FAILED and not self._buffer and self._failure is not None:
            raise self._failure

    # -- consuming ------------------------------------------------------------

    def __aiter__(self) -> Enumerator:
        return self

    async def __anext__(self) -> EnumeratedItem:
        if self._buffer and self._delivered < self._limit:
            self._delivered += 1
            return self._buffer.popleft()
        async with self._lock:
            await self._fill()
            if self._buffer:
                if self._delivered >= self._limit:
                    await self._abandon(self._too_many(self._limit, "enumerate"))
                self._delivered += 1
                return self._buffer.popleft()
        raise StopAsyncIteration

    async def read_item(self) -> EnumeratedItem:
        """The next item (the WinRM Scripting API's ``ReadItem``).

        When this takes the last buffered item, it waits for the next batch
        (already prefetched), so ``at_end_of_stream`` is exact afterwards.

        Raises:
            EOFError: the stream has ended.
            aiowsman.errors.WSManError: the Enumerate or a Pull failed.
        """
        async with self._lock:
            await self._fill()
            if not self._buffer:
                raise EOFError("the enumeration has no more items")
            if self._delivered >= self._limit:
                await self._abandon(self._too_many(self._limit, "enumerate"))
            self._delivered += 1
            item = self._buffer.popleft()
            if not self._buffer and self._state == _OPEN:
                try:
                    await self._fill()
                except asyncio.CancelledError:
                    self._buffer.appendleft(item)  # not delivered: keep it
                    self._delivered -= 1
                    raise
                except WSManError:
                    pass  # kept in _failure; raised by the next read
            return item

    async def to_list(
        self, *, max_items: int | None = DEFAULT_LIST_MAX_ITEMS
    ) -> list[EnumeratedItem]:
        """Every remaining item; releases the context if anything fails.

        Args:
            max_items: the most items to keep (default
                :data:`DEFAULT_LIST_MAX_ITEMS`); None for no bound. An
                enumeration with more is stopped, not truncated.

        Raises:
            aiowsman.errors.EnumerationTooLargeError: more than ``max_items``
                items (the context is released first).
            aiowsman.errors.WSManError: the Enumerate or a Pull failed.
        """
        if max_items is not None:
            _check_bound("max_items", max_items, self._session.host)
        limit = max_items if max_items is not None else sys.maxsize
        items: list[EnumeratedItem] = []
        async with self:
            async for item in self:
                if len(items) >= limit:
                    await self._abandon(self._too_many(limit, "to_list"))
                items.append(item)
        return items

    # -- bounds ---------------------------------------------------------------

    def _too_many(self, limit: int, where: str) -> EnumerationTooLargeError:
        if where == "to_list":
            how = (
                "to_list() keeps every item in memory: pass to_list(max_items=N), or None "
                "for no bound, or iterate with 'async for' to stream"
            )
        else:
            how = "pass a larger session.enumerate(max_items=...), or None for no bound"
        return EnumerationTooLargeError(
            f"the enumeration returned more than {limit} items ({how}); it was released",
            max_items=limit,
            host=self._session.host,
            operation="Pull" if self._pulls else "Enumerate",
        )

    def _deadline_error(self, operation: str) -> TimeoutError:
        exc = self._deadline_hit = TimeoutError(
            f"the enumeration did not end within its {self.deadline:g}s deadline "
            "(session.enumerate(deadline=...)); it was released",
            host=self._session.host,
            operation=operation,
        )
        return exc

    async def _abandon(self, exc: WSManError) -> NoReturn:
        """Release the context (best effort, bounded), then fail with ``exc`` for good."""
        await self.aclose()
        self._state = _FAILED
        self._failure = exc
        raise exc

    # -- releasing ------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop: cancel the prefetch and Release the context if one is open.

        Best effort within ``min(session.timeout, 10 s)``; never raises a
        WS-Man error (a failed Release is logged at DEBUG). Cancelled itself,
        it leaves the context to the session, which releases it from the loop.
        """
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self._buffer.clear()
        pending, self._pending = self._pending, None
        context, self._context = self._context, None
        session = self._session
        session._enumerators.discard(self)
        try:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            if context is None or session.closed:
                return
            await session._release_context(self._locator, context)
        except asyncio.CancelledError:
            # aclose() itself cancelled (a task cancelled again while leaving
            # its ``async with``): this enumerator is closed and will not
            # come back to the context, so the session releases it.
            if context is not None:
                self._orphan(context)
            raise

    release = aclose
