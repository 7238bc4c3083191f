"""The fan-out runner end to end: real sessions against a real simulated fleet."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

from aiowsman.cli._ops import IdentifyOp
from aiowsman.fanout import HostResult, run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer

CREDENTIALS: dict[str, Any] = {
    "username": "user",
    "password": "pass",
    "auth": "basic",
    "allow_unencrypted": True,
}


def _first_request(kind: InjectionKind) -> Callable[[Any], Injection | None]:
    def inject(info: Any) -> Injection | None:
        return Injection(kind, retry_after=0) if info.number == 1 else None

    return inject


def fleet_behaviours(hosts: int) -> tuple[dict[int, HostBehaviour], dict[int, str | None]]:
    """Every 50th host broken in one of four ways, every 10th slow."""
    kinds = {
        0: ("timeout", HostBehaviour(always=Injection(InjectionKind.BLACK_HOLE))),
        20: ("auth", HostBehaviour(always=Injection(InjectionKind.UNAUTHORIZED))),
        30: ("fault", HostBehaviour(always=Injection(InjectionKind.TIMED_OUT))),
        40: (None, HostBehaviour(inject=_first_request(InjectionKind.HTTP_503))),
    }
    behaviours: dict[int, HostBehaviour] = {}
    expected: dict[int, str | None] = {}
    for i in range(hosts):
        klass, behaviour = kinds.get(i % 50, (None, None))
        if behaviour is None and i % 10 == 5:
            behaviour = HostBehaviour(latency=(0.05, 0.2))
        if behaviour is not None:
            behaviours[i] = behaviour
        expected[i] = klass
    return behaviours, expected


@contextlib.contextmanager
def refusing_ports(count: int) -> Iterator[list[str]]:
    """Endpoints on loopback ports that are bound (reserved) but refuse connections."""
    with contextlib.ExitStack() as stack:
        urls = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))  # never listening: connect() gets RST
            urls.append(f"http://127.0.0.1:{sock.getsockname()[1]}/wsman")
        yield urls


async def test_each_of_2000_hosts_gets_exactly_one_correct_record() -> None:
    behaviours, expected = fleet_behaviours(1960)
    with refusing_ports(40) as refused:
        async with WSManTestServer(hosts=1960, behaviours=behaviours) as server:
            hosts = server.endpoints + refused
            results = await fan_out(hosts)

    assert sorted(r.host for r in results) == sorted(hosts)
    by_url = {url: i for i, url in enumerate(server.endpoints)}
    for r in results:
        if r.host in refused:
            assert r.error_class == "connect" and r.attempts == 3, r.message
            continue
        index = by_url[r.host]
        assert r.error_class == expected[index], (index, r.message)
        if r.ok:
            assert r.value.product_vendor  # a real IdentifyResponse
    busy = [r for r in results if r.host in by_url and by_url[r.host] % 50 == 40]
    assert busy and all(r.ok and r.attempts == 2 for r in busy)


# The per-host knobs leave a healthy host room on a loaded 2-core machine,
# where client and server share one event loop: a healthy Identify waits
# behind every other request in flight, so its latency grows with the
# concurrency (up to ~2 s at 100 in flight with the machine under 4x its
# cores' load). An attempt timeout shorter than the deadline would cut such
# a host and retry it, the retries add load, and healthy hosts end up
# "timeout" -- hence one attempt timeout equal to the deadline, several
# times the worst healthy latency; a black hole still costs one deadline.
FLEET_CONCURRENCY = 100
FLEET_DEADLINE = 8.0
FLEET_CLOSE_GRACE = 1.0


def fleet_bound(hosts: int) -> float:
    """The run's deadline bound, from the runner's guarantees alone.

    Every host ends within deadline + close_grace of its start, and a worker
    takes the next host as soon as it is free, so (list scheduling) the run
    ends within (hosts / concurrency + 1) host deadlines, whatever the hosts
    do -- even if every host were a black hole.
    """
    return (hosts / FLEET_CONCURRENCY + 1) * (FLEET_DEADLINE + FLEET_CLOSE_GRACE)


async def fan_out(hosts: list[str]) -> list[HostResult[Any]]:
    results: list[HostResult[Any]] = []
    async with asyncio.timeout(fleet_bound(len(hosts))):
        async for r in run(
            hosts,
            IdentifyOp(),
            concurrency=FLEET_CONCURRENCY,
            deadline=FLEET_DEADLINE,
            close_grace=FLEET_CLOSE_GRACE,
            idempotent=True,
            backoff=0.05,
            timeout=FLEET_DEADLINE,
            **CREDENTIALS,
        ):
            results.append(r)
    return results


async def test_quota_refusal_is_retried_for_a_non_idempotent_operation() -> None:
    behaviour = HostBehaviour(inject=_first_request(InjectionKind.QUOTA))
    async with WSManTestServer(hosts=1, behaviours={0: behaviour}) as server:
        [r] = [
            r
            async for r in run(
                server.endpoints, IdentifyOp(), idempotent=False, backoff=0.01, **CREDENTIALS
            )
        ]
        assert server.host(0).stats.requests == 2
    assert r.ok and r.attempts == 2


async def test_fault_without_refusal_is_not_retried_and_carries_its_code() -> None:
    behaviour = HostBehaviour(always=Injection(InjectionKind.TIMED_OUT))
    async with WSManTestServer(hosts=1, behaviours={0: behaviour}) as server:
        [r] = [
            r
            async for r in run(
                server.endpoints, IdentifyOp(), idempotent=True, retries=3, **CREDENTIALS
            )
        ]
        assert server.host(0).stats.requests == 1
    assert r.error_class == "fault" and r.attempts == 1
    assert r.fault_code == 2150858793  # ERROR_WSMAN_OPERATION_TIMEDOUT


async def test_black_holed_host_is_cut_at_its_deadline_while_others_finish() -> None:
    behaviour = HostBehaviour(always=Injection(InjectionKind.BLACK_HOLE))
    async with WSManTestServer(hosts=3, behaviours={1: behaviour}) as server:
        async with asyncio.timeout(30):
            results = {
                r.host: r
                async for r in run(
                    server.endpoints, IdentifyOp(), deadline=1, timeout=30, **CREDENTIALS
                )
            }
    hole = results[server.endpoints[1]]
    assert hole.error_class == "timeout" and "deadline" in (hole.message or "")
    assert results[server.endpoints[0]].ok and results[server.endpoints[2]].ok
    # Named like every other error: host:port and the operation, not the URL as typed.
    authority = server.endpoints[1].split("//", 1)[1].split("/", 1)[0]
    assert hole.error is not None
    assert (getattr(hole.error, "host", None), getattr(hole.error, "operation", None)) == (
        authority,
        "fan-out",
    )


async def test_credentials_never_appear_in_failure_records() -> None:
    behaviour = HostBehaviour(always=Injection(InjectionKind.UNAUTHORIZED))
    async with WSManTestServer(hosts=1, behaviours={0: behaviour}) as server:
        [r] = [
            r
            async for r in run(
                server.endpoints, IdentifyOp(), username="user", password="s3cr3t-pw",
                auth="basic", allow_unencrypted=True,
            )
        ]  # fmt: skip
    assert r.error_class == "auth"
    text = repr(r) + str(r.to_dict()) + r._repr_html_()
    assert "s3cr3t-pw" not in text
