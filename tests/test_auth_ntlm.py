"""NTLM and Negotiate (NTLM fallback) flows against pyspnego's NTLM acceptor, without sockets."""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from aiowsman.auth.base import HttpRequest, HttpResponse
from aiowsman.auth.encryption import is_encrypted_content_type
from aiowsman.auth.spnego import NegotiateAuth, NTLMAuth, channel_binding_from_cert
from aiowsman.errors import AuthenticationError, ConfigurationError
from aiowsman.testing.server_auth import AuthOutcome, ConnectionState
from aiowsman.testing.spnego_auth import UNENCRYPTED_REFUSED, NegotiateServerAuth, NTLMUserFile
from tests.kdc import SOAP, URL, Wire, answer, echo_reply, no_realm, run

# No test here may read /etc/krb5.conf or reach for a KDC (see tests.kdc.no_realm).
pytestmark = pytest.mark.usefixtures("no_realm")
__all__ = ["no_realm"]  # the fixture, re-exported for pytest

PASSWORD = "S3cret-Pa55"


@pytest.fixture
def users() -> Iterator[NTLMUserFile]:
    with NTLMUserFile({"alice": PASSWORD}, domain="CORP") as store:
        yield store


def test_ntlm_handshake_sends_the_body_and_returns_the_reply(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth()
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    wire = Wire()
    response = run(context, server, ConnectionState(), wire=wire)
    assert response.status == 200
    assert response.body == echo_reply(SOAP)
    assert [r.headers["Authorization"].split()[0] for r in wire.requests] == ["Negotiate"] * 2
    assert all(r.body == SOAP for r in wire.requests)
    assert server.logons == ["CORP\\alice"]


def test_ntlm_established_connection_sends_no_authorization(users: NTLMUserFile) -> None:
    server, conn = NegotiateServerAuth(), ConnectionState()
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    run(context, server, conn)
    wire = Wire()
    response = run(context, server, conn, body=b"<second/>", wire=wire)
    assert response.body == echo_reply(b"<second/>")
    assert len(wire.requests) == 1
    assert "Authorization" not in wire.requests[0].headers


def test_ntlm_wrong_password_raises_authentication_error_naming_ntlm(users: NTLMUserFile) -> None:
    context = NTLMAuth("CORP\\alice", "wrong-password").new_context(url=URL, host="127.0.0.1")
    with pytest.raises(AuthenticationError) as info:
        run(context, NegotiateServerAuth(), ConnectionState())
    assert info.value.scheme == "ntlm"
    assert "ntlm" in str(info.value)
    assert "wrong-password" not in str(info.value)


def test_ntlm_unknown_user_is_refused(users: NTLMUserFile) -> None:
    context = NTLMAuth("CORP\\mallory", PASSWORD).new_context(url=URL, host="127.0.0.1")
    with pytest.raises(AuthenticationError, match="refused"):
        run(context, NegotiateServerAuth(), ConnectionState())


def test_server_not_offering_negotiate_is_reported(users: NTLMUserFile) -> None:
    def basic_only(request: HttpRequest, outcome: AuthOutcome) -> HttpResponse:
        return HttpResponse(401, {"www-authenticate": 'Basic realm="WSMAN"'}, b"")

    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    with pytest.raises(AuthenticationError, match="does not offer Negotiate"):
        run(context, NegotiateServerAuth(), ConnectionState(), respond=basic_only)


def test_negotiate_falls_back_to_ntlm_without_kerberos(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth()
    auth = NegotiateAuth("CORP\\alice", PASSWORD)
    context = auth.new_context(url=URL, host="127.0.0.1")
    wire = Wire()
    response = run(context, server, ConnectionState(), wire=wire)
    assert response.body == echo_reply(SOAP)
    assert context.security_context.negotiated_protocol == "ntlm"
    assert wire.offloads >= 2  # Negotiate may block on a KDC: its steps run offloaded


def test_encrypted_session_handshakes_with_an_empty_body_then_seals(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth(require_encryption=True)
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1", encrypt=True)
    wire = Wire()
    response = run(context, server, ConnectionState(), wire=wire)
    handshake, sealed = wire.requests[:-1], wire.requests[-1]
    assert all(r.body == b"" and r.headers["Content-Length"] == "0" for r in handshake)
    assert is_encrypted_content_type(sealed.headers["Content-Type"])
    assert SOAP not in sealed.body
    assert is_encrypted_content_type(wire.responses[-1].content_type)
    assert response.body == echo_reply(SOAP)
    assert response.content_type.startswith("application/soap+xml")


@pytest.mark.parametrize("size", [10, 16384, 100_000])
def test_encrypted_round_trip_keeps_messages_of_any_size(users: NTLMUserFile, size: int) -> None:
    server, conn = NegotiateServerAuth(require_encryption=True), ConnectionState()
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1", encrypt=True)
    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    for _ in range(2):  # the sequence numbers advance on both sides
        assert run(context, server, conn, body=payload).body == echo_reply(payload)


def test_encrypted_error_reply_is_decrypted(users: NTLMUserFile) -> None:
    server, conn = NegotiateServerAuth(require_encryption=True), ConnectionState()
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1", encrypt=True)

    def fault(request: HttpRequest, outcome: AuthOutcome) -> HttpResponse:
        if outcome.kind == "ok" and outcome.plaintext:
            return answer(outcome, lambda _: b"<s:Fault/>", status=500)
        return answer(outcome, echo_reply)

    response = run(context, server, conn, respond=fault)
    assert (response.status, response.body) == (500, b"<s:Fault/>")


def test_unencrypted_soap_is_refused_when_encryption_is_required(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth(require_encryption=True)
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    wire = Wire()
    with pytest.raises(AuthenticationError, match="AllowUnencrypted"):
        run(context, server, ConnectionState(), wire=wire)
    assert wire.outcomes[-1].reason == UNENCRYPTED_REFUSED


def test_expired_context_reauthenticates_once(users: NTLMUserFile) -> None:
    server, conn = NegotiateServerAuth(), ConnectionState()
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    run(context, server, conn)
    conn.data.clear()  # the service forgot the connection's context
    response = run(context, server, conn)
    assert response.body == echo_reply(SOAP)
    assert context.handshakes == 2
    assert server.logons == ["CORP\\alice", "CORP\\alice"]


def test_expired_encrypted_context_reauthenticates_with_new_keys(users: NTLMUserFile) -> None:
    server, conn = NegotiateServerAuth(require_encryption=True), ConnectionState()
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1", encrypt=True)
    run(context, server, conn)
    first = context.encryptor
    conn.data.clear()
    assert run(context, server, conn).body == echo_reply(SOAP)
    assert context.encryptor is not first


def test_refused_reauthentication_raises(users: NTLMUserFile) -> None:
    server, conn = NegotiateServerAuth(), ConnectionState()
    auth = NTLMAuth("CORP\\alice", PASSWORD)
    context = auth.new_context(url=URL, host="127.0.0.1")
    run(context, server, conn)
    users.close()
    with NTLMUserFile({"alice": "changed-password"}, domain="CORP"):
        conn.data.clear()
        with pytest.raises(AuthenticationError, match="refused"):
            run(context, server, conn)


def test_channel_binding_is_sent_and_checked(users: NTLMUserFile) -> None:
    binding = b"tls-server-end-point:" + bytes(32)
    server = NegotiateServerAuth(channel_binding=binding)
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(
        url=URL, host="127.0.0.1", channel_binding=binding
    )
    assert run(context, server, ConnectionState()).status == 200


def test_channel_binding_mismatch_is_refused_by_the_acceptor(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth(channel_binding=b"tls-server-end-point:" + bytes(32))
    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(
        url=URL, host="127.0.0.1", channel_binding=b"tls-server-end-point:" + b"\x01" * 32
    )
    with pytest.raises(AuthenticationError, match="refused"):
        run(context, server, ConnectionState())


def test_disabled_cbt_is_not_sent(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth(channel_binding=b"tls-server-end-point:" + bytes(32))
    context = NTLMAuth("CORP\\alice", PASSWORD, send_cbt=False).new_context(
        url=URL, host="127.0.0.1", channel_binding=b"tls-server-end-point:" + bytes(32)
    )
    with pytest.raises(AuthenticationError):
        run(context, server, ConnectionState())


def test_malformed_server_token_raises_authentication_error(users: NTLMUserFile) -> None:
    def garbage(request: HttpRequest, outcome: AuthOutcome) -> HttpResponse:
        return HttpResponse(401, {"www-authenticate": "Negotiate %%%not-base64"}, b"")

    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    with pytest.raises(AuthenticationError, match="malformed"):
        run(context, NegotiateServerAuth(), ConnectionState(), respond=garbage)


def test_bogus_challenge_raises_authentication_error(users: NTLMUserFile) -> None:
    bogus = base64.b64encode(b"NTLMSSP\x00\x02\x00\x00\x00junk").decode()

    def garbage(request: HttpRequest, outcome: AuthOutcome) -> HttpResponse:
        return HttpResponse(401, {"www-authenticate": f"Negotiate {bogus}"}, b"")

    context = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    with pytest.raises(AuthenticationError) as info:
        run(context, NegotiateServerAuth(), ConnectionState(), respond=garbage)
    assert info.value.scheme == "ntlm"


def test_credentials_never_appear_in_repr_or_str(users: NTLMUserFile) -> None:
    auth = NTLMAuth("CORP\\alice", PASSWORD)
    context = auth.new_context(url=URL, host="127.0.0.1", encrypt=True)
    run(context, NegotiateServerAuth(require_encryption=True), ConnectionState())
    texts = [repr(auth), str(auth), repr(context), str(context), repr(context.encryptor)]
    texts += [repr(v) for v in vars(auth).values()]
    assert all(PASSWORD not in text for text in texts)


def test_ntlm_requires_username_and_password() -> None:
    with pytest.raises(ConfigurationError):
        NTLMAuth("", PASSWORD)


# Self-signed certificates made with `openssl req -x509 -sha1|-md5` (cryptography
# refuses to sign with these hashes any more, but such certificates still exist).
SHA1_CERT = base64.b64decode(
    "MIIBezCCASKgAwIBAgIUa/UxZa615De0tYy4bvdS3dhvC4cwCQYHKoZIzj0EATAUMRIwEAYDVQQDDAlzaGExLnRl"
    "c3QwHhcNMjYxMTIxMDYyMTUzWhcNMzYxMTE4MDYyMTUzWjAUMRIwEAYDVQQDDAlzaGExLnRlc3QwWTATBgcqhkjO"
    "PQIBBggqhkjOPQMBBwNCAAQU4vZdfJY2KXC6GUB0G6r/I0KL+D7rTRTeaVwxJV1Yzy4QeIjPE/A4k6TqlVsEZa8W"
    "I0RoKt5DqGbVZISP4xnso1MwUTAdBgNVHQ4EFgQUcXlvabTKSzNljurtQ2ff8efMH00wHwYDVR0jBBgwFoAUcXlv"
    "abTKSzNljurtQ2ff8efMH00wDwYDVR0TAQH/BAUwAwEB/zAJBgcqhkjOPQQBA0gAMEUCIHeIsPh4HNLSEiTAOI4N"
    "SSjdJ83XOwHqDKTIaZKSkv+CAiEAxGa7qoKBrajbHs3pXLL3E3xibXCrPUqmfHx3wIPSqCw="
)
MD5_CERT = base64.b64decode(
    "MIICAjCCAWugAwIBAgIUV11v1+d/gtRQ2csforGXbqG5POwwDQYJKoZIhvcNAQEEBQAwEzERMA8GA1UEAwwIbWQ1"
    "LnRlc3QwHhcNMjYxMTIxMDYyMTUzWhcNMzYxMTE4MDYyMTUzWjATMREwDwYDVQQDDAhtZDUudGVzdDCBnzANBgkq"
    "hkiG9w0BAQEFAAOBjQAwgYkCgYEAzW8a8f7vd+9Z/dypdoHcv30TAYnvusT46V4pnbxg4N7OPxkpjVfHECdmSw0d"
    "zd0DB7swIJnm/026g7EjJ8hTxxsf6OU82fxTT7uewG8dneej5TXDD9DKT1Shr1LYNQrFd0qkskQLhf5iZpiXirRX"
    "0wTw7O97bu3CfJ8DOgT1YNECAwEAAaNTMFEwHQYDVR0OBBYEFK/9WmJz8kJwjstQk5MSgatGh7eYMB8GA1UdIwQY"
    "MBaAFK/9WmJz8kJwjstQk5MSgatGh7eYMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQEEBQADgYEABri8RG1U"
    "jKuH5xnU/hvGOJk0p9eC0KVoaEl00EZI9Fq28iGJ4TPWWk41Tjp/a6EZvRWE8Dv+vuwWbnXUSQxD6FfO81t83e9c"
    "xD8+32x7OcJ+VuvxbAw9o9yMl6YRQCohRwmzy/LDZ6l+Oy8iRYmZHrMlu/OXaviUlWhg/5MzkNI="
)


@pytest.mark.parametrize("der", [SHA1_CERT, MD5_CERT], ids=["sha1", "md5"])
def test_channel_binding_of_sha1_or_md5_signed_cert_uses_sha256(der: bytes) -> None:
    # RFC 5929 4.1: MD5 and SHA-1 are replaced by SHA-256.
    assert channel_binding_from_cert(der) == b"tls-server-end-point:" + hashlib.sha256(der).digest()


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_channel_binding_uses_the_certificate_signature_hash(
    algorithm: hashes.HashAlgorithm,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "wsman.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, algorithm)
    )
    der = cert.public_bytes(Encoding.DER)
    expected = hashlib.new(algorithm.name, der).digest()
    assert channel_binding_from_cert(der) == b"tls-server-end-point:" + expected


def test_channel_binding_from_garbage_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        channel_binding_from_cert(b"not a certificate")


def test_each_connection_needs_its_own_handshake(users: NTLMUserFile) -> None:
    server = NegotiateServerAuth()
    first = NTLMAuth("CORP\\alice", PASSWORD).new_context(url=URL, host="127.0.0.1")
    run(first, server, ConnectionState())
    # The same established client context on another connection is not authenticated:
    # the server refuses it and the flow re-authenticates on that connection.
    other, wire = ConnectionState(), Wire()
    assert run(first, server, other, wire=wire).body == echo_reply(SOAP)
    assert wire.responses[0].status == 401
    assert server.logons == ["CORP\\alice", "CORP\\alice"]
