"""Request builders: the headers a mature client sends, parsed back by namespace.

Every assertion reads the built envelope with lxml by namespace URI (never by
prefix). Property tests show that selector, option, filter and body values
containing XML metacharacters, quotes, ``]]>`` or any Unicode cannot change
an envelope's structure and come back exactly.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from aiowsman.errors import ConfigurationError
from aiowsman.protocol import (
    AssociationFilter,
    EndpointReference,
    EnumerationMode,
    Item,
    Polymorphism,
    Request,
    RequestOptions,
    ResourceLocator,
    create_request,
    delete_request,
    enumerate_request,
    envelope,
    get_request,
    identify_request,
    invoke_request,
    new_message_id,
    parse_xml,
    pull_request,
    put_request,
    release_request,
)
from aiowsman.protocol import namespaces as ns

S, A, W, N, P, B, X = (
    ns.NS_SOAP,
    ns.NS_ADDRESSING,
    ns.NS_WSMAN,
    ns.NS_ENUMERATION,
    ns.NS_WSMAN_MSFT,
    ns.NS_WSMAN_CIMBINDING,
    ns.NS_TRANSFER,
)
MU = f"{{{S}}}mustUnderstand"
CORPUS = Path(__file__).parent / "corpus"
OPTS = RequestOptions("https://host.example:5986/wsman")
SERVICE = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def parse(request: Request) -> etree._Element:
    """The request's envelope, checked to have no mixed content.

    WS-Man elements hold either text or child elements, never both: a
    stray character between tags (a template slip) is caught here, by every
    test that reads a request.
    """
    root = etree.fromstring(request.body)
    for el in root.iter():
        if len(el):
            assert not (el.text or "").strip(), f"text {el.text!r} before the children of {el.tag}"
        assert not (el.tail or "").strip(), f"text {el.tail!r} after {el.tag}"
    body = root.find(q(S, "Body"))
    assert body is not None and not (body.text or "").strip(), "text in the Body"
    return root


def header(request: Request, namespace: str, name: str) -> etree._Element:
    el = parse(request).find(f"{q(S, 'Header')}/{q(namespace, name)}")
    assert el is not None, name
    return el


def body_child(request: Request) -> etree._Element:
    body = parse(request).find(q(S, "Body"))
    assert body is not None and len(body) == 1
    return body[0]


# -- common headers -----------------------------------------------------------


def test_get_has_addressing_headers_with_must_understand() -> None:
    req = get_request(OPTS, ResourceLocator("wmicimv2/Win32_Service?Name=WinRM"))
    assert header(req, A, "To").text == OPTS.to
    assert header(req, A, "Action").text == ns.ACTION_GET
    assert header(req, A, "Action").get(MU) == "true"
    address = header(req, A, "ReplyTo").find(q(A, "Address"))
    assert address is not None
    assert address.text == ns.ADDRESS_ANONYMOUS and address.get(MU) == "true"
    assert header(req, A, "MessageID").text == req.message_id
    assert req.message_id.startswith("uuid:")


def test_resource_uri_is_expanded_and_must_be_understood() -> None:
    req = get_request(OPTS, ResourceLocator("wmicimv2/Win32_Service?Name=WinRM"))
    uri = header(req, W, "ResourceURI")
    assert uri.text == SERVICE and uri.get(MU) == "true"


def test_max_envelope_size_timeout_and_locales() -> None:
    opts = RequestOptions(
        OPTS.to, max_envelope_size=153600, operation_timeout=20, data_locale="de-DE"
    )
    req = get_request(opts, ResourceLocator("winrm/config"))
    size = header(req, W, "MaxEnvelopeSize")
    assert size.text == "153600" and size.get(MU) == "true"
    assert header(req, W, "OperationTimeout").text == "PT20.000S"
    locale = header(req, W, "Locale")
    assert locale.get(q(ns.NS_XML, "lang")) == "en-US" and locale.get(MU) == "false"
    data_locale = header(req, P, "DataLocale")
    assert data_locale.get(q(ns.NS_XML, "lang")) == "de-DE" and data_locale.get(MU) == "false"


def test_optional_headers_are_omitted_when_unset() -> None:
    opts = RequestOptions(OPTS.to, operation_timeout=None, locale=None)
    head = parse(get_request(opts, ResourceLocator("winrm/config"))).find(q(S, "Header"))
    assert head is not None
    assert head.find(q(W, "OperationTimeout")) is None
    assert head.find(q(W, "Locale")) is None
    assert head.find(q(P, "DataLocale")) is None
    assert head.find(q(W, "SelectorSet")) is None
    assert head.find(q(W, "OptionSet")) is None


def test_each_request_gets_a_fresh_message_id() -> None:
    loc = ResourceLocator("winrm/config")
    assert get_request(OPTS, loc).message_id != get_request(OPTS, loc).message_id


def test_negative_operation_timeout_is_refused() -> None:
    # WinRM faults on PT-1S (corpus pypsrp-fault-invalidmessageinformationheader).
    with pytest.raises(ConfigurationError):
        get_request(RequestOptions(OPTS.to, operation_timeout=-1), ResourceLocator("winrm/config"))


def test_selectors_options_and_fragment_headers() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service", Name="WinRM", fragment="Status")
    loc.add_option("msftwinrm:UsePreciseArrays", True, type="xs:boolean")
    req = get_request(OPTS, loc)
    sels = header(req, W, "SelectorSet").findall(q(W, "Selector"))
    assert [(s.get("Name"), s.text) for s in sels] == [("Name", "WinRM")]
    option_set = header(req, W, "OptionSet")
    assert option_set.get(MU) is None
    (opt,) = option_set.findall(q(W, "Option"))
    assert (opt.get("Name"), opt.get("Type"), opt.text) == (
        "msftwinrm:UsePreciseArrays",
        "xs:boolean",
        "true",
    )
    assert opt.get("MustComply") is None
    frag = header(req, W, "FragmentTransfer")
    assert frag.text == "Status" and frag.get(MU) == "true"


def test_option_that_must_comply_makes_the_option_set_must_understand() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service")
    loc.add_option("a", "1")
    loc.add_option("b", "2", must_comply=True)
    option_set = header(get_request(OPTS, loc), W, "OptionSet")
    assert option_set.get(MU) == "true"
    assert [o.get("MustComply") for o in option_set] == [None, "true"]


def test_must_understand_options_flag_alone_sets_must_understand() -> None:
    loc = ResourceLocator("wmicimv2/Win32_Service", options={"a": 1}, must_understand_options=True)
    assert header(get_request(OPTS, loc), W, "OptionSet").get(MU) == "true"


def test_locators_with_options_are_rendered_by_their_whole_content() -> None:
    # Rendered headers are cached by content; options are part of it, so a
    # locator never gets another one's OptionSet (nor loses its own).
    def option_set(loc: ResourceLocator) -> list[tuple[str | None, str | None]] | None:
        found = [el for el in header(get_request(OPTS, loc), W, "SelectorSet").itersiblings()]
        sets = [el for el in found if el.tag == f"{{{W}}}OptionSet"]
        if not sets:
            return None
        return [(o.get("Name"), o.text) for o in sets[0]] + [("mu", sets[0].get(MU))]

    def loc(**options: object) -> ResourceLocator:
        return ResourceLocator("wmicimv2/Win32_Service", {"Name": "W"}, options=options or None)

    for _ in range(2):  # the second round is served from the cache
        assert option_set(loc()) is None
        assert option_set(loc(a="1")) == [("a", "1"), ("mu", None)]
        assert option_set(loc(a="2")) == [("a", "2"), ("mu", None)]
        assert option_set(loc(b="1")) == [("b", "1"), ("mu", None)]
        strict = loc(a="1")
        strict.must_understand_options = True
        assert option_set(strict) == [("a", "1"), ("mu", "true")]


def test_fragment_dialect_is_sent() -> None:
    loc = ResourceLocator("winrm/config", fragment="MaxEnvelopeSizekb")
    loc.fragment_dialect = ns.DIALECT_FRAGMENT_XPATH_LEVEL1
    frag = header(get_request(OPTS, loc), W, "FragmentTransfer")
    assert frag.get("Dialect") == ns.DIALECT_FRAGMENT_XPATH_LEVEL1


def test_get_fragment_argument_overrides_the_locator() -> None:
    loc = ResourceLocator("winrm/config", fragment="A")
    assert header(get_request(OPTS, loc, fragment="B"), W, "FragmentTransfer").text == "B"


def test_nested_epr_selector_is_rendered_as_endpoint_reference() -> None:
    target = EndpointReference(None, SERVICE, {"Name": "WinRM"})
    req = get_request(OPTS, ResourceLocator("cimv2/CIM_X", Antecedent=target))
    sel = header(req, W, "SelectorSet").find(q(W, "Selector"))
    assert sel is not None and sel.get("Name") == "Antecedent"
    epr = sel.find(q(A, "EndpointReference"))
    assert epr is not None
    assert epr.findtext(q(A, "Address")) == ns.ADDRESS_ANONYMOUS
    assert epr.findtext(f"{q(A, 'ReferenceParameters')}/{q(W, 'ResourceURI')}") == SERVICE


# -- Identify -----------------------------------------------------------------


def test_identify_has_no_addressing_headers() -> None:
    req = identify_request()
    root = parse(req)
    head = root.find(q(S, "Header"))
    assert head is not None and len(head) == 0  # DSP0226 11
    body = root.find(q(S, "Body"))
    assert body is not None
    (child,) = body
    assert child.tag == q(ns.NS_WSMAN_IDENTITY, "Identify")
    assert req.operation == "Identify" and req.message_id == ""


# -- transfer operations --------------------------------------------------------


def test_get_and_delete_have_empty_bodies_and_their_actions() -> None:
    loc = ResourceLocator("winrm/config")
    for req, action in (
        (get_request(OPTS, loc), ns.ACTION_GET),
        (delete_request(OPTS, loc), ns.ACTION_DELETE),
    ):
        body = parse(req).find(q(S, "Body"))
        assert body is not None and len(body) == 0
        assert req.action == action


def test_put_mapping_renders_the_instance_in_the_resource_namespace() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    req = put_request(
        OPTS,
        ResourceLocator(SERVICE, Name="WinRM"),
        {
            "StartMode": "Auto",
            "Count": 3,
            "Enabled": False,
            "Ratio": 0.5,
            "Missing": None,
            "Tags": ["a", "b"],
            "When": when,
            "Every": timedelta(minutes=5),
            "Nested": {"Inner": "x"},
        },
    )
    inst = body_child(req)
    assert inst.tag == q(SERVICE, "Win32_Service")
    assert req.action == ns.ACTION_PUT

    def text(name: str) -> list[str | None]:
        return [e.text for e in inst.findall(q(SERVICE, name))]

    assert text("StartMode") == ["Auto"]
    assert text("Count") == ["3"]
    assert text("Enabled") == ["false"]
    assert text("Ratio") == ["0.5"]
    assert text("Tags") == ["a", "b"]
    missing = inst.find(q(SERVICE, "Missing"))
    assert missing is not None and missing.get(q(ns.NS_XSI, "nil")) == "true"
    assert (
        inst.findtext(f"{q(SERVICE, 'When')}/{q(ns.NS_CIM_COMMON, 'Datetime')}") == when.isoformat()
    )
    assert inst.findtext(f"{q(SERVICE, 'Every')}/{q(ns.NS_CIM_COMMON, 'Interval')}") == "PT5M"
    assert inst.findtext(f"{q(SERVICE, 'Nested')}/{q(SERVICE, 'Inner')}") == "x"


def test_put_item_sends_its_xml_unchanged() -> None:
    item = Item(parse_xml(b'<p:Config xmlns:p="urn:c"><p:A>1</p:A></p:Config>'))
    inst = body_child(put_request(OPTS, ResourceLocator("winrm/config"), item))
    assert inst.tag == "{urn:c}Config" and inst.findtext("{urn:c}A") == "1"


def test_put_raw_xml_is_validated_and_sent() -> None:
    raw = '<cfg:Config xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config"><cfg:MaxTimeoutms>1</cfg:MaxTimeoutms></cfg:Config>'
    inst = body_child(put_request(OPTS, ResourceLocator("winrm/config"), raw.encode()))
    assert inst.findtext(q(ns.NS_WINRM_CONFIG, "MaxTimeoutms")) == "1"


@pytest.mark.parametrize(
    "raw",
    [
        "<a>",
        "</s:Body><s:Body>",
        "<a/></s:Body>",
        "<a><?pi x?></a>",
        '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
        "text&",
    ],
)
def test_raw_xml_that_does_not_parse_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError):
        put_request(OPTS, ResourceLocator("winrm/config"), raw)


@pytest.mark.parametrize("name", ["a b", "1abc", "a<b", "", "xmlFoo", 'a"'])
def test_invalid_property_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError):
        put_request(OPTS, ResourceLocator(SERVICE), {name: "v"})


def test_unsupported_value_type_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        put_request(OPTS, ResourceLocator(SERVICE), {"A": object()})


def test_create_sends_the_resource_and_create_action() -> None:
    req = create_request(OPTS, ResourceLocator("winrm/config/Listener"), {"Port": 5985})
    assert req.action == ns.ACTION_CREATE
    assert (
        body_child(req).findtext(
            q("http://schemas.microsoft.com/wbem/wsman/1/config/Listener", "Port")
        )
        == "5985"
    )


def test_epr_valued_property_is_rendered_as_address_and_reference_parameters() -> None:
    epr = EndpointReference(None, SERVICE, {"Name": "WinRM"})
    inst = body_child(put_request(OPTS, ResourceLocator(SERVICE), {"Ref": epr}))
    ref = inst.find(q(SERVICE, "Ref"))
    assert ref is not None
    assert ref.findtext(q(A, "Address")) == ns.ADDRESS_ANONYMOUS
    sel = ref.find(f"{q(A, 'ReferenceParameters')}/{q(W, 'SelectorSet')}/{q(W, 'Selector')}")
    assert sel is not None and sel.text == "WinRM"


# -- Invoke ---------------------------------------------------------------------


def test_invoke_action_is_resource_uri_slash_method() -> None:
    req = invoke_request(OPTS, ResourceLocator(SERVICE, Name="WinRM"), "StopService")
    assert req.action == f"{SERVICE}/StopService"
    assert header(req, A, "Action").text == req.action
    inp = body_child(req)
    assert inp.tag == q(SERVICE, "StopService_INPUT") and len(inp) == 0


def test_invoke_parameters_go_into_method_input() -> None:
    uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/default/StdRegProv"
    req = invoke_request(
        OPTS, ResourceLocator(uri), "EnumKey", {"hDefKey": 2147483650, "sSubKeyName": "SOFTWARE"}
    )
    inp = body_child(req)
    assert inp.tag == q(uri, "EnumKey_INPUT")
    assert inp.findtext(q(uri, "hDefKey")) == "2147483650"
    assert inp.findtext(q(uri, "sSubKeyName")) == "SOFTWARE"


def test_invoke_with_full_action_uri() -> None:
    action = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Service/StartService"
    req = invoke_request(OPTS, ResourceLocator(SERVICE), action)
    assert req.action == action
    assert body_child(req).tag == q(SERVICE, "StartService_INPUT")


def test_invoke_refuses_a_bad_method_name() -> None:
    with pytest.raises(ConfigurationError):
        invoke_request(OPTS, ResourceLocator(SERVICE), "Stop Service")


# -- Enumerate / Pull / Release -------------------------------------------------


def enumerate_body(req: Request) -> etree._Element:
    el = body_child(req)
    assert el.tag == q(N, "Enumerate")
    return el


def test_enumerate_optimized_with_max_elements() -> None:
    req = enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), max_elements=20)
    body = enumerate_body(req)
    assert body.find(q(W, "OptimizeEnumeration")) is not None
    assert body.findtext(q(W, "MaxElements")) == "20"
    assert body.find(q(W, "EnumerationMode")) is None
    assert req.action == ns.ACTION_ENUMERATE


def test_enumerate_unoptimized_has_neither_optimize_nor_max_elements() -> None:
    body = enumerate_body(
        enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), optimize=False, max_elements=20)
    )
    assert body.find(q(W, "OptimizeEnumeration")) is None
    assert body.find(q(W, "MaxElements")) is None


@pytest.mark.parametrize(
    ("dialect", "uri"),
    [
        (None, ns.DIALECT_WQL),
        ("WQL", ns.DIALECT_WQL),
        ("cql", ns.DIALECT_CQL),
        ("XPath", ns.DIALECT_XPATH),
        ("association", ns.DIALECT_ASSOCIATION),
        ("selector", ns.DIALECT_SELECTOR),
        (ns.DIALECT_XPATH, ns.DIALECT_XPATH),
    ],
)
def test_enumerate_text_filter_dialects(dialect: str | None, uri: str) -> None:
    body = enumerate_body(
        enumerate_request(
            OPTS,
            ResourceLocator("wmicimv2/*"),
            filter="select * from Win32_Service",
            dialect=dialect,
        )
    )
    flt = body.find(q(W, "Filter"))
    assert flt is not None and flt.get("Dialect") == uri
    assert flt.text == "select * from Win32_Service"


def test_enumerate_selector_filter_is_a_selector_set() -> None:
    body = enumerate_body(
        enumerate_request(OPTS, ResourceLocator("shell/Command"), filter={"ShellId": "B6631D8E"})
    )
    flt = body.find(q(W, "Filter"))
    assert flt is not None and flt.get("Dialect") == ns.DIALECT_SELECTOR
    sel = flt.find(f"{q(W, 'SelectorSet')}/{q(W, 'Selector')}")
    assert sel is not None and (sel.get("Name"), sel.text) == ("ShellId", "B6631D8E")


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        (EnumerationMode.EPR, "EnumerateEPR"),
        (EnumerationMode.OBJECT_AND_EPR, "EnumerateObjectAndEPR"),
    ],
)
def test_enumerate_mode(mode: EnumerationMode, text: str) -> None:
    body = enumerate_body(enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), mode=mode))
    assert body.findtext(q(W, "EnumerationMode")) == text


@pytest.mark.parametrize(
    ("poly", "text"),
    [
        (Polymorphism.DEEP, "IncludeSubClassProperties"),
        (Polymorphism.SHALLOW, "None"),
        (Polymorphism.DEEP_BASE_PROPS_ONLY, "ExcludeSubClassProperties"),
    ],
)
def test_enumerate_polymorphism_mode_is_in_the_cim_binding_namespace(
    poly: Polymorphism, text: str
) -> None:
    body = enumerate_body(
        enumerate_request(OPTS, ResourceLocator("cimv2/CIM_Service"), polymorphism=poly)
    )
    assert body.findtext(q(B, "PolymorphismMode")) == text


def test_enumerate_associated_instances_filter() -> None:
    src = EndpointReference(None, SERVICE, {"Name": "WinRM"})
    af = AssociationFilter(
        src,
        association_class_name="Win32_DependentService",
        result_class_name="Win32_Service",
        role="Dependent",
        result_role="Antecedent",
        include_result_property=("Name", "State"),
    )
    body = enumerate_body(enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), association=af))
    flt = body.find(q(W, "Filter"))
    assert flt is not None and flt.get("Dialect") == ns.DIALECT_ASSOCIATION
    assoc = flt.find(q(B, "AssociatedInstances"))
    assert assoc is not None
    obj = assoc.find(q(B, "Object"))
    assert obj is not None
    assert obj.findtext(f"{q(A, 'ReferenceParameters')}/{q(W, 'ResourceURI')}") == SERVICE
    assert [c.tag.rpartition("}")[2] for c in assoc] == [
        "Object",
        "AssociationClassName",
        "Role",
        "ResultClassName",
        "ResultRole",
        "IncludeResultProperty",
        "IncludeResultProperty",
    ]
    assert assoc.findtext(q(B, "ResultRole")) == "Antecedent"


def test_enumerate_association_instances_filter() -> None:
    af = AssociationFilter(
        ResourceLocator(SERVICE, Name="WinRM"),
        instances=True,
        result_class_name="Win32_DependentService",
    )
    body = enumerate_body(enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), association=af))
    assoc = body.find(f"{q(W, 'Filter')}/{q(B, 'AssociationInstances')}")
    assert assoc is not None
    assert assoc.findtext(q(B, "ResultClassName")) == "Win32_DependentService"
    assert assoc.find(q(B, "ResultRole")) is None


def test_enumerate_refuses_filter_and_association_together() -> None:
    af = AssociationFilter(EndpointReference(None, SERVICE, {}))
    with pytest.raises(ConfigurationError):
        enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), filter="x", association=af)


@pytest.mark.parametrize("bad", [0, -1, True])
def test_max_elements_must_be_positive(bad: int) -> None:
    with pytest.raises(ConfigurationError):
        enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), max_elements=bad)


def test_pull_carries_context_and_max_elements() -> None:
    req = pull_request(OPTS, ResourceLocator("wmicimv2/*"), "uuid:CTX", max_elements=50)
    pull = body_child(req)
    assert pull.tag == q(N, "Pull") and req.action == ns.ACTION_PULL
    assert pull.findtext(q(N, "EnumerationContext")) == "uuid:CTX"
    assert pull.findtext(q(N, "MaxElements")) == "50"
    assert header(req, W, "ResourceURI").text == ns.URI_WMICIMV2 + "/*"


def test_release_carries_context() -> None:
    req = release_request(OPTS, ResourceLocator("wmicimv2/*"), "uuid:CTX")
    rel = body_child(req)
    assert rel.tag == q(N, "Release") and req.action == ns.ACTION_RELEASE
    assert rel.findtext(q(N, "EnumerationContext")) == "uuid:CTX"


def test_windows_client_request_shape_is_matched() -> None:
    # Same headers, in namespace terms, as corpus omi-enumerate-request-wql-epr-windows-client.xml.
    ref = parse_xml((CORPUS / "omi-enumerate-request-wql-epr-windows-client.xml").read_bytes())
    loc = ResourceLocator("http://schemas.dmtf.org/wbem/wscim/1/*", __cimnamespace="root/OMI")
    loc.add_option("msftwinrm:UsePreciseArrays", "true", type="xs:boolean")
    ours = parse(
        enumerate_request(
            RequestOptions(
                "https://157.59.84.237:7779/wsman", operation_timeout=None, data_locale="en-US"
            ),
            loc,
            filter="select * from OMI_Identify",
            mode=EnumerationMode.OBJECT_AND_EPR,
            max_elements=32000,
        )
    )

    def shape(root: etree._Element) -> set[tuple[str, str | None]]:
        head = root.find(q(S, "Header"))
        assert head is not None
        return {
            (el.tag, el.get(MU))
            for el in head.iter()
            if isinstance(el.tag, str) and el.tag.partition("}")[0][1:] in (A, W, S)
        }

    assert shape(ours) == shape(ref)

    def body_shape(root: etree._Element) -> list[tuple[str, str]]:
        enum = root.find(f"{q(S, 'Body')}/{q(N, 'Enumerate')}")
        assert enum is not None
        return [(c.tag, (c.text or "").strip()) for c in enum]

    assert body_shape(ours) == body_shape(ref)


# -- property tests: values cannot change structure -----------------------------

# Any character XML 1.0 can carry (no C0 controls other than tab/LF/CR, no
# surrogates, no U+FFFE/FFFF).
xml_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\ufffe\uffff").filter(
        lambda c: c in "\t\n\r" or ord(c) >= 0x20
    ),
    max_size=40,
)
tricky = st.one_of(
    xml_text,
    st.sampled_from(
        ["]]>", "</w:Selector>", '"><x/>', "&amp;", "<!--", "'", '"', "\r\n", " \t ", "&#0;"]
    ),
)


def structure(root: etree._Element) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (el.tag, tuple(sorted(str(k) for k in el.attrib)))
        for el in root.iter()
        if isinstance(el.tag, str)
    ]


BASELINE_LOC = ResourceLocator(SERVICE, Name="v")
BASELINE_LOC.add_option("o", "v")


@settings(max_examples=150, deadline=None)
@given(selector=tricky, option=tricky, name=tricky)
def test_selector_and_option_values_round_trip_without_changing_structure(
    selector: str, option: str, name: str
) -> None:
    loc = ResourceLocator(SERVICE, {"Name": selector})
    loc.add_option("o", option)
    root = parse(get_request(OPTS, loc))
    assert structure(root) == structure(parse(get_request(OPTS, BASELINE_LOC)))
    sel = root.find(f"{q(S, 'Header')}/{q(W, 'SelectorSet')}/{q(W, 'Selector')}")
    assert sel is not None and (sel.text or "") == selector
    opt = root.find(f"{q(S, 'Header')}/{q(W, 'OptionSet')}/{q(W, 'Option')}")
    assert opt is not None and (opt.text or "") == option
    # Attribute values too (selector names) round-trip exactly.
    loc2 = ResourceLocator(SERVICE, {name or "n": "v"})
    sel2 = parse(get_request(OPTS, loc2)).find(
        f"{q(S, 'Header')}/{q(W, 'SelectorSet')}/{q(W, 'Selector')}"
    )
    assert sel2 is not None and sel2.get("Name") == (name or "n")


@settings(max_examples=100, deadline=None)
@given(text=tricky, context=tricky)
def test_filter_and_context_values_round_trip(text: str, context: str) -> None:
    body = enumerate_body(enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), filter=text))
    flt = body.find(q(W, "Filter"))
    assert flt is not None and (flt.text or "") == text and len(flt) == 0
    pull = body_child(pull_request(OPTS, ResourceLocator("wmicimv2/*"), context, max_elements=1))
    assert pull.findtext(q(N, "EnumerationContext")) == context
    assert [c.tag for c in pull] == [q(N, "EnumerationContext"), q(N, "MaxElements")]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(tricky, min_size=1, max_size=4), scalar=tricky)
def test_body_values_round_trip(values: list[str], scalar: str) -> None:
    resource: dict[str, Any] = {"List": values, "Scalar": scalar, "Nested": {"Inner": scalar}}
    inst = body_child(put_request(OPTS, ResourceLocator(SERVICE), resource))
    assert [(e.text or "") for e in inst.findall(q(SERVICE, "List"))] == values
    assert (inst.findtext(q(SERVICE, "Scalar")) or "") == scalar
    assert (inst.findtext(f"{q(SERVICE, 'Nested')}/{q(SERVICE, 'Inner')}") or "") == scalar
    assert len(inst) == len(values) + 2
    assert Item(inst)["Scalar"] == scalar


@pytest.mark.parametrize("bad", ["\x00", "a\x01b", "\ud800", "\ufffe", "\x1b[0m"])
def test_characters_xml_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        get_request(OPTS, ResourceLocator(SERVICE, Name=bad))
    with pytest.raises(ConfigurationError):
        enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), filter=bad)


# == what each builder sends, value by value =====================================

CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"
LOC = ResourceLocator(SERVICE, Name="WinRM")


# -- operation and action of every builder -----------------------------------

BUILDERS: list[tuple[Callable[[], Request], str, str]] = [
    (identify_request, "Identify", ""),
    (lambda: get_request(OPTS, LOC), "Get", ns.ACTION_GET),
    (lambda: put_request(OPTS, LOC, {"A": "1"}), "Put", ns.ACTION_PUT),
    (lambda: create_request(OPTS, LOC, {"A": "1"}), "Create", ns.ACTION_CREATE),
    (lambda: delete_request(OPTS, LOC), "Delete", ns.ACTION_DELETE),
    (lambda: invoke_request(OPTS, LOC, "StopService"), "Invoke", f"{SERVICE}/StopService"),
    (lambda: enumerate_request(OPTS, LOC), "Enumerate", ns.ACTION_ENUMERATE),
    (lambda: pull_request(OPTS, LOC, "ctx", max_elements=5), "Pull", ns.ACTION_PULL),
    (lambda: release_request(OPTS, LOC, "ctx"), "Release", ns.ACTION_RELEASE),
]


@pytest.mark.parametrize(("build", "operation", "action"), BUILDERS, ids=[b[1] for b in BUILDERS])
def test_every_builder_names_its_operation_and_action(
    build: Callable[[], Request], operation: str, action: str
) -> None:
    # The session decides from Request.operation which requests are safe to
    # resend (Get, Enumerate, Pull... but never Put, Create, Delete, Invoke).
    request = build()
    assert request.operation == operation
    assert request.action == action
    if action:
        assert header(request, A, "Action").text == action
        assert header(request, A, "MessageID").text == request.message_id


# -- booleans, both ways ------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false")])
def test_boolean_property_in_a_put_body(value: bool, text: str) -> None:
    inst = body_child(put_request(OPTS, LOC, {"DelayedAutoStart": value}))
    assert inst.findtext(q(SERVICE, "DelayedAutoStart")) == text


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false")])
def test_boolean_invoke_parameter(value: bool, text: str) -> None:
    inp = body_child(invoke_request(OPTS, LOC, "Change", {"DesktopInteract": value}))
    assert inp.findtext(q(SERVICE, "DesktopInteract")) == text


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false")])
def test_boolean_selector_in_the_header_and_in_a_selector_filter(value: bool, text: str) -> None:
    sel = header(get_request(OPTS, ResourceLocator(SERVICE, Started=value)), W, "SelectorSet")
    assert [(s.get("Name"), s.text) for s in sel] == [("Started", text)]
    enum = body_child(enumerate_request(OPTS, LOC, filter={"Started": value}))
    flt = enum.find(f"{q(W, 'Filter')}/{q(W, 'SelectorSet')}/{q(W, 'Selector')}")
    assert flt is not None and (flt.get("Name"), flt.text) == ("Started", text)


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false")])
def test_boolean_option(value: bool, text: str) -> None:
    loc = ResourceLocator(SERVICE)
    loc.add_option("msftwinrm:UsePreciseArrays", value, type="xs:boolean")
    (opt,) = header(get_request(OPTS, loc), W, "OptionSet")
    assert opt.text == text


def test_selector_filter_values_are_text_and_eprs_stay_references() -> None:
    target = EndpointReference(None, SERVICE, {"Name": "WinRM"})
    enum = body_child(enumerate_request(OPTS, LOC, filter={"Port": 5985, "Ref": target}))
    port, ref = enum.iterfind(f"{q(W, 'Filter')}/{q(W, 'SelectorSet')}/{q(W, 'Selector')}")
    assert (port.get("Name"), port.text) == ("Port", "5985")
    epr = ref.find(q(A, "EndpointReference"))
    assert epr is not None
    assert epr.findtext(f"{q(A, 'ReferenceParameters')}/{q(W, 'ResourceURI')}") == SERVICE


def test_none_option_is_sent_as_nil() -> None:
    loc = ResourceLocator(SERVICE)
    loc.add_option("Empty", None)
    (opt,) = header(get_request(OPTS, loc), W, "OptionSet")
    assert opt.get(q(ns.NS_XSI, "nil")) == "true" and opt.text is None


# -- the FragmentTransfer header next to options ----------------------------------


def test_locator_with_options_keeps_its_fragment_transfer_header() -> None:
    loc = ResourceLocator(CONFIG, fragment="MaxEnvelopeSizekb", options={"o": "v"})
    request = get_request(OPTS, loc)
    assert header(request, W, "FragmentTransfer").text == "MaxEnvelopeSizekb"
    assert header(request, W, "OptionSet") is not None
    overridden = get_request(OPTS, loc, fragment="MaxTimeoutms")
    assert header(overridden, W, "FragmentTransfer").text == "MaxTimeoutms"


# -- fragment-level Put and Create: the w:XmlFragment body (DSP0226 7.7) ---------


@pytest.mark.parametrize("build", [put_request, create_request])
def test_fragment_level_mapping_is_wrapped_in_xml_fragment_without_namespace(
    build: Callable[[RequestOptions, ResourceLocator, object], Request],
) -> None:
    loc = ResourceLocator(CONFIG, fragment="MaxEnvelopeSizekb")
    fragment = body_child(build(OPTS, loc, {"MaxEnvelopeSizekb": 1024}))  # type: ignore[arg-type]
    assert fragment.tag == q(W, "XmlFragment")
    (prop,) = fragment
    assert (prop.tag, prop.text) == ("MaxEnvelopeSizekb", "1024")


def test_fragment_level_item_is_wrapped_unless_it_is_an_xml_fragment() -> None:
    loc = ResourceLocator(CONFIG, fragment="MaxEnvelopeSizekb")
    value = Item(parse_xml(b'<c:MaxEnvelopeSizekb xmlns:c="urn:c">1</c:MaxEnvelopeSizekb>'))
    wrapped = body_child(put_request(OPTS, loc, value))
    assert wrapped.tag == q(W, "XmlFragment") and [c.tag for c in wrapped] == [
        "{urn:c}MaxEnvelopeSizekb"
    ]
    fragment = Item(parse_xml(f'<w:XmlFragment xmlns:w="{W}"><A>2</A></w:XmlFragment>'.encode()))
    as_is = body_child(put_request(OPTS, loc, fragment))
    assert as_is.tag == q(W, "XmlFragment") and [(c.tag, c.text) for c in as_is] == [("A", "2")]


@pytest.mark.parametrize("raw", ["<A>3</A>", b"<A>3</A>"])
def test_fragment_level_raw_xml_is_wrapped(raw: str | bytes) -> None:
    loc = ResourceLocator(CONFIG, fragment="A")
    fragment = body_child(put_request(OPTS, loc, raw))
    assert fragment.tag == q(W, "XmlFragment") and [(c.tag, c.text) for c in fragment] == [
        ("A", "3")
    ]


def test_fragment_level_raw_xml_already_wrapped_is_sent_as_is() -> None:
    loc = ResourceLocator(CONFIG, fragment="A")
    raw = f'  <w:XmlFragment xmlns:w="{W}"><A>4</A></w:XmlFragment>'
    fragment = body_child(put_request(OPTS, loc, raw))
    assert fragment.tag == q(W, "XmlFragment") and [(c.tag, c.text) for c in fragment] == [
        ("A", "4")
    ]


def test_fragment_level_resource_of_another_type_is_refused() -> None:

    with pytest.raises(ConfigurationError):
        put_request(OPTS, ResourceLocator(CONFIG, fragment="A"), 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        put_request(OPTS, ResourceLocator(CONFIG), 42)  # type: ignore[arg-type]


# -- Invoke's parameter forms ---------------------------------------------------------


def test_invoke_with_an_item_sends_the_item_as_the_body() -> None:
    # Sent as it is, even though an Item is also a mapping of its properties.
    params = Item(parse_xml(b'<i:Input xmlns:i="urn:i"><i:X>1</i:X></i:Input>'))
    inp = body_child(invoke_request(OPTS, LOC, "Change", params))
    assert inp.tag == "{urn:i}Input" and inp.findtext("{urn:i}X") == "1"


@pytest.mark.parametrize(
    "raw",
    [
        f'<p:Change_INPUT xmlns:p="{SERVICE}"><p:X>2</p:X></p:Change_INPUT>',
        f'<p:Change_INPUT xmlns:p="{SERVICE}"><p:X>2</p:X></p:Change_INPUT>'.encode(),
    ],
)
def test_invoke_with_raw_xml_parameters(raw: str | bytes) -> None:
    inp = body_child(invoke_request(OPTS, LOC, "Change", raw))
    assert inp.tag == q(SERVICE, "Change_INPUT") and inp.findtext(q(SERVICE, "X")) == "2"


def test_invoke_with_a_full_action_uri_names_the_input_after_its_last_segment() -> None:
    action = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service/StopService/"
    request = invoke_request(OPTS, LOC, action)
    assert request.action == action and request.operation == "Invoke"
    assert body_child(request).tag == q(SERVICE, "StopService_INPUT")


def test_invoke_method_name_on_a_resource_uri_with_a_trailing_slash() -> None:
    request = invoke_request(OPTS, ResourceLocator(SERVICE + "/"), "StopService")
    assert request.action == f"{SERVICE}/StopService"


# -- AssociationInstances ----------------------------------------------------------------


def test_association_instances_filter_sends_result_class_and_role_only() -> None:
    af = AssociationFilter(
        ResourceLocator(SERVICE, Name="WinRM"),
        instances=True,
        association_class_name="Ignored_Association",
        result_class_name="Win32_DependentService",
        role="Antecedent",
        result_role="IgnoredRole",
        include_result_property=("Name",),
    )
    enum = body_child(enumerate_request(OPTS, ResourceLocator("wmicimv2/*"), association=af))
    assoc = enum.find(f"{q(W, 'Filter')}/{q(B, 'AssociationInstances')}")
    assert assoc is not None
    assert enum.find(f"{q(W, 'Filter')}/{q(B, 'AssociatedInstances')}") is None
    assert [(c.tag.rpartition("}")[2], c.text) for c in assoc][1:] == [
        ("ResultClassName", "Win32_DependentService"),
        ("Role", "Antecedent"),
        ("IncludeResultProperty", "Name"),
    ]
    selector = assoc.find(
        f"{q(B, 'Object')}/{q(A, 'ReferenceParameters')}/{q(W, 'SelectorSet')}/{q(W, 'Selector')}"
    )
    assert selector is not None and (selector.get("Name"), selector.text) == ("Name", "WinRM")


# -- session defaults, limits and message IDs ------------------------------------


def test_default_options_are_512000_bytes_60_seconds_and_en_us() -> None:
    req = get_request(RequestOptions(OPTS.to), LOC)
    assert header(req, W, "MaxEnvelopeSize").text == "512000"
    assert header(req, W, "OperationTimeout").text == "PT60.000S"
    assert header(req, W, "Locale").get(q(ns.NS_XML, "lang")) == "en-US"


@pytest.mark.parametrize("size", [0, -1])
def test_max_envelope_size_must_be_positive(size: int) -> None:
    with pytest.raises(ConfigurationError):
        get_request(RequestOptions(OPTS.to, max_envelope_size=size), LOC)


@pytest.mark.parametrize("bad", ["a\x01b", "\ud800", "\ufffe"])
def test_characters_xml_cannot_carry_are_refused_in_attributes_too(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        get_request(OPTS, ResourceLocator(SERVICE, {bad: "v"}))
    with pytest.raises(ConfigurationError):
        get_request(RequestOptions(OPTS.to, locale=bad), LOC)


def test_requests_and_filters_are_immutable_values() -> None:
    request = get_request(OPTS, LOC)
    with pytest.raises(AttributeError):
        request.operation = "Put"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        AssociationFilter(LOC).role = "x"  # type: ignore[misc]


def test_message_ids_are_version_4_uuids_counting_up_in_the_node_field() -> None:
    first, second = new_message_id(), new_message_id()
    a, b = uuid.UUID(first.removeprefix("uuid:")), uuid.UUID(second.removeprefix("uuid:"))
    assert first == first.upper().replace("UUID:", "uuid:")
    assert a.version == 4 and a.variant == uuid.RFC_4122
    middle = (1 << 48) - 1
    assert (a.int >> 48) & middle == (b.int >> 48) & middle
    assert b.node == (a.node + 1) % 2**48


def test_message_id_fields_are_the_drawn_bits_with_version_and_variant_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Restored after the test: the process keeps its own sequence.
    for name in ("_ID_MIDDLE", "_ID_COUNTER", "_id_fields"):
        monkeypatch.setattr(envelope, name, getattr(envelope, name))
    for start in (0xFF, 0x00, 0x5A):
        monkeypatch.setattr(
            envelope.os,
            "urandom",
            lambda n, start=start: bytes((start + i) % 256 for i in range(n)),
        )
        envelope._reseed_message_ids()
        first, second = (envelope.new_message_id() for _ in range(2))
        drawn = bytes((start + i) % 256 for i in range(12))  # middle fields and node
        fresh = bytes((start + i) % 256 for i in range(4))  # the first ID's first field
        expected = uuid.UUID(int=int.from_bytes(fresh + drawn, "big"), version=4)
        assert first == f"uuid:{str(expected).upper()}"
        assert uuid.UUID(second[5:]).node == (expected.node + 1) % 2**48
        assert second[13:-12] == first[13:-12]  # the same middle fields
        fresh2 = bytes((start + 4 + i) % 256 for i in range(4))  # the next pooled field
        assert second[5:13] == fresh2.hex().upper()


def test_template_caches_stay_bounded() -> None:
    envelope._action_cache.clear()
    largest = 0
    for i in range(envelope._TEMPLATE_CACHE_SIZE + 5):
        request = invoke_request(
            RequestOptions(f"http://h{i}:5985/wsman"), ResourceLocator(f"urn:r{i}"), f"M{i}", {}
        )
        assert request.action == f"urn:r{i}/M{i}"
        largest = max(largest, len(envelope._action_cache))
        assert len(envelope._locator_cache) <= envelope._TEMPLATE_CACHE_SIZE
    assert largest == envelope._TEMPLATE_CACHE_SIZE  # filled up to the bound, then dropped


def test_the_session_headers_are_kept_per_options_and_shared_between_hosts() -> None:
    # Each session's options keep their own wsa:To; the header block after it
    # is one string shared by every session with the same values (a fan-out's
    # thousands of sessions do not each hold a copy).
    first, second = RequestOptions("http://a:5985/wsman"), RequestOptions("http://b:5985/wsman")
    for options, host in ((first, b"a"), (second, b"b")):
        body = get_request(options, LOC).body
        assert b"<a:To>http://" + host + b":5985/wsman</a:To>" in body
        assert get_request(options, LOC).body.count(b"<a:To>") == 1
    to_a, rest_a = envelope._session_headers(first)
    to_b, rest_b = envelope._session_headers(second)
    assert (to_a, to_b) == ("<a:To>http://a:5985/wsman</a:To>", "<a:To>http://b:5985/wsman</a:To>")
    assert rest_a is rest_b
    assert envelope._session_headers(first)[0] is to_a  # rendered once per options
    # A changed copy of the options (a shell's Receive timeout) renders its own.
    later = dataclasses.replace(first, operation_timeout=5.0)
    assert b"<w:OperationTimeout>PT5.000S</w:OperationTimeout>" in get_request(later, LOC).body
    assert b"<w:OperationTimeout>PT5.000S</w:OperationTimeout>" not in get_request(first, LOC).body


def test_the_session_header_cache_stays_bounded() -> None:
    # One entry per (MaxEnvelopeSize, OperationTimeout, Locale, DataLocale).
    for i in range(envelope._HEAD_CACHE_SIZE + 5):
        options = RequestOptions("http://h:5985/wsman", operation_timeout=1.0 + i)
        request = get_request(options, ResourceLocator("urn:r"))
        assert f"<w:OperationTimeout>PT{1 + i}.000S</w:OperationTimeout>".encode() in request.body
        assert len(envelope._options_headers_cache) <= envelope._HEAD_CACHE_SIZE


# -- body values: intervals, nested values, raw XML prologs ------------------------------


def test_zero_interval_is_sent_and_a_negative_one_refused() -> None:
    inst = body_child(put_request(OPTS, LOC, {"Every": timedelta(0)}))
    assert inst.findtext(f"{q(SERVICE, 'Every')}/{q(ns.NS_CIM_COMMON, 'Interval')}") == "PT0S"
    with pytest.raises(ConfigurationError):
        put_request(OPTS, LOC, {"Every": timedelta(seconds=-1)})


def test_date_time_item_and_list_of_mappings_in_a_body() -> None:
    embedded = Item(parse_xml(b'<e:Emb xmlns:e="urn:e"><e:V>1</e:V></e:Emb>'))
    inst = body_child(
        put_request(
            OPTS,
            LOC,
            {
                "Day": date(2024, 5, 6),
                "At": time(7, 8, 9),
                "Emb": embedded,
                "Rows": [{"K": "a"}, {"K": "b"}],
            },
        )
    )
    cim = ns.NS_CIM_COMMON
    assert inst.findtext(f"{q(SERVICE, 'Day')}/{q(cim, 'Date')}") == "2024-05-06"
    assert inst.findtext(f"{q(SERVICE, 'At')}/{q(cim, 'Time')}") == "07:08:09"
    assert inst.findtext(f"{q(SERVICE, 'Emb')}/{{urn:e}}Emb/{{urn:e}}V") == "1"
    rows = inst.findall(q(SERVICE, "Rows"))
    assert [r.findtext(q(SERVICE, "K")) for r in rows] == ["a", "b"]


@pytest.mark.parametrize(
    "raw", ['<?xml version="1.0" encoding="utf-8"?><A>1</A>', '  \n<?xml version="1.0"?>\n<A>1</A>']
)
def test_raw_xml_declaration_is_dropped(raw: str) -> None:
    request = put_request(OPTS, ResourceLocator(CONFIG), raw)
    assert b"<?xml" not in request.body
    assert body_child(request).text == "1"


@pytest.mark.parametrize(
    "raw", ['<?xml version="1.0"?><?xml version="1.0"?><A/>', "<A>\ud800</A>", "<A>\x01</A>"]
)
def test_raw_xml_with_a_second_declaration_or_bad_characters_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError):
        put_request(OPTS, ResourceLocator(CONFIG), raw)


def test_mapping_body_class_is_the_last_segment_of_a_resource_uri_with_a_trailing_slash() -> None:
    inst = body_child(put_request(OPTS, ResourceLocator(SERVICE + "/"), {"A": "1"}))
    assert inst.tag == q(SERVICE + "/", "Win32_Service")


def test_smallest_max_envelope_size_is_one_byte() -> None:
    req = get_request(RequestOptions(OPTS.to, max_envelope_size=1), LOC)
    assert header(req, W, "MaxEnvelopeSize").text == "1"


def test_option_with_type_and_must_comply_keeps_every_attribute() -> None:
    loc = ResourceLocator(SERVICE)
    loc.add_option("o", "v", must_comply=True, type="xs:string")
    (opt,) = header(get_request(OPTS, loc), W, "OptionSet")
    assert dict(opt.attrib) == {"Name": "o", "Type": "xs:string", "MustComply": "true"}


def test_the_same_resource_with_and_without_a_fragment_in_either_order() -> None:
    uri = "urn:fragments/" + uuid.uuid4().hex  # a resource no other test rendered
    plain, fragment = ResourceLocator(uri), ResourceLocator(uri, fragment="A")
    for first, second in ((fragment, plain), (plain, fragment)):
        assert header(get_request(OPTS, first), W, "ResourceURI").text == uri
        got = parse(get_request(OPTS, second)).find(f"{q(S, 'Header')}/{q(W, 'FragmentTransfer')}")
        assert (got is None) == (second is plain)
        assert got is None or got.text == "A"
    assert header(get_request(OPTS, plain, fragment="B"), W, "FragmentTransfer").text == "B"


def test_nested_mappings_with_several_keys_in_a_body_and_a_fragment() -> None:
    value = {"Outer": {"A": "1", "B": "2"}}
    inst = body_child(put_request(OPTS, LOC, value))
    assert [(c.tag, c.text) for c in inst.find(q(SERVICE, "Outer"))] == [
        (q(SERVICE, "A"), "1"),
        (q(SERVICE, "B"), "2"),
    ]
    fragment = body_child(
        put_request(OPTS, ResourceLocator(CONFIG, fragment="F"), {"A": "1", "B": "2"})
    )
    assert [(c.tag, c.text) for c in fragment] == [("A", "1"), ("B", "2")]


def test_class_and_method_names_ending_in_x_are_kept_whole() -> None:
    uri = "http://schemas.example/wbem/Win32_X"
    assert body_child(put_request(OPTS, ResourceLocator(uri), {"A": "1"})).tag == q(uri, "Win32_X")
    request = invoke_request(OPTS, ResourceLocator(uri), f"{uri}/ResetX")
    assert body_child(request).tag == q(uri, "ResetX_INPUT")


@pytest.mark.parametrize("fmt", envelope.DATETIME_FORMATS)
def test_temporal_values_in_each_datetime_format(fmt: str) -> None:
    assert envelope.DATETIME_FORMATS == ("cim", "bare")
    when = datetime(2001, 1, 1, 1, 1, 1, 1, tzinfo=UTC)
    values = {"When": when, "Day": date(2001, 1, 2), "At": time(3, 4, 5), "Every": timedelta(0)}
    opts = RequestOptions(OPTS.to, datetime_format=fmt)  # type: ignore[arg-type]
    inst = body_child(put_request(opts, LOC, values))
    texts = {"When": when.isoformat(), "Day": "2001-01-02", "At": "03:04:05", "Every": "PT0S"}
    wrappers = {"When": "Datetime", "Day": "Date", "At": "Time", "Every": "Interval"}
    for name, text in texts.items():
        prop = inst.find(q(SERVICE, name))
        assert prop is not None
        if fmt == "bare":
            assert prop.text == text and len(prop) == 0
        else:
            (wrapper,) = prop
            assert (wrapper.tag, wrapper.text) == (q(ns.NS_CIM_COMMON, wrappers[name]), text)


def test_pull_with_max_time_orders_context_max_time_and_max_elements() -> None:
    pull = body_child(pull_request(OPTS, LOC, "ctx", max_elements=5, max_time=2.5))
    assert [(c.tag.rpartition("}")[2], c.text) for c in pull] == [
        ("EnumerationContext", "ctx"),
        ("MaxTime", "PT2.500S"),
        ("MaxElements", "5"),
    ]


# -- a selector value that cannot be hashed (not cached, still sent whole) -------


class CaseInsensitiveName(str):
    """A caller's str subclass: defining ``__eq__`` makes Python drop its hash."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.lower() == other.lower()


def test_an_unhashable_selector_value_put_in_by_hand_is_sent_with_the_fragment() -> None:
    loc = ResourceLocator("winrm/config", fragment="A")
    loc.selectors["Name"] = CaseInsensitiveName("WinRM")
    request = get_request(OPTS, loc, fragment="B")
    (sel,) = header(request, W, "SelectorSet").findall(q(W, "Selector"))
    assert (sel.get("Name"), sel.text) == ("Name", "WinRM")
    assert header(request, W, "FragmentTransfer").text == "B"


def test_to_and_action_are_escaped_in_the_rendered_headers() -> None:
    # Both come from the caller (an endpoint URL with a query, a resource URI
    # naming a method): markup characters must not break the envelope.
    options = RequestOptions("http://h:5985/wsman?a=1&b=<2>")
    request = invoke_request(options, ResourceLocator("urn:x&y"), "Run", {})
    root = parse_xml(request.body)
    assert root.findtext(f"{{{S}}}Header/{{{A}}}To") == "http://h:5985/wsman?a=1&b=<2>"
    assert root.findtext(f"{{{S}}}Header/{{{A}}}Action") == "urn:x&y/Run"


def test_request_options_are_immutable() -> None:
    # One RequestOptions is shared by every request of a session, and the
    # envelope head made from it is cached for every session of a fan-out:
    # changing one in place would change requests it was not meant for.
    options = RequestOptions(to="http://h:5985/wsman")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.operation_timeout = 1.0  # type: ignore[misc]
    assert dataclasses.replace(options, operation_timeout=1.0).operation_timeout == 1.0
