"""Item values as WMI, CIM and PowerShell users expect: names case-insensitive,
types where the type is known -- said by the server (xsi:type) or asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiowsman.protocol.items import Item
from aiowsman.protocol.xml import parse_xml

NS = (
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
    'xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"'
)


def item(body: str) -> Item:
    return Item(parse_xml(f"<p:Win32_Service {NS}>{body}</p:Win32_Service>".encode()))


SERVICE = item(
    "<p:Name>WinRM</p:Name><p:State>Running</p:State><p:ProcessId>8204</p:ProcessId>"
    "<p:Started>true</p:Started><p:InstallDate xsi:nil='true'/>"
)


@pytest.mark.parametrize("name", ["State", "state", "STATE", "sTaTe"])
def test_property_lookup_is_case_insensitive(name: str) -> None:
    assert SERVICE[name] == "Running"
    assert name in SERVICE
    assert SERVICE.get(name) == "Running"


def test_iteration_and_to_dict_keep_the_servers_spelling() -> None:
    assert list(SERVICE) == ["Name", "State", "ProcessId", "Started", "InstallDate"]
    assert "state" not in SERVICE.to_dict()


def test_an_absent_property_is_still_a_key_error() -> None:
    with pytest.raises(KeyError):
        SERVICE["NoSuch"]
    assert SERVICE.get("nosuch") is None and "nosuch" not in SERVICE


def test_values_without_a_declared_type_stay_text() -> None:
    assert SERVICE["ProcessId"] == "8204" and SERVICE["Started"] == "true"


def test_get_typed_converts_on_request() -> None:
    assert SERVICE.get_typed("processid", int) == 8204
    assert SERVICE.get_typed("Started", bool) is True
    assert SERVICE.get_typed("Name", str) == "WinRM"


def test_get_typed_of_a_null_or_absent_property_needs_a_default() -> None:
    assert SERVICE.get_typed("InstallDate", datetime, None) is None
    assert SERVICE.get_typed("NoSuch", int, -1) == -1
    with pytest.raises(KeyError):
        SERVICE.get_typed("InstallDate", datetime)


@pytest.mark.parametrize(("name", "kind"), [("Name", int), ("State", bool), ("Name", datetime)])
def test_get_typed_refuses_text_of_another_type_naming_the_property(name: str, kind: type) -> None:
    with pytest.raises(ValueError, match=f"property {name} = "):
        SERVICE.get_typed(name, kind)


def test_typed_converts_the_named_properties_of_a_copy() -> None:
    typed = SERVICE.typed({"processid": int, "Started": bool, "Absent": int})
    assert typed["ProcessId"] == 8204 and typed["Started"] is True
    assert typed["Name"] == "WinRM" and "Absent" not in typed
    assert SERVICE["ProcessId"] == "8204"  # the item itself is unchanged


def test_a_declared_xsi_type_gives_the_value_its_type() -> None:
    typed = item(
        "<p:A xsi:type='xs:int'>-3</p:A><p:B xsi:type='cim:cimUInt64'>18446744073709551615</p:B>"
        "<p:C xsi:type='xs:boolean'>1</p:C><p:D xsi:type='cim:cimReal64'>2.5</p:D>"
        "<p:E xsi:type='xs:dateTime'>2024-05-01T10:00:00Z</p:E>"
        "<p:F xsi:type='cim:cimString'>007</p:F>"
    )
    assert typed["A"] == -3 and typed["B"] == 2**64 - 1 and typed["C"] is True
    assert typed["D"] == 2.5 and typed["F"] == "007"
    assert typed["E"] == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_an_unknown_or_contradicted_xsi_type_keeps_the_text() -> None:
    odd = item("<p:A xsi:type='xs:int'>many</p:A><p:B xsi:type='p:Custom'>9</p:B>")
    assert odd["A"] == "many" and odd["B"] == "9"


def test_get_typed_passes_values_already_typed() -> None:
    dated = item("<p:When><cim:Interval>P1D</cim:Interval></p:When>")
    assert dated.get_typed("when", timedelta) == timedelta(days=1)
