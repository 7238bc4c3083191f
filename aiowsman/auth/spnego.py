"""NTLM, Negotiate and Kerberos authentication (via pyspnego), sans-IO.

WinRM speaks RFC 4559 HTTP authentication: the client sends
``Authorization: Negotiate <base64 token>`` (``Kerberos`` for the Kerberos
scheme), the server answers ``401`` with ``WWW-Authenticate: Negotiate
<token>`` for each further leg, and the final ``200`` may carry the server's
last token (Kerberos mutual authentication), which the client must verify.
NTLM is carried in the ``Negotiate`` scheme as WinRM offers no ``NTLM`` one.

The security context lives on one TCP connection (``connection_bound``):
the service remembers the authenticated connection, and with message
encryption (MS-WSMV 2.2.9.1) the context's session keys seal every body.
With encryption the handshake is done with an EMPTY body first
(MS-WSMV 2.2.9.1: the service cannot decrypt a body before the context is
established), then each envelope is sealed.

Every step that may block (GSSAPI may talk to a KDC; acquiring a ticket with a
password does) is yielded as :class:`~aiowsman.auth.base.Offload`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiowsman._log  # noqa: F401 - keeps pyspnego's token logging off by default (see there)
from aiowsman.auth.base import Auth, AuthContext, Flow, FlowStep, HttpRequest, HttpResponse, Offload
from aiowsman.auth.encryption import (
    KERBEROS_PROTOCOL,
    SPNEGO_PROTOCOL,
    MessageEncryptor,
)
from aiowsman.errors import AuthenticationError, ConfigurationError

__all__ = [
    "KerberosAuth",
    "NTLMAuth",
    "NegotiateAuth",
    "SpnegoAuth",
    "SpnegoContext",
    "channel_binding_from_cert",
    "register_schemes",
    "scheme_factory",
]

T = TypeVar("T")

#: A handshake that has not finished after this many legs is abandoned
#: (NTLM needs 2, Kerberos 1-2, SPNEGO with a mechanism mismatch 3).
_MAX_LEGS = 8


class _Secret:
    """A password that never shows itself (repr, str, tracebacks with locals)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


def channel_binding_from_cert(der: bytes) -> bytes:
    """The ``tls-server-end-point`` channel binding application data (RFC 5929 4.1).

    The hash is the one of the certificate's signature algorithm, except that
    MD5 and SHA-1 are replaced by SHA-256 (RFC 5929 4.1); a certificate with
    no hash in its signature (Ed25519) or an unknown one uses SHA-256 too.

    Args:
        der: the server certificate, DER-encoded.

    Returns:
        ``b"tls-server-end-point:" + hash``.

    Raises:
        ConfigurationError: ``der`` is not a certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise ConfigurationError("the server certificate could not be parsed") from None
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm for exotic signatures
        algorithm = None
    name = algorithm.name if algorithm is not None else "sha256"
    if name in ("md5", "sha1") or not isinstance(algorithm, hashes.HashAlgorithm):
        name = "sha256"
    try:
        digest = hashlib.new(name, der).digest()
    except ValueError:
        digest = hashlib.sha256(der).digest()
    return b"tls-server-end-point:" + digest


@dataclass
class _Failed:
    """An exception caught inside an offloaded step, to be re-raised in the flow."""

    error: BaseException


def _guard(func: Callable[[], T]) -> Callable[[], T | _Failed]:
    # The transport's executor contract only says "send back its result", so
    # failures come back as values and are raised inside the flow, where they
    # are turned into AuthenticationError with the scheme named.
    def run() -> T | _Failed:
        try:
            return func()
        except Exception as exc:
            return _Failed(exc)

    return run


def _offered_token(response: HttpResponse, header_scheme: str) -> tuple[bool, bytes | None]:
    """Whether ``WWW-Authenticate`` offers ``header_scheme``, and its token if any.

    Raises:
        AuthenticationError: the token is not base64.
    """
    value = response.headers.get("www-authenticate", "")
    offered = False
    for item in value.split(","):
        name, _, token = item.strip().partition(" ")
        if name.lower() != header_scheme.lower():
            continue
        offered = True
        token = token.strip()
        if token:
            try:
                return True, base64.b64decode(token, validate=True)
            except (binascii.Error, ValueError):
                raise AuthenticationError(
                    f"the server sent a malformed {header_scheme} token",
                    scheme=header_scheme.lower(),
                ) from None
    return offered, None


class SpnegoAuth(Auth):
    """Base of the GSSAPI/SSPI-style schemes (not used directly).

    Args:
        username: ``user``, ``DOMAIN\\user`` or ``user@REALM``; None to use the
            current Kerberos ticket cache (Kerberos and Negotiate only).
        password: the password; None with a ticket cache or keytab.
        service: the SPN service class (``HTTP`` for WinRM; ``WSMAN`` on some
            hosts).
        hostname_override: the host part of the SPN when it differs from the
            URL's host (a CNAME, an IP address, a load balancer).
        delegate: request credential delegation (Kerberos ``ok-as-delegate``
            forwarding), for second-hop access from the remote host.
        send_cbt: send channel binding tokens on HTTPS (EPA; ``CbtHardeningLevel``).
    """

    scheme = "negotiate"
    connection_bound = True
    #: The pyspnego protocol name.
    _spnego_protocol = "negotiate"
    #: The scheme name in Authorization / WWW-Authenticate.
    _header_scheme = "Negotiate"
    _encryption_protocol = SPNEGO_PROTOCOL
    #: Run steps in an executor (GSSAPI may block on a KDC).
    _offload = True

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        service: str = "HTTP",
        hostname_override: str | None = None,
        delegate: bool = False,
        send_cbt: bool = True,
    ) -> None:
        if password is not None and not username:
            raise ConfigurationError(f"{self.scheme}: a password needs a username")
        self.username = username
        self._password = _Secret(password) if password is not None else None
        self.service = service
        self.hostname_override = hostname_override
        self.delegate = delegate
        self.send_cbt = send_cbt

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} scheme={self.scheme!r} username={self.username!r} "
            f"service={self.service!r}>"
        )

    @property
    def header_scheme(self) -> str:
        """The scheme word of the ``Authorization`` header."""
        return self._header_scheme

    @property
    def encryption_protocol(self) -> str:
        """The MS-WSMV 2.2.9.1 protocol name used when sealing."""
        return self._encryption_protocol

    def _redact(self, text: str) -> str:
        # Library messages should not contain the password, but make sure.
        if self._password is not None and self._password.reveal():
            text = text.replace(self._password.reveal(), "<hidden>")
        return text

    def _credential_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.username is not None:
            args["username"] = self.username
        if self._password is not None:
            args["password"] = self._password.reveal()
        return args

    def _create(self, host: str, channel_binding: bytes | None) -> Any:
        """Build the pyspnego initiator (may block: run through Offload)."""
        import spnego
        from spnego.channel_bindings import GssChannelBindings

        req = spnego.ContextReq.default
        if self.delegate:
            req |= spnego.ContextReq.delegate
        bindings = (
            GssChannelBindings(application_data=channel_binding)
            if channel_binding is not None and self.send_cbt
            else None
        )
        return spnego.client(
            hostname=self.hostname_override or host,
            service=self.service,
            channel_bindings=bindings,
            context_req=req,
            protocol=self._spnego_protocol,
            **self._credential_args(),
        )

    def new_context(
        self, *, url: str, host: str, channel_binding: bytes | None = None, encrypt: bool = False
    ) -> SpnegoContext:
        """A fresh, unauthenticated context for one connection (see :class:`Auth`)."""
        return SpnegoContext(
            self, url=url, host=host, channel_binding=channel_binding, encrypt=encrypt
        )


class NTLMAuth(SpnegoAuth):
    """NTLM (pure-Python, via pyspnego), sent in the ``Negotiate`` HTTP scheme.

    Needs an explicit ``username`` (``DOMAIN\\user`` or ``user@domain``) and
    ``password``.
    """

    scheme = "ntlm"
    _spnego_protocol = "ntlm"
    _offload = False  # pure Python and fast: no executor round trip

    def __init__(self, username: str, password: str, **options: Any) -> None:
        if not username or password is None:
            raise ConfigurationError("ntlm needs a username and a password")
        super().__init__(username, password, **options)


class NegotiateAuth(SpnegoAuth):
    """SPNEGO: Kerberos when a ticket can be had, NTLM otherwise (like Windows)."""

    scheme = "negotiate"
    _spnego_protocol = "negotiate"


class KerberosAuth(SpnegoAuth):
    """Kerberos, in the WinRM ``Kerberos`` HTTP scheme.

    Credentials come from, in order: ``username`` + ``password`` (a TGT is
    requested from the KDC), ``keytab`` (with ``username`` as the principal,
    or its first entry), ``ccache``, or the default ticket cache
    (``KRB5CCNAME``, ``kinit``).

    Args:
        keytab: a keytab file path.
        ccache: a credential cache name (``FILE:/tmp/krb5cc_1000``).
        (others: see :class:`SpnegoAuth`)
    """

    scheme = "kerberos"
    _spnego_protocol = "kerberos"
    _header_scheme = "Kerberos"
    _encryption_protocol = KERBEROS_PROTOCOL

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        keytab: str | None = None,
        ccache: str | None = None,
        **options: Any,
    ) -> None:
        if keytab and password is not None:
            raise ConfigurationError("kerberos: give a password or a keytab, not both")
        super().__init__(username, password, **options)
        self.keytab = keytab
        self.ccache = ccache

    def _credential_args(self) -> dict[str, Any]:
        import spnego

        if self.keytab:
            return {"username": spnego.KerberosKeytab(keytab=self.keytab, principal=self.username)}
        if self.ccache and self._password is None:
            return {"username": spnego.KerberosCCache(ccache=self.ccache, principal=self.username)}
        return super()._credential_args()


class SpnegoContext(AuthContext):
    """One connection's security context and its handshake flow."""

    def __init__(
        self,
        auth: SpnegoAuth,
        *,
        url: str,
        host: str,
        channel_binding: bytes | None,
        encrypt: bool,
    ) -> None:
        self._auth = auth
        self.url = url
        self.host = host
        self._channel_binding = channel_binding
        self.encrypt = encrypt
        self._context: Any = None
        self._encryptor: MessageEncryptor | None = None
        #: How many handshakes this context ran (1, or more after re-authentication).
        self.handshakes = 0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} scheme={self._auth.scheme!r} host={self.host!r} "
            f"established={self.established} encrypt={self.encrypt}>"
        )

    @property
    def established(self) -> bool:
        """True once the handshake completed on this connection."""
        return self._context is not None

    @property
    def encryptor(self) -> MessageEncryptor | None:
        """The sealer of the established context, when encrypting."""
        return self._encryptor

    @property
    def security_context(self) -> Any:
        """The established pyspnego context (None before the handshake)."""
        return self._context

    def _error(self, message: str) -> AuthenticationError:
        return AuthenticationError(self._auth._redact(message), scheme=self._auth.scheme)

    def _call(self, func: Callable[[], T]) -> Generator[FlowStep, Any, T]:
        """Run ``func`` (offloaded when the scheme may block); raise failures as auth errors."""
        guarded = _guard(func)
        result = (yield Offload(guarded)) if self._auth._offload else guarded()
        if isinstance(result, _Failed):
            exc = result.error
            raise self._error(f"{self._auth.scheme} handshake failed: {type(exc).__name__}: {exc}")
        return result

    def _authenticate(self, request: HttpRequest) -> Generator[FlowStep, Any, HttpResponse]:
        """Run the RFC 4559 handshake; return the response to its last leg."""
        auth = self._auth
        hs = auth.header_scheme
        cb = self._channel_binding
        host = self.host
        context = yield from self._call(lambda: auth._create(host, cb))
        self.handshakes += 1
        # MS-WSMV 2.2.9.1: with encryption the handshake carries no SOAP.
        body = b"" if self.encrypt else request.body
        in_token: bytes | None = None
        for _ in range(_MAX_LEGS):
            out = yield from self._call(functools.partial(context.step, in_token))
            if not out:
                raise self._error(f"{auth.scheme} produced no token to send")
            headers = dict(request.headers)
            headers["Authorization"] = f"{hs} {base64.b64encode(out).decode()}"
            if self.encrypt:
                headers["Content-Length"] = "0"
            response: HttpResponse = yield HttpRequest(
                url=request.url, body=body, headers=headers, method=request.method
            )
            offered, in_token = _offered_token(response, hs)
            if response.status == 401:
                if in_token is None or context.complete:
                    why = (
                        "the server refused the credentials"
                        if offered or not response.headers.get("www-authenticate")
                        else f"the server does not offer {hs} "
                        f"(offers: {response.headers.get('www-authenticate', '')[:80]})"
                    )
                    if not self.encrypt and body and self.url.lower().startswith("http:"):
                        # Windows answers unencrypted SOAP with 401 on an
                        # HTTP listener with AllowUnencrypted=false; after a
                        # one-leg Kerberos exchange the client cannot tell
                        # that from a refused ticket, so name both causes.
                        why += (
                            " (or it requires message encryption: AllowUnencrypted=false"
                            " on the service; use HTTPS or encryption)"
                        )
                    raise self._error(why)
                continue
            if in_token is not None and not context.complete:
                # Kerberos mutual authentication: the 200 carries the AP-REP.
                yield from self._call(functools.partial(context.step, in_token))
            if not context.complete:
                raise self._error(
                    f"the server ended the {hs} handshake (HTTP {response.status}) "
                    "before the security context was complete"
                )
            self._context = context
            if self.encrypt:
                self._encryptor = self._make_encryptor(context)
            return response
        raise self._error(f"the {hs} handshake did not finish in {_MAX_LEGS} legs")

    def _make_encryptor(self, context: Any) -> MessageEncryptor:
        return MessageEncryptor(context, self._auth.encryption_protocol)

    def _send_established(self, request: HttpRequest) -> HttpRequest:
        if self._encryptor is None:
            return request
        body, ctype = self._encryptor.wrap(request.body)
        headers = dict(request.headers)
        headers["Content-Type"] = ctype
        headers["Content-Length"] = str(len(body))
        return HttpRequest(url=request.url, body=body, headers=headers, method=request.method)

    def _receive_established(self, response: HttpResponse) -> HttpResponse:
        if self._encryptor is None:
            return response
        return self._encryptor.unwrap_response(response)

    def reset(self) -> None:
        """Forget the security context (the next flow authenticates again)."""
        self._context = None
        self._encryptor = None

    def flow(self, request: HttpRequest) -> Flow:
        """Authenticate if needed, send ``request`` (sealed when encrypting).

        An established context the server no longer accepts (401: the
        connection was recycled, the ticket expired) is replaced by a new
        handshake once; a second refusal raises.

        Raises:
            AuthenticationError: the credentials or the context were refused.
            EncryptionError: a sealed response failed to verify.
        """
        if self.established:
            response = yield self._send_established(request)
            if response.status != 401:
                return self._receive_established(response)
            self.reset()
        response = yield from self._authenticate(request)
        if not self.encrypt:
            return response
        response = yield self._send_established(request)
        if response.status == 401:
            self.reset()
            raise self._error("the server refused the sealed request after the handshake")
        return self._receive_established(response)


def scheme_factory(cls: Callable[..., Auth]) -> Callable[..., Auth]:
    """Wrap an Auth class as a registry factory: unknown options become ConfigurationError."""

    def factory(
        *, username: str | None = None, password: str | None = None, **options: Any
    ) -> Auth:
        try:
            return cls(username=username, password=password, **options)
        except TypeError:
            raise ConfigurationError(
                f"bad options for auth {getattr(cls, 'scheme', cls)!r}: {sorted(options)}"
            ) from None

    return factory


def register_schemes(registry: dict[str, Callable[..., Auth]]) -> None:
    """Add ``ntlm``, ``negotiate`` and ``kerberos`` factories to ``registry``.

    The factories take ``username=``, ``password=`` and the class's options.
    """
    registry["ntlm"] = scheme_factory(NTLMAuth)
    registry["negotiate"] = scheme_factory(NegotiateAuth)
    registry["kerberos"] = scheme_factory(KerberosAuth)


def _register() -> None:
    # aiowsman.auth imports this module on first use of one of these names.
    from aiowsman import auth

    register = getattr(auth, "register_auth", None)
    if register is not None:
        schemes: dict[str, Callable[..., Auth]] = {}
        register_schemes(schemes)
        for name, factory in schemes.items():
            register(name, factory)


_register()
