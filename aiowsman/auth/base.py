"""Authentication as a sans-IO flow (the shape of httpx's ``Auth.auth_flow``).

An :class:`Auth` is configuration (scheme, credentials, SPN options). For each
authenticated *channel* (one TCP connection, for connection-bound schemes;
the whole pool, for Basic and none) the transport asks it for a fresh
:class:`AuthContext`. The context's :meth:`AuthContext.flow` is a generator
that receives one outgoing :class:`HttpRequest` and

* yields :class:`HttpRequest` objects to send; the transport sends each and
  passes the :class:`HttpResponse` back with ``gen.send(response)``;
* may yield :class:`Offload` to run a blocking step (a GSSAPI call that may
  talk to a KDC) off the event loop; the transport runs it in the bounded,
  process-wide pool of :mod:`aiowsman.auth._executor` and sends back its
  result;
* returns the final :class:`HttpResponse` (decrypted, if the scheme encrypts).

No I/O happens here, so every handshake is testable without a socket.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiowsman.errors import AuthenticationError

__all__ = [
    "Auth",
    "AuthContext",
    "FlowStep",
    "HttpRequest",
    "HttpResponse",
    "Offload",
    "PreemptiveContext",
]


@dataclass
class HttpRequest:
    """One HTTP POST to the WS-Man endpoint."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass
class HttpResponse:
    """One HTTP response; ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Offload:
    """Ask the transport to run ``func()`` off the loop and send back its result.

    The transport uses :func:`aiowsman.auth.run_offload` (a bounded thread
    pool shared by the process), so many hosts' KDC steps queue instead of
    each taking a thread.
    """

    func: Callable[[], Any]


FlowStep = HttpRequest | Offload
Flow = Generator[FlowStep, Any, HttpResponse]


class AuthContext(abc.ABC):
    """The per-channel state of one scheme (a security context, a nonce...)."""

    @abc.abstractmethod
    def flow(self, request: HttpRequest) -> Flow:
        """Authenticate (if not yet) and send ``request``; return the final response.

        Raises:
            aiowsman.errors.AuthenticationError: the server refused the credentials.
            aiowsman.errors.EncryptionError: an encrypted response failed to verify.
        """


class PreemptiveContext(AuthContext):
    """A context whose whole flow is: add fixed headers to every request; a 401 is a refusal.

    Basic, none and certificate authentication are such schemes: no
    handshake, no per-request state. The transport sends their requests
    itself with :attr:`preemptive_headers` added (its hot path: no flow
    generator per request) and raises :meth:`refusal` on a 401; :meth:`flow`
    does the same for callers that drive flows.
    """

    __slots__ = ()

    #: The headers added to every request.
    preemptive_headers: Mapping[str, str] = {}

    def request_headers(self, base: Mapping[str, str]) -> Mapping[str, str]:
        """``base`` with :attr:`preemptive_headers` over it: every request's headers.

        The transport sends them as they are and never changes them; a
        context shared by many sessions may return the same mapping to all.
        """
        return {**base, **self.preemptive_headers}

    @abc.abstractmethod
    def refusal(self, response: HttpResponse) -> AuthenticationError:
        """The error for a 401 answer (the server refused what was sent)."""

    def flow(self, request: HttpRequest) -> Flow:
        request.headers.update(self.preemptive_headers)
        response: HttpResponse = yield request
        if response.status == 401:
            raise self.refusal(response)
        return response


class Auth(abc.ABC):
    """An authentication scheme and its settings."""

    #: Short name used in errors and logs (``basic``, ``ntlm``, ``kerberos``...).
    scheme: str = "none"
    #: True when a security context lives on one TCP connection (NTLM,
    #: Negotiate, Kerberos with encryption, CredSSP): the transport then gives
    #: each context its own connection and never interleaves requests on it.
    connection_bound: bool = False
    #: False when requests carry no credentials at all (``none``). A server
    #: that authenticates the connection rather than the request (OMI with
    #: Basic) may never answer such a request; errors then say so.
    sends_credentials: bool = True

    @abc.abstractmethod
    def new_context(
        self, *, url: str, host: str, channel_binding: bytes | None = None, encrypt: bool = False
    ) -> AuthContext:
        """A fresh context for one channel to ``host``.

        Args:
            url: the endpoint URL.
            host: the host name (for the SPN).
            channel_binding: ``tls-server-end-point`` application data, on HTTPS.
            encrypt: wrap bodies in MS-WSMV 2.2.9.1 ``multipart/encrypted``.
        """

    def __repr__(self) -> str:
        # Never show credentials: subclasses keep them in attributes that the
        # default dataclass/object repr would print, so the repr is fixed here.
        return f"<{type(self).__name__} scheme={self.scheme!r}>"
