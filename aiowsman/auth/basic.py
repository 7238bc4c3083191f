"""HTTP Basic authentication and no authentication, as auth flows.

Basic (RFC 7617) sends ``Authorization: Basic base64(user:password)`` with
every request. WinRM expects it pre-emptively: an unauthenticated request
costs a round trip for a 401 that tells us nothing new (MS-WSMV 2.2.9.1 lists
Basic among the HTTP authentication schemes; the WinRM client never waits for
the challenge). Basic carries the password in clear text, so the transport
refuses it over plain HTTP unless the caller opts in (``allow_unencrypted``,
as WinRM's own ``AllowUnencrypted`` setting).
"""

from __future__ import annotations

import base64
import weakref
from collections.abc import Mapping

from aiowsman._http import CredentialHeader
from aiowsman.auth.base import Auth, AuthContext, HttpResponse, PreemptiveContext
from aiowsman.errors import AuthenticationError, ConfigurationError

__all__ = ["BasicAuth", "NoAuth"]


def _challenges(response: HttpResponse) -> str:
    offered = response.headers.get("www-authenticate", "")
    # Only the scheme names: a challenge never holds our secrets, but it may
    # hold server tokens that mean nothing to a reader.
    names = sorted({part.strip().split(" ", 1)[0] for part in offered.split(",") if part.strip()})
    return f"; server offers: {', '.join(names)}" if names else ""


class BasicAuth(Auth, PreemptiveContext):
    """HTTP Basic: user name and password, sent with every request.

    The scheme is its own context (:meth:`new_context` returns it): Basic
    has no per-connection or per-request state, only the header it adds, so
    a session keeps one object for it, not two.

    Args:
        username: the account; ``DOMAIN\\user`` and ``user@domain`` are sent as given.
        password: its password (never shown in a repr, log or error).

    Raises:
        aiowsman.errors.ConfigurationError: no user name, or a ``:`` in it
            (RFC 7617 2: the user-id cannot contain a colon).
    """

    scheme = "basic"
    connection_bound = False
    #: The credentials travel in clear text (base64): refused over plain HTTP
    #: unless ``allow_unencrypted=True``.
    cleartext_credentials = True

    def __init__(self, username: str, password: str) -> None:
        if not username:
            raise ConfigurationError("Basic authentication needs a user name")
        if ":" in username:
            raise ConfigurationError("a Basic user name cannot contain ':' (RFC 7617 2)")
        # RFC 7617 2.1: UTF-8 is the charset a server may announce; WinRM
        # decodes UTF-8. Encode once: the header is the same for every request
        # (and tagged once for the connection pool's keying, aiowsman._http).
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        #: The scheme's own headers (never changed).
        self.preemptive_headers: Mapping[str, str] = {
            "Authorization": CredentialHeader(f"Basic {token}")
        }
        self.username = username
        #: (base, headers): the last request_headers() made.
        self._request_headers: tuple[Mapping[str, str], Mapping[str, str]] | None = None

    @classmethod
    def shared(cls, username: str, password: str) -> BasicAuth:
        """The ``BasicAuth`` of this account that sessions in use already share, or a new one.

        Sessions made with ``username=``/``password=`` get theirs here: the
        thousands of sessions of a fan-out, one account across many hosts,
        share one object (and the headers it makes), not one each. Held
        weakly: it goes with the last session that uses it, so no password
        outlives the sessions given it.
        """
        key = (username, password)
        try:
            auth = _SHARED.get(key)
        except TypeError:  # not hashable (not a str): made as before, not shared
            return cls(username, password)
        if auth is None:
            auth = _SHARED[key] = cls(username, password)
        return auth

    def request_headers(self, base: Mapping[str, str]) -> Mapping[str, str]:
        # Shared by the sessions of the account: the same mapping for the
        # same base (the library's default headers, mostly).
        made = self._request_headers
        if made is None or made[0] is not base:
            made = self._request_headers = (base, {**base, **self.preemptive_headers})
        return made[1]

    def new_context(
        self, *, url: str, host: str, channel_binding: bytes | None = None, encrypt: bool = False
    ) -> AuthContext:
        if encrypt:
            raise ConfigurationError("Basic authentication cannot encrypt messages; use HTTPS")
        return self

    def refusal(self, response: HttpResponse) -> AuthenticationError:
        return AuthenticationError(
            "the server refused the user name or password" + _challenges(response),
            scheme="basic",
        )


#: BasicAuth.shared's: one per account while sessions use it.
_SHARED: weakref.WeakValueDictionary[tuple[str, str], BasicAuth] = weakref.WeakValueDictionary()


class _NoAuthContext(PreemptiveContext):
    __slots__ = ()

    def refusal(self, response: HttpResponse) -> AuthenticationError:
        return AuthenticationError(
            "the server requires authentication" + _challenges(response), scheme="none"
        )


class NoAuth(Auth):
    """No authentication (``WSManFlagUseNoAuthentication``): e.g. Identify."""

    scheme = "none"
    connection_bound = False
    cleartext_credentials = False
    sends_credentials = False

    def new_context(
        self, *, url: str, host: str, channel_binding: bytes | None = None, encrypt: bool = False
    ) -> AuthContext:
        if encrypt:
            raise ConfigurationError("message encryption needs an authentication scheme")
        return _NoAuthContext()
