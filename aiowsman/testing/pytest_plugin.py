"""pytest plugin: fixtures that start a real WS-Man test server on 127.0.0.1.

Registered as the ``pytest11`` entry point ``aiowsman``; in a source tree
without the package installed, load it with ``-p aiowsman.testing.pytest_plugin``
or ``pytest_plugins = ["aiowsman.testing.pytest_plugin"]``.

Fixtures (async; they need pytest-asyncio or another asyncio runner):

* ``wsman_server`` -- one simulated host, HTTP, Basic auth with user
  ``user`` / password ``pass`` (see ``wsman_credentials``).
* ``wsman_endpoint`` -- that host's URL (``http://127.0.0.1:PORT/wsman``).
* ``wsman_credentials`` -- the ``(user, password)`` pair it accepts.
* ``wsman_server_factory`` -- ``await factory(**kwargs)`` starts a
  :class:`~aiowsman.testing.WSManTestServer` with those arguments; every
  server started is closed at the end of the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from aiowsman.testing.server import WSManTestServer

__all__ = [
    "wsman_credentials",
    "wsman_endpoint",
    "wsman_server",
    "wsman_server_factory",
]

ServerFactory = Callable[..., Awaitable[WSManTestServer]]

_USER = "user"
_PASSWORD = "pass"


@pytest.fixture
def wsman_credentials() -> tuple[str, str]:
    """The user name and password ``wsman_server`` accepts (Basic)."""
    return (_USER, _PASSWORD)


@pytest_asyncio.fixture
async def wsman_server_factory() -> AsyncIterator[ServerFactory]:
    """A factory: ``server = await wsman_server_factory(hosts=10, latency=0.01)``."""
    started: list[WSManTestServer] = []

    async def factory(**kwargs: Any) -> WSManTestServer:
        server = WSManTestServer(**kwargs)
        await server.start()
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in reversed(started):
            await server.close()


@pytest_asyncio.fixture
async def wsman_server(
    wsman_credentials: tuple[str, str],
) -> AsyncIterator[WSManTestServer]:
    """One simulated host over HTTP with Basic authentication."""
    user, password = wsman_credentials
    async with WSManTestServer(hosts=1, users={user: password}) as server:
        yield server


@pytest.fixture
def wsman_endpoint(wsman_server: WSManTestServer) -> str:
    """The URL of the ``wsman_server`` host."""
    return wsman_server.endpoints[0]
