"""A real WS-Management server for tests, benchmarks and demos.

``WSManTestServer`` simulates many Windows-like hosts from one process
(``python -m aiowsman.testing`` runs it standalone); the pytest plugin
(``aiowsman.testing.pytest_plugin``) exposes it as fixtures.

Shape: ``server.py`` speaks HTTP (listeners, authentication, fault
injection) and hands each request to a :class:`SimulatedHost`
(``_host.py``), which answers Identify and routes everything else to one of
its **resource families**, one handler module each under
:mod:`aiowsman.testing.families`:

* ``families/cim.py`` (``CimFamily``): the CIM classes, the default family
  for every resource URI no other family claims;
* ``families/config.py`` (``ConfigFamily``): ``winrm/config``;
* ``families/eventing.py`` (``EventingFamily``): the event log as a
  WS-Eventing source (pull-mode subscriptions on ``.../windows/EventLog``),
  over ``_eventlog.py``'s simulated channels.
* ``families/shell.py`` (``ShellFamily``): remote shells (WinRS), running a
  small documented cmd.exe (``_cmd.py``) and powershell.exe (``_powershell.py``);
  its PowerShell plug-in, ``families/psrp.py``, serves PowerShell remoting
  (runspace pools on ``http://schemas.microsoft.com/powershell/*``, on
  psrpcore's server side, running the same PowerShell with objects).

How a family registers: it subclasses ``families.base.ResourceFamily`` and
declares the resource URI prefixes it serves (``resource_uris``, each with
everything below it), the actions it serves whatever the URI (``actions``),
or that it takes everything unclaimed (``default``); its factory is listed in
``families.default_families()`` (or passed as ``WSManTestServer(families=)``).
The host makes one instance per host, so a family's state (a store, open
shells, subscriptions) lives on that instance. It answers with a ``Reply``
or an awaitable one (an operation that waits, like a shell Receive).
Enumerations use the host's shared context registry
(``SimulatedHost.contexts``) and a Pull reaches the family that opened the
context. Tests inspect a family's state with
``server.host(i).family(SomeFamily)`` (``host.store`` is the CIM store).
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
from aiowsman.testing.families import ShellFamily
from aiowsman.testing.server import BasicAuthHandler, WSManTestServer

__all__ = [
    "BasicAuthHandler",
    "HostBehaviour",
    "HostStats",
    "Injection",
    "InjectionKind",
    "RequestInfo",
    "ServerThread",
    "ShellFamily",
    "SimulatedHost",
    "WSManTestServer",
    "serve_in_thread",
]
