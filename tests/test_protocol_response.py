"""Envelope parsing, check_response and the enumeration shapes not in the corpus."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from lxml import etree

from aiowsman.errors import (
    CommandQuotaExceededFault,
    HTTPStatusError,
    InvalidEnumerationContextFault,
    OperationQuotaExceededFault,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    WSManFault,
)
from aiowsman.protocol import (
    CreateResult,
    EndpointReference,
    EnumerationBatch,
    Envelope,
    IdentifyResponse,
    Item,
    Request,
    check_response,
    fault_exception,
    parse_create,
    parse_enumeration,
    parse_envelope,
    parse_identify,
    parse_invoke,
    parse_put,
    parse_xml,
)
from aiowsman.protocol import namespaces as ns

NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"'
)
#: A MessageID with hex letters: only such an ID can show a case-sensitive comparison.
MID = "uuid:A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D"
REQUEST = Request("Pull", "x", MID, b"")


def envelope(body: str, relates_to: str | None = MID, action: str = "urn:act") -> bytes:
    rel = f"<a:RelatesTo>{relates_to}</a:RelatesTo>" if relates_to is not None else ""
    return (
        f"<s:Envelope {NS}><s:Header><a:Action>{action}</a:Action>{rel}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(subcode: str | None, code: int | str | None = None) -> str:
    sub = f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>" if subcode else ""
    detail = (
        f'<s:Detail><f:WSManFault Code="{code}" Machine="m"><f:Message>msg</f:Message>'
        "</f:WSManFault></s:Detail>"
        if code is not None
        else ""
    )
    return (
        f"<s:Fault><s:Code><s:Value>s:Receiver</s:Value>{sub}</s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">reason</s:Text></s:Reason>{detail}</s:Fault>'
    )


def test_header_values_are_read_by_namespace_and_stripped() -> None:
    data = (
        '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:z="http://schemas.xmlsoap.org/ws/2004/08/addressing"><e:Header>'
        f"<z:Action>\n  urn:act \n</z:Action><z:RelatesTo> {MID} </z:RelatesTo>"
        "<z:MessageID>uuid:m</z:MessageID></e:Header><e:Body/></e:Envelope>"
    ).encode()
    env = parse_envelope(data)
    assert (env.action, env.relates_to, env.message_id) == ("urn:act", MID, "uuid:m")
    assert env.fault is None and env.first_body_element() is None


def test_relates_to_mismatch_is_a_protocol_error() -> None:
    env = parse_envelope(envelope("<n:PullResponse/>", relates_to="uuid:other"))
    with pytest.raises(ProtocolError, match="RelatesTo"):
        check_response(env, REQUEST, 200)


def test_fault_without_relates_to_is_still_raised() -> None:
    env = parse_envelope(envelope(fault("w:InternalError"), relates_to=None))
    with pytest.raises(WSManFault) as info:
        check_response(env, REQUEST, 500)
    assert info.value.fault.relates_to is None and info.value.reason == "reason"


def test_http_error_without_fault_is_an_http_status_error() -> None:
    env = parse_envelope(envelope("<n:PullResponse/>"))
    with pytest.raises(HTTPStatusError) as info:
        check_response(env, REQUEST, 500)
    assert info.value.status == 500


def test_timed_out_fault_on_pull_is_operation_timed_out() -> None:
    # Corpus gap: a w:TimedOut answering a Pull. Same body as on Receive.
    env = parse_envelope(envelope(fault("w:TimedOut", 2150858793)))
    with pytest.raises(OperationTimedOutFault) as info:
        check_response(env, REQUEST, 500)
    assert info.value.wsman_code == 2150858793 and info.value.machine == "m"


def test_invalid_enumeration_context_fault() -> None:
    env = parse_envelope(envelope(fault("n:InvalidEnumerationContext")))
    with pytest.raises(InvalidEnumerationContextFault) as info:
        check_response(env, REQUEST, 500)
    assert info.value.fault.subcode_namespace == "http://schemas.xmlsoap.org/ws/2004/09/enumeration"


def test_quota_code_without_quota_subcode_is_quota_exceeded() -> None:
    # ERROR_WSMAN_QUOTA_MAX_OPERATIONS (MaxConcurrentOperationsPerUser exceeded).
    env = parse_envelope(envelope(fault("w:InternalError", 2150859174)))
    with pytest.raises(QuotaExceededFault):
        check_response(env, REQUEST, 500)


def test_subcode_with_undeclared_prefix_keeps_its_local_name() -> None:
    env = parse_envelope(envelope(fault("zz:Odd")))
    assert env.fault is not None
    assert env.fault.subcode == "Odd" and env.fault.subcode_namespace is None


def test_epr_mode_items_are_endpoint_references() -> None:
    body = (
        "<n:EnumerateResponse><n:EnumerationContext/><w:Items>"
        "<a:EndpointReference><a:Address>urn:anon</a:Address><a:ReferenceParameters>"
        "<w:ResourceURI>urn:r</w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="Name">WinRM</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters></a:EndpointReference>"
        "</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
    )
    batch = parse_enumeration(parse_envelope(envelope(body)))
    assert batch.items == [EndpointReference("urn:anon", "urn:r", {"Name": "WinRM"})]
    assert batch.end_of_sequence and batch.context is None


def test_context_after_items_is_read() -> None:
    body = (
        "<n:PullResponse><n:Items><x:A xmlns:x='urn:x'><x:B>1</x:B></x:A></n:Items>"
        "<n:EnumerationContext>ctx-2</n:EnumerationContext></n:PullResponse>"
    )
    batch = parse_enumeration(parse_envelope(envelope(body)))
    assert batch.context == "ctx-2" and not batch.end_of_sequence
    (item,) = batch.items
    assert isinstance(item, Item) and item["B"] == "1"


def test_pull_response_without_context_or_end_of_sequence_ends() -> None:
    body = "<n:PullResponse><n:Items/></n:PullResponse>"
    batch = parse_enumeration(parse_envelope(envelope(body)))
    assert batch.end_of_sequence and batch.items == []


def test_unexpected_body_for_enumeration_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_enumeration(parse_envelope(envelope("<x:Other xmlns:x='urn:x'/>")))
    with pytest.raises(ProtocolError):
        parse_enumeration(parse_envelope(envelope("")))


def test_create_without_resource_created_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_create(parse_envelope(envelope("<x:Other xmlns:x='urn:x'/>")))


def test_put_with_empty_body_returns_none() -> None:
    assert parse_put(parse_envelope(envelope(""))) is None


def test_invoke_with_empty_body_is_a_protocol_error_naming_invoke() -> None:
    with pytest.raises(ProtocolError, match=r"(^|\W)Invoke response has an empty Body"):
        parse_invoke(parse_envelope(envelope("")))


# -- RelatesTo, status and fault classes, rule by rule ----------------------------

TIMED_OUT = ns.CODE_OPERATION_TIMEDOUT


def raised(body: str, relates_to: str | None = MID) -> WSManFault:
    env = parse_envelope(envelope(body, relates_to))
    with pytest.raises(WSManFault) as info:
        check_response(env, REQUEST, 500)
    return info.value


# -- RelatesTo ----------------------------------------------------------------


@pytest.mark.parametrize(
    "relates_to", [MID, MID.lower(), "uuid:a1b2c3d4-E5F6-4a7b-8C9D-0e1f2a3b4c5d"]
)
def test_relates_to_matches_the_message_id_in_any_letter_case(relates_to: str) -> None:
    check_response(parse_envelope(envelope("<n:PullResponse/>", relates_to)), REQUEST, 200)


def test_relates_to_naming_another_message_is_refused_whatever_the_case() -> None:
    other = "uuid:A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5E"
    with pytest.raises(ProtocolError, match="RelatesTo"):
        check_response(parse_envelope(envelope("<n:PullResponse/>", other.lower())), REQUEST)


def test_identify_request_has_no_message_id_so_any_relates_to_is_accepted() -> None:
    env = parse_envelope(envelope("<n:PullResponse/>", "uuid:whatever"))
    check_response(env, Request("Identify", "", "", b""), 200)


def test_success_status_range_is_200_to_299() -> None:
    env = parse_envelope(envelope("<n:PullResponse/>"))
    check_response(env, REQUEST, 299)
    for status in (199, 300):
        with pytest.raises(HTTPStatusError):
            check_response(env, REQUEST, status)


# -- fault classes: each rule alone -----------------------------------------------


@pytest.mark.parametrize(
    ("subcode", "code", "cls"),
    [
        ("w:TimedOut", None, OperationTimedOutFault),
        ("w:InternalError", str(TIMED_OUT), OperationTimedOutFault),
        (None, str(TIMED_OUT), OperationTimedOutFault),
        ("n:InvalidEnumerationContext", None, InvalidEnumerationContextFault),
        ("w:QuotaLimit", None, QuotaExceededFault),
        ("w:InternalError", "2150859174", OperationQuotaExceededFault),
        # MaxConcurrentCommandsPerShell (wsmerror.h 0x803381E9), also under w:QuotaLimit.
        ("w:InternalError", "2150859241", CommandQuotaExceededFault),
        ("w:QuotaLimit", "2150859241", CommandQuotaExceededFault),
        ("w:InternalError", None, WSManFault),
        ("w:InternalError", "5", WSManFault),
    ],
)
def test_fault_class_from_subcode_or_wsman_code_alone(
    subcode: str | None, code: str | None, cls: type[WSManFault]
) -> None:
    exc = raised(fault(subcode, code))
    assert type(exc) is cls
    assert exc.http_status == 500
    assert fault_exception(exc.fault).__class__ is cls


@pytest.mark.parametrize("code", ["abc", "²", "١٢", "-5", "0x80338029", "1e3", ""])
def test_non_numeric_wsman_code_is_no_code_not_a_value_error(code: str) -> None:
    exc = raised(fault("w:InternalError", code))
    assert type(exc) is WSManFault
    assert exc.wsman_code is None and exc.machine == "m"


def test_padded_numeric_wsman_code_is_read() -> None:
    assert raised(fault("w:InternalError", f" {TIMED_OUT} ")).wsman_code == TIMED_OUT


@pytest.mark.parametrize("code", ["²", "abc"])
def test_non_numeric_wmi_error_code_is_no_code(code: str) -> None:
    detail = (
        '<s:Detail><p:MSFT_WmiError xmlns:p="urn:wmi">'
        f"<p:error_Code>{code}</p:error_Code><p:Message>m</p:Message>"
        "</p:MSFT_WmiError></s:Detail>"
    )
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>"
        f"<s:Reason><s:Text>r</s:Text></s:Reason>{detail}</s:Fault>"
    )
    exc = raised(body)
    assert exc.wsman_code is None and exc.fault.wsman_message == "m"


# -- enumeration items in object-and-EPR mode (DSP0226 8.7) ------------------------

EPR_XML = (
    "<a:EndpointReference><a:Address>urn:anon</a:Address><a:ReferenceParameters>"
    "<w:ResourceURI>urn:r</w:ResourceURI><w:SelectorSet><w:Selector Name='K'>v</w:Selector>"
    "</w:SelectorSet></a:ReferenceParameters></a:EndpointReference>"
)


def items_of(wrapped: str) -> list[Item | EndpointReference]:
    body = (
        f"<n:EnumerateResponse><n:EnumerationContext/><w:Items>{wrapped}</w:Items>"
        "<w:EndOfSequence/></n:EnumerateResponse>"
    )
    return parse_enumeration(parse_envelope(envelope(body))).items


def test_object_and_epr_item_is_the_instance_with_its_epr() -> None:
    (item,) = items_of(f"<w:Item><x:A xmlns:x='urn:x'><x:B>1</x:B></x:A>{EPR_XML}</w:Item>")
    assert isinstance(item, Item) and item.name == "A" and item["B"] == "1"
    assert item.epr == EndpointReference("urn:anon", "urn:r", {"K": "v"})


def test_object_and_epr_item_with_only_an_epr_is_that_epr() -> None:
    (item,) = items_of(f"<w:Item><!-- no instance -->{EPR_XML}</w:Item>")
    assert item == EndpointReference("urn:anon", "urn:r", {"K": "v"})


def test_object_and_epr_item_keeps_the_first_instance_element() -> None:
    (item,) = items_of(f"<w:Item><x:A xmlns:x='urn:x'/><x:C xmlns:x='urn:x'/>{EPR_XML}</w:Item>")
    assert isinstance(item, Item) and item.name == "A"


def test_object_and_epr_item_with_neither_instance_nor_epr_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="neither"):
        items_of("<w:Item></w:Item>")


def test_empty_context_without_end_of_sequence_ends_the_enumeration() -> None:
    body = (
        "<n:EnumerateResponse><n:EnumerationContext> </n:EnumerationContext></n:EnumerateResponse>"
    )
    batch = parse_enumeration(parse_envelope(envelope(body)))
    assert batch.context is None and batch.end_of_sequence


def test_pull_response_with_wsen_end_of_sequence_and_a_context_ends() -> None:
    body = (
        "<n:PullResponse><n:EnumerationContext>ctx</n:EnumerationContext>"
        "<n:Items/><n:EndOfSequence/></n:PullResponse>"
    )
    batch = parse_enumeration(parse_envelope(envelope(body)))
    assert batch.context == "ctx" and batch.end_of_sequence


# -- Identify (DSP0226 11) -----------------------------------------------------------

ID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"


def test_identify_response_fields_profiles_and_extras() -> None:
    data = (
        f'<s:Envelope {NS}><s:Header/><s:Body><i:IdentifyResponse xmlns:i="{ID}">'
        "<i:ProtocolVersion> http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd </i:ProtocolVersion>"
        "<i:ProductVendor>Microsoft Corporation</i:ProductVendor>"
        "<i:ProductVersion>OS: 10.0.17763 SP: 0.0 Stack: 3.0</i:ProductVersion>"
        "<i:SecurityProfiles><!-- c --><i:SecurityProfileName> "
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic </i:SecurityProfileName>"
        "<i:SecurityProfileName>"
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
        "</i:SecurityProfileName></i:SecurityProfiles>"
        "<!-- comment --><i:InitiatedConnection> true </i:InitiatedConnection>"
        "</i:IdentifyResponse></s:Body></s:Envelope>"
    ).encode()
    result = parse_identify(parse_envelope(data))
    assert result == IdentifyResponse(
        "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
        "Microsoft Corporation",
        "OS: 10.0.17763 SP: 0.0 Stack: 3.0",
        (
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic",
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos",
        ),
        {"InitiatedConnection": "true"},
    )


def test_identify_response_without_optional_fields() -> None:
    data = f'<s:Envelope {NS}><s:Body><i:IdentifyResponse xmlns:i="{ID}"/></s:Body></s:Envelope>'
    assert parse_identify(parse_envelope(data.encode())) == IdentifyResponse(None, None, None)


def test_identify_answered_by_something_else_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="IdentifyResponse"):
        parse_identify(parse_envelope(envelope("<x:Other xmlns:x='urn:x'/>")))
    with pytest.raises(ProtocolError, match="empty"):
        parse_identify(parse_envelope(envelope("")))


def test_identify_answered_by_a_fault_raises_the_fault() -> None:
    with pytest.raises(WSManFault):
        parse_identify(parse_envelope(envelope(fault("w:AccessDenied"), relates_to=None)))


def test_fault_detail_uri_is_stripped_and_an_empty_one_is_empty() -> None:
    body = (
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Detail><w:FaultDetail>\n"
        "  http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue \n"
        "</w:FaultDetail></s:Detail></s:Fault>"
    )
    exc = raised(body)
    assert (
        exc.fault.detail_text
        == "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue"
    )
    assert exc.fault.reason is None and exc.fault.code == "Sender"
    empty = body.replace(
        body[body.index("<w:FaultDetail>") : body.index("</s:Detail>")], "<w:FaultDetail/>"
    )
    assert raised(empty).fault.detail_text == ""


def test_message_id_is_stripped_and_an_empty_one_is_empty() -> None:
    head = "<a:MessageID>\n uuid:m \n</a:MessageID>"
    data = f"<s:Envelope {NS}><s:Header>{head}</s:Header><s:Body/></s:Envelope>".encode()
    assert parse_envelope(data).message_id == "uuid:m"
    empty = data.replace(head.encode(), b"<a:MessageID/>")
    assert parse_envelope(empty).message_id == ""


def test_the_content_type_charset_is_honoured() -> None:
    # A body that does not start with "<" is decoded by its declared charset.
    data = b"\n" + envelope("<n:PullResponse/>")
    assert parse_envelope(data, "application/soap+xml;charset=UTF-8").body is not None
    with pytest.raises(ProtocolError, match="charset"):
        parse_envelope(data, "application/soap+xml;charset=ISO-8859-1")


def test_wsman_message_keeps_the_text_around_and_inside_nested_elements() -> None:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Detail>"
        '<f:WSManFault Code="1" Machine=" m "><f:Message>Before <f:Inner>inside</f:Inner> after'
        "<f:ExtendedError>not this</f:ExtendedError> end</f:Message></f:WSManFault>"
        "</s:Detail></s:Fault>"
    )
    exc = raised(body)
    assert exc.fault.wsman_message == "Before inside after end"
    assert exc.machine == "m"


def test_empty_addressing_headers_are_empty_text() -> None:
    head = "<a:Action/><a:RelatesTo/><a:MessageID/>"
    data = f"<s:Envelope {NS}><s:Header>{head}</s:Header><s:Body/></s:Envelope>".encode()
    env = parse_envelope(data)
    assert (env.action, env.relates_to, env.message_id) == ("", "", "")


@pytest.mark.parametrize(("attribute", "provider"), [("", None), (' provider=" WMI "', "WMI")])
def test_provider_name_is_stripped_and_a_missing_one_is_none(
    attribute: str, provider: str | None
) -> None:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Detail>"
        f'<f:WSManFault Code="1"><f:Message><f:ProviderFault{attribute}>p</f:ProviderFault>'
        "</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    fault = raised(body).fault
    assert fault.provider == provider and fault.provider_message == "p"


def test_the_first_structured_wmi_error_is_the_one_read() -> None:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Detail>"
        '<p:MSFT_WmiError xmlns:p="urn:a"><p:Message>first</p:Message></p:MSFT_WmiError>'
        '<q:__ExtendedStatus xmlns:q="urn:b"><q:Message>second</q:Message></q:__ExtendedStatus>'
        "</s:Detail></s:Fault>"
    )
    fault = raised(body).fault
    assert fault.wmi_error == {"Message": "first"} and fault.wsman_message == "first"


def test_results_are_immutable_values() -> None:
    with pytest.raises(FrozenInstanceError):
        IdentifyResponse(None, None, None).product_vendor = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        CreateResult(EndpointReference(None, None)).item = None  # type: ignore[misc]


def test_identify_reads_every_security_profiles_block_and_empty_values() -> None:
    data = (
        f'<s:Envelope {NS}><s:Body><i:IdentifyResponse xmlns:i="{ID}">'
        "<i:SecurityProfiles><i:SecurityProfileName>a</i:SecurityProfileName></i:SecurityProfiles>"
        "<i:SecurityProfiles><i:SecurityProfileName/></i:SecurityProfiles>"
        "<i:Extra/></i:IdentifyResponse></s:Body></s:Envelope>"
    ).encode()
    result = parse_identify(parse_envelope(data))
    assert result.security_profiles == ("a", "") and result.extra == {"Extra": ""}


def test_create_response_item_is_the_first_element_after_resource_created() -> None:
    body = (
        "<x:ResourceCreated xmlns:x='http://schemas.xmlsoap.org/ws/2004/09/transfer'>"
        "<a:Address>urn:anon</a:Address></x:ResourceCreated>"
        "<y:First xmlns:y='urn:y'/><y:Second xmlns:y='urn:y'/>"
    )
    result = parse_create(parse_envelope(envelope(body)))
    assert result.reference == EndpointReference("urn:anon", None)
    assert result.item is not None and result.item.name == "First"


def test_enumeration_context_is_stripped() -> None:
    body = "<n:PullResponse><n:EnumerationContext>\n ctx \n</n:EnumerationContext></n:PullResponse>"
    assert parse_enumeration(parse_envelope(envelope(body))).context == "ctx"


def test_check_response_assumes_200_when_no_status_is_given() -> None:
    env = parse_envelope(envelope(fault("w:InternalError")))
    with pytest.raises(WSManFault) as info:
        check_response(env, REQUEST)
    assert info.value.http_status == 200


# -- after issue 9: CIM error classes, their messages, OMI detection -----------------------


def cim_error_fault(inner: str, cls: str = "OMI_Error", attributes: str = "") -> WSManFault:
    detail = f'<s:Detail><p:{cls} xmlns:p="urn:e" {attributes}>{inner}</p:{cls}></s:Detail>'
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>"
        f"<s:Reason><s:Text>r</s:Text></s:Reason>{detail}</s:Fault>"
    )
    return raised(body)


@pytest.mark.parametrize("cls", ["MSFT_WmiError", "__ExtendedStatus", "OMI_Error", "CIM_Error"])
def test_every_cim_error_class_is_read(cls: str) -> None:
    fault = cim_error_fault("<p:MessageID> M1 </p:MessageID><p:Message>m</p:Message>", cls).fault
    assert fault.cim_error_class == cls and fault.wsman_message == "m"
    assert fault.message_id == "M1"


def test_any_class_marked_is_cim_error_is_read() -> None:
    attributes = f'xmlns:b="{ns.NS_WSMAN_CIMBINDING}" b:IsCIM_Error=" true "'
    fault = cim_error_fault("<p:Message>m</p:Message>", "Other_Error", attributes).fault
    assert fault.cim_error_class == "Other_Error" and fault.wsman_message == "m"


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("<p:OMI_ErrorMessage>omi</p:OMI_ErrorMessage>", "omi"),
        ("<p:error_WindowsErrorMessage>win</p:error_WindowsErrorMessage>", "win"),
        (
            "<p:Message xsi:nil='true' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'/>"
            "<p:OMI_ErrorMessage>omi</p:OMI_ErrorMessage>",
            "omi",
        ),
        ("<p:Message>first</p:Message><p:OMI_ErrorMessage>omi</p:OMI_ErrorMessage>", "first"),
        ("<p:Message> </p:Message><p:OMI_ErrorMessage>omi</p:OMI_ErrorMessage>", "omi"),
        ("<p:MessageID> </p:MessageID>", None),
    ],
)
def test_the_message_is_the_first_non_empty_of_the_cim_error_message_properties(
    inner: str, message: str | None
) -> None:
    fault = cim_error_fault(inner).fault
    assert fault.wsman_message == message and fault.message_id is None


def test_a_boolean_error_code_is_no_code() -> None:
    inner = (
        "<p:error_Code xsi:type='xs:boolean' xmlns:xs='http://www.w3.org/2001/XMLSchema' "
        "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>1</p:error_Code>"
    )
    assert cim_error_fault(inner).wsman_code is None


def test_a_fault_of_an_envelope_built_without_its_bytes_keeps_its_xml() -> None:
    root = parse_xml(envelope(fault("w:InternalError")))
    env = Envelope(root)
    assert env.root is root and env.fault is not None
    assert env.fault.raw_xml == etree.tostring(root)


@pytest.mark.parametrize(
    ("vendor", "omi"),
    [
        ("Open Management Infrastructure", True),
        ("Microsoft (OMI)", True),
        ("OMI", True),
        ("OMI(Linux)", True),
        ("Microsoft Corporation", False),
        ("Omicron", False),
        (None, False),
    ],
)
def test_is_omi_from_the_vendor(vendor: str | None, omi: bool) -> None:
    assert IdentifyResponse(None, vendor, None).is_omi is omi


def test_a_batch_made_without_saying_is_not_in_excess() -> None:
    assert EnumerationBatch(None, [], True).excess is False


def test_a_fault_with_empty_code_and_subcode_values_has_neither() -> None:
    body = (
        "<s:Fault><s:Code><s:Value/><s:Subcode><s:Value> </s:Value></s:Subcode></s:Code>"
        "<s:Reason><s:Text>r</s:Text></s:Reason></s:Fault>"
    )
    detail = raised(body).fault
    assert (detail.code, detail.subcode, detail.subcode_namespace) == (None, None, None)


TYPED_CODE = (
    "<p:{name} xsi:type='xs:int' xmlns:xs='http://www.w3.org/2001/XMLSchema' "
    "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>{text}</p:{name}>"
)


@pytest.mark.parametrize(("text", "code"), [("0", 0), ("2150858770", 2150858770), ("-5", None)])
def test_a_cim_error_code_typed_as_an_integer_is_read_and_a_negative_one_is_no_code(
    text: str, code: int | None
) -> None:
    fault = cim_error_fault(TYPED_CODE.format(name="error_Code", text=text))
    assert fault.wsman_code == code


@pytest.mark.parametrize(("text", "code"), [("0", 0), ("6", 6), ("-1", None)])
def test_a_cim_status_code_typed_as_an_integer_is_read(text: str, code: int | None) -> None:
    fault = cim_error_fault(TYPED_CODE.format(name="CIMStatusCode", text=text))
    assert fault.fault.cim_status_code == code


# -- trees built by hand: lxml keeps comments and PIs, which parse_xml drops ---------


def test_a_cim_error_after_a_comment_in_an_envelope_built_by_hand_is_read() -> None:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>r</s:Text>"
        "</s:Reason><s:Detail><!-- c --><p:OMI_Error xmlns:p='urn:e'><p:Message>m</p:Message>"
        "</p:OMI_Error></s:Detail></s:Fault>"
    )
    detail = Envelope(etree.fromstring(envelope(body))).fault
    assert detail is not None
    assert detail.cim_error_class == "OMI_Error" and detail.wsman_message == "m"


def test_an_identify_response_built_by_lxml_with_comments_is_read_whole() -> None:
    element = etree.fromstring(
        f'<i:IdentifyResponse xmlns:i="{ID}"><!-- c --><i:ProtocolVersion>v</i:ProtocolVersion>'
        "<?pi x?><i:ProductVendor>OMI</i:ProductVendor></i:IdentifyResponse>"
    )
    assert IdentifyResponse.from_element(element) == IdentifyResponse("v", "OMI", None)


def test_an_object_and_epr_item_after_a_comment_in_an_envelope_built_by_hand() -> None:
    body = (
        "<n:EnumerateResponse><n:EnumerationContext/><w:Items><w:Item><!-- c -->"
        f"<x:A xmlns:x='urn:x'><x:B>1</x:B></x:A>{EPR_XML}</w:Item></w:Items>"
        "<w:EndOfSequence/></n:EnumerateResponse>"
    )
    (item,) = parse_enumeration(Envelope(etree.fromstring(envelope(body)))).items
    assert isinstance(item, Item) and item.name == "A" and item["B"] == "1"
    assert item.epr == EndpointReference("urn:anon", "urn:r", {"K": "v"})
