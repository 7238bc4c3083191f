"""The fan-out runner over worker processes (``run(..., processes=N)``): the same contract.

Exactly one record per host, per-host deadlines, a dead or hung worker's
hosts reported with class ``worker``, clean cancellation (no process left,
nothing left open on the server), the same results as the in-process runner,
and a parent whose memory does not grow with the input.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psutil
import pytest

from aiowsman import _multiproc, fanout
from aiowsman.cli._ops import EnumerateOp, GetOp, IdentifyOp, Target
from aiowsman.errors import ConfigurationError
from aiowsman.fanout import HostResult, Summary, run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.multiproc_ops import (
    FailOn,
    SignalWorkerAt,
    host_name_length,
    no_session,
    returns_a_lock,
    worker_pid,
)

CREDENTIALS: dict[str, Any] = {
    "username": "user",
    "password": "pass",
    "auth": "basic",
    "allow_unencrypted": True,
}


_OTHERS: set[int] = set()


@pytest.fixture(autouse=True)
def _other_children() -> None:
    """Processes other tests left running (a Dask cluster, a notebook kernel).

    Only the processes a run in this test starts are the test's business.
    """
    _OTHERS.clear()
    _OTHERS.update(p.pid for p in psutil.Process().children(recursive=True))


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _children() -> list[psutil.Process]:
    """Child processes started by this test's runs and still alive."""
    return [
        p for p in psutil.Process().children(recursive=True) if p.pid not in _OTHERS and _alive(p)
    ]


async def _collect(fan: fanout.FanOut[Any]) -> list[HostResult[Any]]:
    async with fan as results:
        return [r async for r in results]


async def test_each_host_gets_exactly_one_record_across_processes() -> None:
    async with WSManTestServer(hosts=120) as server:
        results = await _collect(
            run(server.endpoints, IdentifyOp(), processes=2, concurrency=20, **CREDENTIALS)
        )
    assert sorted(r.host for r in results) == sorted(server.endpoints)
    assert sorted(r.index for r in results) == list(range(120))
    assert all(r.ok and r.value.product_vendor for r in results)
    assert all(server.endpoints[r.index] == r.host for r in results)


async def test_hosts_are_shared_between_the_worker_processes() -> None:
    hosts = [f"host{i}" for i in range(400)]
    results = await _collect(
        run(hosts, worker_pid, processes=2, concurrency=8, session_factory=no_session)
    )
    pids = {r.value for r in results}
    assert len(pids) == 2 and os.getpid() not in pids


async def test_a_short_input_is_dealt_to_every_worker() -> None:
    hosts = [f"host{i}" for i in range(6)]
    results = await _collect(
        run(hosts, worker_pid, processes=2, concurrency=100, session_factory=no_session)
    )
    assert len({r.value for r in results}) == 2


async def test_results_are_the_same_as_the_single_process_runner() -> None:
    op = GetOp(Target("wmicimv2/Win32_OperatingSystem"))
    async with WSManTestServer(hosts=40) as server:
        alone = await _collect(run(server.endpoints, op, concurrency=10, **CREDENTIALS))
        spread = await _collect(
            run(server.endpoints, op, concurrency=10, processes=2, **CREDENTIALS)
        )

    def content(results: list[HostResult[Any]]) -> dict[str, Any]:
        return {
            r.host: (r.index, r.ok, r.attempts, r.error_class, fanout.jsonable(r.value))
            for r in results
        }

    assert content(spread) == content(alone)
    assert len(content(spread)) == 40
    assert all(r.ok and r.value["Caption"] for r in spread)


async def test_a_failing_operation_is_recorded_like_the_single_process_runner() -> None:
    hosts = [f"host{i}" for i in range(30)]
    op = FailOn("host7")
    alone = await _collect(run(hosts, op, session_factory=no_session))
    spread = await _collect(run(hosts, op, processes=2, session_factory=no_session))
    [bad] = [r for r in spread if not r.ok]
    [expected] = [r for r in alone if not r.ok]
    assert (bad.host, bad.error_class, bad.message) == (
        expected.host,
        expected.error_class,
        expected.message,
    )
    assert isinstance(bad.error, KeyError)


async def test_a_value_that_cannot_travel_back_is_a_failure_saying_so() -> None:
    results = await _collect(
        run(["a", "b"], returns_a_lock, processes=2, session_factory=no_session)
    )
    assert sorted(r.host for r in results) == ["a", "b"]
    for r in results:
        assert not r.ok and r.error_class == "other"
        assert "result is not picklable" in (r.message or "")


async def test_a_killed_worker_reports_its_unfinished_hosts_with_class_worker() -> None:
    behaviours = {i: HostBehaviour(latency=0.2) for i in range(60)}
    async with WSManTestServer(hosts=60, behaviours=behaviours) as server:
        victim = server.endpoints[10].split("//")[1].split("/")[0]
        results = await _collect(
            run(
                server.endpoints,
                SignalWorkerAt(victim),
                processes=2,
                concurrency=8,
                **CREDENTIALS,
            )
        )
    assert sorted(r.host for r in results) == sorted(server.endpoints)
    lost = [r for r in results if not r.ok]
    assert server.endpoints[10] in {r.host for r in lost}
    assert all(r.error_class == "worker" for r in lost), [r.message for r in lost]
    assert all("killed by signal 9 (SIGKILL)" in (r.message or "") for r in lost)
    # The other worker carried on with the rest of the input.
    assert sum(r.ok for r in results) >= 60 - len(lost) > 0
    assert not _children()


async def test_a_hung_worker_is_killed_and_its_hosts_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Silent for longer than deadline + close_grace + slack: taken for hung.
    monkeypatch.setattr(_multiproc, "_SILENCE_SLACK", 1.0)
    async with WSManTestServer(hosts=20) as server:
        victim = server.endpoints[3].split("//")[1].split("/")[0]
        results = await _collect(
            run(
                server.endpoints,
                SignalWorkerAt(victim, signal.SIGSTOP),
                processes=2,
                concurrency=4,
                deadline=1.0,
                close_grace=0.5,
                **CREDENTIALS,
            )
        )
    assert sorted(r.host for r in results) == sorted(server.endpoints)
    [hung] = [r for r in results if r.host == server.endpoints[3]]
    assert hung.error_class == "worker"
    assert "silent" in (hung.message or "") and "killed" in (hung.message or "")
    assert not _children()


async def test_the_per_host_deadline_holds_in_worker_processes() -> None:
    black_hole = HostBehaviour(always=Injection(InjectionKind.BLACK_HOLE))
    async with WSManTestServer(hosts=12, behaviours={4: black_hole, 9: black_hole}) as server:
        results = await _collect(
            run(
                server.endpoints,
                IdentifyOp(),
                processes=2,
                concurrency=6,
                deadline=1.0,
                close_grace=0.5,
                timeout=30,
                **CREDENTIALS,
            )
        )
    slow = {server.endpoints[4], server.endpoints[9]}
    for r in results:
        if r.host in slow:
            assert r.error_class == "timeout" and "deadline of 1s" in (r.message or "")
            assert 1.0 <= r.elapsed < 1.0 + 0.5 + 1.0
        else:
            assert r.ok
    assert len(results) == 12


async def test_cancelling_leaves_no_worker_process_and_nothing_open_on_the_server() -> None:
    slow = {i: HostBehaviour(latency=0.3) for i in range(40)}
    async with WSManTestServer(hosts=40, behaviours=slow) as server:
        op = EnumerateOp(Target("wmicimv2/Win32_Service"))  # 200 instances, one per Pull

        async def consume() -> None:
            async with run(
                server.endpoints, op, processes=2, concurrency=10, batch_items=1, **CREDENTIALS
            ) as results:
                async for _ in results:
                    pass

        task = asyncio.create_task(consume())
        for _ in range(300):  # until enumerations are open on the server (bounded: 30 s)
            await asyncio.sleep(0.1)
            if server.summary()["contexts_open"] >= 4:
                break
        assert server.summary()["contexts_open"] >= 4
        assert len(_children()) == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _children()
        assert server.summary()["contexts_open"] == 0


async def test_leaving_the_iteration_early_stops_the_workers() -> None:
    async with WSManTestServer(
        hosts=30, behaviours={i: HostBehaviour(latency=0.2) for i in range(30)}
    ) as server:
        async with run(
            server.endpoints, IdentifyOp(), processes=2, concurrency=4, **CREDENTIALS
        ) as results:
            async for _ in results:
                break
        assert not _children()


class _LazyHosts:
    """A large host input that counts how far it was read ahead of the results."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pulled = 0
        self.reported = 0
        self.most_ahead = 0

    def __iter__(self) -> Iterator[str]:
        for i in range(self.count):
            self.pulled += 1
            self.most_ahead = max(self.most_ahead, self.pulled - self.reported)
            yield f"host{i}.example"


@pytest.mark.timeout(600)
async def test_the_parent_holds_a_bounded_number_of_hosts_from_a_lazy_100k_input() -> None:
    hosts = _LazyHosts(100_000)
    fan = run(hosts, host_name_length, processes=2, concurrency=100, session_factory=no_session)
    seen = 0
    async with fan as results:
        async for r in results:
            hosts.reported += 1
            seen += r.ok
    assert seen == 100_000 == fan.summary.total
    # Each worker holds its share of concurrency plus a buffer (the window):
    # the parent never reads further ahead than both windows together.
    windows = sum(s + max(32, s // 2) for s in (50, 50))
    assert hosts.most_ahead <= windows


async def test_progress_and_summary_are_fed_in_the_parent() -> None:
    seen: list[str] = []
    summary = Summary()
    hosts = [f"host{i}" for i in range(50)]
    thread = threading.get_ident()

    def progress(result: HostResult[Any]) -> None:
        assert threading.get_ident() == thread
        seen.append(result.host)

    await _collect(
        run(
            hosts,
            FailOn("host3"),
            processes=2,
            session_factory=no_session,
            progress=progress,
            summary=summary,
        )
    )
    assert sorted(seen) == sorted(hosts)
    assert (summary.total, summary.ok, dict(summary.failed_by_class)) == (50, 49, {"other": 1})


async def test_an_error_reading_the_input_is_raised_after_started_hosts_are_reported() -> None:
    async def hosts() -> AsyncIterator[str]:
        for i in range(5):
            yield f"host{i}"
        raise OSError("hosts file went away")

    reported: list[str] = []
    with pytest.raises(OSError, match="went away"):
        async with run(hosts(), host_name_length, processes=2, session_factory=no_session) as fan:
            async for r in fan:
                reported.append(r.host)
    assert sorted(reported) == [f"host{i}" for i in range(5)]
    assert not _children()


def test_an_unpicklable_operation_is_refused_when_the_run_is_made() -> None:
    lock = threading.Lock()

    async def holds_a_lock(session: Any) -> None:
        with lock:
            return None

    with pytest.raises(ConfigurationError, match="operation must be picklable"):
        run(["h"], holds_a_lock, processes=2, session_factory=no_session)


async def test_a_closure_crosses_to_the_workers_with_cloudpickle() -> None:
    suffix = "-seen"

    async def tag(session: Any) -> str:
        return str(session.host) + suffix

    results = await _collect(run(["a", "b", "c"], tag, processes=2, session_factory=no_session))
    assert sorted(r.value for r in results) == ["a-seen", "b-seen", "c-seen"]


def test_processes_auto_means_the_usable_cpus() -> None:
    assert _multiproc.resolve_processes("auto") == len(os.sched_getaffinity(0))
    assert _multiproc.resolve_processes(3) == 3


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True])
def test_a_bad_process_count_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="processes must be"):
        run(["h"], host_name_length, processes=bad, session_factory=no_session)


async def test_one_process_runs_in_this_process() -> None:
    fan = run(["a", "b"], worker_pid, processes=1, session_factory=no_session)
    assert not isinstance(fan, _multiproc.ProcessFanOut)
    assert {r.value for r in await _collect(fan)} == {os.getpid()}


def test_every_runner_option_reaches_the_worker_processes() -> None:
    # run() forwards its options to the workers' runners by name: an option
    # added to run() and not forwarded would silently do nothing with processes.
    fan = run(["h"], host_name_length, processes=2, session_factory=no_session)
    assert isinstance(fan, _multiproc.ProcessFanOut)
    parameters = set(inspect.signature(run).parameters)
    parent_only = {"hosts", "operation", "processes", "progress", "summary", "session_options"}
    assert set(fan._runner_kwargs) == parameters - parent_only
