"""A real WS-Management server for tests, benchmarks and demos.

``WSManTestServer`` simulates many Windows-like hosts from one process
(``python -m aiowsman.testing`` runs it standalone); the pytest plugin
(``aiowsman.testing.pytest_plugin``) exposes it as fixtures.
"""

from aiowsman.testing._behaviour import (
    HostBehaviour,
    HostStats,
    Injection,
    InjectionKind,
    RequestInfo,
)
from aiowsman.testing._host import SimulatedHost
from aiowsman.testing._thread import ServerThread, serve_in_thread
from aiowsman.testing.server import BasicAuthHandler, WSManTestServer

__all__ = [
    "BasicAuthHandler",
    "HostBehaviour",
    "HostStats",
    "Injection",
    "InjectionKind",
    "RequestInfo",
    "ServerThread",
    "SimulatedHost",
    "WSManTestServer",
    "serve_in_thread",
]
