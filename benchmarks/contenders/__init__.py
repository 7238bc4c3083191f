"""The contenders: one module per client, each imported only in its own worker.

Every module exposes ``create(scenario, target, params) -> Workload`` where a
workload has ``setup()`` (untimed: connect, warm up), ``run() -> dict`` (timed)
and ``close()``. ``run`` returns counts: ``ops`` (operations that succeeded),
``items`` (enumerated items), ``hosts`` (fan-out hosts fully done), ``errors``
and ``error_sample`` (the first error's text, to tell a broken run from a slow
one).

Scenarios and their ``params``:

* ``single``: ``{"op": "identify" | "get", "count": int}`` -- sequential
  operations against ``target.endpoints[0]`` on one kept-alive connection.
* ``fanout``: ``{"hosts": int, "concurrency": int}`` -- Identify then Get on
  each of the first ``hosts`` endpoints, at most ``concurrency`` hosts in flight.
* ``enumerate``: ``{"batch": int, "repeat": int}`` -- enumerate every
  instance of ``target.enum_uri`` with MaxElements (BatchItems) ``batch``,
  counting items, ``repeat`` times (default 1) one after the other.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["AsyncWorkload", "Workload", "check_count", "gather_hosts", "thread_hosts"]


class Workload(Protocol):
    def setup(self) -> None: ...
    def run(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class AsyncWorkload(abc.ABC):
    """Base for asyncio contenders: one event loop for setup, run and close."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    async def asetup(self) -> None:
        return None

    @abc.abstractmethod
    async def arun(self) -> dict[str, Any]:
        """One timed measurement; returns its figures."""

    async def aclose(self) -> None:
        return None

    def setup(self) -> None:
        self.loop.run_until_complete(self.asetup())

    def run(self) -> dict[str, Any]:
        return self.loop.run_until_complete(self.arun())

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.aclose())
        finally:
            self.loop.close()


def check_count(what: str, got: int, expected: int) -> None:
    """Refuse a run that silently did less work than asked (it would look fast)."""
    if expected and got != expected:
        raise RuntimeError(f"{what}: got {got}, expected {expected}")


def _tally(ok: int, errors: list[str], ops_per_host: int) -> dict[str, Any]:
    return {
        "hosts": ok,
        "ops": ops_per_host * ok,
        "errors": len(errors),
        "error_sample": errors[0] if errors else "",
    }


def thread_hosts(
    hosts: list[str], concurrency: int, one: Callable[[str], None], *, ops_per_host: int
) -> dict[str, Any]:
    """Run ``one(host)`` for every host on a thread pool of ``concurrency``
    (how a synchronous client fans out); count the hosts that succeeded."""
    lock = threading.Lock()
    errors: list[str] = []
    ok = 0

    def attempt(url: str) -> None:
        nonlocal ok
        try:
            one(url)
        except Exception as exc:
            with lock:
                errors.append(f"{url}: {exc!r}")
        else:
            with lock:
                ok += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in pool.map(attempt, hosts):
            pass
    return _tally(ok, errors, ops_per_host)


async def gather_hosts(
    hosts: list[str], concurrency: int, one: Callable[[str], Awaitable[None]], *, ops_per_host: int
) -> dict[str, Any]:
    """Run ``await one(host)`` for every host, ``concurrency`` at a time (a
    semaphore); count the hosts that succeeded."""
    sem = asyncio.Semaphore(concurrency)
    errors: list[str] = []
    ok = 0

    async def attempt(url: str) -> None:
        nonlocal ok
        async with sem:
            try:
                await one(url)
            except Exception as exc:
                errors.append(f"{url}: {exc!r}")
            else:
                ok += 1

    await asyncio.gather(*(attempt(url) for url in hosts))
    return _tally(ok, errors, ops_per_host)
