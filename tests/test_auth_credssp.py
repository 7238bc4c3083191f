"""CredSSP flows against pyspnego's CredSSP acceptor (TLS inside HTTP), without sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiowsman.auth.credssp import CredSSPAuth
from aiowsman.auth.encryption import parse_encrypted_body
from aiowsman.errors import AuthenticationError, ConfigurationError
from aiowsman.testing.server_auth import ConnectionState
from aiowsman.testing.spnego_auth import CredSSPServerAuth, NTLMUserFile
from tests.kdc import SOAP, URL, Wire, echo_reply, no_realm, run

# No test here may read /etc/krb5.conf or reach for a KDC (see tests.kdc.no_realm).
pytestmark = pytest.mark.usefixtures("no_realm")
__all__ = ["no_realm"]  # the fixture, re-exported for pytest

PASSWORD = "Cred-SSP-pw1"


@pytest.fixture
def users() -> Iterator[NTLMUserFile]:
    with NTLMUserFile({"bob": PASSWORD}, domain="CORP") as store:
        yield store


def auth(**options: object) -> CredSSPAuth:
    return CredSSPAuth("CORP\\bob", PASSWORD, auth_mechanism="ntlm", **options)  # type: ignore[arg-type]


def test_credssp_handshake_delegates_the_credential(users: NTLMUserFile) -> None:
    acceptor = CredSSPServerAuth()
    context = auth().new_context(url=URL, host="127.0.0.1")
    wire = Wire()
    response = run(context, acceptor, ConnectionState(), wire=wire)
    assert response.body == echo_reply(SOAP)
    assert all(r.headers["Authorization"].startswith("CredSSP ") for r in wire.requests)
    assert len(wire.requests) >= 4  # TLS legs, SPNEGO legs, public key, credentials
    assert acceptor.delegated_users == ["CORP\\bob"]
    assert acceptor.logons == ["CORP\\bob"]


def test_credssp_negotiate_mechanism_falls_back_to_ntlm(users: NTLMUserFile) -> None:
    acceptor = CredSSPServerAuth()
    context = CredSSPAuth("CORP\\bob", PASSWORD).new_context(url=URL, host="127.0.0.1")
    assert run(context, acceptor, ConnectionState()).status == 200
    assert acceptor.delegated_users == ["CORP\\bob"]


def test_credssp_wrong_password_names_the_scheme(users: NTLMUserFile) -> None:
    context = CredSSPAuth("CORP\\bob", "bad-pw", auth_mechanism="ntlm").new_context(
        url=URL, host="127.0.0.1"
    )
    with pytest.raises(AuthenticationError) as info:
        run(context, CredSSPServerAuth(), ConnectionState())
    assert info.value.scheme == "credssp"
    assert "bad-pw" not in str(info.value)


@pytest.mark.parametrize("size", [100, 16384, 50_000])
def test_credssp_encrypted_round_trip(users: NTLMUserFile, size: int) -> None:
    acceptor, conn = CredSSPServerAuth(require_encryption=True), ConnectionState()
    context = auth().new_context(url=URL, host="127.0.0.1", encrypt=True)
    payload = bytes(i % 253 for i in range(size))
    wire = Wire()
    for _ in range(2):
        assert run(context, acceptor, conn, body=payload, wire=wire).body == echo_reply(payload)
    sealed = wire.requests[-1]
    parts = parse_encrypted_body(sealed.body, sealed.headers["Content-Type"])
    # MS-WSMV 2.2.9.1.2: CredSSP seals at most 16 KiB per part.
    assert [p.length for p in parts] == [min(16384, size - i) for i in range(0, size, 16384)]
    multi = sealed.headers["Content-Type"].startswith("multipart/x-multi-encrypted")
    assert multi == (size > 16384)
    assert "HTTP-CredSSP-session-encrypted" in sealed.headers["Content-Type"]


def test_credssp_reply_larger_than_16k_is_reassembled(users: NTLMUserFile) -> None:
    acceptor, conn = CredSSPServerAuth(require_encryption=True), ConnectionState()
    context = auth().new_context(url=URL, host="127.0.0.1", encrypt=True)
    wire = Wire()
    big = b"r" * 40_000
    assert run(context, acceptor, conn, reply=lambda _: big, wire=wire).body == big
    assert wire.responses[-1].content_type.startswith("multipart/x-multi-encrypted")


def test_credssp_needs_credentials() -> None:
    with pytest.raises(ConfigurationError):
        CredSSPAuth("", "x")
    with pytest.raises(ConfigurationError):
        CredSSPAuth("CORP\\bob", "x", auth_mechanism="basic")


def test_credssp_credentials_never_in_repr(users: NTLMUserFile) -> None:
    a = auth()
    context = a.new_context(url=URL, host="127.0.0.1", encrypt=True)
    run(context, CredSSPServerAuth(require_encryption=True), ConnectionState())
    assert all(PASSWORD not in t for t in (repr(a), str(a), repr(context), str(context)))
