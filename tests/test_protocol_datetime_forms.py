"""CIM datetimes and intervals in both forms servers use, read and written.

Windows wraps them (DSP0230: ``<p:X><cim:Datetime>ISO 8601</cim:Datetime></p:X>``);
OMI writes them bare (``2001-01-01T01:01:01.000001+13:50``, ``P2000D``) and
refuses the wrapper in request bodies. Reading accepts both; writing follows
``RequestOptions.datetime_format``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from lxml import etree

from aiowsman.errors import ConfigurationError
from aiowsman.protocol import Item, RequestOptions, ResourceLocator, parse_xml
from aiowsman.protocol import namespaces as ns
from aiowsman.protocol.envelope import (
    create_request,
    holds_temporal,
    invoke_request,
    put_request,
)

URI = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Datetime"
PLUS_13_50 = timezone(timedelta(hours=13, minutes=50))
MINUS_7 = timezone(-timedelta(hours=7))


def item(body: str) -> Item:
    xml = (
        f'<p:C xmlns:p="{URI}" xmlns:cim="{ns.NS_CIM_COMMON}" xmlns:xsi="{ns.NS_XSI}">{body}</p:C>'
    )
    return Item(parse_xml(xml.encode()))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2001-01-01T01:01:01.000001+13:50", datetime(2001, 1, 1, 1, 1, 1, 1, PLUS_13_50)),
        ("2026-03-02T09:30:00Z", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        (
            "2026-03-02T09:30:00-07:00",
            datetime(2026, 3, 2, 9, 30, tzinfo=timezone(-timedelta(hours=7))),
        ),
    ],
)
def test_bare_iso_datetime_with_offset_is_a_datetime(text: str, value: datetime) -> None:
    assert item(f"<p:T>{text}</p:T>")["T"] == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("P2000D", timedelta(days=2000)),
        ("P1DT2H3M4.000005S", timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5)),
        ("PT0S", timedelta(0)),
    ],
)
def test_bare_duration_is_an_interval(text: str, value: timedelta) -> None:
    assert item(f"<p:I>{text}</p:I>")["I"] == value


@pytest.mark.parametrize(
    "text",
    [
        "2001-01-01",  # a date alone: could be any string
        "2001-01-01T01:01:01",  # no offset: no instant
        "2001-25-00",  # OMI's own test placeholder (corpus)
        "P",
        "PT",
        "Pending",
        "P1D and more",
        "12345",
    ],
)
def test_other_text_stays_text(text: str) -> None:
    assert item(f"<p:S>{text}</p:S>")["S"] == text


def test_wrapped_forms_still_parse() -> None:
    it = item(
        "<p:T><cim:Datetime>2001-01-01T01:01:01.000001+13:50</cim:Datetime></p:T>"
        "<p:I><cim:Interval>P2000D</cim:Interval></p:I>"
    )
    assert it["T"] == datetime(2001, 1, 1, 1, 1, 1, 1, PLUS_13_50)
    assert it["I"] == timedelta(days=2000)


VALUES = {
    "T": datetime(2001, 1, 1, 1, 1, 1, 1, PLUS_13_50),
    "I": timedelta(days=2000, microseconds=7),
    "D": date(2024, 2, 29),
    "H": time(12, 30, 15),
}
TEXTS = {
    "T": "2001-01-01T01:01:01.000001+13:50",
    "I": "P2000DT0.000007S",
    "D": "2024-02-29",
    "H": "12:30:15",
}
WRAPPERS = {"T": "Datetime", "I": "Interval", "D": "Date", "H": "Time"}


def body_instance(request_body: bytes) -> etree._Element:
    root = parse_xml(request_body)
    body = root.find(f"{{{ns.NS_SOAP}}}Body")
    assert body is not None and len(body)
    return body[0]


def property_values(instance: etree._Element) -> dict[str, etree._Element]:
    return {etree.QName(child).localname: child for child in instance}


@pytest.mark.parametrize("build", ["put", "create", "invoke"])
def test_cim_format_writes_the_dsp0230_wrappers(build: str) -> None:
    request = _request(build, RequestOptions(to="http://h/wsman", datetime_format="cim"))
    for name, element in property_values(body_instance(request)).items():
        (wrapper,) = list(element)
        assert wrapper.tag == f"{{{ns.NS_CIM_COMMON}}}{WRAPPERS[name]}"
        assert wrapper.text == TEXTS[name]


@pytest.mark.parametrize("build", ["put", "create", "invoke"])
def test_bare_format_writes_the_value_as_text(build: str) -> None:
    request = _request(build, RequestOptions(to="http://h/wsman", datetime_format="bare"))
    for name, element in property_values(body_instance(request)).items():
        assert len(element) == 0
        assert element.text == TEXTS[name]


@pytest.mark.parametrize("fmt", ["cim", "bare"])
def test_written_datetimes_and_intervals_read_back_equal(fmt: str) -> None:
    options = RequestOptions(to="http://h/wsman", datetime_format=fmt)  # type: ignore[arg-type]
    read = Item(body_instance(_request("put", options)))
    assert (read["T"], read["I"]) == (VALUES["T"], VALUES["I"])
    # A bare date or time alone is indistinguishable from text: it reads as text.
    expected_date = VALUES["D"] if fmt == "cim" else TEXTS["D"]
    assert read["D"] == expected_date


def test_a_negative_interval_cannot_be_sent() -> None:
    with pytest.raises(ConfigurationError, match="negative interval"):
        put_request(
            RequestOptions(to="http://h/wsman"), ResourceLocator(URI, K="1"), {"I": -timedelta(1)}
        )


@pytest.mark.parametrize(
    ("resource", "holds"),
    [
        ({"A": "x", "B": 1}, False),
        ({"A": [1, {"B": datetime(2020, 1, 1, tzinfo=UTC)}]}, True),
        ({"I": timedelta(seconds=1)}, True),
        ("<p:C/>", False),
        (None, False),
    ],
)
def test_holds_temporal_finds_values_the_format_changes(resource: object, holds: bool) -> None:
    assert holds_temporal(resource) is holds


def _request(build: str, options: RequestOptions) -> bytes:
    locator = ResourceLocator(URI, Key="1")
    if build == "put":
        return put_request(options, locator, VALUES).body
    if build == "create":
        return create_request(options, locator, VALUES).body
    return invoke_request(options, locator, "Schedule", VALUES).body
