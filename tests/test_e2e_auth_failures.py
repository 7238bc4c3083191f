"""Authentication failures and recoveries, end to end against the real test server.

Bad credentials, Kerberos ticket problems, SPN options, a server that offers
only Kerberos, channel binding, Windows' refusal of unencrypted SOAP, and the
transparent re-authentication after a 401 or a dropped connection.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from aiowsman import AsyncSession
from aiowsman.auth.spnego import channel_binding_from_cert
from aiowsman.errors import AuthenticationError, ConnectError, InsecureTransportError
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from aiowsman.testing.spnego_auth import (
    KerberosServerAuth,
    NegotiateServerAuth,
    SpnegoServerAuth,
)
from tests.kdc import E2E_PASSWORD, E2E_USER, Realm, Stack, auth_stack, kdc

__all__ = ["kdc"]  # the module's KDC fixture, re-exported for pytest

SERVICE = "wmicimv2/Win32_Service"
WRONG = "Wr0ng-pa55-not-shown"


@pytest.fixture
def stack_for(kdc: Realm, tls_ca: trustme.CA, ca_file: str, tmp_path: Path) -> Any:
    """``async with stack_for(variant, tls=..., **server_kwargs) as stack``."""

    def make(variant: str, *, tls: bool = False, **server_kwargs: Any) -> Any:
        return auth_stack(
            variant,
            tls=tls,
            ca=tls_ca,
            ca_file=ca_file,
            cert_dir=tmp_path,
            realm=kdc,
            **server_kwargs,
        )

    return make


def spnego_handler(stack: Stack) -> SpnegoServerAuth:
    handler = stack.handler
    assert isinstance(handler, SpnegoServerAuth)
    return handler


# -- bad credentials ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "tls"),
    [
        ("ntlm", False),
        ("negotiate-ntlm", False),
        ("kerberos", False),
        ("credssp", False),
        ("ntlm", True),
        ("kerberos", True),
        ("basic", True),
    ],
)
async def test_wrong_password_names_host_and_scheme(
    stack_for: Any, variant: str, tls: bool
) -> None:
    async with stack_for(variant, tls=tls) as stack, stack.session(password=WRONG) as session:
        with pytest.raises(AuthenticationError) as info:
            await session.get(SERVICE, Name="WinRM")
    err = info.value
    assert err.host == session.host
    assert err.operation == "Get"
    assert err.scheme == stack.scheme
    assert session.host in str(err)
    assert stack.scheme in str(err)
    assert WRONG not in str(err)


@pytest.mark.parametrize("variant", ["ntlm", "basic"])
async def test_unknown_user_is_an_authentication_error(stack_for: Any, variant: str) -> None:
    async with stack_for(variant, tls=True) as stack, stack.session(username="mallory") as s:
        with pytest.raises(AuthenticationError) as info:
            await s.identify()
    assert info.value.scheme == stack.scheme


async def test_unknown_kerberos_principal_is_an_authentication_error(
    stack_for: Any, kdc: Realm
) -> None:
    async with (
        stack_for("kerberos") as stack,
        stack.session(username=f"nobody@{kdc.realm.realm}") as session,
    ):
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert info.value.scheme == "kerberos"
    assert info.value.host == session.host


async def test_unmapped_client_certificate_is_refused(
    stack_for: Any, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    eve = tmp_path / "eve.pem"
    tls_ca.issue_cert(
        "eve@example.test", common_name="eve"
    ).private_key_and_cert_chain_pem.write_to_path(str(eve))
    async with stack_for("certificate", tls=True) as stack, stack.session(cert=str(eve)) as s:
        with pytest.raises(AuthenticationError) as info:
            await s.identify()
    assert info.value.scheme == "certificate"


# -- Kerberos credentials: ticket caches, keytabs, SPN, delegation --------------------


@pytest.fixture
def no_default_tickets(tmp_path: Path) -> Iterator[str]:
    """Point KRB5CCNAME at an empty cache; yield its path."""
    path = str(tmp_path / "empty_ccache")
    saved = os.environ.get("KRB5CCNAME")
    os.environ["KRB5CCNAME"] = f"FILE:{path}"
    try:
        yield path
    finally:
        if saved is None:
            os.environ.pop("KRB5CCNAME", None)
        else:
            os.environ["KRB5CCNAME"] = saved


def ticket_options(kdc: Realm, **options: Any) -> dict[str, Any]:
    return {"auth": "kerberos", "auth_options": {"hostname_override": kdc.hostname, **options}}


async def test_kerberos_uses_the_default_ticket_cache(stack_for: Any, kdc: Realm) -> None:
    # k5test ran kinit for the user into the realm's KRB5CCNAME.
    async with (
        stack_for("kerberos") as stack,
        stack.session(username=None, password=None, **ticket_options(kdc)) as session,
    ):
        await session.identify()
    assert spnego_handler(stack).logons == [kdc.user]


async def test_kerberos_uses_an_explicit_ccache(
    stack_for: Any, kdc: Realm, no_default_tickets: str, tmp_path: Path
) -> None:
    cache = str(tmp_path / "my_ccache")
    kdc.realm.kinit(kdc.user, kdc.password, flags=["-c", cache])
    options = ticket_options(kdc, ccache=f"FILE:{cache}")
    async with (
        stack_for("kerberos") as stack,
        stack.session(username=None, password=None, **options) as session,
    ):
        await session.identify()
    assert spnego_handler(stack).logons == [kdc.user]


async def test_kerberos_uses_a_client_keytab(
    stack_for: Any, kdc: Realm, no_default_tickets: str, tmp_path: Path
) -> None:
    principal = f"e2ekeytab@{kdc.realm.realm}"
    keytab = str(tmp_path / "client.keytab")
    kdc.realm.addprinc(principal)
    kdc.realm.extract_keytab(principal, keytab)
    options = ticket_options(kdc, keytab=keytab)
    async with (
        stack_for("kerberos") as stack,
        stack.session(username=principal, password=None, **options) as session,
    ):
        await session.identify()
    assert spnego_handler(stack).logons == [principal]


async def test_absent_kerberos_ticket_is_an_authentication_error(
    stack_for: Any, kdc: Realm, no_default_tickets: str
) -> None:
    async with (
        stack_for("kerberos") as stack,
        stack.session(username=None, password=None, **ticket_options(kdc)) as session,
    ):
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert info.value.scheme == "kerberos"
    assert info.value.host == session.host


async def test_expired_kerberos_ticket_is_an_authentication_error(
    stack_for: Any, kdc: Realm, tmp_path: Path
) -> None:
    cache = str(tmp_path / "short_ccache")
    kdc.realm.kinit(kdc.user, kdc.password, flags=["-l", "1s", "-c", cache])
    # Wait (bounded) until the one-second ticket has expired.
    await asyncio.sleep(2.1)
    options = ticket_options(kdc, ccache=f"FILE:{cache}")
    async with (
        stack_for("kerberos") as stack,
        stack.session(username=None, password=None, **options) as session,
    ):
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert "expired" in str(info.value).lower()
    assert spnego_handler(stack).logons == []


async def test_unknown_service_principal_is_an_authentication_error(
    stack_for: Any, kdc: Realm
) -> None:
    # The KDC has no HTTP/nosuchhost.test: no service ticket can be had.
    options = {"hostname_override": "nosuchhost.test"}
    async with stack_for("kerberos") as stack, stack.session(auth_options=options) as session:
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert info.value.scheme == "kerberos"
    assert spnego_handler(stack).logons == []


@pytest.fixture(scope="module")
def wsman_spn(kdc: Realm) -> str:
    """A ``WSMAN/<host>`` service key in the realm keytab (some hosts register WSMAN)."""
    spn = f"WSMAN/{kdc.hostname}"
    kdc.realm.addprinc(spn)
    kdc.realm.extract_keytab(spn, kdc.realm.keytab)
    return spn


@pytest.mark.parametrize(("client_service", "accepted"), [("WSMAN", True), ("HTTP", False)])
async def test_spn_service_class_override(
    kdc: Realm, wsman_spn: str, client_service: str, accepted: bool
) -> None:
    # The server accepts only tickets for WSMAN/<host>.
    handler = KerberosServerAuth(service="WSMAN", hostname=kdc.hostname, require_encryption=True)
    async with WSManTestServer(auth=(), auth_handlers=[handler], allow_unencrypted=False) as srv:
        options = {"hostname_override": kdc.hostname, "service": client_service}
        async with AsyncSession(
            srv.endpoints[0],
            auth="kerberos",
            username=kdc.user,
            password=kdc.password,
            auth_options=options,
            timeout=15.0,
        ) as session:
            if accepted:
                await session.identify()
            else:
                with pytest.raises(AuthenticationError):
                    await session.identify()
    assert handler.logons == ([kdc.user] if accepted else [])


@pytest.mark.parametrize("delegate", [False, True])
async def test_kerberos_delegation_forwards_the_ticket_only_when_asked(
    stack_for: Any, kdc: Realm, delegate: bool
) -> None:
    options = {"hostname_override": kdc.hostname, "delegate": delegate}
    async with stack_for("kerberos") as stack, stack.session(auth_options=options) as session:
        await session.identify()
    assert spnego_handler(stack).delegations == ([kdc.user] if delegate else [])


# -- a server that offers only Kerberos -------------------------------------------------


async def test_server_offering_only_kerberos(stack_for: Any, kdc: Realm) -> None:
    async with stack_for("kerberos") as stack:
        async with aiohttp.ClientSession() as client, client.post(stack.endpoint) as probe:
            offers = probe.headers.getall("WWW-Authenticate", [])
        assert probe.status == 401
        assert offers == ["Kerberos"]
        # Kerberos works, sealed as application/HTTP-Kerberos-session-encrypted
        # (the acceptor refuses any other protocol and any plaintext SOAP).
        async with stack.session() as session:
            await session.get(SERVICE, Name="WinRM")
        handler = spnego_handler(stack)
        assert handler.encryption_protocol == "application/HTTP-Kerberos-session-encrypted"
        assert handler.require_encryption
        # Negotiate is refused, and the error says what the server offers.
        async with stack.session(auth="negotiate") as session:
            with pytest.raises(AuthenticationError) as info:
                await session.identify()
    assert "Kerberos" in str(info.value)
    assert info.value.scheme == "negotiate"


# -- channel binding (EPA) over HTTPS ---------------------------------------------------


@pytest.fixture
async def strict_cbt_server(tls_ca: trustme.CA, kdc: Realm) -> AsyncIterator[Any]:
    """``await start(scheme, binding_cert=None)``: HTTPS server requiring a channel binding.

    The required binding is the server certificate's own (correct), or that
    of ``binding_cert`` (a mismatch, as behind a TLS-intercepting proxy).
    """
    servers: list[WSManTestServer] = []

    async def start(scheme: str, *, wrong: bool) -> tuple[str, SpnegoServerAuth]:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf = tls_ca.issue_cert("127.0.0.1")
        leaf.configure_cert(ctx)
        pem = (tls_ca.issue_cert("proxy.example") if wrong else leaf).cert_chain_pems[0]
        binding = channel_binding_from_cert(ssl.PEM_cert_to_DER_cert(pem.bytes().decode()))
        handler: SpnegoServerAuth
        if scheme == "kerberos":
            handler = KerberosServerAuth(hostname=kdc.hostname, channel_binding=binding)
        else:
            handler = NegotiateServerAuth(users={E2E_USER: E2E_PASSWORD}, channel_binding=binding)
        server = WSManTestServer(auth=(), auth_handlers=[handler], tls=ctx)
        await server.start()
        servers.append(server)
        return server.endpoints[0], handler

    yield start
    for server in servers:
        await server.close()
        for handler in server.auth_handlers:
            if isinstance(handler, SpnegoServerAuth):
                handler.close()


def cbt_session(url: str, scheme: str, kdc: Realm, ca_file: str) -> AsyncSession:
    if scheme == "kerberos":
        return AsyncSession(
            url,
            auth="kerberos",
            username=kdc.user,
            password=kdc.password,
            auth_options={"hostname_override": kdc.hostname},
            verify=ca_file,
            timeout=15.0,
        )
    return AsyncSession(
        url, auth="ntlm", username=E2E_USER, password=E2E_PASSWORD, verify=ca_file, timeout=15.0
    )


@pytest.mark.parametrize("scheme", ["ntlm", "kerberos"])
async def test_matching_channel_binding_is_accepted(
    strict_cbt_server: Any, kdc: Realm, ca_file: str, scheme: str
) -> None:
    url, handler = await strict_cbt_server(scheme, wrong=False)
    async with cbt_session(url, scheme, kdc, ca_file) as session:
        await session.identify()
    assert len(handler.logons) == 1


@pytest.mark.parametrize("scheme", ["ntlm", "kerberos"])
async def test_channel_binding_mismatch_is_refused_over_https(
    strict_cbt_server: Any, kdc: Realm, ca_file: str, scheme: str
) -> None:
    url, handler = await strict_cbt_server(scheme, wrong=True)
    async with cbt_session(url, scheme, kdc, ca_file) as session:
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert info.value.scheme == scheme
    assert handler.logons == []


# -- unencrypted SOAP over HTTP ---------------------------------------------------------


@pytest.mark.parametrize("variant", ["ntlm", "kerberos", "credssp"])
async def test_unencrypted_soap_is_refused_by_a_server_requiring_encryption(
    stack_for: Any, variant: str
) -> None:
    async with (
        stack_for(variant) as stack,
        stack.session(encrypt=False, allow_unencrypted=True) as session,
    ):
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert "AllowUnencrypted" in str(info.value)
    assert stack.server.host(0).stats.requests == 0  # no SOAP was served


async def test_basic_over_http_is_refused_by_a_server_requiring_encryption(
    stack_for: Any,
) -> None:
    async with (
        stack_for("basic") as stack,
        stack.session(allow_unencrypted=True) as session,
    ):
        with pytest.raises(AuthenticationError):
            await session.identify()


async def test_encryption_is_not_dropped_without_allow_unencrypted(stack_for: Any) -> None:
    async with stack_for("ntlm") as stack:
        with pytest.raises(InsecureTransportError):
            stack.session(encrypt=False)


async def test_unencrypted_ntlm_works_only_when_both_sides_allow_it(stack_for: Any) -> None:
    async with (
        stack_for("ntlm", allow_unencrypted=True) as stack,
        stack.session(encrypt=False, allow_unencrypted=True) as session,
    ):
        await session.identify()
    assert stack.server.host(0).stats.requests == 1


# -- re-authentication ------------------------------------------------------------------


def unauthorized_once(number: int) -> HostBehaviour:
    """A host that answers its ``number``-th SOAP request with 401, once."""

    def inject(info: RequestInfo) -> Injection | None:
        return Injection(InjectionKind.UNAUTHORIZED) if info.number == number else None

    return HostBehaviour(inject=inject)


@pytest.mark.parametrize(
    ("variant", "tls"),
    [("ntlm", False), ("kerberos", False), ("credssp", False), ("negotiate-kerberos", True)],
)
async def test_401_mid_session_reauthenticates_transparently(
    stack_for: Any, variant: str, tls: bool
) -> None:
    async with (
        stack_for(variant, tls=tls, behaviours={0: unauthorized_once(2)}) as stack,
        stack.session() as session,
    ):
        names = [(await session.get(SERVICE, Name="WinRM"))["Name"] for _ in range(3)]
    assert names == ["WinRM"] * 3
    assert stack.server.host(0).stats.injections["unauthorized"] == 1
    assert len(spnego_handler(stack).logons) == 2  # one more handshake, same connection


async def test_persistent_401_is_an_error_after_one_reauthentication(stack_for: Any) -> None:
    async with (
        stack_for("ntlm", behaviours={0: HostBehaviour(unauthorized_after=1)}) as stack,
        stack.session() as session,
    ):
        await session.identify()
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
    assert info.value.operation == "Identify"
    assert len(spnego_handler(stack).logons) == 2


async def test_basic_401_mid_session_is_an_authentication_error(stack_for: Any) -> None:
    async with (
        stack_for("basic", tls=True, behaviours={0: unauthorized_once(2)}) as stack,
        stack.session() as session,
    ):
        await session.identify()
        with pytest.raises(AuthenticationError) as info:
            await session.identify()
        await session.identify()  # the credentials still work afterwards
    assert info.value.scheme == "basic"


def reset_once(operation: str) -> HostBehaviour:
    """A host that resets the connection under its first ``operation`` request."""
    fired: list[int] = []

    def inject(info: RequestInfo) -> Injection | None:
        if info.operation == operation and not fired:
            fired.append(info.number)
            return Injection(InjectionKind.RESET_BEFORE_RESPONSE)
        return None

    return HostBehaviour(inject=inject)


@pytest.mark.parametrize("variant", ["ntlm", "kerberos", "credssp"])
async def test_dropped_connection_reauthenticates_on_a_new_connection(
    stack_for: Any, variant: str
) -> None:
    async with (
        stack_for(variant, behaviours={0: reset_once("Get")}) as stack,
        stack.session() as session,
    ):
        await session.identify()
        service = await session.get(SERVICE, Name="WinRM")  # reset, resent (idempotent)
    assert service["Name"] == "WinRM"
    assert stack.server.host(0).stats.connections == 2
    assert len(spnego_handler(stack).logons) == 2


async def test_context_is_discarded_after_a_transport_failure(stack_for: Any) -> None:
    async with (
        stack_for("ntlm", behaviours={0: reset_once("Pull")}) as stack,
        stack.session() as session,
    ):
        with pytest.raises(ConnectError) as info:
            await session.enumerate(SERVICE, batch_items=50).to_list()
        assert info.value.operation == "Pull"
        # The next operation authenticates afresh on a new connection.
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"
    assert len(spnego_handler(stack).logons) == 2


# -- the scripting API's flags, and schemes on the wrong transport -----------------------


async def test_scripting_api_negotiate_encrypts_unless_no_encryption_is_asked(
    stack_for: Any,
) -> None:
    from aiowsman.facade import WSMan, session_arguments

    wsman = WSMan()
    options = wsman.create_connection_options()
    options.username, options.password = E2E_USER, E2E_PASSWORD
    flags = WSMan.SessionFlagUseNegotiate | WSMan.SessionFlagCredUsernamePassword
    assert "encrypt" not in session_arguments(flags, options)
    async with stack_for("negotiate-ntlm") as stack:
        async with wsman.create_session(stack.endpoint, flags, options) as session:
            await session.identify()  # sealed: the server refuses plaintext
        # SessionFlagNoEncryption is the explicit opt-out (with AllowUnencrypted
        # on the client): the service, AllowUnencrypted=false, refuses it.
        no_encryption = flags | WSMan.SessionFlagNoEncryption
        assert session_arguments(no_encryption, options)["encrypt"] is False
        async with wsman.create_session(stack.endpoint, no_encryption, options) as session:
            with pytest.raises(AuthenticationError):
                await session.identify()


async def test_certificate_auth_over_plain_http_is_refused(stack_for: Any) -> None:
    async with stack_for("certificate", tls=True) as stack:
        http = stack.endpoint.replace("https://", "http://")
        async with AsyncSession(http, auth="certificate", cert=stack.session_kwargs["cert"]) as s:
            with pytest.raises(InsecureTransportError) as info:
                await s.identify()
    assert info.value.host == s.host
