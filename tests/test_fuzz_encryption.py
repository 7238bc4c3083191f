"""Fuzzing the MS-WSMV 2.2.9.1 encrypted-message decoder.

Seeds are real sealed bodies (a real NTLM context from pyspnego, single- and
multi-part); hypothesis mutates their bytes and content types and feeds them
to the framing parser and the unsealer. Only :class:`EncryptionError` (a
WSManError) may escape, and a tampered message never decrypts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import spnego
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiowsman.auth.base import HttpResponse
from aiowsman.auth.encryption import (
    SPNEGO_PROTOCOL,
    MessageEncryptor,
    content_type_for,
    parse_encrypted_body,
)
from aiowsman.errors import EncryptionError, WSManError
from aiowsman.testing.spnego_auth import NTLMUserFile

SOAP = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
CT = content_type_for(SPNEGO_PROTOCOL)
CT_MULTI = content_type_for(SPNEGO_PROTOCOL, multi=True)


def _pair() -> tuple[Any, Any]:
    with NTLMUserFile({"alice": "pw"}, domain="CORP"):
        client = spnego.client("CORP\\alice", "pw", hostname="h", protocol="ntlm")
        server = spnego.server(protocol="ntlm")
        server.step(client.step(server.step(client.step())))
        assert server.complete
        return client, server


@pytest.fixture(scope="module")
def seeds() -> Iterator[list[tuple[bytes, str]]]:
    client, _ = _pair()
    single = MessageEncryptor(client, SPNEGO_PROTOCOL)
    multi = MessageEncryptor(client, SPNEGO_PROTOCOL, chunk_size=32)
    yield [
        single.wrap(SOAP),
        single.wrap(SOAP * 20),
        multi.wrap(SOAP),
        single.wrap(b""),
    ]


@st.composite
def mutation(draw: st.DrawFn) -> tuple[int, list[tuple[str, int, int, bytes]]]:
    """Which seed, and a list of (kind, position, value, junk) edits."""
    seed = draw(st.integers(0, 3))
    edits = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["flip", "truncate", "insert", "delete", "length", "splice"]),
                st.integers(0, 10_000),
                st.integers(0, 2**32 - 1),
                st.one_of(
                    st.binary(max_size=12),
                    st.sampled_from([b"--Encrypted Boundary", b"\r\n", b"\t", b"Length=", b"-"]),
                ),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return seed, edits


def apply(data: bytes, edits: list[tuple[str, int, int, bytes]], other: bytes) -> bytes:
    for kind, pos, value, junk in edits:
        at = pos % (len(data) + 1)
        if kind == "flip" and data:
            at %= len(data)
            data = data[:at] + bytes([data[at] ^ (value % 255 + 1)]) + data[at + 1 :]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + junk + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + 1 + value % 8 :]
        elif kind == "length":
            data = re.sub(rb"Length=\d+", b"Length=%d" % (value % 10**12), data, count=1)
        elif kind == "splice":
            data = data[:at] + other[pos % (len(other) + 1) :]
    return data


content_types = st.one_of(
    st.sampled_from([CT, CT_MULTI, CT.replace('"', ""), CT + ";x", "multipart/encrypted"]),
    st.text(max_size=60),
)


def decode(body: bytes, ctype: str) -> None:
    """Everything the client does with an encrypted response."""
    _, server = _SERVER
    try:
        parts = parse_encrypted_body(body, ctype)
        for part in parts:
            assert part.length >= 0
    except EncryptionError:
        pass
    decoder = MessageEncryptor(server, SPNEGO_PROTOCOL)
    for call in (
        lambda: decoder.unwrap(body, ctype),
        lambda: decoder.unwrap_response(HttpResponse(200, {"content-type": ctype}, body)),
    ):
        try:
            plain = call()
        except WSManError as exc:
            assert isinstance(exc, EncryptionError), repr(exc)
        else:
            # Whatever got through cannot be a tampered SOAP message.
            text = plain.body if isinstance(plain, HttpResponse) else plain
            assert text in (b"", SOAP, SOAP * 20) or not text.startswith(b"<s:Envelope")


_SERVER = _pair()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(m=mutation(), ctype=content_types)
def test_mutated_encrypted_bodies_raise_only_encryption_errors(
    seeds: list[tuple[bytes, str]], m: tuple[int, list[tuple[str, int, int, bytes]]], ctype: str
) -> None:
    index, edits = m
    body, real_ctype = seeds[index]
    mutated = apply(body, edits, seeds[(index + 1) % len(seeds)][0])
    decode(mutated, real_ctype)
    decode(mutated, ctype)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300), ctype=content_types)
def test_arbitrary_bytes_raise_only_encryption_errors(body: bytes, ctype: str) -> None:
    decode(body, ctype)
    decode(b"--Encrypted Boundary\r\n" + body, CT)
