"""aiowsman: an asyncio client for WS-Management (WinRM).

The WinRM Scripting API, async and Pythonic::

    async with AsyncSession("https://host", auth="basic", username=u, password=p) as s:
        info = await s.identify()
        svc = await s.get("wmicimv2/Win32_Service", Name="WinRM")
        async with s.enumerate("wmicimv2/Win32_Process") as processes:
            async for p in processes:
                print(p["Name"])

Errors all derive from :class:`WSManError` and name host and operation.
"""

from __future__ import annotations

from aiowsman.auth import Auth, BasicAuth, NoAuth, register_auth
from aiowsman.enumerator import Enumerator
from aiowsman.errors import (
    AuthenticationError,
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
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    ResponseTooLargeError,
    ServiceUnavailableError,
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

__version__ = "0.1.0"

__all__ = [
    "AssociationFilter",
    "AsyncSession",
    "Auth",
    "AuthenticationError",
    "BasicAuth",
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
    "FaultDetail",
    "HTTPStatusError",
    "IdentifyResponse",
    "InsecureTransportError",
    "InvalidEnumerationContextFault",
    "Item",
    "NoAuth",
    "NotWSManEndpointError",
    "OperationTimedOutFault",
    "Polymorphism",
    "ProtocolError",
    "QuotaExceededFault",
    "ResourceLocator",
    "ResponseTooLargeError",
    "ServiceUnavailableError",
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
