"""aiowsman: an asyncio client for WS-Management (WinRM).

The WinRM Scripting API, async and Pythonic::

    async with AsyncSession("https://host", auth="basic", username=u, password=p) as s:
        info = await s.identify()
        svc = await s.get("wmicimv2/Win32_Service", Name="WinRM")
        async with s.enumerate("wmicimv2/Win32_Process") as processes:
            async for p in processes:
                print(p["Name"])
        r = await s.run_cmd("ipconfig", "/all")       # WinRS: aiowsman.shell

Errors all derive from :class:`WSManError` and name host and operation.
"""

from __future__ import annotations

from aiowsman.auth import Auth, BasicAuth, NoAuth, register_auth
from aiowsman.enumerator import Enumerator
from aiowsman.errors import (
    AuthenticationError,
    CommandTimeoutError,
    ConfigurationError,
    ConnectError,
    DNSError,
    EncryptionError,
    EnvelopeTooLargeError,
    FaultDetail,
    HTTPStatusError,
    InsecureTransportError,
    InvalidEnumerationContextFault,
    OperationQuotaExceededFault,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    ResponseTooLargeError,
    ServiceUnavailableError,
    ShellNotFoundFault,
    ShellQuotaExceededFault,
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
    EndpointReference,
    EnumerationMode,
    IdentifyResponse,
    Item,
    Polymorphism,
    ResourceLocator,
    expand_resource_uri,
)
from aiowsman.session import AsyncSession
from aiowsman.shell import CommandResult, PowerShellResult, Process, Shell

__version__ = "0.1.0"

__all__ = [
    "AssociationFilter",
    "AsyncSession",
    "Auth",
    "AuthenticationError",
    "BasicAuth",
    "CommandResult",
    "CommandTimeoutError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionOptions",
    "DNSError",
    "EncryptionError",
    "EndpointReference",
    "EnumerationMode",
    "Enumerator",
    "EnvelopeTooLargeError",
    "FaultDetail",
    "HTTPStatusError",
    "IdentifyResponse",
    "InsecureTransportError",
    "InvalidEnumerationContextFault",
    "Item",
    "NoAuth",
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
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnsafeXMLError",
    "WSMan",
    "WSManError",
    "WSManFault",
    "__version__",
    "expand_resource_uri",
    "register_auth",
]
