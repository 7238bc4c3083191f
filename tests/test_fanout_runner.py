"""The fan-out runner's contract, with plain async callables as sessions.

These tests exercise the runner's scheduling, deadline, retry and accounting
logic without a network; tests/test_fanout_server.py runs it end to end
against the real test server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aiowsman.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    FaultDetail,
    QuotaExceededFault,
    WSManFault,
)
from aiowsman.fanout import HostResult, Summary, classify_error, run


class FakeSession:
    """Stands in for AsyncSession: the host name decides what happens."""

    def __init__(self, host: str, registry: Registry) -> None:
        self.host = host
        self.registry = registry


class Registry:
    """Counts sessions opened/closed and attempts per host."""

    def __init__(self) -> None:
        self.open = 0
        self.opened = 0
        self.attempts: Counter[str] = Counter()
        self.changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def factory(self, host: str) -> AsyncIterator[FakeSession]:
        self.open += 1
        self.opened += 1
        self.changed.set()
        try:
            yield FakeSession(host, self)
        finally:
            self.open -= 1


def fault(code: int) -> WSManFault:
    return WSManFault(FaultDetail(code="Sender", subcode="InvalidSelectors", wsman_code=code))


async def scripted(session: FakeSession) -> str:
    """The operation: behaviour is encoded in the host name's prefix."""
    host = session.host
    session.registry.attempts[host] += 1
    n = session.registry.attempts[host]
    kind = host.split("-")[0]
    if kind == "ok":
        await asyncio.sleep(0)
        return f"value of {host}"
    if kind == "slow":
        await asyncio.sleep(0.05)
        return f"value of {host}"
    if kind == "hole":
        await asyncio.Event().wait()  # never answers
    if kind == "refused":
        raise ConnectError("connection refused", host=host, operation="Get")
    if kind == "auth":
        raise AuthenticationError("bad credentials", scheme="basic", host=host, operation="Get")
    if kind == "fault":
        raise fault(2150858843)
    if kind == "bug":
        raise KeyError("Caption")
    if kind == "quota" and n == 1:
        raise QuotaExceededFault(FaultDetail(code="Receiver", wsman_code=2150859173))
    if kind == "quota":
        return f"value of {host}"
    if kind == "flaky" and n == 1:
        raise ConnectError("connection reset", host=host, operation="Get")
    if kind == "flaky":
        return f"value of {host}"
    raise AssertionError(f"unknown host kind {host}")


EXPECTED_CLASS = {
    "ok": None,
    "slow": None,
    "hole": "timeout",
    "refused": "connect",
    "auth": "auth",
    "fault": "fault",
    "bug": "other",
    "quota": None,
}


def mixed_hosts(n: int) -> list[str]:
    kinds = ["ok"] * 80 + ["slow"] * 8 + ["refused", "auth", "fault", "bug", "quota"] * 2 + ["hole"]
    return [f"{kinds[i % len(kinds)]}-{i}" for i in range(n)]


async def test_every_host_gets_exactly_one_correct_record_among_2000_mixed_hosts() -> None:
    hosts = mixed_hosts(2000)
    reg = Registry()
    results: list[HostResult[str]] = []
    # The bound: every black hole costs one deadline, in parallel; the run
    # must end well within a few deadlines, not hang. The deadline leaves the
    # other hosts (0.2 s at worst with the machine loaded by three busy
    # loops; retried quota hosts included) room on a far busier CI machine.
    async with asyncio.timeout(60):
        async for r in run(
            hosts,
            scripted,
            session_factory=reg.factory,
            concurrency=200,
            deadline=5.0,
            backoff=0.01,
        ):
            results.append(r)

    assert sorted(r.host for r in results) == sorted(hosts)
    for r in results:
        expected = EXPECTED_CLASS[r.host.split("-")[0]]
        assert r.error_class == expected, r
        assert r.ok is (expected is None)
        if r.ok:
            assert r.value == f"value of {r.host}"
        else:
            assert r.value is None and r.error is not None
    assert reg.open == 0


async def test_results_carry_the_input_index() -> None:
    reg = Registry()
    hosts = [f"ok-{i}" for i in range(50)]
    results = [r async for r in run(hosts, scripted, session_factory=reg.factory, concurrency=7)]
    assert sorted(r.index for r in results) == list(range(50))
    assert all(r.host == hosts[r.index] for r in results)


async def test_black_holed_host_is_reported_as_timeout_naming_the_host() -> None:
    reg = Registry()
    # The deadline also bounds the healthy host: long enough that a loaded
    # machine cannot stall it past (its answer is one loop step away).
    results = {
        r.host: r
        async for r in run(["hole-1", "ok-2"], scripted, session_factory=reg.factory, deadline=1.0)
    }
    hole = results["hole-1"]
    assert hole.error_class == "timeout"
    assert "hole-1" in (hole.message or "")
    assert hole.elapsed >= 1.0
    assert results["ok-2"].ok


async def test_input_is_pulled_lazily_with_bounded_lookahead() -> None:
    pulled = 0

    def hosts() -> Iterator[str]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield f"ok-{i}"

    reg = Registry()
    fan = run(hosts(), scripted, session_factory=reg.factory, concurrency=10)
    seen = 0
    async for _ in fan:
        seen += 1
        if seen == 100:
            break
    await fan.aclose()
    # queue (10) + workers (10) + results queue (10) + one in the feeder's hand
    assert pulled <= seen + 31


async def test_async_iterable_of_hosts_is_accepted() -> None:
    async def hosts() -> AsyncIterator[str]:
        for i in range(30):
            await asyncio.sleep(0)
            yield f"ok-{i}"

    reg = Registry()
    results = [r async for r in run(hosts(), scripted, session_factory=reg.factory)]
    assert sorted(r.host for r in results) == sorted(f"ok-{i}" for i in range(30))


async def test_quota_refusal_is_retried_even_for_non_idempotent_operations() -> None:
    reg = Registry()
    [r] = [
        r
        async for r in run(
            ["quota-1"], scripted, session_factory=reg.factory, idempotent=False, backoff=0.01
        )
    ]
    assert r.ok and r.attempts == 2


async def test_connect_failure_is_not_retried_for_non_idempotent_operations() -> None:
    reg = Registry()
    [r] = [r async for r in run(["flaky-1"], scripted, session_factory=reg.factory, backoff=0.01)]
    assert not r.ok and r.error_class == "connect" and r.attempts == 1


async def test_connect_failure_is_retried_for_idempotent_operations() -> None:
    reg = Registry()
    [r] = [
        r
        async for r in run(
            ["flaky-1"], scripted, session_factory=reg.factory, idempotent=True, backoff=0.01
        )
    ]
    assert r.ok and r.attempts == 2


async def test_auth_failure_is_never_retried() -> None:
    reg = Registry()
    [r] = [
        r
        async for r in run(
            ["auth-1"], scripted, session_factory=reg.factory, idempotent=True, retries=5
        )
    ]
    assert r.error_class == "auth" and r.attempts == 1


async def test_retries_stop_after_the_configured_count() -> None:
    reg = Registry()
    [r] = [
        r
        async for r in run(
            ["refused-1"],
            scripted,
            session_factory=reg.factory,
            idempotent=True,
            retries=3,
            backoff=0.001,
        )
    ]
    assert r.error_class == "connect" and r.attempts == 4
    assert reg.attempts["refused-1"] == 4


async def test_fault_results_carry_the_wsman_fault_code() -> None:
    reg = Registry()
    [r] = [r async for r in run(["fault-1"], scripted, session_factory=reg.factory)]
    assert r.error_class == "fault" and r.fault_code == 2150858843


async def test_breaking_out_and_closing_cancels_in_flight_work_and_closes_sessions() -> None:
    reg = Registry()
    hosts = ["ok-0"] + [f"hole-{i}" for i in range(20)]
    async with run(hosts, scripted, session_factory=reg.factory, deadline=60) as fan:
        async for r in fan:
            assert r.host == "ok-0"
            # The black holes start one START_INTERVAL apart: let all be in flight.
            async with asyncio.timeout(5):
                while reg.open < 20:
                    await reg.changed.wait()
                    reg.changed.clear()
            break
    assert reg.open == 0
    assert reg.opened == 21  # the black holes were really in flight


async def test_cancelling_the_consumer_closes_every_session() -> None:
    reg = Registry()

    async def consume() -> None:
        async for _ in run(
            [f"hole-{i}" for i in range(10)], scripted, session_factory=reg.factory, deadline=60
        ):
            pass

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while reg.opened < 10:
            await reg.changed.wait()
            reg.changed.clear()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reg.open == 0


async def test_an_error_in_the_host_input_is_raised_after_started_hosts_report() -> None:
    def hosts() -> Iterator[str]:
        yield "ok-1"
        yield "ok-2"
        raise ValueError("line 3: not a host")

    reg = Registry()
    seen: list[str] = []
    with pytest.raises(ValueError, match="line 3"):
        async for r in run(hosts(), scripted, session_factory=reg.factory):
            seen.append(r.host)
    assert sorted(seen) == ["ok-1", "ok-2"]


async def test_progress_callback_sees_each_result_once() -> None:
    reg = Registry()
    seen: list[str] = []
    hosts = mixed_hosts(100)
    async for _ in run(
        hosts,
        scripted,
        session_factory=reg.factory,
        deadline=0.2,
        progress=lambda r: seen.append(r.host),
    ):
        pass
    assert sorted(seen) == sorted(hosts)


async def test_summary_counts_by_class_and_keeps_only_top_slowest() -> None:
    reg = Registry()
    hosts = mixed_hosts(300)
    # Only the black holes reach the deadline: it is far above what any other
    # host takes even when a loaded machine stalls the loop for a while.
    fan = run(
        hosts, scripted, session_factory=reg.factory, deadline=1.5, concurrency=50, backoff=0.001
    )
    fan.summary.top = 3
    classes: Counter[str] = Counter()
    async for r in fan:
        classes[r.error_class or "ok"] += 1
    s = fan.summary
    assert s.total == 300
    assert s.ok == classes["ok"]
    assert dict(s.failed_by_class) == {k: v for k, v in classes.items() if k != "ok"}
    assert len(s.slowest) == 3
    assert all(host.startswith("hole-") for host, _ in s.slowest)  # the deadlines
    assert "300 hosts" in str(s)


def test_summary_slowest_heap_is_bounded_and_ordered() -> None:
    s = Summary(top=2)
    for i, elapsed in enumerate([0.3, 0.1, 0.9, 0.5]):
        s.add(HostResult(host=f"h{i}", ok=True, elapsed=elapsed, attempts=1))
    assert s.slowest == [("h2", 0.9), ("h3", 0.5)]


def test_session_options_with_a_custom_factory_are_refused() -> None:
    reg = Registry()
    with pytest.raises(ConfigurationError, match="password"):
        run(["a"], scripted, session_factory=reg.factory, password="secret")


def test_a_string_is_refused_as_the_host_list() -> None:
    with pytest.raises(ConfigurationError):
        run("host1", scripted)  # type: ignore[arg-type]


def test_host_result_to_dict_is_json_serialisable() -> None:
    ok = HostResult(host="a", ok=True, value={"Caption": "Windows"}, elapsed=0.5, attempts=1)
    bad = HostResult.failure("b", fault(5), elapsed=0.1, attempts=1)
    assert json.loads(json.dumps(ok.to_dict()))["value"] == {"Caption": "Windows"}
    record = json.loads(json.dumps(bad.to_dict()))
    assert record["error_class"] == "fault" and record["fault_code"] == 5


def test_host_result_html_escapes_values() -> None:
    r = HostResult(host="<h>", ok=True, value="<script>", attempts=1)
    out = r._repr_html_()
    assert "<script>" not in out and "&lt;h&gt;" in out


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), ("timeout", None)),
        (ConnectionResetError(), ("connect", None)),
        (RuntimeError("x"), ("other", None)),
        (AuthenticationError("no"), ("auth", None)),
    ],
)
def test_classify_error(exc: BaseException, expected: tuple[str, Any]) -> None:
    assert classify_error(exc) == expected


class Payload:
    """A value whose lifetime the memory test watches."""


async def test_finished_results_are_not_retained_by_the_runner() -> None:
    alive: weakref.WeakSet[Payload] = weakref.WeakSet()

    async def op(session: FakeSession) -> Payload:
        value = Payload()
        alive.add(value)
        return value

    reg = Registry()
    seen = 0
    async for r in run(
        (f"ok-{i}" for i in range(3000)), op, session_factory=reg.factory, concurrency=10
    ):
        seen += 1
        del r
        if seen % 500 == 0:
            gc.collect()
            # in flight (10) + waiting in the results queue (10) + the one in hand
            assert len(alive) <= 21
    assert seen == 3000


async def test_a_host_after_quick_ones_on_the_same_worker_is_cut_at_its_own_deadline() -> None:
    # One worker: its timer is armed by the first host and re-armed, never
    # fired early, for the later ones (aiowsman._deadline). The deadline is far
    # above what the quick hosts take even on a loaded machine.
    reg = Registry()
    hosts = ["ok-0", "slow-1", "ok-2", "hole-3", "ok-4"]
    async with asyncio.timeout(30):
        results = {
            r.host: r
            async for r in run(
                hosts, scripted, concurrency=1, deadline=2.0, session_factory=reg.factory
            )
        }
    assert [results[h].ok for h in hosts] == [True, True, True, False, True]
    assert results["hole-3"].error_class == "timeout"
    assert reg.open == 0


async def test_a_host_whose_close_hangs_is_given_up_at_deadline_plus_grace() -> None:
    closing: list[str] = []

    @contextlib.asynccontextmanager
    async def stubborn(host: str) -> AsyncIterator[FakeSession]:
        try:
            yield FakeSession(host, Registry())
        finally:
            closing.append(host)
            await asyncio.Event().wait()  # closing never ends

    async with asyncio.timeout(20):
        results = [
            r
            async for r in run(
                ["hole-0", "ok-1"],
                scripted,
                concurrency=1,
                deadline=0.3,
                close_grace=0.3,
                session_factory=stubborn,
            )
        ]
    assert closing == ["hole-0", "ok-1"]
    assert [(r.host, r.error_class) for r in results] == [
        ("hole-0", "timeout"),
        ("ok-1", "timeout"),
    ]
    assert results[0].elapsed >= 0.6 - 1e-3  # the grace was given to the hanging close


async def test_cancelling_the_run_is_not_mistaken_for_a_host_deadline() -> None:
    reg = Registry()
    results: list[HostResult[Any]] = []

    async def consume() -> None:
        async for r in run(["hole-0"], scripted, deadline=60, session_factory=reg.factory):
            results.append(r)

    task = asyncio.ensure_future(consume())
    async with asyncio.timeout(30):
        while reg.opened == 0:
            await reg.changed.wait()
            reg.changed.clear()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert results == [] and reg.open == 0
