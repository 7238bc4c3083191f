"""Kerberos and Negotiate(Kerberos) flows against a real MIT KDC (k5test), without sockets."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest

from aiowsman.auth.base import HttpRequest, HttpResponse
from aiowsman.auth.encryption import is_encrypted_content_type
from aiowsman.auth.spnego import KerberosAuth, NegotiateAuth
from aiowsman.errors import AuthenticationError
from aiowsman.testing.server_auth import AuthOutcome, ConnectionState
from aiowsman.testing.spnego_auth import KerberosServerAuth, NegotiateServerAuth
from tests.kdc import SOAP, URL, Realm, Wire, answer, echo_reply, kdc, run

__all__ = ["kdc"]  # the session fixture, re-exported for pytest


def server(realm: Realm, **options: object) -> KerberosServerAuth:
    return KerberosServerAuth(hostname=realm.hostname, **options)  # type: ignore[arg-type]


@pytest.fixture
def empty_ccache(kdc: Realm, tmp_path: object) -> Iterator[str]:
    """Point KRB5CCNAME at a cache with no tickets for the test's duration."""
    path = os.path.join(str(tmp_path), "empty_ccache")
    saved = os.environ["KRB5CCNAME"]
    os.environ["KRB5CCNAME"] = f"FILE:{path}"
    try:
        yield path
    finally:
        os.environ["KRB5CCNAME"] = saved


def test_kerberos_with_password_authenticates_with_mutual_auth(kdc: Realm) -> None:
    acceptor = server(kdc)
    context = KerberosAuth(kdc.user, kdc.password).new_context(url=URL, host=kdc.hostname)
    wire = Wire()
    response = run(context, acceptor, ConnectionState(), wire=wire)
    assert response.body == echo_reply(SOAP)
    assert acceptor.logons == [kdc.user]
    assert len(wire.requests) == 1
    assert wire.requests[0].headers["Authorization"].startswith("Kerberos ")
    # The AP-REP rode on the 200 and completed the client's context.
    assert response.headers["www-authenticate"].startswith("Kerberos ")
    assert context.security_context.complete
    assert wire.offloads >= 2  # creating the context (KDC) and each step ran offloaded


def test_kerberos_uses_the_ticket_cache_without_credentials(kdc: Realm) -> None:
    # k5test's realm has already run kinit for the user into KRB5CCNAME.
    context = KerberosAuth().new_context(url=URL, host=kdc.hostname)
    response = run(context, server(kdc), ConnectionState())
    assert response.status == 200


def test_kerberos_uses_an_explicit_ccache(kdc: Realm, empty_ccache: str) -> None:
    kdc.realm.kinit(kdc.user, kdc.password, flags=["-c", empty_ccache])
    context = KerberosAuth(ccache=f"FILE:{empty_ccache}").new_context(url=URL, host=kdc.hostname)
    assert run(context, server(kdc), ConnectionState()).status == 200


def test_kerberos_uses_a_client_keytab(kdc: Realm, tmp_path: object) -> None:
    keytab = os.path.join(str(tmp_path), "client.keytab")
    kdc.realm.addprinc("svcacct@" + kdc.realm.realm)
    kdc.realm.extract_keytab("svcacct@" + kdc.realm.realm, keytab)
    acceptor = server(kdc)
    context = KerberosAuth("svcacct@" + kdc.realm.realm, keytab=keytab).new_context(
        url=URL, host=kdc.hostname
    )
    assert run(context, acceptor, ConnectionState()).status == 200
    assert acceptor.logons == ["svcacct@" + kdc.realm.realm]


def test_kerberos_wrong_password_names_the_scheme(kdc: Realm) -> None:
    context = KerberosAuth(kdc.user, "not-the-password").new_context(url=URL, host=kdc.hostname)
    with pytest.raises(AuthenticationError) as info:
        run(context, server(kdc), ConnectionState())
    assert info.value.scheme == "kerberos"
    assert "kerberos" in str(info.value)
    assert "not-the-password" not in str(info.value)


def test_kerberos_unknown_user_is_an_authentication_error(kdc: Realm) -> None:
    context = KerberosAuth("nobody@" + kdc.realm.realm, "pw").new_context(
        url=URL, host=kdc.hostname
    )
    with pytest.raises(AuthenticationError):
        run(context, server(kdc), ConnectionState())


def test_kerberos_without_a_ticket_is_an_authentication_error(
    kdc: Realm, empty_ccache: str
) -> None:
    context = KerberosAuth().new_context(url=URL, host=kdc.hostname)
    with pytest.raises(AuthenticationError) as info:
        run(context, server(kdc), ConnectionState())
    assert info.value.scheme == "kerberos"


def test_unknown_service_principal_is_an_authentication_error(kdc: Realm) -> None:
    context = KerberosAuth(kdc.user, kdc.password, hostname_override="nosuchhost.test").new_context(
        url=URL, host=kdc.hostname
    )
    with pytest.raises(AuthenticationError):
        run(context, server(kdc), ConnectionState())


def test_spn_service_class_can_be_overridden(kdc: Realm) -> None:
    spn = f"WSMAN/{kdc.hostname}"
    kdc.realm.addprinc(spn)
    kdc.realm.extract_keytab(spn, kdc.realm.keytab)
    acceptor = KerberosServerAuth(service="WSMAN", hostname=kdc.hostname)
    context = KerberosAuth(kdc.user, kdc.password, service="WSMAN").new_context(
        url=URL, host=kdc.hostname
    )
    assert run(context, acceptor, ConnectionState()).status == 200


def test_hostname_override_names_the_spn_host(kdc: Realm) -> None:
    context = KerberosAuth(kdc.user, kdc.password, hostname_override=kdc.hostname).new_context(
        url="http://192.0.2.1:5985/wsman", host="192.0.2.1"
    )
    assert run(context, server(kdc), ConnectionState()).status == 200


@pytest.mark.parametrize("size", [100, 40_000])
def test_kerberos_encrypted_round_trip(kdc: Realm, size: int) -> None:
    acceptor, conn = server(kdc, require_encryption=True), ConnectionState()
    context = KerberosAuth(kdc.user, kdc.password).new_context(
        url=URL, host=kdc.hostname, encrypt=True
    )
    payload = b"k" * size
    wire = Wire()
    for _ in range(2):
        assert run(context, acceptor, conn, body=payload, wire=wire).body == echo_reply(payload)
    sealed = wire.requests[-1]
    assert "HTTP-Kerberos-session-encrypted" in sealed.headers["Content-Type"]
    assert wire.requests[0].body == b""
    assert is_encrypted_content_type(wire.responses[-1].content_type)


def test_negotiate_uses_kerberos_when_a_ticket_can_be_had(kdc: Realm) -> None:
    acceptor = NegotiateServerAuth(hostname=kdc.hostname, service="HTTP")
    context = NegotiateAuth(kdc.user, kdc.password).new_context(url=URL, host=kdc.hostname)
    response = run(context, acceptor, ConnectionState())
    assert response.body == echo_reply(SOAP)
    assert context.security_context.negotiated_protocol == "kerberos"
    assert acceptor.logons == [kdc.user]


def test_negotiate_kerberos_encrypted_round_trip(kdc: Realm) -> None:
    acceptor, conn = (
        NegotiateServerAuth(hostname=kdc.hostname, require_encryption=True),
        ConnectionState(),
    )
    context = NegotiateAuth(kdc.user, kdc.password).new_context(
        url=URL, host=kdc.hostname, encrypt=True
    )
    assert run(context, acceptor, conn, body=b"x" * 20000).body == echo_reply(b"x" * 20000)


def test_tampered_mutual_auth_token_is_refused(kdc: Realm) -> None:
    def tamper(request: HttpRequest, outcome: AuthOutcome) -> HttpResponse:
        response = answer(outcome, echo_reply)
        token = response.headers.get("www-authenticate", "")
        if response.status == 200 and token:
            raw = bytearray(base64.b64decode(token.split()[1]))
            raw[-5] ^= 0xFF
            headers = dict(response.headers)
            headers["www-authenticate"] = "Kerberos " + base64.b64encode(bytes(raw)).decode()
            return HttpResponse(200, headers, response.body)
        return response

    context = KerberosAuth(kdc.user, kdc.password).new_context(url=URL, host=kdc.hostname)
    with pytest.raises(AuthenticationError):
        run(context, server(kdc), ConnectionState(), respond=tamper)


def test_missing_mutual_auth_token_is_refused(kdc: Realm) -> None:
    def strip(request: HttpRequest, outcome: AuthOutcome) -> HttpResponse:
        response = answer(outcome, echo_reply)
        return HttpResponse(response.status, {}, response.body)

    context = KerberosAuth(kdc.user, kdc.password).new_context(url=URL, host=kdc.hostname)
    with pytest.raises(AuthenticationError, match="before the security context was complete"):
        run(context, server(kdc), ConnectionState(), respond=strip)


def test_kerberos_channel_binding_mismatch_is_refused(kdc: Realm) -> None:
    acceptor = server(kdc, channel_binding=b"tls-server-end-point:" + bytes(32))
    context = KerberosAuth(kdc.user, kdc.password).new_context(
        url=URL, host=kdc.hostname, channel_binding=b"tls-server-end-point:" + b"\x02" * 32
    )
    with pytest.raises(AuthenticationError):
        run(context, acceptor, ConnectionState())


def test_kerberos_matching_channel_binding_is_accepted(kdc: Realm) -> None:
    binding = b"tls-server-end-point:" + b"\x07" * 32
    acceptor = server(kdc, channel_binding=binding)
    context = KerberosAuth(kdc.user, kdc.password).new_context(
        url=URL, host=kdc.hostname, channel_binding=binding
    )
    assert run(context, acceptor, ConnectionState()).status == 200


def test_kerberos_credentials_never_in_repr(kdc: Realm) -> None:
    auth = KerberosAuth(kdc.user, kdc.password, delegate=True)
    context = auth.new_context(url=URL, host=kdc.hostname)
    run(context, server(kdc), ConnectionState())
    assert all(kdc.password not in text for text in (repr(auth), str(auth), repr(context)))


@pytest.mark.parametrize("delegate", [False, True])
def test_delegation_forwards_the_ticket_only_when_asked(kdc: Realm, delegate: bool) -> None:
    acceptor = server(kdc)
    context = KerberosAuth(kdc.user, kdc.password, delegate=delegate).new_context(
        url=URL, host=kdc.hostname
    )
    run(context, acceptor, ConnectionState())
    assert acceptor.delegations == ([kdc.user] if delegate else [])
