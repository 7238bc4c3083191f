"""The one hardened XML parser of aiowsman.

Every byte that comes from the network is parsed here, and only here.

Rules (DESIGN.md "Safety rules"):

* Entity resolution, network access and DTD loading are off, and lxml's
  ``huge_tree`` stays off (libxml2's depth and text-node limits apply).
* A document whose prolog holds ``<!DOCTYPE`` (and so ``<!ENTITY``) is refused with
  :class:`~aiowsman.errors.UnsafeXMLError` *before* it reaches the parser: a
  WS-Man message never needs a DTD (SOAP 1.2 part 1, 5: "The XML infoset of a
  SOAP message MUST NOT contain a document type declaration"), so refusing
  them unparsed removes billion-laughs and XXE outright.
* Size is bounded by the caller (``max_size``, derived from MaxEnvelopeSize).
* Encodings: UTF-8 (with or without BOM) and UTF-16 (BOM, or ``charset=`` in
  the Content-Type, with or without BOM). The Windows client sends UTF-16
  (MS-WSMV 2.2.9.1 allows either), so a server may answer in kind.

The UTF-8 path is the hot path: a prolog check of a few bytes and
``etree.fromstring`` with a per-thread parser.
"""

from __future__ import annotations

import codecs
import re
import threading
from typing import Any

from lxml import etree

from ..errors import ProtocolError, ResponseTooLargeError, UnsafeXMLError

__all__ = ["detect_encoding", "parse_xml"]

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads; one per thread is the
    # documented pattern, and creating it once keeps the hot path cheap.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            # collect_ids stays at its default: with collect_ids=False, lxml
            # (6.2, libxml2 2.14) loads a DOCTYPE's external subset despite
            # load_dtd=False, so a DOCTYPE hidden from the prolog scan by a
            # declared encoding (UTF-7) made the parser open a local file
            # before the DOCTYPE check refused the document.
        )
        _local.parser = parser
    return parser


_CHARSET_RE = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_\-]+)", re.IGNORECASE)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")


def detect_encoding(data: bytes, content_type: str | None = None) -> str:
    """Return the encoding of a response body: ``"utf-8"``, ``"utf-16-le"`` or ``"utf-16-be"``.

    A BOM wins; then ``charset=`` from the Content-Type; then UTF-8. For
    ``charset=utf-16`` without a BOM the byte order is read from the first
    character (every WS-Man body starts with ``<`` or whitespace).

    Args:
        data: the raw body.
        content_type: the HTTP Content-Type header, if any.

    Returns:
        A Python codec name.

    Raises:
        ProtocolError: the charset is neither UTF-8 nor UTF-16.
    """
    if data[:2] == codecs.BOM_UTF16_LE and data[:4] != codecs.BOM_UTF32_LE:
        return "utf-16-le"
    if data[:2] == codecs.BOM_UTF16_BE:
        return "utf-16-be"
    if data[:3] == codecs.BOM_UTF8:
        return "utf-8"
    charset = None
    if content_type:
        m = _CHARSET_RE.search(content_type)
        if m:
            charset = m.group(1).lower().replace("_", "-")
    if charset is None or charset in ("utf-8", "utf8", "us-ascii", "ascii"):
        if data[:1] == b"\x00" or data[1:2] == b"\x00":
            # UTF-16 without BOM and without charset: still recognisable.
            return "utf-16-be" if data[:1] == b"\x00" else "utf-16-le"
        return "utf-8"
    if charset in ("utf-16", "utf16", "utf-16le", "utf-16be", "utf-16-le", "utf-16-be"):
        if charset.endswith("le"):
            return "utf-16-le"
        if charset.endswith("be"):
            return "utf-16-be"
        return "utf-16-be" if data[:1] == b"\x00" else "utf-16-le"
    raise ProtocolError(f"unsupported response charset {charset!r} (only UTF-8 and UTF-16)")


def _refuse_unsafe(data: bytes) -> None:
    # A document type declaration -- and with it every ENTITY declaration,
    # which can only live in its internal subset -- may only appear in the
    # prolog, before the root element (XML 1.0, 2.8 [22] prolog). So only
    # the prolog is scanned: the XML declaration, processing instructions,
    # comments and whitespace are skipped; any other "<!" there is a DOCTYPE.
    # This costs a few comparisons, not a scan of a 500 KB body; anything
    # after the root element starts is the parser's to reject as malformed.
    pos = 0
    while True:
        lt = data.find(b"<", pos)
        if lt < 0:
            return
        marker = data[lt + 1 : lt + 2]
        if marker == b"?":
            end = data.find(b"?>", lt + 2)
            if end < 0:
                return
            pos = end + 2
        elif marker == b"!":
            if data.startswith(b"<!--", lt):
                end = data.find(b"-->", lt + 4)
                if end < 0:
                    return
                pos = end + 3
            else:
                raise UnsafeXMLError(
                    "response contains a DOCTYPE or ENTITY declaration; refused unparsed"
                )
        else:
            return  # the root element


def parse_xml(
    data: bytes, *, content_type: str | None = None, max_size: int | None = None
) -> etree._Element:
    """Parse untrusted XML safely and return its root element.

    Args:
        data: the raw bytes (a response body, or caller-supplied XML).
        content_type: the HTTP Content-Type header (for ``charset=``).
        max_size: refuse bodies longer than this many bytes.

    Returns:
        The root element.

    Raises:
        ResponseTooLargeError: ``len(data) > max_size``.
        UnsafeXMLError: a DOCTYPE or ENTITY declaration is present.
        ProtocolError: the XML is malformed, empty or in an unsupported encoding.
    """
    if max_size is not None and len(data) > max_size:
        raise ResponseTooLargeError(f"response of {len(data)} bytes exceeds the cap of {max_size}")
    if not data:
        raise ProtocolError("empty response body")
    if (
        data[:1] == b"<"
        and data[1:2] != b"\x00"
        and (content_type is None or "16" not in content_type)
    ):
        # Hot path: starts with "<" and no NUL after it (that would be
        # UTF-16LE without a BOM), so ASCII-compatible: UTF-8, or an encoding
        # the document declares itself, which libxml2 honours.
        if data[1:2] not in (b"?", b"!"):
            # The root element comes first (Windows, OMI and our server send
            # no XML declaration): there is no prolog, so no DOCTYPE (XML 1.0
            # 2.8), and without a declaration or BOM the document is UTF-8
            # (4.3.3), so libxml2 sees exactly these bytes: nothing to scan,
            # and no declared encoding could hide a DOCTYPE from the scan.
            return _fromstring(data, check_doctype=False)
        _refuse_unsafe(data)
        return _fromstring(data)
    encoding = detect_encoding(data, content_type)
    if encoding == "utf-8":
        _refuse_unsafe(data)
        return _fromstring(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"response is not valid {encoding}: {exc}") from None
    # Re-encode as UTF-8 without the declaration (which names UTF-16).
    utf8 = _XML_DECL_RE.sub("", text.lstrip("\ufeff"), count=1).encode("utf-8")
    _refuse_unsafe(utf8)
    return _fromstring(utf8)


def _fromstring(data: bytes, *, check_doctype: bool = True) -> etree._Element:
    failure: str | None = None
    try:
        root = etree.fromstring(data, getattr(_local, "parser", None) or _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:  # ValueError: e.g. unknown encoding
        failure = f"malformed XML: {exc}"
    if failure is not None:
        # Raised outside the handler so that lxml's error (whose error log
        # cannot be pickled) is not kept as the context: errors must pickle.
        raise ProtocolError(failure)
    if root is None:
        raise ProtocolError("malformed XML: no root element")
    if check_doctype:
        # Belt and braces: a declaration the byte scan could not see (a
        # declared encoding such as UTF-7 must not smuggle one through).
        docinfo: Any = root.getroottree().docinfo
        if docinfo.doctype:
            raise UnsafeXMLError("response contains a DOCTYPE; refused")
    return root
