"""Response parsing: envelopes, faults, and the result of each operation.

Everything is matched by namespace URI, never by prefix: Windows, OMI, iDRAC
and AMT all choose different prefixes, and AMT even reuses one prefix for
different namespaces from message to message (corpus README). Values are
stripped before use because OMI and pretty-printed captures pad them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from lxml import etree

from ..errors import (
    CommandQuotaExceededFault,
    FaultDetail,
    HTTPStatusError,
    InvalidEnumerationContextFault,
    NotWSManEndpointError,
    OperationQuotaExceededFault,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    ShellQuotaExceededFault,
    WSManFault,
)
from . import namespaces as ns
from .envelope import Request
from .items import DETACH_SHARE, Item, detach_if_sparse, element_to_value
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
#: OMI's IdentifyResponse element is in the SOAP envelope namespace (its
#: wsman.c writes ``<soap:IdentifyResponse>`` around ``wsmid:`` children).
_ID_RESPONSE_SOAP = _q(ns.NS_SOAP, "IdentifyResponse")
_B_IS_CIM_ERROR = _q(ns.NS_WSMAN_CIMBINDING, "IsCIM_Error")


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
        cim_namespace: the CIM namespace the request addressed
            (:attr:`Request.cim_namespace`): references in the answer that
            name none are in it (see :mod:`aiowsman.protocol.locator`).
    """

    __slots__ = (
        "_fault",
        "_first",
        "action",
        "body",
        "cim_namespace",
        "header",
        "message_id",
        "raw",
        "relates_to",
        "root",
    )

    def __init__(
        self, root: etree._Element, raw: bytes = b"", cim_namespace: str | None = None
    ) -> None:
        if root.tag != _S_ENVELOPE:
            raise NotWSManEndpointError(
                f"not a WS-Management endpoint: not a SOAP 1.2 envelope (root element "
                f"{str(root.tag)[:80]!r})"
            )
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
        self.cim_namespace = cim_namespace

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
    data: bytes,
    content_type: str | None = None,
    *,
    max_size: int | None = None,
    cim_namespace: str | None = None,
) -> Envelope:
    """Parse a response body safely (see :mod:`aiowsman.protocol.xml`) into an :class:`Envelope`.

    Args:
        data: the body.
        content_type: its HTTP Content-Type (for the charset).
        max_size: refuse larger bodies.
        cim_namespace: the CIM namespace the request addressed
            (``request.cim_namespace``), for references in the answer.

    Raises:
        UnsafeXMLError: DOCTYPE / ENTITY declarations.
        ResponseTooLargeError: over ``max_size``.
        ProtocolError: malformed XML, or not a SOAP envelope with a Body.
    """
    root = parse_xml(data, content_type=content_type, max_size=max_size)
    return Envelope(root, data, cim_namespace)


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
        detail.wsman_code = _int_value(wsf.get("Code"))
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
    _read_cim_error(d, detail)
    return detail


#: Instance elements that are a CIM_Error (or WMI's older __ExtendedStatus)
#: even without ``wsmb:IsCIM_Error="true"``.
_CIM_ERROR_CLASSES = frozenset({"MSFT_WmiError", "__ExtendedStatus", "OMI_Error", "CIM_Error"})


def _read_cim_error(fault_detail: etree._Element, detail: FaultDetail) -> None:
    """Fill ``detail`` from the CIM_Error instance below ``s:Detail``, if any.

    DSP0227 (CIM binding) lets a fault carry the CIM_Error instance of the
    failure, marked ``wsmb:IsCIM_Error="true"``. Windows sends MSFT_WmiError
    directly in the Detail (corpus winrb-fault-quotalimit-msft-wmierror.xml)
    or __ExtendedStatus inside ``f:ExtendedError``; OMI sends OMI_Error (its
    CIM_Error subclass: CIMStatusCode, Message, MessageID ``OMI:MI_Result:N``,
    OMI_Code, OMI_ErrorMessage...), or a provider's own CIM_Error subclass.
    Codes fill ``wsman_code`` (``error_Code``, or OMI's ``OMI_Code``) and
    ``cim_status_code``; the message fills ``wsman_message`` when the fault
    has no WSManFault message.
    """
    for el in fault_detail.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        local = tag.rpartition("}")[2]
        if local in _CIM_ERROR_CLASSES or (el.get(_B_IS_CIM_ERROR) or "").strip() == "true":
            value = element_to_value(el)
            if isinstance(value, dict):
                detail.wmi_error = value
                detail.cim_error_class = local
            break
    error = detail.wmi_error
    if not error:
        return
    if detail.wsman_code is None:
        detail.wsman_code = _int_value(error.get("error_Code"))
        if detail.wsman_code is None:
            detail.wsman_code = _int_value(error.get("OMI_Code"))
    detail.cim_status_code = _int_value(error.get("CIMStatusCode"))
    message_id = error.get("MessageID")
    if isinstance(message_id, str) and message_id.strip():
        detail.message_id = message_id.strip()
    if detail.wsman_message is None:
        for name in ("Message", "OMI_ErrorMessage", "error_WindowsErrorMessage"):
            msg = error.get(name)
            if isinstance(msg, str) and msg.strip():
                detail.wsman_message = _squash(msg)
                break


def _int_value(value: object) -> int | None:
    """A non-negative integer property value, or None (absent, nil, or not a number).

    The value is an ``int`` when the element said ``xsi:type="cim:cimUnsignedInt"``
    (as OMI_Error and MSFT_WmiError do), else its text.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only: str.isdigit() also takes superscripts and other
        # scripts' digits, which int() then refuses ("²") or reads ("١٢").
        if text.isascii() and text.isdigit():
            return int(text)
    return None


def fault_exception(detail: FaultDetail, http_status: int | None = None) -> WSManFault:
    """The :class:`WSManFault` subclass for a fault.

    * ``w:TimedOut`` or ERROR_WSMAN_OPERATION_TIMEDOUT -> OperationTimedOutFault (DSP0226 6.1);
    * ``InvalidEnumerationContext`` -> InvalidEnumerationContextFault (DSP0226 8.5);
    * ``w:QuotaLimit`` or an ERROR_WSMAN_QUOTA_* code -> QuotaExceededFault,
      ShellQuotaExceededFault for MaxShellsPerUser (2150859173),
      OperationQuotaExceededFault for MaxConcurrentOperationsPerUser (2150859174),
      CommandQuotaExceededFault for MaxConcurrentCommandsPerShell (2150859241,
      which Windows sends with subcode w:InternalError, pypsrp#148).
    """
    sub = detail.subcode
    cls: type[WSManFault] = WSManFault
    if sub == ns.FAULT_TIMED_OUT or detail.wsman_code == ns.CODE_OPERATION_TIMEDOUT:
        cls = OperationTimedOutFault
    elif sub == ns.FAULT_INVALID_ENUMERATION_CONTEXT:
        cls = InvalidEnumerationContextFault
    elif detail.wsman_code == ns.CODE_QUOTA_MAX_SHELLS:
        cls = ShellQuotaExceededFault
    elif detail.wsman_code == ns.CODE_QUOTA_MAX_OPERATIONS:
        cls = OperationQuotaExceededFault
    elif detail.wsman_code == ns.CODE_QUOTA_MAX_COMMANDS_PER_SHELL:
        cls = CommandQuotaExceededFault
    elif sub == ns.FAULT_QUOTA_LIMIT or detail.wsman_code in ns.CODES_QUOTA:
        cls = QuotaExceededFault
    return cls(detail, http_status=http_status)


def _same_id(a: str, b: str) -> bool:
    # UUIDs are case-insensitive (RFC 4122 3); servers echo them in either case.
    return a == b or a.lower() == b.lower()


def check_response(env: Envelope, request: Request, http_status: int = 200) -> None:
    """Raise if the envelope is a fault or does not answer ``request``.

    Correlation (WS-Addressing 2004/08, 3.3 "Formulating a Reply Message": a
    reply carries ``wsa:RelatesTo`` with the request's ``wsa:MessageID``): an
    answer must name the request it answers, so that an answer to another
    request -- say one a server pushed unasked on a kept-alive connection --
    is never taken for this one. What real servers send decides the exceptions (corpus):

    * every non-fault answer carries RelatesTo (Windows, OMI, iDRAC, AMT), so
      one without it is refused;
    * some Windows faults omit it -- w:QuotaLimit (raised before the request
      is processed, ``winrb-fault-quotalimit-msft-wmierror.xml``) and a:
      InvalidMessageInformationHeader for a request it could not read
      (``pywinrm-fault-invalid-body-no-relatesto.xml``) -- so a fault without
      RelatesTo is accepted, and one with a RelatesTo naming another message
      is refused like any answer;
    * Identify has no MessageID (DSP0226 11), so there is nothing to match:
      the transport's guard against unsolicited data covers it.

    Args:
        env: the parsed response.
        request: the request it answers.
        http_status: the HTTP status (WinRM sends faults with 400/500).

    Raises:
        WSManFault: (the right subclass) for a SOAP fault.
        ProtocolError: RelatesTo names another message, or a non-fault answer
            to a request with a MessageID has no RelatesTo.
        HTTPStatusError: an HTTP error status without a SOAP fault.
    """
    message_id = request.message_id
    if message_id:
        relates_to = env.relates_to
        if relates_to is not None:
            if not _same_id(relates_to, message_id):
                raise ProtocolError(
                    f"response RelatesTo {relates_to[:80]!r} does not match MessageID "
                    f"{message_id!r}: it answers another request"
                )
        elif env.fault is None:
            raise ProtocolError(
                "response has no RelatesTo, so it does not say which request it answers "
                f"(MessageID {message_id!r}); refused"
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
        extra: any other child elements, by local name (e.g. ``InitiatedConnection``,
            OMI's ``Capability_FaultIncludesCIMError``).
        soap_namespaced: the element was ``IdentifyResponse`` in the SOAP
            envelope namespace instead of ``wsmid`` -- OMI's shape.
    """

    protocol_version: str | None
    product_vendor: str | None
    product_version: str | None
    security_profiles: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    soap_namespaced: bool = False

    @property
    def is_omi(self) -> bool:
        """True when the service is OMI (Microsoft's Open Management Infrastructure).

        Told by OMI's own IdentifyResponse shape (:attr:`soap_namespaced`)
        or a vendor naming it.
        """
        vendor = (self.product_vendor or "").lower()
        return (
            self.soap_namespaced
            or "open management infrastructure" in vendor
            or "omi" in vendor.replace("(", " ").replace(")", " ").split()
        )

    @classmethod
    def from_element(cls, element: etree._Element) -> IdentifyResponse:
        """Read an IdentifyResponse element: ``wsmid:IdentifyResponse`` (DSP0226
        11), or OMI's ``soap:IdentifyResponse`` whose children are ``wsmid:``.

        Raises:
            ProtocolError: the element is not an IdentifyResponse.
        """
        soap_namespaced = element.tag == _ID_RESPONSE_SOAP
        if element.tag != _ID_RESPONSE and not soap_namespaced:
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
            soap_namespaced,
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


def _item(element: etree._Element, env: Envelope) -> Item:
    # One item per response: copied out of it if the response is mostly
    # something else (padding), so the item never keeps all of it alive.
    item = Item(element, cim_namespace=env.cim_namespace)
    detach_if_sparse((item,), len(env.raw))
    return item


def parse_get(env: Envelope) -> Item:
    """The resource of a GetResponse (the Body's first element).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: empty Body.
    """
    return _item(_require_body(env, "Get"), env)


def parse_put(env: Envelope) -> Item | None:
    """The updated resource of a PutResponse, or None when the Body is empty (DSP0226 7.4)."""
    if env.fault is not None:
        raise fault_exception(env.fault)
    first = env.first_body_element()
    return _item(first, env) if first is not None else None


@dataclass(frozen=True)
class CreateResult:
    """A CreateResponse: the new resource's reference and, if sent, its representation."""

    reference: EndpointReference
    item: Item | None = None


def created_reference(env: Envelope) -> tuple[etree._Element, EndpointReference]:
    """A CreateResponse's ``x:ResourceCreated`` element and the reference it holds.

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no ResourceCreated.
    """
    first = _require_body(env, "Create")
    if first.tag != _X_RESOURCE_CREATED:
        raise ProtocolError(f"CreateResponse without x:ResourceCreated (got {first.tag!r})")
    return first, epr_from_element(first, env.cim_namespace)


def parse_create(env: Envelope) -> CreateResult:
    """Parse a CreateResponse: ``x:ResourceCreated`` (DSP0226 7.5) plus the instance if any.

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no ResourceCreated.
    """
    first, reference = created_reference(env)
    item = None
    for sibling in first.itersiblings():
        if isinstance(sibling.tag, str):
            item = _item(sibling, env)
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
    return _item(_require_body(env, "Invoke"), env)


@dataclass
class EnumerationBatch:
    """One batch of an enumeration.

    Attributes:
        context: the EnumerationContext to Pull with next, or None.
        items: instances (:class:`Item`, with ``epr`` in object-and-EPR
            mode) or :class:`EndpointReference` objects in EPR mode.
        end_of_sequence: no more batches; do not Pull (nor Release).
        excess: the service sent more items than the ``max_elements`` asked
            for (a protocol violation; ``items`` then holds one too many).
    """

    context: str | None
    items: list[Item | EndpointReference]
    end_of_sequence: bool
    excess: bool = False


def parse_enumeration(env: Envelope, *, max_elements: int | None = None) -> EnumerationBatch:
    """Parse an EnumerateResponse or PullResponse (DSP0226 8.2, 8.4).

    Handles every shape in the corpus: ``wsman:Items``/``wsman:EndOfSequence``
    in optimized EnumerateResponses and ``wsen:`` ones in PullResponses; an
    empty context with EndOfSequence (done); the context after the Items
    (iDRAC); a context without Items (non-optimized AMT); Items plus a context
    and no EndOfSequence (Windows: keep pulling). A batch with no context left
    is the end even without EndOfSequence (there is nothing to pull with).

    Args:
        env: the response.
        max_elements: the ``MaxElements`` the request asked for. A service
            must not return more (DSP0226 8.2.3 for an optimized Enumerate,
            8.4 for Pull); at most ``max_elements + 1`` items are then read,
            enough for the caller to see the breach (``batch.excess``)
            without doing work for the rest of a hostile batch.

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
    namespace = env.cim_namespace
    limit = max_elements + 1 if max_elements is not None else None
    for child in first:
        tag = child.tag
        if tag == _N_CONTEXT:
            context = (child.text or "").strip() or None
        elif tag in (_W_ITEMS, _N_ITEMS):
            # Elements only (lxml skips comments and PIs in C), and none past
            # the bound: the per-item loop is the hot path of a big enumeration.
            elements: Iterator[etree._Element] = child.iterchildren(etree.Element)
            if limit is not None:
                elements = islice(elements, max(limit - len(items), 0))
            if next(child.iterchildren(_W_ITEM, _A_EPR), None) is None:
                # Instances only (EnumerateObject mode, the usual one): no tag
                # to read per item (lxml builds a new string for each .tag).
                items.extend([Item(el, cim_namespace=namespace) for el in elements])
            else:
                for el in elements:
                    etag = el.tag
                    if etag == _W_ITEM:
                        items.append(_object_and_epr(el, namespace))
                    elif etag == _A_EPR:
                        items.append(epr_from_element(el, namespace))
                    else:
                        items.append(Item(el, cim_namespace=namespace))
        elif tag in (_W_EOS, _N_EOS):
            eos = True
    excess = max_elements is not None and len(items) > max_elements
    if len(env.raw) > DETACH_SHARE * len(items):
        detach_if_sparse([i for i in items if isinstance(i, Item)], len(env.raw))
    return EnumerationBatch(context, items, eos or context is None, excess)


def _object_and_epr(wrapper: etree._Element, namespace: str | None) -> Item | EndpointReference:
    # w:Item holds the instance followed by its wsa:EndpointReference (DSP0226 8.7).
    instance: etree._Element | None = None
    epr: EndpointReference | None = None
    for el in wrapper:
        if not isinstance(el.tag, str):
            continue
        if el.tag == _A_EPR:
            epr = epr_from_element(el, namespace)
        elif instance is None:
            instance = el
    if instance is None:
        if epr is None:
            raise ProtocolError("w:Item with neither an instance nor an EPR")
        return epr
    return Item(instance, epr=epr, cim_namespace=namespace)
