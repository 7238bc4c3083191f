"""Fixture helpers for the authentication tests.

* :func:`start_realm`: a throw-away MIT Kerberos realm (k5test: a real
  ``krb5kdc`` on loopback ports), with an ``HTTP/<host>`` service key in the
  realm keytab.
* :func:`drive`: runs a client :class:`~aiowsman.auth.base.AuthContext` flow
  against a server acceptor by hand, without sockets: every
  :class:`~aiowsman.auth.base.HttpRequest` the flow yields is decided by the
  acceptor and answered the way the test server would answer it.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from aiowsman.auth.base import AuthContext, HttpRequest, HttpResponse, Offload
from aiowsman.testing.server_auth import AuthOutcome, ConnectionState
from aiowsman.testing.spnego_auth import SpnegoServerAuth

URL = "http://127.0.0.1:5985/wsman"
SOAP = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
SOAP_HEADERS = {"Content-Type": "application/soap+xml;charset=UTF-8"}
#: Bound on the steps of one flow (a handshake needs at most ~8).
MAX_STEPS = 30


@dataclass
class Realm:
    """A running KDC and the names the tests need."""

    realm: Any  # k5test.K5Realm
    hostname: str
    user: str
    password: str
    service_principal: str


def _free_portbase() -> int:
    # k5test uses portbase .. portbase+9; pick a block where the first ports are free.
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 60000, 10)
        try:
            for port in range(base, base + 4):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port block for the KDC")


@contextmanager
def start_realm() -> Iterator[Realm]:
    """Start a KDC, export its environment to this process, stop it afterwards."""
    import k5test

    realm = k5test.K5Realm(portbase=_free_portbase())
    saved = {k: os.environ.get(k) for k in realm.env}
    try:
        os.environ.update(realm.env)
        spn = f"HTTP/{realm.hostname}"
        realm.addprinc(spn)
        realm.extract_keytab(spn, realm.keytab)
        yield Realm(
            realm=realm,
            hostname=realm.hostname,
            user=realm.user_princ,
            password=realm.password("user"),
            service_principal=f"{spn}@{realm.realm}",
        )
    finally:
        realm.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def echo_reply(plaintext: bytes) -> bytes:
    """The simulated service's SOAP answer: the request, tagged."""
    return b"<reply>" + plaintext + b"</reply>"


@dataclass
class Wire:
    """What crossed the (simulated) wire during a drive."""

    requests: list[HttpRequest] = field(default_factory=list)
    responses: list[HttpResponse] = field(default_factory=list)
    outcomes: list[AuthOutcome] = field(default_factory=list)
    offloads: int = 0


def answer(
    outcome: AuthOutcome, reply: Callable[[bytes], bytes], status: int = 200
) -> HttpResponse:
    """Turn a handler's outcome into the HTTP response the test server sends."""
    if outcome.kind == "continue":
        return HttpResponse(401, {k.lower(): v for k, v in outcome.headers.items()}, b"")
    if outcome.kind == "fail":
        return HttpResponse(401, {}, b"")
    if outcome.kind == "skip":
        return HttpResponse(401, {"www-authenticate": "Negotiate"}, b"")
    headers = {k.lower(): v for k, v in outcome.headers.items()}
    if not outcome.plaintext:  # the empty-body leg of an encrypted handshake
        return HttpResponse(200, headers, b"")
    body = reply(outcome.plaintext)
    if outcome.seal is not None:
        body, ctype = outcome.seal(body)
    else:
        ctype = "application/soap+xml;charset=UTF-8"
    headers["content-type"] = ctype
    return HttpResponse(status, headers, body)


def drive(
    flow: Generator[Any, Any, HttpResponse],
    handler: SpnegoServerAuth,
    conn: ConnectionState,
    *,
    reply: Callable[[bytes], bytes] = echo_reply,
    respond: Callable[[HttpRequest, AuthOutcome], HttpResponse] | None = None,
    wire: Wire | None = None,
) -> HttpResponse:
    """Run ``flow`` to its end against ``handler``; return the flow's final response."""
    wire = wire if wire is not None else Wire()
    step = next(flow)
    for _ in range(MAX_STEPS):
        value: Any
        if isinstance(step, Offload):
            wire.offloads += 1
            value = step.func()
        else:
            assert isinstance(step, HttpRequest)
            wire.requests.append(step)
            outcome = handler.decide(
                step.headers.get("Authorization", ""),
                step.headers.get("Content-Type", ""),
                step.body,
                conn,
            )
            wire.outcomes.append(outcome)
            value = respond(step, outcome) if respond else answer(outcome, reply)
            wire.responses.append(value)
        try:
            step = flow.send(value)
        except StopIteration as stop:
            result: HttpResponse = stop.value
            return result
    raise AssertionError(f"flow did not finish in {MAX_STEPS} steps")


def run(
    context: AuthContext,
    handler: SpnegoServerAuth,
    conn: ConnectionState,
    body: bytes = SOAP,
    **kwargs: Any,
) -> HttpResponse:
    """Send one SOAP request through ``context`` to ``handler``."""
    request = HttpRequest(url=URL, body=body, headers=dict(SOAP_HEADERS))
    return drive(context.flow(request), handler, conn, **kwargs)


@pytest.fixture(scope="module")
def kdc() -> Iterator[Realm]:
    """A real MIT KDC for the importing test module (its environment is restored after)."""
    with start_realm() as realm:
        yield realm
