"""The one hardened XML parser of aiowsman.

Every byte that comes from the network is parsed here, and only here.

Three independent layers keep document type declarations (DTDs) and
entities out, for every input encoding. Each would be enough on its own
for what the tests exercise; together none depends on another.

1. **We decide the encoding, and libxml2 never does.** WS-Management
   messages are UTF-8 or UTF-16 (MS-WSMV 2.2.1; Windows' ``WSManFlagUTF16``).
   The encoding is read from the byte-order mark or the first bytes (XML 1.0
   Appendix F); a ``charset=`` or an XML declaration naming anything else
   (UTF-32/UCS-4 in any byte order, EBCDIC, UTF-7, ISO-8859-x...) is
   refused with :class:`~aiowsman.errors.ProtocolError`, as is a declaration
   that contradicts the bytes. UTF-16 is decoded and re-encoded as UTF-8 in
   Python. libxml2 then receives UTF-8 only, with its encoding *forced*
   (``XMLParser(encoding="utf-8")``), so it ignores any declaration and cannot
   read the bytes differently from the way we checked them.
2. **No DOCTYPE reaches the parser.** A DOCTYPE (and with it every ENTITY
   declaration, which lives in its internal subset) may only appear in the
   prolog, before the root element (XML 1.0 2.8). The prolog of exactly the
   UTF-8 bytes libxml2 will read is scanned, and a DOCTYPE is refused with
   :class:`~aiowsman.errors.UnsafeXMLError` unparsed: a SOAP message never has
   one (SOAP 1.2 part 1, 5: "MUST NOT contain a document type declaration").
   This is a few comparisons, not a scan of a 500 KB body: a body that starts
   with its root element has no prolog at all.
3. **The parser cannot load anything.** Entity resolution, DTD loading and
   network access are off, ``huge_tree`` stays off (libxml2's depth, text and
   entity-amplification limits apply), and a resolver refuses every load
   request instead of falling back to libxml2's own loader. ``collect_ids``
   stays at its default: lxml's ``collect_ids=False`` sets ``XML_SKIP_IDS`` in
   libxml2's ``loadsubset``, which libxml2 2.14 reads as "load the external
   subset and external parameter entities" even with ``load_dtd=False`` and
   ``resolve_entities=False`` -- the root cause of the bypass reported in
   issue 9 (a UTF-32 body's parameter entity opened a local file).

Size is bounded by the caller (``max_size``, derived from MaxEnvelopeSize).

The UTF-8 path is the hot path: two byte comparisons and ``etree.fromstring``
with a per-thread parser (measured: no difference from the unforced parser).
"""

from __future__ import annotations

import codecs
import functools
import re
import threading
from typing import Any

from lxml import etree

from ..errors import ProtocolError, ResponseTooLargeError, UnsafeXMLError

__all__ = ["detect_encoding", "parse_xml"]

_local = threading.local()


class _RefuseEveryLoad(etree.Resolver):
    """A resolver that refuses every external load (DTD, entity, XInclude).

    lxml asks its resolvers first and falls back to libxml2's default loader
    (which opens files and, without ``no_network``, URLs) when they return
    None; raising instead ends the parse with this error.
    """

    # lxml calls resolve(system_url, public_id, context); lxml-stubs omits context.
    def resolve(  # type: ignore[override]
        self, system_url: str | None, public_id: str | None, context: Any
    ) -> Any:
        shown = repr(system_url)[:80]
        raise UnsafeXMLError(f"the document asked the parser to load {shown}; refused")


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads; one per thread is the
    # documented pattern, and creating it once keeps the hot path cheap.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            encoding="utf-8",  # forced: never taken from the document (layer 1)
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            # collect_ids: left at its default on purpose (module docstring).
        )
        parser.resolvers.add(_RefuseEveryLoad())
        _local.parser = parser
    return parser


_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_DECLARED_RE = re.compile(r"""^\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})  # ASCII is a subset of UTF-8
_UTF16_NAMES = frozenset({"utf-16", "utf16", "utf-16le", "utf-16be", "utf-16-le", "utf-16-be"})
_ALLOWED = "WS-Management messages are UTF-8 or UTF-16"
#: The UCS-4 byte-order marks in the orders 1234, 4321, 2143 and 3412.
_UCS4_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xff\xfe", b"\xfe\xff\x00\x00")


def _family(name: str) -> str | None:
    """``"utf-8"``, ``"utf-16"`` or None (not allowed) for an encoding name.

    Names hold no whitespace: a charset is read without it, and a declaration
    with it (``encoding=" utf-8"``) is not XML (4.3.3 EncName).
    """
    name = name.lower().replace("_", "-")
    if name in _UTF8_NAMES:
        return "utf-8"
    if name in _UTF16_NAMES:
        return "utf-16"
    return None


@functools.lru_cache(maxsize=64)
def _charset_allowed(content_type: str) -> bool:
    # Content types repeat (one per server product): cached. An absent
    # charset is allowed (the bytes say which of the two it is).
    m = _CHARSET_RE.search(content_type)
    return m is None or _family(m.group(1)) is not None


def _check_charset(content_type: str | None) -> None:
    if content_type and not _charset_allowed(content_type):
        charset = _CHARSET_RE.search(content_type)
        assert charset is not None
        raise ProtocolError(f"unsupported response charset {charset.group(1)!r}; {_ALLOWED}")


def detect_encoding(data: bytes, content_type: str | None = None) -> str:
    """The encoding of a body: ``"utf-8"``, ``"utf-16-le"`` or ``"utf-16-be"``.

    The bytes decide (XML 1.0 Appendix F): a byte-order mark, else the first
    two bytes (every XML document starts with ``<`` or whitespace, so UTF-16
    shows a NUL in one of them). ``charset=`` in the Content-Type may only
    name UTF-8 or UTF-16; a charset that contradicts the bytes is overruled
    by them (a BOM wins, RFC 7303 3.3).

    Args:
        data: the raw body.
        content_type: the HTTP Content-Type header, if any.

    Returns:
        A Python codec name.

    Raises:
        ProtocolError: any other encoding: a charset naming one, or bytes in
            UTF-32/UCS-4 (any byte order, with or without a BOM) or EBCDIC.
    """
    _check_charset(content_type)
    head = data[:4]
    if head.count(0) >= 3 or head in _UCS4_BOMS:
        # One ASCII character in four bytes: UCS-4 in one of its four byte
        # orders (1234, 4321, 2143, 3412), or its BOM in one of them. (The
        # 3412 and 4321 BOMs start like UTF-16 ones, followed by U+0000, which
        # no XML document contains.)
        raise ProtocolError(f"the response is UTF-32/UCS-4; {_ALLOWED}")
    if head == b"\x4c\x6f\xa7\x94":  # "<?xm" in EBCDIC (XML 1.0 Appendix F)
        raise ProtocolError(f"the response is EBCDIC; {_ALLOWED}")
    if head[:3] == codecs.BOM_UTF8:
        return "utf-8"
    if head[:2] == codecs.BOM_UTF16_LE:
        return "utf-16-le"
    if head[:2] == codecs.BOM_UTF16_BE:
        return "utf-16-be"
    if len(head) >= 2 and head[0] == 0 and head[1] != 0:
        return "utf-16-be"
    if len(head) >= 2 and head[0] != 0 and head[1] == 0:
        return "utf-16-le"
    if 0 in head:
        raise ProtocolError(f"the response is in an unrecognised encoding; {_ALLOWED}")
    return "utf-8"


def _check_declaration(head: str, family: str) -> None:
    # XML 1.0 4.3.3: an encoding declaration that names another encoding than
    # the entity's is a fatal error. libxml2 never sees it honoured (forced
    # encoding); refusing it here says plainly what the server did.
    m = _DECLARED_RE.match(head)
    if m is None:
        return
    declared = m.group(1)
    if _family(declared) != family:
        raise ProtocolError(
            f"the response declares encoding {declared[:40]!r} but is {family.upper()}; {_ALLOWED}"
        )


def _refuse_doctype(data: bytes) -> None:
    # A document type declaration -- and with it every ENTITY declaration,
    # which can only live in its internal subset -- may only appear in the
    # prolog, before the root element (XML 1.0, 2.8 [22] prolog). So only
    # the prolog is scanned: the XML declaration, processing instructions,
    # comments and whitespace are skipped; any other "<!" there is a DOCTYPE.
    # ``data`` is exactly the UTF-8 libxml2 will read (encoding forced), so
    # what is scanned here is what it would parse.
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


def _as_utf8(data: bytes, content_type: str | None) -> bytes:
    """The body as the UTF-8 bytes libxml2 will parse (layer 1 of the module docstring)."""
    encoding = detect_encoding(data, content_type)
    if encoding == "utf-8":
        start = 3 if data[:3] == codecs.BOM_UTF8 else 0
        _check_declaration(data[start : start + 256].decode("latin-1"), "utf-8")
        return data  # libxml2 skips a UTF-8 BOM itself
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"response is not valid {encoding}: {exc.reason}") from None
    text = text.removeprefix("\ufeff")
    _check_declaration(text[:256], "utf-16")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate the codec let through
        raise ProtocolError(f"response is not valid {encoding}: {exc.reason}") from None


def parse_xml(
    data: bytes, *, content_type: str | None = None, max_size: int | None = None
) -> etree._Element:
    """Parse untrusted XML safely and return its root element.

    Args:
        data: the raw bytes (a response body, or caller-supplied XML).
        content_type: the HTTP Content-Type header (its ``charset=`` must
            name UTF-8 or UTF-16, if present).
        max_size: refuse bodies longer than this many bytes.

    Returns:
        The root element.

    Raises:
        ResponseTooLargeError: ``len(data) > max_size``.
        UnsafeXMLError: a DOCTYPE or ENTITY declaration is present.
        ProtocolError: the XML is malformed, empty, or in an encoding other
            than UTF-8 and UTF-16.
    """
    if max_size is not None and len(data) > max_size:
        raise ResponseTooLargeError(f"response of {len(data)} bytes exceeds the cap of {max_size}")
    if not data:
        raise ProtocolError("empty response body")
    if data[:1] == b"<" and data[1:2] not in (b"?", b"!", b"\x00"):
        # Hot path: the root element comes first (Windows, OMI and our server
        # send no XML declaration), so there is no prolog and no DOCTYPE
        # (XML 1.0 2.8), no declaration naming an encoding, and no NUL that
        # UTF-16/UCS-4 would show in the second byte: UTF-8 (4.3.3), which is
        # what the forced parser reads it as.
        if content_type is not None:
            _check_charset(content_type)
        return _fromstring(data, check_doctype=False)
    utf8 = _as_utf8(data, content_type)
    _refuse_doctype(utf8)
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
        # libxml2's messages may span lines: one line here.
        raise ProtocolError(" ".join(failure.split()))
    if root is None:
        raise ProtocolError("malformed XML: no root element")
    if check_doctype:
        # Belt and braces: layers 1 and 2 leave no way for a DOCTYPE to get
        # here; if one ever did, it is still refused.
        docinfo: Any = root.getroottree().docinfo
        if docinfo.doctype:
            raise UnsafeXMLError("response contains a DOCTYPE; refused")
    return root
