"""ResourceProbe: the leak detector the reliability tests use, and proof that it detects.

``async with ResourceProbe() as probe:`` snapshots the process's open file
descriptors (``/proc/self/fd``) and the event loop's tasks; on exit it waits
(bounded: sockets and tasks wind down over a few loop iterations) until no
descriptor and no task created inside the block is left, and fails the test
naming what leaked.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from types import TracebackType

import pytest

#: How long leftovers may take to go away (closing transports, cancelled
#: handlers) before they count as a leak. A bound, not a measurement.
SETTLE_SECONDS = 5.0


def open_fds() -> set[tuple[int, str]]:
    """``(fd, target)`` for every descriptor this process holds."""
    fds: set[tuple[int, str]] = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            fds.add((int(name), os.readlink(f"/proc/self/fd/{name}")))
        except OSError:  # closed between listdir and readlink (e.g. listdir's own fd)
            continue
    return fds


class Leak(AssertionError):
    """Descriptors or tasks outlived the block."""


class ResourceProbe:
    """Fail when a block leaves descriptors or asyncio tasks behind.

    Args:
        settle: seconds leftovers may take to go away before they count.
    """

    def __init__(self, *, settle: float = SETTLE_SECONDS) -> None:
        self.settle = settle
        self.fds_before: set[tuple[int, str]] = set()
        self.tasks_before: set[asyncio.Task[object]] = set()
        self.fds_after = 0
        self.tasks_after = 0

    async def __aenter__(self) -> ResourceProbe:
        gc.collect()
        self.fds_before = open_fds()
        self.tasks_before = set(asyncio.all_tasks())
        return self

    def leftovers(self) -> tuple[set[tuple[int, str]], set[asyncio.Task[object]]]:
        """Descriptors and tasks that were not there on entry."""
        me = asyncio.current_task()
        tasks = {t for t in asyncio.all_tasks() if t is not me and not t.done()}
        return open_fds() - self.fds_before, tasks - self.tasks_before

    async def check(self) -> None:
        """Wait (bounded) for leftovers to go; raise :class:`Leak` if some remain."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settle
        while True:
            gc.collect()
            fds, tasks = self.leftovers()
            # /proc/self/fd itself is read through a descriptor: ignore it.
            fds = {(fd, target) for fd, target in fds if not target.startswith("/proc/")}
            if not fds and not tasks:
                self.fds_after = len(open_fds())
                self.tasks_after = len(asyncio.all_tasks())
                return
            if loop.time() >= until:
                raise Leak(f"leaked descriptors {sorted(fds)} and tasks {tasks}")
            await asyncio.sleep(0.02)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.check()


async def test_probe_detects_a_leaked_socket() -> None:
    sock = socket.socket()
    try:
        with pytest.raises(Leak, match="socket"):
            async with ResourceProbe(settle=0.1):
                leaked = socket.socket()
        leaked.close()
    finally:
        sock.close()


async def test_probe_detects_a_leaked_task() -> None:
    never = asyncio.Event()
    task: asyncio.Task[bool] | None = None
    with pytest.raises(Leak, match="tasks"):
        async with ResourceProbe(settle=0.1):
            task = asyncio.create_task(never.wait())
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_probe_passes_a_clean_block() -> None:
    async with ResourceProbe(settle=0.1):
        with socket.socket():
            pass
        await asyncio.sleep(0)
