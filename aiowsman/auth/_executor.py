"""The bounded thread pool that runs blocking authentication steps.

GSSAPI calls (acquiring a TGT with a password, asking the KDC for a service
ticket, reading a ticket cache or keytab) block on the network and on file
locks. Auth flows yield them as :class:`~aiowsman.auth.base.Offload` and the
transport runs them here, never on the event loop, so a fan-out over many
hosts keeps its loop responsive while KDC exchanges are in progress.

One pool serves the whole process (every session, every event loop), with a
fixed number of threads: 1000 hosts authenticating at once queue their
Kerberos steps here instead of starting 1000 threads or exhausting asyncio's
default executor (which ``asyncio.to_thread`` and DNS resolution share). A
queued step costs nothing but memory; a step that was cancelled before it
started is dropped (``run_in_executor`` cancels the pending future).

The default, :data:`DEFAULT_OFFLOAD_WORKERS`, overlaps 16 KDC round trips,
which saturates a typical KDC long before it saturates the client;
:func:`set_offload_workers` changes it. After ``fork()`` the child starts a
fresh pool (threads do not survive a fork). The pool machinery is
:class:`aiowsman._threads.WorkerPool`, shared with the response parser's pool.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiowsman._threads import WorkerPool

__all__ = [
    "DEFAULT_OFFLOAD_WORKERS",
    "offload_executor",
    "offload_workers",
    "run_offload",
    "set_offload_workers",
]

T = TypeVar("T")

#: Threads in the process-wide pool unless :func:`set_offload_workers` says otherwise.
DEFAULT_OFFLOAD_WORKERS = 16
THREAD_NAME_PREFIX = "aiowsman-auth"

_pool = WorkerPool(THREAD_NAME_PREFIX, DEFAULT_OFFLOAD_WORKERS)


def offload_workers() -> int:
    """How many threads the pool runs (at most)."""
    return _pool.workers


def offload_executor() -> ThreadPoolExecutor:
    """The process-wide pool (created on first use)."""
    return _pool.executor()


def set_offload_workers(workers: int) -> None:
    """Bound the pool to ``workers`` threads.

    Steps already submitted finish on the old pool; new ones go to the new
    one.

    Args:
        workers: at least 1.

    Raises:
        ValueError: ``workers`` < 1.
    """
    _pool.resize(workers)


async def run_offload(func: Callable[[], T]) -> T:
    """Run a blocking ``func()`` in the pool; the event loop stays free meanwhile."""
    return await _pool.run(func)
