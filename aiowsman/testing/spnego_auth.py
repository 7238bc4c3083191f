"""Server-side NTLM, Negotiate, Kerberos, CredSSP and certificate authentication.

These :class:`~aiowsman.testing.server_auth.ServerAuthHandler` implementations
are real acceptors (pyspnego's ``spnego.server``): NTLM checks the password
against an ``NTLM_USER_FILE``, Kerberos decrypts the service ticket with a
keytab from a real MIT KDC, CredSSP runs its TLS channel. They behave like a
Windows WinRM service:

* a security context per TCP connection (kept in ``ConnectionState``);
* RFC 4559 legs: ``401`` + ``WWW-Authenticate: <Scheme> <token>``; the last
  token (Kerberos AP-REP) rides on the final response;
* MS-WSMV 2.2.9.1 message encryption: encrypted requests are unsealed and the
  reply sealed with the same context; an empty-body request completes the
  handshake without SOAP;
* ``require_encryption=True`` mirrors ``AllowUnencrypted=false`` on HTTP:
  an authenticated but unencrypted SOAP request is refused with ``fail``, so
  the server answers 401, as Windows does after an NTLM handshake (packet
  capture in hashicorp/packer#6205); users report HTTP 500 plus an event-log
  "unencrypted message forbidden" for Kerberos (diyan/pywinrm#129,
  cloudsoft/winrm4j#151). Either way no SOAP is served.

The multipart framing here is written independently of
``aiowsman.auth.encryption`` on purpose: a bug mirrored in client and server
would pass every round trip.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from aiowsman.testing.server_auth import AuthOutcome, ConnectionState, ServerAuthHandler

__all__ = [
    "UNENCRYPTED_REFUSED",
    "CertificateServerAuth",
    "ContextUse",
    "CredSSPServerAuth",
    "KerberosServerAuth",
    "NTLMUserFile",
    "NegotiateServerAuth",
    "SpnegoServerAuth",
    "build_handlers",
    "handler_factories",
]

#: ``AuthOutcome.reason`` when an unencrypted SOAP request is refused
#: (``AllowUnencrypted=false``).
UNENCRYPTED_REFUSED = "unencrypted message forbidden (AllowUnencrypted=false)"

_MUTUAL_URI = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
_SOAP_CT = "application/soap+xml;charset=UTF-8"


class NTLMUserFile:
    """A throw-away NTLM user store (``DOMAIN:user:password`` lines).

    pyspnego's NTLM acceptor reads the file named by ``NTLM_USER_FILE``
    (process-wide; the same variable gss-ntlmssp reads), so creating this
    object sets it; :meth:`close` restores the previous value.

    Args:
        users: user name -> password.
        domain: the NetBIOS domain; each user is also written without one,
            so ``user`` and ``DOMAIN\\user`` both log on.
        export: set ``NTLM_USER_FILE`` now (False: the handler that owns the
            file sets it only around its own acceptor calls, so servers with
            different users can share a process).
    """

    def __init__(
        self, users: Mapping[str, str], *, domain: str = "WSMAN", export: bool = True
    ) -> None:
        self._dir = tempfile.mkdtemp(prefix="aiowsman-ntlm-")
        self.path = os.path.join(self._dir, "users")
        lines = []
        for user, password in users.items():
            if ":" in user or ":" in password or "\n" in user + password:
                raise ValueError("NTLM user file entries cannot contain ':' or newlines")
            lines.append(f"{domain}:{user}:{password}")
            lines.append(f":{user}:{password}")
        with open(self.path, "w", encoding="utf-8") as fd:
            fd.write("\n".join(lines) + "\n")
        self._exported = export
        self._previous = os.environ.get("NTLM_USER_FILE")
        if export:
            os.environ["NTLM_USER_FILE"] = self.path

    def __repr__(self) -> str:
        return f"<NTLMUserFile path={self.path!r}>"

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Point ``NTLM_USER_FILE`` at this file for the duration of the block.

        pyspnego's NTLM acceptor reads the variable when it verifies an
        AUTHENTICATE message, inside ``step()``; the handlers call ``step()``
        on the event loop thread, so the swap is not seen by other requests.
        """
        previous = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = self.path
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = previous

    def close(self) -> None:
        """Delete the file and restore ``NTLM_USER_FILE``."""
        if self._exported:
            if self._previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._previous
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> NTLMUserFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the server's own MS-WSMV 2.2.9.1 framing (independent of the client's) ---


class _FramingError(Exception):
    pass


def _server_parse(body: bytes, content_type: str) -> tuple[str, list[tuple[int, bytes, bytes]]]:
    """Parse an encrypted request into ``(protocol, [(length, header, data)])``."""
    ct = content_type.replace(" ", "")
    kind = ct.split(";", 1)[0].lower()
    if kind not in ("multipart/encrypted", "multipart/x-multi-encrypted"):
        raise _FramingError("not encrypted")
    m = re.search(r'protocol="([^"]+)"', ct)
    if not m:
        raise _FramingError("no protocol")
    protocol = m.group(1)
    marker = b"--Encrypted Boundary"
    if not body.endswith(marker + b"--\r\n"):
        raise _FramingError("no closing boundary")
    body = body[: -len(marker) - 4]
    # Each part: marker, header block, marker, octet-stream header, payload.
    pieces = body.split(marker + b"\r\n\tContent-Type: " + protocol.encode() + b"\r\n")
    if pieces[0] != b"":
        raise _FramingError("garbage before the first part")
    parts = []
    for piece in pieces[1:]:
        meta, sep, rest = piece.partition(
            b"\r\n" + marker + b"\r\n\tContent-Type: application/octet-stream\r\n"
        )
        if not sep:
            raise _FramingError("part without payload")
        lm = re.fullmatch(rb"\tOriginalContent: type=[^;]+;charset=[^;]+;Length=(\d+)", meta)
        if not lm or len(rest) < 4:
            raise _FramingError("bad part header")
        hlen = struct.unpack("<I", rest[:4])[0]
        parts.append((int(lm.group(1)), rest[4 : 4 + hlen], rest[4 + hlen :]))
    if not parts:
        raise _FramingError("no parts")
    return protocol, parts


def _server_build(context: Any, protocol: str, plaintext: bytes, chunk: int | None) -> bytes:
    out = []
    size = chunk or max(len(plaintext), 1)
    for i in range(0, max(len(plaintext), 1), size):
        piece = plaintext[i : i + size]
        header, data, padding = context.wrap_winrm(piece)
        out.append(
            b"--Encrypted Boundary\r\n\tContent-Type: %s\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n"
            b"--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"
            % (protocol.encode(), len(piece) + padding)
        )
        out.append(struct.pack("<I", len(header)) + header + data)
    out.append(b"--Encrypted Boundary--\r\n")
    return b"".join(out)


@dataclass
class ContextUse:
    """How one established server-side context was used (for tests).

    Attributes:
        user: the authenticated principal.
        connections: the ids of the TCP connections whose requests it
            admitted (one, for a connection-bound context).
        requests: SOAP requests it admitted.
        busy: requests admitted whose response is not sent yet.
        max_busy: the most requests it ever had in progress at once (1 when
            the client never interleaves requests on a context).
    """

    user: str | None
    connections: set[int] = field(default_factory=set)
    requests: int = 0
    busy: int = 0
    max_busy: int = 0

    def begin(self, connection: int) -> Callable[[], None]:
        """Record a request admitted on ``connection``; return the "response sent" hook."""
        self.connections.add(connection)
        self.requests += 1
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)
        finished = False

        def done() -> None:
            nonlocal finished
            if not finished:
                finished = True
                self.busy -= 1

        return done


_CONNECTION_IDS = itertools.count(1)


def _connection_id(conn: ConnectionState) -> int:
    value = conn.data.get("connection_id")
    if not isinstance(value, int):
        value = conn.data["connection_id"] = next(_CONNECTION_IDS)
    return value


@dataclass
class _ContextState:
    context: Any = None
    user: str | None = None
    established: bool = False
    use: ContextUse | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class SpnegoServerAuth(ServerAuthHandler):
    """An RFC 4559 acceptor for one HTTP scheme (base of the handlers below).

    Args:
        protocol: the pyspnego protocol of the acceptor.
        header_scheme: the HTTP scheme word (``Negotiate``, ``Kerberos``, ``CredSSP``).
        encryption_protocol: the MS-WSMV 2.2.9.1 protocol name for this scheme.
        require_encryption: refuse authenticated but unencrypted SOAP
            (``AllowUnencrypted=false``).
        channel_binding: the ``tls-server-end-point`` application data to
            require (EPA, ``CbtHardeningLevel=Strict``); None accepts any.
        service / hostname: the acceptor SPN (Kerberos).
        chunk_size: seal replies in parts of this size (CredSSP: 16 KiB).
        users: user name -> password for NTLM (also inside Negotiate and
            CredSSP): the handler writes its own :class:`NTLMUserFile` and
            points ``NTLM_USER_FILE`` at it only while its acceptors run.
            Without it, a process-wide ``NTLM_USER_FILE`` is used.
        domain: the NetBIOS domain of ``users``.

    Attributes:
        logons: principals that completed a handshake, in order.
        delegations: principals that delegated a credential.
        contexts: a :class:`ContextUse` per established context, in order.
    """

    def __init__(
        self,
        *,
        protocol: str,
        header_scheme: str,
        encryption_protocol: str,
        require_encryption: bool = False,
        channel_binding: bytes | None = None,
        service: str | None = None,
        hostname: str | None = None,
        chunk_size: int | None = None,
        users: Mapping[str, str] | None = None,
        domain: str = "WSMAN",
    ) -> None:
        self._user_file = (
            NTLMUserFile(users, domain=domain, export=False) if users is not None else None
        )
        self.protocol = protocol
        self.header_scheme = header_scheme
        self.offers = (header_scheme,)
        self.encryption_protocol = encryption_protocol
        self.require_encryption = require_encryption
        self.channel_binding = channel_binding
        self.service = service
        self.hostname = hostname
        self.chunk_size = chunk_size
        self._key = f"spnego:{header_scheme.lower()}"
        #: Principals that completed a handshake, in order (for tests).
        self.logons: list[str] = []
        #: Principals that delegated their credential (Kerberos forwarded TGT).
        self.delegations: list[str] = []
        #: Every established context and how it was used.
        self.contexts: list[ContextUse] = []

    def close(self) -> None:
        """Delete the handler's NTLM user file, if it has one."""
        if self._user_file is not None:
            self._user_file.close()
            self._user_file = None

    def _credentials(self) -> contextlib.AbstractContextManager[None]:
        if self._user_file is None:
            return contextlib.nullcontext()
        return self._user_file.active()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} scheme={self.header_scheme!r}>"

    def _new_acceptor(self) -> Any:
        import spnego
        from spnego.channel_bindings import GssChannelBindings

        kwargs: dict[str, Any] = {"protocol": self.protocol}
        if self.service:
            kwargs["service"] = self.service
        if self.hostname:
            kwargs["hostname"] = self.hostname
        if self.channel_binding is not None:
            kwargs["channel_bindings"] = GssChannelBindings(application_data=self.channel_binding)
        return spnego.server(**kwargs)

    def _principal(self, context: Any) -> str | None:
        return str(context.client_principal) if context.client_principal else None

    async def authenticate(
        self, request: web.Request, body: bytes, conn: ConnectionState
    ) -> AuthOutcome:
        """Decide about one request (see :meth:`decide`)."""
        return self.decide(
            request.headers.get("Authorization", ""),
            request.headers.get("Content-Type", ""),
            body,
            conn,
        )

    def decide(
        self, authorization: str, content_type: str, body: bytes, conn: ConnectionState
    ) -> AuthOutcome:
        """The sans-IO core: one request's headers and body -> an outcome."""
        state: _ContextState = conn.data.setdefault(self._key, _ContextState())
        word, _, b64 = authorization.strip().partition(" ")
        if word.lower() != self.header_scheme.lower():
            if state.established and not authorization:
                # The connection is authenticated: no header needed (WinRM
                # keeps NTLM/Kerberos per connection).
                return self._admit(state, content_type, body, {}, conn)
            return AuthOutcome(kind="skip")
        try:
            token = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            return AuthOutcome(kind="fail", reason="malformed token")
        try:
            with self._credentials():
                if state.context is None or state.established:
                    # A new handshake on this connection replaces the old context.
                    state = _ContextState(context=self._new_acceptor())
                    conn.data[self._key] = state
                out = state.context.step(token)
        except Exception as exc:
            conn.data.pop(self._key, None)
            return AuthOutcome(kind="fail", reason=f"{type(exc).__name__}: {exc}")
        if not state.context.complete:
            return AuthOutcome(
                kind="continue",
                headers={"WWW-Authenticate": f"{self.header_scheme} {_b64(out)}"},
            )
        refusal = self._refusal(state.context)
        if refusal is not None:
            conn.data.pop(self._key, None)
            return AuthOutcome(kind="fail", reason=refusal)
        state.established = True
        state.user = self._principal(state.context)
        state.use = ContextUse(user=state.user)
        self.contexts.append(state.use)
        self.logons.append(state.user or "")
        if self._delegated(state.context):
            self.delegations.append(state.user or "")
        self._on_established(state)
        final = {"WWW-Authenticate": f"{self.header_scheme} {_b64(out)}"} if out else {}
        return self._admit(state, content_type, body, final, conn)

    def _on_established(self, state: _ContextState) -> None:
        """Hook for subclasses (CredSSP records the delegated credential)."""

    def _refusal(self, context: Any) -> str | None:
        """Why a completed context is refused after all (None: accepted)."""
        return None

    @staticmethod
    def _delegated(context: Any) -> bool:
        import spnego

        try:
            return bool(context.context_attr & spnego.ContextReq.delegate)
        except Exception:  # CredSSP has no GSSAPI flags
            return False

    def _admit(
        self,
        state: _ContextState,
        content_type: str,
        body: bytes,
        headers: dict[str, str],
        conn: ConnectionState,
    ) -> AuthOutcome:
        outcome = self._admit_request(state, content_type, body, headers)
        if outcome.kind == "ok" and outcome.plaintext and state.use is not None:
            # A SOAP request runs on this context until its response is sent.
            outcome.done = state.use.begin(_connection_id(conn))
        return outcome

    def _admit_request(
        self, state: _ContextState, content_type: str, body: bytes, headers: dict[str, str]
    ) -> AuthOutcome:
        ct = content_type.split(";", 1)[0].strip().lower()
        if ct in ("multipart/encrypted", "multipart/x-multi-encrypted"):
            try:
                protocol, parts = _server_parse(body, content_type)
                if protocol.lower() != self.encryption_protocol.lower():
                    raise _FramingError("wrong protocol")
                plain = b""
                for length, header, data in parts:
                    piece = state.context.unwrap_winrm(header, data)
                    if len(piece) != length:
                        raise _FramingError("length mismatch")
                    plain += piece
            except Exception as exc:
                return AuthOutcome(kind="fail", reason=f"cannot decrypt: {exc}")
            context = state.context

            def seal(reply: bytes) -> tuple[bytes, str]:
                multi = self.chunk_size is not None and len(reply) > self.chunk_size
                kind = "multipart/x-multi-encrypted" if multi else "multipart/encrypted"
                return (
                    _server_build(context, self.encryption_protocol, reply, self.chunk_size),
                    f'{kind};protocol="{self.encryption_protocol}";boundary="Encrypted Boundary"',
                )

            return AuthOutcome(
                kind="ok", user=state.user, plaintext=plain, seal=seal, headers=headers,
                encrypted=True,
            )  # fmt: skip
        if not body:
            # MS-WSMV 2.2.9.1: the handshake of an encrypted session carries
            # no SOAP; nothing crossed in clear, so it counts as encrypted
            # (the service answers it 200 with an empty body).
            return AuthOutcome(kind="ok", user=state.user, headers=headers, encrypted=True)
        if self.require_encryption:
            return AuthOutcome(kind="fail", user=state.user, reason=UNENCRYPTED_REFUSED)
        return AuthOutcome(kind="ok", user=state.user, plaintext=body, headers=headers)


def _b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode()


class NegotiateServerAuth(SpnegoServerAuth):
    """``Negotiate``: SPNEGO (Kerberos or NTLM) and raw NTLM tokens, like WinRM.

    NTLM needs an :class:`NTLMUserFile`; Kerberos needs ``KRB5_KTNAME``.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(
            protocol="negotiate",
            header_scheme="Negotiate",
            encryption_protocol="application/HTTP-SPNEGO-session-encrypted",
            **options,
        )


class KerberosServerAuth(SpnegoServerAuth):
    """``Kerberos``: the service ticket is checked against the keytab (``KRB5_KTNAME``).

    With ``hostname`` given, only a ticket for ``service/hostname`` is
    accepted (MIT's acceptor would take a ticket for any key in the keytab;
    Windows accepts only the SPNs registered for its account).
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("service", "HTTP")
        super().__init__(
            protocol="kerberos",
            header_scheme="Kerberos",
            encryption_protocol="application/HTTP-Kerberos-session-encrypted",
            **options,
        )

    def _refusal(self, context: Any) -> str | None:
        if not self.hostname:
            return None
        gss_context = getattr(context, "_context", None)
        target = str(getattr(gss_context, "target_name", "") or "")
        expected = f"{self.service}/{self.hostname}@"
        if not target.lower().startswith(expected.lower()):
            return f"ticket for {target or 'an unknown service'}, not {expected}"
        return None


class CredSSPServerAuth(SpnegoServerAuth):
    """``CredSSP`` (MS-CSSP): TLS inside HTTP, NTLM/Kerberos inside TLS, then
    the delegated credential; replies are sealed in 16 KiB parts.

    The delegated credential is kept out of reach of logs:
    :attr:`delegated_users` only records the user names that delegated.
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("chunk_size", 16384)
        super().__init__(
            protocol="credssp",
            header_scheme="CredSSP",
            encryption_protocol="application/HTTP-CredSSP-session-encrypted",
            **options,
        )
        self.delegated_users: list[str] = []

    def _on_established(self, state: _ContextState) -> None:
        cred = state.context.get_extra_info("client_credential")
        if cred is not None:
            name = f"{getattr(cred, 'domain_name', '')}\\{getattr(cred, 'username', '')}"
            self.delegated_users.append(name)
            state.user = state.user or name
            if state.use is not None:
                state.use.user = state.user


class CertificateServerAuth(ServerAuthHandler):
    """WinRM certificate authentication: the TLS client certificate maps to a user.

    The request must carry ``Authorization:
    http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual`` and
    arrive over TLS with a client certificate (the server's SSL context must
    request one: ``verify_mode = CERT_OPTIONAL`` and the client CA loaded).
    Windows maps by the certificate's subject (a UPN in the SAN); here the
    subject common name, or an e-mail SAN, is looked up in ``mapping``.

    Args:
        mapping: certificate CN or e-mail -> local user name.
    """

    offers = ()

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)

    def __repr__(self) -> str:
        return f"<CertificateServerAuth users={len(self.mapping)}>"

    def identify(self, peercert: Mapping[str, Any] | None) -> str | None:
        """The mapped user for a peer certificate (``ssl.getpeercert()`` shape)."""
        if not peercert:
            return None
        names: list[str] = []
        for rdn in peercert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    names.append(value)
        for key, value in peercert.get("subjectAltName", ()):
            if key == "email":
                names.append(value)
        for name in names:
            if name in self.mapping:
                return self.mapping[name]
        return None

    async def authenticate(
        self, request: web.Request, body: bytes, conn: ConnectionState
    ) -> AuthOutcome:
        if request.headers.get("Authorization", "").strip() != _MUTUAL_URI:
            return AuthOutcome(kind="skip")
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        if ssl_object is None:
            return AuthOutcome(kind="fail", reason="certificate auth needs TLS")
        user = self.identify(ssl_object.getpeercert())
        if user is None:
            return AuthOutcome(kind="fail", reason="no mapped client certificate")
        return AuthOutcome(kind="ok", user=user, plaintext=body)


def handler_factories() -> dict[str, type[ServerAuthHandler]]:
    """Scheme name -> handler class, for the server's ``auth=`` option."""
    return {
        "ntlm": NegotiateServerAuth,
        "negotiate": NegotiateServerAuth,
        "kerberos": KerberosServerAuth,
        "credssp": CredSSPServerAuth,
        "certificate": CertificateServerAuth,
    }


def build_handlers(
    names: Iterable[str],
    *,
    users: Mapping[str, str],
    tls: bool,
    allow_unencrypted: bool,
) -> list[ServerAuthHandler]:
    """Handlers for the server's ``auth=("ntlm", "kerberos", ...)`` scheme names.

    Args:
        names: scheme names from :func:`handler_factories` (``ntlm`` and
            ``negotiate`` share one ``Negotiate`` handler, as on Windows).
        users: user name -> password, for NTLM (inside Negotiate and
            CredSSP too); certificate authentication maps a client
            certificate whose subject CN (or e-mail SAN) is a user name to
            that user.
        tls: the listener is HTTPS.
        allow_unencrypted: the service's ``AllowUnencrypted``; when false on
            plain HTTP, the handlers refuse unencrypted SOAP.

    Returns:
        One handler per distinct scheme, in the order first named. Kerberos
        accepts any service key of the keytab named by ``KRB5_KTNAME``.

    Raises:
        ValueError: an unknown scheme name.
    """
    factories = handler_factories()
    require = not tls and not allow_unencrypted
    built: dict[type[ServerAuthHandler], ServerAuthHandler] = {}
    for name in names:
        factory = factories.get(name.lower())
        if factory is None:
            raise ValueError(f"unknown auth scheme {name!r} (known: {', '.join(factories)})")
        if factory in built:
            continue
        handler: ServerAuthHandler
        if factory is CertificateServerAuth:
            handler = CertificateServerAuth({user: user for user in users})
        elif factory is KerberosServerAuth:
            handler = KerberosServerAuth(require_encryption=require)
        elif factory is CredSSPServerAuth:
            handler = CredSSPServerAuth(users=users, require_encryption=require)
        else:
            handler = NegotiateServerAuth(users=users, require_encryption=require)
        built[factory] = handler
    return list(built.values())
