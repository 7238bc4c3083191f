"""Windows events become typed objects: System fields, data, rendering, raw XML.

The sample events follow the event schema and the shapes of events Windows
forwards (seven fractional digits in SystemTime, hexadecimal Keywords,
GUIDs in braces, RenderingInfo with a Culture).
"""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from aiowsman.errors import ProtocolError, UnsafeXMLError
from aiowsman.protocol import Event, parse_event

NS = "http://schemas.microsoft.com/win/2004/08/events/event"

RENDERED = f"""<Event xmlns='{NS}'><System>
<Provider Name='Microsoft-Windows-WinRM' Guid='{{a7975c8f-ac13-49f1-87da-5a984a4ab417}}'/>
<EventID>161</EventID><Version>0</Version><Level>2</Level><Task>7</Task><Opcode>0</Opcode>
<Keywords>0x400000000000000a</Keywords><TimeCreated SystemTime='2026-03-02T09:30:01.6986177Z'/>
<EventRecordID>149142</EventRecordID>
<Correlation ActivityID='{{c2115b6c-cdc7-0000-e5a0-11c2c7cdd801}}'/>
<Execution ProcessID='1100' ThreadID='1452'/><Channel>Microsoft-Windows-WinRM/Operational</Channel>
<Computer>srv01.corp.example.com</Computer><Security UserID='S-1-5-20'/></System>
<EventData><Data Name='authFailureMessage'>The client cannot connect.</Data></EventData>
<RenderingInfo Culture='en-US'><Message>The client cannot connect.</Message><Level>Error</Level>
<Task>User authentication</Task><Opcode>Info</Opcode>
<Channel>Microsoft-Windows-WinRM/Operational</Channel><Provider>Windows Remote Management</Provider>
<Keywords><Keyword>Client</Keyword><Keyword>Security</Keyword></Keywords></RenderingInfo></Event>"""


def test_system_fields_are_typed() -> None:
    event = parse_event(RENDERED, host="srv01")
    assert event.event_id == 161
    assert event.level == 2
    assert event.task == 7 and event.opcode == 0 and event.version == 0
    assert event.keywords == 0x400000000000000A
    assert event.record_id == 149142
    assert event.provider == "Microsoft-Windows-WinRM"
    assert event.provider_guid == "{a7975c8f-ac13-49f1-87da-5a984a4ab417}"
    assert event.channel == "Microsoft-Windows-WinRM/Operational"
    assert event.computer == "srv01.corp.example.com"
    assert event.user_id == "S-1-5-20"
    assert (event.process_id, event.thread_id) == (1100, 1452)
    assert event.activity_id == "{c2115b6c-cdc7-0000-e5a0-11c2c7cdd801}"
    assert event.host == "srv01"


def test_time_created_keeps_microseconds_of_a_seven_digit_utc_time() -> None:
    event = parse_event(RENDERED)
    assert event.time_created == datetime(2026, 3, 2, 9, 30, 1, 698617, tzinfo=UTC)


def test_event_data_is_a_mapping_by_name() -> None:
    assert parse_event(RENDERED).data == {"authFailureMessage": "The client cannot connect."}


def test_rendering_info_gives_message_level_name_and_keywords() -> None:
    event = parse_event(RENDERED)
    assert event.message == "The client cannot connect."
    assert event.level_name == "Error"
    assert event.rendering["Task"] == "User authentication"
    assert event.rendering["Keywords"] == ["Client", "Security"]
    assert event.rendering["Culture"] == "en-US"


def test_the_raw_xml_is_kept() -> None:
    assert parse_event(RENDERED).xml == RENDERED.strip()


def test_without_rendering_info_the_level_name_is_the_standard_one() -> None:
    raw = f"<Event xmlns='{NS}'><System><Level>3</Level></System></Event>"
    event = parse_event(raw)
    assert event.message is None
    assert event.level_name == "Warning"


def test_unnamed_data_values_are_numbered() -> None:
    raw = (
        f"<Event xmlns='{NS}'><System/><EventData><Data>a</Data><Data>b</Data></EventData></Event>"
    )
    assert parse_event(raw).data == {"Data1": "a", "Data2": "b"}


def test_user_data_values_are_the_children_of_its_element() -> None:
    raw = (
        f"<Event xmlns='{NS}'><System/><UserData><LogFileCleared xmlns='urn:x'>"
        "<SubjectUserName>alice</SubjectUserName><SubjectDomainName>CORP</SubjectDomainName>"
        "</LogFileCleared></UserData></Event>"
    )
    assert parse_event(raw).data == {"SubjectUserName": "alice", "SubjectDomainName": "CORP"}


def test_odd_values_become_none_not_errors() -> None:
    raw = (
        f"<Event xmlns='{NS}'><System><EventID>seven</EventID>"
        "<TimeCreated SystemTime='yesterday'/><Keywords>0xZZ</Keywords></System></Event>"
    )
    event = parse_event(raw)
    assert (event.event_id, event.time_created, event.keywords) == (None, None, None)


def test_an_event_without_namespace_is_read_too() -> None:
    assert parse_event("<Event><System><EventID>5</EventID></System></Event>").event_id == 5


def test_something_else_is_not_an_event() -> None:
    with pytest.raises(ProtocolError):
        parse_event(f"<Record xmlns='{NS}'/>")


def test_an_event_with_a_doctype_is_refused_unparsed() -> None:
    with pytest.raises(UnsafeXMLError):
        parse_event('<!DOCTYPE Event [<!ENTITY x "y">]><Event>&x;</Event>')


def test_events_are_picklable_and_equal_after_the_trip() -> None:
    event = parse_event(RENDERED, host="srv01")
    assert pickle.loads(pickle.dumps(event)) == event


def test_to_dict_is_json_data() -> None:
    data = parse_event(RENDERED, host="srv01").to_dict()
    text = json.dumps(data)
    assert json.loads(text)["time_created"] == "2026-03-02T09:30:01.698617+00:00"
    assert data["level_name"] == "Error" and data["host"] == "srv01"


def test_an_event_is_immutable() -> None:
    event = Event(event_id=1)
    with pytest.raises(AttributeError):
        event.event_id = 2  # type: ignore[misc]


def test_an_event_cut_from_an_envelope_drops_the_declarations_it_does_not_use() -> None:
    from lxml import etree

    from aiowsman.protocol.events import detached_xml

    root = etree.fromstring(
        b'<s:E xmlns:s="urn:s" xmlns:p="urn:p" xmlns:q="urn:q"><s:B>'
        b'<Event xmlns="urn:ev" q:a="1"><M>see http://x</M></Event>tail</s:B></s:E>'
    )
    text = detached_xml(root[0][0])
    assert 'xmlns:s="urn:s"' not in text and 'xmlns:p="urn:p"' not in text
    assert 'xmlns:q="urn:q"' in text  # used by an attribute
    assert text.endswith("</Event>")
    assert etree.fromstring(text.encode()).get("{urn:q}a") == "1"
