"""Deadlines for many short operations, cheaper than one ``asyncio.timeout`` each.

Every WS-Man operation has a deadline (``AsyncSession.timeout``), and every
fan-out host another. ``asyncio.timeout`` costs, per use, a ``Timeout``
object, two coroutines (``__aenter__``/``__aexit__``), a ``TimerHandle``
pushed on the event loop's heap (ordered by Python-level comparisons) and a
cancelled handle left there until the loop sweeps it. At thousands of
operations a second that was a tenth of the client's CPU over the raw
aiohttp floor (``benchmarks/results/profiles/h12-*``).

:class:`Deadline` keeps the semantics -- the task is cancelled at the
deadline, and the caller turns that cancellation, and only that one, into a
timeout, exactly as ``asyncio.timeout`` decides it (``Task.uncancel``) -- with
two savings:

* it is used with plain ``try``/``finally`` (no coroutines), and
* **one timer serves successive operations**. A session's operations run one
  after another with the same delay, so each new deadline lies after the one
  the timer is already armed for. The timer is then left as it is: when it
  fires early -- for an operation that has since finished -- it finds the
  operation now in flight not yet due and re-arms itself for that one's
  deadline. A session doing thousands of Gets with a 60 s timeout thus
  schedules one timer a minute instead of one per Get, and never leaves
  cancelled handles behind. An earlier deadline than the armed one (a
  shorter delay) arms a timer of its own, so no deadline ever fires late.

One :class:`Deadline` times one operation at a time (``busy``); a second
operation running concurrently on the same session takes a fresh one. The
fan-out runner times each host the same way, one Deadline per worker task,
with a ``grace``: a second cancellation that far past the deadline, for a
host whose cleanup (closing its session) hangs as well.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

__all__ = ["Deadline", "timer_context"]

#: The context the timers run their callback in: one per thread, shared by
#: every timer of the thread (``loop.call_at`` would otherwise copy the
#: caller's context for each, one object more per open session for the
#: garbage collector to walk). The callback reads no context variable; it
#: only cancels a task, which runs in its own context. Per thread, because
#: a context cannot be entered by two threads at once (each running loop).
_TIMER_CONTEXTS = threading.local()


def timer_context() -> contextvars.Context:
    """The context this thread's timer callbacks run in (created once per thread)."""
    context: contextvars.Context | None = getattr(_TIMER_CONTEXTS, "context", None)
    if context is None:
        context = _TIMER_CONTEXTS.context = contextvars.Context()
    return context


class Deadline:
    """The deadline of one operation at a time, on one event loop.

    Usage (no ``await`` between ``start`` and ``try``)::

        when = deadline.start(task, delay)
        try:
            ...                                   # the operation
        except asyncio.CancelledError as exc:
            if deadline.stop(exc):                # our deadline: a timeout
                raise TimeoutError from None
            raise
        finally:
            deadline.stop(None)                   # idempotent

    Args:
        loop: the event loop the operations run on.
    """

    __slots__ = ("_armed", "_cancelling", "_expired", "_grace", "_handle", "loop", "task", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: The task whose operation is being timed, or None between operations.
        self.task: asyncio.Task[object] | None = None
        #: The loop time at which that operation is due.
        self.when = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0  # the loop time the handle fires at
        self._cancelling = 0
        self._expired = 0  # cancellations made for the operation in flight
        self._grace = 0.0

    @property
    def busy(self) -> bool:
        """True while an operation is being timed."""
        return self.task is not None

    def start(self, task: asyncio.Task[object], delay: float, grace: float = 0.0) -> float:
        """Time an operation of ``task`` that must end within ``delay`` seconds.

        Args:
            task: the task running the operation (cancelled at the deadline).
            delay: seconds from now to the deadline.
            grace: when positive, the task is cancelled once more this many
                seconds after the deadline if the operation still has not
                ended (its cleanup hangs too).

        Returns:
            The loop time of the deadline.
        """
        when = self.loop.time() + delay
        self.task = task
        self.when = when
        self._cancelling = task.cancelling()
        self._expired = 0
        self._grace = grace
        handle = self._handle
        if handle is None or self._armed > when:
            if handle is not None:
                handle.cancel()
            self._handle = self.loop.call_at(when, self._fire, context=timer_context())
            self._armed = when
        return when

    def _fire(self) -> None:
        self._handle = None
        task = self.task
        if task is None:
            return  # armed for an operation that has finished; none in flight
        if self.when > self._armed:
            # Armed for an earlier operation: this one is not due yet.
            self._handle = self.loop.call_at(self.when, self._fire, context=timer_context())
            self._armed = self.when
            return
        self._expired += 1
        task.cancel()
        if self._grace > 0 and self._expired == 1:
            self._armed = self.when + self._grace
            self._handle = self.loop.call_at(self._armed, self._fire, context=timer_context())

    def stop(self, exc: BaseException | None) -> bool:
        """End the timed operation (idempotent).

        Args:
            exc: the exception the operation ended with, if any.

        Returns:
            True when the deadline expired and ``exc`` is the cancellation it
            caused (no other cancellation was requested meanwhile): the caller
            reports a timeout. Otherwise False (a cancellation from elsewhere
            propagates as such).
        """
        task = self.task
        self.task = None
        expired = self._expired
        if task is None or not expired:
            return False
        self._expired = 0
        remaining = task.cancelling()
        for _ in range(expired):
            remaining = task.uncancel()
        return remaining <= self._cancelling and isinstance(exc, asyncio.CancelledError)

    def close(self) -> None:
        """Drop the armed timer (when its owner closes)."""
        handle = self._handle
        if handle is not None:
            self._handle = None
            handle.cancel()
