"""ResourceLocator and EndpointReference: aliases, selectors, options, EPRs."""

from __future__ import annotations

import pickle

import pytest

from aiowsman.protocol import EndpointReference, Option, ResourceLocator, expand_resource_uri
from aiowsman.protocol import namespaces as ns

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
