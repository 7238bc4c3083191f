"""Envelope parsing, check_response and the enumeration shapes not in the corpus."""

from __future__ import annotations

import pytest

from aiowsman.errors import (
    HTTPStatusError,
    InvalidEnumerationContextFault,
    OperationTimedOutFault,
    ProtocolError,
    QuotaExceededFault,
    WSManFault,
)
from aiowsman.protocol import (
    EndpointReference,
    Item,
    Request,
    check_response,
    parse_create,
    parse_enumeration,
    parse_envelope,
    parse_invoke,
    parse_put,
)

NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"'
)
MID = "uuid:11111111-2222-3333-4444-555555555555"
REQUEST = Request("Pull", "x", MID, b"")


def envelope(body: str, relates_to: str | None = MID, action: str = "urn:act") -> bytes:
    rel = f"<a:RelatesTo>{relates_to}</a:RelatesTo>" if relates_to is not None else ""
    return (
        f"<s:Envelope {NS}><s:Header><a:Action>{action}</a:Action>{rel}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(subcode: str, code: int | None = None) -> str:
    detail = (
        f'<s:Detail><f:WSManFault Code="{code}" Machine="m"><f:Message>msg</f:Message>'
        "</f:WSManFault></s:Detail>"
        if code is not None
        else ""
    )
    return (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>"
        f"<s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
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


def test_relates_to_comparison_ignores_uuid_case() -> None:
    env = parse_envelope(envelope("<n:PullResponse/>", relates_to=MID.lower()))
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


def test_invoke_with_empty_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_invoke(parse_envelope(envelope("")))
