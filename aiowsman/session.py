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

Errors
    Every :class:`~aiowsman.errors.WSManError` leaving a session names the
    host (``host:port``) and the operation. A SOAP fault is also kept in
    :attr:`AsyncSession.error` (the WinRM Scripting API's ``Session.Error``), raw XML included;
    a later successful call clears it.
"""

from __future__ import annotations

import asyncio
import builtins
import random
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import aiohttp

from aiowsman._endpoint import Endpoint, parse_endpoint
from aiowsman._log import log_exchange, logger
from aiowsman.auth import Auth, resolve_auth
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
from aiowsman.transport import (
    DEFAULT_MAX_CHANNELS,
    Transport,
    TransportSettings,
    response_size_cap,
)

if TYPE_CHECKING:
    from aiowsman.enumerator import Enumerator

__all__ = [
    "DEFAULT_BATCH_ITEMS",
    "DEFAULT_RETRIES",
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

#: MS-WSMV 3.1.4.16: where the unauthenticated Identify is served.
_ANONYMOUS_IDENTIFY_PATH = "/wsman-anon/identify"


def operation_timeout_for(timeout: float) -> float:
    """The ``w:OperationTimeout`` (seconds) sent for a client deadline of ``timeout``."""
    margin = min(max(timeout * 0.1, 0.5), 5.0)
    return max(timeout - margin, timeout / 2)


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
        client_session: an ``aiohttp.ClientSession`` to share across sessions
            (not closed by this session).
        connector: an aiohttp connector to share (not closed by this session).
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
            isinstance(auth, str)
            and auth.lower() == "certificate"
            and cert is not None
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
        settings = TransportSettings(
            verify=verify,
            skip_cn_check=skip_cn_check,
            skip_ca_check=skip_ca_check,
            cert=cert,
            ssl_context=ssl_context,
            proxy=proxy,
            allow_unencrypted=allow_unencrypted,
            encrypt=encrypt,
            max_response_size=response_size_cap(max_envelope_size),
            max_channels=max_channels,
        )
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
        self._error: WSManFault | None = None
        # Made on first use (see _enumerators): a WeakSet is six objects for
        # the garbage collector, and most sessions -- a fan-out's thousands --
        # never enumerate.
        self._open_enumerators: weakref.WeakSet[Enumerator] | None = None
        #: (locator, context) of enumerators collected while open; released
        #: soon after from the loop (_release_orphans_soon), else by aclose().
        self._orphaned_contexts: list[tuple[ResourceLocator, str]] = []
        self._orphan_release: asyncio.Task[None] | None = None

    # -- properties -----------------------------------------------------------

    @property
    def _enumerators(self) -> weakref.WeakSet[Enumerator]:
        """The enumerations with an open context (released by :meth:`aclose`)."""
        enumerators = self._open_enumerators
        if enumerators is None:
            enumerators = self._open_enumerators = weakref.WeakSet()
        return enumerators

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

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release open enumerations (best effort) and close connections.

        A caller-supplied ``client_session`` or ``connector`` stays open.
        """
        if self._closed:
            return
        enumerators = list(self._open_enumerators or ())
        if enumerators:
            await asyncio.gather(*(e.aclose() for e in enumerators), return_exceptions=True)
        orphans, self._orphaned_contexts = self._orphaned_contexts, []
        if orphans:
            await asyncio.gather(
                *(self._release_context(loc, ctx) for loc, ctx in orphans),
                return_exceptions=True,
            )
        if self._orphan_release is not None:
            await asyncio.gather(self._orphan_release, return_exceptions=True)
        self._closed = True
        if self._transport is not None:
            await self._transport.close()

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

    def _start_orphan_release(self) -> None:
        if self._closed or self._orphan_release is not None or not self._orphaned_contexts:
            return
        self._orphan_release = asyncio.get_running_loop().create_task(self._release_orphans())

    async def _release_orphans(self) -> None:
        try:
            while self._orphaned_contexts and not self._closed:
                orphans, self._orphaned_contexts = self._orphaned_contexts, []
                await asyncio.gather(
                    *(self._release_context(loc, ctx) for loc, ctx in orphans),
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

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.opened and not getattr(self, "_closed", True):
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
        started = time.perf_counter()
        status: int | str = "-"
        size = 0
        try:
            async with asyncio.timeout(deadline) as cm:
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
                        delay = self._retry_delay(exc, operation, attempt, cm.when())
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
                envelope = resp.parse_envelope(response.body, response.content_type)
                resp.check_response(envelope, request, response.status)
                result = parse(envelope)
        except WSManFault as fault:
            fault.with_context(self._host, operation)
            if operation != "Release":
                # session.error is about the caller's calls (the WinRM Scripting API's
                # Session.Error): the best-effort Release sent when an
                # enumeration ends early neither sets nor clears it.
                self._error = fault
            log_exchange(
                self._host,
                operation,
                request.action,
                resource,
                f"{status} fault",
                size,
                time.perf_counter() - started,
            )
            raise
        except WSManError as exc:
            log_exchange(
                self._host,
                operation,
                request.action,
                resource,
                f"error:{exc.category}",
                size,
                time.perf_counter() - started,
            )
            if exc.__suppress_context__:
                # Raised "from None": the context is never shown, and it may
                # not pickle (lxml's XMLSyntaxError holds its error log), which
                # would stop the error crossing processes (the Dask runner
                # pickles errors, with tblib's traceback support).
                exc.__context__ = None
            raise exc.with_context(self._host, operation) from exc.__cause__
        except builtins.TimeoutError as exc:
            if not cm.expired():
                raise
            log_exchange(
                self._host,
                operation,
                request.action,
                resource,
                "timeout",
                size,
                time.perf_counter() - started,
            )
            raise TimeoutError(
                f"no answer within the {deadline:g}s deadline",
                host=self._host,
                operation=operation,
            ) from exc
        if operation != "Release":
            self._error = None
        log_exchange(
            self._host,
            operation,
            request.action,
            resource,
            status,
            size,
            time.perf_counter() - started,
        )
        return result

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
            env.identify_request(), resp.parse_identify, anonymous=unauthenticated
        )

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
        request = env.put_request(self._options, loc, resource)
        return await self._call(request, resp.parse_put, resource=loc.resource_uri)

    async def create(self, locator: Locator, resource: Any) -> EndpointReference:
        """Create a resource (WS-Transfer Create, DSP0226 7.5).

        Returns:
            The new resource's endpoint reference (``x:ResourceCreated``).
        """
        loc = self._locator(locator)
        request = env.create_request(self._options, loc, resource)
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
        request = env.invoke_request(self._options, loc, method, parameters)
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

        Returns:
            An :class:`~aiowsman.enumerator.Enumerator`.

        Raises:
            aiowsman.errors.ConfigurationError: bad mode/polymorphism/batch.
        """
        from aiowsman.enumerator import Enumerator

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
        )

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
