"""The one exception hierarchy of aiowsman.

Every error the library raises derives from :class:`WSManError` and names the
host and the operation it happened in (``err.host``, ``err.operation``; both
appear in ``str(err)``). Errors raised by the sans-IO ``protocol`` layer do not
know the host yet; the session fills it in before the error reaches you.

Each class also carries ``category``, a short stable word used by the fan-out
runner to classify failures (``dns``, ``connect``, ``tls``, ``auth``,
``fault``, ``timeout``, ``protocol``, ``config``)::

    WSManError                               category
    +-- ConfigurationError (also ValueError)  config   bad argument / unsafe setting refused
    |   +-- InsecureTransportError                     e.g. Basic over plain HTTP
    +-- TransportError                        connect  could not exchange HTTP with the host
    |   +-- DNSError                          dns      name did not resolve
    |   +-- ConnectError                      connect  refused / reset / unreachable
    |   +-- TLSError                          tls      handshake or certificate failure
    |   +-- HTTPStatusError                   protocol HTTP status without a SOAP fault
    |       +-- EnvelopeTooLargeError                  HTTP 413 (MaxEnvelopeSize exceeded)
    |       +-- ServiceUnavailableError                HTTP 503 (has ``retry_after``)
    +-- AuthenticationError                   auth     401, failed handshake, bad credentials
    +-- WSManFault                            fault    the server answered with a SOAP fault
    |   +-- OperationTimedOutFault                     w:TimedOut (OperationTimeout expired)
    |   +-- InvalidEnumerationContextFault             context invalid or expired
    |   +-- QuotaExceededFault                         per-user quota (e.g. concurrent ops)
    |   |   +-- ShellQuotaExceededFault                MaxShellsPerUser reached
    |   |   +-- OperationQuotaExceededFault            MaxConcurrentOperationsPerUser reached
    |   |   +-- CommandQuotaExceededFault              MaxConcurrentCommandsPerShell reached
    |   +-- ShellNotFoundFault                         the shell (or command) is gone
    +-- SubscriptionEndedError                fault    the event source ended a subscription
    +-- PSRemotingError                       fault    PowerShell remoting reported a failure
    |   +-- RunspacePoolStateError                     the pool did not open, or broke
    |   +-- PipelineFailedError                        a pipeline ended Failed (``record``)
    +-- ProtocolError                         protocol malformed or unexpected response
    |   +-- UnsafeXMLError                             DOCTYPE / entities: refused unparsed
    |   +-- NotWSManEndpointError                      not WS-Man at all (e.g. a web page)
    |   +-- ResponseTooLargeError                      response over the size cap
    |   +-- EnumerationTooLargeError                   more items than max_items
    |   +-- EncryptionError                            bad multipart/encrypted message
    +-- TimeoutError (also builtins.TimeoutError) timeout  the client's deadline passed
        +-- CommandTimeoutError                        a remote command outlived its deadline

Credentials never appear in any message built here: nothing in this module
receives them.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "CommandQuotaExceededFault",
    "CommandTimeoutError",
    "ConfigurationError",
    "ConnectError",
    "DNSError",
    "EncryptionError",
    "EnumerationTooLargeError",
    "EnvelopeTooLargeError",
    "FaultDetail",
    "HTTPStatusError",
    "InsecureTransportError",
    "InvalidEnumerationContextFault",
    "NotWSManEndpointError",
    "OperationQuotaExceededFault",
    "OperationTimedOutFault",
    "PSRemotingError",
    "PipelineFailedError",
    "ProtocolError",
    "QuotaExceededFault",
    "ResponseTooLargeError",
    "RunspacePoolStateError",
    "ServiceUnavailableError",
    "ShellNotFoundFault",
    "ShellQuotaExceededFault",
    "SubscriptionEndedError",
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnsafeXMLError",
    "WSManError",
    "WSManFault",
]


class WSManError(Exception):
    """Base of every aiowsman error.

    Attributes:
        message: what went wrong, without host or operation.
        host: the endpoint's host (``host:port``), or None if not yet known.
        operation: the WS-Man operation (``Get``, ``Enumerate``, ``Pull`` ...).
    """

    category: ClassVar[str] = "protocol"

    def __init__(
        self, message: str, *, host: str | None = None, operation: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.operation = operation

    def with_context(self, host: str | None, operation: str | None) -> WSManError:
        """Fill in host and operation where still unknown; returns ``self``."""
        if self.host is None:
            self.host = host
        if self.operation is None:
            self.operation = operation
        return self

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"[{self.host}]" if self.host else "",
                self.operation or "",
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (the Dask runner ships them between processes).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[WSManError], message: str, state: dict[str, Any]) -> WSManError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(WSManError, ValueError):
    """A bad argument, or a setting refused because it is unsafe."""

    category = "config"


class InsecureTransportError(ConfigurationError):
    """Credentials or SOAP would cross the network in clear text; opt in to allow."""


class TransportError(WSManError):
    """HTTP could not be exchanged with the host."""

    category = "connect"


class DNSError(TransportError):
    """The host name did not resolve."""

    category = "dns"


class ConnectError(TransportError):
    """Connection refused, reset, closed early or unreachable."""

    category = "connect"


class TLSError(TransportError):
    """TLS handshake or certificate verification failed."""

    category = "tls"


class HTTPStatusError(TransportError):
    """The server answered with an HTTP error status and no SOAP fault."""

    category = "protocol"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes = b"",
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.status = status
        self.body = body


class EnvelopeTooLargeError(HTTPStatusError):
    """HTTP 413: the request exceeded the server's MaxEnvelopeSize."""


class ServiceUnavailableError(HTTPStatusError):
    """HTTP 503; ``retry_after`` holds the server's Retry-After in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 503,
        body: bytes = b"",
        retry_after: float | None = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, host=host, operation=operation)
        self.retry_after = retry_after


class AuthenticationError(WSManError):
    """Authentication failed (HTTP 401 after the handshake, bad credentials...).

    ``scheme`` names the authentication scheme that was tried.
    """

    category = "auth"

    def __init__(
        self,
        message: str,
        *,
        scheme: str | None = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.scheme = scheme

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (auth scheme: {self.scheme})" if self.scheme else base


@dataclass
class FaultDetail:
    """Everything a SOAP fault from a WS-Man server can carry.

    Every field is optional: real servers omit most of them (see the corpus).
    """

    code: str | None = None  # SOAP Code/Value local name: "Sender" / "Receiver" / ...
    subcode: str | None = None  # Subcode/Value local name: "TimedOut", "InvalidSelectors" ...
    subcode_namespace: str | None = None
    reason: str | None = None
    detail_text: str | None = None  # FaultDetail URI (e.g. .../faultDetail/InvalidValue)
    wsman_code: int | None = None  # WSManFault/@Code (HRESULT or Win32 error)
    machine: str | None = None  # WSManFault/@Machine
    wsman_message: str | None = None  # WSManFault/Message text (flattened)
    provider: str | None = None  # ProviderFault/@provider
    provider_path: str | None = None  # ProviderFault/@path
    provider_message: str | None = None  # ProviderFault text or nested fault message
    #: The CIM_Error instance of the fault as a dict (DSP0227): Windows'
    #: MSFT_WmiError or __ExtendedStatus, OMI's OMI_Error, a provider's own.
    wmi_error: dict[str, Any] = field(default_factory=dict)
    cim_error_class: str | None = None  # its class: "MSFT_WmiError", "OMI_Error"...
    cim_status_code: int | None = None  # its CIMStatusCode (DSP0004 CIM_ERR_*: 6 = NOT_FOUND)
    message_id: str | None = None  # its MessageID ("OMI:MI_Result:6", "HRESULT 0x803381a6")
    action: str | None = None  # the fault's wsa:Action
    relates_to: str | None = None
    raw_xml: bytes = b""


class WSManFault(WSManError):
    """The server answered with a SOAP fault.

    The parsed fields are in ``fault`` (a :class:`FaultDetail`); the common
    ones are mirrored as attributes (``code``, ``subcode``, ``reason``,
    ``wsman_code``, ``machine``, ``raw_xml``).
    """

    category = "fault"

    def __init__(
        self,
        fault: FaultDetail,
        *,
        http_status: int | None = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.fault = fault
        self.http_status = http_status
        super().__init__(self._summarise(fault), host=host, operation=operation)

    @staticmethod
    def _summarise(f: FaultDetail) -> str:
        parts = [f"SOAP fault {f.code or '?'}"]
        if f.subcode:
            parts[0] += f"/{f.subcode}"
        if f.wsman_code is not None:
            parts.append(f"code {f.wsman_code} (0x{f.wsman_code & 0xFFFFFFFF:08X})")
        text = f.wsman_message or f.reason or f.provider_message
        if text:
            parts.append(" ".join(text.split()))
        return ": ".join(parts)

    code = property(lambda self: self.fault.code)
    subcode = property(lambda self: self.fault.subcode)
    reason = property(lambda self: self.fault.reason)
    wsman_code = property(lambda self: self.fault.wsman_code)
    machine = property(lambda self: self.fault.machine)
    raw_xml = property(lambda self: self.fault.raw_xml)


class OperationTimedOutFault(WSManFault):
    """``w:TimedOut``: the server gave up after OperationTimeout (DSP0226 6.1)."""


class InvalidEnumerationContextFault(WSManFault):
    """The enumeration context is invalid or has expired (DSP0226 8.5)."""


class QuotaExceededFault(WSManFault):
    """A per-user quota was exceeded (MaxConcurrentOperationsPerUser...); back off."""


class SubscriptionEndedError(WSManError):
    """The event source ended a subscription (``wse:SubscriptionEnd``), or it is
    gone and cannot be resumed (no bookmark to resume from).

    ``status`` and ``reason`` are the source's ``wse:Status`` / ``wse:Reason``
    when it sent them.
    """

    category = "fault"

    def __init__(
        self,
        message: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.status = status
        self.reason = reason


class ShellQuotaExceededFault(QuotaExceededFault):
    """The user has MaxShellsPerUser shells open (ERROR_WSMAN_QUOTA_MAX_SHELLS,
    2150859173); close one, or wait for idle ones to expire."""


class OperationQuotaExceededFault(QuotaExceededFault):
    """The user has MaxConcurrentOperationsPerUser operations in flight
    (ERROR_WSMAN_QUOTA_MAX_OPERATIONS, 2150859174); back off."""


class CommandQuotaExceededFault(QuotaExceededFault):
    """A shell holds MaxConcurrentCommandsPerShell commands
    (ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ, 2150859241; the PowerShell
    plug-in's default is 1000): commands not yet terminated count."""


class PSRemotingError(WSManError):
    """PowerShell remoting (MS-PSRP) reported a failure of its own: the
    request was answered, but the runspace pool or pipeline failed."""

    category = "fault"


class RunspacePoolStateError(PSRemotingError):
    """The runspace pool did not reach ``Opened`` (a JEA endpoint refusing
    the user, a configuration that does not exist), or broke or closed
    while in use. ``state`` is the pool's state; ``record`` the
    :class:`~aiowsman.protocol.clixml.ErrorRecord` the server gave, if any."""

    def __init__(
        self,
        message: str,
        *,
        state: str | None = None,
        record: Any = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.state = state
        self.record = record


class PipelineFailedError(PSRemotingError):
    """A pipeline ended ``Failed`` -- a terminating error (``throw``, an
    error with ``-ErrorAction Stop``, an unknown command given with
    ``add_command``) -- or was stopped by the server.

    Attributes:
        record: the :class:`~aiowsman.protocol.clixml.ErrorRecord` of the
            terminating error (message, category, script position).
        state: ``Failed`` or ``Stopped``.
        output: the objects the pipeline wrote before it failed.
        streams: its other streams (errors, warnings...), a
            :class:`~aiowsman.psrp.PSDataStreams`.
    """

    def __init__(
        self,
        message: str,
        *,
        record: Any = None,
        state: str = "Failed",
        output: list[Any] | None = None,
        streams: Any = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.record = record
        self.state = state
        self.output = output if output is not None else []
        self.streams = streams


class ShellNotFoundFault(WSManFault):
    """The service does not know the shell (or the command) a request names:
    it was deleted, reaped when idle (IdleTimeout) or at MaxShellRunTime, or
    never existed (WSManFault code 2150858843 on a shell operation)."""


class ProtocolError(WSManError):
    """The response is malformed or not what the protocol allows."""

    category = "protocol"


class UnsafeXMLError(ProtocolError):
    """The response contains a DOCTYPE or entity declarations; it was refused unparsed."""


class NotWSManEndpointError(ProtocolError):
    """The endpoint answered, but not in WS-Management: e.g. a web server's default page.

    Attributes:
        status: the HTTP status of the answer, if known.
        content_type: its Content-Type, if any.
        snippet: its first bytes, decoded, control characters replaced and
            bounded (never more than :data:`SNIPPET_LENGTH` characters).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        content_type: str | None = None,
        snippet: str = "",
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.status = status
        self.content_type = content_type
        self.snippet = snippet


#: The most characters of a body an error message quotes.
SNIPPET_LENGTH = 120


def body_snippet(body: bytes, limit: int = SNIPPET_LENGTH) -> str:
    """The start of a body, fit for one line of an error message.

    Decoded as UTF-8 (undecodable bytes replaced), every run of whitespace or
    control characters turned into one space, cut to ``limit`` characters.
    """
    text = body[: limit * 4].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text[: limit - 3] + "..." if len(text) > limit else text


class ResponseTooLargeError(ProtocolError):
    """The response body exceeded the size cap derived from MaxEnvelopeSize."""


class EnumerationTooLargeError(ProtocolError):
    """An enumeration returned more items than the caller's ``max_items`` bound.

    The enumeration context was released. ``max_items`` holds the bound.
    """

    def __init__(
        self,
        message: str,
        *,
        max_items: int,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.max_items = max_items


class EncryptionError(ProtocolError):
    """A multipart/encrypted message could not be framed, decrypted or verified."""


class TimeoutError(WSManError, builtins.TimeoutError):
    """The client's deadline (``session.timeout``) passed before the operation finished."""

    category = "timeout"


class CommandTimeoutError(TimeoutError):
    """A remote command was still running when its deadline passed.

    The command was stopped (a Terminate signal; a PowerShell pipeline
    first gets ``powershell/signal/crtl_c``) and its shell is left usable.
    What it wrote before the deadline is kept: ``stdout`` and ``stderr``
    (bytes) -- or, for a PowerShell remoting pipeline, ``output`` (its
    objects); ``command_id`` names it.
    """

    def __init__(
        self,
        message: str,
        *,
        stdout: bytes = b"",
        stderr: bytes = b"",
        command_id: str | None = None,
        host: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, host=host, operation=operation)
        self.stdout = stdout
        self.stderr = stderr
        self.command_id = command_id
        self.output: list[Any] = []
