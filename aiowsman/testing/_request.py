"""Parsing of incoming WS-Man requests (the server's own parser).

Deliberately independent of the client's ``aiowsman.protocol`` parsers
(DESIGN.md: a bug mirrored on both sides would pass the tests).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import (
    NS_ADDRESSING,
    NS_EVENTING,
    NS_SOAP,
    NS_WSMAN,
    NS_WSMAN_IDENTITY,
    NS_WSMAN_MSFT,
)

__all__ = ["BadRequest", "ParsedRequest", "parse_duration", "parse_request"]

# A hardened parser: no DTD loading, no entity expansion, no network
# (an XXE or billion-laughs request must not hurt the server either).
_PARSER: Final = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_blank_text=False,
)

_H = "{" + NS_SOAP + "}"
_A = "{" + NS_ADDRESSING + "}"
_W = "{" + NS_WSMAN + "}"
_P = "{" + NS_WSMAN_MSFT + "}"
_IDENTIFY: Final = "{" + NS_WSMAN_IDENTITY + "}Identify"
#: A WS-Eventing subscription manager's reference parameter (sent as a header).
_E_IDENTIFIER: Final = "{" + NS_EVENTING + "}Identifier"
_A_ACTION: Final = _A + "Action"
_A_MESSAGE_ID: Final = _A + "MessageID"
_A_TO: Final = _A + "To"
_W_RESOURCE_URI: Final = _W + "ResourceURI"
_W_SELECTOR_SET: Final = _W + "SelectorSet"
_W_OPTION_SET: Final = _W + "OptionSet"
_W_MAX_ENVELOPE: Final = _W + "MaxEnvelopeSize"
_W_OPERATION_TIMEOUT: Final = _W + "OperationTimeout"
_W_FRAGMENT: Final = _W + "FragmentTransfer"
_S_MUST_UNDERSTAND: Final = _H + "mustUnderstand"
_S_ENVELOPE: Final = _H + "Envelope"
_S_HEADER: Final = _H + "Header"
_S_BODY: Final = _H + "Body"

#: Headers this server understands (so mustUnderstand="true" on them is fine).
UNDERSTOOD: Final = frozenset(
    {
        _A + "Action",
        _A + "To",
        _A + "MessageID",
        _A + "ReplyTo",
        _A + "FaultTo",
        _W + "ResourceURI",
        _W + "SelectorSet",
        _W + "OptionSet",
        _W + "MaxEnvelopeSize",
        _W + "OperationTimeout",
        _W + "Locale",
        _W + "FragmentTransfer",
        _W + "RequestEPR",
        _P + "DataLocale",
        _P + "SessionId",
        _P + "OperationID",
        _P + "SequenceId",
        _P + "ActivityId",
        _P + "CompressionType",
        _E_IDENTIFIER,
    }
)

_DURATION: Final = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


class BadRequest(Exception):
    """The request is not a usable SOAP envelope.

    ``kind`` picks the fault: ``xml`` (not well-formed), ``header`` (an
    invalid WS-Addressing/WS-Man header), ``must_understand`` (``qname``
    names the header).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        qname: str = "",
        ns: str = "",
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.qname = qname
        self.ns = ns
        self.message_id = message_id


@functools.lru_cache(maxsize=256)
def parse_duration(value: str) -> float:
    """Parse an ``xs:duration`` of days/hours/minutes/seconds (``PT60.000S``).

    Raises:
        ValueError: not a non-negative duration of that form.
    """
    match = _DURATION.match(value.strip())
    if match is None or value.strip() in ("P", "PT"):
        raise ValueError(value)
    d, h, m, s = (match.group(g) for g in "dhms")
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)


@dataclass
class ParsedRequest:
    """The parts of a request the server acts on."""

    action: str
    message_id: str | None
    to: str | None
    resource_uri: str | None
    selectors: dict[str, str]
    #: Selectors whose value is an EPR (a reference selector): raw elements.
    options: dict[str, str]
    max_envelope_size: int | None
    operation_timeout: float | None
    body: etree._Element | None
    has_doctype: bool = False
    #: w:FragmentTransfer (DSP0226 fragment-level access): the expression, and its Dialect.
    fragment: str | None = None
    fragment_dialect: str | None = None
    selector_eprs: dict[str, etree._Element] = field(default_factory=dict)
    #: The ``e:Identifier`` header: which subscription a Renew/Unsubscribe names.
    identifier: str | None = None


def _strip(value: str | None) -> str:
    return (value or "").strip()


#: Parsed requests by their bytes with the MessageID and To values cut out.
#: Clients repeat the same request with only a new MessageID (and, across
#: hosts, another To): such a request is parsed once, not every time.
_PARSED: dict[bytes, ParsedRequest] = {}
_PARSED_LIMIT: Final = 512
#: The values a cache hit takes from the bytes: plain tokens only (no
#: entities, no whitespace), so cutting them out cannot change the parse.
_TOKEN: Final = re.compile(rb"[A-Za-z0-9:/._\-\[\]]{1,300}")


def _value_span(data: bytes, tag: bytes) -> tuple[int, int] | bool | None:
    """Where the text of the one element named ``tag`` (``b"MessageID>"``,
    any prefix) lies: None when there is none, False when it is not one plain
    token of one element."""
    span: tuple[int, int] | None = None
    pos = 0
    while True:
        i = data.find(tag, pos)
        if i < 0:
            return span
        pos = i + len(tag)
        if i == 0 or data[i - 1] not in b"<:":
            continue  # ReplyTo>, RelatesTo>...
        if data[data.rfind(b"<", 0, i) + 1] == 0x2F:
            continue  # a closing tag
        end = data.find(b"<", pos)
        if span is not None or end < 0 or _TOKEN.fullmatch(data, pos, end) is None:
            return False
        span = (pos, end)


def parse_request(data: bytes) -> ParsedRequest:
    """Parse ``data`` into a :class:`ParsedRequest` (which must not be changed).

    A request that differs from a recent one only in its MessageID and To
    values is answered from a cache: the parse is a pure function of the
    bytes, and those two values are put back.

    Raises:
        BadRequest: not XML, not a SOAP 1.2 envelope, a header that must be
            understood is unknown, or a header value is invalid.
    """
    if len(data) > 8192:
        # A big request (a Put of a large instance) is rarely repeated: parse
        # it (and keep the cache small: at most 512 entries of 8 KB).
        return _parse(data)
    mid = _value_span(data, b"MessageID>")
    to = _value_span(data, b"To>")
    if mid is False or to is False:
        return _parse(data)
    spans = sorted(span for span in (mid, to) if isinstance(span, tuple))
    key = data
    for start, end in reversed(spans):
        key = key[:start] + key[end:]
    cached = _PARSED.get(key)
    mid_value = data[mid[0] : mid[1]].decode() if isinstance(mid, tuple) else None
    to_value = data[to[0] : to[1]].decode() if isinstance(to, tuple) else None
    if cached is None:
        req = _parse(data)
        if (mid_value is not None and mid_value != req.message_id) or (
            to_value is not None and to_value != req.to
        ):
            # What was cut out is not the header's MessageID or To (the same
            # name elsewhere): such a request is not cached.
            return req
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = req
        return req
    req = object.__new__(ParsedRequest)
    req.__dict__.update(cached.__dict__)
    if mid_value is not None:
        req.message_id = mid_value
    if to_value is not None:
        req.to = to_value
    return req


def _parse(data: bytes) -> ParsedRequest:
    """Parse ``data`` into a :class:`ParsedRequest` (no cache).

    Raises:
        BadRequest: not XML, not a SOAP 1.2 envelope, a header that must be
            understood is unknown, or a header value is invalid.
    """
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadRequest("xml", f"The request is not well-formed XML: {exc}") from None
    has_doctype = bool(root.getroottree().docinfo.doctype)  # type: ignore[union-attr]
    if root.tag != _S_ENVELOPE:
        raise BadRequest("xml", "The request is not a SOAP 1.2 envelope.")
    # The Envelope's element children by tag (cheaper than two find() calls,
    # which cost a path compilation lookup each on every request).
    header = body = None
    for part in root:
        tag = part.tag
        if tag == _S_HEADER and header is None:
            header = part
        elif tag == _S_BODY and body is None:
            body = part
    req = ParsedRequest(
        action="",
        message_id=None,
        to=None,
        resource_uri=None,
        selectors={},
        options={},
        max_envelope_size=None,
        operation_timeout=None,
        body=body[0] if body is not None and len(body) else None,
        has_doctype=has_doctype,
    )
    not_understood: etree._Element | None = None
    if header is not None:
        for child in header:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag == _A_ACTION:
                req.action = _strip(child.text)
            elif tag == _A_MESSAGE_ID:
                req.message_id = _strip(child.text)
            elif tag == _A_TO:
                req.to = _strip(child.text)
            elif tag == _W_RESOURCE_URI:
                req.resource_uri = _strip(child.text)
            elif tag == _W_SELECTOR_SET:
                for sel in child:
                    if not isinstance(sel.tag, str):
                        continue
                    name = sel.get("Name", "")
                    if len(sel):
                        req.selector_eprs[name] = sel[0]
                        req.selectors[name] = ""
                    else:
                        req.selectors[name] = _strip(sel.text)
            elif tag == _E_IDENTIFIER:
                req.identifier = _strip(child.text)
            elif tag == _W_FRAGMENT:
                req.fragment = _strip(child.text)
                req.fragment_dialect = child.get("Dialect")
            elif tag == _W_OPTION_SET:
                for opt in child:
                    if isinstance(opt.tag, str):
                        req.options[opt.get("Name", "")] = _strip(opt.text)
            elif tag == _W_MAX_ENVELOPE:
                try:
                    req.max_envelope_size = int(_strip(child.text))
                except ValueError:
                    raise BadRequest(
                        "header",
                        "The WS-Management service cannot process the request. "
                        "The MaxEnvelopeSize header is not a valid number. ",
                        message_id=req.message_id,
                    ) from None
            elif tag == _W_OPERATION_TIMEOUT:
                raw = _strip(child.text)
                try:
                    req.operation_timeout = parse_duration(raw)
                except ValueError:
                    # Windows' shape: a:InvalidMessageInformationHeader
                    # (corpus pypsrp-fault-invalidmessageinformationheader.xml).
                    raise BadRequest(
                        "header",
                        "The WS-Management service cannot process the request. "
                        f"The XML contains an invalid timeout field in the SOAP header: {raw}. ",
                        message_id=req.message_id,
                    ) from None
            if tag not in UNDERSTOOD and not_understood is None:
                must = child.get(_S_MUST_UNDERSTAND, "").strip().lower()
                if must in ("true", "1"):
                    not_understood = child
    if not_understood is not None:
        qname = etree.QName(not_understood)
        raise BadRequest(
            "must_understand",
            "mustUnderstand header not understood",
            qname=qname.localname,
            ns=qname.namespace or "",
            message_id=req.message_id,
        )
    is_identify = req.body is not None and req.body.tag == _IDENTIFY
    if not req.action and not is_identify:
        raise BadRequest(
            "header",
            "The WS-Management service cannot process the request. "
            "The request contains one or more invalid SOAP headers. ",
            message_id=req.message_id,
        )
    return req
