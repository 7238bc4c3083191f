"""A real WS-Management server on aiohttp for tests, benchmarks and demos.

One process simulates many hosts: each host has its own listener (a port on
127.0.0.1 in ``"ports"`` mode, or its own loopback address 127.x.y.z on a
shared port in ``"addresses"`` mode), its own deterministic CIM store, its own
behaviour knobs and fault injections, and its own statistics.

The server speaks HTTP(S) like Windows' WinRM listener: ``POST /wsman`` with
``application/soap+xml;charset=UTF-8``; ``/wsman-anon/identify`` for the
unauthenticated Identify (MS-WSMV, header ``WSMANIDENTIFY:
unauthenticated``); 401 with ``WWW-Authenticate`` offers; SOAP faults with
HTTP 500.

It never imports the client's envelope builders or parsers (DESIGN.md);
only :mod:`aiowsman.protocol.namespaces` is shared.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import ssl
import struct
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from aiowsman.testing._behaviour import (
    HostBehaviour,
    Injection,
    InjectionKind,
    RequestInfo,
    applying,
)
from aiowsman.testing._bulk import BULK_URI
from aiowsman.testing._cim import TableCache
from aiowsman.testing._faults import Fault, render_fault
from aiowsman.testing._flavour import FlavourName, flavour_named
from aiowsman.testing._host import SimulatedHost, operation_of
from aiowsman.testing._request import BadRequest, ParsedRequest, parse_request
from aiowsman.testing._xml import new_uuid
from aiowsman.testing.families import CimFamily, FamilyFactory, ShellFamily, default_families
from aiowsman.testing.server_auth import AuthOutcome, ConnectionState, ServerAuthHandler

__all__ = ["BasicAuthHandler", "WSManTestServer"]

_log = logging.getLogger("aiowsman.testing")

SOAP_CONTENT_TYPE: Final = "application/soap+xml;charset=UTF-8"
AddressMode = Literal["ports", "addresses"]

_SECPROFILE: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile"
#: ConnectionState key of the user a connection authenticated as (OMI flavour).
_CONNECTION_USER: Final = "connection-user"
_TEXT_NODE: Final = re.compile(rb">([^<>]+)</")


class BasicAuthHandler(ServerAuthHandler):
    """HTTP Basic (RFC 7617) against a users mapping, as the WinRM service does it.

    Windows offers Basic on plain HTTP only when the service's
    ``AllowUnencrypted`` is true; otherwise a Basic request over HTTP is
    refused with 401 like bad credentials (unencrypted traffic is
    rejected; seen as "401" by pywinrm/packer users).
    """

    def __init__(self, users: Mapping[str, str], *, allowed: bool) -> None:
        self._users = dict(users)
        self._allowed = allowed
        self.offers = ('Basic realm="WSMAN"',) if allowed else ()

    async def authenticate(
        self, request: web.Request, body: bytes, conn: ConnectionState
    ) -> AuthOutcome:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return AuthOutcome("skip")
        if not self._allowed:
            return AuthOutcome("fail", reason="Basic over unencrypted HTTP is not allowed")
        try:
            user, sep, password = (
                base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return AuthOutcome("fail", reason="malformed Basic credentials")
        if not sep or self._users.get(user) != password:
            return AuthOutcome("fail", reason="bad user name or password")
        return AuthOutcome("ok", user=user, plaintext=body)


class _WebServer(web.Server):
    """aiohttp's low-level server, told which simulated host a connection is for."""

    def __init__(self, owner: WSManTestServer, **kwargs: Any) -> None:
        super().__init__(owner._handle, handler_cancellation=True, **kwargs)
        self.owner = owner

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        host = self.owner._pending_host.pop(handler, None)
        if host is not None:
            self.owner._connections[handler] = (host, ConnectionState())
            host.stats.connections += 1
            host.stats.open_connections += 1

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        entry = self.owner._connections.pop(handler, None)
        if entry is not None:
            entry[0].stats.open_connections -= 1


def _loopback_address(n: int) -> str:
    """The n-th (0-based) usable address of 127.0.0.0/8, skipping .0 and .255."""
    per_block = 254
    block, offset = divmod(n, per_block)
    value = int(ipaddress.IPv4Address("127.0.0.0")) + block * 256 + offset + 1
    if value > int(ipaddress.IPv4Address("127.255.255.254")):
        raise ValueError("too many hosts for 127.0.0.0/8")
    return str(ipaddress.IPv4Address(value))


class WSManTestServer:
    """Many simulated WS-Man hosts in one process (an async context manager).

    Args:
        hosts: number of simulated hosts.
        tls: an ``ssl.SSLContext`` for HTTPS (tests make one with trustme).
        users: user name -> password accepted by Basic.
        auth: enabled schemes: ``"basic"``, ``"none"`` (no authentication
            required: requests without ``Authorization`` are served), and the
            real acceptors ``"ntlm"``/``"negotiate"`` (one ``Negotiate``
            handler checking ``users``), ``"kerberos"`` (the keytab named by
            ``KRB5_KTNAME``), ``"credssp"`` and ``"certificate"`` (a client
            certificate whose CN is a user name logs on as that user); see
            :func:`aiowsman.testing.spnego_auth.build_handlers`.
        auth_handlers: more :class:`ServerAuthHandler` objects (NTLM,
            Kerberos, CredSSP... from ``aiowsman.testing.spnego_auth``),
            asked before Basic.
        allow_unencrypted: the WinRM service setting ``AllowUnencrypted``:
            when false, plain-HTTP requests that are not message-encrypted are
            refused with 401 (Basic is then not even offered on HTTP).
        latency: seconds added to every answer (or a ``(low, high)`` range);
            the default for hosts without their own behaviour.
        behaviours: host index -> :class:`HostBehaviour`.
        seed: the data seed; the same seed gives the same hosts.
        address_mode: ``"ports"`` (127.0.0.1, one port per host) or
            ``"addresses"`` (one loopback address per host, one port).
        port: first port (``"ports"``: host i listens on port + i) or the
            shared port (``"addresses"``); 0 picks free ports.
        bind_host: the address of ``"ports"`` mode (an IPv4 or IPv6 literal, e.g. ``"::1"``).
        cache_instances: how many generated instances all hosts keep in
            memory together; beyond it the least recently used class tables of
            unchanged hosts are dropped (and regenerated identically on use).
            About 2.7 KB each: the default bounds the data to about 1 GB,
            enough for every Win32_Service of 2000 hosts.
        bulk_instances: when positive, every host also serves the read-only
            class ``AIOWSMAN_BulkItem`` (key ``Id``, 1..N) with this many
            instances of about 2.2 KB each, for enumeration benchmarks. They
            are made on demand from ``(seed, host, Id)`` and never kept, so
            N = 200,000 costs no memory (see :mod:`aiowsman.testing._bulk`).
        families: more resource families every host serves, after the default
            ones (see :mod:`aiowsman.testing.families`; tests add their own).
        flavour: the server the hosts imitate: ``"windows"`` (WinRM, the
            default) or ``"omi"`` (Open Management Infrastructure: its
            Identify, addressing, bare datetimes, OMI_Error faults and Basic
            authenticating the connection; see :mod:`aiowsman.testing._flavour`).

    Attributes:
        endpoints: one URL per simulated host, ``http(s)://ip:port/wsman``.
        bulk_uri: the resource URI of ``AIOWSMAN_BulkItem`` when
            ``bulk_instances`` is positive, else None.
    """

    def __init__(
        self,
        *,
        hosts: int = 1,
        tls: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        auth: Sequence[str] = ("basic",),
        auth_handlers: Iterable[ServerAuthHandler] = (),
        allow_unencrypted: bool = True,
        latency: float | tuple[float, float] = 0.0,
        behaviours: Mapping[int, HostBehaviour] | None = None,
        seed: int = 0,
        address_mode: AddressMode = "ports",
        port: int = 0,
        bind_host: str = "127.0.0.1",
        cache_instances: int = 400_000,
        backlog: int = 1024,
        bulk_instances: int = 0,
        families: Sequence[FamilyFactory] = (),
        flavour: FlavourName = "windows",
    ) -> None:
        self.flavour = flavour_named(flavour)
        if hosts < 1:
            raise ValueError("hosts must be >= 1")
        if address_mode not in ("ports", "addresses"):
            raise ValueError("address_mode must be 'ports' or 'addresses'")
        if bulk_instances < 0:
            raise ValueError("bulk_instances must be >= 0")
        self.bulk_uri: str | None = BULK_URI if bulk_instances > 0 else None
        self.tls = tls
        self.users = dict(users) if users is not None else {"user": "pass"}
        self.auth = tuple(a.lower() for a in auth)
        self.allow_unencrypted = allow_unencrypted
        self.address_mode: AddressMode = address_mode
        self.seed = seed
        self._port = port
        self._bind_host = bind_host
        self._backlog = backlog
        handlers = list(auth_handlers)
        #: Handlers built here from scheme names (closed with the server).
        self._owned_handlers: list[ServerAuthHandler] = []
        named = [a for a in self.auth if a not in ("basic", "none")]
        if named:
            # "ntlm", "negotiate", "kerberos", "credssp", "certificate": real
            # acceptors (imported only when asked for: pyspnego/gssapi).
            from aiowsman.testing.spnego_auth import build_handlers

            self._owned_handlers = build_handlers(
                named, users=self.users, tls=tls is not None, allow_unencrypted=allow_unencrypted
            )
            handlers.extend(self._owned_handlers)
        if "basic" in self.auth:
            handlers.append(
                BasicAuthHandler(self.users, allowed=tls is not None or allow_unencrypted)
            )
        self.auth_handlers: list[ServerAuthHandler] = handlers
        behaviours = dict(behaviours or {})
        self._cache = TableCache(cache_instances)
        host_families = (
            *default_families(cache=self._cache, bulk_instances=bulk_instances),
            *families,
        )
        self.hosts: list[SimulatedHost] = [
            SimulatedHost(
                i,
                seed=seed,
                behaviour=behaviours.get(i) or HostBehaviour(latency=latency),
                families=host_families,
                flavour=self.flavour,
            )
            for i in range(hosts)
        ]
        self.endpoints: list[str] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._reserved: list[socket.socket] = []
        self._web: _WebServer | None = None
        self._pending_host: dict[RequestHandler, SimulatedHost] = {}
        self._connections: dict[RequestHandler, tuple[SimulatedHost, ConnectionState]] = {}
        self._closing: asyncio.Event | None = None
        self._started = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    def host(self, index: int) -> SimulatedHost:
        """Simulated host number ``index`` (its store, behaviour, stats)."""
        return self.hosts[index]

    async def __aenter__(self) -> WSManTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def prewarm(self, class_names: Iterable[str]) -> None:
        """Generate and render these classes' instances on every host now.

        Benchmarks call this so that the first round does not pay for data
        generation; what exceeds ``cache_instances`` is dropped again.

        Raises:
            KeyError: an unknown class name.
        """
        names = list(class_names)
        for host in self.hosts:
            store = host.family(CimFamily).load_store()
            for name in names:
                cls = store.cim_class(name)
                if cls is None:
                    raise KeyError(name)
                if cls.name in store.virtual:
                    continue  # made on demand, never kept: nothing to warm
                for inst in store.instances(cls.name):
                    inst.xml()
        self._cache.trim()

    def summary(self) -> dict[str, int]:
        """Totals over all hosts: requests, connections, faults, auth failures,
        releases, open enumeration contexts, open shells and the largest
        per-host concurrency seen."""
        hosts = self.hosts
        return {
            "hosts": len(hosts),
            "requests": sum(h.stats.requests for h in hosts),
            "connections": sum(h.stats.connections for h in hosts),
            "faults": sum(sum(h.stats.faults.values()) for h in hosts),
            "auth_failures": sum(h.stats.auth_failures for h in hosts),
            "releases": sum(len(h.stats.releases) for h in hosts),
            "contexts_open": sum(h.contexts_open for h in hosts),
            "shells_open": sum(len(h.family(ShellFamily).open_shells()) for h in hosts),
            "max_in_flight": max((h.stats.max_in_flight for h in hosts), default=0),
        }

    def _make_protocol(self, host: SimulatedHost) -> RequestHandler:
        assert self._web is not None
        handler = self._web()
        self._pending_host[handler] = host
        return handler

    def _listen_socket(self, address: str, port: int, *, listen: bool = True) -> socket.socket:
        # An IPv6 literal (bind_host="::1") needs an AF_INET6 socket.
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if port:
                # Only for fixed ports (a restart may find them in TIME_WAIT);
                # with port 0 SO_REUSEADDR makes the kernel's free-port search
                # very slow (7 s instead of 0.15 s for 5000 listeners).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            if listen:
                sock.listen(self._backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def start(self) -> None:
        """Open every listener. Listeners are plain sockets handed to asyncio,
        so thousands start in well under a second."""
        if self._started:
            raise RuntimeError("server already started")
        self._started = True
        loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        self._web = _WebServer(self, access_log=None, keepalive_timeout=75.0)
        scheme = "https" if self.tls else "http"
        shared_port = self._port
        try:
            for host in self.hosts:
                if self.address_mode == "ports":
                    address = self._bind_host
                    port = self._port + host.index if self._port else 0
                else:
                    address = _loopback_address(host.index)
                    port = shared_port
                try:
                    sock = self._listen_socket(address, port, listen=not host.behaviour.down)
                except OSError as exc:
                    hint = (
                        " (addresses mode needs the whole 127.0.0.0/8 on loopback, as on Linux)"
                        if self.address_mode == "addresses"
                        else ""
                    )
                    raise OSError(
                        exc.errno, f"cannot listen on {address}:{port}{hint}: {exc.strerror}"
                    ) from exc
                bound_port = sock.getsockname()[1]
                if self.address_mode == "addresses" and shared_port == 0:
                    shared_port = bound_port
                host.machine = address
                # RFC 3986 3.2.2: an IPv6 literal is bracketed in a URL.
                authority = f"[{address}]" if ":" in address else address
                host.url = f"{scheme}://{authority}:{bound_port}/wsman"
                self.endpoints.append(host.url)
                if host.behaviour.down:
                    # A host that is "down": the socket stays bound but never
                    # listens, so the port stays reserved (no other process can
                    # take it) and connections to it are refused (RST).
                    self._reserved.append(sock)
                    continue
                server = await loop.create_server(
                    functools.partial(self._make_protocol, host),
                    sock=sock,
                    ssl=self.tls,
                    backlog=self._backlog,
                )
                self._servers.append(server)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop listening, end open connections and pending (black-holed) requests."""
        if self._closed:
            return
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        for host in self.hosts:
            await host.close()
        for auth_handler in self._owned_handlers:
            close = getattr(auth_handler, "close", None)
            if close is not None:
                close()
        for server in self._servers:
            server.close()
        if self._web is not None:
            # Idle keep-alive connections end at once (pre_shutdown); requests
            # in progress get a second to finish.
            self._web.pre_shutdown()
            with contextlib.suppress(Exception):
                await self._web.shutdown(1.0)
        for handler in list(self._connections):
            if handler.transport is not None:
                handler.transport.abort()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self._servers.clear()
        for sock in self._reserved:
            sock.close()
        self._reserved.clear()
        self._connections.clear()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_started", False) and not getattr(self, "_closed", True):
            _warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)

    def __repr__(self) -> str:
        return (
            f"<WSManTestServer hosts={len(self.hosts)} mode={self.address_mode} "
            f"tls={self.tls is not None}>"
        )

    # -- HTTP ---------------------------------------------------------------------

    def _offers(self) -> list[str]:
        offers: list[str] = []
        for handler in self.auth_handlers:
            offers.extend(handler.offers)
        return offers

    def _unauthorized(self, extra: Mapping[str, str] | None = None) -> web.Response:
        resp = web.Response(status=401)
        if extra:
            for k, v in extra.items():
                resp.headers.add(k, v)
        else:
            for offer in self._offers():
                resp.headers.add("WWW-Authenticate", offer)
        return resp

    def _profiles(self) -> list[str]:
        transport = "https" if self.tls else "http"
        out = []
        for handler in self.auth_handlers:
            for offer in handler.offers:
                scheme = offer.split(" ", 1)[0].lower()
                name = {"negotiate": "spnego-kerberos", "kerberos": "spnego-kerberos"}.get(
                    scheme, scheme
                )
                out.append(f"{_SECPROFILE}/{transport}/{name}")
        return list(dict.fromkeys(out))

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        entry = self._connections.get(request.protocol)
        if entry is None:
            return web.Response(status=503)
        host, conn = entry
        cookie = request.headers.get("Cookie")
        if cookie is not None:
            host.stats.cookies_received[cookie] += 1
        if (
            self.flavour.authenticates_connections
            and "Authorization" not in request.headers
            and _CONNECTION_USER not in conn.data
            and "none" not in self.auth
        ):
            # OMI with Basic: an unauthenticated request on a connection that
            # never authenticated gets no answer at all (_flavour, rule 7).
            return await self._black_hole(request)
        if request.path == "/wsman-anon/identify" and self.flavour.anonymous_identify:
            return await self._anonymous_identify(request, host)
        if request.path != "/wsman":
            return web.Response(status=404)
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        raw = await request.read()
        outcome = await self._authenticate(request, raw, conn)
        if outcome.kind == "continue":
            return self._unauthorized(outcome.headers)
        if outcome.kind != "ok":
            # A request without credentials is the normal first leg of the
            # challenge, not a failure.
            if "Authorization" in request.headers:
                host.stats.auth_failures += 1
            return self._unauthorized()
        if not raw and not outcome.plaintext:
            # An empty POST that completes a handshake (pywinrm and pypsrp
            # send one before encrypting): Windows answers 200, no SOAP.
            return web.Response(status=200, headers=outcome.headers)
        stats = host.stats
        stats.requests += 1
        stats.by_user[outcome.user or ""] += 1
        behaviour = host.behaviour
        if behaviour.unauthorized_after is not None and stats.requests > (
            behaviour.unauthorized_after
        ):
            stats.auth_failures += 1
            if outcome.done is not None:
                outcome.done()
            return self._unauthorized()
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            return await self._serve(request, host, outcome)
        finally:
            stats.in_flight -= 1
            if outcome.done is not None:
                # The handler's context is free for the connection's next request.
                outcome.done()

    async def _authenticate(
        self, request: web.BaseRequest, raw: bytes, conn: ConnectionState
    ) -> AuthOutcome:
        if "Authorization" not in request.headers:
            connection_user = conn.data.get(_CONNECTION_USER)
            if connection_user is not None:
                # A connection that authenticated (OMI with Basic) serves
                # its later requests as that user (_flavour, rule 7).
                return AuthOutcome("ok", user=connection_user, plaintext=raw)
            if "none" in self.auth and not request.content_type.startswith("multipart/"):
                return AuthOutcome("ok", user=None, plaintext=raw)
        for handler in self.auth_handlers:
            outcome = await handler.authenticate(request, raw, conn)  # type: ignore[arg-type]
            if outcome.kind == "skip":
                continue
            if (
                outcome.kind == "ok"
                and self.flavour.authenticates_connections
                and isinstance(handler, BasicAuthHandler)
            ):
                conn.data[_CONNECTION_USER] = outcome.user
            if (
                outcome.kind == "ok"
                and self.tls is None
                and not self.allow_unencrypted
                and not outcome.encrypted
            ):
                # AllowUnencrypted=false: an authenticated but unencrypted
                # message on HTTP is refused with 401 (as Windows does; see
                # hashicorp/packer#6205 analysis by the pypsrp author).
                return AuthOutcome("fail", reason="unencrypted message refused")
            if outcome.kind == "fail":
                _log.debug("authentication failed: %s", outcome.reason)
            return outcome
        return AuthOutcome("fail", reason="no acceptable Authorization header")

    async def _anonymous_identify(
        self, request: web.BaseRequest, host: SimulatedHost
    ) -> web.StreamResponse:
        # MS-WSMV: unauthenticated Identify needs this header and
        # this path; anything else there is refused.
        if request.method != "POST" or request.headers.get("WSMANIDENTIFY", "").lower() != (
            "unauthenticated"
        ):
            return web.Response(status=403)
        raw = await request.read()
        try:
            req = parse_request(raw)
        except BadRequest:
            return web.Response(status=400)
        if operation_of(req) != "Identify":
            return web.Response(status=403)
        host.stats.by_operation["Identify"] += 1
        host.stats.by_user[""] += 1
        body = host.identify(authenticated=False, profiles=[]).encode()
        headers = {"Content-Type": SOAP_CONTENT_TYPE}
        if host.behaviour.set_cookie is not None:
            headers["Set-Cookie"] = host.behaviour.set_cookie
        return web.Response(body=body, headers=headers)

    async def _black_hole(self, request: web.BaseRequest) -> web.StreamResponse:
        """Never answer: hold the request until the server closes, then drop it."""
        assert self._closing is not None
        await self._closing.wait()
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)

    def _pick_injection(self, host: SimulatedHost, info: RequestInfo) -> Injection | None:
        behaviour = host.behaviour
        injection = behaviour.inject(info) if behaviour.inject is not None else None
        if injection is None:
            injection = behaviour.always
        if injection is not None:
            host.stats.injections[injection.kind.value] += 1
        return injection

    async def _serve(
        self, request: web.BaseRequest, host: SimulatedHost, outcome: AuthOutcome
    ) -> web.StreamResponse:
        stats = host.stats
        behaviour = host.behaviour
        req: ParsedRequest | None = None
        fault: Fault | None = None
        try:
            req = parse_request(outcome.plaintext)
            if req.has_doctype:
                # WinRM refuses DTDs in requests; so do we (no entity games).
                raise BadRequest(
                    "xml",
                    "The request contains a DOCTYPE, which is not allowed. ",
                    message_id=req.message_id,
                )
        except BadRequest as exc:
            if exc.kind == "must_understand":
                fault = Fault.must_understand(exc.qname, exc.ns)
            elif exc.kind == "header":
                fault = Fault.invalid_header(exc.message)
            else:
                fault = Fault.schema_validation(exc.message)
            relates_to = exc.message_id
            req = None
        operation = operation_of(req) if req is not None else "Unknown"
        if req is not None:
            stats.by_action[req.action or operation] += 1
            relates_to = req.message_id
        stats.by_operation[operation] += 1
        info = RequestInfo(
            host=host.index,
            operation=operation,
            action=req.action if req else "",
            resource_uri=req.resource_uri if req else None,
            number=stats.requests,
            user=outcome.user,
        )
        injection = self._pick_injection(host, info)
        kind = injection.kind if injection is not None else None
        delay = host.latency()
        if injection is not None and kind is InjectionKind.LATENCY:
            delay += injection.delay

        # -- injections that replace the answer before any work -------------
        if kind is InjectionKind.BLACK_HOLE:
            return await self._black_hole(request)
        if kind is InjectionKind.RESET_BEFORE_RESPONSE:
            return _reset(request)
        if kind is InjectionKind.HTTP_500:
            return web.Response(
                status=500,
                text="<html><body><h1>Internal Server Error</h1></body></html>",
                content_type="text/html",
            )
        if kind is InjectionKind.HTTP_503:
            assert injection is not None
            return web.Response(status=503, headers={"Retry-After": str(injection.retry_after)})
        if kind is InjectionKind.WEB_PAGE:
            return web.Response(status=200, text=_WEB_PAGE, content_type="text/html")
        if kind is InjectionKind.UNAUTHORIZED:
            return self._unauthorized()
        if kind is InjectionKind.EXPIRE_CONTEXTS:
            host.contexts.clear()
        limit = behaviour.max_concurrent_operations
        if fault is None and limit is not None and stats.in_flight > limit:
            fault = Fault.quota(limit)
        if fault is None and kind is InjectionKind.QUOTA:
            fault = Fault.quota(behaviour.max_concurrent_operations or 15)

        # -- latency, honouring OperationTimeout (DSP0226 6.1) --------------
        timeout = req.operation_timeout if req is not None else None
        if fault is None and timeout is not None and delay > timeout:
            await asyncio.sleep(timeout)
            fault = Fault.timed_out()
        elif delay > 0:
            await asyncio.sleep(delay)
        if fault is None and kind is InjectionKind.TIMED_OUT:
            fault = Fault.timed_out()

        activity_id = new_uuid()
        if kind is InjectionKind.WRONG_RELATES_TO:
            relates_to = f"uuid:{new_uuid()}"
        status = 200
        if fault is None and req is not None:
            try:
                if operation == "Identify":
                    text = host.identify(authenticated=True, profiles=self._profiles())
                else:
                    # The injection reaches the enumeration code through a
                    # context variable (enumeration quirks: endless, empty
                    # or oversize batches), not through every family's API.
                    with applying(injection):
                        answer = host.execute(req, relates_to, activity_id, outcome.user)
                        text = answer if isinstance(answer, str) else await answer
            except Fault as exc:
                fault = exc
            else:
                # The flavour's dialect of the answer (_flavour: URIs, datetimes).
                text = self.flavour.adapt(text, request.headers.get("User-Agent", ""))
        if fault is not None:
            status = fault.status
            stats.faults[fault.subcode or fault.code] += 1
            text = self.flavour.render_fault(
                fault, relates_to=relates_to, machine=host.machine, activity_id=activity_id
            )
        # WinRM answers in the request's character set (Windows clients send
        # UTF-16, MS-WSMV 4.5 shows charset=UTF-16); a behaviour may force one.
        encoding = behaviour.response_encoding or _request_charset(request)
        if kind is InjectionKind.DTD_IN_UTF32:
            assert injection is not None
            # WS-Man allows UTF-8 and UTF-16 only; libxml2 reads UTF-32 too.
            doctype = (
                f'<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE s:Envelope ['
                f'<!ENTITY % ext SYSTEM "{injection.target}"> %ext;]>'
            )
            body = (doctype + text).encode("utf-32")
            soap_type = "application/soap+xml;charset=UTF-32"
        elif encoding == "utf-16":
            body = text.encode("utf-16")  # with a BOM, as Windows writes it
            soap_type = "application/soap+xml;charset=UTF-16"
        else:
            body = text.encode("utf-8")
            soap_type = SOAP_CONTENT_TYPE

        # -- injections that spoil the answer --------------------------------
        if injection is not None:
            body = _spoil(body, injection)
        content_type = soap_type
        if outcome.seal is not None:
            body, content_type = outcome.seal(body)
        headers = {"Content-Type": content_type}
        headers.update(outcome.headers)
        if behaviour.set_cookie is not None:
            headers["Set-Cookie"] = behaviour.set_cookie
        if kind in (
            InjectionKind.RESET_MID_RESPONSE,
            InjectionKind.TRUNCATED_BODY,
            InjectionKind.SLOW_DRIP,
        ):
            assert injection is not None
            return await _stream(request, status, headers, body, injection)
        if kind is InjectionKind.PUSH_EXTRA_RESPONSE and request.transport is not None:
            assert injection is not None
            _push_later(request.transport, injection.delay, machine=host.machine)
        return web.Response(status=status, body=body, headers=headers)


def _request_charset(request: web.BaseRequest) -> str:
    header = request.headers.get("Content-Type", "").lower().replace(" ", "")
    return "utf-16" if "charset=utf-16" in header else "utf-8"


# -- injection helpers --------------------------------------------------------------


def _abort_with_reset(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout turns close() into a TCP RST.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _reset(request: web.BaseRequest) -> web.StreamResponse:
    _abort_with_reset(request)
    raise asyncio.CancelledError()


def _insert_in_text(body: bytes, insert: bytes) -> bytes:
    start = body.find(b"<s:Body>")
    match = _TEXT_NODE.search(body, max(start, 0))
    if match is None:
        match = _TEXT_NODE.search(body)
    if match is None:
        return body + insert
    return body[: match.end(1)] + insert + body[match.end(1) :]


_LAUGHS: Final = (
    b'<!DOCTYPE s:Envelope [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "' % i + (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10 + b'">'
        for i in range(1, 10)
    )
    + b"]>"
)


_WEB_PAGE: Final = (
    "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n"
    "<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is "
    "successfully installed and working.</p>\n</body>\n</html>\n"
)


def _push_later(transport: asyncio.BaseTransport, delay: float, *, machine: str) -> None:
    """Write an unsolicited HTTP response on a kept-alive connection after ``delay`` s.

    A w:QuotaLimit fault without RelatesTo: the shape Windows really sends
    without RelatesTo (corpus winrb-fault-quotalimit-msft-wmierror.xml), so
    it cannot be told from a genuine answer by correlation alone.
    """
    body = render_fault(Fault.quota(1), relates_to=None, machine=machine).encode("utf-8")
    head = (
        "HTTP/1.1 500 Internal Server Error\r\n"
        f"Content-Type: {SOAP_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")

    def push() -> None:
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(head + body)

    asyncio.get_running_loop().call_later(delay, push)


def _after_start_tag(body: bytes, tag: bytes) -> int:
    """The offset just after the name of the first ``tag`` start tag (or 0)."""
    pos = body.find(tag)
    return pos + len(tag) if pos >= 0 else 0


def _spoil(body: bytes, injection: Injection) -> bytes:
    kind = injection.kind
    if kind is InjectionKind.NAMESPACE_FLOOD:
        pos = _after_start_tag(body, b"<s:Envelope")
        flood = b"".join(
            b' xmlns:flood%d="urn:aiowsman:flood:%d"' % (i, i) for i in range(injection.count)
        )
        return body[:pos] + flood + body[pos:]
    if kind is InjectionKind.HEAVY_BODY:
        pos = body.find(b"</s:Header>")
        if pos < 0:
            return body
        head = b'<h:Padding xmlns:h="urn:aiowsman:padding">'
        tail = b"</h:Padding>"
        count = max(0, (injection.size - len(body) - len(head) - len(tail)) // len(b"<h:e/>"))
        return body[:pos] + head + b"<h:e/>" * count + tail + body[pos:]
    if kind is InjectionKind.GARBAGE:
        return b"}{ this is not XML at all \x01\x02 <<<"
    if kind is InjectionKind.INVALID_UTF8:
        return _insert_in_text(body, b"\xc3\x28\xff")
    if kind is InjectionKind.OVERSIZED:
        pad = b"<!--" + b"x" * max(0, injection.size - len(body)) + b"-->"
        pos = body.find(b"<s:Body>")
        pos = pos + len(b"<s:Body>") if pos >= 0 else len(body)
        return body[:pos] + pad + body[pos:]
    if kind is InjectionKind.XXE:
        doctype = b'<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        return doctype + _insert_in_text(body, b"&xxe;")
    if kind is InjectionKind.BILLION_LAUGHS:
        return _LAUGHS + _insert_in_text(body, b"&lol9;")
    if kind is InjectionKind.DOCTYPE:
        return b"<!DOCTYPE s:Envelope>" + body
    return body


async def _stream(
    request: web.BaseRequest,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    injection: Injection,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = len(body)
    await resp.prepare(request)
    kind = injection.kind
    if kind is InjectionKind.SLOW_DRIP:
        for i in range(len(body)):
            await resp.write(body[i : i + 1])
            await asyncio.sleep(injection.delay)
        await resp.write_eof()
        return resp
    await resp.write(body[: len(body) // 2])
    await asyncio.sleep(0.01)
    if kind is InjectionKind.RESET_MID_RESPONSE:
        _abort_with_reset(request)
    elif request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError()
