"""WS-Eventing in pull mode: Subscribe, Pull of events, Renew, Unsubscribe (sans-IO).

A subscriber asks an event source for events matching a filter; in *pull*
delivery mode the SubscribeResponse carries an enumeration context and the
subscriber reads the events with ``wsen:Pull``, exactly as it reads an
enumeration (DSP0226 10.2, delivery mode ``.../wsman/Pull``). Windows serves
its event logs this way on the resource URI ``.../windows/EventLog``
(MS-WSMV 3.1.4.6) with an event query filter (MS-WSMV 3.1.4.1.30.5).

Protocol sources:

* DMTF DSP0226 (WS-Management 1.x) section 10: 10.2 Subscribe (filter in
  ``wsman:Filter``; ``wse:Expires``; ``wsman:ConnectionRetry`` 10.2.3;
  ``wsman:Heartbeats`` 10.2.5; ``wsman:SendBookmarks`` / ``wsman:Bookmark``
  10.2.6, with the reserved bookmark ``.../bookmark/earliest``; the event
  action URI 10.2.8; pull delivery), 10.4 Unsubscribe, 10.5 Renew, faults
  14.6. WS-Eventing (2004/08 member submission, which DSP0226 1.x and Windows
  use) for the Subscribe/Renew/Unsubscribe bodies, the
  ``wse:SubscriptionManager`` EPR whose reference parameters are sent back as
  headers (WS-Addressing 2004/08 3.3), and ``wse:SubscriptionEnd``.
* MS-WSMV 3.1.4.1.30 (event subscription): 3.1.4.1.30.1 the option set
  (``SubscriptionName``, ``ContentFormat`` = ``Raw`` | ``RenderedText``,
  ``IgnoreChannelError`` and ``CDATA`` as ``xsi:nil`` options,
  ``ReadExistingEvents`` = the earliest bookmark), 3.1.4.1.30.2 (bookmarks;
  ConnectionRetry values both zero or both not), 3.1.4.1.30.4 (Windows
  SHOULD NOT support Renew and answers ``wse:UnableToRenew``), 3.1.4.1.30.5
  (the eventquery dialect; a QueryList, 2.2.4.24), 3.1.4.1.30.6 heartbeats;
  example 4.4 (a Subscribe request).
* Shapes seen from real peers (read, not copied): txwinrm's
  ``request/subscribe.xml`` and ``unsubscribe.xml`` (a Windows subscription
  manager's reference parameters are ``w:ResourceURI`` + ``e:Identifier``,
  both sent as headers on Unsubscribe); openwec ``doc/protocol.md`` (a
  Windows 10 capture: ``<w:Bookmark><BookmarkList><Bookmark Channel=...
  RecordId=... IsCurrent="true"/></BookmarkList></w:Bookmark>`` in the header
  of an event delivery, events as ``w:Event`` wrappers holding the ``Event``
  element or, with the ``CDATA`` option, its text).

What is *not* pinned down by a capture, and is therefore parsed leniently:
how a pull-mode source answers a Pull with no events (a ``w:TimedOut`` fault
when MaxTime passes -- the "no output yet" fault, MS-WSMV 3.1.4.14 -- or a
heartbeat: an answer whose Action is ``.../wsman/Heartbeat`` or a
PullResponse without items), and where the bookmark sits (the header, as in
push mode, or inside the PullResponse). See docs/events.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from ..errors import ConfigurationError, ProtocolError, SubscriptionEndedError
from . import namespaces as ns
from .durations import format_duration, parse_duration
from .envelope import (
    Request,
    RequestOptions,
    _build,
    _positive,
    _raw_xml,
    escape_attr,
    escape_text,
    pull_request,
)
from .events import Event, event_from_element, parse_event
from .locator import EndpointReference, Option, ResourceLocator, epr_from_element
from .response import Envelope, _require_body, fault_exception
from .xml import parse_xml

__all__ = [
    "Bookmark",
    "ContentFormat",
    "EventBatch",
    "SubscribeResult",
    "SubscriptionManager",
    "event_log_options",
    "event_pull_request",
    "event_query",
    "parse_event_batch",
    "parse_renew",
    "parse_subscribe",
    "parse_unsubscribe",
    "renew_request",
    "subscribe_request",
    "unsubscribe_request",
]

ContentFormat = str  # "Raw" | "RenderedText" (MS-WSMV 3.1.4.1.30.1)

_E = "{" + ns.NS_EVENTING + "}"
_W = "{" + ns.NS_WSMAN + "}"
_N = "{" + ns.NS_ENUMERATION + "}"
_E_DECL = f'xmlns:e="{ns.NS_EVENTING}"'


# -- bookmarks ------------------------------------------------------------------------


class Bookmark:
    """A subscription bookmark (DSP0226 10.2.6): where a subscription stands.

    A source sends its bookmark with each batch (``wsman:SendBookmarks``); a
    new subscription given it (``wsman:Bookmark``) resumes right after the
    last event the bookmark covers. The content is the source's own XML;
    Windows writes a ``BookmarkList`` with one ``Bookmark Channel=...
    RecordId=...`` per channel of the query (the format of ``EvtRender`` with
    ``EvtRenderBookmark``), which this class understands, so that it can
    advance the bookmark event by event (:meth:`advanced`). Any other content
    is kept as opaque text.

    Instances are immutable, hashable and picklable; ``str(bookmark)`` is the
    XML to save and to pass back as ``bookmark=``.

    Args:
        xml: the bookmark's XML (``<BookmarkList>...``), or
            :data:`~aiowsman.protocol.namespaces.BOOKMARK_EARLIEST`.

    Raises:
        ConfigurationError: the text is empty, or looks like XML and does not
            parse.
    """

    __slots__ = ("_current", "_positions", "_xml")

    def __init__(self, xml: str) -> None:
        text = xml.strip()
        if not text:
            raise ConfigurationError("a bookmark cannot be empty")
        self._xml: str | None = text
        self._positions: tuple[tuple[str, int], ...] | None = None
        self._current: str | None = None
        if text.startswith("<"):
            try:
                root = parse_xml(text.encode("utf-8"))
            except ProtocolError as exc:
                raise ConfigurationError(f"the bookmark is not XML: {exc.message}") from None
            self._read_bookmark_list(root)

    def _read_bookmark_list(self, root: etree._Element) -> None:
        if _local_name(root) != "BookmarkList":
            return
        positions: list[tuple[str, int]] = []
        current: str | None = None
        for el in root:
            if _local_name(el) != "Bookmark":
                continue
            channel = el.get("Channel")
            record = (el.get("RecordId") or "").strip()
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
            if not channel or not (record.isascii() and record.isdigit()):
                return  # not a shape we can advance: keep it opaque
            positions.append((channel, int(record)))
            if (el.get("IsCurrent") or "").strip().lower() == "true":
                current = channel
        self._positions = tuple(positions)
        self._current = current

    @classmethod
    def from_positions(
        cls, positions: Mapping[str, int] | Sequence[tuple[str, int]], current: str | None = None
    ) -> Bookmark:
        """A Windows ``BookmarkList`` for channel -> last EventRecordID positions.

        Cheap: the XML is rendered only when asked for.

        Raises:
            ConfigurationError: an empty channel name or a negative record
                number (its XML would not read back as these positions).
        """
        items = tuple(positions.items()) if isinstance(positions, Mapping) else tuple(positions)
        checked = tuple((str(c), int(r)) for c, r in items)
        for channel, record in checked:
            if not channel or record < 0:
                raise ConfigurationError(
                    f"a bookmark position needs a channel and a record number >= 0, "
                    f"not {channel!r} #{record}"
                )
        mark = cls.__new__(cls)
        mark._xml = None
        mark._positions = checked
        mark._current = current
        return mark

    @property
    def xml(self) -> str:
        """The bookmark's XML text (what to save, and to subscribe with)."""
        if self._xml is None:
            assert self._positions is not None
            self._xml = _render_bookmark_list(self._positions, self._current)
        return self._xml

    @property
    def positions(self) -> dict[str, int] | None:
        """Channel -> last EventRecordID covered, for a Windows BookmarkList; else None."""
        return dict(self._positions) if self._positions is not None else None

    @property
    def current(self) -> str | None:
        """The channel marked ``IsCurrent`` (that of the last event), if any."""
        return self._current

    @property
    def is_earliest(self) -> bool:
        """The reserved "earliest" bookmark (replay everything available)."""
        return self._xml == ns.BOOKMARK_EARLIEST

    def advanced(self, channel: str | None, record_id: int | None) -> Bookmark | None:
        """The bookmark once the event ``(channel, record_id)`` is consumed, or None
        when this bookmark cannot be advanced by the client (opaque content, or an
        event without channel or record number)."""
        if self._positions is None or not channel or record_id is None or record_id < 0:
            return None
        items = list(self._positions)
        for i, (c, _) in enumerate(items):
            if c == channel:
                items[i] = (channel, record_id)
                break
        else:
            items.append((channel, record_id))
        return Bookmark.from_positions(items, channel)

    def __str__(self) -> str:
        return self.xml

    def __repr__(self) -> str:
        if self._positions is not None:
            where = ", ".join(f"{c}#{r}" for c, r in self._positions)
            return f"<Bookmark {where}>"
        return f"<Bookmark {self.xml[:60]!r}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Bookmark):
            if self._positions is not None and other._positions is not None:
                return self._positions == other._positions and self._current == other._current
            return self.xml == other.xml
        return NotImplemented

    def __hash__(self) -> int:
        if self._positions is not None:
            return hash((self._positions, self._current))
        return hash(self.xml)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Bookmark, (self.xml,))


def _render_bookmark_list(items: Sequence[tuple[str, int]], current: str | None) -> str:
    parts = ["<BookmarkList>"]
    for channel, record in items:
        mark = ' IsCurrent="true"' if channel == current else ""
        parts.append(f'<Bookmark Channel="{escape_attr(channel)}" RecordId="{int(record)}"{mark}/>')
    parts.append("</BookmarkList>")
    return "".join(parts)


def _local_name(el: etree._Element) -> str | None:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else None


def _bookmark_from(element: etree._Element) -> Bookmark | None:
    # The content of a w:Bookmark: an element (BookmarkList) or opaque text.
    for child in element:
        if isinstance(child.tag, str):
            copy = etree.fromstring(etree.tostring(child))
            etree.cleanup_namespaces(copy)
            return Bookmark(etree.tostring(copy, encoding="unicode"))
    text = (element.text or "").strip()
    return Bookmark(text) if text else None


# -- the subscription manager ------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionManager:
    """Where Renew and Unsubscribe go: the ``wse:SubscriptionManager`` EPR.

    Attributes:
        address: its ``wsa:Address`` (the requests are still sent to the
            session's endpoint: Windows names its own ``/wsman`` URL there).
        resource_uri: the ``w:ResourceURI`` reference parameter, if any.
        selectors: a ``w:SelectorSet`` reference parameter, if any.
        reference_parameters: every other reference parameter (Windows:
            ``e:Identifier``), as XML, to be sent as a header of each request
            to the manager (WS-Addressing 2004/08 3.3).
        identifier: the ``e:Identifier`` text, if the manager has one.
    """

    address: str | None
    resource_uri: str | None
    selectors: Mapping[str, str | EndpointReference] = field(default_factory=dict)
    reference_parameters: tuple[str, ...] = ()
    identifier: str | None = None

    def locator(self, default_uri: str) -> ResourceLocator:
        """The locator of requests to the manager (its URI, else ``default_uri``)."""
        return ResourceLocator(self.resource_uri or default_uri, dict(self.selectors))

    @property
    def headers(self) -> str:
        """The reference parameters to send as headers."""
        return "".join(self.reference_parameters)


def _manager_from(element: etree._Element) -> SubscriptionManager:
    epr = epr_from_element(element)
    extra: list[str] = []
    identifier: str | None = None
    for container in element:
        if _local_name(container) not in ("ReferenceParameters", "ReferenceProperties"):
            continue
        for param in container:
            if not isinstance(param.tag, str):
                continue
            if param.tag in (_W + "ResourceURI", _W + "SelectorSet"):
                continue
            if param.tag == _E + "Identifier":
                identifier = (param.text or "").strip() or None
            copy = etree.fromstring(etree.tostring(param))
            etree.cleanup_namespaces(copy)
            extra.append(etree.tostring(copy, encoding="unicode"))
    return SubscriptionManager(
        epr.address, epr.resource_uri, dict(epr.selectors), tuple(extra), identifier
    )


# -- Subscribe ---------------------------------------------------------------------------


def event_query(xpath: str, channel: str) -> str:
    """A ``QueryList`` (MS-WSMV 2.2.4.24) selecting ``xpath`` from one channel.

    Args:
        xpath: an event XPath such as ``*[System[(Level<=3)]]`` (plain text:
            it is escaped here).
        channel: the log, e.g. ``System``.
    """
    return (
        f'<QueryList><Query Id="0"><Select Path="{escape_attr(channel)}">'
        f"{escape_text(xpath)}</Select></Query></QueryList>"
    )


def event_log_options(
    *,
    subscription_name: str | None = None,
    content_format: ContentFormat | None = None,
    read_existing: bool = False,
    ignore_channel_error: bool = False,
    cdata: bool = False,
) -> list[Option]:
    """The Windows subscription options (MS-WSMV 3.1.4.1.30.1) for an OptionSet.

    ``IgnoreChannelError`` and ``CDATA`` are "present with ``xsi:nil``"
    options (as in the spec's example 4.4); ``ReadExistingEvents`` is sent as
    ``true`` (the spec: "with this option set to true").

    Raises:
        ConfigurationError: an unknown content format.
    """
    options: list[Option] = []
    if subscription_name:
        options.append(Option("SubscriptionName", subscription_name))
    if content_format is not None:
        if content_format not in ("Raw", "RenderedText"):
            raise ConfigurationError(
                f"content_format must be 'Raw' or 'RenderedText', not {content_format!r}"
            )
        options.append(Option("ContentFormat", content_format))
    if ignore_channel_error:
        options.append(Option("IgnoreChannelError", None))
    if cdata:
        options.append(Option("CDATA", None))
    if read_existing:
        options.append(Option("ReadExistingEvents", "true"))
    return options


def _duration(seconds: float, what: str) -> str:
    try:
        return format_duration(seconds)
    except ValueError as exc:
        raise ConfigurationError(f"{what}: {exc}") from None


def subscribe_request(
    opts: RequestOptions,
    locator: ResourceLocator,
    *,
    query: str,
    dialect: str = ns.DIALECT_EVENT_QUERY,
    expires: float | None = None,
    heartbeat: float | None = None,
    send_bookmarks: bool = True,
    bookmark: Bookmark | str | None = None,
    connection_retry: tuple[int, float] | None = None,
    content_encoding: str | None = "UTF-8",
) -> Request:
    """Build a pull-mode ``wse:Subscribe`` (DSP0226 10.2).

    Args:
        opts: session header values.
        locator: the event source (``.../windows/EventLog``) with the
            subscription options (:func:`event_log_options`).
        query: the filter: for the eventquery dialect a ``QueryList``
            document (see :func:`event_query`), validated to parse.
        dialect: the filter dialect URI.
        expires: requested lifetime in seconds (``wse:Expires`` as an
            ``xs:duration``), or None for a subscription that does not
            expire (WS-Eventing: no Expires element).
        heartbeat: ``wsman:Heartbeats`` interval in seconds, or None.
        send_bookmarks: ask for a bookmark with each batch (``wsman:SendBookmarks``).
        bookmark: resume after this bookmark (``wsman:Bookmark``).
        connection_retry: ``(total, interval seconds)`` for
            ``wsman:ConnectionRetry`` (DSP0226 10.2.3; Windows wants both
            zero or both non-zero, MS-WSMV 3.1.4.1.30.2).
        content_encoding: ``wsman:ContentEncoding`` of the delivery, or None.

    Raises:
        ConfigurationError: an unparsable query or bookmark, bad durations.
    """
    delivery = [f'<e:Delivery Mode="{ns.DELIVERY_MODE_PULL}">']
    if heartbeat is not None:
        if not heartbeat > 0:
            raise ConfigurationError(f"heartbeat must be positive, not {heartbeat!r}")
        delivery.append(f"<w:Heartbeats>{_duration(heartbeat, 'heartbeat')}</w:Heartbeats>")
    if connection_retry is not None:
        total, interval = connection_retry
        if (total == 0) != (interval == 0) or total < 0:
            raise ConfigurationError(
                "connection_retry needs a count and an interval, both zero or both positive"
            )
        delivery.append(
            f'<w:ConnectionRetry Total="{int(total)}">'
            f"{_duration(interval, 'connection retry interval')}</w:ConnectionRetry>"
        )
    if content_encoding:
        delivery.append(f"<w:ContentEncoding>{escape_text(content_encoding)}</w:ContentEncoding>")
    delivery.append("</e:Delivery>")
    parts = [f"<e:Subscribe {_E_DECL}>", "".join(delivery)]
    if expires is not None:
        if not expires > 0:
            # WS-Eventing: a zero or negative lifetime is wse:InvalidExpirationTime.
            raise ConfigurationError(f"expires must be positive, not {expires!r}")
        parts.append(f"<e:Expires>{_duration(expires, 'expires')}</e:Expires>")
    if not query.strip():
        raise ConfigurationError("an event subscription needs a query")
    filter_body = _raw_xml(query) if query.lstrip().startswith("<") else escape_text(query)
    parts.append(f'<w:Filter Dialect="{escape_attr(dialect)}">{filter_body}</w:Filter>')
    if bookmark is not None:
        mark = bookmark if isinstance(bookmark, Bookmark) else Bookmark(bookmark)
        content = escape_text(mark.xml) if mark.is_earliest else _raw_xml(mark.xml)
        parts.append(f"<w:Bookmark>{content}</w:Bookmark>")
    if send_bookmarks:
        parts.append("<w:SendBookmarks/>")
    parts.append("</e:Subscribe>")
    return _build("Subscribe", ns.ACTION_SUBSCRIBE, opts, locator, "".join(parts))


@dataclass(frozen=True)
class SubscribeResult:
    """A ``wse:SubscribeResponse`` in pull mode.

    Attributes:
        manager: where Renew and Unsubscribe go.
        context: the enumeration context to Pull events with.
        expires: the granted ``wse:Expires`` text (a duration or a
            dateTime), or None when the subscription does not expire.
    """

    manager: SubscriptionManager
    context: str
    expires: str | None = None

    def expires_in(self, now: datetime | None = None) -> float | None:
        """Seconds the granted lifetime lasts from ``now`` (see :func:`expires_in`)."""
        return expires_in(self.expires, now)


def expires_in(text: str | None, now: datetime | None = None) -> float | None:
    """The seconds an ``wse:Expires`` value grants: a duration as is, a dateTime
    counted from ``now`` (UTC); None when absent or unreadable (no expiry known)."""
    if text is None:
        return None
    text = text.strip()
    if text.startswith(("P", "-P")):
        try:
            return parse_duration(text)
        except ValueError:
            return None
    # fromisoformat reads "Z" itself (Python >= 3.11), but not "z".
    value = text[:-1] + "+00:00" if text.endswith("z") else text
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def parse_subscribe(env: Envelope) -> SubscribeResult:
    """Parse a ``wse:SubscribeResponse`` (DSP0226 10.2; pull mode: with a context).

    Raises:
        WSManFault: the envelope is a fault.
        ProtocolError: no SubscribeResponse, no manager, or no enumeration
            context (the source did not accept pull delivery).
    """
    first = _require_body(env, "Subscribe")
    if first.tag != _E + "SubscribeResponse":
        raise ProtocolError(f"expected wse:SubscribeResponse, got {first.tag!r}")
    # All three are children of the SubscribeResponse (DSP0226 10.2, pull mode).
    manager = first.find(_E + "SubscriptionManager")
    context = (first.findtext(_N + "EnumerationContext") or "").strip() or None
    expires = (first.findtext(_E + "Expires") or "").strip() or None
    if manager is None:
        raise ProtocolError("SubscribeResponse without wse:SubscriptionManager")
    if context is None:
        raise ProtocolError(
            "SubscribeResponse without wsen:EnumerationContext: the source did not "
            "grant pull delivery"
        )
    return SubscribeResult(_manager_from(manager), context, expires)


# -- Pull of events ----------------------------------------------------------------------


def event_pull_request(
    opts: RequestOptions,
    locator: ResourceLocator,
    context: str,
    *,
    max_elements: int,
    max_time: float,
) -> Request:
    """Build the Pull that reads a subscription's events: ``wsen:Pull`` with
    MaxElements and MaxTime (how long the source may wait for events)."""
    if not max_time > 0:
        raise ConfigurationError(f"max_time must be positive, not {max_time!r}")
    return pull_request(
        opts, locator, context, max_elements=_positive(max_elements), max_time=max_time
    )


@dataclass
class EventBatch:
    """The answer to one event Pull.

    Attributes:
        events: the events, in delivery order.
        bookmark: the source's bookmark after the last of them, if sent.
        context: the context to Pull with next (None: keep the current one).
        heartbeat: the answer was a heartbeat (no events, the source is alive).
        end_of_sequence: the source says no more events will come.
    """

    events: list[Event]
    bookmark: Bookmark | None = None
    context: str | None = None
    heartbeat: bool = False
    end_of_sequence: bool = False


def _events_in(items: etree._Element, host: str | None) -> Iterator[Event]:
    for el in items:
        name = _local_name(el)
        if name is None:
            continue
        if el.tag == _W + "Events":  # a batched delivery's wrapper (DSP0226 10.2)
            yield from _events_in(el, host)
        elif el.tag == _W + "Event":
            yield _wrapped_event(el, host)
        elif name == "Event":
            yield event_from_element(el, host=host)
        else:
            raise ProtocolError(f"unexpected item in an event batch: {el.tag!r}")


def _wrapped_event(wrapper: etree._Element, host: str | None) -> Event:
    # w:Event holds the Event element, or its text (the CDATA option,
    # MS-WSMV 3.1.4.1.30.1: "passed as-is to the event subscriber").
    for child in wrapper:
        if isinstance(child.tag, str):
            return event_from_element(child, host=host)
    text = (wrapper.text or "").strip()
    if not text:
        raise ProtocolError("an empty w:Event in an event batch")
    return parse_event(text, host=host)


def parse_event_batch(env: Envelope, *, host: str | None = None) -> EventBatch:
    """Parse the answer to an event Pull.

    Args:
        env: the response (a PullResponse, a heartbeat, or a SubscriptionEnd).
        host: the host to tag the events with.

    Raises:
        SubscriptionEndedError: the source ended the subscription
            (``wse:SubscriptionEnd``).
        WSManFault: a fault (``w:TimedOut`` when no event came within MaxTime).
        ProtocolError: anything else.
    """
    if env.fault is not None:
        raise fault_exception(env.fault)
    first = env.first_body_element()
    if env.action == ns.ACTION_SUBSCRIPTION_END or (
        first is not None and first.tag == _E + "SubscriptionEnd"
    ):
        status = reason = None
        if first is not None:
            status = (first.findtext(_E + "Status") or "").strip() or None
            reason = " ".join((first.findtext(_E + "Reason") or "").split()) or None
        raise SubscriptionEndedError(
            f"the source ended the subscription ({status or 'no status'}"
            + (f": {reason})" if reason else ")"),
            status=status,
            reason=reason,
        )
    batch = EventBatch([], heartbeat=env.action == ns.ACTION_HEARTBEAT)
    if env.header is not None:
        mark = env.header.find(_W + "Bookmark")
        if mark is not None:
            batch.bookmark = _bookmark_from(mark)
    if first is None:
        if not batch.heartbeat:
            raise ProtocolError("event Pull answered with an empty Body")
        return batch
    if first.tag != _N + "PullResponse":
        if batch.heartbeat:
            return batch
        raise ProtocolError(f"expected wsen:PullResponse, got {first.tag!r}")
    for child in first:
        tag = child.tag
        if tag == _N + "EnumerationContext":
            batch.context = (child.text or "").strip() or None
        elif tag in (_N + "Items", _W + "Items"):
            batch.events.extend(_events_in(child, host))
        elif tag in (_N + "EndOfSequence", _W + "EndOfSequence"):
            batch.end_of_sequence = True
        elif tag == _W + "Bookmark" and batch.bookmark is None:
            batch.bookmark = _bookmark_from(child)
        elif tag == _W + "Heartbeat":
            batch.heartbeat = True
    if not batch.events and not batch.end_of_sequence:
        # A PullResponse with nothing in it says only "alive": a heartbeat.
        batch.heartbeat = True
    return batch


# -- Renew, Unsubscribe ------------------------------------------------------------------


def renew_request(
    opts: RequestOptions, manager: SubscriptionManager, default_uri: str, expires: float
) -> Request:
    """Build a ``wse:Renew`` (DSP0226 10.5) asking for ``expires`` more seconds."""
    if not expires > 0:
        raise ConfigurationError(f"expires must be positive, not {expires!r}")
    body = f"<e:Renew {_E_DECL}><e:Expires>{_duration(expires, 'expires')}</e:Expires></e:Renew>"
    return _build(
        "Renew",
        ns.ACTION_RENEW,
        opts,
        manager.locator(default_uri),
        body,
        headers=manager.headers,
    )


def parse_renew(env: Envelope) -> str | None:
    """The granted ``wse:Expires`` of a RenewResponse (None when absent).

    Raises:
        WSManFault: a fault (``wse:UnableToRenew`` from Windows).
    """
    if env.fault is not None:
        raise fault_exception(env.fault)
    first = env.first_body_element()
    if first is None:
        return None
    return (first.findtext(_E + "Expires") or "").strip() or None


def unsubscribe_request(
    opts: RequestOptions, manager: SubscriptionManager, default_uri: str
) -> Request:
    """Build a ``wse:Unsubscribe`` (DSP0226 10.4) to the subscription manager."""
    return _build(
        "Unsubscribe",
        ns.ACTION_UNSUBSCRIBE,
        opts,
        manager.locator(default_uri),
        f"<e:Unsubscribe {_E_DECL}/>",
        headers=manager.headers,
    )


def parse_unsubscribe(env: Envelope) -> None:
    """Accept an UnsubscribeResponse (empty Body).

    Raises:
        WSManFault: a fault.
    """
    if env.fault is not None:
        raise fault_exception(env.fault)


def is_unable_to_renew(exc: BaseException) -> bool:
    """Whether a Renew failure means "this source does not renew" (Windows:
    ``wse:UnableToRenew``, MS-WSMV 3.1.4.1.30.4; or the action is unknown)."""
    subcode = getattr(exc, "subcode", None)
    code = getattr(exc, "wsman_code", None)
    return subcode in (ns.FAULT_UNABLE_TO_RENEW, "ActionNotSupported") or code in (
        ns.CODE_EVENTING_UNABLE_TO_RENEW,
    )
