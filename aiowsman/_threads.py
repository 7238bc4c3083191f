"""Bounded, process-wide thread pools for work that must not run on the event loop.

Two kinds of work leave the loop: blocking authentication steps (a Kerberos
ticket request waits on a KDC; :mod:`aiowsman.auth._executor`) and parsing
large responses (CPU work that would stall every other host of a fan-out;
:mod:`aiowsman.session`). Each gets its own :class:`WorkerPool`, so neither
starves the other nor asyncio's default executor (which ``asyncio.to_thread``
and DNS resolution share).

A pool is created on first use with a fixed number of threads; work beyond
it queues, costing only memory, and work cancelled before it started is
dropped (``run_in_executor`` cancels the pending future). After ``fork()``
the child starts fresh pools (threads do not survive a fork).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["WorkerPool"]

T = TypeVar("T")

_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


class WorkerPool:
    """A lazily created, bounded thread pool shared by the whole process.

    Args:
        name: the threads' name prefix.
        workers: how many threads at most (at least 1).
    """

    def __init__(self, name: str, workers: int) -> None:
        self.name = name
        self._workers = _checked(workers)
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        _pools.add(self)

    @property
    def workers(self) -> int:
        """How many threads the pool runs (at most)."""
        return self._workers

    def executor(self) -> ThreadPoolExecutor:
        """The pool's executor (created on first use)."""
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self._workers, thread_name_prefix=self.name
                    )
                executor = self._executor
        return executor

    def resize(self, workers: int) -> None:
        """Bound the pool to ``workers`` threads; work already submitted finishes on the old one.

        Raises:
            ValueError: ``workers`` < 1.
        """
        workers = _checked(workers)
        with self._lock:
            old, self._executor, self._workers = self._executor, None, workers
        if old is not None:
            old.shutdown(wait=False)

    async def run(self, func: Callable[[], T]) -> T:
        """Run ``func()`` in the pool; the event loop stays free meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor(), func)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._executor = None


def _checked(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, not {workers!r}")
    return workers


def _after_fork_in_child() -> None:
    for pool in list(_pools):
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
