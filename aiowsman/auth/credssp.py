"""CredSSP authentication (MS-CSSP) via pyspnego, sans-IO.

CredSSP runs a TLS handshake *inside* the HTTP ``Authorization: CredSSP``
legs, authenticates with SPNEGO (NTLM or Kerberos) inside that TLS channel,
binds the two with the server's public key, and finally sends the user's
credentials (the reason to use it: the remote host can then act as the user
on a second hop). Message encryption (MS-WSMV 2.2.9.1.2) uses the inner TLS
channel and seals at most 16 KiB per part, so large messages travel as
``multipart/x-multi-encrypted``.

The handshake flow is :class:`~aiowsman.auth.spnego.SpnegoContext`'s: the
legs differ only in count (about five round trips).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiowsman.auth.base import Auth
from aiowsman.auth.encryption import CREDSSP_CHUNK_SIZE, CREDSSP_PROTOCOL, MessageEncryptor
from aiowsman.auth.spnego import SpnegoAuth, SpnegoContext, scheme_factory
from aiowsman.errors import ConfigurationError

__all__ = ["CredSSPAuth", "register_schemes"]

_MECHANISMS = ("negotiate", "ntlm", "kerberos")


class CredSSPAuth(SpnegoAuth):
    """CredSSP: delegates ``username``/``password`` to the remote host.

    Args:
        username: ``DOMAIN\\user`` or ``user@REALM``.
        password: the password (delegated to the server: use only with hosts
            you trust as much as a domain controller).
        auth_mechanism: the inner authentication: ``negotiate`` (default,
            Kerberos with NTLM fallback), ``ntlm`` or ``kerberos``.
        minimum_version: the lowest CredSSP version accepted from the server
            (pyspnego's default is 2; versions >= 5 add a nonce against the
            public-key replay of CVE-2018-0886).
        (others: see :class:`~aiowsman.auth.spnego.SpnegoAuth`)
    """

    scheme = "credssp"
    _spnego_protocol = "credssp"
    _header_scheme = "CredSSP"
    _encryption_protocol = CREDSSP_PROTOCOL

    def __init__(
        self,
        username: str,
        password: str,
        *,
        auth_mechanism: str = "negotiate",
        minimum_version: int | None = None,
        **options: Any,
    ) -> None:
        if not username or password is None:
            raise ConfigurationError("credssp needs a username and a password to delegate")
        if auth_mechanism not in _MECHANISMS:
            raise ConfigurationError(
                f"credssp auth_mechanism must be one of {', '.join(_MECHANISMS)}"
            )
        # CredSSP binds to its own TLS channel (the public key), not the
        # outer HTTPS one: CBT does not apply, and delegation is the point.
        options.setdefault("send_cbt", False)
        super().__init__(username, password, **options)
        self.auth_mechanism = auth_mechanism
        self.minimum_version = minimum_version

    def _create(self, host: str, channel_binding: bytes | None) -> Any:
        import spnego

        hostname = self.hostname_override or host
        inner = spnego.client(
            hostname=hostname,
            service=self.service,
            protocol=self.auth_mechanism,
            **self._credential_args(),
        )
        extra: dict[str, Any] = {"credssp_negotiate_context": inner}
        if self.minimum_version is not None:
            extra["credssp_min_protocol"] = self.minimum_version
        return spnego.client(
            hostname=hostname,
            service=self.service,
            protocol="credssp",
            **self._credential_args(),
            **extra,
        )

    def new_context(
        self, *, url: str, host: str, channel_binding: bytes | None = None, encrypt: bool = False
    ) -> CredSSPContext:
        """A fresh context for one connection (see :class:`~aiowsman.auth.base.Auth`)."""
        return CredSSPContext(
            self, url=url, host=host, channel_binding=channel_binding, encrypt=encrypt
        )


class CredSSPContext(SpnegoContext):
    """A CredSSP security context: seals in 16 KiB parts (MS-WSMV 2.2.9.1.2)."""

    def _make_encryptor(self, context: Any) -> MessageEncryptor:
        return MessageEncryptor(context, CREDSSP_PROTOCOL, chunk_size=CREDSSP_CHUNK_SIZE)


def register_schemes(registry: dict[str, Callable[..., Auth]]) -> None:
    """Add the ``credssp`` factory (``username=``, ``password=``, options) to ``registry``."""
    registry["credssp"] = scheme_factory(CredSSPAuth)


def _register() -> None:
    from aiowsman import auth

    register = getattr(auth, "register_auth", None)
    if register is not None:
        register("credssp", scheme_factory(CredSSPAuth))


_register()
