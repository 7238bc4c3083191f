"""aiowsman: an asyncio client for WS-Management (WinRM).

The WinRM Scripting API, async and Pythonic::

    async with AsyncSession("https://host", auth="basic", username=u, password=p) as s:
        info = await s.identify()
        svc = await s.get("wmicimv2/Win32_Service", Name="WinRM")
        async with s.enumerate("wmicimv2/Win32_Process") as processes:
            async for p in processes:
                print(p["Name"])
        async with s.subscribe(query="*", channel="System", heartbeat=30) as events:
            async for event in events:   # parsed Windows events, bookmarks, renewals
                print(event.record_id, event.level_name, event.message)
        r = await s.run_cmd("ipconfig", "/all")       # WinRS: aiowsman.shell

Errors all derive from :class:`WSManError` and name host and operation.
"""

from __future__ import annotations

from aiowsman.auth import Auth, BasicAuth, NoAuth, register_auth
from aiowsman.collector import EventCollector, collect_events
from aiowsman.enumerator import Enumerator
from aiowsman.errors import (
    AuthenticationError,
    CommandTimeoutError,
    ConfigurationError,
    ConnectError,
    DNSError,
    EncryptionError,
    EnumerationTooLargeError,
    EnvelopeTooLargeError,
    FaultDetail,
    HTTPStatusError,
    InsecureTransportError,
    InvalidEnumerationContextFault,
    NotWSManEndpointError,
    OperationQuotaExceededFault,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    ResponseTooLargeError,
    ServiceUnavailableError,
    ShellNotFoundFault,
    ShellQuotaExceededFault,
    SubscriptionEndedError,
    TimeoutError,
    TLSError,
    TransportError,
    UnsafeXMLError,
    WSManError,
    WSManFault,
)
from aiowsman.facade import ConnectionOptions, WSMan
from aiowsman.protocol import (
    AssociationFilter,
    Bookmark,
    EndpointReference,
    EnumerationMode,
    Event,
    IdentifyResponse,
    Item,
    Polymorphism,
    ResourceLocator,
    expand_resource_uri,
)
from aiowsman.session import AsyncSession
from aiowsman.shell import CommandResult, PowerShellResult, Process, Shell
from aiowsman.subscription import Subscription

__version__ = "0.1.0"

__all__ = [
    "AssociationFilter",
    "AsyncSession",
    "Auth",
    "AuthenticationError",
    "BasicAuth",
    "Bookmark",
    "CommandResult",
    "CommandTimeoutError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionOptions",
    "DNSError",
    "EncryptionError",
    "EndpointReference",
    "EnumerationMode",
    "EnumerationTooLargeError",
    "Enumerator",
    "EnvelopeTooLargeError",
    "Event",
    "EventCollector",
    "FaultDetail",
    "HTTPStatusError",
    "IdentifyResponse",
    "InsecureTransportError",
    "InvalidEnumerationContextFault",
    "Item",
    "NoAuth",
    "NotWSManEndpointError",
    "OperationQuotaExceededFault",
    "OperationTimedOutFault",
    "Polymorphism",
    "PowerShellResult",
    "Process",
    "ProtocolError",
    "QuotaExceededFault",
    "ResourceLocator",
    "ResponseTooLargeError",
    "ServiceUnavailableError",
    "Shell",
    "ShellNotFoundFault",
    "ShellQuotaExceededFault",
    "Subscription",
    "SubscriptionEndedError",
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnsafeXMLError",
    "WSMan",
    "WSManError",
    "WSManFault",
    "__version__",
    "collect_events",
    "expand_resource_uri",
    "register_auth",
]
