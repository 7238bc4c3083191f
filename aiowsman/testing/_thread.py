"""A test server on an event loop of its own, in a thread: usable from any test.

The pytest plugin's fixtures are plain (synchronous) fixtures built on this,
so they need no asyncio plugin and work under pytest-asyncio's strict mode,
its auto mode, anyio, or in a synchronous test that calls ``asyncio.run``:
the server's loop is not the test's, and the two meet only over loopback
sockets, as a client and a real server do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from aiowsman.testing.server import WSManTestServer

__all__ = ["ServerThread", "serve_in_thread"]

T = TypeVar("T")

#: Seconds a server may take to start or to close.
BOUND = 60.0


class ServerThread:
    """An event loop running in a daemon thread, to start and close servers on.

    Use as a context manager; every server started through it is closed, and
    the loop and thread stopped, on exit.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aiowsman-test-server", daemon=True
        )
        self._servers: list[WSManTestServer] = []

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(BOUND)

    def start(self, server: WSManTestServer) -> WSManTestServer:
        """Start ``server`` on this thread's loop; returns it once it listens."""
        self._call(server.start())
        self._servers.append(server)
        return server

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for server in reversed(self._servers):
                self._call(server.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(BOUND)
            self._loop.close()


@contextlib.contextmanager
def serve_in_thread(**kwargs: Any) -> Iterator[WSManTestServer]:
    """``with serve_in_thread(hosts=3) as server:`` -- a :class:`WSManTestServer`
    (``kwargs`` are its arguments) running in a background thread.

    For synchronous code and tests; from async code, ``async with
    WSManTestServer(...)`` runs it on your own loop instead.
    """
    with ServerThread() as thread:
        yield thread.start(WSManTestServer(**kwargs))
