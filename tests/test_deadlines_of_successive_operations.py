"""Each operation keeps its own deadline, though a session's operations share one timer.

``aiowsman._deadline.Deadline`` arms one timer for a session's successive
operations and re-arms it when it fires early (for an operation that has
since finished). These tests pin the contract that must survive that saving:
every operation is cut off at *its* deadline -- not an earlier operation's,
not a later one -- concurrent operations each keep theirs, and a
cancellation from elsewhere stays a cancellation.

Every wait is bounded by a guard much longer than the deadlines, so a
deadline that never fires fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable

import pytest

from aiowsman import AsyncSession
from aiowsman import TimeoutError as WSManTimeoutError
from aiowsman._deadline import Deadline
from aiowsman.testing import WSManTestServer
from tests.conftest import black_hole

SERVICE = "wmicimv2/Win32_Service"
GUARD = 20.0  # seconds: far beyond any deadline here; reaching it is a failure


async def _bounded(awaitable: object) -> object:
    return await asyncio.wait_for(awaitable, GUARD)  # type: ignore[arg-type]


async def test_an_operation_after_many_quick_ones_times_out_at_its_own_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Get")}) as server,
        make_session(server, timeout=1.0) as session,
    ):
        for _ in range(20):  # the timer was armed by the first of these
            await _bounded(session.identify())
        await asyncio.sleep(0.3)  # the next operation starts well after that deadline
        with pytest.raises(WSManTimeoutError) as info:
            await _bounded(session.get(SERVICE, Name="WinRM"))
        assert info.value.operation == "Get"
        # And the session still works afterwards, its timer re-armed.
        assert (await _bounded(session.identify())) is not None


async def test_a_shorter_deadline_than_the_previous_operation_still_fires(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Get")}) as server,
        make_session(server, timeout=600.0) as session,
    ):
        await _bounded(session.identify())  # arms the timer ten minutes ahead
        session.timeout = 0.5
        with pytest.raises(WSManTimeoutError):
            await _bounded(session.get(SERVICE, Name="WinRM"))


async def test_concurrent_operations_of_one_session_each_keep_their_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Get")}) as server,
        make_session(server, timeout=1.0, max_channels=4) as session,
    ):
        stuck = [asyncio.ensure_future(session.get(SERVICE, Name="WinRM")) for _ in range(3)]
        quick = [await _bounded(session.identify()) for _ in range(5)]
        outcomes = await _bounded(asyncio.gather(*stuck, return_exceptions=True))
        assert all(q is not None for q in quick)
        assert [type(o) for o in outcomes] == [WSManTimeoutError] * 3


async def test_a_cancellation_from_elsewhere_is_not_reported_as_a_timeout(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Get")}) as server,
        make_session(server, timeout=600.0) as session,
    ):
        await _bounded(session.identify())
        stuck = asyncio.ensure_future(session.get(SERVICE, Name="WinRM"))
        for _ in range(200):  # bounded wait until the server holds the request
            if server.host(0).stats.by_operation["Get"]:
                break
            await asyncio.sleep(0.01)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await _bounded(stuck)


# -- the timer itself ---------------------------------------------------------


async def _timed(deadline: Deadline, delay: float, work: float) -> str:
    """Run ``sleep(work)`` under ``deadline`` (``delay``): "done" or "timeout"."""
    task = asyncio.current_task()
    assert task is not None
    deadline.start(task, delay)
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError as exc:
        if deadline.stop(exc):
            return "timeout"
        raise
    finally:
        deadline.stop(None)
    return "done"


async def test_the_timer_fires_at_the_deadline_of_the_operation_in_flight() -> None:
    deadline = Deadline(asyncio.get_running_loop())
    assert await _bounded(_timed(deadline, 0.2, 30.0)) == "timeout"
    assert not deadline.busy


async def test_an_early_timer_does_not_cut_the_next_operation_short() -> None:
    # The first operation arms the timer for t=1.0 and ends at once; the
    # second starts at t=0.5 with a deadline at t=2.5 and works until t=1.5,
    # across the first deadline: the timer must re-arm, not cancel it.
    deadline = Deadline(asyncio.get_running_loop())
    assert await _timed(deadline, 1.0, 0.0) == "done"
    await asyncio.sleep(0.5)
    assert await _bounded(_timed(deadline, 2.0, 1.0)) == "done"
    # ... and the re-armed timer still cuts an operation off at its deadline.
    assert await _bounded(_timed(deadline, 0.3, 30.0)) == "timeout"


async def test_a_timer_left_armed_cancels_nothing_once_its_operation_ended() -> None:
    deadline = Deadline(asyncio.get_running_loop())
    assert await _timed(deadline, 0.1, 0.0) == "done"
    # Nothing is timed now; the armed timer fires during this sleep.
    await asyncio.sleep(0.4)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_closing_drops_the_armed_timer() -> None:
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop)
    assert await _timed(deadline, 0.2, 0.0) == "done"
    handle = deadline._handle
    assert handle is not None and not handle.cancelled()
    deadline.close()
    assert handle.cancelled()


async def test_an_earlier_deadline_replaces_the_armed_timer() -> None:
    # An operation arms the timer for t=0.6; the next, with a shorter delay,
    # needs an earlier timer: the first must be cancelled, not left to fire
    # at t=0.6 into a third operation that is due only at t=3.1 and works
    # until t=1.1.
    deadline = Deadline(asyncio.get_running_loop())
    assert await _timed(deadline, 0.6, 0.0) == "done"
    assert await _timed(deadline, 0.05, 0.0) == "done"
    await asyncio.sleep(0.1)  # the short timer fires: nothing in flight
    assert await _bounded(_timed(deadline, 3.0, 1.0)) == "done"


async def test_the_timer_runs_outside_the_callers_context() -> None:
    # The callback only cancels the task; it runs in the thread's timer
    # context, not in a copy of the caller's made for every timer.
    caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="none")
    caller.set("the caller's")
    seen: list[str] = []

    class Recording(Deadline):
        __slots__ = ()

        def _fire(self) -> None:
            seen.append(caller.get())
            super()._fire()

    deadline = Recording(asyncio.get_running_loop())
    assert await _bounded(_timed(deadline, 0.05, 30.0)) == "timeout"
    assert seen == ["none"]


async def test_grace_cancels_a_hanging_cleanup_once_more() -> None:
    # The fan-out runner's use: a host whose cleanup ignores the first
    # cancellation is cancelled again ``grace`` seconds past its deadline,
    # and both cancellations are the deadline's (reported as a timeout).
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop)
    cancelled_at: list[float] = []

    async def stubborn() -> str:
        task = asyncio.current_task()
        assert task is not None
        deadline.start(task, 0.05, grace=0.2)
        assert deadline.busy
        try:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled_at.append(loop.time())  # the cleanup hangs
            await asyncio.sleep(30)
        except asyncio.CancelledError as exc:
            cancelled_at.append(loop.time())
            if deadline.stop(exc):
                return "timeout"
            raise
        finally:
            deadline.stop(None)
        return "not cancelled twice"

    started = loop.time()
    task = asyncio.ensure_future(stubborn())
    assert await _bounded(asyncio.shield(task)) == "timeout"
    assert task.cancelling() == 0  # both cancellations accounted for
    assert len(cancelled_at) == 2
    assert cancelled_at[1] - cancelled_at[0] >= 0.15  # not before the grace
    # By the deadline's second cancellation (at 0.25 s), not by the guard's.
    assert loop.time() - started < GUARD / 2
    assert not deadline.busy


async def test_without_grace_a_deadline_cancels_once() -> None:
    deadline = Deadline(asyncio.get_running_loop())
    cancellations = 0

    async def slow_cleanup() -> str:
        nonlocal cancellations
        task = asyncio.current_task()
        assert task is not None
        deadline.start(task, 0.05)
        try:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancellations += 1
            await asyncio.sleep(1.5)  # a slow cleanup, left alone
            return "cleaned up"
        finally:
            deadline.stop(None)

    assert await _bounded(slow_cleanup()) == "cleaned up"
    assert cancellations == 1


async def test_a_cancellation_arriving_with_the_deadline_stays_a_cancellation() -> None:
    # The deadline fires and, in the same tick, someone else cancels the task
    # too: the operation must not call that a timeout.
    class AlsoCancelled(Deadline):
        __slots__ = ()

        def _fire(self) -> None:
            task = self.task
            super()._fire()
            if task is not None:
                task.cancel()  # from elsewhere, before the task runs again

    deadline = AlsoCancelled(asyncio.get_running_loop())
    task = asyncio.ensure_future(_timed(deadline, 0.05, 30.0))
    with pytest.raises(asyncio.CancelledError):
        await _bounded(asyncio.shield(task))
    assert task.cancelled()


async def test_a_cancelled_future_inside_the_operation_is_no_timeout() -> None:
    # A CancelledError that no one raised by cancelling the task (a future the
    # operation awaits was cancelled) before any deadline: not a timeout.
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop)
    verdicts: list[bool] = []

    async def operation() -> None:
        task = asyncio.current_task()
        assert task is not None
        deadline.start(task, 30.0)
        inner: asyncio.Future[None] = loop.create_future()
        loop.call_soon(inner.cancel)
        try:
            await inner
        except asyncio.CancelledError as exc:
            verdicts.append(deadline.stop(exc))
            raise
        finally:
            deadline.stop(None)

    with pytest.raises(asyncio.CancelledError):
        await _bounded(operation())
    assert verdicts == [False]
    deadline.close()
