"""HTTP(S) transport for WS-Management on aiohttp.

One :class:`Transport` serves one endpoint. It turns a SOAP body into an HTTP
POST (DSP0226 / MS-WSMV 2.1: SOAP 1.2 over HTTP POST to the endpoint URL,
``Content-Type: application/soap+xml;charset=UTF-8``), runs the
authentication flow (:mod:`aiowsman.auth.base`), reads the response with a
size cap and maps HTTP statuses and aiohttp errors onto :mod:`aiowsman.errors`.

Channels
    A *channel* is where a security context lives.

    * Schemes that are not connection-bound (Basic, none, certificate) need
      no per-connection state: every request goes through one shared,
      keep-alive connection pool -- a caller-supplied
      ``aiohttp.ClientSession`` / connector shared across many sessions, the
      fan-out runner's, or by default the event loop's own (one per loop,
      made for its first session and closed with its last: an aiohttp
      client per session cost more than a Get). This is the hot path and
      does nothing beyond aiohttp's own work, except that pooled connections
      are keyed by the credentials they carried, so sessions with other
      credentials (or none) sharing the pool never reuse them, and no cookie
      is kept (:mod:`aiowsman._http`); TLS settings and proxy are part of
      aiohttp's own key. On a pool shared with other sessions a session
      bounds its requests in flight itself (``max_channels``), and on the
      library's pools it closes its idle connections when it closes, as its
      own pool's would have been.
    * Connection-bound schemes (NTLM, Negotiate, Kerberos with encryption,
      CredSSP: MS-WSMV 2.2.9.1 ties the context to the TCP connection) get up
      to ``max_channels`` channels, each its own ``TCPConnector(limit=1)``, so
      one context never sees two requests interleaved. Channels are borrowed
      like asyncpg's ``Pool.acquire``: bounded, first-come first-served, and a
      cancelled waiter never loses a channel. Each channel's connector counts
      its TCP connections and keeps the server certificate (for channel
      binding); when the server (or a keep-alive timeout) replaced the
      connection under an established context, the request is authenticated
      afresh, once.

Response size
    The server promises responses no larger than ``MaxEnvelopeSize`` (DSP0226
    6.2). The cap is twice that plus 64 KiB: room for UTF-16 (two octets per
    character, which Windows may count as one) and for the MS-WSMV 2.2.9.1
    multipart/encrypted framing. Bodies are read incrementally, so a hostile
    server cannot make us buffer more than the cap.

Errors
    * a SOAP body (any status, typically 500 or 400) is returned for the
      session to parse into a :class:`~aiowsman.errors.WSManFault`;
    * a 200 that is not SOAP (a web page) -> NotWSManEndpointError, naming
      status, Content-Type and the body's first bytes;
    * 401 -> AuthenticationError, 413 -> EnvelopeTooLargeError,
      503 -> ServiceUnavailableError (``retry_after``), other -> HTTPStatusError;
    * name resolution -> DNSError, TLS -> TLSError, refused / reset / closed
      -> ConnectError, a malformed HTTP response -> ProtocolError.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import errno
import logging
import os
import ssl
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.connector import Connection
from yarl import URL

from aiowsman._endpoint import Endpoint, request_url
from aiowsman._http import CredentialHeader, is_library_client, new_client
from aiowsman._log import transport_logger as log
from aiowsman.auth._executor import run_offload
from aiowsman.auth.base import (
    Auth,
    AuthContext,
    HttpRequest,
    HttpResponse,
    Offload,
    PreemptiveContext,
)
from aiowsman.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    DNSError,
    EnvelopeTooLargeError,
    HTTPStatusError,
    InsecureTransportError,
    NotWSManEndpointError,
    ProtocolError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    TLSError,
    TransportError,
    WSManError,
    body_snippet,
)

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_MAX_CHANNELS",
    "UNAUTHENTICATED_HINT",
    "USER_AGENT",
    "GuardedConnector",
    "Transport",
    "TransportSettings",
    "build_ssl_context",
    "response_size_cap",
]

#: SOAP 1.2 media type, UTF-8 (DSP0226 / MS-WSMV 2.2.1: UTF-8 or UTF-16).
CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
USER_AGENT = "aiowsman/0.1 (Python; WS-Management)"
#: Concurrent channels per session. Each connection-bound channel costs a full
#: handshake (two round trips for NTLM, a KDC exchange for Kerberos), and
#: WinRM's defaults allow a user 30 shells (MaxShellsPerUser, MS-WSMV 2.2.4.42;
#: 5 on 2008 R2-era hosts) and 1500 concurrent operations per host
#: (MaxConcurrentOperationsPerUser), so 8 parallel requests per session is well inside every quota
#: while letting a session overlap round trips. Fan-out gets its parallelism
#: from many sessions, not from many channels per host.
DEFAULT_MAX_CHANNELS = 8
#: Operations that may be sent again when a kept-alive connection turns out to
#: have been closed under the request. A dropped connection does not tell
#: whether the server read (and ran) the request, so only operations that
#: change nothing are resent: never Put, Create, Delete or Invoke (which would
#: then run twice), nor Pull (which advances the server's cursor, DSP0226 8.4:
#: a resent Pull would silently skip a batch). Release of a released context
#: merely faults.
_IDEMPOTENT = frozenset({"Identify", "Get", "Enumerate", "Release"})
#: Added to the error when a request without credentials got no answer (a
#: timeout, or the connection closed without a response): servers that
#: authenticate the TCP connection rather than each request (OMI with Basic)
#: may never answer an unauthenticated request on a fresh connection.
UNAUTHENTICATED_HINT = (
    "; the request carried no credentials, and the server may require authentication "
    "on the connection (a server that authenticates connections, as OMI does with Basic, "
    "may never answer an unauthenticated request)"
)
_READ_CHUNK = 64 * 1024
#: The headers of every request (a scheme adds its own).
_BASE_HEADERS: Mapping[str, str] = {
    "Content-Type": CONTENT_TYPE,
    # WinRM does not compress; identity also keeps the size cap exact.
    "Accept-Encoding": "identity",
    "User-Agent": USER_AGENT,
}


def response_size_cap(max_envelope_size: int) -> int:
    """The largest response body accepted for a given MaxEnvelopeSize (bytes)."""
    return 2 * max_envelope_size + 64 * 1024


@dataclass(frozen=True)
class TransportSettings:
    """Connection settings of a :class:`Transport`.

    Attributes:
        verify: True (system CAs), False (no verification: same as
            ``skip_ca_check``), or a path to a CA bundle file.
        skip_cn_check: accept a certificate for another host name
            (``WSManFlagSkipCNCheck``); the chain is still verified.
        skip_ca_check: accept any certificate (``WSManFlagSkipCACheck``).
            Python's ssl cannot match a host name on an unverified chain, so
            this also skips the name check.
        cert: client certificate: a PEM file holding cert and key, or
            ``(certfile, keyfile)``.
        ssl_context: a ready context; overrides the four settings above.
        proxy: HTTP proxy URL.
        allow_unencrypted: allow clear-text credentials (Basic) over HTTP.
        encrypt: ask connection-bound schemes for message encryption.
        max_response_size: response body cap, bytes.
        max_channels: concurrent requests (connection-bound schemes: contexts).
        user_agent: the User-Agent header.
    """

    verify: bool | str = True
    skip_cn_check: bool = False
    skip_ca_check: bool = False
    cert: str | tuple[str, str] | None = None
    ssl_context: ssl.SSLContext | None = None
    proxy: str | None = None
    allow_unencrypted: bool = False
    encrypt: bool = False
    max_response_size: int = response_size_cap(512000)
    max_channels: int = DEFAULT_MAX_CHANNELS
    user_agent: str = USER_AGENT


def build_ssl_context(
    settings: TransportSettings, configure: Callable[[ssl.SSLContext], None] | None = None
) -> ssl.SSLContext | bool:
    """The ``ssl=`` argument for aiohttp under ``settings``.

    Returns ``True`` or ``False`` (aiohttp's shared verifying / unverified
    contexts) when no file is involved, so thousands of sessions do not each
    load the system trust store. Sessions that need their own context (a CA
    file, a client certificate, ``skip_cn_check``) can share one built here
    through ``ssl_context=``.

    Args:
        settings: the TLS settings.
        configure: called with the new context (certificate authentication
            loads its client certificate this way).

    Raises:
        aiowsman.errors.ConfigurationError: unreadable CA or certificate file.
    """
    if settings.ssl_context is not None:
        if configure is not None:
            configure(settings.ssl_context)
        return settings.ssl_context
    skip_ca = settings.skip_ca_check or settings.verify is False
    cafile = settings.verify if isinstance(settings.verify, str) else None
    if settings.cert is None and configure is None and cafile is None:
        if skip_ca:
            return False  # aiohttp's shared unverified context
        if not settings.skip_cn_check:
            return True  # aiohttp's shared verifying context
    if configure is not None:
        return _new_ssl_context(settings, cafile, skip_ca, configure)
    # A fan-out creates thousands of sessions with the same CA file or client
    # certificate: loading them is blocking file I/O plus tens of milliseconds
    # of CPU each time, so equal settings share one context. The key includes
    # each file's size and mtime, so a replaced file is loaded afresh.
    files = [cafile] + (
        list(settings.cert) if isinstance(settings.cert, tuple) else [settings.cert]
    )
    key = (skip_ca, settings.skip_cn_check, tuple(_file_identity(f) for f in files))
    cached = _SSL_CONTEXTS.get(key)
    if cached is None:
        cached = _new_ssl_context(settings, cafile, skip_ca, None)
        if len(_SSL_CONTEXTS) >= _SSL_CONTEXTS_MAX:
            _SSL_CONTEXTS.pop(next(iter(_SSL_CONTEXTS)))
        _SSL_CONTEXTS[key] = cached
    return cached


#: Process-wide cache of TLS client contexts built from files (see above).
_SSL_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}
_SSL_CONTEXTS_MAX = 32


def _file_identity(path: str | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)  # loading will fail and say so
    return (path, st.st_size, st.st_mtime_ns)


def _new_ssl_context(
    settings: TransportSettings,
    cafile: str | None,
    skip_ca: bool,
    configure: Callable[[ssl.SSLContext], None] | None,
) -> ssl.SSLContext:
    try:
        if skip_ca:
            # Nothing will be verified, so do not pay for loading the system
            # trust store (tens of milliseconds, per session).
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        else:
            ctx = ssl.create_default_context(cafile=cafile)
        if skip_ca or settings.skip_cn_check:
            ctx.check_hostname = False
        if skip_ca:
            ctx.verify_mode = ssl.CERT_NONE
        if settings.cert is not None:
            if isinstance(settings.cert, tuple):
                ctx.load_cert_chain(settings.cert[0], settings.cert[1])
            else:
                ctx.load_cert_chain(settings.cert)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load TLS files: {exc.__class__.__name__}") from exc
    if configure is not None:
        configure(ctx)
    return ctx


def _retry_after(value: str | None) -> float | None:
    # RFC 9110 10.2.3: delay-seconds or an HTTP-date.
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit() alone takes "²", which float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_ENVELOPE_MARKS = (b"Envelope", "Envelope".encode("utf-16-le"), "Envelope".encode("utf-16-be"))


def _is_soap(response: HttpResponse) -> bool:
    """Whether a response is (meant as) a SOAP message, so the parser should judge it.

    ``application/soap+xml`` says so. Some servers (old OMI, AMT) send SOAP
    with a missing or generic Content-Type (``text/xml``...); an envelope is
    then recognised by its first bytes (``<s:Envelope``, in UTF-8 or UTF-16,
    or a DOCTYPE naming it). Anything else -- a web server's default page
    above all -- is not WS-Management, whatever it contains.
    """
    if "soap+xml" in response.content_type.lower():
        return True
    head = response.body[:4096]
    return any(mark in head for mark in _ENVELOPE_MARKS)


def _not_wsman(response: HttpResponse, host: str) -> NotWSManEndpointError:
    ctype = response.content_type or None
    snippet = body_snippet(response.body)
    shown = f"body begins {snippet!r}" if snippet else "empty body"
    return NotWSManEndpointError(
        f"not a WS-Management endpoint: HTTP {response.status}, "
        f"Content-Type {ctype or '(none)'}, {shown}",
        status=response.status,
        content_type=ctype,
        snippet=snippet,
        host=host,
    )


def _map_client_error(exc: BaseException, host: str) -> WSManError:
    """An aiohttp / OS error as an aiowsman error.

    The message carries what the aiohttp error said (never its request: the
    caller raises the result without chaining ``exc``, see ``_send``).
    """
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return DNSError(f"cannot resolve host name: {exc.os_error}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TLSError(f"certificate verification failed: {exc.certificate_error}")
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        return TLSError(f"TLS handshake failed: {exc}")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return ConnectError(f"cannot connect to proxy: {exc.os_error}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ssl.SSLError):
            return TLSError(f"TLS handshake failed: {os_error}")
        return ConnectError(f"cannot connect: {os_error.strerror or os_error}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ConnectError("the server closed the connection without answering")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ConnectError(f"the response body was cut short: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProtocolError(f"malformed HTTP response: {exc.message}")
    if isinstance(exc, aiohttp.InvalidURL):
        return ConfigurationError(f"invalid endpoint URL: {exc}")
    if isinstance(exc, aiohttp.ClientOSError):
        return ConnectError(f"connection failed: {exc.strerror or exc}")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return ConnectError(f"the server did not answer in time ({exc})")
    if isinstance(exc, OSError):
        return ConnectError(f"connection failed: {exc.strerror or exc}")
    return TransportError(f"HTTP exchange failed: {type(exc).__name__}: {exc}")


_CLIENT_ERRORS = (aiohttp.ClientError, OSError)


def _connection_dropped(exc: BaseException) -> bool:
    """True when an established connection was closed or reset under a request."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False  # never connected: nothing to retry on a fresh connection
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionResetError)):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)


#: Kept-alive connections found holding unsolicited data that one request may
#: discard before it is refused (each discard closes one pooled connection,
#: so this is only reached by a server pushing on many connections at once).
_MAX_DISCARDS = 32


class GuardedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that never reuses a connection holding data nobody asked for.

    HTTP/1.1 has no request identifiers: the next response read from a
    connection is taken as the answer to the next request sent on it. A
    server (or anything on the path) that writes an extra response on an
    idle kept-alive connection would have it read as the answer to whatever
    request is sent there next -- possibly another session's. aiohttp parses
    such bytes as they arrive and keeps them; this connector checks, every
    time it hands out a pooled connection, that nothing arrived while it was
    idle (``ResponseHandler.should_close``: a buffered message, unparsed
    bytes or a parse error), and closes it if something did.

    Every pool aiowsman creates uses it (a session's own, each
    connection-bound channel, the fan-out runner's). A caller-supplied
    ``connector`` or ``client_session`` is the caller's; pass one of these
    for the same guarantee. SOAP-level correlation (``RelatesTo``, checked by
    the session) covers a push that arrives after the request was sent.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        for _ in range(_MAX_DISCARDS):
            conn = await super().connect(req, traces, timeout)
            protocol = conn.protocol
            if protocol is None or not protocol.should_close:
                held = _HELD.get()
                # Only a transport on this pool notes connections (the value
                # may be one its task's last request left set: see _Held).
                if held is not None and held.connector is self and protocol is not held.last:
                    held.note(protocol, req)
                return conn
            transport = protocol.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            log.warning(
                "discarding a kept-alive connection to %s that received data nobody asked for",
                peer,
            )
            conn.close()
        raise ProtocolError(
            f"the server kept sending responses nobody asked for on {_MAX_DISCARDS} "
            "kept-alive connections"
        )

    def close_idle(self, key: object, protocol: object) -> None:
        """Close ``protocol`` if it waits idle in this pool under ``key``.

        For a session sharing the pool with others that closes: its idle
        connections go, as its own pool's would have (nobody else is served
        on them), while one in use by another session of the same
        credentials is left alone. aiohttp has no public call for this; its
        idle pool (``_conns``: key -> (protocol, time) pairs) is read
        defensively, and without it the connections simply expire after
        ``keepalive_timeout``.
        """
        pool = getattr(self, "_conns", None)
        if not isinstance(pool, dict):
            return
        idle = pool.get(key)
        if not idle:
            return
        for index, entry in enumerate(idle):
            if entry[0] is protocol:
                del idle[index]
                if not idle:
                    del pool[key]
                protocol.close()
                return


class _LoopPool:
    """The default connection pool of one event loop, and how many transports use it."""

    __slots__ = ("__weakref__", "client", "loop", "users")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.client = new_client(GuardedConnector(limit=0), connector_owner=True)
        self.users = 0


#: The default pools, one per event loop (aiohttp's objects belong to the loop
#: they were made on). Only the transports using a pool hold it; the last one
#: to close closes it, so a loop ends with nothing of it open. (The registry
#: holds neither loops nor pools: a pool refers to its loop, so a strong
#: reference here would keep both alive forever after a session left unclosed.)
_LOOP_POOLS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.ReferenceType[_LoopPool]
] = weakref.WeakKeyDictionary()
#: Pools a forked child inherited: their sockets are the parent's, so the
#: child never uses, closes nor collects them (closing would end the parent's
#: TLS sessions); it starts pools of its own.
_INHERITED_POOLS: list[_LoopPool] = []


def _forget_pools_after_fork() -> None:
    _INHERITED_POOLS.extend(pool for ref in _LOOP_POOLS.values() if (pool := ref()) is not None)
    _LOOP_POOLS.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


def _acquire_loop_pool() -> _LoopPool | None:
    """The running loop's default pool, one more user counted; None if the loop cannot have one."""
    loop = asyncio.get_running_loop()
    ref = _LOOP_POOLS.get(loop)
    pool = ref() if ref is not None else None
    if pool is None:
        try:
            weakref.ref(loop)
        except TypeError:  # a loop that cannot be weakly referenced: no default pool
            return None
        pool = _LoopPool(loop)
        _LOOP_POOLS[loop] = weakref.ref(pool)
    pool.users += 1
    return pool


def _release_loop_pool(pool: _LoopPool) -> aiohttp.ClientSession | None:
    """One user less; the pool's client when that was the last user (the caller closes it)."""
    pool.users -= 1
    if pool.users == 0:
        ref = _LOOP_POOLS.get(pool.loop)
        if ref is not None and ref() is pool:
            del _LOOP_POOLS[pool.loop]
        if pool not in _INHERITED_POOLS:
            return pool.client
    return None


class _Channel:
    """One connection-bound channel: a one-connection connector and its context."""

    __slots__ = ("client", "context", "generation", "peer_cert", "protocol")

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client
        self.context: AuthContext | None = None
        #: Count of TCP connections this channel has opened.
        self.generation = 0
        #: The current connection's protocol object (tells a new connection apart).
        self.protocol: object | None = None
        #: The server certificate (DER) of the current connection, on HTTPS.
        self.peer_cert: bytes | None = None


class _ChannelConnector(GuardedConnector):
    """``GuardedConnector(limit=1)`` that reports each new TCP connection to its channel.

    ``connect()`` is the connector's documented entry point, called for every
    request with the connection it will use, so it sees both a new connection
    (a new protocol object: the generation moves on, so a context bound to
    the old one is void) and, on HTTPS, the server certificate that channel
    binding (RFC 5929 ``tls-server-end-point``) needs.
    """

    def __init__(self) -> None:
        super().__init__(limit=1)
        self.channel: _Channel | None = None

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        channel = self.channel
        if channel is not None and conn.protocol is not channel.protocol:
            channel.protocol = conn.protocol
            channel.generation += 1
            transport = conn.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            channel.peer_cert = (
                ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            )
        return conn


class _ChannelPool:
    """A bounded, fair, cancellation-safe pool of channels (asyncpg-style)."""

    def __init__(self, factory: Callable[[], _Channel], size: int) -> None:
        self._factory = factory
        self._size = size
        self._idle: list[_Channel] = []
        self._all: list[_Channel] = []
        self._waiters: collections.deque[asyncio.Future[_Channel]] = collections.deque()

    @property
    def channels(self) -> list[_Channel]:
        return list(self._all)

    async def acquire(self) -> _Channel:
        # Newcomers queue behind existing waiters (no barging), so channels go
        # out in arrival order.
        if self._idle and not self._waiters:
            return self._idle.pop()
        if len(self._all) < self._size and not self._waiters:
            channel = self._factory()
            self._all.append(channel)
            return channel
        fut: asyncio.Future[_Channel] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Handed a channel in the same tick we were cancelled: pass it on.
                self.release(fut.result())
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def release(self, channel: _Channel) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(channel)
                return
        self._idle.append(channel)


class _Slots:
    """At most ``size`` requests of a session in flight on a pool it shares with others.

    A semaphore (FIFO, cancellation-safe) whose free path is an integer
    update: the caller takes a slot with ``if slots.free and not
    slots.waiters: slots.free -= 1`` and only awaits :meth:`wait` otherwise.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        #: Made on the first wait: most sessions never wait.
        self.waiters: collections.deque[asyncio.Future[None]] | None = None

    async def wait(self) -> None:
        """Wait for a slot (handed over by :meth:`release`), in arrival order."""
        waiters = self.waiters
        if self.free and not waiters:
            self.free -= 1
            return
        if waiters is None:
            waiters = self.waiters = collections.deque()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot in the same tick: pass it on
            else:
                try:
                    waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self.free += 1


class _Held(_Slots):
    """A transport's share of a pool shared with other sessions: slots, and connections to close.

    The slots (:class:`_Slots`) bound the transport's requests in flight to
    ``max_channels`` on a pool whose own limits are not the session's. The
    connections are noted by :meth:`GuardedConnector.connect` through
    :data:`_HELD`, which each request of the transport sets to it. A
    transport holds one connection mostly (kept without a dict), at most
    ``max_channels`` at a time; closed ones are pruned when more pile up.
    One object for both: thousands of per-host sessions each make one, and
    every object a session keeps is one more for the garbage collector to
    walk while it is open.

    ``_HELD`` is set, not reset, by each request: the next request of the
    same task (the same session's next operation, mostly) finds it set and
    sets nothing, which spares every request a context change and a token.
    A value left set after the session closed is harmless: the connector
    only notes a connection for a ``_Held`` of its own (``connector``), and
    :meth:`close_connections` forgets the connector.
    """

    __slots__ = ("connector", "key", "last", "limit", "more", "protocol")

    def __init__(self, size: int, connector: aiohttp.BaseConnector | None) -> None:
        super().__init__(size)
        #: The shared pool's connector (None once the connections are closed).
        self.connector = connector
        #: The first connection (or one that replaced it once it closed), and its pool key.
        self.protocol: Any = None
        self.key: object = None
        #: Any other: protocol -> its pool key.
        self.more: dict[object, object] | None = None
        self.last: object = None
        self.limit = 2 * size + 2

    def note(self, protocol: Any, request: aiohttp.ClientRequest) -> None:
        """Note a connection other than the previous request's (the caller checks ``last``)."""
        self.last = protocol
        first = self.protocol
        if first is protocol:
            return
        if first is None or not first.is_connected():
            self.protocol = protocol
            self.key = request.connection_key
            return
        more = self.more
        if more is None:
            more = self.more = {}
        if protocol not in more:
            if len(more) >= self.limit:
                for gone in [p for p in more if not p.is_connected()]:  # type: ignore[attr-defined]
                    del more[gone]
            more[protocol] = request.connection_key

    def close_connections(self) -> None:
        """Close the noted connections that wait idle in the pool; note no more."""
        connector = self.connector
        if isinstance(connector, GuardedConnector):
            if self.protocol is not None:
                connector.close_idle(self.key, self.protocol)
            for protocol, key in (self.more or {}).items():
                connector.close_idle(key, protocol)
        self.connector = self.protocol = self.key = self.more = self.last = None


#: The :class:`_Held` of the transport whose request is being sent (its task's context).
_HELD: ContextVar[_Held | None] = ContextVar("aiowsman_held_connections", default=None)


class Transport:
    """Sends SOAP bodies to one endpoint and returns the final HTTP response.

    Args:
        endpoint: where to send.
        auth: the authentication scheme.
        settings: TLS, proxy, limits.
        client_session: a caller-owned ``aiohttp.ClientSession`` to use for
            the shared pool (never closed here). Connection-bound schemes
            need one connection per context and use their own connectors.
        connector: a caller-owned connector for the shared pool (never closed
            here); ignored when ``client_session`` is given.

    Raises:
        aiowsman.errors.InsecureTransportError: clear-text credentials over
            HTTP without ``allow_unencrypted``.
        aiowsman.errors.ConfigurationError: bad TLS files or settings.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        auth: Auth,
        settings: TransportSettings | None = None,
        client_session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        settings = settings or TransportSettings()
        if (
            not endpoint.is_tls
            and getattr(auth, "cleartext_credentials", False)
            and not settings.allow_unencrypted
        ):
            raise InsecureTransportError(
                f"{auth.scheme} authentication over plain HTTP would send the password in "
                "clear text; use https:// or pass allow_unencrypted=True",
                host=endpoint.authority,
            )
        if settings.max_channels < 1:
            raise ConfigurationError("max_channels must be at least 1")
        self.endpoint = endpoint
        self.auth = auth
        self.settings = settings
        self.host = endpoint.authority
        self._url = endpoint.url
        # A scheme that lives in the TLS layer (client certificates) shapes the context.
        configure = getattr(auth, "configure_ssl_context", None)
        self._ssl: ssl.SSLContext | bool = (
            build_ssl_context(settings, configure) if endpoint.is_tls else True
        )
        #: The TLS setting of unauthenticated requests: a scheme whose
        #: credential is the client certificate must not present it (nor
        #: reuse a connection that did), so they get the context without it.
        self._anonymous_ssl: ssl.SSLContext | bool = (
            build_ssl_context(settings) if endpoint.is_tls and configure is not None else self._ssl
        )
        self._proxy = settings.proxy
        self._max_response = settings.max_response_size
        # Read, never changed (requests copy or merge them): shared unless the
        # User-Agent is the caller's own.
        self._base_headers = (
            _BASE_HEADERS
            if settings.user_agent == USER_AGENT
            else {**_BASE_HEADERS, "User-Agent": settings.user_agent}
        )
        self._user_session = client_session
        self._user_connector = connector

    # State that starts empty, read from these class-level defaults until
    # first set (one transport per session, thousands in a fan-out: no
    # stores in the constructor, no entries in the instance dictionary).
    _client: aiohttp.ClientSession | None = None
    _own_client = False
    _shared_context: AuthContext | None = None
    #: Every header of a request, when the scheme only adds fixed headers
    #: (set with the shared context): the hot path of :meth:`exchange`.
    _preemptive_headers: Mapping[str, str] | None = None
    _preemptive: PreemptiveContext | None = None
    #: The endpoint as the URL object every request to it is sent to (made
    #: on the first by _send: parsed once, not by aiohttp on every request).
    _post_url: URL | str | None = None
    #: Bounds requests in flight to max_channels on a pool shared with other
    #: sessions (whose limits are not this session's).
    _slots: _Slots | None = None
    #: The default pool of the event loop, when this transport uses it.
    _loop_pool: _LoopPool | None = None
    #: The connections handed to this transport by a pool it shares with
    #: other sessions (the loop's, the fan-out runner's), closed with it.
    _held: _Held | None = None
    _pool: _ChannelPool | None = None
    _closed = False
    _opened = False

    # -- lifecycle ------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """True once sockets or client objects were created (and not closed)."""
        return self._opened and not self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close what this transport created; caller-supplied objects stay open."""
        for client in self.shut():
            await client.close()

    def shut(self) -> list[aiohttp.ClientSession]:
        """Mark the transport closed and return the clients left for the caller to close.

        Everything but closing those clients is done here, synchronously: a
        session on a shared pool (the common case: the loop's default one,
        still used by other sessions) gets an empty list, so closing it
        costs no coroutine at all. :meth:`close` is this and the awaits.
        """
        if self._closed:
            return []
        self._closed = True
        clients: list[aiohttp.ClientSession] = []
        if self._held is not None:
            # A shared pool stays open: only this session's idle connections go.
            self._held.close_connections()
        if self._own_client and self._client is not None:
            clients.append(self._client)
        if self._pool is not None:
            clients.extend(ch.client for ch in self._pool.channels)
        self._client = None
        loop_pool, self._loop_pool = self._loop_pool, None
        if loop_pool is not None:
            # Closed after this transport's own clients, as it always was.
            last = _release_loop_pool(loop_pool)
            if last is not None:
                clients.append(last)
        return clients

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("the session is closed", host=self.host)

    def _shared_client(self) -> aiohttp.ClientSession:
        client = self._client
        if client is None:
            self._check_open()
            user = self._user_session
            limit = self.settings.max_channels
            if user is not None and is_library_client(user):
                client = user  # the fan-out runner's: already keyed, cookie-free
                self._held = _Held(limit, client.connector)
            elif user is not None:
                # Only the caller's pool is shared: requests go through a
                # client of ours over its connector, so connections stay keyed
                # by credentials and no cookie is kept (module docstring of
                # aiowsman._http). Its tracing is kept; its default headers,
                # cookies, auth and timeouts are not used.
                connector = user.connector
                if connector is None or user.closed:
                    raise ConfigurationError("the session was closed", host=self.host)
                client = new_client(
                    connector, connector_owner=False, trace_configs=user.trace_configs
                )
                self._own_client = True
            elif self._user_connector is not None:
                client = new_client(self._user_connector, connector_owner=False)
                self._own_client = True
            elif (loop_pool := _acquire_loop_pool()) is not None:
                # The default: the event loop's pool, shared by every session
                # given none (no client and connector made and closed per
                # session). Connections stay apart as on any shared pool:
                # keyed by credentials, TLS settings and proxy (aiowsman._http).
                self._loop_pool = loop_pool
                client = loop_pool.client
                self._held = _Held(limit, client.connector)
            else:
                client = new_client(GuardedConnector(limit=limit), connector_owner=True)
                self._own_client = True
                self._client = client
                self._opened = True
                return client  # its own connector holds at most `limit` connections
            # A pool shared with other sessions: this session's own bound
            # (the _Held's slots, on a pool whose connections it notes).
            self._slots = self._held or _Slots(limit)
            self._client = client
            self._opened = True
        return client

    def _new_channel(self) -> _Channel:
        connector = _ChannelConnector()
        # A channel owns its one-connection connector, so it needs no
        # credential key (and must not have one: see aiowsman._http).
        client = new_client(connector, connector_owner=True, keyed=False)
        channel = connector.channel = _Channel(client)
        self._opened = True
        return channel

    # -- the exchange ---------------------------------------------------------

    def exchange(self, body: bytes, *, operation: str) -> Coroutine[Any, Any, HttpResponse]:
        """POST ``body`` (a SOAP envelope) and return the final response.

        A plain function returning the coroutine to await (``await
        transport.exchange(...)``): on the hot path that coroutine is the one
        that sends the request, so the call costs no coroutine of its own.

        Returns:
            The response, when its status is 200 or it carries a SOAP body
            (a fault, for the session to parse).

        Raises:
            aiowsman.errors.AuthenticationError: 401 / handshake failure.
            aiowsman.errors.HTTPStatusError: (or a subclass) other HTTP errors.
            aiowsman.errors.TransportError: DNS, connect, TLS failures.
            aiowsman.errors.ResponseTooLargeError: body over the cap.
        """
        if self._closed:
            self._check_open()  # raises
        if self.auth.connection_bound:
            return self._exchange_bound(body, operation)
        client = self._client or self._shared_client()
        context = self._shared_context
        if context is None:
            context = self._new_shared_context()
        headers = self._preemptive_headers
        if headers is not None:
            # The hot path (Basic, none, certificate): the scheme only adds
            # fixed headers, so the request is sent directly, with no flow
            # generator and no request object (aiowsman.auth.base).
            return self._send(
                client, self._url, body, headers, operation, None, preemptive=self._preemptive
            )
        return self._exchange_flow(client, context, body, operation)

    async def _exchange_flow(
        self, client: aiohttp.ClientSession, context: AuthContext, body: bytes, operation: str
    ) -> HttpResponse:
        """The shared pool, for a scheme whose flow is more than fixed headers."""
        slots = self._slots
        if slots is not None:
            await slots.wait()
        try:
            request = HttpRequest(self._url, body, dict(self._base_headers))
            response = await self._run_flow(context, request, client, operation, None)
        finally:
            if slots is not None:
                slots.release()
        return self._check_status(response)

    async def exchange_anonymous(
        self, body: bytes, *, operation: str, path: str, headers: Mapping[str, str]
    ) -> HttpResponse:
        """POST ``body`` without authentication to ``path`` on the same host.

        For the unauthenticated Identify (MS-WSMV 3.1.4.16: ``/wsman-anon/identify``
        with ``WSMANIDENTIFY: unauthenticated``). Uses the shared pool, but
        never a connection that carried credentials (see :mod:`aiowsman._http`;
        a client certificate is not presented either).

        Raises:
            As :meth:`exchange`.
        """
        self._check_open()
        client = self._shared_client()
        url = f"{self.endpoint.scheme}://{self.endpoint.authority}{path}"
        response = await self._send(
            client, url, body, {**self._base_headers, **headers}, operation, None, anonymous=True
        )
        return self._check_status(response, scheme="none")

    def _new_shared_context(self) -> AuthContext:
        """The one context of a scheme not bound to connections (made on first use)."""
        context = self._shared_context = self.auth.new_context(
            url=self._url, host=self.endpoint.host, encrypt=self.settings.encrypt
        )
        if isinstance(context, PreemptiveContext):
            self._preemptive = context
            headers = context.request_headers(self._base_headers)
            authorization = headers.get("Authorization")
            if authorization is not None and type(authorization) is not CredentialHeader:
                # Tagged once for the pool's credential keying (aiowsman._http),
                # unless the scheme tagged it already (Basic does).
                headers = {**headers, "Authorization": CredentialHeader(authorization)}
            self._preemptive_headers = headers
        return context

    async def _exchange_bound(self, body: bytes, operation: str) -> HttpResponse:
        self._check_open()
        if self._pool is None:
            self._pool = _ChannelPool(self._new_channel, self.settings.max_channels)
        pool = self._pool
        channel = await pool.acquire()
        ok = False
        try:
            response = await self._exchange_on_channel(channel, body, operation)
            ok = True
            return self._check_status(response)
        finally:
            if not ok:
                # An error or cancellation mid-flow leaves the context in an
                # unknown state: the next user of the channel starts afresh.
                channel.context = None
            pool.release(channel)

    async def _exchange_on_channel(
        self, channel: _Channel, body: bytes, operation: str
    ) -> HttpResponse:
        for attempt in range(2):
            fresh = channel.context is None
            if channel.context is None:
                binding = None
                if self.endpoint.is_tls:
                    binding = await self._channel_binding(channel, operation)
                channel.context = self.auth.new_context(
                    url=self._url,
                    host=self.endpoint.host,
                    channel_binding=binding,
                    encrypt=self.settings.encrypt,
                )
            generation = channel.generation
            request = HttpRequest(self._url, body, dict(self._base_headers))
            try:
                response = await self._run_flow(
                    channel.context, request, channel.client, operation, channel
                )
            except (AuthenticationError, ProtocolError):
                if attempt == 0 and not fresh and channel.generation != generation:
                    # The server (or a keep-alive timeout) replaced the TCP
                    # connection the context was bound to, so the server saw
                    # an unknown context: authenticate again, once.
                    log.debug(
                        "[%s] connection replaced under a context; re-authenticating", self.host
                    )
                    channel.context = None
                    continue
                raise
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _channel_binding(self, channel: _Channel, operation: str) -> bytes | None:
        if channel.peer_cert is None:
            # The binding needs the server's certificate before the first
            # token is made (Kerberos puts it in the AP-REQ), so open the
            # connection with an unauthenticated request first; WinRM answers
            # it with a 401 on the same kept-alive connection.
            await self._send(channel.client, self._url, b"", self._base_headers, operation, channel)
        if channel.peer_cert is None:
            return None
        # RFC 5929 tls-server-end-point, computed where the SPNEGO schemes live.
        from aiowsman.auth.spnego import channel_binding_from_cert

        return channel_binding_from_cert(channel.peer_cert)

    async def _run_flow(
        self,
        context: AuthContext,
        request: HttpRequest,
        client: aiohttp.ClientSession,
        operation: str,
        channel: _Channel | None,
    ) -> HttpResponse:
        # Sends each request the flow yields with _send directly (no closure:
        # one coroutine frame less on every exchange, the hot path).
        flow = context.flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, Offload):
                    # The process-wide bounded auth pool (aiowsman.auth._executor),
                    # not the loop's default executor: many hosts' KDC steps queue
                    # there without starving to_thread / DNS users.
                    try:
                        result = await run_offload(step.func)
                    except Exception as exc:
                        step = flow.throw(exc)
                    else:
                        step = flow.send(result)
                else:
                    response = await self._send(
                        client, step.url, step.body, step.headers, operation, channel
                    )
                    step = flow.send(response)
        except StopIteration as stop:
            final: HttpResponse = stop.value
            return final
        finally:
            flow.close()

    async def _send(
        self,
        client: aiohttp.ClientSession,
        url: str | URL,
        body: bytes,
        headers: Mapping[str, str],
        operation: str,
        channel: _Channel | None,
        anonymous: bool = False,
        preemptive: PreemptiveContext | None = None,
    ) -> HttpResponse:
        """Send one request (resent once if idempotent and a kept-alive connection dropped).

        With ``preemptive`` (the hot path of :meth:`exchange`), this is the
        whole exchange: a slot of the session's bound is taken, and a 401
        (the context's refusal) and the status are checked here.
        """
        if url == self._url:
            # Every request to the endpoint (the hot path's, an auth flow's, a
            # channel's) goes out as the one URL object of the transport,
            # whichever copy of the text the caller holds.
            made = self._post_url
            if made is None:
                made = self._post_url = request_url(self.endpoint)
            url = made
        slots = self._slots if preemptive is not None else None
        if slots is not None:
            if slots.free and not slots.waiters:
                slots.free -= 1
            else:
                await slots.wait()
        attempts = 2 if operation in _IDEMPOTENT else 1
        debug = log.isEnabledFor(logging.DEBUG)
        # The connections a shared pool hands this transport are noted (and
        # closed with it); a channel's connector is its own. Set, not reset
        # (see _Held): mostly it is already this transport's.
        held = self._held if channel is None else None
        if _HELD.get() is not held:
            _HELD.set(held)
        try:
            for attempt in range(attempts):
                started = time.perf_counter() if debug else 0.0
                failure: WSManError | None = None
                try:
                    async with client.post(
                        url,
                        data=body,
                        headers=headers,
                        ssl=self._anonymous_ssl if anonymous else self._ssl,
                        proxy=self._proxy,
                        allow_redirects=False,
                    ) as resp:
                        length = resp.content_length
                        if length is not None and length <= self._max_response:
                            data = await resp.read()  # the common case, read here: no frame more
                        else:
                            data = await self._read_body(resp)
                        response = HttpResponse(resp.status, resp.headers, data)
                except _CLIENT_ERRORS as exc:
                    if client.closed or self._closed:
                        # Closed under the request (session.aclose(), or the
                        # caller's shared ClientSession): not the peer's doing.
                        failure = ConfigurationError("the session was closed", host=self.host)
                    elif attempt + 1 < attempts and _connection_dropped(exc):
                        # Typically a kept-alive connection the server had closed
                        # (idle timeout, recycled worker); the operation is
                        # idempotent, so send it once more on a new connection.
                        log.debug(
                            "[%s] %s: connection dropped by peer; retrying once",
                            self.host,
                            operation,
                        )
                        continue
                    else:
                        failure = _map_client_error(exc, self.host)
                        if _connection_dropped(exc) and (
                            anonymous or (channel is None and not self.auth.sends_credentials)
                        ):
                            failure = ConnectError(failure.message + UNAUTHENTICATED_HINT)
                except RuntimeError:
                    # aiohttp refuses a request on a closed ClientSession with a
                    # bare RuntimeError: report it as the library's own error.
                    if not client.closed:
                        raise
                    failure = ConfigurationError("the session was closed", host=self.host)
                if failure is not None:
                    # Raised here, outside the handler, so the aiohttp exception is
                    # neither the cause nor the context: it holds the request
                    # (RequestInfo with the Authorization header, a ConnectionKey
                    # with proxy credentials), and no credential may be reachable
                    # from an error a caller gets. The message keeps what it said.
                    raise failure
                if debug:
                    log.debug(
                        "[%s] %s HTTP %d, %d bytes, %.3fs",
                        self.host,
                        operation,
                        response.status,
                        len(data),
                        time.perf_counter() - started,
                    )
                if preemptive is None:
                    return response
                if response.status == 401:
                    raise preemptive.refusal(response)
                return self._check_status(response)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if slots is not None:
                slots.release()

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._max_response
        length = resp.content_length
        if length is not None:
            if length > limit:
                resp.close()
                raise ResponseTooLargeError(
                    f"response of {length} bytes exceeds the {limit}-byte cap "
                    "(derived from MaxEnvelopeSize)"
                )
            return await resp.read()
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            total += len(chunk)
            if total > limit:
                resp.close()
                raise ResponseTooLargeError(
                    f"response exceeds the {limit}-byte cap (derived from MaxEnvelopeSize)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_status(self, response: HttpResponse, scheme: str | None = None) -> HttpResponse:
        status = response.status
        if status == 200:
            if _is_soap(response):
                return response
            # A web page (say a web server's default one, DOCTYPE and all)
            # is not an attack and not a malformed answer: it is the wrong
            # endpoint, and the error says what came back.
            raise _not_wsman(response, self.host)
        if status == 401:
            offered = response.headers.get("www-authenticate", "")
            names = sorted({p.strip().split(" ", 1)[0] for p in offered.split(",") if p.strip()})
            hint = f"; server offers: {', '.join(names)}" if names else ""
            raise AuthenticationError(
                "HTTP 401: access denied" + hint,
                scheme=scheme or self.auth.scheme,
                host=self.host,
            )
        if status == 413:
            raise EnvelopeTooLargeError(
                "HTTP 413: the request exceeds the server's MaxEnvelopeSize",
                status=status,
                body=response.body,
                host=self.host,
            )
        if response.body and _is_soap(response):
            # A SOAP fault (WinRM: 500 Receiver/Sender, 400 for bad envelopes):
            # the session parses it into a WSManFault.
            return response
        if status == 503:
            retry = _retry_after(response.headers.get("retry-after"))
            raise ServiceUnavailableError(
                "HTTP 503: service unavailable"
                + (f" (retry after {retry:.0f}s)" if retry is not None else ""),
                body=response.body,
                retry_after=retry,
                host=self.host,
            )
        reason = HTTP_REASONS.get(status, "")
        raise HTTPStatusError(
            f"HTTP {status}{' ' + reason if reason else ''} without a SOAP body",
            status=status,
            body=response.body,
            host=self.host,
        )


HTTP_REASONS: Mapping[int, str] = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    411: "Length Required",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
