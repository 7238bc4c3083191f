"""Parsing of incoming WS-Man requests (the server's own parser).

Deliberately independent of the client's ``aiowsman.protocol`` parsers
(DESIGN.md: a bug mirrored on both sides would pass the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from aiowsman.protocol.namespaces import (
    NS_ADDRESSING,
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


def _strip(value: str | None) -> str:
    return (value or "").strip()


def parse_request(data: bytes) -> ParsedRequest:
    """Parse ``data`` into a :class:`ParsedRequest`.

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
    header = root.find(_S_HEADER)
    body = root.find(_S_BODY)
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
