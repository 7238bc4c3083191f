"""MS-WSMV 2.2.9.1 message encryption framing: round trips, malformed input, fuzz."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import spnego
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiowsman.auth.base import HttpResponse
from aiowsman.auth.encryption import (
    CREDSSP_PROTOCOL,
    KERBEROS_PROTOCOL,
    SPNEGO_PROTOCOL,
    MessageEncryptor,
    build_encrypted_body,
    content_type_for,
    is_encrypted_content_type,
    parse_encrypted_body,
)
from aiowsman.errors import EncryptionError
from aiowsman.testing.spnego_auth import NTLMUserFile

SOAP = b"<s:Envelope>" + b"x" * 500 + b"</s:Envelope>"
CT = content_type_for(SPNEGO_PROTOCOL)


@pytest.fixture(scope="module")
def contexts() -> Iterator[tuple[Any, Any]]:
    """An established NTLM initiator/acceptor pair (real session keys)."""
    with NTLMUserFile({"alice": "pw"}, domain="CORP"):
        client = spnego.client("CORP\\alice", "pw", hostname="h", protocol="ntlm")
        server = spnego.server(protocol="ntlm")
        server.step(client.step(server.step(client.step())))
        assert server.complete
        yield client, server


def fresh_pair() -> tuple[Any, Any]:
    with NTLMUserFile({"alice": "pw"}, domain="CORP"):
        client = spnego.client("CORP\\alice", "pw", hostname="h", protocol="ntlm")
        server = spnego.server(protocol="ntlm")
        server.step(client.step(server.step(client.step())))
        return client, server


def test_content_type_names_protocol_and_boundary() -> None:
    assert content_type_for(KERBEROS_PROTOCOL) == (
        'multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";'
        'boundary="Encrypted Boundary"'
    )
    assert content_type_for(CREDSSP_PROTOCOL, multi=True).startswith("multipart/x-multi-encrypted;")


def test_wrapped_body_has_the_ms_wsmv_layout() -> None:
    client, _ = fresh_pair()
    body, ctype = MessageEncryptor(client, SPNEGO_PROTOCOL).wrap(SOAP)
    assert ctype == CT
    assert body.startswith(
        b"--Encrypted Boundary\r\n"
        b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n"
        b"--Encrypted Boundary\r\n"
        b"\tContent-Type: application/octet-stream\r\n" % len(SOAP)
    )
    assert body.endswith(b"--Encrypted Boundary--\r\n")
    header_start = body.index(b"octet-stream\r\n") + len(b"octet-stream\r\n")
    (sig_len,) = struct.unpack("<I", body[header_start : header_start + 4])
    assert sig_len == 16  # an NTLM signature
    assert SOAP not in body


@pytest.mark.parametrize("size", [0, 1, 16384, 16385, 70_000])
def test_round_trip_client_to_server_and_back(size: int) -> None:
    client, server = fresh_pair()
    payload = bytes(i % 251 for i in range(size))
    to_server = MessageEncryptor(client, SPNEGO_PROTOCOL)
    at_server = MessageEncryptor(server, SPNEGO_PROTOCOL)
    assert at_server.unwrap(*to_server.wrap(payload)) == payload
    assert to_server.unwrap(*at_server.wrap(payload[::-1])) == payload[::-1]


def test_chunked_encryptor_uses_multi_encrypted_parts() -> None:
    client, server = fresh_pair()
    body, ctype = MessageEncryptor(client, SPNEGO_PROTOCOL, chunk_size=100).wrap(SOAP)
    assert ctype.startswith("multipart/x-multi-encrypted;")
    parts = parse_encrypted_body(body, ctype)
    assert [p.length for p in parts] == [100] * 5 + [len(SOAP) - 500]
    assert MessageEncryptor(server, SPNEGO_PROTOCOL).unwrap(body, ctype) == SOAP


def test_exchange_style_boundary_with_a_space_is_accepted() -> None:
    client, server = fresh_pair()
    body, ctype = MessageEncryptor(client, SPNEGO_PROTOCOL).wrap(SOAP)
    body = body.replace(b"--Encrypted Boundary", b"-- Encrypted Boundary")
    assert MessageEncryptor(server, SPNEGO_PROTOCOL).unwrap(body, ctype) == SOAP


def _sealed() -> tuple[bytes, Any]:
    client, server = fresh_pair()
    body, _ = MessageEncryptor(client, SPNEGO_PROTOCOL).wrap(SOAP)
    return body, server


def test_wrong_length_is_an_encryption_error() -> None:
    body, server = _sealed()
    body = body.replace(b"Length=%d" % len(SOAP), b"Length=%d" % (len(SOAP) + 1))
    with pytest.raises(EncryptionError, match="length"):
        MessageEncryptor(server, SPNEGO_PROTOCOL).unwrap(body, CT)


def test_tampered_data_fails_verification() -> None:
    body, server = _sealed()
    tampered = body[:-40] + bytes([body[-40] ^ 1]) + body[-39:]
    with pytest.raises(EncryptionError, match="unsealing failed"):
        MessageEncryptor(server, SPNEGO_PROTOCOL).unwrap(tampered, CT)


@pytest.mark.parametrize(
    ("mutate", "content_type"),
    [
        (lambda b: b, CT.replace("Encrypted Boundary", "Other Boundary")),
        (lambda b: b, "application/soap+xml;charset=UTF-8"),
        (lambda b: b, CT.replace("HTTP-SPNEGO-session-encrypted", "x-bogus")),
        (lambda b: b, 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted"'),
        (lambda b: b[:-25], CT),  # no closing boundary
        (lambda b: b[:120], CT),  # truncated in the headers
        (lambda b: b + b"trailing junk", CT),
        (lambda b: b.replace(b"Length=", b"Lenght="), CT),
        (lambda b: re.sub(rb"Length=\d+", b"Length=-5", b), CT),
        (lambda b: b.replace(b"octet-stream", b"text/plain"), CT),
        (lambda b: b.replace(b"\r\n\tOriginalContent", b"\r\n\tOriginal"), CT),
        (lambda b: b.replace(b"SPNEGO", b"Kerberos", 1), CT),
        (lambda b: b"", CT),
        (lambda b: b"--Encrypted Boundary--\r\n", CT),
    ],
    ids=[
        "bad-boundary", "not-multipart", "unknown-protocol", "no-boundary", "no-closing",
        "truncated-headers", "trailing-junk", "no-length", "negative-length", "not-octet-stream",
        "no-original-content", "part-protocol-mismatch", "empty", "no-parts",
    ],
)  # fmt: skip
def test_malformed_framing_is_an_encryption_error(mutate: Any, content_type: str) -> None:
    body, server = _sealed()
    with pytest.raises(EncryptionError):
        MessageEncryptor(server, SPNEGO_PROTOCOL).unwrap(mutate(body), content_type)


def test_signature_length_beyond_the_body_is_an_encryption_error() -> None:
    body, _ = build_encrypted_body([(3, b"s" * 16, b"abc")], SPNEGO_PROTOCOL)
    body = body.replace(struct.pack("<I", 16), struct.pack("<I", 0xFFFFFFFF))
    with pytest.raises(EncryptionError, match="signature length"):
        parse_encrypted_body(body, CT)


def test_several_parts_in_single_part_content_type_are_refused() -> None:
    body, _ = build_encrypted_body([(1, b"s", b"a"), (1, b"s", b"b")], SPNEGO_PROTOCOL)
    with pytest.raises(EncryptionError, match="several parts"):
        parse_encrypted_body(body, CT)


def test_response_sealed_with_another_protocol_is_refused() -> None:
    client, server = fresh_pair()
    body, ctype = MessageEncryptor(client, KERBEROS_PROTOCOL).wrap(SOAP)
    with pytest.raises(EncryptionError, match="expected"):
        MessageEncryptor(server, SPNEGO_PROTOCOL).unwrap(body, ctype)


def test_plaintext_success_on_an_encrypted_session_is_refused() -> None:
    client, _ = fresh_pair()
    response = HttpResponse(200, {"content-type": "application/soap+xml"}, SOAP)
    with pytest.raises(EncryptionError, match="plaintext"):
        MessageEncryptor(client, SPNEGO_PROTOCOL).unwrap_response(response)


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_plaintext_error_responses_pass_through(status: int) -> None:
    client, _ = fresh_pair()
    response = HttpResponse(status, {"content-type": "text/html"}, b"<html>Bad Request</html>")
    assert MessageEncryptor(client, SPNEGO_PROTOCOL).unwrap_response(response) is response


def test_encrypted_response_is_returned_with_its_original_content_type() -> None:
    client, server = fresh_pair()
    body, ctype = MessageEncryptor(server, SPNEGO_PROTOCOL).wrap(SOAP)
    response = HttpResponse(500, {"content-type": ctype, "server": "x"}, body)
    plain = MessageEncryptor(client, SPNEGO_PROTOCOL).unwrap_response(response)
    assert (plain.status, plain.body, plain.headers["server"]) == (500, SOAP, "x")
    assert plain.content_type == "application/soap+xml;charset=UTF-8"


def test_is_encrypted_content_type() -> None:
    assert is_encrypted_content_type(CT)
    assert is_encrypted_content_type("Multipart/X-Multi-Encrypted; protocol=x")
    assert not is_encrypted_content_type("application/soap+xml;charset=UTF-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=600),
    ctype=st.sampled_from([CT, content_type_for(CREDSSP_PROTOCOL, multi=True)]),
)
def test_fuzz_parse_only_raises_encryption_error(data: bytes, ctype: str) -> None:
    try:
        parse_encrypted_body(data, ctype)
    except EncryptionError:
        pass


VALID, _ = build_encrypted_body(
    [(5, b"S" * 16, b"hello"), (5, b"T" * 16, b"world")], SPNEGO_PROTOCOL, multi=True
)


@settings(max_examples=400, deadline=None)
@given(
    cut=st.integers(0, len(VALID)),
    flip=st.integers(0, len(VALID) - 1),
    byte=st.integers(0, 255),
    insert=st.binary(max_size=8),
)
def test_fuzz_mutated_bodies_only_raise_encryption_error(
    contexts: tuple[Any, Any], cut: int, flip: int, byte: int, insert: bytes
) -> None:
    _, server = contexts
    mutated = bytearray(VALID)
    mutated[flip] = byte
    mutated = mutated[:cut] + insert + mutated[cut:]
    encryptor = MessageEncryptor(server, SPNEGO_PROTOCOL)
    try:
        encryptor.unwrap(bytes(mutated), content_type_for(SPNEGO_PROTOCOL, multi=True))
    except EncryptionError:
        pass


@settings(max_examples=200, deadline=None)
@given(ctype=st.text(max_size=200))
def test_fuzz_content_type_only_raises_encryption_error(ctype: str) -> None:
    try:
        parse_encrypted_body(VALID, ctype)
    except EncryptionError:
        pass
