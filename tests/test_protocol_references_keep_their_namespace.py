"""A reference read from the answer to a request addressed to a CIM namespace
addresses that namespace when used again.

OMI leaves ``__cimnamespace`` out of the EPRs it returns (corpus
``omi-enumerate-response-object-and-epr.xml`` answers a request for
``root/OMI``), and without it a request goes to OMI's default namespace.
"""

from __future__ import annotations

from pathlib import Path

from aiowsman.protocol import (
    EndpointReference,
    Item,
    RequestOptions,
    ResourceLocator,
    get_request,
    parse_create,
    parse_enumeration,
    parse_envelope,
    parse_get,
)
from aiowsman.protocol.locator import CIM_NAMESPACE_SELECTOR
from aiowsman.protocol.xml import parse_xml

CORPUS = Path(__file__).parent / "corpus"
CLASS_URI = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Identify"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"'
)


def epr_xml(selectors: str) -> str:
    return (
        f"<a:Address>{ANONYMOUS}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{CLASS_URI}</w:ResourceURI><w:SelectorSet>{selectors}</w:SelectorSet>"
        "</a:ReferenceParameters>"
    )


def envelope(body: str) -> bytes:
    return f"<s:Envelope {NS}><s:Header/><s:Body>{body}</s:Body></s:Envelope>".encode()


def test_enumerated_epr_without_namespace_gets_the_requests() -> None:
    data = (CORPUS / "omi-enumerate-response-object-and-epr.xml").read_bytes()
    (item,) = parse_enumeration(parse_envelope(data, cim_namespace="root/OMI")).items
    assert isinstance(item, Item) and item.epr is not None
    assert item.epr.cim_namespace == "root/OMI"
    assert item.epr.selectors["InstanceID"] == "2FDB5542-5896-45D5-9BE9-DC04430AAABE"


def test_a_request_without_namespace_leaves_references_as_sent() -> None:
    data = (CORPUS / "omi-enumerate-response-object-and-epr.xml").read_bytes()
    (item,) = parse_enumeration(parse_envelope(data)).items
    assert isinstance(item, Item) and item.epr is not None
    assert CIM_NAMESPACE_SELECTOR not in item.epr.selectors


def test_a_reference_naming_its_own_namespace_keeps_it() -> None:
    own = epr_xml(
        '<w:Selector Name="InstanceID">1</w:Selector>'
        '<w:Selector Name="__cimnamespace">root/dcim</w:Selector>'
    )
    body = f"<x:ResourceCreated>{own}</x:ResourceCreated>"
    created = parse_create(parse_envelope(envelope(body), cim_namespace="root/omi"))
    assert created.reference.cim_namespace == "root/dcim"


def test_resource_created_without_namespace_gets_the_requests() -> None:
    reference = epr_xml('<w:Selector Name="K">1</w:Selector>')
    body = f"<x:ResourceCreated>{reference}</x:ResourceCreated>"
    created = parse_create(parse_envelope(envelope(body), cim_namespace="root/cimv2"))
    assert created.reference.cim_namespace == "root/cimv2"


def test_reference_properties_of_an_item_get_the_requests_namespace() -> None:
    prop = epr_xml('<w:Selector Name="InstanceID">7</w:Selector>')
    body = f'<p:Assoc xmlns:p="urn:assoc"><p:Antecedent>{prop}</p:Antecedent></p:Assoc>'
    item = parse_get(parse_envelope(envelope(body), cim_namespace="root/omi"))
    assert item["Antecedent"].cim_namespace == "root/omi"


ENUM_NS = 'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"'
ASSOC = (
    '<p:Assoc xmlns:p="urn:assoc"><p:Antecedent>'
    + epr_xml('<w:Selector Name="InstanceID">7</w:Selector>')
    + "</p:Antecedent></p:Assoc>"
)


def enumerated(items: str) -> list[Item | EndpointReference]:
    body = (
        f"<n:EnumerateResponse {ENUM_NS}><n:EnumerationContext/><w:Items>{items}</w:Items>"
        "<w:EndOfSequence/></n:EnumerateResponse>"
    )
    return parse_enumeration(parse_envelope(envelope(body), cim_namespace="root/omi")).items


def test_reference_properties_of_enumerated_items_get_the_requests_namespace() -> None:
    (item,) = enumerated(ASSOC)
    assert isinstance(item, Item) and item["Antecedent"].cim_namespace == "root/omi"


def test_reference_properties_of_object_and_epr_items_get_the_requests_namespace() -> None:
    (item,) = enumerated(
        f"<w:Item>{ASSOC}<a:EndpointReference>{epr_xml('')}</a:EndpointReference></w:Item>"
    )
    assert isinstance(item, Item) and item["Antecedent"].cim_namespace == "root/omi"


def test_an_instance_beside_object_and_epr_items_gets_the_requests_namespace_too() -> None:
    wrapped = f"<w:Item>{ASSOC}<a:EndpointReference>{epr_xml('')}</a:EndpointReference></w:Item>"
    _, second = enumerated(wrapped + ASSOC)
    assert isinstance(second, Item) and second.epr is None
    assert second["Antecedent"].cim_namespace == "root/omi"


def test_a_reference_used_again_addresses_its_namespace() -> None:
    epr = EndpointReference(ANONYMOUS, CLASS_URI, {"InstanceID": "1"}).in_namespace("root/omi")
    request = get_request(RequestOptions(to="http://h/wsman"), epr.to_locator())
    header = parse_xml(request.body)
    selectors = {
        s.get("Name"): s.text
        for s in header.iter("{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}Selector")
    }
    assert selectors == {"__cimnamespace": "root/omi", "InstanceID": "1"}
    assert request.cim_namespace == "root/omi"


def test_nested_references_in_selectors_get_the_namespace_too() -> None:
    inner = EndpointReference(ANONYMOUS, CLASS_URI, {"InstanceID": "1"})
    outer = EndpointReference(ANONYMOUS, CLASS_URI, {"Ref": inner}).in_namespace("root/omi")
    nested = outer.selectors["Ref"]
    assert isinstance(nested, EndpointReference) and nested.cim_namespace == "root/omi"


def test_completing_a_complete_reference_changes_nothing() -> None:
    epr = EndpointReference(ANONYMOUS, CLASS_URI, {"__cimnamespace": "a", "K": "1"})
    assert epr.in_namespace("b") is epr
    assert epr.in_namespace(None) is epr


def test_an_item_pickled_keeps_its_namespace_for_its_references() -> None:
    import pickle

    prop = epr_xml('<w:Selector Name="InstanceID">7</w:Selector>')
    element = parse_xml(
        f'<p:Assoc xmlns:p="urn:assoc" {NS}><p:Antecedent>{prop}</p:Antecedent></p:Assoc>'.encode()
    )
    item = pickle.loads(pickle.dumps(Item(element, cim_namespace="root/omi")))
    assert item["Antecedent"].cim_namespace == "root/omi"


def test_a_locator_reports_its_namespace() -> None:
    assert ResourceLocator(CLASS_URI, __cimnamespace="root/omi").cim_namespace == "root/omi"
    assert ResourceLocator(CLASS_URI).cim_namespace is None
