"""pytest plugin: fixtures that start a real WS-Man test server on 127.0.0.1.

Registered as the ``pytest11`` entry point ``aiowsman``, so the fixtures are
there wherever aiowsman is installed. Loading it imports nothing but pytest:
an installed library must never break a test suite that does not use it (no
asyncio plugin, no extra is needed for the plugin to load). In a source tree
without the package installed, load it with ``-p aiowsman.testing.pytest_plugin``
or ``pytest_plugins = ["aiowsman.testing.pytest_plugin"]``.

The fixtures are synchronous: each server runs on an event loop of its own
in a background thread (:class:`aiowsman.testing.ServerThread`). So they
work in ``async def`` tests under pytest-asyncio's default strict mode
(mark the test ``@pytest.mark.asyncio``), in auto mode, under anyio, and in
plain ``def`` tests that call ``asyncio.run``.

Fixtures:

* ``wsman_server`` -- one simulated host, HTTP, Basic auth with user
  ``user`` / password ``pass`` (see ``wsman_credentials``).
* ``wsman_endpoint`` -- that host's URL (``http://127.0.0.1:PORT/wsman``).
* ``wsman_credentials`` -- the ``(user, password)`` pair it accepts.
* ``wsman_server_factory`` -- ``factory(**kwargs)`` starts a
  :class:`~aiowsman.testing.WSManTestServer` with those arguments and returns
  it listening; every server started is closed at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiowsman.testing.server import WSManTestServer

__all__ = [
    "wsman_credentials",
    "wsman_endpoint",
    "wsman_server",
    "wsman_server_factory",
]

ServerFactory = Callable[..., "WSManTestServer"]

_USER = "user"
_PASSWORD = "pass"


@pytest.fixture
def wsman_credentials() -> tuple[str, str]:
    """The user name and password ``wsman_server`` accepts (Basic)."""
    return (_USER, _PASSWORD)


@pytest.fixture
def wsman_server_factory() -> Iterator[ServerFactory]:
    """A factory: ``server = wsman_server_factory(hosts=10, latency=0.01)``."""
    # Imported here, not at plugin load: collecting an unrelated suite must
    # not import the server (nor aiohttp).
    from aiowsman.testing._thread import ServerThread
    from aiowsman.testing.server import WSManTestServer

    with ServerThread() as thread:

        def factory(**kwargs: Any) -> WSManTestServer:
            return thread.start(WSManTestServer(**kwargs))

        yield factory


@pytest.fixture
def wsman_server(
    wsman_server_factory: ServerFactory, wsman_credentials: tuple[str, str]
) -> WSManTestServer:
    """One simulated host over HTTP with Basic authentication."""
    user, password = wsman_credentials
    return wsman_server_factory(hosts=1, users={user: password})


@pytest.fixture
def wsman_endpoint(wsman_server: WSManTestServer) -> str:
    """The URL of the ``wsman_server`` host."""
    return wsman_server.endpoints[0]
