"""ResourceLocator and EndpointReference: aliases, selectors, options, EPRs."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError

import pytest
from lxml import etree

from aiowsman.protocol import (
    EndpointReference,
    Option,
    ResourceLocator,
    expand_resource_uri,
    parse_xml,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.locator import epr_from_element

SERVICE = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"


@pytest.mark.parametrize(
    ("alias", "uri"),
    [
        ("wmicimv2/Win32_Service", SERVICE),
        ("WMICIMV2/Win32_Service", SERVICE),
        ("wmicimv2/*", "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*"),
        (
            "wmi/root/default/StdRegProv",
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/default/StdRegProv",
        ),
        ("cimv2/CIM_Processor", "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Processor"),
        ("winrm/config", "http://schemas.microsoft.com/wbem/wsman/1/config"),
        ("winrm/config/Listener", "http://schemas.microsoft.com/wbem/wsman/1/config/Listener"),
        ("wsman/config", "http://schemas.microsoft.com/wbem/wsman/1/config"),
        ("shell/cmd", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"),
        (SERVICE, SERVICE),
        ("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings",) * 2,
        ("unknown/thing", "unknown/thing"),
    ],
)
def test_expand_resource_uri(alias: str, uri: str) -> None:
    assert expand_resource_uri(alias) == uri


def test_query_string_becomes_selectors() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service?Name=WinRM&Other=x=y")
    assert loc.resource_uri == SERVICE
    assert loc.selectors == {"Name": "WinRM", "Other": "x=y"}


def test_selectors_from_mapping_and_keywords() -> None:
    loc = ResourceLocator(SERVICE, {"Name": "WinRM"}, Port=5985, Enabled=True)
    assert loc.selectors == {"Name": "WinRM", "Port": "5985", "Enabled": "true"}


def test_add_and_clear_selectors() -> None:
    loc = ResourceLocator(SERVICE)
    loc.add_selector("Name", "WinRM")
    loc.add_selector("Name", "Spooler")
    assert loc.selectors == {"Name": "Spooler"}
    loc.clear_selectors()
    assert loc.selectors == {}


def test_selector_value_of_unsupported_type_is_refused() -> None:
    with pytest.raises(TypeError):
        ResourceLocator(SERVICE, Name=["a"])


def test_options_add_clear_and_must_understand() -> None:
    loc = ResourceLocator(SERVICE, options={"a": 1})
    assert loc.options == [Option("a", "1")]
    assert not loc.options_must_understand
    loc.add_option("b", None, must_comply=True)
    assert loc.options[-1] == Option("b", None, True)
    assert loc.options_must_understand
    loc.clear_options()
    assert loc.options == [] and not loc.options_must_understand


def test_fragment_path_and_dialect() -> None:
    loc = ResourceLocator(
        "winrm/config", fragment="MaxEnvelopeSizekb", fragment_dialect=ns.DIALECT_XPATH
    )
    assert loc.fragment_path == "MaxEnvelopeSizekb"
    assert loc.fragment_dialect == ns.DIALECT_XPATH


def test_coerce_accepts_string_locator_and_epr() -> None:
    loc = ResourceLocator(SERVICE)
    assert ResourceLocator.coerce(loc) is loc
    assert ResourceLocator.coerce("winrm/config").resource_uri == ns.NS_WINRM_CONFIG
    epr = EndpointReference(None, SERVICE, {"Name": "WinRM"})
    assert ResourceLocator.coerce(epr) == ResourceLocator(SERVICE, Name="WinRM")
    with pytest.raises(TypeError):
        ResourceLocator.coerce(42)  # type: ignore[arg-type]


def test_copy_is_independent() -> None:
    loc = ResourceLocator(SERVICE, Name="WinRM")
    other = loc.copy()
    other.add_selector("X", "1")
    assert "X" not in loc.selectors and other == ResourceLocator(SERVICE, Name="WinRM", X="1")


def test_repr_shows_uri_selectors_and_options() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service?Name=WinRM")
    loc.add_option("o", "v", must_comply=True)
    text = repr(loc)
    assert SERVICE in text and "'Name': 'WinRM'" in text and "must comply" in text


def test_endpoint_reference_is_frozen_hashable_and_picklable() -> None:
    inner = EndpointReference(None, SERVICE, {"Name": "WinRM"})
    epr = EndpointReference(ns.ADDRESS_ANONYMOUS, "urn:assoc", {"Antecedent": inner, "K": "v"})
    with pytest.raises(AttributeError):
        epr.address = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        epr.selectors["K"] = "w"  # type: ignore[index]
    assert hash(epr) == hash(pickle.loads(pickle.dumps(epr)))
    assert pickle.loads(pickle.dumps(epr)) == epr
    assert epr.to_locator().selectors == {"Antecedent": inner, "K": "v"}


def test_endpoint_reference_repr() -> None:
    assert repr(EndpointReference(None, SERVICE, {"Name": "WinRM"})) == (
        f"EndpointReference({SERVICE!r}, {{Name='WinRM'}})"
    )


def test_copy_keeps_every_field_and_shares_no_list() -> None:
    loc = ResourceLocator(
        SERVICE,
        Name="WinRM",
        options={"o": "v"},
        fragment="Status",
        fragment_dialect=ns.DIALECT_XPATH,
        must_understand_options=True,
    )
    copied = loc.copy()
    assert copied == loc
    assert (copied.fragment_path, copied.fragment_dialect) == ("Status", ns.DIALECT_XPATH)
    assert copied.must_understand_options and copied.options == [Option("o", "v")]
    copied.add_option("p", "w")
    assert loc.options == [Option("o", "v")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resource_uri", "urn:other"),
        ("selectors", {"Name": "Spooler"}),
        ("options", [Option("o", "v")]),
        ("fragment_path", "Status"),
        ("fragment_dialect", "urn:d"),
        ("must_understand_options", True),
    ],
)
def test_locators_differing_in_one_field_are_not_equal(field: str, value: object) -> None:
    loc, other = ResourceLocator(SERVICE, Name="WinRM"), ResourceLocator(SERVICE, Name="WinRM")
    setattr(other, field, value)
    assert loc != other
    assert loc != SERVICE


def test_query_string_keys_are_stripped_and_empty_pairs_skipped() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service?&Name=WinRM&& Port =5985&Flag")
    assert loc.selectors == {"Name": "WinRM", "Port": "5985", "Flag": ""}


@pytest.mark.parametrize("alias", ["wmicimv2", "wmicimv2/", " wmicimv2 "])
def test_bare_alias_expands_to_its_base(alias: str) -> None:
    assert expand_resource_uri(alias) == "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"


def test_epr_to_locator_without_resource_uri_is_empty() -> None:
    assert EndpointReference(None, None).to_locator().resource_uri == ""


def test_repr_shows_the_fragment_and_plain_options() -> None:
    loc = ResourceLocator(SERVICE, fragment="Status", options={"o": "v"})
    assert repr(loc) == f"ResourceLocator({SERVICE!r}, options={{'o': 'v'}}, fragment='Status')"


def test_selectors_of_a_response_epr_may_themselves_be_eprs() -> None:
    data = (
        f'<a:EndpointReference xmlns:a="{ns.NS_ADDRESSING}" xmlns:w="{ns.NS_WSMAN}">'
        "<a:Address> urn:anon </a:Address><a:ReferenceParameters>"
        "<w:ResourceURI> urn:assoc </w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="Antecedent"><a:EndpointReference><a:Address>urn:anon</a:Address>'
        f"<a:ReferenceParameters><w:ResourceURI>{SERVICE}</w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="Name">WinRM</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        '</a:EndpointReference></w:Selector><w:Selector Name="K"> v </w:Selector>'
        "</w:SelectorSet></a:ReferenceParameters></a:EndpointReference>"
    ).encode()
    epr = epr_from_element(parse_xml(data))
    inner = EndpointReference("urn:anon", SERVICE, {"Name": "WinRM"})
    assert epr == EndpointReference("urn:anon", "urn:assoc", {"Antecedent": inner, "K": "v"})
    assert isinstance(epr.selectors["Antecedent"], EndpointReference)


def test_a_resource_uri_holding_a_scheme_anywhere_is_not_an_alias() -> None:
    assert expand_resource_uri("cimv2/x://y") == "cimv2/x://y"


def test_a_locator_built_from_nothing_has_an_empty_uri() -> None:
    assert ResourceLocator().resource_uri == ""


def epr_of(inner: str) -> EndpointReference:
    decls = f'xmlns:p="urn:p" xmlns:a="{ns.NS_ADDRESSING}" xmlns:w="{ns.NS_WSMAN}"'
    data = f"<p:Ref {decls}>{inner}</p:Ref>"
    return epr_from_element(parse_xml(data.encode()))


def test_epr_of_an_element_wrapping_an_endpoint_reference() -> None:
    assert epr_of(
        "<a:EndpointReference><a:Address>urn:anon</a:Address><a:ReferenceParameters>"
        "<w:ResourceURI>urn:r</w:ResourceURI></a:ReferenceParameters></a:EndpointReference>"
    ) == EndpointReference("urn:anon", "urn:r")


def test_epr_address_beside_a_wrapped_reference_is_read_from_the_element_itself() -> None:
    assert epr_of(
        "<a:Address>urn:outer</a:Address>"
        "<a:EndpointReference><a:Address>urn:inner</a:Address></a:EndpointReference>"
    ) == EndpointReference("urn:outer", None)


def test_epr_with_old_reference_properties_empty_values_and_a_nameless_selector() -> None:
    assert epr_of(
        "<a:Address/><a:ReferenceProperties><w:ResourceURI> urn:r </w:ResourceURI>"
        '<w:SelectorSet><w:Selector Name="K"/><w:Selector>v</w:Selector></w:SelectorSet>'
        "</a:ReferenceProperties>"
    ) == EndpointReference("", "urn:r", {"K": "", "": "v"})


def test_repr_lists_selectors_and_every_option() -> None:
    loc = ResourceLocator(SERVICE, Name="WinRM")
    loc.add_option("a", "1")
    loc.add_option("b", "2", must_comply=True)
    assert repr(loc) == (
        f"ResourceLocator({SERVICE!r}, selectors={{'Name': 'WinRM'}}, "
        "options={'a': '1', 'b': '2' (must comply)})"
    )
    epr = EndpointReference(None, SERVICE, {"A": "1", "B": "2"})
    assert repr(epr) == f"EndpointReference({SERVICE!r}, {{A='1', B='2'}})"


def test_a_locator_is_never_equal_to_something_else() -> None:
    loc = ResourceLocator(SERVICE)
    assert (loc == SERVICE) is False and (loc == 42) is False and (loc != 42) is True


def test_options_are_immutable_values() -> None:
    with pytest.raises(FrozenInstanceError):
        Option("a", "1").value = "2"  # type: ignore[misc]


def test_epr_with_an_empty_resource_uri() -> None:
    assert epr_of(
        "<a:ReferenceParameters><w:ResourceURI/></a:ReferenceParameters>"
    ) == EndpointReference(None, "")


def test_in_namespace_completes_nested_references_even_when_the_outer_one_has_a_namespace() -> None:
    inner = EndpointReference(None, "urn:b", {"K": "v"})
    outer = EndpointReference(None, "urn:a", {"__cimnamespace": "root/x", "Ref": inner})
    completed = outer.in_namespace("root/cimv2")
    assert completed.selectors["__cimnamespace"] == "root/x"
    assert completed.selectors["Ref"] == EndpointReference(
        None, "urn:b", {"__cimnamespace": "root/cimv2", "K": "v"}
    )
    done = EndpointReference(None, "urn:a", {"__cimnamespace": "root/x"})
    assert done.in_namespace("root/cimv2") is done and outer.in_namespace(None) is outer


def test_selectors_after_a_comment_in_an_element_built_by_lxml_are_read() -> None:
    # epr_from_element takes any lxml element; etree.fromstring keeps comments
    # (parse_xml, which reads responses, drops them).
    element = etree.fromstring(
        f'<a:EndpointReference xmlns:a="{ns.NS_ADDRESSING}" xmlns:w="{ns.NS_WSMAN}">'
        "<a:ReferenceParameters><w:ResourceURI>urn:r</w:ResourceURI><w:SelectorSet>"
        '<!-- c --><w:Selector Name="K">v</w:Selector><?pi x?><w:Selector Name="L">w</w:Selector>'
        "</w:SelectorSet></a:ReferenceParameters></a:EndpointReference>"
    )
    assert epr_from_element(element) == EndpointReference(None, "urn:r", {"K": "v", "L": "w"})


def test_selectors_of_an_endpoint_reference_read_as_a_dict() -> None:
    selectors = EndpointReference(None, "urn:r", {"K": "v"}).selectors
    assert repr(selectors) == "{'K': 'v'}"
    assert selectors == {"K": "v"}


def test_selectors_are_not_equal_to_what_is_not_a_mapping() -> None:
    selectors = EndpointReference(None, "urn:r", {"K": "v"}).selectors
    assert (selectors == "K") is False and (selectors == ["K"]) is False
    assert (selectors != "K") is True
