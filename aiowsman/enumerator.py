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
import logging
from collections.abc import AsyncIterator, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiowsman.errors import (
    InvalidEnumerationContextFault,
    OperationTimedOutFault,
    ProtocolError,
    WSManError,
)
from aiowsman.protocol import envelope as env
from aiowsman.protocol import response as resp
from aiowsman.protocol.envelope import AssociationFilter, EnumerationMode, Polymorphism
from aiowsman.protocol.items import Item
from aiowsman.protocol.locator import EndpointReference, ResourceLocator

if TYPE_CHECKING:
    from aiowsman.session import AsyncSession

__all__ = ["RELEASE_TIMEOUT", "Enumerator"]

log = logging.getLogger("aiowsman.enumerator")

#: Upper bound (seconds) on the best-effort Release of an abandoned enumeration.
RELEASE_TIMEOUT = 10.0
#: Do not retry a timed-out Pull with less than this left of its deadline.
_MIN_RETRY_WINDOW = 0.25
#: ... nor more often than this per Pull (a service answering TimedOut
#: instantly would otherwise spin until the deadline).
_MAX_PULL_RETRIES = 16

#: Consecutive empty, non-final batches tolerated before giving up.
_MAX_EMPTY_BATCHES = 100

_NEW, _OPEN, _ENDED, _FAILED, _CLOSED = "new", "open", "ended", "failed", "closed"

EnumeratedItem = Item | EndpointReference


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

    def __del__(self) -> None:
        # Dropped while its context is open (no aclose(), no ``async with``):
        # the context would hold server resources until it expires (WinRM:
        # EnumerationTimeoutms, 4 minutes by default). Nothing can be sent
        # from a finaliser, so the session is told, and releases it from the
        # loop right after (or when it is closed) (DSP0226 8.6).
        context = getattr(self, "_context", None)
        if context is not None and getattr(self, "_state", _CLOSED) != _CLOSED:
            self._session._orphaned_contexts.append((self._locator, context))
            self._session._release_orphans_soon()

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
        request = env.enumerate_request(
            s.options,
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
                request, resp.parse_enumeration, resource=self._locator.resource_uri
            )
        except asyncio.CancelledError:
            self._state = _NEW  # nothing known was opened: the next use starts over
            raise
        except BaseException as exc:
            self._state = _FAILED
            self._failure = exc
            raise
        self._absorb(batch)

    def _absorb(self, batch: resp.EnumerationBatch) -> None:
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
        retries = 0
        while True:
            remaining = deadline - loop.time()
            request = env.pull_request(
                s._options_for(remaining) if retries else s.options,
                self._locator,
                context,
                max_elements=self.batch_items,
            )
            self._pulls += 1
            try:
                return await s._call(
                    request,
                    resp.parse_enumeration,
                    resource=self._locator.resource_uri,
                    deadline=remaining,
                )
            except OperationTimedOutFault:
                retries += 1
                if deadline - loop.time() < _MIN_RETRY_WINDOW or retries > _MAX_PULL_RETRIES:
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
                if self._empty_batches > _MAX_EMPTY_BATCHES:
                    # A service may answer a Pull with no items (DSP0226 8.4),
                    # but not forever: do not spin on a broken or hostile one.
                    self._state = _FAILED
                    self._failure = ProtocolError(
                        f"{_MAX_EMPTY_BATCHES} empty batches in a row; giving up",
                        host=self._session.host,
                        operation="Pull",
                    )
                    raise self._failure
            self._absorb(batch)
        if self._state == _FAILED and not self._buffer and self._failure is not None:
            raise self._failure

    # -- consuming ------------------------------------------------------------

    def __aiter__(self) -> Enumerator:
        return self

    async def __anext__(self) -> EnumeratedItem:
        if self._buffer:
            return self._buffer.popleft()
        async with self._lock:
            await self._fill()
            if self._buffer:
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
            item = self._buffer.popleft()
            if not self._buffer and self._state == _OPEN:
                try:
                    await self._fill()
                except asyncio.CancelledError:
                    self._buffer.appendleft(item)  # not delivered: keep it
                    raise
                except WSManError:
                    pass  # kept in _failure; raised by the next read
            return item

    async def to_list(self) -> list[EnumeratedItem]:
        """Every remaining item; releases the context if anything fails."""
        items: list[EnumeratedItem] = []
        async with self:
            async for item in self:
                items.append(item)
        return items

    # -- releasing ------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop: cancel the prefetch and Release the context if one is open.

        Best effort within ``min(session.timeout, 10 s)``; never raises a
        WS-Man error (a failed Release is logged at DEBUG).
        """
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self._buffer.clear()
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        context, self._context = self._context, None
        session = self._session
        session._enumerators.discard(self)
        if context is None or session.closed:
            return
        await session._release_context(self._locator, context)

    release = aclose
