"""Per-host behaviour knobs, fault injections and statistics of the test server."""

from __future__ import annotations

import contextlib
import contextvars
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = [
    "HostBehaviour",
    "HostStats",
    "Injection",
    "InjectionKind",
    "RequestInfo",
    "applying",
    "current_injection",
]


class InjectionKind(StrEnum):
    """What a fault injection does to one request."""

    #: Add ``delay`` seconds before answering (counted against OperationTimeout).
    LATENCY = "latency"
    #: Accept the request and never answer (until the server closes).
    BLACK_HOLE = "black_hole"
    #: TCP reset before any response byte.
    RESET_BEFORE_RESPONSE = "reset_before_response"
    #: Send the headers and half of the body, then reset.
    RESET_MID_RESPONSE = "reset_mid_response"
    #: Announce the full Content-Length, send half the body, close cleanly.
    TRUNCATED_BODY = "truncated_body"
    #: HTTP 500 with an HTML body (no SOAP).
    HTTP_500 = "http_500"
    #: HTTP 503 with ``Retry-After: retry_after``.
    HTTP_503 = "http_503"
    #: HTTP 200, ``application/soap+xml``, a body that is not XML.
    GARBAGE = "garbage"
    #: The real response with an invalid UTF-8 sequence inside a text node.
    INVALID_UTF8 = "invalid_utf8"
    #: The real response with a RelatesTo that names another message.
    WRONG_RELATES_TO = "wrong_relates_to"
    #: The real response sent one byte at a time, ``delay`` seconds apart.
    SLOW_DRIP = "slow_drip"
    #: HTTP 401 (as if the credentials stopped working).
    UNAUTHORIZED = "unauthorized"
    #: The w:TimedOut fault (Windows' shape) instead of the answer.
    TIMED_OUT = "timed_out"
    #: The w:QuotaLimit fault (MaxConcurrentOperationsPerUser exceeded).
    QUOTA = "quota"
    #: The real response padded past ``size`` bytes (ignores MaxEnvelopeSize).
    OVERSIZED = "oversized"
    #: A response carrying a DOCTYPE with an external entity (XXE).
    XXE = "xxe"
    #: A response carrying a DOCTYPE with nested entities (billion laughs).
    BILLION_LAUGHS = "billion_laughs"
    #: A response with a harmless internal DOCTYPE.
    DOCTYPE = "doctype"
    #: Forget every enumeration context of the host before answering (the
    #: next Pull gets wsen:InvalidEnumerationContext).
    EXPIRE_CONTEXTS = "expire_contexts"
    #: Enumerations never end: no EndOfSequence, the context kept, and the
    #: instances served again from the first once they run out.
    ENDLESS_ENUMERATION = "endless_enumeration"
    #: Every Pull answers a context and no items, never EndOfSequence.
    EMPTY_BATCHES = "empty_batches"
    #: Enumerate and Pull answer ``count`` more items than MaxElements asked
    #: (DSP0226 8.2.3, 8.4: a service must not).
    OVERSIZE_BATCH = "oversize_batch"
    #: ``count`` unused namespace declarations on the response envelope.
    NAMESPACE_FLOOD = "namespace_flood"
    #: The real response, legal but costly to parse: an unknown header (not
    #: mustUnderstand, so ignored) of tiny elements filling it to ``size`` bytes.
    HEAVY_BODY = "heavy_body"
    #: The real response, then ``delay`` seconds later an unsolicited one on
    #: the same kept-alive connection: a w:QuotaLimit fault without RelatesTo.
    PUSH_EXTRA_RESPONSE = "push_extra_response"
    #: HTTP 200 with a web server's default page (text/html with a DOCTYPE).
    WEB_PAGE = "web_page"
    #: The real response in UTF-32 (with a BOM and ``charset=UTF-32``) behind
    #: a DOCTYPE whose external parameter entity names ``target``.
    DTD_IN_UTF32 = "dtd_in_utf32"


@dataclass(frozen=True)
class Injection:
    """One fault to inject into one request."""

    kind: InjectionKind
    delay: float = 0.0
    retry_after: int = 1
    size: int = 1_000_000
    #: How many (extra items, namespace declarations), for the kinds that say so.
    count: int = 1
    #: The system identifier an injected DOCTYPE points at.
    target: str = "file:///etc/passwd"


@dataclass(frozen=True)
class RequestInfo:
    """What an injection callback learns about a request.

    ``operation`` is the WS-Man operation name (``Get``, ``Enumerate``,
    ``Pull``, ``Invoke``... or ``Unknown`` before the body is parsed);
    ``number`` counts this host's requests from 1.
    """

    host: int
    operation: str
    action: str
    resource_uri: str | None
    number: int
    user: str | None


@dataclass
class HostBehaviour:
    """How one simulated host behaves.

    Args:
        latency: seconds added to every answer, or a ``(low, high)`` range
            drawn uniformly per request (seeded, so runs repeat).
        inject: called for each request; returns an :class:`Injection` or None.
        always: an injection applied to every request (after ``inject``).
        unauthorized_after: answer 401 to every request after the first N.
        max_concurrent_operations: a real per-host limit on requests in
            flight; beyond it the w:QuotaLimit fault is returned (Windows'
            MaxConcurrentOperationsPerUser).
        enumeration_timeout: seconds an idle enumeration context lives
            (Windows' EnumerationTimeoutms, 240000 by default).
        down: refuse to answer at all (the listener is not started).
        response_encoding: ``"utf-8"`` or ``"utf-16"`` for every answer;
            None answers in the request's charset, as WinRM does.
        set_cookie: a ``Set-Cookie`` header value added to every answer, as
            a load balancer in front of the listener sets its affinity cookie
            (WinRM itself uses no cookies); the Cookie headers the host then
            receives are counted in ``stats.cookies_received``.
    """

    latency: float | tuple[float, float] = 0.0
    inject: Callable[[RequestInfo], Injection | None] | None = None
    always: Injection | None = None
    unauthorized_after: int | None = None
    max_concurrent_operations: int | None = None
    enumeration_timeout: float = 240.0
    down: bool = False
    response_encoding: Literal["utf-8", "utf-16"] | None = None
    set_cookie: str | None = None


@dataclass
class HostStats:
    """Counters of one simulated host, for tests to read."""

    requests: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    releases: list[str] = field(default_factory=list)
    connections: int = 0
    #: Connections open now (``connections`` counts every one ever accepted).
    open_connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    auth_failures: int = 0
    injections: Counter[str] = field(default_factory=Counter)
    #: Requests served, by the user they were served as ("" without authentication).
    by_user: Counter[str] = field(default_factory=Counter)
    #: Cookie header values received (WS-Man clients should send none).
    cookies_received: Counter[str] = field(default_factory=Counter)


#: The injection of the request being served (each request runs in its own task).
_CURRENT: contextvars.ContextVar[Injection | None] = contextvars.ContextVar(
    "aiowsman_testing_injection", default=None
)


def current_injection() -> Injection | None:
    """The injection applied to the request being served, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def applying(injection: Injection | None) -> Iterator[None]:
    """Make ``injection`` the :func:`current_injection` for the block."""
    token = _CURRENT.set(injection)
    try:
        yield
    finally:
        _CURRENT.reset(token)
