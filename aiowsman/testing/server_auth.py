"""Server-side authentication hook of the test server.

The server (``aiowsman.testing.server``) knows nothing of any scheme: it asks
each configured :class:`ServerAuthHandler` in turn. Basic lives in
``aiowsman.testing.server`` itself; NTLM, Negotiate, Kerberos, CredSSP and
certificate handlers plug in through this interface.

A handler keeps per-TCP-connection state (a security context) in the
:class:`ConnectionState` the server hands it: one object per connection,
dropped when the connection closes.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = ["AuthOutcome", "ConnectionState", "ServerAuthHandler"]


@dataclass
class ConnectionState:
    """State that lives as long as one TCP connection."""

    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuthOutcome:
    """What a handler decided about one request.

    * ``continue``: answer 401 with ``headers`` (a handshake leg); no SOAP.
    * ``ok``: authenticated as ``user``; ``plaintext`` is the SOAP request
      (decrypted when it came encrypted); ``seal``, when set, turns the SOAP
      response into ``(body, content_type)`` for an encrypted reply;
      ``headers`` are added to the final response (e.g. a last token);
      ``done``, when set, is called once the response has been sent (or the
      request abandoned): handlers use it to see a context busy with two
      requests at once.
    * ``fail``: answer 401 (bad credentials); ``reason`` is logged only.
    * ``skip``: this handler does not apply (another scheme in the header).
    """

    kind: Literal["continue", "ok", "fail", "skip"]
    user: str | None = None
    plaintext: bytes = b""
    seal: Callable[[bytes], tuple[bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    encrypted: bool = False
    done: Callable[[], None] | None = None


class ServerAuthHandler(abc.ABC):
    """One authentication scheme of the test server."""

    #: Values offered in ``WWW-Authenticate`` on an unauthenticated request.
    offers: tuple[str, ...] = ()

    @abc.abstractmethod
    async def authenticate(
        self, request: web.Request, body: bytes, conn: ConnectionState
    ) -> AuthOutcome:
        """Decide about ``request`` whose raw body is ``body``."""
