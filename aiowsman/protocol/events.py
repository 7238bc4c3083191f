"""Windows events as Python objects (sans-IO).

An event subscription delivers each event as the event log renders it: an
``<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">``
element with a ``System`` part (the fields every event has), then
``EventData`` (named ``Data`` values) or ``UserData`` (one provider-defined
element), and with ``ContentFormat=RenderedText`` a ``RenderingInfo`` part
holding the formatted message and the display names of level, task, opcode
and keywords (MS-WSMV 3.1.4.1.30.1 "ContentFormat").

Sources for the shape: the Windows event schema ("Event Schema" on Microsoft
Learn: ``SystemPropertiesType``, ``EventDataType``, ``RenderingInfoType``) and
real events forwarded by Windows (openwec ``doc/protocol.md``, a Windows 10
capture: ``<Provider Name=... Guid=.../>``, ``<TimeCreated
SystemTime='2022-09-21T14:48:21.6986159Z'/>`` with seven fractional digits,
``<Keywords>0x4000000000000026</Keywords>``, ``<Correlation ActivityID=...>``,
``<Execution ProcessID=... ThreadID=...>``, ``<Security UserID=...>``).

Parsing is lenient on purpose: a missing or malformed field becomes None
(an event is never dropped because its provider wrote an odd value), and
elements are matched by local name, since some sources omit the namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from ..errors import ProtocolError
from .xml import detect_encoding, parse_xml

__all__ = ["LEVEL_NAMES", "Event", "detached_xml", "event_from_element", "parse_event"]

#: Standard level names (winmeta.xml: win:Critical 1 ... win:Verbose 5). Level
#: 0 (win:LogAlways) is shown as "Information" by Event Viewer.
LEVEL_NAMES: Mapping[int, str] = {
    0: "Information",
    1: "Critical",
    2: "Error",
    3: "Warning",
    4: "Information",
    5: "Verbose",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One Windows event, with the fields of its ``System`` part typed.

    Every field is None when the event does not carry it (or carries a value
    that is not what the schema says).

    Attributes:
        provider: ``System/Provider/@Name``.
        provider_guid: ``System/Provider/@Guid`` (``{...}``, as sent).
        event_id: ``System/EventID``.
        version, level, task, opcode: the numeric ``System`` values.
        keywords: ``System/Keywords`` (a 64-bit mask, sent in hex).
        time_created: ``System/TimeCreated/@SystemTime``, timezone-aware UTC.
        record_id: ``System/EventRecordID``, increasing within a channel.
        activity_id, related_activity_id: ``System/Correlation`` GUIDs.
        process_id, thread_id: ``System/Execution``.
        channel: ``System/Channel`` (the log: ``System``, ``Application``...).
        computer: ``System/Computer``.
        user_id: ``System/Security/@UserID`` (a SID).
        data: ``EventData/Data`` values by ``Name`` (unnamed ones as
            ``Data1``, ``Data2``... in order), or the children of the
            ``UserData`` element by local name.
        message: ``RenderingInfo/Message`` (only with ContentFormat
            ``RenderedText``).
        rendering: the other ``RenderingInfo`` texts by local name
            (``Level``, ``Task``, ``Opcode``, ``Channel``, ``Provider``) and
            ``Keywords`` as a list.
        xml: the event's XML, as received.
        host: the host the event came from (set by the subscription).
    """

    provider: str | None = None
    provider_guid: str | None = None
    event_id: int | None = None
    version: int | None = None
    level: int | None = None
    task: int | None = None
    opcode: int | None = None
    keywords: int | None = None
    time_created: datetime | None = None
    record_id: int | None = None
    activity_id: str | None = None
    related_activity_id: str | None = None
    process_id: int | None = None
    thread_id: int | None = None
    channel: str | None = None
    computer: str | None = None
    user_id: str | None = None
    data: Mapping[str, str | None] = field(default_factory=dict)
    message: str | None = None
    rendering: Mapping[str, Any] = field(default_factory=dict)
    xml: str = ""
    host: str | None = None

    @property
    def level_name(self) -> str | None:
        """The level's display name: RenderingInfo's, else the standard one."""
        rendered = self.rendering.get("Level")
        if isinstance(rendered, str) and rendered:
            return rendered
        return LEVEL_NAMES.get(self.level) if self.level is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-able data (times in ISO 8601); ``xml`` included."""
        return {
            "host": self.host,
            "channel": self.channel,
            "record_id": self.record_id,
            "event_id": self.event_id,
            "level": self.level,
            "level_name": self.level_name,
            "provider": self.provider,
            "provider_guid": self.provider_guid,
            "time_created": self.time_created.isoformat() if self.time_created else None,
            "computer": self.computer,
            "task": self.task,
            "opcode": self.opcode,
            "keywords": self.keywords,
            "version": self.version,
            "activity_id": self.activity_id,
            "related_activity_id": self.related_activity_id,
            "process_id": self.process_id,
            "thread_id": self.thread_id,
            "user_id": self.user_id,
            "data": dict(self.data),
            "message": self.message,
            "rendering": dict(self.rendering),
            "xml": self.xml,
        }

    def __repr__(self) -> str:
        where = f" host={self.host!r}" if self.host else ""
        return (
            f"<Event {self.channel}#{self.record_id} id={self.event_id} "
            f"level={self.level_name} provider={self.provider!r}{where}>"
        )


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return tag.rpartition("}")[2]


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text, 16) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        return None


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _time(text: str | None) -> datetime | None:
    # Windows writes 7 fractional digits (100 ns); datetime holds 6.
    if not text:
        return None
    value = _FRACTION.sub(r"\1", text.strip())
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # the schema's SystemTime is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _text(el: etree._Element) -> str | None:
    return el.text if el.text is not None else None


def _system(system: etree._Element, values: dict[str, Any]) -> None:
    for el in system:
        name = _local(el.tag)
        if name == "Provider":
            values["provider"] = el.get("Name") or el.get("EventSourceName")
            values["provider_guid"] = el.get("Guid")
        elif name in ("EventID", "Version", "Level", "Task", "Opcode", "EventRecordID"):
            key = {"EventID": "event_id", "EventRecordID": "record_id"}.get(name, name.lower())
            values[key] = _int(el.text)
        elif name == "Keywords":
            values["keywords"] = _int(el.text)
        elif name == "TimeCreated":
            values["time_created"] = _time(el.get("SystemTime"))
        elif name == "Correlation":
            values["activity_id"] = el.get("ActivityID")
            values["related_activity_id"] = el.get("RelatedActivityID")
        elif name == "Execution":
            values["process_id"] = _int(el.get("ProcessID"))
            values["thread_id"] = _int(el.get("ThreadID"))
        elif name == "Channel":
            values["channel"] = (el.text or "").strip() or None
        elif name == "Computer":
            values["computer"] = (el.text or "").strip() or None
        elif name == "Security":
            values["user_id"] = el.get("UserID")


def _event_data(el: etree._Element) -> dict[str, str | None]:
    data: dict[str, str | None] = {}
    unnamed = 0
    for item in el:
        name = _local(item.tag)
        if name is None:
            continue
        key = item.get("Name") if name == "Data" else name
        if not key:
            unnamed += 1
            key = f"Data{unnamed}"
        data[key] = _text(item)
    return data


def _user_data(el: etree._Element) -> dict[str, str | None]:
    # UserData holds one provider-defined element; its children are the values.
    for child in el:
        if _local(child.tag) is not None:
            return {
                name: _text(value) for value in child if (name := _local(value.tag)) is not None
            }
    return {}


def _rendering(el: etree._Element) -> tuple[str | None, dict[str, Any]]:
    message: str | None = None
    rendering: dict[str, Any] = {}
    culture = el.get("Culture")
    if culture:
        rendering["Culture"] = culture
    for item in el:
        name = _local(item.tag)
        if name is None:
            continue
        if name == "Message":
            message = _text(item)
        elif name == "Keywords":
            rendering["Keywords"] = [k.text or "" for k in item if _local(k.tag) == "Keyword"]
        else:
            rendering[name] = _text(item)
    return message, rendering


def event_from_element(
    element: etree._Element, *, xml: str | None = None, host: str | None = None
) -> Event:
    """Build an :class:`Event` from a parsed ``<Event>`` element.

    Args:
        element: the ``Event`` element (any namespace).
        xml: its text as received (default: serialised from ``element``).
        host: the host to tag the event with.

    Raises:
        ProtocolError: the element is not an ``Event``.
    """
    if _local(element.tag) != "Event":
        raise ProtocolError(f"expected an Event element, got {element.tag!r}")
    values: dict[str, Any] = {}
    for part in element:
        name = _local(part.tag)
        if name == "System":
            _system(part, values)
        elif name == "EventData":
            values["data"] = _event_data(part)
        elif name == "UserData":
            values["data"] = _user_data(part)
        elif name == "RenderingInfo":
            values["message"], values["rendering"] = _rendering(part)
    if xml is None:
        xml = detached_xml(element)
    return Event(**values, xml=xml, host=host)


def detached_xml(element: etree._Element) -> str:
    """``element`` serialised on its own, without the namespace declarations it
    inherits from the envelope but does not use.

    lxml writes every namespace in scope on a subtree's root, so an event
    would otherwise carry the SOAP envelope's declarations. A copy with the
    unused ones removed (by element and attribute names; an event's values
    hold no QNames) costs a few microseconds.
    """
    if element.getparent() is None:
        return etree.tostring(element, encoding="unicode")
    copy = deepcopy(element)
    copy.tail = None
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")


def parse_event(xml: str | bytes, *, host: str | None = None) -> Event:
    """Parse one event's XML text (as a CDATA-wrapped delivery carries it).

    Args:
        xml: the ``<Event>`` document.
        host: the host to tag the event with.

    Raises:
        ProtocolError: not well-formed, unsafe (DOCTYPE), or not an Event.
    """
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = parse_xml(data)
    if isinstance(xml, str):
        text = xml
    else:
        # Bytes are read in the encoding parse_xml found them in (UTF-8 or
        # UTF-16, by the XML 1.0 Appendix F rules), so ``xml`` is their text.
        text = xml.decode(detect_encoding(xml), "replace").removeprefix("\ufeff")
    return event_from_element(root, xml=text.strip(), host=host)
