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
from typing import Any, Protocol

__all__ = ["AsyncWorkload", "Workload", "check_count"]


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
