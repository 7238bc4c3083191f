"""WinRM message encryption framing (MS-WSMV 2.2.9.1), sans-IO.

Over plain HTTP a WinRM service with ``AllowUnencrypted=false`` accepts SOAP
only when every body is sealed with the session key of the HTTP
authentication context (NTLM, Kerberos or CredSSP). The sealed body is a
MIME-like multipart document::

    Content-Type: multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";
                  boundary="Encrypted Boundary"

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32 LE signature length><signature><sealed SOAP>
    --Encrypted Boundary--\\r\\n

CredSSP (MS-WSMV 2.2.9.1.2) seals at most 16 KiB per part; a longer message
is several parts in one ``multipart/x-multi-encrypted`` body.

``Length=N`` is the length of the SOAP in that part plus the padding the
cipher added (MS-WSMV 2.2.9.1.1: for block ciphers the "original length"
includes the pad, as pypsrp and Windows do); on receipt the decrypted length
must match it exactly, otherwise the part was truncated or tampered with.

Every parser here raises :class:`~aiowsman.errors.EncryptionError` on any
malformed input (never ``IndexError``, ``ValueError``, ``struct.error``...):
the decoder is fuzzed.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Protocol

from aiowsman.auth.base import HttpResponse
from aiowsman.errors import EncryptionError

__all__ = [
    "BOUNDARY",
    "CREDSSP_CHUNK_SIZE",
    "CREDSSP_PROTOCOL",
    "KERBEROS_PROTOCOL",
    "SPNEGO_PROTOCOL",
    "EncryptedPart",
    "MessageEncryptor",
    "WinRMSealer",
    "build_encrypted_body",
    "content_type_for",
    "is_encrypted_content_type",
    "parse_content_type",
    "parse_encrypted_body",
]

SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
CREDSSP_PROTOCOL = "application/HTTP-CredSSP-session-encrypted"
_PROTOCOLS = frozenset({SPNEGO_PROTOCOL, KERBEROS_PROTOCOL, CREDSSP_PROTOCOL})

BOUNDARY = "Encrypted Boundary"
#: MS-WSMV 2.2.9.1.2: CredSSP seals the SOAP in pieces of at most 16 KiB
#: (the TLS record size limit of the inner TLS channel).
CREDSSP_CHUNK_SIZE = 16384

_SINGLE = "multipart/encrypted"
_MULTI = "multipart/x-multi-encrypted"
_SOAP_TYPE = "application/soap+xml;charset=UTF-8"
_OCTET = b"application/octet-stream"
# A cap on one header block; real blocks are ~120 bytes.
_MAX_HEADER_BLOCK = 4096


class WinRMSealer(Protocol):
    """The part of a pyspnego context this module needs (``wrap_winrm``/``unwrap_winrm``)."""

    def wrap_winrm(self, data: bytes) -> tuple[bytes, bytes, int]: ...

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class EncryptedPart:
    """One sealed part of an encrypted body.

    Attributes:
        protocol: the part's ``Content-Type`` (one of the ``*_PROTOCOL``).
        length: the ``Length=`` of ``OriginalContent``.
        original_type: ``OriginalContent`` ``type=`` (with its charset).
        signature: the security trailer (signature) before the sealed data.
        sealed: the sealed SOAP bytes.
    """

    protocol: str
    length: int
    original_type: str
    signature: bytes
    sealed: bytes


def content_type_for(protocol: str, *, multi: bool = False) -> str:
    """The HTTP ``Content-Type`` of an encrypted body.

    Args:
        protocol: one of ``SPNEGO_PROTOCOL``, ``KERBEROS_PROTOCOL``, ``CREDSSP_PROTOCOL``.
        multi: True for a multi-part CredSSP body (MS-WSMV 2.2.9.1.2).

    Returns:
        e.g. ``multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";``
        ``boundary="Encrypted Boundary"``.
    """
    kind = _MULTI if multi else _SINGLE
    return f'{kind};protocol="{protocol}";boundary="{BOUNDARY}"'


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type into its lower-cased media type and parameters.

    Parameter names are lower-cased; values keep their case, quotes removed.
    """
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    # Quoted values may contain ';' (never in practice, but do not split them).
    for m in re.finditer(r'\s*([^=;\s]+)\s*=\s*("([^"]*)"|[^;]*)\s*;?', rest):
        name = m.group(1).lower()
        params[name] = m.group(3) if m.group(3) is not None else m.group(2).strip()
    return media.strip().lower(), params


def is_encrypted_content_type(value: str) -> bool:
    """True when ``value`` announces an MS-WSMV encrypted body."""
    media, _ = parse_content_type(value)
    return media in (_SINGLE, _MULTI)


def build_encrypted_body(
    parts: list[tuple[int, bytes, bytes]], protocol: str, *, multi: bool = False
) -> tuple[bytes, str]:
    """Frame sealed parts as an MS-WSMV 2.2.9.1 body.

    Args:
        parts: ``(length, signature, sealed)`` for each part, in order;
            ``length`` is the ``OriginalContent`` ``Length=`` value.
        protocol: the session-encrypted protocol name.
        multi: frame as ``multipart/x-multi-encrypted``.

    Returns:
        ``(body, content_type)``.

    Raises:
        EncryptionError: no parts, or an unknown protocol.
    """
    if protocol not in _PROTOCOLS:
        raise EncryptionError(f"unknown encryption protocol {protocol!r}")
    if not parts:
        raise EncryptionError("nothing to frame")
    delim = b"--" + BOUNDARY.encode() + b"\r\n"
    out = bytearray()
    for length, signature, sealed in parts:
        out += delim
        out += b"\tContent-Type: " + protocol.encode() + b"\r\n"
        out += b"\tOriginalContent: type=" + _SOAP_TYPE.encode() + b";Length=%d\r\n" % length
        out += delim
        out += b"\tContent-Type: application/octet-stream\r\n"
        out += struct.pack("<I", len(signature)) + signature + sealed
    out += b"--" + BOUNDARY.encode() + b"--\r\n"
    return bytes(out), content_type_for(protocol, multi=multi)


def _delimiter_re(boundary: bytes) -> re.Pattern[bytes]:
    # Exchange's endpoints write "-- Encrypted Boundary" (a space after the
    # dashes), so whitespace is tolerated there; nowhere else.
    return re.compile(rb"--[ \t]*" + re.escape(boundary))


def _read_headers(body: bytes, pos: int) -> tuple[dict[str, str], int]:
    """Read ``\\tName: value\\r\\n`` lines starting at ``pos``; stop before a delimiter."""
    headers: dict[str, str] = {}
    start = pos
    while pos < len(body) and body[pos : pos + 1] in (b"\t", b" "):
        end = body.find(b"\r\n", pos, pos + _MAX_HEADER_BLOCK)
        if end < 0 or end - start > _MAX_HEADER_BLOCK:
            raise EncryptionError("unterminated header line in encrypted body")
        line = body[pos:end].strip()
        name, sep, value = line.partition(b":")
        if not sep:
            raise EncryptionError("malformed header line in encrypted body")
        try:
            headers[name.strip().decode("ascii").lower()] = value.strip().decode("ascii")
        except UnicodeDecodeError:
            raise EncryptionError("non-ASCII header in encrypted body") from None
        pos = end + 2
    return headers, pos


def _parse_length(original: str) -> tuple[str, int]:
    """Split ``type=...;charset=...;Length=N`` into (type, N)."""
    m = re.search(r"(?i)(?:^|;)\s*length\s*=\s*([0-9]{1,10})\s*$", original)
    if m is None:
        raise EncryptionError("OriginalContent has no valid Length")
    type_part = original[: m.start()].strip()
    if type_part.lower().startswith("type="):
        type_part = type_part[5:]
    return type_part, int(m.group(1))


def parse_encrypted_body(body: bytes, content_type: str) -> list[EncryptedPart]:
    """Split an encrypted body into its parts, without decrypting.

    Args:
        body: the HTTP body.
        content_type: the HTTP ``Content-Type`` of the body.

    Returns:
        The parts, in order (one, except for multi-part CredSSP).

    Raises:
        EncryptionError: the content type or any part of the framing is malformed.
    """
    media, params = parse_content_type(content_type)
    if media not in (_SINGLE, _MULTI):
        raise EncryptionError(f"not an encrypted body (content type {media!r})")
    protocol = params.get("protocol", "")
    if protocol.lower() not in {p.lower() for p in _PROTOCOLS}:
        raise EncryptionError(f"unknown encryption protocol {protocol!r}")
    boundary = params.get("boundary", "")
    if not boundary:
        raise EncryptionError("encrypted body without a boundary")
    delim = _delimiter_re(boundary.encode("latin-1", "replace"))
    # The sealed data carries no length of its own, so it ends where the
    # next part's delimiter+header, or the closing delimiter, begins.
    next_part = re.compile(delim.pattern + rb"\r\n[ \t]+Content-Type:")
    closing = re.compile(delim.pattern + rb"--[ \t]*(?:\r\n)?[ \t\r\n]*\Z")

    parts: list[EncryptedPart] = []
    pos = 0
    while True:
        m = delim.match(body, pos)
        if m is None:
            raise EncryptionError("encrypted body does not start a part with the boundary")
        pos = m.end()
        if body.startswith(b"--", pos):
            if not closing.match(body, m.start()):
                raise EncryptionError("data after the closing boundary")
            break
        if not body.startswith(b"\r\n", pos):
            raise EncryptionError("boundary line not terminated by CRLF")
        headers, pos = _read_headers(body, pos + 2)
        part_protocol = headers.get("content-type", "")
        if part_protocol.lower() != protocol.lower():
            raise EncryptionError("part content type does not match the body's protocol")
        original = headers.get("originalcontent")
        if original is None:
            raise EncryptionError("part without OriginalContent")
        original_type, length = _parse_length(original)

        m = delim.match(body, pos)
        if m is None or not body.startswith(b"\r\n", m.end()):
            raise EncryptionError("missing boundary before the sealed data")
        headers, pos = _read_headers(body, m.end() + 2)
        if headers.get("content-type", "").encode().lower() != _OCTET:
            raise EncryptionError("sealed data is not application/octet-stream")

        if len(body) - pos < 4:
            raise EncryptionError("truncated signature length")
        (sig_len,) = struct.unpack_from("<I", body, pos)
        pos += 4
        if sig_len > len(body) - pos:
            raise EncryptionError("signature length beyond the end of the body")
        signature = body[pos : pos + sig_len]
        pos += sig_len
        following = next_part.search(body, pos)
        end = following.start() if following else None
        if end is None:
            last = closing.search(body, pos)
            if last is None:
                raise EncryptionError("encrypted body is truncated (no closing boundary)")
            end = last.start()
        parts.append(
            EncryptedPart(
                protocol=part_protocol,
                length=length,
                original_type=original_type,
                signature=signature,
                sealed=body[pos:end],
            )
        )
        pos = end
    if not parts:
        raise EncryptionError("encrypted body has no parts")
    if media == _SINGLE and len(parts) > 1:
        raise EncryptionError("multipart/encrypted body with several parts")
    return parts


class MessageEncryptor:
    """Seals requests and unseals responses for one authenticated context.

    Args:
        context: the established security context (``wrap_winrm``/``unwrap_winrm``).
        protocol: ``SPNEGO_PROTOCOL``, ``KERBEROS_PROTOCOL`` or ``CREDSSP_PROTOCOL``.
        chunk_size: seal at most this many bytes per part (CredSSP: 16 KiB);
            None seals the message as one part.
    """

    def __init__(
        self, context: WinRMSealer, protocol: str, *, chunk_size: int | None = None
    ) -> None:
        if protocol not in _PROTOCOLS:
            raise EncryptionError(f"unknown encryption protocol {protocol!r}")
        if chunk_size is None and protocol == CREDSSP_PROTOCOL:
            chunk_size = CREDSSP_CHUNK_SIZE
        self._context = context
        self.protocol = protocol
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"<MessageEncryptor protocol={self.protocol!r}>"

    def wrap(self, plaintext: bytes) -> tuple[bytes, str]:
        """Seal a SOAP message.

        Returns:
            ``(body, content_type)`` for the HTTP request.

        Raises:
            EncryptionError: the context failed to seal.
        """
        size = self.chunk_size
        chunks = (
            [plaintext[i : i + size] for i in range(0, len(plaintext), size)]
            if size and len(plaintext) > size
            else [plaintext]
        )
        parts = []
        for chunk in chunks:
            try:
                signature, sealed, padding = self._context.wrap_winrm(chunk)
            except Exception as exc:  # any library failure is an encryption failure
                raise EncryptionError(f"sealing failed: {type(exc).__name__}") from None
            parts.append((len(chunk) + padding, signature, sealed))
        return build_encrypted_body(parts, self.protocol, multi=len(parts) > 1)

    def unwrap(self, body: bytes, content_type: str) -> bytes:
        """Unseal an encrypted body and verify each part's length.

        Raises:
            EncryptionError: malformed framing, another protocol than this
                context's, a failed signature, or a length mismatch.
        """
        return self._unwrap_parts(parse_encrypted_body(body, content_type))

    def _unwrap_parts(self, parts: list[EncryptedPart]) -> bytes:
        out = bytearray()
        for part in parts:
            if part.protocol.lower() != self.protocol.lower():
                raise EncryptionError(
                    f"response sealed with {part.protocol!r}, expected {self.protocol!r}"
                )
            try:
                plain = self._context.unwrap_winrm(part.signature, part.sealed)
            except Exception as exc:  # bad signature, bad sequence number, bad padding...
                raise EncryptionError(f"unsealing failed: {type(exc).__name__}") from None
            if len(plain) != part.length:
                raise EncryptionError(
                    f"decrypted length {len(plain)} does not match the announced {part.length}"
                )
            out += plain
        return bytes(out)

    def unwrap_response(self, response: HttpResponse) -> HttpResponse:
        """Unseal ``response`` if it is encrypted; refuse an unencrypted SOAP success.

        A WinRM service answers some errors in plaintext (HTTP.sys 4xx/5xx
        pages, an empty 401), so a non-2xx or empty plaintext response is
        passed through unchanged for the caller to report. A 2xx response
        with a plaintext body on an encrypted session is refused: accepting it
        would let anyone on the path forge replies (encryption is never
        dropped silently).

        Raises:
            EncryptionError: see :meth:`unwrap`, or a plaintext 2xx body.
        """
        if is_encrypted_content_type(response.content_type):
            parts = parse_encrypted_body(response.body, response.content_type)
            plain = self._unwrap_parts(parts)
            headers = {k: v for k, v in response.headers.items() if k != "content-type"}
            headers["content-type"] = parts[0].original_type or _SOAP_TYPE
            headers["content-length"] = str(len(plain))
            return HttpResponse(status=response.status, headers=headers, body=plain)
        if response.body and 200 <= response.status < 300:
            raise EncryptionError(
                "the server answered in plaintext on an encrypted session "
                f"(content type {response.content_type!r})"
            )
        return response
