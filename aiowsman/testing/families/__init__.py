"""The resource families a simulated host serves, one handler module each.

A family is a :class:`ResourceFamily` subclass in its own module here. It
declares what it serves (``resource_uris``: URI prefixes; ``actions``:
actions served whatever the URI; ``default``: everything unclaimed), keeps
its state per host on its instance (the host makes one with
``factory(host)``), and answers requests with a :class:`Reply` (or an
awaitable one, for operations that wait). Enumerations go through the
host's shared context registry (``open_enumeration``), and a Pull reaches
the family that opened the context.

To add a family: write ``families/<name>.py`` with the subclass, add its
factory to :func:`default_families`, and give tests a typed view of its
state (``server.host(0).family(MyFamily).something``).

==============  ==========================================  ==================
family          serves                                      state per host
==============  ==========================================  ==================
``CimFamily``   everything else: ``wmi/root/cimv2/*``       the CIM store
``ConfigFamily``  ``http://schemas.microsoft.com/wbem/...     setting overrides
                /wsman/1/config``
``EventingFamily``  ``http://schemas.microsoft.com/wbem/...   the event log,
                /wsman/1/windows/EventLog`` (WS-Eventing    subscriptions
                pull mode)
``ShellFamily``  ``http://schemas.microsoft.com/wbem/...     open shells and
                /wsman/1/windows/shell`` (and ``/cmd``);      their commands;
                ``http://schemas.microsoft.com/powershell``   runspace pools
                (runspace pools: ``families/psrp.py``, a      and pipelines
                plug-in of the shell family)
==============  ==========================================  ==================
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from aiowsman.testing._cim import TableCache
from aiowsman.testing.families.base import Host, Reply, ResourceFamily
from aiowsman.testing.families.cim import CimFamily
from aiowsman.testing.families.config import ConfigFamily
from aiowsman.testing.families.eventing import EventingFamily
from aiowsman.testing.families.shell import ShellFamily

__all__ = [
    "CimFamily",
    "ConfigFamily",
    "EventingFamily",
    "FamilyFactory",
    "Host",
    "Reply",
    "ResourceFamily",
    "ShellFamily",
    "default_families",
]

#: Makes a host's instance of a family (a family class is one).
FamilyFactory = Callable[[Host], ResourceFamily]


def default_families(
    *, cache: TableCache | None = None, bulk_instances: int = 0
) -> tuple[FamilyFactory, ...]:
    """The families every simulated host serves, in routing order.

    Args:
        cache: the server-wide budget of generated CIM instances.
        bulk_instances: instances of the virtual class ``AIOWSMAN_BulkItem``.
    """
    return (
        ConfigFamily,
        EventingFamily,
        ShellFamily,
        functools.partial(CimFamily, cache=cache, bulk_instances=bulk_instances),
    )
