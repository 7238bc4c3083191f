"""AsyncSession: the WinRM Scripting API's ``Session`` object, async.

One :class:`AsyncSession` talks to one endpoint. It offers the seven
operations of ``IWSManSession`` (Identify, Get, Put, Create, Delete, Invoke,
Enumerate) as coroutines that may run concurrently, and its properties
``batch_items``, ``timeout`` and ``error``.

Deadlines
    ``timeout`` (seconds) is an asyncio deadline over a whole operation:
    connecting, authenticating, sending and receiving. The WS-Man
    ``w:OperationTimeout`` header (DSP0226 6.1) is derived from it with a
    margin, so that a slow server gives up first and answers a ``w:TimedOut``
    fault we can report, instead of being cut off mid-answer::

        margin            = clamp(10% of timeout, 0.5 s, 5 s)
        OperationTimeout  = max(timeout - margin, timeout / 2)

    e.g. 60 s -> PT55S, 10 s -> PT9S, 2 s -> PT1.5S. When the client deadline
    passes, :class:`aiowsman.errors.TimeoutError` (a builtin ``TimeoutError``)
    names the host and the operation.

Retries
    Only the safe operations (Identify, Get, Enumerate: :data:`SAFE_OPERATIONS`)
    are sent again, at most ``retries`` times, after a connection failure or
    an HTTP 503, with full-jitter exponential backoff or the 503's
    Retry-After -- and only while the deadline leaves room for it. Put,
    Create, Delete, Invoke and Pull are never resent once the request may
    have reached the service: they would run twice, or (Pull) skip a batch.
    A quota fault (:class:`~aiowsman.errors.QuotaExceededFault`) is raised
    at once for the caller (or the fan-out runner) to back off.

Parsing off the loop
    Parsing is CPU work that blocks everything else on the event loop -- in a
    fan-out, every other host's deadline. A response body larger than
    :data:`PARSE_OFFLOAD_BYTES` is parsed (XML, fault, items) in a small
    process-wide thread pool (:data:`PARSE_POOL`; libxml2 releases the GIL
    while it parses), so the loop's work per response stays bounded: at
    most the parse of one such body, about 1 ms for ordinary WS-Man and
    3 ms for the costliest legal XML (tiny elements), measured. The wait for
    the pool counts against the operation's deadline.

Errors
    Every :class:`~aiowsman.errors.WSManError` leaving a session names the
    host (``host:port``) and the operation. A SOAP fault is also kept in
    :attr:`AsyncSession.error` (the WinRM Scripting API's ``Session.Error``), raw XML included;
    a later successful call clears it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import random
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import aiohttp

from aiowsman._deadline import Deadline
from aiowsman._endpoint import Endpoint, parse_endpoint
from aiowsman._log import log_exchange, logger
from aiowsman._threads import WorkerPool
from aiowsman.auth import Auth, resolve_auth
from aiowsman.auth.base import HttpResponse
from aiowsman.errors import (
    ConfigurationError,
    ConnectError,
    InsecureTransportError,
    ServiceUnavailableError,
    TimeoutError,
    WSManError,
    WSManFault,
)
from aiowsman.protocol import envelope as env
from aiowsman.protocol import response as resp
from aiowsman.protocol.envelope import (
    AssociationFilter,
    EnumerationMode,
    Polymorphism,
    Request,
    RequestOptions,
)
from aiowsman.protocol.items import Item
from aiowsman.protocol.locator import EndpointReference, ResourceLocator
from aiowsman.protocol.namespaces import (
    DIALECT_EVENT_QUERY,
    PSRP_DEFAULT_CONFIGURATION,
    URI_EVENTLOG,
)
from aiowsman.protocol.shell import ShellSpec
from aiowsman.shell import (
    DEFAULT_BUFFER,
    DEFAULT_CODEPAGE,
    DEFAULT_COMMAND_TIMEOUT,
    RECEIVE_TIMEOUT,
    SHELL_DEFAULT,
    CommandResult,
    PowerShellResult,
    Shell,
    Timeout,
)
from aiowsman.transport import (
    DEFAULT_MAX_CHANNELS,
    UNAUTHENTICATED_HINT,
    Transport,
    TransportSettings,
    response_size_cap,
)

if TYPE_CHECKING:
    from aiowsman.enumerator import Enumerator
    from aiowsman.protocol.eventing import Bookmark, SubscriptionManager
    from aiowsman.psrp import InvokeResult, PSHost, RunspacePool
    from aiowsman.subscription import Subscription

__all__ = [
    "DEFAULT_BATCH_ITEMS",
    "DEFAULT_RETRIES",
    "PARSE_OFFLOAD_BYTES",
    "PARSE_POOL",
    "SAFE_OPERATIONS",
    "AsyncSession",
    "Locator",
    "operation_timeout_for",
]

T = TypeVar("T")

#: Items per Pull (``w:MaxElements``). A WMI instance is typically 2-6 KB on
#: the wire (Win32_Service ~3 KB, Win32_Process ~5 KB), so 50 items stay well
#: under WinRM's default 500 KB MaxEnvelopeSize while cutting round trips
#: 50-fold compared with one item per Pull; bigger batches buy little once the
#: round trip is amortised, and cost memory per in-flight batch across
#: thousands of hosts. (The service may return fewer: DSP0226 8.4.)
DEFAULT_BATCH_ITEMS = 50

#: Anything that addresses a resource.
Locator = str | ResourceLocator | EndpointReference | Item

_MODES: Mapping[str, EnumerationMode] = {
    "objects": EnumerationMode.OBJECTS,
    "object": EnumerationMode.OBJECTS,
    "epr": EnumerationMode.EPR,
    "object_and_epr": EnumerationMode.OBJECT_AND_EPR,
}
_POLYMORPHISM: Mapping[str, Polymorphism] = {
    "deep": Polymorphism.DEEP,
    "shallow": Polymorphism.SHALLOW,
    "deep_base_props_only": Polymorphism.DEEP_BASE_PROPS_ONLY,
}


#: Operations that may be sent again after a failure that left their fate
#: unknown: they read and change nothing (DSP0226 7.3 Get, 8.2 Enumerate, 11
#: Identify; a repeated Enumerate merely opens a second context, which the
#: service expires). Put, Create, Delete and Invoke change state, and a Pull
#: advances the server's cursor (DSP0226 8.4): once such a request may have
#: reached the service, resending it could apply it twice or silently skip a
#: batch, so a failure is reported instead (a whole enumeration may be
#: restarted by the caller: the fan-out runner's ``idempotent=True``).
SAFE_OPERATIONS = frozenset({"Identify", "Get", "Enumerate"})
#: Extra attempts of a safe operation after a connection failure or an HTTP
#: 503 (``retries=`` of :class:`AsyncSession`).
DEFAULT_RETRIES = 2
#: Full-jitter backoff between attempts: uniform(0, min(cap, base * 2**n)) s.
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 2.0

#: Response bodies larger than this are parsed in :data:`PARSE_POOL`, off the
#: event loop. Ordinary WS-Man parses at 130-180 MB/s, the costliest legal XML
#: (a header of tiny elements) at ~40 MB/s. Handing a body to a thread is not
#: free: the items built there are then read on the loop's thread, and the two
#: threads contend for the GIL while the next batch arrives. Measured with the
#: suite's enumerate scenario (``python -m benchmarks run --scenarios
#: enumerate``): batches of ~130 KB cost 27 us of client CPU per item when
#: parsed in the pool and 19 us on the loop (raw aiohttp+lxml: 20-22). So
#: every body a server may send within WinRM's default MaxEnvelopeSize
#: (512,000 bytes) stays on the loop, stalling it ~3 ms (at worst ~13 ms);
#: only larger ones -- a raised MaxEnvelopeSize, UTF-16, or a hostile peer
#: padding up to the ~1.1 MB response cap (~30 ms of parsing) -- go to the pool.
PARSE_OFFLOAD_BYTES = 512 * 1024
#: The threads that parse large responses. Parsing is CPU-bound, so more
#: threads than cores buy nothing, and one core is left to the event loop
#: (TLS, HTTP, the loop's own share of every response): at most 4, at least 1.
PARSE_POOL = WorkerPool("aiowsman-parse", max(1, min(4, (os.cpu_count() or 2) - 1)))
#: Best-effort cleanups sent when an enumeration or subscription ends early:
#: they neither set nor clear ``session.error`` (the Scripting API's Session.Error is
#: about the caller's own calls).
_CLEANUP_OPERATIONS = frozenset({"Release", "Unsubscribe"})

#: MS-WSMV 3.1.4.16: where the unauthenticated Identify is served.
_ANONYMOUS_IDENTIFY_PATH = "/wsman-anon/identify"


def operation_timeout_for(timeout: float) -> float:
    """The ``w:OperationTimeout`` (seconds) sent for a client deadline of ``timeout``."""
    margin = min(max(timeout * 0.1, 0.5), 5.0)
    return max(timeout - margin, timeout / 2)


def _read_response(
    response: HttpResponse, request: Request, parse: Callable[[resp.Envelope], T]
) -> T:
    """Parse, correlate and read one response (CPU only: may run in PARSE_POOL)."""
    envelope = resp.parse_envelope(
        response.body, response.content_type, cim_namespace=request.cim_namespace
    )
    resp.check_response(envelope, request, response.status)
    return parse(envelope)


@functools.lru_cache(maxsize=64)
def _transport_settings(
    verify: bool | str,
    skip_cn_check: bool,
    skip_ca_check: bool,
    cert: str | tuple[str, str] | None,
    ssl_context: Any,
    proxy: str | None,
    allow_unencrypted: bool,
    encrypt: bool,
    max_response_size: int,
    max_channels: int,
) -> TransportSettings:
    # Immutable, and the same for every session of a fan-out: made once.
    return TransportSettings(
        verify=verify,
        skip_cn_check=skip_cn_check,
        skip_ca_check=skip_ca_check,
        cert=cert,
        ssl_context=ssl_context,
        proxy=proxy,
        allow_unencrypted=allow_unencrypted,
        encrypt=encrypt,
        max_response_size=max_response_size,
        max_channels=max_channels,
    )


def _coerce_locator(locator: Locator) -> ResourceLocator:
    if isinstance(locator, Item):
        if locator.epr is None:
            raise ConfigurationError(
                "this item has no endpoint reference; enumerate with mode='object_and_epr' "
                "or pass a ResourceLocator"
            )
        return locator.epr.to_locator()
    return ResourceLocator.coerce(locator)


class AsyncSession:
    """A WS-Management session with one endpoint.

    Args:
        endpoint: ``host``, ``host:port``, ``[v6]:port`` or
            ``http(s)://host[:port][/path]`` (default ports 5985/5986, path ``/wsman``).
        username: account for the authentication scheme.
        password: its password (never shown in reprs, logs or errors).
        auth: a scheme name (``"basic"``, ``"none"``, ``"ntlm"``,
            ``"negotiate"``, ``"kerberos"``, ``"credssp"``, ``"certificate"``)
            or an :class:`~aiowsman.auth.Auth`. Default: ``"negotiate"`` when
            a user name is given (as WinRM does), else ``"none"``.
        timeout: deadline of each operation, seconds (the WinRM Scripting API's ``Timeout``,
            in seconds rather than milliseconds).
        batch_items: items per Pull (the WinRM Scripting API's ``BatchItems``); default 50.
        allow_unencrypted: allow clear-text credentials or SOAP over plain
            HTTP (WinRM's ``AllowUnencrypted``).
        verify: True (system CAs), False, or a CA bundle path.
        skip_cn_check: do not match the certificate's host name.
        skip_ca_check: do not verify the certificate chain (nor the name).
        cert: client certificate file, or ``(certfile, keyfile)``.
        proxy: HTTP proxy URL.
        locale: ``w:Locale`` of requests (None omits it).
        data_locale: ``p:DataLocale`` (MS-WSMV 2.2.4.9), or None.
        max_envelope_size: ``w:MaxEnvelopeSize`` in bytes; also bounds the
            response size accepted (twice that plus 64 KiB).
        client_session: an ``aiohttp.ClientSession`` whose connection pool
            (its connector) is shared across sessions; not closed by this
            session. Requests go through aiowsman's own client over that
            pool: no cookies are kept or sent (its cookie jar included), a
            pooled connection is only reused by requests carrying the
            credentials it carried, its trace configs are kept and its
            default headers, auth and timeouts are not applied.
        connector: an aiohttp connector to share (not closed by this
            session), with the same rules. Without either, Basic, none and
            certificate sessions share their event loop's default pool
            (same rules; the session's idle connections are closed with it).
        max_channels: concurrent requests in flight on this session.
        use_tls: force HTTPS (True) or HTTP (False) for an endpoint without a scheme.
        encrypt: message encryption for connection-bound schemes (NTLM,
            Kerberos, CredSSP); default: on over HTTP, off over HTTPS.
        ssl_context: a ready ``ssl.SSLContext`` (overrides the TLS options).
        auth_options: scheme-specific settings passed to the scheme.
        retries: extra attempts of a *safe* operation (Identify, Get,
            Enumerate) after a connection failure or an HTTP 503, with
            jittered exponential backoff (a 503's Retry-After is honoured
            when it fits in the deadline); all within ``timeout``. Put,
            Create, Delete, Invoke and Pull are never resent.
        datetime_format: how datetime, date, time and timedelta values in a
            Put, Create or Invoke mapping are written: ``"cim"`` (the DSP0230
            ``cim:Datetime``/``cim:Interval`` wrapper Windows expects),
            ``"bare"`` (the value as text, as OMI expects), or ``"auto"``
            (default): the server's own -- bare for OMI, else cim -- learnt
            from its Identify answer. An ``"auto"`` session that has not
            identified the server yet sends one Identify (once, within its
            own deadline) before the first body that holds such a value.

    Raises:
        aiowsman.errors.ConfigurationError: bad endpoint or option, unknown or
            unavailable scheme.
        aiowsman.errors.InsecureTransportError: Basic (or unencrypted SOAP)
            over HTTP without ``allow_unencrypted``.
    """

    def __init__(
        self,
        endpoint: str | Endpoint,
        *,
        username: str | None = None,
        password: str | None = None,
        auth: str | Auth | None = None,
        timeout: float = 60.0,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        allow_unencrypted: bool = False,
        verify: bool | str = True,
        skip_cn_check: bool = False,
        skip_ca_check: bool = False,
        cert: str | tuple[str, str] | None = None,
        proxy: str | None = None,
        locale: str | None = "en-US",
        data_locale: str | None = None,
        max_envelope_size: int = 512000,
        client_session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        use_tls: bool | None = None,
        encrypt: bool | None = None,
        ssl_context: Any = None,
        auth_options: Mapping[str, Any] | None = None,
        retries: int = DEFAULT_RETRIES,
        datetime_format: Literal["auto", "cim", "bare"] = "auto",
    ) -> None:
        self._transport: Transport | None = None
        self._closed = False
        try:
            self._endpoint = (
                endpoint
                if isinstance(endpoint, Endpoint)
                else parse_endpoint(endpoint, use_tls=use_tls)
            )
        except WSManError as exc:
            raise exc.with_context(None, "CreateSession") from None
        self._host = self._endpoint.authority
        if (
            cert is not None
            and isinstance(auth, str)
            and auth.lower() == "certificate"
            and not (auth_options and "certfile" in auth_options)
        ):
            # The client certificate is the credential: hand it to the scheme,
            # which loads it into the TLS context (with TLS 1.3 post-handshake auth).
            certfile, keyfile = cert if isinstance(cert, tuple) else (cert, None)
            auth_options = {**(auth_options or {}), "certfile": certfile, "keyfile": keyfile}
            cert = None
        try:
            self._auth = resolve_auth(
                auth, username=username, password=password, options=auth_options
            )
        except WSManError as exc:
            raise exc.with_context(self._host, "CreateSession") from None
        if max_envelope_size < 8192:
            raise ConfigurationError(
                "max_envelope_size below 8192 bytes cannot hold a SOAP envelope",
                host=self._host,
                operation="CreateSession",
            )
        if encrypt is None:
            encrypt = self._auth.connection_bound and not self._endpoint.is_tls
        if (
            not encrypt
            and not self._endpoint.is_tls
            and self._auth.connection_bound
            and not allow_unencrypted
        ):
            raise InsecureTransportError(
                f"{self._auth.scheme} without message encryption over plain HTTP sends SOAP "
                "in clear text; use https://, encryption, or allow_unencrypted=True",
                host=self._host,
                operation="CreateSession",
            )
        settings_args = (
            verify,
            skip_cn_check,
            skip_ca_check,
            cert,
            ssl_context,
            proxy,
            allow_unencrypted,
            encrypt,
            response_size_cap(max_envelope_size),
            max_channels,
        )
        try:
            settings = _transport_settings(*settings_args)
        except TypeError:  # an unhashable value (a list as cert, say): made afresh
            settings = _transport_settings.__wrapped__(*settings_args)
        try:
            self._transport = Transport(
                self._endpoint,
                auth=self._auth,
                settings=settings,
                client_session=client_session,
                connector=connector,
            )
        except WSManError as exc:
            raise exc.with_context(self._host, "CreateSession") from None
        self._max_envelope_size = max_envelope_size
        self._locale = locale
        self._data_locale = data_locale
        self.timeout = timeout
        self.batch_items = batch_items
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(
                f"retries must be a non-negative integer, not {retries!r}",
                host=self._host,
                operation="CreateSession",
            )
        self.retries = retries
        if datetime_format not in ("auto", *env.DATETIME_FORMATS):
            raise ConfigurationError(
                f"datetime_format must be 'auto', 'cim' or 'bare', not {datetime_format!r}",
                host=self._host,
                operation="CreateSession",
            )
        self._datetime_format = datetime_format

    # State that starts empty, read from these class-level defaults until a
    # session first sets it: a session made per host (a fan-out's thousands)
    # stores none of it, which saves its constructor a dozen stores and its
    # instance dictionary as many entries.
    #: Whether the server is OMI, as its Identify answer said (explicit
    #: identify(), or the one an "auto" datetime_format sends); None until
    #: known. Only this is kept, not the answer: one object less per session.
    _server_is_omi: bool | None = None
    _identify_lock: asyncio.Lock | None = None
    _identify_faulted = False
    _error: WSManFault | None = None
    # Made on first use (see _enumerators): a WeakSet is six objects for the
    # garbage collector, and most sessions never enumerate.
    _open_enumerators: weakref.WeakSet[Enumerator] | None = None
    _orphan_release: asyncio.Task[None] | None = None
    _open_subscriptions: weakref.WeakSet[Subscription] | None = None
    #: The timer of this session's operation deadlines (made on first use).
    _timer: Deadline | None = None
    #: invoke_command's runspace pools, by configuration (closed by aclose());
    #: made on first use, as most sessions never invoke one.
    _pools: dict[str, RunspacePool] | None = None
    _pools_lock: asyncio.Lock | None = None
    #: (locator, context) of enumerators collected while open; released
    #: soon after from the loop (_release_orphans_soon), else by aclose().
    _orphaned_contexts: list[tuple[ResourceLocator, str]] | None = None
    #: (resource URI, manager) of subscriptions collected while open.
    _orphaned_subscriptions: list[tuple[str, SubscriptionManager]] | None = None
    #: Shells created and not yet deleted (deleted by aclose()).
    _shells: set[Shell] | None = None
    #: (options, OperationTimeout, the options with it): the last made by
    #: _options_with_timeout (a shell's Receives all ask for the same one).
    _timed_options: tuple[RequestOptions, float, RequestOptions] | None = None

    # -- properties -----------------------------------------------------------

    @property
    def _enumerators(self) -> weakref.WeakSet[Enumerator]:
        """The enumerations with an open context (released by :meth:`aclose`)."""
        enumerators = self._open_enumerators
        if enumerators is None:
            enumerators = self._open_enumerators = weakref.WeakSet()
        return enumerators

    @property
    def _subscriptions(self) -> weakref.WeakSet[Subscription]:
        """The event subscriptions still subscribed (unsubscribed by :meth:`aclose`)."""
        subscriptions = self._open_subscriptions
        if subscriptions is None:
            subscriptions = self._open_subscriptions = weakref.WeakSet()
        return subscriptions

    @property
    def endpoint(self) -> Endpoint:
        """The parsed endpoint."""
        return self._endpoint

    @property
    def host(self) -> str:
        """``host:port``, as errors name it."""
        return self._host

    @property
    def auth(self) -> Auth:
        """The authentication scheme in use."""
        return self._auth

    @property
    def timeout(self) -> float:
        """Deadline of each operation in seconds (read/write)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        value = float(value)
        if not value > 0:
            raise ConfigurationError(f"timeout must be positive, not {value!r}", host=self._host)
        self._timeout = value
        self._options = self._options_for(value)

    @property
    def batch_items(self) -> int:
        """Items requested per Pull (``w:MaxElements``), read/write."""
        return self._batch_items

    @batch_items.setter
    def batch_items(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(
                f"batch_items must be a positive integer, not {value!r}", host=self._host
            )
        self._batch_items = value

    @property
    def error(self) -> WSManFault | None:
        """The fault of the last failed call (raw XML in ``error.raw_xml``), or None."""
        return self._error

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def options(self) -> RequestOptions:
        """The header values sent with each request (``w:OperationTimeout`` etc.)."""
        return self._options

    def _options_with_timeout(self, operation_timeout: float) -> RequestOptions:
        """The session's options with ``w:OperationTimeout`` set to ``operation_timeout``.

        The last one made is kept, and with it its rendered headers: every
        Receive of every shell of the session asks for the same, mostly.
        """
        opts = self._options
        last = self._timed_options
        if last is not None and last[0] is opts and last[1] == operation_timeout:
            return last[2]
        timed = dataclasses.replace(opts, operation_timeout=operation_timeout)
        self._timed_options = (opts, operation_timeout, timed)
        return timed

    def _options_for(self, timeout: float) -> RequestOptions:
        return RequestOptions(
            to=self._endpoint.url,
            max_envelope_size=self._max_envelope_size,
            operation_timeout=round(operation_timeout_for(timeout), 3),
            locale=self._locale,
            data_locale=self._data_locale,
        )

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<AsyncSession {self._endpoint.url} auth={self._auth.scheme}{state}>"

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> AsyncSession:
        return self

    async def aclose(self, *_exc_info: object) -> None:
        """Delete open shells and release open enumerations (best effort), then
        close connections.

        A caller-supplied ``client_session`` or ``connector`` stays open.
        Also the ``async with`` exit (``__aexit__``, which ignores the
        exception it is given and never suppresses it): one coroutine, where
        a separate ``__aexit__`` awaiting this would be two per session.
        """
        if self._closed:
            return
        if self._pools:
            pools, self._pools = list(self._pools.values()), {}
            await asyncio.gather(*(p.aclose() for p in pools), return_exceptions=True)
        if self._shells:
            shells = list(self._shells)
            await asyncio.gather(*(s.aclose() for s in shells), return_exceptions=True)
        if self._open_enumerators or self._open_subscriptions:
            closers = [e.aclose() for e in list(self._open_enumerators or ())]
            closers += [s.aclose() for s in list(self._open_subscriptions or ())]
            await asyncio.gather(*closers, return_exceptions=True)
        if self._orphaned_contexts or self._orphaned_subscriptions:
            orphans, self._orphaned_contexts = self._orphaned_contexts or [], None
            abandoned, self._orphaned_subscriptions = self._orphaned_subscriptions or [], None
            await asyncio.gather(
                *(self._release_context(loc, ctx) for loc, ctx in orphans),
                *(self._unsubscribe(uri, manager) for uri, manager in abandoned),
                return_exceptions=True,
            )
        if self._orphan_release is not None:
            await asyncio.gather(self._orphan_release, return_exceptions=True)
        self._closed = True
        if self._timer is not None:
            self._timer.close()
        if self._transport is not None:
            # The transport's synchronous part inline (Transport.shut): on a
            # shared pool nothing is left to await.
            for client in self._transport.shut():
                await client.close()

    __aexit__ = aclose
    close = aclose

    def _release_orphans_soon(self) -> None:
        """Schedule the Release of orphaned contexts (called by an enumerator's finaliser).

        An enumerator dropped while open -- ``break`` out of a plain ``async
        for`` -- still holds a context on the server (DSP0226 8.6), which
        would otherwise live until ``aclose()`` or the server's expiry. A
        finaliser may run anywhere, so it only schedules; from another thread
        (no running loop there) the contexts wait for ``aclose()``.
        """
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon(self._start_orphan_release)

    def _orphan_context(self, locator: ResourceLocator, context: str) -> None:
        """Note an enumeration context whose enumerator was dropped open (released soon)."""
        # Through a local: a finaliser may run on another thread while the
        # loop swaps the list out (_release_orphans), and must not then
        # append to None.
        orphans = self._orphaned_contexts
        if orphans is None:
            orphans = self._orphaned_contexts = []
        orphans.append((locator, context))
        self._release_orphans_soon()

    def _orphan_subscription(self, resource_uri: str, manager: SubscriptionManager) -> None:
        """Note a subscription dropped while subscribed (unsubscribed soon)."""
        abandoned = self._orphaned_subscriptions  # a local, as in _orphan_context
        if abandoned is None:
            abandoned = self._orphaned_subscriptions = []
        abandoned.append((resource_uri, manager))
        self._release_orphans_soon()

    def _shell_opened(self, shell: Shell) -> None:
        """Note a shell created on the server (deleted by :meth:`aclose` if still open)."""
        shells = self._shells
        if shells is None:
            shells = self._shells = set()
        shells.add(shell)

    def _shell_closed(self, shell: Shell) -> None:
        """Forget a shell deleted (or being deleted) by its own ``aclose``."""
        if self._shells is not None:
            self._shells.discard(shell)

    def _start_orphan_release(self) -> None:
        if self._closed or self._orphan_release is not None:
            return
        if not self._orphaned_contexts and not self._orphaned_subscriptions:
            return
        self._orphan_release = asyncio.get_running_loop().create_task(self._release_orphans())

    async def _release_orphans(self) -> None:
        try:
            while (self._orphaned_contexts or self._orphaned_subscriptions) and not self._closed:
                orphans, self._orphaned_contexts = self._orphaned_contexts or [], None
                abandoned, self._orphaned_subscriptions = self._orphaned_subscriptions or [], None
                await asyncio.gather(
                    *(self._release_context(loc, ctx) for loc, ctx in orphans),
                    *(self._unsubscribe(uri, manager) for uri, manager in abandoned),
                    return_exceptions=True,
                )
        finally:
            self._orphan_release = None

    async def _release_context(self, locator: ResourceLocator, context: str) -> None:
        """Release an enumeration context (DSP0226 8.6); best effort, never raises."""
        from aiowsman.enumerator import RELEASE_TIMEOUT

        request = env.release_request(self._options, locator, context)
        try:
            await self._call(
                request,
                resp.parse_delete,
                resource=locator.resource_uri,
                deadline=min(self._timeout, RELEASE_TIMEOUT),
            )
        except WSManError as exc:
            logger.debug("[%s] Release failed (ignored): %s", self._host, exc)

    async def _unsubscribe(self, resource_uri: str, manager: SubscriptionManager) -> None:
        """Unsubscribe an event subscription (DSP0226 10.4); best effort, never raises."""
        from aiowsman.protocol import eventing
        from aiowsman.subscription import UNSUBSCRIBE_TIMEOUT

        if self._closed:
            return
        request = eventing.unsubscribe_request(self._options, manager, resource_uri)
        try:
            await self._call(
                request,
                eventing.parse_unsubscribe,
                resource=resource_uri,
                deadline=min(self._timeout, UNSUBSCRIBE_TIMEOUT),
            )
        except WSManError as exc:
            logger.debug("[%s] Unsubscribe failed (ignored): %s", self._host, exc)

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_closed", True):  # closed (the usual case), or never made
            return
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.opened:
            _warn(
                f"unclosed {self!r}; use 'async with' or await session.aclose()",
                ResourceWarning,
                source=self,
            )

    # -- the exchange ---------------------------------------------------------

    async def _call(
        self,
        request: Request,
        parse: Callable[[resp.Envelope], T],
        *,
        resource: str | None = None,
        deadline: float | None = None,
        anonymous: bool = False,
    ) -> T:
        """Send ``request`` within the deadline and parse the answer.

        Raises:
            aiowsman.errors.WSManError: any failure, with host and operation.
        """
        operation = request.operation
        transport = self._transport
        if self._closed or transport is None:
            raise ConfigurationError("the session is closed", host=self._host, operation=operation)
        if deadline is None:
            deadline = self._timeout
        debug = logger.isEnabledFor(logging.DEBUG)  # once: log_exchange is only called if so
        started = time.perf_counter() if debug else 0.0
        status: int | str = "-"
        size = 0
        expired = False
        # One deadline over the whole operation (see aiowsman._deadline: the
        # session's timer serves its successive operations; one running
        # concurrently with another of this session gets its own).
        loop = asyncio.get_running_loop()
        timer = self._timer
        if timer is None or timer.loop is not loop:
            timer = self._timer = Deadline(loop)
        elif timer.task is not None:  # busy: another operation of this session
            timer = Deadline(loop)
        task: Any = asyncio.current_task(loop)
        when = timer.start(task, deadline)
        try:
            attempt = 0
            while True:
                try:
                    if anonymous:
                        response = await transport.exchange_anonymous(
                            request.body,
                            operation=operation,
                            path=_ANONYMOUS_IDENTIFY_PATH,
                            headers={"WSMANIDENTIFY": "unauthenticated"},
                        )
                    else:
                        response = await transport.exchange(request.body, operation=operation)
                except (ConnectError, ServiceUnavailableError) as exc:
                    delay = self._retry_delay(exc, operation, attempt, when)
                    if delay is None:
                        raise
                    attempt += 1
                    logger.debug(
                        "[%s] %s failed (%s); attempt %d in %.2fs",
                        self._host,
                        operation,
                        exc.message,
                        attempt + 1,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                break
            status = response.status
            size = len(response.body)
            if size > PARSE_OFFLOAD_BYTES:
                result = await PARSE_POOL.run(
                    functools.partial(_read_response, response, request, parse)
                )
            else:
                result = _read_response(response, request, parse)
        except asyncio.CancelledError as cancelled:
            if not timer.stop(cancelled):
                raise
            if debug:
                self._log(request, resource, "timeout", size, started)
            expired = True
        except WSManFault as fault:
            fault.with_context(self._host, operation)
            if operation not in _CLEANUP_OPERATIONS:
                # session.error is about the caller's calls (the WinRM
                # Scripting API's Session.Error): the best-effort Release or
                # Unsubscribe sent when an enumeration or subscription ends
                # neither sets nor clears it.
                self._error = fault
            if debug:
                self._log(request, resource, f"{status} fault", size, started)
            raise
        except WSManError as exc:
            if debug:
                self._log(request, resource, f"error:{exc.category}", size, started)
            if exc.__suppress_context__:
                # Raised "from None": the context is never shown, and it may
                # not pickle (lxml's XMLSyntaxError holds its error log), which
                # would stop the error crossing processes (the Dask runner
                # pickles errors, with tblib's traceback support).
                exc.__context__ = None
            raise exc.with_context(self._host, operation) from exc.__cause__
        finally:
            timer.stop(None)
            if timer is not self._timer:
                timer.close()
        if expired:
            # Raised outside the handler: the CancelledError of the deadline
            # says nothing more, and whatever the cancelled HTTP exchange was
            # holding must not ride along.
            message = f"no answer within the {deadline:g}s deadline"
            if anonymous or not self._auth.sends_credentials:
                message += UNAUTHENTICATED_HINT
            raise TimeoutError(message, host=self._host, operation=operation)
        if operation not in _CLEANUP_OPERATIONS:
            self._error = None
        if debug:
            self._log(request, resource, status, size, started)
        return result

    def _log(
        self, request: Request, resource: str | None, outcome: int | str, size: int, started: float
    ) -> None:
        log_exchange(
            self._host,
            request.operation,
            request.action,
            resource,
            outcome,
            size,
            time.perf_counter() - started,
        )

    def _retry_delay(
        self, exc: WSManError, operation: str, attempt: int, deadline_at: float | None
    ) -> float | None:
        """Seconds to wait before resending ``operation``, or None to give up now.

        Only :data:`SAFE_OPERATIONS` are resent, at most ``retries`` times, and
        only when the next attempt can start before the deadline: a wait that
        would outlast it reports the failure at once instead.
        """
        if operation not in SAFE_OPERATIONS or attempt >= self.retries or self._closed:
            return None
        retry_after = exc.retry_after if isinstance(exc, ServiceUnavailableError) else None
        if retry_after is not None:
            # RFC 9110 10.2.3: not before Retry-After; a little jitter spreads
            # the clients the service turned away at the same moment.
            delay = retry_after + random.uniform(0.0, min(0.5, 0.05 + retry_after / 10))
        else:
            # Full jitter ("Exponential Backoff And Jitter", AWS architecture blog).
            delay = random.uniform(0.0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
        if deadline_at is not None and asyncio.get_running_loop().time() + delay >= deadline_at:
            return None
        return delay

    # -- operations -----------------------------------------------------------

    async def identify(self, *, unauthenticated: bool = False) -> resp.IdentifyResponse:
        """Ask the service what it is (DSP0226 11: ``wsmid:Identify``).

        Args:
            unauthenticated: send it without credentials to
                ``/wsman-anon/identify`` with ``WSMANIDENTIFY: unauthenticated``
                (MS-WSMV 3.1.4.16), as ``Test-WSMan`` does by default. The
                answer then omits the OS version and security profiles.

        Returns:
            Protocol version, product vendor and version, security profiles.

        Raises:
            aiowsman.errors.WSManError: any failure (named host, ``Identify``).
        """
        return await self._call(
            env.identify_request(), self._parse_identify, anonymous=unauthenticated
        )

    def _parse_identify(self, envelope: resp.Envelope) -> resp.IdentifyResponse:
        # What datetime_format "auto" needs is remembered as soon as the
        # answer is read: the server said what it is, whatever happens next.
        identity = resp.parse_identify(envelope)
        if self._datetime_format == "auto":
            self._server_is_omi = identity.is_omi
        return identity

    @property
    def datetime_format(self) -> str:
        """The ``datetime_format`` policy (``"auto"``, ``"cim"`` or ``"bare"``)."""
        return self._datetime_format

    async def _body_options(self, body: Any) -> RequestOptions:
        """The request options for a Put/Create/Invoke body: its datetime format resolved.

        Raises:
            aiowsman.errors.WSManError: the Identify that "auto" needed failed
                (a fault instead means "not OMI": the cim form is used).
        """
        fmt = self._datetime_format
        if fmt == "auto":
            if not env.holds_temporal(body):
                return self._options
            is_omi = self._server_is_omi
            if is_omi is None:
                is_omi = await self._identify_once()
            fmt = "bare" if is_omi else "cim"
        if fmt == self._options.datetime_format:
            return self._options
        return dataclasses.replace(self._options, datetime_format=fmt)

    async def _identify_once(self) -> bool:
        """Whether the server is OMI: Identify it once for all concurrent callers
        (False if it faults)."""
        if self._identify_lock is None:
            self._identify_lock = asyncio.Lock()
        async with self._identify_lock:
            if self._server_is_omi is None and not self._identify_faulted:
                try:
                    await self.identify()
                except WSManFault:
                    # No Identify (some services): the DSP0230 form, and no retry.
                    self._identify_faulted = True
            return bool(self._server_is_omi)

    async def get(self, locator: Locator, **selectors: str | EndpointReference) -> Item:
        """Read a resource (WS-Transfer Get, DSP0226 7.3).

        Args:
            locator: URI or alias (``"wmicimv2/Win32_Service"``), ResourceLocator,
                EndpointReference, or an Item carrying an EPR.
            **selectors: selectors added to (a copy of) the locator.

        Returns:
            The instance.

        Raises:
            aiowsman.errors.WSManFault: the service refused (kept in ``error``).
            aiowsman.errors.WSManError: any other failure.
        """
        loc = self._locator(locator, selectors)
        request = env.get_request(self._options, loc)
        return await self._call(request, resp.parse_get, resource=loc.resource_uri)

    async def put(self, locator: Locator, resource: Any) -> Item | None:
        """Update a resource (WS-Transfer Put, DSP0226 7.4).

        Args:
            locator: the resource.
            resource: a mapping of property names to values, an Item, or XML.

        Returns:
            The updated instance if the service returned it, else None.
        """
        loc = self._locator(locator)
        request = env.put_request(await self._body_options(resource), loc, resource)
        return await self._call(request, resp.parse_put, resource=loc.resource_uri)

    async def create(self, locator: Locator, resource: Any) -> EndpointReference:
        """Create a resource (WS-Transfer Create, DSP0226 7.5).

        Returns:
            The new resource's endpoint reference (``x:ResourceCreated``).
        """
        loc = self._locator(locator)
        request = env.create_request(await self._body_options(resource), loc, resource)
        result = await self._call(request, resp.parse_create, resource=loc.resource_uri)
        return result.reference

    async def delete(self, locator: Locator, **selectors: str | EndpointReference) -> None:
        """Delete a resource (WS-Transfer Delete, DSP0226 7.6)."""
        loc = self._locator(locator, selectors)
        request = env.delete_request(self._options, loc)
        await self._call(request, resp.parse_delete, resource=loc.resource_uri)

    async def invoke(self, method: str, locator: Locator, parameters: Any = None) -> Item:
        """Invoke a method (custom action, DSP0226 9 / DSP0227 8.3).

        Args:
            method: method name (``"StopService"``) or full action URI.
            locator: the instance (or class, for static methods).
            parameters: a mapping of input parameters, an Item, XML, or None.

        Returns:
            The ``{Method}_OUTPUT`` instance (``ReturnValue`` and out parameters).
        """
        loc = self._locator(locator)
        options = await self._body_options(parameters)
        request = env.invoke_request(options, loc, method, parameters)
        return await self._call(request, resp.parse_invoke, resource=loc.resource_uri)

    def enumerate(
        self,
        locator: Locator,
        *,
        filter: str | Mapping[str, Any] | None = None,
        dialect: str | None = None,
        mode: Literal["objects", "epr", "object_and_epr"] | EnumerationMode = "objects",
        polymorphism: str | Polymorphism | None = None,
        association: AssociationFilter | None = None,
        batch_items: int | None = None,
        optimize: bool = True,
        max_items: int | None = None,
        deadline: float | None = None,
    ) -> Enumerator:
        """Enumerate instances (WS-Enumeration, DSP0226 8).

        Nothing is sent until the enumerator is used: ``async for``, ``await``,
        ``async with``, ``read_item()`` or ``to_list()``.

        Args:
            locator: the class (or ``"*"`` with a WQL filter).
            filter: WQL/CQL text, or a mapping for the selector dialect.
            dialect: ``"WQL"``, ``"CQL"``, ``"selector"``, ``"association"``,
                ``"xpath"`` or a dialect URI.
            mode: ``"objects"``, ``"epr"`` (EnumerationFlagReturnEPR) or
                ``"object_and_epr"`` (items carry ``.epr``).
            polymorphism: ``"deep"``, ``"shallow"``, ``"deep_base_props_only"``.
            association: a CIM association filter.
            batch_items: items per Pull (default: ``session.batch_items``).
            optimize: receive the first batch in the EnumerateResponse.
            max_items: the most items this enumeration may yield; one more
                stops it with :class:`~aiowsman.errors.EnumerationTooLargeError`
                (the context released). None (default): no bound -- memory
                stays one or two batches when iterated; ``to_list()`` has
                its own bound.
            deadline: seconds the whole enumeration may take, from the
                Enumerate to its end; then :class:`aiowsman.errors.TimeoutError`
                (the context released). None (default): only each request's
                ``timeout``.

        Returns:
            An :class:`~aiowsman.enumerator.Enumerator`.

        Raises:
            aiowsman.errors.ConfigurationError: bad mode/polymorphism/batch/bound.
        """
        from aiowsman.enumerator import Enumerator, _check_bound

        for name, bound in (("max_items", max_items), ("deadline", deadline)):
            if bound is not None:
                _check_bound(name, bound, self._host)
        if isinstance(mode, str):
            try:
                mode = _MODES[mode.lower()]
            except KeyError:
                raise ConfigurationError(
                    f"mode must be 'objects', 'epr' or 'object_and_epr', not {mode!r}",
                    host=self._host,
                    operation="Enumerate",
                ) from None
        if isinstance(polymorphism, str):
            try:
                polymorphism = _POLYMORPHISM[polymorphism.lower()]
            except KeyError:
                raise ConfigurationError(
                    "polymorphism must be 'deep', 'shallow' or 'deep_base_props_only'",
                    host=self._host,
                    operation="Enumerate",
                ) from None
        batch = self._batch_items if batch_items is None else batch_items
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigurationError(
                f"batch_items must be a positive integer, not {batch!r}",
                host=self._host,
                operation="Enumerate",
            )
        return Enumerator(
            self,
            self._locator(locator),
            filter=filter,
            dialect=dialect,
            mode=mode,
            polymorphism=polymorphism,
            association=association,
            batch_items=batch,
            optimize=optimize,
            max_items=max_items,
            deadline=deadline,
        )

    def subscribe(
        self,
        resource_uri: Locator = URI_EVENTLOG,
        *,
        query: str,
        channel: str | None = None,
        dialect: str | None = None,
        read_existing: bool = False,
        heartbeat: float | None = None,
        bookmark: str | Bookmark | None = None,
        batch_items: int | None = None,
        expires: float | None = None,
        content_format: str | None = None,
        max_time: float | None = None,
        send_bookmarks: bool = True,
        subscription_name: str | None = None,
        ignore_channel_error: bool = False,
        connection_retry: tuple[int, float] | None = None,
        resubscribe: bool = True,
        host: str | None = None,
    ) -> Subscription:
        """Subscribe to events in pull mode (WS-Eventing; DSP0226 10.2, MS-WSMV 3.1.4.1.30).

        Nothing is sent until the subscription is used: ``async with``,
        ``async for`` or ``await``. See :mod:`aiowsman.subscription` for how
        it waits, renews, resumes and unsubscribes.

        Args:
            resource_uri: the event source (default: Windows' event log,
                ``http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog``).
            query: a ``<QueryList>`` document (the eventquery dialect,
                MS-WSMV 2.2.4.24), or an event XPath such as
                ``*[System[(Level<=3)]]`` together with ``channel``.
            channel: the log an XPath ``query`` selects from (``System``...).
            dialect: the filter dialect URI (default: the eventquery dialect).
            read_existing: also deliver the events already in the log
                (``ReadExistingEvents``); ignored when ``bookmark`` is given.
            heartbeat: seconds between heartbeats the source sends when it
                has no events (``wsman:Heartbeats``), or None.
            bookmark: resume right after this bookmark (a saved
                ``str(sub.bookmark)`` or a :class:`Bookmark`).
            batch_items: events per Pull at most (default: ``batch_items``).
            expires: requested lifetime in seconds, renewed before it ends;
                None (default): a subscription that does not expire.
            content_format: ``"Raw"`` (the default on Windows) or
                ``"RenderedText"`` (events carry their message text).
            max_time: seconds a Pull may wait for events (``wsen:MaxTime``,
                default 20); its client deadline is that plus 5 s.
            send_bookmarks: ask for a bookmark with each batch (default; needed
                to resume).
            subscription_name: the ``SubscriptionName`` option.
            ignore_channel_error: ``IgnoreChannelError``: a channel of the
                query that cannot be read is skipped instead of failing.
            connection_retry: ``(count, interval seconds)`` for
                ``wsman:ConnectionRetry`` (both zero or both positive).
            resubscribe: subscribe again from the bookmark when the source
                forgets the subscription or will not renew it (default).
            host: the name events are tagged with (default: ``session.host``).

        Returns:
            A :class:`~aiowsman.subscription.Subscription`.

        Raises:
            aiowsman.errors.ConfigurationError: bad arguments (at once).
        """
        from aiowsman.protocol.eventing import Bookmark as _Bookmark
        from aiowsman.subscription import (
            DEFAULT_MAX_TIME,
            Subscription,
            content_format_name,
            query_list,
        )

        def bad(message: str) -> ConfigurationError:
            return ConfigurationError(message, host=self._host, operation="Subscribe")

        batch = self._batch_items if batch_items is None else batch_items
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise bad(f"batch_items must be a positive integer, not {batch!r}")
        wait = DEFAULT_MAX_TIME if max_time is None else float(max_time)
        if not wait > 0:
            raise bad(f"max_time must be positive, not {max_time!r}")
        for name, value in (("heartbeat", heartbeat), ("expires", expires)):
            if value is not None and not float(value) > 0:
                raise bad(f"{name} must be positive, not {value!r}")
        try:
            text = query_list(query, channel)
            mark = _Bookmark(bookmark) if isinstance(bookmark, str) else bookmark
            fmt = content_format_name(content_format)
        except ConfigurationError as exc:
            raise exc.with_context(self._host, "Subscribe") from None
        return Subscription(
            self,
            self._locator(resource_uri),
            query=text,
            dialect=dialect or DIALECT_EVENT_QUERY,
            read_existing=read_existing,
            heartbeat=None if heartbeat is None else float(heartbeat),
            bookmark=mark,
            batch_items=batch,
            expires=None if expires is None else float(expires),
            content_format=fmt,
            max_time=wait,
            send_bookmarks=send_bookmarks,
            subscription_name=subscription_name,
            ignore_channel_error=ignore_channel_error,
            connection_retry=connection_retry,
            resubscribe=resubscribe,
            host=host or self._host,
        )

    # -- remote commands (WinRS; see aiowsman.shell) -------------------------------

    def shell(
        self,
        *,
        codepage: int | None = DEFAULT_CODEPAGE,
        working_directory: str | None = None,
        environment: Mapping[str, str] | None = None,
        idle_timeout: float | None = None,
        noprofile: bool | None = None,
        lifetime: float | None = None,
        name: str | None = None,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        receive_timeout: float = RECEIVE_TIMEOUT,
        keepalive: float | None = None,
        buffer: int = DEFAULT_BUFFER,
    ) -> Shell:
        """A remote ``cmd.exe`` shell (WinRS, MS-WSMV 3.1.4.5.2): ``async with``
        creates it and deletes it on the way out.

        Args:
            codepage: the console code page of its programs (``WINRS_CODEPAGE``;
                65001 is UTF-8; 437, 850, 932... where 65001 misbehaves); the
                ``*_text`` of results decode with it. None: the host's default.
            working_directory: the programs' working directory.
            environment: more environment variables.
            idle_timeout: seconds without a request after which the service
                deletes the shell (capped by its own IdleTimeout).
            noprofile: do not load the user profile (``WINRS_NOPROFILE``).
            lifetime: ``rsp:Lifetime`` in seconds.
            name: ``rsp:Name``, shown by ``winrm enumerate windows/shell``.
            command_timeout: default deadline of each command (seconds; None:
                none), separate from the session's per-request ``timeout``.
            receive_timeout: ``w:OperationTimeout`` of each Receive.
            keepalive: while idle, keep the shell alive with a Receive this
                often (seconds); None: never.
            buffer: unread output a running command may hold (bytes).

        Returns:
            A :class:`~aiowsman.shell.Shell` (not yet created).

        Raises:
            aiowsman.errors.ConfigurationError: a code page Python cannot
                decode, or a non-positive timeout.
        """
        spec = ShellSpec(
            environment=tuple((str(k), str(v)) for k, v in (environment or {}).items()),
            working_directory=working_directory,
            idle_timeout=idle_timeout,
            lifetime=lifetime,
            name=name,
            codepage=codepage,
            noprofile=noprofile,
        )
        return Shell(
            self,
            spec,
            command_timeout=command_timeout,
            receive_timeout=receive_timeout,
            keepalive=keepalive,
            buffer=buffer,
        )

    async def run_cmd(
        self,
        command: str,
        *args: str,
        stdin: bytes | str | None = None,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the command's deadline
        codepage: int | None = DEFAULT_CODEPAGE,
        **shell_options: Any,
    ) -> CommandResult:
        """Run one command in a shell of its own (created, then deleted).

        Args:
            command: the program or a whole command line (``"ipconfig /all"``).
            *args: arguments, quoted for Windows where needed.
            stdin: input for the command.
            timeout: the command's deadline in seconds (default: the shell's
                ``command_timeout``, 3600; None: no deadline).
            codepage: the shell's code page.
            **shell_options: more :meth:`shell` arguments.

        Returns:
            A :class:`~aiowsman.shell.CommandResult`.
        """
        async with self.shell(codepage=codepage, **shell_options) as sh:
            return await sh.run(command, *args, stdin=stdin, timeout=timeout)

    async def run_ps(
        self,
        script: str,
        *,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the command's deadline
        **shell_options: Any,
    ) -> PowerShellResult:
        """Run a PowerShell script with powershell.exe in a shell of its own.

        The script's exit code is kept, its stdout decoded as UTF-8, and the
        CLIXML powershell.exe writes on stderr decoded into readable text
        (``stderr_text``) and records (``errors``, ``warnings``...).

        Args:
            script: the PowerShell script (any length: a long one goes on stdin).
            timeout: the script's deadline in seconds (default: the shell's
                ``command_timeout``, 3600; None: no deadline).
            **shell_options: :meth:`shell` arguments (``codepage``,
                ``environment``...).

        Returns:
            A :class:`~aiowsman.shell.PowerShellResult`.
        """
        async with self.shell(**shell_options) as sh:
            return await sh.run_ps(script, timeout=timeout)

    # -- PowerShell remoting (PSRP; see aiowsman.psrp) ------------------------------

    def runspace_pool(
        self,
        *,
        configuration_name: str = PSRP_DEFAULT_CONFIGURATION,
        min_runspaces: int = 1,
        max_runspaces: int = 1,
        host: PSHost | None = None,
        application_arguments: Mapping[str, Any] | None = None,
        idle_timeout: float | None = None,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        receive_timeout: float = RECEIVE_TIMEOUT,
        keepalive: float | None = None,
        open_timeout: float | None = None,
    ) -> RunspacePool:
        """A PowerShell runspace pool (MS-PSRP over WinRS): ``async with``
        opens it and closes it (deletes its shell) on the way out, whatever
        happened. Needs the ``psrp`` extra (psrpcore).

        Args:
            configuration_name: the endpoint configuration:
                ``Microsoft.PowerShell``, a JEA endpoint's name, or a URI.
            min_runspaces: the fewest runspaces the pool keeps on the server.
            max_runspaces: the most pipelines it runs at once (more wait
                there for a runspace).
            host: what scripts see as ``$Host`` (default: a non-interactive
                :class:`~aiowsman.psrp.PSHost`: prompts are refused at once).
            application_arguments: ``$PSSenderInfo.ApplicationArguments``.
            idle_timeout: seconds without a request after which the service
                closes the pool (capped by its own setting).
            command_timeout: default deadline of each pipeline (seconds;
                None: none), separate from the per-request ``timeout``.
            receive_timeout: ``w:OperationTimeout`` of each Receive.
            keepalive: while idle, keep the pool alive with a Receive this
                often (seconds); None: never.
            open_timeout: how long opening may take (default: ``timeout``).

        Returns:
            A :class:`~aiowsman.psrp.RunspacePool` (not yet opened).

        Raises:
            aiowsman.errors.ConfigurationError: psrpcore is not installed, or
                a bad size or timeout.
        """
        psrp = _psrp_module(self._host)
        pool: RunspacePool = psrp.RunspacePool(
            self,
            configuration_name=configuration_name,
            min_runspaces=min_runspaces,
            max_runspaces=max_runspaces,
            host=host,
            application_arguments=application_arguments,
            idle_timeout=idle_timeout,
            command_timeout=command_timeout,
            receive_timeout=receive_timeout,
            keepalive=keepalive,
            open_timeout=open_timeout,
        )
        return pool

    async def invoke_command(
        self,
        script: str,
        *,
        arguments: tuple[Any, ...] | list[Any] = (),
        parameters: Mapping[str, Any] | None = None,
        input: list[Any] | tuple[Any, ...] | None = None,
        configuration_name: str = PSRP_DEFAULT_CONFIGURATION,
        timeout: Timeout = SHELL_DEFAULT,  # noqa: ASYNC109 - the script's deadline
    ) -> InvokeResult:
        """Run a script over PowerShell remoting, as ``Invoke-Command``.

        The session keeps one runspace pool per configuration (as a
        ``New-PSSession``), opened on first use and closed with the session:
        later calls reuse it, so its variables persist between them. A pool
        the server dropped (idle timeout) is opened again before a script
        starts; a script is never run twice.

        Args:
            script: the script (``"Get-Service WinRM"``; a ``param()`` block
                receives ``arguments``).
            arguments: positional arguments of the script (``-ArgumentList``).
            parameters: named parameters of the script.
            input: objects piped into the script (``$input``).
            configuration_name: the endpoint configuration (JEA).
            timeout: the script's deadline (default 3600 s; None: none); at
                the deadline it is stopped on the server.

        Returns:
            An :class:`~aiowsman.psrp.InvokeResult`: ``output`` (objects),
            ``streams`` (errors, warnings...), ``had_errors``.

        Raises:
            aiowsman.errors.PipelineFailedError: a terminating error.
            aiowsman.errors.CommandTimeoutError: the deadline passed.
            aiowsman.errors.WSManError: any other failure.
        """
        psrp = _psrp_module(self._host)
        if self._pools is None or self._pools_lock is None:
            self._pools, self._pools_lock = {}, asyncio.Lock()
        result: InvokeResult = await psrp.invoke_command(
            self,
            self._pools,
            self._pools_lock,
            script,
            arguments=arguments,
            parameters=parameters,
            input=input,
            configuration_name=configuration_name,
            timeout=timeout,
        )
        return result

    def _locator(
        self, locator: Locator, selectors: Mapping[str, str | EndpointReference] | None = None
    ) -> ResourceLocator:
        try:
            loc = _coerce_locator(locator)
        except ConfigurationError as exc:
            raise exc.with_context(self._host, None) from None
        if selectors:
            if loc is locator:  # the caller's own object: leave it untouched
                loc = loc.copy()
            for name, value in selectors.items():
                loc.add_selector(name, value)
        return loc


def _psrp_module(host: str) -> Any:
    """:mod:`aiowsman.psrp`, which needs psrpcore (the ``psrp`` extra).

    Raises:
        aiowsman.errors.ConfigurationError: psrpcore is not installed.
    """
    try:
        from aiowsman import psrp
    except ImportError as exc:
        raise ConfigurationError(
            f"PowerShell remoting needs psrpcore: pip install 'aiowsman[psrp]' ({exc})",
            host=host,
        ) from None
    return psrp
