"""Every field of a Windows event, its defaults and its odd spellings (sans-IO).

Complements tests/test_protocol_events.py: the standard level names of
winmeta.xml, the whole of ``to_dict`` and ``repr``, the spellings the event
schema allows (hexadecimal in either case, SystemTime with or without its
zone, a classic provider's EventSourceName) and the lenient reading of
missing parts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from aiowsman.protocol import Event, parse_event
from aiowsman.protocol.events import detached_xml, event_from_element

NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _event(system: str = "", rest: str = "") -> Event:
    return parse_event(f"<Event xmlns='{NS}'><System>{system}</System>{rest}</Event>")


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (0, "Information"),  # win:LogAlways, shown as Information by Event Viewer
        (1, "Critical"),
        (2, "Error"),
        (3, "Warning"),
        (4, "Information"),
        (5, "Verbose"),
        (6, None),  # a provider's own level has no standard name
    ],
)
def test_standard_level_names(level: int, name: str | None) -> None:
    assert _event(f"<Level>{level}</Level>").level_name == name


def test_an_event_without_a_level_has_no_level_name() -> None:
    assert _event().level_name is None


def test_a_rendered_level_name_wins_over_the_standard_one() -> None:
    event = _event("<Level>4</Level>", "<RenderingInfo><Level>Informativ</Level></RenderingInfo>")
    assert event.level_name == "Informativ"


def test_an_empty_rendered_level_name_falls_back_to_the_standard_one() -> None:
    event = _event("<Level>2</Level>", "<RenderingInfo><Level/></RenderingInfo>")
    assert event.level_name == "Error"


def test_an_event_holds_no_per_instance_dict() -> None:
    # Events arrive in bulk: slots keep each one small.
    assert not hasattr(Event(), "__dict__")


def test_an_empty_event_has_no_values() -> None:
    event = Event()
    assert (event.xml, event.data, event.rendering, event.host) == ("", {}, {}, None)


def test_to_dict_holds_every_field() -> None:
    event = Event(
        provider="P",
        provider_guid="{g}",
        event_id=1,
        version=2,
        level=3,
        task=4,
        opcode=5,
        keywords=6,
        time_created=datetime(2026, 3, 2, 9, 30, 1, tzinfo=UTC),
        record_id=7,
        activity_id="{a}",
        related_activity_id="{r}",
        process_id=8,
        thread_id=9,
        channel="System",
        computer="srv",
        user_id="S-1-5-18",
        data={"k": "v"},
        message="m",
        rendering={"Task": "t"},
        xml="<Event/>",
        host="h",
    )
    assert event.to_dict() == {
        "host": "h",
        "channel": "System",
        "record_id": 7,
        "event_id": 1,
        "level": 3,
        "level_name": "Warning",
        "provider": "P",
        "provider_guid": "{g}",
        "time_created": "2026-03-02T09:30:01+00:00",
        "computer": "srv",
        "task": 4,
        "opcode": 5,
        "keywords": 6,
        "version": 2,
        "activity_id": "{a}",
        "related_activity_id": "{r}",
        "process_id": 8,
        "thread_id": 9,
        "user_id": "S-1-5-18",
        "data": {"k": "v"},
        "message": "m",
        "rendering": {"Task": "t"},
        "xml": "<Event/>",
    }
    assert Event().to_dict()["time_created"] is None


def test_repr_names_the_channel_record_id_level_provider_and_host() -> None:
    event = Event(channel="System", record_id=7, event_id=1, level=2, provider="P", host="h")
    assert repr(event) == "<Event System#7 id=1 level=Error provider='P' host='h'>"
    assert repr(Event(channel="System", record_id=7)) == (
        "<Event System#7 id=None level=None provider=None>"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("0x1F", 31), ("0X1F", 31), (" 42 ", 42), ("\n0x10\n", 16), ("", None), ("x", None)],
)
def test_numbers_are_decimal_or_hexadecimal_around_blanks(text: str, value: int | None) -> None:
    assert _event(f"<Keywords>{text}</Keywords>").keywords == value
    assert _event(f"<EventID>{text}</EventID>").event_id == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2026-03-02T09:30:01.5Z", datetime(2026, 3, 2, 9, 30, 1, 500000, tzinfo=UTC)),
        ("2026-03-02T09:30:01.5z", datetime(2026, 3, 2, 9, 30, 1, 500000, tzinfo=UTC)),
        # The schema's SystemTime is UTC: a time without a zone is read as UTC.
        ("2026-03-02T09:30:01", datetime(2026, 3, 2, 9, 30, 1, tzinfo=UTC)),
        (
            " 2026-03-02T09:30:01+02:00 ",
            datetime(2026, 3, 2, 9, 30, 1, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2026-03-02T09:30:01.1234567Z", datetime(2026, 3, 2, 9, 30, 1, 123456, tzinfo=UTC)),
        ("", None),
    ],
)
def test_system_time_is_read_in_every_spelling(text: str, value: datetime | None) -> None:
    event = _event(f"<TimeCreated SystemTime='{text}'/>")
    assert event.time_created == value
    if value is not None:
        assert event.time_created is not None and event.time_created.utcoffset() is not None


def test_a_classic_providers_event_source_name_is_its_provider() -> None:
    event = _event("<Provider EventSourceName='Service Control Manager'/>")
    assert (event.provider, event.provider_guid) == ("Service Control Manager", None)


def test_a_related_activity_id_is_read() -> None:
    event = _event("<Correlation ActivityID='{a}' RelatedActivityID='{r}'/>")
    assert (event.activity_id, event.related_activity_id) == ("{a}", "{r}")


def test_channel_and_computer_are_read_without_blanks_and_empty_is_none() -> None:
    event = _event("<Channel>\n System \n</Channel><Computer> srv </Computer>")
    assert (event.channel, event.computer) == ("System", "srv")
    event = _event("<Channel/><Computer> </Computer>")
    assert (event.channel, event.computer) == (None, None)


def test_data_values_keep_their_text_and_empty_ones_are_none() -> None:
    event = _event(
        rest="<EventData><Data Name='a'> x </Data><Data Name='b'/><Data>c</Data>"
        "<Binary>00FF</Binary></EventData>"
    )
    assert event.data == {"a": " x ", "b": None, "Data1": "c", "Binary": "00FF"}


def _element(xml: str) -> etree._Element:
    return etree.fromstring(xml)


def test_comments_in_an_event_element_are_skipped() -> None:
    # event_from_element takes any parsed element, comments included.
    element = _element(
        f"<Event xmlns='{NS}'><!-- c --><System><!-- c --><EventID>5</EventID></System>"
        "<EventData><!-- c --><Data>a</Data></EventData>"
        "<RenderingInfo><!-- c --><Message>m</Message><Keywords><!-- c -->"
        "<Keyword>k</Keyword><Keyword/></Keywords></RenderingInfo></Event>"
    )
    event = event_from_element(element)
    assert (event.event_id, event.data, event.message) == (5, {"Data1": "a"}, "m")
    assert event.xml == etree.tostring(element, encoding="unicode")  # serialised when not given
    assert event.rendering == {"Keywords": ["k", ""]}


def test_user_data_skips_comments_and_may_be_empty() -> None:
    element = _element(
        f"<Event xmlns='{NS}'><System/><UserData><!-- c --><X xmlns='urn:x'><!-- c -->"
        "<A>1</A></X></UserData></Event>"
    )
    assert event_from_element(element).data == {"A": "1"}
    assert _event(rest="<UserData/>").data == {}


def test_rendering_without_a_culture_has_none() -> None:
    event = _event(rest="<RenderingInfo><Message>m</Message><Task>t</Task></RenderingInfo>")
    assert event.rendering == {"Task": "t"}


def test_an_event_parsed_from_bytes_keeps_its_text_without_surrounding_blanks() -> None:
    raw = f"\n<Event xmlns='{NS}'><System><EventID>1</EventID></System></Event>\n"
    event = parse_event(raw.encode())
    assert event.xml == raw.strip()
    assert event.event_id == 1


def test_a_root_element_is_serialised_as_it_is() -> None:
    element = _element(f"<Event xmlns='{NS}' xmlns:u='urn:unused'><System/></Event>")
    assert detached_xml(element) == (f'<Event xmlns="{NS}" xmlns:u="urn:unused"><System/></Event>')


def test_an_event_cut_from_its_parent_leaves_the_text_after_it() -> None:
    parent = _element(f"<Items><Event xmlns='{NS}'><System/></Event>tail text</Items>")
    assert detached_xml(parent[0]) == f'<Event xmlns="{NS}"><System/></Event>'
    assert parent[0].tail == "tail text"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-be"])
def test_an_event_given_as_bytes_keeps_its_text_in_any_allowed_encoding(codec: str) -> None:
    raw = f"<Event xmlns='{NS}'><System><Computer>caf\u00e9</Computer></System></Event>"
    event = parse_event(raw.encode(codec))
    assert event.computer == "caf\u00e9"
    assert event.xml == raw


def test_an_empty_rendered_level_text_falls_back_to_the_standard_name() -> None:
    assert Event(level=2, rendering={"Level": ""}).level_name == "Error"
    assert Event(level=2, rendering={"Level": ["not", "text"]}).level_name == "Error"


def test_an_empty_computer_element_is_none() -> None:
    assert _event("<Computer/>").computer is None


def test_an_event_cut_from_an_envelope_carries_no_unused_declaration() -> None:
    envelope = _element(
        f"<s:E xmlns:s='urn:s'><Event xmlns='{NS}' xmlns:u='urn:unused'><System/></Event></s:E>"
    )
    assert detached_xml(envelope[0]) == f'<Event xmlns="{NS}"><System/></Event>'
