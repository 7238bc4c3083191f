"""Response parsing: envelopes, faults, and the result of each operation.

Everything is matched by namespace URI, never by prefix: Windows, OMI, iDRAC
and AMT all choose different prefixes, and AMT even reuses one prefix for
different namespaces from message to message (corpus README). Values are
stripped before use because OMI and pretty-printed captures pad them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ..errors import (
    FaultDetail,
    HTTPStatusError,
    InvalidEnumerationContextFault,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    WSManFault,
)
from . import namespaces as ns
from .envelope import Request
from .items import Item, element_to_value
from .locator import EndpointReference, epr_from_element
from .xml import parse_xml

__all__ = [
    "CreateResult",
    "EnumerationBatch",
    "Envelope",
    "IdentifyResponse",
    "check_response",
    "fault_exception",
    "parse_create",
    "parse_delete",
    "parse_enumeration",
    "parse_envelope",
    "parse_fault",
    "parse_get",
    "parse_identify",
    "parse_invoke",
    "parse_put",
]


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


_S_ENVELOPE = _q(ns.NS_SOAP, "Envelope")
_S_HEADER = _q(ns.NS_SOAP, "Header")
_S_BODY = _q(ns.NS_SOAP, "Body")
_S_FAULT = _q(ns.NS_SOAP, "Fault")
_S_CODE = _q(ns.NS_SOAP, "Code")
_S_SUBCODE = _q(ns.NS_SOAP, "Subcode")
_S_VALUE = _q(ns.NS_SOAP, "Value")
_S_REASON = _q(ns.NS_SOAP, "Reason")
_S_TEXT = _q(ns.NS_SOAP, "Text")
_S_DETAIL = _q(ns.NS_SOAP, "Detail")
_A_ACTION = _q(ns.NS_ADDRESSING, "Action")
_A_RELATES_TO = _q(ns.NS_ADDRESSING, "RelatesTo")
_A_MESSAGE_ID = _q(ns.NS_ADDRESSING, "MessageID")
_A_EPR = _q(ns.NS_ADDRESSING, "EndpointReference")
_W_FAULT_DETAIL = _q(ns.NS_WSMAN, "FaultDetail")
_W_ITEMS = _q(ns.NS_WSMAN, "Items")
_W_ITEM = _q(ns.NS_WSMAN, "Item")
_W_EOS = _q(ns.NS_WSMAN, "EndOfSequence")
_N_ITEMS = _q(ns.NS_ENUMERATION, "Items")
_N_EOS = _q(ns.NS_ENUMERATION, "EndOfSequence")
_N_CONTEXT = _q(ns.NS_ENUMERATION, "EnumerationContext")
_N_ENUMERATE_RESPONSE = _q(ns.NS_ENUMERATION, "EnumerateResponse")
_N_PULL_RESPONSE = _q(ns.NS_ENUMERATION, "PullResponse")
_X_RESOURCE_CREATED = _q(ns.NS_TRANSFER, "ResourceCreated")
_F_WSMAN_FAULT = _q(ns.NS_WSMAN_FAULT, "WSManFault")
_F_MESSAGE = _q(ns.NS_WSMAN_FAULT, "Message")
_F_PROVIDER_FAULT = _q(ns.NS_WSMAN_FAULT, "ProviderFault")
_F_EXTENDED_ERROR = _q(ns.NS_WSMAN_FAULT, "ExtendedError")
_ID_RESPONSE = _q(ns.NS_WSMAN_IDENTITY, "IdentifyResponse")


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip()


def _squash(text: str | None) -> str | None:
    # Reasons and messages carry trailing and double spaces; keep them readable.
    if text is None:
        return None
    squashed = " ".join(text.split())
    return squashed or None


class Envelope:
    """A parsed SOAP envelope.

    Attributes:
        root, header, body: the lxml elements (header may be None).
        action, relates_to, message_id: stripped WS-Addressing header values.
        raw: the bytes it was parsed from.
        fault: the parsed :class:`FaultDetail` if the body is a SOAP fault.
    """

    __slots__ = (
        "_fault",
        "_first",
        "action",
        "body",
        "header",
        "message_id",
        "raw",
        "relates_to",
        "root",
    )

    def __init__(self, root: etree._Element, raw: bytes = b"") -> None:
        if root.tag != _S_ENVELOPE:
            raise ProtocolError(f"not a SOAP 1.2 envelope (root element {root.tag!r})")
        self.root = root
        self.raw = raw
        self.header: etree._Element | None = None
        body: etree._Element | None = None
        for child in root:
            tag = child.tag  # lxml makes a new string on every .tag: read it once
            if tag == _S_BODY:
                body = child
            elif tag == _S_HEADER:
                self.header = child
        if body is None:
            raise ProtocolError("SOAP envelope has no Body")
        self.body: etree._Element = body
        self.action: str | None = None
        self.relates_to: str | None = None
        self.message_id: str | None = None
        if self.header is not None:
            for child in self.header:
                tag = child.tag
                if tag == _A_ACTION:
                    self.action = (child.text or "").strip()
                elif tag == _A_RELATES_TO:
                    self.relates_to = (child.text or "").strip()
                elif tag == _A_MESSAGE_ID:
                    self.message_id = (child.text or "").strip()
        self._fault: FaultDetail | bool | None = False
        self._first: etree._Element | bool | None = False

    @property
    def fault(self) -> FaultDetail | None:
        """The fault detail, or None when the body is not a fault."""
        if self._fault is False:
            first = self.first_body_element()
            self._fault = (
                parse_fault(first, self) if first is not None and first.tag == _S_FAULT else None
            )
        assert self._fault is not True
        return self._fault

    def first_body_element(self) -> etree._Element | None:
        """The first element child of the Body, or None when it is empty."""
        first = self._first
        if first is False:
            # Computed once: the fault check and the operation's parser both ask.
            first = None
            for child in self.body:
                if isinstance(child.tag, str):  # skip comments and PIs
                    first = child
                    break
            self._first = first
        assert first is not True
        return first


def parse_envelope(
    data: bytes, content_type: str | None = None, *, max_size: int | None = None
) -> Envelope:
    """Parse a response body safely (see :mod:`aiowsman.protocol.xml`) into an :class:`Envelope`.

    Raises:
        UnsafeXMLError: DOCTYPE / ENTITY declarations.
        ResponseTooLargeError: over ``max_size``.
        ProtocolError: malformed XML, or not a SOAP envelope with a Body.
    """
    return Envelope(parse_xml(data, content_type=content_type, max_size=max_size), data)


# -- faults -------------------------------------------------------------------


def _qname_local(element: etree._Element) -> tuple[str | None, str | None]:
    # Code/Subcode values are QNames ("w:TimedOut"); resolve the prefix in scope.
    text = _text(element)
    if not text:
        return None, None
    prefix, sep, local = text.rpartition(":")
    namespace = element.nsmap.get(prefix or None) if sep else element.nsmap.get(None)
    return local, namespace


def _message_text(message: etree._Element) -> str | None:
    # Flattened text of f:Message, without the structured ExtendedError part.
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        if el.text:
            parts.append(el.text)
        for child in el:
            if child.tag != _F_EXTENDED_ERROR:
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(message)
    return _squash(" ".join(parts))


def _error_code(text: str | None) -> int | None:
    # An error code is an xs:unsignedInt: ASCII digits only. str.isdigit()
    # also accepts superscripts and other scripts' digits, which int() then
    # refuses (or reads): anything else is no code, not a ValueError.
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def parse_fault(fault: etree._Element, envelope: Envelope | None = None) -> FaultDetail:
    """Read every field a WS-Man fault can carry (any of the corpus' shapes).

    Args:
        fault: the ``s:Fault`` element.
        envelope: its envelope, for action, RelatesTo and raw XML.

    Returns:
        The fault's :class:`FaultDetail`.
    """
    detail = FaultDetail()
    if envelope is not None:
        detail.action = envelope.action
        detail.relates_to = envelope.relates_to
        detail.raw_xml = envelope.raw or etree.tostring(envelope.root)
    code = fault.find(_S_CODE)
    if code is not None:
        value = code.find(_S_VALUE)
        detail.code = _qname_local(value)[0] if value is not None else None
        sub = code.find(_S_SUBCODE)
        sub_value = sub.find(_S_VALUE) if sub is not None else None
        if sub_value is not None:
            detail.subcode, detail.subcode_namespace = _qname_local(sub_value)
    reason = fault.find(_S_REASON)
    if reason is not None:
        detail.reason = _squash(reason.findtext(_S_TEXT))
    d = fault.find(_S_DETAIL)
    if d is None:
        return detail
    detail.detail_text = _text(d.find(_W_FAULT_DETAIL))
    wsf = d.find(_F_WSMAN_FAULT)
    if wsf is not None:
        detail.wsman_code = _error_code(wsf.get("Code"))
        machine = wsf.get("Machine")
        detail.machine = machine.strip() if machine is not None else None
        message = wsf.find(_F_MESSAGE)
        if message is not None:
            detail.wsman_message = _message_text(message)
            provider = message.find(_F_PROVIDER_FAULT)
            if provider is not None:
                detail.provider = (provider.get("provider") or "").strip() or None
                detail.provider_path = provider.get("path")
                nested = provider.find(_F_WSMAN_FAULT)
                if nested is not None:
                    nested_msg = nested.find(_F_MESSAGE)
                    detail.provider_message = (
                        _message_text(nested_msg) if nested_msg is not None else None
                    )
                else:
                    detail.provider_message = _squash(provider.text)
    # Structured WMI error: MSFT_WmiError directly in the Detail, or
    # __ExtendedStatus inside f:ExtendedError (anywhere below the Detail).
    for el in d.iter():
        if not isinstance(el.tag, str):
            continue
        local = el.tag.rpartition("}")[2]
        if local in ("MSFT_WmiError", "__ExtendedStatus"):
            value = element_to_value(el)
            if isinstance(value, dict):
                detail.wmi_error = value
            break
    if detail.wmi_error:
        if detail.wsman_code is None:
            err_code = detail.wmi_error.get("error_Code")
            detail.wsman_code = _error_code(err_code if isinstance(err_code, str) else None)
        if detail.wsman_message is None:
            msg = detail.wmi_error.get("Message")
            if isinstance(msg, str):
                detail.wsman_message = _squash(msg)
    return detail


def fault_exception(detail: FaultDetail, http_status: int | None = None) -> WSManFault:
    """The :class:`WSManFault` subclass for a fault.

    * ``w:TimedOut`` or ERROR_WSMAN_OPERATION_TIMEDOUT -> OperationTimedOutFault (DSP0226 6.1);
    * ``InvalidEnumerationContext`` -> InvalidEnumerationContextFault (DSP0226 8.5);
    * ``w:QuotaLimit`` or an ERROR_WSMAN_QUOTA_* code -> QuotaExceededFault.
    """
    sub = detail.subcode
    cls: type[WSManFault] = WSManFault
    if sub == ns.FAULT_TIMED_OUT or detail.wsman_code == ns.CODE_OPERATION_TIMEDOUT:
        cls = OperationTimedOutFault
    elif sub == ns.FAULT_INVALID_ENUMERATION_CONTEXT:
        cls = InvalidEnumerationContextFault
    elif sub == ns.FAULT_QUOTA_LIMIT or detail.wsman_code in ns.CODES_QUOTA:
        cls = QuotaExceededFault
    return cls(detail, http_status=http_status)


def _same_id(a: str, b: str) -> bool:
    return a == b or a.lower() == b.lower()


def check_response(env: Envelope, request: Request, http_status: int = 200) -> None:
    """Raise if the envelope is a fault or does not answer ``request``.

    Faults are raised even without RelatesTo (some Windows faults omit it).

    Args:
        env: the parsed response.
        request: the request it answers.
        http_status: the HTTP status (WinRM sends faults with 400/500).

    Raises:
        WSManFault: (the right subclass) for a SOAP fault.
        ProtocolError: RelatesTo names another message.
        HTTPStatusError: an HTTP error status without a SOAP fault.
    """
    if (
        env.relates_to is not None
        and request.message_id
        and not _same_id(env.relates_to, request.message_id)
    ):
        raise ProtocolError(
            f"response RelatesTo {env.relates_to!r} does not match MessageID {request.message_id!r}"
        )
    fault = env.fault
    if fault is not None:
        raise fault_exception(fault, http_status)
    if not 200 <= http_status < 300:
        raise HTTPStatusError(
            f"HTTP {http_status} without a SOAP fault", status=http_status, body=env.raw
        )


# -- operation results --------------------------------------------------------


@dataclass(frozen=True)
class IdentifyResponse:
    """The answer to Identify (DSP0226 11).

    Attributes:
        protocol_version: ``wsmid:ProtocolVersion`` (a WS-Man namespace URI).
        product_vendor, product_version: as sent (e.g. ``OS: 0.0.0 SP: 0.0 Stack: 3.0``).
        security_profiles: ``wsmid:SecurityProfiles/SecurityProfileName`` values.
        extra: any other child elements, by local name (e.g. ``InitiatedConnection``).
    """

    protocol_version: str | None
    product_vendor: str | None
    product_version: str | None
    security_profiles: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_element(cls, element: etree._Element) -> IdentifyResponse:
        """Read a ``wsmid:IdentifyResponse`` element.

        Raises:
            ProtocolError: the element is not an IdentifyResponse.
        """
        if element.tag != _ID_RESPONSE:
            raise ProtocolError(f"expected wsmid:IdentifyResponse, got {element.tag!r}")
        values: dict[str, str] = {}
        profiles: list[str] = []
        for child in element:
            tag = child.tag  # a new string on every access: read once
            if not isinstance(tag, str):
                continue
            local = tag.rpartition("}")[2]
            if local == "SecurityProfiles":
                profiles += [(p.text or "").strip() for p in child if isinstance(p.tag, str)]
            else:
                values[local] = (child.text or "").strip()
        return cls(
            values.pop("ProtocolVersion", None),
            values.pop("ProductVendor", None),
            values.pop("ProductVersion", None),
            tuple(profiles),
            values,
        )


def _require_body(env: Envelope, what: str) -> etree._Element:
    if env.fault is not None:
        raise fault_exception(env.fault)
    first = env.first_body_element()
    if first is None:
        raise ProtocolError(f"{what} response has an empty Body")
    return first


def parse_identify(env: Envelope) -> IdentifyResponse:
    """Parse an IdentifyResponse.

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no IdentifyResponse in the Body.
    """
    return IdentifyResponse.from_element(_require_body(env, "Identify"))


def parse_get(env: Envelope) -> Item:
    """The resource of a GetResponse (the Body's first element).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: empty Body.
    """
    return Item(_require_body(env, "Get"))


def parse_put(env: Envelope) -> Item | None:
    """The updated resource of a PutResponse, or None when the Body is empty (DSP0226 7.4)."""
    if env.fault is not None:
        raise fault_exception(env.fault)
    first = env.first_body_element()
    return Item(first) if first is not None else None


@dataclass(frozen=True)
class CreateResult:
    """A CreateResponse: the new resource's reference and, if sent, its representation."""

    reference: EndpointReference
    item: Item | None = None


def parse_create(env: Envelope) -> CreateResult:
    """Parse a CreateResponse: ``x:ResourceCreated`` (DSP0226 7.5) plus the instance if any.

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no ResourceCreated.
    """
    first = _require_body(env, "Create")
    if first.tag != _X_RESOURCE_CREATED:
        raise ProtocolError(f"CreateResponse without x:ResourceCreated (got {first.tag!r})")
    reference = epr_from_element(first)
    item = None
    for sibling in first.itersiblings():
        if isinstance(sibling.tag, str):
            item = Item(sibling)
            break
    return CreateResult(reference, item)


def parse_delete(env: Envelope) -> None:
    """Accept a DeleteResponse (empty Body).

    Raises:
        WSManFault: the envelope is a fault.
    """
    if env.fault is not None:
        raise fault_exception(env.fault)


def parse_invoke(env: Envelope) -> Item:
    """The output of a custom action (``{Method}_OUTPUT``; DSP0227 8.3).

    The response Action is not checked: OMI answers with the request Action
    (no ``Response`` suffix; corpus ``omi-invoke-response-*``).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: empty Body.
    """
    return Item(_require_body(env, "Invoke"))


@dataclass
class EnumerationBatch:
    """One batch of an enumeration.

    Attributes:
        context: the EnumerationContext to Pull with next, or None.
        items: instances (:class:`Item`, with ``epr`` in object-and-EPR
            mode) or :class:`EndpointReference` objects in EPR mode.
        end_of_sequence: no more batches; do not Pull (nor Release).
    """

    context: str | None
    items: list[Item | EndpointReference]
    end_of_sequence: bool


def parse_enumeration(env: Envelope) -> EnumerationBatch:
    """Parse an EnumerateResponse or PullResponse (DSP0226 8.2, 8.4).

    Handles every shape in the corpus: ``wsman:Items``/``wsman:EndOfSequence``
    in optimized EnumerateResponses and ``wsen:`` ones in PullResponses; an
    empty context with EndOfSequence (done); the context after the Items
    (iDRAC); a context without Items (non-optimized AMT); Items plus a context
    and no EndOfSequence (Windows: keep pulling). A batch with no context left
    is the end even without EndOfSequence (there is nothing to pull with).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: neither EnumerateResponse nor PullResponse.
    """
    first = _require_body(env, "Enumerate")
    if first.tag != _N_ENUMERATE_RESPONSE and first.tag != _N_PULL_RESPONSE:
        raise ProtocolError(f"expected EnumerateResponse or PullResponse, got {first.tag!r}")
    context: str | None = None
    items: list[Item | EndpointReference] = []
    eos = False
    for child in first:
        tag = child.tag
        if tag == _N_CONTEXT:
            context = (child.text or "").strip() or None
        elif tag in (_W_ITEMS, _N_ITEMS):
            for el in child:
                etag = el.tag
                if not isinstance(etag, str):
                    continue
                if etag == _W_ITEM:
                    items.append(_object_and_epr(el))
                elif etag == _A_EPR:
                    items.append(epr_from_element(el))
                else:
                    items.append(Item(el))
        elif tag in (_W_EOS, _N_EOS):
            eos = True
    return EnumerationBatch(context, items, eos or context is None)


def _object_and_epr(wrapper: etree._Element) -> Item | EndpointReference:
    # w:Item holds the instance followed by its wsa:EndpointReference (DSP0226 8.7).
    instance: etree._Element | None = None
    epr: EndpointReference | None = None
    for el in wrapper:
        if not isinstance(el.tag, str):
            continue
        if el.tag == _A_EPR:
            epr = epr_from_element(el)
        elif instance is None:
            instance = el
    if instance is None:
        if epr is None:
            raise ProtocolError("w:Item with neither an instance nor an EPR")
        return epr
    return Item(instance, epr=epr)
