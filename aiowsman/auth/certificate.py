"""WinRM client-certificate authentication (HTTPS only), sans-IO.

The TLS layer presents the client certificate; the request only announces
the scheme with ``Authorization:
http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual``
(DSP0226 C.3.4, the ``https/mutual`` security profile; MS-WSMV 3.1.4.1.5).
The service maps the certificate to a local account (``winrm create
winrm/config/service/certmapping``).

Windows asks for the certificate after the handshake when it sees that
header: by TLS 1.2 renegotiation, or TLS 1.3 post-handshake authentication.
Python's ``ssl`` answers the latter only when the client context has
``post_handshake_auth = True``; :meth:`CertificateAuth.configure_ssl_context`
sets it together with the certificate chain.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

from aiowsman.auth.base import Auth, HttpResponse, PreemptiveContext
from aiowsman.errors import AuthenticationError, ConfigurationError, InsecureTransportError

__all__ = [
    "MUTUAL_PROFILE",
    "CertificateAuth",
    "CertificateContext",
    "certificate_factory",
    "register_schemes",
]

#: DSP0226 C.3.4: the HTTPS mutual-authentication security profile URI.
MUTUAL_PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


class _Passphrase:
    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value

    def reveal(self) -> str | bytes:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


class CertificateAuth(Auth):
    """Authenticate with a TLS client certificate.

    Args:
        certfile: PEM file with the certificate (and possibly the key).
        keyfile: PEM file with the private key, if not in ``certfile``.
        key_password: the private key's passphrase, if encrypted.

    The transport must give the TLS context to :meth:`configure_ssl_context`
    (or load :attr:`client_cert` itself) before connecting.
    """

    scheme = "certificate"
    connection_bound = False  # the certificate is presented on every TLS connection

    def __init__(
        self,
        certfile: str,
        keyfile: str | None = None,
        *,
        key_password: str | bytes | None = None,
    ) -> None:
        if not certfile:
            raise ConfigurationError("certificate auth needs a certfile")
        self.certfile = certfile
        self.keyfile = keyfile
        self._key_password = _Passphrase(key_password) if key_password is not None else None

    def __repr__(self) -> str:
        return f"<CertificateAuth certfile={self.certfile!r}>"

    @property
    def client_cert(self) -> tuple[str, str | None]:
        """``(certfile, keyfile)`` for the TLS layer."""
        return self.certfile, self.keyfile

    def configure_ssl_context(self, context: ssl.SSLContext) -> None:
        """Load the client certificate into ``context`` and allow TLS 1.3 post-handshake auth.

        Raises:
            ConfigurationError: the certificate or key cannot be loaded.
        """
        password = self._key_password.reveal() if self._key_password else None
        try:
            context.load_cert_chain(self.certfile, self.keyfile, password=password)
        except (OSError, ssl.SSLError) as exc:
            # The message names the file, never the passphrase.
            raise ConfigurationError(
                f"cannot load the client certificate {self.certfile!r}: {type(exc).__name__}"
            ) from None
        # Windows requests the certificate after the handshake (TLS 1.3 PHA).
        context.post_handshake_auth = True

    def new_context(
        self, *, url: str, host: str, channel_binding: bytes | None = None, encrypt: bool = False
    ) -> CertificateContext:
        """A context for ``url``; certificate auth exists only over HTTPS.

        Raises:
            InsecureTransportError: ``url`` is not ``https``.
            ConfigurationError: message encryption was asked for (it needs a
                session key, which certificate auth does not have; HTTPS
                already encrypts).
        """
        if urlsplit(url).scheme.lower() != "https":
            raise InsecureTransportError("certificate authentication needs an https:// endpoint")
        if encrypt:
            raise ConfigurationError("certificate authentication cannot encrypt messages")
        return CertificateContext()


class CertificateContext(PreemptiveContext):
    """Adds the ``https/mutual`` Authorization header; a 401 means the mapping failed."""

    __slots__ = ()

    preemptive_headers = {"Authorization": MUTUAL_PROFILE}

    def __repr__(self) -> str:
        return "<CertificateContext>"

    def refusal(self, response: HttpResponse) -> AuthenticationError:
        """The service refused the certificate (no mapping, untrusted issuer,
        or the TLS layer sent none)."""
        return AuthenticationError(
            "the server refused the client certificate (is it mapped to a user?)",
            scheme="certificate",
        )


def certificate_factory(
    *,
    username: str | None = None,
    password: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    key_password: str | bytes | None = None,
) -> CertificateAuth:
    """Registry factory: ``auth="certificate"`` with ``certfile=``/``keyfile=`` options.

    Raises:
        ConfigurationError: a username/password was given (the certificate is
            the credential) or no certfile.
    """
    if username is not None or password is not None:
        raise ConfigurationError(
            "certificate auth takes certfile=/keyfile= options, not a username and password"
        )
    if not certfile:
        raise ConfigurationError("auth='certificate' needs the certfile option")
    return CertificateAuth(certfile, keyfile, key_password=key_password)


def register_schemes(registry: dict[str, Callable[..., Auth]]) -> None:
    """Add the ``certificate`` factory to ``registry``."""
    registry["certificate"] = certificate_factory


def _register() -> None:
    from aiowsman import auth

    register = getattr(auth, "register_auth", None)
    if register is not None:
        register("certificate", certificate_factory)


_register()
