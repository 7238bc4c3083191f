"""Shared fixtures: aioresponses that works with aiohttp 3.14, and (below) the test server."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aioresponses import aioresponses
from hypothesis import HealthCheck, settings
from yarl import URL

from aiowsman import AsyncSession
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.tripwires import Tripwires

# Hypothesis: the same randomised search everywhere, but nothing timed. On a
# loaded CI machine one example (or drawing one) can take longer than
# Hypothesis's 200 ms deadline / too_slow health check for reasons that have
# nothing to do with the code under test; that would fail the run as "flaky"
# instead of finding a bug. Every example still runs, still shrinks, and a
# failure still prints the blob that reproduces it (@reproduce_failure).
# Explicit @settings(...) in a test file inherit these (loaded before any
# test module is imported).
settings.register_profile(
    "aiowsman",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("aiowsman")


class _NoWriter:
    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's ``stream_writer`` argument."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NoWriter())
        super().__init__(method, url, **kwargs)


class MockedHTTP:
    """aioresponses, with SOAP content type and the compatible response class as defaults.

    ``post(url, status=, body=, headers=, exception=)`` queues one answer;
    ``sent(url)`` returns the keyword arguments of each POST made to ``url``
    (``headers``, ``data``, ``proxy``, ``ssl``, ``allow_redirects``).
    """

    def __init__(self, m: aioresponses) -> None:
        self.m = m

    def post(self, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _CompatResponse)
        kwargs.setdefault("content_type", "application/soap+xml;charset=UTF-8")
        self.m.post(url, **kwargs)

    def sent(self, url: str) -> list[dict[str, Any]]:
        return [call.kwargs for call in self.m.requests.get(("POST", URL(url)), [])]


@pytest.fixture(scope="session", autouse=True)
def _loopback_only_kerberos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep MIT Kerberos off the network for the whole run.

    Negotiate tries Kerberos before NTLM, as Windows does. Outside the k5test
    realm (tests/kdc.py), libkrb5 would otherwise read the machine's
    /etc/krb5.conf (Debian's krb5-user names ATHENA.MIT.EDU) and look up a
    KDC on the network. With a config that has no default realm and no DNS
    lookups, Kerberos fails locally at once and Negotiate falls back to NTLM.
    The k5test realm fixtures set and restore their own KRB5_CONFIG.
    """
    base = tmp_path_factory.mktemp("krb5-loopback")
    conf = base / "krb5.conf"
    conf.write_text("[libdefaults]\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n")
    saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME")}
    os.environ["KRB5_CONFIG"] = str(conf)
    os.environ["KRB5CCNAME"] = f"FILE:{base / 'ccache'}"
    os.environ.pop("KRB5_KTNAME", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def mocked_http() -> Iterator[MockedHTTP]:
    """Intercept aiohttp requests (narrow checks of the exact request only)."""
    with aioresponses() as m:
        yield MockedHTTP(m)


# -- a real WS-Man server (aiowsman.testing) and real TLS (trustme) ------------------

USER = "user"
#: A distinctive password, so tests can assert it never leaks into text.
PASSWORD = "Pa55-w0rd-never-logged"
#: Session options that log on to the test server with Basic over plain HTTP.
BASIC_OVER_HTTP: dict[str, Any] = {
    "auth": "basic",
    "username": USER,
    "password": PASSWORD,
    "allow_unencrypted": True,
}


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throw-away certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CA certificate as a PEM file (for ``verify=``)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_tls_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server-side SSL context with a certificate for ``names`` signed by ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(ctx)
    return ctx


@pytest.fixture
async def basic_server() -> AsyncIterator[WSManTestServer]:
    """One simulated Windows host over HTTP that accepts Basic ``USER``/``PASSWORD``."""
    async with WSManTestServer(users={USER: PASSWORD}, auth=("basic",)) as server:
        yield server


@pytest.fixture
async def basic_session(basic_server: WSManTestServer) -> AsyncIterator[AsyncSession]:
    """An AsyncSession to ``basic_server`` (Basic over HTTP, explicitly allowed)."""
    async with AsyncSession(
        basic_server.endpoints[0],
        auth="basic",
        username=USER,
        password=PASSWORD,
        allow_unencrypted=True,
        timeout=10.0,
    ) as s:
        yield s


def black_hole(operation: str) -> HostBehaviour:
    """A host that accepts ``operation`` requests and never answers them (other operations: ok)."""

    def inject(info: RequestInfo) -> Injection | None:
        return Injection(InjectionKind.BLACK_HOLE) if info.operation == operation else None

    return HostBehaviour(inject=inject)


def slow(operation: str, delay: float) -> HostBehaviour:
    """A host that answers ``operation`` requests ``delay`` seconds late (others at once)."""

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation == operation:
            return Injection(InjectionKind.LATENCY, delay=delay)
        return None

    return HostBehaviour(inject=inject)


def _make_server(**kwargs: Any) -> WSManTestServer:
    kwargs.setdefault("users", {USER: PASSWORD})
    return WSManTestServer(**kwargs)


def _make_session(server: WSManTestServer, index: int = 0, **kwargs: Any) -> AsyncSession:
    kwargs.setdefault("auth", "basic")
    if kwargs["auth"] == "basic":
        kwargs.setdefault("username", USER)
        kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("allow_unencrypted", True)
    kwargs.setdefault("timeout", 10.0)
    return AsyncSession(server.endpoints[index], **kwargs)


@pytest.fixture
def make_server() -> Callable[..., WSManTestServer]:
    """``make_server(**kwargs)``: a WSManTestServer accepting USER/PASSWORD (use ``async with``)."""
    return _make_server


@pytest.fixture
def make_session() -> Callable[..., AsyncSession]:
    """``make_session(server, index=0, **kwargs)``: a Basic session to a host of ``server``."""
    return _make_session


@pytest.fixture
def make_tls(tls_ca: trustme.CA) -> Callable[..., ssl.SSLContext]:
    """``make_tls(*names, ca=None)``: a server SSL context (default CA ``tls_ca``)."""

    def make(*names: str, ca: trustme.CA | None = None) -> ssl.SSLContext:
        return server_tls_context(ca or tls_ca, *names)

    return make


@pytest.fixture
def wires(tmp_path: Path) -> Iterator[Tripwires]:
    """Tripwires (a FIFO, a blocking FIFO, a secret file, a loopback listener) in ``tmp_path``."""
    w = Tripwires(tmp_path)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
async def pool(basic_session: AsyncSession) -> AsyncIterator[Any]:
    """An open PowerShell runspace pool (aiowsman.psrp) on ``basic_server``."""
    async with basic_session.runspace_pool() as opened:
        yield opened


@pytest.fixture
def aiohttp_urls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What each request of the test hands aiohttp as its URL (text or ``yarl.URL``), in order."""
    given: list[object] = []
    build = aiohttp.ClientSession._build_url

    def recording(self: aiohttp.ClientSession, str_or_url: Any) -> URL:
        given.append(str_or_url)
        return build(self, str_or_url)

    monkeypatch.setattr(aiohttp.ClientSession, "_build_url", recording)
    return given
