"""Fixture helpers for the authentication tests.

* :func:`start_realm`: a throw-away MIT Kerberos realm (k5test: a real
  ``krb5kdc`` on loopback ports, its krb5.conf, KDC database, keytab and
  ticket cache in a temporary directory that ``stop`` removes; nothing reads
  /etc/krb5.conf), with an ``HTTP/<host>`` service key in the realm keytab.
* :class:`Stack` / :func:`auth_stack`: the real test server with the real
  acceptor of one scheme, and the AsyncSession arguments that log on to it
  (the end-to-end tests, ``tests/test_e2e_auth_*.py``).
* :func:`drive`: runs a client :class:`~aiowsman.auth.base.AuthContext` flow
  against a server acceptor by hand, without sockets: every
  :class:`~aiowsman.auth.base.HttpRequest` the flow yields is decided by the
  acceptor and answered the way the test server would answer it.
"""

from __future__ import annotations

import os
import random
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from aiowsman import AsyncSession
from aiowsman.auth.base import AuthContext, HttpRequest, HttpResponse, Offload
from aiowsman.testing import WSManTestServer
from aiowsman.testing.server_auth import AuthOutcome, ConnectionState, ServerAuthHandler
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


# -- end to end: the test server with one scheme's acceptor, and a session for it -------

#: The NTLM / Basic / CredSSP account of the end-to-end tests. The password is
#: distinctive so that the hygiene tests can look for it in every text.
E2E_USER = "carol"
E2E_PASSWORD = "Kx9-e2e-Secret-never-shown"

#: Scheme variants of the end-to-end matrix: the ``auth=`` name, the server's
#: scheme name, and how the client gets its credentials.
#:
#: * ``negotiate-kerberos``: SPNEGO with a Kerberos ticket (KDC user);
#: * ``negotiate-ntlm``: SPNEGO for a user the KDC does not know: the client
#:   falls back to NTLM, as Windows does outside a domain;
#: * ``credssp-kerberos``: CredSSP with Kerberos as the inner mechanism.
VARIANTS: dict[str, tuple[str, str]] = {
    "ntlm": ("ntlm", "ntlm"),
    "negotiate-ntlm": ("negotiate", "negotiate"),
    "negotiate-kerberos": ("negotiate", "negotiate"),
    "kerberos": ("kerberos", "kerberos"),
    "credssp": ("credssp", "credssp"),
    "credssp-kerberos": ("credssp", "credssp"),
    "certificate": ("certificate", "certificate"),
    "basic": ("basic", "basic"),
}
#: Schemes whose security context lives on one connection (and can seal).
CONNECTION_BOUND = {"ntlm", "negotiate", "kerberos", "credssp"}


def client_certificate(ca: trustme.CA, directory: Path, user: str = E2E_USER) -> str:
    """A client certificate (CN = ``user``) and its key in one PEM file."""
    path = directory / f"{user}-client.pem"
    leaf = ca.issue_cert(f"{user}@example.test", common_name=user)
    leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *, client_certs: bool = False) -> ssl.SSLContext:
    """The server's TLS context for 127.0.0.1; optionally asking for client certificates."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    if client_certs:
        # WinRM asks for a certificate but does not require one (other
        # schemes share the listener).
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


@dataclass
class Stack:
    """A running test server for one scheme, and how to open sessions to it."""

    variant: str
    server: WSManTestServer
    session_kwargs: dict[str, Any]

    @property
    def scheme(self) -> str:
        """The ``auth=`` name."""
        return VARIANTS[self.variant][0]

    @property
    def handler(self) -> ServerAuthHandler:
        """The server's acceptor for the scheme."""
        return self.server.auth_handlers[0]

    @property
    def endpoint(self) -> str:
        return self.server.endpoints[0]

    def session(self, **overrides: Any) -> AsyncSession:
        """A session to host 0 with the variant's credentials (``overrides`` win)."""
        kwargs = {**self.session_kwargs, **overrides}
        return AsyncSession(self.endpoint, **kwargs)


def credentials(variant: str, realm: Realm | None, cert_file: str | None) -> dict[str, Any]:
    """The AsyncSession keywords that log on with ``variant``."""
    scheme = VARIANTS[variant][0]
    kwargs: dict[str, Any] = {"auth": scheme}
    options: dict[str, Any] = {}
    if variant in ("negotiate-kerberos", "kerberos", "credssp-kerberos"):
        assert realm is not None, f"{variant} needs the KDC"
        kwargs.update(username=realm.user, password=realm.password)
        # The endpoint is 127.0.0.1; the service key is HTTP/<realm hostname>.
        options["hostname_override"] = realm.hostname
        if variant == "credssp-kerberos":
            options["auth_mechanism"] = "kerberos"
    elif variant == "certificate":
        assert cert_file is not None
        kwargs["cert"] = cert_file
    else:
        kwargs.update(username=E2E_USER, password=E2E_PASSWORD)
        if variant == "credssp":
            options["auth_mechanism"] = "ntlm"
    if options:
        kwargs["auth_options"] = options
    return kwargs


@asynccontextmanager
async def auth_stack(
    variant: str,
    *,
    tls: bool,
    ca: trustme.CA,
    ca_file: str,
    cert_dir: Path,
    realm: Realm | None = None,
    allow_unencrypted: bool = False,
    **server_kwargs: Any,
) -> AsyncIterator[Stack]:
    """Start the test server with ``variant``'s acceptor (``auth=(scheme,)``).

    On plain HTTP the server refuses unencrypted SOAP (``AllowUnencrypted``
    false, Windows' default) unless ``allow_unencrypted``; Basic over HTTP
    needs it.
    """
    scheme = VARIANTS[variant][1]
    cert_file = client_certificate(ca, cert_dir) if variant == "certificate" else None
    tls_context = server_context(ca, client_certs=variant == "certificate") if tls else None
    server = WSManTestServer(
        auth=(scheme,),
        users={E2E_USER: E2E_PASSWORD},
        tls=tls_context,
        allow_unencrypted=allow_unencrypted,
        **server_kwargs,
    )
    kwargs = credentials(variant, realm, cert_file)
    kwargs.update(timeout=15.0, verify=ca_file)
    if allow_unencrypted and not tls and scheme == "basic":
        kwargs["allow_unencrypted"] = True
    async with server:
        yield Stack(variant=variant, server=server, session_kwargs=kwargs)


@pytest.fixture
def no_realm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A krb5.conf with no default realm and no DNS lookups, and an empty ticket cache.

    Negotiate tries Kerberos before NTLM, as Windows does. Without this, a
    test outside the k5test realm would read the machine's /etc/krb5.conf
    (Debian's names ATHENA.MIT.EDU) and try to reach a KDC on the network;
    with it, Kerberos fails locally at once and Negotiate falls back to NTLM.
    """
    conf = tmp_path / "krb5-no-realm.conf"
    conf.write_text("[libdefaults]\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n")
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-realm-ccache'}")
    monkeypatch.delenv("KRB5_KTNAME", raising=False)
